package cache

import (
	"runtime"
	"testing"
	"time"
)

func TestExpiredNeverReturned(t *testing.T) {
	c, clk := newTestCache(t, Options[string, int]{MaxEntries: 10, TTL: time.Minute})
	c.Set("default", 1)
	c.SetWithTTL("short", 2, time.Second)
	c.SetWithTTL("forever", 3, 0)
	c.SetWithTTL("negative", 4, -time.Hour) // no expiry, like 0

	clk.Advance(time.Second - 1)
	for _, k := range []string{"default", "short", "forever", "negative"} {
		if _, ok := c.Get(k); !ok {
			t.Fatalf("%s expired early", k)
		}
	}
	clk.Advance(1)
	if _, ok := c.Get("short"); ok {
		t.Fatal("short returned at its deadline")
	}
	clk.Advance(time.Minute)
	if _, ok := c.Get("default"); ok {
		t.Fatal("default returned after the cache TTL")
	}
	for _, k := range []string{"forever", "negative"} {
		if _, ok := c.Get(k); !ok {
			t.Fatalf("%s expired", k)
		}
	}
	// Not reclaimed yet (no sweep ran), but never visible.
	if c.Len() != 4 {
		t.Fatalf("Len %d, want 4 before a sweep", c.Len())
	}
	for k := range c.All() {
		if k == "short" || k == "default" {
			t.Fatalf("All yielded expired %s", k)
		}
	}
	mustCheck(t, c)
}

func TestReplaceResetsTTL(t *testing.T) {
	c, clk := newTestCache(t, Options[int, int]{MaxEntries: 10, TTL: time.Second})
	c.Set(1, 1)
	clk.Advance(900 * time.Millisecond)
	c.Set(1, 2)
	clk.Advance(900 * time.Millisecond)
	if v, ok := c.Get(1); !ok || v != 2 {
		t.Fatalf("Get = %v, %v; want 2, true", v, ok)
	}
	c.SetWithTTL(1, 3, 0)
	clk.Advance(time.Hour)
	if v, ok := c.Get(1); !ok || v != 3 {
		t.Fatalf("Get after SetWithTTL(0) = %v, %v; want 3, true", v, ok)
	}
	c.SetWithTTL(1, 4, time.Second)
	mustCheck(t, c)
	clk.Advance(time.Second)
	if _, ok := c.Get(1); ok {
		t.Fatal("entry outlived its TTL")
	}
}

func TestSweepReclaimsExpired(t *testing.T) {
	var rec recorder[int, int]
	c, clk := newTestCache(t, Options[int, int]{MaxEntries: 1000, OnEvict: rec.onEvict})
	for i := range 600 {
		c.SetWithTTL(i, i, time.Duration(i%3+1)*time.Second)
	}
	c.Set(-1, -1)
	clk.Advance(2 * time.Second) // i%3 in {0, 1} expired: 400 entries
	n, next := c.sweep(c.now(), sweepBatch)
	if n != sweepBatch {
		t.Fatalf("first sweep removed %d, want the batch limit %d", n, sweepBatch)
	}
	if next > c.now() {
		t.Fatal("expired entries left but next deadline is in the future")
	}
	n, next = c.sweep(c.now(), sweepBatch)
	if n != 400-sweepBatch {
		t.Fatalf("second sweep removed %d, want %d", n, 400-sweepBatch)
	}
	if want := c.now() + int64(time.Second); next != want {
		t.Fatalf("next deadline %d, want %d", next, want)
	}
	if c.Len() != 201 {
		t.Fatalf("Len %d, want 201", c.Len())
	}
	evs := rec.take()
	for _, e := range evs {
		if e.reason != Expired || e.key%3 == 2 {
			t.Fatalf("bad event %+v", e)
		}
	}
	if len(evs) != 400 || c.Stats().Expirations != 400 {
		t.Fatalf("%d events, %d expirations; want 400", len(evs), c.Stats().Expirations)
	}
	mustCheck(t, c)
}

func TestExpiredEvictedFirst(t *testing.T) {
	var rec recorder[int, int]
	c, clk := newTestCache(t, Options[int, int]{MaxEntries: 4, OnEvict: rec.onEvict})
	c.Set(0, 0)
	c.Set(1, 1)
	c.SetWithTTL(2, 2, time.Second)
	c.Set(3, 3)
	clk.Advance(time.Second)
	c.Set(4, 4)
	want := []event[int, int]{{2, 2, Expired}}
	if got := rec.take(); !equalEvents(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, k := range []int{0, 1, 3, 4} {
		if _, ok := c.Get(k); !ok {
			t.Fatalf("live key %d was evicted before the expired one", k)
		}
	}
}

func TestDeleteAndReplaceOfExpired(t *testing.T) {
	var rec recorder[int, int]
	c, clk := newTestCache(t, Options[int, int]{MaxEntries: 4, TTL: time.Second, OnEvict: rec.onEvict})
	c.Set(1, 1)
	c.Set(2, 2)
	clk.Advance(time.Second)
	c.Delete(1)
	c.Set(2, 20)
	want := []event[int, int]{{1, 1, Expired}, {2, 2, Expired}}
	if got := rec.take(); !equalEvents(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	mustCheck(t, c)
}

func TestSweeperRunsInBackground(t *testing.T) {
	clk := newFakeClock()
	swept := make(chan struct{})
	c, err := newCache(Options[int, int]{MaxEntries: 100, TTL: time.Minute},
		hooks{clock: clk.Now, sweepEvery: time.Millisecond, swept: swept})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 10 {
		c.Set(i, i)
	}
	<-swept
	if c.Len() != 10 {
		t.Fatalf("sweep removed live entries: Len %d", c.Len())
	}
	clk.Advance(time.Minute)
	// Each receive is one completed sweep; the first that starts after the
	// advance reclaims everything.
	for range 3 {
		<-swept
	}
	if c.Len() != 0 {
		t.Fatalf("Len %d after sweeps, want 0", c.Len())
	}
	if c.Stats().Expirations != 10 {
		t.Fatalf("Expirations %d, want 10", c.Stats().Expirations)
	}
}

func TestSweeperStartsOnFirstDeadline(t *testing.T) {
	c, err := New(Options[int, int]{MaxEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Set(1, 1)
	c.mu.Lock()
	started := c.sweeping
	c.mu.Unlock()
	if started {
		t.Fatal("sweeper started without any deadline")
	}
	c.SetWithTTL(2, 2, time.Hour)
	c.mu.Lock()
	started = c.sweeping
	c.mu.Unlock()
	if !started {
		t.Fatal("sweeper not started by SetWithTTL")
	}
}

func TestSweeperStopsWhenCacheIsCollected(t *testing.T) {
	c, err := New(Options[int, int]{MaxEntries: 10, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(1, 1)
	done := c.lc.done
	c = nil
	// The cleanup runs after some collection finds the cache unreachable.
	for range 200 {
		runtime.GC()
		select {
		case <-done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatal("sweeper still running after its cache became unreachable")
}

func TestDeadlineSaturates(t *testing.T) {
	if got := deadline(10, time.Duration(1<<63-1)); got != 1<<63-1 {
		t.Fatalf("deadline overflowed: %d", got)
	}
	if got := deadline(-100, time.Nanosecond); got != 1 {
		t.Fatalf("deadline before the epoch = %d, want 1", got)
	}
	if got := deadline(5, 0); got != 0 {
		t.Fatalf("deadline with no TTL = %d", got)
	}
}
