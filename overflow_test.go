package shardmap

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOverflowLinksNameDistinctBuckets hands out overflow buckets across
// several pieces for every piece size and checks that each link names the
// bucket it came with, that no two links share a bucket (each bucket keeps
// the mark written through its own link), and that valid accepts exactly
// the links handed out.
func TestOverflowLinksNameDistinctBuckets(t *testing.T) {
	for shift := uint8(0); shift <= pieceBits; shift++ {
		var o overflows
		o.init(shift + 3)
		require.Equal(t, shift, o.shift)
		n := 3<<shift + 1
		links := make([]uintptr, n)
		for i := range n {
			b, l := addOverflow[uint64, uint64](&o)
			require.NotZero(t, l)
			require.Same(t, b, (*ibucket[uint64, uint64])(o.at(l, unsafe.Sizeof(*b))), "shift %d link %#x", shift, l)
			require.True(t, o.valid(l), "shift %d link %#x", shift, l)
			b.slots[0].key = uint64(i)
			links[i] = l
		}
		assert.Equal(t, n, o.count())
		assert.Len(t, *o.dir.Load(), 1+4, "shift %d: piece 0 unused, then 4 pieces", shift)
		for i, l := range links {
			b := (*ibucket[uint64, uint64])(o.at(l, unsafe.Sizeof(ibucket[uint64, uint64]{})))
			assert.Equal(t, uint64(i), b.slots[0].key, "shift %d link %#x: another link wrote its bucket", shift, l)
		}
		last := links[n-1]
		assert.False(t, o.valid(last+1), "shift %d: a link past the last handed out", shift)
		assert.False(t, o.valid(1), "shift %d: piece 0", shift)
		if shift < pieceBits {
			assert.False(t, o.valid(1<<pieceBits|1<<shift), "shift %d: an index past its piece", shift)
		}
	}
}

// TestLongChainsLinkThroughManyPieces puts every key of a one-shard map in
// one chain (the constant hasher), so that its overflow buckets span many
// pieces of the tables it grows through, and checks every key and the
// structure (every link valid, every overflow bucket reached once) after
// filling, after deleting every other key and after refilling, for two
// bucket sizes; both grow past 2^7 buckets, to full-sized pieces.
func TestLongChainsLinkThroughManyPieces(t *testing.T) {
	t.Run("map", func(t *testing.T) { testLongChain[uint64](t, 3000, func(k uint64) uint64 { return k + 1 }) })
	t.Run("set", func(t *testing.T) { testLongChain[struct{}](t, 3000, func(uint64) struct{} { return struct{}{} }) })
}

func testLongChain[V comparable](t *testing.T, n uint64, val func(uint64) V) {
	m := New[uint64, V](WithShards(1), WithHasher(func(uint64, uint64) uint64 { return 0 }))
	require.True(t, m.Inline())
	// Each Load scans the chain, so only some keys are loaded; Range
	// reads them all.
	check := func(stage string, present func(k uint64) bool) {
		t.Helper()
		require.NoError(t, m.checkInvariants(), stage)
		want := map[uint64]V{}
		for k := range n {
			if present(k) {
				want[k] = val(k)
			}
			if k%61 == 0 {
				v, ok := m.Load(k)
				require.Equal(t, present(k), ok, "%s: key %d", stage, k)
				require.Equal(t, want[k], v, "%s: key %d", stage, k)
			}
		}
		got := map[uint64]V{}
		for k, v := range m.All() {
			got[k] = v
		}
		require.Equal(t, want, got, stage)
	}
	for k := range n {
		m.Store(k, val(k))
	}
	check("filled", func(uint64) bool { return true })
	assert.GreaterOrEqual(t, m.MaxChain(), int(n/bucketCnt), "one chain holds every key")
	for k := uint64(0); k < n; k += 2 {
		m.Delete(k)
	}
	check("odd keys deleted", func(k uint64) bool { return k%2 == 1 })
	for k := uint64(0); k < n; k += 2 {
		m.Store(k, val(k))
	}
	check("refilled", func(uint64) bool { return true })
}

// TestPrefaultWritesEveryPage checks prefault's contract for pieces of
// several sizes and start offsets: it writes a zero word into every page
// the piece spans, and writes nothing outside the piece.
func TestPrefaultWritesEveryPage(t *testing.T) {
	const page = 4096
	for _, size := range []uintptr{8, 144, 2304, page, page + 8, 18432} {
		for _, start := range []uintptr{0, 8, page - 16, page - 8} {
			buf := make([]uint64, (start+size)/8+page/8)
			for i := range buf {
				buf[i] = ^uint64(0)
			}
			base := uintptr(unsafe.Pointer(&buf[0]))
			p := unsafe.Pointer(&buf[start/8])
			prefault(p, size)
			first, last := uintptr(p), uintptr(p)+size-1
			for pg := first &^ (page - 1); pg <= last; pg += page {
				lo, hi := max(pg, first), min(pg+page-1, last)
				zeroed := false
				for a := lo; a < hi; a += 8 {
					zeroed = zeroed || buf[(a-base)/8] == 0
				}
				assert.True(t, zeroed, "size %d start %d: page at %#x not written", size, start, pg)
			}
			for i := range buf {
				a := base + uintptr(i)*8
				if a < first || a > last {
					require.Equal(t, ^uint64(0), buf[i], "size %d start %d: word %d outside the piece written", size, start, i)
				}
			}
		}
	}
}
