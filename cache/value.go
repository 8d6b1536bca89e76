package cache

import (
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/shardmap/shardmap/internal/typeinfo"
)

// This file holds how a node's value is read and replaced. A value that
// fits one machine word and that the hardware can load and store
// atomically (an integer, a float, a pointer, a map, a channel, a small
// struct or array of pointer-free words) is read with an atomic load, and
// Set replaces it in the node it already has instead of building a new
// node: it allocates nothing and hands the policy nothing to do, since the
// entry keeps its place, its weight and its key. Any other value is
// immutable once its node is in the index, and Set builds a new node.

// valueMode says how the values of a Cache's nodes are read and replaced.
// It depends only on the value type; New sets it.
type valueMode uint8

const (
	// valueFixed: the value is never changed in a node that is in the
	// index; reads are plain.
	valueFixed valueMode = iota
	// valueWord64: a pointer-free value of 8 bytes, aligned to 8, read
	// and replaced as an atomic.Uint64.
	valueWord64
	// valueWord32: a pointer-free value of 4 bytes, aligned to 4, read
	// and replaced as an atomic.Uint32.
	valueWord32
	// valuePointer: a value that is one pointer (a pointer, an
	// unsafe.Pointer, a map or a channel), read and replaced as an
	// unsafe.Pointer.
	valuePointer
)

// valueModeOf returns the mode of value type V.
func valueModeOf[V any]() valueMode {
	t := reflect.TypeFor[V]()
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan:
		return valuePointer
	}
	if !typeinfo.PointerFree(t) {
		return valueFixed
	}
	switch {
	case t.Size() == 8 && t.Align() == 8:
		return valueWord64
	case t.Size() == 4 && t.Align() == 4:
		return valueWord32
	}
	return valueFixed
}

// load returns n's value; m is the cache's valueMode. It may be called
// while a writer replaces the value in place: it returns the old value or
// the new one, never a mix.
func (n *node[K, V]) load(m valueMode) V {
	p := unsafe.Pointer(&n.value)
	switch m {
	case valueWord64:
		w := (*atomic.Uint64)(p).Load()
		return *(*V)(unsafe.Pointer(&w))
	case valueWord32:
		w := (*atomic.Uint32)(p).Load()
		return *(*V)(unsafe.Pointer(&w))
	case valuePointer:
		q := atomic.LoadPointer((*unsafe.Pointer)(p))
		return *(*V)(unsafe.Pointer(&q))
	}
	return n.value
}

// swap replaces n's value with v and returns the value it had; m is the
// cache's valueMode, which must not be valueFixed. The caller holds the
// lock of n's index shard, with n in the index: whoever removes n from
// the index holds the same lock, so it reads n's final value and no write
// to a removed node is lost.
func (n *node[K, V]) swap(m valueMode, v V) V {
	p := unsafe.Pointer(&n.value)
	switch m {
	case valueWord64:
		w := (*atomic.Uint64)(p).Swap(*(*uint64)(unsafe.Pointer(&v)))
		return *(*V)(unsafe.Pointer(&w))
	case valueWord32:
		w := (*atomic.Uint32)(p).Swap(*(*uint32)(unsafe.Pointer(&v)))
		return *(*V)(unsafe.Pointer(&w))
	case valuePointer:
		q := atomic.SwapPointer((*unsafe.Pointer)(p), *(*unsafe.Pointer)(unsafe.Pointer(&v)))
		return *(*V)(unsafe.Pointer(&q))
	}
	panic("cache: swap of a value that is replaced by a new node")
}

// inPlace reports whether a write of weight w, with no deadline and no
// refresh time, may replace n's value in place: n has neither a deadline
// nor a refresh time nor an outsized weight, and weighs w, so that the
// policy, the expiry heap and the cache's weight need not change.
func (n *node[K, V]) inPlace(w uint32) bool {
	a := n.acc.Load()
	return a&extBit == 0 && a>>weightShift == w
}
