package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	d := parseDirectives([]string{`Public, MAX-AGE=60, s-maxage="120"`, `no-cache, private="x-a, X-B", stale-while-revalidate=30, max-stale`})
	if !d.public || !d.noCache || fmt.Sprint(d.omit) != "[X-A X-B]" || !d.hasMaxAge || d.maxAge != time.Minute || !d.hasSMaxAge || d.sMaxAge != 2*time.Minute ||
		!d.hasSWR || d.staleWhileRevalid != 30*time.Second || d.noStore || d.private {
		t.Fatalf("parsed %+v", d)
	}
	if d := parseDirectives([]string{`no-cache="set-cookie, x-a", max-age=5`}); d.noCache || fmt.Sprint(d.omit) != "[Set-Cookie X-A]" || d.maxAge != 5*time.Second {
		t.Fatalf("qualified no-cache: %+v", d)
	}
	if d := parseDirectives([]string{`no-cache="", private="not a field"`}); !d.noCache || !d.private || d.omit != nil {
		t.Fatalf("malformed qualified forms: %+v, want the unqualified ones", d)
	}
	if d := parseDirectives([]string{"max-age=abc"}); !d.hasMaxAge || d.maxAge != 0 {
		t.Fatalf("malformed max-age: %+v, want present and 0", d)
	}
	if d := parseDirectives([]string{"max-age=99999999999999999999"}); d.maxAge != maxDelta {
		t.Fatalf("huge max-age: %v, want %v", d.maxAge, maxDelta)
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, c := range []struct {
		name       string
		status     int
		h          http.Header
		auth       bool
		defaultTTL time.Duration
		store      bool
		lifetime   time.Duration
	}{
		{"max-age", 200, hdr("Cache-Control", "max-age=60"), false, 0, true, time.Minute},
		{"s-maxage wins", 200, hdr("Cache-Control", "max-age=60, s-maxage=10"), false, 0, true, 10 * time.Second},
		{"expires", 200, hdr("Date", now.Format(http.TimeFormat), "Expires", now.Add(time.Hour).Format(http.TimeFormat)), false, 0, true, time.Hour},
		{"expires before date", 200, hdr("Date", now.Format(http.TimeFormat), "Expires", now.Add(-time.Hour).Format(http.TimeFormat)), false, 0, true, 0},
		{"max-age over expires", 200, hdr("Cache-Control", "max-age=5", "Expires", now.Add(time.Hour).Format(http.TimeFormat)), false, 0, true, 5 * time.Second},
		{"no-store", 200, hdr("Cache-Control", "no-store, max-age=60"), false, 0, false, 0},
		{"private", 200, hdr("Cache-Control", "private, max-age=60"), false, 0, false, 0},
		{"no-cache with etag", 200, hdr("Cache-Control", "no-cache, max-age=60", "ETag", `"x"`), false, 0, true, 0},
		{"no-cache without validator", 200, hdr("Cache-Control", "no-cache"), false, 0, false, 0},
		{"auth plain", 200, hdr("Cache-Control", "max-age=60"), true, 0, false, 0},
		{"auth public", 200, hdr("Cache-Control", "public, max-age=60"), true, 0, true, time.Minute},
		{"auth must-revalidate", 200, hdr("Cache-Control", "must-revalidate, max-age=60"), true, 0, true, time.Minute},
		{"set-cookie explicit", 200, hdr("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), false, 0, true, time.Minute},
		{"set-cookie heuristic", 200, hdr("Set-Cookie", "a=b", "ETag", `"x"`), false, time.Minute, false, 0},
		{"vary star", 200, hdr("Cache-Control", "max-age=60", "Vary", "Accept, *"), false, 0, false, 0},
		{"heuristic default ttl", 404, hdr(), false, time.Minute, true, time.Minute},
		{"heuristic none", 200, hdr(), false, 0, false, 0},
		{"heuristic validator", 200, hdr("Last-Modified", now.Format(http.TimeFormat)), false, 0, true, 0},
		{"500 not by default", 500, hdr(), false, time.Minute, false, 0},
		{"500 explicit", 500, hdr("Cache-Control", "max-age=60"), false, 0, true, time.Minute},
		{"599 public heuristic", 599, hdr("Cache-Control", "public"), false, time.Minute, true, time.Minute},
		{"304 never", 304, hdr("Cache-Control", "max-age=60"), false, 0, false, 0},
		{"must-understand known", 200, hdr("Cache-Control", "max-age=60, no-store, must-understand"), false, 0, true, time.Minute},
		{"must-understand unknown", 599, hdr("Cache-Control", "max-age=60, no-store, must-understand"), false, 0, false, 0},
		{"first max-age counts", 200, hdr("Cache-Control", "max-age=60", "Cache-Control", "max-age=0"), false, 0, true, time.Minute},
		{"two expires", 200, hdr("Date", now.Format(http.TimeFormat), "Expires", now.Add(time.Hour).Format(http.TimeFormat), "Expires", now.Add(time.Hour).Format(http.TimeFormat)), false, 0, true, 0},
		{"loose expires", 200, hdr("Date", now.Format(http.TimeFormat), "Expires", "Thu, 18 Aug 2050 2:01:18 GMT"), false, 0, true, 0},
		{"cdn max-age wins", 200, hdr("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=600"), false, 0, true, 10 * time.Minute},
		{"cdn no-store wins", 200, hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), false, 0, false, 0},
		{"cdn ignores expires", 200, hdr("CDN-Cache-Control", "max-age=0", "Date", now.Format(http.TimeFormat), "Expires", now.Add(time.Hour).Format(http.TimeFormat)), false, 0, true, 0},
		{"cdn invalid falls back", 200, hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", "max-age=600, &&&"), false, 0, true, time.Minute},
		{"cdn wrong type ignored", 200, hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", `max-age="600"`, "ETag", `"x"`), false, 0, true, 0},
		{"302 explicit", 302, hdr("Cache-Control", "max-age=60"), false, 0, true, time.Minute},
		{"302 not by default", 302, hdr(), false, time.Minute, false, 0},
		{"206", 206, hdr("Cache-Control", "max-age=60", "Content-Range", "bytes 0-1/2"), false, 0, false, 0},
		{"200 with Content-Range", 200, hdr("Cache-Control", "max-age=60", "Content-Range", "bytes 0-1/2"), false, 0, true, time.Minute},
	} {
		pol := policy{defaultTTL: c.defaultTTL, targeted: "Cdn-Cache-Control"}
		dec := pol.decide(c.status, c.h, c.auth, now)
		if dec.store != c.store || (c.store && dec.lifetime != c.lifetime) {
			t.Errorf("%s: store %v lifetime %v (%s), want %v %v", c.name, dec.store, dec.lifetime, dec.reason, c.store, c.lifetime)
		}
	}
}

func TestDecideCookiesAndHeuristics(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=b"}}
	for mode, want := range map[cookieMode]struct{ store, strip bool }{
		cookieStrip: {true, true}, cookieStore: {true, false}, cookieBypass: {false, false},
	} {
		dec := policy{cookies: mode}.decide(200, h, false, now)
		if strip := slices.Contains(dec.omit, "Set-Cookie"); dec.store != want.store || strip != want.strip {
			t.Errorf("mode %d: store %v strip %v, want %v %v", mode, dec.store, strip, want.store, want.strip)
		}
	}
	lm := http.Header{"Date": {now.Format(http.TimeFormat)}, "Last-Modified": {now.Add(-100 * time.Hour).Format(http.TimeFormat)}}
	if dec := (policy{heuristicMax: time.Hour}).decide(200, lm, false, now); !dec.store || !dec.heuristic || dec.lifetime != time.Hour {
		t.Errorf("capped heuristic: %+v", dec)
	}
	if dec := (policy{heuristicMax: 24 * time.Hour}).decide(404, lm, false, now); !dec.store || dec.lifetime != 10*time.Hour {
		t.Errorf("heuristic 404: %+v", dec)
	}
	if dec := (policy{heuristicMax: 24 * time.Hour}).decide(500, lm, false, now); dec.store {
		t.Errorf("heuristic 500 stored: %+v", dec)
	}
}

func TestAgeValue(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want time.Duration
	}{
		{nil, 0}, {[]string{"abc"}, 0}, {[]string{"-7200"}, 0}, {[]string{"7200.0"}, 0},
		{[]string{"7200, 0"}, 7200 * time.Second}, {[]string{"0, 7200"}, 0},
		{[]string{"7200", "0"}, 7200 * time.Second}, {[]string{" 15 "}, 15 * time.Second},
		{[]string{"2147483648"}, maxDelta},
	} {
		if got := ageValue(c.in); got != c.want {
			t.Errorf("ageValue(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestInitialAge(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{}
	h.Set("Date", now.Add(-30*time.Second).Format(http.TimeFormat))
	if got := initialAge(h, now.Add(-2*time.Second), now); got != 30*time.Second {
		t.Fatalf("apparent age: %v, want 30s", got)
	}
	h.Set("Age", "100")
	if got := initialAge(h, now.Add(-2*time.Second), now); got != 102*time.Second {
		t.Fatalf("corrected age: %v, want 102s", got)
	}
}

func TestStripHopByHop(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Anything", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "X-Named", "X-Kept"} {
		h.Set(k, "v")
	}
	h.Set("Connection", "x-named, close")
	stripHopByHop(h)
	if len(h) != 1 || h.Get("X-Kept") != "v" {
		t.Fatalf("left %v", h)
	}
}
