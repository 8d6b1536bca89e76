package rediscache

import (
	"sync"
	"sync/atomic"
)

// Stats counts what a Cache has done since New.
type Stats struct {
	// NearHits and NearMisses count lookups (Get, GetOrLoad) that found or
	// did not find their key in the near tier.
	NearHits, NearMisses uint64
	// SharedHits and SharedMisses count Redis reads that found or did not
	// find the key: one per flight, however many callers shared it.
	SharedHits, SharedMisses uint64
	// Loads counts loader calls that returned, LoadErrors those of them
	// that returned an error or panicked.
	Loads, LoadErrors uint64
	// Invalidations counts keys dropped from the near tier by Redis's
	// invalidation messages; Flushes counts whole-tier flushes (a
	// connection closed, a FLUSHALL, Close).
	Invalidations, Flushes uint64
	// RedisErrors counts Redis calls that failed or ran past
	// Options.Timeout. CodecErrors counts values that failed to encode or
	// decode.
	RedisErrors, CodecErrors uint64
	// LostFills counts Redis reads whose value was not kept in the near
	// tier because an invalidation or flush may have overtaken it.
	LostFills uint64
	// NearEntries is the number of entries in the near tier now.
	NearEntries int
}

// counters are the Cache's own counts, each updated atomically off the
// near-hit path.
type counters struct {
	nearMisses, recheckHits  atomic.Uint64
	sharedHits, sharedMisses atomic.Uint64
	loads, loadErrors        atomic.Uint64
	invalidations, flushes   atomic.Uint64
	redisErrors, codecErrors atomic.Uint64
	lostFills                atomic.Uint64
	// retiredMu guards retiredHits.
	retiredMu sync.Mutex
	// retiredHits sums the near hits of tiers replaced by flushes.
	retiredHits uint64
}

// retire closes a near tier that a flush replaced, keeping its hit count.
func (c *Cache[V]) retire(old *tier[V]) {
	hits := old.near.Stats().Hits
	c.stats.retiredMu.Lock()
	c.stats.retiredHits += hits
	c.stats.retiredMu.Unlock()
	old.near.Close()
}

// Stats returns the cache's counters. Each is read atomically, but not all
// at one instant.
func (c *Cache[V]) Stats() Stats {
	t := c.tier.Load()
	c.stats.retiredMu.Lock()
	hits := c.stats.retiredHits
	c.stats.retiredMu.Unlock()
	// The near tiers also count as hits the rechecks that lookups make
	// under the stripe lock after counting their miss here.
	hits += t.near.Stats().Hits
	hits -= min(hits, c.stats.recheckHits.Load())
	return Stats{
		NearHits:      hits,
		NearMisses:    c.stats.nearMisses.Load(),
		SharedHits:    c.stats.sharedHits.Load(),
		SharedMisses:  c.stats.sharedMisses.Load(),
		Loads:         c.stats.loads.Load(),
		LoadErrors:    c.stats.loadErrors.Load(),
		Invalidations: c.stats.invalidations.Load(),
		Flushes:       c.stats.flushes.Load(),
		RedisErrors:   c.stats.redisErrors.Load(),
		CodecErrors:   c.stats.codecErrors.Load(),
		LostFills:     c.stats.lostFills.Load(),
		NearEntries:   t.near.Len(),
	}
}
