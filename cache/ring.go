package cache

// ring is one policy segment: a FIFO of nodes in a circular array. Nodes
// enter at the head and leave from the tail; one in the middle leaves by
// having the head node moved into its place, and one is replaced by
// putting its successor in its slot. Every operation is O(1) (amortized
// over growth), and the ring costs one pointer per node instead of two
// list links in every node.
//
// Positions are uint32 sequence numbers that only grow (and wrap); a
// node's slot is pos & mask. Growing or shrinking the array keeps every
// position, so no node is touched. Guarded by Cache.mu.
type ring[K comparable, V any] struct {
	// slots has a power-of-two length (or is nil); the live nodes are at
	// positions tail..head-1.
	slots      []*node[K, V]
	head, tail uint32
	// weight is the sum of the live nodes' weights.
	weight uint64
}

// minRing is the smallest array a ring allocates.
const minRing = 8

// len returns the number of nodes in r.
func (r *ring[K, V]) len() int { return int(r.head - r.tail) }

// at returns the node at position p, which must be live.
func (r *ring[K, V]) at(p uint32) *node[K, V] { return r.slots[p&uint32(len(r.slots)-1)] }

// holds reports whether position p is live.
func (r *ring[K, V]) holds(p uint32) bool { return p-r.tail < r.head-r.tail }

// tailNode returns the oldest node, or nil.
func (r *ring[K, V]) tailNode() *node[K, V] {
	if r.head == r.tail {
		return nil
	}
	return r.at(r.tail)
}

// push adds n, setting its segment to seg, as the newest node.
func (r *ring[K, V]) push(n *node[K, V], seg uint8) {
	if r.len() == len(r.slots) {
		r.resize(max(2*len(r.slots), minRing))
	}
	r.slots[r.head&uint32(len(r.slots)-1)] = n
	n.pos = r.head
	n.setSeg(seg)
	r.head++
	r.weight += uint64(n.weight())
}

// pop removes and returns the oldest node, or nil.
func (r *ring[K, V]) pop() *node[K, V] {
	n := r.tailNode()
	if n == nil {
		return nil
	}
	r.slots[r.tail&uint32(len(r.slots)-1)] = nil
	r.tail++
	r.removed(n)
	return n
}

// remove takes n, which is in r, out of it: the newest node moves into its
// slot.
func (r *ring[K, V]) remove(n *node[K, V]) {
	if n.pos == r.tail {
		r.pop()
		return
	}
	mask := uint32(len(r.slots) - 1)
	last := r.head - 1
	if n.pos != last {
		m := r.slots[last&mask]
		r.slots[n.pos&mask] = m
		m.pos = n.pos
	}
	r.slots[last&mask] = nil
	r.head--
	r.removed(n)
}

// replace puts n in old's slot; old must be in r.
func (r *ring[K, V]) replace(old, n *node[K, V]) {
	r.slots[old.pos&uint32(len(r.slots)-1)] = n
	n.pos = old.pos
	n.setSeg(old.seg())
	old.setSeg(segNone)
	r.weight += uint64(n.weight()) - uint64(old.weight())
}

// removed accounts for n having left r, shrinking the array once it is
// mostly empty.
func (r *ring[K, V]) removed(n *node[K, V]) {
	n.setSeg(segNone)
	r.weight -= uint64(n.weight())
	if l := len(r.slots); l > minRing && r.len() < l/4 {
		r.resize(l / 2)
	}
}

// resize moves the nodes to an array of size slots, a power of two that
// holds them all. Positions do not change.
func (r *ring[K, V]) resize(size int) {
	s := make([]*node[K, V], size)
	if len(r.slots) > 0 {
		om, nm := uint32(len(r.slots)-1), uint32(size-1)
		for p := r.tail; p != r.head; p++ {
			s[p&nm] = r.slots[p&om]
		}
	}
	r.slots = s
}
