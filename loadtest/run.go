package loadtest

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// job is one visit handed to a worker: the device and when it was due
// (since the run started), to measure schedule lag.
type job struct {
	dev uint32
	due time.Duration
}

// runner is the state shared by the dispatcher and the workers of one Run.
// Everything but the atomics and channels is read-only once Run starts.
type runner struct {
	cfg    Config
	tgt    target
	client *fasthttp.Client
	start  time.Time

	pollPrefix []byte // base + "/" + tenant + "/controller/v1/" + idPrefix
	configData []byte // configData body up to the time value
	failCut    uint64 // devices whose hash is below fail; see failing

	jobs        chan job
	completions chan uint32 // interval model: visits ended
	busy        []atomic.Uint32
	skipped     atomic.Uint64

	deadline time.Time    // start + Duration, or zero
	sent     atomic.Int64 // requests claimed, when MaxRequests is set
	halted   chan struct{}
	haltOnce sync.Once
	reason   atomic.Pointer[string]
}

// Run simulates cfg.Devices devices against cfg.Target until a bound of
// cfg is reached or ctx ends, and reports what it measured. It returns an
// error only for an invalid Config; failed requests are part of the
// Report. Requests in flight when the run stops are finished (each is
// bounded by cfg.Timeout), no new ones are started.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tgt, _ := parseTarget(cfg.Target, cfg.AllowRemote)
	r := &runner{
		cfg: cfg,
		tgt: tgt,
		client: &fasthttp.Client{
			Name:                      "gosling-loadgen",
			MaxConnsPerHost:           cfg.Concurrency,
			MaxConnWaitTimeout:        cfg.Timeout,
			ReadTimeout:               cfg.Timeout,
			WriteTimeout:              cfg.Timeout,
			MaxIdleConnDuration:       time.Minute,
			MaxIdemponentCallAttempts: 1, // every failure counts; no silent retries
			MaxResponseBodySize:       16 << 20,
			ReadBufferSize:            16 << 10,
		},
		pollPrefix: []byte(tgt.base + "/" + cfg.Tenant + "/controller/v1/" + cfg.IDPrefix),
		configData: configDataPrefix(&cfg),
		failCut:    failCut(cfg.FailRate),
		jobs:       make(chan job, 2*cfg.Concurrency),
		halted:     make(chan struct{}),
	}
	r.completions = make(chan uint32, cap(r.jobs)+cfg.Concurrency+1)
	if cfg.Mode() != "interval" {
		r.busy = make([]atomic.Uint32, (cfg.Devices+31)/32)
	}

	stats := make([]*workerStats, cfg.Concurrency)
	var wg sync.WaitGroup
	r.start = time.Now()
	if cfg.Duration > 0 {
		r.deadline = r.start.Add(cfg.Duration)
	}
	for i := range stats {
		stats[i] = new(workerStats)
		w := newWorker(r, stats[i])
		wg.Go(w.run)
	}
	if cfg.Duration > 0 {
		// Wakes a dispatcher that sleeps; claim checks the deadline itself,
		// so a late timer never lets a request start after it.
		t := time.AfterFunc(cfg.Duration, func() { r.halt("duration") })
		defer t.Stop()
	}
	go func() {
		select {
		case <-ctx.Done():
			r.halt("canceled")
		case <-r.halted:
		}
	}()

	switch cfg.Mode() {
	case "interval":
		r.dispatchInterval()
	case "register":
		r.dispatchSequence(cfg.Rate, uint64(cfg.Devices))
	default:
		r.dispatchSequence(cfg.Rate, math.MaxUint64)
	}
	close(r.jobs)
	wg.Wait()
	elapsed := time.Since(r.start)
	r.halt("done") // register-only ran out of devices; no-op otherwise

	total := new(workerStats)
	for _, s := range stats {
		total.merge(s)
	}
	r.client.CloseIdleConnections()
	return newReport(&cfg, total, r.start, elapsed, *r.reason.Load(), r.skipped.Load()), nil
}

// halt stops the run; the first reason wins.
func (r *runner) halt(reason string) {
	r.haltOnce.Do(func() {
		r.reason.Store(&reason)
		close(r.halted)
	})
}

func (r *runner) stopped() bool {
	select {
	case <-r.halted:
		return true
	default:
		return false
	}
}

// claim reserves one request of the budget; false means: do not send.
func (r *runner) claim() bool {
	if r.stopped() {
		return false
	}
	if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
		r.halt("duration")
		return false
	}
	if r.cfg.MaxRequests > 0 && r.sent.Add(1) > r.cfg.MaxRequests {
		r.halt("max-requests")
		return false
	}
	return true
}

// send hands a visit to the workers; false once the run is halted.
func (r *runner) send(j job) bool {
	select {
	case r.jobs <- j:
		return true
	case <-r.halted:
		return false
	}
}

// dispatchQuantum is the open model's shortest sleep between arrivals.
const dispatchQuantum = 500 * time.Microsecond

// dispatchSequence walks the fleet round robin: arrival k visits device
// k mod N at k/rate seconds (rate 0: as fast as workers take visits), for
// at most limit arrivals. A device whose last visit still runs is skipped
// (counted) rather than visited twice at once. When the workers fall
// behind, arrivals queue and their lag shows in the report.
func (r *runner) dispatchSequence(rate float64, limit uint64) {
	n := uint64(r.cfg.Devices)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var idle uint64 // consecutive skips, to back off when all devices are busy
	for k := uint64(0); k < limit; k++ {
		var at time.Duration
		if rate > 0 {
			at = arrival(k, rate)
			if r.cfg.Duration > 0 && at >= r.cfg.Duration {
				r.halt("duration")
				return
			}
			if wait := at - time.Since(r.start); wait > 0 {
				// Sleep at least dispatchQuantum: one timer wake-up per
				// arrival costs the generator more CPU than the request
				// (at 20,000/s it could not keep up on one core).
				// Arrivals due meanwhile go out in a burst, each with its
				// own due time, so the lag shows in the report.
				if !r.sleep(timer, max(wait, dispatchQuantum)) {
					return
				}
			}
		} else {
			at = time.Since(r.start)
		}
		dev := uint32(k % n)
		if !r.acquire(dev) {
			r.skipped.Add(1)
			if idle++; idle >= n {
				idle = 0
				if !r.sleep(timer, 100*time.Microsecond) {
					return
				}
			}
			continue
		}
		idle = 0
		if !r.send(job{dev: dev, due: at}) {
			return
		}
	}
}

// acquire marks dev busy; false if it already was.
func (r *runner) acquire(dev uint32) bool {
	w, bit := &r.busy[dev/32], uint32(1)<<(dev%32)
	return w.Or(bit)&bit == 0
}

func (r *runner) release(dev uint32) {
	r.busy[dev/32].And(^(uint32(1) << (dev % 32)))
}

// dispatchInterval runs the poll-interval model from a min-heap of next
// visit times; workers report ended visits on r.completions, and the
// device is rescheduled from that moment.
func (r *runner) dispatchInterval() {
	s := newIntervalSched(r.cfg.Devices, r.cfg.PollInterval, r.cfg.Jitter, r.cfg.Seed)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nowMs := func() uint32 { return uint32(time.Since(r.start) / time.Millisecond) }
	for {
		// Reschedule ended visits first, without blocking.
	drain:
		for {
			select {
			case dev := <-r.completions:
				s.done(dev, nowMs())
			default:
				break drain
			}
		}
		next, ok := s.peek()
		if ok && next.at <= nowMs() {
			s.pop()
			if !r.send(job{dev: next.dev, due: time.Duration(next.at) * time.Millisecond}) {
				return
			}
			continue
		}
		wait := time.Hour
		if ok {
			wait = time.Duration(next.at)*time.Millisecond - time.Since(r.start)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case dev := <-r.completions:
			s.done(dev, nowMs())
		case <-r.halted:
			return
		}
	}
}

// sleep waits d on a reused timer; false if the run halted meanwhile.
func (r *runner) sleep(t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-r.halted:
		t.Stop()
		return false
	}
}
