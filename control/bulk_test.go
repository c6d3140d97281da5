package control_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/control"
	"github.com/gosling-ota/gosling/schema"
)

// listIDs answers the ids of GET /devices?query.
func (e *env) listIDs(t *testing.T, query string) []string {
	t.Helper()
	var list struct {
		Items []deviceAnswer `json:"items"`
		Total int            `json:"total"`
	}
	res := e.request(t, "GET", "/api/v1/devices?"+query, "", nil)
	res.wantStatus(t, 200)
	res.decode(t, &list)
	ids := []string{}
	for _, d := range list.Items {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestDeviceTagsPollIntervalAndFilters(t *testing.T) {
	e := newEnv(t)
	res := e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "a", "tags": []string{"lab", "eu", "lab"}, "poll_interval": "00:05:00"})
	res.wantStatus(t, 201)
	var d deviceAnswer
	res.decode(t, &d)
	if !slices.Equal(d.Tags, []string{"eu", "lab"}) {
		t.Fatalf("tags %v", d.Tags)
	}
	if !strings.Contains(string(res.body), `"poll_interval":"5m0s"`) {
		t.Fatalf("poll_interval not answered as a duration: %s", res.body)
	}
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "b", "tags": []string{"eu"}, "feed": "beta"}).wantStatus(t, 201)
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "c"}).wantStatus(t, 201)
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "x", "tags": []string{"no space"}}).wantError(t, 400, schema.EINVALID, "tag")
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": "x", "poll_interval": "25:00:00"}).wantError(t, 400, schema.EINVALID, "poll_interval")
	if _, err := e.db.SetAttributes(context.Background(), tenantA, "c", schema.ConfigReplace, map[string]string{"hw_model": "pi4", "site": "x1"}); err != nil {
		t.Fatal(err)
	}

	res = e.json(t, "PATCH", "/api/v1/devices/a", map[string]any{"tags": []string{"us"}, "poll_interval": ""})
	res.wantStatus(t, 200)
	res.decode(t, &d)
	if !slices.Equal(d.Tags, []string{"us"}) || strings.Contains(string(res.body), "poll_interval") {
		t.Fatalf("patched %s", res.body)
	}
	e.json(t, "PATCH", "/api/v1/devices/b", map[string]any{"poll_interval": "90s"}).wantStatus(t, 200)
	if got, _ := e.db.Device(context.Background(), tenantA, "b"); got.PollInterval != 90*time.Second {
		t.Fatalf("stored poll interval %s", got.PollInterval)
	}

	tests := []struct{ query, want string }{
		{"tag=eu", "b"},
		{"tag=us", "a"},
		{"id=a&id=c", "a,c"},
		{"feed=beta", "b"},
		{"hw_model=pi4", "c"},
		{"attr.site=x1", "c"},
		{"attr.site=x2", ""},
		{"q=B", "b"},
		{"update_mode=rollout&status=registered", "a,b,c"},
	}
	for _, tt := range tests {
		if got := strings.Join(e.listIDs(t, tt.query), ","); got != tt.want {
			t.Errorf("?%s: %q, want %q", tt.query, got, tt.want)
		}
	}
	e.request(t, "GET", "/api/v1/devices?status=happy", "", nil).wantError(t, 400, schema.EINVALID, "status")
}

func TestBulkDevices(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	for _, id := range []string{"a", "b", "c"} {
		tags := []string{"lab"}
		if id == "c" {
			tags = []string{"field"}
		}
		e.json(t, "POST", "/api/v1/devices", map[string]any{"id": id, "tags": tags}).wantStatus(t, 201)
	}
	e.bus.take()

	var out struct {
		Updated int      `json:"updated"`
		IDs     []string `json:"ids"`
	}
	res := e.json(t, "POST", "/api/v1/devices/bulk", map[string]any{"target": map[string]any{"tags": []string{"lab"}},
		"set": map[string]any{"update_mode": "assigned", "software_id": sw.ID, "poll_interval": "1m", "add_tags": []string{"v2"}}})
	res.wantStatus(t, 200)
	res.decode(t, &out)
	if out.Updated != 2 || !slices.Equal(out.IDs, []string{"a", "b"}) {
		t.Fatalf("bulk %+v", out)
	}
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: "a"}, cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: "b"})
	for _, id := range []string{"a", "b"} {
		d, _ := e.db.Device(context.Background(), tenantA, id)
		if d.UpdateMode != schema.ModeAssigned || d.SoftwareID != sw.ID || d.PollInterval != time.Minute || !slices.Equal(d.Tags, []string{"lab", "v2"}) {
			t.Fatalf("device %s after bulk: %+v", id, d)
		}
	}
	if d, _ := e.db.Device(context.Background(), tenantA, "c"); d.UpdateMode != schema.ModeRollout {
		t.Fatal("bulk changed a device outside its target")
	}
	// Tag edits alone.
	e.json(t, "POST", "/api/v1/devices/bulk", map[string]any{"target": map[string]any{"ids": []string{"a", "c"}},
		"set": map[string]any{"remove_tags": []string{"lab", "field"}}}).decode(t, &out)
	if out.Updated != 2 {
		t.Fatalf("tag edit %+v", out)
	}
	if got := strings.Join(e.listIDs(t, "tag=lab"), ","); got != "b" {
		t.Fatalf("lab devices %q", got)
	}

	tests := []struct {
		name string
		body any
		msg  string
	}{
		{"no target", map[string]any{"set": map[string]any{"feed": "x"}}, "target is required"},
		{"empty target", map[string]any{"target": map[string]any{}, "set": map[string]any{"feed": "x"}}, "target is required"},
		{"nothing to set", map[string]any{"target": map[string]any{"ids": []string{"a"}}, "set": map[string]any{}}, "nothing to change"},
		{"software without mode", map[string]any{"target": map[string]any{"ids": []string{"a"}}, "set": map[string]any{"software_id": sw.ID}}, "needs set.update_mode"},
		{"assigned without software", map[string]any{"target": map[string]any{"ids": []string{"a"}}, "set": map[string]any{"update_mode": "assigned"}}, "requires a software_id"},
		{"tags and add_tags", map[string]any{"target": map[string]any{"ids": []string{"a"}}, "set": map[string]any{"tags": []string{"x"}, "add_tags": []string{"y"}}}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.json(t, "POST", "/api/v1/devices/bulk", tt.body).wantError(t, 400, schema.EINVALID, tt.msg)
		})
	}
}

func TestPollSettings(t *testing.T) {
	e := newEnv(t)
	var p map[string]any
	e.request(t, "GET", "/api/v1/poll-settings", "", nil).decode(t, &p)
	if len(p) != 0 {
		t.Fatalf("initial %v", p)
	}
	e.bus.take()
	res := e.json(t, "PUT", "/api/v1/poll-settings", `{"default":"00:10:00","feeds":{"beta":"2m"},"tags":{"lab":"30s"},"action":"10s","jitter_percent":10}`)
	res.wantStatus(t, 200)
	e.wantInvalidations(t, cache.Invalidation{Kind: cache.KindTenant, Tenant: tenantA})
	var got schema.PollSettings
	e.request(t, "GET", "/api/v1/poll-settings", "", nil).decode(t, &got)
	if time.Duration(got.Default) != 10*time.Minute || time.Duration(got.Feeds["beta"]) != 2*time.Minute || got.JitterPercent != 10 {
		t.Fatalf("stored %+v", got)
	}
	for _, bad := range []struct{ body, msg string }{
		{`{"jitter_percent":60}`, "jitter_percent"},
		{`{"default":"25:00:00"}`, "outside"},
		{`{"feeds":{"a/b":"1m"}}`, "feed"},
		{`{"every":"1m"}`, "unknown field"},
	} {
		e.json(t, "PUT", "/api/v1/poll-settings", bad.body).wantError(t, 400, schema.EINVALID, bad.msg)
	}
	e.wantInvalidations(t)
}

func TestRolloutMetrics(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *control.Config) { c.Now, c.Registerer = clk.Now, reg })
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "2.0", 300))
	f := newFleet(t, e, 20)
	ro := e.createRollout(t, map[string]any{"name": "m", "software_id": sw.ID})
	e.tick(t)
	acts := f.offer(ro.ID)
	f.report(schema.FinishedSuccess, acts[:5]...)
	f.report(schema.FinishedFailure, acts[5:7]...)
	if _, err := e.db.RecordFeedback(context.Background(), []*schema.Feedback{feedback(acts[7], schema.ExecProceeding, schema.FinishedNone, "x")}); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	id := itoa(ro.ID)
	want := `
# HELP gosling_rollout_devices Devices of a live rollout by state (targeted, pending, running, succeeded, failed, canceled), as of the engine's last tick.
# TYPE gosling_rollout_devices gauge
gosling_rollout_devices{rollout="` + id + `",state="canceled",tenant="DEFAULT"} 0
gosling_rollout_devices{rollout="` + id + `",state="failed",tenant="DEFAULT"} 2
gosling_rollout_devices{rollout="` + id + `",state="pending",tenant="DEFAULT"} 12
gosling_rollout_devices{rollout="` + id + `",state="running",tenant="DEFAULT"} 1
gosling_rollout_devices{rollout="` + id + `",state="succeeded",tenant="DEFAULT"} 5
gosling_rollout_devices{rollout="` + id + `",state="targeted",tenant="DEFAULT"} 20
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gosling_rollout_devices"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	// Served publicly on /metrics.
	res := e.requestAuth(t, "GET", "/metrics", "", nil, "")
	res.wantStatus(t, 200)
	if !strings.Contains(string(res.body), `gosling_rollout_devices{rollout="`+id+`",state="targeted",tenant="DEFAULT"} 20`) {
		t.Fatalf("/metrics lacks the rollout: %.500s", res.body)
	}

	// A final rollout stays for an hour, then leaves the label set.
	e.request(t, "POST", "/api/v1/rollouts/"+id+"/abort", "", nil).wantStatus(t, 200)
	e.tick(t)
	if n := testutil.CollectAndCount(reg, "gosling_rollout_devices"); n != 6 {
		t.Fatalf("series right after abort: %d, want 6", n)
	}
	clk.add(2 * time.Hour)
	e.tick(t)
	if n := testutil.CollectAndCount(reg, "gosling_rollout_devices"); n != 0 {
		t.Fatalf("series an hour after abort: %d, want 0", n)
	}
}
