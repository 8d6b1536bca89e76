package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/shardmap/shardmap"
)

// Loads.
//
// A call is the record of one load in flight, kept in Cache.calls under its
// key. The first GetOrLoad to miss a key creates it (Map.Compute makes
// create-or-join atomic) and starts the loader in a new goroutine; every
// caller, the first included, then waits for the call to finish or for its
// own context to end, whichever comes first. So a caller that gives up
// returns at once and the load goes on for the others. The loader's context
// carries the first caller's values but not its cancellation
// (context.WithoutCancel); it is cancelled by Close instead.
//
// Set and Delete detach a key's call, under the cache's lock: they mark it
// stale and remove it from calls. A stale call's result still goes to its
// callers but is not stored, so a load cannot undo a Delete or overwrite a
// newer Set. The call stores its result and leaves calls in one locked
// section, storing first: a caller that misses the index and finds no call
// then starts a new call, whose leader looks at the index once more before
// loading and finds the stored value.
//
// Writers skip the lookup in calls while loading is 0. That is safe because
// a leader increments loading, registers its call, and then reads the
// index, while a writer stores to the index and then reads loading and
// calls. Go's atomics are sequentially consistent and the maps'
// operations linearizable, so if the writer's reads miss the call, they
// come before its registration, the writer's store comes before them, and
// the leader's read of the index sees the stored value: it does not load.

// call is one load in flight.
type call[V any] struct {
	// done is closed when val and err are set.
	done chan struct{}
	val  V
	err  error
	// stale is set by Set and Delete: the result must not be stored.
	// Guarded by the lock of the calls shard holding the call.
	stale bool
	// waiters counts the callers that joined the call (tests use it).
	waiters int
	// base, for a refresh, is the entry being reloaded: the load's value
	// replaces it, and nothing else. Set before the call is published.
	base any
	// notFound is set with err when a bulk loader returned no value for
	// the key.
	notFound bool
}

// PanicError is the error GetOrLoad returns when the loader panicked.
type PanicError struct {
	// Value is the value the loader panicked with.
	Value any
	// Stack is the loader goroutine's stack when it panicked.
	Stack []byte
}

// Error returns a message with the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("cache: loader panicked: %v", e.Value)
}

// Unwrap returns the panic value if it is an error, else nil.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// errLoaderExited is returned to the callers of a loader that called
// runtime.Goexit.
var errLoaderExited = errors.New("cache: loader called runtime.Goexit")

// GetOrLoad returns key's value, loading it with load if it is missing or
// expired. Concurrent callers for one missing key share one call to load,
// whose value is stored with the default TTL and returned to all of them;
// an error from load is returned to all of them unchanged and nothing is
// stored. A panic in load is returned as a *PanicError.
//
// load runs in its own goroutine, with a context that carries ctx's values
// but not its deadline or cancellation, and that Close cancels. If ctx ends
// first, GetOrLoad returns ctx.Err() and the load continues for the other
// callers; its value is still stored. A Set or Delete of key while load
// runs wins: load's result goes to its callers but is not stored.
//
// GetOrLoad returns ErrNilLoader if load is nil and ErrClosed after Close,
// when key is missing.
func (c *Cache[K, V]) GetOrLoad(ctx context.Context, key K, load func(ctx context.Context, key K) (V, error)) (V, error) {
	if v, ok := c.getOrRefresh(ctx, key, load); ok {
		return v, nil
	}
	var zero V
	if err := c.canLoad(ctx, load != nil); err != nil {
		return zero, err
	}
	cl, leader := c.join(key)
	if leader {
		go c.load(ctx, key, cl, load)
	}
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		select {
		case <-cl.done:
			return cl.val, cl.err
		default:
			return zero, ctx.Err()
		}
	}
}

// getOrRefresh is Get for a caller with a loader: if the entry found is due
// for refresh (Options.RefreshAfter), it also starts one background load
// of key, unless one is in flight, that replaces the entry when it
// returns. The caller gets the current value at once.
func (c *Cache[K, V]) getOrRefresh(ctx context.Context, key K, load func(context.Context, K) (V, error)) (V, bool) {
	n, ok := c.index.Load(key)
	if !ok {
		c.stats.miss()
		var zero V
		return zero, false
	}
	a := n.acc.Load()
	if a&extBit != 0 {
		now := c.now()
		if n.expired(now) {
			c.stats.miss()
			var zero V
			return zero, false
		}
		if n.dueForRefresh(now) && load != nil && !c.closed.Load() && key == key {
			if cl, leader := c.joinWith(key, n); leader {
				go c.load(ctx, key, cl, load)
			}
		}
	}
	n.touch(a)
	c.stats.hit()
	return n.load(c.vmode), true
}

// join returns key's call, creating it if there is none; leader reports
// whether it was created.
func (c *Cache[K, V]) join(key K) (cl *call[V], leader bool) {
	return c.joinWith(key, nil)
}

// joinWith is join; a call it creates refreshes base (if not nil).
func (c *Cache[K, V]) joinWith(key K, base *node[K, V]) (cl *call[V], leader bool) {
	if key != key {
		// A NaN never matches in calls: it could be added but never
		// removed. Such a key gets a call of its own, unshared.
		return &call[V]{done: make(chan struct{}), waiters: 1}, true
	}
	cl, _ = c.calls.Compute(key, func(old *call[V], ok bool) (*call[V], shardmap.ComputeOp) {
		if ok {
			old.waiters++
			return old, shardmap.CancelOp
		}
		// Counted before it is visible in calls: loading is never below
		// the number of calls registered.
		c.loading.Add(1)
		leader = true
		nc := &call[V]{done: make(chan struct{}), waiters: 1}
		if base != nil {
			nc.base = base
		}
		return nc, shardmap.UpdateOp
	})
	return cl, leader
}

// load runs one call: it looks at the index again, calls load if the key is
// still missing, then stores the result and completes the call.
func (c *Cache[K, V]) load(ctx context.Context, key K, cl *call[V], load func(context.Context, K) (V, error)) {
	var (
		v V
		w uint32
	)
	err, loaded := errLoaderExited, false
	// Deferred so that it also runs if load calls runtime.Goexit.
	defer func() { c.complete(key, cl, v, w, err, loaded) }()

	if n, ok := c.index.Load(key); ok && !n.expired(c.now()) && (cl.base == nil || cl.base != any(n)) {
		v, err = n.load(c.vmode), nil
		return
	}
	lctx, done := c.loadContext(ctx)
	defer done()
	loaded = true
	v, w, err = c.callLoader(lctx, key, load)
}

// callLoader calls load and weighs its value, turning a panic in either
// into a *PanicError.
func (c *Cache[K, V]) callLoader(ctx context.Context, key K, load func(context.Context, K) (V, error)) (v V, w uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	v, err = load(ctx, key)
	if err == nil {
		w = c.weigh(key, v)
	}
	return v, w, err
}

// complete stores a call's result, of weight w, unless it failed or went
// stale, removes the call from calls, and releases its waiters. loaded says
// whether the loader ran (it did not if the leader found the key present).
func (c *Cache[K, V]) complete(key K, cl *call[V], v V, w uint32, err error, loaded bool) {
	if loaded {
		c.stats.loads.Add(1)
		if err != nil {
			c.stats.loadErrors.Add(1)
		}
	}
	rs := c.removals()
	now := c.now()
	switch {
	case !loaded || err != nil:
		c.forget(key, cl)
	case key != key: // a NaN, as in Set
		c.stats.evictions.Add(1)
		rs.add(key, v, Evicted)
	case uint64(w) > c.max:
		// Too heavy to store, as in Set; but a load never removes what a
		// writer stored.
		c.forget(key, cl)
		c.stats.evictions.Add(1)
		rs.add(key, v, Evicted)
	default:
		c.store(key, cl, v, w, now, &rs)
	}
	// Report before releasing the callers, so that what storing the value
	// evicted has been reported when GetOrLoad returns, as with Set. If
	// OnEvict panics, the deferred close still releases them.
	cl.val, cl.err = v, err
	defer close(cl.done)
	rs.fire()
}

// store stores a load's value v for key and removes its call cl, unless a
// Set or Delete made cl stale or the index holds a live entry for key other
// than the one a refresh replaces: what a writer did while the load ran
// wins over the load.
func (c *Cache[K, V]) store(key K, cl *call[V], v V, w uint32, now int64, rs *removals[K, V]) {
	n := newNode(key, v, w, deadline(now, c.ttl), c.refreshAt(now))
	pos := c.reserve()
	var (
		old            *node[K, V]
		stored, loaded bool
	)
	// The stale check and the store happen under the calls shard's lock,
	// which invalidate takes to mark a call stale before a writer touches
	// the index.
	c.calls.Compute(key, func(cur *call[V], ok bool) (*call[V], shardmap.ComputeOp) {
		if !ok || cur != cl {
			return cur, shardmap.CancelOp // detached: stale
		}
		c.loading.Add(-1)
		c.index.Compute(key, func(e *node[K, V], ok bool) (*node[K, V], shardmap.ComputeOp) {
			if ok && !e.expired(now) && any(e) != cl.base {
				return e, shardmap.CancelOp
			}
			old, loaded, stored = e, ok, true
			return n, shardmap.UpdateOp
		})
		return nil, shardmap.DeleteOp
	})
	if !stored {
		c.buf.publish(pos, change[K, V]{})
		c.maintain()
		return
	}
	c.stored(pos, old, loaded, n, now, rs)
	c.maintain()
}

// forget removes cl from calls if it is still key's call.
func (c *Cache[K, V]) forget(key K, cl *call[V]) {
	c.calls.Compute(key, func(old *call[V], ok bool) (*call[V], shardmap.ComputeOp) {
		if ok && old == cl {
			c.loading.Add(-1)
			return nil, shardmap.DeleteOp
		}
		return old, shardmap.CancelOp
	})
}

// invalidate detaches key's call, if any, so that its result is not
// stored. Writers call it before they change key's index entry.
func (c *Cache[K, V]) invalidate(key K) {
	if c.loading.Load() == 0 {
		return
	}
	c.calls.Compute(key, func(old *call[V], ok bool) (*call[V], shardmap.ComputeOp) {
		if !ok {
			return old, shardmap.CancelOp
		}
		old.stale = true
		c.loading.Add(-1)
		return nil, shardmap.DeleteOp
	})
}

// canLoad reports why a load for a missing key may not start: no loader, a
// closed cache, or a caller whose context is already done.
func (c *Cache[K, V]) canLoad(ctx context.Context, haveLoader bool) error {
	switch {
	case !haveLoader:
		return ErrNilLoader
	case c.closed.Load():
		return ErrClosed
	}
	return ctx.Err()
}

// loadContext returns the context a load runs in: ctx's values without its
// cancellation, so that a caller that gives up does not cancel a load others
// wait on, and cancelled when the cache is closed. The caller calls done
// when the load returns.
func (c *Cache[K, V]) loadContext(ctx context.Context) (lctx context.Context, done func()) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.loadCtx, cancel)
	return lctx, func() {
		stop()
		cancel()
	}
}
