package rediscache

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shardmap/shardmap/cache"
	"github.com/shardmap/shardmap/rediscache/redistest"
)

// Run: go test -run '^$' -bench . -count 6 ./rediscache/ (from the repo
// root). Results and the machine are in README.md.

const benchKeys = 1024

// nearHitRounds is how many times BenchmarkNearHit alternates the two.
const nearHitRounds = 6

// BenchmarkNearHit compares a near-tier hit with a hit on a bare
// cache.Cache of the same options, from all Ps at once, alternating the two
// in nearHitRounds rounds in one process.
func BenchmarkNearHit(b *testing.B) {
	srv := redistest.Start(b)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
	}
	bare, err := cache.New(cache.Options[string, []byte]{MaxEntries: DefaultNearEntries})
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	rc := newTest[[]byte](b, []string{srv.Addr}, nil, hooks{})
	ctx := context.Background()
	for _, k := range keys {
		bare.Set(k, []byte(k))
		if err := rc.Set(ctx, k, []byte(k)); err != nil {
			b.Fatal(err)
		}
		if _, ok, err := rc.Get(ctx, k); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, ok := nearHas(rc, k); !ok {
			b.Fatal("not in the near tier")
		}
	}
	misses := rc.Stats().NearMisses
	bareHit := func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := bare.Get(keys[i&(benchKeys-1)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
	nearHit := func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok, _ := rc.Get(ctx, keys[i&(benchKeys-1)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
	for round := range nearHitRounds {
		// Alternate which goes first, so that neither always runs in the
		// wake of the other.
		name := "round=" + strconv.Itoa(round)
		if round%2 == 0 {
			b.Run(name+"/cache", bareHit)
			b.Run(name+"/rediscache", nearHit)
		} else {
			b.Run(name+"/rediscache", nearHit)
			b.Run(name+"/cache", bareHit)
		}
	}
	if n := rc.Stats().NearMisses - misses; n != 0 {
		b.Fatalf("%d near misses", n)
	}
}

// reportPercentiles reports the p50 and p99 of ds as metrics.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100])/1e3, "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSharedHit measures one goroutine's Get that misses the near tier
// and hits Redis (a tracked read: CLIENT CACHING YES, MULTI, PTTL, GET,
// EXEC, then the fill), next to a plain GET on the same rueidis client.
func BenchmarkSharedHit(b *testing.B) {
	srv := redistest.Start(b)
	c := newTest[[]byte](b, []string{srv.Addr}, nil, hooks{})
	ctx := context.Background()
	if err := c.Set(ctx, "k", make([]byte, 256)); err != nil {
		b.Fatal(err)
	}
	b.Run("rediscache-get", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		for range b.N {
			c.tier.Load().near.Delete("k")
			start := time.Now()
			if _, ok, err := c.Get(ctx, "k"); !ok || err != nil {
				b.Fatal(ok, err)
			}
			ds = append(ds, time.Since(start))
		}
		reportPercentiles(b, ds)
	})
	b.Run("plain-get", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		cmd := func() error {
			return c.client.Do(ctx, c.client.B().Get().Key("t:k").Build()).Error()
		}
		for range b.N {
			start := time.Now()
			if err := cmd(); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		reportPercentiles(b, ds)
	})
}

// BenchmarkInvalidation measures, per round, the time from the start of a
// Set on one instance to the drop of the key from another instance's near
// tier.
func BenchmarkInvalidation(b *testing.B) {
	srv := redistest.Start(b)
	dropped := make(chan string, 16)
	a := newTest[string](b, []string{srv.Addr}, nil, hooks{})
	r := newTest[string](b, []string{srv.Addr}, nil, hooks{invalidated: func(k string) { dropped <- k }})
	ctx := context.Background()
	if err := a.Set(ctx, "k", "0"); err != nil {
		b.Fatal(err)
	}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, ok, err := r.Get(ctx, "k"); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, ok := nearHas(r, "k"); !ok {
			continue // the fill lost a race with a late invalidation; try again
		}
		start := time.Now()
		if err := a.Set(ctx, "k", strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		select {
		case <-dropped:
		case <-time.After(time.Second):
			b.Fatal("no invalidation within 1s")
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, ds)
}
