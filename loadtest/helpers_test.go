package loadtest_test

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/loadtest"
	"github.com/gosling-ota/gosling/loadtest/baseline"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

const tenant = "DEFAULT"

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

// gosling is a real DDI frontline over a real SQLite store, in process.
type gosling struct {
	tb    testing.TB
	db    *sqlite.DB
	blobs *artifacts.Store
	bus   *cache.LocalBus
	url   string
}

// MustGosling starts a frontline on a loopback port (Tenants defaults to
// DEFAULT) as ddi's own tests do.
func MustGosling(tb testing.TB, cfg ddi.Config) *gosling {
	tb.Helper()
	dir := tb.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "gosling.db"))
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	blobs, err := artifacts.OpenStore(filepath.Join(dir, "artifacts"))
	if err != nil {
		tb.Fatalf("open artifacts: %v", err)
	}
	if cfg.Tenants == nil {
		cfg.Tenants = []string{tenant}
	}
	if cfg.SeenFlushInterval == 0 {
		cfg.SeenFlushInterval = time.Hour
	}
	bus := cache.NewLocalBus()
	srv, err := ddi.New(cfg, db, bus, blobs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("ddi.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			tb.Errorf("serve: %v", err)
		}
		db.Close()
	})
	return &gosling{tb: tb, db: db, blobs: blobs, bus: bus, url: "http://" + ln.Addr().String()}
}

// MustSoftware stores size random bytes as an artifact and registers them
// as software version.
func (g *gosling) MustSoftware(version string, size int) *schema.Software {
	g.tb.Helper()
	data := make([]byte, size)
	rand.Read(data)
	s256, s1 := sha256.Sum256(data), sha1.Sum(data)
	sw := &schema.Software{
		Tenant: tenant, Name: "rootfs", Version: version,
		Filename: "image-" + version + ".swu", Size: int64(size),
		SHA256: hex.EncodeToString(s256[:]), SHA1: hex.EncodeToString(s1[:]),
	}
	p := g.blobs.Path(sw.SHA256)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		g.tb.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o640); err != nil {
		g.tb.Fatal(err)
	}
	if err := g.db.CreateSoftware(context.Background(), sw); err != nil {
		g.tb.Fatalf("create software: %v", err)
	}
	return sw
}

// MustRollout starts a rollout of sw on the default feed and announces it,
// as the control plane does.
func (g *gosling) MustRollout(sw *schema.Software) *schema.Rollout {
	g.tb.Helper()
	r := &schema.Rollout{Tenant: tenant, Name: "r-" + sw.Version, Feed: schema.DefaultFeed, SoftwareID: sw.ID}
	if err := g.db.CreateRollout(context.Background(), r); err != nil {
		g.tb.Fatalf("create rollout: %v", err)
	}
	// Open its single 100% wave as the control plane's engine would.
	r.CurrentWave = 0
	r.Waves[0].Threshold = schema.PercentThreshold(r.Waves[0].Percent)
	r.Waves[0].OpenedAt = time.Now()
	if err := g.db.UpdateRollout(context.Background(), r); err != nil {
		g.tb.Fatalf("open rollout wave: %v", err)
	}
	g.publish(cache.KindCatalog, "")
	return r
}

func (g *gosling) publish(kind cache.Kind, key string) {
	g.tb.Helper()
	if err := g.bus.Publish(context.Background(), cache.Invalidation{Kind: kind, Tenant: tenant, Key: key}); err != nil {
		g.tb.Fatal(err)
	}
}

// MustDevices returns every device whose id contains query.
func (g *gosling) MustDevices(query string) []*schema.Device {
	g.tb.Helper()
	var all []*schema.Device
	for off := 0; ; off += 500 {
		ds, total, err := g.db.Devices(context.Background(), schema.DeviceFilter{Tenant: tenant, Target: schema.Target{Query: query}, Offset: off, Limit: 500})
		if err != nil {
			g.tb.Fatalf("devices: %v", err)
		}
		all = append(all, ds...)
		if len(all) >= total || len(ds) == 0 {
			return all
		}
	}
}

// MustActions returns every action of a rollout.
func (g *gosling) MustActions(rolloutID int64) []*schema.Action {
	g.tb.Helper()
	var all []*schema.Action
	for off := 0; ; off += 500 {
		as, total, err := g.db.Actions(context.Background(), schema.ActionFilter{Tenant: tenant, RolloutID: rolloutID, Offset: off, Limit: 500})
		if err != nil {
			g.tb.Fatalf("actions: %v", err)
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
