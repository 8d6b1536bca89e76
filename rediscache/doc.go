// Package rediscache is a two-tier cache for a fleet of server instances:
// each instance keeps a near tier, a bounded in-process
// [cache.Cache] of decoded values, over one Redis (or Redis Cluster) that
// all of them share. Redis's server-assisted client-side caching (RESP3
// CLIENT TRACKING) keeps the near tiers coherent: when a key changes in
// Redis, every instance that holds it is told, and drops its copy.
//
//	c, err := rediscache.New(rediscache.Options[[]byte]{
//		Redis: rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}},
//		TTL:   time.Hour,
//	})
//	...
//	body, err := c.GetOrLoad(ctx, url, fetchFromOrigin)
//
// # Lookups
//
// Get and GetOrLoad look in the near tier first: a hit is one
// cache.Cache.Get and one atomic pointer load, with no Redis traffic. On a
// miss, one Redis read per key is in flight at a time however many
// goroutines ask; its value fills the near tier. If Redis has no value,
// GetOrLoad calls the loader (once per key, for all the waiting callers),
// answers them, writes the value to Redis with SET NX (a concurrent
// writer's value wins) and reads it back, tracked, into the near tier. Set
// and Delete write Redis and drop this instance's near copy; the other
// instances drop theirs when the invalidation reaches them. Values cross
// the wire through a Codec; []byte and string need none.
//
// # Faults
//
// Every Redis call has a deadline, Options.Timeout (5ms by default). A slow
// or dead Redis costs at most that per lookup: GetOrLoad then answers from
// the loader, Get returns an error wrapping ErrUnavailable, and neither
// waits longer. Values loaded while Redis fails are not kept in the near
// tier (no invalidation could reach them). When a connection closes, or
// goes Options.Redis.ConnWriteTimeout (1s by default here) without
// answering, the whole near tier is flushed, since invalidations may have
// been missed; the client reconnects on the next command, turns tracking on
// again as part of the handshake, and the near tier refills from Redis.
//
// # Staleness
//
// A value in the near tier is one Redis held when this instance read it,
// and it is dropped when this instance learns it changed. What can be
// stale, and for how long:
//
//   - After a write by another instance (or any other Redis client), this
//     instance serves the old value until Redis's invalidation message
//     arrives: the time for Redis to push it and for this process to read
//     it, sub-millisecond on one machine (see README.md for measured
//     percentiles). There is no upper bound while the connection is
//     healthy but slow, which is why a connection that does not answer
//     within ConnWriteTimeout is closed and the near tier flushed.
//   - If this instance cannot reach Redis while another one can (a
//     partition), its near tier is stale from the first missed write until
//     the connection is declared dead: at most about
//     Dialer.KeepAlive + ConnWriteTimeout, 2s with the defaults.
//   - A near copy never outlives the Redis key: its time to live is the
//     key's remaining PTTL at the read, less the read's round trip and 2ms
//     of clock granularity, and at most Options.Near.TTL.
//   - An instance's own Set or Delete is visible to its next Get (read your
//     writes). A Set or Delete that returned an error may still have been
//     applied by Redis; the near copy is dropped either way.
//
// # Why rueidis
//
// The near tier needs three things from a Redis client: RESP3 with CLIENT
// TRACKING turned on for every connection it opens, including every
// reconnection and every Cluster node; each invalidation message and each
// connection loss handed to the application in order with the replies on
// that connection; and a way to send CLIENT CACHING YES directly before a
// read on the same connection, with the key's PTTL in the same round trip.
// github.com/redis/rueidis has all three built in: tracking is part of its
// connection handshake, ClientOption.OnInvalidations receives the
// invalidations and a nil at each connection loss, DoCache sends
// CLIENT CACHING YES, PTTL and the read in one MULTI, and its Cluster
// client does this per node. It also pipelines concurrent commands on few
// connections and honours a context deadline per call. With
// github.com/redis/go-redis/v9 the same needs a hand-made dedicated
// tracking connection (or a broadcast channel), its own reconnect and
// resubscribe logic, and per-node handling for Cluster: more code of our
// own in the part that decides whether a stale value can be served.
//
// rueidis's cache store is pluggable (ClientOption.NewCacheStoreFn), but
// its store holds raw replies per connection, keyed by command, and a hit
// through DoCache still builds a command and decodes the reply. So the
// store plugged in here keeps nothing: rueidis does the tracking, and the
// decoded values live once, in the near tier, where a hit costs what a
// cache.Cache hit costs.
//
// # Coherence
//
// An invalidation can be handled after a read's reply reaches rueidis but
// before the reader stores the value; storing it then would keep a value
// Redis has already replaced and will not report again. Fills therefore
// take a ticket before the read is sent and store only if no invalidation
// of the key (and no flush) happened since; see tracking.go.
package rediscache
