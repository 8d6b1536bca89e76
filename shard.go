// Package shardmap provides Map, a concurrent hash map for servers: lock-free
// reads, lock-striped writes, and growth that never stops the world.
//
// Each shard is a hash table laid out like Go's classic runtime map. When a
// shard outgrows its table, later writes copy the old table over one bucket
// at a time instead of one writer copying it all, so a Store never stalls
// behind a whole-table copy. Deletes shrink the table again the same way
// (unless WithGrowOnly), so memory comes back after a spike.
//
// A Map must be created with New; the zero Map is not usable. All methods are
// safe for concurrent use.
package shardmap

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// cacheLine is the size shards are padded to, twice over: the prefetcher on
// common x86 parts pulls cache lines in pairs.
const cacheLine = 64

// Map is a concurrent map from K to V. Load, Range, All and Len take no lock;
// writers lock only the shard that holds their key.
type Map[K comparable, V any] struct {
	// shards is the stripe array; its length is a power of two. Fixed by New.
	shards []shard[K, V]
	// shardShift is 64 - log2(len(shards)) - shardSizeLog: a hash shifted
	// right by it has its top bits, the shard number, in place for a byte
	// offset into shards. Fixed by New.
	shardShift uint8
	// shardOff is (len(shards)-1) * shardSize: the mask that leaves only
	// those bits of the shifted hash (shardFor). Fixed by New.
	shardOff uint64
	// minB is the smallest table a shard shrinks to (from WithPresize).
	minB uint8
	// growOnly disables shrinking (WithGrowOnly).
	growOnly bool
	// slots is the slot kind every table of the Map uses (slotsFor). Fixed
	// by New.
	slots slotKind
	// rekey makes an inline update store the key as well as the value: K
	// holds floats, whose equal keys may differ in their bytes (+0, -0).
	rekey bool
	// hkind picks the hash function (hash.go); fixed by New.
	hkind hashKind
	// hasher is the WithHasher function, or nil.
	hasher func(K, uint64) uint64
	// seed seeds mixWord and is passed to hasher; mseed seeds maphash.
	// Both are random per Map.
	seed  uint64
	mseed maphash.Seed
}

// shard is one lock stripe. The first cache-line pair holds what readers load;
// the second holds what writers write, so a busy writer does not evict the
// table pointer from every reader's cache.
type shard[K comparable, V any] struct {
	// tbl is the current table. Stored under mu; loaded by everyone.
	tbl atomic.Pointer[table[K, V]]
	// state is the shard state word: migration phase and dirty bit
	// (dirtybit.go). Written under mu, except the readers' CAS that clears
	// the dirty bit.
	state stateWord
	_     [2*cacheLine - 16]byte

	// mu serializes writers. Readers only ever TryLock it (help).
	mu sync.Mutex
	// count is the number of entries. Written under mu; loaded by Len.
	count atomic.Int64
	// noverflow counts overflow buckets allocated in tbl's array since it was
	// created. Guarded by mu.
	noverflow int
	// nevacuate is the evacuation unit below which every unit of tbl's old
	// array is evacuated. Guarded by mu.
	nevacuate uint64
	// growths, compactions and shrinks count migrations started; helps counts
	// units evacuated by readers. Written under mu, loaded by Stats.
	growths, compactions, shrinks, helps atomic.Uint64
	_                                    [2*cacheLine - 64]byte
}

// New returns an empty Map configured by opts. It panics with a descriptive
// message if an option is invalid, as make does for a negative size.
func New[K comparable, V any](opts ...Option) *Map[K, V] {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	m := &Map[K, V]{
		growOnly: cfg.growOnly,
		slots:    slotsFor[K, V](),
		rekey:    holdsFloats(reflect.TypeFor[K]()),
		hkind:    hashKindOf[K](),
		seed:     rand.Uint64(),
		mseed:    maphash.MakeSeed(),
	}
	if cfg.hasher != nil {
		h, ok := cfg.hasher.(func(K, uint64) uint64)
		if !ok {
			var zero K
			panic(fmt.Sprintf("shardmap: WithHasher: hasher %T does not take the map's key type %T", cfg.hasher, zero))
		}
		m.hasher, m.hkind = h, hashCustom
	}
	if cfg.entries {
		m.slots = entrySlots
	}
	shardBits := uint8(bits.Len(uint(cfg.shards - 1)))
	m.shardShift = 64 - shardBits - shardSizeLog
	m.shardOff = (1<<shardBits - 1) * shardSize
	m.shards = make([]shard[K, V], 1<<shardBits)
	m.minB = bucketsFor(cfg.presize, len(m.shards))
	if m.minB > maxPresizeB {
		panic(fmt.Sprintf("shardmap: WithPresize(%d): room for that many entries would not fit in memory", cfg.presize))
	}
	for i := range m.shards {
		m.shards[i].tbl.Store(newTable[K, V](m.minB, m.slots, false))
	}
	return m
}

// maxPresizeB bounds the table WithPresize may ask for: 2^40 buckets per
// shard is beyond any machine's memory (and keeps the bucket index below the
// tophash bits, see hash.go).
const maxPresizeB = 40

// bucketsFor returns the log2 bucket count that holds n entries spread over
// nshards shards without growing. Hashing spreads keys unevenly: a shard's
// share is binomial with mean n/nshards, so each shard gets room for its mean
// plus five standard deviations. The chance that any shard, even of a
// 65536-shard map, gets more than that is negligible.
func bucketsFor(n, nshards int) uint8 {
	mean := float64(n) / float64(nshards)
	per := int64(math.Ceil(mean + 5*math.Sqrt(mean*(1-1/float64(nshards)))))
	b := uint8(0)
	for overLoadFactor(per, b) && b <= maxPresizeB {
		b++
	}
	return b
}

// lockSlow takes the shard's mutex after a writer's TryLock found it held.
// Every writer locks with
//
//	if !s.mu.TryLock() {
//		s.lockSlow()
//	}
//
// rather than with Lock. A write holds the mutex for tens of nanoseconds,
// while sync.Mutex.Lock, finding it held, spins with PAUSE instructions for
// much longer than that before it looks again, and then parks: so lockSlow
// first looks again at once, a bounded number of times, and only then waits
// in Lock. Fairness stays sync.Mutex's: TryLock fails while the mutex is in
// starvation mode (a waiter in Lock has waited over a millisecond), so a
// retrying writer then queues in Lock behind the waiters. (The two lines are
// written out at each writer: a method holding them is over the inlining
// budget, which would put a call on every write.)
//
// At 1K keys with two goroutines (bench's test binary, before and after,
// 5 alternations, ratio of medians to xsync v4 on a 2-CPU VM): Store of
// present uint64 keys 0.83 -> 1.11, hot Compute 0.82 -> 1.12, the
// 50/25/25 mix 0.77 -> 0.91; string Store 0.71 -> 0.80.
func (s *shard[K, V]) lockSlow() {
	for range lockSpins {
		if s.mu.TryLock() {
			return
		}
	}
	s.mu.Lock()
}

// lockSpins is how many times lockSlow tries the mutex before it waits.
const lockSpins = 64

// shardFor returns the shard for hash h, whose top bits are its number
// (hash.go). One shift and one mask give the shard's byte offset (a cached
// uint64 Load: an instruction fewer than a shift, a mask and a multiply,
// callgrind).
func (m *Map[K, V]) shardFor(h uint64) *shard[K, V] {
	// Safety: the offset is masked to (len(m.shards)-1) * shardSize, the
	// start of the last shard, and shardSize is the size of a shard
	// (TestLayout). (The mask, rather than a shift by 64 for a single
	// shard, spares the shift its range check.)
	return (*shard[K, V])(unsafe.Add(unsafe.Pointer(unsafe.SliceData(m.shards)), h>>(m.shardShift&63)&m.shardOff))
}

// shardIndex returns the number of the shard for hash h: the one shardFor
// returns.
func (m *Map[K, V]) shardIndex(h uint64) int {
	return int(h >> (m.shardShift & 63) & m.shardOff / shardSize)
}

// shardSize is the size of a shard in bytes: two cache-line pairs, a power
// of two (TestLayout checks it against the struct).
const (
	shardSizeLog = 8
	shardSize    = 1 << shardSizeLog
)

// Load returns the value stored for key, and whether it was present. It
// takes no lock.
func (m *Map[K, V]) Load(key K) (value V, ok bool) {
	// The common cases, hashed here: hash is over the inlining budget.
	// Integer keys first: their test is the only one they pay.
	var h uint64
	if m.hkind == hashWord64 {
		h = mixWord(*(*uint64)(unsafe.Pointer(&key)), m.seed)
	} else if m.hkind == hashComparable {
		h = maphash.Comparable(m.mseed, key)
	} else {
		h = m.hash(key)
	}
	// The steady state (no migration in this shard) straight through: one
	// table load, one chain, and for inline slots one validated scan.
	//
	// Written for the instruction count of a cached Load. An inlined
	// method whose body has no instruction on the caller's line leaves a
	// NOP behind (the inline mark): so the table is loaded on the line of
	// the layout test, and the state word and tophash are read and computed
	// here rather than through bucketState.load and Map.tophash. A cached
	// uint64 Load: 138.6 -> 134.6-134.9 instructions, callgrind.
	if t := m.shardFor(h).tbl.Load(); m.slots != entrySlots {
		// ibucket.find, written out: a call here costs a tenth of a
		// Load of a cached key.
		var head *ibucket[K, V]
		if p := t.ifast.Load(); p != nil {
			// One piece, not migrating: a small table, likely in cache
			// already. Safety: h&mask < the array's length.
			head = (*ibucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(h&t.mask)*unsafe.Sizeof(*p)))
		} else if t.old.Load() == nil {
			// ibucket, written out: a one-piece table whose migration
			// has just ended may not have its ifast yet.
			if p := t.iflat; p != nil {
				// Safety: as above.
				head = (*ibucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(h&t.mask)*unsafe.Sizeof(*p)))
			} else {
				head = t.ipiece(h & t.mask)
				head.touch()
			}
		} else {
			return m.load(h, key)
		}
		if v := head.state.w.Load(); v&chainDirtyBit == 0 {
			top := uint8(h>>topShift) | fullTop
			// The head is never nil: the loop tests only the links,
			// starting with the head's, in v.
			for b, w := head, v; ; {
				for mt := matchTop(b.tophash.load(), top); mt != 0; mt &= mt - 1 {
					// Safety: firstLane returns 0..7 for a nonzero match word.
					p := &b.slots[firstLane(mt)&(bucketCnt-1)]
					if keyPtr[K](m.slots) {
						// A string key is compared only once its
						// copy has validated (slot_inline.go). The
						// two branches read the value alike, written
						// out in each: one shared read after either
						// compare cost a cached Load 6 instructions
						// (uint64) to 31 (string), callgrind.
						// loadStrKey, written out: the key's words
						// stay in registers (strWords).
						kp := atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(p)))
						kn := atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(p), 8)))
						switch {
						case m.slots == inlineStrPtrSlots:
							value = p.loadPtrValue()
						case p.wordValue():
							// Safety: the value is one aligned word.
							w := atomic.LoadUint64((*uint64)(unsafe.Pointer(&p.value)))
							value = *(*V)(unsafe.Pointer(&w))
						default:
							value = p.load(inlineStrSlots).value
						}
						if head.state.w.Load() != v {
							return m.load(h, key)
						}
						if k := (strWords{kp, kn}); *(*string)(unsafe.Pointer(&k)) == *(*string)(unsafe.Pointer(&key)) {
							return value, true
						}
						continue
					}
					if p.loadKey(m.slots) == key {
						// loadValue, written out (it is over the
						// inlining budget), and loadWordValue too:
						// its inline mark would cost a NOP.
						switch {
						case m.slots == inlinePtrSlots:
							value = p.loadPtrValue()
						case p.wordValue():
							// Safety: the value is one aligned word.
							w := atomic.LoadUint64((*uint64)(unsafe.Pointer(&p.value)))
							value = *(*V)(unsafe.Pointer(&w))
						default:
							value = p.load(m.slots).value
						}
						if head.state.w.Load() == v {
							return value, true
						}
						// The chain changed under the copy.
						return m.load(h, key)
					}
				}
				if w&linkMask == 0 {
					break
				}
				b = b.follow(&t.iovf, w)
				w = b.state.w.Load()
			}
			if head.state.w.Load() == v {
				return *new(V), false
			}
		}
	} else {
		// bucket.find, written out as above.
		top := uint8(h>>topShift) | fullTop
		var head *bucket[K, V]
		if p := t.fast.Load(); p != nil {
			// Safety: h&mask < the array's length.
			head = (*bucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(h&t.mask)*unsafe.Sizeof(*p)))
		} else if t.old.Load() == nil {
			if p := t.flat; p != nil { // as above
				head = (*bucket[K, V])(unsafe.Add(unsafe.Pointer(p), uintptr(h&t.mask)*unsafe.Sizeof(*p)))
			} else {
				head = t.piece(h & t.mask)
				head.touch()
			}
		} else {
			return m.load(h, key)
		}
		for b := head; ; {
			for mt := matchTop(b.tophash.load(), top); mt != 0; mt &= mt - 1 {
				// Safety: firstLane returns 0..7 for a nonzero match word.
				if e := b.slots[firstLane(mt)&(bucketCnt-1)].Load(); e != nil && e.key == key {
					return e.value, true
				}
			}
			if b = b.overflow.Load(); b == nil {
				return value, false
			}
		}
	}
	return m.load(h, key)
}

// load is Load for a key whose hash h the caller already has, for any state
// of the shard.
func (m *Map[K, V]) load(h uint64, key K) (value V, ok bool) {
	s := m.shardFor(h)
	t := s.tbl.Load()
	top := m.tophash(h)
	if m.slots != entrySlots {
		b, o, old := t.ireadChain(h)
		if old != nil && s.state.shouldHelp() {
			s.help(m)
		}
		return loadInline(b, o, top, key, t.kind)
	}
	b, old := t.readChain(h)
	if old != nil && s.state.shouldHelp() {
		s.help(m)
	}
	if e := b.find(top, key); e != nil {
		return e.value, true
	}
	return value, false
}

// Store sets the value for key.
func (m *Map[K, V]) Store(key K, value V) {
	var h uint64
	if m.hkind == hashWord64 {
		// The common case, hashed here: hash is over the inlining budget.
		h = mixWord(*(*uint64)(unsafe.Pointer(&key)), m.seed)
	} else {
		h = m.hash(key)
	}
	s := m.shardFor(h)
	if !s.mu.TryLock() {
		s.lockSlow()
	}
	// No defer: nothing between Lock and Unlock calls user code or panics.
	if !s.store(m, h, key, value) {
		var r slotRef[K, V]
		s.lookup(m, h, key, &r)
		s.set(m, &r, key, value)
	}
	s.mu.Unlock()
}

// LoadAndStore sets the value for key and returns the previous value, if
// any. loaded reports whether the key was present. Like sync.Map's Swap, and
// unlike xsync's LoadAndStore, it returns the zero value when the key was
// absent.
func (m *Map[K, V]) LoadAndStore(key K, value V) (previous V, loaded bool) {
	h := m.hash(key)
	s := m.shardFor(h)
	if !s.mu.TryLock() {
		s.lockSlow()
	}
	defer s.mu.Unlock()
	if x, ok := s.present(m, h, key); ok {
		previous = x.value(m.slots)
		x.replace(key, value, m.slots)
		return previous, true
	}
	var r slotRef[K, V]
	s.lookup(m, h, key, &r)
	s.set(m, &r, key, value)
	return r.old, r.found
}

// LoadOrStore returns the existing value for key if present. Otherwise it
// stores value and returns it. loaded reports whether the key was present.
func (m *Map[K, V]) LoadOrStore(key K, value V) (actual V, loaded bool) {
	// A hit goes through Load's fast path, and this wrapper is small
	// enough to be inlined into the caller, so a hit costs what a Load
	// does.
	if v, ok := m.Load(key); ok {
		return v, true
	}
	return m.storeAbsent(key, value, nil, false)
}

// LoadOrCompute returns the existing value for key if present. Otherwise it
// calls fn, stores its result and returns it. loaded reports whether the key
// was present.
//
// fn runs at most once, with the key's shard locked: it must not call
// methods of the same Map (that deadlocks), and it should be quick. If fn
// panics, the lock is released, nothing is stored and the panic propagates.
func (m *Map[K, V]) LoadOrCompute(key K, fn func() V) (actual V, loaded bool) {
	if v, ok := m.Load(key); ok {
		return v, true
	}
	return m.storeAbsent(key, *new(V), fn, true)
}

// storeAbsent is LoadOrStore and LoadOrCompute after Load missed: under the
// lock it looks again and, if the key is still absent, stores value, or
// with compute fn's result (a nil fn panics there, as calling it would).
//
// A miss hashes the key a second time: passing Load's hash on would mean a
// Load that calls its fast path rather than holds it, which costs every hit
// more than the second hash costs an insert.
func (m *Map[K, V]) storeAbsent(key K, value V, fn func() V, compute bool) (actual V, loaded bool) {
	h := m.hash(key)
	s := m.shardFor(h)
	if !s.mu.TryLock() {
		s.lockSlow()
	}
	defer s.mu.Unlock()
	var r slotRef[K, V]
	s.lookup(m, h, key, &r)
	if r.found {
		return r.old, true
	}
	if compute {
		value = fn()
	}
	s.set(m, &r, key, value)
	return value, false
}

// LoadAndDelete deletes the value for key, returning the previous value if
// any. loaded reports whether the key was present.
func (m *Map[K, V]) LoadAndDelete(key K) (value V, loaded bool) {
	h := m.hash(key)
	s := m.shardFor(h)
	if !s.mu.TryLock() {
		s.lockSlow()
	}
	defer s.mu.Unlock()
	if old, found, ok := s.delete(m, h, key); ok {
		return old, found
	}
	var r slotRef[K, V]
	s.lookup(m, h, key, &r)
	if !r.found {
		return value, false
	}
	s.remove(m, &r)
	return r.old, true
}

// Delete deletes the value for key.
func (m *Map[K, V]) Delete(key K) {
	m.LoadAndDelete(key)
}

// ComputeOp tells Compute what to do with the value its function returned.
type ComputeOp int

const (
	// CancelOp leaves the map as it was.
	CancelOp ComputeOp = iota
	// UpdateOp stores the returned value, inserting the key if absent.
	UpdateOp
	// DeleteOp deletes the key if present.
	DeleteOp
)

// String returns the op's name.
func (op ComputeOp) String() string {
	switch op {
	case CancelOp:
		return "CancelOp"
	case UpdateOp:
		return "UpdateOp"
	case DeleteOp:
		return "DeleteOp"
	}
	return fmt.Sprintf("ComputeOp(%d)", int(op))
}

// Compute atomically reads, then updates, deletes or keeps the value for key.
// fn receives the current value and whether the key is present, and returns
// the new value and what to do with it (UpdateOp, DeleteOp or CancelOp).
// Compute returns the value present after the operation and whether the key
// is present: (new value, true) after UpdateOp, (zero, false) after DeleteOp,
// and the old value and whether it was present after CancelOp. (xsync's
// Compute returns the deleted value after DeleteOp; this one does not.)
//
// fn runs exactly once, with the key's shard locked: it must not call methods
// of the same Map (that deadlocks), and it should be quick. If fn panics, the
// lock is released, the entry is left unchanged and the panic propagates.
// Compute panics if fn returns an op other than the three above.
func (m *Map[K, V]) Compute(key K, fn func(old V, loaded bool) (newValue V, op ComputeOp)) (actual V, ok bool) {
	h := m.hash(key)
	s := m.shardFor(h)
	if !s.mu.TryLock() {
		s.lockSlow()
	}
	defer s.mu.Unlock()
	if actual, ok, done := s.compute(m, h, key, fn); done {
		return actual, ok
	}
	var r slotRef[K, V]
	s.lookup(m, h, key, &r)
	nv, op := fn(r.old, r.found)
	switch op {
	case UpdateOp:
		s.set(m, &r, key, nv)
		return nv, true
	case DeleteOp:
		if r.found {
			s.remove(m, &r)
		}
		return actual, false
	case CancelOp:
		return r.old, r.found
	}
	panic(fmt.Sprintf("shardmap: Compute: fn returned unknown %v", op))
}

// Len returns the number of entries. It takes no lock; while other goroutines
// write, the result is the sum of per-shard counts read one after another.
func (m *Map[K, V]) Len() int {
	n := int64(0)
	for i := range m.shards {
		n += m.shards[i].count.Load()
	}
	return int(n)
}

// Clear deletes every entry. Each shard is emptied atomically; a write to a
// shard that Clear already passed survives.
func (m *Map[K, V]) Clear() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		// Readers holding the old table keep reading it; nothing writes it
		// again, so it reads as the shard did at this instant.
		s.state.setPhase(phaseIdle)
		s.nevacuate, s.noverflow = 0, 0
		s.tbl.Store(newTable[K, V](m.minB, m.slots, false))
		s.count.Store(0)
		s.mu.Unlock()
	}
}
