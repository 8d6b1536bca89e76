package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
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
	}
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
	b.WriteString(summaryStart + "\n")
	writeSummary(&b, r)
	b.WriteString(summaryEnd + "\n\n")
	writeEnv(&b, r)
	writeThroughput(&b, r)
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
	if e.GOGC != "" || e.GOMEMLIMIT != "" {
		fmt.Fprintf(b, "| GOGC / GOMEMLIMIT | %q / %q |\n", e.GOGC, e.GOMEMLIMIT)
	}
	fmt.Fprintf(b, "| Mode | %s: throughput keys %s, goroutines %s, %v per contender per cell; growth to %s; bytes/entry at %s; give-back %s |\n",
		c.Mode, joinCounts(c.Keys, countName), joinCounts(c.Goroutines, func(n int) string { return fmt.Sprint(n) }),
		c.Duration, joinCounts(c.Growth, countName), countName(c.EntryN), countName(c.GiveBackN))
	writeCacheEnv(b, r)
	var phases []string
	for _, p := range r.Elapsed {
		phases = append(phases, fmt.Sprintf("%s %v", p.Name, p.Elapsed.Round(100*time.Millisecond)))
	}
	fmt.Fprintf(b, "| Wall time | %s |\n\n", strings.Join(phases, ", "))
}

// writeSummary writes the part of the report the README shows: the targets
// from DESIGN.md and the headline numbers.
func writeSummary(b *strings.Builder, r Results) {
	e := r.Env
	fmt.Fprintf(b, "%s, %d logical CPUs, GOMAXPROCS %d, %s; `%s`; %s.\n\n",
		e.CPU, e.NumCPU, e.GOMAXPROCS, e.GoVersion, e.Command, e.Date.UTC().Format("2006-01-02"))
	if r.Config.Mode == "quick" || r.Config.Mode == "smoke" {
		fmt.Fprintf(b, "This is a %s run: sizes are smaller than the ones DESIGN.md names, and the numbers are noisy.\n\n", r.Config.Mode)
	}
	writeTargets(b, r)
	if len(r.Throughput) > 0 {
		n := slices.Max(r.Config.Keys)
		g := e.GOMAXPROCS
		fmt.Fprintf(b, "**Throughput**, %s keys, %d goroutines: ops/s and ratio to %s.\n\n", countName(n), g, baseline)
		names := contenderNames(r.Throughput)
		b.WriteString("| keys | mix | " + strings.Join(names, " | ") + " |\n")
		b.WriteString("|---|---|" + strings.Repeat("---:|", len(names)) + "\n")
		for _, kt := range []string{"uint64", "string"} {
			for _, m := range mixes {
				row := throughputRow(r.Throughput, names, kt, n, m.Name, g)
				if row != "" {
					fmt.Fprintf(b, "| %s | %s | %s |\n", kt, m.Name, row)
				}
			}
		}
		b.WriteString("\n")
		var shown []ThroughputResult
		for _, t := range r.Throughput {
			if t.Keys == n && t.Goroutines == g {
				shown = append(shown, t)
			}
		}
		b.WriteString(disturbedNote(shown))
	}
	if len(r.Growth) > 0 {
		n := slices.Max(r.Config.Growth)
		fmt.Fprintf(b, "**Growth** from empty to %s uint64 keys, one writer and one reader.\n\n", countName(n))
		b.WriteString("| map | total | write p99.99 | write max | read p99.99 | read max | GC pause |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, g := range r.Growth {
			if g.N == n {
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", g.Contender, fmtDur(g.Total),
					fmtDur(g.Write.Quantile(0.9999)), fmtDur(g.Write.Max()),
					fmtDur(g.Read.Quantile(0.9999)), fmtDur(g.Read.Max()), fmtDur(g.GC.PauseTotal))
			}
		}
		b.WriteString("\n")
	}
	if len(r.EntryCost) > 0 {
		fmt.Fprintf(b, "**Heap per entry** at %s entries, bytes.\n\n", countName(r.Config.EntryN))
		b.WriteString("| map | uint64→uint64 | string→uint64 |\n|---|---:|---:|\n")
		for _, name := range entryNames(r.EntryCost) {
			fmt.Fprintf(b, "| %s | %s | %s |\n", name,
				fmtBytesPer(entryCostOf(r.EntryCost, name, "uint64")), fmtBytesPer(entryCostOf(r.EntryCost, name, "string")))
		}
		b.WriteString("\n")
	}
}

// writeTargets writes the DESIGN.md targets next to what this run measured.
// A target that was not measured in this run is left out. Nothing here fails
// a run: a benchmark reports.
func writeTargets(b *strings.Builder, r Results) {
	type target struct{ what, measured, status string }
	var ts []target
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	if len(r.Throughput) > 0 {
		n := slices.Max(r.Config.Keys)
		for _, m := range []string{"L100", "L90-S5-D5", "L50-S25-D25"} {
			s, ok1 := opsOf(r.Throughput, "shardmap", "uint64", n, m, r.Env.GOMAXPROCS)
			x, ok2 := opsOf(r.Throughput, baseline, "uint64", n, m, r.Env.GOMAXPROCS)
			if ok1 && ok2 {
				ts = append(ts, target{
					fmt.Sprintf("throughput %s, uint64 %s keys, %d goroutines: ≥ %s", m, countName(n), r.Env.GOMAXPROCS, baseline),
					fmt.Sprintf("%.2fx", s/x), verdict(s >= x),
				})
			}
		}
	}
	if len(r.Growth) > 0 {
		n := slices.Max(r.Config.Growth)
		s, ok := growthOf(r.Growth, "shardmap", n)
		for _, x := range []string{"xsync-v4", "xsync-v3"} {
			if g, okx := growthOf(r.Growth, x, n); ok && okx {
				ratio := float64(g.Write.Max()) / float64(max(s.Write.Max(), 1))
				ts = append(ts, target{
					fmt.Sprintf("growth to %s: slowest write ≥ 100x below %s's", countName(n), x),
					fmt.Sprintf("%s vs %s (%.0fx)", fmtDur(s.Write.Max()), fmtDur(g.Write.Max()), ratio), verdict(ratio >= 100),
				})
			}
		}
		if g, okx := growthOf(r.Growth, "xsync-v3", n); ok && okx {
			ts = append(ts, target{
				fmt.Sprintf("growth to %s: total time ≤ xsync-v3's", countName(n)),
				fmt.Sprintf("%s vs %s", fmtDur(s.Total), fmtDur(g.Total)), verdict(s.Total <= g.Total),
			})
		}
	}
	if len(r.EntryCost) > 0 {
		s := entryCostOf(r.EntryCost, "shardmap", "uint64")
		for _, x := range []string{"xsync-v4", "xsync-v3"} {
			if c := entryCostOf(r.EntryCost, x, "uint64"); s > 0 && c > 0 {
				ts = append(ts, target{
					fmt.Sprintf("heap per entry, %s uint64→uint64: below %s's", countName(r.Config.EntryN), x),
					fmt.Sprintf("%.1f B vs %.1f B", s, c), verdict(s < c),
				})
			}
		}
	}
	if len(ts) == 0 {
		return
	}
	b.WriteString("**Targets** (DESIGN.md, \"Numbers it is held to\"):\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.what, t.measured, t.status)
	}
	b.WriteString("\n")
}

// writeThroughput writes one table per key type and key count.
func writeThroughput(b *strings.Builder, r Results) {
	if len(r.Throughput) == 0 {
		return
	}
	names := contenderNames(r.Throughput)
	fmt.Fprintf(b, "## Throughput\n\nOperations per second, all goroutines together, and the ratio to %s. "+
		"Each cell prefills a fresh map per contender; the contenders then take turns, %d rounds of %v each in rotated order "+
		"(%v per contender in all). Deleted keys are stored back later, so the maps keep their size.\n\n",
		baseline, r.Config.Rounds, r.Config.Duration/time.Duration(max(r.Config.Rounds, 1)), r.Config.Duration)
	b.WriteString(disturbedNote(r.Throughput))
	for _, kt := range []string{"uint64", "string"} {
		for _, n := range r.Config.Keys {
			fmt.Fprintf(b, "### %s keys, %s\n\n", kt, countName(n))
			b.WriteString("| mix | goroutines | " + strings.Join(names, " | ") + " |\n")
			b.WriteString("|---|---:|" + strings.Repeat("---:|", len(names)) + "\n")
			for _, m := range mixes {
				for _, g := range r.Config.Goroutines {
					if row := throughputRow(r.Throughput, names, kt, n, m.Name, g); row != "" {
						fmt.Fprintf(b, "| %s | %d | %s |\n", m.Name, g, row)
					}
				}
			}
			b.WriteString("\n")
		}
	}
}

// throughputRow returns the cells of one row of a throughput table, or ""
// if the baseline was not measured for it.
func throughputRow(rs []ThroughputResult, names []string, kt string, n int, mix string, g int) string {
	base, ok := opsOf(rs, baseline, kt, n, mix, g)
	if !ok {
		base = 0
	}
	var cells []string
	for _, name := range names {
		r, ok := cellOf(rs, name, kt, n, mix, g)
		if !ok {
			cells = append(cells, "–")
			continue
		}
		cell := fmtCount(r.OpsPerSec)
		if base > 0 {
			cell += fmt.Sprintf(" (%.2fx)", r.OpsPerSec/base)
		}
		if disturbed(r) {
			cell += " †"
		}
		cells = append(cells, cell)
	}
	return strings.Join(cells, " | ")
}

// writeGrowth writes the latency table of every growth run, and a link to
// the latency plot svg if it is not empty.
func writeGrowth(b *strings.Builder, r Results, svg string) {
	if len(r.Growth) == 0 {
		return
	}
	b.WriteString("## Growth\n\nOne writer stores keys into an empty map (no presizing) while one reader loads random keys " +
		"already stored. Every operation is timed with time.Now; latencies go into a log-linear histogram " +
		"(≤ 3% error; max is exact). Peak heap is sampled every 1024 writes.\n\n")
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
		b.WriteString("| map | total | write p50 | p99 | p99.9 | p99.99 | max | read p50 | p99 | p99.9 | p99.99 | max | reads | GC cycles | GC pause total | GC pause max | peak heap |\n")
		b.WriteString("|---|" + strings.Repeat("---:|", 16) + "\n")
		var notes []string
		for _, g := range r.Growth {
			if g.N != n {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %s |\n",
				g.Contender, fmtDur(g.Total), quantiles(g.Write), fmtDur(g.Write.Max()),
				quantiles(g.Read), fmtDur(g.Read.Max()), g.Read.Count(),
				g.GC.Cycles, fmtDur(g.GC.PauseTotal), fmtDur(g.GC.PauseMax), fmtBytes(int64(g.PeakHeap)))
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
	var names []string
	for _, r := range rs {
		if !slices.Contains(names, r.Contender) {
			names = append(names, r.Contender)
		}
	}
	return names
}

// entryNames returns the contenders in cs, in first-seen order.
func entryNames(cs []EntryCost) []string {
	var names []string
	for _, c := range cs {
		if !slices.Contains(names, c.Contender) {
			names = append(names, c.Contender)
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

// updateReadme copies the summary of results file src into the README at
// dst, between readmeStart and readmeEnd. If dst does not exist or lacks the
// markers, it leaves dst alone and prints the section to w instead.
func updateReadme(src, dst string, w io.Writer) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	_, rest, ok1 := bytes.Cut(data, []byte(summaryStart))
	summary, _, ok2 := bytes.Cut(rest, []byte(summaryEnd))
	if !ok1 || !ok2 {
		return fmt.Errorf("%s has no %s ... %s section", src, summaryStart, summaryEnd)
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
	var sec strings.Builder
	fmt.Fprintf(&sec, "%s\nMeasured by [bench/](%s), a separate module so that the maps it compares against never enter "+
		"this module's dependencies.\n\n", readmeStart, rel("."))
	sec.WriteString(strings.TrimSpace(string(summary)) + "\n\n")
	if svg := strings.TrimSuffix(src, ".md") + "-growth.svg"; fileExists(svg) {
		fmt.Fprintf(&sec, "![latency by percentile while growing](%s)\n\n", rel(svg))
	}
	fmt.Fprintf(&sec, "Full results: [%s](%s). Run the command shown from the bench/ directory.\n%s", rel(src), rel(src), readmeEnd)
	section := sec.String()

	readme, err := os.ReadFile(dst)
	if err != nil {
		if !os.IsNotExist(err) {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: %s does not exist; printing the section instead\n", dst)
		_, err = fmt.Fprintln(w, section)
		return err
	}
	before, rest, ok1 := bytes.Cut(readme, []byte(readmeStart))
	_, after, ok2 := bytes.Cut(rest, []byte(readmeEnd))
	if !ok1 || !ok2 {
		fmt.Fprintf(os.Stderr, "bench: %s has no %s ... %s markers; printing the section instead\n", dst, readmeStart, readmeEnd)
		_, err = fmt.Fprintln(w, section)
		return err
	}
	out := slices.Concat(before, []byte(section), after)
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: updated %s from %s\n", dst, src)
	return nil
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
