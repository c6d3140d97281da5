package loadtest

import "time"

// IntervalSched exposes the poll-interval scheduler to the external tests,
// which drive it in virtual time.
type IntervalSched struct{ s *intervalSched }

func NewIntervalSched(devices int, interval time.Duration, jitterPct float64, seed uint64) IntervalSched {
	return IntervalSched{newIntervalSched(devices, interval, jitterPct, seed)}
}

// Next removes and returns the earliest visit (device, due ms); ok=false
// when none is scheduled.
func (x IntervalSched) Next() (dev, atMs uint32, ok bool) {
	if _, ok := x.s.peek(); !ok {
		return 0, 0, false
	}
	d := x.s.pop()
	return d.dev, d.at, true
}

// Done reschedules dev after a visit that ended at nowMs.
func (x IntervalSched) Done(dev, nowMs uint32) { x.s.done(dev, nowMs) }

// Arrival is the open model's k-th arrival offset.
func Arrival(k uint64, rate float64) time.Duration { return arrival(k, rate) }
