package rediscache_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/rueidis"
	"github.com/shardmap/shardmap/rediscache"
	"github.com/shardmap/shardmap/rediscache/redistest"
)

// Two instances share one Redis: what one loads, the other finds in Redis;
// what one changes, the other drops from its near tier.
func Example() {
	dir, _ := os.MkdirTemp("", "redis")
	defer os.RemoveAll(dir)
	srv, err := redistest.StartServer(dir)
	if err != nil {
		panic(err)
	}
	defer srv.Stop()

	newInstance := func() *rediscache.Cache[string] {
		c, err := rediscache.New(rediscache.Options[string]{
			Redis:   rueidis.ClientOption{InitAddress: []string{srv.Addr}},
			Prefix:  "pages:",
			TTL:     time.Hour,
			Timeout: time.Second,
		})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := newInstance(), newInstance()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()

	origin := func(_ context.Context, key string) (string, error) {
		fmt.Println("origin request for", key)
		return "<h1>home</h1>", nil
	}
	v, _ := a.GetOrLoad(ctx, "/", origin)
	fmt.Println("a:", v)

	// b finds a's value in Redis once a's write-back has landed.
	for {
		if _, found, _ := b.Get(ctx, "/"); found {
			break
		}
		time.Sleep(time.Millisecond)
	}
	v, _ = b.GetOrLoad(ctx, "/", origin)
	fmt.Println("b:", v)

	// A change on a reaches b's near tier through Redis's invalidation.
	_ = a.Set(ctx, "/", "<h1>new home</h1>")
	for {
		if v, _, _ := b.Get(ctx, "/"); v == "<h1>new home</h1>" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	v, _, _ = b.Get(ctx, "/")
	fmt.Println("b:", v)
	// Output:
	// origin request for /
	// a: <h1>home</h1>
	// b: <h1>home</h1>
	// b: <h1>new home</h1>
}
