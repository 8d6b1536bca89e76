package rediscache

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/rediscache/redistest"
)

func TestMain(m *testing.M) {
	if _, err := redistest.Available(); err != nil {
		if redistest.Required() {
			fmt.Fprintln(os.Stderr, "FAIL:", err, "(SHARDMAP_REQUIRE_REDIS=1 or CI=true requires it)")
			os.Exit(1)
		}
		// Every test and example here runs against a real redis-server.
		fmt.Fprintln(os.Stderr, "skipping rediscache tests:", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testTimeout is the Redis deadline of tests that do not test deadlines:
// long enough that a loaded 2-core machine running -race never hits it.
const testTimeout = 2 * time.Second

// newTest returns a Cache on addrs with testTimeout, closed when t ends;
// tweak, if not nil, adjusts the options first.
func newTest[V any](t testing.TB, addrs []string, tweak func(*Options[V]), hk hooks) *Cache[V] {
	t.Helper()
	o := Options[V]{Redis: rueidis.ClientOption{InitAddress: addrs}, Prefix: "t:", Timeout: testTimeout}
	if tweak != nil {
		tweak(&o)
	}
	c, err := newCache(o, hk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// eventually polls cond every millisecond until it holds or within has
// passed, and returns how long that took; it fails t on the deadline.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(time.Millisecond) // poll interval; the deadline above decides
	}
	return time.Since(start)
}

// nearHas reports whether c's near tier holds key, without asking Redis.
func nearHas[V any](c *Cache[V], key string) (V, bool) {
	return c.tier.Load().near.Get(key)
}

// commandCalls returns how many times srv has run cmd (INFO commandstats).
func commandCalls(t testing.TB, srv *redistest.Server, cmd string) int {
	t.Helper()
	info, _ := srv.MustDo(t, "INFO", "commandstats").(string)
	prefix := "cmdstat_" + strings.ToLower(cmd) + ":calls="
	for line := range strings.SplitSeq(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// mustGet is Get that fails t on an error.
func mustGet[V any](t testing.TB, c *Cache[V], key string) (V, bool) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ok
}

// mustSet is Set that fails t on an error.
func mustSet[V any](t testing.TB, c *Cache[V], key string, v V) {
	t.Helper()
	if err := c.Set(context.Background(), key, v); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}
