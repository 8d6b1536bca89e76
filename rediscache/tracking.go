package rediscache

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/cache"
)

// Tracking: how the near tier stays coherent with Redis.
//
// Every Redis read that may fill the near tier is a tracked read: rueidis
// sends CLIENT CACHING YES, then PTTL and GET in a MULTI, on a connection
// that has CLIENT TRACKING ON OPTIN, so Redis remembers that the connection
// read the key and pushes an invalidation on that connection the next time
// the key changes (a write by anyone, this instance included, an expiry,
// an eviction, a FLUSHALL). A connection that closes is reported with nil
// keys, as is a FLUSHALL: both flush the whole near tier, since
// invalidations may have been missed.
//
// The race to close is between a read's reply and an invalidation that
// follows it: rueidis hands the reply to the reading goroutine and goes on
// to process the push on its own goroutine, so the push can be handled
// before the reader fills the near tier, and the fill would then store a
// value that Redis has already replaced and will not report again.
//
// Fills therefore hold a ticket: the key's stripe's invalidation count and
// the current tier, as they were when rueidis received the read's reply.
// rueidis calls the connection's CacheStore.Update with each reply before
// it reads the next message from that connection, so the store stamps the
// pending reads of that key there (a read registers before it is sent,
// with a stamp taken then, in case no reply is stamped). An invalidation
// bumps the count and deletes the near copy under the stripe's mutex; a
// fill stores only if, under the same mutex, the count and the tier still
// equal the stamp. Either the fill comes first and the invalidation
// deletes it, or the invalidation comes first and the fill is dropped.
//
// Why stamping at the reply is enough: a write that Redis runs after the
// read pushes its invalidation on the connection that carried the read
// (that is where Redis tracks the key), after the read's reply, so it is
// processed after the stamp. Invalidations processed before the stamp are
// for writes that ran before the read, whose result the read already
// reflects; the invalidation this instance's own Set causes is one of
// those for the Get that follows it. A stamp made by the reply of another
// read of the same key is earlier than the read's own, so it only drops
// more fills. A bump for another key of the same stripe also drops the
// fill, which costs one more Redis read later and never a stale value. A
// flush swaps in a new, empty tier; a fill stamped with the old tier lands
// in the old one, which nothing reads.

// numStripes is the number of stripes keys are spread over. A power of two.
const numStripes = 256

// stripe guards the in-flight reads and the fills of the keys that hash to
// it.
type stripe[V any] struct {
	// mu guards flights and orders invalidations against fills.
	mu sync.Mutex
	// invalidations counts the invalidations of this stripe's keys.
	// Written under mu; loaded without it to take a ticket.
	invalidations atomic.Uint64
	// flights maps keys to their in-flight lookups (flight.go). Guarded by
	// mu.
	flights map[string]*flight[V]
	// reads maps keys to their tracked reads in flight, for the store to
	// stamp. Guarded by mu.
	reads map[string][]*ticket[V]
	_     [32]byte // keep neighbouring stripes' mutexes off one cache line
}

// tier is one generation of the near tier. A flush replaces the Cache's
// tier with a new one; the old one is then never read again.
type tier[V any] struct {
	// near holds the decoded values. Made by newTier, never replaced.
	near *cache.Cache[string, V]
}

// ticket is what a fill needs to prove that no invalidation of its key
// happened since its read's reply arrived.
type ticket[V any] struct {
	// s is the key's stripe. Set by begin, never changed.
	s *stripe[V]
	// t and invalidations are the stamp: the tier and s's count. Set by
	// begin, then once more by stamp when the reply arrives; guarded by
	// s.mu.
	t             *tier[V]
	invalidations uint64
	// stamped is set by stamp. Guarded by s.mu.
	stamped bool
}

// newTier returns an empty near tier.
func (c *Cache[V]) newTier() *tier[V] {
	near, err := cache.New(c.opts.Near)
	if err != nil { // New validated the same options
		panic("rediscache: near tier options rejected after validation: " + err.Error())
	}
	return &tier[V]{near: near}
}

// stripeFor returns key's stripe.
func (c *Cache[V]) stripeFor(key string) *stripe[V] {
	return &c.stripes[maphash.String(c.seed, key)&(numStripes-1)]
}

// begin registers a tracked read of key about to be sent and returns its
// ticket, stamped with the present; end must follow.
func (c *Cache[V]) begin(key string) *ticket[V] {
	s := c.stripeFor(key)
	s.mu.Lock()
	tk := &ticket[V]{s: s, t: c.tier.Load(), invalidations: s.invalidations.Load()}
	if s.reads == nil {
		s.reads = make(map[string][]*ticket[V])
	}
	s.reads[key] = append(s.reads[key], tk)
	s.mu.Unlock()
	return tk
}

// end unregisters a tracked read once its reply (or error) is back.
func (c *Cache[V]) end(key string, tk *ticket[V]) {
	tk.s.mu.Lock()
	rs := tk.s.reads[key]
	if i := slices.Index(rs, tk); i >= 0 {
		rs = slices.Delete(rs, i, i+1)
	}
	if len(rs) == 0 {
		delete(tk.s.reads, key)
	} else {
		tk.s.reads[key] = rs
	}
	tk.s.mu.Unlock()
}

// stamp records the present in the unstamped tickets of key's reads: a
// reply for key has just arrived. It runs on rueidis's reading goroutine.
func (c *Cache[V]) stamp(key string) {
	s := c.stripeFor(key)
	s.mu.Lock()
	for _, tk := range s.reads[key] {
		if !tk.stamped {
			tk.stamped = true
			tk.t, tk.invalidations = c.tier.Load(), s.invalidations.Load()
		}
	}
	s.mu.Unlock()
}

// fill stores v for key in the near tier until deadline, unless the key
// was invalidated or the tier flushed since tk's stamp, or the deadline
// has passed. A zero deadline means none. It reports whether v was stored.
func (c *Cache[V]) fill(tk *ticket[V], key string, v V, deadline time.Time) bool {
	tk.s.mu.Lock()
	defer tk.s.mu.Unlock()
	if tk.s.invalidations.Load() != tk.invalidations || c.tier.Load() != tk.t {
		c.stats.lostFills.Add(1)
		return false
	}
	var ttl time.Duration // 0: only Near.TTL bounds it
	if !deadline.IsZero() {
		if ttl = time.Until(deadline); ttl <= 0 {
			return false
		}
		if c.opts.Near.TTL > 0 {
			ttl = min(ttl, c.opts.Near.TTL)
		}
	} else {
		ttl = c.opts.Near.TTL
	}
	tk.t.near.SetWithTTL(key, v, ttl)
	return true
}

// invalidate drops key's near copy, stops fills whose read may predate the
// change, and detaches key's flight so that no new caller joins it.
func (c *Cache[V]) invalidate(key string) {
	s := c.stripeFor(key)
	s.mu.Lock()
	s.invalidations.Add(1)
	if f := s.flights[key]; f != nil {
		delete(s.flights, key)
	}
	c.tier.Load().near.Delete(key)
	s.mu.Unlock()
}

// flush replaces the near tier with an empty one.
func (c *Cache[V]) flush() {
	c.stats.flushes.Add(1)
	old := c.tier.Swap(c.newTier())
	c.retire(old)
}

// onInvalidations handles the invalidation messages rueidis receives, and
// the nil it reports when a connection closes. It runs on rueidis's reading
// goroutine, so it only deletes.
func (c *Cache[V]) onInvalidations(keys []rueidis.RedisMessage) {
	if keys == nil {
		c.flush()
	}
	for i := range keys {
		rk, err := keys[i].ToString()
		if err != nil || !strings.HasPrefix(rk, c.opts.Prefix) {
			continue
		}
		key := rk[len(c.opts.Prefix):]
		c.stats.invalidations.Add(1)
		c.invalidate(key)
		if c.hooks.invalidated != nil {
			c.hooks.invalidated(key)
		}
	}
	if c.userOnInvalidations != nil {
		c.userOnInvalidations(keys)
	}
}

// trackOnlyStore is the rueidis CacheStore of every connection: it keeps
// nothing, so that rueidis sends every DoCache to Redis (with CLIENT
// CACHING YES, so that Redis tracks the key) while the decoded values live
// once, in the near tier, rather than as raw replies per connection. Its
// Update stamps the tickets of the reads waiting for the reply.
type trackOnlyStore[V any] struct {
	c *Cache[V]
}

// Flight reports a miss, so that rueidis sends the read.
func (trackOnlyStore[V]) Flight(string, string, time.Duration, time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	return rueidis.RedisMessage{}, nil
}

// Update stamps the reads of key and returns the reply's server-side
// expiry (Unix milliseconds), or 0 for none, which rueidis sets on the
// reply handed to the reader.
func (st trackOnlyStore[V]) Update(key, _ string, val rueidis.RedisMessage) int64 {
	if k, ok := strings.CutPrefix(key, st.c.opts.Prefix); ok {
		st.c.stamp(k)
	}
	if pxat := val.CachePXAT(); pxat > 0 {
		return pxat
	}
	return 0
}

// Cancel has nothing to cancel.
func (trackOnlyStore[V]) Cancel(string, string, error) {}

// Delete has nothing to delete: invalidations reach the near tier through
// OnInvalidations.
func (trackOnlyStore[V]) Delete([]rueidis.RedisMessage) {}

// Close has nothing to flush: OnInvalidations(nil) flushes the near tier.
func (trackOnlyStore[V]) Close(error) {}
