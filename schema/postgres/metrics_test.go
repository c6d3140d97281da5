package postgres_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPoolMetrics(t *testing.T) {
	db := MustOpen(t)
	reg := prometheus.NewRegistry()
	if err := db.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	acquires := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "gosling_db_pool_acquires_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("gosling_db_pool_acquires_total not exported")
		return 0
	}
	before := acquires()
	for range 3 {
		if _, err := db.Device(t.Context(), "acme", "nobody"); err == nil {
			t.Fatal("unknown device found")
		}
	}
	if after := acquires(); after < before+3 {
		t.Errorf("acquires went from %v to %v, want at least +3", before, after)
	}
	// acquired, idle, constructing, total, max.
	if n, err := testutil.GatherAndCount(reg, "gosling_db_pool_connections"); err != nil || n != 5 {
		t.Errorf("connection series: %d, %v; want 5", n, err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
