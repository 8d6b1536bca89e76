package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardmap/shardmap"
)

// GrowthResult is one contender's run from an empty map to N uint64 keys
// with one writer and one concurrent reader, every operation timed.
type GrowthResult struct {
	Contender string
	N         int
	// Total is the writer's wall time for all N stores.
	Total time.Duration
	// Write and Read hold the latency of every Store and every Load.
	Write, Read *Histogram
	// ReadMisses counts loads of a key the writer had already stored that
	// came back empty. Anything but 0 is a bug in the map.
	ReadMisses uint64
	// PeakHeap is the largest heap (live or unswept objects) above the
	// starting heap, sampled by the writer every peakEvery stores.
	PeakHeap uint64
	// GC is the collector's activity during the run.
	GC GCStats
	// Note carries implementation details worth printing, if any.
	Note string
}

// peakEvery is how many stores the growth writer does between heap samples.
// Sampling happens outside the timed region of any operation.
const peakEvery = 1024

// runGrowth grows a fresh map of contender c from empty (no presizing) to n
// uint64 keys. The operations go through the Map interface: the time.Now
// calls around each one cost far more than the call. One goroutine stores keys mix64(0), ..., mix64(n-1); another loads
// random keys among those already stored, until the writer is done.
func runGrowth(c Contender, n int) GrowthResult {
	m := c.Uint64()
	res := GrowthResult{Contender: c.Name, N: n, Write: new(Histogram), Read: new(Histogram)}
	base := settledHeap()
	gc0 := readGC()

	var (
		inserted atomic.Int64
		done     atomic.Bool
		wg       sync.WaitGroup
	)
	running := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(running)
		rng := uint64(0x9e3779b97f4a7c15)
		limit := int64(0)
		for i := 0; !done.Load(); i++ {
			if i%64 == 0 || limit == 0 {
				limit = inserted.Load()
				if limit == 0 {
					continue
				}
			}
			rng = rng*6364136223846793005 + 1442695040888963407
			idx := (rng >> 32) * uint64(limit) >> 32
			k := mix64(idx)
			t0 := time.Now()
			_, ok := m.Load(k)
			res.Read.Record(time.Since(t0))
			if !ok {
				res.ReadMisses++
			}
		}
	}()

	<-running
	peak := base
	start := time.Now()
	for i := range n {
		k := mix64(uint64(i))
		t0 := time.Now()
		m.Store(k, uint64(i))
		res.Write.Record(time.Since(t0))
		inserted.Store(int64(i + 1))
		if i%peakEvery == 0 {
			peak = max(peak, heapObjects())
		}
	}
	res.Total = time.Since(start)
	done.Store(true)
	wg.Wait()
	res.GC = readGC().since(gc0)
	res.PeakHeap = max(peak, heapObjects()) - base
	res.GC.Assist = gcAssist(gc0)
	if s, ok := m.(interface{ Stats() shardmap.Stats }); ok {
		st := s.Stats()
		res.Note = fmt.Sprintf("%d shards, %d buckets, %d overflow, %d old buckets left, %d growths, %d reader helps",
			st.Shards, st.Buckets, st.OverflowBuckets, st.OldBuckets, st.Growths, st.Helps)
	}
	return res
}

// Noise is the latency of timing nothing: the floor under every latency the
// growth runs report, from the timer, the scheduler, and the machine (other
// processes, a hypervisor).
type Noise struct {
	Duration time.Duration
	Samples  uint64
	P9999    time.Duration
	Max      time.Duration
}

// probeNoise times an empty operation back to back on one goroutine for d,
// exactly as the growth runs time each Store and Load.
func probeNoise(d time.Duration) Noise {
	var h Histogram
	end := time.Now().Add(d)
	for {
		t0 := time.Now()
		h.Record(time.Since(t0))
		if h.Count()%1024 == 0 && t0.After(end) {
			break
		}
	}
	return Noise{Duration: d, Samples: h.Count(), P9999: h.Quantile(0.9999), Max: h.Max()}
}
