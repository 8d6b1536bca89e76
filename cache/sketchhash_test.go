package cache

import (
	"hash/maphash"
	"testing"
)

// TestSketchHash checks that integer keys take the multiply-mix, other
// keys maphash, and that both are seeded and tell keys apart.
func TestSketchHash(t *testing.T) {
	s1, s2 := maphash.MakeSeed(), maphash.MakeSeed()
	h1, h2 := sketchHash[uint64](s1), sketchHash[uint64](s2)
	if got, want := h1(42), mixKey(42, maphash.Comparable(s1, uint64(0x5eed5eed))); got != want {
		t.Errorf("sketchHash[uint64](42) = %#x, want the multiply-mix %#x", got, want)
	}
	if h1(42) == h2(42) {
		t.Error("two seeds hash 42 alike")
	}
	if got, want := sketchHash[string](s1)("a"), maphash.Comparable(s1, "a"); got != want {
		t.Errorf(`sketchHash[string]("a") = %#x, want maphash's %#x`, got, want)
	}
	for _, h := range []func(int) uint64{sketchHash[int](s1), func(k int) uint64 { return sketchHash[int32](s1)(int32(k)) }} {
		seen := map[uint64]bool{}
		for k := range 10000 {
			seen[h(k)] = true
		}
		if len(seen) != 10000 {
			t.Errorf("10000 keys hash to %d values", len(seen))
		}
	}
}
