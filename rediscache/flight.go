package rediscache

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/shardmap/shardmap/cache"
)

// A flight is one lookup of a key that missed the near tier: one tracked
// Redis read and, for GetOrLoad, one loader call on a Redis miss. Callers
// that miss the same key while it is in flight wait for it instead of
// starting their own.
type flight[V any] struct {
	// done is closed once val, found and err are set.
	done chan struct{}
	// val, found and err are the result. Written by the flight's goroutine
	// before done is closed; read by the callers after.
	val   V
	found bool
	err   error
	// loads says whether the flight calls a loader on a Redis miss. Set
	// when the flight is made, never changed.
	loads bool
}

// loader is the internal form of a loader: value, its TTL in Redis, error.
type loader[V any] func(ctx context.Context, key string) (V, time.Duration, error)

// lookup returns key's value from a flight, joining the key's flight or
// starting one. With a nil load a Redis miss is reported as found false.
func (c *Cache[V]) lookup(ctx context.Context, key string, load loader[V]) (V, bool, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, false, fmt.Errorf("rediscache: looking up %q: %w", key, err)
	}
	for {
		s := c.stripeFor(key)
		s.mu.Lock()
		f := s.flights[key]
		if f == nil {
			// Recheck under the lock: a flight fills the near tier under
			// this mutex before it leaves the map, so a caller that missed
			// just before that fill finds the value here instead of
			// reading Redis a second time.
			if v, ok := c.tier.Load().near.Get(key); ok {
				s.mu.Unlock()
				c.stats.recheckHits.Add(1)
				return v, true, nil
			}
			var err error
			if f, err = c.start(s, key, load); err != nil {
				s.mu.Unlock()
				return zero, false, err
			}
			s.mu.Unlock()
			c.fly(ctx, key, f, load)
		} else {
			s.mu.Unlock()
		}

		select {
		case <-f.done:
		case <-ctx.Done():
			return zero, false, fmt.Errorf("rediscache: waiting for %q: %w", key, ctx.Err())
		}
		if load != nil && !f.loads && f.err == nil && !f.found {
			continue // a plain Get's flight missed Redis: load in a flight of our own
		}
		if load != nil && !f.loads && f.err != nil {
			continue // Redis failed for a plain Get's flight: a loading flight can still answer
		}
		return f.val, f.found, f.err
	}
}

// start registers a new flight for key in s, whose mutex the caller holds.
// The caller then flies it.
func (c *Cache[V]) start(s *stripe[V], key string, load loader[V]) (*flight[V], error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	f := &flight[V]{done: make(chan struct{}), loads: load != nil}
	if s.flights == nil {
		s.flights = make(map[string]*flight[V])
	}
	s.flights[key] = f
	c.wg.Add(1)
	return f, nil
}

// fly performs flight f, started by the calling goroutine: the tracked
// read runs in that goroutine, since Options.Timeout bounds it, and the
// rest (loader, write-back), which nothing bounds, in a goroutine of its
// own, so that the caller can give up on ctx while the others wait. Both
// keep ctx's values, not its cancellation (one caller's deadline must not
// fail the others), and Close cancels them.
func (c *Cache[V]) fly(ctx context.Context, key string, f *flight[V], load loader[V]) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(c.ctx, cancel)
	done := func() {
		stop()
		cancel()
		c.wg.Done()
	}
	tk, v, found, deadline, rerr := c.readShared(fctx, key)
	if found || load == nil {
		c.read(key, f, tk, v, found, deadline, rerr)
		done()
		return
	}
	if rerr == nil {
		c.stats.sharedMisses.Add(1)
	}
	go func() {
		defer done()
		c.load(fctx, key, f, load, rerr == nil)
	}()
}

// read completes flight f with the result of its Redis read.
func (c *Cache[V]) read(key string, f *flight[V], tk *ticket[V], v V, found bool, deadline time.Time, rerr error) {
	if found {
		c.stats.sharedHits.Add(1)
		c.fill(tk, key, v, deadline)
	} else if rerr == nil {
		c.stats.sharedMisses.Add(1)
	}
	c.finish(key, f, v, found, rerr)
}

// load completes flight f after its Redis read missed (redisOK) or
// failed: the loader, then the write-back of its value if Redis answered.
func (c *Cache[V]) load(ctx context.Context, key string, f *flight[V], load loader[V], redisOK bool) {
	lv, ttl, lerr := c.callLoader(ctx, key, load)
	if lerr != nil {
		c.finish(key, f, lv, false, lerr)
		return
	}
	if !redisOK {
		// Redis failed: the value is neither written back nor kept, and
		// the next caller asks Redis again.
		c.finish(key, f, lv, true, nil)
		return
	}
	// Hand the value to the waiting callers now, but keep the flight in
	// the map until the write-back is done, so that callers arriving in
	// the meantime get this value rather than call the loader again. An
	// invalidation of the key detaches the flight.
	f.val, f.found = lv, true
	close(f.done)
	c.writeBack(ctx, key, lv, ttl)
	s := c.stripeFor(key)
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	s.mu.Unlock()
}

// finish sets f's result, removes it from its stripe and wakes its callers.
func (c *Cache[V]) finish(key string, f *flight[V], v V, found bool, err error) {
	f.val, f.found, f.err = v, found, err
	s := c.stripeFor(key)
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	s.mu.Unlock()
	close(f.done)
}

// callLoader runs load, turning a panic into a *cache.PanicError.
func (c *Cache[V]) callLoader(ctx context.Context, key string, load loader[V]) (v V, ttl time.Duration, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &cache.PanicError{Value: r, Stack: debug.Stack()}
		}
		c.stats.loads.Add(1)
		if err != nil {
			c.stats.loadErrors.Add(1)
		}
	}()
	return load(ctx, key)
}

// writeBack stores a loaded value in Redis unless the key already has one
// (a concurrent writer's, which wins), then reads it back tracked to fill
// the near tier. Failures only cost the fill.
func (c *Cache[V]) writeBack(ctx context.Context, key string, v V, ttl time.Duration) {
	data, err := c.opts.Codec.Encode(v)
	if err != nil {
		c.stats.codecErrors.Add(1)
		return
	}
	if err := c.write(ctx, key, data, ttl, true); err != nil {
		return
	}
	tk, rv, found, deadline, err := c.readShared(ctx, key)
	if err == nil && found {
		c.fill(tk, key, rv, deadline)
	}
}
