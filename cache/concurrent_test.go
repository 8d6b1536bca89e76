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
// lets a test observe it, while writers insert, replace and delete: never
// more than writeBufferSize entries (of weight up to 40 each) over it while
// writes race, and exactly within it once they have all returned.
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
			slack := uint64(writeBufferSize)
			if weighted {
				slack *= 40
			}
			over := func() bool {
				return c.Len() > bound+writeBufferSize || c.Weight() > bound+slack
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
			if c.Len() > bound || c.Weight() > bound {
				t.Errorf("after the writers returned: Len %d, Weight %d; bound %d", c.Len(), c.Weight(), bound)
			}
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

// TestWritesDoNotWaitForThePolicy holds the policy's lock and checks that
// Sets and Deletes still complete, up to writeBufferSize of them, and are
// visible at once; once the lock is free, the next write applies them all
// and the bound is exact again.
func TestWritesDoNotWaitForThePolicy(t *testing.T) {
	const bound = 10
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: bound})
	for k := range bound {
		c.Set(k, k)
	}
	c.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := bound; k < bound+writeBufferSize/2; k++ {
			c.Set(k, k)
			if v, ok := c.Get(k); !ok || v != k {
				t.Errorf("Get(%d) = %d, %v right after Set while the policy was busy", k, v, ok)
			}
		}
		for k := range writeBufferSize / 4 {
			c.Delete(bound + k)
			if _, ok := c.Get(bound + k); ok {
				t.Errorf("Get(%d) hit right after Delete while the policy was busy", bound+k)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a write waited for the policy's lock")
	}
	if got, want := c.Len(), bound+writeBufferSize/2-writeBufferSize/4; got != want {
		t.Errorf("Len = %d while the policy was busy, want %d", got, want)
	}
	c.mu.Unlock()
	c.Set(-1, -1)
	if c.Len() != bound {
		t.Errorf("Len = %d after the next write, want the bound %d", c.Len(), bound)
	}
	if v, ok := c.Get(-1); !ok || v != -1 {
		t.Errorf("Get(-1) = %d, %v right after Set", v, ok)
	}
	mustCheck(t, c)
}

// TestFullBufferWaitsNotDrops holds the policy's lock while a writer fills
// the write buffer: the writer must block (not drop its Set), and finish
// with every value applied once the lock is free.
func TestFullBufferWaitsNotDrops(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 4 * writeBufferSize})
	c.mu.Lock()
	var written atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := range 2 * writeBufferSize {
			c.Set(k, k)
			written.Add(1)
		}
	}()
	// The writer can get writeBufferSize Sets past the held lock, no more.
	for written.Load() < writeBufferSize {
		runtime.Gosched()
	}
	select {
	case <-done:
		t.Fatal("the writer finished more Sets than the buffer holds while the policy was busy")
	default:
	}
	c.mu.Unlock()
	<-done
	for k := range 2 * writeBufferSize {
		if v, ok := c.Get(k); !ok || v != k {
			t.Fatalf("Get(%d) = %d, %v: a Set was dropped", k, v, ok)
		}
	}
	mustCheck(t, c)
}
