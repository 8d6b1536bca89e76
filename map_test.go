package shardmap

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"

	"github.com/shardmap/shardmap/internal/typeinfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forEachHasher runs f as a subtest once per TestHasher.
func forEachHasher(t *testing.T, f func(t *testing.T, h TestHasher)) {
	for _, h := range TestHashers {
		t.Run(h.Name, func(t *testing.T) { f(t, h) })
	}
}

func TestMapOperations(t *testing.T) {
	forEachHasher(t, func(t *testing.T, h TestHasher) {
		m := New[uint64, string](append(h.Options(), WithShards(2))...)

		_, ok := m.Load(1)
		assert.False(t, ok, "Load on empty map")

		m.Store(1, "a")
		v, ok := m.Load(1)
		assert.True(t, ok)
		assert.Equal(t, "a", v)

		prev, loaded := m.LoadAndStore(1, "b")
		assert.True(t, loaded)
		assert.Equal(t, "a", prev)
		prev, loaded = m.LoadAndStore(2, "c")
		assert.False(t, loaded)
		assert.Equal(t, "", prev)

		actual, loaded := m.LoadOrStore(1, "z")
		assert.True(t, loaded)
		assert.Equal(t, "b", actual)
		actual, loaded = m.LoadOrStore(3, "d")
		assert.False(t, loaded)
		assert.Equal(t, "d", actual)

		calls := 0
		actual, loaded = m.LoadOrCompute(3, func() string { calls++; return "x" })
		assert.True(t, loaded)
		assert.Equal(t, "d", actual)
		actual, loaded = m.LoadOrCompute(4, func() string { calls++; return "e" })
		assert.False(t, loaded)
		assert.Equal(t, "e", actual)
		assert.Equal(t, 1, calls, "LoadOrCompute calls fn only for a missing key")

		assert.Equal(t, 4, m.Len())
		v, loaded = m.LoadAndDelete(4)
		assert.True(t, loaded)
		assert.Equal(t, "e", v)
		_, loaded = m.LoadAndDelete(4)
		assert.False(t, loaded)
		m.Delete(3)
		m.Delete(3)
		assert.Equal(t, 2, m.Len())

		got := map[uint64]string{}
		for k, v := range m.All() {
			got[k] = v
		}
		assert.Equal(t, map[uint64]string{1: "b", 2: "c"}, got)

		m.Clear()
		assert.Equal(t, 0, m.Len())
		_, ok = m.Load(1)
		assert.False(t, ok, "Load after Clear")
		m.Store(1, "again")
		v, _ = m.Load(1)
		assert.Equal(t, "again", v, "map usable after Clear")
		require.NoError(t, m.CheckInvariants())
	})
}

func TestCompute(t *testing.T) {
	m := New[string, int]()
	update := func(old int, loaded bool) (int, ComputeOp) { return old + 1, UpdateOp }
	cancel := func(old int, loaded bool) (int, ComputeOp) { return 99, CancelOp }
	del := func(old int, loaded bool) (int, ComputeOp) { return 99, DeleteOp }

	v, ok := m.Compute("k", cancel)
	assert.Equal(t, []any{0, false}, []any{v, ok}, "cancel on a missing key")
	_, present := m.Load("k")
	assert.False(t, present, "cancel must not insert")

	v, ok = m.Compute("k", update)
	assert.Equal(t, []any{1, true}, []any{v, ok}, "update inserts")
	v, ok = m.Compute("k", update)
	assert.Equal(t, []any{2, true}, []any{v, ok}, "update sees the old value")

	v, ok = m.Compute("k", cancel)
	assert.Equal(t, []any{2, true}, []any{v, ok}, "cancel returns the current value")
	v, _ = m.Load("k")
	assert.Equal(t, 2, v, "cancel leaves the value")

	v, ok = m.Compute("k", del)
	assert.Equal(t, []any{0, false}, []any{v, ok}, "delete")
	_, present = m.Load("k")
	assert.False(t, present)
	v, ok = m.Compute("k", del)
	assert.Equal(t, []any{0, false}, []any{v, ok}, "delete of a missing key")
	assert.Equal(t, 0, m.Len())

	assert.PanicsWithValue(t, "shardmap: Compute: fn returned unknown ComputeOp(7)", func() {
		m.Compute("k", func(int, bool) (int, ComputeOp) { return 0, 7 })
	})
	m.Store("k", 5) // the lock was released
	v, _ = m.Load("k")
	assert.Equal(t, 5, v)
}

// TestFloatKeys checks that float keys mean what they mean in a Go map.
func TestFloatKeys(t *testing.T) {
	m := New[float64, int](WithShards(1))
	nan := math.NaN()
	m.Store(nan, 1)
	m.Store(nan, 2)
	_, ok := m.Load(nan)
	assert.False(t, ok, "NaN never matches")
	assert.Equal(t, 2, m.Len(), "each NaN Store adds an entry")
	m.Delete(nan)
	assert.Equal(t, 2, m.Len(), "Delete(NaN) deletes nothing")

	m.Store(0.0, 10)
	m.Store(math.Copysign(0, -1), 20)
	v, ok := m.Load(0.0)
	assert.True(t, ok)
	assert.Equal(t, 20, v, "+0 and -0 are one key")
	assert.Equal(t, 3, m.Len())

	// Grow through several doublings with NaNs aboard: they must move with
	// the table and still be yielded exactly once each.
	for i := range 200 {
		m.Store(float64(i+1), i)
		m.Store(nan, -1)
	}
	require.NoError(t, m.CheckInvariants())
	nans := 0
	for k := range m.All() {
		if k != k {
			nans++
		}
	}
	assert.Equal(t, 202, nans, "Range yields every NaN entry once")
	assert.Positive(t, m.Stats().Growths)
}

func TestZeroMapPanics(t *testing.T) {
	var m Map[int, int]
	const msg = "shardmap: use of a Map not created by New"
	assert.PanicsWithValue(t, msg, func() { m.Store(1, 1) })
	assert.PanicsWithValue(t, msg, func() { m.Load(1) })
	assert.Equal(t, 0, m.Len(), "Len of the zero Map")
}

func TestOptionValidation(t *testing.T) {
	assert.PanicsWithValue(t, "shardmap: WithShards(0): shard count must be between 1 and 65536", func() { WithShards(0) })
	assert.PanicsWithValue(t, "shardmap: WithShards(65537): shard count must be between 1 and 65536", func() { WithShards(1<<16 + 1) })
	assert.PanicsWithValue(t, "shardmap: WithPresize(-1): size must not be negative", func() { WithPresize(-1) })
	assert.PanicsWithValue(t, "shardmap: WithHasher(nil)", func() { WithHasher[int](nil) })
	assert.PanicsWithValue(t,
		"shardmap: WithHasher: hasher func(string, uint64) uint64 does not take the map's key type int",
		func() { New[int, int](WithHasher(func(string, uint64) uint64 { return 0 })) })

	assert.Equal(t, 4, New[int, int](WithShards(3)).Stats().Shards, "rounded up to a power of two")
	assert.Equal(t, 1, New[int, int](WithShards(1)).Stats().Shards)
}

func TestPresizeAvoidsGrowth(t *testing.T) {
	const n = 100_000
	m := New[int, int](WithPresize(n))
	for i := range n {
		m.Store(i, i)
	}
	st := m.Stats()
	assert.Zero(t, st.Growths, "a presized map does not grow")
	assert.Equal(t, n, st.Entries)

	for i := range n {
		m.Delete(i)
	}
	assert.Zero(t, m.Stats().Shrinks, "never shrinks below its presize")
}

// TestInsertsGrowOnTime checks that a shard starts growing as soon as an
// insert would take it over the load factor, whichever path the insert
// takes (Store's short path into an empty slot, or lookup and set): after
// every insert of a new key, a shard that is not migrating holds at most 6.5
// entries per bucket, or one bucket's worth in a one-bucket table. Keys are
// only inserted, and spread by the default hash, so no compaction or shrink
// (during which inserts may run ahead of the load factor) takes place.
func TestInsertsGrowOnTime(t *testing.T) {
	for _, layout := range []struct {
		name string
		opts []Option
	}{{"inline", nil}, {"entry", []Option{withEntryLayout()}}} {
		t.Run(layout.name, func(t *testing.T) {
			m := New[uint64, uint64](append(layout.opts, WithShards(1))...)
			for i := range uint64(20_000) {
				m.Store(i, i)
				st := m.Stats()
				if limit := max(bucketCnt, loadFactorNum*(st.Buckets/loadFactorDen)); st.Migrating == 0 && st.Entries > limit {
					t.Fatalf("after %d inserts: %d entries in %d buckets, not migrating; the load factor allows %d", i+1, st.Entries, st.Buckets, limit)
				}
			}
			require.Zero(t, m.Stats().Compactions)
		})
	}
}

// TestShrink checks that memory comes back after mass deletes, and that
// WithGrowOnly keeps it.
func TestShrink(t *testing.T) {
	const n = 50_000
	for _, growOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("growOnly=", growOnly), func(t *testing.T) {
			opts := []Option{WithShards(4)}
			if growOnly {
				opts = append(opts, WithGrowOnly())
			}
			m := New[int, int](opts...)
			for i := range n {
				m.Store(i, i)
			}
			peak := m.Stats().Buckets
			for i := range n {
				m.Delete(i)
			}
			// Finish any shrink still running: reads help a quiet shard.
			for i := 0; m.Stats().Migrating > 0 && i < 1000; i++ {
				m.Load(i)
			}
			st := m.Stats()
			require.NoError(t, m.CheckInvariants())
			if growOnly {
				assert.Zero(t, st.Shrinks)
				assert.Equal(t, peak, st.Buckets)
				return
			}
			assert.Positive(t, st.Shrinks)
			assert.Zero(t, st.Migrating)
			assert.Equal(t, 4, st.Buckets, "one bucket per shard once empty (from %d)", peak)
		})
	}
}

// TestCompaction piles up overflow buckets with churn in one chain and checks
// that a same-size migration packs them away.
func TestCompaction(t *testing.T) {
	// Keys k*1000+i share bucket k of the table and one tophash;
	// WithPresize(100) gives the single shard 16 buckets, so 100 keys fit
	// without growing.
	byThousands := func(k, _ uint64) uint64 { return k / 1000 }
	m := New[uint64, uint64](WithShards(1), WithPresize(100), WithHasher(byThousands))
	for i := range uint64(100) {
		m.Store(i, i) // a 13-bucket chain: 12 overflow buckets
	}
	for i := range uint64(100) {
		m.Delete(i) // left empty, still linked
	}
	assert.Equal(t, 12, m.Stats().OverflowBuckets)
	for i := range uint64(50) {
		// 4 more overflow buckets reach 16; the next insert, into an empty
		// slot of the chain's last bucket, starts the compaction.
		due := m.Stats().OverflowBuckets == 16
		m.Store(1000+i, i)
		if due {
			require.Equal(t, uint64(1), m.Stats().Compactions, "insert %d, after the 16th overflow bucket", i)
		}
	}
	for m.EvacuateNext(0) {
	}
	st := m.Stats()
	assert.Equal(t, uint64(1), st.Compactions)
	assert.Zero(t, st.Growths, "churn at constant size must not grow the table")
	assert.Equal(t, 6, st.OverflowBuckets, "only the live 50-entry chain keeps overflow buckets")
	require.NoError(t, m.CheckInvariants())
}

// TestDirtyBitDecidesWhoHelps checks the one decision the dirty bit drives
// (dirtybit.go): readers leave a migration to active writers, and finish it
// themselves once writers stop.
func TestDirtyBitDecidesWhoHelps(t *testing.T) {
	m := New[uint64, uint64](WithShards(1), WithPresize(1000))
	for i := range uint64(1000) {
		m.Store(i, i)
	}
	require.True(t, m.StartMigration(0, Grow))
	units := m.Stats().Buckets / 2

	// Writers active: every read follows a write, finds the bit set, and
	// must not take the lock.
	for i := range uint64(units / 4) {
		m.Store(i, i+1)
		_, _ = m.Load(i)
	}
	require.True(t, m.ShardMigrating(0), "writers alone must not have finished yet")
	assert.Zero(t, m.ShardHelps(0), "readers must not help while writers make progress")

	// Writers quiet: reads alone must finish the migration.
	for i := uint64(0); m.ShardMigrating(0) && i < uint64(4*units); i++ {
		_, _ = m.Load(i)
	}
	assert.False(t, m.ShardMigrating(0), "reads must finish a migration nobody writes")
	assert.Positive(t, m.ShardHelps(0))
	assert.Zero(t, m.Stats().OldBuckets, "the old array is dropped")
	require.NoError(t, m.CheckInvariants())
}

// TestHelpYields checks that a reader that took the mutex to help yields the
// processor afterwards, so that a writer that blocked on the mutex meanwhile
// runs at once (see help), and that a reader that did not help does not.
func TestHelpYields(t *testing.T) {
	var yields int
	defer func(f func()) { yield = f }(yield)
	yield = func() { yields++ }

	m := New[uint64, uint64](WithShards(1), WithPresize(1000))
	for i := range uint64(1000) {
		m.Store(i, i)
	}
	require.True(t, m.StartMigration(0, Grow))
	m.Store(1, 2) // writer progress: the next Load must not help
	_, _ = m.Load(1)
	assert.Zero(t, m.ShardHelps(0))
	assert.Zero(t, yields, "a reader that did not help yielded")

	for i := uint64(0); m.ShardMigrating(0); i++ {
		_, _ = m.Load(i)
	}
	assert.Positive(t, m.ShardHelps(0))
	assert.GreaterOrEqual(t, uint64(yields), m.ShardHelps(0), "every help is followed by a yield")
}

// TestPiecesPairSplitChains checks place's layout in both slot layouts: in
// an array of several pieces every bucket has its own place, and the two
// buckets a grow splits an old chain into, j and j+len/2, are neighbours.
func TestPiecesPairSplitChains(t *testing.T) {
	check := func(t *testing.T, addrs []uintptr, size uintptr) {
		require.Greater(t, uintptr(len(addrs))*size, uintptr(64<<10), "the table must span several pieces")
		seen := make(map[uintptr]bool, len(addrs))
		for _, a := range addrs {
			assert.False(t, seen[a], "two buckets share an address")
			seen[a] = true
		}
		half := len(addrs) / 2
		for j := range half {
			if addrs[j+half]-addrs[j] != size {
				t.Fatalf("buckets %d and %d are %d bytes apart, want %d", j, j+half, addrs[j+half]-addrs[j], size)
			}
		}
	}
	t.Run("inline", func(t *testing.T) {
		addrs, size := New[uint64, uint64](WithShards(1), WithPresize(20000)).BucketAddrs(0)
		check(t, addrs, size)
	})
	t.Run("entries", func(t *testing.T) {
		addrs, size := New[string, int](WithShards(1), WithPresize(20000)).BucketAddrs("")
		check(t, addrs, size)
	})
}

// TestWritesAllocateOnePiece checks what place's layout is for: while a
// table grows, a write allocates at most one piece of the new array, bar a
// few whose own key's unit and the next unit in order both copy into pieces
// not yet allocated. (With the two halves of the array in separate pieces,
// 241 of these writes allocated two or more.)
func TestWritesAllocateOnePiece(t *testing.T) {
	m := New[uint64, uint64](WithShards(1))
	var twice, most int
	prev := m.PiecesAllocated(0)
	for i := range uint64(200_000) {
		m.Store(mix64(i), i)
		n := m.PiecesAllocated(0)
		if d := n - prev; d > 0 {
			most = max(most, d)
			if d > 1 {
				twice++
			}
		}
		prev = n
	}
	assert.LessOrEqual(t, most, 2, "a write allocated more than two pieces")
	assert.Less(t, twice, 20, "writes that allocated two pieces")
}

// TestReadsOldDuringMigration checks that a Load during migration really
// reads the frozen old chain and finds the right value there.
func TestReadsOldDuringMigration(t *testing.T) {
	for _, phase := range []uintptr{Grow, Compact, Shrink} {
		m := New[uint64, uint64](WithShards(1), WithPresize(200))
		for i := range uint64(100) {
			m.Store(i, i*3)
		}
		require.True(t, m.StartMigration(0, phase))
		require.True(t, m.ReadsOld(7), "phase %d: nothing evacuated yet", phase)
		v, ok := m.Load(7)
		assert.True(t, ok)
		assert.Equal(t, uint64(21), v)
		for m.EvacuateNext(0) {
		}
		assert.False(t, m.ReadsOld(7))
		v, _ = m.Load(7)
		assert.Equal(t, uint64(21), v)
		require.NoError(t, m.CheckInvariants())
	}
}

func TestLoadDoesNotAllocate(t *testing.T) {
	mu := New[uint64, uint64]()
	ms := New[string, int]()
	for i := range 10_000 {
		mu.Store(uint64(i), uint64(i))
		ms.Store(fmt.Sprint("key-", i), i)
	}
	key := "key-1234"
	assert.Zero(t, testing.AllocsPerRun(1000, func() { mu.Load(1234) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { mu.Load(1 << 40) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { ms.Load(key) }))

	// A key converted from bytes, or built in a stack buffer, stays on the
	// stack: Load does not let its key escape, even though a WithHasher
	// function could be called with it.
	b := []byte("key-1234")
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if v, ok := ms.Load(string(b)); !ok || v != 1234 {
			t.Fatalf("Load(%q) = %d, %v", b, v, ok)
		}
	}), "Load(string(b))")
	hseed := maphash.MakeSeed()
	custom := New[string, int](WithHasher(func(k string, seed uint64) uint64 {
		return maphash.String(hseed, k) ^ seed
	}))
	custom.Store("key-1234", 1234)
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if v, ok := custom.Load(string(b)); !ok || v != 1234 {
			t.Fatalf("custom hasher: Load(%q) = %d, %v", b, v, ok)
		}
	}), "Load(string(b)) with a custom hasher")
}

// TestLayout pins the sizes the memory and false-sharing arguments rest on.
func TestLayout(t *testing.T) {
	// An entry bucket is a tophash word, a state word, eight slot pointers
	// and an overflow pointer, whatever K and V are; the two words and the
	// first six slots make 64 bytes.
	assert.Equal(t, uintptr(88), unsafe.Sizeof(bucket[uint64, uint64]{}))
	assert.Equal(t, uintptr(88), unsafe.Sizeof(bucket[string, [64]byte]{}))
	assert.Equal(t, uintptr(8), unsafe.Offsetof(bucket[string, int]{}.state))
	assert.Equal(t, uintptr(16), unsafe.Offsetof(bucket[string, int]{}.slots))
	assert.Equal(t, uintptr(16), unsafe.Sizeof(entry[uint64, uint64]{}))

	// An inline bucket is two words and eight slots of whole words, 144
	// bytes for uint64 keys and values (the size of Go's classic map's
	// bucket), and holds a pointer only where a value is one: the GC does
	// not scan the bucket arrays of pointer-free K and V.
	assert.Equal(t, uintptr(16+8*16), unsafe.Sizeof(ibucket[uint64, uint64]{}))
	assert.Equal(t, uintptr(16+8*8), unsafe.Sizeof(ibucket[uint32, uint16]{}))
	assert.Equal(t, uintptr(16+8*64), unsafe.Sizeof(ibucket[[4]uint64, [4]uint64]{}))
	assert.True(t, typeinfo.PointerFree(reflect.TypeFor[ibucket[uint64, uint64]]()))
	assert.True(t, typeinfo.PointerFree(reflect.TypeFor[ibucket[[4]uint64, struct{ a, b float64 }]]()))
	assert.False(t, typeinfo.PointerFree(reflect.TypeFor[ibucket[uint64, *int]]()))
	assert.Equal(t, inlineSlots, slotsFor[uint64, uint64]())
	assert.Equal(t, inlineSlots, slotsFor[[4]uint64, struct{ a, b float64 }]())
	assert.Equal(t, inlineSlots, slotsFor[int32, struct{}]())
	assert.Equal(t, inlineStrSlots, slotsFor[string, uint64](), "a string key: its data pointer is the slot's one pointer")
	type name string
	assert.Equal(t, inlineStrSlots, slotsFor[name, [2]int32](), "a string kind")
	assert.Equal(t, uintptr(16+8*24), unsafe.Sizeof(ibucket[string, uint64]{}))
	assert.Equal(t, entrySlots, slotsFor[string, string](), "a key and a value with pointers")
	assert.Equal(t, entrySlots, slotsFor[[2]string, int](), "two pointers in a key")
	assert.Equal(t, entrySlots, slotsFor[struct{ s string }, int](), "only bare string kinds")
	assert.Equal(t, inlinePtrSlots, slotsFor[uint64, *int](), "one pointer")
	assert.Equal(t, inlinePtrSlots, slotsFor[[2]int32, map[string]int](), "a map is one pointer")
	assert.Equal(t, inlinePtrSlots, slotsFor[int, func()](), "a func is one pointer")
	assert.Equal(t, inlineStrPtrSlots, slotsFor[string, *int](), "a string key and a pointer value")
	assert.Equal(t, inlineStrPtrSlots, slotsFor[name, chan int](), "a string kind and a channel")
	assert.Equal(t, entrySlots, slotsFor[*int, *int](), "a key with a pointer")
	assert.Equal(t, entrySlots, slotsFor[uint64, []int](), "a slice is three words")
	assert.Equal(t, entrySlots, slotsFor[uint64, struct{ p *int }](), "only bare pointer kinds")
	assert.Equal(t, entrySlots, slotsFor[any, int](), "interfaces")
	assert.Equal(t, entrySlots, slotsFor[uint64, [16]uint64](), "a slot over 128 bytes")
	assert.Equal(t, entrySlots, slotsFor[[16]uint64, *int](), "a slot over 128 bytes")
	assert.Equal(t, entrySlots, slotsFor[uint64, struct {
		a int
		b []byte
	}](), "a struct with a slice")

	// A shard is two cache-line pairs: readers' fields, then writers'. Its
	// size is shardSize, which shardFor's offsets are multiples of.
	var s shard[string, int]
	assert.Equal(t, uintptr(4*cacheLine), unsafe.Sizeof(s))
	assert.Equal(t, uintptr(shardSize), unsafe.Sizeof(s))
	assert.Equal(t, uintptr(0), unsafe.Offsetof(s.tbl))
	assert.Equal(t, uintptr(2*cacheLine), unsafe.Offsetof(s.mu), "writer fields start a new cache-line pair")
	assert.Equal(t, uintptr(shardSize), unsafe.Sizeof(shard[[3]int, struct{}]{}))
}

// TestMixWordSpreadsSequentialKeys checks that the integer hash spreads
// sequential and strided keys evenly over the three bit ranges the map uses
// (hash.go): the shard (top bits), the tophash (topShift) and the bucket
// (low bits). The strides include ones that leave a key's low 32 bits, or
// all but its top byte, the same for every key.
func TestMixWordSpreadsSequentialKeys(t *testing.T) {
	const n = 1 << 18
	for _, stride := range []uint64{1, 8, 1 << 20, 1 << 32, 1 << 40, 1 << 46} {
		var shards [64]int
		var tops [128]int
		var buckets [1024]int
		seed := uint64(0x1234_5678_9abc_def0) * stride
		for i := range uint64(n) {
			h := mixWord(i*stride, seed)
			shards[h>>58]++
			tops[h>>topShift&127]++
			buckets[h&1023]++
		}
		// Pearson's chi-square over the bins has mean bins-1 and standard
		// deviation about sqrt(2*bins) for a fair hash; a bound six
		// deviations out fails by chance with negligible probability, while
		// a hash that ignores some input bits lands far beyond it.
		check := func(name string, bins []int) {
			want := float64(n) / float64(len(bins))
			chi2 := 0.0
			for _, c := range bins {
				d := float64(c) - want
				chi2 += d * d / want
			}
			k := float64(len(bins))
			if limit := k + 6*math.Sqrt(2*k); chi2 > limit {
				t.Errorf("stride %#x: %s bins chi-square %.0f > %.0f", stride, name, chi2, limit)
			}
		}
		check("shard", shards[:])
		check("tophash", tops[:])
		check("bucket", buckets[:])
	}
}

// TestDedupe checks Range's fallback copy: repeated keys are dropped, the
// first occurrence kept, entries before from untouched, and NaN keys (never
// equal to themselves) never merged.
func TestDedupe(t *testing.T) {
	e := func(k float64, v int) kv[float64, int] { return kv[float64, int]{k, v} }
	nan := math.NaN()
	buf := []kv[float64, int]{e(1, 0), e(2, 1), e(3, 2), e(2, 3), e(nan, 4), e(nan, 5), e(3, 6), e(1, 7)}
	got := dedupe(buf, 1)
	var vals []int
	for _, x := range got {
		vals = append(vals, x.value)
	}
	assert.Equal(t, []int{0, 1, 2, 4, 5, 7}, vals)
}

// TestNonComparableKeyWithCustomHasher checks that a hasher which never
// looks at the key does not let a non-comparable interface key in: it panics
// as a Go map would, before any lock is taken, and the shard stays usable.
func TestNonComparableKeyWithCustomHasher(t *testing.T) {
	m := New[any, int](WithShards(1), WithHasher(func(any, uint64) uint64 { return 0 }))
	assert.Panics(t, func() { m.Store([]int{1}, 1) })
	assert.Panics(t, func() { m.Load(map[int]int{}) })
	assert.Zero(t, m.Len())
	m.Store(1, 1)
	v, ok := m.Load(1)
	assert.True(t, ok)
	assert.Equal(t, 1, v)
}

// TestMatchLanes checks the SWAR lane tests against a byte-by-byte model on
// tophash words as buckets hold them (every lane emptyTop or a byte with
// fullTop set): matchTop reports every lane equal to top, and any other lane
// it reports is occupied (so a key comparison follows, never an empty slot's
// stale words); matchEmpty and matchFull are exact.
func TestMatchLanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	extras := 0
	for range 200_000 {
		var word uint64
		for i := range bucketCnt {
			switch rng.IntN(4) {
			case 0: // empty
			case 1: // near a likely top, to provoke borrows
				word = withTop(word, i, fullTop|0x11^uint8(rng.IntN(2)))
			default:
				word = withTop(word, i, fullTop|uint8(rng.IntN(128)))
			}
		}
		top := fullTop | uint8(rng.IntN(128))
		if rng.IntN(2) == 0 {
			top = fullTop | 0x11
		}
		mt, me, mf := matchTop(word, top), matchEmpty(word), matchFull(word)
		for i := range bucketCnt {
			lane := uint64(0x80) << (8 * i)
			b := topAt(word, i)
			if (b == top) && mt&lane == 0 {
				t.Fatalf("matchTop(%#016x, %#x) misses lane %d", word, top, i)
			}
			if b != top && mt&lane != 0 {
				if b == emptyTop {
					t.Fatalf("matchTop(%#016x, %#x) reports empty lane %d", word, top, i)
				}
				extras++
			}
			if (b == emptyTop) != (me&lane != 0) || (b != emptyTop) != (mf&lane != 0) {
				t.Fatalf("matchEmpty/matchFull(%#016x) wrong at lane %d", word, i)
			}
		}
		if (mt|me|mf)&^msbs != 0 {
			t.Fatalf("match words for %#016x set bits outside the lanes' high bits", word)
		}
	}
	// The model above would also pass an exact matchTop; this says the
	// generator reaches the borrow case the comment on matchTop describes.
	assert.NotZero(t, extras, "no false-positive lane generated")
}

// TestLoadOrComputeNilFunc checks that a nil function panics on a miss, as
// calling it would, instead of storing the zero value, and leaves the shard
// unlocked and the key absent; on a hit it is never called.
func TestLoadOrComputeNilFunc(t *testing.T) {
	m := New[string, int]()
	m.Store("a", 1)
	v, loaded := m.LoadOrCompute("a", nil)
	assert.True(t, loaded)
	assert.Equal(t, 1, v)
	assert.Panics(t, func() { m.LoadOrCompute("b", nil) })
	_, ok := m.Load("b")
	assert.False(t, ok, "nothing stored")
	m.Store("b", 2) // the shard's lock was released
	v, _ = m.Load("b")
	assert.Equal(t, 2, v)
}
