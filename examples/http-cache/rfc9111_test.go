package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestAgeListIsStale(t *testing.T) {
	e := newEnv(t, nil)
	for path, age := range map[string][]string{
		"/suffix":  {"7200, 0"},
		"/twoline": {"7200", "0"},
		"/prefix":  {"0, 7200"},
	} {
		e.handle(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Header()["Age"] = age
			io.WriteString(w, path)
		})
	}
	// The first Age member counts: 7200 is older than max-age, so the
	// response arrives stale and is fetched again.
	for _, path := range []string{"/suffix", "/twoline"} {
		expect(t, path+" first", e.get(path), 200, "MISS", path)
		expect(t, path+" second", e.get(path), 200, "MISS", path)
	}
	expect(t, "prefix first", e.get("/prefix"), 200, "MISS", "/prefix")
	expect(t, "prefix second", e.get("/prefix"), 200, "HIT", "/prefix")
}

func TestInvalidExpiresIsExpired(t *testing.T) {
	e := newEnv(t, nil)
	valid := map[string]string{
		"/imf":     "Thu, 18 Aug 2050 02:01:18 GMT",
		"/rfc850":  "Thursday, 18-Aug-50 02:01:18 GMT",
		"/asctime": "Thu Aug  8 02:01:18 2050",
	}
	invalid := map[string][]string{
		"/spaces":   {"Thu, 18  Aug  2050 02:01:18 GMT"},
		"/hour":     {"Thu, 18 Aug 2050 2:01:18 GMT"},
		"/utc":      {"Thu, 18 Aug 2050 02:01:18 UTC"},
		"/twolines": {"Thu, 18 Aug 2050 02:01:18 GMT", "Thu, 18 Aug 2050 02:01:19 GMT"},
	}
	serve := func(path string, exp []string) {
		e.handle(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Expires"] = exp
			io.WriteString(w, path)
		})
	}
	for path, exp := range valid {
		serve(path, []string{exp})
	}
	for path, exp := range invalid {
		serve(path, exp)
	}
	for path := range valid {
		expect(t, path+" first", e.get(path), 200, "MISS", path)
		expect(t, path+" second", e.get(path), 200, "HIT", path)
	}
	for path := range invalid {
		expect(t, path+" first", e.get(path), 200, "MISS", path)
		expect(t, path+" second", e.get(path), 200, "MISS", path)
	}
}

func TestTargetedCacheControl(t *testing.T) {
	handlers := func(e *env) {
		e.handle("/cdn-fresh", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("CDN-Cache-Control", "max-age=100")
			w.Header().Set("Edge-Control", "no-store")
			io.WriteString(w, "F")
		})
		e.handle("/cdn-private", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("CDN-Cache-Control", "private")
			io.WriteString(w, "P")
		})
		e.handle("/cdn-invalid", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("CDN-Cache-Control", "max-age=100, &&&")
			io.WriteString(w, "I")
		})
	}
	e := newEnv(t, func(c *config) { c.TargetedField = "CDN-Cache-Control" })
	handlers(e)
	expect(t, "fresh first", e.get("/cdn-fresh"), 200, "MISS", "F")
	r := e.get("/cdn-fresh")
	expect(t, "fresh second", r, 200, "HIT", "F")
	if got := r.header.Get("CDN-Cache-Control"); got != "max-age=100" {
		t.Fatalf("CDN-Cache-Control served as %q, want it unchanged", got)
	}
	e.clock.Advance(101 * time.Second)
	expect(t, "past CDN max-age", e.get("/cdn-fresh"), 200, "MISS", "F")
	for _, path := range []string{"/cdn-private", "/cdn-invalid"} {
		e.get(path)
		if r := e.get(path); r.xcache() != "MISS" {
			t.Fatalf("%s second: X-Cache %q, want MISS", path, r.xcache())
		}
	}

	// With another targeted field, CDN-Cache-Control is just a header.
	o := newEnv(t, func(c *config) { c.TargetedField = "Edge-Control" })
	handlers(o)
	o.get("/cdn-fresh")
	expect(t, "Edge-Control no-store", o.get("/cdn-fresh"), 200, "MISS", "F")
	o.get("/cdn-private")
	expect(t, "CDN-Cache-Control not targeted", o.get("/cdn-private"), 200, "HIT", "P")
}

func TestInterimResponsesRelayed(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusProcessing)
		w.Header().Set("Cache-Control", "max-age=100")
		io.WriteString(w, "H")
	})
	get := func() (response, []string) {
		var (
			mu      sync.Mutex
			interim []string
		)
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			interim = append(interim, fmt.Sprintf("%d %s", code, h.Get("Link")))
			mu.Unlock()
			return nil
		}}
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/hints", nil)
		if err != nil {
			t.Fatal(err)
		}
		r := e.send(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		mu.Lock()
		defer mu.Unlock()
		return r, interim
	}
	r, interim := get()
	expect(t, "first", r, 200, "MISS", "H")
	if want := []string{"103 </style.css>; rel=preload; as=style", "102 "}; fmt.Sprint(interim) != fmt.Sprint(want) {
		t.Fatalf("interim responses %q, want %q", interim, want)
	}
	if r.header.Get("Link") != "" {
		t.Fatalf("the 103's Link leaked into the final response: %v", r.header)
	}
	r, interim = get()
	expect(t, "second", r, 200, "HIT", "H")
	if len(interim) != 0 || r.header.Get("Link") != "" {
		t.Fatalf("a hit replayed interim responses %q or their fields %v", interim, r.header)
	}
}

func TestSetCookieModes(t *testing.T) {
	for _, c := range []struct {
		mode          cookieMode
		second        string
		secondCookie  bool
		firstHasToken bool
	}{
		{cookieStrip, "HIT", false, true},
		{cookieStore, "HIT", true, true},
		{cookieBypass, "MISS", true, true},
	} {
		e := newEnv(t, func(cfg *config) { cfg.Cookies = c.mode })
		e.handle("/c", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("Set-Cookie", "session=secret")
			io.WriteString(w, "C")
		})
		e.handle("/h", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"h"`) // no explicit freshness
			w.Header().Set("Set-Cookie", "session=secret")
			io.WriteString(w, "H")
		})
		first := e.get("/c")
		expect(t, fmt.Sprint("mode ", c.mode, " first"), first, 200, "MISS", "C")
		if first.header.Get("Set-Cookie") != "session=secret" {
			t.Fatalf("mode %d: the fetching client lost its cookie: %v", c.mode, first.header)
		}
		second := e.get("/c")
		expect(t, fmt.Sprint("mode ", c.mode, " second"), second, 200, c.second, "C")
		if got := second.header.Get("Set-Cookie") != ""; got != c.secondCookie {
			t.Fatalf("mode %d: second response has Set-Cookie %v, want %v", c.mode, got, c.secondCookie)
		}
		// Without explicit freshness a cookie response is never stored.
		e.get("/h")
		expect(t, fmt.Sprint("mode ", c.mode, " no explicit freshness"), e.get("/h"), 200, "MISS", "H")
	}
}

func TestContentRangeOn200IsStored(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/cr", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Content-Range", "bytes 0-1/2") // meaningless on a 200
		io.WriteString(w, "CR")
	})
	e.get("/cr")
	r := e.get("/cr")
	expect(t, "second", r, 200, "HIT", "CR")
	if r.header.Get("Content-Range") != "bytes 0-1/2" {
		t.Fatalf("stored Content-Range not served: %v", r.header)
	}
}

func TestHeuristicFreshness(t *testing.T) {
	lastModified := func(e *env) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", e.clock.Now().Add(-1000*time.Second).UTC().Format(http.TimeFormat))
			io.WriteString(w, "L")
		}
	}
	e := newEnv(t, func(c *config) { c.HeuristicMax = time.Hour })
	e.handle("/lm", lastModified(e))
	e.handle("/gone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", e.clock.Now().Add(-1000*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusGone)
	})
	e.handle("/500", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", e.clock.Now().Add(-1000*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusInternalServerError)
	})
	expect(t, "first", e.get("/lm"), 200, "MISS", "L")
	e.clock.Advance(99 * time.Second) // a tenth of 1000s is 100s
	expect(t, "at 99s", e.get("/lm"), 200, "HIT", "L")
	e.clock.Advance(2 * time.Second)
	expect(t, "at 101s", e.get("/lm"), 200, "MISS", "L")
	e.get("/gone")
	expect(t, "410", e.get("/gone"), 410, "HIT", "")
	e.get("/500")
	expect(t, "500 not heuristically cacheable", e.get("/500"), 500, "MISS", "")

	// Capped: 1000s since Last-Modified with a 10s cap.
	c := newEnv(t, func(c *config) { c.HeuristicMax = 10 * time.Second })
	c.handle("/lm", lastModified(c))
	c.get("/lm")
	c.clock.Advance(11 * time.Second)
	if r := c.get("/lm"); r.xcache() == "HIT" {
		t.Fatalf("past the cap: X-Cache %q", r.xcache())
	}

	// Off: a Last-Modified alone means revalidation on every use.
	z := newEnv(t, nil)
	z.handle("/lm", lastModified(z))
	z.get("/lm")
	if r := z.get("/lm"); r.xcache() == "HIT" {
		t.Fatalf("heuristics off: X-Cache %q", r.xcache())
	}
}

func TestAnyStatusWithExplicitFreshness(t *testing.T) {
	e := newEnv(t, nil)
	for _, code := range []int{400, 500, 503, 599} {
		e.handle(fmt.Sprintf("/fresh/%d", code), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=100")
			w.WriteHeader(code)
			io.WriteString(w, strconv.Itoa(code))
		})
		e.handle(fmt.Sprintf("/plain/%d", code), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		})
	}
	e.handle("/mu", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100, no-store, must-understand")
		w.WriteHeader(599)
	})
	for _, code := range []int{400, 500, 503, 599} {
		fresh, plain := fmt.Sprintf("/fresh/%d", code), fmt.Sprintf("/plain/%d", code)
		expect(t, fresh+" first", e.get(fresh), code, "MISS", strconv.Itoa(code))
		expect(t, fresh+" second", e.get(fresh), code, "HIT", strconv.Itoa(code))
		e.get(plain)
		expect(t, plain+" second", e.get(plain), code, "MISS", "")
	}
	e.get("/mu")
	expect(t, "must-understand with an unknown status", e.get("/mu"), 599, "MISS", "")
}

func TestStaleIfError(t *testing.T) {
	e := newEnv(t, func(c *config) { c.StaleIfError = 30 * time.Second })
	var mu sync.Mutex
	failing := false
	fail := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failing
	}
	serve := func(path, cc string) {
		e.handle(path, func(w http.ResponseWriter, r *http.Request) {
			switch {
			case !fail():
				w.Header().Set("Cache-Control", cc)
				io.WriteString(w, "ok")
			case path == "/close":
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close() // no response at all
				}
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "down")
			}
		})
	}
	serve("/bound", "max-age=10")
	serve("/close", "max-age=10")
	serve("/sie", "max-age=10, stale-if-error=300")
	serve("/mr", "max-age=10, must-revalidate")
	for _, p := range []string{"/bound", "/close", "/sie", "/mr"} {
		expect(t, p+" fill", e.get(p), 200, "MISS", "ok")
	}
	mu.Lock()
	failing = true
	mu.Unlock()

	e.clock.Advance(20 * time.Second) // stale, within every window
	expect(t, "503 within the bound", e.get("/bound"), 200, "STALE", "ok")
	expect(t, "closed connection within the bound", e.get("/close"), 200, "STALE", "ok")
	expect(t, "503 within stale-if-error", e.get("/sie"), 200, "STALE", "ok")
	expect(t, "must-revalidate", e.get("/mr"), 503, "MISS", "down")

	e.clock.Advance(30 * time.Second) // 50s old: past the 30s bound, within stale-if-error=300
	expect(t, "503 past the bound", e.get("/bound"), 503, "MISS", "down")
	expect(t, "still within stale-if-error", e.get("/sie"), 200, "STALE", "ok")
	if n := e.proxy.metrics.staleOnError.Load(); n != 4 {
		t.Fatalf("stale_on_error = %d, want 4", n)
	}
}

func TestRangeFromStoredResponse(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, "0123456789")
	})
	expect(t, "fill", e.get("/file"), 200, "MISS", "0123456789")
	for _, c := range []struct {
		kv           []string
		status       int
		body, cRange string
	}{
		{[]string{"Range", "bytes=2-4"}, 206, "234", "bytes 2-4/10"},
		{[]string{"Range", "bytes=7-"}, 206, "789", "bytes 7-9/10"},
		{[]string{"Range", "bytes=-3"}, 206, "789", "bytes 7-9/10"},
		{[]string{"Range", "bytes=5-100"}, 206, "56789", "bytes 5-9/10"},
		{[]string{"Range", "bytes=10-"}, 416, "", "bytes */10"},
		{[]string{"Range", "bytes=0-1, 4-5"}, 200, "0123456789", ""},
		{[]string{"Range", "lines=1-2"}, 200, "0123456789", ""},
		{[]string{"Range", "bytes=2-4", "If-Range", `"v1"`}, 206, "234", "bytes 2-4/10"},
		{[]string{"Range", "bytes=2-4", "If-Range", `"v0"`}, 200, "0123456789", ""},
	} {
		r := e.get("/file", c.kv...)
		what := fmt.Sprint(c.kv)
		expect(t, what, r, c.status, "HIT", c.body)
		if r.header.Get("Content-Range") != c.cRange || (c.status == 206 && r.header.Get("Content-Length") != strconv.Itoa(len(c.body))) {
			t.Fatalf("%s: Content-Range %q Content-Length %q, want %q", what, r.header.Get("Content-Range"), r.header.Get("Content-Length"), c.cRange)
		}
	}
	if n := e.origin.count("/file"); n != 1 {
		t.Fatalf("origin saw %d requests, want 1", n)
	}
}

func TestInvalidationFollowsLocation(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/a", "/b", "/c", "/other"} {
		e.handle("GET "+p, textHandler("max-age=100", p))
	}
	e.handle("POST /a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/b")
		w.Header().Set("Content-Location", "http://"+r.Header.Get("X-Forwarded-Host")+"/c") // the host the client used
		w.WriteHeader(http.StatusCreated)
	})
	e.handle("M-SEARCH /other", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://elsewhere.example/a") // another origin
	})
	for _, p := range []string{"/a", "/b", "/c", "/other"} {
		e.get(p)
		expect(t, p+" cached", e.get(p), 200, "HIT", p)
	}
	req, _ := http.NewRequest("M-SEARCH", e.srv.URL+"/other", nil)
	expect(t, "M-SEARCH", e.send(req), 200, "BYPASS", "")
	expect(t, "/other after M-SEARCH", e.get("/other"), 200, "MISS", "/other")
	expect(t, "/a untouched by another origin's Location", e.get("/a"), 200, "HIT", "/a")
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/a", nil)
	expect(t, "POST", e.send(req), 201, "BYPASS", "")
	for _, p := range []string{"/a", "/b", "/c"} {
		expect(t, p+" after POST", e.get(p), 200, "MISS", p)
	}
}

func TestVaryNormalisation(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Vary", "Accept-Language, X-Thing")
		io.WriteString(w, r.Header.Get("Accept-Language"))
	})
	expect(t, "fill", e.get("/v", "Accept-Language", "en-US, fr;q=0.5", "X-Thing", "a,b"), 200, "MISS", "en-US, fr;q=0.5")
	for _, kv := range [][]string{
		{"Accept-Language", "EN-us,fr ; q=0.5", "X-Thing", "a, b"},
		{"Accept-Language", "en-US", "Accept-Language", "fr;q=0.5", "X-Thing", "a ,b"},
	} {
		expect(t, fmt.Sprint(kv), e.get("/v", kv...), 200, "HIT", "en-US, fr;q=0.5")
	}
	expect(t, "other case in an unknown field", e.get("/v", "Accept-Language", "en-US, fr;q=0.5", "X-Thing", "A,b"), 200, "MISS", "")
	expect(t, "other order", e.get("/v", "Accept-Language", "fr;q=0.5, en-US", "X-Thing", "a,b"), 200, "MISS", "")
}

func TestHeadRevalidatesWithHead(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	var methods []string
	version := "1"
	setVersion := func(v string) {
		mu.Lock()
		version = v
		mu.Unlock()
	}
	e.handle("/h", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" "+r.Header.Get("If-None-Match"))
		v := version
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"`+v+`"`)
		w.Header().Set("X-Version", v)
		if r.Header.Get("If-None-Match") == `"`+v+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	})
	e.handle("/plain", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" plain")
		v := version
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("X-Version", v)
		io.WriteString(w, "plain")
	})
	expect(t, "fill", e.get("/h"), 200, "MISS", "body")
	expect(t, "fill plain", e.get("/plain"), 200, "MISS", "plain")
	e.clock.Advance(11 * time.Second)
	r := e.do(http.MethodHead, "/h")
	expect(t, "stale HEAD", r, 200, "REVALIDATED", "")
	if r.header.Get("Content-Length") != "4" {
		t.Fatalf("HEAD Content-Length %q, want the stored body's 4", r.header.Get("Content-Length"))
	}
	expect(t, "GET after HEAD 304", e.get("/h"), 200, "HIT", "body")

	// A 200 to the HEAD without validators on either side updates the
	// stored fields and freshness.
	setVersion("2")
	r = e.do(http.MethodHead, "/plain")
	expect(t, "stale HEAD plain", r, 200, "REVALIDATED", "")
	r = e.get("/plain")
	expect(t, "GET after HEAD 200", r, 200, "HIT", "plain")
	if r.header.Get("X-Version") != "2" {
		t.Fatalf("stored fields not updated by the HEAD: X-Version %q", r.header.Get("X-Version"))
	}

	// A 200 with another ETag means the stored body is outdated.
	e.clock.Advance(11 * time.Second)
	r = e.do(http.MethodHead, "/h")
	expect(t, "HEAD new ETag", r, 200, "MISS", "")
	if r.header.Get("X-Version") != "2" {
		t.Fatalf("HEAD answer not passed on: %v", r.header)
	}
	expect(t, "GET after new ETag", e.get("/h"), 200, "MISS", "body")
	mu.Lock()
	defer mu.Unlock()
	want := []string{`GET `, `GET plain`, `HEAD "1"`, `HEAD plain`, `HEAD "1"`, `GET `}
	if fmt.Sprint(methods) != fmt.Sprint(want) {
		t.Fatalf("origin saw %q, want %q", methods, want)
	}
}

func TestIfModifiedSinceUsesDate(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/d", textHandler("max-age=100", "D")) // Date from the clock, no Last-Modified
	e.get("/d")
	date := e.clock.Now().UTC()
	expect(t, "later IMS", e.get("/d", "If-Modified-Since", date.Add(10*time.Second).Format(http.TimeFormat)), 304, "HIT", "")
	expect(t, "earlier IMS", e.get("/d", "If-Modified-Since", date.Add(-10*time.Second).Format(http.TimeFormat)), 200, "HIT", "D")
	expect(t, "invalid IMS", e.get("/d", "If-Modified-Since", "yesterday"), 200, "HIT", "D")
}

func TestNotModifiedUpdatesStoredFields(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/u", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"u"`)
		if r.Header.Get("If-None-Match") == `"u"` {
			// net/http drops Content-Type from a 304, so another
			// Content-* field shows the update.
			w.Header().Set("Content-Encoding", "x-new")
			w.Header().Set("X-Extra", "new")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Encoding", "x-old")
		w.Header().Set("X-Extra", "old")
		w.Header().Set("X-Kept", "kept")
		io.WriteString(w, "stored body")
	})
	e.get("/u")
	e.clock.Advance(11 * time.Second)
	expect(t, "revalidated", e.get("/u"), 200, "REVALIDATED", "stored body")
	r := e.get("/u")
	expect(t, "after 304", r, 200, "HIT", "stored body")
	if r.header.Get("Content-Encoding") != "x-new" || r.header.Get("X-Extra") != "new" || r.header.Get("X-Kept") != "kept" ||
		r.header.Get("Content-Length") != strconv.Itoa(len("stored body")) {
		t.Fatalf("fields after the 304: %v", r.header)
	}
}

func TestQualifiedNoCacheAndPrivate(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/q", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Cache-Control", `no-cache="X-A, x-b"`)
		w.Header().Add("Cache-Control", `private="X-User", max-age=100`)
		w.Header().Set("X-A", "1")
		w.Header().Set("X-B", "2")
		w.Header().Set("X-User", "alice")
		w.Header().Set("X-C", "3")
		io.WriteString(w, "Q")
	})
	first := e.get("/q")
	expect(t, "first", first, 200, "MISS", "Q")
	if first.header.Get("X-A") != "1" || first.header.Get("X-User") != "alice" {
		t.Fatalf("the fetching client lost the listed fields: %v", first.header)
	}
	r := e.get("/q")
	expect(t, "second", r, 200, "HIT", "Q")
	for _, name := range []string{"X-A", "X-B", "X-User"} {
		if v := r.header.Get(name); v != "" {
			t.Fatalf("hit carries %s: %q", name, v)
		}
	}
	if r.header.Get("X-C") != "3" {
		t.Fatalf("hit lost an unlisted field: %v", r.header)
	}
}
