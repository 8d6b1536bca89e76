package cache

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// TestWindowKeepsShareWhileFilling checks that a filling cache keeps its
// window at its share and moves the overflow to probation in the order the
// entries arrived.
func TestWindowKeepsShareWhileFilling(t *testing.T) {
	_, p := filledCache(t, 1000, 600)
	if w := p.window.weight; w > p.windowMax {
		t.Fatalf("window holds %d while filling, its share is %d", w, p.windowMax)
	}
	if n := p.window.len() + p.probation.len(); n != 600 {
		t.Fatalf("window and probation hold %d entries, want 600", n)
	}
	prev := -1
	for i := p.probation.tail; p.probation.holds(i); i++ {
		k := p.probation.at(i).key
		if k <= prev {
			t.Fatalf("probation holds %d after %d: not in arrival order", k, prev)
		}
		prev = k
	}
}

// TestHitsBeforeSketchDropped checks that the hits an entry gets before the
// sketch is made (the cache less than half full) do not reach it.
func TestHitsBeforeSketchDropped(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 100})
	for k := range 40 {
		c.Set(k, k)
	}
	for range 10 {
		if _, ok := c.Get(0); !ok {
			t.Fatal("key 0 missing")
		}
	}
	for k := 40; k < 60; k++ { // past half full: the sketch is made
		c.Set(k, k)
	}
	mustCheck(t, c)
	c.mu.Lock()
	if !c.pol.sketch.ready() {
		t.Fatal("no sketch at 60 entries of 100")
	}
	n, _ := c.index.Load(0)
	if h := n.acc.Load() & hitMask; h != 0 {
		t.Errorf("key 0 keeps %d hits from before the sketch", h)
	}
	c.mu.Unlock()
	c.Get(0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := n.acc.Load() & hitMask; h != 1 {
		t.Errorf("key 0 has %d hits after one Get, want 1", h)
	}
}

// sketchSum returns the sum of all of s's counters.
func sketchSum(s *sketch) (sum int) {
	for _, w := range s.table {
		for ; w != 0; w >>= 4 {
			sum += int(w & 15)
		}
	}
	return sum
}

// TestSketchHalvingKeepsAdditions checks that the additions still match what
// the counters hold after a halving. Without saturation every addition of k
// adds k to four counters, so the counters sum to four times the additions;
// halving loses another half count on every odd counter, and the additions
// must lose that too.
func TestSketchHalvingKeepsAdditions(t *testing.T) {
	var s sketch
	s.ensure(1 << 12)
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 { // few enough that no counter reaches 15
		s.add(r.Uint64(), uint32(1+r.IntN(2)))
	}
	if sum := sketchSum(&s); sum != 4*s.additions {
		t.Fatalf("before halving: counters sum to %d, additions %d", sum, s.additions)
	}
	odd := 0
	for _, w := range s.table {
		odd += bits.OnesCount64(w & 0x1111_1111_1111_1111)
	}
	if odd < 100 {
		t.Fatalf("only %d odd counters: the test needs many", odd)
	}
	s.halve()
	if sum, a := sketchSum(&s), s.additions; sum < 4*a-8 || sum > 4*a+8 {
		t.Fatalf("after halving: counters sum to %d, four times the additions is %d", sum, 4*a)
	}
}

// TestClimberSamplesKeepLength calls climb at irregular times, as the cache
// does, and checks that every sample ends a whole sample's length of
// lookups after the one before: the lookups past a sample's end start the
// next one.
func TestClimberSamplesKeepLength(t *testing.T) {
	p := newPolicy[int, int](100, false, func(k int) uint64 { return uint64(k) }, 1)
	p.sketch.ensure(100)
	size := uint64(p.sketch.sampleSize)
	r := rand.New(rand.NewPCG(3, 4))
	var hits, misses uint64
	p.adjust(hits, misses)
	start := p.baseHits + p.baseMisses
	samples := 0
	for range 2000 {
		for range r.IntN(int(size) / 3) {
			if r.IntN(4) == 0 {
				misses++
			} else {
				hits++
			}
		}
		before := p.baseHits + p.baseMisses
		p.adjust(hits, misses)
		after := p.baseHits + p.baseMisses
		if p.baseHits > hits || p.baseMisses > misses {
			t.Fatalf("sample starts at %d hits, %d misses, past the counts %d, %d", p.baseHits, p.baseMisses, hits, misses)
		}
		if after != before {
			samples++
			if after != start+uint64(samples)*size {
				t.Fatalf("sample %d starts at lookup %d, want %d", samples, after, start+uint64(samples)*size)
			}
		}
	}
	if samples < 100 {
		t.Fatalf("only %d samples ended", samples)
	}
	// After more than a sample's length without a call, the next sample
	// starts afresh at the counts.
	hits += 5 * size
	p.adjust(hits, misses)
	if p.baseHits != hits || p.baseMisses != misses {
		t.Fatalf("after a long gap the sample starts at %d, %d, want the counts %d, %d", p.baseHits, p.baseMisses, hits, misses)
	}
}

// TestClimberTurnsAtFloor feeds the climber samples whose hit ratio keeps
// rising, as a warming cache's does whatever the climber does, and checks
// that it does not stay pushing against the window's floor: after a few
// samples there it tries a larger window.
func TestClimberTurnsAtFloor(t *testing.T) {
	c, p := filledCache(t, 1000, 1000)
	size := uint64(p.sketch.sampleSize)
	hits, misses := c.stats.lookups()
	floored, grew := false, false
	for i := range 10 {
		h := size * uint64(30+2*i) / 100
		hits, misses = hits+h, misses+size-h
		p.climb(hits, misses)
		switch {
		case p.windowMax <= 1:
			floored = true
		case floored:
			grew = true
		}
	}
	if !floored || !grew {
		t.Fatalf("window reached its floor: %v, grew after it: %v (window now %d of %d)", floored, grew, p.windowMax, p.max)
	}
}

// filledCache returns a cache bounded to max entries after Sets of keys
// 0..n-1, checked, and its policy, locked until the test ends.
func filledCache(t *testing.T, max, n int) (*Cache[int, int], *policy[int, int]) {
	t.Helper()
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: max})
	for k := range n {
		c.Set(k, k)
	}
	mustCheck(t, c)
	c.mu.Lock()
	t.Cleanup(c.mu.Unlock)
	return c, &c.pol
}
