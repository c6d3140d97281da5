package control

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gosling-ota/gosling/schema"
)

// rolloutMetrics are the engine's metrics. Rollout progress is a collector
// over the last tick's snapshot rather than a GaugeVec, so a scrape never
// sees a half-updated set and a rollout that leaves the window simply stops
// being reported (no stale series to delete).
//
// Labels stay bounded: only draft, running and paused rollouts, and final
// ones for an hour after they ended (metricsWindow).
type rolloutMetrics struct {
	devices      *prometheus.Desc
	ticks        prometheus.Counter
	errors       prometheus.Counter
	enumerations prometheus.Histogram

	mu   sync.Mutex
	snap map[string]map[int64]schema.RolloutStats // tenant → rollout → stats
}

func newRolloutMetrics(reg prometheus.Registerer) (*rolloutMetrics, error) {
	m := &rolloutMetrics{
		devices: prometheus.NewDesc("gosling_rollout_devices",
			"Devices of a live rollout by state (targeted, pending, running, succeeded, failed, canceled), as of the engine's last tick.",
			[]string{"tenant", "rollout", "state"}, nil),
		ticks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gosling_rollout_engine_ticks_total",
			Help: "Rollout engine ticks.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gosling_rollout_engine_tick_errors_total",
			Help: "Rollout engine ticks that failed for at least one rollout.",
		}),
		enumerations: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gosling_rollout_population_enumeration_seconds",
			Help:    "Time to list the devices a rollout targets (once per population TTL per live rollout).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		snap: make(map[string]map[int64]schema.RolloutStats),
	}
	for _, c := range []prometheus.Collector{m, m.ticks, m.errors, m.enumerations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// set replaces a tenant's snapshot.
func (m *rolloutMetrics) set(tenant string, snap map[int64]schema.RolloutStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap[tenant] = snap
}

// Describe implements prometheus.Collector.
func (m *rolloutMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.devices }

// Collect implements prometheus.Collector.
func (m *rolloutMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tenant, rollouts := range m.snap {
		for id, st := range rollouts {
			rid := strconv.FormatInt(id, 10)
			for _, v := range []struct {
				state string
				n     int
			}{
				{"targeted", st.Targeted}, {"pending", st.Pending}, {"running", st.Running},
				{"succeeded", st.Succeeded}, {"failed", st.Failed}, {"canceled", st.Canceled},
			} {
				ch <- prometheus.MustNewConstMetric(m.devices, prometheus.GaugeValue, float64(v.n), tenant, rid, v.state)
			}
		}
	}
}

// serveMetrics serves Config.Gatherer in the Prometheus text format. It is
// public, like /healthz: Prometheus scrapes without credentials, the
// metrics carry no device ids or secrets (tenant names and rollout ids at
// most), and the admin listener belongs on a private network anyway (the
// Caddy way: admin on loopback or an internal interface).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ string) error {
	s.metrics.ServeHTTP(w, r)
	return nil
}
