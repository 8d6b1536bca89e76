package cache

import "sync/atomic"

// This file holds the write buffer: the bounded queue through which
// writers hand their changes to the policy. A writer changes the index at
// once, then records the change here; whichever goroutine gets Cache.mu
// applies the recorded changes to the policy, in order, evicting as it
// goes. So writers to different keys do not wait for one another, and the
// policy's work is batched under one lock hold.
//
// It is a bounded multi-producer queue (after Dmitry Vyukov's): each cell
// has a sequence number saying whether it is free for the producer of a
// position or holds that position's change for the consumer. A writer
// reserves a cell before it changes the index, so the index never holds
// more new entries than the policy has seen plus writeBufferSize.

// writeBufferSize is the number of cells. It bounds how far Len can exceed
// the bound while writers race the goroutine that evicts: see Cache.
const writeBufferSize = 128

// change is one write, recorded for the policy:
//
//	old == nil, n != nil: n was added
//	old != nil, n != nil: n replaced old
//	old != nil, n == nil: old was removed
//	both nil:             nothing (a reserved cell that was not needed)
type change[K comparable, V any] struct {
	old, n *node[K, V]
}

// cell is one slot of the buffer.
type cell[K comparable, V any] struct {
	// seq is pos when the cell is free for the producer of position pos,
	// and pos+1 when it holds that position's change.
	seq atomic.Uint64
	// ch is written by the producer between reserving and publishing, and
	// read and cleared by the consumer under Cache.mu.
	ch change[K, V]
}

// writeBuffer is the queue.
type writeBuffer[K comparable, V any] struct {
	cells [writeBufferSize]cell[K, V]
	// tail is the next position to reserve; producers advance it with a
	// compare-and-swap.
	tail atomic.Uint64
	_    [56]byte // keep producers' tail off the consumer's line
	// head is the next position to apply. Written by the consumer under
	// Cache.mu; read by anyone to see whether work is waiting.
	head atomic.Uint64
}

// init marks every cell free for the first lap.
func (b *writeBuffer[K, V]) init() {
	for i := range b.cells {
		b.cells[i].seq.Store(uint64(i))
	}
}

// reserve claims the next cell and returns its position, or false if the
// buffer is full.
func (b *writeBuffer[K, V]) reserve() (uint64, bool) {
	for {
		pos := b.tail.Load()
		seq := b.cells[pos%writeBufferSize].seq.Load()
		switch {
		case seq == pos:
			if b.tail.CompareAndSwap(pos, pos+1) {
				return pos, true
			}
		case seq < pos:
			return 0, false // the cell still holds a change of the last lap
		}
	}
}

// publish stores the change for the reserved position pos.
func (b *writeBuffer[K, V]) publish(pos uint64, ch change[K, V]) {
	c := &b.cells[pos%writeBufferSize]
	c.ch = ch
	c.seq.Store(pos + 1)
}

// peek returns the oldest published change, if the oldest reserved cell is
// published. Caller holds Cache.mu.
func (b *writeBuffer[K, V]) peek() (change[K, V], bool) {
	h := b.head.Load()
	c := &b.cells[h%writeBufferSize]
	if c.seq.Load() != h+1 {
		return change[K, V]{}, false
	}
	return c.ch, true
}

// free releases the cell peek returned, for the next lap. Caller holds
// Cache.mu.
func (b *writeBuffer[K, V]) free() {
	h := b.head.Load()
	c := &b.cells[h%writeBufferSize]
	c.ch = change[K, V]{}
	c.seq.Store(h + writeBufferSize)
	b.head.Store(h + 1)
}

// waiting reports whether a published change waits at the head.
func (b *writeBuffer[K, V]) waiting() bool {
	h := b.head.Load()
	return b.cells[h%writeBufferSize].seq.Load() == h+1
}
