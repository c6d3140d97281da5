package control

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gosling-ota/gosling/schema"
)

// FleetInterval is how often RunFleetMetrics counts devices and actions.
// The counts are gauges for dashboards; a fresher number is not worth the
// queries (a handful of indexed counts per tenant).
const FleetInterval = 30 * time.Second

// fleetDeviceStatuses and fleetActionStatuses are what gosling_devices and
// gosling_actions report. Actions only in the open statuses: those are
// indexed and bounded by the fleet's size, while closed actions grow
// without bound (their rate is gosling_ddi_actions_closed_total).
var (
	fleetDeviceStatuses = []string{schema.DeviceRegistered, schema.DeviceUpdating, schema.DeviceInSync, schema.DeviceFailed}
	fleetActionStatuses = []schema.ActionStatus{schema.ActionPending, schema.ActionRunning, schema.ActionCanceling}
)

// fleetMetrics exports the last counts as gauges, like rolloutMetrics: a
// scrape never sees a half-updated set, and a scrape never queries the
// database.
type fleetMetrics struct {
	devices, actions, refreshed *prometheus.Desc
	errors                      prometheus.Counter

	mu      sync.Mutex
	counts  map[string]*fleetCounts // tenant → counts
	lastRun time.Time
}

type fleetCounts struct {
	devices map[string]int
	actions map[schema.ActionStatus]int
}

func newFleetMetrics(reg prometheus.Registerer) (*fleetMetrics, error) {
	m := &fleetMetrics{
		devices: prometheus.NewDesc("gosling_devices",
			"Devices by tenant and status (registered, updating, in_sync, failed), counted every 30 s.",
			[]string{"tenant", "status"}, nil),
		actions: prometheus.NewDesc("gosling_actions",
			"Open actions by tenant and status (pending, running, canceling), counted every 30 s.",
			[]string{"tenant", "status"}, nil),
		refreshed: prometheus.NewDesc("gosling_fleet_refresh_timestamp_seconds",
			"When the device and action counts were last refreshed (unix time).", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gosling_fleet_refresh_errors_total",
			Help: "Failed refreshes of the device and action counts.",
		}),
		counts: make(map[string]*fleetCounts),
	}
	for _, c := range []prometheus.Collector{m, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *fleetMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.devices
	ch <- m.actions
	ch <- m.refreshed
}

// Collect implements prometheus.Collector.
func (m *fleetMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastRun.IsZero() {
		return // not counted yet: no series rather than zeros that lie
	}
	for tenant, c := range m.counts {
		for _, st := range fleetDeviceStatuses {
			ch <- prometheus.MustNewConstMetric(m.devices, prometheus.GaugeValue, float64(c.devices[st]), tenant, st)
		}
		for _, st := range fleetActionStatuses {
			ch <- prometheus.MustNewConstMetric(m.actions, prometheus.GaugeValue, float64(c.actions[st]), tenant, string(st))
		}
	}
	ch <- prometheus.MustNewConstMetric(m.refreshed, prometheus.GaugeValue, float64(m.lastRun.UnixNano())/1e9)
}

// RunFleetMetrics counts devices by status and open actions by status for
// every tenant, now and then every FleetInterval, until ctx ends; it
// returns nil then. Failures are logged and counted, and the last counts
// stay exported. Run it in one process per installation (the control
// plane); the counts come from the database, so they are the same
// everywhere.
func (s *Server) RunFleetMetrics(ctx context.Context) error {
	t := time.NewTicker(FleetInterval)
	defer t.Stop()
	for {
		if err := s.refreshFleet(ctx); err != nil && ctx.Err() == nil {
			s.fleet.errors.Inc()
			s.logger.WarnContext(ctx, "count devices and actions for metrics", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refreshFleet counts once. Each count is a Limit 1 listing whose total is
// the number wanted.
func (s *Server) refreshFleet(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, FleetInterval)
	defer cancel()
	counts := make(map[string]*fleetCounts, len(s.cfg.Tenants))
	for _, tenant := range s.cfg.Tenants {
		c := &fleetCounts{devices: make(map[string]int), actions: make(map[schema.ActionStatus]int)}
		for _, st := range fleetDeviceStatuses {
			_, n, err := s.store.Devices(ctx, schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Status: st}, Limit: 1})
			if err != nil {
				return fmt.Errorf("count %s devices: %w", st, err)
			}
			c.devices[st] = n
		}
		for _, st := range fleetActionStatuses {
			_, n, err := s.store.Actions(ctx, schema.ActionFilter{Tenant: tenant, Status: st, Limit: 1})
			if err != nil {
				return fmt.Errorf("count %s actions: %w", st, err)
			}
			c.actions[st] = n
		}
		counts[tenant] = c
	}
	s.fleet.mu.Lock()
	s.fleet.counts, s.fleet.lastRun = counts, s.cfg.Now()
	s.fleet.mu.Unlock()
	return nil
}
