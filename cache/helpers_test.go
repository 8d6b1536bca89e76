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

// check verifies the cache's internal invariants under its lock, once
// the write buffer is drained: the segments, the heap, the index and the
// counts agree, and the bound holds. Callers must not be writing.
func (c *Cache[K, V]) check() error {
	rs := c.removals()
	c.mu.Lock()
	defer rs.fire()
	defer c.maintain()
	defer c.mu.Unlock()
	c.drainLocked(&rs)
	if _, ok := c.buf.peek(); ok || c.buf.tail.Load() != c.buf.head.Load() {
		return fmt.Errorf("write buffer not empty after draining: head %d, tail %d", c.buf.head.Load(), c.buf.tail.Load())
	}
	seen := make(map[*node[K, V]]bool)
	var weight uint64
	for _, q := range []struct {
		name string
		r    *ring[K, V]
		seg  uint8
	}{{"window", &c.pol.window, segWindow}, {"probation", &c.pol.probation, segProbation}, {"protected", &c.pol.protected, segProtected}} {
		var w uint64
		if l := len(q.r.slots); l&(l-1) != 0 || q.r.len() > l {
			return fmt.Errorf("%s: %d nodes in %d slots", q.name, q.r.len(), l)
		}
		for p := q.r.tail; p != q.r.head; p++ {
			x := q.r.at(p)
			if x == nil {
				return fmt.Errorf("%s: no node at live position %d", q.name, p)
			}
			if x.pos != p || x.seg() != q.seg {
				return fmt.Errorf("%s: node %v at %d says position %d, segment %d", q.name, x.key, p, x.pos, x.seg())
			}
			if seen[x] {
				return fmt.Errorf("%s: node %v twice", q.name, x.key)
			}
			seen[x] = true
			if got, ok := c.index.Load(x.key); !ok || got != x {
				return fmt.Errorf("%s: node %v is not the index's", q.name, x.key)
			}
			if x.dead() {
				return fmt.Errorf("%s: node %v is dead", q.name, x.key)
			}
			if x.weight() == 0 {
				return fmt.Errorf("node %v has weight 0", x.key)
			}
			w += uint64(x.weight())
		}
		used := 0
		for _, x := range q.r.slots {
			if x != nil {
				used++
			}
		}
		if used != q.r.len() {
			return fmt.Errorf("%s: %d slots hold a node, %d are live", q.name, used, q.r.len())
		}
		if w != q.r.weight {
			return fmt.Errorf("%s: weight %d, recorded %d", q.name, w, q.r.weight)
		}
		weight += w
	}
	if got := c.index.Len(); got != len(seen) {
		return fmt.Errorf("index holds %d entries, segments %d", got, len(seen))
	}
	if got := c.Len(); got != len(seen) {
		return fmt.Errorf("Len %d, segments hold %d", got, len(seen))
	}
	if got := c.Weight(); got != weight {
		return fmt.Errorf("Weight %d, segments weigh %d", got, weight)
	}
	if weight > c.max {
		return fmt.Errorf("weight %d exceeds the bound %d", weight, c.max)
	}
	withDeadline := 0
	for x := range seen {
		if t := x.timed(); t != nil {
			withDeadline++
			if t.heapIdx < 0 || int(t.heapIdx) >= len(c.exp) || c.exp[t.heapIdx] != t {
				return fmt.Errorf("node %v with a deadline is not in the heap", x.key)
			}
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
	if c.pol.windowMax+c.pol.protectedMax > c.max {
		return fmt.Errorf("window %d + protected %d exceed the bound %d", c.pol.windowMax, c.pol.protectedMax, c.max)
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
