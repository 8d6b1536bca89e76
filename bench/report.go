package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Markers delimiting the part of a results file that -readme copies, and the
// part of the README it replaces.
const (
	summaryStart = "<!-- summary:start -->"
	summaryEnd   = "<!-- summary:end -->"
	readmeStart  = "<!-- bench:start -->"
	readmeEnd    = "<!-- bench:end -->"

	// The cache workloads' summary and its place in the README.
	cacheSummaryStart = "<!-- cache-summary:start -->"
	cacheSummaryEnd   = "<!-- cache-summary:end -->"
	cacheReadmeStart  = "<!-- cache-bench:start -->"
	cacheReadmeEnd    = "<!-- cache-bench:end -->"
)

// Env describes the machine and toolchain a run used.
type Env struct {
	Date       time.Time
	Host       string
	CPU        string
	NumCPU     int
	GOMAXPROCS int
	GoVersion  string
	Platform   string
	// Command is the command line that reproduces the run.
	Command string
	// GOGC and GOMEMLIMIT are the environment's settings, if any.
	GOGC, GOMEMLIMIT string
	// Commit names the checkout the run was built from (git describe
	// --always --dirty), or is empty where git cannot tell.
	Commit string
}

// currentEnv describes this process's machine and toolchain.
func currentEnv() Env {
	host, _ := os.Hostname()
	args := []string{"cd bench && go run ."}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t'\"$*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		args = append(args, a)
	}
	return Env{
		Date:       time.Now(),
		Host:       host,
		CPU:        cpuModel(),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		Command:    strings.Join(args, " "),
		GOGC:       os.Getenv("GOGC"),
		GOMEMLIMIT: os.Getenv("GOMEMLIMIT"),
		Commit:     commit(),
	}
}

// commit returns git's name for the checkout the bench runs in, with
// "-dirty" if it has uncommitted changes, so that a results file says which
// code it measured; empty if git is missing or this is not a checkout.
func commit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or the
// architecture where that file is missing.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return runtime.GOARCH
}

// slug lowercases s and turns every run of other characters than letters
// and digits into one dash.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// renderMarkdown renders a run's results as a markdown document. svg, if
// not empty, names the latency plot written next to it.
func renderMarkdown(r Results, svg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# shardmap benchmarks: %s run\n\n", r.Config.Mode)
	if hasCoreResults(r) || !hasCacheResults(r) {
		b.WriteString(summaryStart + "\n")
		writeSummary(&b, r)
		b.WriteString(summaryEnd + "\n\n")
	}
	if hasCacheResults(r) {
		b.WriteString(cacheSummaryStart + "\n")
		writeCacheSummary(&b, r)
		b.WriteString(cacheSummaryEnd + "\n\n")
	}
	writeEnv(&b, r)
	writeThroughput(&b, r)
	writeOpCosts(&b, r)
	writeGrowth(&b, r, svg)
	writeMemory(&b, r)
	writeCaches(&b, r)
	return b.String()
}

// writeEnv writes the environment and configuration table.
func writeEnv(b *strings.Builder, r Results) {
	e, c := r.Env, r.Config
	b.WriteString("## Environment\n\n| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s |\n", e.CPU)
	fmt.Fprintf(b, "| Logical CPUs | %d |\n", e.NumCPU)
	fmt.Fprintf(b, "| GOMAXPROCS | %d |\n", e.GOMAXPROCS)
	fmt.Fprintf(b, "| Go | %s %s |\n", e.GoVersion, e.Platform)
	fmt.Fprintf(b, "| Host | %s |\n", e.Host)
	fmt.Fprintf(b, "| Date | %s |\n", e.Date.UTC().Format(time.RFC3339))
	fmt.Fprintf(b, "| Command | `%s` |\n", e.Command)
	if e.Commit != "" {
		fmt.Fprintf(b, "| Commit | %s |\n", e.Commit)
	}
	if e.GOGC != "" || e.GOMEMLIMIT != "" {
		fmt.Fprintf(b, "| GOGC / GOMEMLIMIT | %q / %q |\n", e.GOGC, e.GOMEMLIMIT)
	}
	fmt.Fprintf(b, "| Mode | %s: throughput keys %s (hot keys %s, one goroutine at %s), goroutines %s, %v per contender per cell in %d rounds; growth to %s; bytes/entry at %s; give-back %s |\n",
		c.Mode, joinCounts(c.Keys, countName), countName(c.HotKeys), countName(c.OpsKeys),
		joinCounts(c.Goroutines, func(n int) string { return fmt.Sprint(n) }),
		c.Duration, c.Rounds, joinCounts(c.Growth, countName), countName(c.EntryN), countName(c.GiveBackN))
	writeCacheEnv(b, r)
	var phases []string
	var total time.Duration
	for _, p := range r.Elapsed {
		phases = append(phases, fmt.Sprintf("%s %v", p.Name, p.Elapsed.Round(100*time.Millisecond)))
		total += p.Elapsed
	}
	fmt.Fprintf(b, "| Wall time | %v: %s |\n\n", total.Round(time.Second), strings.Join(phases, ", "))
}

// writeGrowth writes the latency table of every growth run, and a link to
// the latency plot svg if it is not empty.
func writeGrowth(b *strings.Builder, r Results, svg string) {
	if len(r.Growth) == 0 {
		return
	}
	b.WriteString("## Growth\n\nOne writer stores keys into an empty map (no presizing) while one reader loads random keys " +
		"already stored. Every operation is timed with time.Now; latencies go into a log-linear histogram " +
		"(≤ 3% error; max is exact). Peak heap is sampled every 1024 writes. GC figures are runtime/metrics deltas over the run: " +
		"pause total from " + metricGCPauses + " (each pause at its histogram bucket's midpoint), assist CPU from " + metricGCAssist +
		" (CPU time the writer and reader spent marking for the collector), counted after the last cycle of the run completed.\n\n")
	if svg != "" {
		fmt.Fprintf(b, "Latency by percentile: [%s](%s)\n\n![latency by percentile](%s)\n\n", svg, svg, svg)
	}
	if nz := r.Noise; nz.Samples > 0 {
		fmt.Fprintf(b, "Noise floor: timing an empty operation the same way, back to back for %v before these runs: "+
			"p99.99 %s, max %s over %d samples. Latencies near that max say more about the machine than the map.\n\n",
			nz.Duration, fmtDur(nz.P9999), fmtDur(nz.Max), nz.Samples)
	}
	for _, n := range r.Config.Growth {
		fmt.Fprintf(b, "### Empty to %s uint64 keys\n\n", countName(n))
		b.WriteString("| map | total | write p50 | p99 | p99.9 | p99.99 | max | read p50 | p99 | p99.9 | p99.99 | max | reads | GC cycles | GC pause total | GC pause max | GC assist CPU | peak heap |\n")
		b.WriteString("|---|" + strings.Repeat("---:|", 17) + "\n")
		var notes []string
		for _, g := range r.Growth {
			if g.N != n {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s |\n",
				g.Contender, fmtDur(g.Total), quantiles(g.Write), fmtDur(g.Write.Max()),
				quantiles(g.Read), fmtDur(g.Read.Max()), g.Read.Count(),
				g.GC.Cycles, fmtDur(g.GC.PauseTotal), fmtDur(g.GC.PauseMax), fmtDur(g.GC.Assist), fmtBytes(int64(g.PeakHeap)))
			if g.Note != "" {
				notes = append(notes, fmt.Sprintf("- %s: %s", g.Contender, g.Note))
			}
			if g.ReadMisses > 0 {
				notes = append(notes, fmt.Sprintf("- %s: **%d loads missed a key that was already stored**", g.Contender, g.ReadMisses))
			}
		}
		b.WriteString("\n")
		if len(notes) > 0 {
			b.WriteString(strings.Join(notes, "\n") + "\n\n")
		}
	}
}

// quantiles formats p50, p99, p99.9 and p99.99 of h as table cells.
func quantiles(h *Histogram) string {
	var cells []string
	for _, q := range []float64{0.5, 0.99, 0.999, 0.9999} {
		cells = append(cells, fmtDur(h.Quantile(q)))
	}
	return strings.Join(cells, " | ")
}

// writeMemory writes the per-entry and give-back tables.
func writeMemory(b *strings.Builder, r Results) {
	if len(r.EntryCost) == 0 && len(r.GiveBack) == 0 {
		return
	}
	b.WriteString("## Memory\n\n")
	if len(r.EntryCost) > 0 {
		fmt.Fprintf(b, "### Heap per entry, %s entries\n\n"+
			"HeapAlloc after two GCs, minus HeapAlloc before the map was built, divided by the entry count. "+
			"String keys (16 bytes) are allocated beforehand and not counted.\n\n", countName(r.Config.EntryN))
		peakN := 0
		if len(r.Growth) > 0 {
			peakN = slices.Max(r.Config.Growth)
		}
		if peakN > 0 {
			fmt.Fprintf(b, "| map | uint64→uint64 | string→uint64 | peak heap growing to %s (growth run) |\n|---|---:|---:|---:|\n", countName(peakN))
		} else {
			b.WriteString("| map | uint64→uint64 | string→uint64 |\n|---|---:|---:|\n")
		}
		for _, name := range entryNames(r.EntryCost) {
			fmt.Fprintf(b, "| %s | %s | %s |", name,
				fmtBytesPer(entryCostOf(r.EntryCost, name, "uint64")), fmtBytesPer(entryCostOf(r.EntryCost, name, "string")))
			if g, ok := growthOf(r.Growth, name, peakN); ok {
				fmt.Fprintf(b, " %s |", fmtBytes(int64(g.PeakHeap)))
			} else if peakN > 0 {
				b.WriteString(" – |")
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(r.GiveBack) > 0 {
		fmt.Fprintf(b, "### Giving memory back: insert %s uint64 keys, delete them all\n\n"+
			"Settled heap (two GCs) above the starting heap.\n\n", countName(r.Config.GiveBackN))
		b.WriteString("| map | after inserting | after deleting all | kept |\n|---|---:|---:|---:|\n")
		var notes []string
		for _, g := range r.GiveBack {
			kept := "–"
			if g.AfterInsert > 0 {
				kept = fmt.Sprintf("%.0f%%", 100*float64(g.AfterDelete)/float64(g.AfterInsert))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", g.Contender, fmtBytes(g.AfterInsert), fmtBytes(g.AfterDelete), kept)
			if g.Note != "" {
				notes = append(notes, fmt.Sprintf("- %s: %s", g.Contender, g.Note))
			}
		}
		b.WriteString("\n")
		if len(notes) > 0 {
			b.WriteString(strings.Join(notes, "\n") + "\n\n")
		}
	}
}

// contenderNames returns the contenders in rs, in first-seen order.
func contenderNames(rs []ThroughputResult) []string {
	return namesOf(rs, func(r ThroughputResult) string { return r.Contender })
}

// entryNames returns the contenders in cs, in first-seen order.
func entryNames(cs []EntryCost) []string {
	return namesOf(cs, func(c EntryCost) string { return c.Contender })
}

// namesOf returns the distinct names of the results in rs, in first-seen
// order.
func namesOf[T any](rs []T, name func(T) string) []string {
	var names []string
	for _, r := range rs {
		if n := name(r); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// cellOf finds one throughput cell.
func cellOf(rs []ThroughputResult, name, kt string, n int, mix string, g int) (ThroughputResult, bool) {
	for _, r := range rs {
		if r.Contender == name && r.KeyType == kt && r.Keys == n && r.Mix == mix && r.Goroutines == g {
			return r, true
		}
	}
	return ThroughputResult{}, false
}

// opsOf returns one throughput cell's operations per second.
func opsOf(rs []ThroughputResult, name, kt string, n int, mix string, g int) (float64, bool) {
	r, ok := cellOf(rs, name, kt, n, mix, g)
	return r.OpsPerSec, ok
}

// disturbed reports whether other load on the machine took a noticeable
// share of the CPU from a cell.
func disturbed(r ThroughputResult) bool { return r.CPUShare > 0 && r.CPUShare < busyShare }

// disturbedNote explains the mark on disturbed cells, if rs has any.
func disturbedNote(rs []ThroughputResult) string {
	n := 0
	for _, r := range rs {
		if disturbed(r) {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("† %d of %d cells got less than %.0f%% of the CPU time their goroutines could use: "+
		"other load on the machine; read those with suspicion.\n\n", n, len(rs), 100*busyShare)
}

// growthOf finds one growth run.
func growthOf(gs []GrowthResult, name string, n int) (GrowthResult, bool) {
	for _, g := range gs {
		if g.Contender == name && g.N == n {
			return g, true
		}
	}
	return GrowthResult{}, false
}

// entryCostOf returns a contender's bytes per entry for a key type, or 0.
func entryCostOf(cs []EntryCost, name, kt string) float64 {
	for _, c := range cs {
		if c.Contender == name && c.KeyType == kt {
			return c.BytesPerEntry
		}
	}
	return 0
}

// sig3 formats v with about three significant digits.
func sig3(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtDur formats a duration with about three significant digits.
func fmtDur(d time.Duration) string {
	v := float64(d)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return sig3(v/1e3) + "µs"
	case d < time.Second:
		return sig3(v/1e6) + "ms"
	}
	return sig3(v/1e9) + "s"
}

// fmtCount formats an operation rate with a K, M or G suffix.
func fmtCount(v float64) string {
	switch {
	case v >= 1e9:
		return sig3(v/1e9) + "G"
	case v >= 1e6:
		return sig3(v/1e6) + "M"
	case v >= 1e3:
		return sig3(v/1e3) + "K"
	}
	return sig3(v)
}

// fmtBytes formats a byte count in KiB below 1 MiB, else in MiB.
func fmtBytes(n int64) string {
	if n > -1<<20 && n < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// fmtBytesPer formats bytes per entry, or a dash if not measured.
func fmtBytesPer(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

// joinCounts formats a list of numbers with f, comma-separated.
func joinCounts(ns []int, f func(int) string) string {
	var s []string
	for _, n := range ns {
		s = append(s, f(n))
	}
	return strings.Join(s, ", ")
}

// updateReadme copies the summaries of results file src into the README at
// dst: the map workloads' between readmeStart and readmeEnd, the cache
// workloads' between cacheReadmeStart and cacheReadmeEnd, whichever src
// has. If dst does not exist or lacks a section's markers, it leaves dst
// alone and prints the sections to w instead.
func updateReadme(src, dst string, w io.Writer) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	// Links in the README are relative to the README's directory.
	rel := func(path string) string {
		a, err1 := filepath.Abs(path)
		d, err2 := filepath.Abs(filepath.Dir(dst))
		if err1 != nil || err2 != nil {
			return filepath.ToSlash(path)
		}
		r, err := filepath.Rel(d, a)
		if err != nil {
			return filepath.ToSlash(path)
		}
		return filepath.ToSlash(r)
	}
	type section struct{ start, end, text string }
	var sections []section
	if summary, ok := between(data, summaryStart, summaryEnd); ok {
		var sec strings.Builder
		fmt.Fprintf(&sec, "%s\nMeasured by [bench/](%s), a separate module so that the maps it compares against never enter "+
			"this module's dependencies.\n\n", readmeStart, rel("."))
		sec.WriteString(strings.TrimSpace(summary) + "\n\n")
		if svg := strings.TrimSuffix(src, ".md") + "-growth.svg"; fileExists(svg) {
			fmt.Fprintf(&sec, "![latency by percentile while growing](%s)\n\n", rel(svg))
		}
		fmt.Fprintf(&sec, "Full results: [%s](%s). Run the command shown from the bench/ directory.\n%s", rel(src), rel(src), readmeEnd)
		sections = append(sections, section{readmeStart, readmeEnd, sec.String()})
	}
	if summary, ok := between(data, cacheSummaryStart, cacheSummaryEnd); ok {
		text := fmt.Sprintf("%s\n%s\n\nFull results: [%s](%s). Run the command shown from the bench/ directory.\n%s",
			cacheReadmeStart, strings.TrimSpace(summary), rel(src), rel(src), cacheReadmeEnd)
		sections = append(sections, section{cacheReadmeStart, cacheReadmeEnd, text})
	}
	if len(sections) == 0 {
		return fmt.Errorf("%s has neither a %s nor a %s section", src, summaryStart, cacheSummaryStart)
	}

	readme, err := os.ReadFile(dst)
	if err != nil {
		if !os.IsNotExist(err) {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: %s does not exist; printing the sections instead\n", dst)
		for _, sec := range sections {
			if _, err := fmt.Fprintln(w, sec.text); err != nil {
				return err
			}
		}
		return nil
	}
	changed := false
	for _, sec := range sections {
		before, rest, ok1 := bytes.Cut(readme, []byte(sec.start))
		_, after, ok2 := bytes.Cut(rest, []byte(sec.end))
		if !ok1 || !ok2 {
			fmt.Fprintf(os.Stderr, "bench: %s has no %s ... %s markers; printing the section instead\n", dst, sec.start, sec.end)
			if _, err := fmt.Fprintln(w, sec.text); err != nil {
				return err
			}
			continue
		}
		readme = slices.Concat(before, []byte(sec.text), after)
		changed = true
	}
	if !changed {
		return nil
	}
	if err := os.WriteFile(dst, readme, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: updated %s from %s\n", dst, src)
	return nil
}

// between returns the text of data between the markers start and end, and
// whether both were found.
func between(data []byte, start, end string) (string, bool) {
	_, rest, ok1 := bytes.Cut(data, []byte(start))
	text, _, ok2 := bytes.Cut(rest, []byte(end))
	return string(text), ok1 && ok2
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
