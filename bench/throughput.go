package main

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Mix is an operation mix in percent of operations.
type Mix struct {
	// Name is used in tables and benchmark names.
	Name                string
	Load, Store, Delete int
}

// mixes are the throughput grid's mixes, read-only first.
var mixes = []Mix{
	{"L100", 100, 0, 0},
	{"L99-S1", 99, 1, 0},
	{"L90-S5-D5", 90, 5, 5},
	{"L50-S25-D25", 50, 25, 25},
}

// storeOnly is the mix of the single-goroutine Store cost: every operation
// replaces the value of a present key.
var storeOnly = Mix{"S100", 0, 100, 0}

// Hot-key workloads: every goroutine runs one operation on random keys of a
// small prefilled map, all of them present.
const (
	hotLoadOrStore = "LoadOrStore"
	hotCompute     = "Compute"
)

// hotOps are the hot-key workloads, as the Mix of their results.
var hotOps = []string{hotLoadOrStore, hotCompute}

// ThroughputResult is one cell of the throughput grid.
type ThroughputResult struct {
	Contender  string
	KeyType    string
	Keys       int
	Mix        string
	Goroutines int
	// OpsPerSec is the operations completed by all goroutines together per
	// second of wall time.
	OpsPerSec float64
	// CPUShare is the CPU time the process got during the cell divided by
	// what its goroutines could have used (min(goroutines, GOMAXPROCS)
	// cores for the whole cell); well below 1 means other load on the
	// machine took the CPU. 0 where the platform does not report CPU time.
	CPUShare float64
}

// busyShare is the CPUShare below which a cell is flagged as disturbed by
// other load on the machine.
const busyShare = 0.75

// batch is how many operations a goroutine runs between looks at the stop
// flag, and the unit of the go test benchmarks.
const batch = 64

// turn is the outcome of running one contender's map for a while.
type turn struct {
	// ops is the operations completed by all goroutines.
	ops int64
	// elapsed is the wall time from start to the last goroutine's stop.
	elapsed time.Duration
	// cpu is the process's CPU time over the same span.
	cpu time.Duration
}

// add accumulates another turn.
func (s *turn) add(t turn) {
	s.ops += t.ops
	s.elapsed += t.elapsed
	s.cpu += t.cpu
}

// loopFunc runs n operations chosen by w on one map.
type loopFunc[K Key] func(w *worker[K], n int)

// runLoop runs loop from g goroutines for d, each with its own worker over
// ks running mix. Before it stops, each goroutine stores back through m the
// keys it deleted, so that back-to-back turns on one map keep its size.
func runLoop[K Key](m Map[K], loop loopFunc[K], ks *keySpace[K], mix Mix, g int, d time.Duration, seed uint64) turn {
	var (
		stop  atomic.Bool
		total atomic.Int64
		ready sync.WaitGroup
		done  sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range g {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			w := newWorker(ks, mix, seed+uint64(i))
			ready.Done()
			<-start
			n := int64(0)
			for !stop.Load() {
				loop(w, batch)
				n += batch
			}
			w.restore(m)
			total.Add(n)
		}()
	}
	ready.Wait()
	cpu0, _ := processCPU()
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	done.Wait()
	elapsed := time.Since(t0)
	cpu1, _ := processCPU()
	return turn{ops: total.Load(), elapsed: elapsed, cpu: cpu1 - cpu0}
}

// runTurn runs mix on m from g goroutines for d, calling m through the Map
// interface. keys must be makeKeys[K](len(keys)); the workers compute the
// same keys instead of reading them from the slice. It serves maps that
// have no Runner loops of their own (the caches).
func runTurn[K Key](m Map[K], keys []K, mix Mix, g int, d time.Duration, seed uint64) turn {
	loop := func(w *worker[K], n int) {
		for range n {
			switch w.op() {
			case opLoad:
				v, _ := m.Load(w.loadKey(w.pick()))
				w.sink += v
			case opStore:
				i := w.storeIndex()
				m.Store(w.storeKey(i), i)
			case opDelete:
				i := w.pick()
				m.Delete(w.storeKey(i))
				w.deleted(i)
			}
		}
	}
	return runLoop(m, loop, newKeySpace[K](len(keys)), mix, g, d, seed)
}

// prefillKeys stores every key of ks once, key i with value i.
func prefillKeys[K Key](m Map[K], ks *keySpace[K]) {
	for i := range ks.n {
		m.Store(ks.key(i), i)
	}
}

// prefillParallel is prefillKeys from GOMAXPROCS goroutines, each storing
// its own share of the keys: for the concurrent maps only.
func prefillParallel[K Key](m Map[K], ks *keySpace[K]) {
	g := uint64(runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for j := range g {
		wg.Go(func() {
			for i := j; i < ks.n; i += g {
				m.Store(ks.key(i), i)
			}
		})
	}
	wg.Wait()
}

// prefill stores keys[i] with value i for every i.
func prefill[K Key](m Map[K], keys []K) {
	for i, k := range keys {
		m.Store(k, uint64(i))
	}
}

// cell is one (mix, goroutines) pair of the grid, or a hot-key workload at
// a goroutine count. Cells are values, built by runThroughput.
type cell struct {
	// mix is the grid cell's mix; the zero Mix for a hot-key cell.
	mix Mix
	// hot is hotLoadOrStore or hotCompute for a hot-key cell, else "".
	hot string
	// g is the number of goroutines.
	g int
}

// name is the cell's Mix in results.
func (c cell) name() string {
	if c.hot != "" {
		return c.hot
	}
	return c.mix.Name
}

// loopOf returns r's loop for cell c, or nil if r cannot run it.
func loopOf[K Key](r Runner[K], c cell) loopFunc[K] {
	switch c.hot {
	case hotLoadOrStore:
		if !r.loadOrStoreLoop(&worker[K]{}, 0) {
			return nil
		}
		return func(w *worker[K], n int) { r.loadOrStoreLoop(w, n) }
	case hotCompute:
		if !r.computeLoop(&worker[K]{}, 0) {
			return nil
		}
		return func(w *worker[K], n int) { r.computeLoop(w, n) }
	}
	return r.mixLoop
}

// cellTurns are the accumulated turns of every contender in every cell.
// Only the goroutine running the cells (runShared, runAlone) writes them,
// between turns.
type cellTurns struct {
	// turns[i][c] is the sum of contender i's turns in cell c.
	turns [][]turn
	// ran[i][c] says whether contender i ran cell c at all (it has the
	// loop for it).
	ran [][]bool
}

// newCellTurns returns empty turns for contenders × cells.
func newCellTurns(contenders, cells int) *cellTurns {
	ct := &cellTurns{turns: make([][]turn, contenders), ran: make([][]bool, contenders)}
	for i := range ct.turns {
		ct.turns[i] = make([]turn, cells)
		ct.ran[i] = make([]bool, cells)
	}
	return ct
}

// runShared measures cells on maps, one per contender, all prefilled with
// ks and held at once. For each cell, the contenders take turns, rounds
// times over, each running the cell for d/rounds per turn, with the order
// rotated every round: a burst of load from elsewhere on the machine thus
// lands on all of them alike instead of on whichever ran at the time. The
// cells run in order on the same maps (deletes are stored back, so the maps
// keep their size).
func runShared[K Key](maps []Runner[K], ks *keySpace[K], cells []cell, d time.Duration, rounds int, ct *cellTurns) {
	runtime.GC() // bill no contender for the prefill garbage
	for ci, c := range cells {
		for r := range rounds {
			for j := range maps {
				i := (j + r) % len(maps)
				loop := loopOf(maps[i], c)
				if loop == nil {
					continue
				}
				t := runLoop(maps[i], loop, ks, c.mix, c.g, d/time.Duration(rounds), uint64(r*1000+1))
				ct.turns[i][ci].add(t)
				ct.ran[i][ci] = true
			}
		}
	}
}

// runAlone measures cells like runShared, for key counts too big to hold
// every contender's map at once: one map at a time is built, prefilled,
// run through every cell (rounds times, rotating the cells, so that a slow
// phase of the machine spreads over them), then dropped and collected
// before the next contender's. With passes above 1 the contenders are run
// that many times, in alternating order, sharing the time d, so that a
// slow phase does not fall on one contender only; each pass fills every map
// again.
func runAlone[K Key](cs []Contender, ks *keySpace[K], cells []cell, d time.Duration, rounds, passes int, ct *cellTurns) {
	per := d / time.Duration(rounds*passes)
	for p := range passes {
		for j := range cs {
			i := j
			if p%2 == 1 {
				i = len(cs) - 1 - j
			}
			m := newMap[K](cs[i])
			prefillParallel(m, ks)
			runtime.GC()
			for r := range rounds {
				for k := range cells {
					ci := (k + r) % len(cells)
					loop := loopOf(m, cells[ci])
					if loop == nil {
						continue
					}
					t := runLoop(m, loop, ks, cells[ci].mix, cells[ci].g, per, uint64(p*100000+r*1000+1))
					ct.turns[i][ci].add(t)
					ct.ran[i][ci] = true
				}
			}
			m = nil
			runtime.GC()
		}
	}
}

// throughputResults turns accumulated turns into results.
func throughputResults[K Key](cs []Contender, n int, cells []cell, ct *cellTurns) []ThroughputResult {
	_, cpuOK := processCPU()
	var out []ThroughputResult
	for ci, c := range cells {
		cores := min(c.g, runtime.GOMAXPROCS(0), runtime.NumCPU())
		for i, t := range ct.turns {
			if !ct.ran[i][ci] {
				continue
			}
			r := ThroughputResult{
				Contender: cs[i].Name, KeyType: keyTypeName[K](), Keys: n, Mix: c.name(), Goroutines: c.g,
				OpsPerSec: float64(t[ci].ops) / t[ci].elapsed.Seconds(),
			}
			if cpuOK {
				r.CPUShare = float64(t[ci].cpu) / (float64(t[ci].elapsed) * float64(cores))
			}
			out = append(out, r)
		}
	}
	return out
}

// gridCells returns the grid's cells: every mix at every goroutine count.
func gridCells(cfg Config) []cell {
	var cells []cell
	for _, m := range mixes {
		for _, g := range cfg.Goroutines {
			cells = append(cells, cell{mix: m, g: g})
		}
	}
	return cells
}

// Throughput is everything the throughput workload measured.
type Throughput struct {
	// Cells are the grid, the hot-key cells and the single-goroutine
	// Store cells (Mix S100) at OpsKeys.
	Cells []ThroughputResult
	// Allocs are the allocation counts per operation at OpsKeys.
	Allocs []AllocCost
}

// AllocCost is a contender's heap allocations per operation for one key
// type, counted as the MemStats.Mallocs delta over many operations on one
// goroutine (as testing.AllocsPerRun counts them).
type AllocCost struct {
	Contender string
	KeyType   string
	Keys      int
	// Load and Update are per Load and per Store of a present key; Insert
	// is per Store while filling an empty map to Keys keys, growth included.
	Load, Update, Insert float64
}

// runThroughput runs the whole throughput workload for key type K: the
// grid over every key count, mix and goroutine count; the hot-key cells;
// and the single-goroutine costs at cfg.OpsKeys.
func runThroughput[K Key](cfg Config, cs []Contender, progress func(string)) Throughput {
	var out Throughput
	grid := gridCells(cfg)
	for _, n := range cfg.Keys {
		ks := newKeySpace[K](n)
		var in []Contender
		for _, c := range cs {
			if n <= cfg.SharedKeys || slices.Contains(cfg.BigMaps, c.Name) {
				in = append(in, c)
			}
		}
		cells := slices.Clone(grid)
		if n == cfg.OpsKeys {
			cells = append(cells, cell{mix: storeOnly, g: 1})
		}
		ct := newCellTurns(len(in), len(cells))
		if n > cfg.SharedKeys {
			runAlone(in, ks, cells, cfg.Duration, cfg.Rounds, cfg.BigPasses, ct)
		} else {
			maps := make([]Runner[K], len(in))
			insert := make([]float64, len(in))
			for i, c := range in {
				maps[i] = newMap[K](c)
				insert[i] = allocsPer(n, func() { prefillKeys(maps[i], ks) })
			}
			runShared(maps, ks, cells, cfg.Duration, cfg.Rounds, ct)
			if n == cfg.OpsKeys {
				out.Allocs = append(out.Allocs, measureAllocs(in, maps, ks, insert)...)
			}
		}
		out.Cells = append(out.Cells, throughputResults[K](in, n, cells, ct)...)
		progress(".")
	}
	var hot []cell
	for _, h := range hotOps {
		for _, g := range cfg.Goroutines {
			hot = append(hot, cell{hot: h, g: g})
		}
	}
	ks := newKeySpace[K](cfg.HotKeys)
	maps := make([]Runner[K], len(cs))
	for i, c := range cs {
		maps[i] = newMap[K](c)
		prefillKeys(maps[i], ks)
	}
	ct := newCellTurns(len(cs), len(hot))
	runShared(maps, ks, hot, cfg.Duration, cfg.Rounds, ct)
	out.Cells = append(out.Cells, throughputResults[K](cs, cfg.HotKeys, hot, ct)...)
	progress(".")
	return out
}

// allocOps is how many operations an allocation count averages over.
const allocOps = 20_000

// measureAllocs counts the allocations per Load and per Store of a present
// key on the prefilled maps of contenders cs; insert holds each one's
// allocations per Store while it was prefilled.
func measureAllocs[K Key](cs []Contender, maps []Runner[K], ks *keySpace[K], insert []float64) []AllocCost {
	var out []AllocCost
	for i, m := range maps {
		a := AllocCost{Contender: cs[i].Name, KeyType: keyTypeName[K](), Keys: int(ks.n), Insert: insert[i]}
		load := newWorker(ks, mixes[0], 7)
		a.Load = allocsPer(allocOps, func() { m.mixLoop(load, allocOps) })
		update := newWorker(ks, storeOnly, 7)
		a.Update = allocsPer(allocOps, func() { m.mixLoop(update, allocOps) })
		out = append(out, a)
	}
	return out
}

// allocsPer runs f on this goroutine and returns the heap allocations it
// made divided by ops.
func allocsPer(ops int, f func()) float64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(ops)
}
