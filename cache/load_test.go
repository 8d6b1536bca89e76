package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardmap/shardmap"
)

// waiters returns how many callers joined key's call in flight (0 if none).
func (c *Cache[K, V]) waiters(key K) int {
	n := 0
	c.calls.Compute(key, func(cur *call[V], ok bool) (*call[V], shardmap.ComputeOp) {
		if ok {
			n = cur.waiters
		}
		return cur, shardmap.CancelOp
	})
	return n
}

// awaitWaiters spins until n callers joined key's call.
func awaitWaiters[K comparable, V any](t *testing.T, c *Cache[K, V], key K, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.waiters(key) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers joined the load", c.waiters(key), n)
		}
		runtime.Gosched()
	}
}

// gatedLoader is a loader that counts its calls and blocks until released.
type gatedLoader struct {
	calls   atomic.Int32
	started chan struct{} // receives once per call
	release chan struct{} // closed to let calls return
	ctxErr  atomic.Value  // the loader context's Err when released
	value   func(key int) (string, error)
}

func newGatedLoader() *gatedLoader {
	return &gatedLoader{
		started: make(chan struct{}, 100),
		release: make(chan struct{}),
		value:   func(k int) (string, error) { return fmt.Sprint("v", k), nil },
	}
}

func (g *gatedLoader) load(ctx context.Context, k int) (string, error) {
	g.calls.Add(1)
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	if err := ctx.Err(); err != nil {
		g.ctxErr.Store(err)
		return "", err
	}
	return g.value(k)
}

func TestLoadOnceForConcurrentCallers(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	g := newGatedLoader()
	const n = 16
	var wg sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = c.GetOrLoad(context.Background(), 7, g.load) })
	}
	awaitWaiters(t, c, 7, n)
	close(g.release)
	wg.Wait()
	if got := g.calls.Load(); got != 1 {
		t.Fatalf("loader called %d times, want 1", got)
	}
	for i := range n {
		if errs[i] != nil || results[i] != "v7" {
			t.Fatalf("caller %d got %q, %v", i, results[i], errs[i])
		}
	}
	if v, ok := c.Get(7); !ok || v != "v7" {
		t.Fatal("loaded value not stored")
	}
	if v, err := c.GetOrLoad(context.Background(), 7, g.load); err != nil || v != "v7" || g.calls.Load() != 1 {
		t.Fatal("second GetOrLoad did not hit")
	}
	if st := c.Stats(); st.Loads != 1 || st.LoadErrors != 0 {
		t.Fatalf("Stats %+v, want 1 load", st)
	}
	mustCheck(t, c)
}

func TestLoadErrorReachesAllAndIsNotCached(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	g := newGatedLoader()
	errBoom := errors.New("boom")
	g.value = func(int) (string, error) { return "", errBoom }
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = c.GetOrLoad(context.Background(), 1, g.load) })
	}
	awaitWaiters(t, c, 1, n)
	close(g.release)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, errBoom) {
			t.Fatalf("caller %d got %v, want %v", i, err, errBoom)
		}
	}
	if _, ok := c.Get(1); ok {
		t.Fatal("a failed load stored a value")
	}
	g.value = func(int) (string, error) { return "ok", nil }
	if v, err := c.GetOrLoad(context.Background(), 1, g.load); err != nil || v != "ok" {
		t.Fatalf("retry got %q, %v", v, err)
	}
	if g.calls.Load() != 2 {
		t.Fatalf("loader called %d times, want 2 (error not cached)", g.calls.Load())
	}
	if st := c.Stats(); st.Loads != 2 || st.LoadErrors != 1 {
		t.Fatalf("Stats %+v, want 2 loads, 1 error", st)
	}
}

func TestLoadWaiterContextEnds(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	g := newGatedLoader()
	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error)
	go func() {
		_, err := c.GetOrLoad(ctx, 3, g.load) // the first caller: its ctx feeds the loader
		firstErr <- err
	}()
	<-g.started
	second := make(chan string)
	go func() {
		v, _ := c.GetOrLoad(context.Background(), 3, g.load)
		second <- v
	}()
	awaitWaiters(t, c, 3, 2)
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller got %v, want context.Canceled", err)
	}
	close(g.release)
	if v := <-second; v != "v3" {
		t.Fatalf("other caller got %q, want v3", v)
	}
	if err, _ := g.ctxErr.Load().(error); err != nil {
		t.Fatalf("the loader's context was canceled: %v", err)
	}
	if v, ok := c.Get(3); !ok || v != "v3" {
		t.Fatal("load abandoned by its first caller was not stored")
	}
}

func TestLoadDeadlineAlreadyPassed(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GetOrLoad(ctx, 1, func(context.Context, int) (string, error) {
		t.Error("loader called with a canceled context")
		return "", nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestLoadPanic(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	g := newGatedLoader()
	g.value = func(int) (string, error) { panic("kaboom") }
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = c.GetOrLoad(context.Background(), 5, g.load) })
	}
	awaitWaiters(t, c, 5, n)
	close(g.release)
	wg.Wait()
	for i, err := range errs {
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "kaboom" {
			t.Fatalf("caller %d got %v, want a *PanicError with the panic value", i, err)
		}
		if !strings.Contains(err.Error(), "kaboom") || len(pe.Stack) == 0 {
			t.Fatalf("panic error %q lacks the value or the stack", err)
		}
	}
	// Nothing is stuck: the next call loads again.
	if v, err := c.GetOrLoad(context.Background(), 5, func(context.Context, int) (string, error) { return "fine", nil }); err != nil || v != "fine" {
		t.Fatalf("after a panic: %q, %v", v, err)
	}
	if st := c.Stats(); st.LoadErrors != 1 {
		t.Fatalf("Stats %+v, want 1 load error", st)
	}

	// A panic with an error value unwraps to it.
	errInner := errors.New("inner")
	_, err := c.GetOrLoad(context.Background(), 6, func(context.Context, int) (string, error) { panic(errInner) })
	if !errors.Is(err, errInner) {
		t.Fatalf("got %v, want it to wrap the panic's error", err)
	}
}

func TestLoadGoexit(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	_, err := c.GetOrLoad(context.Background(), 1, func(context.Context, int) (string, error) {
		runtime.Goexit()
		return "", nil
	})
	if !errors.Is(err, errLoaderExited) {
		t.Fatalf("got %v, want errLoaderExited", err)
	}
	if v, err := c.GetOrLoad(context.Background(), 1, func(context.Context, int) (string, error) { return "x", nil }); err != nil || v != "x" {
		t.Fatalf("key stuck after Goexit: %q, %v", v, err)
	}
}

func TestDeleteDuringLoadWins(t *testing.T) {
	var rec recorder[int, string]
	var mu sync.Mutex
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10, OnEvict: func(k int, v string, r Reason) {
		mu.Lock()
		defer mu.Unlock()
		rec.onEvict(k, v, r)
	}})
	g := newGatedLoader()
	got := make(chan string)
	go func() {
		v, _ := c.GetOrLoad(context.Background(), 9, g.load)
		got <- v
	}()
	<-g.started
	c.Delete(9)
	close(g.release)
	if v := <-got; v != "v9" {
		t.Fatalf("caller got %q, want the loaded v9", v)
	}
	if _, ok := c.Get(9); ok {
		t.Fatal("the load undid the Delete")
	}
	if c.Len() != 0 {
		t.Fatalf("Len %d", c.Len())
	}
	// A new call after the Delete loads afresh.
	if v, err := c.GetOrLoad(context.Background(), 9, func(context.Context, int) (string, error) { return "new", nil }); err != nil || v != "new" {
		t.Fatalf("reload got %q, %v", v, err)
	}
	mustCheck(t, c)
}

func TestSetDuringLoadWins(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	g := newGatedLoader()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.GetOrLoad(context.Background(), 4, g.load)
	}()
	<-g.started
	c.Set(4, "set")
	close(g.release)
	<-done
	if v, ok := c.Get(4); !ok || v != "set" {
		t.Fatalf("Get = %q, %v; the load overwrote a newer Set", v, ok)
	}
	mustCheck(t, c)
}

func TestCloseCancelsLoads(t *testing.T) {
	c, err := New(Options[int, string]{MaxEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedLoader()
	errc := make(chan error)
	go func() {
		_, err := c.GetOrLoad(context.Background(), 1, g.load)
		errc <- err
	}()
	<-g.started
	c.Close()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("load after Close returned %v, want context.Canceled", err)
	}
	if _, err := c.GetOrLoad(context.Background(), 2, g.load); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetOrLoad after Close returned %v, want ErrClosed", err)
	}
	c.Set(3, "x")
	if v, err := c.GetOrLoad(context.Background(), 3, g.load); err != nil || v != "x" {
		t.Fatalf("hit after Close returned %q, %v", v, err)
	}
}

func TestLoadNilLoader(t *testing.T) {
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	if _, err := c.GetOrLoad(context.Background(), 1, nil); !errors.Is(err, ErrNilLoader) {
		t.Fatalf("got %v, want ErrNilLoader", err)
	}
	c.Set(1, "x")
	if v, err := c.GetOrLoad(context.Background(), 1, nil); err != nil || v != "x" {
		t.Fatalf("hit with nil loader: %q, %v", v, err)
	}
}

func TestLoadKeepsContextValues(t *testing.T) {
	type ctxKey struct{}
	c, _ := newTestCache(t, Options[int, string]{MaxEntries: 10})
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-42")
	v, err := c.GetOrLoad(ctx, 1, func(ctx context.Context, _ int) (string, error) {
		s, _ := ctx.Value(ctxKey{}).(string)
		return s, nil
	})
	if err != nil || v != "request-42" {
		t.Fatalf("got %q, %v; the loader did not see the caller's values", v, err)
	}
}

func TestLoadedValueExpires(t *testing.T) {
	c, clk := newTestCache(t, Options[int, string]{MaxEntries: 10, TTL: time.Second})
	calls := 0
	load := func(context.Context, int) (string, error) { calls++; return fmt.Sprint(calls), nil }
	v1, _ := c.GetOrLoad(context.Background(), 1, load)
	clk.Advance(time.Second)
	v2, _ := c.GetOrLoad(context.Background(), 1, load)
	if v1 != "1" || v2 != "2" {
		t.Fatalf("got %q then %q, want a reload after the TTL", v1, v2)
	}
}

func TestConcurrentLoadsAndWrites(t *testing.T) {
	c, _ := newTestCache(t, Options[int, int]{MaxEntries: 64})
	var loads atomic.Int64
	load := func(_ context.Context, k int) (int, error) {
		loads.Add(1)
		if k%7 == 0 {
			return 0, errors.New("seven")
		}
		return k * 10, nil
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := (i*31 + g) % 100
				switch i % 5 {
				case 0:
					c.Delete(k)
				case 1:
					c.Set(k, k*10)
				default:
					v, err := c.GetOrLoad(context.Background(), k, load)
					if err == nil && v != k*10 {
						t.Errorf("key %d: got %d", k, v)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	mustCheck(t, c)
	if c.loading.Load() != 0 || c.calls.Len() != 0 {
		t.Fatalf("%d loads still registered", c.calls.Len())
	}
}
