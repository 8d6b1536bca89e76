package main

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's resolution: each power of two is split into
// 2^subBits buckets, so a recorded value is off by at most 1/32 (about 3%).
const subBits = 5

// histBuckets covers every uint64 value.
const histBuckets = (64 - subBits + 1) << subBits

// Histogram is a log-linear latency histogram in the spirit of HDR
// histograms: fixed memory, constant-time Record, bounded relative error.
// The maximum is kept exactly. The zero value is ready to use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    uint64
}

// bucketIndex returns the bucket holding v. Values below 2^subBits get a
// bucket each; above that, the top subBits+1 bits select the bucket.
func bucketIndex(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift<<subBits + int(v>>shift)
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	mantissa := uint64(i - shift<<subBits)
	return (mantissa+1)<<shift - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketIndex(v)]++
	h.n++
	h.max = max(h.max, v)
}

// Count returns the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest latency recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the latency below which a fraction q of the recorded
// latencies fall, rounded up to its bucket's upper bound and never above
// Max. q >= 1 returns Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	seen := uint64(0)
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return h.Max()
}
