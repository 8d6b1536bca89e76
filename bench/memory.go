package main

import (
	"fmt"
	"runtime"

	"github.com/shardmap/shardmap"
)

// EntryCost is a contender's steady heap cost per entry for one key type.
type EntryCost struct {
	Contender string
	KeyType   string
	N         int
	// BytesPerEntry is the settled heap growth (HeapAlloc after two GCs)
	// caused by building the map, divided by N. Key strings are allocated
	// before the baseline, so only the map's own memory counts.
	BytesPerEntry float64
}

// GiveBack is how much heap a contender keeps after a burst of inserts is
// deleted again.
type GiveBack struct {
	Contender string
	N         int
	// AfterInsert and AfterDelete are the settled heap above the starting
	// heap after inserting N uint64 keys, and after deleting them all.
	AfterInsert, AfterDelete int64
	// Note carries implementation details worth printing, if any.
	Note string
}

// goMapName is the reference row of the heap-per-entry table: a plain Go
// map, which is not safe for concurrent use and runs no other workload.
const goMapName = "go-map"

// goMap is a plain Go map, the reference for heap per entry.
type goMap[K Key] map[K]uint64

func (m goMap[K]) Load(k K) (uint64, bool) { v, ok := m[k]; return v, ok }
func (m goMap[K]) Store(k K, v uint64)     { m[k] = v }
func (m goMap[K]) Delete(k K)              { delete(m, k) }

// entryCosts measures the heap cost per entry at n entries of every
// contender in cs and of a plain Go map, for both key types.
func entryCosts(cs []Contender, n int) []EntryCost {
	var out []EntryCost
	for _, c := range cs {
		out = append(out,
			entryCost(c.Name, func() Map[uint64] { return c.Uint64() }, n),
			entryCost(c.Name, func() Map[string] { return c.String() }, n))
	}
	return append(out,
		entryCost(goMapName, func() Map[uint64] { return goMap[uint64]{} }, n),
		entryCost(goMapName, func() Map[string] { return goMap[string]{} }, n))
}

// entryCost measures the heap cost per entry of n keys of type K in a map
// built by newMap, reported under name.
func entryCost[K Key](name string, newMap func() Map[K], n int) EntryCost {
	keys := makeKeys[K](n)
	base := settledHeap()
	m := newMap()
	prefill(m, keys)
	after := settledHeap()
	runtime.KeepAlive(m)
	runtime.KeepAlive(keys)
	return EntryCost{
		Contender:     name,
		KeyType:       keyTypeName[K](),
		N:             n,
		BytesPerEntry: float64(int64(after)-int64(base)) / float64(n),
	}
}

// giveBack inserts n uint64 keys into a fresh map of contender c, deletes
// them all, and reports the settled heap after each phase.
func giveBack(c Contender, n int) GiveBack {
	base := int64(settledHeap())
	m := c.Uint64()
	for i := range n {
		m.Store(mix64(uint64(i)), uint64(i))
	}
	afterInsert := int64(settledHeap()) - base
	for i := range n {
		m.Delete(mix64(uint64(i)))
	}
	afterDelete := int64(settledHeap()) - base
	res := GiveBack{Contender: c.Name, N: n, AfterInsert: afterInsert, AfterDelete: afterDelete}
	if s, ok := m.(interface{ Stats() shardmap.Stats }); ok {
		st := s.Stats()
		res.Note = fmt.Sprintf("after deleting: %d buckets, %d old buckets still held by %d migrating shards, %d shrinks",
			st.Buckets, st.OldBuckets, st.Migrating, st.Shrinks)
	}
	runtime.KeepAlive(m)
	return res
}
