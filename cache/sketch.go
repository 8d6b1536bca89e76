package cache

import (
	"hash/maphash"
	"math/bits"
	"reflect"
	"unsafe"
)

// sketch estimates how often each key was used recently: a count-min
// sketch of 4-bit counters, the frequency filter of TinyLFU (Einziger,
// Friedman and Manes, 2017). A key has four counters, all in one 64-byte
// block of the table, so that an update or estimate touches one cache
// line; its estimate is the smallest of the four. Once the additions reach
// ten times the capacity, every counter is halved, so that the sketch
// follows a changing workload. Guarded by Cache.mu.
type sketch struct {
	// table holds 16 counters per word, in blocks of 8 words.
	table []uint64
	// blockMask selects a block: len(table)/8 - 1.
	blockMask uint64
	// capacity is the number of entries the table was sized for.
	capacity int
	// additions counts increments since the last halving; sampleSize is
	// where halving happens.
	additions, sampleSize int
}

// ensure sizes the table for n entries (one word each, rounded up to a
// power of two) if it is smaller. Resizing forgets every count.
func (s *sketch) ensure(n int) {
	if n <= s.capacity {
		return
	}
	words := max(1<<bits.Len(uint(n-1)), 8)
	s.table = make([]uint64, words)
	s.blockMask = uint64(words/8 - 1)
	s.capacity = n
	s.additions = 0
	s.sampleSize = 10 * n
}

// ready reports whether the sketch has a table.
func (s *sketch) ready() bool { return s.table != nil }

// spots returns, for hash h, the block's first word and a second hash
// whose bytes place the four counters.
func (s *sketch) spots(h uint64) (block uint64, g uint64) {
	h = (h ^ h>>31) * 0x7fb5d329728ea185
	g = (h ^ h>>27) * 0x81dadef4bc2dd44d
	return (h >> 32 & s.blockMask) << 3, g ^ g>>33
}

// counter returns the word index and the shift of counter i (0..3) of a
// key: counter i lives in word 2i or 2i+1 of the block, at one of its 16
// nibbles.
func counter(block, g uint64, i uint) (word uint64, shift uint) {
	b := g >> (i << 3)
	return block + uint64(i<<1) + b&1, uint((b>>1)&15) << 2
}

// add counts k uses of the key with hash h.
func (s *sketch) add(h uint64, k uint32) {
	if s.table == nil || k == 0 {
		return
	}
	block, g := s.spots(h)
	added := false
	for i := range uint(4) {
		w, sh := counter(block, g, i)
		c := s.table[w] >> sh & 15
		if c < 15 {
			c = min(c+uint64(k), 15)
			s.table[w] = s.table[w]&^(15<<sh) | c<<sh
			added = true
		}
	}
	if !added {
		return
	}
	s.additions += int(k)
	if s.additions >= s.sampleSize {
		s.halve()
	}
}

// halve ages the sketch: every counter loses half its count. The additions
// are halved too, less an eighth of the odd counters (each lost another
// half count to rounding, and an addition counts on four counters; Caffeine
// makes the same correction), so that they still match what the counters
// hold and the next halving comes no sooner than it should.
func (s *sketch) halve() {
	odd := 0
	for i, w := range s.table {
		odd += bits.OnesCount64(w & 0x1111_1111_1111_1111)
		s.table[i] = w >> 1 & 0x7777_7777_7777_7777
	}
	s.additions = max(s.additions-odd/4, 0) / 2
}

// estimate returns the use count of the key with hash h: at most 15.
func (s *sketch) estimate(h uint64) uint32 {
	if s.table == nil {
		return 0
	}
	block, g := s.spots(h)
	f := uint64(15)
	for i := range uint(4) {
		w, sh := counter(block, g, i)
		f = min(f, s.table[w]>>sh&15)
	}
	return uint32(f)
}

// sketchHash returns the function that hashes keys for the sketch, seeded
// with seed. For integer keys of 8 bytes it is a seeded multiply-mix of the
// key's bits, a quarter of what maphash.Comparable costs for them (which an
// insert pays about four times: its own key, and the candidate and victim
// it weighs); for others, maphash.Comparable.
func sketchHash[K comparable](seed maphash.Seed) func(K) uint64 {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if unsafe.Sizeof(*new(K)) == 8 {
			s := maphash.Comparable(seed, uint64(0x5eed5eed))
			return func(key K) uint64 { return mixKey(*(*uint64)(unsafe.Pointer(&key)), s) }
		}
	}
	return func(key K) uint64 { return maphash.Comparable(seed, key) }
}

// mixKey hashes x with seed s: a keyed variant of the MurmurHash3
// finalizer, so that the keys colliding in the sketch differ from cache to
// cache.
func mixKey(x, s uint64) uint64 {
	x ^= s
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}
