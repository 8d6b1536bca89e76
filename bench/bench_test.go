package main

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// parallelism sets BenchmarkThroughput's goroutines: parallelism×GOMAXPROCS,
// as b.SetParallelism would. Use -cpu to vary GOMAXPROCS.
var parallelism = flag.Int("parallelism", 1, "goroutines per GOMAXPROCS in BenchmarkThroughput")

// benchKeys are the prefilled key counts of BenchmarkThroughput.
var benchKeys = []int{1_000, 1_000_000}

// BenchmarkThroughput runs the throughput loops as go test benchmarks, for
// benchstat: BenchmarkThroughput/<map>/<keytype>/<keys>/<mix> for the grid's
// mixes and S100 (every operation a Store of a present key), and
// BenchmarkThroughput/<map>/<keytype>/1K/{LoadOrStore,Compute} for the
// hot-key loops:
//
//	go test -run '^$' -bench 'Throughput/(shardmap|xsync-v4)/uint64/1M' -count 10 | tee new.txt
//
// The loops, keys and schedules are the ones `go run .` measures. One
// benchmark iteration is one map operation: b.N operations are split
// among the goroutines, so ns/op is wall time per operation of all
// goroutines together and allocs/op (-benchmem) is per operation. Each
// <keys> level prefills one map; its mixes run on it in turn (deletes are
// stored back, so the size holds).
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
			ks := newKeySpace[K](n)
			m := newMap[K](c)
			prefillKeys(m, ks)
			for _, mix := range append(slices.Clip(mixes), storeOnly) {
				b.Run(mix.Name, func(b *testing.B) { benchLoop(b, m, m.mixLoop, ks, mix) })
			}
			if n != 1_000 {
				return
			}
			for _, h := range hotOps {
				if loop := loopOf(m, cell{hot: h}); loop != nil {
					b.Run(h, func(b *testing.B) { benchLoop(b, m, loop, ks, Mix{}) })
				}
			}
		})
	}
}

// benchLoop runs b.N operations of loop on m from parallelism×GOMAXPROCS
// goroutines, each with its own worker, in batches as runLoop does.
func benchLoop[K Key](b *testing.B, m Map[K], loop loopFunc[K], ks *keySpace[K], mix Mix) {
	g := *parallelism * runtime.GOMAXPROCS(0)
	workers := make([]*worker[K], g)
	for i := range workers {
		workers[i] = newWorker(ks, mix, uint64(i+1))
	}
	runtime.GC()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, w := range workers {
		ops := b.N / g
		if i < b.N%g {
			ops++
		}
		wg.Go(func() {
			for ; ops >= batch; ops -= batch {
				loop(w, batch)
			}
			loop(w, ops)
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	for _, w := range workers {
		w.restore(m)
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
	// 200 keys is above SharedKeys: those cells build one map at a time.
	cfg.Keys = []int{100, 200}
	cfg.SharedKeys, cfg.OpsKeys, cfg.BigPasses = 100, 100, 2
	cfg.BigMaps = []string{"shardmap", baseline}
	cfg.Duration = time.Millisecond
	cfg.Growth = []int{5_000}
	cs := contenders()
	res := Results{Env: currentEnv(), Config: cfg}
	for _, tp := range []Throughput{runThroughput[uint64](cfg, cs, func(string) {}), runThroughput[string](cfg, cs, func(string) {})} {
		res.Throughput = append(res.Throughput, tp.Cells...)
		res.Allocs = append(res.Allocs, tp.Allocs...)
	}
	// Every contender runs every grid cell, the Store cell and the hot-key
	// cells it has loops for.
	for _, kt := range []string{"uint64", "string"} {
		for _, c := range cs {
			for _, n := range cfg.Keys {
				if n > cfg.SharedKeys && !slices.Contains(cfg.BigMaps, c.Name) {
					if _, ok := cellOf(res.Throughput, c.Name, kt, n, mixes[0].Name, 1); ok {
						t.Errorf("%s ran at %d keys, above SharedKeys, and is not one of BigMaps", c.Name, n)
					}
					continue
				}
				for _, m := range append(slices.Clip(mixes), storeOnly) {
					for _, g := range cfg.Goroutines {
						if m == storeOnly && (g != 1 || n != cfg.OpsKeys) {
							continue
						}
						if r, ok := cellOf(res.Throughput, c.Name, kt, n, m.Name, g); !ok || r.OpsPerSec <= 0 {
							t.Errorf("%s %s %d keys %s, %d goroutines: no throughput (%v)", c.Name, kt, n, m.Name, g, ok)
						}
					}
				}
			}
			for _, h := range hotOps {
				_, ok := cellOf(res.Throughput, c.Name, kt, cfg.HotKeys, h, 1)
				if want := loopOf(newMap[uint64](c), cell{hot: h}) != nil; ok != want {
					t.Errorf("%s %s %s: measured %v, want %v", c.Name, kt, h, ok, want)
				}
			}
		}
	}
	if got, want := len(res.Allocs), 2*len(cs); got != want {
		t.Errorf("%d allocation rows, want %d", got, want)
	}
	for _, c := range cs {
		g := runGrowth(c, cfg.Growth[0])
		if g.ReadMisses != 0 {
			t.Errorf("%s: %d loads missed keys already stored", c.Name, g.ReadMisses)
		}
		if g.Write.Count() != uint64(cfg.Growth[0]) {
			t.Errorf("%s: %d writes timed, want %d", c.Name, g.Write.Count(), cfg.Growth[0])
		}
		res.Growth = append(res.Growth, g)
		res.GiveBack = append(res.GiveBack, giveBack(c, 1000))
	}
	res.EntryCost = entryCosts(cs, 1000)
	md := renderMarkdown(res, "plot.svg")
	for _, want := range []string{summaryStart, summaryEnd, "## Throughput", "## Growth", "## Memory", "shardmap",
		"| go-map |", "LoadOrStore", "Compute", "ns/op", "assist"} {
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

// readmeFixture returns a temporary directory with a bench/results folder
// in it, and a function that writes a file or fails the test.
func readmeFixture(t *testing.T) (dir string, write func(path, s string)) {
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bench", "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpdateReadme checks that -readme replaces only the marked section,
// and prints it when the README has no markers.
func TestUpdateReadme(t *testing.T) {
	dir, write := readmeFixture(t)
	results := filepath.Join(dir, "bench", "results", "r.md")
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

// TestUpdateReadmeCacheSection checks that a cache run's results update only
// the README's cache section, leaving the map section as it was, and that a
// results file with neither summary is an error.
func TestUpdateReadmeCacheSection(t *testing.T) {
	dir, write := readmeFixture(t)
	results := filepath.Join(dir, "bench", "results", "c.md")
	write(results, "# c\n"+cacheSummaryStart+"\nCACHE NUMBERS\n"+cacheSummaryEnd+"\nrest\n")
	readme := filepath.Join(dir, "README.md")
	write(readme, "intro\n"+readmeStart+"\nmap tables\n"+readmeEnd+"\nmiddle\n"+cacheReadmeStart+"\nold cache\n"+cacheReadmeEnd+"\noutro\n")
	var out bytes.Buffer
	if err := updateReadme(results, readme, &out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(readme)
	s := string(got)
	if !strings.Contains(s, readmeStart+"\nmap tables\n"+readmeEnd) {
		t.Errorf("map section changed:\n%s", s)
	}
	if !strings.Contains(s, "CACHE NUMBERS") || strings.Contains(s, "old cache") || !strings.Contains(s, "bench/results/c.md") ||
		!strings.HasSuffix(s, cacheReadmeEnd+"\noutro\n") {
		t.Errorf("cache section not replaced:\n%s", s)
	}

	write(results, "# nothing\n")
	if err := updateReadme(results, readme, &out); err == nil {
		t.Error("a results file without a summary was accepted")
	}
}

// TestCacheSummary checks the cache summary on a small fabricated result:
// the compact table has one row per trace with every size, and the
// differences are to the inline-maintenance otter.
func TestCacheSummary(t *testing.T) {
	hr := func(c, trace string, size, hits int) HitRatioResult {
		return HitRatioResult{Contender: c, Trace: trace, Size: size, Accesses: 1000, Hits: hits, Peak: 2 * size}
	}
	var r Results
	r.TraceHitRatio = TraceResults{
		Dir:    "traces",
		Traces: []TraceInfo{{Name: "t1", Accesses: 1000, Sizes: []int{16, 50}}},
		Results: []HitRatioResult{
			hr(shardmapCacheContender.Name, "t1", 16, 100), hr(otterSyncName, "t1", 16, 120), hr(cacheBaseline, "t1", 16, 130),
			hr(shardmapCacheContender.Name, "t1", 50, 300), hr(otterSyncName, "t1", 50, 290), hr(cacheBaseline, "t1", 50, 310),
		},
	}
	var b strings.Builder
	writeCacheSummary(&b, r)
	want := "| t1 | 16 / 50 | 10.00 (-2.00) / 30.00 (+1.00) | 12.00 / 29.00 | 13.00 (32) / 31.00 (100) |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, b.String())
	}
	if !strings.Contains(b.String(), "more than 1 point below otter-v2-sync on 1 of 2 cells") {
		t.Errorf("summary lacks the verdict against otter-v2-sync:\n%s", b.String())
	}
}

// TestReportNamesTheCommit checks that a results file and its README line
// say which checkout they measured.
func TestReportNamesTheCommit(t *testing.T) {
	r := Results{Env: Env{CPU: "cpu", Commit: "0123456789ab-dirty"}, Config: configFor("smoke")}
	var env, machine strings.Builder
	writeEnv(&env, r)
	writeMachine(&machine, r)
	if !strings.Contains(env.String(), "| Commit | 0123456789ab-dirty |") {
		t.Errorf("environment table does not name the commit:\n%s", env.String())
	}
	if !strings.Contains(machine.String(), ", at 0123456789ab-dirty;") {
		t.Errorf("machine line does not name the commit: %s", machine.String())
	}
	r.Env.Commit = ""
	machine.Reset()
	writeMachine(&machine, r)
	if strings.Contains(machine.String(), ", at ") {
		t.Errorf("machine line names a commit it does not have: %s", machine.String())
	}
}
