package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKeySpace checks that the arena keys, the scratch Load keys and keyAt
// agree, and that distinct indexes give distinct keys.
func TestKeySpace(t *testing.T) {
	testKeySpace[uint64](t)
	testKeySpace[string](t)
}

func testKeySpace[K Key](t *testing.T) {
	const n = 5000
	ks := newKeySpace[K](n)
	w := newWorker(ks, mixes[0], 1)
	seen := map[K]bool{}
	for i := range uint64(n) {
		k := ks.key(i)
		if want := keyAt[K](int(i)); k != want {
			t.Fatalf("%s: key(%d) = %v, keyAt = %v", keyTypeName[K](), i, k, want)
		}
		if got := w.loadKey(i); got != k {
			t.Fatalf("%s: loadKey(%d) = %v, want %v", keyTypeName[K](), i, got, k)
		}
		if got := w.storeKey(i); got != k {
			t.Fatalf("%s: storeKey(%d) = %v, want %v", keyTypeName[K](), i, got, k)
		}
		if seen[k] {
			t.Fatalf("%s: key %d repeats an earlier key", keyTypeName[K](), i)
		}
		seen[k] = true
	}
	for range 10_000 {
		if i := w.pick(); i >= n {
			t.Fatalf("pick() = %d, want < %d", i, n)
		}
	}
}

// TestContenders checks that every adapter stores, loads and deletes, and
// that its loops do what they say.
func TestContenders(t *testing.T) {
	for _, c := range append(contenders(), growOnly...) {
		t.Run(c.Name, func(t *testing.T) {
			checkAdapter(t, newMap[uint64](c))
			checkAdapter(t, newMap[string](c))
			checkLoops(t, newMap[uint64](c))
			checkLoops(t, newMap[string](c))
		})
	}
}

// checkAdapter stores, loads and deletes 1000 keys through m.
func checkAdapter[K Key](t *testing.T, m Map[K]) {
	t.Helper()
	ks := newKeySpace[K](1000)
	prefillKeys(m, ks)
	for i := range ks.n {
		if v, ok := m.Load(keyAt[K](int(i))); !ok || v != i {
			t.Fatalf("%s: Load(%v) = %d, %v; want %d, true", keyTypeName[K](), ks.key(i), v, ok, i)
		}
	}
	for i := range uint64(500) {
		m.Delete(keyAt[K](int(i)))
	}
	for i := range ks.n {
		if _, ok := m.Load(ks.key(i)); ok != (i >= 500) {
			t.Fatalf("%s: after deleting, Load(%v) found = %v", keyTypeName[K](), ks.key(i), ok)
		}
	}
}

// checkLoops runs each loop of r on a prefilled map and checks its effect:
// every mix keeps the keys and values (deletes are stored back), LoadOrStore
// changes nothing, and Compute adds one to a value per call.
func checkLoops[K Key](t *testing.T, r Runner[K]) {
	t.Helper()
	const n, ops = 500, 20_000
	ks := newKeySpace[K](n)
	prefillKeys(r, ks)
	expectSum := func(what string, want uint64) {
		t.Helper()
		sum := uint64(0)
		for i := range ks.n {
			v, ok := r.Load(ks.key(i))
			if !ok {
				t.Fatalf("%s: %s: key %d missing", keyTypeName[K](), what, i)
			}
			sum += v
		}
		if sum != want {
			t.Fatalf("%s: %s: values sum to %d, want %d", keyTypeName[K](), what, sum, want)
		}
	}
	base := uint64(n * (n - 1) / 2)
	for _, mix := range append(mixes, storeOnly) {
		w := newWorker(ks, mix, 3)
		r.mixLoop(w, ops)
		w.restore(r)
		expectSum(mix.Name, base)
	}
	w := newWorker(ks, Mix{}, 3)
	if r.loadOrStoreLoop(w, ops) {
		expectSum("LoadOrStore", base)
		if w.sink == 0 {
			t.Errorf("%s: LoadOrStore loaded only zeros", keyTypeName[K]())
		}
	}
	if r.computeLoop(w, ops) {
		expectSum("Compute", base+ops)
	}
}

// TestWorkerKeepsSize checks that a delete-heavy mix leaves the map about
// as full as it started, and restore fills it again.
func TestWorkerKeepsSize(t *testing.T) {
	const n = 1000
	m := newRWMap[uint64]().(*rwMap[uint64])
	ks := newKeySpace[uint64](n)
	prefillKeys(m, ks)
	w := newWorker(ks, mixes[len(mixes)-1], 1)
	m.mixLoop(w, 100_000)
	if got := len(m.m); got < n-len(w.pending) || got > n {
		t.Fatalf("map holds %d keys after the mix, want about %d", got, n)
	}
	w.restore(m)
	if got := len(m.m); got != n {
		t.Fatalf("map holds %d keys after restore, want %d", got, n)
	}
}

// TestLoopsDoNotAllocate checks that the workers' key generation allocates
// nothing: the loops of a Go map behind a lock (whose Load and Store of a
// present key allocate nothing themselves) run without an allocation, for
// both key types and every mix.
func TestLoopsDoNotAllocate(t *testing.T) {
	testLoopAllocs[uint64](t)
	testLoopAllocs[string](t)
}

func testLoopAllocs[K Key](t *testing.T) {
	ks := newKeySpace[K](1000)
	m := newRWMap[K]()
	prefillKeys(m, ks)
	for _, mix := range append(mixes, storeOnly) {
		w := newWorker(ks, mix, 1)
		if a := testing.AllocsPerRun(100, func() { m.mixLoop(w, batch) }); a != 0 {
			t.Errorf("%s %s: %.2f allocations per batch of %d operations", keyTypeName[K](), mix.Name, a, batch)
		}
	}
}

// TestLoopsCallDirectly builds the command, reads its machine code and
// checks that no contender's loop makes an indirect call (CALL through a
// register or memory) from its own source lines: every map method is a
// static call or inlined. Calls made inside the maps' inlined code belong
// to the maps and are not counted.
func TestLoopsCallDirectly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command to read its disassembly")
	}
	exe := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "objdump", "-s", `^main\.\(?\*?[a-zA-Z0-9]+Map\[go\.shape\.[a-z0-9]+\]\)?\.(mixLoop|loadOrStoreLoop|computeLoop)$`, exe).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, out)
	}
	var (
		fn      string
		funcs   = map[string]bool{}
		line    = regexp.MustCompile(`^\s+(\S+):\d+\s+0x[0-9a-f]+\s+[0-9a-f]+\s+(.*)$`)
		direct  = regexp.MustCompile(`^CALL [\w.()*\[\],/ -]+\(SB\)`)
		sawCall = 0
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		s := sc.Text()
		if name, ok := strings.CutPrefix(s, "TEXT "); ok {
			fn = name
			funcs[fn] = true
			continue
		}
		m := line.FindStringSubmatch(s)
		if m == nil || m[1] != "contenders.go" || !strings.HasPrefix(m[2], "CALL ") {
			continue
		}
		sawCall++
		if !direct.MatchString(m[2]) {
			t.Errorf("%s: indirect call: %s", fn, strings.TrimSpace(m[2]))
		}
	}
	// One mixLoop instantiation per adapter and key type (the loops that
	// only return false are inlined into their wrappers and have none).
	mixLoops := 0
	for f := range funcs {
		if strings.Contains(f, ".mixLoop(") {
			mixLoops++
		}
	}
	if want := len(contenders()) * 2; mixLoops != want || sawCall == 0 {
		t.Fatalf("disassembly has %d mixLoop functions and %d calls from contenders.go; want %d and some:\n%s",
			mixLoops, sawCall, want, out[:min(len(out), 2000)])
	}
}
