package main

import "fmt"

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

// keyAt returns the i-th key of a workload. String keys are 16 bytes: the
// hex form of the uint64 key, so they are distinct too.
func keyAt[K Key](i int) K {
	var k K
	switch p := any(&k).(type) {
	case *uint64:
		*p = mix64(uint64(i))
	case *string:
		*p = fmt.Sprintf("%016x", mix64(uint64(i)))
	}
	return k
}

// makeKeys returns the first n keys of a workload.
func makeKeys[K Key](n int) []K {
	keys := make([]K, n)
	for i := range keys {
		keys[i] = keyAt[K](i)
	}
	return keys
}

// keyTypeName is the key type's name as tables and benchmarks show it.
func keyTypeName[K Key]() string {
	switch any(*new(K)).(type) {
	case uint64:
		return "uint64"
	default:
		return "string"
	}
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
