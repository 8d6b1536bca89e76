package cache

import (
	"math/rand/v2"
	"testing"
	"time"
)

const benchKeys = 1 << 16

func benchCache(b *testing.B, ttl time.Duration) *Cache[uint64, uint64] {
	c, err := New(Options[uint64, uint64]{MaxEntries: benchKeys, TTL: ttl})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	for i := range uint64(benchKeys) {
		c.Set(i, i)
	}
	return c
}

// BenchmarkGetHit measures parallel hits: no lock, one atomic load on a
// saturated counter, a striped stats increment.
func BenchmarkGetHit(b *testing.B) {
	for _, ttl := range []time.Duration{0, time.Hour} {
		b.Run("ttl="+ttl.String(), func(b *testing.B) {
			c := benchCache(b, ttl)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					if _, ok := c.Get(r.Uint64() & (benchKeys - 1)); !ok {
						b.Fatal("miss")
					}
				}
			})
		})
	}
}

// BenchmarkSet measures parallel replacements and inserts with eviction.
func BenchmarkSet(b *testing.B) { benchSets(b, 4*benchKeys, 0) }

// BenchmarkSetReplace measures parallel Sets of present keys: a uint64
// value is swapped into the entry's node, with no allocation and no policy
// work.
func BenchmarkSetReplace(b *testing.B) { benchSets(b, benchKeys, 1) }

// benchSets runs parallel Sets of random keys below keys (a power of two),
// each key k set to k+add.
func benchSets(b *testing.B, keys, add uint64) {
	c := benchCache(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			k := r.Uint64() & (keys - 1)
			c.Set(k, k+add)
		}
	})
}

// BenchmarkMixed is 90% Get, 10% Set over twice as many keys as fit.
func BenchmarkMixed(b *testing.B) {
	c := benchCache(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			k := r.Uint64() & (2*benchKeys - 1)
			if r.IntN(10) == 0 {
				c.Set(k, k)
			} else {
				c.Get(k)
			}
		}
	})
}
