package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock returns a clock at the current second.
func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

// Now returns the clock's time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testOrigin is an origin server that counts requests per path and
// records the last request headers per path.
type testOrigin struct {
	*httptest.Server
	mux    *http.ServeMux
	clock  *fakeClock
	mu     sync.Mutex
	counts map[string]int
	last   map[string]http.Header
	total  atomic.Int64
}

// count returns how many requests reached path.
func (o *testOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[path]
}

// lastHeader returns the headers of the last request for path.
func (o *testOrigin) lastHeader(path string) http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[path]
}

// env is one proxy in front of one test origin, both on loopback TCP.
type env struct {
	t      testing.TB
	clock  *fakeClock
	origin *testOrigin
	proxy  *proxy
	srv    *httptest.Server
	client *http.Client
}

// newEnv starts a test origin and a proxy in front of it, with a fake
// clock, 1MiB of cache and 64KiB per object unless mod says otherwise. The
// origin's Date header comes from the fake clock unless a handler sets
// one. Handlers are added with env.handle.
func newEnv(t testing.TB, mod func(*config)) *env {
	t.Helper()
	clock := newFakeClock()
	o := &testOrigin{mux: http.NewServeMux(), clock: clock, counts: map[string]int{}, last: map[string]http.Header{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.counts[r.URL.Path]++
		o.last[r.URL.Path] = r.Header.Clone()
		o.mu.Unlock()
		o.total.Add(1)
		w.Header().Set("Date", clock.Now().UTC().Format(http.TimeFormat))
		o.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(o.Close)
	u, err := url.Parse(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{
		Origin:        u,
		MaxBytes:      1 << 20,
		MaxObject:     64 << 10,
		KeepStale:     10 * time.Minute,
		DialTimeout:   2 * time.Second,
		HeaderTimeout: 5 * time.Second,
		OriginTimeout: 10 * time.Second,
		Now:           clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := newProxy(cfg)
	if err != nil {
		t.Fatalf("newProxy: %v", err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return &env{t: t, clock: clock, origin: o, proxy: p, srv: srv, client: newTestClient(t)}
}

// newTestClient returns a client for loopback tests: no proxy from the
// environment, no transparent compression, room for many connections.
func newTestClient(t testing.TB) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 256,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// handle registers an origin handler for pattern.
func (e *env) handle(pattern string, h http.HandlerFunc) { e.origin.mux.HandleFunc(pattern, h) }

// response is a fully read response.
type response struct {
	status int
	header http.Header
	body   string
}

// xcache returns the X-Cache header.
func (r response) xcache() string { return r.header.Get("X-Cache") }

// do sends method target to the proxy with headers given as name, value
// pairs, and reads the whole response.
func (e *env) do(method, target string, kv ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+target, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	return e.send(req)
}

// send sends req and reads the whole response.
func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// get is do("GET", ...).
func (e *env) get(target string, kv ...string) response {
	e.t.Helper()
	return e.do(http.MethodGet, target, kv...)
}

// expect checks a response's status, X-Cache and body (body only if
// want is not empty).
func expect(t *testing.T, what string, r response, status int, xcache, body string) {
	t.Helper()
	if r.status != status || r.xcache() != xcache || (body != "" && r.body != body) {
		t.Fatalf("%s: got %d X-Cache %q body %q, want %d %q %q", what, r.status, r.xcache(), trunc(r.body), status, xcache, trunc(body))
	}
}

// trunc shortens s for messages.
func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// waitFor polls cond until it holds or 10 seconds pass. It is for
// conditions in other goroutines that offer nothing to block on (a
// request parked inside the server); it never stands in for ordering.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// textHandler answers with cache-control cc and body.
func textHandler(cc, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	}
}

// bodyOf returns a deterministic body of n bytes for name.
func bodyOf(name string, n int) string {
	unit := name + "|"
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// writeFile writes content to path.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
