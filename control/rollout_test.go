package control_test

import (
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

func TestRolloutLifecycle(t *testing.T) {
	e := newEnv(t)
	sw := e.mustUpload(t, "", "a.swu", mustSWU(t, "1.0", 300))
	// One device in the rollout's wave, so that it does not finish at once.
	newFleet(t, e, 1)
	e.bus.take()
	inv := cache.Invalidation{Kind: cache.KindCatalog, Tenant: tenantA}

	res := e.json(t, "POST", "/api/v1/rollouts", map[string]any{"name": "spring", "software_id": sw.ID})
	res.wantStatus(t, 201)
	var ro schema.Rollout
	res.decode(t, &ro)
	if ro.ID <= 0 || ro.Name != "spring" || ro.Feed != schema.DefaultFeed || ro.SoftwareID != sw.ID ||
		ro.Status != schema.RolloutRunning || ro.Tenant != tenantA {
		t.Fatalf("created %+v", ro)
	}
	e.wantInvalidations(t, inv)
	var beta schema.Rollout
	e.json(t, "POST", "/api/v1/rollouts", map[string]any{"name": "beta", "feed": "beta", "software_id": sw.ID}).decode(t, &beta)
	e.wantInvalidations(t, inv)

	base := "/api/v1/rollouts/" + itoa(ro.ID)
	steps := []struct {
		method, path, status string
		changes              bool // a no-op publishes nothing
	}{
		{"POST", base + "/pause", schema.RolloutPaused, true},
		{"POST", base + "/pause", schema.RolloutPaused, false},
		{"POST", base + "/resume", schema.RolloutRunning, true},
	}
	for _, st := range steps {
		var got schema.Rollout
		res := e.request(t, st.method, st.path, "", nil)
		res.wantStatus(t, 200)
		res.decode(t, &got)
		if got.Status != st.status {
			t.Fatalf("%s: status %q, want %q", st.path, got.Status, st.status)
		}
		if st.changes {
			e.wantInvalidations(t, inv)
		} else {
			e.wantInvalidations(t)
		}
	}

	var got schema.Rollout
	e.request(t, "GET", base, "", nil).decode(t, &got)
	if got.ID != ro.ID || got.Status != schema.RolloutRunning {
		t.Fatalf("GET %+v", got)
	}
	var list struct {
		Items []schema.Rollout
		Total int
	}
	e.request(t, "GET", "/api/v1/rollouts", "", nil).decode(t, &list)
	if list.Total != 2 || list.Items[0].ID != beta.ID || list.Items[1].ID != ro.ID {
		t.Fatalf("list %+v, want beta then spring", list)
	}

	e.request(t, "DELETE", base, "", nil).wantStatus(t, 204)
	e.wantInvalidations(t, inv)
	for _, p := range []string{base, base + "/pause"} {
		method := "GET"
		if p != base {
			method = "POST"
		}
		e.request(t, method, p, "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	}
	e.request(t, "DELETE", base, "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.request(t, "GET", "/api/v1/rollouts/"+itoa(beta.ID)+"?tenant="+tenantB, "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.wantInvalidations(t)

	tests := []struct {
		name string
		body any
		msg  string
	}{
		{"no name", map[string]any{"software_id": sw.ID}, "name is required"},
		{"no software", map[string]any{"name": "x"}, "software_id is required"},
		{"unknown software", map[string]any{"name": "x", "software_id": 999}, "software_id 999: no such software"},
		{"bad feed", map[string]any{"name": "x", "feed": "a/b", "software_id": sw.ID}, `feed "a/b"`},
		{"unknown field", map[string]any{"name": "x", "software_id": sw.ID, "percent": 10}, `unknown field "percent"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.json(t, "POST", "/api/v1/rollouts", tt.body).wantError(t, 400, schema.EINVALID, tt.msg)
		})
	}
	// Software of another tenant cannot be rolled out here.
	other := e.mustUpload(t, "tenant="+tenantB, "b.swu", mustSWU(t, "5.0", 300))
	e.bus.take()
	e.json(t, "POST", "/api/v1/rollouts", map[string]any{"name": "x", "software_id": other.ID}).wantError(t, 400, schema.EINVALID, "no such software")
	e.wantInvalidations(t)
}
