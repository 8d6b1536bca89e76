package shardmap

import (
	"fmt"
	"iter"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
	"weak"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// strKey is the string key the string-keyed model runs use for k: k in
// decimal, zero-padded to a width of 1 to 23 that depends on k, so that
// keys of many lengths share chains and slots (a reader that paired one
// key's bytes with another's length would compare the wrong bytes). Each
// call makes a new string, so equal keys rarely share their bytes.
func strKey(k uint64) string {
	s := strconv.FormatUint(k, 10)
	if w := 1 + int(k%23); len(s) < w {
		s = strings.Repeat("0", w-len(s)) + s
	}
	return s
}

// strKeyValue is the number strKey's key s spells. It panics on any other
// string: a hasher that gets one was handed a key the map never stored.
func strKeyValue(s string) uint64 {
	k, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strKey(k) != s {
		panic(fmt.Sprintf("shardmap: %q is no key of the string model", s))
	}
	return k
}

// strMap gives a Map[string, uint64] the uintMap API, so that the model
// suites run against inlineStrSlots: key k is the string key(k), and num
// maps a key back (strKey and strKeyValue unless a test sets its own).
type strMap struct {
	*Map[string, uint64]
	key func(uint64) string
	num func(string) uint64
}

func newStrMap(m *Map[string, uint64]) strMap { return strMap{m, strKey, strKeyValue} }

func (s strMap) Load(k uint64) (uint64, bool)      { return s.Map.Load(s.key(k)) }
func (s strMap) StaleLoad(k uint64) (uint64, bool) { return s.Map.StaleLoad(s.key(k)) }
func (s strMap) Store(k, v uint64)                 { s.Map.Store(s.key(k), v) }
func (s strMap) LoadOrStore(k, v uint64) (uint64, bool) {
	return s.Map.LoadOrStore(s.key(k), v)
}
func (s strMap) LoadOrCompute(k uint64, fn func() uint64) (uint64, bool) {
	return s.Map.LoadOrCompute(s.key(k), fn)
}
func (s strMap) LoadAndStore(k, v uint64) (uint64, bool) { return s.Map.LoadAndStore(s.key(k), v) }
func (s strMap) LoadAndDelete(k uint64) (uint64, bool)   { return s.Map.LoadAndDelete(s.key(k)) }
func (s strMap) Delete(k uint64)                         { s.Map.Delete(s.key(k)) }
func (s strMap) Compute(k uint64, fn func(uint64, bool) (uint64, ComputeOp)) (uint64, bool) {
	return s.Map.Compute(s.key(k), fn)
}
func (s strMap) Range(f func(k, v uint64) bool) {
	s.Map.Range(func(k string, v uint64) bool { return f(s.num(k), v) })
}
func (s strMap) All() iter.Seq2[uint64, uint64] {
	return func(yield func(uint64, uint64) bool) { s.Range(yield) }
}
func (s strMap) StartMigration(k uint64, phase uintptr) bool {
	return s.Map.StartMigration(s.key(k), phase)
}
func (s strMap) EvacuateNext(k uint64) bool   { return s.Map.EvacuateNext(s.key(k)) }
func (s strMap) ReadsOld(k uint64) bool       { return s.Map.ReadsOld(s.key(k)) }
func (s strMap) ShardMigrating(k uint64) bool { return s.Map.ShardMigrating(s.key(k)) }

// strBoxedMap gives a Map[string, *uint64] the uintMap API: strMap's keys
// and boxedMap's values, so that the model suites run against
// inlineStrPtrSlots, where a slot holds two pointer words.
type strBoxedMap struct {
	*Map[string, *uint64]
}

func (s strBoxedMap) Load(k uint64) (uint64, bool) { return unbox(s.Map.Load(strKey(k))) }
func (s strBoxedMap) StaleLoad(k uint64) (uint64, bool) {
	return unbox(s.Map.StaleLoad(strKey(k)))
}
func (s strBoxedMap) Store(k, v uint64) { s.Map.Store(strKey(k), box(v)) }
func (s strBoxedMap) LoadOrStore(k, v uint64) (uint64, bool) {
	p, loaded := s.Map.LoadOrStore(strKey(k), box(v))
	v, _ = unbox(p, true)
	return v, loaded
}
func (s strBoxedMap) LoadOrCompute(k uint64, fn func() uint64) (uint64, bool) {
	p, loaded := s.Map.LoadOrCompute(strKey(k), func() *uint64 { return box(fn()) })
	v, _ := unbox(p, true)
	return v, loaded
}
func (s strBoxedMap) LoadAndStore(k, v uint64) (uint64, bool) {
	return unbox(s.Map.LoadAndStore(strKey(k), box(v)))
}
func (s strBoxedMap) LoadAndDelete(k uint64) (uint64, bool) {
	return unbox(s.Map.LoadAndDelete(strKey(k)))
}
func (s strBoxedMap) Delete(k uint64) { s.Map.Delete(strKey(k)) }
func (s strBoxedMap) Compute(k uint64, fn func(uint64, bool) (uint64, ComputeOp)) (uint64, bool) {
	p, ok := s.Map.Compute(strKey(k), func(old *uint64, loaded bool) (*uint64, ComputeOp) {
		v, _ := unbox(old, loaded)
		nv, op := fn(v, loaded)
		return box(nv), op
	})
	if !ok {
		return 0, false
	}
	return unbox(p, true)
}
func (s strBoxedMap) Range(f func(k, v uint64) bool) {
	s.Map.Range(func(k string, p *uint64) bool {
		v, _ := unbox(p, true)
		return f(strKeyValue(k), v)
	})
}
func (s strBoxedMap) All() iter.Seq2[uint64, uint64] {
	return func(yield func(uint64, uint64) bool) { s.Range(yield) }
}
func (s strBoxedMap) StartMigration(k uint64, phase uintptr) bool {
	return s.Map.StartMigration(strKey(k), phase)
}
func (s strBoxedMap) EvacuateNext(k uint64) bool   { return s.Map.EvacuateNext(strKey(k)) }
func (s strBoxedMap) ReadsOld(k uint64) bool       { return s.Map.ReadsOld(strKey(k)) }
func (s strBoxedMap) ShardMigrating(k uint64) bool { return s.Map.ShardMigrating(strKey(k)) }

// strSum is the value TestInlineStringKeysNeverTear stores for key s in
// round i: a checksum of s's bytes and length above, i below, so that a
// value read under another key, or a key read torn, fails strSumOK.
func strSum(s string, i uint64) uint64 {
	h := uint64(len(s))
	for j := range len(s) {
		h = h*31 + uint64(s[j])
	}
	return h<<24 | i&(1<<24-1)
}

func strSumOK(s string, v uint64) bool { return strSum(s, v) == v }

// TestInlineStringKeysNeverTear rewrites string keys of many lengths in
// shared chains while other goroutines read them with Load and Range:
// every key read must be one that was written, whole, and every value must
// belong to its key. Writers delete keys and store others in the freed
// slots (so a reader's copy of a slot can pair one key's data pointer with
// another's length), update values, and push the shard through grows and
// shrinks. With four-word values (all words the key's checksum) every
// update is a wide one: moved to a free slot, or rewritten in place under
// the dirty bit when the chain is full, so a reader that skipped the
// version check would see values torn between updates.
func TestInlineStringKeysNeverTear(t *testing.T) {
	t.Run("uint64", func(t *testing.T) {
		testStringKeysNeverTear(t, strSum, strSumOK)
	})
	t.Run("wide", func(t *testing.T) {
		testStringKeysNeverTear(t, func(s string, i uint64) wide { return wideOf(strSum(s, i)) },
			func(s string, v wide) bool { return v.even() && strSumOK(s, v[0]) })
	})
	t.Run("pointer", func(t *testing.T) {
		testStringKeysNeverTear(t, func(s string, i uint64) *uint64 { return box(strSum(s, i)) },
			func(s string, p *uint64) bool { return p != nil && strSumOK(s, *p) })
	})
}

func testStringKeysNeverTear[V any](t *testing.T, value func(string, uint64) V, valueOK func(string, V) bool) {
	constant := WithHasher(func(string, uint64) uint64 { return 0 })
	for _, opts := range [][]Option{{WithShards(2)}, {WithShards(1), constant}} {
		m := New[string, V](opts...)
		require.True(t, keyPtr[string](m.slots), "string keys are kept inline")
		const hot = 24 // lengths 1 to 23, and one more
		keys := make([]string, hot)
		for k := range keys {
			keys[k] = strKey(uint64(k))
		}
		writes, reads := uint64(200_000), uint64(200_000)
		if faultRaceEnabled() {
			writes, reads = 40_000, 40_000
		}
		var wg sync.WaitGroup
		fail := (&concErrs{t: t}).Errorf
		for w := range uint64(2) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range writes {
					k := strKey((i*7 + w) % hot) // a new string each time
					switch {
					case w == 0 && i%2 == 0:
						m.Store(k, value(k, i)) // updates, mostly
					case i%6 == 1, i%6 == 4:
						m.Delete(k)
					case i%6 == 2:
						m.Compute(k, func(old V, ok bool) (V, ComputeOp) {
							if ok && !valueOK(k, old) {
								fail("Compute(%q) saw %v", k, old)
							}
							return value(k, i), UpdateOp
						})
					case i%3000 == 5:
						for j := range uint64(300) {
							s := strKey(1000 + j + w<<20)
							m.Store(s, value(s, j))
						}
						for j := range uint64(300) {
							m.Delete(strKey(1000 + j + w<<20))
						}
					default:
						m.Store(k, value(k, i))
					}
				}
			}()
		}
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range reads {
					k := keys[(i+uint64(r)*5)%hot]
					if v, ok := m.Load(k); ok && !valueOK(k, v) {
						fail("Load(%q) = %v: torn or another key's value", k, v)
					}
					if i%4000 == 0 {
						m.Range(func(k string, v V) bool {
							if n, err := strconv.ParseUint(k, 10, 64); err != nil || strKey(n) != k || !valueOK(k, v) {
								fail("Range yielded %q: %v: torn or another key's", k, v)
							}
							return true
						})
					}
				}
			}()
		}
		wg.Wait()
		require.NoError(t, m.CheckInvariants())
	}
}

// TestStringKeysKeepBytesAlive stores keys whose bytes only the map points
// to and collects garbage between rounds of writes while readers compare
// keys: if the GC did not see a slot's data pointer, it would free a key's
// bytes and reuse the memory, and a Load or Range would find a key that no
// longer spells its number. Evacuation copies the pointers too.
func TestStringKeysKeepBytesAlive(t *testing.T) {
	for _, opts := range [][]Option{{WithShards(2)}, {WithShards(1), WithHasher(func(string, uint64) uint64 { return 0 })}} {
		m := New[string, uint64](opts...)
		const keys = 400
		rounds := 6
		if faultRaceEnabled() {
			rounds = 3
		}
		for round := range rounds {
			for k := range uint64(keys) {
				m.Store(strKey(k), k)
			}
			runtime.GC()
			for k := range uint64(keys) {
				if k%3 == uint64(round%3) {
					m.Delete(strKey(k))
				}
			}
			runtime.GC()
			// Fresh garbage of the same sizes, to reuse any freed key.
			junk := make([]string, 0, keys)
			for k := range keys {
				junk = append(junk, strings.Repeat("x", 1+k%23))
			}
			runtime.KeepAlive(junk)
			m.Range(func(k string, v uint64) bool {
				require.Equal(t, strKey(v), k, "a key's bytes changed under the map")
				return true
			})
		}
		for k := range uint64(keys) {
			m.Store(strKey(k), k)
		}
		runtime.GC()
		for k := range uint64(keys) {
			v, ok := m.Load(strKey(k))
			require.True(t, ok)
			require.Equal(t, k, v)
		}
		require.NoError(t, m.CheckInvariants())
	}
}

// TestStringKeysForgottenOnDelete checks that the map lets go of a deleted
// key's bytes (its weak pointer turns nil after a collection) and keeps a
// stored key's. An update of a one-word value keeps the key already stored,
// so the equal key passed to the update is the one let go. (Only a wide
// update moved to a free slot stores the new key.)
func TestStringKeysForgottenOnDelete(t *testing.T) {
	for _, hasher := range []Option{WithShards(1), WithHasher(func(string, uint64) uint64 { return 0 })} {
		// One shard, presized and grow-only: no migration holds an old
		// copy of a slot while the test looks.
		m := New[string, uint64](WithShards(1), WithPresize(1000), WithGrowOnly(), hasher)
		long := func(k uint64) string { return strings.Repeat("k", 64) + strKey(k) }
		weakOf := func(s string) weak.Pointer[byte] { return weak.Make(unsafe.StringData(s)) }
		stored := make([]weak.Pointer[byte], 40)
		for k := range uint64(40) {
			s := long(k)
			stored[k] = weakOf(s)
			m.Store(s, k)
		}
		require.Equal(t, uint64(0), m.Stats().Growths+m.Stats().Compactions)
		for k := range uint64(10) {
			m.Delete(long(k))
		}
		var passed []weak.Pointer[byte]
		for k := uint64(10); k < 20; k++ {
			s := long(k)
			passed = append(passed, weakOf(s))
			m.Store(s, k+100) // an update: the stored key stays
		}
		_, _ = m.LoadAndDelete(long(20))
		m.Compute(long(21), func(uint64, bool) (uint64, ComputeOp) { return 0, DeleteOp })
		runtime.GC()
		for k := range uint64(40) {
			gone := stored[k].Value() == nil
			assert.Equal(t, k < 10 || k == 20 || k == 21, gone, "key %d: bytes collected = %v", k, gone)
		}
		for i, p := range passed {
			assert.Nil(t, p.Value(), "the key passed to update %d is still held", i)
		}
		require.Equal(t, 40-12, m.Len())
		require.NoError(t, m.CheckInvariants())
	}
}

// TestLinRejectsUncheckedStringKeys is the negative control for comparing
// a string key only after its copy validated. A Load of "a" reads the data
// pointer of the slot that holds "ax"; before it reads the length, "ax" is
// deleted and "q" stored into the same slot (a constant hasher puts every
// key in one chain with one tophash). A reader that compares at once pairs
// "ax"'s bytes with "q"'s length, finds "a" and returns "q"'s value, for a
// key never stored: the checker must reject that history. With the check
// the reader retries and the history is accepted.
func TestLinRejectsUncheckedStringKeys(t *testing.T) {
	names := map[uint64]string{1: "ax", 2: "q", 3: "a"}
	run := func(validate bool) []porcupine.Operation {
		sm := newStrMap(New[string, uint64](WithShards(1), WithHasher(func(string, uint64) uint64 { return 0 })))
		sm.key = func(k uint64) string { return names[k] }
		require.Equal(t, inlineStrSlots, sm.slots)
		r := newLinRecorder(2)
		r.do(0, sm, sm.Load, linInput{Kind: linStore, Key: 1, Val: 100})
		load := func(k uint64) (uint64, bool) {
			return sm.HookedStringLoad(names[k], validate, func() {
				r.do(0, sm, sm.Load, linInput{Kind: linDelete, Key: 1})
				r.do(0, sm, sm.Load, linInput{Kind: linStore, Key: 2, Val: 200})
			})
		}
		r.do(1, sm, load, linInput{Kind: linLoad, Key: 3})
		return r.history()
	}
	assert.Equal(t, porcupine.Ok, linCheck(t, run(true), true), "validated read")
	assert.Equal(t, porcupine.Illegal, linCheck(t, run(false), false), "a read that compares a key before its copy validated must be caught")
}

// TestStringPtrSlotsForgetDeleted is TestStringKeysForgottenOnDelete for a
// slot with two pointer words (inlineStrPtrSlots): a deleted key lets go of
// both its bytes and its value, a replaced value is let go while its key
// stays, and what is still stored stays alive.
func TestStringPtrSlotsForgetDeleted(t *testing.T) {
	for _, hasher := range []Option{WithShards(1), WithHasher(func(string, uint64) uint64 { return 0 })} {
		m := New[string, *[64]byte](WithShards(1), WithPresize(1000), WithGrowOnly(), hasher)
		require.Equal(t, inlineStrPtrSlots, m.slots)
		long := func(k uint64) string { return strings.Repeat("k", 64) + strKey(k) }
		keys := make([]weak.Pointer[byte], 30)
		values := make([]weak.Pointer[[64]byte], 30)
		for k := range uint64(30) {
			s, v := long(k), new([64]byte)
			keys[k], values[k] = weak.Make(unsafe.StringData(s)), weak.Make(v)
			m.Store(s, v)
		}
		for k := range uint64(10) {
			m.Delete(long(k))
		}
		for k := uint64(10); k < 20; k++ {
			m.Store(long(k), new([64]byte)) // the old value replaced, the key kept
		}
		runtime.GC()
		for k := range uint64(30) {
			assert.Equal(t, k < 10, keys[k].Value() == nil, "key %d: bytes collected", k)
			assert.Equal(t, k < 20, values[k].Value() == nil, "key %d: value collected", k)
		}
		for k := uint64(10); k < 30; k++ {
			p, ok := m.Load(long(k))
			require.True(t, ok)
			require.NotNil(t, p)
		}
		require.NoError(t, m.CheckInvariants())
	}
}
