package shardmap

import (
	"fmt"
	"runtime"
)

// maxShards bounds WithShards so that the shard index and the tophash byte fit
// in a 64-bit hash without overlapping a bucket index (see hash.go).
const maxShards = 1 << 16

// An Option configures a Map made by New.
type Option func(*config)

// config collects the options New applies.
type config struct {
	presize  int  // entries to make room for; 0 = none
	shards   int  // power of two in [1, maxShards]
	hasher   any  // a func(K, uint64) uint64, checked against K in New
	growOnly bool // never shrink
	entries  bool // use the entry layout even where inline slots would do (tests)
}

// minDefaultShards is the fewest shards New uses unless told otherwise. The
// one cost of a migration that is not spread over many writes is allocating
// the new bucket array, which is 1/shards of the map: more shards keep it
// small (under 3 MiB per shard at 4M entries) at about 400 bytes per shard
// for an empty map.
const minDefaultShards = 32

// defaultConfig returns the options New starts from: 4 shards per
// GOMAXPROCS, at least minDefaultShards, rounded up to a power of two.
func defaultConfig() config {
	return config{shards: roundPow2(max(minDefaultShards, 4*runtime.GOMAXPROCS(0)))}
}

// roundPow2 rounds n up to a power of two.
func roundPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// WithPresize makes room for n entries without growing. Shards also never
// shrink below that size. It panics if n is negative.
func WithPresize(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("shardmap: WithPresize(%d): size must not be negative", n))
	}
	return func(c *config) { c.presize = n }
}

// WithShards sets the number of lock stripes, rounded up to a power of two.
// More shards let more writers run at once and keep each growth step's
// allocation small; each costs about 400 bytes when empty. The default is
// 4×GOMAXPROCS, at least 32. It panics unless 1 <= n <= 65536.
func WithShards(n int) Option {
	if n < 1 || n > maxShards {
		panic(fmt.Sprintf("shardmap: WithShards(%d): shard count must be between 1 and %d", n, maxShards))
	}
	return func(c *config) { c.shards = roundPow2(n) }
}

// WithHasher replaces the default hash (a seeded multiply-mix for integer
// keys, hash/maphash for the rest, both with a per-Map random
// seed) with h, called as h(key, seed) with a per-Map random seed. h must be
// deterministic for a given seed, must not panic, must not keep key (or
// anything it points to) after it returns, as an io.Writer must not keep
// the slice it is given, and should spread keys over all 64 bits: the top
// bits choose the shard and the low bits the bucket. New
// panics if K is not the Map's key type, and WithHasher panics if h is nil.
func WithHasher[K comparable](h func(key K, seed uint64) uint64) Option {
	if h == nil {
		panic("shardmap: WithHasher(nil)")
	}
	return func(c *config) { c.hasher = h }
}

// WithGrowOnly keeps every shard at its largest size: deletes never start a
// shrink. Use it when the map refills to the same size after a burst of
// deletes, to skip the shrink and regrow.
func WithGrowOnly() Option {
	return func(c *config) { c.growOnly = true }
}

// withEntryLayout makes New use the entry layout even for K and V that the
// inline layout could hold, so that the tests can run every suite against
// both layouts.
func withEntryLayout() Option {
	return func(c *config) { c.entries = true }
}
