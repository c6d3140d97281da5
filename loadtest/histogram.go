package loadtest

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: log-linear buckets in the manner of HdrHistogram.
// Values below 2^(subBits+1) ns get a bucket each; above, every power of
// two is split into 2^subBits equal buckets, so a bucket is never wider
// than 1/2^subBits (0.78%) of the values it holds. Values are clamped at
// 2^maxBits ns (about 18 minutes, far beyond any request timeout).
const (
	subBits  = 7
	maxBits  = 40
	nBuckets = (maxBits - subBits + 1) << subBits // 2^maxBits-1 lands in the last one
)

// Histogram records latencies in fixed log-linear buckets. The zero value
// is empty and ready to use. It is not safe for concurrent use: the load
// generator gives each worker its own and merges them at the end, so the
// hot path takes no lock and does no atomic operation.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    uint64 // ns; overflows only after 584 years of latency
	min    uint64
	max    uint64
}

// bucketOf returns the bucket index of v (ns): shift is how many low bits
// the bucket ignores (0 for small values), and v>>shift lies in
// [2^subBits, 2^(subBits+1)) above the exact range, which makes the
// indices of consecutive powers of two contiguous.
func bucketOf(v uint64) int {
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	shift := bits.Len64(v) - subBits - 1
	if shift < 0 {
		shift = 0
	}
	return shift<<subBits + int(v>>uint(shift))
}

// bucketBounds returns the smallest value of bucket i and its width.
func bucketBounds(i int) (lo, width uint64) {
	if i < 2<<subBits {
		return uint64(i), 1
	}
	shift := uint(i>>subBits) - 1
	sub := uint64(i&(1<<subBits-1)) + 1<<subBits
	return sub << shift, 1 << shift
}

// Record adds one observation. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest observation (exact), or 0.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest observation (exact), or 0.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean (exact), or 0.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank rule:
// the value of rank ceil(q·n) in sorted order (rank 1 for q = 0). The
// answer is the middle of that value's bucket, clamped to the exact
// minimum and maximum, so it is off by at most half a bucket: 1/256 of the
// true value above 256 ns, nothing below. It returns 0 when h is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		lo, w := bucketBounds(i)
		v := lo + (w-1)/2
		v = max(v, h.min)
		v = min(v, h.max)
		return time.Duration(v)
	}
	return time.Duration(h.max)
}

// Summary returns the usual percentiles of h.
func (h *Histogram) Summary() Latency {
	return Latency{
		P50:  h.Quantile(0.50),
		P90:  h.Quantile(0.90),
		P99:  h.Quantile(0.99),
		Max:  h.Max(),
		Mean: h.Mean(),
	}
}

// Latency summarises a histogram. JSON carries nanoseconds.
type Latency struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
}
