package loadtest_test

import (
	"context"
	"net"
	"testing"

	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/ddi/dditest"
	"github.com/gosling-ota/gosling/loadtest"
	"github.com/gosling-ota/gosling/loadtest/baseline"
	"github.com/gosling-ota/gosling/schema"
)

const tenant = dditest.Tenant

// MustBaseline starts the baseline server on a loopback port and returns
// its URL.
func MustBaseline(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	srv := baseline.NewServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			tb.Errorf("baseline shutdown: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("baseline serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// gosling is a real DDI frontline over a real SQLite store, in process
// (dditest.Frontline), with what these tests read back from its store.
type gosling struct {
	*dditest.Frontline
	url string
}

// MustGosling starts a frontline on a loopback port (Tenants defaults to
// DEFAULT) as ddi's own tests do.
func MustGosling(tb testing.TB, cfg ddi.Config) *gosling {
	tb.Helper()
	f := dditest.Start(tb, cfg)
	return &gosling{Frontline: f, url: f.URL}
}

// MustDevices returns every device whose id contains query.
func (g *gosling) MustDevices(query string) []*schema.Device {
	g.TB.Helper()
	var all []*schema.Device
	for off := 0; ; off += 500 {
		ds, total, err := g.DB.Devices(context.Background(), schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Query: query}, Offset: off, Limit: 500})
		if err != nil {
			g.TB.Fatalf("devices: %v", err)
		}
		all = append(all, ds...)
		if len(all) >= total || len(ds) == 0 {
			return all
		}
	}
}

// MustActions returns every action of a rollout.
func (g *gosling) MustActions(rolloutID int64) []*schema.Action {
	g.TB.Helper()
	var all []*schema.Action
	for off := 0; ; off += 500 {
		as, total, err := g.DB.Actions(context.Background(), schema.ActionFilter{Tenant: tenant, RolloutID: rolloutID, Offset: off, Limit: 500})
		if err != nil {
			g.TB.Fatalf("actions: %v", err)
		}
		all = append(all, as...)
		if len(all) >= total || len(as) == 0 {
			return all
		}
	}
}

// MustRun runs the load generator and fails the test on a config error.
func MustRun(tb testing.TB, cfg loadtest.Config) *loadtest.Report {
	tb.Helper()
	rep, err := loadtest.Run(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	if testing.Verbose() {
		tb.Logf("\n%s", rep.Table())
	}
	return rep
}
