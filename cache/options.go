package cache

import (
	"errors"
	"fmt"
	"time"
)

// Options configures a Cache made by New. Exactly one of MaxEntries and
// MaxWeight must be set.
type Options[K comparable, V any] struct {
	// MaxEntries bounds the number of entries. Each entry weighs 1.
	MaxEntries int

	// MaxWeight bounds the total weight of the entries, as reported by
	// Weigher, which must then be set.
	MaxWeight int64

	// Weigher returns an entry's weight, for MaxWeight. It is called once
	// per value Set or loaded, before the cache's lock is taken; if it
	// panics, Set panics (GetOrLoad returns a *PanicError) and the cache is
	// unchanged. A weight of 0 counts as 1, so that the bound also bounds
	// the number of entries. A value heavier than MaxWeight is never
	// stored: it is reported to OnEvict as Evicted straight away.
	Weigher func(key K, value V) uint32

	// TTL is how long an entry lives after it is written by Set or by a
	// load. 0 means entries never expire unless SetWithTTL says otherwise.
	TTL time.Duration

	// OnEvict, if set, is called once for each value that leaves the cache,
	// with the reason it left. It runs in the goroutine that caused the
	// removal (the writer, the loader, or the cache's sweeper), after the
	// cache's lock is released, so it may call the cache's methods, except
	// Close. Calls for one key are made in the order the removals happened
	// only when they happen in one goroutine. It must not panic: a panic
	// reaches the writer that caused the removal, but in the sweeper or a
	// loader's goroutine it ends the program.
	OnEvict func(key K, value V, reason Reason)

	// RefreshAfter, if positive, is the age after which GetOrLoad reloads
	// an entry ahead of need: the caller that finds an entry written at
	// least RefreshAfter ago gets it at once, and one background call of
	// its loader (shared by every caller meanwhile) replaces it when it
	// returns. A failed refresh keeps the old value; a Set or Delete of
	// the key while the refresh runs wins over it. It is meant to be
	// shorter than TTL, so that popular entries are reloaded before they
	// expire. Get never refreshes.
	RefreshAfter time.Duration

	// Clock, if set, replaces time.Now as the source of time for deadlines
	// and refresh ages; the cache measures time as the difference from
	// its first reading. Without it the cache uses time.Now's monotonic
	// clock, which testing/synctest also fakes: a cache made inside a
	// synctest bubble sees the bubble's time either way. The sweeper's
	// timers always run on real (or, in a bubble, the bubble's) time.
	Clock func() time.Time
}

// Reason says why a value left the cache.
type Reason uint8

const (
	// Expired means the value's time to live had passed.
	Expired Reason = iota + 1
	// Evicted means the size bound pushed the value out, or the value was
	// too heavy to be stored at all.
	Evicted
	// Deleted means Delete removed the value.
	Deleted
	// Replaced means a newer value for the same key took its place.
	Replaced
)

// String returns the reason's name.
func (r Reason) String() string {
	switch r {
	case Expired:
		return "Expired"
	case Evicted:
		return "Evicted"
	case Deleted:
		return "Deleted"
	case Replaced:
		return "Replaced"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

var (
	// ErrInvalidOptions is wrapped by every error New returns.
	ErrInvalidOptions = errors.New("cache: invalid options")

	// ErrClosed is returned by GetOrLoad for a missing key once Close has
	// been called.
	ErrClosed = errors.New("cache: closed")

	// ErrNilLoader is returned by GetOrLoad when the loader is nil and the
	// key is missing.
	ErrNilLoader = errors.New("cache: nil loader")
)

// invalid returns an error for a bad option, wrapping ErrInvalidOptions.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}

// bound checks o and returns the size bound it sets.
func (o *Options[K, V]) bound() (uint64, error) {
	switch {
	case o.MaxEntries < 0:
		return 0, invalid("MaxEntries is negative (%d)", o.MaxEntries)
	case o.MaxWeight < 0:
		return 0, invalid("MaxWeight is negative (%d)", o.MaxWeight)
	case o.TTL < 0:
		return 0, invalid("TTL is negative (%v)", o.TTL)
	case o.RefreshAfter < 0:
		return 0, invalid("RefreshAfter is negative (%v)", o.RefreshAfter)
	case o.MaxEntries > 0 && o.MaxWeight > 0:
		return 0, invalid("both MaxEntries (%d) and MaxWeight (%d) are set; set one", o.MaxEntries, o.MaxWeight)
	case o.MaxEntries > 0 && o.Weigher != nil:
		return 0, invalid("Weigher is set with MaxEntries; use MaxWeight")
	case o.MaxEntries > 0:
		return uint64(o.MaxEntries), nil
	case o.MaxWeight > 0 && o.Weigher == nil:
		return 0, invalid("MaxWeight (%d) is set without a Weigher", o.MaxWeight)
	case o.MaxWeight > 0:
		return uint64(o.MaxWeight), nil
	case o.Weigher != nil:
		return 0, invalid("Weigher is set without MaxWeight")
	}
	return 0, invalid("no size bound: set MaxEntries or MaxWeight")
}
