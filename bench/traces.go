package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// This file holds the real-trace hit-ratio workload: key-access traces
// recorded from real programs (LIRS, cache2k, Corda, Scarab; see the README
// in the traces directory), replayed like the synthetic traces of
// hitratio.go.

// traceDir is where the traces are read from, relative to the bench
// directory: the repository's sibling directory shared/traces. They are
// never copied into the repository.
var traceDir = filepath.Join("..", "..", "shared", "traces")

// traceShares are the cache sizes of the real-trace grid, in percent of
// each trace's distinct keys.
var traceShares = []int{1, 5, 20}

// minTraceCache is the smallest cache the real-trace grid builds.
const minTraceCache = 16

// smokeTraces are the traces smoke mode replays: small, and among those
// where a fixed policy does worst.
var smokeTraces = []string{"lirs-cs", "lirs-loop"}

// smokePrefix is how many accesses of each trace smoke mode replays.
const smokePrefix = 20_000

// TraceInfo describes one real trace (without its accesses).
type TraceInfo struct {
	// Name is the file name without .u64.gz.
	Name string
	// Accesses is the number of accesses replayed; Distinct the number of
	// distinct keys among them.
	Accesses, Distinct int
	// Sizes are the cache sizes replayed, one per traceShares entry.
	Sizes []int
}

// TraceResults is the real-trace workload's output.
type TraceResults struct {
	// Dir is the directory the traces were read from.
	Dir string
	// Missing, if not empty, says why no trace was replayed.
	Missing string
	Traces  []TraceInfo
	Results []HitRatioResult
}

// readTrace reads a gzip stream of little-endian uint64 keys, at most limit
// of them (all if limit is 0).
func readTrace(path string, limit int) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<16)
	var keys []uint64
	var buf [8]byte
	for limit == 0 || len(keys) < limit {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("trace %s: after %d keys: %w", path, len(keys), err)
		}
		keys = append(keys, binary.LittleEndian.Uint64(buf[:]))
	}
	return keys, nil
}

// traceNames lists the traces in dir, sorted: every NAME.u64.gz.
func traceNames(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.u64.gz"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".u64.gz"))
	}
	slices.Sort(names)
	return names, nil
}

// distinct returns the number of distinct keys in t.
func distinct(t []uint64) int {
	seen := make(map[uint64]struct{}, len(t)/4)
	for _, k := range t {
		seen[k] = struct{}{}
	}
	return len(seen)
}

// traceSizes returns the cache sizes of the grid for a trace with d
// distinct keys.
func traceSizes(d int) []int {
	var sizes []int
	for _, s := range traceShares {
		sizes = append(sizes, max(d*s/100, minTraceCache))
	}
	return sizes
}

// runTraceHitRatio replays every trace in dir (smoke mode: a prefix of
// smokeTraces) through a fresh cache of every contender at every size of
// the grid. A missing directory is not an error: the result says so.
func runTraceHitRatio(cfg Config, dir string, cs []CacheContender, progress func(string)) (TraceResults, error) {
	out := TraceResults{Dir: dir}
	names, err := traceNames(dir)
	if err != nil {
		return out, err
	}
	if len(names) == 0 {
		out.Missing = fmt.Sprintf("no *.u64.gz traces in %s", dir)
		return out, nil
	}
	limit := 0
	if cfg.Mode == "smoke" {
		names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(smokeTraces, n) })
		limit = smokePrefix
	}
	for _, name := range names {
		t, err := readTrace(filepath.Join(dir, name+".u64.gz"), limit)
		if err != nil {
			return out, err
		}
		info := TraceInfo{Name: name, Accesses: len(t), Distinct: distinct(t)}
		info.Sizes = traceSizes(info.Distinct)
		for _, size := range info.Sizes {
			for _, c := range cs {
				m := c.New(size)
				hits, peak := replay(m, t)
				m.Close()
				out.Results = append(out.Results, HitRatioResult{Contender: c.Name, Trace: name, Size: size, Accesses: len(t), Hits: hits, Peak: peak})
			}
			progress(".")
		}
		out.Traces = append(out.Traces, info)
	}
	return out, nil
}

// runTraceWorkload runs the real-trace workload into res.
func runTraceWorkload(res *Results) {
	tr, err := runTraceHitRatio(res.Config, traceDir, hitRatioCaches(), progress)
	if err != nil {
		tr.Missing = err.Error()
	}
	if tr.Missing != "" {
		logf("  traces: %s", tr.Missing)
	}
	res.TraceHitRatio = tr
}
