package main

import (
	"runtime"
	"time"
)

// cacheMixes are the operation mixes of the cache throughput workload:
// Load is a cache Get, Store a cache Set of a key already present.
var cacheMixes = []Mix{
	{"G100", 100, 0, 0},
	{"G90-S10", 90, 10, 0},
	{"G50-S50", 50, 50, 0},
}

// CacheThroughputResult is one cell of the cache throughput grid.
type CacheThroughputResult struct {
	ThroughputResult
	// Resident is how many of the prefilled keys the cache held when the
	// cell started.
	Resident int
}

// runCacheThroughput measures every mix of cacheMixes on caches bounded to
// cfg.CacheKeys entries and prefilled with that many uint64 keys, from
// GOMAXPROCS goroutines. Every cell builds and prefills a fresh cache per
// contender (see fill) and collects garbage; then the
// contenders take turns as in the map throughput grid: cfg.Rounds rounds
// in rotated order, cfg.Duration per contender in all. Since every key fits,
// a Get should always hit and a Set replaces a value; nothing is evicted.
func runCacheThroughput(cfg Config, cs []CacheContender, progress func(string)) []CacheThroughputResult {
	_, cpuOK := processCPU()
	n := cfg.CacheKeys
	keys := makeKeys[uint64](n)
	g := runtime.GOMAXPROCS(0)
	cores := min(g, runtime.NumCPU())
	rounds := max(cfg.Rounds, 1)
	var out []CacheThroughputResult
	for _, mix := range cacheMixes {
		caches := make([]BoundedCache, len(cs))
		held := make([]int, len(cs))
		for i, c := range cs {
			caches[i] = c.New(n)
			fill(caches[i], keys)
			held[i] = resident(caches[i], keys)
		}
		runtime.GC() // bill no contender for the prefill garbage
		turns := make([]turn, len(cs))
		for r := range rounds {
			for j := range cs {
				i := (j + r) % len(cs)
				turns[i].add(runTurn[uint64](caches[i], keys, mix, g, cfg.Duration/time.Duration(rounds), uint64(r*1000+1)))
			}
		}
		for i, t := range turns {
			caches[i].Close()
			r := CacheThroughputResult{
				ThroughputResult: ThroughputResult{
					Contender: cs[i].Name, KeyType: "uint64", Keys: n, Mix: mix.Name, Goroutines: g,
					OpsPerSec: float64(t.ops) / t.elapsed.Seconds(),
				},
				Resident: held[i],
			}
			if cpuOK {
				r.CPUShare = float64(t.cpu) / (float64(t.elapsed) * float64(cores))
			}
			out = append(out, r)
		}
		progress(".")
	}
	return out
}

// CacheEntryCost is a cache contender's heap cost per entry.
type CacheEntryCost struct {
	Contender string
	// N is the cache's bound and the number of keys stored.
	N int
	// Resident is how many of the N keys the cache held afterwards.
	Resident int
	// BytesPerEntry is the settled heap growth (HeapAlloc after two GCs)
	// caused by building the cache and storing N uint64→uint64 entries,
	// divided by Resident.
	BytesPerEntry float64
}

// cacheEntryCost measures the heap a cache of contender c bounded to n
// entries costs per entry once it holds n uint64 keys.
func cacheEntryCost(c CacheContender, n int) CacheEntryCost {
	keys := makeKeys[uint64](n)
	base := settledHeap()
	m := c.New(n)
	fill(m, keys)
	after := settledHeap()
	held := resident(m, keys)
	m.Close()
	runtime.KeepAlive(m)
	runtime.KeepAlive(keys)
	return CacheEntryCost{
		Contender:     c.Name,
		N:             n,
		Resident:      held,
		BytesPerEntry: float64(int64(after)-int64(base)) / float64(max(held, 1)),
	}
}
