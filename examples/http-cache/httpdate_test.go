package main

import (
	"net/http"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC)
	for _, s := range []string{
		"Thu, 18 Aug 2050 02:01:18 GMT",
		"THU, 18 AUG 2050 02:01:18 gmt",
		"Thursday, 18-Aug-50 02:01:18 GMT",
		"Thu Aug 18 02:01:18 2050",
	} {
		if got, ok := parseHTTPDate(s, now); !ok || !got.Equal(want) {
			t.Errorf("parseHTTPDate(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	if got, ok := parseHTTPDate("Thu Aug  8 02:01:18 2050", now); !ok || !got.Equal(time.Date(2050, 8, 8, 2, 1, 18, 0, time.UTC)) {
		t.Errorf("asctime with a one-digit day: %v %v", got, ok)
	}
	// A two-digit year more than 50 years ahead is in the past century.
	if got, ok := parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT", now); !ok || got.Year() != 1994 {
		t.Errorf("RFC 850 year 94: %v %v", got, ok)
	}
	for _, s := range []string{
		"",
		"0",
		"Thu, 18  Aug  2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 2:01:18 GMT",
		"Thu, 18 Aug 2050 02:01:18 UTC",
		"Thu, 18 Aug 2050 02:01:18 AEST",
		"Thu, 18 Aug 50 02:01:18 GMT",
		"Thu 18 Aug 2050 02:01:18 GMT",
		"Thu, 18-Aug-2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 02.01.18 GMT",
		"Thu, 31 Feb 2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 24:01:18 GMT",
		"Xyz, 18 Aug 2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 02:01:18 GMT ",
		"Thu,  8 Aug 2050 02:01:18 GMT",
		"Thu Aug 18 02:01:18 50",
	} {
		if got, ok := parseHTTPDate(s, now); ok {
			t.Errorf("parseHTTPDate(%q) = %v, want invalid", s, got)
		}
	}
}

// rfc850GMT is the obsolete RFC 850 format as HTTP writes it (time.RFC850
// writes the zone of the time, "UTC" for UTC).
const rfc850GMT = "Monday, 02-Jan-06 15:04:05 GMT"

// TestParseHTTPDateRoundTrip checks every format against time.Format for
// a spread of instants: each parses back to the instant it was made from.
func TestParseHTTPDateRoundTrip(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	start := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5000 {
		at := start.Add(time.Duration(i) * 1234567 * time.Second) // about 14 days apart, varied times
		for _, layout := range []string{http.TimeFormat, rfc850GMT, time.ANSIC} {
			if layout == rfc850GMT && (at.Year() < now.Year()-49 || at.Year() > now.Year()+50) {
				continue // two-digit years cover one century around now
			}
			s := at.Format(layout)
			if got, ok := parseHTTPDate(s, now); !ok || !got.Equal(at) {
				t.Fatalf("parseHTTPDate(%q) = %v, %v; want %v", s, got, ok, at)
			}
		}
	}
}

// FuzzParseHTTPDate checks that any input either fails or parses to an
// instant whose IMF-fixdate form parses to the same instant.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Thu, 18 Aug 2050 02:01:18 GMT", "Thursday, 18-Aug-50 02:01:18 GMT", "Thu Aug  8 02:01:18 2050", "Thu, 18  Aug", ","} {
		f.Add(s)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s, now)
		if !ok {
			return
		}
		again, ok := parseHTTPDate(got.Format(http.TimeFormat), now)
		if !ok || !again.Equal(got) {
			t.Fatalf("%q parsed to %v, whose IMF-fixdate form gives %v, %v", s, got, again, ok)
		}
	})
}
