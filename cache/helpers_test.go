package cache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	f := &fakeClock{}
	f.ns.Store(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return f
}

func (f *fakeClock) Now() time.Time          { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) Advance(d time.Duration) { f.ns.Add(int64(d)) }

// newTestCache makes a cache on a fake clock and closes it when the test
// ends. It has no background sweeper: a test that moves the clock sweeps by
// hand (c.sweep), so every removal happens at a step the test chose.
func newTestCache[K comparable, V any](t testing.TB, opts Options[K, V]) (*Cache[K, V], *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	c, err := newCache(opts, hooks{clock: clk.Now, noSweeper: true})
	if err != nil {
		t.Fatalf("newCache: %v", err)
	}
	t.Cleanup(c.Close)
	return c, clk
}

// check verifies the cache's internal invariants under its lock: the
// queues, the heap, the index and the counts agree, and the bound holds.
func (c *Cache[K, V]) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[*node[K, V]]bool)
	var weight uint64
	for _, q := range []struct {
		name  string
		f     *fifo[K, V]
		queue uint8
	}{{"small", &c.pol.small, inSmall}, {"main", &c.pol.main, inMain}} {
		var w uint64
		n, prev := 0, (*node[K, V])(nil)
		for x := q.f.head; x != nil; x = x.next {
			if x.prev != prev {
				return fmt.Errorf("%s queue: broken prev link at %v", q.name, x.key)
			}
			if x.queue != q.queue {
				return fmt.Errorf("%s queue: node %v says queue %d", q.name, x.key, x.queue)
			}
			if seen[x] {
				return fmt.Errorf("%s queue: node %v twice", q.name, x.key)
			}
			seen[x] = true
			if got, ok := c.index.Load(x.key); !ok || got != x {
				return fmt.Errorf("%s queue: node %v is not the index's", q.name, x.key)
			}
			if x.weight == 0 {
				return fmt.Errorf("node %v has weight 0", x.key)
			}
			if f := x.freq.Load(); f > maxFreq {
				return fmt.Errorf("node %v has freq %d", x.key, f)
			}
			w += uint64(x.weight)
			n++
			prev = x
		}
		if prev != q.f.tail {
			return fmt.Errorf("%s queue: tail is not the last node", q.name)
		}
		if n != q.f.len || w != q.f.weight {
			return fmt.Errorf("%s queue: len/weight %d/%d, recorded %d/%d", q.name, n, w, q.f.len, q.f.weight)
		}
		weight += w
	}
	if got := c.index.Len(); got != len(seen) {
		return fmt.Errorf("index holds %d entries, queues %d", got, len(seen))
	}
	if got := c.Len(); got != len(seen) {
		return fmt.Errorf("Len %d, queues hold %d", got, len(seen))
	}
	if got := c.Weight(); got != weight {
		return fmt.Errorf("Weight %d, queues weigh %d", got, weight)
	}
	if weight > c.max {
		return fmt.Errorf("weight %d exceeds the bound %d", weight, c.max)
	}
	withDeadline := 0
	for x := range seen {
		if x.expires != 0 {
			withDeadline++
			if x.heapIdx < 0 || int(x.heapIdx) >= len(c.exp) || c.exp[x.heapIdx] != x {
				return fmt.Errorf("node %v with a deadline is not in the heap", x.key)
			}
		} else if x.heapIdx != -1 {
			return fmt.Errorf("node %v without a deadline has heap index %d", x.key, x.heapIdx)
		}
	}
	if withDeadline != len(c.exp) {
		return fmt.Errorf("heap holds %d nodes, %d have deadlines", len(c.exp), withDeadline)
	}
	for i := 1; i < len(c.exp); i++ {
		if c.exp[i].expires < c.exp[(i-1)/2].expires {
			return fmt.Errorf("heap order broken at %d", i)
		}
	}
	var gw uint64
	for _, e := range c.pol.ghost.ring[c.pol.ghost.start:] {
		gw += e.weight
	}
	if gw != c.pol.ghost.weight || gw > c.pol.ghost.limit {
		return fmt.Errorf("ghost weight %d, recorded %d, limit %d", gw, c.pol.ghost.weight, c.pol.ghost.limit)
	}
	return nil
}

// mustCheck fails t if the cache's invariants do not hold.
func mustCheck[K comparable, V any](t testing.TB, c *Cache[K, V]) {
	t.Helper()
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
}

// event is one OnEvict call.
type event[K comparable, V any] struct {
	key    K
	value  V
	reason Reason
}

// recorder collects OnEvict calls. The sweeper calls OnEvict from its own
// goroutine, so the recorder locks.
type recorder[K comparable, V any] struct {
	mu     sync.Mutex
	events []event[K, V] // guarded by mu
}

func (r *recorder[K, V]) onEvict(k K, v V, reason Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event[K, V]{k, v, reason})
}

// take returns the events so far and forgets them.
func (r *recorder[K, V]) take() []event[K, V] {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}
