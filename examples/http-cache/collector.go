package main

// This file exposes the proxy's counters to Prometheus: a collector that
// reads them at each scrape, and the registry behind /metrics.

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Descriptions of the metrics the collector reports. The names are those
// of the hand-written exposition that came before client_golang.
var (
	descResponses = prometheus.NewDesc("httpcache_responses_total",
		"Responses by how they were produced (the X-Cache value).", []string{"result"}, nil)
	descCoalesced = prometheus.NewDesc("httpcache_coalesced_waits_total",
		"Requests that waited for another request's origin fetch of the same key instead of making their own.", nil, nil)
	descOriginRequests = prometheus.NewDesc("httpcache_origin_requests_total",
		"Requests sent to the origin, including revalidations and background refreshes.", nil, nil)
	descOriginErrors = prometheus.NewDesc("httpcache_origin_errors_total",
		"Origin requests that failed without a response (connection error or timeout).", nil, nil)
	descRefreshes = prometheus.NewDesc("httpcache_background_refreshes_total",
		"Background refreshes started for stale-while-revalidate.", nil, nil)
	descStaleOnError = prometheus.NewDesc("httpcache_stale_on_error_total",
		"Stale responses served because the origin failed (stale-if-error).", nil, nil)
	descTooLarge = prometheus.NewDesc("httpcache_too_large_total",
		"Cacheable responses streamed through uncached because they exceed the per-object limit.", nil, nil)
	descPurges = prometheus.NewDesc("httpcache_purges_total",
		"Successful purge requests.", nil, nil)
	descBytes = prometheus.NewDesc("httpcache_cache_bytes",
		"Total weight of the entries in this instance's (near) tier: bodies, headers and per-entry overhead, in bytes.", nil, nil)
	descMaxBytes = prometheus.NewDesc("httpcache_cache_max_bytes",
		"The configured bound on httpcache_cache_bytes.", nil, nil)
	descEntries = prometheus.NewDesc("httpcache_cache_entries",
		"Entries in this instance's (near) tier, including Vary index entries and expired entries not yet reclaimed.", nil, nil)
	descEvictions = prometheus.NewDesc("httpcache_cache_evictions_total",
		"Entries pushed out of this instance's (near) tier by the byte bound.", nil, nil)
	descNearHits = prometheus.NewDesc("httpcache_near_hits_total",
		"Lookups answered by this instance's in-process tier (a response with Vary takes two: its index and its variant).", nil, nil)
	descSharedLookups = prometheus.NewDesc("httpcache_shared_lookups_total",
		"Lookups that missed the near tier and asked the shared (Redis) tier, by outcome: hit, miss, or error (failed or past the deadline).", []string{"outcome"}, nil)
	descInvalidations = prometheus.NewDesc("httpcache_shared_invalidations_total",
		"Near-tier keys dropped because Redis reported them changed (a purge, a store or an expiry anywhere in the fleet).", nil, nil)
	descFlushes = prometheus.NewDesc("httpcache_shared_flushes_total",
		"Times the whole near tier was dropped because invalidations may have been missed (a lost Redis connection).", nil, nil)
)

// collector reads the proxy's counters at each scrape.
type collector struct {
	// p is the proxy whose counters are read; set once by newRegistry.
	p *proxy
}

// Describe sends the descriptions of every metric Collect sends.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descResponses, descCoalesced, descOriginRequests, descOriginErrors, descRefreshes,
		descStaleOnError, descTooLarge, descPurges, descBytes, descMaxBytes, descEntries,
		descEvictions, descNearHits, descSharedLookups, descInvalidations, descFlushes,
	} {
		ch <- d
	}
}

// Collect sends the current values. The shared-tier metrics are sent only
// when the proxy has a shared tier.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := c.p.metrics
	sn := m.snapshot(c.p.store)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	for i, label := range resultLabels {
		counter(descResponses, sn.Responses[i], label)
	}
	counter(descCoalesced, sn.Coalesced)
	counter(descOriginRequests, sn.OriginRequests)
	counter(descOriginErrors, sn.OriginErrors)
	counter(descRefreshes, m.refreshes.Load())
	counter(descStaleOnError, m.staleOnError.Load())
	counter(descTooLarge, m.tooLarge.Load())
	counter(descPurges, m.purges.Load())
	gauge(descBytes, float64(sn.Bytes))
	gauge(descMaxBytes, float64(sn.MaxBytes))
	gauge(descEntries, float64(sn.Entries))
	counter(descEvictions, sn.Evictions)
	ts := sn.Tiers
	counter(descNearHits, ts.NearHits)
	if ts.Shared {
		counter(descSharedLookups, ts.SharedHits, "hit")
		counter(descSharedLookups, ts.SharedMisses, "miss")
		counter(descSharedLookups, ts.SharedErrors, "error")
		counter(descInvalidations, ts.Invalidations)
		counter(descFlushes, ts.Flushes)
	}
}

// newMetricsHandler returns the /metrics handler for p: its own counters,
// the origin latency histogram, and the Go runtime and process metrics,
// from a registry of its own (not the global one, so that several proxies
// in one process, as in tests, do not collide).
func newMetricsHandler(p *proxy) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collector{p: p},
		p.metrics.originLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promErrorLog{p}}), nil
}

// promErrorLog sends promhttp's errors (a failed scrape) to the proxy's
// log.
type promErrorLog struct{ p *proxy }

// Println logs v at debug level: a client that went away mid-scrape is
// not worth more.
func (l promErrorLog) Println(v ...any) { l.p.log.Debug("metrics not sent", "err", v) }
