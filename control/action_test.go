package control_test

import (
	"context"
	"testing"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// actionAnswer is an action with its history, as answered.
type actionAnswer struct {
	schema.Action
	Feedback []schema.Feedback `json:"feedback"`
	Log      string            `json:"log"`
}

// mustAction creates a device assigned to a new software with an open
// action, as the DDI side would.
func mustAction(t *testing.T, e *env, deviceID string) *schema.Action {
	t.Helper()
	sw := e.mustUpload(t, "", deviceID+".swu", mustSWU(t, "1.0-"+deviceID, 300))
	e.json(t, "POST", "/api/v1/devices", map[string]any{"id": deviceID, "update_mode": "assigned", "software_id": sw.ID}).wantStatus(t, 201)
	a := &schema.Action{Tenant: tenantA, DeviceID: deviceID, SoftwareID: sw.ID}
	if err := e.db.CreateAction(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	e.bus.take()
	return a
}

func feedback(a *schema.Action, exec, finished string, details ...string) *schema.Feedback {
	return &schema.Feedback{Tenant: a.Tenant, DeviceID: a.DeviceID, ActionID: a.ID, Kind: schema.FeedbackDeployment,
		Execution: exec, Finished: finished, Details: details}
}

func TestActions(t *testing.T) {
	e := newEnv(t)
	a := mustAction(t, e, "dev-1")
	ctx := context.Background()
	res, err := e.db.RecordFeedback(ctx, []*schema.Feedback{
		feedback(a, schema.ExecProceeding, schema.FinishedNone, "Installing Update Chunk Artifacts."),
		feedback(a, schema.ExecProceeding, schema.FinishedNone, "line one", "", "line two"),
		feedback(a, schema.ExecProceeding, schema.FinishedNone),
		feedback(a, schema.ExecProceeding, schema.FinishedNone, "All Chunks Installed."),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	var got actionAnswer
	e.request(t, "GET", "/api/v1/devices/dev-1/actions/"+itoa(a.ID), "", nil).decode(t, &got)
	wantLog := "Installing Update Chunk Artifacts.\nline one\nline two\nAll Chunks Installed.\n"
	if got.ID != a.ID || got.Status != schema.ActionRunning || len(got.Feedback) != 4 || got.Log != wantLog {
		t.Fatalf("action %+v\nlog %q, want %q", got, got.Log, wantLog)
	}
	if got.Feedback[2].Details == nil {
		t.Fatal("details of a feedback without lines is null, want []")
	}

	var list struct {
		Items        []schema.Action
		Total, Limit int
	}
	e.request(t, "GET", "/api/v1/devices/dev-1/actions", "", nil).decode(t, &list)
	if list.Total != 1 || len(list.Items) != 1 || list.Items[0].ID != a.ID || list.Limit != 100 {
		t.Fatalf("actions %+v", list)
	}

	tests := []struct {
		path, code string
		status     int
	}{
		{"/api/v1/devices/nope/actions", schema.ENOTFOUND, 404},
		{"/api/v1/devices/dev-1/actions/999", schema.ENOTFOUND, 404},
		{"/api/v1/devices/dev-1/actions/x", schema.EINVALID, 400},
		{"/api/v1/devices/dev-1/actions?limit=-1", schema.EINVALID, 400},
	}
	for _, tt := range tests {
		e.request(t, "GET", tt.path, "", nil).wantError(t, tt.status, tt.code, "")
	}
	// Another device's action is not visible under this one.
	b := mustAction(t, e, "dev-2")
	e.request(t, "GET", "/api/v1/devices/dev-1/actions/"+itoa(b.ID), "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.wantInvalidations(t)
}

func TestCancelAction(t *testing.T) {
	e := newEnv(t)
	a := mustAction(t, e, "dev-1")
	path := "/api/v1/devices/dev-1/actions/" + itoa(a.ID) + "/cancel"
	inv := cache.Invalidation{Kind: cache.KindDevice, Tenant: tenantA, Key: "dev-1"}

	var got schema.Action
	res := e.request(t, "POST", path, "", nil)
	res.wantStatus(t, 200)
	res.decode(t, &got)
	if got.Status != schema.ActionCanceling {
		t.Fatalf("status %q, want canceling", got.Status)
	}
	e.wantInvalidations(t, inv)
	// Canceling twice is harmless.
	e.request(t, "POST", path, "", nil).wantStatus(t, 200)
	e.wantInvalidations(t, inv)

	// The device confirms; the action is closed and cannot be canceled again.
	fb := feedback(a, schema.ExecClosed, schema.FinishedSuccess, "cancellation acknowledged.")
	fb.Kind = schema.FeedbackCancel
	if res, err := e.db.RecordFeedback(context.Background(), []*schema.Feedback{fb}); err != nil || res[0].Err != nil {
		t.Fatalf("cancel feedback: %v %v", err, res)
	}
	e.request(t, "POST", path, "", nil).wantError(t, 409, schema.ENOTALLOWED, "canceled")
	e.request(t, "POST", "/api/v1/devices/dev-1/actions/999/cancel", "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.request(t, "POST", "/api/v1/devices/nope/actions/"+itoa(a.ID)+"/cancel", "", nil).wantError(t, 404, schema.ENOTFOUND, "")
	e.wantInvalidations(t)
}
