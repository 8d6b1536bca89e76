package rediscache

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardmap/shardmap/rediscache/redistest"
)

// faultTimeout is the Redis deadline of the fault tests, and slack what
// scheduling on a loaded machine may add to it before a call counts as
// having waited past it.
const (
	faultTimeout = 50 * time.Millisecond
	slack        = 250 * time.Millisecond
)

func value(key string) string { return "v-" + key }

func TestPausedRedisServedByNearTierAndLoader(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[string](t, []string{srv.Addr}, func(o *Options[string]) { o.Timeout = faultTimeout }, hooks{})
	const keys = 100 // 0..49 in Redis and the near tier, 50..99 nowhere
	for i := range keys / 2 {
		k := strconv.Itoa(i)
		srv.MustDo(t, "SET", "t:"+k, value(k))
		// On a loaded machine a read can miss the short deadline: retry.
		eventually(t, 5*time.Second, "near copy of "+k, func() bool {
			_, _, _ = c.Get(context.Background(), k)
			_, ok := nearHas(c, k)
			return ok
		})
	}
	var (
		ops, slow, wrong atomic.Int64
		worst            atomic.Int64
		stop             = make(chan struct{})
		wg               sync.WaitGroup
	)
	load := func(_ context.Context, key string) (string, error) { return value(key), nil }
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i += 7 {
				select {
				case <-stop:
					return
				default:
				}
				k := strconv.Itoa(i % keys)
				start := time.Now()
				v, err := c.GetOrLoad(context.Background(), k, load)
				d := time.Since(start)
				if d > faultTimeout+slack {
					slow.Add(1)
				}
				for {
					if w := worst.Load(); int64(d) <= w || worst.CompareAndSwap(w, int64(d)) {
						break
					}
				}
				if err != nil || v != value(k) {
					wrong.Add(1)
					t.Errorf("GetOrLoad(%s) = %q, %v", k, v, err)
				}
				ops.Add(1)
			}
		})
	}
	eventually(t, 5*time.Second, "load before the pause", func() bool { return ops.Load() > 200 })
	before := c.Stats()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := ops.Load()
	// Run until the workers have gone through several deadlines while
	// Redis is stopped, staying well under ConnWriteTimeout.
	eventually(t, 5*time.Second, "calls answered during the pause", func() bool {
		return c.Stats().RedisErrors-before.RedisErrors >= 8 && ops.Load()-paused > 100
	})
	during := c.Stats()
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if n := slow.Load(); n != 0 {
		t.Errorf("%d calls took longer than the %v deadline + %v", n, faultTimeout, slack)
	}
	if during.Loads == before.Loads {
		t.Error("no loader call answered a key missing from the near tier during the pause")
	}
	if during.NearHits-before.NearHits < 50 {
		t.Errorf("only %d near hits during the pause", during.NearHits-before.NearHits)
	}
	t.Logf("%d calls, slowest %v; during the pause: %d near hits, %d loads, %d Redis errors",
		ops.Load(), time.Duration(worst.Load()), during.NearHits-before.NearHits, during.Loads-before.Loads, during.RedisErrors-before.RedisErrors)
	// Redis answers again.
	eventually(t, 5*time.Second, "Redis back", func() bool {
		v, ok, err := c.Get(context.Background(), "99")
		return err == nil && (!ok || v == value("99"))
	})
}

func TestKilledRedisFlushesAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	tweak := func(o *Options[string]) { o.Timeout = faultTimeout * 2 }
	a := newTest[string](t, []string{srv.Addr}, tweak, hooks{})
	b := newTest[string](t, []string{srv.Addr}, tweak, hooks{})
	srv.MustDo(t, "SET", "t:k", "before")
	for _, c := range []*Cache[string]{a, b} {
		// On a loaded machine a read can miss the short deadline: retry.
		eventually(t, 5*time.Second, "near copy before the kill", func() bool {
			_, _, _ = c.Get(context.Background(), "k")
			v, ok := nearHas(c, "k")
			return ok && v == "before"
		})
	}
	fa, fb := a.Stats().Flushes, b.Stats().Flushes
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "both near tiers flushed", func() bool {
		_, inA := nearHas(a, "k")
		_, inB := nearHas(b, "k")
		return a.Stats().Flushes > fa && b.Stats().Flushes > fb && !inA && !inB
	})

	// During the outage: writes fail, reads fail or load, nothing is stale.
	if err := a.Set(context.Background(), "k", "during"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set during the outage: %v, want ErrUnavailable", err)
	}
	start := time.Now()
	v, err := b.GetOrLoad(context.Background(), "k", func(context.Context, string) (string, error) { return "loaded", nil })
	if err != nil || v != "loaded" {
		t.Fatalf("GetOrLoad during the outage = %q, %v", v, err)
	}
	if d := time.Since(start); d > 2*faultTimeout+slack {
		t.Fatalf("GetOrLoad during the outage took %v", d)
	}
	if _, _, err := b.Get(context.Background(), "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get during the outage: %v, want ErrUnavailable", err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The new server is empty: no instance may serve what it held before
	// the outage, nor what it wrote or loaded during it.
	for name, c := range map[string]*Cache[string]{"a": a, "b": b} {
		eventually(t, 5*time.Second, name+" reconnects", func() bool {
			v, ok, err := c.Get(context.Background(), "k")
			if ok {
				t.Fatalf("%s serves %q after the restart", name, v)
			}
			return err == nil
		})
	}
	// Tracking works again: both read k (tracked) above, and read it again
	// after each write, filling their near tiers.
	checkSeen(t, a, b, "k", func() error { return a.Set(context.Background(), "k", "after1") }, "after1", true)
	checkSeen(t, b, a, "k", func() error { return b.Set(context.Background(), "k", "after2") }, "after2", true)
	checkSeen(t, a, b, "k", func() error { return a.Set(context.Background(), "k", "after3") }, "after3", true)
}
