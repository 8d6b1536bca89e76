package main

// This file holds the shared tier: the in-process cache as the near tier,
// over a Redis (or Redis Cluster) that every instance of a fleet shares,
// through rediscache.
//
// Why the near tier is this package's cache.Cache and not rediscache's.
// The store needs from its tier what rediscache's near tier does not
// offer: iteration (purging variants, the status page), the total weight
// (the byte bound and its metric) and the very entry it stored (a
// background refresh checks it still holds the entry it found). And an
// instance that stores a response should serve its next hit from memory,
// while rediscache's Set leaves the near tier empty. So rediscache is used
// for what it is made for, the Redis side: tracked reads (one in flight
// per key), deadlines, and RESP3 invalidations, which it passes on through
// Options.Redis.OnInvalidations. Its own near tier is held to one entry.
//
// Coherence is kept the way rediscache keeps its own: Redis pushes an
// invalidation for every key this instance has read once that key changes
// (a purge, another instance's store, an expiry, an eviction), and the key
// is dropped from the near tier. A read's value is kept near only if no
// invalidation of its key's stripe, and no flush, happened between the
// moment before the read was sent and the fill, checked under the
// stripe's mutex, which invalidations take too: either the fill comes
// first and the invalidation removes it, or the fill is dropped. The
// ticket is taken before the read is sent, earlier than rediscache's own
// (at the reply), so it drops more fills, never fewer. A lost connection
// (or a FLUSHALL) flushes the whole near tier, since invalidations may
// have been missed.
//
// An instance that stores a response writes it to Redis, then reads it
// back as a tracked read, so that Redis will tell it when the key
// changes, and keeps that value near. If Redis fails or misses its
// deadline, nothing is kept near (no invalidation could reach it): the
// response is served once and the next request goes to the origin again,
// so an outage costs origin requests, never a response purged elsewhere.

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/cache"
	"github.com/shardmap/shardmap/rediscache"
)

// sharedConfig configures a shared tier.
type sharedConfig struct {
	// Addrs are the Redis addresses: one standalone server, or one or
	// more nodes of a Redis Cluster (the client finds out which).
	Addrs []string
	// Prefix goes before every key in Redis, so that several fleets (or
	// other data) can share one Redis.
	Prefix string
	// Timeout is the deadline of each Redis call; 0 means
	// rediscache.DefaultTimeout.
	Timeout time.Duration
}

// numSharedStripes is the number of stripes fills and invalidations are
// ordered by. A power of two.
const numSharedStripes = 64

// sharedStripe orders the fills and invalidations of the keys that hash
// to it.
type sharedStripe struct {
	// mu guards invalidations and orders fills against invalidations.
	mu sync.Mutex
	// invalidations counts invalidations of the stripe's keys. Guarded by
	// mu.
	invalidations uint64
	_             [48]byte // keep neighbouring stripes' mutexes apart
}

// sharedTicket is what a fill proves no invalidation overtook it with.
type sharedTicket struct {
	s             *sharedStripe
	invalidations uint64
	flushes       uint64
}

// sharedTier is a tier: near over Redis. Safe for concurrent use.
type sharedTier struct {
	// near holds this instance's entries. Set by newSharedTier.
	near *cache.Cache[string, *entry]
	// redis is the shared tier's client. Set by newSharedTier (after it
	// has started, invalidations may arrive).
	redis *rediscache.Cache[*entry]
	// prefix is sharedConfig.Prefix. Read-only.
	prefix string
	// remaining returns how long an entry read from Redis may stay near:
	// what is left of its time to live in Redis. Read-only.
	remaining func(e *entry) time.Duration
	// log receives Redis failures at debug level. Read-only.
	log *slog.Logger

	stripes [numSharedStripes]sharedStripe
	// flushMu is held while a flush marks every stripe, so that a fill
	// either completes before it or sees it.
	flushMu sync.Mutex
	// flushes counts flushes; written under every stripe's mu, read under
	// any one.
	flushes atomic.Uint64

	// Counters, updated atomically by lookups and the invalidation
	// handler.
	hits, misses, errors, invalidations atomic.Uint64
}

// newSharedTier connects to Redis and returns a shared tier over near.
// remaining gives the near time to live of an entry read from Redis.
func newSharedTier(cfg sharedConfig, near *cache.Cache[string, *entry], remaining func(*entry) time.Duration, log *slog.Logger) (*sharedTier, error) {
	t := &sharedTier{near: near, prefix: cfg.Prefix, remaining: remaining, log: log}
	rc, err := rediscache.New(rediscache.Options[*entry]{
		Redis: rueidis.ClientOption{
			InitAddress:     cfg.Addrs,
			OnInvalidations: t.onInvalidations,
		},
		Prefix:  cfg.Prefix,
		Timeout: cfg.Timeout,
		Near:    cache.Options[string, *entry]{MaxEntries: 1},
		Codec:   entryCodec{},
	})
	if err != nil {
		return nil, fmt.Errorf("shared tier: %w", err)
	}
	t.redis = rc
	return t, nil
}

// stripe returns key's stripe.
func (t *sharedTier) stripe(key string) *sharedStripe {
	var h uint32 = 2166136261 // FNV-1a; cheap and only for spreading
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &t.stripes[h&(numSharedStripes-1)]
}

// ticket returns a ticket for a read of key about to be sent.
func (t *sharedTier) ticket(key string) sharedTicket {
	s := t.stripe(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return sharedTicket{s: s, invalidations: s.invalidations, flushes: t.flushes.Load()}
}

// fill keeps e near under key unless an invalidation of its stripe or a
// flush happened since tk was taken, or e has no time left.
func (t *sharedTier) fill(tk sharedTicket, key string, e *entry) {
	ttl := t.remaining(e)
	if ttl <= 0 {
		return
	}
	tk.s.mu.Lock()
	defer tk.s.mu.Unlock()
	if tk.s.invalidations != tk.invalidations || t.flushes.Load() != tk.flushes {
		return
	}
	t.near.SetWithTTL(key, e, ttl)
}

// drop removes key's near copy and stops the fills that may predate it.
func (t *sharedTier) drop(key string) {
	s := t.stripe(key)
	s.mu.Lock()
	s.invalidations++
	t.near.Delete(key)
	s.mu.Unlock()
}

// flush drops the whole near tier.
func (t *sharedTier) flush() {
	t.flushMu.Lock()
	for i := range t.stripes {
		t.stripes[i].mu.Lock()
	}
	t.flushes.Add(1)
	for i := range t.stripes {
		t.stripes[i].mu.Unlock()
	}
	t.flushMu.Unlock()
	// Fills that passed their check did so before the count moved, so
	// their entries are in the cache by now and go with the rest.
	var keys []string
	for k := range t.near.All() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		t.near.Delete(k)
	}
}

// onInvalidations handles Redis's invalidation messages, after rediscache
// has: each key this instance read and that changed since, or nil when a
// connection closed or Redis was flushed. It runs on the client's reading
// goroutine, so it only deletes.
func (t *sharedTier) onInvalidations(keys []rueidis.RedisMessage) {
	if keys == nil {
		t.flush()
		return
	}
	for i := range keys {
		rk, err := keys[i].ToString()
		if err != nil {
			continue
		}
		if key, ok := strings.CutPrefix(rk, t.prefix); ok {
			t.invalidations.Add(1)
			t.drop(key)
		}
	}
}

// Get returns key's entry from the near tier, else from Redis (keeping it
// near). A Redis failure or a missed deadline is a miss.
func (t *sharedTier) Get(key string) (*entry, bool) {
	if e, ok := t.near.Get(key); ok {
		return e, true
	}
	tk := t.ticket(key)
	e, found, err := t.redis.Get(context.Background(), key)
	switch {
	case err != nil:
		t.errors.Add(1)
		t.log.Debug("shared tier read failed", "key", key, "err", err)
		return nil, false
	case !found:
		t.misses.Add(1)
		return nil, false
	}
	t.hits.Add(1)
	t.fill(tk, key, e)
	return e, true
}

// SetWithTTL writes e to Redis for ttl, then reads it back (tracked, so
// that this instance hears of its next change) into the near tier. If
// Redis fails, e is kept nowhere.
func (t *sharedTier) SetWithTTL(key string, e *entry, ttl time.Duration) {
	ctx := context.Background()
	err := t.redis.SetWithTTL(ctx, key, e, ttl)
	t.drop(key) // what was near is outdated either way
	if err != nil {
		t.errors.Add(1)
		t.log.Debug("shared tier write failed", "key", key, "err", err)
		return
	}
	tk := t.ticket(key)
	v, found, err := t.redis.Get(ctx, key)
	switch {
	case err != nil:
		t.errors.Add(1)
		t.log.Debug("shared tier read after write failed", "key", key, "err", err)
	case found:
		t.fill(tk, key, v)
	}
}

// Delete removes key from Redis, which tells every instance that read it
// to drop its copy, and from this instance's near tier.
func (t *sharedTier) Delete(key string) {
	err := t.redis.Delete(context.Background(), key)
	t.drop(key)
	if err != nil {
		t.errors.Add(1)
		t.log.Warn("shared tier delete failed; other instances keep their copies until their Redis connections are declared dead", "key", key, "err", err)
	}
}

// All iterates over the near tier: this instance's entries.
func (t *sharedTier) All() iter.Seq2[string, *entry] { return t.near.All() }

// Len returns the number of near entries.
func (t *sharedTier) Len() int { return t.near.Len() }

// Weight returns the total weight of the near entries.
func (t *sharedTier) Weight() uint64 { return t.near.Weight() }

// Close closes the Redis client and the near tier.
func (t *sharedTier) Close() {
	t.redis.Close()
	t.near.Close()
}
