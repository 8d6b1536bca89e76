package shardmap_test

import (
	"fmt"
	"slices"

	"github.com/shardmap/shardmap"
)

func Example() {
	m := shardmap.New[string, int]()
	m.Store("apples", 3)
	m.Store("pears", 5)

	if n, ok := m.Load("apples"); ok {
		fmt.Println("apples:", n)
	}
	m.Delete("pears")
	fmt.Println("entries:", m.Len())
	// Output:
	// apples: 3
	// entries: 1
}

func ExampleMap_Compute() {
	hits := shardmap.New[string, int]()
	count := func(old int, loaded bool) (int, shardmap.ComputeOp) {
		return old + 1, shardmap.UpdateOp
	}
	for _, path := range []string{"/", "/about", "/"} {
		hits.Compute(path, count)
	}

	// Delete an entry only if it is below a threshold, in one atomic step.
	hits.Compute("/about", func(old int, loaded bool) (int, shardmap.ComputeOp) {
		if loaded && old < 2 {
			return 0, shardmap.DeleteOp
		}
		return old, shardmap.CancelOp
	})

	n, _ := hits.Load("/")
	_, about := hits.Load("/about")
	fmt.Println(n, about)
	// Output: 2 false
}

func ExampleMap_LoadOrCompute() {
	m := shardmap.New[int, []string]()
	v, loaded := m.LoadOrCompute(1, func() []string { return []string{"built once"} })
	fmt.Println(v, loaded)
	v, loaded = m.LoadOrCompute(1, func() []string { return []string{"not called"} })
	fmt.Println(v, loaded)
	// Output:
	// [built once] false
	// [built once] true
}

func ExampleMap_All() {
	m := shardmap.New[string, int]()
	m.Store("b", 2)
	m.Store("a", 1)
	m.Store("c", 3)

	var keys []string
	for k, v := range m.All() {
		if v > 1 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // iteration order is unspecified
	fmt.Println(keys)
	// Output: [b c]
}

func ExampleWithPresize() {
	m := shardmap.New[int, int](shardmap.WithPresize(10_000))
	for i := range 10_000 {
		m.Store(i, i*i)
	}
	fmt.Println("growths:", m.Stats().Growths)
	// Output: growths: 0
}

func ExampleMap_Stats() {
	m := shardmap.New[int, int](shardmap.WithShards(4))
	for i := range 100_000 {
		m.Store(i, i)
	}
	for i := range 100_000 {
		m.Delete(i)
	}
	st := m.Stats()
	fmt.Println("grew:", st.Growths > 0, "shrank:", st.Shrinks > 0, "entries:", st.Entries)
	// Output: grew: true shrank: true entries: 0
}
