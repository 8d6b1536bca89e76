package shardmap

// Test hooks into the map's internals. Only _test.go files see these.

import "unsafe"

// CheckInvariants locks every shard and checks the invariants of hmap.go.
func (m *Map[K, V]) CheckInvariants() error { return m.checkInvariants() }

// Phases for StartMigration.
const (
	Grow    = phaseGrowing
	Compact = phaseCompacting
	Shrink  = phaseShrinking
)

// StartMigration starts a migration of the given phase in key's shard, as if
// a write had triggered it, and evacuates nothing. It reports false if a
// migration is already running or the shard is too small to shrink.
func (m *Map[K, V]) StartMigration(key K, phase uintptr) bool {
	s := m.shardFor(m.hash(key))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.migrating() {
		return false
	}
	b := s.tbl.Load().B()
	switch phase {
	case Grow:
		b++
	case Shrink:
		if b == 0 {
			return false
		}
		b--
	}
	s.startMigration(phase, b)
	return true
}

// EvacuateNext evacuates the next unit of key's shard, as a reader's help
// would, and reports whether the shard is still migrating afterwards.
func (m *Map[K, V]) EvacuateNext(key K) bool {
	s := m.shardFor(m.hash(key))
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tbl.Load()
	if old := t.old.Load(); old != nil {
		s.evacuate(m, t, old, s.nevacuate)
	}
	return s.migrating()
}

// ReadsOld reports whether a Load of key right now reads a frozen old chain.
func (m *Map[K, V]) ReadsOld(key K) bool {
	h := m.hash(key)
	t := m.shardFor(h).tbl.Load()
	if m.slots != entrySlots {
		b, _, old := t.ireadChain(h)
		return old != nil && b == old.ibucket(h&old.mask)
	}
	b, old := t.readChain(h)
	return old != nil && b == old.bucket(h&old.mask)
}

// HoldShard locks key's shard's mutex, as a writer would, and returns the
// function that unlocks it.
func (m *Map[K, V]) HoldShard(key K) (release func()) {
	s := m.shardFor(m.hash(key))
	s.mu.Lock()
	return s.mu.Unlock
}

// ShardMigrating reports whether key's shard has an old array.
func (m *Map[K, V]) ShardMigrating(key K) bool {
	return m.shardFor(m.hash(key)).tbl.Load().old.Load() != nil
}

// ShardHelps returns how many units readers evacuated in key's shard.
func (m *Map[K, V]) ShardHelps(key K) uint64 {
	return m.shardFor(m.hash(key)).helps.Load()
}

// PiecesAllocated returns how many pieces of its current table key's shard
// has allocated.
func (m *Map[K, V]) PiecesAllocated(key K) int {
	s := m.shardFor(m.hash(key))
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tbl.Load()
	n := 0
	for _, p := range t.pieces {
		if p != nil {
			n++
		}
	}
	for _, p := range t.ipieces {
		if p != nil {
			n++
		}
	}
	return n
}

// BucketAddrs returns the address of every head bucket of key's shard's
// current table, in index order, and the size of a bucket. Every piece must
// be allocated.
func (m *Map[K, V]) BucketAddrs(key K) (addrs []uintptr, size uintptr) {
	s := m.shardFor(m.hash(key))
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tbl.Load()
	for i := range t.len() {
		if t.inline() {
			addrs = append(addrs, uintptr(unsafe.Pointer(t.ibucket(i))))
			size = unsafe.Sizeof(ibucket[K, V]{})
		} else {
			addrs = append(addrs, uintptr(unsafe.Pointer(t.bucket(i))))
			size = unsafe.Sizeof(bucket[K, V]{})
		}
	}
	return addrs, size
}

// mix64 is a bijective 64-bit mixer (a splitmix64 finalizer) for test
// hashers built from uint64 keys.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// A TestHasher is a named hash function for uint64 keys (nil means the
// default hasher) together with a slot layout.
type TestHasher struct {
	Name string
	Fn   func(key, seed uint64) uint64
	// Entries selects the entry layout instead of the inline one that
	// uint64 keys and values get by default.
	Entries bool
	// Boxed makes the model suite drive a Map[uint64, *uint64] instead
	// (newUintMap), whose values are pointers kept inline.
	Boxed bool
	// Str makes the model suite drive a Map[string, uint64] instead
	// (newUintMap), whose keys are strings kept inline; Fn then hashes the
	// number each key spells (strKey).
	Str bool
}

// Options returns the options that install the hasher and the layout.
func (h TestHasher) Options() []Option {
	var opts []Option
	if h.Fn != nil {
		opts = append(opts, h.hasher(h.Fn))
	}
	if h.Entries {
		opts = append(opts, withEntryLayout())
	}
	return opts
}

// WithEntryLayout forces the entry layout (slot_entry.go) for tests.
var WithEntryLayout = withEntryLayout

// Inline reports whether the map uses the inline layout.
func (m *Map[K, V]) Inline() bool { return m.slots != entrySlots }

// testHashFns are the hash functions every model suite runs against:
//   - default: the real maphash hasher;
//   - constant: every key in one shard, one chain, one tophash (Go's
//     hashtriemap_test "bad hash");
//   - splitbit: keys differ only in hash bit 2, so every key shares one
//     chain until a shard has 8 buckets, and then each growth from 4 to 8
//     buckets splits that chain in two;
//   - lowbits: keys differ only in the low 6 bits: one shard, one tophash,
//     chains that split at every growth up to 64 buckets.
var testHashFns = []TestHasher{
	{Name: "default"},
	{Name: "constant", Fn: func(uint64, uint64) uint64 { return 0 }},
	{Name: "splitbit", Fn: func(k, seed uint64) uint64 { return mix64(k^seed) & (1 << 2) }},
	{Name: "lowbits", Fn: func(k, seed uint64) uint64 { return mix64(k^seed) & 63 }},
}

// TestHashers is every hash function of testHashFns in each slot layout:
// the set every model suite runs against.
var TestHashers = func() []TestHasher {
	var hs []TestHasher
	for _, entries := range []bool{false, true} {
		for _, h := range testHashFns {
			h.Entries = entries
			if entries {
				h.Name += "/entry"
			} else {
				h.Name += "/inline"
			}
			hs = append(hs, h)
		}
	}
	return hs
}()

// ModelHashers is TestHashers plus every hasher over boxed values (the
// inlinePtrSlots kind), over string keys (inlineStrSlots) and over both
// (inlineStrPtrSlots): the set the
// rapid model, the concurrent rapid properties and the linearizability
// scenarios run against.
var ModelHashers = func() []TestHasher {
	hs := append([]TestHasher(nil), TestHashers...)
	for _, h := range testHashFns {
		h.Boxed = true
		h.Name += "/ptr"
		hs = append(hs, h)
	}
	for _, h := range testHashFns {
		h.Str = true
		h.Name += "/str"
		hs = append(hs, h)
	}
	for _, h := range testHashFns {
		h.Str, h.Boxed = true, true
		h.Name += "/strptr"
		hs = append(hs, h)
	}
	return hs
}()

// hasher returns the WithHasher option for fn in h's key type: fn itself
// for uint64 keys, or with Str fn of the number a string key spells.
func (h TestHasher) hasher(fn func(key, seed uint64) uint64) Option {
	if h.Str {
		return WithHasher(func(k string, seed uint64) uint64 { return fn(strKeyValue(k), seed) })
	}
	return WithHasher(fn)
}

// LockShard locks key's shard as a writer would and returns the unlock
// function. While it is held no evacuation can happen in that shard, neither
// by writers nor by helping readers, and Load must still answer.
func (m *Map[K, V]) LockShard(key K) (unlock func()) {
	s := m.shardFor(m.hash(key))
	s.mu.Lock()
	return s.mu.Unlock
}
