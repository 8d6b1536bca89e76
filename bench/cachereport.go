package main

import (
	"fmt"
	"slices"
	"strings"
)

// hitRatioSlack is how many percentage points below the baseline's hit
// ratio shardmap/cache may fall in a cell before the report calls it out.
const hitRatioSlack = 2.0

// hasCacheResults reports whether r holds any cache workload's results.
func hasCacheResults(r Results) bool {
	return len(r.HitRatio) > 0 || len(r.TraceHitRatio.Results) > 0 || r.TraceHitRatio.Missing != "" ||
		len(r.CacheThroughput) > 0 || len(r.CacheEntryCost) > 0
}

// writeCacheEnv writes the environment table's row about the cache
// workloads, if any ran.
func writeCacheEnv(b *strings.Builder, r Results) {
	if !hasCacheResults(r) {
		return
	}
	c := r.Config
	var parts []string
	if len(r.HitRatio) > 0 {
		parts = append(parts, fmt.Sprintf("hit ratio over %s keys, %s accesses per trace, caches of %s entries",
			countName(c.HitKeys), countName(c.HitAccesses), joinCounts(hitRatioSizes(c.HitKeys), countName)))
	}
	if len(r.CacheThroughput) > 0 {
		parts = append(parts, fmt.Sprintf("throughput with %s keys, %d goroutines, %v per contender per cell",
			countName(c.CacheKeys), r.Env.GOMAXPROCS, c.Duration))
	}
	if len(r.CacheEntryCost) > 0 {
		parts = append(parts, fmt.Sprintf("bytes/entry at %s", countName(c.CacheEntryN)))
	}
	fmt.Fprintf(b, "| Cache workloads | %s |\n", strings.Join(parts, "; "))
}

// writeCaches writes the cache sections: hit ratio, throughput, memory.
func writeCaches(b *strings.Builder, r Results) {
	writeHitRatio(b, r)
	writeTraceHitRatio(b, r)
	writeCacheThroughput(b, r)
	writeCacheMemory(b, r)
	if !hasCacheResults(r) || len(r.CacheNotes) == 0 {
		return
	}
	b.WriteString("### Cache contender notes\n\n")
	names := make([]string, 0, len(r.CacheNotes))
	for name := range r.CacheNotes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(b, "- %s: %s\n", name, r.CacheNotes[name])
	}
	b.WriteString("\n")
}

// writeHitRatio writes the hit-ratio table and says in which cells, if
// any, shardmap/cache is more than hitRatioSlack points below the baseline.
func writeHitRatio(b *strings.Builder, r Results) {
	if len(r.HitRatio) == 0 {
		return
	}
	fmt.Fprintf(b, "## Cache hit ratio\n\nEach trace is replayed from one goroutine through a fresh cache of every contender "+
		"and size: every access is a Get, and a miss Sets the key. All contenders see the same accesses (fixed seed %#x). "+
		"Hit ratio over the whole trace, cold start included; in parentheses the difference to %s in percentage points.\n\n",
		traceSeed, cacheBaseline)
	for _, t := range r.Traces {
		fmt.Fprintf(b, "- %s: %s.\n", t.Name, t.Note)
	}
	b.WriteString("\n")
	b.WriteString(hitRatioTable(r))
	b.WriteString("\n" + hitRatioVerdict(r, cacheBaseline))
	if _, ok := hitRatioOf(r.HitRatio, otterSyncName, r.HitRatio[0].Trace, r.HitRatio[0].Size); ok {
		b.WriteString(" " + hitRatioVerdict(r, otterSyncName))
	}
	b.WriteString("\n\n")
}

// hitRatioTable returns the hit-ratio grid as a markdown table.
func hitRatioTable(r Results) string {
	var b strings.Builder
	names := hitRatioNames(r.HitRatio)
	b.WriteString("| trace | cache size | " + strings.Join(names, " | ") + " |\n")
	b.WriteString("|---|---:|" + strings.Repeat("---:|", len(names)) + "\n")
	for _, t := range r.Traces {
		for _, size := range hitRatioSizes(r.Config.HitKeys) {
			cells := hitRatioCells(r.HitRatio, names, cacheBaseline, t.Name, size)
			fmt.Fprintf(&b, "| %s | %s (%s) | %s |\n", t.Name, countName(size), sizeShare(size, r.Config.HitKeys), strings.Join(cells, " | "))
		}
	}
	return b.String()
}

// hitRatioVerdict says whether shardmap/cache stays within hitRatioSlack
// points of the baseline on every cell, and lists the cells where it does
// not.
func hitRatioVerdict(r Results, baseline string) string {
	var misses []string
	cells := 0
	for _, h := range r.HitRatio {
		if h.Contender != shardmapCacheContender.Name {
			continue
		}
		base, ok := hitRatioOf(r.HitRatio, baseline, h.Trace, h.Size)
		if !ok {
			continue
		}
		cells++
		if d := 100 * (h.Ratio() - base.Ratio()); d < -hitRatioSlack {
			misses = append(misses, fmt.Sprintf("%s at %s (%.2f%% vs %.2f%%, %+.2f)",
				h.Trace, countName(h.Size), 100*h.Ratio(), 100*base.Ratio(), d))
		}
	}
	switch {
	case cells == 0:
		return fmt.Sprintf("(%s or %s was not run: no comparison.)", shardmapCacheContender.Name, baseline)
	case len(misses) == 0:
		return fmt.Sprintf("%s is within %.0f points of %s (or above it) on all %d cells.",
			shardmapCacheContender.Name, hitRatioSlack, baseline, cells)
	}
	return fmt.Sprintf("**%s is more than %.0f points below %s on %d of %d cells:** %s.",
		shardmapCacheContender.Name, hitRatioSlack, baseline, len(misses), cells, strings.Join(misses, "; "))
}

// writeCacheThroughput writes the cache throughput table.
func writeCacheThroughput(b *strings.Builder, r Results) {
	if len(r.CacheThroughput) == 0 {
		return
	}
	rs := r.CacheThroughput
	fmt.Fprintf(b, "## Cache throughput\n\nCaches bounded to %s entries and prefilled with %s uint64 keys, so every key fits; "+
		"%d goroutines pick keys uniformly at random or from a Zipf(0.9) distribution over the prefilled keys, with a generator "+
		"that reads only a 256 KiB quantile table, so that the cache's own memory accesses are what is measured. "+
		"G = Get, S = Set of a key already present (it replaces the value). "+
		"Operations per second, all goroutines together, median of %d rounds taken in rotated order (%v per contender in all), "+
		"and the ratio to %s. Every row builds fresh caches.\n\n",
		countName(r.Config.CacheKeys), countName(r.Config.CacheKeys), rs[0].Goroutines,
		max(r.Config.Rounds, 1), r.Config.Duration, cacheBaseline)
	b.WriteString(cacheThroughputTable(r))
	b.WriteString("\nResident after prefilling (of " + countName(r.Config.CacheKeys) + " keys): ")
	var held []string
	for _, name := range cacheThroughputNames(rs) {
		var counts []string
		for _, t := range rs {
			if t.Contender == name {
				counts = append(counts, fmt.Sprint(t.Resident))
			}
		}
		slices.Sort(counts)
		held = append(held, fmt.Sprintf("%s %s", name, strings.Join(slices.Compact(counts), "/")))
	}
	b.WriteString(strings.Join(held, ", ") + ".\n\n")
}

// cacheThroughputNames returns the contenders in rs, in first-seen order.
func cacheThroughputNames(rs []CacheThroughputResult) []string {
	return namesOf(rs, func(t CacheThroughputResult) string { return t.Contender })
}

// cacheThroughputTable returns the cache throughput grid as a markdown
// table.
func cacheThroughputTable(r Results) string {
	var b strings.Builder
	rs := r.CacheThroughput
	names := cacheThroughputNames(rs)
	b.WriteString("| keys | mix | " + strings.Join(names, " | ") + " |\n")
	b.WriteString("|---|---|" + strings.Repeat("---:|", len(names)) + "\n")
	for _, dist := range cacheDists {
		for _, m := range cacheMixes {
			var base float64
			for _, t := range rs {
				if t.Contender == cacheBaseline && t.Mix == m.Name && t.Dist == dist {
					base = t.OpsPerSec
				}
			}
			var cells []string
			for _, name := range names {
				cell := "–"
				for _, t := range rs {
					if t.Contender != name || t.Mix != m.Name || t.Dist != dist {
						continue
					}
					cell = fmtCount(t.OpsPerSec)
					if base > 0 {
						cell += fmt.Sprintf(" (%.2fx)", t.OpsPerSec/base)
					}
				}
				cells = append(cells, cell)
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", dist, m.Name, strings.Join(cells, " | "))
		}
	}
	return b.String()
}

// writeCacheMemory writes the cache bytes-per-entry table.
func writeCacheMemory(b *strings.Builder, r Results) {
	if len(r.CacheEntryCost) == 0 {
		return
	}
	fmt.Fprintf(b, "## Cache memory\n\nA cache bounded to %s entries, filled with as many uint64→uint64 entries: HeapAlloc after "+
		"two GCs, minus HeapAlloc before the cache was built, divided by the entries it held.\n\n", countName(r.Config.CacheEntryN))
	b.WriteString("| cache | bytes/entry | entries held |\n|---|---:|---:|\n")
	for _, e := range r.CacheEntryCost {
		fmt.Fprintf(b, "| %s | %.1f | %d of %d |\n", e.Contender, e.BytesPerEntry, e.Resident, e.N)
	}
	b.WriteString("\n")
}

// hitRatioNames returns the contenders in hs, in first-seen order.
func hitRatioNames(hs []HitRatioResult) []string {
	return namesOf(hs, func(h HitRatioResult) string { return h.Contender })
}

// hitRatioCells returns one table cell per contender in names for one trace
// and cache size: the hit ratio, and its difference to baseline's in points.
func hitRatioCells(hs []HitRatioResult, names []string, baseline, trace string, size int) []string {
	base, hasBase := hitRatioOf(hs, baseline, trace, size)
	var cells []string
	for _, name := range names {
		h, ok := hitRatioOf(hs, name, trace, size)
		switch {
		case !ok:
			cells = append(cells, "–")
		case name == baseline || !hasBase:
			cells = append(cells, fmt.Sprintf("%.2f%%", 100*h.Ratio()))
		default:
			cells = append(cells, fmt.Sprintf("%.2f%% (%+.2f)", 100*h.Ratio(), 100*(h.Ratio()-base.Ratio())))
		}
	}
	return cells
}

// hitRatioOf finds one contender's result in one cell.
func hitRatioOf(hs []HitRatioResult, name, trace string, size int) (HitRatioResult, bool) {
	for _, h := range hs {
		if h.Contender == name && h.Trace == trace && h.Size == size {
			return h, true
		}
	}
	return HitRatioResult{}, false
}

// sizeShare formats size as a percentage of keys: "0.1%", "1%", "10%".
func sizeShare(size, keys int) string {
	p := 100 * float64(size) / float64(keys)
	if p >= 1 {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// traceSlack is how many percentage points below the baseline's hit ratio
// shardmap/cache may fall on a real-trace cell before the report calls it
// out.
const traceSlack = 1.0

// writeTraceHitRatio writes the real-trace hit-ratio table and its verdict.
func writeTraceHitRatio(b *strings.Builder, r Results) {
	tr := r.TraceHitRatio
	if len(tr.Results) == 0 && tr.Missing == "" {
		return
	}
	b.WriteString("## Cache hit ratio on real traces\n\n")
	if tr.Missing != "" {
		fmt.Fprintf(b, "Not run: %s.\n\n", tr.Missing)
		return
	}
	fmt.Fprintf(b, "Recorded key-access traces read from `%s` (see the README there for sources and licenses), replayed "+
		"from one goroutine through a fresh cache of every contender: every access is a Get, and a miss Sets the key. "+
		"Cache sizes are %s of each trace's distinct keys, at least %d entries. Hit ratio over the whole trace, cold start "+
		"included; in parentheses the difference to %s in percentage points. The last column is the most entries %s "+
		"held during the replay (sampled every %d accesses): with its default executor its eviction runs in another goroutine "+
		"and falls behind a replay in a tight loop, so on small caches it holds, and hits like, a much larger cache. "+
		"%s runs the same policy with its maintenance inline and holds its bound, as %s does.\n\n",
		tr.Dir, joinCounts(traceShares, func(s int) string { return fmt.Sprintf("%d%%", s) }), minTraceCache, traceBaseline(tr),
		cacheBaseline, sizeEvery, otterSyncName, shardmapCacheContender.Name)
	b.WriteString(traceTable(tr))
	b.WriteString("\n" + traceVerdict(tr, traceBaseline(tr)))
	if traceBaseline(tr) != cacheBaseline {
		b.WriteString(" " + traceVerdict(tr, cacheBaseline))
	}
	b.WriteString("\n\n")
}

// traceBaseline returns the contender the real-trace table compares with:
// otter with inline maintenance if it ran, else otter.
func traceBaseline(tr TraceResults) string {
	if len(hitRatioNames(tr.Results)) > 0 && slices.Contains(hitRatioNames(tr.Results), otterSyncName) {
		return otterSyncName
	}
	return cacheBaseline
}

// traceTable returns the real-trace grid as a markdown table.
func traceTable(tr TraceResults) string {
	var b strings.Builder
	names := hitRatioNames(tr.Results)
	baseline := traceBaseline(tr)
	b.WriteString("| trace | accesses | cache size | " + strings.Join(names, " | ") + " | " + cacheBaseline + " peak held |\n")
	b.WriteString("|---|---:|---:|" + strings.Repeat("---:|", len(names)+1) + "\n")
	for _, t := range tr.Traces {
		for i, size := range t.Sizes {
			cells := hitRatioCells(tr.Results, names, baseline, t.Name, size)
			peak := "–"
			if h, ok := hitRatioOf(tr.Results, cacheBaseline, t.Name, size); ok && h.Peak > 0 {
				peak = fmt.Sprintf("%d (%.1fx)", h.Peak, float64(h.Peak)/float64(size))
			}
			cells = append(cells, peak)
			fmt.Fprintf(&b, "| %s | %s | %s (%d%%) | %s |\n", t.Name, countName(t.Accesses), countName(size), traceShares[i], strings.Join(cells, " | "))
		}
	}
	return b.String()
}

// traceVerdict compares shardmap/cache with the baseline over the real
// traces: the cells more than traceSlack points below it, and the mean
// difference over all cells.
func traceVerdict(tr TraceResults, baseline string) string {
	var misses []string
	cells, sum := 0, 0.0
	for _, h := range tr.Results {
		if h.Contender != shardmapCacheContender.Name {
			continue
		}
		base, ok := hitRatioOf(tr.Results, baseline, h.Trace, h.Size)
		if !ok {
			continue
		}
		cells++
		d := 100 * (h.Ratio() - base.Ratio())
		sum += d
		if d < -traceSlack {
			misses = append(misses, fmt.Sprintf("%s at %s (%+.2f)", h.Trace, countName(h.Size), d))
		}
	}
	if cells == 0 {
		return fmt.Sprintf("(%s or %s was not run: no comparison.)", shardmapCacheContender.Name, baseline)
	}
	mean := fmt.Sprintf("Mean difference to %s over the %d cells: %+.2f points.", baseline, cells, sum/float64(cells))
	if len(misses) == 0 {
		return fmt.Sprintf("%s is within %.0f point of %s (or above it) on all %d cells. %s",
			shardmapCacheContender.Name, traceSlack, baseline, cells, mean)
	}
	return fmt.Sprintf("**%s is more than %.0f point below %s on %d of %d cells:** %s. %s",
		shardmapCacheContender.Name, traceSlack, baseline, len(misses), cells, strings.Join(misses, "; "), mean)
}

// writeCacheSummary writes the part of a cache run's report the README
// shows: the real-trace hit ratios in one row per trace, how they compare,
// the synthetic traces' verdict, throughput and bytes per entry.
func writeCacheSummary(b *strings.Builder, r Results) {
	writeMachine(b, r)
	if tr := r.TraceHitRatio; len(tr.Results) > 0 {
		base := traceBaseline(tr)
		fmt.Fprintf(b, "**Hit ratio on real traces** (`%s`), one goroutine, Get for every access and Set on a miss, "+
			"caches of %s of each trace's distinct keys (at least %d), in percent; in parentheses the difference to %s, "+
			"and for %s the most entries it held (its default executor evicts on another goroutine, which a replay "+
			"outruns, so its small caches hold many times their bound).\n\n",
			tr.Dir, joinCounts(traceShares, func(s int) string { return fmt.Sprintf("%d%%", s) }), minTraceCache, base, cacheBaseline)
		b.WriteString(compactTraceTable(tr, base))
		b.WriteString("\n" + traceVerdict(tr, base))
		if base != cacheBaseline {
			b.WriteString(" " + traceVerdict(tr, cacheBaseline))
		}
		b.WriteString("\n\n")
	}
	if len(r.HitRatio) > 0 {
		fmt.Fprintf(b, "**Synthetic traces** (Zipf and Zipf with scans over %s keys, %s accesses): %s\n\n",
			countName(r.Config.HitKeys), countName(r.Config.HitAccesses), hitRatioVerdict(r, cacheBaseline))
	}
	if len(r.CacheThroughput) > 0 {
		fmt.Fprintf(b, "**Throughput**: caches bounded to %s entries and prefilled with as many uint64 keys, %d goroutines, "+
			"keys uniform or Zipf(0.9) from a generator that reads only a small quantile table; G = Get, S = Set of a "+
			"present key. Ops/s (median of the rounds) and the ratio to %s.\n\n",
			countName(r.Config.CacheKeys), r.Env.GOMAXPROCS, cacheBaseline)
		b.WriteString(cacheThroughputTable(r) + "\n")
	}
	if len(r.CacheEntryCost) > 0 {
		var parts []string
		for _, e := range r.CacheEntryCost {
			parts = append(parts, fmt.Sprintf("%s %.1f", e.Contender, e.BytesPerEntry))
		}
		fmt.Fprintf(b, "**Heap per entry** at %s uint64→uint64 entries, bytes: %s.\n\n",
			countName(r.Config.CacheEntryN), strings.Join(parts, ", "))
	}
}

// compactTraceTable returns the real-trace grid with one row per trace:
// the sizes, then for shardmap/cache, the baseline and default otter their
// hit ratios at each size, separated by slashes.
func compactTraceTable(tr TraceResults, base string) string {
	var b strings.Builder
	me := shardmapCacheContender.Name
	fmt.Fprintf(&b, "| trace | size | %s | %s | %s (peak held) |\n|---|---:|---:|---:|---:|\n", me, base, cacheBaseline)
	for _, t := range tr.Traces {
		var sizes, mine, bases, otter []string
		for _, size := range t.Sizes {
			sizes = append(sizes, countName(size))
			h, ok1 := hitRatioOf(tr.Results, me, t.Name, size)
			bh, ok2 := hitRatioOf(tr.Results, base, t.Name, size)
			oh, ok3 := hitRatioOf(tr.Results, cacheBaseline, t.Name, size)
			cell := func(ok bool, s string) string {
				if !ok {
					return "–"
				}
				return s
			}
			mine = append(mine, cell(ok1 && ok2, fmt.Sprintf("%.2f (%+.2f)", 100*h.Ratio(), 100*(h.Ratio()-bh.Ratio()))))
			bases = append(bases, cell(ok2, fmt.Sprintf("%.2f", 100*bh.Ratio())))
			otter = append(otter, cell(ok3, fmt.Sprintf("%.2f (%d)", 100*oh.Ratio(), oh.Peak)))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t.Name, strings.Join(sizes, " / "),
			strings.Join(mine, " / "), strings.Join(bases, " / "), strings.Join(otter, " / "))
	}
	return b.String()
}
