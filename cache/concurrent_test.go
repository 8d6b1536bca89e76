package cache

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBoundUnderConcurrentWriters checks the bound at every point the API
// lets a test observe it, while writers insert, replace and delete.
func TestBoundUnderConcurrentWriters(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		name := "entries"
		if weighted {
			name = "weight"
		}
		t.Run(name, func(t *testing.T) {
			const bound = 300
			opts := Options[int, int]{MaxEntries: bound}
			if weighted {
				opts = Options[int, int]{MaxWeight: bound, Weigher: func(_, v int) uint32 { return uint32(v%40 + 1) }}
			}
			c, _ := newTestCache(t, opts)
			var stop atomic.Bool
			var observations atomic.Int64
			over := func() bool {
				return c.Len() > bound || c.Weight() > bound
			}
			var observers sync.WaitGroup
			for range 2 {
				observers.Go(func() {
					for !stop.Load() {
						if over() {
							t.Errorf("bound exceeded: Len %d, Weight %d", c.Len(), c.Weight())
							return
						}
						observations.Add(1)
						runtime.Gosched()
					}
				})
			}
			var writers sync.WaitGroup
			for g := range 4 {
				writers.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					for i := range 5000 {
						k := r.IntN(2000)
						switch r.IntN(10) {
						case 0:
							c.Delete(k)
						default:
							c.Set(k, i)
						}
						if over() {
							t.Errorf("bound exceeded after a write: Len %d, Weight %d", c.Len(), c.Weight())
							return
						}
					}
				})
			}
			writers.Wait()
			stop.Store(true)
			observers.Wait()
			mustCheck(t, c)
			if observations.Load() == 0 {
				t.Fatal("observers never ran")
			}
		})
	}
}

// TestSetThenGetUnderContention checks that a Get right after a Set in the
// same goroutine finds the value, unless the bound evicted it; every miss
// must be reported to OnEvict as an eviction (possibly after the Get, by
// the goroutine whose Set evicted it).
func TestSetThenGetUnderContention(t *testing.T) {
	type kv struct{ k, v int }
	var mu sync.Mutex
	evicted := map[kv]bool{}
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 64, OnEvict: func(k, v int, r Reason) {
		if r == Evicted {
			mu.Lock()
			evicted[kv{k, v}] = true
			mu.Unlock()
		}
	}})
	var missesMu sync.Mutex
	var misses []kv
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3000 {
				k, v := g*100000+i%500, g*100000+i
				c.Set(k, v)
				got, ok := c.Get(k)
				switch {
				case !ok:
					missesMu.Lock()
					misses = append(misses, kv{k, v})
					missesMu.Unlock()
				case got != v:
					t.Errorf("Get(%d) = %d right after Set(%d); no other goroutine writes the key", k, got, v)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, m := range misses {
		if !evicted[m] {
			t.Fatalf("Set(%d, %d) was lost: a Get right after it missed and no eviction was reported", m.k, m.v)
		}
	}
	t.Logf("%d of 12000 values evicted before the Get that followed their Set", len(misses))
	mustCheck(t, c)
}

// TestGetTakesNoLock holds the writers' lock and checks that hits, misses
// and iteration still complete.
func TestGetTakesNoLock(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 10, TTL: time.Hour})
	c.Set(1, 1)
	c.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Get(1)
		c.Get(2)
		for range c.All() {
		}
		c.Len()
		c.Weight()
		c.GetOrLoad(context.Background(), 1, nil)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("a read blocked on the writers' lock")
	}
	c.mu.Unlock()
	<-done
}

// TestConcurrentMixed runs every operation at once, with the background
// sweeper and a real clock, for the race detector; then checks the
// invariants.
func TestConcurrentMixed(t *testing.T) {
	var reported atomic.Int64
	c, err := newCache(Options[int, int]{
		MaxWeight: 500,
		Weigher:   func(_, v int) uint32 { return uint32(v % 5) },
		TTL:       time.Millisecond,
		OnEvict:   func(int, int, Reason) { reported.Add(1) },
	}, hooks{sweepEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for i := range 4000 {
				k := r.IntN(1000)
				switch r.IntN(8) {
				case 0:
					c.Delete(k)
				case 1:
					c.Set(k, i)
				case 2:
					c.SetWithTTL(k, i, time.Duration(r.IntN(3))*time.Millisecond)
				case 3:
					c.GetOrLoad(context.Background(), k, func(context.Context, int) (int, error) { return i, nil })
				case 4:
					for range c.All() {
						break
					}
				default:
					c.Get(k)
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	mustCheck(t, c)
	st := c.Stats()
	if st.Hits+st.Misses == 0 || reported.Load() == 0 {
		t.Fatalf("nothing happened: %+v", st)
	}
}
