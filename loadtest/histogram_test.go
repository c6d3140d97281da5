package loadtest_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/loadtest"
)

// exactQuantile is the nearest-rank quantile Histogram.Quantile promises.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[min(rank, len(sorted))-1]
}

func TestHistogramQuantilesWithinBucketError(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		// Log-uniform from 50 ns to 10 s: every bucket width is exercised.
		{"log-uniform", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(math.Log(50) + r.Float64()*(math.Log(10e9)-math.Log(50))))
		}},
		// Latency-like: mostly around 300 µs with a long tail.
		{"long-tail", func(r *rand.Rand) time.Duration {
			return time.Duration(300e3*math.Exp(r.NormFloat64()*0.5)) + time.Duration(r.ExpFloat64()*2e6)
		}},
		{"small-exact", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(256)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h loadtest.Histogram
			vals := make([]time.Duration, 100_000)
			for i := range vals {
				vals[i] = tc.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count/min/max %d %v %v, want %d %v %v", h.Count(), h.Min(), h.Max(), len(vals), vals[0], vals[len(vals)-1])
			}
			for _, q := range []float64{0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				got, want := h.Quantile(q), exactQuantile(vals, q)
				// Half a bucket: exact below 256 ns, else 1/256 of the value.
				tol := float64(want) / 256
				if want < 256 {
					tol = 0
				}
				if diff := math.Abs(float64(got - want)); diff > tol {
					t.Errorf("q%v: got %v, exact %v (off by %v, tolerance %v)", q, got, want, time.Duration(diff), time.Duration(tol))
				}
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var whole, a, b loadtest.Histogram
	for i := range 50_000 {
		d := time.Duration(r.Int64N(int64(time.Second)))
		whole.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var empty loadtest.Histogram
	a.Merge(&empty)
	a.Merge(&b)
	if a.Count() != whole.Count() || a.Min() != whole.Min() || a.Max() != whole.Max() || a.Mean() != whole.Mean() {
		t.Fatalf("merged %d %v %v %v, want %d %v %v %v", a.Count(), a.Min(), a.Max(), a.Mean(), whole.Count(), whole.Min(), whole.Max(), whole.Mean())
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		if a.Quantile(q) != whole.Quantile(q) {
			t.Errorf("q%v: merged %v, whole %v", q, a.Quantile(q), whole.Quantile(q))
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	var h loadtest.Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	h.Record(-time.Second) // clock steps count as 0
	h.Record(time.Hour)    // beyond the buckets: clamped, max stays exact
	if h.Min() != 0 || h.Max() != time.Hour || h.Quantile(1) != time.Hour {
		t.Fatalf("min %v max %v q1 %v", h.Min(), h.Max(), h.Quantile(1))
	}
	if got := h.Quantile(0.5); got != 0 {
		t.Fatalf("p50 of {0, 1h} = %v, want 0", got)
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	h := new(loadtest.Histogram)
	d := time.Duration(1)
	if n := testing.AllocsPerRun(1000, func() { d = d*3 + 7; h.Record(d % time.Minute) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := new(loadtest.Histogram)
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]time.Duration, 4096)
	for i := range vals {
		vals[i] = time.Duration(r.Int64N(int64(100 * time.Millisecond)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h.Record(vals[i&4095])
	}
}
