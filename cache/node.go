package cache

import (
	"sync/atomic"
	"unsafe"
)

// This file holds the cache entry, node. Once a node is in the index, only
// its access word and, for values that fit an atomic word, its value
// change (value.go); anything else Set changes gets a new node, so that
// Get can read a node without a lock.

// Bits of node.acc.
const (
	// hitMask holds the number of Gets that found the node since the
	// policy last looked at it, up to hitMax.
	hitMask = 0xf
	hitMax  = hitMask
	// deadBit is set, once, by whoever removes the node from the index.
	deadBit = 1 << 4
	// extBit is set at creation on a node that is the first field of a
	// nodeExt.
	extBit = 1 << 5
	// segShift and segMask place the node's policy segment.
	segShift = 6
	segMask  = 3 << segShift
	// weightShift places the weight of a node without extBit: up to
	// maxInlineWeight. A heavier node keeps its weight in its nodeExt.
	weightShift     = 8
	maxInlineWeight = 1<<(32-weightShift) - 1
)

// Segments of the policy (node.seg).
const (
	segNone uint8 = iota
	segWindow
	segProbation
	segProtected
)

// node is one cache entry. Its size matters: a cache of 1M small entries
// holds 1M of them. For uint64 keys and values it is 24 bytes: the key,
// the value, one word of state and the ring position.
//
// A node's key is also held by the index's entry for it; the node needs
// its own copy so that eviction, which starts from the node, can remove
// the index entry (shardmap.Map offers no way from an entry's value back to
// its key).
type node[K comparable, V any] struct {
	// key is immutable. value is immutable too unless the cache's
	// valueMode lets Set swap it, under the lock of the node's index
	// shard while the node is in the index; it is then read and written
	// only atomically (node.load, node.swap).
	key   K
	value V
	// acc holds the hit count, deadBit, extBit, the segment and the
	// inline weight. Get increments the hit count with a compare-and-swap
	// while it is below hitMax; the policy takes it (resets it to 0) and
	// sets the segment, under Cache.mu; the writer that removes the node
	// from the index sets deadBit. extBit and the weight never change.
	acc atomic.Uint32
	// pos is the node's position in its segment's ring (ring.go) while its
	// segment is not segNone. Guarded by Cache.mu.
	pos uint32
}

// nodeExt is a node with a deadline, a refresh time, or a weight above
// maxInlineWeight.
// Such nodes are allocated as nodeExt and marked with extBit; the others do
// not pay for these fields (for uint64 keys and values: 24 bytes instead
// of 48).
type nodeExt[K comparable, V any] struct {
	// node must be the first field: ext converts a *node back to its
	// nodeExt.
	node[K, V]
	// expires is when the entry expires, in nanoseconds since the cache's
	// epoch (Cache.now); 0 means never. Immutable.
	expires int64
	// heapIdx is the node's index in the expiry heap, or -1. Guarded by
	// Cache.mu.
	heapIdx int32
	// weight is the entry's weight. Immutable.
	weight uint32
	// refreshAt is when GetOrLoad starts reloading the entry in the
	// background (Options.RefreshAfter), in Cache.now's time; 0 means
	// never. Immutable.
	refreshAt int64
}

// newNode returns a node for key and value of weight w (at least 1) that
// expires at expires and is due for refresh at refreshAt (0: never).
func newNode[K comparable, V any](key K, value V, w uint32, expires, refreshAt int64) *node[K, V] {
	if expires == 0 && refreshAt == 0 && w <= maxInlineWeight {
		n := &node[K, V]{key: key, value: value}
		n.acc.Store(w << weightShift)
		return n
	}
	t := &nodeExt[K, V]{node: node[K, V]{key: key, value: value}, expires: expires, heapIdx: -1, weight: w, refreshAt: refreshAt}
	t.acc.Store(extBit)
	return &t.node
}

// ext returns n's nodeExt, or nil if it has none.
func (n *node[K, V]) ext() *nodeExt[K, V] {
	if n.acc.Load()&extBit == 0 {
		return nil
	}
	// n was allocated as the first field of a nodeExt (newNode), so this
	// points to that nodeExt.
	return (*nodeExt[K, V])(unsafe.Pointer(n))
}

// timed returns n's nodeExt if n has a deadline, else nil.
func (n *node[K, V]) timed() *nodeExt[K, V] {
	if t := n.ext(); t != nil && t.expires != 0 {
		return t
	}
	return nil
}

// dueForRefresh reports whether n's refresh time has come at now.
func (n *node[K, V]) dueForRefresh(now int64) bool {
	t := n.ext()
	return t != nil && t.refreshAt != 0 && now >= t.refreshAt
}

// weight returns n's weight, at least 1.
func (n *node[K, V]) weight() uint32 {
	a := n.acc.Load()
	if a&extBit != 0 {
		return (*nodeExt[K, V])(unsafe.Pointer(n)).weight
	}
	return a >> weightShift
}

// seg returns the policy segment n is in, segNone before the policy took
// it in and after it let it go. Caller holds Cache.mu.
func (n *node[K, V]) seg() uint8 { return uint8(n.acc.Load() & segMask >> segShift) }

// setSeg records n's segment. Caller holds Cache.mu.
func (n *node[K, V]) setSeg(s uint8) {
	for {
		a := n.acc.Load()
		if n.acc.CompareAndSwap(a, a&^segMask|uint32(s)<<segShift) {
			return
		}
	}
}

// expiresAt returns n's deadline, 0 if it has none.
func (n *node[K, V]) expiresAt() int64 {
	if t := n.timed(); t != nil {
		return t.expires
	}
	return 0
}

// expired reports whether n has expired at time now.
func (n *node[K, V]) expired(now int64) bool {
	t := n.timed()
	return t != nil && now >= t.expires
}

// touch records a hit: one atomic load, plus one compare-and-swap while
// the count is below hitMax. A hot node's count sits at hitMax between two
// looks of the policy, so hits on it write nothing and its cache line stays
// shared.
func (n *node[K, V]) touch(a uint32) {
	if a&hitMask < hitMax {
		n.acc.CompareAndSwap(a, a+1)
	}
}

// takeHits returns the hits recorded since the last call and resets the
// count. Caller holds Cache.mu.
func (n *node[K, V]) takeHits() uint32 {
	return n.acc.And(^uint32(hitMask)) & hitMask
}

// addHits adds k to the hit count, up to hitMax.
func (n *node[K, V]) addHits(k uint32) {
	for {
		a := n.acc.Load()
		h := min(a&hitMask+k, hitMax)
		if n.acc.CompareAndSwap(a, a&^hitMask|h) {
			return
		}
	}
}

// kill marks n as removed from the index.
func (n *node[K, V]) kill() { n.acc.Or(deadBit) }

// dead reports whether n was removed from the index.
func (n *node[K, V]) dead() bool { return n.acc.Load()&deadBit != 0 }
