package shardmap

// Concurrency tests: readers racing migrations, iteration held open across
// writes, atomic read-modify-write, panics inside callbacks, Clear under
// load, reclamation of dropped values, migrations finished by readers, and
// non-comparable dynamic keys. Every test checks that the event it is about
// (a growth, a shrink, a compaction, a read of a frozen old chain, a help)
// really happened, through Stats or the hooks in export_test.go.

import (
	"fmt"
	"iter"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// concValue is a self-checking map value: Key repeats the key it was stored
// under, Gen says which write produced it, and Sum is derived from both, so a
// value read back for the wrong key, or a mix of two values, fails validFor.
type concValue struct {
	Key, Gen, Sum uint64
}

// concValGen returns the value that generation gen stores for key k.
func concValGen(k, gen uint64) concValue {
	return concValue{Key: k, Gen: gen, Sum: mix64(k*0x9e3779b97f4a7c15 ^ gen)}
}

// concVal returns the generation-0 value for key k.
func concVal(k uint64) concValue { return concValGen(k, 0) }

// validFor reports whether v is a value some generation stored for key k.
func (v concValue) validFor(k uint64) bool {
	return v.Key == k && v.Sum == mix64(k*0x9e3779b97f4a7c15^v.Gen)
}

// concScale returns n, or short under -short.
func concScale(n, short int) int {
	if testing.Short() {
		return short
	}
	return n
}

// concOpts returns WithShards(shards) followed by the hasher's options.
func concOpts(shards int, h TestHasher) []Option {
	return append([]Option{WithShards(shards)}, h.Options()...)
}

// concShardKeys returns, for each shard that some key in [0, n) hashes to,
// one such key, to aim the hooks at every populated shard.
func concShardKeys[V any](m *Map[uint64, V], n uint64) []uint64 {
	seen := map[*shard[uint64, V]]bool{}
	var keys []uint64
	for k := range n {
		if s := m.shardFor(m.hash(k)); !seen[s] {
			seen[s] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// concStartEverywhere finishes any running migration in the shards of keys
// and then starts phase in each of them, evacuating nothing, so that the next
// reader finds every old chain unevacuated.
func concStartEverywhere[V any](t *testing.T, m *Map[uint64, V], keys []uint64, phase uintptr) {
	t.Helper()
	for _, k := range keys {
		for i := 0; m.EvacuateNext(k) && i < 1<<20; i++ {
		}
		require.True(t, m.StartMigration(k, phase), "StartMigration(%d, %d)", k, phase)
	}
}

// concErrs reports failures found on worker goroutines through t, at most a
// few of them, so that a broken map does not flood the log. Workers must
// have returned before the test does.
type concErrs struct {
	t *testing.T
	n atomic.Int64
}

// Errorf records a failure and logs the first few.
func (e *concErrs) Errorf(format string, args ...any) {
	if e.n.Add(1) <= 5 {
		e.t.Errorf(format, args...)
	}
}

// concWithin runs f on its own goroutine and fails the test if f has not
// returned after d. A shard lock left held shows up as a hang; this turns the
// hang into a failure instead of a test-binary timeout.
func concWithin(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v: a shard lock is still held", what, d)
	}
}

// loadChecker runs reader goroutines against a Map. stable keys must be
// present with their generation-0 value on every Load for as long as the
// checker runs; probe keys may come and go, but a Load that finds one must
// return a valid value for it; absent is never stored and must never be
// found. One more goroutine ranges over the map over and over: no key twice,
// every stable key with its value, every value valid for its key.
type loadChecker struct {
	m       *Map[uint64, concValue]
	stable  []uint64
	probes  []uint64
	absent  uint64
	errs    *concErrs
	stop    atomic.Bool
	wg      sync.WaitGroup
	loads   atomic.Int64
	ranges  atomic.Int64
	oldHits atomic.Int64 // Loads whose key's chain was a frozen old chain as the Load began
}

// startLoadChecker starts n loading readers and one ranging reader.
func startLoadChecker(t *testing.T, m *Map[uint64, concValue], stable, probes []uint64, absent uint64, n int) *loadChecker {
	c := &loadChecker{m: m, stable: stable, probes: probes, absent: absent, errs: &concErrs{t: t}}
	for range n {
		c.wg.Go(c.read)
	}
	c.wg.Go(c.rangeLoop)
	return c
}

// rangeLoop is the ranging reader's loop.
func (c *loadChecker) rangeLoop() {
	stable := make(map[uint64]bool, len(c.stable))
	for _, k := range c.stable {
		stable[k] = true
	}
	for !c.stop.Load() {
		seen := make(map[uint64]bool, 2*len(stable))
		c.m.Range(func(k uint64, v concValue) bool {
			if seen[k] {
				c.errs.Errorf("Range yielded key %d twice", k)
			}
			seen[k] = true
			if !v.validFor(k) || stable[k] && v != concVal(k) {
				c.errs.Errorf("Range yielded key %d with %+v", k, v)
			}
			return true
		})
		for _, k := range c.stable {
			if !seen[k] {
				c.errs.Errorf("Range missed key %d, present for the whole test", k)
			}
		}
		c.ranges.Add(1)
		runtime.Gosched()
	}
}

// read is one reader's loop.
func (c *loadChecker) read() {
	for !c.stop.Load() {
		for _, k := range c.stable {
			old := c.m.ReadsOld(k)
			v, ok := c.m.Load(k)
			switch {
			case !ok:
				c.errs.Errorf("Load(%d) of a key present for the whole test: not found (old chain: %v)", k, old)
			case v != concVal(k):
				c.errs.Errorf("Load(%d) = %+v, want %+v (old chain: %v)", k, v, concVal(k), old)
			}
			if old {
				c.oldHits.Add(1)
			}
		}
		for _, k := range c.probes {
			if v, ok := c.m.Load(k); ok && !v.validFor(k) {
				c.errs.Errorf("Load(%d) = %+v: not a value stored for that key", k, v)
			}
		}
		if v, ok := c.m.Load(c.absent); ok {
			c.errs.Errorf("Load(%d) found %+v, but that key is never stored", c.absent, v)
		}
		c.loads.Add(int64(len(c.stable) + len(c.probes) + 1))
		runtime.Gosched()
	}
}

// awaitOldRead lets the readers run until one of them reads a frozen old
// chain, with a bound on the wait. Writers call it right after a migration
// starts so that readers get to see the old array on every number of CPUs.
// It holds key's shard locked meanwhile, as a stalled writer would: readers
// can then neither help nor finish the migration, yet their Loads must still
// answer without waiting. Under the lock nothing is evacuated, so if no
// stable key of that shard reads an old chain now, none will: return at once.
func (c *loadChecker) awaitOldRead(key uint64) {
	unlock := c.m.LockShard(key)
	defer unlock()
	if !slices.ContainsFunc(c.stable, c.m.ReadsOld) {
		return
	}
	h := c.oldHits.Load()
	for i := 0; i < 200_000 && c.oldHits.Load() == h; i++ {
		runtime.Gosched()
	}
}

// finish stops the readers and waits for them.
func (c *loadChecker) finish() {
	c.stop.Store(true)
	c.wg.Wait()
}

// TestConcurrentLoadsDuringMigrations races readers against writers whose
// inserts grow the map, whose deletes shrink it and who start compactions
// (plus one growth and one shrink) through the hooks. Readers must find
// every stable key with its own value on every Load, including Loads that
// read a frozen old chain.
func TestConcurrentLoadsDuringMigrations(t *testing.T) {
	for _, h := range TestHashers {
		t.Run(h.Name, func(t *testing.T) {
			testLoadsDuringMigrations(t, h)
		})
	}
	t.Run("natural-compaction", testLoadsDuringNaturalCompaction)
}

// testLoadsDuringMigrations is one hasher's run of
// TestConcurrentLoadsDuringMigrations.
func testLoadsDuringMigrations(t *testing.T, h TestHasher) {
	const (
		stableN = 48
		churn   = 200
		writers = 2
		readers = 3
	)
	cycles := concScale(12, 3)
	m := New[uint64, concValue](concOpts(2, h)...)
	stable := make([]uint64, stableN)
	for i := range stable {
		stable[i] = uint64(i)
		m.Store(stable[i], concVal(stable[i]))
	}
	churnKey := func(w, i int) uint64 { return uint64(w+1)<<32 | uint64(i) }
	var probes []uint64
	for w := range writers {
		for i := 0; i < churn; i += 25 {
			probes = append(probes, churnKey(w, i))
		}
	}
	before := m.Stats()
	c := startLoadChecker(t, m, stable, probes, 1<<62, readers)

	// Migrations started through the hooks, so that the natural ones can be
	// told apart in the totals.
	var hookGrows, hookShrinks, hookCompacts atomic.Int64
	hook := func(key uint64, phase uintptr, n *atomic.Int64) {
		for range 100 {
			if m.StartMigration(key, phase) {
				n.Add(1)
				c.awaitOldRead(key)
				return
			}
			// A migration is running; one write finishes part of it.
			m.Store(key, concVal(key))
		}
	}
	// write does one writer operation and, when it started a migration in
	// the key's shard, gives the readers a chance to read the old array.
	write := func(key uint64, op func()) {
		was := m.ShardMigrating(key)
		op()
		if !was && m.ShardMigrating(key) {
			c.awaitOldRead(key)
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for cyc := range cycles {
				for i := range churn {
					k := churnKey(w, i)
					write(k, func() { m.Store(k, concVal(k)) })
					if i%16 == 0 {
						// Replace a stable key's entry by an equal one:
						// readers must never see the slot empty.
						s := stable[(i/16+cyc)%stableN]
						write(s, func() { m.Store(s, concVal(s)) })
					}
				}
				for i := range churn {
					k := churnKey(w, i)
					write(k, func() { m.Delete(k) })
				}
				if w == 0 {
					key := stable[cyc%stableN]
					hook(key, Compact, &hookCompacts)
					if cyc == 0 {
						hook(key, Grow, &hookGrows)
						hook(key, Shrink, &hookShrinks)
					}
				}
			}
		})
	}
	wg.Wait()
	c.finish()

	after := m.Stats()
	t.Logf("%d loads, %d of a frozen old chain, %d ranges; %+v", c.loads.Load(), c.oldHits.Load(), c.ranges.Load(), after)
	assert.Positive(t, c.ranges.Load())
	assert.Greater(t, after.Growths-before.Growths, uint64(hookGrows.Load()), "inserts must have grown the map")
	assert.Greater(t, after.Shrinks-before.Shrinks, uint64(hookShrinks.Load()), "deletes must have shrunk the map")
	assert.Positive(t, hookCompacts.Load(), "no compaction could be started")
	assert.Greater(t, after.Compactions, before.Compactions)
	assert.Positive(t, c.oldHits.Load(), "no Load read a frozen old chain")
	require.NoError(t, m.CheckInvariants())
	assert.Equal(t, stableN, m.Len())
	for _, k := range stable {
		v, ok := m.Load(k)
		assert.True(t, ok && v == concVal(k), "key %d: %+v, %v", k, v, ok)
	}
}

// testLoadsDuringNaturalCompaction lets inserts start compactions on their
// own: bursts of keys sharing one chain leave empty overflow buckets behind
// once deleted, until a shard holds as many overflow buckets as buckets.
func testLoadsDuringNaturalCompaction(t *testing.T) {
	// Keys c<<10|i share chain c; WithPresize(100) gives the single shard 16
	// buckets and keeps it from shrinking, and the 16+32 live entries never
	// reach the growth threshold.
	byChunk := func(k, _ uint64) uint64 { return k >> 10 }
	m := New[uint64, concValue](WithShards(1), WithPresize(100), WithHasher(byChunk))
	var stable, probes []uint64
	for ch := range uint64(16) {
		stable = append(stable, ch<<10|1000)
		probes = append(probes, ch<<10|3)
	}
	for _, k := range stable {
		m.Store(k, concVal(k))
	}
	c := startLoadChecker(t, m, stable, probes, 1<<62, 3)
	rounds := concScale(48, 16)
	for r := range rounds {
		ch := uint64(r % 16)
		for i := range uint64(32) {
			k := ch<<10 | i
			was := m.ShardMigrating(k)
			m.Store(k, concVal(k))
			if !was && m.ShardMigrating(k) {
				c.awaitOldRead(k)
			}
		}
		for i := range uint64(32) {
			m.Delete(ch<<10 | i)
		}
	}
	c.finish()
	st := m.Stats()
	t.Logf("%d loads, %d of a frozen old chain, %d ranges; %+v", c.loads.Load(), c.oldHits.Load(), c.ranges.Load(), st)
	assert.Positive(t, c.ranges.Load())
	assert.Positive(t, st.Compactions, "churn must have compacted the shard")
	assert.Zero(t, st.Growths)
	assert.Zero(t, st.Shrinks)
	assert.Positive(t, c.oldHits.Load(), "no Load read a frozen old chain")
	require.NoError(t, m.CheckInvariants())
	assert.Equal(t, len(stable), m.Len())
}

// TestRangeDuringSlotReuse ranges over one long chain (the constant hasher
// puts every key in chain 0) while a writer moves keys from its head to its
// tail: delete x, insert y (which takes x's slot, the first free one), insert
// x again (which goes to the first free slot after it). A copy of the chain
// that overlaps a move sees x twice unless Range notices that the chain's
// version moved (dirtybit.go). Range must never yield a key twice, and must
// yield every key the writer leaves alone.
func TestRangeDuringSlotReuse(t *testing.T) {
	const moversN, stableN = 64, 200
	m := New[uint64, concValue](WithShards(1), WithHasher(TestHashers[1].Fn))
	// Inserted first, the movers fill the chain's first buckets.
	var movers, stable []uint64
	for k := range uint64(moversN + stableN) {
		m.Store(k, concVal(k))
		if k < moversN {
			movers = append(movers, k)
		} else {
			stable = append(stable, k)
		}
	}
	c := startLoadChecker(t, m, stable, movers, 1<<62, 1)
	rounds := concScale(40, 10)
	// Two writers, each moving half the movers, so that the chain's version
	// moves during most of Range's copies.
	var wg sync.WaitGroup
	for w := range 2 {
		half := movers[w*moversN/2 : (w+1)*moversN/2]
		wg.Go(func() {
			y := func(x uint64) uint64 { return 1<<20 + x }
			for r := range rounds {
				for _, x := range half { // head to tail
					m.Delete(x)
					m.Store(y(x), concVal(y(x)))
					m.Store(x, concVal(x))
				}
				for _, x := range half { // and back
					m.Delete(x)
					m.Delete(y(x))
					m.Store(x, concVal(x))
				}
				if r%4 == 3 {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	c.finish()
	st := m.Stats()
	t.Logf("%d ranges, %d loads; %+v", c.ranges.Load(), c.loads.Load(), st)
	assert.Positive(t, c.ranges.Load())
	assert.Zero(t, st.Migrating+int(st.Compactions), "the chain must stay put (no migration)")
	require.NoError(t, m.CheckInvariants())
	assert.Equal(t, stableN+moversN, m.Len())
}

// TestIterationHeldOpenAcrossMutations starts the iteration while every
// shard runs a migration that has evacuated nothing yet (so Range must read
// frozen old chains), pulls from m.All() a couple of items at a time and,
// between pulls, inserts and deletes bursts of keys (growing
// and shrinking the map), deletes and re-stores other keys, and starts and
// partly runs compactions. The iteration must never yield a key twice, must
// yield every key that stayed present and unchanged, and must only yield
// values that were stored for their key.
func TestIterationHeldOpenAcrossMutations(t *testing.T) {
	for _, h := range TestHashers {
		for _, ph := range concPhases {
			t.Run(h.Name+"/"+ph.name, func(t *testing.T) {
				testIterationHeldOpen(t, h, ph.phase)
			})
		}
	}
}

// concPhases names the migrations the hooks can start.
var concPhases = []struct {
	name  string
	phase uintptr
}{{"grow", Grow}, {"compact", Compact}, {"shrink", Shrink}}

// testIterationHeldOpen is one run of TestIterationHeldOpenAcrossMutations:
// the iteration starts while every shard runs a migration of the given phase
// that has evacuated nothing yet.
func testIterationHeldOpen(t *testing.T, h TestHasher, phase uintptr) {
	const stableN, volatileN, burstN = 40, 40, 160
	m := New[uint64, concValue](concOpts(2, h)...)
	isStable := func(k uint64) bool { return k < stableN }
	isVolatile := func(k uint64) bool { return k >= 1000 && k < 1000+volatileN }
	burstKey := func(r, i int) uint64 { return 1<<20 + uint64(r)<<10 + uint64(i) }
	isBurst := func(k uint64) bool { return k >= 1<<20 && k < 1<<30 }
	for k := range uint64(stableN) {
		m.Store(k, concVal(k))
	}
	for k := range uint64(volatileN) {
		m.Store(1000+k, concVal(1000+k))
	}
	shardKeys := concShardKeys(m, stableN)
	concStartEverywhere(t, m, shardKeys, phase)
	before := m.Stats()
	compactions := 0
	mutate := func(r int) {
		switch r % 4 {
		case 0: // grow
			for i := range burstN {
				k := burstKey(r, i)
				m.Store(k, concVal(k))
			}
		case 1: // shrink
			for i := range burstN {
				m.Delete(burstKey(r-1, i))
			}
		case 2: // delete and re-store under a new generation
			for k := range uint64(volatileN) {
				m.Delete(1000 + k)
			}
			for k := uint64(0); k < volatileN; k += 2 {
				m.Store(1000+k, concValGen(1000+k, uint64(r)))
			}
		case 3: // a compaction, half done
			for _, k := range shardKeys {
				if m.StartMigration(k, Compact) {
					compactions++
					m.EvacuateNext(k)
				}
			}
		}
	}

	next, stop := iter.Pull2(m.All())
	defer stop()
	seen := map[uint64]concValue{}
	pullsWhileMigrating := 0
	for step := 0; ; step++ {
		if m.Stats().Migrating > 0 {
			pullsWhileMigrating++
		}
		k, v, ok := next()
		if !ok {
			break
		}
		if _, dup := seen[k]; dup {
			t.Errorf("key %d yielded twice", k)
		}
		seen[k] = v
		switch {
		case !isStable(k) && !isVolatile(k) && !isBurst(k):
			t.Errorf("yielded key %d, which was never stored", k)
		case !v.validFor(k):
			t.Errorf("key %d yielded with %+v, never stored for it", k, v)
		case isStable(k) && v != concVal(k):
			t.Errorf("stable key %d yielded with %+v, want %+v", k, v, concVal(k))
		}
		if step%2 == 1 {
			mutate(step / 2)
		}
	}
	after := m.Stats()
	var missed []uint64
	for k := range uint64(stableN) {
		if _, ok := seen[k]; !ok {
			missed = append(missed, k)
		}
	}
	assert.Empty(t, missed, "stable keys never yielded")
	t.Logf("%d yielded, %d pulls while migrating; %+v", len(seen), pullsWhileMigrating, after)
	assert.Greater(t, after.Growths, before.Growths, "no growth during the iteration")
	assert.Greater(t, after.Shrinks, before.Shrinks, "no shrink during the iteration")
	assert.Positive(t, compactions, "no compaction during the iteration")
	assert.Positive(t, pullsWhileMigrating, "no pull while a shard was migrating")
	require.NoError(t, m.CheckInvariants())
}

// TestRangeBodyMutates calls Store and Delete on the map from inside Range's
// body: first deleting some keys (the yielded key itself, or one not yet
// seen) while inserting enough new ones to grow the map, then deleting every
// key yielded, which shrinks it. Each Range starts while every shard runs a
// migration started through the hooks (a compaction, then a shrink). Range must yield no key twice and every key
// the body leaves alone.
func TestRangeBodyMutates(t *testing.T) {
	for _, h := range TestHashers {
		t.Run(h.Name, func(t *testing.T) {
			const n = 300
			m := New[uint64, concValue](concOpts(2, h)...)
			for k := range uint64(n) {
				m.Store(k, concVal(k))
			}
			shardKeys := concShardKeys(m, n)
			concStartEverywhere(t, m, shardKeys, Compact)
			before := m.Stats()
			seen := map[uint64]bool{}
			added := uint64(0)
			m.Range(func(k uint64, v concValue) bool {
				if seen[k] {
					t.Errorf("key %d yielded twice", k)
				}
				seen[k] = true
				if !v.validFor(k) {
					t.Errorf("key %d yielded with %+v", k, v)
				}
				if k >= n {
					return true // added by this body
				}
				switch k % 3 {
				case 0:
					m.Delete(k)
				case 1:
					m.Delete(k + 1) // k%3 == 2: deleted, perhaps before its turn
				}
				for range 2 {
					m.Store(n+added, concVal(n+added))
					added++
				}
				return true
			})
			mid := m.Stats()
			for k := uint64(1); k < n; k += 3 {
				assert.True(t, seen[k], "key %d, untouched by the body, was not yielded", k)
			}
			for k := range uint64(n) {
				_, ok := m.Load(k)
				assert.Equal(t, k%3 == 1, ok, "key %d after the first Range", k)
			}
			for i := range added {
				_, ok := m.Load(n + i)
				assert.True(t, ok, "key %d stored by the body is missing", n+i)
			}
			assert.Greater(t, mid.Growths, before.Growths, "the body's stores must have grown the map")
			require.NoError(t, m.CheckInvariants())

			concStartEverywhere(t, m, shardKeys, Shrink)
			// Delete everything from inside the body. A key never yielded
			// would never have been deleted, so it would have been present
			// and unchanged throughout: Range must leave the map empty.
			seen = map[uint64]bool{}
			m.Range(func(k uint64, _ concValue) bool {
				if seen[k] {
					t.Errorf("key %d yielded twice", k)
				}
				seen[k] = true
				m.Delete(k)
				return true
			})
			// Finish the last shrink with reads, then check.
			for i := 0; m.Stats().Migrating > 0 && i < 1000; i++ {
				m.Load(uint64(i))
			}
			end := m.Stats()
			assert.Zero(t, m.Len(), "Range with a deleting body left keys behind")
			assert.Greater(t, end.Shrinks, mid.Shrinks, "the body's deletes must have shrunk the map")
			require.NoError(t, m.CheckInvariants())
		})
	}
}

// TestConcurrentComputeSums has many goroutines increment a few keys with
// Compute while another goroutine grows and shrinks the same shard. Every
// increment must be applied exactly once: the totals add up, and the values
// Compute returns for one key are exactly 1..total, each once.
func TestConcurrentComputeSums(t *testing.T) {
	const (
		hot        = 4
		goroutines = 8
	)
	perG := concScale(2000, 400)
	m := New[uint64, int64](WithShards(1))
	var done atomic.Bool
	var churnWG sync.WaitGroup
	churnWG.Go(func() {
		for cycle := 0; cycle == 0 || !done.Load(); cycle++ {
			for k := uint64(100); k < 400; k++ {
				m.Store(k, 0)
			}
			for k := uint64(100); k < 400; k++ {
				m.Delete(k)
			}
		}
	})
	got := make([][hot][]int64, goroutines) // values Compute returned, per goroutine and key
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				k := (g + i) % hot
				v, ok := m.Compute(uint64(k), func(old int64, loaded bool) (int64, ComputeOp) {
					return old + 1, UpdateOp
				})
				if !ok {
					t.Errorf("Compute(%d) with UpdateOp reported the key absent", k)
				}
				got[g][k] = append(got[g][k], v)
			}
		})
	}
	wg.Wait()
	done.Store(true)
	churnWG.Wait()

	want := int64(goroutines * perG / hot)
	for k := range hot {
		v, ok := m.Load(uint64(k))
		assert.True(t, ok)
		assert.Equal(t, want, v, "key %d", k)
		returned := map[int64]bool{}
		for g := range goroutines {
			for _, x := range got[g][k] {
				if returned[x] {
					t.Errorf("key %d: two increments both returned %d", k, x)
				}
				returned[x] = true
			}
		}
		for x := int64(1); x <= want; x++ {
			if !returned[x] {
				t.Errorf("key %d: no increment returned %d", k, x)
				break
			}
		}
	}
	st := m.Stats()
	assert.Positive(t, st.Growths, "the churn must have grown the shard")
	assert.Positive(t, st.Shrinks, "the churn must have shrunk the shard")
	require.NoError(t, m.CheckInvariants())
}

// TestLoadOrComputeRunsOnce releases many goroutines at once on
// LoadOrCompute for a fresh key, round after round, while the map grows: fn
// must run exactly once per key, exactly one caller must see loaded=false,
// and all must get the value fn returned.
func TestLoadOrComputeRunsOnce(t *testing.T) {
	const goroutines = 8
	rounds := concScale(300, 60)
	m := New[uint64, uint64](WithShards(2))
	type result struct {
		v      uint64
		loaded bool
	}
	for r := range rounds {
		key := uint64(r)
		var calls atomic.Int64
		start := make(chan struct{})
		results := make([]result, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				<-start
				v, loaded := m.LoadOrCompute(key, func() uint64 {
					calls.Add(1)
					return key<<8 | uint64(g)
				})
				results[g] = result{v, loaded}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int64(1), calls.Load(), "round %d: fn calls", r)
		stored, ok := m.Load(key)
		require.True(t, ok)
		fresh := 0
		for g, res := range results {
			assert.Equal(t, stored, res.v, "round %d, goroutine %d", r, g)
			if !res.loaded {
				fresh++
			}
		}
		require.Equal(t, 1, fresh, "round %d: callers that saw loaded=false", r)
	}
	assert.Equal(t, rounds, m.Len())
	assert.Positive(t, m.Stats().Growths, "the map must have grown during the rounds")
	require.NoError(t, m.CheckInvariants())
}

// concPanic is the value the panicking callbacks panic with.
type concPanic struct{ n int }

// TestPanickingCallbacksReleaseTheLock panics inside Compute and
// LoadOrCompute callbacks (and returns an unknown op from Compute) on a
// one-shard map, some of them while the shard migrates, with other
// goroutines writing to the same shard throughout. The panic must reach the
// caller, the entry must be unchanged, the lock must be free for the next
// write to the same key, and the other goroutines must finish with correct
// results.
func TestPanickingCallbacksReleaseTheLock(t *testing.T) {
	const keys = 100
	m := New[uint64, uint64](WithShards(1))
	val := func(k uint64) uint64 { return k*7 + 1 }
	for k := range uint64(keys) {
		m.Store(k, val(k))
	}
	errs := &concErrs{t: t}
	var bystanders sync.WaitGroup
	var stop atomic.Bool
	for g := range uint64(3) {
		bystanders.Go(func() {
			base := 1000 * (g + 1)
			for i := uint64(0); !stop.Load() || i < 300; i++ {
				k := base + i%300
				m.Store(k, val(k))
				if v, ok := m.Load(k); !ok || v != val(k) {
					errs.Errorf("bystander: Load(%d) = %d, %v after Store", k, v, ok)
				}
				if i%3 == 0 {
					m.Delete(k)
				}
			}
		})
	}

	rounds := concScale(60, 20)
	var migrating atomic.Int64
	for r := range rounds {
		k := uint64(r % keys)
		absent := uint64(1 << 40)
		p := concPanic{r}
		// A lock left held makes the next call hang; concWithin turns that
		// into a failure.
		concWithin(t, 30*time.Second, fmt.Sprintf("round %d", r), func() {
			if r%2 == 0 {
				// Grow, shrink and compact in turn: the table keeps its size.
				m.StartMigration(k, []uintptr{Grow, Shrink, Compact}[r/2%3])
			}
			if m.ShardMigrating(k) {
				migrating.Add(1)
			}
			assert.PanicsWithValue(t, p, func() {
				m.Compute(k, func(old uint64, loaded bool) (uint64, ComputeOp) {
					panic(p)
				})
			}, "Compute on a present key")
			assert.PanicsWithValue(t, p, func() {
				m.Compute(absent, func(uint64, bool) (uint64, ComputeOp) { panic(p) })
			}, "Compute on an absent key")
			assert.PanicsWithValue(t, p, func() {
				m.LoadOrCompute(absent, func() uint64 { panic(p) })
			}, "LoadOrCompute on an absent key")
			assert.Panics(t, func() {
				m.Compute(k, func(old uint64, loaded bool) (uint64, ComputeOp) { return 0, ComputeOp(9) })
			}, "Compute returning an unknown op")

			v, ok := m.Load(k)
			assert.True(t, ok && v == val(k), "key %d after panics: %d, %v", k, v, ok)
			_, ok = m.Load(absent)
			assert.False(t, ok, "a panicking callback stored its key")

			// The same key and shard take writes again.
			m.Store(k, val(k))
			v, loaded := m.LoadOrCompute(absent, func() uint64 { return 5 })
			assert.True(t, !loaded && v == 5, "LoadOrCompute after a panicking one: %d, %v", v, loaded)
			m.Delete(absent)
		})
	}
	stop.Store(true)
	concWithin(t, 30*time.Second, "bystander writers", bystanders.Wait)
	assert.Positive(t, migrating.Load(), "no callback panicked while the shard migrated")
	for k := range uint64(keys) {
		v, ok := m.Load(k)
		assert.True(t, ok && v == val(k), "key %d: %d, %v", k, v, ok)
	}
	require.NoError(t, m.CheckInvariants())
}

// TestClearUnderLoad clears the map repeatedly while writers store and
// delete and readers load. Afterwards the structure must be sound, and Len,
// Stats().Entries and a Range count must agree.
func TestClearUnderLoad(t *testing.T) {
	const (
		writers = 3
		perW    = 400
	)
	clears := concScale(100, 30)
	m := New[uint64, concValue](WithShards(4))
	var (
		stop     atomic.Bool
		progress atomic.Int64
		wg       sync.WaitGroup
	)
	// tick tells the clearing goroutine that writers have refilled the map
	// some more since it last looked.
	tick := make(chan struct{}, 1)
	errs := &concErrs{t: t}
	for w := range uint64(writers) {
		wg.Go(func() {
			for i := uint64(0); !stop.Load(); i++ {
				k := w<<32 | i%perW
				m.Store(k, concValGen(k, i))
				if i%4 == 3 {
					m.Delete(w<<32 | (i-2)%perW)
				}
				progress.Add(1)
				if i%200 == 199 {
					select {
					case tick <- struct{}{}:
					default:
					}
					runtime.Gosched()
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for i := uint64(0); !stop.Load(); i++ {
				k := (i%writers)<<32 | i%perW
				if v, ok := m.Load(k); ok && !v.validFor(k) {
					errs.Errorf("Load(%d) = %+v", k, v)
				}
				if i%perW == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	nonEmpty := 0
	for range clears {
		<-tick // writers have stored more since the last Clear
		if m.Len() > 0 {
			nonEmpty++
		}
		m.Clear()
	}
	stop.Store(true)
	wg.Wait()

	require.NoError(t, m.CheckInvariants())
	n := 0
	seen := map[uint64]bool{}
	m.Range(func(k uint64, v concValue) bool {
		n++
		if seen[k] {
			t.Errorf("key %d yielded twice", k)
		}
		seen[k] = true
		if !v.validFor(k) {
			t.Errorf("key %d ranged with %+v", k, v)
		}
		return true
	})
	st := m.Stats()
	t.Logf("%d writes, %d clears of a non-empty map; %+v", progress.Load(), nonEmpty, st)
	assert.Positive(t, nonEmpty, "Clear never met a non-empty map")
	assert.Positive(t, st.Growths, "writers must have grown the map between clears")
	assert.Equal(t, n, m.Len(), "Len vs Range count")
	assert.Equal(t, n, st.Entries, "Stats().Entries vs Range count")

	m.Clear()
	st = m.Stats()
	assert.Zero(t, m.Len())
	assert.Zero(t, st.Entries)
	assert.Zero(t, st.OldBuckets, "Clear must drop old arrays")
	m.Range(func(k uint64, _ concValue) bool {
		t.Errorf("key %d ranged after Clear", k)
		return true
	})
	m.Store(7, concVal(7))
	v, ok := m.Load(7)
	assert.True(t, ok && v == concVal(7), "Store after Clear")
	require.NoError(t, m.CheckInvariants())
}

// concPayload is a heap value too big for the tiny allocator, so that a weak
// pointer to it goes nil as soon as nothing else references it.
type concPayload struct {
	key uint64
	_   [56]byte
}

// storeTracked stores a fresh payload for k and returns only a weak pointer
// to it, so the caller's frame holds no strong reference.
//
//go:noinline
func storeTracked(m *Map[uint64, *concPayload], k uint64) weak.Pointer[concPayload] {
	p := &concPayload{key: k}
	m.Store(k, p)
	return weak.Make(p)
}

// concCollected runs the collector a bounded number of times and reports
// whether wp's target has been reclaimed while m is still reachable (were m
// itself collectable, the test would prove nothing).
func concCollected(m *Map[uint64, *concPayload], wp weak.Pointer[concPayload]) bool {
	defer runtime.KeepAlive(m)
	for range 10 {
		runtime.GC()
		if wp.Value() == nil {
			return true
		}
	}
	return false
}

// concAlive runs the collector and reports whether wp's target survived,
// with m still reachable.
func concAlive(m *Map[uint64, *concPayload], wp weak.Pointer[concPayload]) bool {
	defer runtime.KeepAlive(m)
	runtime.GC()
	return wp.Value() != nil
}

// TestDroppedValuesAreCollectable checks that the map lets go of values it
// no longer holds: deleted, replaced, cleared, and those an old array still
// references during a migration, once the migration ends and the old array
// is dropped.
func TestDroppedValuesAreCollectable(t *testing.T) {
	newMap := func() *Map[uint64, *concPayload] {
		m := New[uint64, *concPayload](WithShards(1))
		for k := uint64(100); k < 300; k++ {
			m.Store(k, &concPayload{key: k})
		}
		return m
	}
	t.Run("delete", func(t *testing.T) {
		m := newMap()
		wp := storeTracked(m, 1)
		m.Delete(1)
		assert.True(t, concCollected(m, wp))
	})
	t.Run("load-and-delete", func(t *testing.T) {
		m := newMap()
		wp := storeTracked(m, 1)
		_, loaded := m.LoadAndDelete(1)
		assert.True(t, loaded)
		assert.True(t, concCollected(m, wp))
	})
	t.Run("compute-delete", func(t *testing.T) {
		m := newMap()
		wp := storeTracked(m, 1)
		m.Compute(1, func(*concPayload, bool) (*concPayload, ComputeOp) { return nil, DeleteOp })
		assert.True(t, concCollected(m, wp))
	})
	t.Run("replace", func(t *testing.T) {
		m := newMap()
		first := storeTracked(m, 1)
		second := storeTracked(m, 1)
		assert.True(t, concCollected(m, first), "the replaced value")
		assert.True(t, concAlive(m, second), "the current value must stay")
		p, ok := m.Load(1)
		assert.True(t, ok && p.key == 1)
	})
	t.Run("clear", func(t *testing.T) {
		m := newMap()
		wp := storeTracked(m, 1)
		require.True(t, m.StartMigration(1, Grow))
		m.Store(2, &concPayload{key: 2}) // evacuates some chains
		m.Clear()
		assert.True(t, concCollected(m, wp))
	})
	for _, phase := range concPhases {
		for _, replace := range []bool{false, true} {
			name := fmt.Sprintf("old-array/%s/delete", phase.name)
			if replace {
				name = fmt.Sprintf("old-array/%s/replace", phase.name)
			}
			t.Run(name, func(t *testing.T) {
				m := newMap()
				wp := storeTracked(m, 1)
				require.True(t, m.StartMigration(1, phase.phase))
				// The write evacuates key 1's old chain (copying the entry
				// into the new array) and then drops it from the new array.
				if replace {
					m.Store(1, &concPayload{key: 1})
				} else {
					m.Delete(1)
				}
				require.True(t, m.ShardMigrating(1), "the migration must still be running")
				require.False(t, m.ReadsOld(1), "key 1's old chain must be evacuated")
				assert.True(t, concAlive(m, wp), "the frozen old chain still references the value")
				for i := 0; m.EvacuateNext(1) && i < 10_000; i++ {
				}
				require.False(t, m.ShardMigrating(1))
				assert.Zero(t, m.Stats().OldBuckets)
				assert.True(t, concCollected(m, wp), "value kept after the old array was dropped")
			})
		}
	}
}

// TestStalledMigrationFinishesByReads starts a migration, stops writing, and
// lets reader goroutines alone (Load, or Range) finish it: the shard must
// stop migrating, drop its old array, and count the readers' helps; every
// read meanwhile must see every key.
func TestStalledMigrationFinishesByReads(t *testing.T) {
	cases := []struct {
		name     string
		phase    uintptr // 0: started by an insert
		n        uint64
		useRange bool
	}{
		{"grow-by-insert", 0, 2000, false},
		{"grow", Grow, 2000, false},
		{"compact", Compact, 2000, false},
		{"shrink", Shrink, 2000, false},
		{"grow-by-insert/range", 0, 300, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New[uint64, uint64](WithShards(1))
			val := func(k uint64) uint64 { return k*11 + 3 }
			n := tc.n
			for k := range n {
				m.Store(k, val(k))
			}
			if tc.phase == 0 {
				for !m.ShardMigrating(n) {
					m.Store(n, val(n))
					n++
				}
			} else {
				require.True(t, m.StartMigration(0, tc.phase))
			}
			st0 := m.Stats()
			require.Equal(t, 1, st0.Migrating)
			require.Positive(t, st0.OldBuckets)

			errs := &concErrs{t: t}
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					for pass := 0; m.ShardMigrating(0) && pass < 4*st0.OldBuckets; pass++ {
						if tc.useRange {
							cnt := uint64(0)
							m.Range(func(k, v uint64) bool {
								if v != val(k) {
									errs.Errorf("Range: key %d = %d", k, v)
								}
								cnt++
								return true
							})
							if cnt != n {
								errs.Errorf("Range saw %d keys, want %d", cnt, n)
							}
							continue
						}
						for k := range n {
							if v, ok := m.Load(k); !ok || v != val(k) {
								errs.Errorf("Load(%d) = %d, %v", k, v, ok)
							}
						}
					}
				})
			}
			wg.Wait()
			st := m.Stats()
			t.Logf("before %+v; after %+v", st0, st)
			assert.Zero(t, st.Migrating, "reads did not finish the migration")
			assert.Zero(t, st.OldBuckets, "the old array was not dropped")
			assert.Greater(t, st.Helps, st0.Helps, "no reader helped")
			assert.Equal(t, int(n), st.Entries)
			require.NoError(t, m.CheckInvariants())
		})
	}
}

// TestNonComparableKeyPanics stores and loads interface keys whose dynamic
// type is not comparable in an any-keyed one-shard map. Every method must
// panic, as a Go map does, without calling the callbacks, and the shard must
// stay usable: other goroutines writing to it all along finish, and later
// writes and reads of comparable keys work.
func TestNonComparableKeyPanics(t *testing.T) {
	bad := []any{
		[]int{1},
		map[string]int{"a": 1},
		func() {},
		struct{ f any }{[]int{2}}, // comparable type, non-comparable value
		[1]any{map[int]int{}},
	}
	goMap := map[any]int{}
	m := New[any, int](WithShards(1))
	m.Store(1, 1)
	m.Store("one", 1)

	errs := &concErrs{t: t}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load() || i < 200; i++ {
				k := fmt.Sprint("g", g, "-", i%200)
				m.Store(k, i)
				if v, ok := m.Load(k); !ok || v != i {
					errs.Errorf("Load(%q) = %d, %v", k, v, ok)
				}
			}
		})
	}
	called := false
	for _, k := range bad {
		name := fmt.Sprintf("%T", k)
		require.Panics(t, func() { goMap[k] = 1 }, "%s: a Go map panics", name)
		assert.Panics(t, func() { m.Store(k, 1) }, "%s: Store", name)
		assert.Panics(t, func() { m.Load(k) }, "%s: Load", name)
		assert.Panics(t, func() { m.LoadOrStore(k, 1) }, "%s: LoadOrStore", name)
		assert.Panics(t, func() { m.LoadAndStore(k, 1) }, "%s: LoadAndStore", name)
		assert.Panics(t, func() { m.Delete(k) }, "%s: Delete", name)
		assert.Panics(t, func() { m.LoadAndDelete(k) }, "%s: LoadAndDelete", name)
		assert.Panics(t, func() {
			m.Compute(k, func(int, bool) (int, ComputeOp) { called = true; return 1, UpdateOp })
		}, "%s: Compute", name)
		assert.Panics(t, func() {
			m.LoadOrCompute(k, func() int { called = true; return 1 })
		}, "%s: LoadOrCompute", name)
		concWithin(t, 30*time.Second, "Store after a non-comparable key", func() {
			m.Store(name, 2)
		})
		v, ok := m.Load(name)
		assert.True(t, ok && v == 2, "%s: Store/Load of a comparable key afterwards", name)
	}
	assert.False(t, called, "a callback ran for a non-comparable key")
	stop.Store(true)
	concWithin(t, 30*time.Second, "writers on the same shard", wg.Wait)

	v, ok := m.Load(1)
	assert.True(t, ok && v == 1)
	m.Range(func(k any, _ int) bool {
		switch k.(type) {
		case int, string:
		default:
			t.Errorf("key %v of type %T was stored", k, k)
		}
		return true
	})
	assert.Equal(t, 2+len(bad)+2*200, m.Len())
	assert.Positive(t, m.Stats().Growths, "the writers must have grown the shard")
	require.NoError(t, m.CheckInvariants())
}

// TestWritersWaitForTheMutex holds a shard's mutex while each kind of write
// runs against that shard in its own goroutine: none may finish before the
// mutex is released (a writer's lockSlow must end in Lock, not give up after
// its bounded retries), and all must finish, with their effects, after it.
func TestWritersWaitForTheMutex(t *testing.T) {
	m := New[uint64, uint64](WithShards(1))
	m.Store(3, 3)
	m.Store(4, 4)
	m.Store(5, 5)
	writes := []func(){
		func() { m.Store(1, 10) },
		func() { m.LoadOrStore(2, 20) },
		func() { m.LoadAndStore(3, 30) },
		func() { m.Delete(4) },
		func() { m.LoadAndDelete(5) },
		func() {
			m.Compute(6, func(uint64, bool) (uint64, ComputeOp) { return 60, UpdateOp })
		},
	}
	release := m.HoldShard(0)
	var finished atomic.Int32
	var wg sync.WaitGroup
	for _, w := range writes {
		wg.Go(func() {
			w()
			finished.Add(1)
		})
	}
	// Let the writers run well past their retries and into Lock.
	for range 10_000 {
		runtime.Gosched()
		if n := finished.Load(); n != 0 {
			release()
			wg.Wait()
			t.Fatalf("%d writes finished while the shard's mutex was held", n)
		}
	}
	release()
	wg.Wait()
	assert.Equal(t, int32(len(writes)), finished.Load())
	want := map[uint64]uint64{1: 10, 2: 20, 3: 30, 6: 60}
	assert.Equal(t, want, maps.Collect(m.All()))
}
