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
//	bucket     8 slots, a tophash word (one byte per slot, 0 = empty), a
//	           link to the next bucket of its chain, and a state word (used at
//	           a chain's head). The entry layout's link is a pointer; the
//	           inline layout's is an index into the table's overflow buckets,
//	           kept in the state word, so that its buckets hold no pointer
//	           of their own (overflow.go)
//	chain      a bucket and its overflow buckets; every key lives in exactly one
//	           chain of the current table. The head bucket is part of the
//	           array, never nil, so chain scans test only the overflow links
//	layout     how a slot holds its key and value, chosen once per Map by New:
//	  entry    a slot is an atomic pointer to an immutable {key, value} entry
//	           (slot_entry.go); used for the K and V inline does not take
//	  inline   a slot holds the key and value themselves, as words written and
//	           read with atomic stores and loads (slot_inline.go); used when K
//	           is pointer-free or a string and V is pointer-free or a single
//	           pointer, and the pair is small. No
//	           allocation per Store, one cache miss fewer per Load, and for
//	           pointer-free K and V buckets the GC need not look into
//	old array  the bucket array being evacuated; readers may still use it
//	evacuate   copy one old chain's slots into the new array, then set the old
//	           chain's evacuated bit
//	migration  growing (2x), compacting (same size, drops overflow buckets) or
//	           shrinking (half); all three run the same incremental evacuation
//
// # Growth
//
// A shard grows when an insert would push it past 6.5 entries per bucket on
// average, compacts when it holds as many overflow buckets as buckets (up to
// 2^15), and, unless WithGrowOnly, shrinks when deletes leave it under a
// quarter of that load. Each of these makes a new table whose bucket array
// is not yet allocated (it comes in pieces of at most 32 KiB, see chunkShift,
// laid out so that the two new chains an old chain splits into share a
// piece, see place), points its old field at the current table, and
// publishes it. Nothing is allocated in proportion to the table and nothing
// is copied at that moment; see evacuate.go for how the copy is spread over
// later operations and why it always finishes.
//
// # Writes
//
// Writers hold the shard's mutex (taken with TryLock first, then a few more
// tries before Lock: see lockSlow). Before touching a key, a writer evacuates the
// old chain that key hashes to (so the key is only ever written in the new
// array) and one more chain for progress. Insert fills the slot and then sets
// the tophash byte; delete clears the tophash byte, then what of the slot
// must not outlive the key (the entry pointer, or an inline pointer value;
// pointer-free inline words stay until the slot is reused). Every insert,
// delete and update bumps the chain's version. An update of an entry slot
// swaps in a new entry; an update of an inline slot whose value fits in one
// word is one atomic store; a wider inline update writes the new slot into a
// free one ahead of the old, or, with none free, marks the chain as being
// written, stores the words, and bumps the version as it clears the mark
// (slot_inline.go). In a shard that is not migrating, the common writes
// (updates that are one store, Store's inserts into an empty slot that start
// no migration, deletes) take fast paths that make the same stores without
// filling a slotRef (fastpath.go).
//
// # Reads
//
// Load takes no lock. It loads the shard's table (for a one-piece table
// that is not migrating, the array pointer that says so, ifast, is then
// all it tests, but for a moment after a migration ends); if the table has
// an old array, it loads the evacuated bit of the old chain the key hashes
// to: clear means the frozen old chain holds the whole truth for its keys,
// set means the new chain does. It then scans that
// chain: SWAR-match the key's tophash against the tophash word, read the
// slot, compare keys. An entry slot is read
// with one atomic load of an immutable entry. An inline slot is read word by
// word between two loads of the chain's state word and kept only if the
// version did not move and no wide update was in progress (a sequence lock);
// otherwise the read is retried. A reader may be looking at a table that has
// since been replaced (frozen by a newer migration, or abandoned by Clear).
// That is still correct: such a table stops changing at the instant it is
// replaced, which is after the reader loaded it, so what it returns was
// current at some instant during the call.
//
// # Invariants
//
//  1. Old arrays are frozen. Once a table becomes another table's old array, no
//     write touches its slots, tophash words or overflow links again; only the
//     evacuated bits of its head buckets change. Evacuation copies slots and
//     never clears old ones, so a reader inside an old chain always sees a
//     consistent chain.
//  2. A reader decides where to look from one atomic load: the old chain's
//     evacuated bit. A writer sets that bit only after every slot of the chain
//     is stored in the new array, and writes a key into the new array only
//     after its old chain is evacuated. (A table's ifast is set only once it
//     has no old array, so a reader that finds it reads the table's own
//     chains; the structure checks test that it is set exactly then.)
//  3. Slots are published atomically: a slot is either an atomic pointer to an
//     immutable entry, or inline words validated by the chain's version.
//     Insert fills the slot before the tophash byte; delete clears the tophash
//     byte before anything in the slot. A reader that matches a tophash still reads the
//     slot and compares its key (it may be empty or another key's); an inline
//     reader keeps what it read only if the chain's version did not move and
//     no wide update was in progress meanwhile, so it never returns a torn key
//     or value. An inline value that is one pointer, or a string key's data
//     pointer, is stored and loaded as a pointer, never as an integer, and a
//     delete clears it only after the version bump, so a reader that loads
//     the cleared word fails its check. A string key read without the lock
//     is compared only after its copy validated.
//  4. The dirty bits and the version are load-bearing: see dirtybit.go.
//  5. Migration finishes: every write evacuates at least one old chain, and a
//     shard nobody writes is finished by readers (see dirtybit.go and
//     evacuate.go). A new migration never starts while one is running.
//  6. A link names a bucket that stays put: an inline link, once stored,
//     names the same overflow bucket of its table for as long as the table
//     lives, and any directory of overflow pieces a reader loads after the
//     link holds it (overflow.go).
//
// The tests that break each: TestRapidModel and the fuzz targets check the
// structure after every step (debug.go); TestLinRejectsStaleReads (a reader
// that ignores invariant 2) and TestLinRejectsUnvalidatedInlineReads (a reader
// that skips invariant 3's version check) are negative controls the
// linearizability checker must reject; TestInlineSlotsNeverTear rewrites
// multi-word keys and values under concurrent readers, and
// TestInlineStringKeysNeverTear string keys of many lengths;
// TestLinRejectsUncheckedStringKeys is the negative control for comparing a
// string key before its copy validated; TestPtrSlotsKeepValuesAlive
// and TestPtrSlotsForgetDeletedValues check that the GC sees inline pointer
// values and that deleted ones are let go; TestDirtyBitDecidesWhoHelps
// covers invariant 4, TestStalledMigrationFinishesByReads invariant 5, and
// TestOverflowLinksNameDistinctBuckets and TestLongChainsLinkThroughManyPieces
// (with the structure checks, which follow every link) invariant 6.
//
// # Iteration
//
// Range walks each shard's current table bucket by bucket and copies one chain
// at a time with the version as a sequence lock (iter.go). While migrating,
// the chain for new bucket i comes from the old chain if that was not yet
// evacuated (keeping only keys that hash to i), else from the new chain. Every
// key belongs to exactly one new bucket and is read from exactly one place,
// so no key is yielded twice. Before it yields a copied pair, Range checks
// that the chain has not changed since the copy, and looks the key up again
// if it has, so a key deleted or replaced before Range reaches it is skipped
// or yielded with its new value, as a Go map's range does.

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

const (
	// bucketCnt is the number of slots in a bucket: one tophash byte each
	// fills the bucket's 64-bit tophash word.
	bucketCnt = 8
)

// chunkShift sets the size of the pieces a bucket array is allocated in:
// 2^chunkShift entry buckets (22 KiB), or 2^ishift inline buckets (18 KiB
// for uint64->uint64). A migration allocates its new array one piece at a
// time, as evacuation first copies into each, so starting a migration never
// allocates (or zeroes) anything proportional to the table.
const (
	chunkShift = 8
	chunkMask  = 1<<chunkShift - 1
)

// ishift is chunkShift for inline buckets: their pieces hold fewer of
// them, so that a piece stays within the allocator's small size classes
// (32 KiB), whose allocations come from per-processor caches; a larger one
// takes the heap lock. It folds to a constant for each K and V.
func ishift[K comparable, V any]() uint { return ishiftFor(unsafe.Sizeof(ibucket[K, V]{})) }

// ishiftFor is ishift for an inline bucket of the given size. It is not
// generic, so that ipiece, which calls it with a constant, folds it to a
// constant shift without a dictionary (see geometry).
func ishiftFor(size uintptr) uint {
	switch {
	case size <= 128:
		return 8
	case size <= 256:
		return 7
	case size <= 512:
		return 6
	}
	return 5
}

// slotKind is how a table's slots hold keys and values; New picks it from K
// and V (slotsFor), and every table of a Map has the same.
type slotKind uint8

// The inline kinds are sets of the bits below, so that keyPtr and valuePtr
// each test one bit.
const (
	entrySlots        slotKind = 0                                   // pointers to entries (slot_entry.go)
	inlineSlots                = inlineBit                           // pointer-free K and V inline (slot_inline.go)
	inlinePtrSlots             = inlineBit | ptrValueBit             // pointer-free K and a one-pointer V inline
	inlineStrSlots             = inlineBit | strKeyBit               // string K and pointer-free V inline
	inlineStrPtrSlots          = inlineBit | strKeyBit | ptrValueBit // string K and a one-pointer V inline (two pointer words)
)

const (
	// inlineBit is set in every inline kind.
	inlineBit slotKind = 1 << iota
	// ptrValueBit marks a value that is one pointer, its slot's last word.
	ptrValueBit
	// strKeyBit marks a string key, whose data pointer is its slot's first
	// word.
	strKeyBit
)

// table is one bucket array. Everything but old, fast and ifast and, while
// migrating, the pieces is fixed at creation.
type table[K comparable, V any] struct {
	// pieces (entry layout) or ipieces (inline layout; the other is nil)
	// holds the array in pieces of 2^chunkShift buckets, each element
	// pointing at the first bucket of its piece (a table with fewer buckets
	// has one piece of them all). A table made by a migration starts with
	// nil pieces; the writer that evacuates an old chain first allocates,
	// under the mutex, the pieces it copies into. A reader only reaches a
	// piece through a new chain whose old chain it found evacuated (or once
	// old is nil), and both of those atomic loads come after the piece was
	// stored, so no reader ever sees a nil piece.
	pieces  []*bucket[K, V]
	ipieces []*ibucket[K, V]
	// flat (entry layout) or iflat (inline layout) is the whole array when
	// it is one piece, else nil: Load reaches a small table's buckets with
	// one load fewer. Fixed at creation.
	flat  *bucket[K, V]
	iflat *ibucket[K, V]
	// fast (entry layout) or ifast (inline layout) is flat or iflat once
	// the table is not migrating, nil before, so that Load's path for a
	// small table tests one pointer rather than old and then the array.
	// Set when a table with no old array is made, or by the writer that
	// clears old, after it does (so a reader may find old nil and fast not
	// yet set, and then takes the path for any steady table); never
	// cleared: a table that another migration replaces is frozen
	// (invariant 1), and a reader that loaded it before its replacement
	// reads what was current then.
	fast  atomic.Pointer[bucket[K, V]]
	ifast atomic.Pointer[ibucket[K, V]]
	// iovf holds the inline layout's overflow buckets (overflow.go); the
	// entry layout links its overflow buckets by pointer.
	iovf overflows
	// geometry is the array's size and how its buckets map onto pieces.
	geometry
	// kind is the table's slot kind; it says which word of an inline slot
	// is a pointer, stored and loaded as one (slot_inline.go).
	kind slotKind
	// old is the table this one is replacing while a migration runs, nil
	// otherwise. Set before the table is published; cleared under the mutex by
	// the writer that evacuates the last old chain, which lets the GC take the
	// old array once no reader holds it.
	old atomic.Pointer[table[K, V]]
}

// geometry is a table's bucket count and piece layout, fixed at creation. It
// is a type of its own, not part of the generic table, so that place is not a
// generic method: the generic lookup paths (piece, ipiece) that inline it
// would each load and nil-check a dictionary for the nested call, which cost
// a Load at 1M uint64 keys 5 of its instructions (callgrind, 154.4 -> 149.4).
type geometry struct {
	// mask is the bucket count minus one; the count is a power of two.
	mask uint64
	// split is log2(len)-1, the bucket index bit place moves to the bottom.
	split uint8
	// pshift is log2 of the buckets per piece (chunkShift, or ishift for
	// the inline layout), for the paths that allocate pieces and serve
	// either layout (the lookups, piece and ipiece, use their layout's
	// constant).
	pshift uint8
}

// newTable returns a table with 2^b empty buckets in the given layout. If
// lazy, pieces of a multi-piece array are left for allocPiece.
func newTable[K comparable, V any](b uint8, kind slotKind, lazy bool) *table[K, V] {
	inline := kind != entrySlots
	n := uint64(1) << b
	t := &table[K, V]{geometry: geometry{mask: n - 1}, kind: kind}
	shift := uint(chunkShift)
	if inline {
		shift = ishift[K, V]()
	}
	npieces := max(n>>shift, 1)
	t.split, t.pshift = b-1, uint8(shift)
	if inline {
		t.iovf.init(b)
		t.ipieces = make([]*ibucket[K, V], npieces)
	} else {
		t.pieces = make([]*bucket[K, V], npieces)
	}
	if !lazy || npieces == 1 {
		for k := range npieces {
			t.allocPieceAt(k)
		}
	}
	if npieces == 1 {
		if inline {
			t.iflat = t.ipieces[0]
		} else {
			t.flat = t.pieces[0]
		}
	}
	if !lazy {
		t.settled()
	}
	return t
}

// settled publishes a one-piece array as fast or ifast, for a table that is
// not migrating: made with no old array, or whose old field was just
// cleared. Caller holds the mutex (or owns the unpublished table).
func (t *table[K, V]) settled() {
	if t.iflat != nil {
		t.ifast.Store(t.iflat)
	}
	if t.flat != nil {
		t.fast.Store(t.flat)
	}
}

// allocPiece makes sure the piece holding bucket i exists. Caller holds the
// mutex (or owns an unpublished table) and has not yet published anything in
// that piece.
func (t *table[K, V]) allocPiece(i uint64) {
	t.allocPieceAt(t.place(i) >> t.pshift)
}

// allocPieceAt makes sure piece k exists; as allocPiece.
func (t *table[K, V]) allocPieceAt(k uint64) {
	n := min(t.len(), uint64(1)<<t.pshift)
	if t.ipieces != nil {
		if p := &t.ipieces[k]; *p == nil {
			*p = &make([]ibucket[K, V], n)[0]
			prefault(unsafe.Pointer(*p), uintptr(n)*unsafe.Sizeof(ibucket[K, V]{}))
		}
		return
	}
	if p := &t.pieces[k]; *p == nil {
		*p = &make([]bucket[K, V], n)[0]
		prefault(unsafe.Pointer(*p), uintptr(n)*unsafe.Sizeof(bucket[K, V]{}))
	}
}

// prefault writes a zero word into every page of a new piece, in address
// order (a word a page apart from the piece's start, and its last word, so
// that a piece that straddles a page boundary has both pages touched).
// Memory fresh from the operating system comes without its pages, and
// make does not touch it (it is known to be zero), so otherwise each page
// faults in at its first slot store, scattered over the evacuations that
// fill the piece. Faulting them in one pass here is cheaper in all and
// concentrated in the write that allocates the piece: growing an empty map to
// 4M uint64 keys with a concurrent reader (bench's growth workload, 2-core
// VM, three interleaved runs each), write p99 went from 3.20-3.46 us to
// 2.50-2.69 us, p99.99 from 94-115 us to 74-88 us and the total from
// 3.75-3.92 s to 3.39-3.52 s; on a 2-CPU Intel VM, three alternated runs,
// without it p99 was 20.5-21.0 us against 2.0 us, the total 3.4 s against
// 2.5 s. The word is zero already and nothing in the piece is published
// yet, so the store is invisible; where it falls on a pointer word of a
// pointer-bearing layout, it writes nil over nil before the GC or any
// reader can see the piece.
func prefault(p unsafe.Pointer, size uintptr) {
	const page = 4096
	for off := uintptr(0); off < size; off += page {
		// Safety: off < size, the piece's length in bytes, and is a
		// multiple of 8 from the 8-aligned start of the piece.
		*(*uint64)(unsafe.Add(p, off)) = 0
	}
	// Safety: a piece is a whole number of 8-byte-aligned buckets, at
	// least one, so its last word starts at size-8.
	*(*uint64)(unsafe.Add(p, size-8)) = 0
}

// allocated reports whether the piece holding bucket i exists. Only callers
// holding the mutex may ask.
func (t *table[K, V]) allocated(i uint64) bool {
	if t.ipieces != nil {
		return t.ipieces[t.place(i)>>t.pshift] != nil
	}
	return t.pieces[t.place(i)>>t.pshift] != nil
}

// inline reports whether the table uses the inline layout.
func (t *table[K, V]) inline() bool { return t.ipieces != nil }

// len returns the number of buckets.
func (t *table[K, V]) len() uint64 { return t.mask + 1 }

// B returns log2 of the table's bucket count.
func (t *table[K, V]) B() uint8 { return uint8(bits.Len64(t.mask)) }

// place returns where in an array of more than one piece bucket i sits: i
// rotated left by one within the index's bits, so that the two buckets a
// grow splits old chain j into, j and j+len/2, sit side by side at 2j and
// 2j+1, in one piece. Evacuating a chain then allocates at most one piece,
// not two, and the migration's in-order evacuation fills the array in
// address order. A one-piece array keeps bucket i at i (bucket and ibucket
// test for it), which is where Load's flat path finds it.
//
// Growing an empty map to 4M uint64 keys with one reader (bench's growth
// workload, 2-core VM, interleaved runs), the writes that allocated two or
// more pieces went from 7.8K to 0.5K, write p99.9 from 20-27 us to 17-18 us
// and p99.99 from 44-58 us to 37-47 us; a Load at 1M keys costs 8
// instructions more (callgrind).
func (g *geometry) place(i uint64) uint64 {
	return (i<<1 | i>>(g.split&63)) & g.mask // split < 64; the mask spares the check
}

// bucket returns head bucket i of an entry-layout table. Its piece must
// exist (see pieces).
func (t *table[K, V]) bucket(i uint64) *bucket[K, V] {
	if p := t.flat; p != nil {
		// Safety: i <= mask, and the one piece has mask+1 buckets.
		return (*bucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(i)*unsafe.Sizeof(*p)))
	}
	return t.piece(i)
}

// piece is bucket for an array of more than one piece.
func (t *table[K, V]) piece(i uint64) *bucket[K, V] {
	i = t.place(i)
	// Safety: place keeps i <= mask, so i>>chunkShift < len(t.pieces), and
	// i&chunkMask is below the piece's length, 2^chunkShift.
	p := *(**bucket[K, V])(unsafe.Add(unsafe.Pointer(unsafe.SliceData(t.pieces)), uintptr(i>>chunkShift)*unsafe.Sizeof(t.pieces[0])))
	return (*bucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(i&chunkMask)*unsafe.Sizeof(*p)))
}

// ibucket returns head bucket i of an inline-layout table. Its piece must
// exist (see pieces).
func (t *table[K, V]) ibucket(i uint64) *ibucket[K, V] {
	if p := t.iflat; p != nil {
		// Safety: i <= mask, and the one piece has mask+1 buckets.
		return (*ibucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(i)*unsafe.Sizeof(*p)))
	}
	return t.ipiece(i)
}

// ipiece is ibucket for an array of more than one piece.
func (t *table[K, V]) ipiece(i uint64) *ibucket[K, V] {
	i = t.place(i)
	// Safety: as in piece, with ishift for chunkShift. The shift is a
	// constant here (ishiftFor of a constant size): shifting by the
	// table's pshift cost a Load at 1M uint64 keys 3 instructions more
	// (callgrind, 149.4 -> 146.4).
	shift := ishiftFor(unsafe.Sizeof(ibucket[K, V]{}))
	p := *(**ibucket[K, V])(unsafe.Add(unsafe.Pointer(unsafe.SliceData(t.ipieces)), uintptr(i>>shift)*unsafe.Sizeof(t.ipieces[0])))
	return (*ibucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(i&(1<<shift-1))*unsafe.Sizeof(*p)))
}

// head returns the state word of head bucket i, in either layout.
func (t *table[K, V]) head(i uint64) *bucketState {
	if t.ipieces != nil {
		return &t.ibucket(i).state
	}
	return &t.bucket(i).state
}

// readChain returns the head of the chain that holds the truth for hash h
// right now: the old chain if the table is migrating and that chain is not
// yet evacuated, else the table's own chain (invariant 2). It also returns the
// old table, nil when not migrating. It touches the new chain only when it is
// the answer, so it never reaches a piece not yet allocated. Entry layout.
func (t *table[K, V]) readChain(h uint64) (b *bucket[K, V], old *table[K, V]) {
	if old = t.old.Load(); old != nil {
		if ob := old.bucket(h & old.mask); !ob.state.evacuated() {
			return ob, old
		}
	}
	return t.bucket(h & t.mask), old
}

// ireadChain is readChain for the inline layout. It also returns the
// overflows of the table the chain is in.
func (t *table[K, V]) ireadChain(h uint64) (b *ibucket[K, V], o *overflows, old *table[K, V]) {
	if old = t.old.Load(); old != nil {
		if ob := old.ibucket(h & old.mask); !ob.state.evacuated() {
			return ob, &old.iovf, old
		}
	}
	return t.ibucket(h & t.mask), &t.iovf, old
}

// slotRef is what a locked lookup found: where the key is, or where it may
// be inserted, in whichever layout the table uses.
type slotRef[K comparable, V any] struct {
	// t is the table searched and h the key's hash.
	t *table[K, V]
	h uint64
	// found reports whether the key is present; old is its value then.
	found bool
	old   V
	// pos (entry layout) or ipos (inline layout) locates the slot, in the
	// chain whose head bucket is head or ihead.
	pos   position[K, V]
	ipos  iposition[K, V]
	head  *bucket[K, V]
	ihead *ibucket[K, V]
}

// lookup does the shard's pending evacuation for hash h and finds key in the
// current table. Caller holds the mutex.
func (s *shard[K, V]) lookup(m *Map[K, V], h uint64, key K, r *slotRef[K, V]) {
	t := s.tbl.Load()
	if t.old.Load() != nil {
		s.growWork(m, t, h)
	}
	r.t, r.h = t, h
	r.locate(m.tophash(h), key)
}

// locate fills r's position for key in r.t. Caller holds the mutex.
func (r *slotRef[K, V]) locate(top uint8, key K) {
	if r.t.inline() {
		r.ihead = r.t.ibucket(r.h & r.t.mask)
		r.old, r.found = r.ihead.locate(&r.t.iovf, top, key, r.t.kind, &r.ipos)
		return
	}
	var e *entry[K, V]
	r.head = r.t.bucket(r.h & r.t.mask)
	if e = r.head.locate(top, key, &r.pos); e != nil {
		r.found, r.old = true, e.value
	}
}

// set stores value for key at r: an update if r found the key, else an
// insert that may first start a grow or compaction. Caller holds the mutex.
func (s *shard[K, V]) set(m *Map[K, V], r *slotRef[K, V], key K, value V) {
	if r.found {
		// Both bump the version, so that Range sees the change (iter.go).
		if r.t.inline() {
			r.ipos.update(r.ihead, key, value, m.rekey, r.t.kind)
		} else {
			hit[K, V]{p: &r.pos.b.slots[r.pos.i], state: &r.head.state}.replace(key, value, entrySlots)
		}
		return
	}
	top := m.tophash(r.h)
	if s.maybeGrow() {
		r.t = s.tbl.Load()
		s.growWork(m, r.t, r.h)
		r.locate(top, key)
	}
	var overflowed bool
	if r.t.inline() {
		overflowed = r.ipos.put(&r.t.iovf, top, key, value, r.t.kind)
		r.ihead.state.bump()
	} else {
		overflowed = r.pos.put(top, &entry[K, V]{key, value})
		r.head.state.bump()
	}
	if overflowed {
		s.noverflow++
	}
	s.count.Add(1)
}

// remove deletes the key r found, then starts a shrink if one is due. Caller
// holds the mutex.
func (s *shard[K, V]) remove(m *Map[K, V], r *slotRef[K, V]) {
	if r.t.inline() {
		r.ipos.clear(r.ihead, r.t.kind)
	} else {
		r.pos.clear()
		r.head.state.bump()
	}
	s.count.Add(-1)
	s.maybeShrink(m)
}
