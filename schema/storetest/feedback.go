package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

type step struct{ kind, exec, fin string }

var (
	dep = func(exec, fin string) step { return step{schema.FeedbackDeployment, exec, fin} }
	cnl = func(exec, fin string) step { return step{schema.FeedbackCancel, exec, fin} }
)

func testFeedbackStateMachine(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")

	// Device outcomes.
	const (
		open      = iota // action still open: device updating
		installed        // succeeded
		failed           // failed: skip
		canceled         // canceled: skip, previous status
	)
	for i, tc := range []struct {
		name   string
		cancel bool // CancelAction before the steps
		steps  []step
		want   schema.ActionStatus
		device int
	}{
		{"Proceeding", false, []step{dep(schema.ExecProceeding, schema.FinishedNone)}, schema.ActionRunning, open},
		{"Scheduled", false, []step{dep(schema.ExecScheduled, schema.FinishedNone)}, schema.ActionRunning, open},
		{"Downloaded", false, []step{dep(schema.ExecDownload, ""), dep(schema.ExecDownloaded, schema.FinishedNone)}, schema.ActionRunning, open},
		{"ResumedRejected", false, []step{dep(schema.ExecResumed, schema.FinishedNone), dep(schema.ExecRejected, schema.FinishedNone)}, schema.ActionRunning, open},
		{"ClosedSuccess", false, []step{dep(schema.ExecClosed, schema.FinishedSuccess)}, schema.ActionSucceeded, installed},
		{"ClosedNone", false, []step{dep(schema.ExecProceeding, schema.FinishedNone), dep(schema.ExecClosed, schema.FinishedNone)}, schema.ActionSucceeded, installed},
		{"ClosedFailure", false, []step{dep(schema.ExecProceeding, schema.FinishedNone), dep(schema.ExecClosed, schema.FinishedFailure)}, schema.ActionFailed, failed},
		{"CancelCanceled", true, []step{cnl(schema.ExecCanceled, schema.FinishedSuccess)}, schema.ActionCanceled, canceled},
		{"CancelClosedSuccess", true, []step{cnl(schema.ExecClosed, schema.FinishedSuccess)}, schema.ActionCanceled, canceled},
		{"CancelClosedNone", true, []step{cnl(schema.ExecClosed, schema.FinishedNone)}, schema.ActionCanceled, canceled},
		{"CancelRejected", true, []step{cnl(schema.ExecRejected, schema.FinishedNone)}, schema.ActionRunning, open},
		{"CancelClosedFailure", true, []step{cnl(schema.ExecClosed, schema.FinishedFailure)}, schema.ActionRunning, open},
		{"CancelProceeding", true, []step{cnl(schema.ExecProceeding, schema.FinishedNone)}, schema.ActionCanceling, open},
		{"CancelRejectedThenInstalled", true, []step{cnl(schema.ExecRejected, schema.FinishedNone), dep(schema.ExecClosed, schema.FinishedSuccess)}, schema.ActionSucceeded, installed},
		{"CancelingDeploymentProceeding", true, []step{dep(schema.ExecProceeding, schema.FinishedNone)}, schema.ActionCanceling, open},
		{"CancelingDeploymentSuccess", true, []step{dep(schema.ExecClosed, schema.FinishedSuccess)}, schema.ActionSucceeded, installed},
		{"CancelingDeploymentFailure", true, []step{dep(schema.ExecClosed, schema.FinishedFailure)}, schema.ActionFailed, failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("sm-%d", i)
			d := &schema.Device{Tenant: tenant, ID: id, Attributes: map[string]string{schema.AttrSWVersion: "0.9"}}
			if err := s.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetAttributes(ctx, tenant, id, schema.ConfigMerge, nil); err != nil { // ConfigRequested off
				t.Fatal(err)
			}
			a := MustCreateAction(t, s, tenant, id, sw.ID)
			if tc.cancel {
				if _, err := s.CancelAction(ctx, tenant, id, a.ID); err != nil {
					t.Fatal(err)
				}
			}
			var last *schema.Action
			for j, st := range tc.steps {
				fb := NewFeedback(a, st.kind, st.exec, st.fin)
				fb.Progress = &schema.Progress{Cnt: j + 1, Of: len(tc.steps)}
				last = MustRecordOK(t, s, fb)
				if last.Progress != *fb.Progress {
					t.Fatalf("progress %+v, want %+v", last.Progress, *fb.Progress)
				}
			}
			if last.Status != tc.want {
				t.Fatalf("status %q, want %q", last.Status, tc.want)
			}
			got := mustAction(t, s, a)
			if !reflect.DeepEqual(got, last) {
				t.Fatalf("read back\n got %+v\nwant %+v", got, last)
			}
			if got.Status.Open() != got.ClosedAt.IsZero() {
				t.Fatalf("status %q with ClosedAt %v", got.Status, got.ClosedAt)
			}

			d = mustDevice(t, s, tenant, id)
			type view struct {
				Status               string
				SWVersion            string
				Installed, Skip      int64
				ActionID, LastAction int64
				ConfigRequested      bool
			}
			want := map[int]view{
				open:      {schema.DeviceUpdating, "0.9", 0, 0, a.ID, 0, false},
				installed: {schema.DeviceInSync, "1.0", sw.ID, 0, 0, a.ID, true},
				failed:    {schema.DeviceFailed, "0.9", 0, sw.ID, 0, a.ID, false},
				canceled:  {schema.DeviceRegistered, "0.9", 0, sw.ID, 0, a.ID, false},
			}[tc.device]
			gotView := view{d.Status, d.SWVersion, d.InstalledSoftwareID, d.SkipSoftwareID, d.ActionID, d.LastActionID, d.ConfigRequested}
			if gotView != want {
				t.Fatalf("device\n got %+v\nwant %+v", gotView, want)
			}
		})
	}
}

func testFeedbackErrors(t *testing.T, s schema.Store) {
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	MustCreateDevice(t, s, tenant, "dev-2")
	MustCreateDevice(t, s, other, "dev-1")
	open := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
	closed := MustCreateAction(t, s, tenant, "dev-2", sw.ID)
	last := NewFeedback(closed, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess)
	MustRecordOK(t, s, last)

	retry := *last
	retry.ID = 0
	for _, tc := range []struct {
		name string
		fb   *schema.Feedback
		code string
	}{
		{"OtherDevice", &schema.Feedback{Tenant: tenant, DeviceID: "dev-2", ActionID: open.ID, Kind: schema.FeedbackDeployment, Execution: schema.ExecProceeding}, schema.ENOTFOUND},
		{"OtherTenant", &schema.Feedback{Tenant: other, DeviceID: "dev-1", ActionID: open.ID, Kind: schema.FeedbackDeployment, Execution: schema.ExecProceeding}, schema.ENOTFOUND},
		{"Missing", &schema.Feedback{Tenant: tenant, DeviceID: "dev-1", ActionID: open.ID + 1000, Kind: schema.FeedbackDeployment, Execution: schema.ExecProceeding}, schema.ENOTFOUND},
		{"Closed", NewFeedback(closed, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone), schema.EGONE},
		{"ClosedRetry", &retry, schema.EGONE},
		{"CancelNotCanceling", NewFeedback(open, schema.FeedbackCancel, schema.ExecCanceled, schema.FinishedSuccess), schema.ENOTALLOWED},
		{"BadKind", NewFeedback(open, "install", schema.ExecProceeding, schema.FinishedNone), schema.EINVALID},
		{"BadExecution", NewFeedback(open, schema.FeedbackDeployment, "done", schema.FinishedNone), schema.EINVALID},
		{"BadFinished", NewFeedback(open, schema.FeedbackDeployment, schema.ExecClosed, "maybe"), schema.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := MustRecord(t, s, tc.fb)
			wantCode(t, res[0].Err, tc.code)
			if res[0].Action != nil {
				t.Fatalf("action returned with error: %+v", res[0].Action)
			}
			if tc.fb.ID != 0 {
				t.Fatalf("rejected feedback got id %d", tc.fb.ID)
			}
		})
	}
	// Nothing was stored, nothing changed.
	if got := mustAction(t, s, open); got.Status != schema.ActionPending {
		t.Fatalf("open action is %q", got.Status)
	}
	for _, a := range []*schema.Action{open, closed} {
		fbs, err := s.Feedback(t.Context(), tenant, a.DeviceID, a.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int64]int{open.ID: 0, closed.ID: 1}[a.ID]; len(fbs) != want {
			t.Fatalf("action %d has %d feedback, want %d", a.ID, len(fbs), want)
		}
	}
	if res, err := s.RecordFeedback(t.Context(), nil); err != nil || len(res) != 0 {
		t.Fatalf("empty batch: %v, %v", res, err)
	}
}

func testFeedbackBatch(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	MustCreateDevice(t, s, tenant, "dev-2")
	MustCreateDevice(t, s, tenant, "dev-3")
	a1 := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
	a2 := MustCreateAction(t, s, tenant, "dev-2", sw.ID)
	a3 := MustCreateAction(t, s, tenant, "dev-3", sw.ID)

	wrong := NewFeedback(a2, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
	wrong.DeviceID = "dev-1"
	batch := []*schema.Feedback{
		NewFeedback(a1, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone), // ok: running
		wrong, // ENOTFOUND
		NewFeedback(a1, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess),  // ok: succeeded
		NewFeedback(a1, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone), // EGONE: closed earlier in the batch
		NewFeedback(a2, schema.FeedbackCancel, schema.ExecCanceled, schema.FinishedSuccess),    // ENOTALLOWED
		NewFeedback(a3, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure),  // ok: failed
	}
	wantCodes := []string{"", schema.ENOTFOUND, "", schema.EGONE, schema.ENOTALLOWED, ""}
	wantStatus := []schema.ActionStatus{schema.ActionRunning, "", schema.ActionSucceeded, "", "", schema.ActionFailed}
	res := MustRecord(t, s, batch...)
	var ids []int64
	for i, r := range res {
		wantCode(t, r.Err, wantCodes[i])
		if r.Err != nil {
			continue
		}
		if r.Action == nil || r.Action.Status != wantStatus[i] {
			t.Fatalf("result %d: action %+v, want status %q", i, r.Action, wantStatus[i])
		}
		if batch[i].ID == 0 || batch[i].ReceivedAt.IsZero() {
			t.Fatalf("stored feedback %d has no id or time: %+v", i, batch[i])
		}
		ids = append(ids, batch[i].ID)
	}
	if ids[0] >= ids[1] || ids[1] >= ids[2] {
		t.Fatalf("ids not in batch order: %v", ids)
	}
	fbs, err := s.Feedback(ctx, tenant, "dev-1", a1.ID, 0, 0)
	if err != nil || len(fbs) != 2 {
		t.Fatalf("action 1 feedback: %d, %v; want 2", len(fbs), err)
	}
	if got := mustAction(t, s, a2); got.Status != schema.ActionPending {
		t.Fatalf("action 2 is %q, want pending", got.Status)
	}
	if d := mustDevice(t, s, tenant, "dev-3"); d.Status != schema.DeviceFailed || d.SkipSoftwareID != sw.ID {
		t.Fatalf("dev-3: %+v", d)
	}
}

func testFeedbackList(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	MustCreateDevice(t, s, tenant, "dev-2")
	a := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
	received := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	var want []*schema.Feedback
	for i := range 5 {
		fb := NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
		fb.Details = []string{fmt.Sprintf("step %d", i), "line two"}
		fb.Progress = &schema.Progress{Cnt: i, Of: 5}
		fb.DeviceTime = "20260501T100000"
		fb.ReceivedAt = received.Add(time.Duration(i) * time.Second)
		if i == 4 {
			fb.Execution, fb.Finished, fb.Code, fb.Progress = schema.ExecClosed, schema.FinishedFailure, ptr(-3), nil
			fb.Details = nil
		}
		MustRecordOK(t, s, fb)
		want = append(want, fb)
	}
	got, err := s.Feedback(ctx, tenant, "dev-1", a.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d feedback, want %d", len(got), len(want))
	}
	for i := range got {
		w := *want[i]
		if w.Details == nil {
			w.Details = []string{}
		}
		g := *got[i]
		wantTime(t, "ReceivedAt", g.ReceivedAt, w.ReceivedAt)
		g.ReceivedAt, w.ReceivedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("feedback %d\n got %+v\nwant %+v", i, g, w)
		}
	}
	if got := mustAction(t, s, a); !got.UpdatedAt.Equal(want[4].ReceivedAt) || !got.ClosedAt.Equal(want[4].ReceivedAt) {
		t.Fatalf("action times %v %v, want the last feedback's %v", got.UpdatedAt, got.ClosedAt, want[4].ReceivedAt)
	}

	page, err := s.Feedback(ctx, tenant, "dev-1", a.ID, 1, 2)
	if err != nil || len(page) != 2 || page[0].ID != want[1].ID || page[1].ID != want[2].ID {
		t.Fatalf("page: %v, %v", page, err)
	}
	if page, err := s.Feedback(ctx, tenant, "dev-1", a.ID, 10, 2); err != nil || len(page) != 0 {
		t.Fatalf("past end: %v, %v", page, err)
	}
	_, err = s.Feedback(ctx, tenant, "dev-2", a.ID, 0, 0)
	wantCode(t, err, schema.ENOTFOUND)
	_, err = s.Feedback(ctx, other, "dev-1", a.ID, 0, 0)
	wantCode(t, err, schema.ENOTFOUND)
}

func testSkipSoftware(t *testing.T, s schema.Store) {
	ctx := t.Context()
	v1 := MustCreateSoftware(t, s, tenant, "1.0")
	v2 := MustCreateSoftware(t, s, tenant, "2.0")
	MustCreateDevice(t, s, tenant, "dev-1")

	a := MustCreateAction(t, s, tenant, "dev-1", v1.ID)
	MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
	if d := mustDevice(t, s, tenant, "dev-1"); d.SkipSoftwareID != v1.ID || d.Status != schema.DeviceFailed {
		t.Fatalf("after failure: %+v", d)
	}
	// An operator retries by touching the update settings.
	if d, err := s.UpdateDevice(ctx, tenant, "dev-1", schema.DeviceUpdate{Feed: ptr(schema.DefaultFeed)}); err != nil || d.SkipSoftwareID != 0 {
		t.Fatalf("after update: %+v, %v", d, err)
	}
	// Another failure, then a success on other software clears it.
	a = MustCreateAction(t, s, tenant, "dev-1", v1.ID)
	MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedFailure))
	a = MustCreateAction(t, s, tenant, "dev-1", v2.ID)
	MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
	d := mustDevice(t, s, tenant, "dev-1")
	if d.SkipSoftwareID != 0 || d.Status != schema.DeviceInSync || d.InstalledSoftwareID != v2.ID || d.LastActionID != a.ID {
		t.Fatalf("after success: %+v", d)
	}
	// A canceled action skips its software and gives back the previous status.
	a = MustCreateAction(t, s, tenant, "dev-1", v1.ID)
	if _, err := s.CancelAction(ctx, tenant, "dev-1", a.ID); err != nil {
		t.Fatal(err)
	}
	MustRecordOK(t, s, NewFeedback(a, schema.FeedbackCancel, schema.ExecClosed, schema.FinishedSuccess))
	d = mustDevice(t, s, tenant, "dev-1")
	if d.SkipSoftwareID != v1.ID || d.Status != schema.DeviceInSync || d.InstalledSoftwareID != v2.ID || d.SWVersion != "2.0" || d.ActionID != 0 || d.LastActionID != a.ID {
		t.Fatalf("after cancel: %+v", d)
	}
}

func testSWVersion(t *testing.T, s schema.Store) {
	ctx := t.Context()
	sw := MustCreateSoftware(t, s, tenant, "2.0")
	MustCreateDevice(t, s, tenant, "dev-1")
	set := func(v string) *schema.Device {
		t.Helper()
		d, err := s.SetAttributes(ctx, tenant, "dev-1", schema.ConfigMerge, map[string]string{schema.AttrSWVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := set("1.0"); d.SWVersion != "1.0" {
		t.Fatalf("reported version not taken: %q", d.SWVersion)
	}
	a := MustCreateAction(t, s, tenant, "dev-1", sw.ID)
	MustRecordOK(t, s, NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
	d := mustDevice(t, s, tenant, "dev-1")
	if d.SWVersion != "2.0" || !d.ConfigRequested {
		t.Fatalf("after install: version %q ConfigRequested %v", d.SWVersion, d.ConfigRequested)
	}
	// A static sw_version in the device's config file does not outrank the install.
	if d := set("1.0"); d.SWVersion != "2.0" || d.Attributes[schema.AttrSWVersion] != "1.0" || d.ConfigRequested {
		t.Fatalf("after report: %+v", d)
	}
}

// testFeedbackStatusChanged: caches rely on StatusChanged to skip
// invalidations for progress reports, so it must be exact, also within one
// batch.
func testFeedbackStatusChanged(t *testing.T, s schema.Store) {
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "chg")
	a := MustCreateAction(t, s, tenant, "chg", sw.ID)
	proceed := func() *schema.Feedback {
		return NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
	}
	res := MustRecord(t, s, proceed(), proceed(), proceed(),
		NewFeedback(a, schema.FeedbackDeployment, schema.ExecClosed, schema.FinishedSuccess))
	want := []bool{true, false, false, true} // pending→running, progress, progress, →succeeded
	for i, r := range res {
		if r.Err != nil || r.StatusChanged != want[i] {
			t.Errorf("result %d: StatusChanged=%v err=%v, want %v", i, r.StatusChanged, r.Err, want[i])
		}
	}
}

// testFeedbackTouch: a report that changes neither status nor progress is
// stored, but moves the action's UpdatedAt only once
// schema.ActionTouchInterval has passed since it last moved; one that
// changes the progress always does.
func testFeedbackTouch(t *testing.T, s schema.Store) {
	sw := MustCreateSoftware(t, s, tenant, "1.0")
	MustCreateDevice(t, s, tenant, "touch")
	a := MustCreateAction(t, s, tenant, "touch", sw.ID)
	start := time.Now().UTC().Truncate(time.Millisecond)
	report := func(after time.Duration, cnt int) time.Time {
		t.Helper()
		fb := NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
		fb.Progress = &schema.Progress{Cnt: cnt, Of: 3}
		fb.ReceivedAt = start.Add(after)
		MustRecordOK(t, s, fb)
		return fb.ReceivedAt
	}
	steps := []struct {
		after   time.Duration
		cnt     int
		updated time.Duration // the action's UpdatedAt after the step, from start
	}{
		{0, 1, 0},           // pending → running
		{time.Second, 1, 0}, // same progress: not rewritten
		{schema.ActionTouchInterval - time.Millisecond, 1, 0}, // still within the interval
		{schema.ActionTouchInterval, 1, schema.ActionTouchInterval},
		{schema.ActionTouchInterval + time.Second, 2, schema.ActionTouchInterval + time.Second}, // new progress
	}
	for i, st := range steps {
		report(st.after, st.cnt)
		got := mustAction(t, s, a)
		if want := start.Add(st.updated); !got.UpdatedAt.Equal(want) || got.Progress.Cnt != st.cnt || got.Status != schema.ActionRunning {
			t.Fatalf("step %d: action %s %d/%d updated %s, want running %d/3 updated %s",
				i, got.Status, got.Progress.Cnt, got.Progress.Of, got.UpdatedAt, st.cnt, want)
		}
	}
	list, err := s.Feedback(t.Context(), tenant, "touch", a.ID, 0, 0)
	if err != nil || len(list) != len(steps) {
		t.Fatalf("%d feedback rows (%v), want every report stored (%d)", len(list), err, len(steps))
	}
}
