package shardmap

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// debugInvariants turns on invariant checks inside the writers themselves:
// evacuation checks that its destination chains start empty, and after every
// evacuation the shard is checked in full. It makes every write
// O(n); flip it while chasing a bug, never in a release.
const debugInvariants = false

// checkInvariants locks every shard and checks the structural invariants of
// hmap.go, returning every violation found. Tests call it through
// export_test.go after each step of a model run.
func (m *Map[K, V]) checkInvariants() error {
	var errs []error
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		if err := s.check(m, i); err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", i, err))
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// check verifies shard number idx (-1: unknown, skip the shard test). Caller
// holds the mutex.
func (s *shard[K, V]) check(m *Map[K, V], idx int) error {
	t := s.tbl.Load()
	old := t.old.Load()
	if (old != nil) != s.migrating() {
		return fmt.Errorf("phase %d but old array present = %v", s.state.phase(), old != nil)
	}
	if want := old == nil; (t.ifast.Load() != nil) != (want && t.iflat != nil) || (t.fast.Load() != nil) != (want && t.flat != nil) {
		return fmt.Errorf("one-piece array published for Load's fast path = %v, %v; migrating = %v", t.ifast.Load() != nil, t.fast.Load() != nil, old != nil)
	}
	// Count the live entries: those of evacuated units in t, plus those of
	// unevacuated old chains.
	live := int64(0)
	novf := 0 // inline overflow buckets reached from t's chains
	for bi := range t.len() {
		fromOld := old != nil && !sourceEvacuated(t, old, bi)
		if !t.allocated(bi) {
			if !fromOld {
				return fmt.Errorf("bucket %d: piece missing, yet its old chain is evacuated", bi)
			}
			continue
		}
		n, nb, err := checkChain(m, t, bi, idx)
		if err != nil {
			return fmt.Errorf("bucket %d: %w", bi, err)
		}
		novf += nb
		if fromOld {
			if n != 0 {
				return fmt.Errorf("bucket %d holds %d entries before its old chain is evacuated", bi, n)
			}
			continue
		}
		live += int64(n)
	}
	if err := checkOverflowCount(t, novf); err != nil {
		return err
	}
	if old != nil {
		oldovf := 0
		for oi := range old.len() {
			n, nb, err := checkChain(m, old, oi, idx)
			if err != nil {
				return fmt.Errorf("old bucket %d: %w", oi, err)
			}
			oldovf += nb
			if !old.head(oi).evacuated() {
				unit := oi
				if t.len() < old.len() {
					unit &= t.mask // shrinking: pairs oi, oi+len(t)
				}
				if unit < s.nevacuate {
					return fmt.Errorf("old bucket %d is not evacuated, yet nevacuate is %d", oi, s.nevacuate)
				}
				live += int64(n)
			}
		}
		if err := checkOverflowCount(old, oldovf); err != nil {
			return fmt.Errorf("old array: %w", err)
		}
	}
	if c := s.count.Load(); c != live {
		return fmt.Errorf("count %d, but %d live entries", c, live)
	}
	return nil
}

// checkOverflowCount checks that the chains of inline table t reach every
// overflow bucket it handed out: n of them, each reached once (checkChain).
func checkOverflowCount[K comparable, V any](t *table[K, V], n int) error {
	if t.inline() && n != t.iovf.count() {
		return fmt.Errorf("chains reach %d overflow buckets, the table has %d", n, t.iovf.count())
	}
	return nil
}

// sourceEvacuated reports whether the old chain(s) feeding new bucket bi are
// evacuated.
func sourceEvacuated[K comparable, V any](t, old *table[K, V], bi uint64) bool {
	if t.len() > old.len() {
		bi &= old.mask
	}
	return old.head(bi).evacuated()
}

// checkChain verifies chain bi of table t: tophash bytes and slots agree,
// each key sits in the right bucket and (unless shardIdx < 0) the right
// shard, no key appears twice, no wide inline update was left marked, no
// empty slot keeps a pointer value alive, and inline links name overflow
// buckets the table has, whose state words hold nothing but their links. It
// returns the number of entries and of inline overflow buckets.
func checkChain[K comparable, V any](m *Map[K, V], t *table[K, V], bi uint64, shardIdx int) (n, nb int, err error) {
	if t.head(bi).load()&(chainDirtyBit|chainDupBit) != 0 {
		return 0, 0, errors.New("chain left marked as being written")
	}
	seen := make(map[K]struct{})
	check := func(top uint8, key K) error {
		n++
		if key != key {
			return nil // NaN: random hash, nothing to check
		}
		h := m.hash(key)
		if top != m.tophash(h) {
			return fmt.Errorf("key %v: tophash %#x, want %#x", key, top, m.tophash(h))
		}
		if got := m.shardIndex(h); shardIdx >= 0 && len(m.shards) > 1 && got != shardIdx {
			return fmt.Errorf("key %v in shard %d, hashes to shard %d", key, shardIdx, got)
		}
		if h&t.mask != bi {
			return fmt.Errorf("key %v in bucket %d, hashes to %d", key, bi, h&t.mask)
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("key %v twice in one chain", key)
		}
		seen[key] = struct{}{}
		return nil
	}
	if t.inline() {
		head := t.ibucket(bi)
		for b := head; b != nil; b = b.next(&t.iovf) {
			if b != head {
				if nb++; nb > t.iovf.count() {
					return n, nb, fmt.Errorf("chain of over %d overflow buckets, all the table has: a cycle", t.iovf.count())
				}
				if w := b.state.load(); w&^linkMask != 0 {
					return n, nb, fmt.Errorf("overflow bucket %d: state word %#x holds more than a link", nb, w)
				}
			}
			if l := b.state.link(); l != 0 && !t.iovf.valid(l) {
				return n, nb, fmt.Errorf("link %#x names no overflow bucket of the table", l)
			}
			word := b.tophash.load()
			for i := range bucketCnt {
				if top := topAt(word, i); top != emptyTop {
					if err := check(top, b.slots[i].loadKey(t.kind)); err != nil {
						return n, nb, err
					}
				} else {
					for off := uintptr(0); off < unsafe.Sizeof(b.slots[i]); off += 8 {
						if b.slots[i].ptrWord(t.kind, off) && atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(&b.slots[i]), off))) != nil {
							return n, nb, fmt.Errorf("empty slot %d still holds a pointer (value, or string key's bytes) at %d", i, off)
						}
					}
				}
			}
		}
		return n, nb, nil
	}
	for b := t.bucket(bi); b != nil; b = b.overflow.Load() {
		word := b.tophash.load()
		for i := range bucketCnt {
			top, e := topAt(word, i), b.slots[i].Load()
			if (top == emptyTop) != (e == nil) {
				return n, 0, fmt.Errorf("slot %d: tophash %#x but entry present = %v", i, top, e != nil)
			}
			if e != nil {
				if err := check(top, e.key); err != nil {
					return n, 0, err
				}
			}
		}
	}
	return n, 0, nil
}
