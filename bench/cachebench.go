package main

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// cacheMix is one operation mix of the cache throughput workload: GetPct
// percent Gets, the rest Sets of a key already present (they replace its
// value).
type cacheMix struct {
	Name   string
	GetPct int
}

// cacheMixes are the mixes of the cache throughput workload.
var cacheMixes = []cacheMix{{"G100", 100}, {"G90-S10", 90}, {"G50-S50", 50}}

// cacheDists are the key distributions of the cache throughput workload.
var cacheDists = []string{"uniform", "zipf-0.9"}

// CacheThroughputResult is one cell of the cache throughput grid for one
// contender.
type CacheThroughputResult struct {
	Contender  string
	Dist, Mix  string
	Keys       int
	Goroutines int
	// OpsPerSec is the median over the rounds of the operations per
	// second, all goroutines together.
	OpsPerSec float64
	// Rounds are the operations per second of each round.
	Rounds []float64
	// Resident is how many of the prefilled keys the cache held when the
	// cell started.
	Resident int
}

// zipfTableBits sets the resolution of the Zipf key generator: 2^16
// quantiles.
const zipfTableBits = 16

// zipfTable draws Zipf-distributed ranks cheaply: cut[b] is the first rank
// whose cumulative probability reaches b/2^zipfTableBits, so a draw picks a
// quantile bucket with 16 random bits and a rank inside it with the rest.
// The table is 256 KiB, small enough to stay in cache, so drawing a key
// costs no memory access a real request would not make; the distribution
// is exact to within one bucket (1/65536 of the probability mass).
type zipfTable struct {
	cut []uint32
}

// newZipfTable builds the table for Zipf(s) over n ranks.
func newZipfTable(s float64, n int) *zipfTable {
	buckets := 1 << zipfTableBits
	norm := 0.0
	for i := range n {
		norm += math.Pow(float64(i+1), -s)
	}
	cut := make([]uint32, buckets+1)
	cdf, r := 0.0, 0
	for b := range buckets {
		target := float64(b) / float64(buckets)
		for r < n-1 && cdf+math.Pow(float64(r+1), -s)/norm <= target {
			cdf += math.Pow(float64(r+1), -s) / norm
			r++
		}
		cut[b] = uint32(r)
	}
	cut[buckets] = uint32(n)
	return &zipfTable{cut: cut}
}

// keyGen generates the keys of one goroutine: key mix64(rank), the rank
// uniform over n or drawn from a zipfTable, from a wyrand stream.
type keyGen struct {
	state uint64
	n     uint64
	zipf  *zipfTable
}

// next returns a random 64-bit number.
func (g *keyGen) next() uint64 {
	g.state += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(g.state, g.state^0xe7037ed1a0b428db)
	return hi ^ lo
}

// key returns the next key and 7 spare random bits for the operation.
func (g *keyGen) key() (uint64, uint32) {
	r := g.next()
	spare := uint32(r & 127)
	if g.zipf == nil {
		rank, _ := bits.Mul64(r, g.n)
		return mix64(rank), spare
	}
	b := r >> (64 - zipfTableBits)
	lo, hi := uint64(g.zipf.cut[b]), uint64(g.zipf.cut[b+1])
	rank := lo
	if hi > lo+1 {
		off, _ := bits.Mul64(r<<zipfTableBits, hi-lo)
		rank += off
	}
	return mix64(rank), spare
}

// cacheRun runs mix on c from g goroutines for d and returns the
// operations per second.
func cacheRun(c BoundedCache, n int, zipf *zipfTable, mix cacheMix, g int, d time.Duration, seed uint64) float64 {
	var stop atomic.Bool
	var total atomic.Int64
	var start, ready sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	// Sets are the operations whose spare 7 bits fall below setBelow:
	// 128 * (100 - GetPct) / 100.
	setBelow := uint32(128 * (100 - mix.GetPct) / 100)
	for w := range g {
		ready.Add(1)
		wg.Go(func() {
			kg := keyGen{state: mix64(seed + uint64(w)), n: uint64(n), zipf: zipf}
			ops := int64(0)
			ready.Done()
			start.Wait()
			for { // at least one batch, however short d is
				for range 256 {
					k, spare := kg.key()
					if spare < setBelow {
						c.Store(k, k)
					} else {
						c.Load(k)
					}
				}
				ops += 256
				if stop.Load() {
					break
				}
			}
			total.Add(ops)
		})
	}
	ready.Wait()
	t0 := time.Now()
	start.Done()
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return float64(total.Load()) / time.Since(t0).Seconds()
}

// runCacheThroughput measures every mix of cacheMixes, with uniform and
// Zipf(0.9) keys, on caches bounded to cfg.CacheKeys entries and
// prefilled with keys mix64(0..n-1), from GOMAXPROCS goroutines. Every cell
// builds and prefills a fresh cache per contender (see fill) and collects
// garbage; then the contenders take turns: cfg.Rounds rounds in rotated
// order, cfg.Duration per contender in all, and the cell reports each
// contender's median round. Since every key fits, a Get should always hit
// and a Set replaces a value; nothing is evicted. Keys come from keyGen,
// which reads no memory per key but a 256 KiB table, so the measured
// misses are the cache's own.
func runCacheThroughput(cfg Config, cs []CacheContender, progress func(string)) []CacheThroughputResult {
	n := cfg.CacheKeys
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = mix64(uint64(i))
	}
	g := runtime.GOMAXPROCS(0)
	rounds := max(cfg.Rounds, 1)
	zt := newZipfTable(0.9, n)
	var out []CacheThroughputResult
	for _, dist := range cacheDists {
		var zipf *zipfTable
		if dist != "uniform" {
			zipf = zt
		}
		for _, mix := range cacheMixes {
			caches := make([]BoundedCache, len(cs))
			held := make([]int, len(cs))
			for i, c := range cs {
				caches[i] = c.New(n)
				fill(caches[i], keys)
				held[i] = resident(caches[i], keys)
			}
			runtime.GC() // bill no contender for the prefill garbage
			per := make([][]float64, len(cs))
			for r := range rounds {
				for j := range cs {
					i := (j + r) % len(cs)
					per[i] = append(per[i], cacheRun(caches[i], n, zipf, mix, g, cfg.Duration/time.Duration(rounds), uint64(r*1000+1)))
				}
			}
			for i := range cs {
				caches[i].Close()
				sorted := slices.Sorted(slices.Values(per[i]))
				out = append(out, CacheThroughputResult{
					Contender: cs[i].Name, Dist: dist, Mix: mix.Name, Keys: n, Goroutines: g,
					OpsPerSec: sorted[len(sorted)/2], Rounds: per[i], Resident: held[i],
				})
			}
			caches = nil
			runtime.GC()
			progress(".")
		}
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
