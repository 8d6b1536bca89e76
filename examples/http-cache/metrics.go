package main

// This file holds the proxy's counters and the results reported in
// X-Cache. collector.go exposes them to Prometheus.

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// result is how a response was produced, reported in X-Cache.
type result uint8

const (
	// resultHit: served from the cache without asking the origin.
	resultHit result = iota
	// resultStale: served stale under stale-while-revalidate while one
	// background refresh runs.
	resultStale
	// resultRevalidated: the stored copy was confirmed by a 304 from the
	// origin, then served.
	resultRevalidated
	// resultMiss: looked up, not usable, fetched from the origin.
	resultMiss
	// resultBypass: not eligible for the cache (method, Authorization,
	// Range), passed straight to the origin.
	resultBypass
	numResults
)

// resultNames are the X-Cache values and metric labels, by result.
var resultNames = [numResults]string{"HIT", "STALE", "REVALIDATED", "MISS", "BYPASS"}

// resultLabels are the lower-case metric labels, by result.
var resultLabels = [numResults]string{"hit", "stale", "revalidated", "miss", "bypass"}

// xCache holds one X-Cache header value slice per result, shared by every
// response (net/http does not change header values it is given).
var xCache = func() (v [numResults][]string) {
	for i, name := range resultNames {
		v[i] = []string{name}
	}
	return v
}()

// String returns the X-Cache value.
func (r result) String() string { return resultNames[r] }

// latencyBuckets are the upper bounds, in seconds, of the origin latency
// histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// metrics holds the proxy's counters. They are plain atomics, updated on
// the request path without a registry lookup; the collector reads them
// (and the store's size, evictions and tier counters) at each scrape.
// Every field is written by the request path and read by the collector
// and the status page; the atomics are their only guard.
type metrics struct {
	// responses counts responses by how they were produced.
	responses [numResults]atomic.Uint64
	// coalesced counts requests that waited for another's fetch.
	coalesced atomic.Uint64
	// originRequests and originErrors count origin requests, and those
	// that failed without a response.
	originRequests atomic.Uint64
	originErrors   atomic.Uint64
	// tooLarge counts cacheable responses over the per-object limit.
	tooLarge atomic.Uint64
	// refreshes counts background refreshes started.
	refreshes atomic.Uint64
	// staleOnError counts stale responses served for origin failures.
	staleOnError atomic.Uint64
	// purges counts successful purge requests.
	purges atomic.Uint64
	// originLatency is the origin response-header latency histogram; it
	// is a Prometheus histogram, safe for concurrent use.
	originLatency prometheus.Histogram
}

// newMetrics returns zeroed counters.
func newMetrics() *metrics {
	return &metrics{originLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "httpcache_origin_request_duration_seconds",
		Help:    "Time from sending an origin request to receiving its response headers.",
		Buckets: latencyBuckets,
	})}
}

// snapshot is a copy of the counters at one time, for the status page.
type snapshot struct {
	Responses      [numResults]uint64
	Coalesced      uint64
	OriginRequests uint64
	OriginErrors   uint64
	Evictions      uint64
	Entries        int
	Bytes          uint64
	MaxBytes       int64
	// Tiers counts the near tier's hits and, with a shared tier, its
	// hits, misses, errors, invalidations and flushes.
	Tiers tierStats
}

// snapshot reads the counters and the store's size.
func (m *metrics) snapshot(s *store) snapshot {
	var sn snapshot
	for i := range m.responses {
		sn.Responses[i] = m.responses[i].Load()
	}
	sn.Coalesced = m.coalesced.Load()
	sn.OriginRequests = m.originRequests.Load()
	sn.OriginErrors = m.originErrors.Load()
	sn.Evictions = s.evictions.Load()
	sn.Entries = s.c.Len()
	sn.Bytes = s.c.Weight()
	sn.MaxBytes = s.maxBytes
	sn.Tiers = s.tierStats()
	return sn
}

// HitRatio returns the share of cacheable requests answered from the
// cache (fresh, stale or revalidated) rather than by a full origin
// response; bypassed requests are not counted.
func (sn snapshot) HitRatio() float64 {
	served := sn.Responses[resultHit] + sn.Responses[resultStale] + sn.Responses[resultRevalidated]
	total := served + sn.Responses[resultMiss]
	if total == 0 {
		return 0
	}
	return float64(served) / float64(total)
}

// serveMetrics answers /metrics, through promhttp: the text format or
// whatever else the scraper negotiates.
func (p *proxy) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	p.metricsHandler.ServeHTTP(w, r)
}
