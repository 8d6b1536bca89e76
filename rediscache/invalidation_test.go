package rediscache

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardmap/shardmap/rediscache/redistest"
)

// seenWithin is how soon a write on one instance must be seen on another.
const seenWithin = 100 * time.Millisecond

// checkSeen makes writer change key (by write) and checks that reader sees
// want within seenWithin and never an older value after that.
func checkSeen(t *testing.T, writer, reader *Cache[string], key string, write func() error, want string, wantFound bool) {
	t.Helper()
	// With a near copy, the reader can only see the write once an
	// invalidation (or a flush) dropped it.
	_, hadCopy := nearHas(reader, key)
	before := reader.Stats()
	// Writes and reads may miss a short deadline on a loaded machine; that
	// is no stale read, so they are retried.
	var err error
	for range 5 {
		if err = write(); !errors.Is(err, ErrUnavailable) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		v, ok, err := reader.Get(context.Background(), key)
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		if err == nil && ok == wantFound && v == want {
			break
		}
		if time.Since(start) > seenWithin {
			nv, near := nearHas(reader, key)
			t.Fatalf("reader still reads %q, %v %v after the write (near copy %q, %v; stats before %+v, now %+v)",
				v, ok, time.Since(start), nv, near, before, reader.Stats())
		}
		time.Sleep(time.Millisecond) // poll interval; the deadline above decides
	}
	took := time.Since(start)
	for range 50 {
		v, ok, err := reader.Get(context.Background(), key)
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		if err == nil && (ok != wantFound || v != want) {
			t.Fatalf("stale read after the write was seen: %q, %v; want %q, %v", v, ok, want, wantFound)
		}
	}
	after := reader.Stats()
	if hadCopy && after.Invalidations == before.Invalidations && after.Flushes == before.Flushes {
		t.Fatalf("reader saw the write without an invalidation or a flush: it was never tracking %q", key)
	}
	t.Logf("seen after %v", took)
}

func TestSetSeenByOtherInstance(t *testing.T) {
	srv := redistest.Start(t)
	a := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	b := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	mustSet(t, a, "k", "v0")
	for i := 1; i <= 20; i++ {
		if v, ok := mustGet(t, b, "k"); !ok || v != "v"+strconv.Itoa(i-1) {
			t.Fatalf("b.Get = %q, %v", v, ok)
		}
		if _, ok := nearHas(b, "k"); !ok {
			t.Fatalf("b's Get did not fill its near tier (stats %+v)", b.Stats())
		}
		want := "v" + strconv.Itoa(i)
		checkSeen(t, a, b, "k", func() error { return a.Set(context.Background(), "k", want) }, want, true)
	}
}

func TestDeleteSeenByOtherInstance(t *testing.T) {
	srv := redistest.Start(t)
	a := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	b := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	for i := range 20 {
		key := "d" + strconv.Itoa(i)
		mustSet(t, a, key, "v")
		if v, ok := mustGet(t, b, key); !ok || v != "v" {
			t.Fatalf("b.Get = %q, %v", v, ok)
		}
		checkSeen(t, a, b, key, func() error { return a.Delete(context.Background(), key) }, "", false)
	}
}

func TestWriteByAnotherClientSeen(t *testing.T) {
	// A writer that is not a Cache at all (redis-cli, another service).
	srv := redistest.Start(t)
	b := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	srv.MustDo(t, "SET", "t:k", "old")
	if v, _ := mustGet(t, b, "k"); v != "old" {
		t.Fatalf("Get = %q", v)
	}
	checkSeen(t, nil, b, "k", func() error { _, err := srv.Do("SET", "t:k", "new"); return err }, "new", true)
	checkSeen(t, nil, b, "k", func() error { _, err := srv.Do("FLUSHALL"); return err }, "", false)
}

func TestKeyEvictedByRedisLeavesNearTiers(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "4mb", "--maxmemory-policy", "allkeys-random")
	a := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	b := newTest[string](t, []string{srv.Addr}, nil, hooks{})
	mustSet(t, a, "victim", "v")
	for _, c := range []*Cache[string]{a, b} {
		if v, ok := mustGet(t, c, "victim"); !ok || v != "v" {
			t.Fatalf("Get = %q, %v", v, ok)
		}
	}
	filler := strings.Repeat("x", 64<<10)
	evicted := false
	for i := 0; i < 2000 && !evicted; i++ {
		srv.MustDo(t, "SET", "fill:"+strconv.Itoa(i), filler)
		n, _ := srv.MustDo(t, "EXISTS", "t:victim").(int64)
		evicted = n == 0
	}
	if !evicted {
		t.Fatal("Redis did not evict the key")
	}
	for name, c := range map[string]*Cache[string]{"a": a, "b": b} {
		eventually(t, time.Second, name+" drops the evicted key", func() bool { _, ok := nearHas(c, "victim"); return !ok })
		if _, ok := mustGet(t, c, "victim"); ok {
			t.Fatalf("%s still finds the evicted key", name)
		}
	}
}
