// Package cache provides Cache, a bounded concurrent in-memory cache with
// per-entry time to live, S3-FIFO eviction, and loaders that run once per
// missing key.
//
// A hit takes no lock. Writers (Set, Delete, eviction, expiry) serialize on
// one mutex, so the bound is exact: the cache never holds more entries, or
// more weight, than it was given, and a value Set is there for the next Get
// unless the bound pushed it out since.
package cache

// Design
//
// Index. A shardmap.Map maps each key to a *node holding the value, the
// deadline, the weight and the policy's links. Get is Map.Load (lock-free),
// a deadline check, and touch (node.freq): one atomic load, and a
// compare-and-swap only while the 2-bit counter is below 3. Nodes are never
// changed in place where a reader could see it: Set builds a new node and
// swaps it into the index, and the new node takes the old one's place in
// the policy queue and the expiry heap. No read buffer: an access is
// recorded on the node itself, when it happens, or (rarely, under a race
// with another increment) not at all.
//
// Policy. S3-FIFO (Yang et al., SOSP 2023): new keys enter a small FIFO
// holding a tenth of the bound; a key read at least once while there moves
// to the main FIFO when it reaches the tail, otherwise it is evicted and its
// hash goes to a ghost FIFO; a key whose hash is in the ghost queue enters
// the main FIFO directly. The main FIFO gives a node at its tail another lap
// per access counted (up to 3). One-hit wonders and scans pass through the
// small queue without disturbing the main one, and frequently read keys
// stay. Unlike LRU, a hit moves nothing, which is what lets Get skip the
// lock.
//
// One policy behind one mutex, not one per shard. Striping the policy
// would let writers to different stripes run in parallel, but every stripe
// would then get bound/stripes: a stripe that happens to draw more hot keys
// evicts them while others hold cold ones, a stripe smaller than one heavy
// value cannot hold it at all, and a small cache (say 10 entries on 64
// stripes) does not work. The single policy keeps the bound exact, the
// frequency view global, and the code small. The mutex is held only on the
// write path, for a few pointer updates plus the index write, and never
// while user code runs (OnEvict callbacks fire after it is released;
// loaders run in their own goroutine). Reads, the common case of a cache,
// never touch it.
//
// Bound. Every insert first evicts until the new weight fits, then stores:
// the index, Len and Weight never exceed the bound, even momentarily. A
// replacement keeps the old node in the index until the new one replaces
// it, so a concurrent Get sees the old value or the new one, never a miss.
// Expired entries are evicted before live ones.
//
// Expiry. Deadlines are nanoseconds since the cache was made, read from the
// monotonic clock (time.Since), so wall-clock jumps do not expire entries. Get
// checks the deadline and never returns an expired value. Entries with a
// deadline sit in a min-heap; one sweeper goroutine per cache, started when
// the first deadline appears, wakes on a timer (10ms to 1s, aimed at the
// earliest deadline), removes at most 256 expired entries per lock hold, and
// comes back soon if it hit that limit. Close stops it; so does the cache
// becoming unreachable (it holds the cache only through a weak pointer).
//
// Loads. In-flight loads live in a second shardmap.Map keyed like the
// index, see load.go.

import (
	"context"
	"hash/maphash"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardmap/shardmap"
)

// Cache is a bounded concurrent cache from K to V. Make one with New; the
// zero Cache is not usable. All methods are safe for concurrent use.
type Cache[K comparable, V any] struct {
	// index maps keys to nodes. Written under mu; read by anyone.
	index *shardmap.Map[K, *node[K, V]]
	// calls maps keys to their in-flight loads (load.go).
	calls *shardmap.Map[K, *call[V]]
	// loading counts the entries in calls.
	loading atomic.Int64

	// mu serializes writers: the index's writes, the policy, the heap, and
	// the counts below.
	mu  sync.Mutex
	pol policy[K, V]
	exp expiryHeap[K, V]
	// sweeping is set once the sweeper goroutine is started.
	sweeping bool
	// count and weight are the number and total weight of entries; written
	// under mu, loaded by Len and Weight.
	count  atomic.Int64
	weight atomic.Uint64

	max     uint64
	weigher func(K, V) uint32
	ttl     time.Duration
	onEvict func(K, V, Reason)
	seed    maphash.Seed
	// epoch is time zero for deadlines.
	epoch time.Time
	hooks hooks

	stats  stats
	closed atomic.Bool
	lc     *lifecycle
	// loadCtx is cancelled by Close; every loader's context is cancelled
	// with it.
	loadCtx context.Context
}

// hooks are test seams; the zero value is production behaviour.
type hooks struct {
	// clock replaces time.Now.
	clock func() time.Time
	// sweepEvery fixes the sweeper's period.
	sweepEvery time.Duration
	// swept, if set, receives a value after each sweep.
	swept chan struct{}
	// noSweeper keeps the background sweeper from starting, for tests
	// that sweep by hand and must see every removal in step.
	noSweeper bool
}

// New returns an empty Cache configured by opts, or an error wrapping
// ErrInvalidOptions if opts are inconsistent: a negative size or TTL, both
// or neither of MaxEntries and MaxWeight, or a Weigher without MaxWeight
// (or the reverse).
func New[K comparable, V any](opts Options[K, V]) (*Cache[K, V], error) {
	return newCache(opts, hooks{})
}

// newCache is New with test hooks.
func newCache[K comparable, V any](opts Options[K, V], hk hooks) (*Cache[K, V], error) {
	max, err := opts.bound()
	if err != nil {
		return nil, err
	}
	c := &Cache[K, V]{
		index:   shardmap.New[K, *node[K, V]](),
		calls:   shardmap.New[K, *call[V]](shardmap.WithShards(16)),
		pol:     newPolicy[K, V](max),
		max:     max,
		weigher: opts.Weigher,
		ttl:     opts.TTL,
		onEvict: opts.OnEvict,
		seed:    maphash.MakeSeed(),
		hooks:   hk,
		stats:   newStats(),
	}
	c.epoch = c.wallNow()
	var cancel context.CancelFunc
	c.loadCtx, cancel = context.WithCancel(context.Background())
	c.lc = &lifecycle{
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		cancelLoads: cancel,
	}
	if opts.TTL > 0 {
		c.mu.Lock()
		c.startSweeperLocked()
		c.mu.Unlock()
	}
	// A Cache dropped without Close still stops its sweeper.
	runtime.AddCleanup(c, (*lifecycle).shutdown, c.lc)
	return c, nil
}

// wallNow returns the current time from the clock hook or time.Now.
func (c *Cache[K, V]) wallNow() time.Time {
	if c.hooks.clock != nil {
		return c.hooks.clock()
	}
	return time.Now()
}

// now returns the time in nanoseconds since the cache's epoch.
func (c *Cache[K, V]) now() int64 {
	if c.hooks.clock != nil {
		return int64(c.hooks.clock().Sub(c.epoch))
	}
	return int64(time.Since(c.epoch))
}

// deadline returns the deadline for an entry written at now with ttl; 0
// (never) if ttl is not positive.
func deadline(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	d := int64(ttl)
	if now > 0 && d > 1<<63-1-now {
		return 1<<63 - 1
	}
	return max(now+d, 1)
}

// Get returns the value for key and whether it was found. It takes no lock;
// an entry whose time to live has passed is not found.
func (c *Cache[K, V]) Get(key K) (value V, ok bool) {
	n, ok := c.index.Load(key)
	if !ok || (n.expires != 0 && n.expired(c.now())) {
		c.stats.miss()
		return value, false
	}
	n.touch()
	c.stats.hit()
	return n.value, true
}

// Set stores value for key with the cache's default TTL, evicting other
// entries first if the bound requires it. A previous value is reported to
// OnEvict as Replaced. A value heavier than MaxWeight is not stored: any
// previous value is removed (Replaced) and the new one is reported as
// Evicted at once. So is a value for a key that is not equal to itself (a
// floating-point NaN, or a struct or array holding one), which no Get could
// find.
func (c *Cache[K, V]) Set(key K, value V) {
	c.set(key, value, c.ttl)
}

// SetWithTTL is Set with its own time to live; a ttl of 0 or less means the
// entry never expires.
func (c *Cache[K, V]) SetWithTTL(key K, value V, ttl time.Duration) {
	c.set(key, value, max(ttl, 0))
}

func (c *Cache[K, V]) set(key K, value V, ttl time.Duration) {
	rs := c.removals()
	// Compare and weigh before locking, so that a key that panics when
	// compared (an interface holding a slice) or a panicking Weigher leaves
	// the cache unlocked and unchanged.
	if key != key { // a NaN: no Get could find it, nor eviction remove it
		c.stats.evictions.Add(1)
		rs.add(key, value, Evicted)
		rs.fire()
		return
	}
	w := c.weigh(key, value)
	now := c.now()
	c.mu.Lock()
	c.invalidateLocked(key)
	c.setLocked(key, value, w, deadline(now, ttl), now, &rs)
	c.mu.Unlock()
	rs.fire()
}

// weigh returns the weight of an entry: 1 without a Weigher, and never 0.
func (c *Cache[K, V]) weigh(key K, value V) uint32 {
	if c.weigher == nil {
		return 1
	}
	return max(c.weigher(key, value), 1)
}

// setLocked stores value, of weight w, for key, which must equal itself,
// with deadline expires. Caller holds c.mu.
func (c *Cache[K, V]) setLocked(key K, value V, w uint32, expires, now int64, rs *removals[K, V]) {
	old, _ := c.index.Load(key)
	if old != nil && old.expired(now) {
		c.dropLocked(old, Expired, rs)
		old = nil
	}
	if uint64(w) > c.max {
		if old != nil {
			c.dropLocked(old, Replaced, rs)
		}
		c.stats.evictions.Add(1)
		rs.add(key, value, Evicted)
		return
	}
	n := &node[K, V]{key: key, value: value, expires: expires, weight: w, heapIdx: -1}
	if expires != 0 {
		c.startSweeperLocked()
	}
	if old == nil {
		n.hash = maphash.Comparable(c.seed, key)
		c.makeRoomLocked(uint64(w), now, rs)
		c.pol.insert(n)
		if expires != 0 {
			c.exp.push(n)
		}
		c.index.Store(key, n)
		c.count.Add(1)
		c.weight.Add(uint64(w))
		return
	}

	// A write counts as an access.
	n.hash = old.hash
	n.freq.Store(min(old.freq.Load()+1, maxFreq))
	rs.add(old.key, old.value, Replaced)
	if c.weight.Load()-uint64(old.weight)+uint64(w) <= c.max {
		c.pol.replace(old, n)
		switch {
		case old.heapIdx >= 0 && expires != 0:
			c.exp.replace(old, n)
		case old.heapIdx >= 0:
			c.exp.remove(old)
		case expires != 0:
			c.exp.push(n)
		}
		c.index.Store(key, n)
		c.weight.Add(uint64(w) - uint64(old.weight))
		return
	}
	// The heavier value needs room. Take old out of the policy (it stays
	// in the index, so readers see it until n replaces it), evict, then
	// put n at the head of old's queue.
	q := old.queue
	c.pol.remove(old)
	c.exp.remove(old)
	c.weight.Add(-uint64(old.weight))
	c.makeRoomLocked(uint64(w), now, rs)
	c.pol.reinsert(n, q)
	if expires != 0 {
		c.exp.push(n)
	}
	c.index.Store(key, n)
	c.weight.Add(uint64(w))
}

// makeRoomLocked evicts entries until need more weight fits under the
// bound: expired entries first, then the policy's victims. need must not
// exceed the bound. Caller holds c.mu.
func (c *Cache[K, V]) makeRoomLocked(need uint64, now int64, rs *removals[K, V]) {
	for c.weight.Load()+need > c.max {
		if n := c.exp.peek(); n != nil && n.expired(now) {
			c.dropLocked(n, Expired, rs)
			continue
		}
		n := c.pol.evict()
		if n == nil {
			return // unreachable while the accounting is right
		}
		reason := Evicted
		if n.expired(now) {
			reason = Expired
		}
		c.unindexLocked(n, reason, rs)
	}
}

// dropLocked removes n, which is in the cache, for reason. Caller holds
// c.mu.
func (c *Cache[K, V]) dropLocked(n *node[K, V], reason Reason, rs *removals[K, V]) {
	c.pol.remove(n)
	c.unindexLocked(n, reason, rs)
}

// unindexLocked removes n, already out of the policy, from the index and
// the heap, and accounts for it. Caller holds c.mu.
func (c *Cache[K, V]) unindexLocked(n *node[K, V], reason Reason, rs *removals[K, V]) {
	c.exp.remove(n)
	c.index.Delete(n.key)
	c.count.Add(-1)
	c.weight.Add(-uint64(n.weight))
	switch reason {
	case Evicted:
		c.stats.evictions.Add(1)
	case Expired:
		c.stats.expirations.Add(1)
	}
	rs.add(n.key, n.value, reason)
}

// Delete removes key's entry, reporting it to OnEvict as Deleted (or
// Expired, if its time to live had passed). A load of key in flight is
// detached: its callers still get its result, but it is not stored.
func (c *Cache[K, V]) Delete(key K) {
	if key != key { // a NaN is never stored; also panics, unlocked, for an uncomparable key
		return
	}
	rs := c.removals()
	now := c.now()
	c.mu.Lock()
	c.invalidateLocked(key)
	if n, ok := c.index.Load(key); ok {
		reason := Deleted
		if n.expired(now) {
			reason = Expired
		}
		c.dropLocked(n, reason, &rs)
	}
	c.mu.Unlock()
	rs.fire()
}

// Len returns the number of entries, counting expired ones not yet
// reclaimed. It takes no lock.
func (c *Cache[K, V]) Len() int {
	return int(c.count.Load())
}

// Weight returns the total weight of the entries, counting expired ones not
// yet reclaimed; without a Weigher it equals Len. It takes no lock.
func (c *Cache[K, V]) Weight() uint64 {
	return c.weight.Load()
}

// All returns an iterator over the unexpired entries. It takes no lock and
// has the guarantees of shardmap.Map.Range: no key twice, and every key
// present and unchanged for the whole iteration. It does not count as
// access for eviction or for Stats.
func (c *Cache[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, n := range c.index.All() {
			if n.expires != 0 && n.expired(c.now()) {
				continue
			}
			if !yield(k, n.value) {
				return
			}
		}
	}
}

// Close stops the cache's background sweeper, waits for it to return, and
// cancels the contexts of running loaders. The cache stays usable: Get,
// Set and Delete still work and expired values are still never returned,
// but expired entries are no longer reclaimed in the background, and
// GetOrLoad returns ErrClosed instead of loading. Close is idempotent. It
// must not be called from OnEvict.
func (c *Cache[K, V]) Close() {
	c.mu.Lock()
	c.closed.Store(true)
	started := c.sweeping
	c.mu.Unlock()
	c.lc.shutdown()
	if started {
		<-c.lc.done
	}
}

// removal is one value on its way to OnEvict.
type removal[K comparable, V any] struct {
	key    K
	value  V
	reason Reason
}

// removals collects what a locked section removed, to report once the lock
// is released. The first two need no allocation.
type removals[K comparable, V any] struct {
	fn     func(K, V, Reason)
	inline [2]removal[K, V]
	n      int
	extra  []removal[K, V]
}

// removals returns an empty collector; it records nothing without OnEvict.
func (c *Cache[K, V]) removals() removals[K, V] {
	return removals[K, V]{fn: c.onEvict}
}

func (r *removals[K, V]) add(key K, value V, reason Reason) {
	if r.fn == nil {
		return
	}
	if r.n < len(r.inline) {
		r.inline[r.n] = removal[K, V]{key, value, reason}
		r.n++
		return
	}
	r.extra = append(r.extra, removal[K, V]{key, value, reason})
}

// fire calls OnEvict for each removal, in order.
func (r *removals[K, V]) fire() {
	for i := range r.n {
		x := &r.inline[i]
		r.fn(x.key, x.value, x.reason)
	}
	for i := range r.extra {
		x := &r.extra[i]
		r.fn(x.key, x.value, x.reason)
	}
}
