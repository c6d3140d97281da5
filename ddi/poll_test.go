package ddi_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

var sleepRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$`)

func TestFormatSleep(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "00:00:00"},
		{-time.Second, "00:00:00"},
		{time.Second, "00:00:01"},
		{1500 * time.Millisecond, "00:00:01"},
		{5 * time.Minute, "00:05:00"},
		{90 * time.Minute, "01:30:00"},
		{23*time.Hour + 59*time.Minute + 59*time.Second, "23:59:59"},
		{24 * time.Hour, "23:59:59"},
		{100 * time.Hour, "23:59:59"},
	} {
		t.Run(tc.in.String(), func(t *testing.T) {
			got := ddi.FormatSleep(tc.in)
			if got != tc.want || !sleepRE.MatchString(got) {
				t.Errorf("FormatSleep(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// PROTOCOL.md 1: sleep always present, HH:MM:SS, hours 00–23.
func TestPollSleep(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		want     string
	}{
		{0, "00:05:00"}, // zero means the default
		{30 * time.Second, "00:00:30"},
		{25 * time.Hour, "23:59:59"},
		{1000 * time.Hour, "23:59:59"},
	} {
		t.Run(tc.interval.String(), func(t *testing.T) {
			e := MustEnv(t, ddi.Config{PollInterval: tc.interval})
			_, m := e.Poll("dev-01")
			sleep := m["config"].(map[string]any)["polling"].(map[string]any)["sleep"]
			if sleep != tc.want {
				t.Errorf("sleep %v, want %q", sleep, tc.want)
			}
		})
	}
}

func TestPollNothingPending(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	links, _ := e.Poll("dev-01") // registers; configData requested
	if _, ok := links["configData"]; !ok || len(links) != 1 {
		t.Fatalf("first poll links %v, want configData only", links)
	}
	MustStatus(t, e.Do("PUT", e.base("dev-01")+"/configData", configDataBody, swupdateHeaders...), 200)
	r := e.Do("GET", e.base("dev-01"), "")
	MustStatus(t, r, 200)
	if got := string(r.body); got != `{"config":{"polling":{"sleep":"00:05:00"}}}` {
		t.Errorf("answer %s, want no _links", got)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	d := e.MustDevice("dev-01")
	if d.HWModel() != "devboard" || d.SWVersion != "0.9.0" || d.ConfigRequested {
		t.Errorf("device after configData: %+v", d)
	}
}

// PROTOCOL.md 3, 8 and the shape of the offer.
func TestPollOffersDeployment(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	href, aid, _, _ := e.MustOffer("dev-01")
	want := e.base("dev-01") + "/deploymentBase/"
	if !strings.HasPrefix(href, want) || !strings.Contains(href, "?c=") {
		t.Errorf("deploymentBase href %q, want absolute %s{id}?c=…", href, want)
	}
	// The same offer on every poll until closed (device reboots included).
	for range 3 {
		links, _ := e.Poll("dev-01")
		if links["deploymentBase"] != href {
			t.Fatalf("offer changed: %v", links)
		}
		if _, ok := links["cancelAction"]; ok {
			t.Fatal("deploymentBase and cancelAction offered together")
		}
	}
	// Feedback changes the status, and with it c=.
	MustStatus(t, e.Do("POST", e.base("dev-01")+"/deploymentBase/"+itoa(aid)+"/feedback", fbProceeding), 200)
	links, _ := e.Poll("dev-01")
	if links["deploymentBase"] == href || !strings.HasPrefix(links["deploymentBase"], want+itoa(aid)+"?c=") {
		t.Errorf("href after feedback %q (before %q)", links["deploymentBase"], href)
	}
}

func TestPollExternalURL(t *testing.T) {
	e := MustEnv(t, ddi.Config{ExternalURL: "https://ota.example.com/gosling/"})
	e.Poll("dev-01")
	sw, _ := e.MustSoftware("2.0.0", 1024)
	e.MustRollout(sw)
	links, _ := e.Poll("dev-01")
	if want := "https://ota.example.com/gosling/DEFAULT/controller/v1/dev-01/deploymentBase/"; !strings.HasPrefix(links["deploymentBase"], want) {
		t.Errorf("href %q, want prefix %q", links["deploymentBase"], want)
	}
}

// SWUpdate requests //DEFAULT/… when its URL ends in "/"; nothing may redirect.
func TestPaths(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	_, aid, sw, _ := e.MustOffer("dev-01")
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"double slash poll", "GET", "//DEFAULT/controller/v1/dev-01", 200},
		{"trailing slash poll", "GET", "/DEFAULT/controller/v1/dev-01/", 200},
		{"double slash inside", "GET", "/DEFAULT/controller//v1/dev-01", 200},
		{"double slash deployment", "GET", "//DEFAULT/controller/v1/dev-01/deploymentBase/" + itoa(aid) + "?c=1", 200},
		{"trailing slash deployment", "GET", "/DEFAULT/controller/v1/dev-01/deploymentBase/" + itoa(aid) + "/", 200},
		{"double slash artifacts", "GET", "//DEFAULT/controller/v1/dev-01/softwaremodules/" + itoa(sw.ID) + "/artifacts", 200},
		{"unknown tenant", "GET", "/OTHER/controller/v1/dev-01", 404},
		{"unknown resource", "GET", "/DEFAULT/controller/v1/dev-01/nothing", 404},
		{"root", "GET", "/", 404},
		{"wrong method", "DELETE", "/DEFAULT/controller/v1/dev-01/configData", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(tc.method, e.url+tc.path, "")
			MustStatus(t, r, tc.want)
			if tc.want >= 400 {
				var body struct{ ErrorCode, Message string }
				if err := json.Unmarshal(r.body, &body); err != nil || body.ErrorCode == "" {
					t.Errorf("error body %q is not {errorCode,message}", r.body)
				}
			}
		})
	}
}

// PROTOCOL.md 14: SWUpdate's odd headers are harmless.
func TestSWUpdateHeaders(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	href, aid, _, _ := e.MustOffer("dev-01", swupdateHeaders...)
	MustStatus(t, e.Do("GET", href, "", swupdateHeaders...), 200)
	MustStatus(t, e.Do("PUT", e.base("dev-01")+"/configData", configDataBody,
		append(swupdateHeaders, "Expect: 100-continue")...), 200)
	MustStatus(t, e.Do("POST", e.base("dev-01")+"/deploymentBase/"+itoa(aid)+"/feedback", fbProceeding, swupdateHeaders...), 200)
}

// Invalidations from the control plane reach the cached answer.
func TestPollInvalidation(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	e.Poll("dev-01")
	MustStatus(t, e.Do("PUT", e.base("dev-01")+"/configData", configDataBody), 200)
	sw, _ := e.MustSoftware("1.0.0", 1024)
	mode := schema.ModePinned
	if _, err := e.db.UpdateDevice(context.Background(), tenant, "dev-01", schema.DeviceUpdate{UpdateMode: &mode}); err != nil {
		t.Fatal(err)
	}
	e.Publish(cache.KindDevice, "dev-01")
	e.MustRollout(sw)
	if links, _ := e.Poll("dev-01"); len(links) != 0 {
		t.Fatalf("pinned device offered %v", links)
	}
	mode = schema.ModeRollout
	if _, err := e.db.UpdateDevice(context.Background(), tenant, "dev-01", schema.DeviceUpdate{UpdateMode: &mode}); err != nil {
		t.Fatal(err)
	}
	e.Publish(cache.KindDevice, "dev-01")
	if links, _ := e.Poll("dev-01"); links["deploymentBase"] == "" {
		t.Fatalf("rollout device not offered: %v", links)
	}
}

// Last-seen records are coalesced and written on Shutdown.
func TestSeenFlushedOnShutdown(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	for range 5 {
		e.Poll("dev-01")
	}
	if d := e.MustDevice("dev-01"); !d.LastSeen.IsZero() {
		t.Fatalf("last seen written per poll: %v", d.LastSeen)
	}
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := e.MustDevice("dev-01")
	if time.Since(d.LastSeen) > time.Minute || d.LastAddr != "127.0.0.1" {
		t.Errorf("after shutdown: last seen %v from %q", d.LastSeen, d.LastAddr)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ddi.Config
		ok   bool
	}{
		{"minimal", ddi.Config{Tenants: []string{"DEFAULT"}}, true},
		{"no tenants", ddi.Config{}, false},
		{"slash tenant", ddi.Config{Tenants: []string{"a/b"}}, false},
		{"duplicate tenant", ddi.Config{Tenants: []string{"a", "a"}}, false},
		{"bad auth", ddi.Config{Tenants: []string{"a"}, DeviceAuth: "none"}, false},
		{"negative poll", ddi.Config{Tenants: []string{"a"}, PollInterval: -1}, false},
		{"external url", ddi.Config{Tenants: []string{"a"}, ExternalURL: "https://x.example/p"}, true},
		{"relative external url", ddi.Config{Tenants: []string{"a"}, ExternalURL: "/p"}, false},
		{"tiny body", ddi.Config{Tenants: []string{"a"}, MaxBodyBytes: 10}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// A bus that may have lost messages sends KindAll; the frontline then
// forgets every cached device and catalog, so writes it never heard of show.
func TestPollInvalidateAll(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	e.Poll("dev-01")
	MustStatus(t, e.Do("PUT", e.base("dev-01")+"/configData", configDataBody), 200)
	e.Poll("dev-01")
	sw, _ := e.MustSoftware("1.0.0", 1024)
	// Written behind the frontline's back, with no invalidation for it.
	e.CreateRollout(&schema.Rollout{Name: "r", SoftwareID: sw.ID})
	if links, _ := e.Poll("dev-01"); len(links) != 0 {
		t.Fatalf("offered before any invalidation (cache not used?): %v", links)
	}
	e.Publish(cache.KindAll, "")
	if links, _ := e.Poll("dev-01"); links["deploymentBase"] == "" {
		t.Fatalf("not offered after KindAll: %v", links)
	}
}

// A device polling faster than SeenResolution is recorded once per
// resolution: its stored last-seen time is the first poll of each period.
func TestSeenResolution(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	e := MustEnv(t, ddi.Config{Now: clk.Now, SeenResolution: 30 * time.Second})
	e.Poll("slow")
	e.Poll("fast")
	clk.Set(t0.Add(10 * time.Second))
	e.Poll("slow") // within the resolution: not recorded
	clk.Set(t0.Add(31 * time.Second))
	e.Poll("fast") // past it: recorded
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{"slow": t0, "fast": t0.Add(31 * time.Second)} {
		if d := e.MustDevice(id); !d.LastSeen.Equal(want) {
			t.Errorf("%s: last seen %v, want %v", id, d.LastSeen, want)
		}
	}
}
