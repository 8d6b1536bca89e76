package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// hasCoreResults reports whether r holds any map workload's results.
func hasCoreResults(r Results) bool {
	return len(r.Throughput) > 0 || len(r.Allocs) > 0 || len(r.Growth) > 0 || len(r.EntryCost) > 0 || len(r.GiveBack) > 0
}

// writeMachine writes the line that says where, with what and when a run
// was made.
func writeMachine(b *strings.Builder, r Results) {
	e := r.Env
	at := ""
	if e.Commit != "" {
		at = ", at " + e.Commit
	}
	fmt.Fprintf(b, "%s, %d logical CPUs, GOMAXPROCS %d, %s %s; `%s`%s; %s.\n\n",
		e.CPU, e.NumCPU, e.GOMAXPROCS, e.GoVersion, e.Platform, e.Command, at, e.Date.UTC().Format("2006-01-02"))
}

// writeSummary writes the part of the report the README shows: how the
// numbers were measured, the targets, and the headline tables.
func writeSummary(b *strings.Builder, r Results) {
	writeMachine(b, r)
	if r.Config.Mode == "quick" || r.Config.Mode == "smoke" {
		fmt.Fprintf(b, "This is a %s run: sizes are smaller and cells shorter than the default run's, and the numbers are noisier.\n\n", r.Config.Mode)
	}
	writeMethod(b, r)
	writeTargets(b, r)
	writeRatioGrid(b, r)
	writeOpCostSummary(b, r)
	if len(r.Growth) > 0 {
		n := slices.Max(r.Config.Growth)
		fmt.Fprintf(b, "**Growth** from empty to %s uint64 keys, one writer and one reader; GC figures from runtime/metrics.\n\n", countName(n))
		b.WriteString("| map | total | write p99.99 | write max | read p99.99 | read max | GC pause total | GC assist CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, g := range r.Growth {
			if g.N == n {
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", g.Contender, fmtDur(g.Total),
					fmtDur(g.Write.Quantile(0.9999)), fmtDur(g.Write.Max()),
					fmtDur(g.Read.Quantile(0.9999)), fmtDur(g.Read.Max()), fmtDur(g.GC.PauseTotal), fmtDur(g.GC.Assist))
			}
		}
		b.WriteString("\n")
	}
	if len(r.EntryCost) > 0 {
		fmt.Fprintf(b, "**Heap per entry** at %s entries, bytes (%s: a plain Go map, for reference).\n\n", countName(r.Config.EntryN), goMapName)
		b.WriteString("| map | uint64→uint64 | string→uint64 |\n|---|---:|---:|\n")
		for _, name := range entryNames(r.EntryCost) {
			fmt.Fprintf(b, "| %s | %s | %s |\n", name,
				fmtBytesPer(entryCostOf(r.EntryCost, name, "uint64")), fmtBytesPer(entryCostOf(r.EntryCost, name, "string")))
		}
		b.WriteString("\n")
	}
}

// writeMethod says how the throughput numbers were measured.
func writeMethod(b *strings.Builder, r Results) {
	if len(r.Throughput) == 0 {
		return
	}
	c := r.Config
	fmt.Fprintf(b, "**Method.** Each goroutine draws key indexes from its own xorshift generator and a 100-step "+
		"shuffled schedule of the mix; no operation reads a key slice. A uint64 key is mix64(index), computed "+
		"(splitmix64's finalizer, a bijection). A string key is 16 bytes: for a Load, written into the goroutine's "+
		"scratch buffer; for operations that may keep the key, the index's slot of one contiguous arena, reached "+
		"by pointer arithmetic, from which every map was also filled. Each contender's loop calls its map's methods "+
		"directly (no interface or generic dictionary; the bench tests check the machine code), and the loops are "+
		"the same for every contender but for those calls. Maps are built with defaults, not presized, and "+
		"prefilled; deleted keys are stored back, so sizes hold. In each cell the contenders take turns, %d round(s) "+
		"in rotated order, %v per contender in all; above %s keys one map is held at a time, built %s, "+
		"with the cells rotated among its rounds, and only %s run. Ratios are to %s.\n\n",
		c.Rounds, c.Duration, countName(c.SharedKeys), passesName(c.BigPasses), strings.Join(c.BigMaps, ", "), baseline)
}

// passesName says how often runAlone builds each map.
func passesName(passes int) string {
	if passes <= 1 {
		return "once per contender, the contenders one after another"
	}
	return fmt.Sprintf("%d times per contender, in passes over the contenders in alternating order", passes)
}

// target is one line of the targets table.
type target struct{ what, measured, status string }

// verdict is a target's status column.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// writeTargets writes the performance targets next to what this run
// measured. A target that was not measured in this run is left out.
// Nothing here fails a run: a benchmark reports.
func writeTargets(b *strings.Builder, r Results) {
	var ts []target
	ts = append(ts, throughputTargets(r)...)
	ts = append(ts, opCostTargets(r)...)
	if len(r.EntryCost) > 0 {
		s := entryCostOf(r.EntryCost, "shardmap", "uint64")
		if g := entryCostOf(r.EntryCost, goMapName, "uint64"); s > 0 && g > 0 {
			ts = append(ts, target{fmt.Sprintf("heap per entry, %s uint64→uint64: ≤ a plain Go map's", countName(r.Config.EntryN)),
				fmt.Sprintf("%.1f B vs %.1f B", s, g), verdict(s <= g)})
		}
		s = entryCostOf(r.EntryCost, "shardmap", "string")
		if x := entryCostOf(r.EntryCost, baseline, "string"); s > 0 && x > 0 {
			ts = append(ts, target{fmt.Sprintf("heap per entry, %s string→uint64: below %s's", countName(r.Config.EntryN), baseline),
				fmt.Sprintf("%.1f B vs %.1f B", s, x), verdict(s < x)})
		}
	}
	if len(r.Growth) > 0 {
		n := slices.Max(r.Config.Growth)
		s, ok := growthOf(r.Growth, "shardmap", n)
		if x, okx := growthOf(r.Growth, baseline, n); ok && okx {
			ratio := float64(x.Write.Max()) / float64(max(s.Write.Max(), 1))
			ts = append(ts,
				target{fmt.Sprintf("growth to %s: slowest write ≥ 100x below %s's", countName(n), baseline),
					fmt.Sprintf("%s vs %s (%.0fx)", fmtDur(s.Write.Max()), fmtDur(x.Write.Max()), ratio), verdict(ratio >= 100)},
				target{fmt.Sprintf("growth to %s: write p99.99 ≤ %s's", countName(n), baseline),
					fmt.Sprintf("%s vs %s", fmtDur(s.Write.Quantile(0.9999)), fmtDur(x.Write.Quantile(0.9999))),
					verdict(s.Write.Quantile(0.9999) <= x.Write.Quantile(0.9999))})
		}
		if x, okx := growthOf(r.Growth, "xsync-v3", n); ok && okx {
			ts = append(ts, target{fmt.Sprintf("growth to %s: total time ≤ xsync-v3's", countName(n)),
				fmt.Sprintf("%s vs %s", fmtDur(s.Total), fmtDur(x.Total)), verdict(s.Total <= x.Total)})
		}
	}
	if len(ts) == 0 {
		return
	}
	b.WriteString("**Targets:**\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range ts {
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.what, t.measured, t.status)
	}
	b.WriteString("\n")
}

// throughputTargets are the throughput targets: shardmap at or above the
// baseline in every grid cell and hot-key cell, and 1.5x the baseline with
// uint64 keys at 1M keys and more.
func throughputTargets(r Results) []target {
	type ratio struct {
		cell  string
		ratio float64
	}
	var grid, hot, big []ratio
	for _, s := range r.Throughput {
		if s.Contender != "shardmap" || s.Mix == storeOnly.Name {
			continue
		}
		x, ok := opsOf(r.Throughput, baseline, s.KeyType, s.Keys, s.Mix, s.Goroutines)
		if !ok {
			continue
		}
		rt := ratio{fmt.Sprintf("%s %s %s ×%d", s.KeyType, countName(s.Keys), s.Mix, s.Goroutines), s.OpsPerSec / x}
		if slices.Contains(hotOps, s.Mix) {
			hot = append(hot, rt)
			continue
		}
		grid = append(grid, rt)
		if s.KeyType == "uint64" && s.Keys >= 1_000_000 {
			big = append(big, rt)
		}
	}
	var ts []target
	add := func(what string, rs []ratio, want float64) {
		if len(rs) == 0 {
			return
		}
		low := slices.MinFunc(rs, func(a, b ratio) int { return cmpFloat(a.ratio, b.ratio) })
		met := 0
		for _, x := range rs {
			if x.ratio >= want {
				met++
			}
		}
		ts = append(ts, target{what, fmt.Sprintf("%d of %d cells; lowest %.2fx (%s)", met, len(rs), low.ratio, low.cell),
			verdict(met == len(rs))})
	}
	add(fmt.Sprintf("throughput ≥ 1.0x %s, every grid cell", baseline), grid, 1)
	add(fmt.Sprintf("LoadOrStore and Compute on %s hot keys ≥ 1.0x %s", countName(r.Config.HotKeys), baseline), hot, 1)
	add(fmt.Sprintf("uint64 keys, 1M keys and more: 1.5x %s (aim)", baseline), big, 1.5)
	return ts
}

// cmpFloat orders two floats.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeRatioGrid writes shardmap's throughput as a ratio to the baseline's
// in every cell: one row per key type and count, one column per mix and
// goroutine count, and the hot-key cells below.
func writeRatioGrid(b *strings.Builder, r Results) {
	if _, ok := cellOfAny(r.Throughput, "shardmap"); !ok {
		return
	}
	gs := r.Config.Goroutines
	fmt.Fprintf(b, "**Throughput, shardmap ÷ %s** (ops/s ratio; ×N is the goroutine count; full tables with every contender in the results file).\n\n", baseline)
	b.WriteString("| keys |")
	for _, m := range mixes {
		for _, g := range gs {
			fmt.Fprintf(b, " %s ×%d |", m.Name, g)
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(mixes)*len(gs)) + "\n")
	var shown []ThroughputResult
	for _, kt := range []string{"uint64", "string"} {
		for _, n := range r.Config.Keys {
			fmt.Fprintf(b, "| %s %s |", kt, countName(n))
			for _, m := range mixes {
				for _, g := range gs {
					b.WriteString(" " + ratioCell(r.Throughput, kt, n, m.Name, g, &shown) + " |")
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	b.WriteString(hotTable(r, &shown, []string{"shardmap", baseline}))
	b.WriteString(disturbedNote(shown))
}

// ratioCell formats shardmap's ratio to the baseline in one cell, marked if
// either run was disturbed, and adds both results to shown.
func ratioCell(rs []ThroughputResult, kt string, n int, mix string, g int, shown *[]ThroughputResult) string {
	s, ok1 := cellOf(rs, "shardmap", kt, n, mix, g)
	x, ok2 := cellOf(rs, baseline, kt, n, mix, g)
	if !ok1 || !ok2 || x.OpsPerSec == 0 {
		return "–"
	}
	*shown = append(*shown, s, x)
	cell := fmt.Sprintf("%.2fx", s.OpsPerSec/x.OpsPerSec)
	if disturbed(s) || disturbed(x) {
		cell += " †"
	}
	return cell
}

// hotTable returns the hot-key table for the contenders in names (all if
// nil), adding the results it shows to shown.
func hotTable(r Results, shown *[]ThroughputResult, names []string) string {
	var hot []ThroughputResult
	for _, t := range r.Throughput {
		if slices.Contains(hotOps, t.Mix) && (names == nil || slices.Contains(names, t.Contender)) {
			hot = append(hot, t)
		}
	}
	if len(hot) == 0 {
		return ""
	}
	var b strings.Builder
	names = contenderNames(hot)
	fmt.Fprintf(&b, "**Hot keys**: every goroutine runs LoadOrStore (of present keys) or Compute (adding 1 to the value) "+
		"on random keys of a %s-key map; ops/s and ratio to %s (– where the map has no such method).\n\n",
		countName(r.Config.HotKeys), baseline)
	b.WriteString("| keys | op | goroutines | " + strings.Join(names, " | ") + " |\n")
	b.WriteString("|---|---|---:|" + strings.Repeat("---:|", len(names)) + "\n")
	for _, kt := range []string{"uint64", "string"} {
		for _, h := range hotOps {
			for _, g := range r.Config.Goroutines {
				if row := throughputRow(r.Throughput, names, kt, r.Config.HotKeys, h, g); row != "" {
					fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", kt, h, g, row)
				}
			}
		}
	}
	b.WriteString("\n")
	*shown = append(*shown, hot...)
	return b.String()
}

// cellOfAny finds any throughput cell of a contender.
func cellOfAny(rs []ThroughputResult, name string) (ThroughputResult, bool) {
	for _, r := range rs {
		if r.Contender == name {
			return r, true
		}
	}
	return ThroughputResult{}, false
}

// opCostTargets are the single-goroutine targets: Load and Store time at
// OpsKeys uint64 keys at or below the baseline's, no allocation per Store
// of pointer-free keys and values, at most the baseline's otherwise, and
// none per Load.
func opCostTargets(r Results) []target {
	n := r.Config.OpsKeys
	var ts []target
	for _, op := range []struct{ name, mix string }{{"Load", mixes[0].Name}, {"Store", storeOnly.Name}} {
		s, ok1 := cellOf(r.Throughput, "shardmap", "uint64", n, op.mix, 1)
		x, ok2 := cellOf(r.Throughput, baseline, "uint64", n, op.mix, 1)
		if ok1 && ok2 {
			sn, xn := 1e9/s.OpsPerSec, 1e9/x.OpsPerSec
			ts = append(ts, target{fmt.Sprintf("%s, 1 goroutine, %s uint64 keys: ns/op ≤ %s's", op.name, countName(n), baseline),
				fmt.Sprintf("%s vs %s ns", sig3(sn), sig3(xn)), verdict(sn <= xn)})
		}
	}
	su, ok1 := allocOf(r.Allocs, "shardmap", "uint64")
	ss, ok2 := allocOf(r.Allocs, "shardmap", "string")
	xs, ok3 := allocOf(r.Allocs, baseline, "string")
	if ok1 {
		ts = append(ts, target{"allocations per Store, uint64→uint64: 0",
			fmt.Sprintf("%s present key, %s inserting", fmtAllocs(su.Update), fmtAllocs(su.Insert)),
			verdict(su.Update == 0 && su.Insert < 0.01)})
	}
	if ok2 && ok3 {
		ts = append(ts, target{fmt.Sprintf("allocations per Store, string→uint64: ≤ %s's", baseline),
			fmt.Sprintf("%s vs %s present key, %s vs %s inserting", fmtAllocs(ss.Update), fmtAllocs(xs.Update), fmtAllocs(ss.Insert), fmtAllocs(xs.Insert)),
			verdict(ss.Update <= xs.Update && ss.Insert <= xs.Insert)})
	}
	if ok1 && ok2 {
		ts = append(ts, target{"allocations per Load: 0", fmt.Sprintf("%s uint64, %s string", fmtAllocs(su.Load), fmtAllocs(ss.Load)),
			verdict(su.Load == 0 && ss.Load == 0)})
	}
	return ts
}

// allocOf finds a contender's allocation counts for a key type.
func allocOf(as []AllocCost, name, kt string) (AllocCost, bool) {
	for _, a := range as {
		if a.Contender == name && a.KeyType == kt {
			return a, true
		}
	}
	return AllocCost{}, false
}

// fmtAllocs formats allocations per operation.
func fmtAllocs(v float64) string {
	if v == 0 {
		return "0"
	}
	if v >= 10 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// writeOpCostSummary writes the single-goroutine table of the summary.
func writeOpCostSummary(b *strings.Builder, r Results) {
	if len(r.Allocs) == 0 {
		return
	}
	n := r.Config.OpsKeys
	fmt.Fprintf(b, "**One goroutine, %s keys**: ns per Load and per Store of a present key (from ops/s, interleaved as above); "+
		"heap allocations per Load, per Store of a present key, and per Store while filling an empty map (growth included).\n\n", countName(n))
	b.WriteString(opCostTable(r))
}

// opCostTable returns the single-goroutine table.
func opCostTable(r Results) string {
	n := r.Config.OpsKeys
	var b strings.Builder
	b.WriteString("| map | keys | Load ns | Store ns | allocs/Load | allocs/Store | allocs/insert |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, kt := range []string{"uint64", "string"} {
		for _, a := range r.Allocs {
			if a.KeyType != kt {
				continue
			}
			ns := func(mix string) string {
				if c, ok := cellOf(r.Throughput, a.Contender, kt, n, mix, 1); ok && c.OpsPerSec > 0 {
					return sig3(1e9 / c.OpsPerSec)
				}
				return "–"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", a.Contender, kt, ns(mixes[0].Name), ns(storeOnly.Name),
				fmtAllocs(a.Load), fmtAllocs(a.Update), fmtAllocs(a.Insert))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// writeOpCosts writes the single-goroutine section of the full report.
func writeOpCosts(b *strings.Builder, r Results) {
	if len(r.Allocs) == 0 {
		return
	}
	fmt.Fprintf(b, "## One goroutine, %s keys\n\n"+
		"Load and Store ns/op are 1/throughput of the L100 and S100 cells at 1 goroutine (S100: every operation "+
		"a Store of a present key). Allocations are the MemStats.Mallocs delta over %d operations on one goroutine, "+
		"divided by the count, as testing.AllocsPerRun counts them; allocs/insert is the same over filling an empty map "+
		"to %s keys, the map's growth included.\n\n", countName(r.Config.OpsKeys), allocOps, countName(r.Config.OpsKeys))
	b.WriteString(opCostTable(r))
}

// writeThroughput writes one table per key type and key count, and the
// hot-key table.
func writeThroughput(b *strings.Builder, r Results) {
	if len(r.Throughput) == 0 {
		return
	}
	var grid []ThroughputResult
	for _, t := range r.Throughput {
		if !slices.Contains(hotOps, t.Mix) && t.Mix != storeOnly.Name {
			grid = append(grid, t)
		}
	}
	names := contenderNames(grid)
	c := r.Config
	fmt.Fprintf(b, "## Throughput\n\nOperations per second, all goroutines together, and the ratio to %s. "+
		"Up to %s keys, each key count prefills one map per contender, held together; in each cell the contenders "+
		"take turns, %d rounds of %v each in rotated order (%v per contender in all). Above %s keys one map at a time "+
		"is built, %s, each time running every cell in %d rounds of %v. "+
		"Deleted keys are stored back later, so the maps keep their size. – marks a contender not run at that size.\n\n",
		baseline, countName(c.SharedKeys), c.Rounds, c.Duration/time.Duration(max(c.Rounds, 1)), c.Duration,
		countName(c.SharedKeys), passesName(c.BigPasses), c.Rounds, c.Duration/time.Duration(max(c.Rounds*c.BigPasses, 1)))
	b.WriteString(disturbedNote(r.Throughput))
	for _, kt := range []string{"uint64", "string"} {
		for _, n := range c.Keys {
			fmt.Fprintf(b, "### %s keys, %s\n\n", kt, countName(n))
			b.WriteString("| mix | goroutines | " + strings.Join(names, " | ") + " |\n")
			b.WriteString("|---|---:|" + strings.Repeat("---:|", len(names)) + "\n")
			for _, m := range mixes {
				for _, g := range c.Goroutines {
					if row := throughputRow(r.Throughput, names, kt, n, m.Name, g); row != "" {
						fmt.Fprintf(b, "| %s | %d | %s |\n", m.Name, g, row)
					}
				}
			}
			b.WriteString("\n")
		}
	}
	var shown []ThroughputResult
	if t := hotTable(r, &shown, nil); t != "" {
		b.WriteString("### Hot keys\n\n" + t)
	}
}

// throughputRow returns the cells of one row of a throughput table, or ""
// if no contender was measured for it.
func throughputRow(rs []ThroughputResult, names []string, kt string, n int, mix string, g int) string {
	base, _ := opsOf(rs, baseline, kt, n, mix, g)
	var cells []string
	any := false
	for _, name := range names {
		r, ok := cellOf(rs, name, kt, n, mix, g)
		if !ok {
			cells = append(cells, "–")
			continue
		}
		any = true
		cell := fmtCount(r.OpsPerSec)
		if base > 0 {
			cell += fmt.Sprintf(" (%.2fx)", r.OpsPerSec/base)
		}
		if disturbed(r) {
			cell += " †"
		}
		cells = append(cells, cell)
	}
	if !any {
		return ""
	}
	return strings.Join(cells, " | ")
}
