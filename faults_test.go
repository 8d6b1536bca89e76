package shardmap

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Faults and adversarial input: panics thrown out of the functions a Map
// calls back (Range bodies, Compute and LoadOrCompute functions) while other
// goroutines keep working, keys chosen to collide, a hasher that collides
// everything, adversarial key orders, and a map grown large and emptied
// again.

// faultWatchdog is how long a concurrent fault test may take before it is
// reported as a deadlock (a panic that left a shard locked) instead of
// hanging until the go test timeout.
const faultWatchdog = 2 * time.Minute

// faultRaceEnabled reports whether the test binary was built with -race.
func faultRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// faultBoom is the value the tests panic with.
type faultBoom struct{ n int }

// faultRecover runs f and returns the value it panicked with, or nil.
func faultRecover(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// faultWait waits for wg, failing the test if that takes longer than
// faultWatchdog.
func faultWait(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(faultWatchdog):
		t.Fatalf("%s did not finish within %v: a panic probably left a shard locked", what, faultWatchdog)
	}
}

// TestFaultPanicInRangeBody panics out of Range and All bodies, on a map
// whose shards are half migrated, while writers keep storing other keys. The
// panic reaches the caller unchanged, the body is not called again after it,
// the writers finish with every store visible, and the map stays consistent.
func TestFaultPanicInRangeBody(t *testing.T) {
	const stable, writers, perWriter = 2000, 2, 3000
	m := New[uint64, uint64](WithShards(4))
	for k := range uint64(stable) {
		m.Store(k, k)
	}
	for k := range uint64(4 * 64) { // reaches every shard
		m.StartMigration(k, Grow)
	}
	require.Positive(t, m.Stats().Migrating)

	// Each writer stores its keys in order and deletes every third step the
	// key half as far along; script replays the same steps on m or a model.
	script := func(w int, store func(k, v uint64), del func(k uint64)) {
		base := uint64(1+w) << 32
		for i := range uint64(perWriter) {
			store(base+i, i)
			if i%3 == 0 {
				del(base + i/2)
			}
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { script(w, m.Store, m.Delete) })
	}

	iterations := 0
	for round := 0; round < 200; round++ {
		stopAt := 1 + round%50
		calls := 0
		body := func(k, v uint64) bool {
			calls++
			if calls == stopAt {
				panic(faultBoom{round})
			}
			return true
		}
		var p any
		if round%2 == 0 {
			p = faultRecover(func() { m.Range(body) })
		} else {
			p = faultRecover(func() {
				for k, v := range m.All() {
					body(k, v)
				}
			})
		}
		require.Equal(t, faultBoom{round}, p, "round %d: the body's panic must reach the caller unchanged", round)
		require.Equal(t, stopAt, calls, "round %d: the body ran again after it panicked", round)
		iterations++
	}
	faultWait(t, &wg, "writers")

	require.NoError(t, m.CheckInvariants())
	for k := range uint64(stable) {
		v, ok := m.Load(k)
		require.True(t, ok && v == k, "stable key %d: (%d, %v)", k, v, ok)
	}
	for w := range writers {
		model := map[uint64]uint64{}
		script(w, func(k, v uint64) { model[k] = v }, func(k uint64) { delete(model, k) })
		base := uint64(1+w) << 32
		for k := base; k < base+perWriter; k++ {
			want, present := model[k]
			v, ok := m.Load(k)
			require.True(t, v == want && ok == present, "writer %d key %d: (%d, %v), want (%d, %v)", w, k-base, v, ok, want, present)
		}
	}
	// A full Range after all the panics sees every key once.
	seen := map[uint64]int{}
	m.Range(func(k, _ uint64) bool { seen[k]++; return true })
	assert.Equal(t, m.Len(), len(seen))
	for k, n := range seen {
		require.Equal(t, 1, n, "key %d yielded %d times", k, n)
	}
	t.Logf("%d panicking iterations; %+v", iterations, m.Stats())
}

// TestFaultPanicInCompute has several goroutines panic out of Compute and
// LoadOrCompute functions at the same time, on shared keys, while readers
// load them, on a map that grows throughout. (TestPanickingCallbacksReleaseTheLock
// panics from one goroutine at a time with bystanders; this test counts.) A
// panicking function changes nothing and releases the shard: counters end
// at exactly the number of increments that did not panic, readers never see
// a counter go backwards, and a key whose LoadOrCompute function panicked is
// stored by the first call that did not.
func TestFaultPanicInCompute(t *testing.T) {
	const workers, counters, lazies, rounds = 4, 64, 512, 1500
	m := New[uint64, uint64](WithShards(2))
	var panics, increments [counters]atomic.Int64
	var lazyCalls [lazies]atomic.Int64
	errs := make([]error, workers)
	var stop atomic.Bool
	var wg, readers sync.WaitGroup

	// Readers: a counter read by one goroutine never goes backwards.
	var backwards atomic.Int64
	for range 2 {
		readers.Go(func() {
			var last [counters]uint64
			for !stop.Load() {
				for c := range uint64(counters) {
					if v, _ := m.Load(c); v < last[c] {
						backwards.Add(1)
					} else {
						last[c] = v
					}
				}
			}
		})
	}
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			for i := range rounds {
				c := uint64(rng.IntN(counters))
				boom := rng.IntN(4) == 0
				p := faultRecover(func() {
					m.Compute(c, func(old uint64, loaded bool) (uint64, ComputeOp) {
						if boom {
							panic(faultBoom{i})
						}
						return old + 1, UpdateOp
					})
				})
				switch {
				case boom && p != (faultBoom{i}):
					errs[w] = fmt.Errorf("Compute: want panic %v, got %v", faultBoom{i}, p)
					return
				case !boom && p != nil:
					errs[w] = fmt.Errorf("Compute panicked with %v", p)
					return
				case boom:
					panics[c].Add(1)
				default:
					increments[c].Add(1)
				}
				// Lazy keys: the first two calls of a key's function panic.
				l := rng.IntN(lazies)
				_ = faultRecover(func() {
					m.LoadOrCompute(uint64(1<<32+l), func() uint64 {
						if lazyCalls[l].Add(1) <= 2 {
							panic(faultBoom{-l})
						}
						return uint64(l)
					})
				})
				// Growth: fresh keys keep the shards migrating.
				m.Store(uint64(2<<32+w*rounds+i), 1)
			}
		})
	}
	faultWait(t, &wg, "Compute workers")
	stop.Store(true)
	faultWait(t, &readers, "readers")
	for _, err := range errs {
		require.NoError(t, err)
	}

	assert.Zero(t, backwards.Load(), "a reader saw a counter go backwards")
	total := int64(0)
	for c := range uint64(counters) {
		v, ok := m.Load(c)
		want := increments[c].Load()
		total += panics[c].Load()
		if want == 0 {
			assert.False(t, ok, "counter %d: only panicking increments, yet present", c)
			continue
		}
		assert.Equal(t, uint64(want), v, "counter %d: %d increments, %d panicked", c, want, panics[c].Load())
	}
	assert.Positive(t, total, "no Compute function panicked")
	for l := range lazies {
		v, ok := m.Load(uint64(1<<32 + l))
		switch n := lazyCalls[l].Load(); {
		case n <= 2:
			assert.False(t, ok, "lazy key %d: every function call panicked, yet present", l)
		default:
			assert.True(t, ok && v == uint64(l), "lazy key %d: (%d, %v) after %d calls", l, v, ok, n)
		}
	}
	st := m.Stats()
	assert.Positive(t, st.Growths, "the map never grew during the test")
	require.NoError(t, m.CheckInvariants())
	t.Logf("%d panicking Compute calls; %+v", total, st)
}

// TestFaultHashFloodingIsPerMap finds, by brute force, keys that all land in
// one shard, one bucket and one tophash in map A, and shows that they pile
// into one overflow chain there but spread out in map B, built with the same
// options: the hash seed is per map, so keys that flood one map do not flood
// another. It runs for integer keys (the seeded multiply-mix) and for string
// keys (maphash.Comparable).
func TestFaultHashFloodingIsPerMap(t *testing.T) {
	t.Run("uint64", func(t *testing.T) { faultFlood(t, func(i uint64) uint64 { return i }) })
	t.Run("string", func(t *testing.T) { faultFlood(t, func(i uint64) string { return fmt.Sprintf("key-%d", i) }) })
}

// faultFlood runs TestFaultHashFloodingIsPerMap for keys key(0), key(1), ...
func faultFlood[K comparable](t *testing.T, key func(uint64) K) {
	const n = 64 // colliding keys
	// Room for 104 entries per shard (more, with WithPresize's headroom):
	// 64 keys in one shard neither grow it nor, in one chain of 8 buckets,
	// trigger a compaction.
	opts := []Option{WithShards(4), WithPresize(4 * 104)}
	a, bm := New[K, uint64](opts...), New[K, uint64](opts...)
	st0 := a.Stats()
	b := uint8(bits.Len(uint(st0.Buckets/st0.Shards)) - 1) // log2 buckets per shard
	require.GreaterOrEqual(t, b, uint8(4), "each shard must start with at least 16 buckets: %+v", st0)

	s0, b0, t0 := a.CollisionClass(key(0), b)
	keys := []K{key(0)}
	for i := uint64(1); len(keys) < n; i++ {
		if s, bk, top := a.CollisionClass(key(i), b); s == s0 && bk == b0 && top == t0 {
			keys = append(keys, key(i))
		}
	}
	for i, k := range keys {
		a.Store(k, uint64(i))
		bm.Store(k, uint64(i))
	}

	stA, stB := a.Stats(), bm.Stats()
	assert.Zero(t, stA.Growths, "A must not grow: the point is one chain at fixed size")
	assert.Equal(t, n/bucketCnt, a.MaxChain(), "A: all %d keys in one chain", n)
	assert.Equal(t, n/bucketCnt-1, stA.OverflowBuckets)
	assert.LessOrEqual(t, bm.MaxChain(), 2, "B: the same keys must spread out")

	classes := map[[3]uint64]bool{}
	for _, k := range keys {
		s, bk, top := bm.CollisionClass(k, b)
		classes[[3]uint64{uint64(s), bk, uint64(top)}] = true
	}
	assert.Greater(t, len(classes), n/2, "B: the keys fall into few collision classes")
	for i, k := range keys {
		va, oka := a.Load(k)
		vb, okb := bm.Load(k)
		require.True(t, oka && okb && va == uint64(i) && vb == uint64(i), "key %v", k)
	}
	t.Logf("A: longest chain %d buckets, %d overflow; B: longest chain %d, %d overflow, %d collision classes",
		a.MaxChain(), stA.OverflowBuckets, bm.MaxChain(), stB.OverflowBuckets, len(classes))
}

// TestFaultConstantHasher runs four goroutines, each owning a disjoint set of
// keys and a model of them, against one map whose hasher sends every key to
// one chain with one tophash, so every operation scans every key and growth
// keeps compacting one long chain under concurrent readers. Every result
// must match the owner's model, and Stats must show the overflow chain.
func TestFaultConstantHasher(t *testing.T) {
	const workers, keysPer, opsPer = 4, 200, 2000
	m := New[uint64, uint64](WithShards(2), WithHasher(func(uint64, uint64) uint64 { return 0 }))
	models := make([]map[uint64]uint64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			model := map[uint64]uint64{}
			models[w] = model
			rng := rand.New(rand.NewPCG(uint64(w), 6))
			for i := range opsPer {
				k := uint64(w*keysPer + rng.IntN(keysPer))
				want, present := model[k]
				val := uint64(i + 1)
				var got uint64
				var ok bool
				switch rng.IntN(6) {
				case 0, 1:
					got, ok = m.LoadAndStore(k, val)
					model[k] = val
				case 2:
					got, ok = m.LoadAndDelete(k)
					delete(model, k)
				case 3:
					got, ok = m.Compute(k, func(old uint64, _ bool) (uint64, ComputeOp) { return old + 1, UpdateOp })
					want, present = want+1, true
					model[k] = want
				case 4:
					got, ok = m.LoadOrStore(k, val)
					if !present {
						want, present = val, false
						model[k] = val
					}
				default:
					got, ok = m.Load(k)
				}
				if got != want || ok != present {
					errs[w] = fmt.Errorf("worker %d op %d key %d: got (%d, %v), want (%d, %v)", w, i, k, got, ok, want, present)
					return
				}
			}
		})
	}
	faultWait(t, &wg, "workers")
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, m.CheckInvariants())
	all := map[uint64]uint64{}
	for _, model := range models {
		for k, v := range model {
			all[k] = v
		}
	}
	got := map[uint64]uint64{}
	m.Range(func(k, v uint64) bool { got[k] = v; return true })
	assert.Equal(t, all, got)
	assert.Equal(t, len(all), m.Len())

	st := m.Stats()
	assert.Positive(t, st.OverflowBuckets, "one chain of %d keys needs overflow buckets", len(all))
	assert.GreaterOrEqual(t, m.MaxChain(), (len(all)+bucketCnt-1)/bucketCnt, "every key must sit in one chain")
	assert.Positive(t, st.Growths+st.Compactions, "the map never migrated")
	t.Logf("%d keys in one chain of %d buckets; %+v", len(all), m.MaxChain(), st)
}

// faultBigN is the size TestFaultBucketsComeBack grows a map to: 4M, or 1M
// under -short or -race.
func faultBigN() int {
	if testing.Short() || faultRaceEnabled() {
		return 1 << 20
	}
	return 4 << 20
}

// faultFinishMigrations lets readers finish any migration left running (a
// reader helps when no writer made progress since the last reader looked)
// and returns the number of Loads it took.
func faultFinishMigrations(m *Map[uint64, uint64], limit int) int {
	n := 0
	for ; n < limit && m.Stats().Migrating > 0; n++ {
		for k := range uint64(64) {
			m.Load(k)
		}
	}
	return n
}

// TestFaultBucketsComeBack grows a map to faultBigN entries and deletes them
// all: the shards shrink back to their minimal tables and drop their old
// arrays. With WithGrowOnly they keep their largest size instead.
func TestFaultBucketsComeBack(t *testing.T) {
	n := faultBigN()
	for _, growOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("growOnly=%v", growOnly), func(t *testing.T) {
			var opts []Option
			size := n
			if growOnly {
				opts = append(opts, WithGrowOnly())
				size = n / 8 // the point is only that nothing shrinks
			}
			m := New[uint64, uint64](opts...)
			minimal := m.Stats().Buckets
			for k := range uint64(size) {
				m.Store(k, k)
			}
			faultFinishMigrations(m, 1<<20)
			peak := m.Stats()
			require.Equal(t, size, peak.Entries)
			require.Greater(t, peak.Buckets, size/8, "the map did not grow")
			for k := range uint64(size) {
				m.Delete(k)
			}
			faultFinishMigrations(m, 1<<20)
			st := m.Stats()
			assert.Zero(t, st.Entries)
			assert.Zero(t, st.OldBuckets, "old arrays are dropped")
			if growOnly {
				assert.Zero(t, st.Shrinks)
				assert.Equal(t, peak.Buckets, st.Buckets, "WithGrowOnly must keep the largest tables")
			} else {
				assert.Positive(t, st.Shrinks)
				assert.Equal(t, minimal, st.Buckets, "the shards must shrink back to their minimal tables")
			}
			require.NoError(t, m.CheckInvariants())
			t.Logf("%d entries: peak %d buckets, after deleting all %d buckets (%d shrinks)", size, peak.Buckets, st.Buckets, st.Shrinks)
		})
	}
}

// faultIdentity is a hasher a user might write for keys that are already
// random-looking: the key itself. Every key lands in shard 0 and consecutive
// keys in consecutive buckets.
func faultIdentity(k, _ uint64) uint64 { return k }

// TestMigrationFinishesAfterOutOfOrderEvacuation is a regression test for
// migrations that never finish. Writers evacuate the old chain of the key
// they write, out of order, and then the unit at nevacuate. Evacuating the
// unit at nevacuate advances nevacuate over already-evacuated units, at most
// maxAdvance at a time; if more than maxAdvance units in a row ahead of
// nevacuate were already evacuated, nevacuate stops on an evacuated unit.
// Every later attempt to evacuate that unit returns at once because it is
// evacuated, without advancing nevacuate, so neither writers nor helping
// readers ever move it again: the shard keeps its old array forever and,
// since no migration starts while one runs, never grows again, its chains
// growing without bound.
func TestMigrationFinishesAfterOutOfOrderEvacuation(t *testing.T) {
	t.Run("hooks", func(t *testing.T) {
		// 4096 buckets; the grow's old array has 4096 units. Writing keys
		// 1100..2299 evacuates their units out of order, 1200 in a row,
		// while nevacuate follows one unit per write behind them.
		m := New[uint64, uint64](WithShards(1), WithHasher(faultIdentity), WithPresize(26000))
		require.True(t, m.StartMigration(0, Grow))
		units := m.Stats().OldBuckets
		require.Equal(t, 4096, units)
		for k := uint64(1100); k < 2300; k++ {
			m.Store(k, k)
		}
		for i := 0; i <= units && m.ShardMigrating(0); i++ {
			m.EvacuateNext(0)
		}
		assert.False(t, m.ShardMigrating(0), "%d EvacuateNext calls did not finish a %d-unit migration: %+v", units+1, units, m.Stats())
		require.NoError(t, m.CheckInvariants())
	})
	t.Run("sequential-keys", func(t *testing.T) {
		// No hooks: consecutive keys under the identity hasher. When the
		// table grows from 4096 buckets, the next key's old chain is 2048
		// units ahead of nevacuate, and the writes walk ahead in step.
		m := New[uint64, uint64](WithHasher(faultIdentity))
		const n = 100_000
		for k := range uint64(n) {
			m.Store(k, k)
		}
		loads := faultFinishMigrations(m, 1<<14)
		st := m.Stats()
		assert.Zero(t, st.Migrating, "a migration is still running after %d rounds of reads: %+v", loads, st)
		assert.GreaterOrEqual(t, float64(st.Buckets)*loadFactorNum/loadFactorDen, float64(n),
			"the table stopped growing: %d entries in %d buckets", n, st.Buckets)
		require.NoError(t, m.CheckInvariants())
	})
}

// TestPresizeHoldsWithManyShards is a regression test for WithPresize, which
// promises room for n entries without growing. New gives every shard room
// for exactly n/shards entries, but keys do not split evenly: a shard's count
// is spread about the mean by its square root, so with a per-shard room close
// to the mean about half the shards overflow and grow. Here n is chosen so
// that the per-shard room equals the mean (6.5 x 256 = 1664 entries per
// shard). With the default shard count on a 16-CPU machine (64 shards),
// WithPresize(100_000) followed by 100,000 stores grows about one map in
// five, which is how TestPresizeAvoidsGrowth fails under GOMAXPROCS=16.
func TestPresizeHoldsWithManyShards(t *testing.T) {
	for _, shards := range []int{64, 256} {
		t.Run(fmt.Sprint(shards, "-shards"), func(t *testing.T) {
			n := shards * 1664
			m := New[int, int](WithShards(shards), WithPresize(n))
			for k := range n {
				m.Store(k, k)
			}
			st := m.Stats()
			assert.Equal(t, n, st.Entries)
			assert.Zero(t, st.Growths, "WithPresize(%d) over %d shards: %d shards grew", n, shards, st.Growths)
		})
	}
}
