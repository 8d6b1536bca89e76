package shardmap

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// Fuzz targets. Each turns its input into a sequence of operations on a Map
// and on a plain Go map, and fails on the first result that differs, on a
// broken structural invariant, or on a migration that does not finish.
//
// Input layout: the first byte picks the options (see fuzzOptions), the rest
// is a stream of operations. An operation is an opcode byte followed by a key
// byte; the range opcodes take a third byte, a count. Keys are small so that
// operations hit each other's keys, and the range opcodes push a shard
// through growth, compaction and shrinking within a few operations.
//
// Run one target for real with, for example:
//
//	go test -run XXX -fuzz FuzzConstantHasher -fuzztime 10m -parallel 1 ./

// Opcodes. The first fuzzPlainOps are available to every target; the hook
// opcodes only to FuzzMigrations.
const (
	fopLoad = iota
	fopStore
	fopLoadOrStore
	fopLoadAndStore
	fopLoadAndDelete
	fopDelete
	fopComputeInc
	fopComputeDelete
	fopComputeCancel
	fopLoadOrCompute
	fopStoreRange
	fopDeleteRange
	fopRangeAll
	fopRangeStop
	fopClear
	fopLen
	fuzzPlainOps

	fopStartMigration = iota - 1
	fopEvacuateNext
	fopReadsOld
	fuzzAllOps
)

// fuzzMaxOps bounds how many operations one input runs, so that a long input
// costs no more than a few milliseconds.
const fuzzMaxOps = 2000

// fuzzOptions decodes the option byte: bits 0-1 pick 1, 2, 4 or 8 shards
// (capped at maxShards), bit 2 grow-only, bits 3-4 a presize of 0, 8, 40 or
// 200 entries, bit 5 the entry layout. Bits 6 and 7 are fuzzMap's.
func fuzzOptions(b byte, maxShards int) []Option {
	opts := []Option{WithShards(min(1<<(b&3), maxShards))}
	if b&4 != 0 {
		opts = append(opts, WithGrowOnly())
	}
	if p := [4]int{0, 8, 40, 200}[b>>3&3]; p > 0 {
		opts = append(opts, WithPresize(p))
	}
	if b&32 != 0 {
		opts = append(opts, withEntryLayout())
	}
	return opts
}

// fuzzMap returns the map an input runs on, built with opts and hashed by h:
// a Map[uint64, uint64], or, if bit 7 of the option byte b is set, a
// Map[uint64, *uint64] behind the model's boxing adapter, or with bits 6
// and 7 a Map[string, uint64] behind the string adapter, so that pointer
// values and string keys inline (or in entries, with bit 5) are fuzzed too.
func fuzzMap(b byte, h TestHasher, opts ...Option) uintMap {
	if b&192 == 192 {
		h.Str = true
		return newStrMap(New[string, uint64](append(opts, h.Options()...)...))
	}
	opts = append(opts, h.Options()...)
	if b&128 != 0 {
		return boxedMap{New[uint64, *uint64](opts...)}
	}
	return New[uint64, uint64](opts...)
}

// fuzzRun decodes data into operations on m and checks each against a Go map.
// nops is how many opcodes the stream may use: fuzzPlainOps, or fuzzAllOps to
// include the migration hooks.
func fuzzRun(t *testing.T, m uintMap, data []byte, nops int) {
	t.Helper()
	model := map[uint64]uint64{}
	next := func() (byte, bool) {
		if len(data) == 0 {
			return 0, false
		}
		b := data[0]
		data = data[1:]
		return b, true
	}
	for step := uint64(1); step <= fuzzMaxOps; step++ {
		opb, ok1 := next()
		kb, ok2 := next()
		if !ok1 || !ok2 {
			break
		}
		op, key := int(opb)%nops, uint64(kb)
		val := step << 16 // distinct from every other step's value
		where := fmt.Sprintf("step %d: op %d key %d", step, op, key)
		mv, present := model[key]
		switch op {
		case fopLoad:
			v, ok := m.Load(key)
			fuzzExpect(t, where, v, ok, mv, present)
		case fopStore:
			m.Store(key, val)
			model[key] = val
		case fopLoadOrStore:
			v, loaded := m.LoadOrStore(key, val)
			if present {
				fuzzExpect(t, where, v, loaded, mv, true)
			} else {
				fuzzExpect(t, where, v, loaded, val, false)
				model[key] = val
			}
		case fopLoadAndStore:
			v, loaded := m.LoadAndStore(key, val)
			fuzzExpect(t, where, v, loaded, mv, present)
			model[key] = val
		case fopLoadAndDelete:
			v, loaded := m.LoadAndDelete(key)
			fuzzExpect(t, where, v, loaded, mv, present)
			delete(model, key)
		case fopDelete:
			m.Delete(key)
			delete(model, key)
		case fopComputeInc:
			v, ok := m.Compute(key, func(old uint64, loaded bool) (uint64, ComputeOp) {
				fuzzExpect(t, where+" (fn)", old, loaded, mv, present)
				return old + 1, UpdateOp
			})
			fuzzExpect(t, where, v, ok, mv+1, true)
			model[key] = mv + 1
		case fopComputeDelete:
			v, ok := m.Compute(key, func(old uint64, loaded bool) (uint64, ComputeOp) {
				return 0, DeleteOp
			})
			fuzzExpect(t, where, v, ok, 0, false)
			delete(model, key)
		case fopComputeCancel:
			v, ok := m.Compute(key, func(old uint64, loaded bool) (uint64, ComputeOp) {
				return val, CancelOp
			})
			fuzzExpect(t, where, v, ok, mv, present)
		case fopLoadOrCompute:
			calls := 0
			v, loaded := m.LoadOrCompute(key, func() uint64 { calls++; return val })
			if present {
				fuzzExpect(t, where, v, loaded, mv, true)
			} else {
				fuzzExpect(t, where, v, loaded, val, false)
				model[key] = val
			}
			if want := map[bool]int{true: 0, false: 1}[present]; calls != want {
				t.Fatalf("%s: LoadOrCompute called fn %d times, want %d", where, calls, want)
			}
		case fopStoreRange, fopDeleteRange:
			nb, _ := next()
			for i := range uint64(nb) {
				if op == fopStoreRange {
					m.Store(key+i, val+i)
					model[key+i] = val + i
				} else {
					m.Delete(key + i)
					delete(model, key+i)
				}
			}
		case fopRangeAll:
			fuzzCheckContents(t, where, m, model)
		case fopRangeStop:
			limit := int(key % 8)
			seen := map[uint64]bool{}
			m.Range(func(k, v uint64) bool {
				if seen[k] {
					t.Fatalf("%s: Range yielded key %d twice", where, k)
				}
				seen[k] = true
				if want, ok := model[k]; !ok || want != v {
					t.Fatalf("%s: Range yielded %d=%d, model has %d (present %v)", where, k, v, want, ok)
				}
				return len(seen) < limit
			})
			// f is called at least once even with limit 0.
			if want := min(max(limit, 1), len(model)); len(seen) != want {
				t.Fatalf("%s: Range with stop after %d yielded %d of %d", where, limit, len(seen), len(model))
			}
		case fopClear:
			m.Clear()
			clear(model)
		case fopLen:
			if got := m.Len(); got != len(model) {
				t.Fatalf("%s: Len %d, want %d", where, got, len(model))
			}
		case fopStartMigration:
			phase := [3]uintptr{Grow, Compact, Shrink}[key%3]
			// Keep the tables small: a grow doubles a whole shard.
			if phase != Grow || m.Stats().Buckets < 1024 {
				m.StartMigration(key, phase)
			}
		case fopEvacuateNext:
			nb, _ := next()
			for range nb % 16 {
				m.EvacuateNext(key)
			}
		case fopReadsOld:
			if m.ReadsOld(key) && !m.ShardMigrating(key) {
				t.Fatalf("%s: ReadsOld on a shard that is not migrating", where)
			}
		}
		if step%8 == 0 {
			fuzzCheckInvariants(t, where, m)
		}
	}
	fuzzCheckInvariants(t, "end", m)
	fuzzCheckContents(t, "end", m, model)
	fuzzFinishMigrations(t, m)
	fuzzCheckContents(t, "after finishing migrations", m, model)
}

// fuzzExpect fails unless the map returned (v, ok) where the model expects
// (wantV, wantOK). Callers pass the model's value for a missing key, which
// is zero, as a miss must return the zero value.
func fuzzExpect(t *testing.T, where string, v uint64, ok bool, wantV uint64, wantOK bool) {
	t.Helper()
	if v != wantV || ok != wantOK {
		t.Fatalf("%s: got (%d, %v), want (%d, %v)", where, v, ok, wantV, wantOK)
	}
}

// fuzzCheckInvariants fails if the map breaks a structural invariant.
func fuzzCheckInvariants(t *testing.T, where string, m uintMap) {
	t.Helper()
	if err := m.CheckInvariants(); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// fuzzCheckContents fails unless Range, Len and Load all agree with model.
func fuzzCheckContents(t *testing.T, where string, m uintMap, model map[uint64]uint64) {
	t.Helper()
	got := map[uint64]uint64{}
	m.Range(func(k, v uint64) bool {
		if _, dup := got[k]; dup {
			t.Fatalf("%s: Range yielded key %d twice", where, k)
		}
		got[k] = v
		return true
	})
	if !maps.Equal(got, model) {
		t.Fatalf("%s: Range saw %d entries %v, model has %d %v", where, len(got), got, len(model), model)
	}
	if n := m.Len(); n != len(model) {
		t.Fatalf("%s: Len %d, model has %d", where, n, len(model))
	}
	for k, want := range model {
		if v, ok := m.Load(k); !ok || v != want {
			t.Fatalf("%s: Load(%d) = (%d, %v), want (%d, true)", where, k, v, ok, want)
		}
	}
}

// fuzzFinishMigrations drives every migration to its end with EvacuateNext
// and fails if one needs more calls than its old array has buckets: each
// call must evacuate one unit or finish.
func fuzzFinishMigrations(t *testing.T, m uintMap) {
	t.Helper()
	budget := m.Stats().OldBuckets + 1
	// Keys 0..1023 reach every shard of a map with at most 8 shards with
	// overwhelming probability; keys that share a shard just find it idle.
	for k := range uint64(1024) {
		for m.ShardMigrating(k) {
			if budget--; budget < 0 {
				t.Fatalf("migration of key %d's shard does not finish: %+v", k, m.Stats())
			}
			m.EvacuateNext(k)
		}
	}
	if st := m.Stats(); st.Migrating != 0 || st.OldBuckets != 0 {
		t.Fatalf("migrations left after finishing every shard: %+v", st)
	}
	fuzzCheckInvariants(t, "after finishing migrations", m)
}

// FuzzConstantHasher runs operation streams on a map with one or two shards
// and a hasher that sends every key to the same shard, chain and tophash, so
// every operation walks one long overflow chain and growth keeps compacting.
func FuzzConstantHasher(f *testing.F) {
	fuzzAddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fuzzRun(t, fuzzMap(data[0], testHashFns[1], fuzzOptions(data[0], 2)...), data[1:], fuzzPlainOps)
	})
}

// FuzzDefaultHasher runs operation streams on a map with up to eight shards
// and the default seeded hasher.
func FuzzDefaultHasher(f *testing.F) {
	fuzzAddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fuzzRun(t, fuzzMap(data[0], testHashFns[0], fuzzOptions(data[0], 8)...), data[1:], fuzzPlainOps)
	})
}

// FuzzMigrations mixes StartMigration and EvacuateNext into the stream, so
// that operations run against tables frozen at any point of a grow,
// compaction or shrink. Bits 5-6 of the option byte pick a TestHasher.
func FuzzMigrations(f *testing.F) {
	fuzzAddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		h := TestHashers[int(data[0]>>5&3)%len(TestHashers)]
		fuzzRun(t, fuzzMap(data[0], h, fuzzOptions(data[0], 2)...), data[1:], fuzzAllOps)
	})
}

// fuzzSeeds are a few meaningful inputs, also committed under testdata/fuzz
// for each target: growth from empty, a shrink after mass deletes, churn that
// compacts, a Clear in the middle of a migration, and hand-started migrations
// with operations between single evacuation steps.
var fuzzSeeds = [][]byte{
	// 1 shard: fill 200 keys, read some back, check everything.
	{0, fopStoreRange, 0, 200, fopLoad, 7, fopLoadAndStore, 7, fopComputeInc, 8, fopRangeAll, 0, fopLen, 0},
	// 1 shard: fill, delete almost all (shrinks), refill a few.
	{0, fopStoreRange, 0, 250, fopDeleteRange, 0, 245, fopLoad, 248, fopStore, 3, fopRangeStop, 3, fopRangeAll, 0},
	// 2 shards, presize 40: churn inserts and deletes on the same slots.
	{1 | 2<<3, fopStoreRange, 0, 60, fopDeleteRange, 0, 30, fopStoreRange, 100, 30, fopDeleteRange, 100, 30,
		fopStoreRange, 150, 40, fopLoadOrStore, 5, fopLoadOrCompute, 40, fopComputeDelete, 41, fopComputeCancel, 42, fopRangeAll, 0},
	// 4 shards, grow-only: fill, delete all, Clear in between.
	{2 | 4, fopStoreRange, 0, 120, fopDeleteRange, 0, 120, fopStoreRange, 0, 50, fopClear, 0, fopLoad, 1, fopStore, 1, fopLen, 0},
	// Hooks (FuzzMigrations): start a grow, operate between single steps.
	{0, fopStoreRange, 0, 40, fopStartMigration, 0, fopLoad, 3, fopEvacuateNext, 0, 1, fopStore, 3, fopLoadAndDelete, 4,
		fopReadsOld, 5, fopEvacuateNext, 0, 2, fopRangeStop, 5, fopComputeInc, 6, fopRangeAll, 0},
	// Hooks: a shrink, then a compaction, with a Clear mid-migration.
	{0, fopStoreRange, 0, 30, fopStartMigration, 2, fopStore, 31, fopDelete, 1, fopEvacuateNext, 0, 3,
		fopStartMigration, 1, fopLoad, 2, fopClear, 0, fopStoreRange, 0, 20, fopStartMigration, 1, fopRangeAll, 0},
}

// fuzzAddSeeds adds fuzzSeeds to f's corpus.
func fuzzAddSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
		// The same stream over pointer values (bit 7 of the option
		// byte) and over string keys (bits 6 and 7), so that the seed
		// corpus that every test run replays covers those slot kinds too.
		if len(s) > 0 && s[0]&192 == 0 {
			for _, bits := range []byte{128, 192} {
				b := slices.Clone(s)
				b[0] |= bits
				f.Add(b)
			}
		}
	}
}
