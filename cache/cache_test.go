package cache

import (
	"context"
	"errors"
	"maps"
	"math"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadOptions(t *testing.T) {
	w := func(int, string) uint32 { return 1 }
	for _, tc := range []struct {
		name string
		opts Options[int, string]
		want string
	}{
		{"no bound", Options[int, string]{}, "no size bound"},
		{"negative entries", Options[int, string]{MaxEntries: -1}, "MaxEntries is negative"},
		{"negative weight", Options[int, string]{MaxWeight: -5, Weigher: w}, "MaxWeight is negative"},
		{"negative TTL", Options[int, string]{MaxEntries: 1, TTL: -1}, "TTL is negative"},
		{"both bounds", Options[int, string]{MaxEntries: 1, MaxWeight: 1, Weigher: w}, "both MaxEntries"},
		{"weigher with entries", Options[int, string]{MaxEntries: 1, Weigher: w}, "Weigher is set with MaxEntries"},
		{"weigher alone", Options[int, string]{Weigher: w}, "Weigher is set without MaxWeight"},
		{"weight without weigher", Options[int, string]{MaxWeight: 10}, "without a Weigher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("New succeeded")
			}
			if c != nil {
				t.Errorf("New returned a cache with error %v", err)
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
			if !strings.HasPrefix(err.Error(), "cache: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with \"cache: \" and mention %q", err, tc.want)
			}
		})
	}
}

func TestSetGetDelete(t *testing.T) {
	var rec recorder[string, int]
	c, _ := newTestCache(t, Options[string, int]{MaxEntries: 10, OnEvict: rec.onEvict})
	if _, ok := c.Get("a"); ok {
		t.Fatal("Get on an empty cache hit")
	}
	c.Set("a", 1)
	c.Set("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v; want 1, true", v, ok)
	}
	c.Set("a", 3)
	if v, ok := c.Get("a"); !ok || v != 3 {
		t.Fatalf("Get(a) after replace = %v, %v; want 3, true", v, ok)
	}
	c.Delete("b")
	c.Delete("missing")
	if _, ok := c.Get("b"); ok {
		t.Fatal("Get(b) hit after Delete")
	}
	if c.Len() != 1 || c.Weight() != 1 {
		t.Fatalf("Len, Weight = %d, %d; want 1, 1", c.Len(), c.Weight())
	}
	want := []event[string, int]{{"a", 1, Replaced}, {"b", 2, Deleted}}
	if got := rec.take(); !equalEvents(got, want) {
		t.Fatalf("OnEvict calls %v, want %v", got, want)
	}
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 2 {
		t.Fatalf("Stats %+v, want 2 hits and 2 misses", st)
	}
	mustCheck(t, c)
}

func equalEvents[K comparable, V comparable](a, b []event[K, V]) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEntryBound(t *testing.T) {
	var rec recorder[int, int]
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 100, OnEvict: rec.onEvict})
	for i := range 1000 {
		c.Set(i, i)
		if c.Len() > 100 {
			t.Fatalf("Len %d after %d sets exceeds 100", c.Len(), i+1)
		}
		if v, ok := c.Get(i); !ok || v != i {
			t.Fatalf("Get(%d) right after Set = %v, %v", i, v, ok)
		}
	}
	if c.Len() != 100 {
		t.Fatalf("Len %d, want 100", c.Len())
	}
	evicted := rec.take()
	if len(evicted) != 900 {
		t.Fatalf("%d evictions reported, want 900", len(evicted))
	}
	for _, e := range evicted {
		if e.reason != Evicted || e.key != e.value {
			t.Fatalf("bad eviction %+v", e)
		}
		if _, ok := c.Get(e.key); ok {
			t.Fatalf("evicted key %d still found", e.key)
		}
	}
	if st := c.Stats(); st.Evictions != 900 {
		t.Fatalf("Stats.Evictions = %d, want 900", st.Evictions)
	}
	mustCheck(t, c)
}

func TestTinyBounds(t *testing.T) {
	for _, max := range []int{1, 2, 3, 9, 10, 11} {
		c, _ := newTestCache(t, Options[int, int]{MaxEntries: max})
		for i := range 50 {
			c.Set(i%(max+2), i)
			c.Get(i % 3)
			if v, ok := c.Get(i % (max + 2)); !ok || v != i {
				t.Fatalf("max %d: Get after Set = %v, %v", max, v, ok)
			}
			if c.Len() > max {
				t.Fatalf("max %d: Len %d", max, c.Len())
			}
		}
		mustCheck(t, c)
	}
}

func TestWeightBound(t *testing.T) {
	var rec recorder[string, string]
	c, _ := newTestCache(t, Options[string, string]{
		MaxWeight: 10,
		Weigher:   func(_ string, v string) uint32 { return uint32(len(v)) },
		OnEvict:   rec.onEvict,
	})
	c.Set("a", "xxxx") // 4
	c.Set("b", "xxxx") // 8
	c.Set("empty", "") // weighs 1
	if c.Weight() != 9 {
		t.Fatalf("Weight %d, want 9", c.Weight())
	}
	c.Set("c", "xxxxx") // 5: must evict
	if c.Weight() > 10 {
		t.Fatalf("Weight %d exceeds 10", c.Weight())
	}
	if v, ok := c.Get("c"); !ok || v != "xxxxx" {
		t.Fatal("c missing right after Set")
	}
	mustCheck(t, c)

	// Growing a value in place evicts others, not itself.
	c.Set("c", "xxxxxxxxx") // 9
	if v, ok := c.Get("c"); !ok || v != "xxxxxxxxx" {
		t.Fatal("c missing after growing")
	}
	if c.Weight() > 10 {
		t.Fatalf("Weight %d exceeds 10", c.Weight())
	}
	mustCheck(t, c)

	// Too heavy: the old value goes, the new one is reported and not kept.
	rec.take()
	c.Set("c", "xxxxxxxxxxx") // 11
	if _, ok := c.Get("c"); ok {
		t.Fatal("a value heavier than the bound was stored")
	}
	want := []event[string, string]{{"c", "xxxxxxxxx", Replaced}, {"c", "xxxxxxxxxxx", Evicted}}
	if got := rec.take(); !equalEvents(got, want) {
		t.Fatalf("OnEvict calls %v, want %v", got, want)
	}
	mustCheck(t, c)
}

func TestOnEvictMayCallCache(t *testing.T) {
	var c *Cache[int, int]
	c, _ = newTestCache(t, Options[int, int]{MaxEntries: 2, OnEvict: func(k, v int, r Reason) {
		if r == Evicted && k < 1000 {
			c.Get(k)
			c.Set(k+1000, v) // evicts again, but only keys below 1000 recurse
			c.Delete(k + 2000)
		}
	}})
	for i := range 5 {
		c.Set(i, i)
	}
	if c.Len() > 2 {
		t.Fatalf("Len %d", c.Len())
	}
	mustCheck(t, c)
}

func TestAll(t *testing.T) {
	c, clk := newTestCache(t, Options[int, int]{MaxEntries: 10})
	c.Set(1, 10)
	c.Set(2, 20)
	c.SetWithTTL(3, 30, 1)
	clk.Advance(1)
	got := maps.Collect(c.All())
	if want := map[int]int{1: 10, 2: 20}; !maps.Equal(got, want) {
		t.Fatalf("All = %v, want %v", got, want)
	}
	for range c.All() {
		break
	}
}

func TestCloseIsIdempotentAndKeepsCacheUsable(t *testing.T) {
	c, err := New(Options[int, int]{MaxEntries: 4, TTL: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(1, 1)
	c.Close()
	c.Close()
	c.Set(2, 2)
	if v, ok := c.Get(2); !ok || v != 2 {
		t.Fatal("Set after Close lost")
	}
	c.SetWithTTL(3, 3, 1<<40) // must not restart the sweeper
}

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{Expired: "Expired", Evicted: "Evicted", Deleted: "Deleted", Replaced: "Replaced", 0: "Reason(0)"} {
		if r.String() != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, r.String(), want)
		}
	}
}

func TestNaNKeys(t *testing.T) {
	var rec recorder[float64, int]
	c, _ := newTestCache(t, Options[float64, int]{MaxEntries: 2, OnEvict: rec.onEvict})
	nan := math.NaN()
	for i := range 5 {
		c.Set(nan, i)
	}
	c.Set(1, 1)
	if _, ok := c.Get(nan); ok {
		t.Fatal("Get(NaN) hit")
	}
	if c.Len() != 1 || c.index.Len() != 1 {
		t.Fatalf("Len %d, index %d; NaN keys must not be stored", c.Len(), c.index.Len())
	}
	if got := rec.take(); len(got) != 5 || got[0].reason != Evicted {
		t.Fatalf("events %v, want 5 evictions", got)
	}
	for i := range 3 {
		v, err := c.GetOrLoad(context.Background(), nan, func(context.Context, float64) (int, error) { return i, nil })
		if err != nil || v != i {
			t.Fatalf("GetOrLoad(NaN) = %v, %v", v, err)
		}
	}
	if c.calls.Len() != 0 || c.loading.Load() != 0 {
		t.Fatal("a NaN load stayed registered")
	}
	c.Delete(nan)
	mustCheck(t, c)
}

// mustPanic runs f and reports whether it panicked.
func mustPanic(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

func TestPanicsLeaveCacheUsable(t *testing.T) {
	c, _ := newTestCache(t, Options[any, int]{
		MaxWeight: 10,
		Weigher: func(k any, v int) uint32 {
			if v < 0 {
				panic("negative")
			}
			return 1
		},
	})
	c.Set("a", 1)
	if !mustPanic(func() { c.Set("a", -1) }) {
		t.Fatal("Set with a panicking Weigher did not panic")
	}
	uncomparable := []int{1}
	if !mustPanic(func() { c.Set(uncomparable, 1) }) {
		t.Fatal("Set with an uncomparable key did not panic")
	}
	if !mustPanic(func() { c.Delete(uncomparable) }) {
		t.Fatal("Delete with an uncomparable key did not panic")
	}
	// Nothing is locked or half-changed.
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v after panics", v, ok)
	}
	c.Set("b", 2)
	c.Delete("a")
	_, err := c.GetOrLoad(context.Background(), "c", func(context.Context, any) (int, error) { return -1, nil })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "negative" {
		t.Fatalf("GetOrLoad with a panicking Weigher returned %v", err)
	}
	if _, ok := c.Get("c"); ok {
		t.Fatal("a value whose weight panicked was stored")
	}
	mustCheck(t, c)
}

// TestHeavyWeights checks weights too large for a node's inline field
// (above maxInlineWeight), with and without a deadline: they are
// accounted, evicted and replaced like light ones.
func TestHeavyWeights(t *testing.T) {
	const heavy = maxInlineWeight + 10
	var rec recorder[int, uint32]
	c, _ := newTestCache(t, Options[int, uint32]{
		MaxWeight: 3 * heavy, Weigher: func(_ int, v uint32) uint32 { return v }, OnEvict: rec.onEvict,
	})
	c.Set(1, heavy)
	c.SetWithTTL(2, heavy, time.Hour)
	c.Set(3, 5)
	if got, want := c.Weight(), uint64(2*heavy+5); got != want {
		t.Fatalf("Weight = %d, want %d", got, want)
	}
	mustCheck(t, c)
	c.Set(3, heavy) // replaces 5 with a heavy value: 3*heavy fits exactly
	if got, want := c.Weight(), uint64(3*heavy); got != want {
		t.Fatalf("Weight after replacing = %d, want %d", got, want)
	}
	c.Set(4, 1) // over by 1: something heavy must go
	if c.Weight() > 3*heavy {
		t.Fatalf("Weight %d exceeds the bound %d", c.Weight(), 3*heavy)
	}
	if v, ok := c.Get(4); !ok || v != 1 {
		t.Fatalf("Get(4) = %d, %v right after Set", v, ok)
	}
	mustCheck(t, c)
	evicted := 0
	for _, e := range rec.take() {
		if e.reason == Evicted {
			if e.value != heavy {
				t.Errorf("evicted %v, want a heavy value", e)
			}
			evicted++
		}
	}
	if evicted != 1 {
		t.Errorf("%d heavy values evicted, want 1", evicted)
	}
}
