package cache

import "sync/atomic"

// This file holds the S3-FIFO eviction policy: a small FIFO that new keys
// enter, a main FIFO for keys that proved themselves, and a ghost FIFO of
// the hashes of keys recently evicted from the small one. See the design
// comment in cache.go. Everything here is guarded by Cache.mu, except
// node.freq, which Get bumps without a lock.

const (
	// maxFreq caps the per-node access counter: two bits' worth.
	maxFreq = 3

	// promoteFreq is the access count at which a node leaving the small
	// queue moves to the main queue instead of being evicted: one access
	// while it sat in the small queue.
	promoteFreq = 1
)

// Which queue a node is in.
const (
	inNone uint8 = iota
	inSmall
	inMain
)

// node is one cache entry. The index maps a key to its node; a Get loads
// the node and reads it without a lock, so every field a reader touches is
// immutable except freq, which is atomic. Set replaces the node rather
// than changing it.
type node[K comparable, V any] struct {
	key   K
	value V
	// expires is when the entry expires, in nanoseconds since the cache's
	// epoch (Cache.now); 0 means never.
	expires int64
	// hash is the key's hash, remembered for the ghost queue.
	hash uint64
	// weight is the entry's weight, at least 1.
	weight uint32
	// freq counts accesses, up to maxFreq. Get increments it without a
	// lock; the policy decrements or clears it under Cache.mu. A racing
	// increment may be lost; the count is a hint.
	freq atomic.Uint32

	// The fields below are guarded by Cache.mu.

	// queue is inSmall or inMain while the node is in the policy.
	queue uint8
	// heapIdx is the node's index in the expiry heap, or -1.
	heapIdx int32
	// prev is the next newer node in the node's queue, next the next older.
	prev, next *node[K, V]
}

// expired reports whether n has expired at time now.
func (n *node[K, V]) expired(now int64) bool {
	return n.expires != 0 && now >= n.expires
}

// touch records an access: one atomic load, plus one compare-and-swap
// while the counter is below its cap. A hot key's counter sits at the cap,
// so hits on it write nothing and its cache line stays shared.
func (n *node[K, V]) touch() {
	if f := n.freq.Load(); f < maxFreq {
		n.freq.CompareAndSwap(f, f+1)
	}
}

// fifo is an intrusive doubly linked queue: nodes enter at the head (newest)
// and leave from the tail (oldest), or from anywhere when deleted.
type fifo[K comparable, V any] struct {
	head, tail *node[K, V]
	// weight is the sum of the nodes' weights; len their number.
	weight uint64
	len    int
}

// pushHead adds n as the newest node.
func (q *fifo[K, V]) pushHead(n *node[K, V]) {
	n.prev, n.next = nil, q.head
	if q.head != nil {
		q.head.prev = n
	} else {
		q.tail = n
	}
	q.head = n
	q.weight += uint64(n.weight)
	q.len++
}

// remove unlinks n, which must be in q.
func (q *fifo[K, V]) remove(n *node[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		q.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		q.tail = n.prev
	}
	n.prev, n.next = nil, nil
	q.weight -= uint64(n.weight)
	q.len--
}

// replace puts n where old is in q.
func (q *fifo[K, V]) replace(old, n *node[K, V]) {
	n.prev, n.next = old.prev, old.next
	if n.prev != nil {
		n.prev.next = n
	} else {
		q.head = n
	}
	if n.next != nil {
		n.next.prev = n
	} else {
		q.tail = n
	}
	old.prev, old.next = nil, nil
	q.weight += uint64(n.weight) - uint64(old.weight)
}

// ghostEntry is one evicted key in the ghost queue.
type ghostEntry struct {
	hash   uint64
	seq    uint64
	weight uint64
}

// ghost remembers the hashes of keys recently evicted from the small queue,
// up to a total weight of limit. A key that comes back while its hash is
// remembered goes straight to the main queue. Hash collisions only cost a
// misplaced admission, never a wrong value.
type ghost struct {
	// ring holds the entries oldest first from ring[start].
	ring  []ghostEntry
	start int
	// live maps a hash to the seq of its newest entry in ring; an entry
	// whose seq differs was superseded or already taken.
	live   map[uint64]uint64
	seq    uint64
	weight uint64
	limit  uint64
}

// add remembers hash, dropping the oldest hashes beyond the limit.
func (g *ghost) add(hash uint64, weight uint64) {
	if g.limit == 0 {
		return
	}
	if g.live == nil {
		g.live = make(map[uint64]uint64)
	}
	g.seq++
	g.ring = append(g.ring, ghostEntry{hash: hash, seq: g.seq, weight: weight})
	g.live[hash] = g.seq
	g.weight += weight
	for g.weight > g.limit {
		e := g.ring[g.start]
		g.ring[g.start] = ghostEntry{}
		g.start++
		g.weight -= e.weight
		if g.live[e.hash] == e.seq {
			delete(g.live, e.hash)
		}
	}
	// Compact once the dead prefix is the larger half, so that ring's
	// length stays within twice the live entries: amortized O(1).
	if g.start > 64 && g.start*2 > len(g.ring) {
		n := copy(g.ring, g.ring[g.start:])
		clear(g.ring[n:])
		g.ring = g.ring[:n]
		g.start = 0
	}
}

// take reports whether hash is remembered, and forgets it.
func (g *ghost) take(hash uint64) bool {
	if _, ok := g.live[hash]; !ok {
		return false
	}
	delete(g.live, hash)
	return true
}

// policy is the S3-FIFO state.
type policy[K comparable, V any] struct {
	small, main fifo[K, V]
	ghost       ghost
	// smallLimit is the weight above which eviction takes from the small
	// queue rather than the main one.
	smallLimit uint64
}

// newPolicy returns a policy for a cache bounded by max: the small queue
// gets a tenth of it, and the ghost remembers as much weight as the main
// queue holds.
func newPolicy[K comparable, V any](max uint64) policy[K, V] {
	small := max / 10
	return policy[K, V]{
		smallLimit: small,
		ghost:      ghost{limit: max - small},
	}
}

// queue returns the queue n is in.
func (p *policy[K, V]) queue(n *node[K, V]) *fifo[K, V] {
	if n.queue == inMain {
		return &p.main
	}
	return &p.small
}

// insert adds a new node: to the main queue if its key was recently
// evicted from the small queue, else to the small queue.
func (p *policy[K, V]) insert(n *node[K, V]) {
	if p.ghost.take(n.hash) {
		n.queue = inMain
		p.main.pushHead(n)
		return
	}
	n.queue = inSmall
	p.small.pushHead(n)
}

// reinsert adds n at the head of the queue q (inSmall or inMain).
func (p *policy[K, V]) reinsert(n *node[K, V], q uint8) {
	n.queue = q
	p.queue(n).pushHead(n)
}

// remove takes n out of the policy.
func (p *policy[K, V]) remove(n *node[K, V]) {
	p.queue(n).remove(n)
	n.queue = inNone
}

// replace puts n in old's place, in old's queue.
func (p *policy[K, V]) replace(old, n *node[K, V]) {
	n.queue = old.queue
	p.queue(old).replace(old, n)
	old.queue = inNone
}

// evict removes and returns the node S3-FIFO evicts next, or nil if the
// policy is empty.
//
// The small queue gives up its oldest node while it holds more than its
// share (or the main queue is empty): the node moves to the main queue if
// it was read while in the small queue, and is evicted otherwise, leaving
// its hash in the ghost queue. Otherwise the main queue's oldest node is
// evicted if its counter is 0, or goes back to the head with its counter
// decremented.
//
// Readers keep incrementing counters while this runs; so that they cannot
// keep it rotating forever, after a full lap's worth of reprieves it evicts
// the main queue's tail regardless.
func (p *policy[K, V]) evict() *node[K, V] {
	reprieves := maxFreq*(p.small.len+p.main.len) + 1
	for {
		if p.small.len > 0 && (p.small.weight > p.smallLimit || p.main.len == 0) {
			t := p.small.tail
			p.small.remove(t)
			if t.freq.Load() >= promoteFreq {
				t.freq.Store(0)
				t.queue = inMain
				p.main.pushHead(t)
				continue
			}
			t.queue = inNone
			p.ghost.add(t.hash, uint64(t.weight))
			return t
		}
		t := p.main.tail
		if t == nil {
			return nil
		}
		p.main.remove(t)
		if f := t.freq.Load(); f > 0 && reprieves > 0 {
			reprieves--
			t.freq.Store(f - 1)
			p.main.pushHead(t)
			continue
		}
		t.queue = inNone
		return t
	}
}
