package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shardmap/shardmap/cache"
)

func Example() {
	c, err := cache.New(cache.Options[string, int]{
		MaxEntries: 1000,
		TTL:        time.Minute,
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	c.Set("answer", 42)
	if v, ok := c.Get("answer"); ok {
		fmt.Println("answer:", v)
	}
	c.Delete("answer")
	_, ok := c.Get("answer")
	fmt.Println("found after Delete:", ok)
	// Output:
	// answer: 42
	// found after Delete: false
}

func ExampleCache_GetOrLoad() {
	c, err := cache.New(cache.Options[int, string]{MaxEntries: 100})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	loads := 0
	load := func(ctx context.Context, id int) (string, error) {
		loads++ // a database query, say
		return fmt.Sprintf("user-%d", id), nil
	}
	for range 3 {
		name, err := c.GetOrLoad(context.Background(), 7, load)
		fmt.Println(name, err)
	}
	fmt.Println("loads:", loads)
	// Output:
	// user-7 <nil>
	// user-7 <nil>
	// user-7 <nil>
	// loads: 1
}

func ExampleOptions_weight() {
	c, err := cache.New(cache.Options[string, []byte]{
		MaxWeight: 10, // bytes
		Weigher:   func(_ string, v []byte) uint32 { return uint32(len(v)) },
		OnEvict: func(k string, _ []byte, reason cache.Reason) {
			fmt.Println("out:", k, reason)
		},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	c.Set("a", make([]byte, 6))
	c.Set("b", make([]byte, 6)) // does not fit next to a: a is evicted first
	c.Set("c", make([]byte, 20))
	fmt.Println("weight:", c.Weight())
	// Output:
	// out: a Evicted
	// out: c Evicted
	// weight: 6
}

func ExampleNew_invalid() {
	_, err := cache.New(cache.Options[string, int]{MaxEntries: 10, MaxWeight: 10})
	fmt.Println(err)
	fmt.Println(errors.Is(err, cache.ErrInvalidOptions))
	// Output:
	// cache: invalid options: both MaxEntries (10) and MaxWeight (10) are set; set one
	// true
}

func ExampleCache_Stats() {
	c, err := cache.New(cache.Options[int, int]{MaxEntries: 2})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for i := range 3 {
		c.Set(i, i)
	}
	for i := range 3 {
		c.Get(i) // one of the three was evicted
	}
	st := c.Stats()
	fmt.Printf("hits %d, misses %d, evictions %d, hit ratio %.2f\n", st.Hits, st.Misses, st.Evictions, st.HitRatio())
	// Output:
	// hits 2, misses 1, evictions 1, hit ratio 0.67
}

func ExampleCache_Compute() {
	c, err := cache.New(cache.Options[string, int]{MaxEntries: 100})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	incr := func(old int, found bool) (int, cache.ComputeOp) { return old + 1, cache.UpdateOp }
	for range 3 {
		c.Compute("hits", incr)
	}
	v, _ := c.Get("hits")
	fmt.Println(v)
	// Output:
	// 3
}

func ExampleCache_GetAllOrLoad() {
	c, err := cache.New(cache.Options[int, string]{MaxEntries: 100})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Set(1, "one")
	load := func(_ context.Context, keys []int) (map[int]string, error) {
		fmt.Println("loading", keys) // one call for every missing key
		m := map[int]string{}
		for _, k := range keys {
			m[k] = strings.Repeat("*", k)
		}
		return m, nil
	}
	m, err := c.GetAllOrLoad(context.Background(), []int{1, 2, 3}, load)
	if err != nil {
		panic(err)
	}
	fmt.Println(m[1], m[2], m[3])
	// Output:
	// loading [2 3]
	// one ** ***
}
