package shardmap

// This file implements one shard's hash table. The layout is Go's classic
// runtime map (before Go 1.24); what differs is everything a lock-free reader
// needs.
//
// # Glossary
//
//	shard      one lock stripe: a mutex for writers, a table pointer for everyone
//	table      one bucket array plus, while migrating, a pointer to the array
//	           it replaces (old). A table is published once and its bucket
//	           array never changes length.
//	bucket     8 slots, a tophash word (one byte per slot, 0 = empty), an
//	           overflow pointer, and a state word (used at a chain's head)
//	chain      a bucket and its overflow buckets; every key lives in exactly one
//	           chain of the current table
//	slot       an atomic pointer to an immutable entry {key, value}
//	old array  the bucket array being evacuated; readers may still use it
//	evacuate   copy one old chain's entry pointers into the new array, then set
//	           the old chain's evacuated bit
//	migration  growing (2x), compacting (same size, drops overflow buckets) or
//	           shrinking (half); all three run the same incremental evacuation
//
// # Growth
//
// A shard grows when an insert would push it past 6.5 entries per bucket on
// average, compacts when it holds as many overflow buckets as buckets (up to
// 2^15), and, unless WithGrowOnly, shrinks when deletes leave it under a
// quarter of that load. Each of these makes a new table whose bucket array
// is not yet allocated (it comes in 256-bucket pieces, see chunkShift), points
// its old field at the current table, and publishes it. Nothing is allocated
// in proportion to the table and nothing is copied at that moment; see
// evacuate.go for how the copy is spread over later operations and why it
// always finishes.
//
// # Writes
//
// Writers hold the shard's mutex. Before touching a key, a writer evacuates the
// old chain that key hashes to (so the key is only ever written in the new
// array) and one more chain for progress. Insert stores the entry pointer and
// then sets the tophash byte; delete clears the tophash byte and then the
// entry pointer; update swaps in a new entry. Each insert or delete bumps the
// chain's version.
//
// # Reads
//
// Load takes no lock and never waits. It loads the shard's table; if the table
// has an old array, it loads the evacuated bit of the old chain the key
// hashes to: clear means the frozen old chain holds the whole truth for its
// keys, set means the new chain does. It then scans that chain: SWAR-match
// the key's tophash against the tophash word, load the slot's entry, compare
// keys. A reader may be looking at a table that has since been replaced
// (frozen by a newer migration, or abandoned by Clear). That is still correct:
// such a table stops changing at the instant it is replaced, which is after
// the reader loaded it, so what it returns was current at some instant during
// the call.
//
// # Invariants
//
//  1. Old arrays are frozen. Once a table becomes another table's old array, no
//     write touches its slots, tophash words or overflow links again; only the
//     evacuated bits of its head buckets change. Evacuation copies entry
//     pointers and never clears old slots, so a reader inside an old chain
//     always sees a consistent chain.
//  2. A reader decides where to look from one atomic load: the old chain's
//     evacuated bit. A writer sets that bit only after every entry of the chain
//     is stored in the new array, and writes a key into the new array only
//     after its old chain is evacuated.
//  3. Slots are published atomically. A slot holds a pointer to an immutable
//     entry. Insert stores the entry before the tophash byte; delete clears the
//     tophash byte before the entry. A reader that matches a tophash still
//     loads the entry and compares its key (it may be nil or another key's).
//  4. The dirty bit and the version are load-bearing: see dirtybit.go.
//  5. Migration finishes: every write evacuates at least one old chain, and a
//     shard nobody writes is finished by readers (see dirtybit.go and
//     evacuate.go). A new migration never starts while one is running.
//
// # Iteration
//
// Range walks each shard's current table bucket by bucket and copies one chain
// at a time with the version as a sequence lock (iter.go). While migrating,
// the chain for new bucket i comes from the old chain if that was not yet
// evacuated (keeping only keys that hash to i), else from the new chain. Every
// key belongs to exactly one new bucket and is read from exactly one place,
// so no key is yielded twice.

import (
	"math/bits"
	"sync/atomic"
)

const (
	// bucketCnt is the number of slots in a bucket: one tophash byte each
	// fills the bucket's 64-bit tophash word.
	bucketCnt = 8
)

// entry is one key and its value. Entries are never modified after they are
// stored in a slot: an update stores a new entry.
type entry[K comparable, V any] struct {
	key   K
	value V
}

// bucket is eight slots and the links of a chain. All fields are read without
// a lock and written only by the holder of the shard's mutex.
type bucket[K comparable, V any] struct {
	// state is the chain's state word (evacuated bit and version); only a
	// chain's head bucket uses it.
	state bucketState
	// tophash holds one byte per slot: emptyTop, or the key's tophash. Set
	// after the slot is stored, cleared before the slot is cleared.
	tophash atomic.Uint64
	// overflow is the next bucket of the chain, or nil. Set once, when the
	// chain first needs it, after that bucket's first slot is filled.
	overflow atomic.Pointer[bucket[K, V]]
	// slots point at the entries; nil when empty.
	slots [bucketCnt]atomic.Pointer[entry[K, V]]
}

// chunkShift sets the size of the pieces a bucket array is allocated in:
// 2^chunkShift buckets, 22 KiB. A migration allocates its new array one piece
// at a time, as evacuation first copies into each, so starting a migration
// never allocates (or zeroes) anything proportional to the table.
const (
	chunkShift = 8
	chunkMask  = 1<<chunkShift - 1
)

// table is one bucket array. Everything but old and, while migrating, the
// pieces of chunks is fixed at creation.
type table[K comparable, V any] struct {
	// chunks holds the array in pieces of 2^chunkShift buckets (a table with
	// fewer buckets has one piece of them all). A table made by a migration
	// starts with nil pieces; the writer that evacuates an old chain first
	// allocates, under the mutex, the pieces it copies into. A reader only
	// reaches a piece through a new chain whose old chain it found evacuated
	// (or once old is nil), and both of those atomic loads come after the
	// piece was stored, so no reader ever sees a nil piece.
	chunks [][]bucket[K, V]
	// mask is the bucket count minus one; the count is a power of two.
	mask uint64
	// old is the table this one is replacing while a migration runs, nil
	// otherwise. Set before the table is published; cleared under the mutex by
	// the writer that evacuates the last old chain, which lets the GC take the
	// old array once no reader holds it.
	old atomic.Pointer[table[K, V]]
}

// newTable returns a table with 2^b empty buckets. If lazy, pieces of a
// multi-piece array are left for allocPiece.
func newTable[K comparable, V any](b uint8, lazy bool) *table[K, V] {
	n := uint64(1) << b
	t := &table[K, V]{mask: n - 1}
	if n <= chunkMask+1 {
		t.chunks = [][]bucket[K, V]{make([]bucket[K, V], n)}
		return t
	}
	t.chunks = make([][]bucket[K, V], n>>chunkShift)
	if !lazy {
		for i := range t.chunks {
			t.chunks[i] = make([]bucket[K, V], chunkMask+1)
		}
	}
	return t
}

// allocPiece makes sure the piece holding bucket i exists. Caller holds the
// mutex and has not yet published anything in that piece.
func (t *table[K, V]) allocPiece(i uint64) {
	if p := &t.chunks[i>>chunkShift]; *p == nil {
		*p = make([]bucket[K, V], chunkMask+1)
	}
}

// allocated reports whether the piece holding bucket i exists. Only callers
// holding the mutex may ask.
func (t *table[K, V]) allocated(i uint64) bool { return t.chunks[i>>chunkShift] != nil }

// len returns the number of buckets.
func (t *table[K, V]) len() uint64 { return t.mask + 1 }

// B returns log2 of the table's bucket count.
func (t *table[K, V]) B() uint8 { return uint8(bits.Len64(t.mask)) }

// bucket returns head bucket i. Its piece must exist (see chunks).
func (t *table[K, V]) bucket(i uint64) *bucket[K, V] {
	return &t.chunks[i>>chunkShift][i&chunkMask]
}

// chain returns the head bucket for hash h.
func (t *table[K, V]) chain(h uint64) *bucket[K, V] {
	return t.bucket(h & t.mask)
}

// readChain returns the head of the chain that holds the truth for hash h
// right now: the old chain if the table is migrating and that chain is not
// yet evacuated, else the table's own chain (invariant 2). It also returns the
// old table, nil when not migrating. It touches the new chain only when it is
// the answer, so it never reaches a piece not yet allocated.
func (t *table[K, V]) readChain(h uint64) (b *bucket[K, V], old *table[K, V]) {
	if old = t.old.Load(); old != nil {
		if ob := old.chain(h); !ob.state.evacuated() {
			return ob, old
		}
	}
	return t.chain(h), old
}

// find returns the entry for key in the chain starting at b, or nil. It takes
// no lock and is safe against any concurrent writer (invariant 3).
func (b *bucket[K, V]) find(top uint8, key K) *entry[K, V] {
	for ; b != nil; b = b.overflow.Load() {
		for m := matchTop(b.tophash.Load(), top); m != 0; m &= m - 1 {
			if e := b.slots[firstLane(m)].Load(); e != nil && e.key == key {
				return e
			}
		}
	}
	return nil
}

// position is where a locked lookup found a key, or where it may be
// inserted.
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

// locate scans the chain at head for key. The caller holds the mutex, so the
// chain cannot change underneath it.
func (head *bucket[K, V]) locate(top uint8, key K) (pos position[K, V], e *entry[K, V]) {
	for b := head; b != nil; b = b.overflow.Load() {
		word := b.tophash.Load()
		for m := matchTop(word, top); m != 0; m &= m - 1 {
			i := firstLane(m)
			if e = b.slots[i].Load(); e.key == key {
				pos.b, pos.i = b, i
				return pos, e
			}
		}
		if pos.free == nil {
			if m := matchEmpty(word); m != 0 {
				pos.free, pos.fi = b, firstLane(m)
			}
		}
		pos.last = b
	}
	return pos, nil
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
	b.tophash.Store(withTop(b.tophash.Load(), i, top))
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
	b.tophash.Store(withTop(b.tophash.Load(), pos.i, emptyTop))
	b.slots[pos.i].Store(nil)
}
