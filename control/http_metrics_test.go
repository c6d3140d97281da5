package control_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gosling-ota/gosling/control"
)

// metricValue returns the value of the counter or gauge name whose labels
// include want, 0 if the family has no such child; it fails if the family
// is not exported at all.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
		return 0
	}
	t.Fatalf("%s is not exported", name)
	return 0
}

func lintRegistry(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestAdminHTTPMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *control.Config) { c.Registerer = reg })
	req := func(route, method, code string) float64 {
		return metricValue(t, reg, "gosling_admin_requests_total", map[string]string{"route": route, "method": method, "code": code})
	}
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "d1"}).wantStatus(t, 201)
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "d1"}).wantStatus(t, 409)
	e.json(t, "GET", "/api/v1/devices/d1", nil).wantStatus(t, 200)
	e.json(t, "GET", "/api/v1/devices/nope", nil).wantStatus(t, 404)
	e.requestAuth(t, "GET", "/api/v1/devices", "", nil, "").wantStatus(t, 401)
	e.json(t, "GET", "/api/v1/nothing-here", nil).wantStatus(t, 404)
	e.json(t, "PUT", "/api/v1/devices/d1", nil).wantStatus(t, 405)

	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{"/api/v1/devices", "POST", "201", 1},
		{"/api/v1/devices", "POST", "409", 1},
		{"/api/v1/devices/{id}", "GET", "200", 1},
		{"/api/v1/devices/{id}", "GET", "404", 1},
		{"/api/v1/devices", "GET", "401", 1},
		{"other", "GET", "404", 1},
		{"other", "PUT", "405", 1},
	} {
		if got := req(c.route, c.method, c.code); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.method, c.route, c.code, got, c.want)
		}
	}
	if got := metricValue(t, reg, "gosling_admin_request_duration_seconds", map[string]string{"route": "/api/v1/devices/{id}"}); got != 2 {
		t.Errorf("durations of /api/v1/devices/{id}: %v, want 2", got)
	}
	// Every route is exported before its first request.
	if got := req("/api/v1/rollouts", "POST", "200"); got != 0 {
		t.Errorf("unused route: %v", got)
	}
	lintRegistry(t, reg)
}

func TestFleetMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *control.Config) { c.Registerer = reg })
	for _, id := range []string{"d2", "d3"} {
		e.json(t, "POST", "/api/v1/devices", map[string]any{"id": id}).wantStatus(t, 201)
	}
	mustAction(t, e, "d1") // updating, with a pending action
	if n, err := testutil.GatherAndCount(reg, "gosling_devices"); err != nil || n != 0 {
		t.Fatalf("gosling_devices before the first count: %d series, %v", n, err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.RunFleetMetrics(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunFleetMetrics: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := testutil.GatherAndCount(reg, "gosling_devices"); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gosling_devices never exported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		name           string
		tenant, status string
		want           float64
	}{
		{"gosling_devices", tenantA, "registered", 2},
		{"gosling_devices", tenantA, "updating", 1},
		{"gosling_devices", tenantB, "registered", 0},
		{"gosling_actions", tenantA, "pending", 1},
		{"gosling_actions", tenantA, "running", 0},
	} {
		if got := metricValue(t, reg, c.name, map[string]string{"tenant": c.tenant, "status": c.status}); got != c.want {
			t.Errorf("%s{tenant=%q,status=%q} = %v, want %v", c.name, c.tenant, c.status, got, c.want)
		}
	}
	if got := metricValue(t, reg, "gosling_fleet_refresh_errors_total", nil); got != 0 {
		t.Errorf("refresh errors: %v", got)
	}
	lintRegistry(t, reg)
}
