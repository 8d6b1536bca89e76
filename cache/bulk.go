package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrNotFound is the error GetOrLoad returns when it waited on a bulk load
// (GetAllOrLoad) whose loader returned no value for its key.
var ErrNotFound = errors.New("cache: bulk loader returned no value for the key")

// GetAllOrLoad returns the values of keys, loading the missing and expired
// ones with one call of load for all of them. It is GetOrLoad for many
// keys: a key another caller (GetOrLoad or GetAllOrLoad) is already
// loading is not loaded again but waited for, so a loader runs once per key
// however many callers want it; load gets only the keys nobody else is
// loading, each once, and returns their values in a map. Keys load leaves
// out of its map are not stored and not in the result (callers of
// GetOrLoad waiting on one of them get ErrNotFound).
//
// The values are stored with the default TTL, unless a Set or Delete of the
// key came while load ran. load runs in its own goroutine with a context
// that carries ctx's values but not its cancellation, and that Close
// cancels. If load fails (or panics: *PanicError), GetAllOrLoad returns its
// error, wrapped with the number of keys it was loading, and no value; if
// ctx ends first, it returns ctx.Err() and the load continues for the
// others. The result then holds the keys found so far. It returns
// ErrNilLoader if load is nil and ErrClosed after Close, when a key is
// missing.
func (c *Cache[K, V]) GetAllOrLoad(ctx context.Context, keys []K, load func(ctx context.Context, keys []K) (map[K]V, error)) (map[K]V, error) {
	out := make(map[K]V, len(keys))
	var missing []K
	for _, k := range keys {
		if _, dup := out[k]; dup {
			continue
		}
		if v, ok := c.Get(k); ok {
			out[k] = v
		} else if k == k {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if err := c.canLoad(ctx, load != nil); err != nil {
		return out, err
	}
	waits := make(map[K]*call[V], len(missing))
	var lead []K
	var leadCalls []*call[V]
	for _, k := range missing {
		if _, dup := waits[k]; dup {
			continue
		}
		cl, leader := c.join(k)
		waits[k] = cl
		if leader {
			lead = append(lead, k)
			leadCalls = append(leadCalls, cl)
		}
	}
	if len(lead) > 0 {
		go c.loadAll(ctx, lead, leadCalls, load)
	}
	for k, cl := range waits {
		select {
		case <-cl.done:
		case <-ctx.Done():
			select {
			case <-cl.done:
			default:
				return out, ctx.Err()
			}
		}
		switch {
		case cl.notFound:
		case cl.err != nil:
			return out, cl.err
		default:
			out[k] = cl.val
		}
	}
	return out, nil
}

// loadAll runs the calls of keys, one per key, with one call of load for
// the keys still missing from the index, and completes each call.
func (c *Cache[K, V]) loadAll(ctx context.Context, keys []K, calls []*call[V], load func(context.Context, []K) (map[K]V, error)) {
	done := make([]bool, len(keys))
	var err error = errLoaderExited
	var vals map[K]V
	loaded := false
	// Deferred so that it also runs if load calls runtime.Goexit.
	defer func() {
		for i, k := range keys {
			if done[i] {
				continue
			}
			v, ok := vals[k]
			cl := calls[i]
			switch {
			case err != nil:
				c.complete(k, cl, v, 0, err, loaded)
			case !ok:
				cl.notFound = true
				c.complete(k, cl, v, 0, ErrNotFound, false)
			default:
				w, werr := c.weighSafely(k, v)
				c.complete(k, cl, v, w, werr, true)
			}
		}
	}()
	var need []K
	now := c.now()
	for i, k := range keys {
		if n, ok := c.index.Load(k); ok && !n.expired(now) {
			done[i] = true
			c.complete(k, calls[i], n.load(c.vmode), 0, nil, false)
			continue
		}
		need = append(need, k)
	}
	if len(need) == 0 {
		return
	}
	lctx, finish := c.loadContext(ctx)
	defer finish()
	loaded = true
	vals, err = c.callBulkLoader(lctx, need, load)
	if err != nil {
		err = fmt.Errorf("loading %d keys: %w", len(need), err)
	}
}

// callBulkLoader calls load, turning a panic into a *PanicError.
func (c *Cache[K, V]) callBulkLoader(ctx context.Context, keys []K, load func(context.Context, []K) (map[K]V, error)) (vals map[K]V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return load(ctx, keys)
}

// weighSafely weighs a loaded value, turning a panic into a *PanicError.
func (c *Cache[K, V]) weighSafely(key K, v V) (w uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return c.weigh(key, v), nil
}
