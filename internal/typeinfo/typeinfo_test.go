package typeinfo

import (
	"reflect"
	"testing"
	"unsafe"
)

func TestPointerFree(t *testing.T) {
	type flat struct {
		a int
		b [3]float64
		c struct{ d uint8 }
	}
	type nested struct {
		a int
		b struct{ p *int }
	}
	for _, c := range []struct {
		t    reflect.Type
		free bool
		one  bool
	}{
		{reflect.TypeFor[uint64](), true, false},
		{reflect.TypeFor[complex128](), true, false},
		{reflect.TypeFor[flat](), true, false},
		{reflect.TypeFor[[0]*int](), true, false},
		{reflect.TypeFor[struct{}](), true, false},
		{reflect.TypeFor[string](), false, false},
		{reflect.TypeFor[[]byte](), false, false},
		{reflect.TypeFor[any](), false, false},
		{reflect.TypeFor[nested](), false, false},
		{reflect.TypeFor[[2]*int](), false, false},
		{reflect.TypeFor[*int](), false, true},
		{reflect.TypeFor[unsafe.Pointer](), false, true},
		{reflect.TypeFor[map[int]int](), false, true},
		{reflect.TypeFor[chan int](), false, true},
		{reflect.TypeFor[func()](), false, true},
	} {
		if got := PointerFree(c.t); got != c.free {
			t.Errorf("PointerFree(%v) = %v, want %v", c.t, got, c.free)
		}
		if got := OnePointer(c.t); got != c.one {
			t.Errorf("OnePointer(%v) = %v, want %v", c.t, got, c.one)
		}
	}
}
