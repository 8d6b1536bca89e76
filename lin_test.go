package shardmap

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Linearizability tests. Goroutines run operations on a Map while each
// records, in its own slice, when every call started and returned (a
// monotonic clock read before the call and after it) and what it returned.
// porcupine then searches for a sequential order of the calls, consistent
// with those intervals, in which every result matches a plain map. The model
// is partitioned by key: a map is linearizable if and only if the history of
// each key is, which keeps long histories cheap to check.
//
// Three kinds of run:
//
//   - TestLinSmallScenarios: lincheck-style scenarios drawn by rapid, a short
//     sequential setup and then 2-3 goroutines of 1-5 operations on 1-3 keys,
//     each scenario run many times on a one-shard map whose table is small
//     and sits at a growth or shrink threshold, or is half evacuated by hand,
//     so that migrations start and progress while the goroutines run.
//   - TestLinLongHistories: 4 goroutines x 5000 operations on 4096 keys from
//     an empty map, growing and shrinking throughout.
//   - TestLinRejects*: negative controls. The same machinery with a Load that
//     ignores the evacuated bit (StaleLoad, export_lin_test.go) must be
//     rejected, so a checker that accepts everything would fail them.
//
// A failed check writes porcupine's HTML visualization to a temporary
// directory and logs its path. The soak (10 minutes of both kinds of run):
//
//	go test -run TestLinSoak -lin.long -timeout 20m ./
//	SHARDMAP_LONG=1 go test -run TestLinSoak -timeout 20m ./

var linLong = flag.Bool("lin.long", false, "run the 10-minute linearizability soak (TestLinSoak); or set SHARDMAP_LONG=1")

// linSoakTime is how long TestLinSoak runs.
const linSoakTime = 10 * time.Minute

// linCheckTimeout is how long porcupine may search one history. A result of
// porcupine.Unknown (timed out) is checked once more with linRetryTimeout
// and fails the test if it is still Unknown: a history the checker cannot
// decide proves nothing.
const (
	linCheckTimeout = 20 * time.Second
	linRetryTimeout = 2 * time.Minute
)

// linKind is the operation a linInput performs.
type linKind uint8

const (
	linLoad linKind = iota
	linStore
	linDelete
	linLoadOrStore
	linLoadAndStore
	linLoadAndDelete
	linCompute // increment: absent counts as 0
	linLoadOrCompute
	linKinds
)

var linKindNames = [linKinds]string{"Load", "Store", "Delete", "LoadOrStore", "LoadAndStore", "LoadAndDelete", "ComputeInc", "LoadOrCompute"}

// linInput is one operation: its kind, key and, for writes, the value.
type linInput struct {
	Kind linKind
	Key  uint64
	Val  uint64
}

// linOutput is what an operation returned: a value and a presence flag.
// Store and Delete return nothing and record the zero linOutput.
type linOutput struct {
	Val uint64
	Ok  bool
}

// linState is the model's state for one key: its value and whether it is
// present. The value of an absent key is 0, which is what Load returns.
type linState = linOutput

// linStep is the sequential specification of one key.
func linStep(state, input, output any) (bool, any) {
	st, in, out := state.(linState), input.(linInput), output.(linOutput)
	switch in.Kind {
	case linLoad:
		return out == st, st
	case linStore:
		return true, linState{in.Val, true}
	case linDelete:
		return true, linState{}
	case linLoadOrStore, linLoadOrCompute:
		if st.Ok {
			return out == st, st
		}
		return out == linOutput{in.Val, false}, linState{in.Val, true}
	case linLoadAndStore:
		return out == st, linState{in.Val, true}
	case linLoadAndDelete:
		return out == st, linState{}
	case linCompute:
		next := linState{st.Val + 1, true}
		return out == next, next
	}
	panic(fmt.Sprintf("linStep: unknown kind %d", in.Kind))
}

// linModel is the porcupine model of a Map[uint64, uint64], partitioned by
// key.
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[uint64][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).Key
			byKey[k] = append(byKey[k], op)
		}
		return linSortedParts(byKey)
	},
	PartitionEvent: func(history []porcupine.Event) [][]porcupine.Event {
		keyOf := map[int]uint64{} // call id -> key, from the call events
		for _, ev := range history {
			if ev.Kind == porcupine.CallEvent {
				keyOf[ev.Id] = ev.Value.(linInput).Key
			}
		}
		byKey := map[uint64][]porcupine.Event{}
		for _, ev := range history {
			k := keyOf[ev.Id]
			byKey[k] = append(byKey[k], ev)
		}
		return linSortedParts(byKey)
	},
	Init: func() any { return linState{} },
	Step: linStep,
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		switch in.Kind {
		case linStore:
			return fmt.Sprintf("Store(%d, %#x)", in.Key, in.Val)
		case linDelete:
			return fmt.Sprintf("Delete(%d)", in.Key)
		case linLoad, linLoadAndDelete, linCompute:
			return fmt.Sprintf("%s(%d) -> (%#x, %v)", linKindNames[in.Kind], in.Key, out.Val, out.Ok)
		}
		return fmt.Sprintf("%s(%d, %#x) -> (%#x, %v)", linKindNames[in.Kind], in.Key, in.Val, out.Val, out.Ok)
	},
	DescribeState: func(state any) string {
		if st := state.(linState); st.Ok {
			return fmt.Sprintf("%#x", st.Val)
		}
		return "absent"
	},
}

// linSortedParts returns the partitions in key order, so that runs and
// visualizations are reproducible.
func linSortedParts[E any](byKey map[uint64][]E) [][]E {
	keys := make([]uint64, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([][]E, len(keys))
	for i, k := range keys {
		parts[i] = byKey[k]
	}
	return parts
}

// linApply runs in on m and returns what it returned. load is the Load
// implementation to use: (*Map).Load, or StaleLoad for a negative control.
// If yieldInside is set, the functions of Compute and LoadOrCompute yield the
// processor while they hold the shard's lock, so that other clients run in
// the middle of the operation even on a single free CPU.
func linApply(m uintMap, load func(uint64) (uint64, bool), in linInput, yieldInside bool) linOutput {
	pause := func() {
		if yieldInside {
			runtime.Gosched()
		}
	}
	var out linOutput
	switch in.Kind {
	case linLoad:
		out.Val, out.Ok = load(in.Key)
	case linStore:
		m.Store(in.Key, in.Val)
	case linDelete:
		m.Delete(in.Key)
	case linLoadOrStore:
		out.Val, out.Ok = m.LoadOrStore(in.Key, in.Val)
	case linLoadAndStore:
		out.Val, out.Ok = m.LoadAndStore(in.Key, in.Val)
	case linLoadAndDelete:
		out.Val, out.Ok = m.LoadAndDelete(in.Key)
	case linCompute:
		out.Val, out.Ok = m.Compute(in.Key, func(old uint64, loaded bool) (uint64, ComputeOp) {
			pause()
			return old + 1, UpdateOp
		})
	case linLoadOrCompute:
		out.Val, out.Ok = m.LoadOrCompute(in.Key, func() uint64 { pause(); return in.Val })
	}
	return out
}

// linValue returns a value no other operation of the run writes: the client
// in the top bits, the operation's index in the middle, and room below for
// the increments of linCompute.
func linValue(client, seq int) uint64 { return uint64(client+1)<<40 | uint64(seq+1)<<20 }

// linRecorder collects one history. Each client appends only to its own
// slice, so recording takes no shared lock; timestamps are nanoseconds on the
// monotonic clock since start.
type linRecorder struct {
	start   time.Time
	clients [][]porcupine.Operation
}

// newLinRecorder returns a recorder for n clients.
func newLinRecorder(n int) *linRecorder {
	return &linRecorder{start: time.Now(), clients: make([][]porcupine.Operation, n)}
}

// do runs in as client c and records it. Only client c's goroutine may call
// it.
func (r *linRecorder) do(c int, m uintMap, load func(uint64) (uint64, bool), in linInput) {
	r.doYield(c, m, load, in, false)
}

// doYield is do with linApply's yieldInside.
func (r *linRecorder) doYield(c int, m uintMap, load func(uint64) (uint64, bool), in linInput, yieldInside bool) {
	call := time.Since(r.start).Nanoseconds()
	out := linApply(m, load, in, yieldInside)
	ret := time.Since(r.start).Nanoseconds()
	r.clients[c] = append(r.clients[c], porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
}

// history returns every client's operations in one slice.
func (r *linRecorder) history() []porcupine.Operation { return slices.Concat(r.clients...) }

// linRunClients runs each program on its own goroutine, recording into r as
// client i+first, and returns once all are done. The goroutines spin on an
// atomic counter until all have started, so that their first operations
// overlap. If yield[i][j] is set, client i yields the processor during
// operation j if it is a Compute or LoadOrCompute (inside the function), else
// before it. It then busy-waits delay[i][j] iterations before the operation,
// which shifts the clients' operations against each other differently from
// run to run. yield and delay may be nil.
func linRunClients(r *linRecorder, first int, m uintMap, load func(uint64) (uint64, bool), progs [][]linInput, yield [][]bool, delay [][]int) {
	var ready atomic.Int32
	var wg sync.WaitGroup
	for i, prog := range progs {
		wg.Go(func() {
			ready.Add(1)
			for spins := 0; int(ready.Load()) < len(progs); spins++ {
				if spins > 100 {
					runtime.Gosched()
				}
			}
			for j, in := range prog {
				y := yield != nil && yield[i][j]
				inside := y && (in.Kind == linCompute || in.Kind == linLoadOrCompute)
				if y && !inside {
					runtime.Gosched()
				}
				if delay != nil {
					linSpin(delay[i][j])
				}
				r.doYield(first+i, m, load, in, inside)
			}
		})
	}
	wg.Wait()
}

// linSpinSink keeps linSpin's loop from being optimized away.
var linSpinSink atomic.Uint64

// linSpin busy-waits about n short iterations.
func linSpin(n int) {
	x := uint64(n)
	for range n {
		x = x*6364136223846793005 + 1
	}
	linSpinSink.Store(x)
}

// linDelays returns a random busy-wait length before each operation of
// progs: none for most operations, up to a few hundred iterations for some.
func linDelays(rng *rand.Rand, progs [][]linInput) [][]int {
	delay := make([][]int, len(progs))
	for i, prog := range progs {
		delay[i] = make([]int, len(prog))
		for j := range prog {
			if rng.IntN(2) == 0 {
				delay[i][j] = rng.IntN(400)
			}
		}
	}
	return delay
}

// linTB is what the checks need of a *testing.T or *rapid.T.
type linTB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// linMaxViz bounds how many visualizations one test binary writes: rapid
// re-runs a failing scenario many times while it shrinks it.
const linMaxViz = 5

// linVizCount counts the visualizations written so far.
var linVizCount atomic.Int32

// linCheck checks history against linModel and returns the verdict, after
// one retry with a longer timeout if the first search timed out. If the
// verdict is not Ok and keepViz is set, it writes porcupine's visualization
// to a new temporary directory that outlives the test and logs its path (at
// most linMaxViz times per test binary).
func linCheck(t linTB, history []porcupine.Operation, keepViz bool) porcupine.CheckResult {
	t.Helper()
	res := porcupine.CheckOperationsTimeout(linModel, history, linCheckTimeout)
	if res == porcupine.Unknown {
		t.Logf("porcupine timed out after %v on %d operations; retrying with %v", linCheckTimeout, len(history), linRetryTimeout)
		res = porcupine.CheckOperationsTimeout(linModel, history, linRetryTimeout)
	}
	if res != porcupine.Ok && keepViz && linVizCount.Add(1) <= linMaxViz {
		dir, err := os.MkdirTemp("", "shardmap-lin-*")
		if err != nil {
			t.Logf("no directory for the visualization: %v", err)
			return res
		}
		path := filepath.Join(dir, "history.html")
		if err := linVisualize(history, path); err != nil {
			t.Logf("visualization failed: %v", err)
		} else {
			t.Logf("porcupine says %s; visualization of the history: %s", res, path)
		}
	}
	return res
}

// linVisualize writes porcupine's HTML view of history to path.
func linVisualize(history []porcupine.Operation, path string) error {
	_, info := porcupine.CheckOperationsVerbose(linModel, history, linRetryTimeout)
	return porcupine.VisualizePath(linModel, info, path)
}

// TestLinModel checks the model itself on hand-made histories, through both
// of porcupine's history forms and so both partition functions: a legal
// concurrent history is accepted, a stale read and a lost increment are not.
func TestLinModel(t *testing.T) {
	op := func(c int, call, ret int64, kind linKind, key, val uint64, out linOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Call: call, Return: ret, Input: linInput{kind, key, val}, Output: out}
	}
	legal := []porcupine.Operation{
		op(0, 0, 10, linStore, 1, 7, linOutput{}),
		op(1, 5, 20, linLoad, 1, 0, linOutput{}), // overlaps the Store: may miss it
		op(1, 21, 30, linCompute, 1, 0, linOutput{8, true}),
		op(0, 11, 40, linLoadAndDelete, 2, 0, linOutput{}),
		op(2, 25, 50, linLoadOrStore, 2, 9, linOutput{9, false}),
		op(0, 41, 60, linLoadAndStore, 1, 3, linOutput{8, true}),
		op(2, 51, 70, linLoadOrCompute, 2, 4, linOutput{9, true}),
		op(1, 31, 80, linDelete, 2, 0, linOutput{}),
		op(1, 81, 90, linLoad, 2, 0, linOutput{}),
	}
	staleRead := []porcupine.Operation{
		op(0, 0, 10, linStore, 1, 7, linOutput{}),
		op(0, 11, 20, linStore, 1, 8, linOutput{}),
		op(1, 21, 30, linLoad, 1, 0, linOutput{7, true}),
		op(2, 0, 30, linStore, 2, 1, linOutput{}), // another key, legal by itself
	}
	lostIncrement := []porcupine.Operation{
		op(0, 0, 10, linCompute, 3, 0, linOutput{1, true}),
		op(1, 5, 15, linCompute, 3, 0, linOutput{1, true}),
	}
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{{"legal", legal, true}, {"stale read", staleRead, false}, {"lost increment", lostIncrement, false}} {
		assert.Equal(t, tc.want, porcupine.CheckOperations(linModel, tc.history), "%s, as operations", tc.name)
		assert.Equal(t, tc.want, porcupine.CheckEvents(linModel, linEvents(tc.history)), "%s, as events", tc.name)
	}
}

// linEvents converts a history of operations to porcupine's event form,
// ordered by timestamp with calls before returns at equal times.
func linEvents(history []porcupine.Operation) []porcupine.Event {
	type stamped struct {
		at  int64
		ret bool
		ev  porcupine.Event
	}
	var all []stamped
	for id, op := range history {
		all = append(all,
			stamped{op.Call, false, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.CallEvent, Value: op.Input, Id: id}},
			stamped{op.Return, true, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.ReturnEvent, Value: op.Output, Id: id}})
	}
	slices.SortStableFunc(all, func(a, b stamped) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return map[bool]int{false: 0, true: 1}[a.ret] - map[bool]int{false: 0, true: 1}[b.ret]
	})
	evs := make([]porcupine.Event, len(all))
	for i, s := range all {
		evs[i] = s.ev
	}
	return evs
}

// linDrawer is where a scenario's choices come from: rapid while searching,
// a seeded PRNG in the negative controls.
type linDrawer interface {
	// intn returns an int in [lo, hi]; label names the choice for rapid.
	intn(lo, hi int, label string) int
}

// rapidDrawer draws from a rapid.T, so that failing scenarios shrink.
type rapidDrawer struct{ t *rapid.T }

func (d rapidDrawer) intn(lo, hi int, label string) int {
	return rapid.IntRange(lo, hi).Draw(d.t, label)
}

// randDrawer draws from a seeded PRNG.
type randDrawer struct{ r *rand.Rand }

func (d randDrawer) intn(lo, hi int, _ string) int { return lo + d.r.IntN(hi-lo+1) }

// linScenario is one small concurrent scenario. The map has one shard; fill
// filler keys (disjoint from the scenario's keys) are stored and the first
// drain of them deleted before the recorded setup runs, which parks the
// table just below a growth or shrink threshold. Then, if migrate is
// nonzero, a migration of that phase is started by hand and evac units
// evacuated, so that the clients run against a half-evacuated table.
type linScenario struct {
	hasher       TestHasher
	fill, drain  int
	migrate      uintptr
	evac         int
	setup        []linInput
	clients      [][]linInput
	yield        [][]bool
	forceMigrate bool // negative controls: always migrate, after storing every key
}

// drawLinScenario draws a scenario: a setup of up to 5 operations and 2-3
// clients of 1-5 operations each, on 1-3 keys.
func drawLinScenario(d linDrawer, forceMigrate bool) linScenario {
	sc := linScenario{hasher: ModelHashers[d.intn(0, len(ModelHashers)-1, "hasher")], forceMigrate: forceMigrate}
	sc.fill = d.intn(0, 60, "fill")
	sc.drain = d.intn(0, sc.fill, "drain")
	if forceMigrate {
		sc.migrate = Grow
	} else {
		sc.migrate = [4]uintptr{0, Grow, Compact, Shrink}[d.intn(0, 3, "migrate")]
	}
	if sc.migrate != 0 {
		sc.evac = d.intn(0, 4, "evac")
	}
	nkeys := d.intn(1, 3, "keys")
	draw := func(client, seq int, label string) linInput {
		return linInput{
			Kind: linKind(d.intn(0, int(linKinds)-1, label+" kind")),
			Key:  uint64(d.intn(0, nkeys-1, label+" key")),
			Val:  linValue(client, seq),
		}
	}
	for j := range d.intn(0, 5, "setup ops") {
		sc.setup = append(sc.setup, draw(0, j, "setup"))
	}
	for c := range d.intn(2, 3, "clients") {
		var prog []linInput
		var yield []bool
		for j := range d.intn(1, 5, "client ops") {
			prog = append(prog, draw(c+1, j, "op"))
			yield = append(yield, d.intn(0, 1, "yield") == 0)
		}
		sc.clients = append(sc.clients, prog)
		sc.yield = append(sc.yield, yield)
	}
	return sc
}

// linFiller is the first filler key; scenario keys are tiny.
const linFiller = 1 << 32

// linRunStats is what one run of a scenario exercised.
type linRunStats struct {
	migratingAtStart bool  // the clients started against a half-evacuated table
	started          int   // migrations that started while the clients ran
	finished         bool  // a migration running at the start ended during the run
	helps            int   // units that readers evacuated during the run
	ops              int   // operations recorded
	overlapping      bool  // two clients' calls on one key overlapped in time
	result           error // a broken filler key or invariant
}

// run executes the scenario once on a fresh map and returns its history. rng
// picks the run's busy-wait delays.
func (sc *linScenario) run(rng *rand.Rand, stale bool) ([]porcupine.Operation, linRunStats) {
	m := newUintMap(sc.hasher, append(sc.hasher.Options(), WithShards(1))...)
	for i := range sc.fill {
		m.Store(linFiller+uint64(i), uint64(i))
	}
	for i := range sc.drain {
		m.Delete(linFiller + uint64(i))
	}
	load := m.Load
	if stale {
		load = m.StaleLoad
	}
	r := newLinRecorder(len(sc.clients) + 1)
	if sc.forceMigrate {
		// Give every key a value in the table that is about to be frozen.
		for k := range uint64(3) {
			r.do(0, m, load, linInput{Kind: linStore, Key: k, Val: linValue(0, 100+int(k))})
		}
	}
	for _, in := range sc.setup {
		r.do(0, m, load, in)
	}
	if sc.migrate != 0 && m.StartMigration(0, sc.migrate) {
		for range sc.evac {
			m.EvacuateNext(0)
		}
	}
	before := m.Stats()
	linRunClients(r, 1, m, load, sc.clients, sc.yield, linDelays(rng, sc.clients))
	after := m.Stats()

	rs := linRunStats{
		migratingAtStart: before.Migrating > 0,
		started:          int(after.Growths + after.Compactions + after.Shrinks - before.Growths - before.Compactions - before.Shrinks),
		finished:         before.Migrating > 0 && (after.Migrating == 0 || after.Growths+after.Compactions+after.Shrinks > before.Growths+before.Compactions+before.Shrinks),
		helps:            int(after.Helps - before.Helps),
	}
	for i := sc.drain; i < sc.fill; i++ {
		if v, ok := m.Load(linFiller + uint64(i)); !ok || v != uint64(i) {
			rs.result = fmt.Errorf("filler key %d: Load = (%d, %v), want (%d, true)", i, v, ok, i)
		}
	}
	if err := m.CheckInvariants(); err != nil {
		rs.result = err
	}
	h := r.history()
	rs.ops = len(h)
	rs.overlapping = linOverlapping(h)
	return h, rs
}

// linOverlapping reports whether two operations of different clients on the
// same key overlapped in time: only then does the run test an interleaving
// rather than a sequence.
func linOverlapping(h []porcupine.Operation) bool {
	for i, a := range h {
		for _, b := range h[i+1:] {
			if a.ClientId != b.ClientId && a.Input.(linInput).Key == b.Input.(linInput).Key &&
				a.Call <= b.Return && b.Call <= a.Return {
				return true
			}
		}
	}
	return false
}

// linTally sums what a test's runs exercised.
type linTally struct {
	scenarios, runs, ops         int
	migratingAtStart, startedDur int
	finishedDur, helps           int
	overlapping                  int
	// boxed counts scenarios run on a Map[uint64, *uint64] (pointer
	// values inline).
	boxed int
}

func (lt *linTally) add(rs linRunStats) {
	lt.runs++
	lt.ops += rs.ops
	if rs.migratingAtStart {
		lt.migratingAtStart++
	}
	if rs.started > 0 {
		lt.startedDur++
	}
	if rs.finished {
		lt.finishedDur++
	}
	lt.helps += rs.helps
	if rs.overlapping {
		lt.overlapping++
	}
}

func (lt *linTally) String() string {
	return fmt.Sprintf("%d scenarios (%d with pointer values inline), %d histories, %d operations checked; histories with overlapping calls on one key: %d; "+
		"runs starting mid-migration: %d, runs in which a migration started: %d, runs in which a running migration finished: %d, reader helps: %d",
		lt.scenarios, lt.boxed, lt.runs, lt.ops, lt.overlapping, lt.migratingAtStart, lt.startedDur, lt.finishedDur, lt.helps)
}

// linScenarioRuns is how many times each small scenario runs: each run
// interleaves the clients differently.
func linScenarioRuns() int {
	if testing.Short() {
		return 10
	}
	return 40
}

// TestLinSmallScenarios checks small concurrent scenarios drawn by rapid,
// each run many times, and asserts that across the test the clients ran
// against half-evacuated tables and that migrations started and finished
// while they ran.
func TestLinSmallScenarios(t *testing.T) {
	var tally linTally
	rapid.Check(t, func(rt *rapid.T) {
		linCheckScenario(rt, drawLinScenario(rapidDrawer{rt}, false), linScenarioRuns(), &tally)
	})
	t.Log(tally.String())
	assert.Positive(t, tally.migratingAtStart, "no run started against a half-evacuated table")
	assert.Positive(t, tally.startedDur, "no migration started while clients ran")
	assert.Positive(t, tally.finishedDur, "no migration finished while clients ran")
	assert.Positive(t, tally.overlapping, "no two clients' calls on one key ever overlapped")
	assert.Positive(t, tally.boxed, "no scenario ran with pointer values inline")
}

// linCheckScenario runs sc runs times and fails t on the first history that
// is not linearizable or run that breaks the map.
func linCheckScenario(t linTB, sc linScenario, runs int, tally *linTally) {
	tally.scenarios++
	if sc.hasher.Boxed {
		tally.boxed++
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), 4))
	for range runs {
		h, rs := sc.run(rng, false)
		tally.add(rs)
		if rs.result != nil {
			t.Fatalf("scenario %+v: %v", sc, rs.result)
		}
		if res := linCheck(t, h, true); res != porcupine.Ok {
			t.Fatalf("scenario %+v: history of %d operations is %s", sc, len(h), res)
		}
	}
}

// linLongHistory runs clients goroutines of opsPer operations each on a
// fresh map built with opts, over keys keys, and returns the history and the
// map. It runs in two phases, with all clients done with the first before
// any starts the second. In the first (35% of each client's operations)
// inserts outweigh deletes on random keys, a quarter of them among 16 hot
// keys for contention, and the map grows. In the second, each client sweeps
// its share of the keys (every clients-th key) with deletes, between Loads of
// random keys and operations on the hot keys, so that the map drains and its
// shards shrink.
func linLongHistory(seed uint64, clients, opsPer, keys int, opts ...Option) ([]porcupine.Operation, *Map[uint64, uint64]) {
	m := New[uint64, uint64](opts...)
	rng := rand.New(rand.NewPCG(seed, 1))
	// Weights per kind, in percent.
	growing := [linKinds]int{linLoad: 25, linStore: 20, linDelete: 10, linLoadOrStore: 10, linLoadAndStore: 10, linLoadAndDelete: 10, linCompute: 10, linLoadOrCompute: 5}
	draining := [linKinds]int{linLoad: 16, linDelete: 42, linLoadAndDelete: 42}
	var phases [2][][]linInput
	for p := range phases {
		phases[p] = make([][]linInput, clients)
	}
	for c := range clients {
		sweep := c
		for j := range opsPer {
			p, weights := 0, growing
			if j >= opsPer*7/20 {
				p, weights = 1, draining
			}
			n := rng.IntN(100)
			kind := linKind(0)
			for ; n >= weights[kind]; kind++ {
				n -= weights[kind]
			}
			key := uint64(rng.IntN(keys))
			switch {
			case rng.IntN(4) == 0:
				key = uint64(rng.IntN(16))
			case p == 1 && kind != linLoad:
				key = uint64(sweep % keys)
				sweep += clients
			}
			phases[p][c] = append(phases[p][c], linInput{Kind: kind, Key: key, Val: linValue(c, j)})
		}
	}
	r := newLinRecorder(clients)
	for _, progs := range phases {
		linRunClients(r, 0, m, m.Load, progs, nil, nil)
	}
	return r.history(), m
}

// TestLinLongHistories checks 4 goroutines x 5000 operations on 4096 keys,
// on a map that starts empty, grows and then shrinks while they run: once
// with the default shard count and once with a single shard.
func TestLinLongHistories(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"default-shards", nil}, {"one-shard", []Option{WithShards(1)}}} {
		t.Run(tc.name, func(t *testing.T) {
			h, m := linLongHistory(rand.Uint64(), 4, 5000, 4096, tc.opts...)
			st := m.Stats()
			t.Logf("%d operations; %+v", len(h), st)
			require.Equal(t, 4*5000, len(h))
			require.Equal(t, porcupine.Ok, linCheck(t, h, true), "history not linearizable")
			assert.Positive(t, st.Growths, "the map never grew")
			assert.Positive(t, st.Shrinks, "the map never shrank")
			require.NoError(t, m.CheckInvariants())
		})
	}
}

// TestLinRejectsStaleReads is the negative control with a fixed schedule:
// keys 0-3 are stored, a grow is started by hand, and then four goroutines
// each store a new value for their own key and read it back through
// StaleLoad, which reads the frozen old chain after the Store evacuated it.
// Each goroutine's read returns the value its own Store overwrote, so the
// history must be rejected; with the real Load it must be accepted.
func TestLinRejectsStaleReads(t *testing.T) {
	run := func(stale bool) []porcupine.Operation {
		m := New[uint64, uint64](WithShards(1), WithPresize(200)) // 32 buckets
		load := m.Load
		if stale {
			load = m.StaleLoad
		}
		r := newLinRecorder(5)
		for k := range uint64(4) {
			r.do(0, m, load, linInput{Kind: linStore, Key: k, Val: linValue(0, int(k))})
		}
		require.True(t, m.StartMigration(0, Grow))
		progs := make([][]linInput, 4)
		for k := range progs {
			progs[k] = []linInput{{Kind: linStore, Key: uint64(k), Val: linValue(k+1, 0)}, {Kind: linLoad, Key: uint64(k)}}
		}
		linRunClients(r, 1, m, load, progs, nil, nil)
		require.True(t, m.ShardMigrating(0), "4 writes must not finish evacuating 16 units")
		return r.history()
	}
	assert.Equal(t, porcupine.Ok, linCheck(t, run(false), true), "real Load")
	h := run(true)
	assert.Equal(t, porcupine.Illegal, linCheck(t, h, false), "StaleLoad must be caught")

	// The visualization a real failure would leave behind.
	path := filepath.Join(t.TempDir(), "stale.html")
	require.NoError(t, linVisualize(h, path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Greater(t, fi.Size(), int64(1000), "visualization is nearly empty")
}

// TestLinRejectsStaleReadsRandom is the negative control on random
// scenarios: the same generator as TestLinSmallScenarios, every scenario
// with a hand-started grow after every key got a value. Run with the real
// Load, every history must be accepted; with StaleLoad, which reads the old
// chain whether or not it was evacuated, the checker must reject some.
func TestLinRejectsStaleReadsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
	const scenarios, runs = 100, 5
	rejected, total := 0, 0
	var tally linTally
	for range scenarios {
		sc := drawLinScenario(randDrawer{rng}, true)
		linCheckScenario(t, sc, 1, &tally)
		for range runs {
			h, rs := sc.run(rng, true)
			require.NoError(t, rs.result)
			total++
			if linCheck(t, h, false) == porcupine.Illegal {
				rejected++
			}
		}
	}
	t.Logf("StaleLoad histories rejected: %d of %d", rejected, total)
	assert.Positive(t, rejected, "the checker accepted every history produced through StaleLoad")
}

// linSoakEnabled reports whether the soak was asked for.
func linSoakEnabled() bool { return *linLong || os.Getenv("SHARDMAP_LONG") == "1" }

// TestLinSoak alternates long histories, with random hashers, shard counts
// and sizes, and rounds of small scenarios, for linSoakTime (less if the
// test deadline is nearer). Skipped unless -lin.long or SHARDMAP_LONG=1.
func TestLinSoak(t *testing.T) {
	if !linSoakEnabled() {
		t.Skip("soak: run with -lin.long or SHARDMAP_LONG=1")
	}
	end := time.Now().Add(linSoakTime)
	if dl, ok := t.Deadline(); ok && dl.Add(-time.Minute).Before(end) {
		end = dl.Add(-time.Minute)
		t.Logf("test deadline is near: soaking until %v only", end)
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
	var tally linTally
	long, longOps := 0, 0
	for round := 0; time.Now().Before(end); round++ {
		h := TestHashers[rng.IntN(len(TestHashers))]
		opts := append(h.Options(), WithShards(1<<rng.IntN(4)))
		keys := 64 << rng.IntN(8)
		if h.Name == "constant" {
			keys = min(keys, 512) // one chain: every operation walks all keys
		}
		hist, m := linLongHistory(rng.Uint64(), 4, 5000, keys, opts...)
		if res := linCheck(t, hist, true); res != porcupine.Ok {
			t.Fatalf("round %d (%s hasher, %d keys): history is %s", round, h.Name, keys, res)
		}
		require.NoError(t, m.CheckInvariants())
		long++
		longOps += len(hist)
		for range 50 {
			linCheckScenario(t, drawLinScenario(randDrawer{rng}, false), 40, &tally)
		}
	}
	t.Logf("soak: %d long histories (%d operations); small scenarios: %s", long, longOps, tally.String())
	assert.Positive(t, long)
}
