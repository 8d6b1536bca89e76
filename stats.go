package shardmap

// Stats describes a Map's internal state, for monitoring and tests.
type Stats struct {
	// Shards is the number of lock stripes.
	Shards int
	// Entries is the number of entries, as Len reports.
	Entries int
	// Buckets is the number of buckets in the shards' current arrays.
	Buckets int
	// OverflowBuckets is the number of overflow buckets allocated in the
	// current arrays.
	OverflowBuckets int
	// OldBuckets is the number of buckets in old arrays still being
	// evacuated; 0 once every migration has finished.
	OldBuckets int
	// Migrating is the number of shards with a migration running.
	Migrating int
	// Growths, Compactions and Shrinks count the migrations started since
	// New: doubling, same-size compaction, halving.
	Growths, Compactions, Shrinks uint64
	// Helps counts old chains evacuated by readers rather than writers.
	Helps uint64
}

// Stats returns a snapshot of the map's internal state. It locks each shard
// in turn, briefly; it is meant for monitoring, not for hot paths.
func (m *Map[K, V]) Stats() Stats {
	st := Stats{Shards: len(m.shards)}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		t := s.tbl.Load()
		st.Entries += int(s.count.Load())
		st.Buckets += int(t.len())
		st.OverflowBuckets += s.noverflow
		if old := t.old.Load(); old != nil {
			st.OldBuckets += int(old.len())
			st.Migrating++
		}
		st.Growths += s.growths.Load()
		st.Compactions += s.compactions.Load()
		st.Shrinks += s.shrinks.Load()
		st.Helps += s.helps.Load()
		s.mu.Unlock()
	}
	return st
}
