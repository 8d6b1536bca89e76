package main

import (
	"math/rand/v2"
	"unsafe"
)

// op is one kind of map operation in a worker's schedule.
type op uint8

const (
	opLoad op = iota
	opStore
	opDelete
)

// worker is one goroutine's source of operations and keys. The contenders'
// loops (see Runner) ask it what to do next and which key to use; all of it
// is arithmetic on the worker's own fields, which stay in the core's L1
// cache, so the only memory a loop touches beyond the worker is the map's
// (and, for string keys, the key arena: see keySpace).
//
// The schedule is a shuffled cycle of 100 operations with the mix's exact
// proportions. Loads and plain stores pick a key index uniformly at random
// (xorshift64* and a multiply-shift range reduction: no division, no table).
// A delete remembers its index, and the next store puts that key back
// instead of picking one, so deletes and stores balance and the map keeps
// its prefilled size (short by at most len(pending) keys per goroutine).
//
// A worker belongs to one goroutine; nothing in it is shared.
type worker[K Key] struct {
	// The padding keeps two workers allocated side by side off each
	// other's cache lines.
	_ [64]byte
	// sched is the cycle of operations and next the position in it.
	sched [100]op
	next  int
	// rng is the xorshift64* state; never 0.
	rng uint64
	// n is the key count: indexes are in [0, n).
	n uint64
	// arena is the key space's arena (string keys), nil for uint64 keys.
	arena unsafe.Pointer
	// buf is the scratch buffer Load keys are built in.
	buf [keyLen]byte
	// pending is a ring of key indexes deleted and not yet stored back;
	// head is its first element and count its length.
	pending     [64]uint32
	head, count int
	// sink accumulates loaded values so that loads cannot be optimized
	// away.
	sink uint64
	_    [64]byte
}

// newWorker returns a worker over key space ks running mix, seeded by seed.
func newWorker[K Key](ks *keySpace[K], mix Mix, seed uint64) *worker[K] {
	w := &worker[K]{rng: mix64(seed) | 1, n: ks.n, arena: ks.base()}
	i := 0
	for _, part := range []struct {
		o op
		n int
	}{{opLoad, mix.Load}, {opStore, mix.Store}, {opDelete, mix.Delete}} {
		for range part.n {
			w.sched[i] = part.o
			i++
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(w.sched), func(i, j int) { w.sched[i], w.sched[j] = w.sched[j], w.sched[i] })
	return w
}

// op returns the next operation of the schedule.
func (w *worker[K]) op() op {
	o := w.sched[w.next]
	if w.next++; w.next == len(w.sched) {
		w.next = 0
	}
	return o
}

// pick returns a uniformly random key index.
func (w *worker[K]) pick() uint64 {
	w.rng ^= w.rng >> 12
	w.rng ^= w.rng << 25
	w.rng ^= w.rng >> 27
	r := (w.rng * 0x2545f4914f6cdd1d) >> 32
	return r * w.n >> 32
}

// loadKey returns key i for a lookup that does not keep it (Load): a uint64
// key, or a string key written into the worker's scratch buffer. The string
// is valid until the next loadKey.
func (w *worker[K]) loadKey(i uint64) K {
	x := mix64(i)
	if isString[K]() {
		putKey(&w.buf, x)
		s := unsafe.String((*byte)(unsafe.Pointer(&w.buf)), keyLen)
		return *(*K)(unsafe.Pointer(&s))
	}
	return *(*K)(unsafe.Pointer(&x))
}

// storeKey returns key i for an operation that may keep it (Store, Delete,
// LoadOrStore, Compute): a uint64 key, or a string key in the arena.
func (w *worker[K]) storeKey(i uint64) K { return arenaKey[K](w.arena, i) }

// storeIndex returns the index a store writes: the oldest deleted key not
// yet stored back, or else a random one.
func (w *worker[K]) storeIndex() uint64 {
	if w.count == 0 {
		return w.pick()
	}
	i := w.pending[w.head]
	w.head = (w.head + 1) % len(w.pending)
	w.count--
	return uint64(i)
}

// deleted records that the key with index i was deleted, so that a later
// store puts it back.
func (w *worker[K]) deleted(i uint64) {
	if w.count < len(w.pending) {
		w.pending[(w.head+w.count)%len(w.pending)] = uint32(i)
		w.count++
	}
}

// restore stores back through m every key the worker deleted and has not
// stored back yet.
func (w *worker[K]) restore(m Map[K]) {
	for w.count > 0 {
		i := w.storeIndex()
		m.Store(w.storeKey(i), i)
	}
}
