package shardmap

import (
	"fmt"
	"sync/atomic"
)

// The write fast paths: the common writes, in a shard that is not migrating,
// made without lookup's slotRef. lookup fills a slotRef with everything any
// write might need (the table, the key's position, the first empty slot and
// the chain's last bucket, for either layout) and set and remove act on it,
// which costs an update or a delete of a cached key about a third of its
// instructions. The fast paths find the slot with one scan and make the
// write themselves:
//
//   - present finds a key for an update that is one store (a new entry, or
//     one word), for LoadAndStore; hit.replace makes it.
//   - store is Store: such an update, or an insert into the first empty
//     slot of the key's chain that starts no migration (growDue).
//   - delete is LoadAndDelete.
//   - compute is Compute on a present key: fn, then such an update, or a
//     delete.
//
// Invariant: a fast path makes the same stores, in the same order, as the
// general path would for the same write (set, remove, and the slot
// protocols of slot_entry.go and slot_inline.go), so readers, iteration and
// the invariants of hmap.go cannot tell which path wrote. A fast path that
// cannot make its write reports so before it changes anything, and the
// caller takes the general path. Only the general path evacuates, so a
// shard that is migrating always takes it.
//
// The tests: every model and concurrency suite runs through both paths, as
// a write takes whichever applies; TestInsertsGrowOnTime fails if store's
// inserts skip the growth check, and TestCompaction if they skip the
// overflow check.

// hit is where present found a key: its slot, p in the entry layout or ip
// in the inline one, and the state word of its chain's head.
type hit[K comparable, V any] struct {
	p     *atomic.Pointer[entry[K, V]]
	ip    *islot[K, V]
	state *bucketState
}

// present is the fast path of a write to a key that is already there, in a
// shard that is not migrating: it finds the key's slot, for hit.replace,
// without the bookkeeping for an insert that lookup does. It reports false
// if the shard is migrating (a write must then do its share of the
// evacuation), if the key is absent, or if an update in this layout is more
// than one store (an inline value wider than a word, or a key type with
// floats, whose update rewrites the key too); the caller then takes lookup's
// path. Caller holds the mutex.
func (s *shard[K, V]) present(m *Map[K, V], h uint64, key K) (x hit[K, V], ok bool) {
	t := s.tbl.Load()
	if t.old.Load() != nil {
		return x, false
	}
	if m.slots == entrySlots {
		head := t.bucket(h & t.mask)
		b, i := head.slot(m.tophash(h), key)
		if b == nil {
			return x, false
		}
		// Safety: slot returns a lane, 0..7.
		x.p, x.state = &b.slots[i&(bucketCnt-1)], &head.state
		return x, true
	}
	if !m.oneStoreUpdates() {
		return x, false
	}
	head := t.ibucket(h & t.mask)
	b, i := head.slot(&t.iovf, m.tophash(h), key, m.slots)
	if b == nil {
		return x, false
	}
	// Safety: slot returns a lane, 0..7.
	x.ip, x.state = &b.slots[i&(bucketCnt-1)], &head.state
	return x, true
}

// value returns the value in x's slot. Caller holds the mutex.
func (x hit[K, V]) value(k slotKind) V {
	switch {
	case x.p != nil:
		return x.p.Load().value
	case valuePtr(k):
		return x.ip.loadPtrValue()
	}
	return x.ip.loadWordValue() // present checked wordValue
}

// replace stores value for key in x's slot, with one store that readers see
// whole (a new entry, or the value's word), and bumps the chain's version so
// that Range sees the change (iter.go). Caller holds the mutex.
func (x hit[K, V]) replace(key K, value V, k slotKind) {
	if x.p != nil {
		x.p.Store(&entry[K, V]{key, value})
	} else {
		x.ip.storeValue(value, k)
	}
	x.state.bump()
}

// oneStoreUpdates reports whether an update of a present key in an inline
// slot is one store: when the value is one word and the key holds no floats
// (whose update rewrites the key too), the case iposition.update makes with
// hit.replace. An update of an entry slot always is (a new entry). A
// constant per Map.
func (m *Map[K, V]) oneStoreUpdates() bool {
	return !m.rekey && (*islot[K, V])(nil).wordValue()
}

// store is Store's fast path, for a shard that is not migrating: an update
// that present would take, or an insert into an empty slot of the key's
// chain that starts no migration. It reports false, having changed nothing,
// for any other write, which the caller then makes through lookup and set.
// Caller holds the mutex.
func (s *shard[K, V]) store(m *Map[K, V], h uint64, key K, value V) bool {
	t := s.tbl.Load()
	if t.old.Load() != nil {
		return false
	}
	top := m.tophash(h)
	if m.slots == entrySlots {
		head := t.bucket(h & t.mask)
		if b, i := head.slot(top, key); b != nil {
			// Safety: slot returns a lane, 0..7.
			b.slots[i&(bucketCnt-1)].Store(&entry[K, V]{key, value}) // as hit.replace
			head.state.bump()
			return true
		}
		free, fi := head.free()
		if free == nil || s.growDue(t) {
			return false
		}
		(&position[K, V]{free: free, fi: fi}).put(top, &entry[K, V]{key, value})
		head.state.bump()
		s.count.Add(1)
		return true
	}
	head := t.ibucket(h & t.mask)
	k := m.slots
	if b, i := head.slot(&t.iovf, top, key, k); b != nil {
		if !m.oneStoreUpdates() {
			return false
		}
		// Safety: slot returns a lane, 0..7.
		b.slots[i&(bucketCnt-1)].storeValue(value, k) // as hit.replace
		head.state.bump()
		return true
	}
	free, fi := head, 0 // the head's first empty slot, else freeAfter's
	if m := matchEmpty(head.tophash.load()); m != 0 {
		fi = firstLane(m)
	} else {
		free, fi = head.freeAfter(&t.iovf)
	}
	if free == nil || s.growDue(t) {
		return false
	}
	free.fill(fi, top, key, value, k) // as iposition.put
	head.state.bump()
	s.count.Add(1)
	return true
}

// delete is LoadAndDelete's fast path, for a shard that is not migrating:
// it finds the key's slot without filling a slotRef, and empties it and
// starts a shrink if one is due, as remove does. It returns the value the
// key had and whether it was present; ok false means the shard is migrating
// (a write must then do its share of the evacuation), nothing changed, and
// the caller takes lookup's path. Caller holds the mutex.
func (s *shard[K, V]) delete(m *Map[K, V], h uint64, key K) (old V, found, ok bool) {
	t := s.tbl.Load()
	if t.old.Load() != nil {
		return old, false, false
	}
	top := m.tophash(h)
	if m.slots == entrySlots {
		head := t.bucket(h & t.mask)
		b, i := head.slot(top, key)
		if b == nil {
			return old, false, true
		}
		// Safety: slot returns a lane, 0..7.
		old = b.slots[i&(bucketCnt-1)].Load().value
		(&position[K, V]{b: b, i: i}).clear()
		head.state.bump()
	} else {
		head := t.ibucket(h & t.mask)
		b, i := head.slot(&t.iovf, top, key, m.slots)
		if b == nil {
			return old, false, true
		}
		k := m.slots
		// Safety: slot returns a lane, 0..7.
		old = b.slots[i&(bucketCnt-1)].loadValue(k)
		(&iposition[K, V]{b: b, i: i}).clear(head, k)
	}
	s.count.Add(-1)
	s.maybeShrink(m)
	return old, true, true
}

// compute is Compute's fast path, for a key that is present in a shard that
// is not migrating and whose update is one store: it calls fn with the
// key's value and makes the write fn asks for, as store and delete do. It
// reports done false, having neither called fn nor changed anything, for
// any other key, which the caller then takes through lookup. It panics, as
// Compute does, if fn returns an unknown op, having changed nothing.
func (s *shard[K, V]) compute(m *Map[K, V], h uint64, key K, fn func(V, bool) (V, ComputeOp)) (actual V, ok, done bool) {
	t := s.tbl.Load()
	if t.old.Load() != nil {
		return actual, false, false
	}
	top := m.tophash(h)
	var old V
	var op ComputeOp
	if m.slots == entrySlots {
		head := t.bucket(h & t.mask)
		b, i := head.slot(top, key)
		if b == nil {
			return actual, false, false
		}
		// Safety: slot returns a lane, 0..7.
		p := &b.slots[i&(bucketCnt-1)]
		old = p.Load().value
		switch actual, op = fn(old, true); op {
		case UpdateOp:
			p.Store(&entry[K, V]{key, actual}) // as hit.replace
			head.state.bump()
			return actual, true, true
		case DeleteOp:
			(&position[K, V]{b: b, i: i}).clear() // as delete
			head.state.bump()
		}
	} else {
		if !m.oneStoreUpdates() {
			return actual, false, false
		}
		head := t.ibucket(h & t.mask)
		b, i := head.slot(&t.iovf, top, key, m.slots)
		if b == nil {
			return actual, false, false
		}
		k := m.slots
		// Safety: slot returns a lane, 0..7.
		p := &b.slots[i&(bucketCnt-1)]
		old = p.loadValue(k)
		switch actual, op = fn(old, true); op {
		case UpdateOp:
			p.storeValue(actual, k) // as hit.replace
			head.state.bump()
			return actual, true, true
		case DeleteOp:
			(&iposition[K, V]{b: b, i: i}).clear(head, k) // as delete
		}
	}
	switch op {
	case DeleteOp:
		s.count.Add(-1)
		s.maybeShrink(m)
		return *new(V), false, true
	case CancelOp:
		return old, true, true
	}
	panic(fmt.Sprintf("shardmap: Compute: fn returned unknown %v", op))
}
