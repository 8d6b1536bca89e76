package rediscache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/cache"
)

// ErrClosed is returned for a lookup that misses the near tier, and for
// every write, once Close has been called.
var ErrClosed = errors.New("rediscache: closed")

// Cache is a two-tier cache from string keys to V: a near tier in this
// process over a Redis shared by every instance. Make one with New; all
// methods are safe for concurrent use.
type Cache[V any] struct {
	// tier is the current near tier. Swapped by flush; read by everyone.
	tier atomic.Pointer[tier[V]]

	// client is the Redis client. Set by New, closed by Close.
	client rueidis.Client
	// opts are the validated options. Written by New, read-only after.
	opts Options[V]
	// userOnInvalidations is the caller's Redis.OnInvalidations, called
	// after ours. Written by New, read-only after.
	userOnInvalidations func([]rueidis.RedisMessage)
	// seed spreads keys over stripes. Written by New, read-only after.
	seed    maphash.Seed
	stripes [numStripes]stripe[V]

	// ctx is cancelled by Close: it ends loaders and write-backs.
	ctx    context.Context
	cancel context.CancelFunc
	// life guards closed against the start of flights: a flight starts
	// under its read lock, so Close, which sets closed under the write
	// lock and then waits for wg, never misses one.
	life   sync.RWMutex
	closed bool
	// wg counts running flights.
	wg sync.WaitGroup

	stats counters
	// hooks are test seams, set by newCache before the client starts.
	hooks hooks
}

// hooks are test seams; the zero value is production behaviour.
type hooks struct {
	// invalidated, if set, is called with each key an invalidation
	// message dropped, on rueidis's reading goroutine.
	invalidated func(key string)
}

// New connects to Redis and returns an empty Cache, or an error wrapping
// ErrInvalidOptions for bad options, or the client's error if no Redis at
// opts.Redis.InitAddress answers with RESP3 and client tracking (Redis 6 or
// later).
func New[V any](opts Options[V]) (*Cache[V], error) {
	return newCache(opts, hooks{})
}

func newCache[V any](opts Options[V], hk hooks) (*Cache[V], error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	near, err := cache.New(opts.Near)
	if err != nil {
		return nil, fmt.Errorf("%w: Near: %w", ErrInvalidOptions, err)
	}
	c := &Cache[V]{opts: opts, seed: maphash.MakeSeed(), hooks: hk}
	c.tier.Store(&tier[V]{near: near})
	c.ctx, c.cancel = context.WithCancel(context.Background())

	ro := opts.Redis
	c.userOnInvalidations = ro.OnInvalidations
	ro.DisableCache = false
	ro.ClientTrackingOptions = []string{"OPTIN"}
	ro.NewCacheStoreFn = func(rueidis.CacheStoreOption) rueidis.CacheStore { return trackOnlyStore[V]{c: c} }
	ro.OnInvalidations = c.onInvalidations
	c.client, err = rueidis.NewClient(ro)
	if err != nil {
		c.cancel()
		near.Close()
		return nil, fmt.Errorf("rediscache: connecting to %v: %w", opts.Redis.InitAddress, err)
	}
	return c, nil
}

// Get returns key's value: from the near tier if it is there, else from
// Redis in one round trip however many goroutines ask at once, filling the
// near tier. found is false if Redis has no value for key. The error wraps
// ErrUnavailable if Redis failed or did not answer within Options.Timeout,
// and is ctx's if ctx ended first; the caller whose miss sends the Redis
// read waits for it, at most Options.Timeout, even if ctx ends sooner.
func (c *Cache[V]) Get(ctx context.Context, key string) (value V, found bool, err error) {
	if v, ok := c.tier.Load().near.Get(key); ok {
		return v, true, nil
	}
	c.stats.nearMisses.Add(1)
	return c.lookup(ctx, key, nil)
}

// GetOrLoad returns key's value: from the near tier, else from Redis, else
// from load, whose value is then written to Redis with Options.TTL (unless
// another instance wrote one first) and to the near tier. Concurrent
// callers for one key share one Redis read and one call to load.
//
// If Redis fails or does not answer within Options.Timeout, the value comes
// from load and is neither written to Redis nor kept in the near tier, so
// that a Redis outage costs origin loads but never an error or a stale
// value. An error from load is returned to the callers that share it, and
// nothing is stored; a panic in load is returned as a *cache.PanicError.
//
// load runs in its own goroutine, with a context that keeps ctx's values
// but not its cancellation, and that Close cancels. If ctx ends first,
// GetOrLoad returns ctx's error and the load goes on for the others (the
// Redis read before it is awaited, as in Get).
func (c *Cache[V]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context, key string) (V, error)) (V, error) {
	if load == nil {
		return *new(V), fmt.Errorf("rediscache: GetOrLoad(%q): nil loader", key)
	}
	ttl := c.opts.TTL
	return c.GetOrLoadWithTTL(ctx, key, func(ctx context.Context, key string) (V, time.Duration, error) {
		v, err := load(ctx, key)
		return v, ttl, err
	})
}

// GetOrLoadWithTTL is GetOrLoad with a loader that also returns the value's
// time to live in Redis (0 or less: no expiry), for values whose lifetime
// depends on what was loaded, such as HTTP responses.
func (c *Cache[V]) GetOrLoadWithTTL(ctx context.Context, key string, load func(ctx context.Context, key string) (V, time.Duration, error)) (V, error) {
	if v, ok := c.tier.Load().near.Get(key); ok {
		return v, nil
	}
	if load == nil {
		return *new(V), fmt.Errorf("rediscache: GetOrLoadWithTTL(%q): nil loader", key)
	}
	c.stats.nearMisses.Add(1)
	v, _, err := c.lookup(ctx, key, load)
	return v, err
}

// Set stores value for key in Redis with Options.TTL and drops this
// instance's near copy; every other instance drops its copy when Redis's
// invalidation reaches it. Set does not fill the near tier: the key's next
// Get here reads it from Redis once, which also subscribes this instance to
// its invalidations. The error wraps ErrUnavailable if Redis failed or did
// not answer in time; the write may then still happen.
func (c *Cache[V]) Set(ctx context.Context, key string, value V) error {
	return c.SetWithTTL(ctx, key, value, c.opts.TTL)
}

// SetWithTTL is Set with its own time to live in Redis; 0 means none.
func (c *Cache[V]) SetWithTTL(ctx context.Context, key string, value V, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("rediscache: SetWithTTL(%q): negative ttl %v", key, ttl)
	}
	data, err := c.opts.Codec.Encode(value)
	if err != nil {
		c.stats.codecErrors.Add(1)
		return fmt.Errorf("rediscache: Set(%q): %w", key, err)
	}
	if c.isClosed() {
		return ErrClosed
	}
	err = c.write(ctx, key, data, ttl, false)
	c.invalidate(key)
	return err
}

// Delete removes key from Redis and from this instance's near tier; every
// other instance drops its copy when Redis's invalidation reaches it. The
// error wraps ErrUnavailable if Redis failed or did not answer in time.
func (c *Cache[V]) Delete(ctx context.Context, key string) error {
	if c.isClosed() {
		return ErrClosed
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	err := c.client.Do(rctx, c.client.B().Del().Key(c.opts.Prefix+key).Build()).Error()
	c.invalidate(key)
	if err != nil {
		return c.failed(ctx, "DEL", key, err)
	}
	return nil
}

// Close waits for lookups in flight, after cancelling their loaders'
// contexts, closes the Redis connections and empties the near tier, which
// can no longer be kept coherent. After Close, Get and GetOrLoad return
// ErrClosed, as do Set and Delete. Close is idempotent.
func (c *Cache[V]) Close() {
	c.life.Lock()
	was := c.closed
	c.closed = true
	c.life.Unlock()
	if was {
		return
	}
	c.cancel()
	c.wg.Wait()
	c.client.Close()
	c.flush()
}

func (c *Cache[V]) isClosed() bool {
	c.life.RLock()
	defer c.life.RUnlock()
	return c.closed
}

// readShared reads key from Redis as a tracked read, within Options.Timeout,
// and returns the ticket to fill the near tier with. deadline bounds how
// long the near tier may keep the value: it is before the Redis key
// expires, or zero if the key has no expiry.
func (c *Cache[V]) readShared(ctx context.Context, key string) (tk *ticket[V], v V, found bool, deadline time.Time, err error) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	tk = c.begin(key)
	sent := time.Now()
	msg, err := c.client.DoCache(rctx, c.client.B().Get().Key(c.opts.Prefix+key).Cache(), time.Hour).ToMessage()
	c.end(key, tk)
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return tk, v, false, deadline, nil
		}
		return tk, v, false, deadline, c.failed(ctx, "GET", key, err)
	}
	if pxat := msg.CachePXAT(); pxat > 0 {
		// rueidis's expiry is its receive time plus PTTL. Redis ran PTTL
		// after sent, and its millisecond clock may lag by one, so the
		// key lives at least until sent + PTTL - 1ms; take another
		// millisecond off for the truncation of pxat.
		recv := time.Now()
		deadline = time.UnixMilli(pxat).Add(-recv.Sub(sent) - 2*time.Millisecond)
	}
	data, err := msg.AsBytes()
	if err != nil {
		c.stats.codecErrors.Add(1)
		return tk, v, false, deadline, fmt.Errorf("rediscache: GET %q: %w", key, err)
	}
	if v, err = c.opts.Codec.Decode(data); err != nil {
		c.stats.codecErrors.Add(1)
		return tk, v, false, deadline, fmt.Errorf("rediscache: GET %q: %w", key, err)
	}
	return tk, v, true, deadline, nil
}

// write stores data for key with ttl (0: none), only if the key is absent
// when nx is set, within Options.Timeout.
func (c *Cache[V]) write(ctx context.Context, key string, data []byte, ttl time.Duration, nx bool) error {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	args := make([]string, 0, 4)
	args = append(args, rueidis.BinaryString(data))
	if nx {
		args = append(args, "NX")
	}
	if ttl > 0 {
		args = append(args, "PX", strconv.FormatInt(max(ttl.Milliseconds(), 1), 10))
	}
	cmd := c.client.B().Arbitrary("SET").Keys(c.opts.Prefix + key).Args(args...).Build()
	err := c.client.Do(rctx, cmd).Error()
	if err != nil && !rueidis.IsRedisNil(err) { // NX on a present key replies nil
		return c.failed(ctx, "SET", key, err)
	}
	return nil
}

// failed returns the error for a Redis call that failed: ctx's own error if
// the caller's context ended (Redis may be fine), else one wrapping
// ErrUnavailable, counted in Stats.RedisErrors.
func (c *Cache[V]) failed(ctx context.Context, op, key string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("rediscache: %s %q: %w", op, key, ctx.Err())
	}
	c.stats.redisErrors.Add(1)
	return fmt.Errorf("%w: %s %q: %w", ErrUnavailable, op, key, err)
}
