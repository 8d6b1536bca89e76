package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestMaxAgeFreshness(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/a", textHandler("max-age=100", "A"))

	expect(t, "first", e.get("/a"), 200, "MISS", "A")
	r := e.get("/a")
	expect(t, "second", r, 200, "HIT", "A")
	if r.header.Get("Age") != "0" {
		t.Fatalf("Age = %q, want 0", r.header.Get("Age"))
	}
	e.clock.Advance(60 * time.Second)
	r = e.get("/a")
	expect(t, "at 60s", r, 200, "HIT", "A")
	if r.header.Get("Age") != "60" {
		t.Fatalf("Age = %q, want 60", r.header.Get("Age"))
	}
	if r.header.Get("Cache-Control") != "max-age=100" || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("stored headers not served: %v", r.header)
	}
	e.clock.Advance(41 * time.Second)
	expect(t, "at 101s", e.get("/a"), 200, "MISS", "A")
	if n := e.origin.count("/a"); n != 2 {
		t.Fatalf("origin saw %d requests, want 2", n)
	}
	expect(t, "refetched", e.get("/a"), 200, "HIT", "A")
}

func TestSMaxAgeOverridesMaxAge(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/s", textHandler("max-age=10, s-maxage=100", "S"))

	expect(t, "first", e.get("/s"), 200, "MISS", "S")
	e.clock.Advance(50 * time.Second) // past max-age, within s-maxage
	expect(t, "at 50s", e.get("/s"), 200, "HIT", "S")
	e.clock.Advance(51 * time.Second)
	expect(t, "at 101s", e.get("/s"), 200, "MISS", "S")
}

func TestExpiresFreshness(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/e", func(w http.ResponseWriter, r *http.Request) {
		date := e.clock.Now()
		w.Header().Set("Date", date.UTC().Format(http.TimeFormat))
		w.Header().Set("Expires", date.Add(100*time.Second).UTC().Format(http.TimeFormat))
		w.Write([]byte("E"))
	})
	e.handle("/bad-expires", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Expires", "0") // invalid: already expired
		w.Write([]byte("B"))
	})

	expect(t, "first", e.get("/e"), 200, "MISS", "E")
	e.clock.Advance(99 * time.Second)
	expect(t, "at 99s", e.get("/e"), 200, "HIT", "E")
	e.clock.Advance(2 * time.Second)
	expect(t, "at 101s", e.get("/e"), 200, "MISS", "E")

	expect(t, "invalid Expires", e.get("/bad-expires"), 200, "MISS", "B")
	expect(t, "invalid Expires again", e.get("/bad-expires"), 200, "MISS", "B")
}

func TestAgeFromUpstreamCounts(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/aged", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Age", "90") // already 90s old when it arrives
		w.Write([]byte("old"))
	})
	expect(t, "first", e.get("/aged"), 200, "MISS", "old")
	r := e.get("/aged")
	expect(t, "second", r, 200, "HIT", "old")
	if r.header.Get("Age") != "90" {
		t.Fatalf("Age = %q, want 90", r.header.Get("Age"))
	}
	e.clock.Advance(11 * time.Second)
	expect(t, "after 11s", e.get("/aged"), 200, "MISS", "old")
}

func TestDefaultTTL(t *testing.T) {
	e := newEnv(t, func(c *config) { c.DefaultTTL = 30 * time.Second })
	e.handle("/plain", textHandler("", "P"))
	e.handle("/created", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated) // not cacheable by default
	})
	expect(t, "first", e.get("/plain"), 200, "MISS", "P")
	expect(t, "second", e.get("/plain"), 200, "HIT", "P")
	e.clock.Advance(31 * time.Second)
	expect(t, "after default TTL", e.get("/plain"), 200, "MISS", "P")
	e.get("/created")
	expect(t, "201", e.get("/created"), 201, "MISS", "")

	// Without a default TTL, a response with no freshness and no
	// validator is not stored.
	z := newEnv(t, nil)
	z.handle("/plain", textHandler("", "P"))
	expect(t, "no TTL", z.get("/plain"), 200, "MISS", "P")
	expect(t, "no TTL again", z.get("/plain"), 200, "MISS", "P")
}

func TestNoStore(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/ns", textHandler("no-store, max-age=100", "N"))
	for i := range 3 {
		expect(t, fmt.Sprint("request ", i), e.get("/ns"), 200, "MISS", "N")
	}
	if n := e.origin.count("/ns"); n != 3 {
		t.Fatalf("origin saw %d requests, want 3", n)
	}
	if n := e.proxy.store.c.Len(); n != 0 {
		t.Fatalf("cache holds %d entries, want 0", n)
	}
}

func TestPrivate(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/p", textHandler("private, max-age=100", "P"))
	expect(t, "first", e.get("/p"), 200, "MISS", "P")
	expect(t, "second", e.get("/p"), 200, "MISS", "P")
	if n := e.proxy.store.c.Len(); n != 0 {
		t.Fatalf("cache holds %d entries, want 0", n)
	}
}

func TestNoCacheRevalidatesEveryTime(t *testing.T) {
	e := newEnv(t, nil)
	full := 0
	e.handle("/nc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full++
		w.Write([]byte("body-v1"))
	})
	expect(t, "first", e.get("/nc"), 200, "MISS", "body-v1")
	for i := range 3 {
		expect(t, fmt.Sprint("revalidation ", i), e.get("/nc"), 200, "REVALIDATED", "body-v1")
		if got := e.origin.lastHeader("/nc").Get("If-None-Match"); got != `"v1"` {
			t.Fatalf("origin got If-None-Match %q, want \"v1\"", got)
		}
	}
	if n := e.origin.count("/nc"); n != 4 || full != 1 {
		t.Fatalf("origin saw %d requests (%d full), want 4 (1 full)", n, full)
	}
}

func TestRevalidation304RefreshesEntry(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/r", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"abc"`)
		if r.Header.Get("If-None-Match") == `"abc"` {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("X-Version", "2")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("X-Version", "1")
		w.Write([]byte("payload"))
	})
	expect(t, "first", e.get("/r"), 200, "MISS", "payload")
	e.clock.Advance(20 * time.Second)
	r := e.get("/r")
	expect(t, "stale", r, 200, "REVALIDATED", "payload")
	if r.header.Get("X-Version") != "2" || r.header.Get("Age") != "0" {
		t.Fatalf("304 did not refresh the headers: X-Version %q Age %q", r.header.Get("X-Version"), r.header.Get("Age"))
	}
	e.clock.Advance(50 * time.Second) // fresh again for 100s from the 304
	r = e.get("/r")
	expect(t, "after refresh", r, 200, "HIT", "payload")
	if r.header.Get("X-Version") != "2" || r.header.Get("Cache-Control") != "max-age=100" {
		t.Fatalf("stored headers not updated: %v", r.header)
	}
	if n := e.origin.count("/r"); n != 2 {
		t.Fatalf("origin saw %d requests, want 2", n)
	}
}

func TestRevalidationWithLastModified(t *testing.T) {
	e := newEnv(t, nil)
	lm := e.clock.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	e.handle("/lm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", lm)
		if r.Header.Get("If-Modified-Since") == lm {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("dated"))
	})
	// No explicit freshness and no default TTL: stored with its validator
	// and revalidated on every use.
	expect(t, "first", e.get("/lm"), 200, "MISS", "dated")
	expect(t, "second", e.get("/lm"), 200, "REVALIDATED", "dated")
	if got := e.origin.lastHeader("/lm").Get("If-Modified-Since"); got != lm {
		t.Fatalf("If-Modified-Since = %q, want %q", got, lm)
	}
}

func TestNewerResponseReplacesStale(t *testing.T) {
	e := newEnv(t, nil)
	version := 1
	e.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		tag := `"` + strconv.Itoa(version) + `"`
		w.Header().Set("ETag", tag)
		w.Header().Set("Cache-Control", "max-age=10")
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "version %d", version)
	})
	expect(t, "first", e.get("/v"), 200, "MISS", "version 1")
	version = 2
	e.clock.Advance(11 * time.Second)
	expect(t, "changed", e.get("/v"), 200, "MISS", "version 2")
	expect(t, "stored", e.get("/v"), 200, "HIT", "version 2")
}

func TestClientConditionalAndHead(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/c", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("ETag", `W/"c1"`)
		w.Write([]byte("conditional"))
	})
	// The fill asks the origin for the full response, then answers the
	// client's precondition itself.
	r := e.get("/c", "If-None-Match", `"c1"`)
	if r.status != http.StatusNotModified || r.xcache() != "MISS" {
		t.Fatalf("conditional fill: got %d %q, want 304 MISS", r.status, r.xcache())
	}
	if e.origin.lastHeader("/c").Get("If-None-Match") != "" {
		t.Fatal("a client's precondition was sent on a fill")
	}
	expect(t, "unconditional", e.get("/c"), 200, "HIT", "conditional")
	r = e.get("/c", "If-None-Match", `"c1"`)
	if r.status != http.StatusNotModified || r.xcache() != "HIT" || r.body != "" {
		t.Fatalf("conditional hit: got %d %q %q, want 304 HIT", r.status, r.xcache(), r.body)
	}
	expect(t, "other tag", e.get("/c", "If-None-Match", `"zz"`), 200, "HIT", "conditional")
	r = e.do(http.MethodHead, "/c")
	if r.status != 200 || r.xcache() != "HIT" || r.body != "" || r.header.Get("Content-Length") != "11" {
		t.Fatalf("HEAD: got %d %q body %q Content-Length %q", r.status, r.xcache(), r.body, r.header.Get("Content-Length"))
	}
	// A HEAD miss fills the cache with a GET.
	e.handle("/h", textHandler("max-age=100", "from head"))
	if r := e.do(http.MethodHead, "/h"); r.status != 200 || r.body != "" || r.xcache() != "MISS" {
		t.Fatalf("HEAD miss: %d %q %q", r.status, r.xcache(), r.body)
	}
	expect(t, "GET after HEAD", e.get("/h"), 200, "HIT", "from head")
}
