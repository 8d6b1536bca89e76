package main

import (
	"fmt"
	"math/rand/v2"
)

// Trace is a reproducible sequence of cache accesses.
type Trace struct {
	// Name is shown in tables: "Zipf 0.9", "Zipf 0.9 + scans".
	Name string
	// Keys is the size of the key space the popular accesses draw from.
	Keys int
	// Accesses are the keys, in order.
	Accesses []uint64
	// Note describes how the trace was made, for the report.
	Note string
}

// traceSeed is the seed every trace derives from, so that every run, and
// every contender in a run, replays the same accesses.
const traceSeed = 0x5eed_cace

// zipfExponents are the skews of the plain Zipf traces.
var zipfExponents = []float64{0.7, 0.9, 1.0}

// cacheFractions are the cache sizes of the hit-ratio grid, as fractions of
// the key space: 0.1%, 1% and 10%.
var cacheFractions = []int{1000, 100, 10} // key space divided by these

// zipfTrace returns n accesses drawn from a Zipf(s) distribution over keys
// ranks. Rank r is key mix64(r), so hot keys are spread over the hash space.
func zipfTrace(s float64, keys, n int, seed uint64) []uint64 {
	z := newZipfGen(rand.New(rand.NewPCG(traceSeed, seed)), s, keys)
	out := make([]uint64, n)
	for i := range out {
		out[i] = mix64(uint64(z.next()))
	}
	return out
}

// makeTraces returns the traces of the hit-ratio workload: Zipf with each
// exponent of zipfExponents, and a Zipf 0.9 trace polluted by scans.
//
// The scan trace puts one-time sequential scans between blocks of Zipf 0.9
// accesses. Each scan reads keys/8 keys never seen before or after
// (more than the largest cache holds, so a scan alone can flush an LRU
// cache of any size in the grid), and the scans make a quarter of the
// accesses, so no cache can hit more than 75% of them.
func makeTraces(keys, n int) []Trace {
	var ts []Trace
	for i, s := range zipfExponents {
		ts = append(ts, Trace{
			Name: fmt.Sprintf("Zipf %.1f", s), Keys: keys, Accesses: zipfTrace(s, keys, n, uint64(i+1)),
			Note: fmt.Sprintf("%s accesses drawn from a Zipf(%.1f) distribution over %s keys", countName(n), s, countName(keys)),
		})
	}
	scanLen := max(keys/8, 1)
	scans := max(n/4/scanLen, 1)
	zipfN := max(n-scans*scanLen, scans+1)
	zs := zipfTrace(0.9, keys, zipfN, uint64(len(zipfExponents)+1))
	acc := make([]uint64, 0, zipfN+scans*scanLen)
	next := uint64(keys) // scan keys come after the Zipf ranks: mix64 keeps them distinct
	for b := range scans + 1 {
		acc = append(acc, zs[b*zipfN/(scans+1):(b+1)*zipfN/(scans+1)]...)
		if b < scans {
			for range scanLen {
				acc = append(acc, mix64(next))
				next++
			}
		}
	}
	ts = append(ts, Trace{
		Name: "Zipf 0.9 + scans", Keys: keys, Accesses: acc,
		Note: fmt.Sprintf("%d Zipf(0.9) blocks over %s keys, %d one-time sequential scans of %s fresh keys between them; %s accesses, %.0f%% of them scans",
			scans+1, countName(keys), scans, countName(scanLen), countName(len(acc)), 100*float64(scans*scanLen)/float64(len(acc))),
	})
	return ts
}

// HitRatioResult is one cell of the hit-ratio grid for one contender.
type HitRatioResult struct {
	Contender string
	Trace     string
	// Size is the cache's bound in entries.
	Size     int
	Accesses int
	Hits     int
	// Peak is the most entries the cache held, sampled every sizeEvery
	// accesses; 0 if the adapter cannot tell.
	Peak int
}

// Ratio returns the fraction of accesses that hit.
func (r HitRatioResult) Ratio() float64 {
	if r.Accesses == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Accesses)
}

// sizeEvery is how often replay samples the number of entries a cache
// holds.
const sizeEvery = 64

// replay runs trace t through c from one goroutine: every access is a
// Load, and a miss Stores the key. It returns the number of hits and the
// most entries c held (sampled every sizeEvery accesses; 0 if c cannot
// tell).
func replay(c BoundedCache, t []uint64) (hits, peak int) {
	l, hasLen := c.(interface{ Len() int })
	for i, k := range t {
		if _, ok := c.Load(k); ok {
			hits++
		} else {
			c.Store(k, k)
		}
		if hasLen && i%sizeEvery == sizeEvery-1 {
			peak = max(peak, l.Len())
		}
	}
	return hits, peak
}

// runHitRatio replays every trace through a fresh cache of every
// contender at every size of the grid.
func runHitRatio(cfg Config, cs []CacheContender, progress func(string)) ([]Trace, []HitRatioResult) {
	traces := makeTraces(cfg.HitKeys, cfg.HitAccesses)
	var out []HitRatioResult
	for i := range traces {
		t := &traces[i]
		for _, size := range hitRatioSizes(cfg.HitKeys) {
			for _, c := range cs {
				m := c.New(size)
				hits, peak := replay(m, t.Accesses)
				m.Close()
				out = append(out, HitRatioResult{Contender: c.Name, Trace: t.Name, Size: size, Accesses: len(t.Accesses), Hits: hits, Peak: peak})
			}
			progress(".")
		}
		t.Accesses = nil // the results keep only the description
	}
	return traces, out
}

// hitRatioSizes returns the cache sizes of the grid for a key space.
func hitRatioSizes(keys int) []int {
	var sizes []int
	for _, f := range cacheFractions {
		sizes = append(sizes, max(keys/f, 1))
	}
	return sizes
}
