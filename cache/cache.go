// Package cache provides Cache, a bounded concurrent in-memory cache with
// per-entry time to live, W-TinyLFU eviction with an adaptive window, and
// loaders that run once per missing key.
//
// A hit takes no lock and writes nothing shared. Writers change the index
// at once and hand the change to the eviction policy through a bounded
// buffer (see Cache for what that promises), so writers of different keys
// do not wait for one another. A Set that replaces the value of an entry
// with no time to live, where the value is one atomic word (an integer, a
// float, a pointer, a map, a channel) and weighs what the old one did,
// writes it into the entry in place: it allocates nothing and leaves the
// policy nothing to do.
//
// Beyond Get, Set and Delete: GetOrLoad and GetAllOrLoad load missing keys
// (one loader call per key however many callers wait, one call for a whole
// batch), Options.RefreshAfter reloads popular entries in the background
// before they go stale, Compute does an atomic read-modify-write of one
// entry, All iterates, and Options.Clock (or a testing/synctest bubble)
// sets the time.
package cache

// Design
//
// Index. A shardmap.Map maps each key to a *node holding the value, the
// weight, the deadline if any, and the policy's bookkeeping. Get is
// Map.Load (lock-free), a deadline check for an entry that has one, and
// touch: one atomic load, and a compare-and-swap while the node's hit count
// is below 15. A node's key, weight and deadline never change while it is
// in the index. Its value changes only where it fits a word the hardware
// swaps atomically (value.go): a Set of such a value, with no deadline or
// refresh time and the old value's weight, swaps it into the node it
// already has, under the index shard's lock, and is done: no allocation, no
// write buffer, no policy work. Any other Set builds a new node and swaps
// it into the index.
//
// Policy. W-TinyLFU with a hill-climbed window over CLOCK segments; see
// policy.go. A hit is recorded on the node, not in a read buffer: the
// policy reads the count when it next looks at the node, so Get does no
// other work.
//
// Writes. Every write but an in-place swap reserves a cell of the write
// buffer (writebuf.go), changes the index, and publishes the change in the
// cell. A Set does the first two in one locked step of the key's index
// shard, where it also decides on a swap in place: it reserves its cell
// there without waiting, and only if the buffer is full does it wait for a
// cell outside the lock and store then. Delete and a load's store reserve
// first. Then writers try the policy's mutex: whoever holds it applies the
// published changes in order, evicting after each one until the cache is
// within its bound, and looks again after unlocking, so no change is left
// behind. A writer that finds the buffer full takes the mutex and drains
// it: writers can be slowed, never dropped. Because the cell is reserved
// before the index changes, the index holds at most writeBufferSize
// entries the policy has not yet accounted for.
//
// Accounting. Len and Weight count what the index holds; the writer that
// adds or removes an index entry updates them at once. Eviction removes a
// node from the index only if the index still holds that node (a
// conditional delete), so a value a writer just stored is never taken out
// in place of the one it replaced. Whoever removes a node from the index
// marks it dead; the policy drops dead nodes when their change comes.
//
// Expiry. Deadlines are nanoseconds since the cache was made, read from the
// clock (time.Since by default, so wall-clock jumps do not expire entries).
// Get checks the deadline and never returns an expired value. Entries with
// a deadline sit in a min-heap; one sweeper goroutine per cache, started
// when the first deadline appears, wakes on a timer (10ms to 1s, aimed at
// the earliest deadline), removes at most 256 expired entries per lock
// hold, and comes back soon if it hit that limit. Close stops it; so does
// the cache becoming unreachable (it holds the cache only through a weak
// pointer).
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
//
// Consistency. A Set is visible to every Get that starts after it returns,
// from any goroutine, until a later write or eviction replaces or removes
// it; no Set is dropped, even when writers outrun eviction. The bound is
// exact whenever no write is in progress: then Len (Weight, with a
// Weigher) is at most MaxEntries (MaxWeight). While writes race, the
// cache may hold up to 128 entries more than the bound (with a Weigher:
// up to the weight of 128 entries more), those whose writes are on their
// way to the evicting goroutine; each is evicted, or evicts another, as
// soon as its writer or another gets the policy's lock.
type Cache[K comparable, V any] struct {
	// The fields up to stats are read by every Get or Set; they are set by
	// New, or once, and kept off the cache lines that writers write, so
	// that a write does not take from readers a line they all hold.

	// index maps keys to nodes. Written by writers (Set, Delete, loads)
	// and, for evictions and expiry, under mu; read by anyone.
	index *shardmap.Map[K, *node[K, V]]
	// calls maps keys to their in-flight loads (load.go).
	calls *shardmap.Map[K, *call[V]]
	// buf carries writes to the policy.
	buf *writeBuffer[K, V]

	max uint64
	// vmode says whether Set may replace a value in its node (value.go).
	vmode   valueMode
	weigher func(K, V) uint32
	ttl     time.Duration
	refresh time.Duration
	onEvict func(K, V, Reason)
	seed    maphash.Seed
	// epoch is time zero for deadlines.
	epoch time.Time
	// clock, if not nil, replaces time.Now (Options.Clock or a test hook).
	clock func() time.Time
	hooks hooks
	lc    *lifecycle
	// loadCtx is cancelled by Close; every loader's context is cancelled
	// with it.
	loadCtx context.Context

	// timed is set, once, when the first entry with a deadline is
	// written; until then writes need not read the clock.
	timed atomic.Bool
	// closed is set, once, by Close.
	closed atomic.Bool

	// stats counts lookups in striped cells, which its first fields
	// locate, and writes in counters that end it, on a line of their own.
	stats stats

	// count and weight are the number and total weight of the index's
	// entries, updated by whoever adds or removes one.
	count  atomic.Int64
	weight atomic.Uint64
	// loading counts the entries in calls.
	loading atomic.Int64

	_ [cacheLine]byte // keeps the lines above apart from mu's

	// mu guards the policy, the heap and sweeping; it is the policy's
	// lock, taken by whoever applies buf.
	mu  sync.Mutex
	pol policy[K, V]
	exp expiryHeap[K, V]
	// sweeping is set once the sweeper goroutine is started.
	sweeping bool
	// drains counts drains, to pace the climber. Guarded by mu.
	drains uint32
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
		buf:     new(writeBuffer[K, V]),
		max:     max,
		vmode:   valueModeOf[V](),
		weigher: opts.Weigher,
		ttl:     opts.TTL,
		refresh: opts.RefreshAfter,
		onEvict: opts.OnEvict,
		seed:    maphash.MakeSeed(),
		clock:   opts.Clock,
		hooks:   hk,
		stats:   newStats(),
	}
	if hk.clock != nil {
		c.clock = hk.clock
	}
	c.buf.init()
	c.pol = newPolicy[K, V](max, opts.Weigher != nil, sketchHash[K](c.seed), maphash.Comparable(c.seed, 0x5eed))
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

// wallNow returns the current time from the clock.
func (c *Cache[K, V]) wallNow() time.Time {
	if c.clock != nil {
		return c.clock()
	}
	return time.Now()
}

// now returns the time in nanoseconds since the cache's epoch.
func (c *Cache[K, V]) now() int64 {
	if c.clock != nil {
		return int64(c.clock().Sub(c.epoch))
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

// clockNeeded reports whether a write must read the clock: whether an
// entry may have a deadline or a refresh time.
func (c *Cache[K, V]) clockNeeded() bool {
	return c.refresh > 0 || c.ttl > 0 || c.timed.Load()
}

// refreshAt returns the refresh time of an entry written at now: 0 (never)
// without Options.RefreshAfter.
func (c *Cache[K, V]) refreshAt(now int64) int64 {
	return deadline(now, c.refresh)
}

// Get returns the value for key and whether it was found. It takes no lock;
// an entry whose time to live has passed is not found.
func (c *Cache[K, V]) Get(key K) (value V, ok bool) {
	n, ok := c.index.Load(key)
	if !ok {
		c.stats.miss()
		return value, false
	}
	a := n.acc.Load()
	if a&extBit != 0 && n.expired(c.now()) {
		c.stats.miss()
		return value, false
	}
	n.touch(a)
	c.stats.hit()
	return n.load(c.vmode), true
}

// Set stores value for key with the cache's default TTL, evicting other
// entries if the bound requires it. A previous value is reported to
// OnEvict as Replaced (Expired if its time to live had passed). A value
// heavier than MaxWeight is not stored: any previous value is removed
// (Replaced) and the new one is reported as Evicted at once. So is a value
// for a key that is not equal to itself (a floating-point NaN, or a struct
// or array holding one), which no Get could find.
//
// The value is in the index when Set returns; see Cache for how tightly
// the bound holds while writes race. Replacing a value in place (see the
// package documentation) allocates nothing.
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
	// Compare and weigh before anything changes, so that a key that
	// panics when compared (an interface holding a slice) or a panicking
	// Weigher leaves the cache unchanged.
	if key != key { // a NaN: no Get could find it, nor eviction remove it
		c.stats.evictions.Add(1)
		rs.add(key, value, Evicted)
		rs.fire()
		return
	}
	w := c.weigh(key, value)
	// The clock is read only when something depends on it: it costs
	// more than the rest of a Set's bookkeeping.
	var now int64
	if ttl > 0 || c.clockNeeded() {
		now = c.now()
	}
	if uint64(w) > c.max {
		c.invalidate(key)
		c.removeKey(key, Replaced, now, &rs)
		c.stats.evictions.Add(1)
		rs.add(key, value, Evicted)
		rs.fire()
		return
	}
	if ttl > 0 && !c.timed.Load() {
		c.timed.Store(true)
	}
	c.invalidate(key)
	if !c.write(key, value, w, ttl, now, &rs) {
		// The write buffer was full: wait for a cell, then store.
		n := newNode(key, value, w, deadline(now, ttl), c.refreshAt(now))
		pos := c.reserve()
		old, loaded := c.index.LoadAndStore(key, n)
		c.stored(pos, old, loaded, n, now, &rs)
		c.maintain()
	}
	rs.fire()
}

// write does a Set's work on the index in one locked step of key's index
// shard, unless the write buffer is full, and reports whether it did. A
// value that can replace the old one in its node (node.inPlace; ttl and
// refresh time none) is swapped in: the entry keeps its place in the
// policy, and the write counts as a use, as a replacement's does.
// Otherwise it reserves a write buffer cell without waiting, stores a new
// node, and publishes it once the lock is released. Swapping under the
// shard's lock, with the node in the index, means that whoever removes the
// node, under the same lock, reads its final value: no swapped-in value is
// lost with a node that left the index.
func (c *Cache[K, V]) write(key K, value V, w uint32, ttl time.Duration, now int64, rs *removals[K, V]) bool {
	inPlace := ttl <= 0 && c.refresh <= 0 && c.vmode != valueFixed
	var n *node[K, V]
	if !inPlace {
		// Made before the lock is taken: this write needs it anyway.
		n = newNode(key, value, w, deadline(now, ttl), c.refreshAt(now))
	}
	var (
		swapped, loaded, reserved bool
		oldKey                    K
		oldValue                  V
		old                       *node[K, V]
		pos                       uint64
	)
	c.index.Compute(key, func(cur *node[K, V], ok bool) (*node[K, V], shardmap.ComputeOp) {
		if ok && inPlace && cur.inPlace(w) {
			swapped, oldKey, oldValue = true, cur.key, cur.swap(c.vmode, value)
			cur.touch(cur.acc.Load())
			return cur, shardmap.CancelOp
		}
		// Reserved before the index changes, as reserve's callers do;
		// but without waiting, since draining takes c.mu, which must not
		// be taken under a shard's lock.
		if pos, reserved = c.buf.reserve(); !reserved {
			return cur, shardmap.CancelOp
		}
		if n == nil {
			n = newNode(key, value, w, 0, 0)
		}
		old, loaded = cur, ok
		return n, shardmap.UpdateOp
	})
	switch {
	case swapped:
		rs.add(oldKey, oldValue, Replaced)
	case reserved:
		c.stored(pos, old, loaded, n, now, rs)
		c.maintain()
	default:
		return false
	}
	return true
}

// stored completes a write that put n in the index, replacing old if
// loaded: it accounts for it, publishes it at the reserved position pos,
// and notes old's removal in rs.
func (c *Cache[K, V]) stored(pos uint64, old *node[K, V], loaded bool, n *node[K, V], now int64, rs *removals[K, V]) {
	if !loaded {
		c.count.Add(1)
		c.weight.Add(uint64(n.weight()))
		c.buf.publish(pos, change[K, V]{n: n})
		return
	}
	old.kill()
	if d := uint64(n.weight()) - uint64(old.weight()); d != 0 {
		c.weight.Add(d) // not when the weight stays: the line is shared
	}
	c.buf.publish(pos, change[K, V]{old: old, n: n})
	if old.expired(now) {
		c.stats.expirations.Add(1)
		rs.add(old.key, old.value, Expired)
	} else {
		rs.add(old.key, old.value, Replaced)
	}
}

// removeKey removes key's entry, if any, reporting it in rs for reason (or
// as Expired if it had expired at now), and returns whether there was one.
func (c *Cache[K, V]) removeKey(key K, reason Reason, now int64, rs *removals[K, V]) bool {
	if _, ok := c.index.Load(key); !ok {
		return false
	}
	pos := c.reserve()
	old, ok := c.index.LoadAndDelete(key)
	if !ok {
		c.buf.publish(pos, change[K, V]{})
		c.maintain()
		return false
	}
	old.kill()
	c.count.Add(-1)
	c.weight.Add(-uint64(old.weight()))
	c.buf.publish(pos, change[K, V]{old: old})
	c.maintain()
	if old.expired(now) {
		c.stats.expirations.Add(1)
		reason = Expired
	}
	rs.add(old.key, old.value, reason)
	return true
}

// weigh returns the weight of an entry: 1 without a Weigher, and never 0.
func (c *Cache[K, V]) weigh(key K, value V) uint32 {
	if c.weigher == nil {
		return 1
	}
	return max(c.weigher(key, value), 1)
}

// reserve returns a reserved position in the write buffer. If the buffer
// is full, it drains it first: a writer waits rather than drop a change.
func (c *Cache[K, V]) reserve() uint64 {
	for {
		if pos, ok := c.buf.reserve(); ok {
			return pos
		}
		rs := c.removals()
		c.mu.Lock()
		progressed := c.drainLocked(&rs)
		c.mu.Unlock()
		rs.fire()
		if !progressed {
			// The oldest cell is reserved by a writer that has not
			// published yet; it will, without waiting for anything.
			runtime.Gosched()
		}
	}
}

// maintain applies the published changes if the policy's lock is free.
// Every goroutine that takes the lock calls it after releasing it, so a
// change published while the lock was held is applied by that goroutine or
// by the publisher: none is left waiting for a later write.
func (c *Cache[K, V]) maintain() {
	for c.buf.waiting() {
		if !c.mu.TryLock() {
			return
		}
		rs := c.removals()
		c.drainLocked(&rs)
		c.mu.Unlock()
		rs.fire()
	}
}

// drainLocked applies the published changes in order, evicting after each
// until the cache is within its bound, and reports whether it applied any.
// Caller holds c.mu.
func (c *Cache[K, V]) drainLocked(rs *removals[K, V]) bool {
	var now int64
	if len(c.exp) > 0 {
		now = c.now() // only deadlines need it
	}
	applied := false
	for {
		ch, ok := c.buf.peek()
		if !ok {
			break
		}
		c.applyLocked(ch)
		c.evictLocked(ch.n, now, rs)
		// Freed only now: until the eviction it caused is done, the cell
		// still counts against the buffer, which is what bounds the
		// cache's excess over its bound.
		c.buf.free()
		applied = true
	}
	c.evictLocked(nil, now, rs)
	if c.drains++; applied && (c.drains&15 == 0 || c.max < 1024) {
		h, m := c.stats.lookups()
		c.pol.climb(h, m)
	}
	return applied
}

// applyLocked applies one change to the policy and the heap. Caller holds
// c.mu.
func (c *Cache[K, V]) applyLocked(ch change[K, V]) {
	old, n := ch.old, ch.n
	if old != nil {
		if n != nil && old.seg() != segNone && !n.dead() {
			c.pol.replace(old, n)
			c.exp.remove(old)
			if c.exp.add(n) {
				c.startSweeperLocked()
			}
			return
		}
		c.pol.remove(old)
		c.exp.remove(old)
	}
	if n != nil && !n.dead() && n.seg() == segNone {
		c.pol.add(n)
		if c.exp.add(n) {
			c.startSweeperLocked()
		}
	}
}

// evictLocked removes expired entries, then the policy's victims, until
// the index is within the bound, never keep (the node just written, if
// any). Caller holds c.mu.
func (c *Cache[K, V]) evictLocked(keep *node[K, V], now int64, rs *removals[K, V]) {
	over := func() bool { return c.weight.Load() > c.max }
	if !over() {
		return
	}
	for over() {
		t := c.exp.peek()
		if t == nil || !t.node.expired(now) || &t.node == keep {
			break
		}
		c.dropLocked(&t.node, Expired, rs)
	}
	if !over() {
		return
	}
	c.pol.evict(keep, over, func(n *node[K, V]) {
		reason := Evicted
		if n.expired(now) {
			reason = Expired
		}
		c.dropLocked(n, reason, rs)
	})
}

// dropLocked takes n out of the policy and the heap and, if the index still
// holds it, out of the index, reporting it for reason. Caller holds c.mu.
func (c *Cache[K, V]) dropLocked(n *node[K, V], reason Reason, rs *removals[K, V]) {
	c.pol.remove(n)
	c.exp.remove(n)
	removed := false
	c.index.Compute(n.key, func(cur *node[K, V], ok bool) (*node[K, V], shardmap.ComputeOp) {
		if ok && cur == n {
			removed = true
			return nil, shardmap.DeleteOp
		}
		return cur, shardmap.CancelOp
	})
	if !removed {
		return // replaced or deleted meanwhile; that writer accounts for it
	}
	n.kill()
	c.count.Add(-1)
	c.weight.Add(-uint64(n.weight()))
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
	c.invalidate(key)
	var now int64
	if c.clockNeeded() {
		now = c.now()
	}
	c.removeKey(key, Deleted, now, &rs)
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
			if n.acc.Load()&extBit != 0 && n.expired(c.now()) {
				continue
			}
			if !yield(k, n.load(c.vmode)) {
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
	c.maintain() // what writers published while Close held the lock
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
