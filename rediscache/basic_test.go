package rediscache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/cache"
	"github.com/shardmap/shardmap/rediscache/redistest"
)

func TestOptionsRejected(t *testing.T) {
	addr := []string{"127.0.0.1:1"}
	for name, o := range map[string]Options[int]{
		"no address":    {Codec: JSON[int]{}},
		"no codec":      {Redis: rueidis.ClientOption{InitAddress: addr}},
		"negative TTL":  {Redis: rueidis.ClientOption{InitAddress: addr}, Codec: JSON[int]{}, TTL: -1},
		"negative wait": {Redis: rueidis.ClientOption{InitAddress: addr}, Codec: JSON[int]{}, Timeout: -1},
		"bad near":      {Redis: rueidis.ClientOption{InitAddress: addr}, Codec: JSON[int]{}, Near: cache.Options[string, int]{MaxEntries: -1}},
	} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: New returned %v, want ErrInvalidOptions", name, err)
		}
	}
}

func TestGetSetDelete(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	if _, ok := mustGet(t, c, "k"); ok {
		t.Fatal("Get of a missing key found it")
	}
	mustSet(t, c, "k", "v1")
	if got := srv.MustDo(t, "GET", "t:k"); got != "v1" {
		t.Fatalf("Redis holds %v for t:k, want v1", got)
	}
	if v, ok := mustGet(t, c, "k"); !ok || v != "v1" {
		t.Fatalf("Get = %q, %v; want v1", v, ok)
	}
	if v, ok := nearHas(c, "k"); !ok || v != "v1" {
		t.Fatalf("near tier holds %q, %v after Get; want v1", v, ok)
	}
	gets := commandCalls(t, srv, "get")
	for range 10 {
		if v, _ := mustGet(t, c, "k"); v != "v1" {
			t.Fatalf("Get = %q, want v1", v)
		}
	}
	if n := commandCalls(t, srv, "get") - gets; n != 0 {
		t.Fatalf("near hits sent %d GETs to Redis", n)
	}
	if err := c.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok := nearHas(c, "k"); ok {
		t.Fatal("near copy survived Delete")
	}
	if v, ok := mustGet(t, c, "k"); ok {
		t.Fatalf("Get after Delete = %q", v)
	}
	st := c.Stats()
	if st.NearHits < 10 || st.SharedHits != 1 || st.SharedMisses != 2 {
		t.Fatalf("stats %+v: want at least 10 near hits, 1 shared hit, 2 shared misses", st)
	}
}

func TestOneRoundTripPerKey(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[[]byte](t, []string{srv.Addr}, nil, hooks{})
	srv.MustDo(t, "SET", "t:shared", "x")
	gets, sets := commandCalls(t, srv, "get"), commandCalls(t, srv, "set")
	var loads atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 32 {
		wg.Go(func() {
			<-start
			if v, ok, err := c.Get(context.Background(), "shared"); err != nil || !ok || string(v) != "x" {
				t.Errorf("Get = %q, %v, %v", v, ok, err)
			}
			v, err := c.GetOrLoad(context.Background(), "loaded", func(context.Context, string) ([]byte, error) {
				loads.Add(1)
				return []byte("y"), nil
			})
			if err != nil || string(v) != "y" {
				t.Errorf("GetOrLoad = %q, %v", v, err)
			}
		})
	}
	close(start)
	wg.Wait()
	// "shared": one GET. "loaded": one GET that missed, then, after the
	// load, one SET NX and one GET that fills the near tier. The write-back
	// runs after the callers are answered: wait for the flight to end.
	c.wg.Wait()
	if n := commandCalls(t, srv, "get") - gets; n != 3 {
		t.Errorf("32 goroutines sent %d GETs for two keys, want 3", n)
	}
	if n := commandCalls(t, srv, "set") - sets; n != 1 {
		t.Errorf("%d SETs, want 1", n)
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("loader ran %d times, want 1", n)
	}
}

func TestLoadedValueSharedByFleet(t *testing.T) {
	srv := redistest.Start(t)
	a := newTest[string](t, []string{srv.Addr}, func(o *Options[string]) { o.TTL = time.Minute }, hooks{})
	b := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	v, err := a.GetOrLoad(context.Background(), "page", func(context.Context, string) (string, error) { return "body", nil })
	if err != nil || v != "body" {
		t.Fatalf("GetOrLoad = %q, %v", v, err)
	}
	// The write-back runs after the callers are answered: wait for it.
	eventually(t, 5*time.Second, "loaded value in Redis", func() bool { r, _ := srv.Do("GET", "t:page"); return r == "body" })
	if ttl, _ := srv.MustDo(t, "PTTL", "t:page").(int64); ttl <= 0 || ttl > time.Minute.Milliseconds() {
		t.Fatalf("PTTL of the loaded key = %d ms, want (0, 60000]", ttl)
	}
	v, err = b.GetOrLoad(context.Background(), "page", func(context.Context, string) (string, error) {
		t.Error("b loaded a key that a had stored")
		return "", nil
	})
	if err != nil || v != "body" {
		t.Fatalf("b.GetOrLoad = %q, %v", v, err)
	}
	if st := b.Stats(); st.SharedHits != 1 || st.Loads != 0 {
		t.Fatalf("b stats %+v: want one shared hit, no load", st)
	}
	eventually(t, 5*time.Second, "a's near copy after write-back", func() bool { _, ok := nearHas(a, "page"); return ok })
}

func TestLoaderErrorAndPanic(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	boom := errors.New("origin down")
	if _, err := c.GetOrLoad(context.Background(), "e", func(context.Context, string) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("GetOrLoad error = %v, want %v", err, boom)
	}
	if _, err := c.GetOrLoad(context.Background(), "p", func(context.Context, string) (string, error) { panic("bad") }); err == nil {
		t.Fatal("a panicking loader returned no error")
	} else if pe := (*cache.PanicError)(nil); !errors.As(err, &pe) || pe.Value != "bad" {
		t.Fatalf("error %v is not a PanicError for the panic", err)
	}
	if n, _ := srv.MustDo(t, "EXISTS", "t:e", "t:p").(int64); n != 0 {
		t.Fatalf("%d failed loads were stored in Redis", n)
	}
	if st := c.Stats(); st.Loads != 2 || st.LoadErrors != 2 {
		t.Fatalf("stats %+v: want 2 loads, 2 errors", st)
	}
}

func TestNearCopyNeverOutlivesRedisKey(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	for round := range 5 {
		if err := c.SetWithTTL(context.Background(), "short", "v", 150*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if v, ok := mustGet(t, c, "short"); !ok || v != "v" {
			t.Fatalf("round %d: Get = %q, %v", round, v, ok)
		}
		// Once Redis says the key is gone, the near tier must not have it.
		eventually(t, 5*time.Second, "key expired in Redis", func() bool {
			n, _ := srv.MustDo(t, "EXISTS", "t:short").(int64)
			if n == 0 {
				if _, ok := nearHas(c, "short"); ok {
					t.Fatalf("round %d: near copy outlived the Redis key", round)
				}
			}
			return n == 0
		})
	}
}

type point struct{ X, Y int }

func TestJSONCodecAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	tweak := func(o *Options[point]) { o.Codec = JSON[point]{} }
	a := newTest(t, []string{srv.Addr}, tweak, hooks{})
	b := newTest(t, []string{srv.Addr}, tweak, hooks{})
	mustSet(t, a, "p", point{1, 2})
	if v, ok := mustGet(t, b, "p"); !ok || v != (point{1, 2}) {
		t.Fatalf("b.Get = %v, %v", v, ok)
	}
	srv.MustDo(t, "SET", "t:bad", "not json")
	if _, _, err := b.Get(context.Background(), "bad"); err == nil {
		t.Fatal("Get of an undecodable value returned no error")
	}
	if b.Stats().CodecErrors != 1 {
		t.Fatalf("stats %+v: want one codec error", b.Stats())
	}
}

func TestClosed(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	mustSet(t, c, "k", "v")
	mustGet(t, c, "k")
	c.Close()
	if _, _, err := c.Get(context.Background(), "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if err := c.Set(context.Background(), "k", "v"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
}

func TestCallerContextIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	c := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"Set":    c.Set(ctx, "k", "v"),
		"Delete": c.Delete(ctx, "k"),
	} {
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled, not ErrUnavailable", name, err)
		}
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
	if n := c.Stats().RedisErrors; n != 0 {
		t.Errorf("%d Redis errors counted for cancelled callers", n)
	}
}
