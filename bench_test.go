package shardmap

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Benchmarks against sync.Map, the standard library's concurrent map. The
// comparison with other concurrent maps lives in the bench/ module.

// benchMap is the subset of methods the benchmarks drive.
type benchMap interface {
	Load(uint64) (uint64, bool)
	Store(uint64, uint64)
	Delete(uint64)
}

// syncMap adapts sync.Map to benchMap.
type syncMap struct{ m sync.Map }

func (s *syncMap) Load(k uint64) (uint64, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}
func (s *syncMap) Store(k, v uint64) { s.m.Store(k, v) }
func (s *syncMap) Delete(k uint64)   { s.m.Delete(k) }

// benchMaps lists the contenders, each made fresh per benchmark.
var benchMaps = []struct {
	name string
	make func() benchMap
}{
	{"shardmap", func() benchMap { return New[uint64, uint64]() }},
	{"sync.Map", func() benchMap { return new(syncMap) }},
}

const benchKeys = 1 << 20

// prefilled returns a map holding keys 0..benchKeys-1.
func prefilled(mk func() benchMap) benchMap {
	m := mk()
	for i := range uint64(benchKeys) {
		m.Store(i, i)
	}
	return m
}

// counter hands each RunParallel goroutine a distinct starting key.
var counter atomic.Uint64

// nextKey steps through the key space with an odd stride so that goroutines
// spread over all shards.
func nextKey(k uint64) uint64 { return (k + 0x9E3779B97F4A7C15) & (benchKeys - 1) }

func BenchmarkLoad(b *testing.B) {
	for _, c := range benchMaps {
		m := prefilled(c.make)
		b.Run(c.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				k := counter.Add(1) * 7919
				for pb.Next() {
					k = nextKey(k)
					if _, ok := m.Load(k); !ok {
						b.Fatal("missing key")
					}
				}
			})
		})
	}
}

func BenchmarkStore(b *testing.B) {
	for _, c := range benchMaps {
		m := prefilled(c.make)
		b.Run(c.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				k := counter.Add(1) * 7919
				for pb.Next() {
					k = nextKey(k)
					m.Store(k, k)
				}
			})
		})
	}
}

// BenchmarkMixed runs loads, stores and deletes in the given percentages on
// a prefilled map; a deleted key is stored back by a later store.
func BenchmarkMixed(b *testing.B) {
	for _, mix := range []struct{ load, store int }{{90, 5}, {50, 25}} {
		for _, c := range benchMaps {
			m := prefilled(c.make)
			name := c.name + "/" + strconv.Itoa(mix.load) + "-" + strconv.Itoa(mix.store)
			b.Run(name, func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					k := counter.Add(1) * 7919
					for i := 0; pb.Next(); i++ {
						k = nextKey(k)
						switch op := i % 100; {
						case op < mix.load:
							m.Load(k)
						case op < mix.load+mix.store:
							m.Store(k, k)
						default:
							m.Delete(k)
						}
					}
				})
			})
		}
	}
}

// BenchmarkGrow fills an empty map, so every growth step is paid inside the
// timed loop.
func BenchmarkGrow(b *testing.B) {
	for _, c := range benchMaps {
		b.Run(c.name, func(b *testing.B) {
			m := c.make()
			for i := range uint64(b.N) {
				m.Store(i, i)
			}
		})
	}
}
