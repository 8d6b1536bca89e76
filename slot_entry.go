package shardmap

import (
	"sync/atomic"
	"unsafe"
)

// The entry layout: a slot is an atomic pointer to an immutable {key, value}
// entry. It is the layout for keys or values that hold pointers (strings,
// interfaces, slices' backing arrays): the GC must see every pointer a slot
// holds, and a reader must never see half of a string header, so both are
// stored once, in an entry, and published with one pointer store.

// entry is one key and its value. Entries are never modified after they are
// stored in a slot: an update stores a new entry.
type entry[K comparable, V any] struct {
	key   K
	value V
}

// bucket is eight entry slots and the links of a chain. All fields are read
// without a lock and written only by the holder of the shard's mutex. The
// tophash word and the state word come first and the slots right after them,
// so that in a bucket that starts a cache line the two words and the first
// six slots share it. A write stores a slot and bumps the state word; with
// both on one line it dirties one line of the bucket, not two, for the other
// cores to fetch again (for the first four slots of buckets at each of the
// eight offsets an 88-byte stride gives, 31% of such writes touch two lines,
// against 91% with the state word last). 1K string keys, a 50/25/25 mix, 2
// goroutines, 12 interleaved samples: shardmap's ns/op over xsync v4's 1.38
// -> 1.31; with one goroutine the medians are the same (1.21, 24 samples).
type bucket[K comparable, V any] struct {
	// tophash holds one byte per slot: emptyTop, or the key's tophash. Set
	// after the slot is stored, cleared before the slot is cleared.
	tophash topWord
	// state is the chain's state word (evacuated bit and version); only a
	// chain's head bucket uses it.
	state bucketState
	// slots point at the entries; nil when empty.
	slots [bucketCnt]atomic.Pointer[entry[K, V]]
	// overflow is the next bucket of the chain, or nil. Set once, when the
	// chain first needs it, after that bucket's first slot is filled.
	overflow atomic.Pointer[bucket[K, V]]
}

// touch loads a word from each cache line of the bucket after its first,
// for the reason ibucket.touch does. An entry bucket (88 bytes with 8-byte
// pointers) spans two lines or three: its slots lie on the first two but in
// a bucket that starts in a line's last word, whose last slot and overflow
// link (which a Load that misses in the head bucket reads) lie on the third.
// So it loads the word at 64 and the last one.
func (b *bucket[K, V]) touch() {
	const size = unsafe.Sizeof(*b)
	p := unsafe.Pointer(b)
	// Safety: both offsets are below size and multiples of 8 in an
	// 8-aligned bucket made of words.
	if size > 64 {
		atomic.LoadUint64((*uint64)(unsafe.Add(p, 64)))
	}
	atomic.LoadUint64((*uint64)(unsafe.Add(p, size-8)))
}

// find returns the entry for key in the chain starting at b, or nil. It takes
// no lock and is safe against any concurrent writer (invariant 3).
func (b *bucket[K, V]) find(top uint8, key K) *entry[K, V] {
	for {
		for m := matchTop(b.tophash.load(), top); m != 0; m &= m - 1 {
			// Safety: firstLane returns 0..7 for a nonzero match word.
			if e := b.slots[firstLane(m)&(bucketCnt-1)].Load(); e != nil && e.key == key {
				return e
			}
		}
		if b = b.overflow.Load(); b == nil {
			return nil
		}
	}
}

// slot returns the bucket and lane of the slot that holds key in the chain
// at head, or a nil bucket: find for a writer, which needs the slot, not
// the entry. The caller holds the mutex, so a slot the tophash word selects
// is never empty.
func (head *bucket[K, V]) slot(top uint8, key K) (*bucket[K, V], int) {
	for b := head; ; {
		for m := matchTop(b.tophash.load(), top); m != 0; m &= m - 1 {
			// Safety: firstLane returns 0..7 for a nonzero match word.
			if i := firstLane(m) & (bucketCnt - 1); b.slots[i].Load().key == key {
				return b, i
			}
		}
		if b = b.overflow.Load(); b == nil {
			return nil, 0
		}
	}
}

// free returns the first empty slot of the chain at head, lane i of bucket
// b, or a nil b if every slot is taken. Caller holds the mutex.
func (head *bucket[K, V]) free() (b *bucket[K, V], i int) {
	for b = head; ; {
		if m := matchEmpty(b.tophash.load()); m != 0 {
			return b, firstLane(m)
		}
		if b = b.overflow.Load(); b == nil {
			return nil, 0
		}
	}
}

// position is where a locked lookup found a key in an entry chain, or where
// it may be inserted.
type position[K comparable, V any] struct {
	// b and i locate the slot holding the key; b is nil if the key is absent.
	b *bucket[K, V]
	i int
	// free and fi locate the first empty slot in the chain; free is nil if
	// every slot is taken.
	free *bucket[K, V]
	fi   int
	// last is the chain's last bucket, where an overflow bucket would go.
	last *bucket[K, V]
}

// locate scans the chain at head for key, fills pos with its position (in
// place, as the inline locate does) and returns its entry, or nil. The
// caller holds the mutex, so the chain cannot change underneath it.
func (head *bucket[K, V]) locate(top uint8, key K, pos *position[K, V]) (e *entry[K, V]) {
	*pos = position[K, V]{}
	for b := head; b != nil; b = b.overflow.Load() {
		word := b.tophash.load()
		for m := matchTop(word, top); m != 0; m &= m - 1 {
			i := firstLane(m)
			if e = b.slots[i].Load(); e.key == key {
				pos.b, pos.i = b, i
				return e
			}
		}
		if pos.free == nil {
			if m := matchEmpty(word); m != 0 {
				pos.free, pos.fi = b, firstLane(m)
			}
		}
		pos.last = b
	}
	return nil
}

// put stores e in the empty slot pos found, or in a new overflow bucket, and
// reports whether it allocated one. The caller holds the mutex and bumps the
// chain's version afterwards.
func (pos *position[K, V]) put(top uint8, e *entry[K, V]) (overflowed bool) {
	b, i := pos.free, pos.fi
	if b == nil {
		b, i = new(bucket[K, V]), 0
	}
	b.slots[i].Store(e)
	b.tophash.store(withTop(b.tophash.load(), i, top))
	if b != pos.free {
		pos.last.overflow.Store(b)
		return true
	}
	return false
}

// clear empties the slot pos found: tophash first, then the entry
// (invariant 3). Dropping the entry pointer lets the GC take the deleted
// value once no reader holds it.
func (pos *position[K, V]) clear() {
	b := pos.b
	b.tophash.store(withTop(b.tophash.load(), pos.i, emptyTop))
	b.slots[pos.i].Store(nil)
}

// forEachSlot calls f for every occupied slot of the chain at head, in chain
// order. Used on frozen old chains, under the mutex, and by iteration inside
// its sequence lock.
func (head *bucket[K, V]) forEachSlot(f func(top uint8, e *entry[K, V])) {
	for b := head; b != nil; b = b.overflow.Load() {
		word := b.tophash.load()
		for m := matchFull(word); m != 0; m &= m - 1 {
			i := firstLane(m)
			if e := b.slots[i].Load(); e != nil {
				f(topAt(word, i), e)
			}
		}
	}
}

// cursor appends entries to a new chain that starts empty. Readers do not
// look at the chain until the source's evacuated bit is set, so the cursor
// fills slots first and stores each bucket's tophash word once.
type cursor[K comparable, V any] struct {
	head *bucket[K, V] // the chain's head bucket
	b    *bucket[K, V] // bucket being filled; nil before the first put
	i    int           // next free slot in b
	word uint64        // b's tophash word, stored when b is full or at finish
}

// put appends e and returns 1 if it allocated an overflow bucket, else 0.
func (c *cursor[K, V]) put(top uint8, e *entry[K, V]) int {
	grew := 0
	switch {
	case c.b == nil:
		if debugInvariants && matchFull(c.head.tophash.load()) != 0 {
			panic("shardmap: evacuating into a chain that is not empty")
		}
		c.b = c.head
	case c.i == bucketCnt:
		c.b.tophash.store(c.word)
		next := new(bucket[K, V])
		c.b.overflow.Store(next)
		c.b, c.i, c.word = next, 0, 0
		grew = 1
	}
	c.b.slots[c.i].Store(e)
	c.word = withTop(c.word, c.i, top)
	c.i++
	return grew
}

// finish stores the last tophash word and bumps the chain's version.
func (c *cursor[K, V]) finish() {
	if c.b != nil {
		c.b.tophash.store(c.word)
		c.head.state.bump()
	}
}
