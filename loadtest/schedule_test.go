package loadtest_test

import (
	"testing"
	"time"

	"github.com/gosling-ota/gosling/loadtest"
)

// The interval scheduler, driven in virtual time: visits come out in due
// order, every device gets its turn, and the gap between a device's
// visits stays within interval ± jitter after the visit ended.
func TestIntervalSchedFairAndBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices int
		jitter  float64
	}{
		{"no-jitter", 1000, 0},
		{"jitter-20", 1000, 20},
		{"one-device", 1, 50},
		{"large", 200_000, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const (
				interval = 10 * time.Second
				service  = 7 // ms each visit takes
				horizon  = 120_000
			)
			s := loadtest.NewIntervalSched(tc.devices, interval, tc.jitter, 42)
			last := make([]int64, tc.devices)
			visits := make([]int, tc.devices)
			for i := range last {
				last[i] = -1
			}
			ivMs := float64(interval / time.Millisecond)
			lo, hi := int64(ivMs*(1-tc.jitter/100))+service, int64(ivMs*(1+tc.jitter/100)+1)+service
			var prev uint32
			for {
				dev, at, ok := s.Next()
				if !ok {
					t.Fatal("scheduler ran dry")
				}
				if at > horizon {
					break
				}
				if at < prev {
					t.Fatalf("visit at %d after one at %d: not in due order", at, prev)
				}
				prev = at
				if l := last[dev]; l >= 0 {
					if gap := int64(at) - l; gap < lo || gap > hi {
						t.Fatalf("device %d: gap %d ms, want %d–%d", dev, gap, lo, hi)
					}
				} else if at >= uint32(ivMs) {
					t.Fatalf("device %d: first visit at %d ms, want within the first interval", dev, at)
				}
				last[dev] = int64(at)
				visits[dev]++
				s.Done(dev, at+service)
			}
			// Every device visits within the bounds the gaps allow.
			minV, maxV := horizon/int(hi), horizon/int(lo)+1
			for dev, n := range visits {
				if n < minV || n > maxV {
					t.Fatalf("device %d visited %d times in %d ms, want %d–%d", dev, n, horizon, minV, maxV)
				}
			}
		})
	}
}

// First visits are spread evenly over one interval, not bunched.
func TestIntervalSchedSpreadsStart(t *testing.T) {
	const devices = 10_000
	s := loadtest.NewIntervalSched(devices, 100*time.Second, 0, 1)
	var perSecond [100]int
	for range devices {
		_, at, _ := s.Next()
		perSecond[at/1000]++
	}
	for sec, n := range perSecond {
		if n != devices/100 {
			t.Fatalf("second %d holds %d first visits, want %d", sec, n, devices/100)
		}
	}
}

func TestArrivalsOpenModel(t *testing.T) {
	const rate = 12_345.0
	for _, k := range []uint64{0, 1, 12_345, 1 << 40} {
		want := time.Duration(float64(k) / rate * float64(time.Second))
		if got := loadtest.Arrival(k, rate); got-want > time.Microsecond || want-got > time.Microsecond {
			t.Errorf("arrival %d: %v, want %v", k, got, want)
		}
	}
}
