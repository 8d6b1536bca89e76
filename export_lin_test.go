package shardmap

import (
	"sync/atomic"
	"unsafe"
)

// Test hooks for the linearizability, fuzz and fault tests. Only _test.go
// files see these.

// HashOf returns the 64-bit hash the map computes for key.
func (m *Map[K, V]) HashOf(key K) uint64 { return m.hash(key) }

// CollisionClass returns what decides where key lives when its shard has
// 2^b buckets: the shard index, the bucket index and the tophash byte. Two
// keys with the same class share one chain and match each other's tophash,
// so every lookup of one compares the other's key.
func (m *Map[K, V]) CollisionClass(key K, b uint8) (shard int, bucket uint64, top uint8) {
	h := m.hash(key)
	return m.shardIndex(h), h & (1<<b - 1), m.tophash(h)
}

// MaxChain returns the number of buckets in the longest chain of any
// shard's current table.
func (m *Map[K, V]) MaxChain() int {
	longest := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		t := s.tbl.Load()
		for bi := range t.len() {
			if !t.allocated(bi) {
				continue
			}
			n := 0
			if t.inline() {
				for b := t.ibucket(bi); b != nil; b = b.next(&t.iovf) {
					n++
				}
			} else {
				for b := t.bucket(bi); b != nil; b = b.overflow.Load() {
					n++
				}
			}
			longest = max(longest, n)
		}
		s.mu.Unlock()
	}
	return longest
}

// StaleLoad is a deliberately broken Load for negative controls: it ignores
// the evacuated bit (invariant 2 in hmap.go) and, while the key's shard
// migrates, always reads the old chain, even after a writer has evacuated it
// and written newer values into the new array. A history that uses it must be
// rejected by the linearizability checker.
func (m *Map[K, V]) StaleLoad(key K) (value V, ok bool) {
	h := m.hash(key)
	t := m.shardFor(h).tbl.Load()
	if m.slots != entrySlots {
		b, o, old := t.ireadChain(h)
		if old != nil {
			b, o = old.ibucket(h&old.mask), &old.iovf
		}
		return loadInline(b, o, m.tophash(h), key, t.kind)
	}
	b, old := t.readChain(h)
	if old != nil {
		b = old.bucket(h & old.mask)
	}
	if e := b.find(m.tophash(h), key); e != nil {
		return e.value, true
	}
	return value, false
}

// HookedInlineLoad is an inline-layout Load that calls between once, after
// it has read the key of the slot that matches and before it reads that
// slot's value, so that a test can run writes at exactly that point. With
// validate it keeps the sequence lock of invariant 3 (the real Load's
// algorithm) and retries when the chain moved; without it, it returns what
// it read.
func (m *Map[K, V]) HookedInlineLoad(key K, validate bool, between func()) (value V, ok bool) {
	h := m.hash(key)
	t := m.shardFor(h).tbl.Load()
	head := t.ibucket(h & t.mask)
	top := m.tophash(h)
	called := false
	for {
		v := head.state.load()
		value, ok = *new(V), false
	scan:
		for b := head; b != nil; b = b.next(&t.iovf) {
			for mt := matchTop(b.tophash.load(), top); mt != 0; mt &= mt - 1 {
				if p := &b.slots[firstLane(mt)]; p.loadKey(m.slots) == key {
					if !called {
						called = true
						between()
					}
					value, ok = p.loadValue(m.slots), true
					break scan
				}
			}
		}
		if !validate || (v&chainDirtyBit == 0 && sameVersion(v, head.state.load())) {
			return value, ok
		}
	}
}

// HookedStringLoad is a Load for a string-keyed inline map (inlineStrSlots)
// that calls between once, after it has read the data pointer of a slot
// whose tophash matches and before it reads the length and value, so that a
// test can rewrite the slot at exactly that point. With validate it checks
// the copy against the chain's version before it compares the key, as the
// real Load does, and retries when the chain moved; without it, it compares
// what it read.
func (m *Map[K, V]) HookedStringLoad(key K, validate bool, between func()) (value V, ok bool) {
	h := m.hash(key)
	t := m.shardFor(h).tbl.Load()
	head := t.ibucket(h & t.mask)
	top := m.tophash(h)
	called := false
retry:
	for {
		v := head.state.load()
		for b := head; b != nil; b = b.next(&t.iovf) {
			for mt := matchTop(b.tophash.load(), top); mt != 0; mt &= mt - 1 {
				p := unsafe.Pointer(&b.slots[firstLane(mt)])
				var s islot[K, V]
				*(*unsafe.Pointer)(unsafe.Pointer(&s)) = atomic.LoadPointer((*unsafe.Pointer)(p))
				if !called {
					called = true
					between()
				}
				*(*uint64)(unsafe.Add(unsafe.Pointer(&s), 8)) = atomic.LoadUint64((*uint64)(unsafe.Add(p, 8)))
				s.value = (*islot[K, V])(p).loadValue(m.slots)
				if validate && (v&chainDirtyBit != 0 || !sameVersion(v, head.state.load())) {
					continue retry
				}
				if s.key == key {
					return s.value, true
				}
			}
		}
		if !validate || sameVersion(v, head.state.load()) {
			return value, false
		}
	}
}
