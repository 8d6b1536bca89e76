package shardmap

import (
	"fmt"
	"iter"
	"math"
	"runtime"
	"sync"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uintMap is the part of Map[uint64, uint64]'s API, test hooks included,
// that the rapid model and the linearizability scenarios drive. *Map[uint64, uint64] has it; boxedMap gives it
// to a Map[uint64, *uint64], so the same model runs against inlinePtrSlots,
// and strMap to a Map[string, uint64], for inlineStrSlots.
type uintMap interface {
	Load(key uint64) (uint64, bool)
	Store(key, value uint64)
	LoadOrStore(key, value uint64) (uint64, bool)
	LoadOrCompute(key uint64, fn func() uint64) (uint64, bool)
	LoadAndStore(key, value uint64) (uint64, bool)
	LoadAndDelete(key uint64) (uint64, bool)
	Delete(key uint64)
	Compute(key uint64, fn func(uint64, bool) (uint64, ComputeOp)) (uint64, bool)
	Range(f func(key, value uint64) bool)
	All() iter.Seq2[uint64, uint64]
	Len() int
	Clear()
	Stats() Stats
	CheckInvariants() error
	StartMigration(key uint64, phase uintptr) bool
	EvacuateNext(key uint64) bool
	ReadsOld(key uint64) bool
	ShardMigrating(key uint64) bool
	StaleLoad(key uint64) (uint64, bool)
}

// boxedMap stores each value in its own allocation and keeps the pointer in
// the map. A present key whose pointer reads as nil, a state the map must
// never show, makes unbox panic, which fails the test.
type boxedMap struct {
	*Map[uint64, *uint64]
}

func box(v uint64) *uint64 { return &v }

func unbox(p *uint64, ok bool) (uint64, bool) {
	if !ok {
		if p != nil {
			panic("shardmap: a value returned for an absent key")
		}
		return 0, false
	}
	if p == nil {
		panic("shardmap: a present key read with a nil pointer value")
	}
	return *p, true
}

func (b boxedMap) Load(key uint64) (uint64, bool)      { return unbox(b.Map.Load(key)) }
func (b boxedMap) StaleLoad(key uint64) (uint64, bool) { return unbox(b.Map.StaleLoad(key)) }
func (b boxedMap) Store(key, value uint64)             { b.Map.Store(key, box(value)) }
func (b boxedMap) LoadOrStore(key, value uint64) (uint64, bool) {
	p, loaded := b.Map.LoadOrStore(key, box(value))
	v, _ := unbox(p, true) // stored or loaded, the value is there
	return v, loaded
}
func (b boxedMap) LoadOrCompute(key uint64, fn func() uint64) (uint64, bool) {
	p, loaded := b.Map.LoadOrCompute(key, func() *uint64 { return box(fn()) })
	v, _ := unbox(p, true)
	return v, loaded
}
func (b boxedMap) LoadAndStore(key, value uint64) (uint64, bool) {
	p, ok := b.Map.LoadAndStore(key, box(value))
	return unbox(p, ok)
}
func (b boxedMap) LoadAndDelete(key uint64) (uint64, bool) { return unbox(b.Map.LoadAndDelete(key)) }
func (b boxedMap) Compute(key uint64, fn func(uint64, bool) (uint64, ComputeOp)) (uint64, bool) {
	p, ok := b.Map.Compute(key, func(old *uint64, loaded bool) (*uint64, ComputeOp) {
		v, _ := unbox(old, loaded)
		nv, op := fn(v, loaded)
		return box(nv), op
	})
	if !ok {
		return 0, false // DeleteOp and a cancelled absent key return nil
	}
	return unbox(p, true)
}
func (b boxedMap) Range(f func(key, value uint64) bool) {
	b.Map.Range(func(k uint64, p *uint64) bool {
		v, _ := unbox(p, true)
		return f(k, v)
	})
}
func (b boxedMap) All() iter.Seq2[uint64, uint64] {
	return func(yield func(uint64, uint64) bool) { b.Range(yield) }
}

// newUintMap returns the map a model run drives for h: a Map[uint64,
// uint64] in h's layout, for h.Boxed a boxedMap, for h.Str a strMap.
func newUintMap(h TestHasher, opts ...Option) uintMap {
	if h.Str && h.Boxed {
		m := New[string, *uint64](opts...)
		if m.slots != inlineStrPtrSlots {
			panic("shardmap: a string key and a pointer value should be kept inline")
		}
		return strBoxedMap{m}
	}
	if h.Str {
		m := New[string, uint64](opts...)
		if m.slots != inlineStrSlots {
			panic("shardmap: a string key should be kept inline")
		}
		return newStrMap(m)
	}
	if h.Boxed {
		m := New[uint64, *uint64](opts...)
		if m.slots != inlinePtrSlots {
			panic("shardmap: a *uint64 value should be kept inline")
		}
		return boxedMap{m}
	}
	return New[uint64, uint64](opts...)
}

// TestPtrSlotsKeepValuesAlive stores values that only the map points to and
// collects garbage while readers load them: if the GC did not see the value
// words as pointers it would free the values and reuse their memory, and a
// reader would find a value that no longer matches its key. Writers replace
// values (one pointer store), delete and reinsert keys (slot reuse) and push
// shards through growth and shrinking, so evacuation copies pointers too.
func TestPtrSlotsKeepValuesAlive(t *testing.T) {
	type payload struct{ key, check uint64 }
	for _, opts := range [][]Option{{WithShards(2)}, {WithShards(1), WithHasher(func(uint64, uint64) uint64 { return 0 })}} {
		m := New[uint64, *payload](opts...)
		require.Equal(t, inlinePtrSlots, m.slots)
		const keys = 512
		rounds := 8
		if faultRaceEnabled() {
			rounds = 3
		}
		var wg sync.WaitGroup
		done := make(chan struct{})
		errs := make(chan error, 4)
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := uint64(r); ; i++ {
					select {
					case <-done:
						return
					default:
					}
					k := i % keys
					if p, ok := m.Load(k); ok && (p == nil || p.key != k || p.check != ^k) {
						select {
						case errs <- fmt.Errorf("Load(%d) = %+v", k, p):
						default:
						}
						return
					}
				}
			}()
		}
		for round := range rounds {
			for k := range uint64(keys) {
				m.Store(k, &payload{k, ^k})
			}
			runtime.GC()
			for k := range uint64(keys) {
				if k%3 == uint64(round%3) {
					m.Delete(k)
				}
			}
			runtime.GC()
		}
		close(done)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for k := range uint64(keys) {
			m.Store(k, &payload{k, ^k})
		}
		runtime.GC()
		for k := range uint64(keys) {
			p, ok := m.Load(k)
			require.True(t, ok)
			require.Equal(t, payload{k, ^k}, *p)
		}
		require.NoError(t, m.CheckInvariants())
	}
}

// TestPtrSlotsForgetDeletedValues checks that the map lets go of a value once
// its key is deleted or its value replaced: the value must become garbage
// (its weak pointer turns nil after a collection), while a value still stored
// must not.
func TestPtrSlotsForgetDeletedValues(t *testing.T) {
	for _, hasher := range []Option{WithShards(1), WithHasher(func(uint64, uint64) uint64 { return 0 })} {
		// One shard, presized and grow-only, so no migration holds an old
		// copy of a slot while the test looks.
		m := New[uint64, *[64]byte](WithShards(1), WithPresize(1000), WithGrowOnly(), hasher)
		weaks := make([]weak.Pointer[[64]byte], 40)
		for k := range uint64(40) {
			v := new([64]byte)
			weaks[k] = weak.Make(v)
			m.Store(k, v)
		}
		require.Equal(t, uint64(0), m.Stats().Growths+m.Stats().Compactions)
		for k := range uint64(10) {
			m.Delete(k) // cleared in place
		}
		for k := uint64(10); k < 20; k++ {
			m.Store(k, new([64]byte)) // the old value replaced
		}
		_, _ = m.LoadAndDelete(20)
		m.Compute(21, func(*[64]byte, bool) (*[64]byte, ComputeOp) { return nil, DeleteOp })
		runtime.GC()
		for k := range uint64(40) {
			gone := weaks[k].Value() == nil
			assert.Equal(t, k < 22, gone, "key %d: value collected = %v", k, gone)
		}
		require.Equal(t, 40-12, m.Len())
	}
}

// TestPtrSlotsFloatKeys covers the one path where a pointer value takes part
// in a wide update: float keys are rewritten with their value (so -0 replaces
// +0, as in a Go map), which moves or rewrites the whole slot.
func TestPtrSlotsFloatKeys(t *testing.T) {
	m := New[[2]float64, *int](WithShards(1), WithHasher(func([2]float64, uint64) uint64 { return 0 }))
	require.Equal(t, inlinePtrSlots, m.slots)
	negZero := [2]float64{0, math.Copysign(0, -1)}
	for i := range 20 {
		m.Store([2]float64{float64(i), 0}, &i)
	}
	for round := range 50 {
		k := [2]float64{float64(round % 20), 0}
		if round%2 == 1 {
			k[1] = negZero[1]
		}
		v := round
		m.Store(k, &v)
		p, ok := m.Load(k)
		require.True(t, ok)
		require.Equal(t, round, *p)
		runtime.GC()
	}
	require.Equal(t, 20, m.Len())
	require.NoError(t, m.CheckInvariants())
}
