package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCacheContenders checks that every cache adapter stores, loads and
// deletes, and keeps its bound.
func TestCacheContenders(t *testing.T) {
	var cs []CacheContender
	for _, c := range slices.Concat(hitRatioCaches(), speedCaches()) {
		if !slices.ContainsFunc(cs, func(d CacheContender) bool { return d.Name == c.Name }) {
			cs = append(cs, c)
		}
	}
	for _, c := range cs {
		t.Run(c.Name, func(t *testing.T) {
			const bound = 1000
			m := c.New(bound)
			defer m.Close()
			keys := makeKeys[uint64](bound / 2)
			prefill[uint64](m, keys)
			settle(m)
			for i, k := range keys {
				if v, ok := m.Load(k); !ok || v != uint64(i) {
					t.Fatalf("Load(%d) = %d, %v; want %d, true", k, v, ok, i)
				}
			}
			for _, k := range keys[:len(keys)/2] {
				m.Delete(k)
			}
			settle(m)
			for i, k := range keys {
				if _, ok := m.Load(k); ok != (i >= len(keys)/2) {
					t.Fatalf("after deleting half, Load(%d) found = %v", k, ok)
				}
			}
			more := makeKeys[uint64](5 * bound)
			prefill[uint64](m, more)
			settle(m)
			if n := resident(m, more); n > bound || n < bound/2 {
				t.Fatalf("after storing %d keys into a cache bounded to %d, it holds %d", len(more), bound, n)
			}
		})
	}
}

// TestZipfGen checks the generator's rank frequencies against the
// distribution it is meant to draw from.
func TestZipfGen(t *testing.T) {
	const n, draws = 1000, 200_000
	for _, s := range []float64{0.7, 1.0} {
		z := newZipfGen(rand.New(rand.NewPCG(1, 2)), s, n)
		counts := make([]int, n)
		for range draws {
			counts[z.next()]++
		}
		norm := 0.0
		for i := range n {
			norm += math.Pow(float64(i+1), -s)
		}
		for _, r := range []int{0, 1, 9, 99} {
			want := draws * math.Pow(float64(r+1), -s) / norm
			if got := float64(counts[r]); math.Abs(got-want) > 5*math.Sqrt(want) {
				t.Errorf("s=%.1f: rank %d drawn %.0f times, want about %.0f", s, r, got, want)
			}
		}
	}
}

// TestTraces checks that the traces are reproducible and that the scan
// trace has its scans: a quarter of the accesses, keys never repeated.
func TestTraces(t *testing.T) {
	a, b := makeTraces(10_000, 40_000), makeTraces(10_000, 40_000)
	if len(a) != len(zipfExponents)+1 {
		t.Fatalf("%d traces, want %d", len(a), len(zipfExponents)+1)
	}
	for i := range a {
		if !slices.Equal(a[i].Accesses, b[i].Accesses) {
			t.Errorf("%s: two builds differ", a[i].Name)
		}
	}
	scan := a[len(a)-1].Accesses
	zipfKeys := map[uint64]bool{}
	for i := range 10_000 {
		zipfKeys[mix64(uint64(i))] = true
	}
	seen := map[uint64]bool{}
	scanned := 0
	for _, k := range scan {
		if zipfKeys[k] {
			continue
		}
		if seen[k] {
			t.Fatalf("scan key %d read twice", k)
		}
		seen[k] = true
		scanned++
	}
	if share := float64(scanned) / float64(len(scan)); share < 0.2 || share > 0.3 {
		t.Errorf("scans are %.0f%% of the trace, want about 25%%", 100*share)
	}
}

// TestCacheSmoke runs the cache workloads at tiny sizes and renders the
// report.
func TestCacheSmoke(t *testing.T) {
	cfg := configFor("smoke")
	cfg.Duration = time.Millisecond
	cfg.HitAccesses = 20_000
	res := Results{Env: currentEnv(), Config: cfg}
	runCacheWorkloads(&res, map[string]bool{"hitratio": true, "cachethroughput": true, "cachememory": true})
	for _, h := range res.HitRatio {
		if h.Hits <= 0 || h.Hits >= h.Accesses {
			t.Errorf("%s, %s, size %d: %d hits of %d", h.Contender, h.Trace, h.Size, h.Hits, h.Accesses)
		}
	}
	for _, c := range res.CacheThroughput {
		if c.OpsPerSec <= 0 {
			t.Errorf("%s %s: %.0f ops/s", c.Contender, c.Mix, c.OpsPerSec)
		}
	}
	if want := len(speedCaches()) * len(cacheMixes) * len(cacheDists); len(res.CacheThroughput) != want {
		t.Errorf("%d cache throughput cells, want %d", len(res.CacheThroughput), want)
	}
	for _, e := range res.CacheEntryCost {
		if e.BytesPerEntry <= 0 || e.Resident == 0 {
			t.Errorf("%s: %.1f bytes per entry, %d resident", e.Contender, e.BytesPerEntry, e.Resident)
		}
	}
	md := renderMarkdown(res, "")
	for _, want := range []string{"## Cache hit ratio", "## Cache throughput", "## Cache memory", "Zipf 0.9 + scans",
		"shardmap-cache", cacheBaseline, "golang-lru-v2", "ristretto-v2", "| Cache workloads |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestZipfTable checks the cheap Zipf generator of the cache throughput
// workload against the distribution: the share of the hottest ranks, and
// that every rank it returns is in range.
func TestZipfTable(t *testing.T) {
	const n, draws = 100_000, 400_000
	zt := newZipfTable(0.9, n)
	g := keyGen{state: 7, n: n, zipf: zt}
	rank := map[uint64]int{}
	for i := range uint64(n) {
		rank[mix64(i)] = int(i)
	}
	counts := make([]int, n)
	for range draws {
		k, _ := g.key()
		r, ok := rank[k]
		if !ok {
			t.Fatalf("key %d is not one of the %d prefilled keys", k, n)
		}
		counts[r]++
	}
	norm := 0.0
	for i := range n {
		norm += math.Pow(float64(i+1), -0.9)
	}
	for _, r := range []int{0, 1, 9, 99, 999} {
		want := draws * math.Pow(float64(r+1), -0.9) / norm
		if got := float64(counts[r]); math.Abs(got-want) > 5*math.Sqrt(want)+0.02*want {
			t.Errorf("rank %d drawn %.0f times, want about %.0f", r, got, want)
		}
	}
	u := keyGen{state: 9, n: n}
	seen := 0
	hit := make([]bool, n)
	for range draws {
		k, _ := u.key()
		r, ok := rank[k]
		if !ok {
			t.Fatalf("uniform key %d is not a prefilled key", k)
		}
		if !hit[r] {
			hit[r] = true
			seen++
		}
	}
	if seen < n*9/10 {
		t.Errorf("uniform keys reached %d of %d ranks in %d draws", seen, n, draws)
	}
}
