package cache

import (
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestValueModeOf(t *testing.T) {
	type pair32 struct{ a, b uint32 }
	type withPtr struct{ p *int }
	word64 := valueFixed
	if unsafe.Alignof(uint64(0)) == 8 {
		word64 = valueWord64 // not on 32-bit platforms, where uint64 is aligned to 4
	}
	for _, tc := range []struct {
		name string
		got  valueMode
		want valueMode
	}{
		{"uint64", valueModeOf[uint64](), word64},
		{"float64", valueModeOf[float64](), word64},
		{"time.Duration", valueModeOf[time.Duration](), word64},
		{"int32", valueModeOf[int32](), valueWord32},
		{"float32", valueModeOf[float32](), valueWord32},
		{"*int", valueModeOf[*int](), valuePointer},
		{"map", valueModeOf[map[string]int](), valuePointer},
		{"chan", valueModeOf[chan int](), valuePointer},
		{"unsafe.Pointer", valueModeOf[unsafe.Pointer](), valuePointer},
		{"string", valueModeOf[string](), valueFixed},
		{"[]byte", valueModeOf[[]byte](), valueFixed},
		{"any", valueModeOf[any](), valueFixed},
		{"func", valueModeOf[func()](), valueFixed},
		{"bool", valueModeOf[bool](), valueFixed},
		{"[8]byte (aligned to 1)", valueModeOf[[8]byte](), valueFixed},
		{"struct of a pointer", valueModeOf[withPtr](), valueFixed},
		{"struct{}", valueModeOf[struct{}](), valueFixed},
		{"complex128", valueModeOf[complex128](), valueFixed},
	} {
		if tc.got != tc.want {
			t.Errorf("valueModeOf[%s]() = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if unsafe.Alignof(uint64(0)) == 8 {
		if got := valueModeOf[pair32](); got != valueFixed {
			t.Errorf("valueModeOf[struct{a, b uint32}]() = %d, want %d: it is aligned to 4", got, valueFixed)
		}
	}
}

// TestSetInPlace checks that replacing a word-sized value keeps the entry's
// node, allocates nothing, reports the old value as Replaced, counts as a
// use, and leaves the counts and the policy as they were.
func TestSetInPlace(t *testing.T) {
	var rec recorder[int, int]
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 8, OnEvict: rec.onEvict})
	c.Set(1, 10)
	before, _ := c.index.Load(1)
	hits := before.acc.Load() & hitMask
	c.Set(1, 11)
	after, _ := c.index.Load(1)
	if after != before {
		t.Fatal("Set of a word-sized value replaced the node; want the value replaced in it")
	}
	if got := after.acc.Load() & hitMask; got != hits+1 {
		t.Errorf("hit count after the in-place Set = %d, want %d: a write counts as a use", got, hits+1)
	}
	if v, ok := c.Get(1); !ok || v != 11 {
		t.Fatalf("Get(1) = %d, %v after Set(1, 11)", v, ok)
	}
	evs := rec.take()
	if len(evs) != 1 || evs[0] != (event[int, int]{1, 10, Replaced}) {
		t.Fatalf("OnEvict calls = %v, want [{1 10 Replaced}]", evs)
	}
	if c.Len() != 1 || c.Weight() != 1 {
		t.Fatalf("Len, Weight = %d, %d after replacing the one entry, want 1, 1", c.Len(), c.Weight())
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(100, func() { c.Set(1, 12) }); a != 0 {
			t.Errorf("an in-place Set allocates %v times, want 0", a)
		}
	}
	// A TTL needs a deadline, which a node of the in-place kind has no
	// room for: the entry gets a new node.
	c.SetWithTTL(1, 13, time.Hour)
	if n, _ := c.index.Load(1); n == after || n.expiresAt() == 0 {
		t.Fatal("SetWithTTL did not give the entry a new node with a deadline")
	}
	mustCheck(t, c)
}

// TestSetInPlaceWeighted checks that a value whose weight differs from the
// old one's gets a new node, so that Weight follows it, and one of the
// same weight is replaced in place.
func TestSetInPlaceWeighted(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxWeight: 100, Weigher: func(_, v int) uint32 { return uint32(v / 10) }})
	c.Set(1, 30)
	n1, _ := c.index.Load(1)
	c.Set(1, 35) // weight 3 again
	if n, _ := c.index.Load(1); n != n1 {
		t.Error("Set of a value of the same weight replaced the node")
	}
	c.Set(1, 50) // weight 5
	if n, _ := c.index.Load(1); n == n1 {
		t.Error("Set of a value of another weight kept the node")
	}
	if v, _ := c.Get(1); v != 50 || c.Weight() != 5 {
		t.Fatalf("Get(1) = %d, Weight() = %d; want 50, 5", v, c.Weight())
	}
	mustCheck(t, c)
}

// TestSetInPlaceRacesRemovals races in-place Sets of a few keys against
// Deletes of them and against inserts of other keys that evict them, and
// checks that no written value is lost or reported twice: each is, at the
// end, either its key's value in the cache or reported to OnEvict exactly
// once. It does so for both kinds of in-place value, a word and a pointer.
func TestSetInPlaceRacesRemovals(t *testing.T) {
	t.Run("word", func(t *testing.T) {
		raceRemovals(t, func(i int) int { return i }, func(v int) int { return v })
	})
	t.Run("pointer", func(t *testing.T) {
		raceRemovals(t, func(i int) *int { return &i }, func(v *int) int { return *v })
	})
}

func raceRemovals[V comparable](t *testing.T, mk func(int) V, id func(V) int) {
	const (
		hot     = 4
		writers = 3
		perG    = 3000
	)
	var (
		mu       sync.Mutex
		reported = map[int]int{}
	)
	c, _ := newTestCache(t, Options[int, V]{MaxEntries: 16, OnEvict: func(_ int, v V, _ Reason) {
		mu.Lock()
		reported[id(v)]++
		mu.Unlock()
	}})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range perG {
				v := 1 + g*perG + i
				c.Set(i%hot, mk(v))
			}
		})
	}
	wg.Go(func() { // deletes the hot keys
		for i := range perG {
			c.Delete(i % hot)
		}
	})
	wg.Go(func() { // inserts cold keys, whose eviction takes hot ones too
		for i := range perG {
			c.Set(hot+i%64, mk(-1-i))
		}
	})
	wg.Wait()
	mustCheck(t, c)
	live := map[int]bool{}
	for _, v := range c.All() {
		live[id(v)] = true
	}
	for v := 1; v <= writers*perG; v++ {
		n := reported[v]
		if live[v] {
			n++
		}
		if n != 1 {
			t.Fatalf("value %d: reported %d times, in the cache: %v; want exactly one of the two", v, reported[v], live[v])
		}
	}
}

// TestSetInPlaceNeedsNoBuffer fills the write buffer while the policy's
// lock is held: a Set that replaces a value in place still completes at
// once, since it hands the policy nothing.
func TestSetInPlaceNeedsNoBuffer(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 4 * writeBufferSize})
	c.mu.Lock()
	for k := range writeBufferSize {
		c.Set(k, k)
	}
	if pos, ok := c.buf.reserve(); ok {
		c.buf.publish(pos, change[int, int]{})
		c.mu.Unlock()
		t.Fatal("the write buffer has room after writeBufferSize inserts with the policy's lock held")
	}
	for k := range writeBufferSize {
		c.Set(k, -k) // would block until Unlock if it needed a cell
	}
	c.mu.Unlock()
	for k := range writeBufferSize {
		if v, ok := c.Get(k); !ok || v != -k {
			t.Fatalf("Get(%d) = %d, %v; want %d, true", k, v, ok, -k)
		}
	}
	mustCheck(t, c)
}
