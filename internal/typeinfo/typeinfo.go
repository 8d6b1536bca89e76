// Package typeinfo answers the questions about a type that decide how
// shardmap and its cache may store its values: whether the garbage
// collector needs to see them written, and whether they are one pointer.
package typeinfo

import "reflect"

// PointerFree reports whether values of type t hold no pointers, so that
// their bytes may be copied with plain or atomic integer stores without the
// garbage collector seeing them.
func PointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || PointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !PointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// OnePointer reports whether values of type t are a single pointer word (a
// pointer, an unsafe.Pointer, a map, a channel or a func), which
// sync/atomic's pointer operations can load and store whole.
func OnePointer(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan, reflect.Func:
		return true
	}
	return false
}
