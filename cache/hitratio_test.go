package cache

import (
	"container/list"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// zipf draws ranks 0..n-1 with P(rank r) proportional to 1/(r+1)^s, for any
// s > 0 (math/rand/v2's Zipf needs s > 1), by inverting a precomputed CDF.
type zipf struct {
	cdf []float64
	r   *rand.Rand
}

func newZipf(r *rand.Rand, s float64, n int) *zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return &zipf{cdf: cdf, r: r}
}

func (z *zipf) next() int {
	return sort.SearchFloat64s(z.cdf, z.r.Float64())
}

// lru is a plain least-recently-used cache, the baseline.
type lru struct {
	max   int
	order *list.List // front: most recent
	items map[int]*list.Element
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[int]*list.Element)}
}

// access returns whether k was cached, then makes it the most recent.
func (l *lru) access(k int) bool {
	if e, ok := l.items[k]; ok {
		l.order.MoveToFront(e)
		return true
	}
	if l.order.Len() >= l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(int))
	}
	l.items[k] = l.order.PushFront(k)
	return false
}

// replay runs a trace through a cache of the given size (get, then set on a
// miss) and through an LRU, and returns both hit ratios.
func replay(t *testing.T, trace []int, size int) (ours, base float64) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: size})
	l := newLRU(size)
	var hits, lhits int
	for _, k := range trace {
		if _, ok := c.Get(k); ok {
			hits++
		} else {
			c.Set(k, k)
		}
		if l.access(k) {
			lhits++
		}
	}
	mustCheck(t, c)
	return float64(hits) / float64(len(trace)), float64(lhits) / float64(len(trace))
}

const traceKeys = 100_000

// traceLen is the length of the Zipf traces: shorter under the race
// detector, where the ratios are only checked, not reported.
func traceLen() int {
	if raceEnabled {
		return 60_000
	}
	return 300_000
}

// zipfTrace returns n draws from a Zipf(s) distribution over traceKeys keys.
func zipfTrace(seed uint64, s float64, n int) []int {
	z := newZipf(rand.New(rand.NewPCG(seed, 0)), s, traceKeys)
	trace := make([]int, n)
	for i := range trace {
		trace[i] = z.next()
	}
	return trace
}

// TestHitRatioZipf reports the hit ratio on a Zipf(0.9) trace next to an
// LRU of the same size. It checks only that the policy is not clearly
// worse than LRU: which one wins by how much depends on the size.
func TestHitRatioZipf(t *testing.T) {
	trace := zipfTrace(1, 0.9, traceLen())
	sizes := []int{1000, 10_000}
	if raceEnabled {
		sizes = sizes[:1]
	}
	for _, size := range sizes {
		ours, base := replay(t, trace, size)
		t.Logf("Zipf s=0.9, %d keys, cache %d: W-TinyLFU %.4f, LRU %.4f", traceKeys, size, ours, base)
		if ours < base-0.01 {
			t.Errorf("cache %d: hit ratio %.4f, LRU %.4f", size, ours, base)
		}
	}
}

// TestHitRatioScan interleaves the Zipf trace with one-time sequential scans
// of fresh keys, each longer than the cache, and checks that the policy
// keeps the hot set where LRU lets every scan flush it.
func TestHitRatioScan(t *testing.T) {
	const size = 1000
	zt := zipfTrace(2, 0.9, traceLen()/2)
	var trace []int
	scanKey := traceKeys // scan keys are never reused
	zipfAt := map[int]bool{}
	for i, k := range zt {
		zipfAt[len(trace)] = true
		trace = append(trace, k)
		if i%2000 == 1999 {
			for range 2 * size {
				trace = append(trace, scanKey)
				scanKey++
			}
		}
	}
	ours, base := replay(t, trace, size)
	// Only Zipf accesses can hit, so the ratio over them is the clearer
	// number.
	scale := float64(len(trace)) / float64(len(zipfAt))
	t.Logf("Zipf s=0.9 + scans (%d accesses, %.0f%% scan), cache %d: W-TinyLFU %.4f, LRU %.4f overall; %.4f vs %.4f on the Zipf accesses",
		len(trace), 100*(1-1/scale), size, ours, base, ours*scale, base*scale)
	if ours <= base {
		t.Fatalf("hit ratio %.4f does not beat LRU's %.4f on the scan trace", ours, base)
	}
}
