package main

import (
	"sync"

	cmap "github.com/orcaman/concurrent-map/v2"
	xsyncv3 "github.com/puzpuzpuz/xsync/v3"
	xsyncv4 "github.com/puzpuzpuz/xsync/v4"
	"github.com/shardmap/shardmap"
)

// Key is the set of key types the workloads use: exactly these two.
type Key interface{ uint64 | string }

// Map is the per-operation surface every contender is adapted to. Values
// are always uint64. The growth, memory and cache workloads, and the
// prefilling of every workload, call through it; there the time of one
// operation is not what is measured, or the interface call is the same small
// part of it for everyone.
type Map[K Key] interface {
	Load(key K) (uint64, bool)
	Store(key K, value uint64)
	Delete(key K)
}

// Runner is a contender's map with the loops the throughput workloads run
// on it. Each loop runs n operations chosen by w and calls the map's own
// methods directly: the loops are written out per contender, so no
// operation goes through an interface or a generic dictionary that a
// program using the map would not go through. The loops are generic only in
// the key type; each key type gets its own instantiation (the go.shape of
// uint64 and of string), whose calls to the map are static calls that the
// compiler may inline (TestLoopsCallDirectly checks the machine code). The
// call into a loop is an interface call, once per batch of operations.
type Runner[K Key] interface {
	Map[K]
	// mixLoop runs n operations of w's Load/Store/Delete schedule.
	mixLoop(w *worker[K], n int)
	// loadOrStoreLoop runs n LoadOrStore calls of random present keys;
	// false if the map has none (then it runs nothing).
	loadOrStoreLoop(w *worker[K], n int) bool
	// computeLoop runs n Compute calls that increment the value of a
	// random present key; false if the map has no Compute.
	computeLoop(w *worker[K], n int) bool
}

// Contender names one map implementation and builds empty instances of it.
type Contender struct {
	// Name identifies the contender in tables, plots and benchmark names. It
	// contains no spaces or slashes.
	Name string
	// Uint64 and String return an empty map for that key type, built with
	// the implementation's defaults (no presizing).
	Uint64 func() Runner[uint64]
	String func() Runner[string]
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
		Name: "shardmap-growonly",
		Uint64: func() Runner[uint64] {
			return shardmapMap[uint64]{shardmap.New[uint64, uint64](shardmap.WithGrowOnly())}
		},
		String: func() Runner[string] {
			return shardmapMap[string]{shardmap.New[string, uint64](shardmap.WithGrowOnly())}
		},
	},
	{
		Name: "xsync-v4-growonly",
		Uint64: func() Runner[uint64] {
			return xsyncV4Map[uint64]{xsyncv4.NewMap[uint64, uint64](xsyncv4.WithGrowOnly())}
		},
		String: func() Runner[string] {
			return xsyncV4Map[string]{xsyncv4.NewMap[string, uint64](xsyncv4.WithGrowOnly())}
		},
	},
	{
		Name: "xsync-v3-growonly",
		Uint64: func() Runner[uint64] {
			return xsyncV3Map[uint64]{xsyncv3.NewMapOf[uint64, uint64](xsyncv3.WithGrowOnly())}
		},
		String: func() Runner[string] {
			return xsyncV3Map[string]{xsyncv3.NewMapOf[string, uint64](xsyncv3.WithGrowOnly())}
		},
	},
}

// newMap builds an empty map of contender c for key type K.
func newMap[K Key](c Contender) Runner[K] {
	var m any
	if isString[K]() {
		m = c.String()
	} else {
		m = c.Uint64()
	}
	return m.(Runner[K])
}

// The loops below are the same for every contender but for the calls into
// the map; keep them that way.

// shardmapMap adapts shardmap.Map.
type shardmapMap[K Key] struct{ m *shardmap.Map[K, uint64] }

// newShardmap builds a shardmap.Map with default options.
func newShardmap[K Key]() Runner[K] { return shardmapMap[K]{shardmap.New[K, uint64]()} }

func (a shardmapMap[K]) Load(k K) (uint64, bool) { return a.m.Load(k) }
func (a shardmapMap[K]) Store(k K, v uint64)     { a.m.Store(k, v) }
func (a shardmapMap[K]) Delete(k K)              { a.m.Delete(k) }

// Stats exposes shardmap's internal counters to the report.
func (a shardmapMap[K]) Stats() shardmap.Stats { return a.m.Stats() }

func (a shardmapMap[K]) mixLoop(w *worker[K], n int) {
	m := a.m
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

func (a shardmapMap[K]) loadOrStoreLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		i := w.pick()
		v, _ := m.LoadOrStore(w.storeKey(i), i)
		w.sink += v
	}
	return true
}

func (a shardmapMap[K]) computeLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		v, _ := m.Compute(w.storeKey(w.pick()), func(old uint64, _ bool) (uint64, shardmap.ComputeOp) {
			return old + 1, shardmap.UpdateOp
		})
		w.sink += v
	}
	return true
}

// xsyncV4Map adapts xsync v4's Map.
type xsyncV4Map[K Key] struct{ m *xsyncv4.Map[K, uint64] }

// newXsyncV4 builds an xsync v4 Map with default options.
func newXsyncV4[K Key]() Runner[K] { return xsyncV4Map[K]{xsyncv4.NewMap[K, uint64]()} }

func (a xsyncV4Map[K]) Load(k K) (uint64, bool) { return a.m.Load(k) }
func (a xsyncV4Map[K]) Store(k K, v uint64)     { a.m.Store(k, v) }
func (a xsyncV4Map[K]) Delete(k K)              { a.m.Delete(k) }

func (a xsyncV4Map[K]) mixLoop(w *worker[K], n int) {
	m := a.m
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

func (a xsyncV4Map[K]) loadOrStoreLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		i := w.pick()
		v, _ := m.LoadOrStore(w.storeKey(i), i)
		w.sink += v
	}
	return true
}

func (a xsyncV4Map[K]) computeLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		v, _ := m.Compute(w.storeKey(w.pick()), func(old uint64, _ bool) (uint64, xsyncv4.ComputeOp) {
			return old + 1, xsyncv4.UpdateOp
		})
		w.sink += v
	}
	return true
}

// xsyncV3Map adapts xsync v3's MapOf.
type xsyncV3Map[K Key] struct{ m *xsyncv3.MapOf[K, uint64] }

// newXsyncV3 builds an xsync v3 MapOf with default options.
func newXsyncV3[K Key]() Runner[K] { return xsyncV3Map[K]{xsyncv3.NewMapOf[K, uint64]()} }

func (a xsyncV3Map[K]) Load(k K) (uint64, bool) { return a.m.Load(k) }
func (a xsyncV3Map[K]) Store(k K, v uint64)     { a.m.Store(k, v) }
func (a xsyncV3Map[K]) Delete(k K)              { a.m.Delete(k) }

func (a xsyncV3Map[K]) mixLoop(w *worker[K], n int) {
	m := a.m
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

func (a xsyncV3Map[K]) loadOrStoreLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		i := w.pick()
		v, _ := m.LoadOrStore(w.storeKey(i), i)
		w.sink += v
	}
	return true
}

func (a xsyncV3Map[K]) computeLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		v, _ := m.Compute(w.storeKey(w.pick()), func(old uint64, _ bool) (uint64, bool) {
			return old + 1, false
		})
		w.sink += v
	}
	return true
}

// syncMap adapts sync.Map. Keys and values are boxed, as every sync.Map
// user's are; sync.Map has no Compute.
type syncMap[K Key] struct{ m *sync.Map }

// newSyncMap builds an empty sync.Map.
func newSyncMap[K Key]() Runner[K] { return syncMap[K]{new(sync.Map)} }

func (a syncMap[K]) Load(k K) (uint64, bool) {
	v, ok := a.m.Load(k)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}
func (a syncMap[K]) Store(k K, v uint64) { a.m.Store(k, v) }
func (a syncMap[K]) Delete(k K)          { a.m.Delete(k) }

func (a syncMap[K]) mixLoop(w *worker[K], n int) {
	m := a.m
	for range n {
		switch w.op() {
		case opLoad:
			if v, ok := m.Load(w.loadKey(w.pick())); ok {
				w.sink += v.(uint64)
			}
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

func (a syncMap[K]) loadOrStoreLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		i := w.pick()
		v, _ := m.LoadOrStore(w.storeKey(i), i)
		w.sink += v.(uint64)
	}
	return true
}

func (a syncMap[K]) computeLoop(*worker[K], int) bool { return false }

// rwMap is a Go map guarded by one sync.RWMutex.
type rwMap[K Key] struct {
	// mu guards m.
	mu sync.RWMutex
	// m holds the entries.
	m map[K]uint64
}

// newRWMap builds an empty RWMutex-guarded map.
func newRWMap[K Key]() Runner[K] { return &rwMap[K]{m: make(map[K]uint64)} }

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

// loadOrStore is LoadOrStore as a program using this map would write it.
func (a *rwMap[K]) loadOrStore(k K, v uint64) (uint64, bool) {
	a.mu.RLock()
	old, ok := a.m[k]
	a.mu.RUnlock()
	if ok {
		return old, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.m[k]; ok {
		return old, true
	}
	a.m[k] = v
	return v, false
}

// increment adds 1 to k's value under the write lock.
func (a *rwMap[K]) increment(k K) uint64 {
	a.mu.Lock()
	v := a.m[k] + 1
	a.m[k] = v
	a.mu.Unlock()
	return v
}

func (a *rwMap[K]) mixLoop(w *worker[K], n int) {
	for range n {
		switch w.op() {
		case opLoad:
			v, _ := a.Load(w.loadKey(w.pick()))
			w.sink += v
		case opStore:
			i := w.storeIndex()
			a.Store(w.storeKey(i), i)
		case opDelete:
			i := w.pick()
			a.Delete(w.storeKey(i))
			w.deleted(i)
		}
	}
}

func (a *rwMap[K]) loadOrStoreLoop(w *worker[K], n int) bool {
	for range n {
		i := w.pick()
		v, _ := a.loadOrStore(w.storeKey(i), i)
		w.sink += v
	}
	return true
}

func (a *rwMap[K]) computeLoop(w *worker[K], n int) bool {
	for range n {
		w.sink += a.increment(w.storeKey(w.pick()))
	}
	return true
}

// cmapMap adapts concurrent-map v2. It has no LoadOrStore (SetIfAbsent
// does not return the present value); Upsert is its Compute.
type cmapMap[K Key] struct{ m cmap.ConcurrentMap[K, uint64] }

// newCmapUint64 shards uint64 keys by a mixed 32-bit fold of the key;
// concurrent-map has no built-in sharding for integer keys.
func newCmapUint64() Runner[uint64] {
	return cmapMap[uint64]{cmap.NewWithCustomShardingFunction[uint64, uint64](func(k uint64) uint32 {
		return uint32(mix64(k) >> 32)
	})}
}

// newCmapString uses concurrent-map's own FNV-32 string sharding.
func newCmapString() Runner[string] { return cmapMap[string]{cmap.New[uint64]()} }

func (a cmapMap[K]) Load(k K) (uint64, bool) { return a.m.Get(k) }
func (a cmapMap[K]) Store(k K, v uint64)     { a.m.Set(k, v) }
func (a cmapMap[K]) Delete(k K)              { a.m.Remove(k) }

func (a cmapMap[K]) mixLoop(w *worker[K], n int) {
	m := a.m
	for range n {
		switch w.op() {
		case opLoad:
			v, _ := m.Get(w.loadKey(w.pick()))
			w.sink += v
		case opStore:
			i := w.storeIndex()
			m.Set(w.storeKey(i), i)
		case opDelete:
			i := w.pick()
			m.Remove(w.storeKey(i))
			w.deleted(i)
		}
	}
}

func (a cmapMap[K]) loadOrStoreLoop(*worker[K], int) bool { return false }

func (a cmapMap[K]) computeLoop(w *worker[K], n int) bool {
	m := a.m
	for range n {
		w.sink += m.Upsert(w.storeKey(w.pick()), 0, func(_ bool, old, _ uint64) uint64 { return old + 1 })
	}
	return true
}
