package main

import (
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
