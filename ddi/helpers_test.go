package ddi_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/artifacts"
	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/sqlite"
)

const tenant = "DEFAULT"

// env is a running frontline on a loopback port with a real SQLite store
// and a real artifacts store in a temp dir.
type env struct {
	tb     testing.TB
	db     *sqlite.DB
	blobs  *artifacts.Store
	bus    *cache.LocalBus
	srv    *ddi.Server
	url    string // http://127.0.0.1:port
	client *http.Client
}

// MustEnv starts a frontline with cfg (Tenants defaults to DEFAULT).
func MustEnv(tb testing.TB, cfg ddi.Config) *env {
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
		cfg.SeenFlushInterval = time.Hour // tests flush through Shutdown
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
	e := &env{
		tb: tb, db: db, blobs: blobs, bus: bus, srv: srv,
		url: "http://" + ln.Addr().String(),
		client: &http.Client{
			Timeout: 20 * time.Second,
			// Devices treat a redirect as an error; so do the tests.
			CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirected") },
		},
	}
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
	return e
}

// base is the controller base URL of a device.
func (e *env) base(dev string) string { return e.url + "/" + tenant + "/controller/v1/" + dev }

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("answer is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// Do sends a request; headers are "Name: value" strings (repeatable).
func (e *env) Do(method, url, body string, headers ...string) response {
	e.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.tb.Fatalf("new request: %v", err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.tb.Fatalf("read answer: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// MustStatus fails unless r has status want.
func MustStatus(tb testing.TB, r response, want int) {
	tb.Helper()
	if r.status != want {
		tb.Fatalf("status %d, want %d; body %q", r.status, want, r.body)
	}
}

// MustSoftware stores a blob (a .swu-named file of random bytes, written
// straight to the store's path) and registers it as software.
func (e *env) MustSoftware(version string, size int) (*schema.Software, []byte) {
	e.tb.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		e.tb.Fatal(err)
	}
	s256, s1, s5 := sha256.Sum256(data), sha1.Sum(data), md5.Sum(data)
	sw := &schema.Software{
		Tenant:   tenant,
		Name:     "rootfs",
		Version:  version,
		Filename: "image-" + version + ".swu",
		Size:     int64(size),
		SHA256:   hex.EncodeToString(s256[:]),
		SHA1:     hex.EncodeToString(s1[:]),
		MD5:      hex.EncodeToString(s5[:]),
	}
	p := e.blobs.Path(sw.SHA256)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o640); err != nil {
		e.tb.Fatal(err)
	}
	if err := e.db.CreateSoftware(context.Background(), sw); err != nil {
		e.tb.Fatalf("create software: %v", err)
	}
	return sw, data
}

// MustRollout starts a rollout of sw on the default feed (one 100% wave)
// and announces it, as the control plane would.
func (e *env) MustRollout(sw *schema.Software) *schema.Rollout {
	e.tb.Helper()
	return e.MustStartRollout(&schema.Rollout{Name: "r-" + sw.Version, SoftwareID: sw.ID})
}

// MustStartRollout creates r in the tenant, opens its first wave as the
// engine would, and announces it.
func (e *env) MustStartRollout(r *schema.Rollout) *schema.Rollout {
	e.tb.Helper()
	e.createRollout(r)
	e.publish(cache.KindCatalog, "")
	return r
}

// createRollout creates r and opens its first wave without announcing it.
func (e *env) createRollout(r *schema.Rollout) {
	e.tb.Helper()
	r.Tenant = tenant
	if err := e.db.CreateRollout(context.Background(), r); err != nil {
		e.tb.Fatalf("create rollout: %v", err)
	}
	e.openWave(r, 0)
}

// MustOpenWave opens waves up to k (thresholds from their percents) and
// announces the change, as the engine does when a wave advances.
func (e *env) MustOpenWave(r *schema.Rollout, k int) {
	e.tb.Helper()
	e.openWave(r, k)
	e.publish(cache.KindCatalog, "")
}

func (e *env) openWave(r *schema.Rollout, k int) {
	e.tb.Helper()
	for i := 0; i <= k; i++ {
		if r.Waves[i].Threshold == 0 {
			r.Waves[i].Threshold = schema.PercentThreshold(r.Waves[i].Percent)
		}
	}
	r.CurrentWave = k
	if err := e.db.UpdateRollout(context.Background(), r); err != nil {
		e.tb.Fatalf("open wave %d: %v", k, err)
	}
}

func (e *env) publish(kind cache.Kind, key string) {
	e.tb.Helper()
	if err := e.bus.Publish(context.Background(), cache.Invalidation{Kind: kind, Tenant: tenant, Key: key}); err != nil {
		e.tb.Fatal(err)
	}
}

// MustDevice reads a device from the store.
func (e *env) MustDevice(id string) *schema.Device {
	e.tb.Helper()
	d, err := e.db.Device(context.Background(), tenant, id)
	if err != nil {
		e.tb.Fatalf("device %s: %v", id, err)
	}
	return d
}

// MustAction reads an action from the store.
func (e *env) MustAction(dev string, id int64) *schema.Action {
	e.tb.Helper()
	a, err := e.db.Action(context.Background(), tenant, dev, id)
	if err != nil {
		e.tb.Fatalf("action %d: %v", id, err)
	}
	return a
}

// Poll polls as dev and returns the answer's links (name → href).
func (e *env) Poll(dev string, headers ...string) (map[string]string, map[string]any) {
	e.tb.Helper()
	r := e.Do("GET", e.base(dev), "", headers...)
	MustStatus(e.tb, r, 200)
	m := r.json(e.tb)
	links := map[string]string{}
	if l, ok := m["_links"].(map[string]any); ok {
		for k, v := range l {
			links[k] = v.(map[string]any)["href"].(string)
		}
	}
	return links, m
}

// swupdateHeaders are what SWUpdate 2022.12 sends on JSON calls.
var swupdateHeaders = []string{
	"User-Agent: libcurl-agent/1.0",
	"Content-Type: application/json",
	"Accept: application/json",
	"charsets: utf-8",
	"charsets: utf-8",
}

// Feedback bodies as SWUpdate 2022.12 sends them (SWUPDATE.md).
const (
	fbProceeding = `{ "id": 1, "time": "20261128T020752", "status": { "result": { "progress": { "cnt" : 0, "of" : 1 }, "finished": "none" }, "execution": "proceeding", "details" : [ "Installing Update Chunk Artifacts." ] } }`
	fbSuccess    = `{ "id": 1, "time": "20261128T021752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "Update Installed." ] } }`
	fbFailure    = `{ "id": 1, "time": "20261128T021752", "status": { "result": { "finished": "failure" }, "execution": "closed", "details" : [ "Update Failed." ] } }`
	// A literal newline inside a string: not JSON, but a real failure report.
	fbBrokenFailure = "{ \"id\": 1, \"time\": \"20261128T020752\", \"status\": { \"result\": { \"finished\": \"failure\" }, \"execution\": \"closed\", \"details\" : [ \"No artifact download URL reported by server.\n\" ] } }"
	fbCancelAck     = `{ "id": 1, "time": "20261128T020752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "cancellation acknowledged." ] } }`
	configDataBody  = `{ "id": "", "time": "20261128T020752", "status": { "result": { "finished": "success" }, "execution": "closed", "details" : [ "" ] }, "data" : { "sw_version": "0.9.0","hw_revision": "1.0","hw_model": "devboard" } }`
)

// MustOffer registers dev, starts a rollout of a new software and polls
// until the deploymentBase is offered; it returns the offer's href and the
// action id.
func (e *env) MustOffer(dev string, headers ...string) (string, int64, *schema.Software, []byte) {
	e.tb.Helper()
	e.Poll(dev, headers...)
	sw, data := e.MustSoftware("1.2.0", 64<<10)
	e.MustRollout(sw)
	links, _ := e.Poll(dev, headers...)
	href, ok := links["deploymentBase"]
	if !ok {
		e.tb.Fatalf("no deploymentBase offered: %v", links)
	}
	d := e.MustDevice(dev)
	if d.ActionID == 0 {
		e.tb.Fatal("device has no open action after the offer")
	}
	return href, d.ActionID, sw, data
}
