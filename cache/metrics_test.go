package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/cache/redistest"
	"github.com/gosling-ota/gosling/schema"
)

// mustRegistry returns a registry with fn's metrics registered on it.
func mustRegistry(t *testing.T, fn func(prometheus.Registerer) error) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := fn(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// lint fails the test if reg's metrics break Prometheus conventions.
func lint(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func wantValue(t *testing.T, reg *prometheus.Registry, text string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(text), names...); err != nil {
		t.Error(err)
	}
}

func TestBusMetrics(t *testing.T) {
	srv := redistest.Start(t)
	ch := uniqueChannel(t)
	b1 := cache.NewRedisBus(srv.Client(0), ch, testLogger(t))
	b2 := cache.NewRedisBus(srv.Client(0), ch, testLogger(t))
	reg1, reg2 := mustRegistry(t, b1.RegisterMetrics), mustRegistry(t, b2.RegisterMetrics)
	r2 := newRecorder(b2)
	runBus(t, b1)
	runBus(t, b2)
	waitFor(t, "subscriptions", 5*time.Second, func() bool { return b1.Connected() && b2.Connected() })
	r2.want(t, resync, 5*time.Second)

	inv := cache.Invalidation{Kind: cache.KindDevice, Tenant: "acme", Key: "dev-1"}
	for range 3 {
		if err := b1.Publish(t.Context(), inv); err != nil {
			t.Fatal(err)
		}
		r2.want(t, inv, 5*time.Second)
	}
	wantValue(t, reg1, `
# HELP gosling_cache_invalidations_published_total Invalidations published to Redis successfully.
# TYPE gosling_cache_invalidations_published_total counter
gosling_cache_invalidations_published_total 3
# HELP gosling_cache_bus_connected 1 while the invalidation subscription is established, else 0.
# TYPE gosling_cache_bus_connected gauge
gosling_cache_bus_connected 1
`, "gosling_cache_invalidations_published_total", "gosling_cache_bus_connected")
	wantValue(t, reg2, `
# HELP gosling_cache_invalidations_received_total Invalidations received from other processes.
# TYPE gosling_cache_invalidations_received_total counter
gosling_cache_invalidations_received_total 3
# HELP gosling_cache_bus_resyncs_total Invalidation subscriptions (re)established, each of which dropped every cached entry of this process.
# TYPE gosling_cache_bus_resyncs_total counter
gosling_cache_bus_resyncs_total 1
`, "gosling_cache_invalidations_received_total", "gosling_cache_bus_resyncs_total")
	// Every received message carried its send time.
	if n := histogramCount(t, reg2, "gosling_cache_invalidation_lag_seconds"); n != 3 {
		t.Errorf("lag observations: %d, want 3", n)
	}
	if n := histogramCount(t, reg1, "gosling_cache_invalidation_lag_seconds"); n != 0 {
		t.Errorf("publisher observed %d lags of its own messages", n)
	}
	lint(t, reg1)
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}

// TestDecodeInvalidationVersions: version 2 carries the send time; version
// 1 messages (older publishers) still decode, without it.
func TestDecodeInvalidationVersions(t *testing.T) {
	origin := "\x01\x02\x03\x04\x05\x06\x07\x08"
	v1 := "\x01\x01" + origin + "\x04acmedev-1"
	inv, o, sent, err := cache.DecodeInvalidation(v1)
	if err != nil || inv != (cache.Invalidation{Kind: cache.KindDevice, Tenant: "acme", Key: "dev-1"}) || string(o[:]) != origin || sent != 0 {
		t.Fatalf("v1: %+v %q %d %v", inv, o, sent, err)
	}
	v2 := "\x02\x02" + origin + "\x00\x00\x00\x00\x00\x00\x01\x00" + "\x04acme"
	inv, _, sent, err = cache.DecodeInvalidation(v2)
	if err != nil || inv != (cache.Invalidation{Kind: cache.KindCatalog, Tenant: "acme"}) || sent != 256 {
		t.Fatalf("v2: %+v %d %v", inv, sent, err)
	}
	for _, bad := range []string{"", "\x03\x01" + origin + "\x00", "\x02\x01" + origin + "\x00", "\x01\x09" + origin + "\x00"} {
		if _, _, _, err := cache.DecodeInvalidation(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestStoreMetrics(t *testing.T) {
	f := newFixture(t, cache.StoreOptions{})
	reg := mustRegistry(t, f.store.RegisterMetrics)
	if err := f.store.CreateDevice(t.Context(), &schema.Device{Tenant: "acme", ID: "dev-1"}); err != nil {
		t.Fatal(err)
	}
	mustDevice(t, f.store, "acme", "dev-1") // miss, fill
	mustDevice(t, f.store, "acme", "dev-1") // hit
	wantValue(t, reg, `
# HELP gosling_cache_requests_total Cache lookups by level (l1: a frontline's memory, l2: Redis) and result (hit, miss).
# TYPE gosling_cache_requests_total counter
gosling_cache_requests_total{level="l2",result="hit"} 1
gosling_cache_requests_total{level="l2",result="miss"} 1
# HELP gosling_cache_fills_total Values written to Redis after a miss.
# TYPE gosling_cache_fills_total counter
gosling_cache_fills_total 1
`, "gosling_cache_requests_total", "gosling_cache_fills_total")
	lint(t, reg)
}
