package main

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// parallelism is passed to b.SetParallelism: the benchmarks run
// parallelism×GOMAXPROCS goroutines. Use -cpu to vary GOMAXPROCS.
var parallelism = flag.Int("parallelism", 1, "goroutines per GOMAXPROCS in BenchmarkThroughput")

// benchKeys are the prefilled key counts of BenchmarkThroughput.
var benchKeys = []int{1_000, 1_000_000}

// BenchmarkThroughput runs the throughput grid as go test benchmarks, named
// BenchmarkThroughput/<map>/<keytype>/<keys>/<mix>, for benchstat:
//
//	go test -run '^$' -bench 'Throughput/(shardmap|xsync-v4)/uint64/1M' -count 10 | tee new.txt
//
// Each <keys> level prefills one map; its mixes run on it in turn (deletes
// are stored back, so the size holds).
func BenchmarkThroughput(b *testing.B) {
	for _, c := range contenders() {
		b.Run(c.Name, func(b *testing.B) {
			b.Run("uint64", func(b *testing.B) { benchKeyType[uint64](b, c) })
			b.Run("string", func(b *testing.B) { benchKeyType[string](b, c) })
		})
	}
}

// benchKeyType runs every key count and mix of one contender and key type.
func benchKeyType[K Key](b *testing.B, c Contender) {
	for _, n := range benchKeys {
		b.Run(countName(n), func(b *testing.B) {
			keys := makeKeys[K](n)
			m := newMap[K](c)
			prefill(m, keys)
			for _, mix := range mixes {
				b.Run(mix.Name, func(b *testing.B) {
					var seed atomic.Uint64
					runtime.GC()
					b.SetParallelism(*parallelism)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						w := newWorker(m, keys, mix, seed.Add(1))
						for pb.Next() {
							w.step()
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				})
			}
		})
	}
}

// TestContenders checks that every adapter stores, loads and deletes.
func TestContenders(t *testing.T) {
	for _, c := range append(contenders(), growOnly...) {
		t.Run(c.Name, func(t *testing.T) {
			checkAdapter(t, newMap[uint64](c))
			checkAdapter(t, newMap[string](c))
		})
	}
}

// checkAdapter stores, loads and deletes 1000 keys through m.
func checkAdapter[K Key](t *testing.T, m Map[K]) {
	t.Helper()
	keys := makeKeys[K](1000)
	prefill(m, keys)
	for i, k := range keys {
		if v, ok := m.Load(k); !ok || v != uint64(i) {
			t.Fatalf("%s: Load(%v) = %d, %v; want %d, true", keyTypeName[K](), k, v, ok, i)
		}
	}
	for _, k := range keys[:500] {
		m.Delete(k)
	}
	for i, k := range keys {
		if _, ok := m.Load(k); ok != (i >= 500) {
			t.Fatalf("%s: after deleting, Load(%v) found = %v", keyTypeName[K](), k, ok)
		}
	}
}

// TestWorkerKeepsSize checks that a delete-heavy mix leaves the map about
// as full as it started.
func TestWorkerKeepsSize(t *testing.T) {
	const n = 1000
	m := newRWMap[uint64]().(*rwMap[uint64])
	keys := makeKeys[uint64](n)
	prefill(m, keys)
	w := newWorker(Map[uint64](m), keys, mixes[len(mixes)-1], 1)
	for range 100_000 {
		w.step()
	}
	if got := len(m.m); got < n-len(w.pending) || got > n {
		t.Fatalf("map holds %d keys after the mix, want about %d", got, n)
	}
}

// TestHistogram checks bucket bounds and quantile accuracy.
func TestHistogram(t *testing.T) {
	for v := uint64(0); v < 1<<20; v += 1 + v/7 {
		i := bucketIndex(v)
		if high := bucketHigh(i); v > high || (i > 0 && v <= bucketHigh(i-1)) {
			t.Fatalf("value %d in bucket %d, whose range ends at %d (previous ends at %d)", v, i, high, bucketHigh(i-1))
		}
	}
	if i := bucketIndex(^uint64(0)); i >= histBuckets {
		t.Fatalf("max uint64 maps to bucket %d of %d", i, histBuckets)
	}
	var h Histogram
	vals := make([]int, 10_000)
	for i := range vals {
		vals[i] = 1 + rand.IntN(1_000_000)
		h.Record(time.Duration(vals[i]))
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		got := float64(h.Quantile(q))
		rank := 0
		for _, v := range vals {
			if float64(v) <= got {
				rank++
			}
		}
		if float64(rank) < q*float64(len(vals)) {
			t.Errorf("Quantile(%v) = %v covers only %d of %d values", q, got, rank, len(vals))
		}
	}
	if h.Quantile(1) != h.Max() {
		t.Errorf("Quantile(1) = %v, Max = %v", h.Quantile(1), h.Max())
	}
}

// TestSmoke runs every workload at tiny sizes and renders the report.
func TestSmoke(t *testing.T) {
	cfg := configFor("smoke")
	cfg.Keys = []int{100}
	cfg.Duration = time.Millisecond
	cfg.Growth = []int{5_000}
	cs := contenders()
	res := Results{Env: currentEnv(), Config: cfg}
	res.Throughput = runThroughput[uint64](cfg, cs, func(string) {})
	res.Throughput = append(res.Throughput, runThroughput[string](cfg, cs, func(string) {})...)
	for _, c := range cs {
		g := runGrowth(c, cfg.Growth[0])
		if g.ReadMisses != 0 {
			t.Errorf("%s: %d loads missed keys already stored", c.Name, g.ReadMisses)
		}
		if g.Write.Count() != uint64(cfg.Growth[0]) {
			t.Errorf("%s: %d writes timed, want %d", c.Name, g.Write.Count(), cfg.Growth[0])
		}
		res.Growth = append(res.Growth, g)
		res.EntryCost = append(res.EntryCost, entryCost[uint64](c, 1000), entryCost[string](c, 1000))
		res.GiveBack = append(res.GiveBack, giveBack(c, 1000))
	}
	md := renderMarkdown(res, "plot.svg")
	for _, want := range []string{summaryStart, summaryEnd, "## Throughput", "## Growth", "## Memory", "shardmap"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	svg := renderLatencySVG(res.Growth)
	// Every contender has a write line; a read line needs the reader to
	// have been scheduled before the tiny run ended.
	if lines := strings.Count(svg, "<polyline"); !strings.HasPrefix(svg, "<svg") || lines < len(cs) || lines > 2*len(cs) {
		t.Errorf("plot has %d lines, want %d to %d", lines, len(cs), 2*len(cs))
	}
}

// TestUpdateReadme checks that -readme replaces only the marked section,
// and prints it when the README has no markers.
func TestUpdateReadme(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "bench", "results", "r.md")
	if err := os.MkdirAll(filepath.Dir(results), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(results, "# r\n"+summaryStart+"\nNEW NUMBERS\n"+summaryEnd+"\nrest\n")
	readme := filepath.Join(dir, "README.md")

	write(readme, "intro\n"+readmeStart+"\nold\n"+readmeEnd+"\noutro\n")
	var out bytes.Buffer
	if err := updateReadme(results, readme, &out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(readme)
	if s := string(got); !strings.HasPrefix(s, "intro\n"+readmeStart) || !strings.HasSuffix(s, readmeEnd+"\noutro\n") ||
		!strings.Contains(s, "NEW NUMBERS") || strings.Contains(s, "old") || !strings.Contains(s, "bench/results/r.md") {
		t.Errorf("README after update:\n%s", s)
	}

	write(readme, "no markers\n")
	out.Reset()
	if err := updateReadme(results, readme, &out); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(readme); string(got) != "no markers\n" {
		t.Errorf("README without markers was changed to:\n%s", got)
	}
	if !strings.Contains(out.String(), "NEW NUMBERS") {
		t.Errorf("section not printed: %q", out.String())
	}
}
