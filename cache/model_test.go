package cache

import (
	"context"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// modelEntry is the reference's view of one key.
type modelEntry struct {
	value   int
	weight  uint64
	expires time.Time // zero: never
}

// TestModel drives a cache with random operations on a single goroutine
// and checks it against a reference: a map plus the bound. OnEvict tells
// the reference what left, so the reference is exact: every Get must find
// exactly the value of the last Set of the key unless OnEvict reported it
// gone (or its deadline passed), and a value that was reported gone never
// comes back.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		weighted := rapid.Bool().Draw(t, "weighted")
		max := rapid.IntRange(1, 12).Draw(t, "max")
		defaultTTL := time.Duration(rapid.IntRange(0, 3).Draw(t, "ttl")) * time.Second
		var rec recorder[int, int]
		opts := Options[int, int]{TTL: defaultTTL, OnEvict: rec.onEvict}
		weigh := func(v int) uint64 { return 1 }
		if weighted {
			opts.MaxWeight = int64(max)
			// Values encode their weight: v%8, with 0 counting as 1.
			opts.Weigher = func(_ int, v int) uint32 { return uint32(v % 8) }
			weigh = func(v int) uint64 { return uint64(v%8) | uint64(btoi(v%8 == 0)) }
		} else {
			opts.MaxEntries = max
		}
		clk := newFakeClock()
		// The fake clock makes entries expire at the test's command; the
		// background sweeper would then remove them between steps, out of
		// the reference's sight. The "Sweep" action sweeps by hand.
		c, err := newCache(opts, hooks{clock: clk.Now, noSweeper: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()

		model := map[int]modelEntry{}
		serial := 0
		key := rapid.IntRange(0, 15)
		newValue := func(t *rapid.T) int {
			serial++
			w := 1
			if weighted {
				w = rapid.IntRange(0, 7).Draw(t, "weight")
			}
			return serial*8 + w
		}
		live := func(k int) (modelEntry, bool) {
			e, ok := model[k]
			if !ok || (!e.expires.IsZero() && !clk.Now().Before(e.expires)) {
				return e, false
			}
			return e, true
		}
		// apply checks the OnEvict calls of one operation against the
		// reference and removes what they report. rejected is the value
		// of a Set that the bound rejects outright.
		apply := func(t *rapid.T, rejected int) {
			for _, e := range rec.take() {
				if e.reason == Evicted && e.value == rejected {
					continue
				}
				m, ok := model[e.key]
				if !ok || m.value != e.value {
					t.Fatalf("OnEvict(%d, %d, %v): the reference holds %v, %v", e.key, e.value, e.reason, m, ok)
				}
				_, isLive := live(e.key)
				if (e.reason == Expired) == isLive {
					t.Fatalf("OnEvict(%d, %d, %v) while the entry is live=%v", e.key, e.value, e.reason, isLive)
				}
				delete(model, e.key)
			}
		}
		set := func(t *rapid.T, k, v int, ttl time.Duration, useDefault bool) {
			if useDefault {
				c.Set(k, v)
				ttl = defaultTTL
			} else {
				c.SetWithTTL(k, v, ttl)
			}
			rejected := -1
			if weigh(v) > uint64(max) {
				rejected = v
			}
			apply(t, rejected)
			if rejected >= 0 {
				if _, ok := model[k]; ok {
					t.Fatalf("Set(%d) of a too-heavy value kept the old value", k)
				}
				return
			}
			e := modelEntry{value: v, weight: weigh(v)}
			if ttl > 0 {
				e.expires = clk.Now().Add(ttl)
			}
			model[k] = e
			if got, ok := c.Get(k); !ok || got != v {
				t.Fatalf("Get(%d) right after Set(%d) = %d, %v", k, v, got, ok)
			}
		}

		t.Repeat(map[string]func(*rapid.T){
			"Set": func(t *rapid.T) {
				set(t, key.Draw(t, "k"), newValue(t), 0, true)
			},
			"SetWithTTL": func(t *rapid.T) {
				ttl := time.Duration(rapid.IntRange(-1, 4).Draw(t, "ttl")) * time.Second
				set(t, key.Draw(t, "k"), newValue(t), ttl, false)
			},
			"Get": func(t *rapid.T) {
				k := key.Draw(t, "k")
				got, ok := c.Get(k)
				want, wantOK := live(k)
				if ok != wantOK || (ok && got != want.value) {
					t.Fatalf("Get(%d) = %d, %v; the reference has %d, %v", k, got, ok, want.value, wantOK)
				}
			},
			"Delete": func(t *rapid.T) {
				k := key.Draw(t, "k")
				c.Delete(k)
				apply(t, -1)
				if _, ok := model[k]; ok {
					t.Fatalf("Delete(%d) left the key in the reference", k)
				}
			},
			"GetOrLoad": func(t *rapid.T) {
				k := key.Draw(t, "k")
				v := newValue(t)
				want, wasLive := live(k)
				got, err := c.GetOrLoad(context.Background(), k, func(context.Context, int) (int, error) { return v, nil })
				if err != nil {
					t.Fatal(err)
				}
				if wasLive {
					if got != want.value {
						t.Fatalf("GetOrLoad(%d) = %d, want the cached %d", k, got, want.value)
					}
					return
				}
				if got != v {
					t.Fatalf("GetOrLoad(%d) = %d, want the loaded %d", k, got, v)
				}
				rejected := -1
				if weigh(v) > uint64(max) {
					rejected = v
				}
				apply(t, rejected)
				if rejected < 0 {
					e := modelEntry{value: v, weight: weigh(v)}
					if defaultTTL > 0 {
						e.expires = clk.Now().Add(defaultTTL)
					}
					model[k] = e
				}
			},
			"Advance": func(t *rapid.T) {
				clk.Advance(time.Duration(rapid.IntRange(0, 2500).Draw(t, "ms")) * time.Millisecond)
			},
			"Sweep": func(t *rapid.T) {
				c.sweep(c.now(), rapid.IntRange(1, 4).Draw(t, "limit"))
				apply(t, -1)
			},
			"All": func(t *rapid.T) {
				got := maps.Collect(c.All())
				want := map[int]int{}
				for k := range model {
					if e, ok := live(k); ok {
						want[k] = e.value
					}
				}
				if !maps.Equal(got, want) {
					t.Fatalf("All = %v, the reference has %v", got, want)
				}
			},
			"": func(t *rapid.T) {
				var w uint64
				for _, e := range model {
					w += e.weight
				}
				if c.Len() != len(model) || c.Weight() != w {
					t.Fatalf("Len, Weight = %d, %d; the reference has %d, %d", c.Len(), c.Weight(), len(model), w)
				}
				if w > uint64(max) {
					t.Fatalf("weight %d exceeds the bound %d", w, max)
				}
				if err := c.check(); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSetIsNotEvictedByItsOwnDrain is the smallest history TestModel found
// in which a Set was pushed out by the eviction its own write caused: with
// the only other candidates already weighed, the policy gave up while over
// the bound and the final sweep took the new value. A write may evict
// others, never itself (unless it alone is over the bound).
func TestSetIsNotEvictedByItsOwnDrain(t *testing.T) {
	var rec recorder[int, int]
	c, err := New(Options[int, int]{
		MaxWeight: 9,
		Weigher:   func(_ int, v int) uint32 { return uint32(v % 8) },
		OnEvict:   rec.onEvict,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	load := func(v int) func(context.Context, int) (int, error) {
		return func(context.Context, int) (int, error) { return v, nil }
	}
	for _, kv := range [][2]int{{2, 8}, {0, 23}, {1, 24}, {3, 32}} {
		if _, err := c.GetOrLoad(context.Background(), kv[0], load(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(0, 43)
	rec.take()
	c.Set(1, 55) // weight 7 of 9
	for _, e := range rec.take() {
		if e.key == 1 && e.value == 55 {
			t.Fatalf("Set(1, 55) evicted its own value: %v", e.reason)
		}
	}
	if v, ok := c.Get(1); !ok || v != 55 {
		t.Fatalf("Get(1) = %d, %v after Set(1, 55)", v, ok)
	}
}
