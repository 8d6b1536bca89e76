package main

import (
	"net/http"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	d := parseDirectives([]string{`Public, MAX-AGE=60, s-maxage="120"`, `no-cache="Set-Cookie", stale-while-revalidate=30, max-stale`})
	if !d.public || !d.noCache || !d.hasMaxAge || d.maxAge != time.Minute || !d.hasSMaxAge || d.sMaxAge != 2*time.Minute ||
		!d.hasSWR || d.staleWhileRevalid != 30*time.Second || d.noStore || d.private {
		t.Fatalf("parsed %+v", d)
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
		{"set-cookie", 200, hdr("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), false, 0, false, 0},
		{"vary star", 200, hdr("Cache-Control", "max-age=60", "Vary", "Accept, *"), false, 0, false, 0},
		{"heuristic default ttl", 404, hdr(), false, time.Minute, true, time.Minute},
		{"heuristic none", 200, hdr(), false, 0, false, 0},
		{"heuristic validator", 200, hdr("Last-Modified", now.Format(http.TimeFormat)), false, 0, true, 0},
		{"500 not by default", 500, hdr(), false, time.Minute, false, 0},
		{"500 never", 500, hdr("Cache-Control", "max-age=60"), false, 0, false, 0},
		{"302 explicit", 302, hdr("Cache-Control", "max-age=60"), false, 0, true, time.Minute},
		{"302 not by default", 302, hdr(), false, time.Minute, false, 0},
		{"206", 200, hdr("Cache-Control", "max-age=60", "Content-Range", "bytes 0-1/2"), false, 0, false, 0},
	} {
		dec := decide(c.status, c.h, c.auth, now, c.defaultTTL)
		if dec.store != c.store || (c.store && dec.lifetime != c.lifetime) {
			t.Errorf("%s: store %v lifetime %v (%s), want %v %v", c.name, dec.store, dec.lifetime, dec.reason, c.store, c.lifetime)
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
