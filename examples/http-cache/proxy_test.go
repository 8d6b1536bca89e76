package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuthorization(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/plain", textHandler("max-age=100", "plain"))
	e.handle("/public", textHandler("public, max-age=100", "public"))
	e.handle("/smaxage", textHandler("s-maxage=100", "smaxage"))
	e.handle("/mustreval", textHandler("max-age=100, must-revalidate", "mustreval"))
	auth := []string{"Authorization", "Bearer alice"}

	// Not stored from a request with Authorization...
	expect(t, "auth plain", e.get("/plain", auth...), 200, "BYPASS", "plain")
	expect(t, "auth plain again", e.get("/plain", auth...), 200, "BYPASS", "plain")
	expect(t, "anonymous after", e.get("/plain"), 200, "MISS", "plain")
	// ...nor served to one.
	expect(t, "anonymous hit", e.get("/plain"), 200, "HIT", "plain")
	expect(t, "auth not served from cache", e.get("/plain", auth...), 200, "BYPASS", "plain")
	if n := e.origin.count("/plain"); n != 4 {
		t.Fatalf("origin saw %d requests for /plain, want 4", n)
	}
	if got := e.origin.lastHeader("/plain").Get("Authorization"); got != "Bearer alice" {
		t.Fatalf("origin got Authorization %q", got)
	}

	// public, s-maxage and must-revalidate allow both.
	for _, p := range []string{"/public", "/smaxage", "/mustreval"} {
		name := strings.TrimPrefix(p, "/")
		expect(t, "auth "+p, e.get(p, auth...), 200, "MISS", name)
		expect(t, "auth "+p+" again", e.get(p, "Authorization", "Bearer bob"), 200, "HIT", name)
		expect(t, "anonymous "+p, e.get(p), 200, "HIT", name)
		if n := e.origin.count(p); n != 1 {
			t.Fatalf("origin saw %d requests for %s, want 1", n, p)
		}
	}
}

func TestVary(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
	})
	e.handle("/star", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Vary", "*")
		w.Write([]byte("star"))
	})

	expect(t, "en", e.get("/v", "Accept-Language", "en"), 200, "MISS", "lang=en")
	expect(t, "fr", e.get("/v", "Accept-Language", "fr"), 200, "MISS", "lang=fr")
	expect(t, "none", e.get("/v"), 200, "MISS", "lang=")
	expect(t, "en hit", e.get("/v", "Accept-Language", "en"), 200, "HIT", "lang=en")
	expect(t, "fr hit", e.get("/v", "Accept-Language", "fr"), 200, "HIT", "lang=fr")
	expect(t, "none hit", e.get("/v"), 200, "HIT", "lang=")
	if n := e.origin.count("/v"); n != 3 {
		t.Fatalf("origin saw %d requests, want 3", n)
	}
	r := e.get("/v", "Accept-Language", "de")
	expect(t, "de", r, 200, "MISS", "lang=de")
	if r.header.Get("Vary") != "Accept-Language" {
		t.Fatalf("Vary not passed on: %q", r.header.Get("Vary"))
	}

	expect(t, "Vary: *", e.get("/star"), 200, "MISS", "star")
	expect(t, "Vary: * again", e.get("/star"), 200, "MISS", "star")
}

func TestVaryConcurrentVariants(t *testing.T) {
	// Concurrent first requests for different variants must each get
	// their own variant, even though they share one flight at first.
	e := newEnv(t, nil)
	gate := make(chan struct{})
	e.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
	})
	langs := []string{"en", "fr", "de", "en", "fr", "de"}
	bodies := make([]string, len(langs))
	var wg sync.WaitGroup
	for i, l := range langs {
		wg.Go(func() { bodies[i] = e.get("/v", "Accept-Language", l).body })
	}
	waitFor(t, "requests to join the flight", func() bool {
		return e.proxy.metrics.coalesced.Load() == uint64(len(langs)-1)
	})
	close(gate)
	wg.Wait()
	for i, l := range langs {
		if bodies[i] != "lang="+l {
			t.Fatalf("request for %s got %q", l, bodies[i])
		}
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	e := newEnv(t, nil)
	var (
		mu      sync.Mutex
		version = 1
	)
	entered := make(chan struct{}, 10)
	gate := make(chan struct{})
	e.handle("/swr", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v := version
		mu.Unlock()
		if v > 1 {
			entered <- struct{}{}
			<-gate
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=100")
		fmt.Fprintf(w, "v%d", v)
	})
	expect(t, "fill", e.get("/swr"), 200, "MISS", "v1")
	mu.Lock()
	version = 2
	mu.Unlock()
	e.clock.Advance(20 * time.Second) // stale, within the window

	// Many clients at once: all get the stale copy without waiting, and
	// exactly one refresh reaches the origin.
	var wg sync.WaitGroup
	results := make([]response, 20)
	for i := range results {
		wg.Go(func() { results[i] = e.get("/swr") })
	}
	wg.Wait()
	for i, r := range results {
		expect(t, fmt.Sprint("stale ", i), r, 200, "STALE", "v1")
		if r.header.Get("Age") != "20" {
			t.Fatalf("stale Age = %q, want 20", r.header.Get("Age"))
		}
	}
	<-entered
	close(gate)
	e.proxy.waitBackground()
	if n := e.origin.count("/swr"); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (fill and one refresh)", n)
	}
	if n := e.proxy.metrics.refreshes.Load(); n != 1 {
		t.Fatalf("%d background refreshes, want 1", n)
	}
	expect(t, "refreshed", e.get("/swr"), 200, "HIT", "v2")

	// Past the window, the stale copy is not served: the request waits
	// for the origin.
	e.clock.Advance(200 * time.Second)
	mu.Lock()
	version = 1 // no gate
	mu.Unlock()
	expect(t, "past the window", e.get("/swr"), 200, "MISS", "v1")
}

func TestStaleWhileRevalidateNotWithMustRevalidate(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/m", textHandler("max-age=10, stale-while-revalidate=100, must-revalidate", "m"))
	expect(t, "fill", e.get("/m"), 200, "MISS", "m")
	e.clock.Advance(20 * time.Second)
	expect(t, "stale", e.get("/m"), 200, "MISS", "m")
}

func TestCoalescing(t *testing.T) {
	e := newEnv(t, nil)
	const clients = 200
	gate := make(chan struct{})
	e.handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.Header().Set("Cache-Control", "max-age=100")
		w.Write([]byte(bodyOf("slow", 5000)))
	})
	var wg sync.WaitGroup
	results := make([]response, clients)
	for i := range clients {
		wg.Go(func() { results[i] = e.get("/slow") })
	}
	waitFor(t, "all clients to wait on one fetch", func() bool {
		return e.proxy.metrics.coalesced.Load() == clients-1
	})
	close(gate)
	wg.Wait()
	if n := e.origin.count("/slow"); n != 1 {
		t.Fatalf("origin saw %d requests, want exactly 1", n)
	}
	want := bodyOf("slow", 5000)
	for i, r := range results {
		expect(t, fmt.Sprint("client ", i), r, 200, "MISS", want)
	}
	expect(t, "after", e.get("/slow"), 200, "HIT", want)
}

func TestCoalescingRacingTheLanding(t *testing.T) {
	// No gate: requests arrive while a fetch is in flight, as it lands,
	// and after. Whatever the interleaving, each key is fetched once.
	e := newEnv(t, nil)
	e.handle("/k/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Write([]byte(r.URL.Path))
	})
	const keys, clients = 10, 20
	var wg sync.WaitGroup
	for k := range keys {
		for range clients {
			wg.Go(func() {
				p := fmt.Sprintf("/k/%d", k)
				if r := e.get(p); r.status != 200 || r.body != p {
					t.Errorf("%s: %d %q", p, r.status, r.body)
				}
			})
		}
	}
	wg.Wait()
	for k := range keys {
		if n := e.origin.count(fmt.Sprintf("/k/%d", k)); n != 1 {
			t.Errorf("/k/%d: origin saw %d requests, want 1", k, n)
		}
	}
}

func TestCoalescedUncacheable(t *testing.T) {
	// When the shared response may not be stored, waiters fetch for
	// themselves rather than share it.
	e := newEnv(t, nil)
	gate := make(chan struct{})
	e.handle("/ns", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("fresh each time"))
	})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { expect(t, "no-store", e.get("/ns"), 200, "MISS", "fresh each time") })
	}
	waitFor(t, "clients to wait", func() bool { return e.proxy.metrics.coalesced.Load() == 4 })
	close(gate)
	wg.Wait()
	if n := e.origin.count("/ns"); n != 5 {
		t.Fatalf("origin saw %d requests, want 5", n)
	}
}

func TestPurge(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		e := newEnv(t, nil)
		e.handle("/x", textHandler("max-age=100", "x"))
		e.get("/x")
		r := e.do("PURGE", "/x", "Authorization", "Bearer anything")
		if r.status != http.StatusForbidden {
			t.Fatalf("PURGE without a configured token: %d, want 403", r.status)
		}
		expect(t, "still cached", e.get("/x"), 200, "HIT", "x")
	})

	e := newEnv(t, func(c *config) { c.PurgeToken = "s3cret-token" })
	e.handle("/x", textHandler("max-age=100", "x"))
	e.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, r.Header.Get("Accept-Language"))
	})
	e.get("/x")
	for _, c := range []struct {
		name, method, target string
		kv                   []string
		want                 int
	}{
		{"no auth", "PURGE", "/x", nil, 401},
		{"basic auth", "PURGE", "/x", []string{"Authorization", "Basic czNjcmV0LXRva2Vu"}, 401},
		{"empty bearer", "PURGE", "/x", []string{"Authorization", "Bearer "}, 401},
		{"wrong token", "PURGE", "/x", []string{"Authorization", "Bearer s3cret-tokeN"}, 403},
		{"prefix of token", "PURGE", "/x", []string{"Authorization", "Bearer s3cret"}, 403},
		{"delete no auth", "DELETE", "/_cache/x", nil, 401},
		{"delete wrong token", "DELETE", "/_cache/x", []string{"Authorization", "Bearer nope"}, 403},
	} {
		r := e.do(c.method, c.target, c.kv...)
		if r.status != c.want {
			t.Fatalf("%s: status %d, want %d", c.name, r.status, c.want)
		}
		if c.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: no WWW-Authenticate: Bearer", c.name)
		}
		expect(t, c.name+": still cached", e.get("/x"), 200, "HIT", "x")
	}
	if n := e.origin.count("/x"); n != 1 {
		t.Fatalf("origin saw %d requests, want 1: something was purged", n)
	}

	auth := []string{"Authorization", "Bearer s3cret-token"}
	if r := e.do("PURGE", "/x", auth...); r.status != 200 {
		t.Fatalf("PURGE with the token: %d %q", r.status, r.body)
	}
	expect(t, "after PURGE", e.get("/x"), 200, "MISS", "x")
	if r := e.do("DELETE", "/_cache/x", auth...); r.status != 200 {
		t.Fatalf("DELETE /_cache/x with the token: %d %q", r.status, r.body)
	}
	expect(t, "after DELETE", e.get("/x"), 200, "MISS", "x")
	if r := e.do("PURGE", "/never-stored", auth...); r.status != 404 {
		t.Fatalf("PURGE of nothing: %d, want 404", r.status)
	}

	// A purge removes every variant.
	e.get("/v", "Accept-Language", "en")
	e.get("/v", "Accept-Language", "fr")
	expect(t, "variant cached", e.get("/v", "Accept-Language", "fr"), 200, "HIT", "fr")
	if r := e.do("PURGE", "/v", auth...); r.status != 200 || !strings.Contains(r.body, "3 entries") {
		t.Fatalf("PURGE /v: %d %q, want 200 and 3 entries (index and two variants)", r.status, r.body)
	}
	expect(t, "en after purge", e.get("/v", "Accept-Language", "en"), 200, "MISS", "en")
	expect(t, "fr after purge", e.get("/v", "Accept-Language", "fr"), 200, "MISS", "fr")
}

func TestUnsafeMethodInvalidates(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("GET /doc", textHandler("max-age=100", "doc"))
	e.handle("POST /doc", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "posted %s", b)
	})
	e.get("/doc")
	expect(t, "cached", e.get("/doc"), 200, "HIT", "doc")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/doc", strings.NewReader("data"))
	expect(t, "POST", e.send(req), 200, "BYPASS", "posted data")
	expect(t, "after POST", e.get("/doc"), 200, "MISS", "doc")
}

func TestRangeBypasses(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		http.ServeContent(w, r, "file.txt", time.Time{}, strings.NewReader("0123456789"))
	})
	r := e.get("/file", "Range", "bytes=2-4")
	if r.status != http.StatusPartialContent || r.body != "234" || r.xcache() != "BYPASS" {
		t.Fatalf("range: %d %q %q", r.status, r.xcache(), r.body)
	}
	expect(t, "full", e.get("/file"), 200, "MISS", "0123456789")
}

func TestMaxObjectStreamsThrough(t *testing.T) {
	e := newEnv(t, func(c *config) { c.MaxObject = 4 << 10 })
	big := bodyOf("big", 100<<10)
	e.handle("/big", textHandler("max-age=100", big)) // Content-Length known
	e.handle("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		for i := 0; i < len(big); i += 1000 {
			w.Write([]byte(big[i:min(i+1000, len(big))]))
			w.(http.Flusher).Flush() // no Content-Length
		}
	})
	e.handle("/small", textHandler("max-age=100", "small"))
	for _, p := range []string{"/big", "/chunked"} {
		for i := range 2 {
			expect(t, fmt.Sprint(p, " ", i), e.get(p), 200, "MISS", big)
		}
		if n := e.origin.count(p); n != 2 {
			t.Fatalf("%s: origin saw %d requests, want 2", p, n)
		}
	}
	if n := e.proxy.metrics.tooLarge.Load(); n != 4 {
		t.Fatalf("too-large counter %d, want 4", n)
	}
	expect(t, "small", e.get("/small"), 200, "MISS", "small")
	if n := e.proxy.store.c.Len(); n != 1 {
		t.Fatalf("cache holds %d entries, want 1 (only /small)", n)
	}
}

func TestHopByHopStripped(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/h", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "max-age=100")
		h.Set("Connection", "X-Internal")
		h.Set("X-Internal", "secret")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Proxy-Extra", "1")
		h.Set("Upgrade", "h2c")
		h.Set("X-End-To-End", "kept")
		w.Write([]byte("hop"))
	})
	for _, want := range []string{"MISS", "HIT"} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/h", nil)
		req.Header.Set("Connection", "X-Client-Hop")
		req.Header.Set("X-Client-Hop", "1")
		req.Header.Set("Keep-Alive", "300")
		req.Header.Set("Proxy-Authorization", "Basic eDp5")
		req.Header.Set("Te", "trailers")
		req.Header.Set("X-Client-E2E", "kept")
		r := e.send(req)
		expect(t, want, r, 200, want, "hop")
		for _, name := range []string{"X-Internal", "Keep-Alive", "Proxy-Authenticate", "Proxy-Extra", "Upgrade"} {
			if v := r.header.Get(name); v != "" {
				t.Fatalf("%s response: hop-by-hop %s: %q reached the client", want, name, v)
			}
		}
		if c := r.header.Get("Connection"); c != "" && !strings.EqualFold(c, "close") && !strings.EqualFold(c, "keep-alive") {
			t.Fatalf("%s response: Connection %q reached the client", want, c)
		}
		if r.header.Get("X-End-To-End") != "kept" {
			t.Fatalf("%s response lost an end-to-end header", want)
		}
	}
	got := e.origin.lastHeader("/h")
	for _, name := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Connection"} {
		if v := got.Get(name); v != "" {
			t.Fatalf("hop-by-hop request header %s: %q reached the origin", name, v)
		}
	}
	if got.Get("X-Client-E2E") != "kept" || got.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Fatalf("origin request headers: %v", got)
	}
}
