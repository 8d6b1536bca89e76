package cache

import (
	"runtime"
	"sync/atomic"
	"unsafe"
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
	_            [cacheLine - 16]byte
}

// cacheLine is the size of the processor's cache line, at least on the
// platforms this is tuned for; padding to it keeps fields that different
// goroutines write from sharing a line.
const cacheLine = 64

// stats holds a cache's counters. Hits and misses, counted on the read path
// by every core at once, are striped over cells picked at random, so that
// readers rarely write the same cache line; the write-path counters are
// plain atomics.
type stats struct {
	// cells and mask, set by newStats, locate the stripes; every lookup
	// reads them.
	cells []lookupCell
	mask  uint32
	_     [cacheLine]byte // keeps the counters below off cells' and mask's line

	// The write-path counters, each updated with one atomic add by the
	// goroutine that evicted, expired or loaded.
	evictions, expirations, loads, loadErrors atomic.Uint64
}

// newStats returns counters striped for the current GOMAXPROCS.
func newStats() stats {
	n := 1
	for n < 8*runtime.GOMAXPROCS(0) && n < 256 {
		n <<= 1
	}
	return stats{cells: make([]lookupCell, n), mask: uint32(n - 1)}
}

func (s *stats) hit()  { s.cell().hits.Add(1) }
func (s *stats) miss() { s.cell().misses.Add(1) }

// cell returns the stripe the calling goroutine counts in: one picked by
// the address of its stack, so that a goroutine keeps writing the same
// line, which its core then holds, rather than a line another core wrote
// last (as a stripe picked at random per lookup mostly is). Goroutines
// whose stacks hash alike share a stripe; that costs speed, not counts.
func (s *stats) cell() *lookupCell {
	var here byte
	sp := uint64(uintptr(unsafe.Pointer(&here)))
	// A stack is at least 8 KiB: the bits above 13 tell stacks apart.
	return &s.cells[uint32((sp>>13)*0x9e3779b97f4a7c15>>32)&s.mask]
}

// lookups returns the hit and miss counts.
func (s *stats) lookups() (hits, misses uint64) {
	for i := range s.cells {
		hits += s.cells[i].hits.Load()
		misses += s.cells[i].misses.Load()
	}
	return hits, misses
}
