package shardmap

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Property tests with pgregory.net/rapid. The state machines (uint64 and
// float64 keys) drive a Map and a plain Go map side by side, check every
// return value against the Go map and the Map's structural invariants after
// every step, and interleave operations with migrations started and advanced
// by hand. The concurrent properties run scripts drawn up front in several
// goroutines and check what each goroutine can know exactly (its own keys),
// what any interleaving must satisfy (shared keys, a counter), and that
// iteration never repeats or misses a key while chains change under it.

const (
	// rapidKeyMax bounds the keys of single-key actions, so that deletes and
	// updates often hit keys that are present.
	rapidKeyMax = 300
	// rapidBurstLoMax and rapidBurstMax bound the key range of bursts, which
	// insert or delete many keys at once to push shards through growth,
	// compaction and shrinking.
	rapidBurstLoMax = 2000
	rapidBurstMax   = 400
	// rapidMaxHandBuckets caps the total bucket count at which hand-started
	// growths are still allowed, so that the tables stay small.
	rapidMaxHandBuckets = 1024
	// churnKeyBase is the first key Churn and fillAndDrain insert; no other
	// action of the model test uses keys this large.
	churnKeyBase = 1 << 20
	// churnFillBuckets is the largest total bucket count at which Churn
	// first fills the map up.
	churnFillBuckets = 64
)

// migrationTally counts, across all runs of one rapid.Check, what the runs
// exercised. The test fails after rapid.Check if a suite never exercised
// something it is meant to cover. rapid runs the property sequentially, so
// the fields need no synchronization.
type migrationTally struct {
	runs int
	// growths, compactions and shrinks count migrations the map started by
	// itself: Stats counters minus those started through StartMigration.
	growths, compactions, shrinks uint64
	// handGrowths, handCompactions and handShrinks count migrations started
	// through StartMigration.
	handGrowths, handCompactions, handShrinks uint64
	// opsMidMigration counts single-key operations issued while the key's
	// shard was migrating.
	opsMidMigration uint64
	// oldReads counts Loads that read a frozen old chain.
	oldReads uint64
	// finished counts migrations driven to completion with EvacuateNext.
	finished uint64
}

// add folds one run's Stats into the tally; hand holds the migrations the
// run started through StartMigration, indexed by phase.
func (mt *migrationTally) add(st Stats, hand [4]uint64) {
	mt.runs++
	mt.growths += st.Growths - hand[Grow]
	mt.compactions += st.Compactions - hand[Compact]
	mt.shrinks += st.Shrinks - hand[Shrink]
	mt.handGrowths += hand[Grow]
	mt.handCompactions += hand[Compact]
	mt.handShrinks += hand[Shrink]
}

// String formats the tally for test logs.
func (mt *migrationTally) String() string {
	return fmt.Sprintf("runs=%d growths=%d compactions=%d shrinks=%d hand(grow=%d compact=%d shrink=%d) opsMidMigration=%d oldReads=%d finished=%d",
		mt.runs, mt.growths, mt.compactions, mt.shrinks, mt.handGrowths, mt.handCompactions, mt.handShrinks,
		mt.opsMidMigration, mt.oldReads, mt.finished)
}

// drawOptions draws the construction options of one run: h's hasher, a
// shard count from shards, sometimes WithGrowOnly, sometimes a small
// WithPresize. It also reports whether it chose WithGrowOnly.
//
// A test hasher gets a drawn seed in place of the Map's random one, so that
// rapid replays a failing run with the same layout when it shrinks or
// reproduces it. The default hasher's seed cannot be chosen: its failures
// may not replay.
func drawOptions(t *rapid.T, h TestHasher, shards []int) (opts []Option, growOnly bool) {
	if h.Fn != nil {
		seed := rapid.Uint64().Draw(t, "hashSeed")
		opts = append(opts, h.hasher(func(k, _ uint64) uint64 { return h.Fn(k, seed) }))
	}
	if h.Entries {
		opts = append(opts, withEntryLayout())
	}
	opts = append(opts, WithShards(rapid.SampledFrom(shards).Draw(t, "shards")))
	growOnly = rapid.IntRange(0, 3).Draw(t, "growOnly") == 0
	if growOnly {
		opts = append(opts, WithGrowOnly())
	}
	if rapid.IntRange(0, 3).Draw(t, "presize?") == 0 {
		opts = append(opts, WithPresize(rapid.IntRange(1, 100).Draw(t, "presize")))
	}
	return opts, growOnly
}

// uintMachine runs one model-based test of a Map[uint64, uint64].
type uintMachine struct {
	m     uintMap
	model map[uint64]uint64
	tally *migrationTally
	// hand counts migrations started through StartMigration, by phase.
	hand [4]uint64
	// fresh numbers the keys Churn and fillAndDrain insert, from
	// churnKeyBase up.
	fresh uint64
}

// drawKey draws a key from the small key space of single-key actions.
func drawKey(t *rapid.T) uint64 {
	return rapid.Uint64Range(0, rapidKeyMax).Draw(t, "key")
}

// note records whether an operation on key is about to run while key's shard
// is migrating.
func (sm *uintMachine) note(key uint64) {
	if sm.m.ShardMigrating(key) {
		sm.tally.opsMidMigration++
	}
}

// fataler is the part of rapid.T the model helpers use. They compare with
// plain ifs and skip t.Helper, both costly in loops of thousands of
// operations.
type fataler interface {
	Fatalf(format string, args ...any)
}

// checkLoad checks Load(key) against the model.
func (sm *uintMachine) checkLoad(t fataler, key uint64) {
	want, wantOK := sm.model[key]
	if got, ok := sm.m.Load(key); ok != wantOK || got != want {
		t.Fatalf("Load(%d) = %d, %v; model %d, %v", key, got, ok, want, wantOK)
	}
}

// store runs Store, LoadOrStore, LoadAndStore or Compute(UpdateOp), chosen
// by how, and checks the result against the model.
func (sm *uintMachine) store(t fataler, how int, key, val uint64) {
	old, present := sm.model[key]
	switch how % 4 {
	case 0:
		sm.m.Store(key, val)
	case 1:
		want := val
		if present {
			want = old
		}
		if actual, loaded := sm.m.LoadOrStore(key, val); loaded != present || actual != want {
			t.Fatalf("LoadOrStore(%d, %d) = %d, %v; model %d, %v", key, val, actual, loaded, old, present)
		}
		if present {
			return
		}
	case 2:
		if prev, loaded := sm.m.LoadAndStore(key, val); loaded != present || prev != old {
			t.Fatalf("LoadAndStore(%d, %d) = %d, %v; model %d, %v", key, val, prev, loaded, old, present)
		}
	case 3:
		actual, ok := sm.m.Compute(key, func(uint64, bool) (uint64, ComputeOp) { return val, UpdateOp })
		if !ok || actual != val {
			t.Fatalf("Compute(%d, UpdateOp with %d) = %d, %v", key, val, actual, ok)
		}
	}
	sm.model[key] = val
}

// remove runs Delete, LoadAndDelete or Compute(DeleteOp), chosen by how, and
// checks the result against the model.
func (sm *uintMachine) remove(t fataler, how int, key uint64) {
	old, present := sm.model[key]
	switch how % 3 {
	case 0:
		sm.m.Delete(key)
	case 1:
		if prev, loaded := sm.m.LoadAndDelete(key); loaded != present || prev != old {
			t.Fatalf("LoadAndDelete(%d) = %d, %v; model %d, %v", key, prev, loaded, old, present)
		}
	case 2:
		actual, ok := sm.m.Compute(key, func(uint64, bool) (uint64, ComputeOp) { return 12345, DeleteOp })
		if ok || actual != 0 {
			t.Fatalf("Compute(%d, DeleteOp) = %d, %v", key, actual, ok)
		}
	}
	delete(sm.model, key)
}

// checkRange checks that Range yields exactly the model's contents, no key
// twice.
func (sm *uintMachine) checkRange(t *rapid.T) {
	got := make(map[uint64]uint64, len(sm.model))
	sm.m.Range(func(k, v uint64) bool {
		if _, dup := got[k]; dup {
			t.Fatalf("Range yielded key %d twice", k)
		}
		got[k] = v
		return true
	})
	require.Equal(t, sm.model, got, "Range contents")
}

// singleKeyOps returns the actions that operate on one key drawn from
// 0..rapidKeyMax.
func (sm *uintMachine) singleKeyOps() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"Store": func(t *rapid.T) {
			k, v := drawKey(t), rapid.Uint64().Draw(t, "val")
			sm.note(k)
			sm.store(t, 0, k, v)
		},
		"LoadOrStore": func(t *rapid.T) {
			k, v := drawKey(t), rapid.Uint64().Draw(t, "val")
			sm.note(k)
			sm.store(t, 1, k, v)
		},
		"LoadAndStore": func(t *rapid.T) {
			k, v := drawKey(t), rapid.Uint64().Draw(t, "val")
			sm.note(k)
			sm.store(t, 2, k, v)
		},
		"Load": func(t *rapid.T) {
			k := drawKey(t)
			sm.note(k)
			if sm.m.ReadsOld(k) {
				sm.tally.oldReads++
			}
			sm.checkLoad(t, k)
		},
		"Delete": func(t *rapid.T) {
			k := drawKey(t)
			sm.note(k)
			sm.remove(t, 0, k)
		},
		"LoadAndDelete": func(t *rapid.T) {
			k := drawKey(t)
			sm.note(k)
			sm.remove(t, 1, k)
		},
		"Compute": func(t *rapid.T) {
			k := drawKey(t)
			op := rapid.SampledFrom([]ComputeOp{UpdateOp, DeleteOp, CancelOp}).Draw(t, "op")
			nv := rapid.Uint64().Draw(t, "val")
			old, present := sm.model[k]
			sm.note(k)
			calls := 0
			var gotOld uint64
			var gotLoaded bool
			actual, ok := sm.m.Compute(k, func(o uint64, loaded bool) (uint64, ComputeOp) {
				calls++
				gotOld, gotLoaded = o, loaded
				return nv, op
			})
			require.Equal(t, 1, calls, "Compute(%d) fn calls", k)
			require.Equal(t, present, gotLoaded, "Compute(%d) fn loaded", k)
			require.Equal(t, old, gotOld, "Compute(%d) fn old", k)
			switch op {
			case UpdateOp:
				require.True(t, ok)
				require.Equal(t, nv, actual)
				sm.model[k] = nv
			case DeleteOp:
				require.False(t, ok)
				require.Zero(t, actual)
				delete(sm.model, k)
			case CancelOp:
				require.Equal(t, present, ok)
				require.Equal(t, old, actual)
			}
			sm.checkLoad(t, k)
		},
		"ComputePanics": func(t *rapid.T) {
			k := drawKey(t)
			badOp := rapid.Bool().Draw(t, "badOp")
			sm.note(k)
			r := func() (r any) {
				defer func() { r = recover() }()
				sm.m.Compute(k, func(uint64, bool) (uint64, ComputeOp) {
					if badOp {
						return 99, ComputeOp(7)
					}
					panic("fn panics")
				})
				return nil
			}()
			require.NotNil(t, r, "Compute(%d) did not propagate the panic", k)
			// The entry is unchanged and the shard is unlocked again.
			sm.checkLoad(t, k)
			sm.store(t, 3, k, 4242)
		},
		"LoadOrCompute": func(t *rapid.T) {
			k, v := drawKey(t), rapid.Uint64().Draw(t, "val")
			old, present := sm.model[k]
			sm.note(k)
			calls := 0
			actual, loaded := sm.m.LoadOrCompute(k, func() uint64 { calls++; return v })
			require.Equal(t, present, loaded, "LoadOrCompute(%d) loaded", k)
			if present {
				require.Zero(t, calls, "LoadOrCompute(%d) called fn for a present key", k)
				require.Equal(t, old, actual)
			} else {
				require.Equal(t, 1, calls, "LoadOrCompute(%d) fn calls", k)
				require.Equal(t, v, actual)
				sm.model[k] = v
			}
		},
		"LoadOrComputePanics": func(t *rapid.T) {
			k := drawKey(t)
			sm.note(k)
			r := func() (r any) {
				defer func() { r = recover() }()
				sm.m.LoadOrCompute(k, func() uint64 { panic("fn panics") })
				return nil
			}()
			_, present := sm.model[k]
			require.Equal(t, !present, r != nil, "LoadOrCompute(%d) panic propagated", k)
			sm.checkLoad(t, k)
			sm.store(t, 2, k, 4343)
		},
	}
}

// loadOld checks Load(k) right after a migration of k's shard started:
// nothing is evacuated yet, so it must read k's frozen old chain.
func (sm *uintMachine) loadOld(t *rapid.T, k uint64) {
	require.True(t, sm.m.ReadsOld(k), "Load(%d) right after StartMigration does not read the old chain", k)
	sm.tally.oldReads++
	sm.checkLoad(t, k)
}

// interleave runs 1 to 20 steps, each a single-key operation or an
// EvacuateNext on key k's shard, checking the invariants after each.
func (sm *uintMachine) interleave(t *rapid.T, k uint64) {
	ops := sm.singleKeyOps()
	names := append([]string{"EvacuateNext"}, slices.Sorted(maps.Keys(ops))...)
	for range rapid.IntRange(1, 20).Draw(t, "steps") {
		if name := rapid.SampledFrom(names).Draw(t, "step"); name != "EvacuateNext" {
			ops[name](t)
		} else {
			still := sm.m.EvacuateNext(k)
			require.Equal(t, sm.m.ShardMigrating(k), still, "EvacuateNext(%d) result", k)
		}
		require.NoError(t, sm.m.CheckInvariants())
		require.Equal(t, len(sm.model), sm.m.Len())
	}
}

// epilogue ends every run with one migration of each kind started by hand
// in the shard of a drawn key, each interleaved with operations and then
// finished with EvacuateNext. StartMigration must accept each, since the
// shard is idle when it is called; a grow finished at once before the
// shrink makes sure the shard has buckets to halve.
func (sm *uintMachine) epilogue(t *rapid.T) {
	k := drawKey(t)
	for _, phase := range []uintptr{Grow, Shrink, Compact} {
		sm.finishMigration(t, k)
		if phase == Shrink {
			require.True(t, sm.m.StartMigration(k, Grow), "StartMigration(%d, Grow) on an idle shard", k)
			sm.hand[Grow]++
			sm.finishMigration(t, k)
		}
		require.True(t, sm.m.StartMigration(k, phase), "StartMigration(%d, %d) on an idle shard", k, phase)
		sm.hand[phase]++
		sm.loadOld(t, k)
		sm.interleave(t, k)
	}
	sm.finishMigration(t, k)
	require.NoError(t, sm.m.CheckInvariants())
}

// drainFill is how many keys fillAndDrain inserts: more than all shards
// hold at their smallest size (at most twice the presize plus 8 entries per
// shard), so some shard has to grow.
const drainFill = 400

// fillAndDrain clears the map, which leaves every shard idle at its smallest
// size, inserts drainFill new keys and then deletes them all. The inserts
// must make some shard grow by itself. Emptying the map must make some shard
// shrink by itself, unless the map is grow-only: then no shard may ever have
// shrunk except by hand.
func (sm *uintMachine) fillAndDrain(t *rapid.T, growOnly bool) {
	sm.m.Clear()
	clear(sm.model)
	before := sm.m.Stats()
	for i := range drainFill {
		sm.fresh++
		k := churnKeyBase + sm.fresh
		sm.store(t, i, k, k)
	}
	mid := sm.m.Stats()
	require.Greater(t, mid.Growths, before.Growths, "%d inserts grew no shard", drainFill)
	for i, k := range slices.Sorted(maps.Keys(sm.model)) {
		sm.remove(t, i, k)
	}
	require.Zero(t, sm.m.Len())
	require.NoError(t, sm.m.CheckInvariants())
	after := sm.m.Stats()
	if growOnly {
		require.Equal(t, sm.hand[Shrink], after.Shrinks, "a grow-only map shrank by itself")
	} else {
		require.Greater(t, after.Shrinks, mid.Shrinks, "emptying the map shrank no shard")
	}
}

// actions returns the state machine's actions for rapid.T.Repeat.
func (sm *uintMachine) actions() map[string]func(*rapid.T) {
	ops := sm.singleKeyOps()
	actions := map[string]func(*rapid.T){
		"Clear": func(t *rapid.T) {
			sm.m.Clear()
			clear(sm.model)
			require.Zero(t, sm.m.Len())
			require.Zero(t, sm.m.Stats().Migrating, "Clear left a migration running")
		},
		"Len": func(t *rapid.T) {
			require.Equal(t, len(sm.model), sm.m.Len())
		},
		"Range": func(t *rapid.T) {
			sm.checkRange(t)
		},
		"RangeStop": func(t *rapid.T) {
			stop := rapid.IntRange(1, len(sm.model)+1).Draw(t, "stop")
			calls := 0
			sm.m.Range(func(k, v uint64) bool {
				calls++
				want, ok := sm.model[k]
				require.True(t, ok, "Range yielded absent key %d", k)
				require.Equal(t, want, v, "Range value of %d", k)
				return calls < stop
			})
			require.Equal(t, min(stop, len(sm.model)), calls, "Range calls before stop")
		},
		"RangeMutate": func(t *rapid.T) {
			// f deletes or updates the key it was just given, or inserts a
			// key that was absent when Range started. Every other key stays
			// unchanged until Range reaches it, so Range must yield each key
			// present at the start exactly once with its value at the start;
			// it may or may not yield inserted keys.
			start := maps.Clone(sm.model)
			inserted := map[uint64]uint64{}
			seen := map[uint64]bool{}
			sm.m.Range(func(k, v uint64) bool {
				require.False(t, seen[k], "Range yielded key %d twice", k)
				seen[k] = true
				if want, ok := start[k]; ok {
					require.Equal(t, want, v, "Range value of %d", k)
				} else {
					want, ok := inserted[k]
					require.True(t, ok, "Range yielded key %d, neither present at the start nor inserted", k)
					require.Equal(t, want, v, "Range value of inserted %d", k)
				}
				switch rapid.IntRange(0, 3).Draw(t, "mutate") {
				case 1:
					sm.remove(t, int(k), k)
				case 2:
					sm.store(t, int(k), k, v+1)
				case 3:
					nk := rapid.Uint64Range(0, rapidBurstLoMax+rapidBurstMax).Draw(t, "newKey")
					if _, ok := start[nk]; !ok && !seen[nk] {
						if _, again := inserted[nk]; !again {
							if _, present := sm.model[nk]; !present {
								inserted[nk] = nk * 3
								sm.store(t, int(nk), nk, nk*3)
							}
						}
					}
				}
				return true
			})
			for k := range start {
				require.True(t, seen[k], "Range missed key %d that was present and unchanged", k)
			}
			sm.checkRange(t)
		},
		"All": func(t *rapid.T) {
			stop := rapid.IntRange(0, len(sm.model)+1).Draw(t, "stop")
			got := map[uint64]uint64{}
			for k, v := range sm.m.All() {
				if len(got) == stop {
					break
				}
				_, dup := got[k]
				require.False(t, dup, "All yielded key %d twice", k)
				got[k] = v
			}
			if stop >= len(sm.model) {
				require.Equal(t, sm.model, got, "All contents")
			} else {
				require.Len(t, got, stop)
				for k, v := range got {
					require.Equal(t, sm.model[k], v, "All value of %d", k)
				}
			}
		},
		"InsertBurst": func(t *rapid.T) {
			lo := rapid.Uint64Range(0, rapidBurstLoMax).Draw(t, "lo")
			n := rapid.IntRange(1, rapidBurstMax).Draw(t, "n")
			for k := lo; k < lo+uint64(n); k++ {
				sm.store(t, int(k), k, k*7+1)
			}
		},
		"DeleteBurst": func(t *rapid.T) {
			lo := rapid.Uint64Range(0, rapidBurstLoMax).Draw(t, "lo")
			n := rapid.IntRange(1, rapidBurstLoMax+rapidBurstMax).Draw(t, "n")
			for k := lo; k < lo+uint64(n); k++ {
				sm.remove(t, int(k), k)
			}
		},
		"DeleteAll": func(t *rapid.T) {
			keep := rapid.IntRange(0, 5).Draw(t, "keep")
			keys := slices.Sorted(maps.Keys(sm.model))
			for i, k := range keys {
				if i >= keep {
					sm.remove(t, i, k)
				}
			}
		},
		"StartMigration": func(t *rapid.T) {
			sm.startMigration(t, drawKey(t))
		},
		"MigrateInterleaved": func(t *rapid.T) {
			// Start a migration, then run single-key operations and
			// EvacuateNext calls while it is half done.
			k := drawKey(t)
			if sm.startMigration(t, k) {
				sm.loadOld(t, k)
			}
			sm.interleave(t, k)
			if rapid.Bool().Draw(t, "finish") {
				sm.finishMigration(t, k)
			}
		},
		"Churn": func(t *rapid.T) {
			// Replace keys one by one at a constant count: each chain's
			// occupancy wanders, so overflow buckets pile up without
			// growth until the shard compacts. While the map is small,
			// first fill it to about 6 entries per bucket, where chains
			// often outgrow their 8 slots.
			if st := sm.m.Stats(); st.Buckets <= churnFillBuckets && rapid.Bool().Draw(t, "fill") {
				for range 6*st.Buckets - len(sm.model) {
					sm.fresh++
					k := churnKeyBase + sm.fresh
					sm.store(t, int(k), k, k)
				}
			}
			n := rapid.IntRange(1, 1000).Draw(t, "n")
			r := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0))
			keys := slices.Sorted(maps.Keys(sm.model))
			for i := range n {
				sm.fresh++
				k := churnKeyBase + sm.fresh
				sm.store(t, i, k, k)
				if len(keys) > 0 {
					j := r.IntN(len(keys))
					sm.remove(t, i, keys[j])
					keys[j] = k
				} else {
					keys = append(keys, k)
				}
			}
		},
		"EvacuateNext": func(t *rapid.T) {
			k := drawKey(t)
			n := rapid.IntRange(1, 8).Draw(t, "n")
			for range n {
				still := sm.m.EvacuateNext(k)
				require.Equal(t, sm.m.ShardMigrating(k), still, "EvacuateNext(%d) result", k)
			}
		},
		"FinishMigrations": func(t *rapid.T) {
			// Keys 0..rapidKeyMax reach every shard: the test hashers other
			// than the default leave the top bits zero, which puts every
			// key in shard 0, and the default hasher spreads 301 keys over
			// every one of at most 4 shards.
			for k := uint64(0); k <= rapidKeyMax; k++ {
				sm.finishMigration(t, k)
			}
			st := sm.m.Stats()
			require.Zero(t, st.Migrating, "migrations left running")
			require.Zero(t, st.OldBuckets)
		},
		"": func(t *rapid.T) {
			require.NoError(t, sm.m.CheckInvariants())
			require.Equal(t, len(sm.model), sm.m.Len())
		},
	}
	maps.Copy(actions, ops)
	return actions
}

// finishMigration drives the migration of key k's shard, if any, to its end
// with EvacuateNext, and fails if that takes more calls than the old array
// has buckets: each call evacuates at least one unit.
func (sm *uintMachine) finishMigration(t *rapid.T, k uint64) {
	if !sm.m.ShardMigrating(k) {
		return
	}
	bound := sm.m.Stats().OldBuckets + 1
	i := 0
	for ; i < bound && sm.m.EvacuateNext(k); i++ {
	}
	require.Less(t, i, bound, "shard of key %d still migrating after %d EvacuateNext calls", k, i)
	require.False(t, sm.m.ShardMigrating(k))
	sm.tally.finished++
}

// startMigration starts a migration of a drawn kind in key k's shard through
// StartMigration, checks what that reports against Stats and
// ShardMigrating, and reports whether a migration started. Growth is turned
// into compaction once the map holds rapidMaxHandBuckets buckets, to keep
// the tables small.
func (sm *uintMachine) startMigration(t *rapid.T, k uint64) (started bool) {
	phase := rapid.SampledFrom([]uintptr{Grow, Compact, Shrink}).Draw(t, "phase")
	before := sm.m.Stats()
	if phase == Grow && before.Buckets >= rapidMaxHandBuckets {
		phase = Compact
	}
	was := sm.m.ShardMigrating(k)
	ok := sm.m.StartMigration(k, phase)
	after := sm.m.Stats()
	if was {
		require.False(t, ok, "StartMigration while migrating")
		require.Equal(t, before, after)
		return false
	}
	if !ok {
		require.Equal(t, Shrink, phase, "StartMigration(%d) refused while idle", phase)
		return false
	}
	sm.hand[phase]++
	require.True(t, sm.m.ShardMigrating(k))
	require.Equal(t, before.Migrating+1, after.Migrating)
	require.Equal(t, before.Growths+b2u(phase == Grow), after.Growths)
	require.Equal(t, before.Compactions+b2u(phase == Compact), after.Compactions)
	require.Equal(t, before.Shrinks+b2u(phase == Shrink), after.Shrinks)
	return true
}

// b2u returns 1 for true and 0 for false.
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// TestRapidModel runs the Map[uint64, uint64] state machine once per test
// hasher. Every run ends with a full comparison against the model, the
// epilogue's hand-started migrations and fillAndDrain. A hasher's suite fails if its runs never saw the map grow or shrink by
// itself, and, for the lowbits hasher, whose keys fill every bucket of a
// small table, never compact by itself (the constant and splitbit hashers
// put every key in one or two chains, which never hold as many overflow
// buckets as the table has buckets).
func TestRapidModel(t *testing.T) {
	for _, h := range ModelHashers {
		t.Run(h.Name, func(t *testing.T) {
			var tally migrationTally
			rapid.Check(t, func(t *rapid.T) {
				opts, growOnly := drawOptions(t, h, []int{1, 2, 4})
				sm := &uintMachine{m: newUintMap(h, opts...), model: map[uint64]uint64{}, tally: &tally}
				t.Repeat(sm.actions())
				for k := range sm.model {
					sm.checkLoad(t, k)
				}
				sm.checkRange(t)
				sm.epilogue(t)
				sm.fillAndDrain(t, growOnly)
				tally.add(sm.m.Stats(), sm.hand)
			})
			t.Log(tally.String())
			require.NotZero(t, tally.growths, "no run grew a shard by itself")
			require.NotZero(t, tally.shrinks, "no run shrank a shard by itself")
			// -short runs about 15 steps per run, too few to pile up the
			// churn a compaction needs; TestCompaction covers natural
			// compaction deterministically at any length.
			if h.Name == "lowbits" && !testing.Short() {
				require.NotZero(t, tally.compactions, "no run compacted a shard by itself")
			}
			require.NotZero(t, tally.opsMidMigration, "no operation ran during a migration")
		})
	}
}

// floatSpecials are float64 keys whose map semantics are easy to get wrong:
// NaN (never equal to itself), the two zeros (equal), infinities and
// extremes.
var floatSpecials = []float64{
	math.NaN(), 0, math.Copysign(0, -1), 1, -1, 0.5,
	math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64,
}

// drawFloatKey draws a special float64 or a small half-integer.
func drawFloatKey(t *rapid.T) float64 {
	return rapid.OneOf(
		rapid.SampledFrom(floatSpecials),
		rapid.Map(rapid.IntRange(-40, 40), func(i int) float64 { return float64(i) / 2 }),
	).Draw(t, "key")
}

// floatContents is what a Range over a float64-keyed map yields, in a form
// that compares with require.Equal: the non-NaN entries, whether the zero key
// (if present) is -0, and the values of the NaN entries, sorted.
type floatContents struct {
	entries  map[float64]int
	negZero  bool
	nanVals  []int
	withZero bool
}

// add records one yielded entry and reports false if the non-NaN key was
// already yielded.
func (fc *floatContents) add(k float64, v int) bool {
	if k != k {
		fc.nanVals = append(fc.nanVals, v)
		return true
	}
	if _, dup := fc.entries[k]; dup {
		return false
	}
	if k == 0 {
		fc.withZero, fc.negZero = true, math.Signbit(k)
	}
	fc.entries[k] = v
	return true
}

// floatMachine runs one model-based test of a Map[float64, int] against a Go
// map, whose NaN and signed-zero semantics the Map promises to match: a NaN
// key is never found, so each store of one adds an entry; +0 and -0 are one
// key, and a store through either leaves that key as the stored one.
type floatMachine struct {
	m     *Map[float64, int]
	model map[float64]int
	// next is the next value to store; values are unique within a run.
	next int
}

// val returns a fresh value.
func (fm *floatMachine) val() int {
	fm.next++
	return fm.next
}

// contents returns what Range yields, failing on a repeated non-NaN key.
func (fm *floatMachine) contents(t *rapid.T) floatContents {
	fc := floatContents{entries: map[float64]int{}}
	fm.m.Range(func(k float64, v int) bool {
		if !fc.add(k, v) {
			t.Fatalf("Range yielded key %v twice", k)
		}
		return true
	})
	slices.Sort(fc.nanVals)
	return fc
}

// modelContents returns what a Range over the model yields.
func (fm *floatMachine) modelContents() floatContents {
	fc := floatContents{entries: map[float64]int{}}
	for k, v := range fm.model {
		fc.add(k, v)
	}
	slices.Sort(fc.nanVals)
	return fc
}

// checkLoad checks Load(key) against the model.
func (fm *floatMachine) checkLoad(t *rapid.T, k float64) {
	want, wantOK := fm.model[k]
	got, ok := fm.m.Load(k)
	require.Equal(t, wantOK, ok, "Load(%v) ok", k)
	require.Equal(t, want, got, "Load(%v) value", k)
}

// actions returns the state machine's actions for rapid.T.Repeat.
func (fm *floatMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"Store": func(t *rapid.T) {
			k, v := drawFloatKey(t), fm.val()
			fm.m.Store(k, v)
			fm.model[k] = v
		},
		"LoadOrStore": func(t *rapid.T) {
			k, v := drawFloatKey(t), fm.val()
			old, present := fm.model[k]
			actual, loaded := fm.m.LoadOrStore(k, v)
			require.Equal(t, present, loaded, "LoadOrStore(%v) loaded", k)
			if present {
				require.Equal(t, old, actual)
			} else {
				require.Equal(t, v, actual)
				fm.model[k] = v
			}
		},
		"LoadAndStore": func(t *rapid.T) {
			k, v := drawFloatKey(t), fm.val()
			old, present := fm.model[k]
			prev, loaded := fm.m.LoadAndStore(k, v)
			require.Equal(t, present, loaded, "LoadAndStore(%v) loaded", k)
			require.Equal(t, old, prev)
			fm.model[k] = v
		},
		"Load": func(t *rapid.T) {
			fm.checkLoad(t, drawFloatKey(t))
		},
		"LoadAndDelete": func(t *rapid.T) {
			k := drawFloatKey(t)
			old, present := fm.model[k]
			prev, loaded := fm.m.LoadAndDelete(k)
			require.Equal(t, present, loaded, "LoadAndDelete(%v) loaded", k)
			require.Equal(t, old, prev)
			delete(fm.model, k)
		},
		"Delete": func(t *rapid.T) {
			k := drawFloatKey(t)
			fm.m.Delete(k)
			delete(fm.model, k)
		},
		"Compute": func(t *rapid.T) {
			k, nv := drawFloatKey(t), fm.val()
			op := rapid.SampledFrom([]ComputeOp{UpdateOp, DeleteOp, CancelOp}).Draw(t, "op")
			old, present := fm.model[k]
			calls := 0
			actual, ok := fm.m.Compute(k, func(o int, loaded bool) (int, ComputeOp) {
				calls++
				require.Equal(t, present, loaded, "Compute(%v) fn loaded", k)
				require.Equal(t, old, o, "Compute(%v) fn old", k)
				return nv, op
			})
			require.Equal(t, 1, calls)
			switch op {
			case UpdateOp:
				require.True(t, ok)
				require.Equal(t, nv, actual)
				fm.model[k] = nv
			case DeleteOp:
				require.False(t, ok)
				require.Zero(t, actual)
				delete(fm.model, k)
			case CancelOp:
				require.Equal(t, present, ok)
				require.Equal(t, old, actual)
			}
		},
		"LoadOrCompute": func(t *rapid.T) {
			k, v := drawFloatKey(t), fm.val()
			old, present := fm.model[k]
			calls := 0
			actual, loaded := fm.m.LoadOrCompute(k, func() int { calls++; return v })
			require.Equal(t, present, loaded, "LoadOrCompute(%v) loaded", k)
			if present {
				require.Zero(t, calls)
				require.Equal(t, old, actual)
			} else {
				require.Equal(t, 1, calls)
				require.Equal(t, v, actual)
				fm.model[k] = v
			}
		},
		"NaNBurst": func(t *rapid.T) {
			// Each store of NaN adds an entry that no Load finds.
			n := rapid.IntRange(1, 100).Draw(t, "n")
			before := fm.m.Len()
			for range n {
				v := fm.val()
				fm.m.Store(math.NaN(), v)
				fm.model[math.NaN()] = v
				_, ok := fm.m.Load(math.NaN())
				require.False(t, ok, "Load(NaN) found an entry")
			}
			require.Equal(t, before+n, fm.m.Len(), "Len after %d stores of NaN", n)
		},
		"SignedZeros": func(t *rapid.T) {
			// +0 and -0 are one key; the store through -0 leaves the key
			// as -0, as in a Go map.
			a, b := fm.val(), fm.val()
			_, had := fm.model[0]
			before := fm.m.Len()
			fm.m.Store(0, a)
			prev, loaded := fm.m.LoadAndStore(math.Copysign(0, -1), b)
			require.True(t, loaded)
			require.Equal(t, a, prev)
			got, ok := fm.m.Load(0)
			require.True(t, ok)
			require.Equal(t, b, got)
			require.Equal(t, before+1-int(b2u(had)), fm.m.Len())
			fm.model[0] = a
			fm.model[math.Copysign(0, -1)] = b
		},
		"Burst": func(t *rapid.T) {
			n := rapid.IntRange(1, 300).Draw(t, "n")
			for i := range n {
				k, v := float64(i)/4, fm.val()
				fm.m.Store(k, v)
				fm.model[k] = v
			}
		},
		"DeleteNonNaN": func(t *rapid.T) {
			for k := range fm.model {
				if k == k {
					prev, loaded := fm.m.LoadAndDelete(k)
					require.True(t, loaded, "LoadAndDelete(%v) loaded", k)
					require.Equal(t, fm.model[k], prev)
					delete(fm.model, k)
				}
			}
		},
		"Migrate": func(t *rapid.T) {
			k := drawFloatKey(t)
			if k != k {
				k = 0
			}
			phase := rapid.SampledFrom([]uintptr{Grow, Compact, Shrink}).Draw(t, "phase")
			if phase == Grow && fm.m.Stats().Buckets >= rapidMaxHandBuckets {
				phase = Compact
			}
			fm.m.StartMigration(k, phase)
			for range rapid.IntRange(0, 4).Draw(t, "evacuations") {
				fm.m.EvacuateNext(k)
			}
		},
		"Clear": func(t *rapid.T) {
			fm.m.Clear()
			clear(fm.model)
		},
		"Range": func(t *rapid.T) {
			require.Equal(t, fm.modelContents(), fm.contents(t))
		},
		"All": func(t *rapid.T) {
			fc := floatContents{entries: map[float64]int{}}
			for k, v := range fm.m.All() {
				require.True(t, fc.add(k, v), "All yielded key %v twice", k)
			}
			slices.Sort(fc.nanVals)
			require.Equal(t, fm.modelContents(), fc)
		},
		"": func(t *rapid.T) {
			require.NoError(t, fm.m.CheckInvariants())
			require.Equal(t, len(fm.model), fm.m.Len(), "Len")
		},
	}
}

// TestRapidFloatKeys checks NaN and signed-zero keys against a Go map, with
// the default hasher (a NaN hashes differently each time) and with a
// constant one (every key, NaNs included, in one chain).
func TestRapidFloatKeys(t *testing.T) {
	hashers := []struct {
		name string
		opts []Option
	}{
		{"default", nil},
		{"constant", []Option{WithHasher(func(float64, uint64) uint64 { return 0 })}},
	}
	for _, h := range hashers {
		t.Run(h.name, func(t *testing.T) {
			nanRuns := 0
			rapid.Check(t, func(t *rapid.T) {
				opts := append(slices.Clone(h.opts), WithShards(rapid.SampledFrom([]int{1, 2, 4}).Draw(t, "shards")))
				if rapid.Bool().Draw(t, "growOnly") {
					opts = append(opts, WithGrowOnly())
				}
				fm := &floatMachine{m: New[float64, int](opts...), model: map[float64]int{}}
				t.Repeat(fm.actions())
				fc := fm.contents(t)
				require.Equal(t, fm.modelContents(), fc)
				if len(fc.nanVals) > 0 {
					nanRuns++
				}
			})
			require.NotZero(t, nanRuns, "no run ended with NaN keys in the map")
		})
	}
}

// Key and value layout of the concurrent property. Goroutine g owns the
// private keys privKey(g, i); the shared keys 0..sharedKeys-1 and counterKey
// are written by every goroutine. Every value stored under a key other than
// counterKey encodes that key, the writer and the writer's step
// (encVal), so that a value read anywhere can be traced to a write.
const (
	sharedKeys   = 4
	counterKey   = 1 << 15
	privKeySpan  = 40   // private keys of single-key ops: privKey(g, 0..privKeySpan)
	privBurstLo  = 1000 // private burst keys: privKey(g, privBurstLo..)
	privBurstMax = 120
)

// privKey returns goroutine g's i-th private key.
func privKey(g int, i uint64) uint64 { return uint64(g+1)<<16 | i }

// keyOwner returns the goroutine that owns key, or -1 for a shared key.
func keyOwner(key uint64) int { return int(key>>16) - 1 }

// encVal returns the value goroutine g stores to key at step seq.
func encVal(key uint64, g, seq int) uint64 { return key<<24 | uint64(g)<<20 | uint64(seq) }

// valKey returns the key encoded in a value made by encVal.
func valKey(v uint64) uint64 { return v >> 24 }

// Kinds of concurrent operations.
const (
	cPrivStore = iota
	cPrivLoadOrStore
	cPrivLoadAndStore
	cPrivLoad
	cPrivDelete
	cPrivLoadAndDelete
	cPrivCompute
	cPrivLoadOrCompute
	cPrivBurst
	cPrivDeleteBurst
	cSharedStore
	cSharedLoadOrStore
	cSharedLoadAndStore
	cSharedLoad
	cSharedLoadAndDelete
	cSharedCompute
	cCounterInc
	cCounterLoad
	cRange
	cLen
	cMigrate
	cKinds
)

// concOp is one step of a goroutine's script, drawn before any goroutine
// starts.
type concOp struct {
	kind  int
	key   uint64
	op    ComputeOp
	n     int     // burst size, or EvacuateNext calls for cMigrate
	phase uintptr // cMigrate
}

// drawScript draws one goroutine's script.
func drawScript(t *rapid.T, g int) []concOp {
	n := rapid.IntRange(20, 100).Draw(t, fmt.Sprintf("ops%d", g))
	script := make([]concOp, n)
	for i := range script {
		o := concOp{kind: rapid.IntRange(0, cKinds-1).Draw(t, "kind")}
		switch o.kind {
		case cSharedStore, cSharedLoadOrStore, cSharedLoadAndStore, cSharedLoad, cSharedLoadAndDelete, cSharedCompute:
			o.key = rapid.Uint64Range(0, sharedKeys-1).Draw(t, "shared")
		case cPrivBurst, cPrivDeleteBurst:
			o.n = rapid.IntRange(1, privBurstMax).Draw(t, "burst")
		case cMigrate:
			o.phase = rapid.SampledFrom([]uintptr{Grow, Compact, Shrink}).Draw(t, "phase")
			o.n = rapid.IntRange(0, 4).Draw(t, "evacuations")
			o.key = privKey(g, 0)
		default:
			o.key = privKey(g, rapid.Uint64Range(0, privKeySpan).Draw(t, "priv"))
		}
		if o.kind == cPrivCompute || o.kind == cSharedCompute {
			o.op = rapid.SampledFrom([]ComputeOp{UpdateOp, DeleteOp, CancelOp}).Draw(t, "op")
		}
		script[i] = o
	}
	return script
}

// observation is a value a goroutine read from a shared key.
type observation struct {
	key, val uint64
}

// worker runs one goroutine's script and records what the checks after the
// run need. Only its goroutine touches it until the run is joined.
type worker struct {
	g      int
	m      uintMap
	script []concOp
	// model is the goroutine's private keys: only it writes them, so every
	// return value on them is exact.
	model map[uint64]uint64
	// touched is every private key the goroutine wrote.
	touched map[uint64]bool
	// written is every value the goroutine stored to a shared key.
	written map[uint64][]uint64
	// observed is every value it read from a shared key.
	observed []observation
	// incs is what each counter increment returned, in order.
	incs []uint64
	// counterReads is what each Load of the counter returned.
	counterReads []uint64
	// errs are the checks that failed.
	errs []string
}

// errorf records a failed check.
func (w *worker) errorf(format string, args ...any) {
	w.errs = append(w.errs, fmt.Sprintf("goroutine %d: ", w.g)+fmt.Sprintf(format, args...))
}

// lastCounter returns the largest counter value the goroutine has seen.
func (w *worker) lastCounter() uint64 {
	last := uint64(0)
	if n := len(w.incs); n > 0 {
		last = w.incs[n-1]
	}
	if n := len(w.counterReads); n > 0 {
		last = max(last, w.counterReads[n-1])
	}
	return last
}

// observe records a value read from a shared key.
func (w *worker) observe(key, val uint64) {
	w.observed = append(w.observed, observation{key, val})
}

// privStore checks a store of val to private key k through method how.
func (w *worker) privStore(how int, k, val uint64) {
	old, present := w.model[k]
	w.touched[k] = true
	switch how {
	case cPrivStore:
		w.m.Store(k, val)
		w.model[k] = val
	case cPrivLoadOrStore:
		actual, loaded := w.m.LoadOrStore(k, val)
		if loaded != present || (present && actual != old) || (!present && actual != val) {
			w.errorf("LoadOrStore(%d) = %d, %v; model %d, %v", k, actual, loaded, old, present)
		}
		if !present {
			w.model[k] = val
		}
	case cPrivLoadAndStore:
		prev, loaded := w.m.LoadAndStore(k, val)
		if loaded != present || prev != old {
			w.errorf("LoadAndStore(%d) = %d, %v; model %d, %v", k, prev, loaded, old, present)
		}
		w.model[k] = val
	}
}

// privDelete checks a delete of private key k, through LoadAndDelete if
// loadAndDelete is set, else Delete.
func (w *worker) privDelete(loadAndDelete bool, k uint64) {
	old, present := w.model[k]
	w.touched[k] = true
	if loadAndDelete {
		prev, loaded := w.m.LoadAndDelete(k)
		if loaded != present || prev != old {
			w.errorf("LoadAndDelete(%d) = %d, %v; model %d, %v", k, prev, loaded, old, present)
		}
	} else {
		w.m.Delete(k)
	}
	delete(w.model, k)
}

// run executes the script once start is closed.
func (w *worker) run(start <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	<-start
	for seq, o := range w.script {
		val := encVal(o.key, w.g, seq)
		switch o.kind {
		case cPrivStore, cPrivLoadOrStore, cPrivLoadAndStore:
			w.privStore(o.kind, o.key, val)
		case cPrivLoad:
			want, wantOK := w.model[o.key]
			if got, ok := w.m.Load(o.key); ok != wantOK || got != want {
				w.errorf("Load(%d) = %d, %v; model %d, %v", o.key, got, ok, want, wantOK)
			}
		case cPrivDelete, cPrivLoadAndDelete:
			w.privDelete(o.kind == cPrivLoadAndDelete, o.key)
		case cPrivCompute:
			old, present := w.model[o.key]
			w.touched[o.key] = true
			calls := 0
			actual, ok := w.m.Compute(o.key, func(got uint64, loaded bool) (uint64, ComputeOp) {
				calls++
				if loaded != present || got != old {
					w.errorf("Compute(%d) fn got %d, %v; model %d, %v", o.key, got, loaded, old, present)
				}
				return val, o.op
			})
			switch {
			case calls != 1:
				w.errorf("Compute(%d) called fn %d times", o.key, calls)
			case o.op == UpdateOp && (actual != val || !ok):
				w.errorf("Compute(%d, UpdateOp) = %d, %v", o.key, actual, ok)
			case o.op == DeleteOp && (actual != 0 || ok):
				w.errorf("Compute(%d, DeleteOp) = %d, %v", o.key, actual, ok)
			case o.op == CancelOp && (actual != old || ok != present):
				w.errorf("Compute(%d, CancelOp) = %d, %v; model %d, %v", o.key, actual, ok, old, present)
			}
			switch o.op {
			case UpdateOp:
				w.model[o.key] = val
			case DeleteOp:
				delete(w.model, o.key)
			}
		case cPrivLoadOrCompute:
			old, present := w.model[o.key]
			w.touched[o.key] = true
			calls := 0
			actual, loaded := w.m.LoadOrCompute(o.key, func() uint64 { calls++; return val })
			if loaded != present || (present && (actual != old || calls != 0)) || (!present && (actual != val || calls != 1)) {
				w.errorf("LoadOrCompute(%d) = %d, %v with %d calls; model %d, %v", o.key, actual, loaded, calls, old, present)
			}
			if !present {
				w.model[o.key] = val
			}
		case cPrivBurst:
			for i := range uint64(o.n) {
				k := privKey(w.g, privBurstLo+i)
				w.privStore(cPrivStore+int(i%3), k, encVal(k, w.g, seq))
			}
		case cPrivDeleteBurst:
			for i := range uint64(o.n) {
				w.privDelete(i%2 == 0, privKey(w.g, privBurstLo+i))
			}
		case cSharedStore:
			w.m.Store(o.key, val)
			w.written[o.key] = append(w.written[o.key], val)
		case cSharedLoadOrStore:
			actual, loaded := w.m.LoadOrStore(o.key, val)
			if loaded {
				w.observe(o.key, actual)
			} else {
				if actual != val {
					w.errorf("LoadOrStore(%d) stored, returned %d, want %d", o.key, actual, val)
				}
				w.written[o.key] = append(w.written[o.key], val)
			}
		case cSharedLoadAndStore:
			prev, loaded := w.m.LoadAndStore(o.key, val)
			if loaded {
				w.observe(o.key, prev)
			} else if prev != 0 {
				w.errorf("LoadAndStore(%d) not loaded, returned %d", o.key, prev)
			}
			w.written[o.key] = append(w.written[o.key], val)
		case cSharedLoad:
			if v, ok := w.m.Load(o.key); ok {
				w.observe(o.key, v)
			} else if v != 0 {
				w.errorf("Load(%d) not found, returned %d", o.key, v)
			}
		case cSharedLoadAndDelete:
			if v, ok := w.m.LoadAndDelete(o.key); ok {
				w.observe(o.key, v)
			} else if v != 0 {
				w.errorf("LoadAndDelete(%d) not loaded, returned %d", o.key, v)
			}
		case cSharedCompute:
			var fnOld uint64
			var fnLoaded bool
			actual, ok := w.m.Compute(o.key, func(old uint64, loaded bool) (uint64, ComputeOp) {
				fnOld, fnLoaded = old, loaded
				return val, o.op
			})
			if fnLoaded {
				w.observe(o.key, fnOld)
			}
			switch o.op {
			case UpdateOp:
				w.written[o.key] = append(w.written[o.key], val)
				if actual != val || !ok {
					w.errorf("Compute(%d, UpdateOp) = %d, %v", o.key, actual, ok)
				}
			case DeleteOp:
				if actual != 0 || ok {
					w.errorf("Compute(%d, DeleteOp) = %d, %v", o.key, actual, ok)
				}
			case CancelOp:
				if actual != fnOld || ok != fnLoaded {
					w.errorf("Compute(%d, CancelOp) = %d, %v; fn got %d, %v", o.key, actual, ok, fnOld, fnLoaded)
				}
			}
		case cCounterInc:
			last := w.lastCounter()
			actual, ok := w.m.Compute(counterKey, func(old uint64, loaded bool) (uint64, ComputeOp) {
				return old + 1, UpdateOp
			})
			if !ok || actual <= last {
				w.errorf("counter increment returned %d, %v after the goroutine saw %d", actual, ok, last)
			}
			w.incs = append(w.incs, actual)
		case cCounterLoad:
			last := w.lastCounter()
			v, _ := w.m.Load(counterKey)
			if v < last {
				w.errorf("counter read %d after the goroutine saw %d", v, last)
			}
			w.counterReads = append(w.counterReads, v)
		case cRange:
			w.checkRange()
		case cLen:
			// Nobody else writes this goroutine's keys, so each of them is
			// counted in its shard whenever Len reads that shard.
			least := len(w.model)
			if len(w.incs) > 0 {
				least++ // the counter is never deleted
			}
			if n := w.m.Len(); n < least {
				w.errorf("Len() = %d, but the goroutine alone holds %d keys", n, least)
			}
		case cMigrate:
			phase := o.phase
			if phase == Grow && w.m.Stats().Buckets >= rapidMaxHandBuckets/4 {
				phase = Compact
			}
			w.m.StartMigration(o.key, phase)
			for range o.n {
				w.m.EvacuateNext(o.key)
			}
		}
	}
}

// checkRange checks a Range that runs while other goroutines write: no key
// twice, the goroutine's own keys exactly as in its model (nobody else
// writes them), and every other value traceable to its key.
func (w *worker) checkRange() {
	seen := map[uint64]bool{}
	w.m.Range(func(k, v uint64) bool {
		if seen[k] {
			w.errorf("Range yielded key %d twice", k)
		}
		seen[k] = true
		switch {
		case k == counterKey:
			if v < w.lastCounter() {
				w.errorf("Range yielded counter %d after the goroutine saw %d", v, w.lastCounter())
			}
		case keyOwner(k) == w.g:
			if want, ok := w.model[k]; !ok || v != want {
				w.errorf("Range yielded own key %d = %d; model %d, %v", k, v, want, ok)
			}
		case valKey(v) != k:
			w.errorf("Range yielded %d = %d, a value never stored to that key", k, v)
		case keyOwner(k) < 0:
			w.observe(k, v)
		}
		return true
	})
	for k := range w.model {
		if !seen[k] {
			w.errorf("Range missed own key %d", k)
		}
	}
}

// TestRapidConcurrent runs 2 to 4 goroutines with scripts drawn up front
// against one Map, released together, on small shard counts so that growth,
// shrinking and hand-started migrations overlap other goroutines' writes.
// Each goroutine's private keys must behave exactly like its own model; a
// shared key may only ever hold a value some goroutine stored to it; the
// Compute-only counter must count every increment exactly once.
func TestRapidConcurrent(t *testing.T) {
	for _, h := range ModelHashers {
		t.Run(h.Name, func(t *testing.T) {
			var growths, shrinks uint64
			rapid.Check(t, func(t *rapid.T) {
				opts, _ := drawOptions(t, h, []int{1, 2})
				m := newUintMap(h, opts...)
				workers := make([]*worker, rapid.IntRange(2, 4).Draw(t, "goroutines"))
				for g := range workers {
					workers[g] = &worker{
						g: g, m: m, script: drawScript(t, g),
						model: map[uint64]uint64{}, touched: map[uint64]bool{}, written: map[uint64][]uint64{},
					}
				}
				start := make(chan struct{})
				var done sync.WaitGroup
				for _, w := range workers {
					done.Add(1)
					go w.run(start, &done)
				}
				close(start)
				done.Wait()
				checkConcurrentRun(t, m, workers)
				st := m.Stats()
				growths += st.Growths
				shrinks += st.Shrinks
			})
			t.Logf("growths=%d shrinks=%d", growths, shrinks)
			require.NotZero(t, growths, "no shard grew during a concurrent run")
			require.NotZero(t, shrinks, "no shard shrank during a concurrent run")
		})
	}
}

// checkConcurrentRun checks the map after every worker finished.
func checkConcurrentRun(t *rapid.T, m uintMap, workers []*worker) {
	for _, w := range workers {
		require.Empty(t, w.errs)
	}
	require.NoError(t, m.CheckInvariants())

	written := map[uint64]map[uint64]bool{}
	for _, w := range workers {
		for k, vals := range w.written {
			if written[k] == nil {
				written[k] = map[uint64]bool{}
			}
			for _, v := range vals {
				written[k][v] = true
			}
		}
	}
	for _, w := range workers {
		for _, o := range w.observed {
			require.True(t, written[o.key][o.val], "goroutine %d read %d = %d, a value nobody stored to that key", w.g, o.key, o.val)
		}
	}

	want := map[uint64]uint64{}
	for _, w := range workers {
		for k := range w.touched {
			v, ok := m.Load(k)
			mv, mok := w.model[k]
			require.Equal(t, mok, ok, "final Load(%d) ok", k)
			require.Equal(t, mv, v, "final Load(%d)", k)
		}
		maps.Copy(want, w.model)
	}
	for k := range uint64(sharedKeys) {
		if v, ok := m.Load(k); ok {
			require.True(t, written[k][v], "shared key %d ends as %d, a value nobody stored to it", k, v)
			want[k] = v
		}
	}

	var incs []uint64
	for _, w := range workers {
		incs = append(incs, w.incs...)
	}
	for _, w := range workers {
		for _, r := range w.counterReads {
			require.LessOrEqual(t, r, uint64(len(incs)), "counter read beyond the increments")
		}
	}
	slices.Sort(incs)
	for i, v := range incs {
		require.Equal(t, uint64(i+1), v, "counter increments did not return 1..n exactly once each")
	}
	if n := uint64(len(incs)); n > 0 {
		v, ok := m.Load(counterKey)
		require.True(t, ok)
		require.Equal(t, n, v, "counter after %d increments", n)
		want[counterKey] = n
	} else {
		_, ok := m.Load(counterKey)
		require.False(t, ok, "counter present without increments")
	}

	got := map[uint64]uint64{}
	for k, v := range m.All() {
		_, dup := got[k]
		require.False(t, dup, "All yielded %d twice", k)
		got[k] = v
	}
	require.Equal(t, want, got, "final contents")
	require.Equal(t, len(want), m.Len())
}

// TestRapidConcurrentRange runs Range and All in reader goroutines while
// writer goroutines delete and reinsert their own hot keys, so that chains
// change while readers copy them (with the constant hasher every key shares
// one long chain). Stable keys, stored before the start and never written
// again, must be yielded exactly once each with their values; no key may be
// yielded twice; the final contents must match the writers' models.
func TestRapidConcurrentRange(t *testing.T) {
	for _, h := range ModelHashers {
		t.Run(h.Name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				opts, _ := drawOptions(t, h, []int{1, 2})
				m := newUintMap(h, opts...)
				// Each writer owns 2*hot keys and starts with the first hot
				// of them stored, ahead of the stable keys: in a shared
				// chain they take its first slots, and a key deleted and
				// stored again after another took its slot moves to the
				// chain's end, past the stable keys a reader is still
				// copying.
				hot := uint64(rapid.IntRange(1, 16).Draw(t, "hot"))
				writers := make([]*worker, rapid.IntRange(1, 3).Draw(t, "writers"))
				for g := range writers {
					w := &worker{g: g, m: m, model: map[uint64]uint64{}, touched: map[uint64]bool{}}
					for i := range hot {
						k := privKey(g, i)
						w.model[k] = encVal(k, g, 0)
						w.touched[k] = true
						m.Store(k, w.model[k])
					}
					for range rapid.IntRange(20, 200).Draw(t, "ops") {
						kind := rapid.SampledFrom([]int{cPrivStore, cPrivLoadAndStore, cPrivDelete, cPrivLoadAndDelete}).Draw(t, "kind")
						w.script = append(w.script, concOp{kind: kind, key: privKey(g, rapid.Uint64Range(0, 2*hot-1).Draw(t, "key"))})
					}
					writers[g] = w
				}
				stable := map[uint64]uint64{}
				for i := range uint64(rapid.IntRange(0, 300).Draw(t, "stable")) {
					k := stableKeyBase + i
					stable[k] = encVal(k, 0, 0)
					m.Store(k, stable[k])
				}
				readers := rapid.IntRange(1, 2).Draw(t, "readers")

				start := make(chan struct{})
				var done atomic.Bool
				var wg, rwg sync.WaitGroup
				for _, w := range writers {
					wg.Add(1)
					go w.run(start, &wg)
				}
				rerrs := make([][]string, readers)
				for r := range readers {
					rwg.Add(1)
					go func() {
						defer rwg.Done()
						<-start
						for i := 0; i == 0 || !done.Load(); i++ {
							if err := checkRangeAgainstStable(m, stable, i%2 == 0); err != "" {
								rerrs[r] = append(rerrs[r], err)
								return
							}
						}
					}()
				}
				close(start)
				wg.Wait()
				done.Store(true)
				rwg.Wait()
				for _, errs := range rerrs {
					require.Empty(t, errs)
				}
				for _, w := range writers {
					require.Empty(t, w.errs)
				}
				require.NoError(t, m.CheckInvariants())
				want := maps.Clone(stable)
				for _, w := range writers {
					maps.Copy(want, w.model)
				}
				got := map[uint64]uint64{}
				m.Range(func(k, v uint64) bool { got[k] = v; return true })
				require.Equal(t, want, got)
				require.Equal(t, len(want), m.Len())
			})
		})
	}
}

// stableKeyBase is the first stable key of TestRapidConcurrentRange, above
// every private key.
const stableKeyBase = 1 << 22

// checkRangeAgainstStable iterates m once, with All if useAll is set, else
// with Range, and returns a description of the first violation: a key
// yielded twice, a value not made for its key, or a stable key missing or
// changed. It returns "" if there is none.
func checkRangeAgainstStable(m uintMap, stable map[uint64]uint64, useAll bool) string {
	seen := make(map[uint64]bool, len(stable))
	var bad string
	visit := func(k, v uint64) bool {
		switch {
		case seen[k]:
			bad = fmt.Sprintf("key %d yielded twice", k)
		case valKey(v) != k:
			bad = fmt.Sprintf("key %d yielded with %d, a value never stored to it", k, v)
		case k >= stableKeyBase && v != stable[k]:
			bad = fmt.Sprintf("stable key %d yielded with %d, want %d", k, v, stable[k])
		}
		seen[k] = true
		return bad == ""
	}
	if useAll {
		for k, v := range m.All() {
			if !visit(k, v) {
				break
			}
		}
	} else {
		m.Range(visit)
	}
	if bad != "" {
		return bad
	}
	for k := range stable {
		if !seen[k] {
			return fmt.Sprintf("stable key %d missed", k)
		}
	}
	return ""
}
