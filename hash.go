package shardmap

import (
	"hash/maphash"
	"math/bits"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// A key's 64-bit hash is split three ways, so that no two decisions share
// bits:
//
//	bits 63 .. 64-shardBits  the shard (top bits)
//	bits 47 .. 41            the tophash byte kept per slot (7 bits, topShift)
//	bits B-1 .. 0            the bucket within the shard's table (low bits)
//
// shardBits is at most 16 (maxShards), so the shard bits never reach the
// tophash bits, and these never overlap a bucket index until a single shard
// holds 2^42 buckets (WithPresize stops at 2^40, maxPresizeB). The bits
// between the shard's and the tophash's, when there are fewer shards, go
// unused. The tophash bits are the same for every Map, so that computing
// the byte is a shift by a constant.
//
// A tophash byte always has its high bit set (tophash), so an occupied lane
// is never zero, emptyTop: the high bits alone tell full lanes from empty
// ones, and the cheap SWAR zero-byte test in matchTop can only err towards an
// occupied lane (see there).

const (
	// emptyTop marks an empty slot in a bucket's tophash word.
	emptyTop = 0
	// fullTop is set in every occupied slot's tophash byte.
	fullTop = 0x80

	lsbs = 0x0101010101010101
	msbs = 0x8080808080808080
)

// hashKind selects how a Map hashes its keys; New picks it from K once.
type hashKind uint8

const (
	hashNone       hashKind = iota // the zero Map: not made by New
	hashComparable                 // maphash.Comparable: any comparable K
	hashWord64                     // 8-byte integer kinds: seeded multiply-mix
	hashWord32                     // 4-byte integer kinds: seeded multiply-mix
	hashCustom                     // WithHasher
)

// hashKindOf returns the fastest hash that gives K's keys the meaning they
// have in a Go map. Strings, floats, interfaces and composite keys take
// maphash.Comparable, which goes straight to the runtime's string hash for
// strings and knows about NaN, +0/-0 and dynamic types.
func hashKindOf[K comparable]() hashKind {
	switch t := reflect.TypeFor[K](); t.Kind() {
	case reflect.Int, reflect.Uint, reflect.Int64, reflect.Uint64, reflect.Uintptr:
		if t.Size() == 8 {
			return hashWord64
		}
		return hashWord32
	case reflect.Int32, reflect.Uint32:
		return hashWord32
	}
	return hashComparable
}

// hash returns the key's hash, seeded per Map. The kinds are tested in the
// order of how common they are; the zero Map's hashNone comes last, so that
// the check that the Map was made by New costs nothing on the way to the
// others. It panics if the Map was not made by New, before any lock is
// taken.
func (m *Map[K, V]) hash(key K) uint64 {
	// The unsafe conversions are exact: New chose the kind from K's
	// underlying type and size.
	switch m.hkind {
	case hashWord64:
		return mixWord(*(*uint64)(unsafe.Pointer(&key)), m.seed)
	case hashComparable:
		return maphash.Comparable(m.mseed, key)
	case hashWord32:
		return mixWord(uint64(*(*uint32)(unsafe.Pointer(&key))), m.seed)
	case hashCustom:
		// A hasher may ignore parts of the key; comparing the key with
		// itself still panics, as a Go map does, when an interface key
		// holds a type that cannot be compared.
		_ = key == key
		return m.hasher(*unseen(&key), m.seed)
	}
	panic("shardmap: use of a Map not created by New")
}

// unseen returns p, hidden from escape analysis. Passing a key to the
// WithHasher function, which the compiler cannot see into, would otherwise
// make it assume that the function keeps the key, and so move every key
// passed to Load to the heap, for every Map of that key type: a string built
// in a stack buffer, or string(b) for a byte slice b, would cost an
// allocation per Load. WithHasher's contract that h does not keep its key is
// what makes hiding it sound.
//
// The pointer passes through a uintptr held in memory; between the two
// conversions there is no call, so the stack cannot move, and the stack is
// never shrunk at an asynchronous preemption point.
func unseen[T any](p *T) *T {
	u := uintptr(unsafe.Pointer(p))
	return *(**T)(unsafe.Pointer(&u))
}

// mixWord hashes a machine word with two rounds of multiply-and-fold (the
// full 128-bit product, high half xor low half), so every output bit depends
// on every input bit and on the seed. It is not a cryptographic hash: its
// resistance to chosen-key flooding rests on the per-Map random seed, as
// Go's own map hash does.
func mixWord(x, seed uint64) uint64 {
	hi, lo := bits.Mul64(x^seed, 0xa0761d6478bd642f)
	hi, lo = bits.Mul64(hi^lo^seed, 0xe7037ed1a0b428db)
	return hi ^ lo
}

// tophash returns the byte kept in a slot's tophash lane for a key with hash
// h: seven hash bits and fullTop. Load computes it in place, with the same
// expression (see there why).
func (m *Map[K, V]) tophash(h uint64) uint8 {
	return uint8(h>>topShift) | fullTop
}

// topShift is where a hash's tophash bits start (see above). The byte it
// yields also holds bit 48, a shard bit with 2^16 shards, which fullTop
// overwrites.
const topShift = 41

// matchTop returns the lanes of a tophash word that may hold top, one high
// bit per lane. Every lane that holds top is reported. So may, rarely, an
// occupied lane holding top^1 just above a matching lane, where the
// subtraction's borrow turns its 0x01 into 0xff: the key comparison every
// caller makes rejects it, since that slot's key has another hash. Because
// top has its high bit set and an empty lane is zero, an empty lane xors to
// a byte with its high bit set, which the test masks out: an empty lane is
// never reported.
func matchTop(word uint64, top uint8) uint64 {
	x := word ^ lsbs*uint64(top)
	return (x - lsbs) &^ x & msbs
}

// matchEmpty returns the empty lanes of a tophash word, one high bit each.
func matchEmpty(word uint64) uint64 { return ^word & msbs }

// matchFull returns the occupied lanes of a tophash word, one high bit each.
func matchFull(word uint64) uint64 { return word & msbs }

// firstLane returns the slot index of the lowest lane set in a match word.
func firstLane(match uint64) int { return bits.TrailingZeros64(match) >> 3 }

// topAt returns the tophash byte of slot i in word.
func topAt(word uint64, i int) uint8 { return uint8(word >> (8 * i)) }

// withTop returns word with slot i's byte set to top.
func withTop(word uint64, i int, top uint8) uint64 {
	shift := 8 * uint(i)
	return word&^(0xff<<shift) | uint64(top)<<shift
}

// topWord is a bucket's tophash word, loaded and stored atomically.
type topWord struct{ v uint64 }

// load returns the word.
func (w *topWord) load() uint64 { return atomic.LoadUint64(&w.v) }

// store replaces the word. Caller holds the shard's mutex.
func (w *topWord) store(x uint64) { atomic.StoreUint64(&w.v, x) }
