package loadtest

import (
	"math/rand/v2"
	"time"
)

// due is one scheduled visit: when (milliseconds since the run started;
// 32 bits last 49 days) and which device. Eight bytes per device is the
// scheduler's whole per-device state.
type due struct {
	at  uint32
	dev uint32
}

func (a due) before(b due) bool {
	return a.at < b.at || (a.at == b.at && a.dev < b.dev)
}

// dueHeap is a binary min-heap of visits, owned by one goroutine (the
// dispatcher). Ties go to the lower device index, so a schedule is fully
// determined by the seed and the completion times.
type dueHeap []due

func (h *dueHeap) push(d due) {
	*h = append(*h, d)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].before(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *dueHeap) pop() due {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].before(s[l]) {
			m = r
		}
		if !s[m].before(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// intervalSched is the poll-interval model: every device visits again
// interval ± jitter after its previous visit ended, like a client sleeping
// the announced time. Initial visits are spread evenly over one interval,
// so a fleet does not start as a thundering herd.
type intervalSched struct {
	h        dueHeap
	interval float64 // ms
	jitter   float64 // fraction, 0–1
	rng      *rand.Rand
}

func newIntervalSched(devices int, interval time.Duration, jitterPct float64, seed uint64) *intervalSched {
	s := &intervalSched{
		h:        make(dueHeap, devices, devices+1),
		interval: float64(interval) / float64(time.Millisecond),
		jitter:   jitterPct / 100,
		rng:      rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
	}
	// Ascending due times already form a valid min-heap.
	ms := uint64(interval / time.Millisecond)
	for i := range s.h {
		s.h[i] = due{at: uint32(uint64(i) * ms / uint64(devices)), dev: uint32(i)}
	}
	return s
}

// peek returns the earliest visit without removing it.
func (s *intervalSched) peek() (due, bool) {
	if len(s.h) == 0 {
		return due{}, false
	}
	return s.h[0], true
}

// pop removes the earliest visit.
func (s *intervalSched) pop() due { return s.h.pop() }

// done schedules dev's next visit after a visit that ended at now (ms).
func (s *intervalSched) done(dev, now uint32) {
	d := s.interval
	if s.jitter > 0 {
		d *= 1 + s.jitter*(2*s.rng.Float64()-1)
	}
	at := uint64(now) + uint64(d+0.5)
	if at > 1<<32-1 {
		at = 1<<32 - 1
	}
	s.h.push(due{at: uint32(at), dev: dev})
}

// arrival returns the offset of the k-th arrival of an open model with
// rate arrivals per second.
func arrival(k uint64, rate float64) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / rate)
}
