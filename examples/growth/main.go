// Command growth fills a shardmap.Map from empty while another goroutine
// reads it, and reports the slowest single Store: growth is spread over many
// writes, so no Store waits for a whole table to be copied.
//
//	go run ./examples/growth -n 4000000
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardmap/shardmap"
)

func main() {
	n := flag.Int("n", 2_000_000, "entries to insert")
	flag.Parse()
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "growth: -n must be at least 1")
		os.Exit(2)
	}

	m := shardmap.New[uint64, uint64]()
	var inserted atomic.Uint64
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads, misses uint64
	wg.Go(func() {
		for i := uint64(0); !done.Load(); i++ {
			hi := inserted.Load()
			if hi == 0 {
				continue
			}
			k := i % hi
			if v, ok := m.Load(k); !ok || v != k*2 {
				misses++
			}
			reads++
		}
	})

	lat := make([]time.Duration, *n)
	start := time.Now()
	for i := range uint64(*n) {
		t0 := time.Now()
		m.Store(i, i*2)
		lat[i] = time.Since(t0)
		inserted.Store(i + 1)
	}
	total := time.Since(start)
	done.Store(true)
	wg.Wait()

	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	st := m.Stats()
	fmt.Printf("inserted %d entries in %v (GOMAXPROCS=%d) while a reader did %d loads (%d wrong)\n",
		*n, total.Round(time.Millisecond), runtime.GOMAXPROCS(0), reads, misses)
	fmt.Printf("Store latency: p50 %v  p99 %v  p99.99 %v  max %v\n",
		pct(0.5), pct(0.99), pct(0.9999), lat[len(lat)-1])
	fmt.Printf("shards %d, buckets %d, growths %d, migrating now %d\n",
		st.Shards, st.Buckets, st.Growths, st.Migrating)
	if misses > 0 {
		os.Exit(1)
	}
}
