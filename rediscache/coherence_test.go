package rediscache

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shardmap/shardmap/rediscache/redistest"
)

// TestConcurrentWritersConverge races Sets, Deletes, Gets and loads of a few
// keys on two instances, then checks that once the writes stop every near
// copy left equals what Redis holds. A fill that lost the race with an
// invalidation (the race tickets close) would leave a copy that no later
// invalidation removes: the check would see it for as long as it waits.
func TestConcurrentWritersConverge(t *testing.T) {
	srv := redistest.Start(t)
	insts := []*Cache[string]{
		newTest[string](t, []string{srv.Addr}, nil, hooks{}),
		newTest[string](t, []string{srv.Addr}, nil, hooks{}),
	}
	const keys = 8
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		c := insts[g%2]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				k := strconv.Itoa(r.IntN(keys))
				var err error
				switch op := r.IntN(10); {
				case op < 2:
					err = c.Set(ctx, k, strconv.Itoa(g)+"-"+strconv.Itoa(n))
				case op < 3:
					err = c.Delete(ctx, k)
				case op < 4:
					_, err = c.GetOrLoad(ctx, k, func(context.Context, string) (string, error) { return "loaded", nil })
				default:
					_, _, err = c.Get(ctx, k)
				}
				if err != nil {
					t.Errorf("op on %s: %v", k, err)
					return
				}
			}
		})
	}
	eventually(t, 10*time.Second, "racing operations", func() bool {
		var n uint64
		for _, c := range insts {
			st := c.Stats()
			n += st.Invalidations + st.SharedHits
		}
		return n > 2000
	})
	close(stop)
	wg.Wait()
	for _, c := range insts {
		c.wg.Wait() // write-backs
	}
	for i, c := range insts {
		for k := range keys {
			key := strconv.Itoa(k)
			eventually(t, time.Second, "instance "+strconv.Itoa(i)+" near copy of "+key+" matches Redis", func() bool {
				v, near := nearHas(c, key)
				if !near {
					return true
				}
				r, err := srv.Do("GET", "t:"+key)
				if err != nil {
					t.Fatal(err)
				}
				return r == v
			})
		}
	}
	for i, c := range insts {
		t.Logf("instance %d: %+v", i, c.Stats())
	}
}
