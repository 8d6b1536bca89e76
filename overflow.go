package shardmap

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Overflow buckets of the inline layout, and the links that chain them.
//
// An inline bucket holds no pointer of its own: its overflow link is an
// index into its table's overflows, kept in the bucket's state word
// (dirtybit.go), and the overflow buckets live in pieces that the table
// points to. For pointer-free K and V a bucket then has no pointer at all,
// so the bucket arrays are allocations the GC never scans, and the bucket
// is one word smaller: 144 bytes for uint64 keys and values, eight slots of
// 16 bytes behind the tophash and state words, the size of Go's classic
// map's bucket (whose pointer-free buckets keep their overflow buckets
// alive from a list beside the array, as the directory here does). 128 of
// them fill a 18 KiB size class exactly, where 128 buckets of 152 bytes
// took a 20 KiB one.
//
// Invariant: a link, once stored, names a bucket that stays where it is for
// as long as its table does. Overflow buckets are never freed or moved
// while their table lives (a compaction makes a new table instead), the
// piece that holds the bucket a link names is in the directory before the
// link is stored, and the directory a reader loads is never changed after
// it is published (growing it publishes a new one). A reader that found a
// link with an atomic load of a state word therefore finds its piece in any
// directory it loads afterwards. TestRapidModel with the constant hasher,
// which puts every key of a shard in one chain of many overflow buckets,
// and the debug checks after each of its steps (every link in range, no
// bucket reached twice) break if it does not hold.
//
// A link is a piece number and a bucket's index in that piece, the index in
// the low pieceBits bits; piece 0 is never used, so no link is 0, which
// means "no next bucket". Overflow buckets come in pieces of an eighth of
// the table's bucket array, at least one bucket and at most 2^pieceBits:
// a table that needs a few overflow buckets does not get many, and what a
// table does not use of its last piece stays small beside the table. A
// 1M-entry uint64 map has about 4300 overflow buckets, some 134 per shard
// (a bucket overflows when more than 8 of its 3.8 keys on average land in
// it): in pieces of 16 they waste 0.04 bytes per entry, where pieces of 128
// wasted 0.6 (bench's memory workload, heap per entry 38.8 -> 38.4 bytes;
// 16 uint64 buckets fill a 2304-byte size class exactly).

// linkBits is the width of a link in a bucket state word. On 32-bit
// platforms, which use the entry layout (slotsFor), there are none.
const linkBits = 28 * (unsafe.Sizeof(uintptr(0)) / 8)

// pieceBits is the width of a link's index in its piece, whose pieces hold
// at most 2^pieceBits buckets. That leaves 2^24 pieces per table, 2^28
// overflow buckets in a table past 2^7 buckets, whose pieces are full-sized
// (a smaller one has at most 6.5 entries per bucket, and so fewer overflow
// buckets than pieces): more than a table of fine-hashed keys needs below
// 2^34 buckets.
const pieceBits = 4

// overflows is an inline table's overflow buckets. It is not generic: the
// generic paths that inline its lookup (follow) would each load and
// nil-check a dictionary for a generic one's, as geometry explains.
type overflows struct {
	// dir holds the pieces, each element pointing at the first bucket of
	// one (element 0 is nil). Loaded by readers; replaced by a writer
	// holding the mutex, or by the owner of a table not yet published. A
	// published directory never changes.
	dir atomic.Pointer[[]unsafe.Pointer]
	// last is the link handed out last, 0 before the first; n is how many
	// were. Guarded as dir's stores are.
	last uintptr
	n    int
	// shift is log2 of the buckets per piece. Fixed at creation.
	shift uint8
}

// init sets the piece size for a table of 2^b buckets.
func (o *overflows) init(b uint8) {
	o.shift = min(max(b, 3)-3, pieceBits)
}

// at returns the overflow bucket that link l names, in a table whose
// buckets are size bytes long.
func (o *overflows) at(l, size uintptr) unsafe.Pointer {
	// Safety: l names a bucket handed out by add, whose piece was in the
	// directory before l was stored; this directory was loaded after l,
	// so it holds that piece (invariant above), and the index is below
	// the piece's length.
	p := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(*o.dir.Load())), l>>pieceBits*unsafe.Sizeof(unsafe.Pointer(nil))))
	return unsafe.Add(p, (l&(1<<pieceBits-1))*size)
}

// next returns the bucket after b in its chain, or nil; b is a bucket of
// the table whose overflows are o.
func (b *ibucket[K, V]) next(o *overflows) *ibucket[K, V] {
	if w := b.state.load(); w&linkMask != 0 {
		return b.follow(o, w)
	}
	return nil
}

// follow returns the bucket that the link in w, a state word with one,
// names. The hot scans test the word for a link themselves, on the word
// they loaded (a Load, on the head's, which it has already), and call
// this.
func (b *ibucket[K, V]) follow(o *overflows, w uintptr) *ibucket[K, V] {
	return (*ibucket[K, V])(o.at(w&linkMask>>linkShift, unsafe.Sizeof(*b)))
}

// addOverflow returns a new empty overflow bucket of o and the link that
// names it. Caller holds the mutex (or owns the unpublished table), and
// stores the link only after filling the bucket's first slot.
func addOverflow[K comparable, V any](o *overflows) (*ibucket[K, V], uintptr) {
	l := o.last + 1
	if o.last == 0 || o.last&(1<<pieceBits-1) == 1<<o.shift-1 {
		// The first bucket of a new piece. Appending may write past the
		// end of the directory readers hold, never inside it.
		var dir []unsafe.Pointer
		if p := o.dir.Load(); p != nil {
			dir = *p
		} else {
			dir = []unsafe.Pointer{nil}
		}
		if uintptr(len(dir)) == 1<<linkBits>>pieceBits {
			panic(fmt.Sprintf("shardmap: a shard's table has %d overflow buckets, its limit: the hasher sends most keys to a few buckets", o.n))
		}
		l = uintptr(len(dir)) << pieceBits
		piece := &make([]ibucket[K, V], 1<<o.shift)[0]
		// Its pages are faulted in here, as a table's pieces are.
		// Growing an empty map to 4M uint64 keys with a concurrent
		// reader (2-CPU VM), the writes that allocated an overflow
		// piece took 20.7-21.6 us at the median without it and 2.1-2.4
		// us with it; all writes' p99.9 went from 23-25 us to 8.4-9.5
		// us, p99.99 from 62-74 us to 55-59 us (bench's growth
		// workload, three alternations). Without it the fill that
		// follows made the first store into the piece, and that store
		// was the slow one; one store anywhere in this function, plain
		// or atomic, took the usual fault time, 1.2-1.4 us.
		prefault(unsafe.Pointer(piece), unsafe.Sizeof(*piece)<<o.shift)
		dir = append(dir, unsafe.Pointer(piece))
		o.dir.Store(&dir)
	}
	o.last, o.n = l, o.n+1
	return (*ibucket[K, V])(o.at(l, unsafe.Sizeof(ibucket[K, V]{}))), l
}

// valid reports whether l names a bucket o handed out; for the debug checks.
func (o *overflows) valid(l uintptr) bool {
	p := o.dir.Load()
	return p != nil && l>>pieceBits > 0 && l>>pieceBits < uintptr(len(*p)) && l&(1<<pieceBits-1) < 1<<o.shift &&
		(l>>pieceBits < o.last>>pieceBits || l <= o.last)
}

// count returns how many overflow buckets the table has.
func (o *overflows) count() int { return o.n }
