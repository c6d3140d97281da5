package schema_test

import (
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func TestNextActionStatus(t *testing.T) {
	const (
		dep = schema.FeedbackDeployment
		cnl = schema.FeedbackCancel
	)
	tests := []struct {
		cur                       schema.ActionStatus
		kind, execution, finished string
		want                      schema.ActionStatus
	}{
		// Deployment feedback.
		{schema.ActionPending, dep, schema.ExecProceeding, "", schema.ActionRunning},
		{schema.ActionPending, dep, schema.ExecDownload, schema.FinishedNone, schema.ActionRunning},
		{schema.ActionRunning, dep, schema.ExecScheduled, "", schema.ActionRunning},
		{schema.ActionPending, dep, schema.ExecClosed, schema.FinishedSuccess, schema.ActionSucceeded},
		{schema.ActionRunning, dep, schema.ExecClosed, schema.FinishedNone, schema.ActionSucceeded},
		{schema.ActionRunning, dep, schema.ExecClosed, "", schema.ActionSucceeded},
		{schema.ActionRunning, dep, schema.ExecClosed, schema.FinishedFailure, schema.ActionFailed},
		{schema.ActionRunning, dep, schema.ExecRejected, schema.FinishedFailure, schema.ActionRunning},
		// Deployment feedback on a canceling action follows the deployment rules.
		{schema.ActionCanceling, dep, schema.ExecClosed, schema.FinishedSuccess, schema.ActionSucceeded},
		{schema.ActionCanceling, dep, schema.ExecClosed, schema.FinishedFailure, schema.ActionFailed},
		{schema.ActionCanceling, dep, schema.ExecProceeding, "", schema.ActionCanceling},
		// Cancel feedback.
		{schema.ActionCanceling, cnl, schema.ExecCanceled, "", schema.ActionCanceled},
		{schema.ActionCanceling, cnl, schema.ExecCanceled, schema.FinishedFailure, schema.ActionCanceled},
		{schema.ActionCanceling, cnl, schema.ExecClosed, schema.FinishedSuccess, schema.ActionCanceled},
		{schema.ActionCanceling, cnl, schema.ExecClosed, schema.FinishedNone, schema.ActionCanceled},
		{schema.ActionCanceling, cnl, schema.ExecClosed, schema.FinishedFailure, schema.ActionRunning},
		{schema.ActionCanceling, cnl, schema.ExecRejected, "", schema.ActionRunning},
		{schema.ActionCanceling, cnl, schema.ExecProceeding, "", schema.ActionCanceling},
	}
	for _, tt := range tests {
		name := string(tt.cur) + "/" + tt.kind + "/" + tt.execution + "/" + tt.finished
		t.Run(name, func(t *testing.T) {
			fb := &schema.Feedback{Kind: tt.kind, Execution: tt.execution, Finished: tt.finished}
			if got := schema.NextActionStatus(tt.cur, fb); got != tt.want {
				t.Errorf("NextActionStatus = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDeviceStatusAfter(t *testing.T) {
	tests := []struct {
		closed schema.ActionStatus
		prior  string
		want   string
	}{
		{schema.ActionSucceeded, schema.DeviceFailed, schema.DeviceInSync},
		{schema.ActionFailed, schema.DeviceInSync, schema.DeviceFailed},
		{schema.ActionCanceled, schema.DeviceInSync, schema.DeviceInSync},
		{schema.ActionCanceled, schema.DeviceFailed, schema.DeviceFailed},
		{schema.ActionCanceled, schema.DeviceRegistered, schema.DeviceRegistered},
		{schema.ActionCanceled, schema.DeviceUpdating, schema.DeviceRegistered},
		{schema.ActionCanceled, "", schema.DeviceRegistered},
	}
	for _, tt := range tests {
		t.Run(string(tt.closed)+"/"+tt.prior, func(t *testing.T) {
			if got := schema.DeviceStatusAfter(tt.closed, tt.prior); got != tt.want {
				t.Errorf("DeviceStatusAfter = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFeedbackValidate(t *testing.T) {
	tests := []struct {
		name string
		fb   schema.Feedback
		want string // error code, "" for valid
	}{
		{"deployment", schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecClosed, Finished: schema.FinishedSuccess}, ""},
		{"cancel", schema.Feedback{Kind: schema.FeedbackCancel, Execution: schema.ExecCanceled}, ""},
		{"empty finished", schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecDownloaded}, ""},
		{"every execution", schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecResumed, Finished: schema.FinishedNone}, ""},
		{"unknown kind", schema.Feedback{Kind: "install", Execution: schema.ExecClosed}, schema.EINVALID},
		{"no kind", schema.Feedback{Execution: schema.ExecClosed}, schema.EINVALID},
		{"unknown execution", schema.Feedback{Kind: schema.FeedbackDeployment, Execution: "done"}, schema.EINVALID},
		{"unknown finished", schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecClosed, Finished: "ok"}, schema.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := schema.ErrorCode(tt.fb.Validate()); got != tt.want {
				t.Errorf("Validate code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestActionApplyFeedback(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	progress := &schema.Progress{Cnt: 2, Of: 5}
	proceeding := schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecProceeding, Progress: progress}
	logFlush := schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecProceeding}
	tests := []struct {
		name       string
		status     schema.ActionStatus
		progress   schema.Progress // before
		updated    time.Duration   // UpdatedAt this long before at; 0: never
		fb         schema.Feedback
		wantCode   string
		wantStatus schema.ActionStatus
		wantClosed bool
		wantDirty  bool
	}{
		{"progress", schema.ActionPending, schema.Progress{}, 0, proceeding,
			"", schema.ActionRunning, false, true},
		{"progress while running", schema.ActionRunning, schema.Progress{}, 0, proceeding,
			"", schema.ActionRunning, false, true},
		{"new progress just after the last", schema.ActionRunning, schema.Progress{Cnt: 1, Of: 5}, time.Second, proceeding,
			"", schema.ActionRunning, false, true},
		{"same progress just after the last", schema.ActionRunning, *progress, schema.ActionTouchInterval - time.Millisecond, proceeding,
			"", schema.ActionRunning, false, false},
		{"log flush without progress", schema.ActionRunning, *progress, time.Second, logFlush,
			"", schema.ActionRunning, false, false},
		{"same progress after the touch interval", schema.ActionRunning, *progress, schema.ActionTouchInterval, proceeding,
			"", schema.ActionRunning, false, true},
		{"success closes", schema.ActionRunning, *progress, time.Second, schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecClosed, Finished: schema.FinishedSuccess},
			"", schema.ActionSucceeded, true, true},
		{"cancel confirmed", schema.ActionCanceling, schema.Progress{}, 0, schema.Feedback{Kind: schema.FeedbackCancel, Execution: schema.ExecCanceled},
			"", schema.ActionCanceled, true, true},
		{"closed action", schema.ActionSucceeded, schema.Progress{}, 0, schema.Feedback{Kind: schema.FeedbackDeployment, Execution: schema.ExecClosed, Finished: schema.FinishedSuccess},
			schema.EGONE, schema.ActionSucceeded, false, false},
		{"cancel feedback unexpected", schema.ActionRunning, schema.Progress{}, 0, schema.Feedback{Kind: schema.FeedbackCancel, Execution: schema.ExecCanceled},
			schema.ENOTALLOWED, schema.ActionRunning, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &schema.Action{ID: 7, Status: tt.status, Progress: tt.progress}
			if tt.updated != 0 {
				a.UpdatedAt = at.Add(-tt.updated)
			}
			before := a.UpdatedAt
			moved, dirty, err := a.ApplyFeedback(&tt.fb, at)
			if want := err == nil && tt.status != tt.wantStatus; moved != want {
				t.Errorf("moved = %v, want %v", moved, want)
			}
			if dirty != tt.wantDirty {
				t.Errorf("dirty = %v, want %v", dirty, tt.wantDirty)
			}
			if got := schema.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("ApplyFeedback code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if a.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", a.Status, tt.wantStatus)
			}
			if err != nil {
				if !a.UpdatedAt.Equal(before) {
					t.Errorf("a refused feedback changed UpdatedAt to %s", a.UpdatedAt)
				}
				return
			}
			if want := map[bool]time.Time{true: at, false: before}[tt.wantDirty]; !a.UpdatedAt.Equal(want) {
				t.Errorf("UpdatedAt = %s, want %s", a.UpdatedAt, want)
			}
			if closed := !a.ClosedAt.IsZero(); closed != tt.wantClosed {
				t.Errorf("ClosedAt = %s, want closed %v", a.ClosedAt, tt.wantClosed)
			}
			if tt.fb.Progress != nil && a.Progress != *tt.fb.Progress {
				t.Errorf("progress = %+v, want %+v", a.Progress, *tt.fb.Progress)
			}
		})
	}
}

func TestActionPrepareCreate(t *testing.T) {
	tests := []struct {
		name         string
		a            schema.Action
		wantCode     string
		wantDownload string
	}{
		{"defaults", schema.Action{}, "", schema.HandlingForced},
		{"attempt", schema.Action{Download: schema.HandlingAttempt, Update: schema.HandlingSkip}, "", schema.HandlingAttempt},
		{"unknown handling", schema.Action{Update: "later"}, schema.EINVALID, schema.HandlingForced},
		{"negative wave", schema.Action{RolloutID: 1, Wave: -1}, schema.EINVALID, schema.HandlingForced},
		{"wave without rollout", schema.Action{Wave: 1}, schema.EINVALID, schema.HandlingForced},
		{"wave of a rollout", schema.Action{RolloutID: 1, Wave: 3}, "", schema.HandlingForced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			if got := schema.ErrorCode(a.PrepareCreate()); got != tt.wantCode {
				t.Fatalf("PrepareCreate code = %q, want %q", got, tt.wantCode)
			}
			if a.Download != tt.wantDownload || a.Update == "" {
				t.Errorf("handling = %q/%q, want download %q and an update type", a.Download, a.Update, tt.wantDownload)
			}
		})
	}
}

func TestActionCheckRollout(t *testing.T) {
	tests := []struct {
		name   string
		wave   int
		waves  int
		status string
		want   string
	}{
		{"running", 1, 2, schema.RolloutRunning, ""},
		{"finished still offers", 0, 1, schema.RolloutFinished, ""},
		{"no such wave", 2, 2, schema.RolloutRunning, schema.EINVALID},
		{"paused", 0, 1, schema.RolloutPaused, schema.EUNAVAILABLE},
		{"draft", 0, 1, schema.RolloutDraft, schema.EUNAVAILABLE},
		{"aborted", 0, 1, schema.RolloutAborted, schema.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &schema.Action{RolloutID: 3, Wave: tt.wave}
			if got := schema.ErrorCode(a.CheckRollout(tt.waves, tt.status)); got != tt.want {
				t.Errorf("CheckRollout code = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckMaxConcurrent(t *testing.T) {
	tests := []struct {
		open, maxConcurrent int
		want                string
	}{
		{0, 0, ""},
		{100, 0, ""},
		{4, 5, ""},
		{5, 5, schema.EUNAVAILABLE},
		{6, 5, schema.EUNAVAILABLE},
	}
	for _, tt := range tests {
		if got := schema.ErrorCode(schema.CheckMaxConcurrent(1, tt.open, tt.maxConcurrent)); got != tt.want {
			t.Errorf("CheckMaxConcurrent(open %d, max %d) code = %q, want %q", tt.open, tt.maxConcurrent, got, tt.want)
		}
	}
}

func TestActionCancel(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status      schema.ActionStatus
		wantChanged bool
		wantCode    string
		wantStatus  schema.ActionStatus
	}{
		{schema.ActionPending, true, "", schema.ActionCanceling},
		{schema.ActionRunning, true, "", schema.ActionCanceling},
		{schema.ActionCanceling, false, "", schema.ActionCanceling},
		{schema.ActionSucceeded, false, schema.ENOTALLOWED, schema.ActionSucceeded},
		{schema.ActionFailed, false, schema.ENOTALLOWED, schema.ActionFailed},
		{schema.ActionCanceled, false, schema.ENOTALLOWED, schema.ActionCanceled},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			a := &schema.Action{Status: tt.status}
			changed, err := a.Cancel(at)
			if changed != tt.wantChanged || schema.ErrorCode(err) != tt.wantCode {
				t.Fatalf("Cancel = %v, %v; want %v, code %q", changed, err, tt.wantChanged, tt.wantCode)
			}
			if a.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", a.Status, tt.wantStatus)
			}
			if changed != a.UpdatedAt.Equal(at) {
				t.Errorf("UpdatedAt = %s after changed = %v", a.UpdatedAt, changed)
			}
		})
	}
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		name          string
		offset, limit int
		want          int
		wantCode      string
	}{
		{"default", 0, 0, schema.DefaultPageLimit, ""},
		{"asked", 10, 20, 20, ""},
		{"capped", 0, schema.MaxPageLimit + 1, schema.MaxPageLimit, ""},
		{"negative limit", 0, -1, 0, schema.EINVALID},
		{"negative offset", -1, 10, 0, schema.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := schema.PageLimit(tt.offset, tt.limit, schema.DefaultPageLimit, schema.MaxPageLimit)
			if got != tt.want || schema.ErrorCode(err) != tt.wantCode {
				t.Errorf("PageLimit(%d, %d) = %d, %v; want %d, code %q", tt.offset, tt.limit, got, err, tt.want, tt.wantCode)
			}
		})
	}
}
