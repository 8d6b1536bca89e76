// Command bench measures shardmap against other concurrent Go maps:
// throughput over a grid of key types, sizes, operation mixes and goroutine
// counts; latency of every operation while a map grows from empty; heap cost
// per entry and how much heap a map gives back after mass deletes; and GC
// pause time during growth. It also measures shardmap/cache against other
// bounded caches: hit ratio on Zipf and scan-polluted traces, Get/Set
// throughput, and heap cost per entry.
//
// It lives in its own module so that the contenders never enter the
// library's go.mod. Run it from this directory:
//
//	cd bench && go run .            # default: 1K, 1M and 16M keys, growth to 4M
//	cd bench && go run . -quick     # 1K and 1M keys: a few minutes on 2 cores
//	cd bench && go run . -full      # longer cells, growth to 4M and 16M
//	cd bench && go run . -smoke     # seconds, tiny sizes; for CI
//
// It prints markdown tables and writes results/<date>-<host>-<N>cpu-<mode>.md
// plus a latency plot (SVG) next to it. To copy a results file's summary into
// ../README.md between <!-- bench:start --> and <!-- bench:end -->:
//
//	cd bench && go run . -readme results/<file>.md
//
// The same throughput grid is available to benchstat as go test benchmarks:
//
//	cd bench && go test -run '^$' -bench 'Throughput/shardmap/uint64/1M' -count 10
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config sizes one run.
type Config struct {
	// Mode is smoke, quick, default or full.
	Mode string
	// Keys are the prefilled key counts of the throughput grid.
	Keys []int
	// SharedKeys is the largest key count at which every contender's map
	// is held at once, so that the contenders can take turns; above it,
	// one map at a time is built, BigPasses times (see runAlone).
	SharedKeys, BigPasses int
	// BigMaps are the contenders that run the cells above SharedKeys.
	// Filling one map of 16M keys takes up to a minute on a busy 2-core
	// machine (sync.Map would also take 2 GiB), and the targets are
	// against xsync v4, so the others sit those cells out.
	BigMaps []string
	// OpsKeys is the key count, one of Keys and at most SharedKeys, of the
	// single-goroutine Store cells and the allocation counts.
	OpsKeys int
	// HotKeys is the key count of the LoadOrStore and Compute cells.
	HotKeys int
	// Goroutines are the goroutine counts of the throughput grid.
	Goroutines []int
	// Duration is how long each contender runs in each throughput cell,
	// split into Rounds turns taken in rotation with the other contenders.
	Duration time.Duration
	Rounds   int
	// Growth are the final sizes of the growth runs.
	Growth []int
	// EntryN is the map size for the bytes-per-entry measurement.
	EntryN int
	// GiveBackN is the number of keys inserted then deleted to see how much
	// heap each map gives back.
	GiveBackN int
	// NoiseProbe is how long the machine's timing noise is probed before
	// the growth runs.
	NoiseProbe time.Duration
	// HitKeys is the key space of the hit-ratio traces and HitAccesses the
	// length of each trace. The caches hold 0.1%, 1% and 10% of HitKeys.
	HitKeys, HitAccesses int
	// CacheKeys is the prefilled key count, and the bound, of the caches in
	// the cache throughput workload.
	CacheKeys int
	// CacheEntryN is the cache size for the cache bytes-per-entry
	// measurement.
	CacheEntryN int
}

// configFor returns the sizes of a mode.
func configFor(mode string) Config {
	p := runtime.GOMAXPROCS(0)
	gs := slices.Compact([]int{1, p})
	switch mode {
	case "smoke":
		return Config{Mode: mode, Keys: []int{100, 1_000}, SharedKeys: 1_000, BigPasses: 1, OpsKeys: 1_000, HotKeys: 100,
			Goroutines: gs, Duration: 2 * time.Millisecond, Rounds: 1,
			Growth: []int{20_000}, EntryN: 10_000, GiveBackN: 20_000, NoiseProbe: 10 * time.Millisecond,
			HitKeys: 10_000, HitAccesses: 40_000, CacheKeys: 1_000, CacheEntryN: 10_000}
	case "quick":
		return Config{Mode: mode, Keys: []int{1_000, 1_000_000}, SharedKeys: 1_000_000, BigPasses: 1, OpsKeys: 1_000_000, HotKeys: 1_000,
			Goroutines: gs, Duration: 100 * time.Millisecond, Rounds: 5,
			Growth: []int{500_000}, EntryN: 200_000, GiveBackN: 500_000, NoiseProbe: 500 * time.Millisecond,
			HitKeys: 100_000, HitAccesses: 500_000, CacheKeys: 100_000, CacheEntryN: 100_000}
	case "full":
		return Config{Mode: mode, Keys: []int{1_000, 1_000_000, 16_000_000}, SharedKeys: 1_000_000, BigPasses: 2, OpsKeys: 1_000_000,
			BigMaps: []string{"shardmap", baseline, "xsync-v3"},
			HotKeys: 1_000, Goroutines: slices.Compact([]int{1, p, 4 * p}), Duration: 2 * time.Second, Rounds: 10,
			Growth: []int{4_000_000, 16_000_000}, EntryN: 1_000_000, GiveBackN: 4_000_000, NoiseProbe: time.Second,
			HitKeys: 1_000_000, HitAccesses: 5_000_000, CacheKeys: 1_000_000, CacheEntryN: 1_000_000}
	}
	return Config{Mode: "default", Keys: []int{1_000, 1_000_000, 16_000_000}, SharedKeys: 1_000_000, BigPasses: 2,
		BigMaps: []string{"shardmap", baseline}, OpsKeys: 1_000_000, HotKeys: 1_000,
		Goroutines: gs, Duration: 500 * time.Millisecond, Rounds: 5,
		Growth: []int{4_000_000}, EntryN: 1_000_000, GiveBackN: 4_000_000, NoiseProbe: time.Second,
		HitKeys: 1_000_000, HitAccesses: 2_000_000, CacheKeys: 1_000_000, CacheEntryN: 1_000_000}
}

// Results is everything one run measured, and where.
type Results struct {
	Env        Env
	Config     Config
	Throughput []ThroughputResult
	// Allocs are the allocations per operation of every contender.
	Allocs    []AllocCost
	Growth    []GrowthResult
	EntryCost []EntryCost
	GiveBack  []GiveBack
	// Noise is the timing noise of an empty operation, for reading the
	// growth latencies against.
	Noise Noise
	// Traces describe the hit-ratio traces (without their accesses).
	Traces   []Trace
	HitRatio []HitRatioResult
	// TraceHitRatio is the hit ratio on the real traces (traces.go).
	TraceHitRatio   TraceResults
	CacheThroughput []CacheThroughputResult
	CacheEntryCost  []CacheEntryCost
	// CacheNotes are the cache contenders' notes, by name, for the
	// contenders that have one.
	CacheNotes map[string]string
	// Elapsed is the wall time of each workload, by name, in run order.
	Elapsed []Phase
}

// Phase is one workload's wall time.
type Phase struct {
	Name    string
	Elapsed time.Duration
}

// options are the command-line flags.
type options struct {
	mode      string
	out       string
	label     string
	duration  time.Duration
	maps      string
	workloads map[string]bool
	readme    string
	readmeTo  string
}

func main() {
	opts, err := parseFlags()
	if err != nil {
		fatal(err)
	}
	if opts.readme != "" {
		if err := updateReadme(opts.readme, opts.readmeTo, os.Stdout); err != nil {
			fatal(err)
		}
		return
	}
	cfg := configFor(opts.mode)
	if opts.duration > 0 {
		cfg.Duration = opts.duration
	}
	cs, err := selectContenders(opts.maps)
	if err != nil {
		fatal(err)
	}
	res := run(cfg, cs, opts.workloads)
	if err := report(res, opts); err != nil {
		fatal(err)
	}
}

// parseFlags reads the command line.
func parseFlags() (options, error) {
	var (
		quick     = flag.Bool("quick", false, "small sizes and short cells: under two minutes on 2 cores")
		full      = flag.Bool("full", false, "long cells and a 16M growth run as well")
		smoke     = flag.Bool("smoke", false, "tiny sizes, finishes in seconds; writes no files unless -out is given")
		out       = flag.String("out", "results", "directory for the results file and plot; empty to write none")
		label     = flag.String("label", "", "extra word for the results file name")
		duration  = flag.Duration("duration", 0, "override the time per throughput cell")
		maps      = flag.String("maps", "", "regexp: run only contenders whose name matches")
		workloads = flag.String("workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run")
		readme    = flag.String("readme", "", "copy the summary of this results file into the README and exit")
		readmeTo  = flag.String("readme-file", "../README.md", "README that -readme rewrites")
	)
	flag.Parse()
	opts := options{mode: "default", out: *out, label: *label, duration: *duration, maps: *maps,
		workloads: map[string]bool{}, readme: *readme, readmeTo: *readmeTo}
	modes := 0
	for _, m := range []struct {
		name string
		on   bool
	}{{"quick", *quick}, {"full", *full}, {"smoke", *smoke}} {
		if m.on {
			opts.mode = m.name
			modes++
		}
	}
	if modes > 1 {
		return opts, fmt.Errorf("-quick, -full and -smoke exclude each other")
	}
	if opts.mode == "smoke" && !flagSet("out") {
		opts.out = ""
	}
	for _, w := range strings.Split(*workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(allWorkloads, w) {
			return opts, fmt.Errorf("unknown workload %q (want some of %s)", w, strings.Join(allWorkloads, ", "))
		}
		opts.workloads[w] = true
	}
	return opts, nil
}

// allWorkloads are the workloads -workloads accepts, in run order; a run
// without -workloads runs them all.
var allWorkloads = []string{"throughput", "growth", "memory", "hitratio", "traces", "cachethroughput", "cachememory"}

// run runs the chosen workloads over contenders cs.
func run(cfg Config, cs []Contender, workloads map[string]bool) Results {
	res := Results{Env: currentEnv(), Config: cfg}
	logf("bench: %s mode, %d contenders, GOMAXPROCS %d", cfg.Mode, len(cs), runtime.GOMAXPROCS(0))
	if workloads["throughput"] {
		phase(&res, "throughput", func() {
			for _, t := range []Throughput{runThroughput[uint64](cfg, cs, progress), runThroughput[string](cfg, cs, progress)} {
				res.Throughput = append(res.Throughput, t.Cells...)
				res.Allocs = append(res.Allocs, t.Allocs...)
			}
			logf("")
		})
	}
	if workloads["growth"] {
		phase(&res, "growth", func() {
			res.Noise = probeNoise(cfg.NoiseProbe)
			for _, n := range cfg.Growth {
				for _, c := range cs {
					g := runGrowth(c, n)
					logf("  growth %s to %s: %s, max write %s", c.Name, countName(n), fmtDur(g.Total), fmtDur(g.Write.Max()))
					res.Growth = append(res.Growth, g)
				}
			}
		})
	}
	if workloads["memory"] {
		phase(&res, "memory", func() {
			res.EntryCost = entryCosts(cs, cfg.EntryN)
			for _, c := range giveBackContenders(cs) {
				res.GiveBack = append(res.GiveBack, giveBack(c, cfg.GiveBackN))
			}
		})
	}
	runCacheWorkloads(&res, workloads)
	return res
}

// runCacheWorkloads runs the chosen cache workloads, which compare
// shardmap/cache with other bounded caches.
func runCacheWorkloads(res *Results, workloads map[string]bool) {
	cfg := res.Config
	res.CacheNotes = map[string]string{}
	note := func(cs []CacheContender) {
		for _, c := range cs {
			if c.Note != "" {
				res.CacheNotes[c.Name] = c.Note
			}
		}
	}
	if workloads["hitratio"] {
		phase(res, "hitratio", func() {
			res.Traces, res.HitRatio = runHitRatio(cfg, hitRatioCaches(), progress)
			note(hitRatioCaches())
			logf("")
		})
	}
	if workloads["traces"] {
		phase(res, "traces", func() { runTraceWorkload(res); logf("") })
	}
	if workloads["cachethroughput"] {
		phase(res, "cachethroughput", func() {
			res.CacheThroughput = runCacheThroughput(cfg, speedCaches(), progress)
			note(speedCaches())
			logf("")
		})
	}
	if workloads["cachememory"] {
		phase(res, "cachememory", func() {
			for _, c := range speedCaches() {
				e := cacheEntryCost(c, cfg.CacheEntryN)
				logf("  %s: %.1f bytes per entry, %d of %d resident", c.Name, e.BytesPerEntry, e.Resident, e.N)
				res.CacheEntryCost = append(res.CacheEntryCost, e)
			}
			note(speedCaches())
		})
	}
}

// report prints the results as markdown and, unless opts.out is empty,
// writes them and the latency plot under opts.out.
func report(res Results, opts options) error {
	stem := resultStem(res.Env, res.Config.Mode, opts.label)
	svg := ""
	if opts.out != "" && len(res.Growth) > 0 {
		svg = stem + "-growth.svg"
	}
	md := renderMarkdown(res, svg)
	fmt.Print(md)
	if opts.out == "" {
		return nil
	}
	if err := os.MkdirAll(opts.out, 0o755); err != nil {
		return err
	}
	if svg != "" {
		if err := os.WriteFile(filepath.Join(opts.out, svg), []byte(renderLatencySVG(res.Growth)), 0o644); err != nil {
			return err
		}
	}
	path := filepath.Join(opts.out, stem+".md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	logf("bench: wrote %s", path)
	return nil
}

// giveBackContenders returns the contenders of the give-back table: cs, plus
// the grow-only build of each of shardmap and xsync v3/v4 that cs holds.
func giveBackContenders(cs []Contender) []Contender {
	out := slices.Clip(cs)
	for _, g := range growOnly {
		base := strings.TrimSuffix(g.Name, "-growonly")
		if slices.ContainsFunc(cs, func(c Contender) bool { return c.Name == base }) {
			out = append(out, g)
		}
	}
	return out
}

// selectContenders returns the contenders whose name matches pattern (all if
// it is empty).
func selectContenders(pattern string) ([]Contender, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("-maps: %w", err)
	}
	var cs []Contender
	for _, c := range contenders() {
		if re.MatchString(c.Name) {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("-maps %q matches no contender", pattern)
	}
	return cs, nil
}

// phase runs one workload and records its wall time.
func phase(res *Results, name string, f func()) {
	logf("bench: %s", name)
	t0 := time.Now()
	f()
	d := time.Since(t0)
	res.Elapsed = append(res.Elapsed, Phase{name, d})
	logf("bench: %s took %v", name, d.Round(100*time.Millisecond))
}

// resultStem is the results file name without extension:
// <date>-<host>-<N>cpu-<mode>[-<label>].
func resultStem(env Env, mode, label string) string {
	parts := []string{env.Date.Format("2006-01-02"), slug(env.Host), fmt.Sprintf("%dcpu", env.NumCPU), mode}
	if label != "" {
		parts = append(parts, slug(label))
	}
	return strings.Join(parts, "-")
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// progress prints a progress mark to stderr.
func progress(s string) { fmt.Fprint(os.Stderr, s) }

// logf prints a progress line to stderr, keeping stdout for the report.
func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// fatal prints err and exits.
func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
