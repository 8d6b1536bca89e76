package main

import (
	"github.com/dgraph-io/ristretto/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"
	"github.com/shardmap/shardmap/cache"
)

// BoundedCache is the common surface every cache contender is adapted to:
// uint64 keys and values, Load for a lookup and Store for an insert or
// update, as in Map, plus Close to release the cache's goroutines.
type BoundedCache interface {
	Map[uint64]
	Close()
}

// CacheContender names one bounded cache implementation and builds empty
// instances of it.
type CacheContender struct {
	// Name identifies the contender in tables; no spaces or slashes.
	Name string
	// New returns an empty cache bounded to n entries, otherwise built with
	// the implementation's defaults.
	New func(n int) BoundedCache
	// Note, if not empty, says how the adapter uses the cache, for the
	// report.
	Note string
}

// cacheBaseline is the cache contender ratios and differences are computed
// against.
const cacheBaseline = "otter-v2"

// hitRatioCaches returns the caches of the hit-ratio workloads, shardmap's
// first: W-TinyLFU over CLOCK segments, otter's W-TinyLFU as its users
// run it and with its maintenance kept in step, and an LRU.
func hitRatioCaches() []CacheContender {
	return []CacheContender{shardmapCacheContender, otterContender, otterSyncContender, lruContender}
}

// speedCaches returns the caches of the cache throughput and memory
// workloads, shardmap's first.
func speedCaches() []CacheContender {
	return []CacheContender{shardmapCacheContender, otterContender, ristrettoContender}
}

var (
	shardmapCacheContender = CacheContender{Name: "shardmap-cache", New: newShardmapCache}
	otterContender         = CacheContender{Name: "otter-v2", New: newOtter}
	lruContender           = CacheContender{Name: "golang-lru-v2", New: newLRU}
	otterSyncContender     = CacheContender{
		Name: otterSyncName, New: newOtterSync,
		Note: "otter v2 with an Executor that runs its maintenance (eviction included) in the goroutine that scheduled it, " +
			"so that eviction keeps up with a one-goroutine replay and the cache holds no more than its bound. With otter's default " +
			"executor, maintenance runs in another goroutine, and a replay in a tight loop outruns it: the cache then holds many times " +
			"its bound (see the peak column of the real-trace table) and its hit ratio is that of a larger cache, varying from run to run.",
	}
	ristrettoContender = CacheContender{
		Name: "ristretto-v2", New: newRistretto,
		Note: "Set goes through a buffer that is applied asynchronously and may drop writes under contention, " +
			"and its admission policy may refuse a new key. The adapter prefills it waiting for the buffered writes every 1024 Sets, " +
			"and the report shows how many of the keys each cache then held.",
	}
)

// shardmapCache adapts shardmap/cache.
type shardmapCache struct{ c *cache.Cache[uint64, uint64] }

// newShardmapCache builds a shardmap/cache bounded to n entries.
func newShardmapCache(n int) BoundedCache {
	c, err := cache.New(cache.Options[uint64, uint64]{MaxEntries: n})
	if err != nil {
		panic(err)
	}
	return shardmapCache{c}
}

func (a shardmapCache) Load(k uint64) (uint64, bool) { return a.c.Get(k) }
func (a shardmapCache) Store(k, v uint64)            { a.c.Set(k, v) }
func (a shardmapCache) Delete(k uint64)              { a.c.Delete(k) }
func (a shardmapCache) Close()                       { a.c.Close() }
func (a shardmapCache) Len() int                     { return a.c.Len() }

// otterSyncName names the otter contender whose maintenance runs inline.
const otterSyncName = "otter-v2-sync"

// newOtterSync builds an otter v2 cache bounded to n entries whose
// maintenance runs in the goroutine that schedules it.
func newOtterSync(n int) BoundedCache {
	return otterCache{otter.Must(&otter.Options[uint64, uint64]{MaximumSize: n, Executor: func(f func()) { f() }})}
}

// otterCache adapts otter v2.
type otterCache struct{ c *otter.Cache[uint64, uint64] }

// newOtter builds an otter v2 cache bounded to n entries. Its maintenance
// runs on otter's default executor, as it does for any user who does not
// set one.
func newOtter(n int) BoundedCache {
	return otterCache{otter.Must(&otter.Options[uint64, uint64]{MaximumSize: n})}
}

func (a otterCache) Load(k uint64) (uint64, bool) { return a.c.GetIfPresent(k) }
func (a otterCache) Store(k, v uint64)            { a.c.Set(k, v) }
func (a otterCache) Delete(k uint64)              { a.c.Invalidate(k) }
func (a otterCache) Close()                       { a.c.StopAllGoroutines() }
func (a otterCache) Len() int                     { return a.c.EstimatedSize() }

// Wait runs the maintenance otter has pending (CleanUp).
func (a otterCache) Wait() { a.c.CleanUp() }

// lruCache adapts hashicorp/golang-lru v2's mutex-guarded LRU.
type lruCache struct{ c *lru.Cache[uint64, uint64] }

// newLRU builds a golang-lru cache bounded to n entries.
func newLRU(n int) BoundedCache {
	c, err := lru.New[uint64, uint64](n)
	if err != nil {
		panic(err)
	}
	return lruCache{c}
}

func (a lruCache) Load(k uint64) (uint64, bool) { return a.c.Get(k) }
func (a lruCache) Store(k, v uint64)            { a.c.Add(k, v) }
func (a lruCache) Delete(k uint64)              { a.c.Remove(k) }
func (a lruCache) Close()                       {}
func (a lruCache) Len() int                     { return a.c.Len() }

// ristrettoCache adapts ristretto v2.
type ristrettoCache struct {
	c *ristretto.Cache[uint64, uint64]
}

// newRistretto builds a ristretto v2 cache holding n entries of cost 1,
// with the counter count (10 per entry) and buffer size its documentation
// recommends.
func newRistretto(n int) BoundedCache {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, uint64]{
		NumCounters:        10 * int64(n),
		MaxCost:            int64(n),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic(err)
	}
	return ristrettoCache{c}
}

func (a ristrettoCache) Load(k uint64) (uint64, bool) { return a.c.Get(k) }
func (a ristrettoCache) Store(k, v uint64)            { a.c.Set(k, v, 1) }
func (a ristrettoCache) Delete(k uint64)              { a.c.Del(k) }
func (a ristrettoCache) Close()                       { a.c.Close() }

// Wait blocks until the writes buffered so far are applied.
func (a ristrettoCache) Wait() { a.c.Wait() }

// fill stores key i with value i for every key, waiting for the buffered
// writes every 1024 stores: one goroutine storing back to back outruns the
// goroutine that applies them, and the buffer then drops most writes.
func (a ristrettoCache) fill(keys []uint64) {
	for i, k := range keys {
		a.c.Set(k, uint64(i), 1)
		if i%1024 == 1023 {
			a.c.Wait()
		}
	}
	a.c.Wait()
}

// settle applies c's buffered writes and pending maintenance, if it defers
// any. The throughput and memory workloads call it after prefilling.
func settle(c BoundedCache) {
	if w, ok := c.(interface{ Wait() }); ok {
		w.Wait()
	}
}

// fill stores key i with value i for every key into c, then settles it.
// A cache whose adapter knows a way to get every key in (see
// ristrettoCache.fill) is filled that way.
func fill(c BoundedCache, keys []uint64) {
	if f, ok := c.(interface{ fill([]uint64) }); ok {
		f.fill(keys)
	} else {
		prefill[uint64](c, keys)
	}
	settle(c)
}

// resident returns how many of keys c holds.
func resident(c BoundedCache, keys []uint64) int {
	n := 0
	for _, k := range keys {
		if _, ok := c.Load(k); ok {
			n++
		}
	}
	return n
}
