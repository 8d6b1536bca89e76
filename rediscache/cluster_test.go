package rediscache

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shardmap/shardmap/rediscache/redistest"
)

func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	a := newTest[string](t, cl.Addrs(), nil, hooks{})
	b := newTest[string](t, cl.Addrs(), nil, hooks{})
	// The cluster client replaces its first connections once it knows the
	// slot map, which flushes the near tier once or twice (each closed
	// connection may have missed invalidations). Wait until fills stick.
	mustSet(t, a, "probe", "p")
	for name, c := range map[string]*Cache[string]{"a": a, "b": b} {
		eventually(t, 5*time.Second, name+" keeps a near copy", func() bool {
			mustGet(t, c, "probe")
			_, ok := nearHas(c, "probe")
			return ok
		})
	}
	nodes := map[string]bool{}
	for i := range 12 {
		key := "c" + strconv.Itoa(i)
		mustSet(t, a, key, "v1")
		if v, ok := mustGet(t, b, key); !ok || v != "v1" {
			t.Fatalf("b.Get(%s) = %q, %v", key, v, ok)
		}
		if _, ok := nearHas(b, key); !ok {
			t.Fatalf("b's Get of %s did not fill its near tier (stats %+v)", key, b.Stats())
		}
		checkSeen(t, a, b, key, func() error { return a.Set(context.Background(), key, "v2") }, "v2", true)
		checkSeen(t, b, a, key, func() error { return b.Delete(context.Background(), key) }, "", false)
		// Record which master holds the key.
		slot, _ := cl.Nodes[0].MustDo(t, "CLUSTER", "KEYSLOT", "t:"+key).(int64)
		for _, n := range cl.Nodes {
			if cnt, _ := n.MustDo(t, "CLUSTER", "COUNTKEYSINSLOT", strconv.FormatInt(slot, 10)).(int64); cnt >= 0 {
				if owns(t, n, slot) {
					nodes[n.Addr] = true
				}
			}
		}
	}
	if len(nodes) < 2 {
		t.Fatalf("the keys landed on %d masters; the test needs at least 2", len(nodes))
	}
	v, err := b.GetOrLoad(context.Background(), "loaded", func(context.Context, string) (string, error) { return "x", nil })
	if err != nil || v != "x" {
		t.Fatalf("GetOrLoad = %q, %v", v, err)
	}
	b.wg.Wait() // the write-back
	if v, ok := mustGet(t, a, "loaded"); !ok || v != "x" {
		t.Fatalf("a.Get of b's loaded key = %q, %v", v, ok)
	}
}

// owns reports whether node n serves slot, from its CLUSTER SLOTS view of
// itself.
func owns(t *testing.T, n *redistest.Server, slot int64) bool {
	t.Helper()
	ranges, _ := n.MustDo(t, "CLUSTER", "SLOTS").([]any)
	for _, r := range ranges {
		rr, _ := r.([]any)
		if len(rr) < 3 {
			continue
		}
		lo, _ := rr[0].(int64)
		hi, _ := rr[1].(int64)
		master, _ := rr[2].([]any)
		if len(master) < 2 || slot < lo || slot > hi {
			continue
		}
		port, _ := master[1].(int64)
		return port == int64(n.Port)
	}
	return false
}
