// Package dditest starts a real DDI frontline in process, over a real
// SQLite store and artifact store in a test's temporary directory, for the
// tests of package ddi and of the packages that drive a frontline
// (loadtest). What the control plane would do — register software, start
// a rollout and open its waves, announce changes on the bus — it does
// directly on the store and the bus.
package dditest

import (
	"context"
	"crypto/md5"
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
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

// Tenant is the tenant a Frontline serves unless its Config names others.
const Tenant = "DEFAULT"

// Frontline is a running frontline on a loopback port and what it stands on.
type Frontline struct {
	TB    testing.TB
	DB    *sqlite.DB
	Blobs *artifacts.Store
	Bus   *cache.LocalBus
	Srv   *ddi.Server
	URL   string // http://127.0.0.1:port
}

// Start starts a frontline with cfg. Tenants defaults to Tenant, and
// SeenFlushInterval to an hour: tests see last-seen records through
// Shutdown. The frontline logs at debug level to stderr under go test -v,
// and nowhere otherwise. It is shut down, and must have served without an
// error, when the test ends.
func Start(tb testing.TB, cfg ddi.Config) *Frontline {
	tb.Helper()
	dir := tb.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "gosling.db"))
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	blobs, err := artifacts.OpenStore(filepath.Join(dir, "artifacts"))
	if err != nil {
		tb.Fatalf("open artifacts: %v", err)
	}
	if cfg.Tenants == nil {
		cfg.Tenants = []string{Tenant}
	}
	if cfg.SeenFlushInterval == 0 {
		cfg.SeenFlushInterval = time.Hour
	}
	bus := cache.NewLocalBus()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := ddi.New(cfg, db, bus, blobs, logger)
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
	return &Frontline{TB: tb, DB: db, Blobs: blobs, Bus: bus, Srv: srv, URL: "http://" + ln.Addr().String()}
}

// MustSoftware stores a blob (a .swu-named file of size random bytes,
// written straight to the store's path) and registers it as software
// version; it returns the software and the bytes.
func (f *Frontline) MustSoftware(version string, size int) (*schema.Software, []byte) {
	f.TB.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		f.TB.Fatal(err)
	}
	s256, s1, s5 := sha256.Sum256(data), sha1.Sum(data), md5.Sum(data)
	sw := &schema.Software{
		Tenant:   Tenant,
		Name:     "rootfs",
		Version:  version,
		Filename: "image-" + version + ".swu",
		Size:     int64(size),
		SHA256:   hex.EncodeToString(s256[:]),
		SHA1:     hex.EncodeToString(s1[:]),
		MD5:      hex.EncodeToString(s5[:]),
	}
	p := f.Blobs.Path(sw.SHA256)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		f.TB.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o640); err != nil {
		f.TB.Fatal(err)
	}
	if err := f.DB.CreateSoftware(context.Background(), sw); err != nil {
		f.TB.Fatalf("create software: %v", err)
	}
	return sw, data
}

// MustRollout starts a rollout of sw on the default feed (one 100% wave)
// and announces it, as the control plane would.
func (f *Frontline) MustRollout(sw *schema.Software) *schema.Rollout {
	f.TB.Helper()
	return f.MustStartRollout(&schema.Rollout{Name: "r-" + sw.Version, SoftwareID: sw.ID})
}

// MustStartRollout creates r in the tenant, opens its first wave as the
// engine would, and announces it.
func (f *Frontline) MustStartRollout(r *schema.Rollout) *schema.Rollout {
	f.TB.Helper()
	f.CreateRollout(r)
	f.Publish(cache.KindCatalog, "")
	return r
}

// CreateRollout creates r and opens its first wave without announcing it.
func (f *Frontline) CreateRollout(r *schema.Rollout) {
	f.TB.Helper()
	r.Tenant = Tenant
	if err := f.DB.CreateRollout(context.Background(), r); err != nil {
		f.TB.Fatalf("create rollout: %v", err)
	}
	f.OpenWave(r, 0)
}

// MustOpenWave opens waves up to k (thresholds from their percents) and
// announces the change, as the engine does when a wave advances.
func (f *Frontline) MustOpenWave(r *schema.Rollout, k int) {
	f.TB.Helper()
	f.OpenWave(r, k)
	f.Publish(cache.KindCatalog, "")
}

// OpenWave opens waves up to k without announcing it.
func (f *Frontline) OpenWave(r *schema.Rollout, k int) {
	f.TB.Helper()
	for i := 0; i <= k; i++ {
		if r.Waves[i].Threshold == 0 {
			r.Waves[i].Threshold = schema.PercentThreshold(r.Waves[i].Percent)
		}
	}
	r.CurrentWave = k
	if err := f.DB.UpdateRollout(context.Background(), r); err != nil {
		f.TB.Fatalf("open wave %d: %v", k, err)
	}
}

// Publish announces a change on the bus, as the control plane does after
// a write.
func (f *Frontline) Publish(kind cache.Kind, key string) {
	f.TB.Helper()
	if err := f.Bus.Publish(context.Background(), cache.Invalidation{Kind: kind, Tenant: Tenant, Key: key}); err != nil {
		f.TB.Fatal(err)
	}
}
