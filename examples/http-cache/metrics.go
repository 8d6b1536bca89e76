package main

// This file holds the proxy's counters and writes them in the Prometheus
// text exposition format (version 0.0.4) for /metrics.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
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

// histogram is a fixed-bucket histogram safe for concurrent use.
type histogram struct {
	bounds []float64
	// counts[i] counts observations <= bounds[i] and > bounds[i-1];
	// counts[len(bounds)] those above the last bound.
	counts []atomic.Uint64
	// sumNanos is the sum of the observations in nanoseconds.
	sumNanos atomic.Int64
}

// newHistogram returns an empty histogram with the given bucket bounds.
func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// observe records d.
func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(int64(d))
}

// metrics holds the proxy's counters. The cache's own size and evictions
// are read from the store when written out.
type metrics struct {
	responses      [numResults]atomic.Uint64
	coalesced      atomic.Uint64
	originRequests atomic.Uint64
	originErrors   atomic.Uint64
	tooLarge       atomic.Uint64
	refreshes      atomic.Uint64
	staleOnError   atomic.Uint64
	purges         atomic.Uint64
	originLatency  *histogram
}

// newMetrics returns zeroed counters.
func newMetrics() *metrics {
	return &metrics{originLatency: newHistogram(latencyBuckets)}
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

// write writes every metric in the Prometheus text format.
func (m *metrics) write(w io.Writer, s *store) error {
	b := bufio.NewWriter(w)
	sn := m.snapshot(s)
	family := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("httpcache_responses_total", "counter", "Responses by how they were produced (the X-Cache value).")
	for i, label := range resultLabels {
		fmt.Fprintf(b, "httpcache_responses_total{result=%q} %d\n", label, sn.Responses[i])
	}
	family("httpcache_coalesced_waits_total", "counter", "Requests that waited for another request's origin fetch of the same key instead of making their own.")
	fmt.Fprintf(b, "httpcache_coalesced_waits_total %d\n", sn.Coalesced)
	family("httpcache_origin_requests_total", "counter", "Requests sent to the origin, including revalidations and background refreshes.")
	fmt.Fprintf(b, "httpcache_origin_requests_total %d\n", sn.OriginRequests)
	family("httpcache_origin_errors_total", "counter", "Origin requests that failed without a response (connection error or timeout).")
	fmt.Fprintf(b, "httpcache_origin_errors_total %d\n", sn.OriginErrors)
	family("httpcache_background_refreshes_total", "counter", "Background refreshes started for stale-while-revalidate.")
	fmt.Fprintf(b, "httpcache_background_refreshes_total %d\n", m.refreshes.Load())
	family("httpcache_stale_on_error_total", "counter", "Stale responses served because the origin failed (stale-if-error).")
	fmt.Fprintf(b, "httpcache_stale_on_error_total %d\n", m.staleOnError.Load())
	family("httpcache_too_large_total", "counter", "Cacheable responses streamed through uncached because they exceed the per-object limit.")
	fmt.Fprintf(b, "httpcache_too_large_total %d\n", m.tooLarge.Load())
	family("httpcache_purges_total", "counter", "Successful purge requests.")
	fmt.Fprintf(b, "httpcache_purges_total %d\n", m.purges.Load())

	h := m.originLatency
	family("httpcache_origin_request_duration_seconds", "histogram", "Time from sending an origin request to receiving its response headers.")
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(b, "httpcache_origin_request_duration_seconds_bucket{le=%q} %d\n", formatFloat(le), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(b, "httpcache_origin_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(b, "httpcache_origin_request_duration_seconds_sum %s\n", formatFloat(float64(h.sumNanos.Load())/1e9))
	fmt.Fprintf(b, "httpcache_origin_request_duration_seconds_count %d\n", cum)

	family("httpcache_cache_bytes", "gauge", "Total weight of the stored entries: bodies, headers and per-entry overhead, in bytes.")
	fmt.Fprintf(b, "httpcache_cache_bytes %d\n", sn.Bytes)
	family("httpcache_cache_max_bytes", "gauge", "The configured bound on httpcache_cache_bytes.")
	fmt.Fprintf(b, "httpcache_cache_max_bytes %d\n", sn.MaxBytes)
	family("httpcache_cache_entries", "gauge", "Stored entries, including Vary index entries and expired entries not yet reclaimed.")
	fmt.Fprintf(b, "httpcache_cache_entries %d\n", sn.Entries)
	family("httpcache_cache_evictions_total", "counter", "Entries pushed out of the cache by the byte bound.")
	fmt.Fprintf(b, "httpcache_cache_evictions_total %d\n", sn.Evictions)
	if err := b.Flush(); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	return nil
}

// formatFloat formats f as Prometheus expects: shortest representation,
// +Inf for infinity.
func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// serveMetrics answers /metrics.
func (p *proxy) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if err := p.metrics.write(w, p.store); err != nil {
		p.log.Debug("metrics not sent", "err", err)
	}
}
