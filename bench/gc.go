package main

import (
	"math"
	"runtime"
	"runtime/metrics"
	"time"
)

// runtime/metrics names the workloads read. None of them stops the world.
const (
	metricGCPauses    = "/sched/pauses/total/gc:seconds"
	metricGCCycles    = "/gc/cycles/total:gc-cycles"
	metricHeapObjects = "/memory/classes/heap/objects:bytes"
	metricGCAssist    = "/cpu/classes/gc/mark/assist:cpu-seconds"
)

// GCStats is the garbage collector's activity over an interval.
type GCStats struct {
	// Cycles is the number of completed GC cycles.
	Cycles uint64
	// PauseTotal is the total stop-the-world time for GC, estimated from the
	// runtime's pause histogram (each pause counted at its bucket's midpoint).
	PauseTotal time.Duration
	// PauseMax is the upper bound of the histogram bucket of the longest pause.
	PauseMax time.Duration
	// Assist is the CPU time goroutines spent assisting the collector
	// (marking on its behalf because they allocate while it marks): time
	// taken from the map's writer and reader. The runtime adds to it when
	// a cycle ends; see gcAssist.
	Assist time.Duration
}

// gcSnapshot is a reading of the GC counters.
type gcSnapshot struct {
	cycles uint64
	pauses metrics.Float64Histogram
	assist float64
}

// readGC reads the GC counters.
func readGC() gcSnapshot {
	s := []metrics.Sample{{Name: metricGCCycles}, {Name: metricGCPauses}, {Name: metricGCAssist}}
	metrics.Read(s)
	h := s[1].Value.Float64Histogram()
	return gcSnapshot{
		cycles: s[0].Value.Uint64(),
		assist: s[2].Value.Float64(),
		pauses: metrics.Float64Histogram{
			Counts:  append([]uint64(nil), h.Counts...),
			Buckets: h.Buckets,
		},
	}
}

// since returns the GC activity between an earlier snapshot and s.
func (s gcSnapshot) since(before gcSnapshot) GCStats {
	st := GCStats{
		Cycles: s.cycles - before.cycles,
		Assist: seconds(s.assist - before.assist),
	}
	total := 0.0
	for i, c := range s.pauses.Counts {
		d := c - before.pauses.Counts[i]
		if d == 0 {
			continue
		}
		lo, hi := s.pauses.Buckets[i], s.pauses.Buckets[i+1]
		mid := (lo + hi) / 2
		switch {
		case math.IsInf(lo, -1):
			mid = hi
		case math.IsInf(hi, 1):
			mid, hi = lo, lo
		}
		total += float64(d) * mid
		st.PauseMax = time.Duration(hi * float64(time.Second))
	}
	st.PauseTotal = time.Duration(total * float64(time.Second))
	return st
}

// seconds converts a float number of seconds.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// gcAssist returns the GC assist CPU time since before, counting the
// assists of the cycle in progress too: runtime.GC first lets that cycle
// finish, then runs one more, in which nothing allocates and so nothing
// assists. Call it when the workload has stopped.
func gcAssist(before gcSnapshot) time.Duration {
	runtime.GC()
	return seconds(readGC().assist - before.assist)
}

// heapObjects returns the bytes in heap objects, live or not yet swept: the
// same quantity as MemStats.HeapAlloc, read without stopping the world.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: metricHeapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// settledHeap runs two full collections, so that the previous workload's
// garbage and finalizers are gone, and returns MemStats.HeapAlloc.
func settledHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
