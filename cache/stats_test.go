package cache

import (
	"sync"
	"testing"
)

// TestStatsCountsEveryLookup checks that lookups from many goroutines at
// once, whose stripes may coincide, are all counted.
func TestStatsCountsEveryLookup(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 100})
	for k := range 50 {
		c.Set(k, k)
	}
	const goroutines, per = 16, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				c.Get((g + i) % 100) // keys 0..49 hit, 50..99 miss
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Hits != goroutines*per/2 || st.Misses != goroutines*per/2 {
		t.Fatalf("Stats() = %d hits, %d misses; want %d of each", st.Hits, st.Misses, goroutines*per/2)
	}
}
