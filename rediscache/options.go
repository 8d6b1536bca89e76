package rediscache

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/cache"
)

// Defaults for the zero fields of Options.
const (
	// DefaultTimeout is the deadline of each Redis call when Options.Timeout
	// is 0.
	DefaultTimeout = 5 * time.Millisecond
	// DefaultConnWriteTimeout replaces rueidis's default (10s) for
	// Options.Redis.ConnWriteTimeout: a connection that has not answered
	// for this long is closed, and the near tier flushed with it.
	DefaultConnWriteTimeout = time.Second
	// DefaultNearEntries bounds the near tier when Options.Near sets no
	// bound.
	DefaultNearEntries = 10_000
)

// Options configures a Cache made by New.
type Options[V any] struct {
	// Redis configures the connection, through rueidis. InitAddress is
	// required: one address of a standalone Redis, or one or more nodes of
	// a Redis Cluster (rueidis tells which from the server). New overrides
	// the fields that client-side caching depends on: DisableCache,
	// ClientTrackingOptions (OPTIN) and NewCacheStoreFn; OnInvalidations,
	// if set, is still called, after the near tier has handled each
	// message. A zero ConnWriteTimeout becomes DefaultConnWriteTimeout.
	// Every connection that closes flushes the near tier, so a
	// ConnLifetime flushes it once per lifetime.
	Redis rueidis.ClientOption

	// Prefix is put before every key in Redis, so that several caches (or
	// other data) can share one Redis. Keys in the near tier and in the
	// API are without it.
	Prefix string

	// TTL is the time to live in Redis of values written by Set and by
	// loaders. 0 means they do not expire. The near tier never keeps a
	// value longer than Redis does.
	TTL time.Duration

	// Timeout is the deadline of each call to Redis; 0 means
	// DefaultTimeout. A call that runs past it counts as a failed call:
	// the caller gets the loader's value (GetOrLoad) or an error (Get, Set,
	// Delete) instead of waiting longer.
	Timeout time.Duration

	// Near configures the near tier, the in-process cache.Cache that holds
	// decoded values. Its TTL, if set, caps how long a value stays near
	// (the Redis key's remaining time to live caps it too). Without
	// MaxEntries or MaxWeight it holds DefaultNearEntries entries. Its
	// OnEvict also sees the removals made by invalidations (Deleted), but
	// not those of a flush, which drops the whole tier at once; it runs
	// while a lock of this Cache is held, so it must not call the Cache.
	Near cache.Options[string, V]

	// Codec encodes values for Redis. It may be nil when V is []byte or
	// string, which are stored as they are.
	Codec Codec[V]
}

// ErrInvalidOptions is wrapped by the errors New returns for bad Options.
var ErrInvalidOptions = errors.New("rediscache: invalid options")

// ErrUnavailable is wrapped by the errors returned when Redis failed or did
// not answer within Options.Timeout.
var ErrUnavailable = errors.New("rediscache: redis unavailable")

// validate checks o and fills in its defaults.
func (o *Options[V]) validate() error {
	switch {
	case len(o.Redis.InitAddress) == 0:
		return fmt.Errorf("%w: Redis.InitAddress is empty", ErrInvalidOptions)
	case o.TTL < 0:
		return fmt.Errorf("%w: TTL is negative (%v)", ErrInvalidOptions, o.TTL)
	case o.Timeout < 0:
		return fmt.Errorf("%w: Timeout is negative (%v)", ErrInvalidOptions, o.Timeout)
	case o.Near.TTL < 0:
		return fmt.Errorf("%w: Near.TTL is negative (%v)", ErrInvalidOptions, o.Near.TTL)
	}
	if o.Codec == nil {
		if o.Codec = defaultCodec[V](); o.Codec == nil {
			return fmt.Errorf("%w: Codec is nil and %T is neither []byte nor string", ErrInvalidOptions, *new(V))
		}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Near.MaxEntries == 0 && o.Near.MaxWeight == 0 {
		o.Near.MaxEntries = DefaultNearEntries
	}
	if o.Redis.ConnWriteTimeout == 0 {
		o.Redis.ConnWriteTimeout = DefaultConnWriteTimeout
	}
	return nil
}
