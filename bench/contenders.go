package main

import (
	"sync"

	cmap "github.com/orcaman/concurrent-map/v2"
	xsyncv3 "github.com/puzpuzpuz/xsync/v3"
	xsyncv4 "github.com/puzpuzpuz/xsync/v4"
	"github.com/shardmap/shardmap"
)

// Key is the set of key types the workloads use.
type Key interface{ uint64 | string }

// Map is the common surface every contender is adapted to. Values are always
// uint64. Every contender pays the same interface call per operation, so the
// call overhead cancels out of the ratios.
type Map[K Key] interface {
	Load(key K) (uint64, bool)
	Store(key K, value uint64)
	Delete(key K)
}

// Contender names one map implementation and builds empty instances of it.
type Contender struct {
	// Name identifies the contender in tables, plots and benchmark names. It
	// contains no spaces or slashes.
	Name string
	// Uint64 and String return an empty map for that key type, built with
	// the implementation's defaults (no presizing).
	Uint64 func() Map[uint64]
	String func() Map[string]
}

// baseline is the contender ratios are computed against.
const baseline = "xsync-v4"

// contenders returns the maps every workload runs, shardmap first.
func contenders() []Contender {
	return []Contender{
		{Name: "shardmap", Uint64: newShardmap[uint64], String: newShardmap[string]},
		{Name: "xsync-v4", Uint64: newXsyncV4[uint64], String: newXsyncV4[string]},
		{Name: "xsync-v3", Uint64: newXsyncV3[uint64], String: newXsyncV3[string]},
		{Name: "sync.Map", Uint64: newSyncMap[uint64], String: newSyncMap[string]},
		{Name: "rwmutex-map", Uint64: newRWMap[uint64], String: newRWMap[string]},
		{Name: "cmap-v2", Uint64: newCmapUint64, String: newCmapString},
	}
}

// growOnly lists shardmap and both xsync versions built WithGrowOnly. They
// appear only in the memory give-back table, next to the maps that shrink.
var growOnly = []Contender{
	{
		Name:   "shardmap-growonly",
		Uint64: func() Map[uint64] { return shardmapMap[uint64]{shardmap.New[uint64, uint64](shardmap.WithGrowOnly())} },
		String: func() Map[string] { return shardmapMap[string]{shardmap.New[string, uint64](shardmap.WithGrowOnly())} },
	},
	{
		Name:   "xsync-v4-growonly",
		Uint64: func() Map[uint64] { return xsyncV4Map[uint64]{xsyncv4.NewMap[uint64, uint64](xsyncv4.WithGrowOnly())} },
		String: func() Map[string] { return xsyncV4Map[string]{xsyncv4.NewMap[string, uint64](xsyncv4.WithGrowOnly())} },
	},
	{
		Name: "xsync-v3-growonly",
		Uint64: func() Map[uint64] {
			return xsyncV3Map[uint64]{xsyncv3.NewMapOf[uint64, uint64](xsyncv3.WithGrowOnly())}
		},
		String: func() Map[string] {
			return xsyncV3Map[string]{xsyncv3.NewMapOf[string, uint64](xsyncv3.WithGrowOnly())}
		},
	},
}

// newMap builds an empty map of contender c for key type K.
func newMap[K Key](c Contender) Map[K] {
	var m any
	switch any(*new(K)).(type) {
	case uint64:
		m = c.Uint64()
	case string:
		m = c.String()
	}
	return m.(Map[K])
}

// shardmapMap adapts shardmap.Map.
type shardmapMap[K Key] struct{ m *shardmap.Map[K, uint64] }

// newShardmap builds a shardmap.Map with default options.
func newShardmap[K Key]() Map[K] { return shardmapMap[K]{shardmap.New[K, uint64]()} }

func (a shardmapMap[K]) Load(k K) (uint64, bool) { return a.m.Load(k) }
func (a shardmapMap[K]) Store(k K, v uint64)     { a.m.Store(k, v) }
func (a shardmapMap[K]) Delete(k K)              { a.m.Delete(k) }

// Stats exposes shardmap's internal counters to the report.
func (a shardmapMap[K]) Stats() shardmap.Stats { return a.m.Stats() }

// xsyncV4Map adapts xsync v4's Map.
type xsyncV4Map[K Key] struct{ m *xsyncv4.Map[K, uint64] }

// newXsyncV4 builds an xsync v4 Map with default options.
func newXsyncV4[K Key]() Map[K] { return xsyncV4Map[K]{xsyncv4.NewMap[K, uint64]()} }

func (a xsyncV4Map[K]) Load(k K) (uint64, bool) { return a.m.Load(k) }
func (a xsyncV4Map[K]) Store(k K, v uint64)     { a.m.Store(k, v) }
func (a xsyncV4Map[K]) Delete(k K)              { a.m.Delete(k) }

// xsyncV3Map adapts xsync v3's MapOf.
type xsyncV3Map[K Key] struct{ m *xsyncv3.MapOf[K, uint64] }

// newXsyncV3 builds an xsync v3 MapOf with default options.
func newXsyncV3[K Key]() Map[K] { return xsyncV3Map[K]{xsyncv3.NewMapOf[K, uint64]()} }

func (a xsyncV3Map[K]) Load(k K) (uint64, bool) { return a.m.Load(k) }
func (a xsyncV3Map[K]) Store(k K, v uint64)     { a.m.Store(k, v) }
func (a xsyncV3Map[K]) Delete(k K)              { a.m.Delete(k) }

// syncMap adapts sync.Map. Values are boxed, as every sync.Map user's are.
type syncMap[K Key] struct{ m *sync.Map }

// newSyncMap builds an empty sync.Map.
func newSyncMap[K Key]() Map[K] { return syncMap[K]{new(sync.Map)} }

func (a syncMap[K]) Load(k K) (uint64, bool) {
	v, ok := a.m.Load(k)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}
func (a syncMap[K]) Store(k K, v uint64) { a.m.Store(k, v) }
func (a syncMap[K]) Delete(k K)          { a.m.Delete(k) }

// rwMap is a Go map guarded by one sync.RWMutex.
type rwMap[K Key] struct {
	mu sync.RWMutex
	m  map[K]uint64
}

// newRWMap builds an empty RWMutex-guarded map.
func newRWMap[K Key]() Map[K] { return &rwMap[K]{m: make(map[K]uint64)} }

func (a *rwMap[K]) Load(k K) (uint64, bool) {
	a.mu.RLock()
	v, ok := a.m[k]
	a.mu.RUnlock()
	return v, ok
}

func (a *rwMap[K]) Store(k K, v uint64) {
	a.mu.Lock()
	a.m[k] = v
	a.mu.Unlock()
}

func (a *rwMap[K]) Delete(k K) {
	a.mu.Lock()
	delete(a.m, k)
	a.mu.Unlock()
}

// cmapMap adapts concurrent-map v2.
type cmapMap[K Key] struct{ m cmap.ConcurrentMap[K, uint64] }

// newCmapUint64 shards uint64 keys by a mixed 32-bit fold of the key;
// concurrent-map has no built-in sharding for integer keys.
func newCmapUint64() Map[uint64] {
	return cmapMap[uint64]{cmap.NewWithCustomShardingFunction[uint64, uint64](func(k uint64) uint32 {
		return uint32(mix64(k) >> 32)
	})}
}

// newCmapString uses concurrent-map's own FNV-32 string sharding.
func newCmapString() Map[string] { return cmapMap[string]{cmap.New[uint64]()} }

func (a cmapMap[K]) Load(k K) (uint64, bool) { return a.m.Get(k) }
func (a cmapMap[K]) Store(k K, v uint64)     { a.m.Set(k, v) }
func (a cmapMap[K]) Delete(k K)              { a.m.Remove(k) }
