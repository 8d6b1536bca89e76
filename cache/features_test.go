package cache

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestComputeIsAtomic increments one counter from several goroutines: no
// increment may be lost.
func TestComputeIsAtomic(t *testing.T) {
	c, _ := newTestCache(t, Options[string, int]{MaxEntries: 10})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				c.Compute("n", func(old int, found bool) (int, ComputeOp) { return old + 1, UpdateOp })
				c.Set("other", 1) // writes of other keys in between
			}
		})
	}
	wg.Wait()
	if v, ok := c.Get("n"); !ok || v != 4000 {
		t.Fatalf("counter = %d, %v after 4000 increments", v, ok)
	}
	mustCheck(t, c)
}

// TestComputeOps checks what each op does, what Compute returns and what
// OnEvict hears.
func TestComputeOps(t *testing.T) {
	var rec recorder[string, int]
	c, clk := newTestCache(t, Options[string, int]{MaxEntries: 10, OnEvict: rec.onEvict})
	v, ok := c.Compute("a", func(old int, found bool) (int, ComputeOp) {
		if found {
			t.Errorf("Compute on an empty cache found %d", old)
		}
		return 1, UpdateOp
	})
	if !ok || v != 1 {
		t.Fatalf("Compute insert = %d, %v", v, ok)
	}
	if v, ok := c.Compute("a", func(old int, found bool) (int, ComputeOp) { return 99, CancelOp }); !ok || v != 1 {
		t.Fatalf("Compute cancel = %d, %v; want the old 1, true", v, ok)
	}
	if v, ok := c.Compute("missing", func(int, bool) (int, ComputeOp) { return 5, CancelOp }); ok || v != 0 {
		t.Fatalf("Compute cancel on a missing key = %d, %v", v, ok)
	}
	c.Compute("a", func(old int, found bool) (int, ComputeOp) { return old + 1, UpdateOp })
	if _, ok := c.Compute("a", func(int, bool) (int, ComputeOp) { return 0, DeleteOp }); ok {
		t.Fatal("Compute delete reported a value")
	}
	if _, ok := c.Get("a"); ok {
		t.Fatal("Get hit after Compute deleted")
	}
	c.SetWithTTL("e", 7, time.Second)
	clk.Advance(2 * time.Second)
	c.Compute("e", func(old int, found bool) (int, ComputeOp) {
		if found {
			t.Errorf("Compute found the expired value %d", old)
		}
		return 8, UpdateOp
	})
	want := []event[string, int]{{"a", 1, Replaced}, {"a", 2, Deleted}, {"e", 7, Expired}}
	if got := rec.take(); !equalEvents(got, want) {
		t.Fatalf("OnEvict calls %v, want %v", got, want)
	}
	mustCheck(t, c)
}

// TestComputePanicLeavesEntry checks that a panicking fn changes nothing
// and leaves the cache usable.
func TestComputePanicLeavesEntry(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 4})
	c.Set(1, 1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Compute did not propagate fn's panic")
			}
		}()
		c.Compute(1, func(int, bool) (int, ComputeOp) { panic("boom") })
	}()
	if v, ok := c.Get(1); !ok || v != 1 {
		t.Fatalf("Get(1) = %d, %v after a panicking Compute", v, ok)
	}
	for k := range 10 {
		c.Set(k, k)
	}
	mustCheck(t, c)
}

// waitCall waits for key's load in flight, if any, to complete.
func waitCall[K comparable, V any](c *Cache[K, V], key K) {
	if cl, ok := c.calls.Load(key); ok {
		<-cl.done
	}
}

// TestRefreshAhead checks that an entry past RefreshAfter is served at once
// while one background load, however many callers come, replaces it.
func TestRefreshAhead(t *testing.T) {
	c, clk := newTestCache(t, Options[string, int]{MaxEntries: 10, TTL: time.Hour, RefreshAfter: time.Minute})
	var calls atomic.Int32
	release := make(chan struct{})
	load := func(ctx context.Context, k string) (int, error) {
		n := calls.Add(1)
		if n > 1 {
			<-release
		}
		return int(n), nil
	}
	ctx := context.Background()
	if v, err := c.GetOrLoad(ctx, "k", load); err != nil || v != 1 {
		t.Fatalf("first GetOrLoad = %d, %v", v, err)
	}
	clk.Advance(30 * time.Second)
	if v, _ := c.GetOrLoad(ctx, "k", load); v != 1 || calls.Load() != 1 {
		t.Fatalf("before RefreshAfter: value %d, %d loads; want 1, 1", v, calls.Load())
	}
	clk.Advance(time.Minute)
	for range 5 {
		if v, err := c.GetOrLoad(ctx, "k", load); err != nil || v != 1 {
			t.Fatalf("GetOrLoad during the refresh = %d, %v; want the current 1 at once", v, err)
		}
	}
	cl, ok := c.calls.Load("k")
	if !ok {
		t.Fatal("no refresh in flight after the entry passed RefreshAfter")
	}
	close(release)
	<-cl.done
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d loads, want 1 and one refresh", n)
	}
	if v, ok := c.Get("k"); !ok || v != 2 {
		t.Fatalf("Get after the refresh = %d, %v; want 2", v, ok)
	}
	mustCheck(t, c)
}

// TestRefreshLosesToWrites checks that a Delete or a Set during a refresh
// wins, and that a failed refresh keeps the old value.
func TestRefreshLosesToWrites(t *testing.T) {
	for _, tc := range []string{"delete", "set", "error"} {
		t.Run(tc, func(t *testing.T) {
			c, clk := newTestCache(t, Options[string, int]{MaxEntries: 10, RefreshAfter: time.Minute})
			c.Set("k", 1)
			clk.Advance(2 * time.Minute)
			started, release := make(chan struct{}), make(chan struct{})
			load := func(context.Context, string) (int, error) {
				close(started)
				<-release
				if tc == "error" {
					return 0, errors.New("backend down")
				}
				return 2, nil
			}
			if v, _ := c.GetOrLoad(context.Background(), "k", load); v != 1 {
				t.Fatalf("GetOrLoad = %d, want the current 1", v)
			}
			<-started
			cl, _ := c.calls.Load("k")
			switch tc {
			case "delete":
				c.Delete("k")
			case "set":
				c.Set("k", 3)
			}
			close(release)
			<-cl.done
			v, ok := c.Get("k")
			switch tc {
			case "delete":
				if ok {
					t.Fatalf("Get = %d after Delete during the refresh; the refresh must not store", v)
				}
			case "set":
				if !ok || v != 3 {
					t.Fatalf("Get = %d, %v; want the Set's 3", v, ok)
				}
			case "error":
				if !ok || v != 1 {
					t.Fatalf("Get = %d, %v after a failed refresh; want the old 1", v, ok)
				}
			}
			mustCheck(t, c)
		})
	}
}

// TestGetAllOrLoad checks that one loader call gets exactly the missing
// keys, that the values are stored, and that a key another caller is
// loading is waited for, not loaded again.
func TestGetAllOrLoad(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 100})
	c.Set(1, 10)
	c.Set(2, 20)
	// A single load of 5 is in flight when the bulk call comes.
	started, release := make(chan struct{}), make(chan struct{})
	single := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(context.Background(), 5, func(context.Context, int) (int, error) {
			close(started)
			<-release
			return 50, nil
		})
		single <- err
	}()
	<-started
	var got [][]int
	var mu sync.Mutex
	bulk := func(_ context.Context, keys []int) (map[int]int, error) {
		mu.Lock()
		got = append(got, slices.Sorted(slices.Values(keys)))
		mu.Unlock()
		m := map[int]int{}
		for _, k := range keys {
			if k != 4 { // 4 does not exist
				m[k] = 10 * k
			}
		}
		return m, nil
	}
	done := make(chan map[int]int)
	go func() {
		m, err := c.GetAllOrLoad(context.Background(), []int{1, 2, 3, 3, 4, 5, 6}, bulk)
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	// The bulk call cannot finish before the single load of 5 does.
	close(release)
	m := <-done
	if err := <-single; err != nil {
		t.Fatal(err)
	}
	want := map[int]int{1: 10, 2: 20, 3: 30, 5: 50, 6: 60}
	if len(m) != len(want) {
		t.Fatalf("GetAllOrLoad = %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Fatalf("GetAllOrLoad = %v, want %v", m, want)
		}
	}
	if len(got) != 1 || !slices.Equal(got[0], []int{3, 4, 6}) {
		t.Fatalf("loader calls %v, want one with [3 4 6]", got)
	}
	for k, v := range map[int]int{3: 30, 5: 50, 6: 60} {
		if x, ok := c.Get(k); !ok || x != v {
			t.Fatalf("Get(%d) = %d, %v after the bulk load", k, x, ok)
		}
	}
	if _, ok := c.Get(4); ok {
		t.Fatal("a key the loader left out was stored")
	}
	mustCheck(t, c)
}

// TestGetAllOrLoadSharesWithGetOrLoad checks that a GetOrLoad for a key a
// bulk load is loading waits for it, and gets ErrNotFound if the loader
// leaves the key out; and that a bulk loader's error reaches every caller.
func TestGetAllOrLoadSharesWithGetOrLoad(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 100})
	started, release := make(chan struct{}), make(chan struct{})
	boom := errors.New("boom")
	bulk := func(_ context.Context, keys []int) (map[int]int, error) {
		close(started)
		<-release
		return map[int]int{1: 1}, nil
	}
	res := make(chan error, 1)
	go func() {
		_, err := c.GetAllOrLoad(context.Background(), []int{1, 2}, bulk)
		res <- err
	}()
	<-started
	errs := make(chan error, 2)
	for _, k := range []int{1, 2} {
		go func() {
			_, err := c.GetOrLoad(context.Background(), k, func(context.Context, int) (int, error) {
				return 0, errors.New("a second load ran")
			})
			errs <- err
		}()
	}
	// Both waiters join the bulk load before it is released.
	awaitWaiters(t, c, 1, 2)
	awaitWaiters(t, c, 2, 2)
	close(release)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	got := []error{<-errs, <-errs}
	nf := 0
	for _, err := range got {
		switch {
		case errors.Is(err, ErrNotFound):
			nf++
		case err != nil:
			t.Fatalf("GetOrLoad waiting on the bulk load: %v", err)
		}
	}
	if nf != 1 {
		t.Fatalf("errors %v; want one ErrNotFound, for key 2", got)
	}
	_, err := c.GetAllOrLoad(context.Background(), []int{7, 8}, func(context.Context, []int) (map[int]int, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("GetAllOrLoad error %v, want it to wrap %v", err, boom)
	}
	mustCheck(t, c)
}

// TestSynctestClock runs a cache inside a testing/synctest bubble: its
// deadlines and its sweeper follow the bubble's fake time.
func TestSynctestClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var expired atomic.Int32
		c, err := New(Options[string, int]{MaxEntries: 10, TTL: time.Hour, OnEvict: func(_ string, _ int, r Reason) {
			if r == Expired {
				expired.Add(1)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Set("a", 1)
		time.Sleep(59 * time.Minute)
		if _, ok := c.Get("a"); !ok {
			t.Fatal("entry gone before its TTL")
		}
		time.Sleep(2 * time.Minute)
		if _, ok := c.Get("a"); ok {
			t.Fatal("entry found after its TTL")
		}
		synctest.Wait()
		if c.Len() != 0 || expired.Load() != 1 {
			t.Fatalf("after the sweeper's period: Len %d, %d expirations reported; want 0, 1", c.Len(), expired.Load())
		}
	})
}
