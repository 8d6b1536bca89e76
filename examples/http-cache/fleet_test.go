package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardmap/shardmap/rediscache/redistest"
)

// fleetToken is the purge token of the fleet tests.
const fleetToken = "fleet-token"

// newFleet starts one test origin and n proxies in front of it that share
// the Redis at addrs, each with its own listener, cache and Redis client.
// Every Redis call has timeout as its deadline.
func newFleet(t *testing.T, n int, addrs []string, timeout time.Duration) []*env {
	t.Helper()
	shared := &sharedConfig{Addrs: addrs, Prefix: "t:", Timeout: timeout}
	first := newEnv(t, func(c *config) { c.Shared = shared; c.PurgeToken = fleetToken })
	fleet := []*env{first}
	for range n - 1 {
		p, err := newProxy(first.proxy.cfg)
		if err != nil {
			t.Fatalf("newProxy: %v", err)
		}
		srv := httptest.NewServer(p)
		t.Cleanup(func() {
			srv.Close()
			p.Close()
		})
		fleet = append(fleet, &env{t: t, clock: first.clock, origin: first.origin, proxy: p, srv: srv, client: newTestClient(t)})
	}
	return fleet
}

// tiers returns e's tier counters.
func (e *env) tiers() tierStats { return e.proxy.store.tierStats() }

// purge sends PURGE target to e and checks it succeeded.
func (e *env) purge(target string) {
	e.t.Helper()
	if r := e.do("PURGE", target, "Authorization", "Bearer "+fleetToken); r.status != http.StatusOK {
		e.t.Fatalf("PURGE %s: %d %s", target, r.status, r.body)
	}
}

// waitInvalidated waits until e has heard of a change or a flush since
// before, the counters e.tiers() returned earlier.
func waitInvalidated(t *testing.T, e *env, before tierStats) {
	t.Helper()
	waitFor(t, "the invalidation to arrive", func() bool {
		now := e.tiers()
		return now.Invalidations > before.Invalidations || now.Flushes > before.Flushes
	})
}

// checkSharedHitAndPurge runs the fleet scenario: a MISS on a, a shared
// HIT on b (the origin saw one request), a PURGE on b, then a MISS on a.
func checkSharedHitAndPurge(t *testing.T, a, b *env, path string) {
	t.Helper()
	a.handle(path, textHandler("max-age=100", "body of "+path))
	expect(t, "a, first", a.get(path), 200, "MISS", "body of "+path)
	bBefore := b.tiers()
	expect(t, "b, stored by a", b.get(path), 200, "HIT", "body of "+path)
	if n := a.origin.count(path); n != 1 {
		t.Fatalf("origin saw %d requests for %s, want 1", n, path)
	}
	if got := b.tiers().SharedHits - bBefore.SharedHits; got != 1 {
		t.Fatalf("b's shared hits grew by %d, want 1", got)
	}
	expect(t, "a, again", a.get(path), 200, "HIT", "body of "+path)

	aBefore := a.tiers()
	b.purge(path)
	waitInvalidated(t, a, aBefore)
	expect(t, "a, after b's purge", a.get(path), 200, "MISS", "body of "+path)
	expect(t, "b, after a's refetch", b.get(path), 200, "HIT", "body of "+path)
	if n := a.origin.count(path); n != 2 {
		t.Fatalf("origin saw %d requests for %s, want 2", n, path)
	}
}

func TestFleetSharedHitAndPurge(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, 2, []string{srv.Addr}, time.Second)
	a, b := f[0], f[1]
	checkSharedHitAndPurge(t, a, b, "/page")

	// b's second request is a near hit: no more Redis reads.
	before := b.tiers()
	expect(t, "b, near", b.get("/page"), 200, "HIT", "")
	if after := b.tiers(); after.SharedHits != before.SharedHits || after.NearHits == before.NearHits {
		t.Fatalf("b's hit went to Redis: before %+v, after %+v", before, after)
	}

	// The exposition reports the tiers, and the numbers moved.
	m := parseProm(t, b.get("/metrics").body)
	if got := promValue(t, m, "httpcache_shared_lookups_total", "outcome", "hit"); got < 2 {
		t.Errorf("b's shared hits = %v, want at least 2", got)
	}
	if got := promValue(t, m, "httpcache_near_hits_total"); got < 1 {
		t.Errorf("b's near hits = %v", got)
	}
	m = parseProm(t, a.get("/metrics").body)
	if got := promValue(t, m, "httpcache_shared_invalidations_total"); got < 1 {
		t.Errorf("a's invalidations = %v, want at least 1", got)
	}
	promValue(t, m, "httpcache_shared_flushes_total")
	promValue(t, m, "httpcache_shared_lookups_total", "outcome", "error")

	page := b.get("/_cache/").body
	ts := b.tiers()
	for _, want := range []string{
		fmt.Sprintf(`<div class="v" id="near-hits">%d</div>`, ts.NearHits),
		fmt.Sprintf(`<div class="v" id="shared-hits">%d</div>`, ts.SharedHits),
		fmt.Sprintf(`<div class="v" id="invalidations">%d</div>`, ts.Invalidations),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %s", want)
		}
	}
}

// A purge of a URL with Vary on one instance makes every variant stored
// by any instance unreachable, though no instance deletes them one by one.
func TestFleetPurgeRemovesVariants(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, 2, []string{srv.Addr}, time.Second)
	a, b := f[0], f[1]
	a.handle("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "lang="+r.Header.Get("Accept-Language"))
	})
	for _, lang := range []string{"de", "en"} {
		expect(t, "a "+lang, a.get("/v", "Accept-Language", lang), 200, "MISS", "lang="+lang)
	}
	expect(t, "b de", b.get("/v", "Accept-Language", "de"), 200, "HIT", "lang=de")
	before := a.tiers()
	b.purge("/v")
	waitInvalidated(t, a, before)
	// a still holds its "en" variant near, but under the purged index.
	for _, lang := range []string{"en", "de"} {
		expect(t, "a "+lang+" after purge", a.get("/v", "Accept-Language", lang), 200, "MISS", "lang="+lang)
	}
	if n := a.origin.count("/v"); n != 4 {
		t.Fatalf("origin saw %d requests, want 4", n)
	}
}

// Concurrent misses for one key make at most one origin request per
// instance, and the instance that stores second does not ask again.
func TestFleetCoalescing(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, 2, []string{srv.Addr}, time.Second)
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // a failed check must not leave the clients parked
	f[0].handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		textHandler("max-age=100", "slow")(w, r)
	})
	const perInstance = 16
	var wg sync.WaitGroup
	errs := make(chan string, 2*perInstance)
	for _, e := range f {
		for range perInstance {
			wg.Go(func() {
				resp, err := e.client.Get(e.srv.URL + "/slow")
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- resp.Status
				}
			})
		}
	}
	waitFor(t, "every client to wait on its instance's fetch, and both fetches to reach the origin", func() bool {
		return f[0].proxy.metrics.coalesced.Load() == perInstance-1 && f[1].proxy.metrics.coalesced.Load() == perInstance-1 &&
			f[0].origin.count("/slow") >= 2
	})
	if n := f[0].origin.count("/slow"); n != 2 {
		t.Fatalf("origin saw %d requests while both instances were fetching, want 2 (one each)", n)
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, e := range f {
		expect(t, fmt.Sprint("instance ", i), e.get("/slow"), 200, "HIT", "slow")
	}
	if n := f[0].origin.count("/slow"); n != 2 {
		t.Fatalf("origin saw %d requests, want 2", n)
	}
}

// A Redis that stops answering (SIGSTOP) costs each request at most the
// deadlines of its few Redis calls: hits come from the near tier, misses
// from the origin, and nothing hangs.
func TestFleetRedisPaused(t *testing.T) {
	srv := redistest.Start(t)
	const deadline = 20 * time.Millisecond
	f := newFleet(t, 2, []string{srv.Addr}, deadline)
	a := f[0]
	a.handle("/p/{n}", textHandler("max-age=100", "p"))
	expect(t, "before the pause", a.get("/p/1"), 200, "MISS", "p")
	expect(t, "near", a.get("/p/1"), 200, "HIT", "p")

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	// A request makes at most four Redis calls (two lookups, a write and
	// a read back), each bounded by the deadline; allow generous slack
	// for a loaded machine, far below the 1s a dead connection takes to
	// be noticed.
	const bound = 4*deadline + 400*time.Millisecond
	timed := func(what, target, want string) {
		t.Helper()
		start := time.Now()
		r := a.get(target)
		if took := time.Since(start); took > bound {
			t.Fatalf("%s took %v with Redis stopped, bound %v", what, took, bound)
		}
		expect(t, what, r, 200, want, "p")
	}
	timed("near hit, paused", "/p/1", "HIT")
	timed("miss, paused", "/p/2", "MISS")
	// Not kept near: no invalidation could reach it.
	timed("miss again, paused", "/p/2", "MISS")
	if a.tiers().SharedErrors == 0 {
		t.Fatal("no Redis errors counted while Redis was stopped")
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	// Once Redis answers again, responses are shared again.
	waitFor(t, "the shared tier to store again", func() bool {
		return a.get("/p/3").xcache() == "HIT"
	})
	expect(t, "b after the pause", f[1].get("/p/3"), 200, "HIT", "p")
}

func TestFleetCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	f := newFleet(t, 2, cl.Addrs(), time.Second)
	for i := range 3 { // keys on different masters, most likely
		checkSharedHitAndPurge(t, f[0], f[1], fmt.Sprintf("/c/%d", i))
	}
}

func TestRedisFlags(t *testing.T) {
	o, err := parseFlags([]string{"-redis", "127.0.0.1:6390", "-redis-timeout", "20ms", "-redis-prefix", "blue:"}, io.Discard)
	if err != nil || o.proxy.Shared == nil || !slices.Equal(o.proxy.Shared.Addrs, []string{"127.0.0.1:6390"}) ||
		o.proxy.Shared.Timeout != 20*time.Millisecond || o.proxy.Shared.Prefix != "blue:" {
		t.Fatalf("-redis: %+v, %v", o.proxy.Shared, err)
	}
	o, err = parseFlags([]string{"-redis-cluster", "127.0.0.1:7000, 127.0.0.1:7001,127.0.0.1:7002"}, io.Discard)
	if err != nil || o.proxy.Shared == nil || len(o.proxy.Shared.Addrs) != 3 || o.proxy.Shared.Addrs[1] != "127.0.0.1:7001" {
		t.Fatalf("-redis-cluster: %+v, %v", o.proxy.Shared, err)
	}
	if o, err = parseFlags(nil, io.Discard); err != nil || o.proxy.Shared != nil {
		t.Fatalf("no -redis: %+v, %v", o.proxy.Shared, err)
	}
	for _, args := range [][]string{
		{"-redis", "a:1", "-redis-cluster", "b:1"},
		{"-redis", "nohost"},
		{"-redis", "a:1", "-redis-timeout", "0"},
		{"-redis", "a:1", "-origin-only"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
