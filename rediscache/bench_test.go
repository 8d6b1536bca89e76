package rediscache

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shardmap/shardmap/cache"
	"github.com/shardmap/shardmap/rediscache/redistest"
)

// Run from this directory: go test -run '^$' -bench . (each benchmark
// starts its own redis-server). Results, commands and the machine are in
// README.md.

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
		defer reportCPU(b)()
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
		defer reportCPU(b)()
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

// reportCPU returns a func that reports the process's CPU time (user and
// system) per op since reportCPU was called: on a machine shared with other
// work it varies far less than ns/op, which counts time spent waiting for
// a CPU.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// zipf draws ranks in [0, n) with probability proportional to 1/(rank+1)^s,
// for any s > 0 (math/rand's Zipf needs s > 1), by inverting the CDF.
type zipf struct {
	cdf []float64
	r   *rand.Rand
}

func newZipf(n int, s float64, seed uint64) *zipf {
	z := &zipf{cdf: make([]float64, n), r: rand.New(rand.NewPCG(seed, seed))}
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

func (z *zipf) next() int {
	i, _ := slices.BinarySearch(z.cdf, z.r.Float64())
	return min(i, len(z.cdf)-1)
}

// BenchmarkFleetOriginLoads replays a Zipf(0.9) mix of 100,000 URLs over
// two instances behind a round-robin balancer, each with a near tier of 1%
// of the URLs, and counts the loader (origin) calls: two rediscache
// instances sharing one Redis against two independent cache.Caches.
// Requests run one at a time, so every write-back has landed before the
// next request.
func BenchmarkFleetOriginLoads(b *testing.B) {
	const (
		urls     = 100_000
		requests = 200_000
		near     = urls / 100
	)
	srv := redistest.Start(b)
	ctx := context.Background()
	for range b.N {
		srv.MustDo(b, "FLUSHALL")
		var fleetLoads, soloLoads int
		fleet := [2]*Cache[string]{}
		solo := [2]*cache.Cache[string, string]{}
		for i := range fleet {
			fleet[i] = newTest[string](b, []string{srv.Addr}, func(o *Options[string]) {
				o.Near = cache.Options[string, string]{MaxEntries: near}
			}, hooks{})
			var err error
			if solo[i], err = cache.New(cache.Options[string, string]{MaxEntries: near}); err != nil {
				b.Fatal(err)
			}
		}
		z := newZipf(urls, 0.9, 1)
		for n := range requests {
			url := "/page/" + strconv.Itoa(z.next())
			if _, err := fleet[n%2].GetOrLoad(ctx, url, func(context.Context, string) (string, error) {
				fleetLoads++
				return url, nil
			}); err != nil {
				b.Fatal(err)
			}
			fleet[n%2].wg.Wait() // the write-back
			if _, err := solo[n%2].GetOrLoad(ctx, url, func(context.Context, string) (string, error) {
				soloLoads++
				return url, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		for i := range fleet {
			fleet[i].Close()
			solo[i].Close()
		}
		b.ReportMetric(float64(fleetLoads), "fleet-loads")
		b.ReportMetric(float64(soloLoads), "independent-loads")
		b.ReportMetric(100*(1-float64(fleetLoads)/float64(soloLoads)), "%saved")
	}
	b.ReportMetric(0, "ns/op")
}
