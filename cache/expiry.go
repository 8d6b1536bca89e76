package cache

import (
	"sync"
	"time"
	"weak"
)

// This file holds expiry: the heap of entries that have a deadline, and the
// sweeper goroutine that reclaims expired entries.

const (
	// sweepBatch bounds the expired entries one sweep removes while holding
	// the cache's lock.
	sweepBatch = 256
	// sweepMin is the shortest pause between sweeps: used when a sweep
	// stopped at sweepBatch with more left, and as the clock's granularity.
	sweepMin = 10 * time.Millisecond
	// sweepMax is the longest pause between sweeps: an entry whose deadline
	// comes into the heap while the sweeper sleeps is reclaimed at most this
	// late.
	sweepMax = time.Second
)

// expiryHeap is a binary min-heap of the nodes that have a deadline,
// ordered by it. Each node keeps its index, so removal is O(log n).
// Guarded by Cache.mu.
type expiryHeap[K comparable, V any] []*nodeExt[K, V]

// peek returns the node that expires first, or nil.
func (h expiryHeap[K, V]) peek() *nodeExt[K, V] {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// add adds n if it has a deadline and reports whether it did. n must not
// be in the heap.
func (h *expiryHeap[K, V]) add(n *node[K, V]) bool {
	t := n.timed()
	if t == nil {
		return false
	}
	t.heapIdx = int32(len(*h))
	*h = append(*h, t)
	h.up(int(t.heapIdx))
	return true
}

// remove takes n out of the heap if it is in it.
func (h *expiryHeap[K, V]) remove(n *node[K, V]) {
	t := n.timed()
	if t == nil || t.heapIdx < 0 {
		return
	}
	i := int(t.heapIdx)
	s := *h
	last := len(s) - 1
	if i != last {
		s[i] = s[last]
		s[i].heapIdx = int32(i)
	}
	s[last] = nil
	*h = s[:last]
	t.heapIdx = -1
	if i != last {
		h.fix(i)
	}
}

// fix restores the heap order after the node at i changed.
func (h expiryHeap[K, V]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h expiryHeap[K, V]) less(i, j int) bool { return h[i].expires < h[j].expires }

func (h expiryHeap[K, V]) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = int32(i)
	h[j].heapIdx = int32(j)
}

func (h expiryHeap[K, V]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts the node at i down and reports whether it moved.
func (h expiryHeap[K, V]) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i != start
}

// lifecycle is what the sweeper goroutine and Close share. It holds no
// reference to the Cache, so that a Cache nobody closed can still be
// collected: a cleanup registered in New shuts it down.
type lifecycle struct {
	once sync.Once
	// stop is closed to stop the sweeper.
	stop chan struct{}
	// done is closed when the sweeper has returned.
	done chan struct{}
	// cancelLoads cancels the contexts of running loaders.
	cancelLoads func()
}

// shutdown stops the sweeper and cancels running loads. Idempotent.
func (l *lifecycle) shutdown() {
	l.once.Do(func() {
		close(l.stop)
		l.cancelLoads()
	})
}

// startSweeperLocked starts the sweeper unless it runs already or the cache
// is closed. Caller holds c.mu.
func (c *Cache[K, V]) startSweeperLocked() {
	if c.sweeping || c.closed.Load() || c.hooks.noSweeper {
		return
	}
	c.sweeping = true
	go sweeper(weak.Make(c), c.lc, c.hooks)
}

// sweeper reclaims expired entries until the cache is closed or collected.
// It holds the cache only weakly while it sleeps.
func sweeper[K comparable, V any](wc weak.Pointer[Cache[K, V]], lc *lifecycle, hk hooks) {
	defer close(lc.done)
	minWait, maxWait := sweepMin, sweepMax
	if hk.sweepEvery > 0 {
		minWait, maxWait = hk.sweepEvery, hk.sweepEvery
	}
	t := time.NewTimer(minWait)
	defer t.Stop()
	for {
		select {
		case <-lc.stop:
			return
		case <-t.C:
		}
		c := wc.Value()
		if c == nil {
			return
		}
		wait := c.sweepOnce(minWait, maxWait)
		c = nil
		if hk.swept != nil {
			select {
			case hk.swept <- struct{}{}:
			case <-lc.stop:
				return
			}
		}
		t.Reset(wait)
	}
}

// sweepOnce removes up to sweepBatch expired entries and returns how long
// to wait before the next sweep, between minWait and maxWait.
func (c *Cache[K, V]) sweepOnce(minWait, maxWait time.Duration) time.Duration {
	now := c.now()
	n, next := c.sweep(now, sweepBatch)
	switch {
	case n == sweepBatch:
		return minWait
	case next == 0:
		return maxWait
	}
	return min(max(time.Duration(next-now), minWait), maxWait)
}

// sweep removes up to limit entries expired at now, reports them to
// OnEvict, and returns how many it removed and the next deadline in the
// heap (0 if none).
func (c *Cache[K, V]) sweep(now int64, limit int) (removed int, next int64) {
	rs := c.removals()
	c.mu.Lock()
	c.drainLocked(&rs)
	for removed < limit {
		n := c.exp.peek()
		if n == nil || !n.node.expired(now) {
			break
		}
		c.dropLocked(&n.node, Expired, &rs)
		removed++
	}
	if n := c.exp.peek(); n != nil {
		next = n.expires
	}
	c.mu.Unlock()
	c.maintain()
	rs.fire()
	return removed, next
}
