package control

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the admin API's RED metrics. route is the route table's
// path pattern ("/api/v1/devices/{id}") or "other" for requests no route
// matched; method is the route's method (for "other": one of the usual
// methods or "other"). Labels stay bounded whatever clients send.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// adminRouteOther labels requests that matched no route.
const adminRouteOther = "other"

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gosling_admin_requests_total",
			Help: "Admin API requests by route (path pattern), method and HTTP status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gosling_admin_request_duration_seconds",
			Help: "Admin API request time by route (event streams count until the client leaves).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				1, 2.5, 5, 10, 30},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// routeObserver records one route's requests; it resolves the status
// code's counter once per code.
type routeObserver struct {
	m             *httpMetrics
	route, method string
	duration      prometheus.Observer
	codes         sync.Map // int → prometheus.Counter
}

func (m *httpMetrics) route(route, method string) *routeObserver {
	o := &routeObserver{m: m, route: route, method: method, duration: m.duration.WithLabelValues(route)}
	o.counter(http.StatusOK) // export the route's series from the start
	return o
}

func (o *routeObserver) counter(code int) prometheus.Counter {
	if c, ok := o.codes.Load(code); ok {
		return c.(prometheus.Counter)
	}
	c, _ := o.codes.LoadOrStore(code, o.m.requests.WithLabelValues(o.route, o.method, strconv.Itoa(code)))
	return c.(prometheus.Counter)
}

func (o *routeObserver) observe(code int, start time.Time) {
	o.duration.Observe(time.Since(start).Seconds())
	o.counter(code).Inc()
}

// instrument wraps h so that every request is counted and timed.
func (o *routeObserver) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() { o.observe(sw.code(), start) }()
		h.ServeHTTP(sw, r)
	})
}

// unmatched returns the observer for a request no route matched.
func (s *Server) unmatched(method string) *routeObserver {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		method = "other"
	}
	return s.unmatchedObs[method]
}

func (s *Server) newUnmatchedObservers() {
	s.unmatchedObs = make(map[string]*routeObserver)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, "other"} {
		s.unmatchedObs[m] = s.httpMetrics.route(adminRouteOther, m)
	}
}

// statusWriter remembers the status a handler writes. Unwrap lets
// http.ResponseController (the event streams' flushes and deadlines)
// reach the underlying writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for handlers that assert it directly.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code is the status sent, 200 if the handler wrote nothing (net/http's
// answer then).
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
