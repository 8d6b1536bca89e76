package cache

import "github.com/shardmap/shardmap"

// ComputeOp tells Compute what to do with the value its function returned:
// the same values as shardmap.ComputeOp.
type ComputeOp = shardmap.ComputeOp

const (
	// CancelOp leaves the entry as it was.
	CancelOp = shardmap.CancelOp
	// UpdateOp stores the returned value (with the default TTL),
	// inserting the key if it is absent.
	UpdateOp = shardmap.UpdateOp
	// DeleteOp removes the entry if there is one.
	DeleteOp = shardmap.DeleteOp
)

// Compute atomically reads, then updates, deletes or keeps key's entry. fn
// receives the current value and whether there is a live one (an expired
// entry is not found), and returns the new value and what to do with it.
// Compute returns the value present afterwards and whether there is one:
// (new value, true) after UpdateOp, (zero, false) after DeleteOp, and what
// fn was given after CancelOp.
//
// No other write of key can come between fn's read and Compute's write,
// which is what a read-modify-write needs (a counter, a list one appends
// to). What Compute removes or replaces is reported to OnEvict as Deleted
// or Replaced (Expired for an expired entry); an UpdateOp value heavier
// than MaxWeight is not stored: the old entry is removed and the new value
// reported as Evicted, as with Set. A load of key in flight is detached,
// as by Set.
//
// fn runs exactly once, with a lock held that other writers of keys in the
// same index shard also take: it must not call the cache's methods (that
// can deadlock) and should be quick. So does the Weigher, which Compute
// calls inside that lock. If fn or the Weigher panics, the entry is left
// unchanged and the panic propagates.
func (c *Cache[K, V]) Compute(key K, fn func(old V, found bool) (newValue V, op ComputeOp)) (actual V, ok bool) {
	rs := c.removals()
	var zero V
	if key != key { // a NaN: never stored, never found
		v, op := fn(zero, false)
		if op == UpdateOp {
			c.stats.evictions.Add(1)
			rs.add(key, v, Evicted)
			rs.fire()
		}
		return zero, false
	}
	now := c.now()
	pos := c.reserve()
	published := false
	defer func() {
		if !published { // fn or the Weigher panicked
			c.buf.publish(pos, change[K, V]{})
			c.maintain()
		}
	}()
	c.invalidate(key)
	var (
		old, n    *node[K, V]
		present   bool
		tooHeavy  bool
		heavy, ov V
		live      bool
	)
	c.index.Compute(key, func(cur *node[K, V], ok bool) (*node[K, V], shardmap.ComputeOp) {
		present, live = ok, ok && !cur.expired(now)
		if live {
			ov = cur.load(c.vmode)
		}
		nv, op := fn(ov, live)
		switch op {
		case UpdateOp:
			w := c.weigh(key, nv)
			if uint64(w) > c.max {
				tooHeavy, heavy = true, nv
				if ok {
					old = cur
					return nil, shardmap.DeleteOp
				}
				return cur, shardmap.CancelOp
			}
			old, n = cur, newNode(key, nv, w, deadline(now, c.ttl), c.refreshAt(now))
			return n, shardmap.UpdateOp
		case DeleteOp:
			if ok {
				old = cur
				return nil, shardmap.DeleteOp
			}
		case CancelOp:
		default:
			panic("cache: Compute: fn returned an unknown ComputeOp")
		}
		return cur, shardmap.CancelOp
	})
	published = true
	switch {
	case n != nil:
		c.stored(pos, old, present, n, now, &rs)
		actual, ok = n.load(c.vmode), true
	case old != nil:
		old.kill()
		c.count.Add(-1)
		c.weight.Add(-uint64(old.weight()))
		c.buf.publish(pos, change[K, V]{old: old})
		switch {
		case old.expired(now):
			c.stats.expirations.Add(1)
			rs.add(old.key, old.value, Expired)
		case tooHeavy:
			rs.add(old.key, old.value, Replaced)
		default:
			rs.add(old.key, old.value, Deleted)
		}
	default:
		c.buf.publish(pos, change[K, V]{})
		if live {
			actual, ok = ov, true
		}
	}
	if tooHeavy {
		c.stats.evictions.Add(1)
		rs.add(key, heavy, Evicted)
	}
	c.maintain()
	rs.fire()
	return actual, ok
}
