package shardmap

import "iter"

// rangeTries is how many times Range re-copies a chain whose version moved
// before it falls back to a copy that removes duplicate keys itself.
const rangeTries = 3

// Range calls f for each key and value in the map until f returns false.
//
// Range takes no lock and never waits for a writer. It yields no key twice,
// and yields every key that is present and unchanged for the whole call; a key
// stored, replaced or deleted during the call may or may not be seen, and a
// value is one the key held at some instant during the call. f may call any
// method of the map, including Store and Delete.
func (m *Map[K, V]) Range(f func(key K, value V) bool) {
	var buf []*entry[K, V]
	for i := range m.shards {
		s := &m.shards[i]
		t := s.tbl.Load()
		old := t.old.Load()
		if old != nil && s.state.shouldHelp() {
			s.help(m)
		}
		for bi := range t.len() {
			buf = collect(m, t, old, bi, buf[:0])
			for _, e := range buf {
				if !f(e.key, e.value) {
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

// collect appends to buf the entries that belong to bucket bi of table t,
// each once. While t migrates from old, a key belonging to bi lives in the
// old chain until that chain is evacuated and in t's chain afterwards; the
// evacuated bit is read before either is copied, and a new chain only
// receives a source's entries before that source's bit is set, so the choice
// is never stale in a way that loses or repeats a key.
func collect[K comparable, V any](m *Map[K, V], t, old *table[K, V], bi uint64, buf []*entry[K, V]) []*entry[K, V] {
	if old == nil {
		return copyChain(t.bucket(bi), buf, nil)
	}
	n := old.len()
	switch {
	case t.len() > n: // growing: the old chain also feeds bi^n
		src := old.bucket(bi & old.mask)
		if src.state.evacuated() {
			break
		}
		high := bi >= n
		return copyChain(src, buf, func(top uint8, e *entry[K, V]) bool {
			return goesHigh(m, e, top, n) == high
		})
	case t.len() == n: // compacting
		if src := old.bucket(bi); !src.state.evacuated() {
			return copyChain(src, buf, nil)
		}
	default: // shrinking: old chains bi and bi+len(t) are evacuated together
		if src := old.bucket(bi); !src.state.evacuated() {
			buf = copyChain(src, buf, nil)
			return copyChain(old.bucket(bi+t.len()), buf, nil)
		}
	}
	// The source is evacuated, so the piece holding bi exists (see table).
	return copyChain(t.bucket(bi), buf, nil)
}

// copyChain appends the chain's entries that keep accepts (all if keep is
// nil) to buf, as one consistent snapshot: the copy is retried while the
// chain's version moves under it (dirtybit.go). After rangeTries tries it
// takes one more pass and drops repeated keys itself: a pass that overlaps
// writers can see a key twice (deleted, its slot reused, reinserted further
// down) but never misses a key that stayed put.
func copyChain[K comparable, V any](head *bucket[K, V], buf []*entry[K, V], keep func(uint8, *entry[K, V]) bool) []*entry[K, V] {
	n := len(buf)
	add := func(top uint8, e *entry[K, V]) {
		if keep == nil || keep(top, e) {
			buf = append(buf, e)
		}
	}
	for range rangeTries {
		v := head.state.load()
		forEachSlot(head, add)
		if sameVersion(v, head.state.load()) {
			return buf
		}
		buf = buf[:n]
	}
	forEachSlot(head, add)
	return dedupe(buf, n)
}

// dedupe removes entries from buf[from:] whose key appeared earlier in
// buf[from:], keeping the first. Keys that are not equal to themselves (NaN)
// are never merged, as in a Go map.
func dedupe[K comparable, V any](buf []*entry[K, V], from int) []*entry[K, V] {
	out := buf[:from]
	seen := make(map[K]struct{}, len(buf)-from)
	for _, e := range buf[from:] {
		if _, dup := seen[e.key]; dup {
			continue
		}
		seen[e.key] = struct{}{}
		out = append(out, e)
	}
	return out
}
