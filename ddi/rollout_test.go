package ddi_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/ddi"
	"github.com/gosling-ota/gosling/schema"
)

// clock is a settable Config.Now, safe for the server's goroutines.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.Set(t)
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// sleepOf returns config.polling.sleep of a poll answer.
func sleepOf(tb testing.TB, m map[string]any) string {
	tb.Helper()
	s, _ := m["config"].(map[string]any)["polling"].(map[string]any)["sleep"].(string)
	if !sleepRE.MatchString(s) {
		tb.Fatalf("sleep %q is not HH:MM:SS below 24h", s)
	}
	return s
}

// deployment GETs a deploymentBase href and returns its "deployment".
func (e *env) deployment(href string) map[string]any {
	e.tb.Helper()
	r := e.Do("GET", href, "")
	MustStatus(e.tb, r, 200)
	d, ok := r.json(e.tb)["deployment"].(map[string]any)
	if !ok {
		e.tb.Fatalf("no deployment in %s", r.body)
	}
	return d
}

// devicesIn splits candidate ids by whether wave threshold covers them in
// rollout r, returning one of each.
func devicesIn(tb testing.TB, r *schema.Rollout, pct float64) (inside, outside string) {
	tb.Helper()
	th := schema.PercentThreshold(pct)
	for i := 0; i < 1000 && (inside == "" || outside == ""); i++ {
		id := fmt.Sprintf("dev-%03d", i)
		if schema.Covers(th, schema.Bucket(r.ID, id)) {
			if inside == "" {
				inside = id
			}
		} else if outside == "" {
			outside = id
		}
	}
	if inside == "" || outside == "" {
		tb.Fatal("no devices on both sides of the wave")
	}
	return inside, outside
}

// A device outside the open wave waits; once the wave advances it is
// offered the software, and its action records the wave.
func TestRolloutWaveGating(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	sw, _ := e.MustSoftware("2.0.0", 1024)
	r := e.MustStartRollout(&schema.Rollout{Name: "staged", SoftwareID: sw.ID,
		Waves: []schema.Wave{{Percent: 50}, {Percent: 100}}})
	in, out := devicesIn(t, r, 50)

	if links, _ := e.Poll(in); links["deploymentBase"] == "" {
		t.Fatalf("device in wave 0 not offered: %v", links)
	}
	a := e.MustAction(in, e.MustDevice(in).ActionID)
	if a.RolloutID != r.ID || a.Wave != 0 || a.SoftwareID != sw.ID {
		t.Errorf("wave 0 action: rollout %d wave %d software %d", a.RolloutID, a.Wave, a.SoftwareID)
	}
	for range 2 {
		if links, _ := e.Poll(out); links["deploymentBase"] != "" {
			t.Fatalf("device outside the open wave offered: %v", links)
		}
	}
	if d := e.MustDevice(out); d.ActionID != 0 {
		t.Fatalf("device outside the open wave has action %d", d.ActionID)
	}

	e.MustOpenWave(r, 1)
	if links, _ := e.Poll(out); links["deploymentBase"] == "" {
		t.Fatalf("not offered after the wave advanced: %v", links)
	}
	a = e.MustAction(out, e.MustDevice(out).ActionID)
	if a.RolloutID != r.ID || a.Wave != 1 {
		t.Errorf("wave 1 action: rollout %d wave %d, want %d 1", a.RolloutID, a.Wave, r.ID)
	}
}

// A soft rollout's handling reaches the action and the deployment; no
// window means no maintenanceWindow field; actionHistory still works.
func TestRolloutAttempt(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	sw, _ := e.MustSoftware("2.0.0", 1024)
	e.MustStartRollout(&schema.Rollout{Name: "soft", SoftwareID: sw.ID,
		Download: schema.HandlingAttempt, Update: schema.HandlingAttempt})
	links, _ := e.Poll("dev-01")
	href := links["deploymentBase"]
	if href == "" {
		t.Fatalf("not offered: %v", links)
	}
	a := e.MustAction("dev-01", e.MustDevice("dev-01").ActionID)
	if a.Download != "attempt" || a.Update != "attempt" {
		t.Errorf("action handling %q/%q, want attempt/attempt", a.Download, a.Update)
	}
	d := e.deployment(href)
	if d["download"] != "attempt" || d["update"] != "attempt" {
		t.Errorf("deployment handling %v/%v, want attempt/attempt", d["download"], d["update"])
	}
	if _, ok := d["maintenanceWindow"]; ok {
		t.Errorf("maintenanceWindow without a window: %v", d["maintenanceWindow"])
	}

	MustStatus(t, e.Do("POST", e.base("dev-01")+"/deploymentBase/"+itoa(a.ID)+"/feedback", fbProceeding), 200)
	r := e.Do("GET", href+"&actionHistory=5", "")
	MustStatus(t, r, 200)
	h, _ := r.json(t)["actionHistory"].(map[string]any)
	if h["status"] != "RUNNING" || fmt.Sprint(h["messages"]) != "[Installing Update Chunk Artifacts.]" {
		t.Errorf("actionHistory %v", h)
	}
}

// MaxConcurrent 5: the sixth device gets a normal answer without an offer
// (no error), and the offer once a slot is free.
func TestRolloutMaxConcurrent(t *testing.T) {
	clk := newClock(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	e := MustEnv(t, ddi.Config{Now: clk.Now})
	sw, _ := e.MustSoftware("2.0.0", 1024)
	e.MustStartRollout(&schema.Rollout{Name: "narrow", SoftwareID: sw.ID, MaxConcurrent: 5})
	for i := range 5 {
		if links, _ := e.Poll(fmt.Sprintf("dev-%d", i)); links["deploymentBase"] == "" {
			t.Fatalf("device %d not offered: %v", i, links)
		}
	}
	for range 2 {
		links, m := e.Poll("dev-5")
		if links["deploymentBase"] != "" {
			t.Fatalf("sixth device offered beyond MaxConcurrent: %v", links)
		}
		if s := sleepOf(t, m); s != "00:05:00" {
			t.Errorf("sixth device sleep %s, want the normal 00:05:00", s)
		}
	}
	if d := e.MustDevice("dev-5"); d.ActionID != 0 {
		t.Fatalf("sixth device has action %d", d.ActionID)
	}

	// One device finishes; after the frontline's backoff the slot is used.
	MustStatus(t, e.Do("POST", e.base("dev-0")+"/deploymentBase/"+itoa(e.MustDevice("dev-0").ActionID)+"/feedback", fbSuccess), 200)
	clk.Advance(10 * time.Second)
	if links, _ := e.Poll("dev-5"); links["deploymentBase"] == "" {
		t.Fatalf("sixth device not offered after a slot freed: %v", links)
	}
}

// The maintenance window: nothing offered (and no action created) before
// it opens, with the sleep shortened to a third of the time left; offered
// with "available" inside it; a pending action withheld again after it; a
// started action keeps its deploymentBase.
func TestRolloutMaintenanceWindow(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	clk := newClock(day.Add(10 * time.Hour))
	e := MustEnv(t, ddi.Config{Now: clk.Now})
	sw, _ := e.MustSoftware("2.0.0", 1024)
	e.MustStartRollout(&schema.Rollout{Name: "night", SoftwareID: sw.ID,
		Window: &schema.MaintenanceWindow{Start: "10:09", Duration: schema.Duration(time.Hour)}})

	poll := func(wantSleep string, wantOffer bool) string {
		t.Helper()
		links, m := e.Poll("dev-01")
		if s := sleepOf(t, m); s != wantSleep {
			t.Errorf("at %s: sleep %s, want %s", clk.Now().Format("15:04:05"), s, wantSleep)
		}
		if (links["deploymentBase"] != "") != wantOffer {
			t.Fatalf("at %s: links %v, want offer=%v", clk.Now().Format("15:04:05"), links, wantOffer)
		}
		return links["deploymentBase"]
	}
	// 10:00, opens in 9 min: a third is 3 min, shorter than 5 min.
	poll("00:03:00", false)
	if d := e.MustDevice("dev-01"); d.ActionID != 0 {
		t.Fatalf("action %d created before the window opened", d.ActionID)
	}
	clk.Advance(time.Minute) // the cached answer holds until 10:03
	poll("00:03:00", false)
	clk.Set(day.Add(10*time.Hour + 4*time.Minute)) // opens in 5 min
	poll("00:01:40", false)
	clk.Set(day.Add(10*time.Hour + 8*time.Minute + 57*time.Second)) // 3 s left: at least 1 s
	poll("00:00:01", false)

	clk.Set(day.Add(10*time.Hour + 9*time.Minute)) // open
	href := poll("00:05:00", true)
	if d := e.deployment(href); d["maintenanceWindow"] != "available" || d["update"] != "forced" || d["download"] != "forced" {
		t.Errorf("inside the window: deployment %v", d)
	}
	aid := e.MustDevice("dev-01").ActionID

	clk.Set(day.Add(11*time.Hour + 10*time.Minute)) // closed at 11:09; next opens in ~23 h
	poll("00:05:00", false)
	if d := e.deployment(href); d["maintenanceWindow"] != "unavailable" || d["update"] != "forced" {
		t.Errorf("outside the window: deployment %v (update must never be skip)", d)
	}
	// The device started during the window: it keeps its deploymentBase
	// so that its final report after the reboot is possible.
	MustStatus(t, e.Do("POST", e.base("dev-01")+"/deploymentBase/"+itoa(aid)+"/feedback", fbProceeding), 200)
	poll("00:05:00", true)
}

// Poll settings per tenant default, feed, tag, device and open action.
func TestPollSettingsRules(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	ctx := context.Background()
	if err := e.db.SetPollSettings(ctx, tenant, &schema.PollSettings{
		Default: schema.Duration(10 * time.Minute),
		Feeds:   map[string]schema.Duration{"beta": schema.Duration(2 * time.Minute)},
		Tags:    map[string]schema.Duration{"lab": schema.Duration(time.Minute)},
		Action:  schema.Duration(30 * time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	beta, tags, hours := "beta", []string{"lab"}, 3*time.Hour
	for id, u := range map[string]schema.DeviceUpdate{
		"plain": {},
		"feed":  {Feed: &beta},
		"tag":   {Feed: &beta, Tags: &tags},
		"own":   {Tags: &tags, PollInterval: &hours},
	} {
		if err := e.db.CreateDevice(ctx, &schema.Device{Tenant: tenant, ID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.UpdateDevice(ctx, tenant, id, u); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]string{"plain": "00:10:00", "feed": "00:02:00", "tag": "00:01:00", "own": "03:00:00"} {
		if _, m := e.Poll(id); sleepOf(t, m) != want {
			t.Errorf("%s: sleep %s, want %s", id, sleepOf(t, m), want)
		}
	}
	// An open action caps the sleep; its end lifts the cap.
	sw, _ := e.MustSoftware("2.0.0", 1024)
	e.MustRollout(sw)
	links, m := e.Poll("plain")
	if links["deploymentBase"] == "" || sleepOf(t, m) != "00:00:30" {
		t.Fatalf("with an open action: links %v sleep %s, want offer and 00:00:30", links, sleepOf(t, m))
	}
	MustStatus(t, e.Do("POST", e.base("plain")+"/deploymentBase/"+itoa(e.MustDevice("plain").ActionID)+"/feedback", fbSuccess), 200)
	if _, m := e.Poll("plain"); sleepOf(t, m) != "00:10:00" {
		t.Errorf("after the action closed: sleep %s, want 00:10:00", sleepOf(t, m))
	}
}

// Jitter moves each device's sleep by a stable amount of up to ±J%.
func TestPollSettingsJitter(t *testing.T) {
	e := MustEnv(t, ddi.Config{PollInterval: 100 * time.Second})
	ps := &schema.PollSettings{JitterPercent: 10}
	if err := e.db.SetPollSettings(context.Background(), tenant, ps); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 20 {
		id := fmt.Sprintf("dev-%02d", i)
		_, m := e.Poll(id)
		got := sleepOf(t, m)
		want := ddi.FormatSleep(ps.Interval(e.MustDevice(id), 100*time.Second))
		if got != want || got < "00:01:30" || got > "00:01:50" {
			t.Errorf("%s: sleep %s, want %s within 00:01:30..00:01:50", id, got, want)
		}
		if _, m := e.Poll(id); sleepOf(t, m) != got {
			t.Errorf("%s: jitter not stable: %s then %s", id, got, sleepOf(t, m))
		}
		seen[got] = true
	}
	// How well the sleeps spread is schema.PollSettings.Interval's
	// business (schema/poll_test.go); here they must merely differ.
	if len(seen) < 2 {
		t.Errorf("20 devices share one sleep: %v", seen)
	}
}

// Poll settings are cached like the GatewayToken and refreshed by a
// KindTenant invalidation.
func TestPollSettingsRefresh(t *testing.T) {
	e := MustEnv(t, ddi.Config{})
	if _, m := e.Poll("dev-01"); sleepOf(t, m) != "00:05:00" {
		t.Fatalf("sleep %s, want the server default", sleepOf(t, m))
	}
	if err := e.db.SetPollSettings(context.Background(), tenant, &schema.PollSettings{Default: schema.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.srv.WaitCache()
	if _, m := e.Poll("dev-01"); sleepOf(t, m) != "00:05:00" {
		t.Fatalf("sleep %s before the invalidation (cache not used?)", sleepOf(t, m))
	}
	e.Publish(cache.KindTenant, "")
	if _, m := e.Poll("dev-01"); sleepOf(t, m) != "00:01:00" {
		t.Errorf("sleep %s after KindTenant, want 00:01:00", sleepOf(t, m))
	}
	if r := e.Do("GET", e.base("dev-01"), ""); !strings.Contains(string(r.body), `"sleep":"00:01:00"`) {
		t.Errorf("cached answer %s", r.body)
	}
}
