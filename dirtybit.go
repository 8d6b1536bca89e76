package shardmap

import "go.uber.org/atomic"

// This file holds the two state words the lock-free readers rely on: one per
// shard (which migration is running, plus the dirty bit) and one per bucket
// chain (evacuated, a dirty bit for wide inline writes, and a version that
// readers use as a sequence lock). Both are go.uber.org/atomic
// Uintptr values; all writes to them happen under the shard's mutex, so a
// writer uses plain Load+Store, never a CAS, except for the one reader-side
// CAS described under "dirty bit" below.
//
// # The shard state word
//
//	bits 0-1  phase: phaseIdle, phaseGrowing, phaseCompacting, phaseShrinking
//	bit  2    dirty: a writer made evacuation progress since a reader last looked
//
// The phase says which migration the shard is in. Writers set it when they
// start a migration and reset it to phaseIdle when they evacuate the last old
// bucket; Stats reads it, and writers read it to decide whether to do growWork
// and whether a new migration may start.
//
// The dirty bit answers one question for readers: "is anybody finishing this
// migration?". Migration only advances when somebody holds the shard's mutex,
// and a shard whose writers go quiet mid-migration would otherwise keep its old
// bucket array (twice the memory, for a grow) forever. Map has no background
// goroutine, so readers help, but readers must never wait and should not
// contend with writers for the mutex while writers are making progress. The
// protocol, run by a reader that finds the shard migrating:
//
//   - Writers set the dirty bit each time they evacuate (growWork).
//   - A reader that sees the bit set clears it with one CAS and does nothing
//     else: writers are making progress, and a TryLock would only bounce the
//     mutex's cache line between them.
//   - A reader that sees the bit clear knows no writer has evacuated anything
//     since some reader last cleared it. It calls TryLock (never Lock) and, if
//     that succeeds, evacuates one bucket itself, unlocks, and yields the
//     processor to any writer that blocked meanwhile (help, evacuate.go).
//
// So the decision "help or not" reads the dirty bit, and nothing else does.
// Ignore it one way (never help) and a quiet shard never drops its old array;
// ignore it the other way (always help) and readers take the mutex while
// writers are active. TestDirtyBitDecidesWhoHelps checks both directions.
//
// # The bucket state word
//
//	bit  0      evacuated: this chain belongs to an old array and has been copied
//	bit  1      dirty: a wide inline update is rewriting one of the chain's slots
//	bit  2      dup: a wide inline update has put a key's new slot before its
//	            old one and not yet retired the old one
//	bits 3-30   link: the inline layout's link to the next bucket of the
//	            chain, 0 for none (overflow.go); 64-bit platforms only
//	bits 31-    version (bits 3- on 32-bit platforms): bumped by every
//	            insert, delete and update in the chain
//
// Only a chain's head bucket uses the flags and the version; an inline
// overflow bucket's word holds just its link. Load reads the evacuated bit of
// the old bucket a key hashes to (invariant 2 in hmap.go). The version sits
// above the link, so adding versionOne leaves the link alone and a version
// that overflows wraps (after 2^33 writes to one chain, not a count a reader
// can sleep through between its two loads of the word).
//
// The version is a sequence lock, read by two kinds of reader:
//
//   - An inline Load (slot_inline.go) reads the word, copies slots, and reads
//     the word again; it keeps the copy only if the version did not move and
//     the dirty bit was clear. Skip the check and a reader can return a key
//     or value torn between two writes: TestInlineSlotsNeverTear and the
//     negative control TestLinRejectsUnvalidatedInlineReads catch it.
//   - Iteration (iter.go), in both layouts, copies a chain the same way, and
//     before yielding a copied pair looks at the word again: if the version
//     moved, the pair may have been deleted or replaced since, and it is
//     looked up afresh. A single writer operation changes at most one key's
//     slot, so a copy that overlaps one unfinished operation is still a
//     valid snapshot; two operations that reuse a slot (delete k, insert j
//     into k's slot, insert k further down) would show k twice, and that
//     always bumps the version.
//
// The chain's dirty bit is set only for an update whose value spans more than
// one word, which the writer cannot store atomically, and for which there is
// no free slot to write the new value into first: it sets the bit, stores
// the words, and then bumps the version and clears the bit with one store.
// The dup bit marks the other way of doing a wide update (moveUpdate in
// slot_inline.go) while the key briefly sits in two slots: Loads find the
// new one first and ignore the bit; a chain copy for iteration retries.

// Shard phases, stored in the low bits of the shard state word.
const (
	phaseIdle       uintptr = 0 // no old array
	phaseGrowing    uintptr = 1 // old array has half as many buckets
	phaseCompacting uintptr = 2 // same-size migration that drops overflow buckets
	phaseShrinking  uintptr = 3 // old array has twice as many buckets

	phaseMask uintptr = 3
	dirtyBit  uintptr = 1 << 2
)

// stateWord is a shard's state word. Writers update it under the shard
// mutex; readers load it, and the only reader-side store is the CAS that
// clears the dirty bit.
type stateWord struct {
	w atomic.Uintptr
}

// phase returns the migration the shard is running.
func (s *stateWord) phase() uintptr { return s.w.Load() & phaseMask }

// setPhase records a migration starting or ending. Caller holds the mutex.
// Clearing the dirty bit here makes a fresh migration start "quiet".
func (s *stateWord) setPhase(p uintptr) { s.w.Store(p) }

// markProgress sets the dirty bit after a writer evacuated. Caller holds the
// mutex. The load first keeps a busy writer from dirtying the cache line on
// every operation when the bit is already set.
func (s *stateWord) markProgress() {
	if w := s.w.Load(); w&dirtyBit == 0 {
		s.w.Store(w | dirtyBit)
	}
}

// shouldHelp is the reader's side of the protocol above: it reports whether
// no writer has evacuated since the last reader looked, clearing the bit when
// one has. It never blocks.
func (s *stateWord) shouldHelp() bool {
	w := s.w.Load()
	if w&dirtyBit == 0 {
		return true
	}
	s.w.CompareAndSwap(w, w&^dirtyBit)
	return false
}

// Bucket state word bits.
const (
	evacuatedBit  uintptr = 1 << 0
	chainDirtyBit uintptr = 1 << 1
	chainDupBit   uintptr = 1 << 2
	linkShift             = 3
	linkMask      uintptr = (1<<linkBits - 1) << linkShift
	versionOne    uintptr = 1 << (linkShift + linkBits)
)

// bucketState is the state word at the head of a bucket chain.
type bucketState struct {
	w atomic.Uintptr
}

// load returns the whole word, for the iteration sequence lock.
func (s *bucketState) load() uintptr { return s.w.Load() }

// store replaces the whole word. Caller holds the mutex.
func (s *bucketState) store(w uintptr) { s.w.Store(w) }

// evacuated reports whether the chain has been copied into the new array.
// Once true it stays true.
func (s *bucketState) evacuated() bool { return s.w.Load()&evacuatedBit != 0 }

// markEvacuated publishes that every entry of this old chain is now in the new
// array. Caller holds the mutex and has already stored every copied entry.
func (s *bucketState) markEvacuated() { s.w.Store(s.w.Load() | evacuatedBit) }

// link returns the link to the next bucket of an inline chain, 0 for none.
func (s *bucketState) link() uintptr { return s.w.Load() & linkMask >> linkShift }

// setLink stores the link to the bucket added after this one (overflow.go),
// keeping the other bits. Caller holds the mutex and has filled that bucket.
func (s *bucketState) setLink(l uintptr) { s.w.Store(s.w.Load()&^linkMask | l<<linkShift) }

// bump records a change to the chain's set of occupied slots. Caller holds the
// mutex and calls it after the change is visible.
func (s *bucketState) bump() { s.w.Store(s.w.Load() + versionOne) }

// sameVersion reports whether two loads of the word saw no change to the
// chain in between. The evacuated bit is ignored: evacuation never changes an
// old chain's slots.
func sameVersion(a, b uintptr) bool { return (a^b)&^evacuatedBit == 0 }
