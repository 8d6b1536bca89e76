package cache

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// Stats counts what a cache has done since New.
type Stats struct {
	// Hits and Misses count Get calls, and the lookups GetOrLoad starts
	// with, that found or did not find a live entry.
	Hits, Misses uint64
	// Evictions counts values the bound pushed out (or that were too heavy
	// to store); Expirations counts entries removed after their time to live.
	Evictions, Expirations uint64
	// Loads counts loader calls that returned (a bulk load counts once
	// per key it was given), refreshes included; LoadErrors those of them
	// that returned an error or panicked.
	Loads, LoadErrors uint64
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any lookup.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Stats returns the cache's counters. Each counter is read atomically, but
// not all of them at one instant.
func (c *Cache[K, V]) Stats() Stats {
	st := Stats{
		Evictions:   c.stats.evictions.Load(),
		Expirations: c.stats.expirations.Load(),
		Loads:       c.stats.loads.Load(),
		LoadErrors:  c.stats.loadErrors.Load(),
	}
	st.Hits, st.Misses = c.stats.lookups()
	return st
}

// lookupCell holds one stripe of the hit and miss counters, alone on its
// cache line.
type lookupCell struct {
	hits, misses atomic.Uint64
	_            [64 - 16]byte
}

// stats holds a cache's counters. Hits and misses, counted on the read path
// by every core at once, are striped over cells picked at random, so that
// readers rarely write the same cache line; the write-path counters are
// plain atomics.
type stats struct {
	cells []lookupCell
	mask  uint32

	evictions, expirations, loads, loadErrors atomic.Uint64
}

// newStats returns counters striped for the current GOMAXPROCS.
func newStats() stats {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < 128 {
		n <<= 1
	}
	return stats{cells: make([]lookupCell, n), mask: uint32(n - 1)}
}

func (s *stats) hit()  { s.cells[rand.Uint32()&s.mask].hits.Add(1) }
func (s *stats) miss() { s.cells[rand.Uint32()&s.mask].misses.Add(1) }

// lookups returns the hit and miss counts.
func (s *stats) lookups() (hits, misses uint64) {
	for i := range s.cells {
		hits += s.cells[i].hits.Load()
		misses += s.cells[i].misses.Load()
	}
	return hits, misses
}
