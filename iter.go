package shardmap

import (
	"iter"
	"math/rand/v2"
	"runtime"
)

// rangeTries is how many times Range re-copies a chain whose version moved
// before it falls back to a copy that removes duplicate keys itself.
const rangeTries = 3

// kv is one key and value copied out of a chain for Range to yield.
type kv[K comparable, V any] struct {
	key   K
	value V
}

// watch remembers the state words of the chains a copy came from, so that
// Range can tell, before it yields a copied pair, whether the pair may have
// changed since.
type watch struct {
	n     int
	words [2]*bucketState
	seen  [2]uintptr
}

// add records chain state word w as read just before the copy.
func (w *watch) add(st *bucketState, v uintptr) {
	w.words[w.n], w.seen[w.n] = st, v
	w.n++
}

// changed reports whether any watched chain was written, evacuated or
// marked since the copy.
func (w *watch) changed() bool {
	for i := range w.n {
		if w.words[i].load() != w.seen[i] {
			return true
		}
	}
	return false
}

// Range calls f for each key and value in the map until f returns false.
//
// Range takes no lock. It yields no key twice, and yields every key that is
// present and unchanged for the whole call. As in a Go map's range, a key
// deleted before Range reaches it is not yielded, a key replaced before Range
// reaches it is yielded with its new value, and a key stored during the call
// may or may not be seen; a value yielded is one the key held at some instant
// during the call. f may call any method of the map, including Store and
// Delete. The order is unspecified and differs from call to call.
func (m *Map[K, V]) Range(f func(key K, value V) bool) {
	var buf []kv[K, V]
	n := uint64(len(m.shards))
	r := rand.Uint64()
	for si := range n {
		s := &m.shards[(si+r)&(n-1)]
		t := s.tbl.Load()
		old := t.old.Load()
		if old != nil && s.state.shouldHelp() {
			s.help(m)
		}
		off := r >> 32
		for bi := range t.len() {
			var w watch
			buf = collect(m, t, old, (bi+off)&t.mask, buf[:0], &w)
			for _, p := range buf {
				k, v := p.key, p.value
				if k == k && (w.changed() || s.tbl.Load() != t) {
					// Written since the copy: yield what the key holds now,
					// or nothing if it is gone. (NaN keys cannot be looked
					// up, nor deleted but by Clear.)
					var ok bool
					if v, ok = m.Load(k); !ok {
						continue
					}
				}
				if !f(k, v) {
					return
				}
			}
		}
	}
}

// All returns an iterator over the map's keys and values, for use with a
// for-range loop. It has the same guarantees as Range.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return m.Range
}

// collect appends to buf the pairs that belong to bucket bi of table t, each
// once, and records in w the chains they came from. While t migrates from
// old, a key belonging to bi lives in the old chain until that chain is
// evacuated and in t's chain afterwards; the evacuated bit is read before
// either is copied, and a new chain only receives a source's slots before
// that source's bit is set, so the choice is never stale in a way that loses
// or repeats a key.
func collect[K comparable, V any](m *Map[K, V], t, old *table[K, V], bi uint64, buf []kv[K, V], w *watch) []kv[K, V] {
	if old == nil {
		return copyChain(t, bi, buf, w, nil)
	}
	n := old.len()
	switch {
	case t.len() > n: // growing: the old chain also feeds bi^n
		src := bi & old.mask
		if old.head(src).evacuated() {
			break
		}
		high := bi >= n
		return copyChain(old, src, buf, w, func(top uint8, key K) bool {
			return goesHigh(m, key, top, n) == high
		})
	case t.len() == n: // compacting
		if !old.head(bi).evacuated() {
			return copyChain(old, bi, buf, w, nil)
		}
	default: // shrinking: old chains bi and bi+len(t) are evacuated together
		if !old.head(bi).evacuated() {
			buf = copyChain(old, bi, buf, w, nil)
			return copyChain(old, bi+t.len(), buf, w, nil)
		}
	}
	// The source is evacuated, so the piece holding bi exists (see table).
	return copyChain(t, bi, buf, w, nil)
}

// copyChain appends the pairs of chain bi of table t that keep accepts (all
// if keep is nil) to buf, as one consistent snapshot: the copy is retried
// while the chain's version moves under it (dirtybit.go). After rangeTries
// tries it settles for a copy that may show a key twice (deleted, its slot
// reused, reinserted further down) but never misses a key that stayed put,
// and drops repeated keys itself.
func copyChain[K comparable, V any](t *table[K, V], bi uint64, buf []kv[K, V], w *watch, keep func(uint8, K) bool) []kv[K, V] {
	n := len(buf)
	st := t.head(bi)
	add := func(top uint8, key K, value V) {
		if keep == nil || keep(top, key) {
			buf = append(buf, kv[K, V]{key, value})
		}
	}
	for range rangeTries {
		v := st.load()
		if v&(chainDirtyBit|chainDupBit) == 0 {
			if t.inline() {
				t.ibucket(bi).forEachSlot(&t.iovf, func(top uint8, p *islot[K, V]) {
					s := p.load(t.kind)
					add(top, s.key, s.value)
				})
			} else {
				t.bucket(bi).forEachSlot(func(top uint8, e *entry[K, V]) { add(top, e.key, e.value) })
			}
			if sameVersion(v, st.load()) {
				w.add(st, v)
				return buf
			}
		}
		buf = buf[:n]
	}
	w.add(st, st.load())
	if t.inline() {
		validatedSlots(t.ibucket(bi), &t.iovf, t.kind, add)
	} else {
		t.bucket(bi).forEachSlot(func(top uint8, e *entry[K, V]) { add(top, e.key, e.value) })
	}
	return dedupe(buf, n)
}

// validatedSlots calls add for every occupied slot of an inline chain, each
// slot read inside the chain's sequence lock on its own: a copy of the whole
// chain kept failing, but an inline slot must never be yielded torn.
func validatedSlots[K comparable, V any](head *ibucket[K, V], o *overflows, k slotKind, add func(uint8, K, V)) {
	for b := head; b != nil; b = b.next(o) {
		for i := range bucketCnt {
			for try := 0; ; try++ {
				v := head.state.load()
				if v&chainDirtyBit == 0 {
					top := topAt(b.tophash.load(), i)
					s := b.slots[i].load(k)
					if sameVersion(v, head.state.load()) {
						if top != emptyTop {
							add(top, s.key, s.value)
						}
						break
					}
				}
				if try >= spinTries {
					runtime.Gosched()
				}
			}
		}
	}
}

// dedupe removes pairs from buf[from:] whose key appeared earlier in
// buf[from:], keeping the first. Keys that are not equal to themselves (NaN)
// are never merged, as in a Go map.
func dedupe[K comparable, V any](buf []kv[K, V], from int) []kv[K, V] {
	out := buf[:from]
	seen := make(map[K]struct{}, len(buf)-from)
	for _, p := range buf[from:] {
		if _, dup := seen[p.key]; dup {
			continue
		}
		seen[p.key] = struct{}{}
		out = append(out, p)
	}
	return out
}
