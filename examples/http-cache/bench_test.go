package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shardmap/shardmap/rediscache/redistest"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the proxy's own work on a hit.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHit measures a cache hit inside ServeHTTP, without the network.
func BenchmarkHit(b *testing.B) {
	e := newEnv(b, nil)
	e.handle("/hot", textHandler("max-age=1000000", bodyOf("hot", 1024)))
	req := httptest.NewRequest(http.MethodGet, "/hot", nil)
	e.proxy.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.proxy.ServeHTTP(w, req)
		}
	})
}

// zipfTargets returns n request targets drawn from a Zipf(s) mix over keys
// URLs (rank r with probability proportional to 1/(r+1)^s, any s > 0), by
// inverting the CDF; the same seed gives the same sequence.
func zipfTargets(n, keys int, s float64, seed uint64) []string {
	cdf := make([]float64, keys)
	sum := 0.0
	for r := range cdf {
		sum += 1 / math.Pow(float64(r+1), s)
		cdf[r] = sum
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]string, n)
	for i := range out {
		r, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
		out[i] = "/z/" + strconv.Itoa(min(r, keys-1))
	}
	return out
}

// BenchmarkFleetOriginRequests sends the same Zipf(0.9) mix over 20,000
// URLs, alternately to two instances, once with the two sharing one
// Redis and once independent, through ServeHTTP (no client network; the
// origin and Redis are on loopback). Each instance's own cache holds about
// a tenth of the URLs. It reports origin requests per client request and,
// for the fleet, the share of the independent pair's origin requests it
// saved (origin-saved).
func BenchmarkFleetOriginRequests(b *testing.B) {
	const keys, bodySize = 20_000, 1024
	srv := redistest.Start(b)
	var independent float64
	for _, mode := range []string{"independent", "fleet"} {
		b.Run(mode, func(b *testing.B) {
			var shared *sharedConfig
			if mode == "fleet" {
				shared = &sharedConfig{Addrs: []string{srv.Addr}, Prefix: fmt.Sprintf("bench%d:", time.Now().UnixNano()), Timeout: time.Second}
			}
			mod := func(c *config) { c.MaxBytes = keys / 10 * (bodySize + 400); c.Shared = shared }
			a := newEnv(b, mod)
			a.handle("/z/{n}", textHandler("max-age=100000", bodyOf("z", bodySize)))
			cfg := a.proxy.cfg
			if shared == nil {
				cfg.Shared = nil
			}
			other, err := newProxy(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer other.Close()
			instances := []*proxy{a.proxy, other}
			targets := zipfTargets(b.N, keys, 0.9, 1)
			w := &discardWriter{h: http.Header{}}
			b.ResetTimer()
			for i, target := range targets {
				clear(w.h)
				instances[i%2].ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
			}
			b.StopTimer()
			perReq := float64(a.origin.total.Load()) / float64(b.N)
			b.ReportMetric(perReq, "origin/req")
			if mode == "independent" {
				independent = perReq
			} else if independent > 0 {
				b.ReportMetric(1-perReq/independent, "origin-saved")
			}
		})
	}
}
