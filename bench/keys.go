package main

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// mix64 is the splitmix64 finalizer. It is a bijection on uint64, so
// mix64(0), mix64(1), ... are distinct keys spread over all 64 bits: no
// contender gets an easy ride from sequential keys.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// keyLen is the length of a string key.
const keyLen = 16

// putKey writes the 16 bytes of the string key for x: x and its complement,
// little-endian. The bytes are not text; no contender's work depends on
// what the bytes are, since every one hashes and compares all 16 of them
// (and text would cost a formatting step per Load).
func putKey(dst *[keyLen]byte, x uint64) {
	binary.LittleEndian.PutUint64(dst[:8], x)
	binary.LittleEndian.PutUint64(dst[8:], ^x)
}

// isString reports whether K is string. K is exactly uint64 or string, and
// the two differ in size; the compiler folds the test to a constant in each
// instantiation, so it costs nothing on a hot path.
func isString[K Key]() bool {
	var k K
	return unsafe.Sizeof(k) == unsafe.Sizeof("")
}

// keyAt returns the i-th key of a workload: mix64(i), or for string keys the
// bytes putKey writes for it. It allocates a new string; the hot loops use a
// keySpace.
func keyAt[K Key](i int) K {
	x := mix64(uint64(i))
	if !isString[K]() {
		return *(*K)(unsafe.Pointer(&x))
	}
	var b [keyLen]byte
	putKey(&b, x)
	s := string(b[:])
	return *(*K)(unsafe.Pointer(&s))
}

// makeKeys returns the first n keys of a workload, each string in its own
// allocation.
func makeKeys[K Key](n int) []K {
	keys := make([]K, n)
	for i := range keys {
		keys[i] = keyAt[K](i)
	}
	return keys
}

// keySpace holds the keys 0..n-1 of a workload in the form a map keeps
// them. A uint64 key is computed, mix64(i). String key i lives in one
// contiguous arena at offset 16*i, and is reached by pointer arithmetic: no
// slice of string headers is read.
//
// Why an arena for the keys a map keeps: a string key that a map stores must
// outlive the call, so it cannot be built in a scratch buffer, and building
// it in a new allocation per Store would bill every contender for an
// allocation and its garbage. Every contender is prefilled from the arena and
// stores arena keys afterwards, so every stored key's bytes sit at the same
// address in every contender. The bytes of key i are read only by the map:
// hashing the key touches its arena line, and a map that finds the key
// compares against a stored key with the same bytes (Go's string comparison
// even stops at the equal pointer). A hit thus costs one arena line in every
// map, as it would for keys the map holds anywhere else; a Store or Delete of
// an absent key, rare here (see worker), may pay the line without needing it.
// Load keys are built in the worker's scratch buffer instead (see
// worker.loadKey), as a server builds a key it just parsed.
type keySpace[K Key] struct {
	// n is the number of keys. Set by newKeySpace; read-only afterwards.
	n uint64
	// arena holds the string keys, 16 bytes each, back to back; nil for
	// uint64 keys. Set by newKeySpace; read-only afterwards.
	arena []byte
}

// newKeySpace returns the first n keys of a workload.
func newKeySpace[K Key](n int) *keySpace[K] {
	ks := &keySpace[K]{n: uint64(n)}
	if isString[K]() {
		ks.arena = make([]byte, n*keyLen)
		for i := range n {
			putKey((*[keyLen]byte)(ks.arena[i*keyLen:]), mix64(uint64(i)))
		}
	}
	return ks
}

// base returns the arena's address, or nil for uint64 keys.
func (ks *keySpace[K]) base() unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(ks.arena))
}

// key returns key i, i < n. A string key points into the arena.
func (ks *keySpace[K]) key(i uint64) K { return arenaKey[K](ks.base(), i) }

// arenaKey returns key i of a key space whose arena starts at base (nil for
// uint64 keys). The conversions through unsafe.Pointer are exact: K is
// string or uint64, as isString says.
func arenaKey[K Key](base unsafe.Pointer, i uint64) K {
	if isString[K]() {
		s := unsafe.String((*byte)(unsafe.Add(base, i*keyLen)), keyLen)
		return *(*K)(unsafe.Pointer(&s))
	}
	x := mix64(i)
	return *(*K)(unsafe.Pointer(&x))
}

// keyTypeName is the key type's name as tables and benchmarks show it.
func keyTypeName[K Key]() string {
	if isString[K]() {
		return "string"
	}
	return "uint64"
}

// countName writes a key count the short way: 1K, 100K, 1M, 16M.
func countName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dK", n/1_000)
	}
	return fmt.Sprint(n)
}
