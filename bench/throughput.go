package main

import (
	"math/rand/v2"
	"runtime"
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

// mixes are the throughput mixes, read-only first.
var mixes = []Mix{
	{"L100", 100, 0, 0},
	{"L99-S1", 99, 1, 0},
	{"L90-S5-D5", 90, 5, 5},
	{"L50-S25-D25", 50, 25, 25},
}

// op is one kind of map operation in a worker's schedule.
type op uint8

const (
	opLoad op = iota
	opStore
	opDelete
)

// worker runs one goroutine's share of a throughput mix.
//
// Its schedule is a shuffled cycle of 100 operations with the mix's exact
// proportions. Loads and plain stores pick a key uniformly at random. A
// delete remembers its key, and the next store puts that key back instead of
// picking one, so deletes and stores balance and the map keeps roughly its
// prefilled size (short by at most a few dozen keys per goroutine).
type worker[K Key] struct {
	m     Map[K]
	keys  []K
	sched [100]op
	next  int
	rng   uint64
	// pending is a ring of key indexes deleted and not yet stored back.
	pending     [64]uint32
	head, count int
	// sink keeps loaded values alive so loads cannot be optimized away.
	sink uint64
}

// newWorker returns a worker over m and its prefilled keys, seeded by seed.
func newWorker[K Key](m Map[K], keys []K, mix Mix, seed uint64) *worker[K] {
	w := &worker[K]{m: m, keys: keys, rng: mix64(seed) | 1}
	i := 0
	for _, part := range []struct {
		o op
		n int
	}{{opLoad, mix.Load}, {opStore, mix.Store}, {opDelete, mix.Delete}} {
		for range part.n {
			w.sched[i] = part.o
			i++
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(w.sched), func(i, j int) { w.sched[i], w.sched[j] = w.sched[j], w.sched[i] })
	return w
}

// pick returns a uniformly random key index (xorshift64* and a
// multiply-shift range reduction: no division on the hot path).
func (w *worker[K]) pick() int {
	w.rng ^= w.rng >> 12
	w.rng ^= w.rng << 25
	w.rng ^= w.rng >> 27
	r := (w.rng * 0x2545f4914f6cdd1d) >> 32
	return int(r * uint64(len(w.keys)) >> 32)
}

// step runs the next operation of the schedule.
func (w *worker[K]) step() {
	o := w.sched[w.next]
	if w.next++; w.next == len(w.sched) {
		w.next = 0
	}
	switch o {
	case opLoad:
		v, _ := w.m.Load(w.keys[w.pick()])
		w.sink += v
	case opStore:
		var i int
		if w.count > 0 {
			i = int(w.pending[w.head])
			w.head = (w.head + 1) % len(w.pending)
			w.count--
		} else {
			i = w.pick()
		}
		w.m.Store(w.keys[i], uint64(i))
	case opDelete:
		i := w.pick()
		w.m.Delete(w.keys[i])
		if w.count < len(w.pending) {
			w.pending[(w.head+w.count)%len(w.pending)] = uint32(i)
			w.count++
		}
	}
}

// restore stores back every key the worker deleted and has not stored
// back yet.
func (w *worker[K]) restore() {
	for ; w.count > 0; w.count-- {
		i := int(w.pending[w.head])
		w.head = (w.head + 1) % len(w.pending)
		w.m.Store(w.keys[i], uint64(i))
	}
}

// prefill stores every key once.
func prefill[K Key](m Map[K], keys []K) {
	for i, k := range keys {
		m.Store(k, uint64(i))
	}
}

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

// turn is the outcome of running one contender's map for a while.
type turn struct {
	ops     int64
	elapsed time.Duration
	cpu     time.Duration
}

// add accumulates another turn.
func (s *turn) add(t turn) {
	s.ops += t.ops
	s.elapsed += t.elapsed
	s.cpu += t.cpu
}

// runTurn runs mix on m from g goroutines for d. Each goroutine stores back
// the keys it deleted before it stops, so that back-to-back slices on one
// map keep its size.
func runTurn[K Key](m Map[K], keys []K, mix Mix, g int, d time.Duration, seed uint64) turn {
	const batch = 64
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
			w := newWorker(m, keys, mix, seed+uint64(i))
			ready.Done()
			<-start
			n := int64(0)
			for !stop.Load() {
				for range batch {
					w.step()
				}
				n += batch
			}
			w.restore()
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

// runCell measures one cell of the grid for every contender in cs. Each
// contender gets a fresh map prefilled with keys; then the contenders take
// turns, rounds times over, each running mix for d/rounds per turn, with the
// order rotated every round. A burst of load from elsewhere on the machine
// thus lands on all of them alike instead of on whichever ran at the time.
func runCell[K Key](cs []Contender, keys []K, mix Mix, g int, d time.Duration, rounds int) []turn {
	maps := make([]Map[K], len(cs))
	for i, c := range cs {
		maps[i] = newMap[K](c)
		prefill(maps[i], keys)
	}
	runtime.GC() // bill no contender for the prefill garbage
	out := make([]turn, len(cs))
	for r := range rounds {
		for j := range cs {
			i := (j + r) % len(cs)
			out[i].add(runTurn(maps[i], keys, mix, g, d/time.Duration(rounds), uint64(r*1000+1)))
		}
	}
	return out
}

// runThroughput runs the whole grid for key type K: every key count, mix and
// goroutine count, for every contender in cs.
func runThroughput[K Key](cfg Config, cs []Contender, progress func(string)) []ThroughputResult {
	_, cpuOK := processCPU()
	var out []ThroughputResult
	for _, n := range cfg.Keys {
		keys := makeKeys[K](n)
		for _, mix := range mixes {
			for _, g := range cfg.Goroutines {
				cores := min(g, runtime.GOMAXPROCS(0), runtime.NumCPU())
				for i, t := range runCell(cs, keys, mix, g, cfg.Duration, cfg.Rounds) {
					r := ThroughputResult{
						Contender: cs[i].Name, KeyType: keyTypeName[K](), Keys: n, Mix: mix.Name, Goroutines: g,
						OpsPerSec: float64(t.ops) / t.elapsed.Seconds(),
					}
					if cpuOK {
						r.CPUShare = float64(t.cpu) / (float64(t.elapsed) * float64(cores))
					}
					out = append(out, r)
				}
				progress(".")
			}
		}
	}
	return out
}
