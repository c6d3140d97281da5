package loadtest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/loadtest"
	"github.com/gosling-ota/gosling/schema"
)

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	for _, target := range []string{
		"http://192.0.2.1:8080", "http://example.com", "https://10.0.0.1", "http://[2001:db8::1]:80",
		"http://0.0.0.0:8080", "ftp://127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1:8080?x=1",
	} {
		_, err := loadtest.Run(context.Background(), loadtest.Config{Target: target, MaxRequests: 1})
		if err == nil {
			t.Errorf("target %q accepted", target)
		}
	}
	// Loopback spellings are accepted: localhost, 127/8, ::1.
	url := MustBaseline(t)
	port := url[strings.LastIndexByte(url, ':'):]
	for _, target := range []string{url, "http://localhost" + port, "http://127.0.0.1" + port + "/prefix/"} {
		rep := MustRun(t, loadtest.Config{Target: target, Devices: 3, MaxRequests: 3, Concurrency: 1})
		if rep.Requests != 3 {
			t.Errorf("%s: %d requests, want 3", target, rep.Requests)
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	ok := loadtest.Config{Target: "http://127.0.0.1:1", Duration: time.Second}
	for name, mut := range map[string]func(*loadtest.Config){
		"no bound":             func(c *loadtest.Config) { c.Duration = 0 },
		"rate and interval":    func(c *loadtest.Config) { c.Rate, c.PollInterval = 10, time.Second },
		"negative rate":        func(c *loadtest.Config) { c.Rate = -1 },
		"jitter over 100":      func(c *loadtest.Config) { c.PollInterval, c.Jitter = time.Second, 101 },
		"fail rate over 1":     func(c *loadtest.Config) { c.FailRate = 1.5 },
		"target without token": func(c *loadtest.Config) { c.Auth = loadtest.AuthTarget },
		"gateway w/o token":    func(c *loadtest.Config) { c.Auth = loadtest.AuthGateway },
		"unknown auth":         func(c *loadtest.Config) { c.Auth = "basic" },
		"unknown download":     func(c *loadtest.Config) { c.Download = "torrent" },
		"too many devices":     func(c *loadtest.Config) { c.Devices = loadtest.MaxDevices + 1 },
		"slash in prefix":      func(c *loadtest.Config) { c.IDPrefix = "a/b" },
		"negative range":       func(c *loadtest.Config) { c.RangeSize = -1 },
	} {
		c := ok
		mut(&c)
		if _, err := loadtest.Run(context.Background(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRunStopsAtMaxRequests(t *testing.T) {
	url := MustBaseline(t)
	rep := MustRun(t, loadtest.Config{Target: url, Devices: 1000, MaxRequests: 5000, Concurrency: 8})
	if rep.Requests != 5000 || rep.StopReason != "max-requests" || rep.Errors != 0 {
		t.Fatalf("requests %d stop %q errors %d, want 5000 max-requests 0", rep.Requests, rep.StopReason, rep.Errors)
	}
	if p := rep.Op("poll"); p.OK != 5000 || p.Latency.P50 <= 0 || p.Latency.Max < p.Latency.P99 {
		t.Fatalf("poll report %+v", p)
	}
}

func TestRunStopsAtDurationInOpenModel(t *testing.T) {
	url := MustBaseline(t)
	const rate, d = 2000.0, time.Second
	rep := MustRun(t, loadtest.Config{Target: url, Devices: 100_000, Rate: rate, Duration: d, Concurrency: 8, Timeout: 2 * time.Second})
	if rep.StopReason != "duration" {
		t.Fatalf("stop %q", rep.StopReason)
	}
	// Requests in flight finish (each within Timeout); none start later.
	if rep.Elapsed > d+2*time.Second {
		t.Fatalf("ran %v, want at most %v", rep.Elapsed, d+2*time.Second)
	}
	// Arrival k is sent no earlier than k/rate: at most rate·d+1 in d.
	if n := rep.Op("poll").Count; n > uint64(rate*d.Seconds())+1 || n < uint64(rate*d.Seconds()/4) {
		t.Fatalf("%d polls in %v at %v/s", n, d, rate)
	}
	if rep.Skipped != 0 || rep.Errors != 0 {
		t.Fatalf("skipped %d errors %d", rep.Skipped, rep.Errors)
	}
}

func TestRunIntervalModeBounds(t *testing.T) {
	url := MustBaseline(t)
	const devices, iv, d = 50, 200 * time.Millisecond, 1200 * time.Millisecond
	rep := MustRun(t, loadtest.Config{Target: url, Devices: devices, PollInterval: iv, Jitter: 10, Duration: d, Concurrency: 4})
	// Each device polls at most once per 0.9·interval, starting within the
	// first interval.
	maxPolls := uint64(devices * (int(d/(iv*9/10)) + 1))
	if n := rep.Op("poll").Count; n > maxPolls || n < devices {
		t.Fatalf("%d polls, want %d–%d", n, devices, maxPolls)
	}
	if rep.Errors != 0 || rep.StopReason != "duration" {
		t.Fatalf("errors %d stop %q", rep.Errors, rep.StopReason)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	url := MustBaseline(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := loadtest.Run(ctx, loadtest.Config{Target: url, Rate: 100, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StopReason != "canceled" || time.Since(start) > 5*time.Second {
		t.Fatalf("stop %q after %v", rep.StopReason, time.Since(start))
	}
}

func TestRunCountsConnectionErrors(t *testing.T) {
	// Nothing listens on loopback port 1: every connect is refused.
	rep := MustRun(t, loadtest.Config{Target: "http://127.0.0.1:1", Devices: 10, MaxRequests: 20, Concurrency: 2, Timeout: time.Second})
	p := rep.Op("poll")
	if p.Count != 20 || p.Errors["connection"] != 20 || p.OK != 0 {
		t.Fatalf("poll %+v, want 20 connection errors", p)
	}
}

// The full device life against a real frontline: a fleet registers, a
// rollout reaches it, 20% of the devices report failure, and the store's
// actions agree with the load generator's own counts exactly.
func TestRunRegistersAndUpdatesFleet(t *testing.T) {
	g := MustGosling(t, ddi.Config{PollInterval: time.Hour})
	devices := 500
	if raceEnabled {
		devices = 100
	}
	base := loadtest.Config{
		Target: g.url, Devices: devices, IDPrefix: "fleet-", Concurrency: 16,
		HWModel: "board-x", HWRevision: "2.1", SWVersion: "0.9.0",
	}

	reg := base
	reg.RegisterOnly = true
	rep := MustRun(t, reg)
	if n := uint64(devices); rep.StopReason != "done" || rep.Visits != n || rep.Errors != 0 ||
		rep.Op("poll").OK != n || rep.Op("configData").OK != n || rep.Outcomes.Registered != n {
		t.Fatalf("registration: %s", rep.Table())
	}
	ds := g.MustDevices("fleet-")
	if len(ds) != devices {
		t.Fatalf("%d devices stored, want %d", len(ds), devices)
	}
	for _, d := range ds {
		if d.HWModel() != "board-x" || d.HWRevision() != "2.1" || d.SWVersion != "0.9.0" {
			t.Fatalf("device %s: attributes %v, version %q", d.ID, d.Attributes, d.SWVersion)
		}
	}

	const size = 40_000
	sw, _ := g.MustSoftware("1.0.0", size)
	ro := g.MustRollout(sw)
	upd := base
	upd.PollInterval, upd.Jitter = 200*time.Millisecond, 20
	upd.Duration = 3 * time.Second
	upd.FailRate, upd.Seed = 0.2, 7
	upd.Download, upd.RangeSize = loadtest.DownloadRange, 16_000
	var total loadtest.Outcomes
	var downloaded uint64
	// Bounded runs until every device has reported (a slow machine may
	// need more than one).
	start := time.Now()
	for round := 0; time.Since(start) < 2*time.Minute && total.Succeeded+total.Failed < uint64(devices); round++ {
		rep := MustRun(t, upd)
		if rep.Errors != 0 {
			t.Fatalf("round %d: errors\n%s", round, rep.Table())
		}
		total.Succeeded += rep.Outcomes.Succeeded
		total.Failed += rep.Outcomes.Failed
		downloaded += rep.Op("download").Bytes
	}
	if total.Succeeded+total.Failed != uint64(devices) {
		t.Fatalf("%d succeeded + %d failed, want %d reports", total.Succeeded, total.Failed, devices)
	}
	if total.Failed < uint64(devices/10) || total.Failed > uint64(devices*3/10) {
		t.Fatalf("%d of %d failed at a 20%% fail rate", total.Failed, devices)
	}
	if downloaded < uint64(devices*size) {
		t.Fatalf("downloaded %d bytes, want at least %d", downloaded, devices*size)
	}

	// The store agrees, action by action.
	var succeeded, failed uint64
	for _, a := range g.MustActions(ro.ID) {
		i, err := strconv.Atoi(strings.TrimPrefix(a.DeviceID, "fleet-"))
		if err != nil {
			t.Fatalf("action of unexpected device %q", a.DeviceID)
		}
		want := schema.ActionSucceeded
		if loadtest.FailsInstall(upd.Seed, upd.FailRate, i) {
			want = schema.ActionFailed
		}
		if a.Status != want {
			t.Errorf("device %s: action %s, want %s", a.DeviceID, a.Status, want)
		}
		switch a.Status {
		case schema.ActionSucceeded:
			succeeded++
		case schema.ActionFailed:
			failed++
		}
	}
	if succeeded != total.Succeeded || failed != total.Failed {
		t.Fatalf("store: %d succeeded, %d failed; loadgen: %d, %d", succeeded, failed, total.Succeeded, total.Failed)
	}
}

// Strict auth with pre-provisioned tokens derived by TokenFor: the right
// secret gets through, a wrong one is refused with 401, and a gateway
// token registers devices.
func TestRunTokens(t *testing.T) {
	g := MustGosling(t, ddi.Config{DeviceAuth: ddi.AuthStrict})
	const devices, secret = 20, "fleet-secret"
	ctx := context.Background()
	for i := range devices {
		id := loadtest.DeviceID("tok-", i)
		d := &schema.Device{Tenant: tenant, ID: id, TokenHash: schema.HashToken(loadtest.TokenFor(secret, id)), Provisioned: true}
		if err := g.DB.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	cfg := loadtest.Config{Target: g.url, Devices: devices, IDPrefix: "tok-", RegisterOnly: true, Concurrency: 4,
		Auth: loadtest.AuthTarget, TokenSecret: secret}
	if rep := MustRun(t, cfg); rep.Errors != 0 || rep.Outcomes.Registered != devices {
		t.Fatalf("right secret:\n%s", rep.Table())
	}
	cfg.TokenSecret = "wrong"
	if rep := MustRun(t, cfg); rep.Op("poll").Errors["401"] != devices || rep.Outcomes.Registered != 0 {
		t.Fatalf("wrong secret:\n%s", rep.Table())
	}

	if err := g.DB.SetGatewayTokenHash(ctx, tenant, schema.HashToken("gw-token")); err != nil {
		t.Fatal(err)
	}
	gw := loadtest.Config{Target: g.url, Devices: devices, IDPrefix: "gw-", RegisterOnly: true, Concurrency: 4,
		Auth: loadtest.AuthGateway, GatewayToken: "gw-token"}
	if rep := MustRun(t, gw); rep.Errors != 0 || rep.Outcomes.Registered != devices {
		t.Fatalf("gateway token:\n%s", rep.Table())
	}
	if n := len(g.MustDevices("gw-")); n != devices {
		t.Fatalf("%d gateway devices registered, want %d", n, devices)
	}
}

// Devices acknowledge cancels like SWUpdate, and the store cancels.
func TestRunAcknowledgesCancel(t *testing.T) {
	g := MustGosling(t, ddi.Config{})
	const devices = 10
	base := loadtest.Config{Target: g.url, Devices: devices, IDPrefix: "c-", Concurrency: 4}
	reg := base
	reg.RegisterOnly = true
	MustRun(t, reg)
	sw, _ := g.MustSoftware("2.0.0", 1000)
	ctx := context.Background()
	ids := make([]int64, devices)
	for i := range devices {
		a := &schema.Action{Tenant: tenant, DeviceID: loadtest.DeviceID("c-", i), SoftwareID: sw.ID}
		if err := g.DB.CreateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := g.DB.CancelAction(ctx, tenant, a.DeviceID, a.ID); err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
		g.Publish(cache.KindDevice, a.DeviceID)
	}
	run := base
	run.Rate, run.Duration = 50, 600*time.Millisecond
	rep := MustRun(t, run)
	if rep.Errors != 0 || rep.Outcomes.Canceled != devices {
		t.Fatalf("cancel:\n%s", rep.Table())
	}
	for i, id := range ids {
		a, err := g.DB.Action(ctx, tenant, loadtest.DeviceID("c-", i), id)
		if err != nil || a.Status != schema.ActionCanceled {
			t.Fatalf("action %d: %v %v", id, a, err)
		}
	}
}

func TestTokenForIsStable(t *testing.T) {
	a, b := loadtest.TokenFor("s", "dev-1"), loadtest.TokenFor("s", "dev-1")
	if a != b || len(a) != 32 || a == loadtest.TokenFor("s", "dev-2") || a == loadtest.TokenFor("t", "dev-1") {
		t.Fatalf("tokens %q %q", a, b)
	}
}
