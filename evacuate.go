package shardmap

import "runtime"

// Growth, compaction and shrinking, and the incremental evacuation they share.
//
// A migration starts when a writer, holding the shard's mutex, publishes a new
// table whose old field points at the current one (startMigration). From then
// on every write to the shard calls growWork before touching its key:
//
//  1. evacuate the old chain the key hashes to, so the key is written only in
//     the new array (invariant 1 in hmap.go);
//  2. evacuate the old chain at nevacuate, so the migration advances even if
//     every write hits already-evacuated chains.
//
// Evacuating a chain copies its entry pointers (no new entries are allocated)
// into the new array and then sets the chain's evacuated bit. Old slots are
// never cleared: a reader may be inside the chain.
//
// Which new chain an entry goes to:
//
//	growing     old chain j splits into new chains j and j+len(old), by the
//	            hash bit len(old); a key that is not equal to itself (NaN)
//	            hashes differently each time, so it goes by its tophash's low bit
//	compacting  old chain j goes to new chain j
//	shrinking   old chains j and j+len(new) merge into new chain j; both are
//	            evacuated in one step, so a new chain is only ever filled
//	            by a single evacuation, starting empty
//
// # Why a migration always finishes
//
// Let n be the number of evacuation units (old chains when growing or
// compacting, pairs of old chains when shrinking). Every write evacuates the
// unit at nevacuate unless an earlier write already did (step 2), and then
// moves nevacuate past it and past any units after it that were already
// evacuated out of order; so each write advances nevacuate by at least one,
// and n writes finish any migration. A
// grow starts when count exceeds 6.5*n, and the next grow needs count to
// exceed 6.5*2n, so at least 6.5n inserts, far more than n writes, happen
// before the new array can fill. A shrink starts below 6.5*n/4 entries (n old
// chains) and the new array holds n/2 chains, which are full only at 3.25n
// entries: again more than n writes away. A compaction keeps the size. No
// write evacuates more than two units, so no write copies more than two
// chains, whatever the table size.
//
// A shard that stops being written mid-migration is finished by its readers:
// a Load that finds the shard migrating and no writer progress since the last
// reader looked (the dirty bit, dirtybit.go) takes the mutex with TryLock and
// evacuates one unit. No goroutine is started and no reader ever waits.

const (
	// loadFactorNum/loadFactorDen is the average number of entries per
	// bucket that triggers growth: 6.5, as in Go's runtime map.
	loadFactorNum = 13
	loadFactorDen = 2
	// shrinkDivisor: a shard shrinks below loadFactor/shrinkDivisor entries
	// per bucket, so that the halved table sits at half the grow threshold.
	shrinkDivisor = 4
	// maxAdvance bounds how far one write moves nevacuate over chains that
	// earlier writes already evacuated out of order. Each step reads an old
	// head bucket's state word, a likely cache miss, so the bound is what
	// keeps such a write from costing a thousand misses; every write still
	// advances nevacuate by at least one, which is all the finishing
	// argument needs.
	maxAdvance = 64
)

// overLoadFactor reports whether count entries exceed the load factor for
// 2^b buckets.
func overLoadFactor(count int64, b uint8) bool {
	return count > bucketCnt && uint64(count) > loadFactorNum*((uint64(1)<<b)/loadFactorDen)
}

// tooManyOverflowBuckets reports whether a table of 2^b buckets has piled up
// enough overflow buckets to be worth compacting: as many overflow buckets as
// buckets, counting at most 2^15.
func tooManyOverflowBuckets(noverflow int, b uint8) bool {
	return noverflow >= 1<<min(b, 15)
}

// underLoadFactor reports whether count entries in 2^b buckets are few
// enough to halve the table, never below 2^minB buckets.
func underLoadFactor(count int64, b, minB uint8) bool {
	return b > minB && uint64(count)*loadFactorDen*shrinkDivisor < loadFactorNum*(uint64(1)<<b)
}

// migrating reports whether the shard has an old array. Caller holds the
// mutex.
func (s *shard[K, V]) migrating() bool { return s.state.phase() != phaseIdle }

// startMigration publishes a new table of 2^b buckets that evacuates the
// current one. Caller holds the mutex and has checked that no migration runs.
func (s *shard[K, V]) startMigration(phase uintptr, b uint8) {
	cur := s.tbl.Load()
	next := newTable[K, V](b, cur.kind, true)
	next.old.Store(cur)
	s.nevacuate = 0
	s.noverflow = 0
	s.state.setPhase(phase)
	s.tbl.Store(next)
	switch phase {
	case phaseGrowing:
		s.growths.Add(1)
	case phaseCompacting:
		s.compactions.Add(1)
	case phaseShrinking:
		s.shrinks.Add(1)
	}
}

// maybeGrow starts a grow or a compaction if inserting one more entry calls
// for it, and reports whether it did. Caller holds the mutex.
func (s *shard[K, V]) maybeGrow() bool {
	if s.migrating() {
		return false
	}
	b := s.tbl.Load().B()
	switch {
	case overLoadFactor(s.count.Load()+1, b):
		s.startMigration(phaseGrowing, b+1)
	case tooManyOverflowBuckets(s.noverflow, b):
		s.startMigration(phaseCompacting, b)
	default:
		return false
	}
	return true
}

// growDue reports whether maybeGrow would start a migration of t, the
// shard's table, before one more insert. Caller holds the mutex.
func (s *shard[K, V]) growDue(t *table[K, V]) bool {
	b := t.B()
	return overLoadFactor(s.count.Load()+1, b) || tooManyOverflowBuckets(s.noverflow, b)
}

// maybeShrink starts a shrink if deletes left the shard sparse enough.
// Caller holds the mutex.
func (s *shard[K, V]) maybeShrink(m *Map[K, V]) {
	if m.growOnly || s.migrating() {
		return
	}
	if b := s.tbl.Load().B(); underLoadFactor(s.count.Load(), b, m.minB) {
		s.startMigration(phaseShrinking, b-1)
	}
}

// growWork does a writer's share of the running migration, if any, before it
// touches the key with hash h in table t. Caller holds the mutex.
func (s *shard[K, V]) growWork(m *Map[K, V], t *table[K, V], h uint64) {
	old := t.old.Load()
	if old == nil {
		return
	}
	s.evacuate(m, t, old, h&old.mask)
	if old = t.old.Load(); old != nil {
		s.evacuate(m, t, old, s.nevacuate)
	}
	s.state.markProgress()
}

// help evacuates one unit for a reader that found the shard migrating with no
// writer progress. It never waits: if the mutex is taken, somebody else is
// already making progress.
//
// A reader that took the mutex yields the processor after releasing it. A
// writer may have blocked on the mutex meanwhile; Unlock wakes it onto this
// processor's run queue, behind the running reader, and a goroutine that
// loads in a loop may keep the processor for a whole scheduler time slice
// (10 ms) before anything preempts it. While the collector is marking, the
// other processors run its idle workers, which take no work from this queue,
// so the writer waits out the reader's slice. Growing an empty map to 4M
// uint64 keys with one writer and one reader on 2 CPUs (bench's growth
// workload), runtime/trace showed the slowest writes waiting there after a
// reader's help; yielding took the slowest write of three interleaved runs
// from 7-22 ms to 2.4-3.7 ms, for the price of a scheduler round trip per
// help. (Yielding only when a writer waits would need a writer that finds
// the mutex held to say so in a word the reader loads: one more atomic
// write on every contended lock.)
func (s *shard[K, V]) help(m *Map[K, V]) {
	if !s.mu.TryLock() {
		return
	}
	t := s.tbl.Load()
	if old := t.old.Load(); old != nil && s.evacuate(m, t, old, s.nevacuate) {
		s.helps.Add(1)
	}
	s.mu.Unlock()
	yield()
}

// yield gives up the processor; a variable so that a test can count calls.
var yield = runtime.Gosched

// evacuate copies the old chain j (when shrinking, the pair j, j+len(t)) into
// t and marks it evacuated, unless that was already done. It reports whether
// it copied anything. Caller holds the mutex.
func (s *shard[K, V]) evacuate(m *Map[K, V], t, old *table[K, V], j uint64) (copied bool) {
	units := old.len()
	if t.len() < old.len() {
		units = t.len()
		j &= t.mask
	}
	if !old.head(j).evacuated() {
		s.copyUnit(m, t, old, j, units)
		copied = true
	}
	// Advance even when the unit was already evacuated: writes evacuate
	// their own keys' units out of order, and nevacuate must still move past
	// them, or the migration would stall on a unit nobody copies again.
	if j == s.nevacuate {
		s.advance(t, old, units)
	}
	return copied
}

// copyUnit copies evacuation unit j of old into t and marks it evacuated.
// Caller holds the mutex and has checked that the unit is not evacuated.
//
//	growing     old chain j splits into new chains j and j+units by hash bit
//	compacting  old chain j goes to new chain j
//	shrinking   old chains j and j+units merge into new chain j
func (s *shard[K, V]) copyUnit(m *Map[K, V], t, old *table[K, V], j, units uint64) {
	if debugInvariants {
		defer s.debugCheck(m)
	}
	t.allocPiece(j)
	srcs, nsrc := [2]uint64{j, j + units}, 1
	split := uint64(0) // the hash bit that sends a key to j+units; 0: no split
	switch {
	case t.len() > old.len():
		t.allocPiece(j + units)
		split = units
	case t.len() < old.len():
		nsrc = 2
	}
	if t.inline() {
		x := icursor[K, V]{o: &t.iovf, head: t.ibucket(j), k: t.kind}
		y := icursor[K, V]{o: &t.iovf, k: t.kind}
		if split != 0 {
			y.head = t.ibucket(j + units)
		}
		for _, src := range srcs[:nsrc] {
			// The old chain is frozen: its slots can be read in place.
			old.ibucket(src).forEachSlot(&old.iovf, func(top uint8, sl *islot[K, V]) {
				if split != 0 && goesHigh(m, sl.loadKey(t.kind), top, split) {
					s.noverflow += y.put(top, sl)
				} else {
					s.noverflow += x.put(top, sl)
				}
			})
		}
		x.finish()
		y.finish()
	} else {
		x := cursor[K, V]{head: t.bucket(j)}
		var y cursor[K, V]
		if split != 0 {
			y.head = t.bucket(j + units)
		}
		for _, src := range srcs[:nsrc] {
			old.bucket(src).forEachSlot(func(top uint8, e *entry[K, V]) {
				if split != 0 && goesHigh(m, e.key, top, split) {
					s.noverflow += y.put(top, e)
				} else {
					s.noverflow += x.put(top, e)
				}
			})
		}
		x.finish()
		y.finish()
	}
	for _, src := range srcs[:nsrc] {
		old.head(src).markEvacuated()
	}
}

// advance moves nevacuate past evacuated units and, when none are left, ends
// the migration and drops the old array. Caller holds the mutex.
func (s *shard[K, V]) advance(t, old *table[K, V], units uint64) {
	for stop := min(s.nevacuate+maxAdvance, units); s.nevacuate < stop; s.nevacuate++ {
		if !old.head(s.nevacuate).evacuated() {
			return
		}
	}
	if s.nevacuate == units {
		t.old.Store(nil)
		t.settled()
		s.state.setPhase(phaseIdle)
	}
}

// goesHigh reports whether a key of a growing table's old chain moves to
// the upper half of the new array. units is the old bucket count.
func goesHigh[K comparable, V any](m *Map[K, V], key K, top uint8, units uint64) bool {
	if key != key {
		// NaN: its hash is random, so decide by a bit that was fixed when it
		// was stored. Iteration uses the same rule.
		return top&1 != 0
	}
	return m.hash(key)&units != 0
}

// debugCheck panics if the shard breaks an invariant. Only called when
// debugInvariants is set; caller holds the mutex.
func (s *shard[K, V]) debugCheck(m *Map[K, V]) {
	if err := s.check(m, -1); err != nil {
		panic("shardmap: invariant broken: " + err.Error())
	}
}
