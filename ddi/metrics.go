package ddi

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// The frontline's metrics (gosling_ddi_*, and gosling_cache_* for its L1
// cache), registered on Config.Registerer. Labels are bounded: route is one
// of the route names below or "other" (no route matched, or the request
// was refused before routing), method one of GET, HEAD, POST, PUT or
// "other", code the HTTP status; never a device id or a tenant.

// requestBuckets suit the poll hit path (a few µs in the handler) as well
// as cache misses and feedback commits (milliseconds) and store timeouts
// (seconds).
var requestBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

// routeOther labels requests that matched no route.
const routeOther = "other"

// methods are the method label values; anything else is "other".
var methods = [...]string{fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost, fasthttp.MethodPut, "other"}

// Feedback rejection reasons (gosling_ddi_feedback_rejected_total).
const (
	rejectInvalid    = "invalid"     // the body could not be parsed
	rejectQueueFull  = "queue_full"  // no room in the batch queue in time
	rejectStoreError = "store_error" // the batch's transaction failed
	rejectTimeout    = "timeout"     // the batch did not commit in time
	rejectNotFound   = "not_found"   // unknown action
	rejectGone       = "gone"        // the action is closed
	rejectNotAllowed = "not_allowed" // e.g. cancel feedback without a cancellation
	rejectOther      = "other"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// routes holds the pre-resolved children per route and method, built
	// in New and only read afterwards.
	routes map[string]*routeMetrics // key: route + " " + method
	poll   *routeMetrics
	other  [len(methods)]*routeMetrics

	fbBatch    prometheus.Histogram
	fbFlush    prometheus.Histogram
	fbRejected map[string]prometheus.Counter
	seenFlush  prometheus.Histogram
	created    prometheus.Counter
	closed     map[schema.ActionStatus]prometheus.Counter
}

// routeMetrics are one route's and method's series. The hit path must not
// allocate, and WithLabelValues does (the variadic slice, the code's
// string), so each status code's counter is resolved on first use and
// kept in codes; from then on a request costs two atomic adds and a
// histogram observation.
type routeMetrics struct {
	route, method string
	requests      *prometheus.CounterVec
	duration      prometheus.Observer
	codes         [600]atomic.Pointer[prometheus.Counter]
}

func (r *routeMetrics) observe(status int, elapsed time.Duration) {
	r.duration.Observe(elapsed.Seconds())
	r.counter(status).Inc()
}

func (r *routeMetrics) counter(status int) prometheus.Counter {
	if status < 100 || status >= len(r.codes) {
		status = 0 // not a valid HTTP status; labelled "0"
	}
	if p := r.codes[status].Load(); p != nil {
		return *p
	}
	c := r.requests.WithLabelValues(r.route, r.method, strconv.Itoa(status))
	r.codes[status].CompareAndSwap(nil, &c) // a racing store holds the same child
	return c
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gosling_ddi_requests_total",
			Help: "DDI requests by route, method and HTTP status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gosling_ddi_request_duration_seconds",
			Help:    "Time in the DDI handler by route (artifact bodies are streamed after it returns).",
			Buckets: requestBuckets,
		}, []string{"route"}),
		routes: make(map[string]*routeMetrics),
		fbBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gosling_ddi_feedback_batch_size",
			Help:    "Feedback reports stored per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8), // 1 … batchMax
		}),
		fbFlush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gosling_ddi_feedback_flush_duration_seconds",
			Help:    "Time to store one feedback batch durably.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 10), // 0.5 ms … ~2 s
		}),
		fbRejected: make(map[string]prometheus.Counter),
		seenFlush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gosling_ddi_seen_flush_duration_seconds",
			Help:    "Time to write the coalesced last-seen records of one flush.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10), // 1 ms … ~4 s
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gosling_ddi_actions_created_total",
			Help: "Actions opened by polls (a rollout's or an assignment's offer taken up).",
		}),
		closed: make(map[schema.ActionStatus]prometheus.Counter),
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gosling_ddi_feedback_rejected_total",
		Help: "Feedback reports not stored, by reason.",
	}, []string{"reason"})
	for _, r := range []string{rejectInvalid, rejectQueueFull, rejectStoreError, rejectTimeout,
		rejectNotFound, rejectGone, rejectNotAllowed, rejectOther} {
		m.fbRejected[r] = rejected.WithLabelValues(r)
	}
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gosling_ddi_actions_closed_total",
		Help: "Actions closed by device feedback, by final status.",
	}, []string{"status"})
	for _, st := range []schema.ActionStatus{schema.ActionSucceeded, schema.ActionFailed, schema.ActionCanceled} {
		m.closed[st] = closed.WithLabelValues(string(st))
	}
	for i, meth := range methods {
		m.other[i] = m.route(routeOther, meth)
	}
	m.poll = m.route("poll", fasthttp.MethodGet)

	queueDepth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gosling_ddi_feedback_queue_depth",
		Help: "Feedback reports waiting for a batch.",
	}, func() float64 { return float64(len(s.feedback.queue)) })
	seenPending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gosling_ddi_seen_pending",
		Help: "Devices whose last-seen record waits for the next flush.",
	}, func() float64 { return float64(s.seen.pending()) })
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.fbBatch, m.fbFlush, rejected,
		m.seenFlush, m.created, closed, queueDepth, seenPending, &l1Collector{s: s}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// route returns the series of a route and method, creating them on the
// first call. Only New calls it (through routes), so the map needs no lock.
func (m *metrics) route(route, method string) *routeMetrics {
	k := route + " " + method
	if r := m.routes[k]; r != nil {
		return r
	}
	r := &routeMetrics{route: route, method: method, requests: m.requests, duration: m.duration.WithLabelValues(route)}
	r.counter(fasthttp.StatusOK) // export the route's series from the start
	m.routes[k] = r
	return r
}

// unrouted records a request that matched no route.
func (m *metrics) unrouted(ctx *fasthttp.RequestCtx, start time.Time) {
	i := len(methods) - 1
	meth := b2s(ctx.Method())
	for j, v := range methods[:len(methods)-1] {
		if v == meth {
			i = j
			break
		}
	}
	m.other[i].observe(ctx.Response.StatusCode(), time.Since(start))
}

// rejected counts a feedback report answered with err.
func (m *metrics) rejected(err error) {
	reason := rejectOther
	switch err {
	case errQueueFull:
		reason = rejectQueueFull
	case errStoreFailed:
		reason = rejectStoreError
	case errTimeout:
		reason = rejectTimeout
	default:
		switch schema.ErrorCode(err) {
		case schema.EINVALID:
			reason = rejectInvalid
		case schema.ENOTFOUND:
			reason = rejectNotFound
		case schema.EGONE:
			reason = rejectGone
		case schema.ENOTALLOWED:
			reason = rejectNotAllowed
		}
	}
	m.fbRejected[reason].Inc()
}

// l1Collector exports the device cache's counters at scrape time (the
// cache counts per shard on atomics next to each shard's lock).
type l1Collector struct{ s *Server }

var (
	l1Requests  = cache.RequestsDesc("l1")
	l1Evictions = cache.EvictionsDesc("l1")
)

// Describe implements prometheus.Collector.
func (c *l1Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- l1Requests
	ch <- l1Evictions
}

// Collect implements prometheus.Collector.
func (c *l1Collector) Collect(ch chan<- prometheus.Metric) {
	hits, misses, evicted := c.s.devices.stats()
	ch <- prometheus.MustNewConstMetric(l1Requests, prometheus.CounterValue, float64(hits), "hit")
	ch <- prometheus.MustNewConstMetric(l1Requests, prometheus.CounterValue, float64(misses), "miss")
	ch <- prometheus.MustNewConstMetric(l1Evictions, prometheus.CounterValue, float64(evicted))
}
