package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestByteBoundUnderFlood(t *testing.T) {
	const (
		maxBytes = 256 << 10
		bodySize = 32 << 10
		urls     = 1200
		workers  = 8
	)
	e := newEnv(t, func(c *config) { c.MaxBytes = maxBytes; c.MaxObject = 64 << 10 })
	e.handle("/f/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1000")
		w.Write([]byte(bodyOf(r.URL.Path, bodySize)))
	})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// Every worker checks the bound after each response, while the others
	// are filling and evicting. cache.Cache holds its bound exactly when
	// no write is in progress; while writes race it may hold up to 128
	// entries more, those on their way to eviction. Each entry here
	// weighs less than the body plus 1KiB.
	const racingSlack = 128 * (bodySize + 1<<10)
	var over, peak atomic.Uint64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > urls {
					return
				}
				p := fmt.Sprintf("/f/%d", i)
				r := e.get(p)
				if r.status != 200 || r.body != bodyOf(p, bodySize) {
					t.Errorf("%s: status %d, body wrong (%d bytes)", p, r.status, len(r.body))
					return
				}
				w := e.proxy.store.c.Weight()
				if w > maxBytes+racingSlack {
					over.Store(w)
				}
				for p := peak.Load(); w > p && !peak.CompareAndSwap(p, w); p = peak.Load() {
				}
			}
		})
	}
	wg.Wait()
	if w := over.Load(); w != 0 {
		t.Fatalf("cache weight reached %d while writes raced, over the bound %d plus %d for racing writes", w, maxBytes, racingSlack)
	}
	t.Logf("peak weight while writes raced: %d (bound %d)", peak.Load(), maxBytes)
	if w := e.proxy.store.c.Weight(); w > maxBytes {
		t.Fatalf("cache weight %d over the bound %d with no write in progress", w, maxBytes)
	}
	if ev := e.proxy.store.evictions.Load(); ev < urls-maxBytes/bodySize {
		t.Fatalf("%d evictions, want at least %d", ev, urls-maxBytes/bodySize)
	}
	// What is still stored is intact, and stored under the right key.
	for k, en := range e.proxy.store.c.All() {
		if string(en.body) != bodyOf(k, bodySize) {
			t.Fatalf("entry %s holds another key's body", k)
		}
	}

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	flood := uint64(urls * bodySize)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap %d -> %d bytes after a %d-byte flood", before.HeapAlloc, after.HeapAlloc, flood)
	if grew > 16<<20 {
		t.Fatalf("heap grew by %d bytes after a %d-byte flood through a %d-byte cache", grew, flood, maxBytes)
	}
}

func TestClientDisconnectDuringFill(t *testing.T) {
	// The client that leads a fill goes away while the origin is still
	// sending: the fill completes for the cache, whole.
	e := newEnv(t, nil)
	body := bodyOf("fill", 20000)
	entered := make(chan struct{})
	gate := make(chan struct{})
	e.handle("/fill", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write([]byte(body[:10000]))
		w.(http.Flusher).Flush()
		close(entered)
		<-gate
		w.Write([]byte(body[10000:]))
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/fill", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	close(gate)
	waitFor(t, "the fill to be stored", func() bool {
		_, ok := e.proxy.store.c.Get("/fill")
		return ok
	})
	expect(t, "after disconnect", e.get("/fill"), 200, "HIT", body)
	if n := e.origin.count("/fill"); n != 1 {
		t.Fatalf("origin saw %d requests, want 1", n)
	}
}

func TestClientDisconnectMidStream(t *testing.T) {
	// A client reading a streamed (too large) response hangs up midway:
	// the proxy stops, survives, and serves the next client whole.
	e := newEnv(t, func(c *config) { c.MaxObject = 4 << 10 })
	big := bodyOf("stream", 2<<20)
	e.handle("/big", textHandler("max-age=100", big))
	e.handle("/small", textHandler("max-age=100", "small"))

	resp, err := e.client.Get(e.srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != big[:1000] {
		t.Fatal("first bytes of the stream are wrong")
	}
	resp.Body.Close() // hang up with most of the body unread

	expect(t, "small", e.get("/small"), 200, "MISS", "small")
	expect(t, "big again", e.get("/big"), 200, "MISS", big)
	if e.proxy.store.c.Len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", e.proxy.store.c.Len())
	}
}

func TestOriginAbortsMidBody(t *testing.T) {
	// The origin dies halfway through a body. Nothing partial is stored,
	// and no client sees a truncated body as complete.
	e := newEnv(t, func(c *config) { c.MaxObject = 4 << 10 })
	abort := func(size int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("Content-Length", fmt.Sprint(size))
			w.Write([]byte(bodyOf("x", size/2)))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	}
	e.handle("/small", abort(2000))  // buffered for the cache
	e.handle("/large", abort(20000)) // over MaxObject: streamed
	for i := range 2 {
		r := e.get("/small")
		if r.status != http.StatusBadGateway {
			t.Fatalf("try %d: truncated cacheable body answered %d %q, want 502", i, r.status, r.body)
		}
	}
	if n := e.origin.count("/small"); n != 2 || e.proxy.store.c.Len() != 0 {
		t.Fatalf("origin saw %d requests and cache holds %d entries, want 2 and 0", n, e.proxy.store.c.Len())
	}

	resp, err := e.client.Get(e.srv.URL + "/large")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("streamed truncated body read as complete (%d bytes)", len(b))
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachableOrigin(t *testing.T) {
	e := newEnv(t, func(c *config) {
		c.Origin = &url.URL{Scheme: "http", Host: closedAddr(t)}
		c.DialTimeout = time.Second
	})
	start := time.Now()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			r := e.get("/anything")
			if r.status != http.StatusBadGateway || len(r.body) > 100 || !strings.Contains(r.body, "bad gateway") {
				t.Errorf("got %d %q, want 502 with a short body", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("502 took %v", d)
	}
	if e.proxy.store.c.Len() != 0 {
		t.Fatal("an error was stored")
	}
}

func TestSilentOriginTimesOut(t *testing.T) {
	// An origin that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	held := make(chan net.Conn, 16)
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	})
	t.Cleanup(func() {
		ln.Close()
		conns.Wait()
		close(held)
		for c := range held {
			c.Close()
		}
	})
	e := newEnv(t, func(c *config) {
		c.Origin = &url.URL{Scheme: "http", Host: ln.Addr().String()}
		c.HeaderTimeout = 300 * time.Millisecond
	})
	start := time.Now()
	r := e.get("/hang")
	if r.status != http.StatusGatewayTimeout || len(r.body) > 100 {
		t.Fatalf("got %d %q, want 504 with a short body", r.status, r.body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("504 took %v", d)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	clock := newFakeClock()
	entered := make(chan struct{})
	gate := make(chan struct{})
	origin := newEnv(t, nil) // only for its origin server
	origin.handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-gate
		w.Write([]byte("finished"))
	})
	u, _ := url.Parse(origin.origin.URL)
	p, err := newProxy(config{Origin: u, MaxBytes: 1 << 20, MaxObject: 1 << 16, DialTimeout: time.Second,
		HeaderTimeout: 10 * time.Second, OriginTimeout: 10 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, newServer(p, log), ln, 5*time.Second, log) }()

	client := newTestClient(t)
	got := make(chan response, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow")
		if err != nil {
			t.Error(err)
			got <- response{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- response{resp.StatusCode, resp.Header, string(b)}
	}()
	<-entered
	cancel() // as SIGTERM does
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	close(gate)
	r := <-got
	if r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q", r.status, r.body)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, nil)
	gate := make(chan struct{})
	defer close(gate)
	entered := make(chan struct{})
	e.handle("/stuck", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-gate
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, newServer(e.proxy, log), ln, 100*time.Millisecond, log) }()
	go func() {
		resp, err := newTestClient(t).Get("http://" + ln.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	err = <-served
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("serve = %v, want a deadline error", err)
	}
}
