package cache

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the cache layers. They are collectors that read the atomic
// counters Stats already keeps, at scrape time: nothing is added to the
// read paths. Names are gosling_cache_*; the cache levels share
// gosling_cache_requests_total and gosling_cache_evictions_total, told apart
// by a constant level label ("l1": a frontline's ristretto, registered by
// package ddi; "l2": Redis, registered here).

// RequestsDesc describes gosling_cache_requests_total for one cache level.
// Every level must use it: a registry accepts one metric name from several
// collectors only when the help text and label names agree.
func RequestsDesc(level string) *prometheus.Desc {
	return prometheus.NewDesc("gosling_cache_requests_total",
		"Cache lookups by level (l1: a frontline's memory, l2: Redis) and result (hit, miss).",
		[]string{"result"}, prometheus.Labels{"level": level})
}

// EvictionsDesc describes gosling_cache_evictions_total for one cache
// level (see RequestsDesc).
func EvictionsDesc(level string) *prometheus.Desc {
	return prometheus.NewDesc("gosling_cache_evictions_total",
		"Entries evicted by a cache level to stay within its memory bound.",
		nil, prometheus.Labels{"level": level})
}

// storeCollector exports a Store's Stats.
type storeCollector struct {
	s                                              *Store
	requests, fills, dropped, redisErrs, invalErrs *prometheus.Desc
	degraded                                       *prometheus.Desc
}

// RegisterMetrics registers the store's metrics on reg:
// gosling_cache_requests_total{level="l2"}, gosling_cache_fills_total,
// gosling_cache_fills_dropped_total, gosling_cache_redis_errors_total,
// gosling_cache_invalidate_errors_total and gosling_cache_degraded.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(&storeCollector{
		s:        s,
		requests: RequestsDesc("l2"),
		fills: prometheus.NewDesc("gosling_cache_fills_total",
			"Values written to Redis after a miss.", nil, nil),
		dropped: prometheus.NewDesc("gosling_cache_fills_dropped_total",
			"Fills refused because a write changed the entry while it was read.", nil, nil),
		redisErrs: prometheus.NewDesc("gosling_cache_redis_errors_total",
			"Failed Redis reads and fills; each one falls back to the database.", nil, nil),
		invalErrs: prometheus.NewDesc("gosling_cache_invalidate_errors_total",
			"Failed invalidations after writes; each may leave a stale value for up to the L2 TTL.", nil, nil),
		degraded: prometheus.NewDesc("gosling_cache_degraded",
			"1 while Redis is skipped after an error (reads go to the database), else 0.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.fills, c.dropped, c.redisErrs, c.invalErrs, c.degraded} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(st.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(st.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(c.fills, prometheus.CounterValue, float64(st.Fills))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.FillsDropped))
	ch <- prometheus.MustNewConstMetric(c.redisErrs, prometheus.CounterValue, float64(st.RedisErrors))
	ch <- prometheus.MustNewConstMetric(c.invalErrs, prometheus.CounterValue, float64(st.InvalidateErrors))
	ch <- prometheus.MustNewConstMetric(c.degraded, prometheus.GaugeValue, boolFloat(st.Degraded))
}

// newLagHistogram is gosling_cache_invalidation_lag_seconds. Invalidations
// typically take a millisecond or less; the buckets reach into seconds to
// show a struggling Redis or skewed clocks.
func newLagHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gosling_cache_invalidation_lag_seconds",
		Help: "Time from an invalidation's publish (publisher's clock) to its receipt by this process, for invalidations of other processes.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
			0.1, 0.25, 0.5, 1, 2.5, 5},
	})
}

// busCollector exports a RedisBus's Stats and its lag histogram.
type busCollector struct {
	b                                                  *RedisBus
	published, pubErrors, received, resyncs, malformed *prometheus.Desc
	connected                                          *prometheus.Desc
}

// RegisterMetrics registers the bus's metrics on reg:
// gosling_cache_invalidations_published_total,
// gosling_cache_invalidation_publish_errors_total,
// gosling_cache_invalidations_received_total,
// gosling_cache_invalidations_malformed_total,
// gosling_cache_bus_resyncs_total, gosling_cache_bus_connected and
// gosling_cache_invalidation_lag_seconds.
func (b *RedisBus) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(&busCollector{
		b: b,
		published: prometheus.NewDesc("gosling_cache_invalidations_published_total",
			"Invalidations published to Redis successfully.", nil, nil),
		pubErrors: prometheus.NewDesc("gosling_cache_invalidation_publish_errors_total",
			"Invalidations that could not be published to Redis (other processes then rely on TTLs).", nil, nil),
		received: prometheus.NewDesc("gosling_cache_invalidations_received_total",
			"Invalidations received from other processes.", nil, nil),
		malformed: prometheus.NewDesc("gosling_cache_invalidations_malformed_total",
			"Messages on the invalidation channel that could not be decoded.", nil, nil),
		resyncs: prometheus.NewDesc("gosling_cache_bus_resyncs_total",
			"Invalidation subscriptions (re)established, each of which dropped every cached entry of this process.", nil, nil),
		connected: prometheus.NewDesc("gosling_cache_bus_connected",
			"1 while the invalidation subscription is established, else 0.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.pubErrors, c.received, c.malformed, c.resyncs, c.connected} {
		ch <- d
	}
	c.b.lag.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(st.Published))
	ch <- prometheus.MustNewConstMetric(c.pubErrors, prometheus.CounterValue, float64(st.PublishErrors))
	ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(st.Received))
	ch <- prometheus.MustNewConstMetric(c.malformed, prometheus.CounterValue, float64(st.Malformed))
	ch <- prometheus.MustNewConstMetric(c.resyncs, prometheus.CounterValue, float64(st.Resyncs))
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, boolFloat(st.Connected))
	c.b.lag.Collect(ch)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
