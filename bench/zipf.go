package main

import (
	"math"
	"math/rand/v2"
	"slices"
)

// zipfGen draws ranks 0..n-1 with P(rank r) proportional to 1/(r+1)^s. It
// works for any s > 0, including the s ≤ 1 that real cache traces show and
// that math/rand/v2's Zipf (s > 1 only) cannot produce: it keeps the
// cumulative distribution in a table and inverts a uniform draw by binary
// search. The table costs 8 bytes per rank.
type zipfGen struct {
	cdf []float64
	rng *rand.Rand
}

// newZipfGen returns a generator over n ranks with exponent s, drawing from
// rng.
func newZipfGen(rng *rand.Rand, s float64, n int) *zipfGen {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	cdf[n-1] = 1 // no rounding gap above the last rank
	return &zipfGen{cdf: cdf, rng: rng}
}

// next returns the next rank.
func (z *zipfGen) next() int {
	i, _ := slices.BinarySearch(z.cdf, z.rng.Float64())
	return min(i, len(z.cdf)-1)
}
