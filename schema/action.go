package schema

import (
	"context"
	"time"
)

// HandlingSkip is the third handling type an action may have besides
// HandlingForced and HandlingAttempt (hawkBit's "skip": outside a
// maintenance window). Rollouts never ask for it.
const HandlingSkip = "skip"

// ActionStatus is the state of an action.
type ActionStatus string

// Action states. Pending, running and canceling are open; the rest are closed.
const (
	ActionPending   ActionStatus = "pending"
	ActionRunning   ActionStatus = "running"
	ActionSucceeded ActionStatus = "succeeded"
	ActionFailed    ActionStatus = "failed"
	ActionCanceling ActionStatus = "canceling"
	ActionCanceled  ActionStatus = "canceled"
)

// Open reports whether the action still waits for the device.
func (s ActionStatus) Open() bool {
	return s == ActionPending || s == ActionRunning || s == ActionCanceling
}

// Progress is the device's last reported progress (cnt of of).
type Progress struct {
	Cnt int `json:"cnt"`
	Of  int `json:"of"`
}

// Action is one offer of software to a device and everything the device said
// about it.
type Action struct {
	ID         int64  `json:"id"`
	Tenant     string `json:"tenant"`
	DeviceID   string `json:"device_id"`
	SoftwareID int64  `json:"software_id"`
	RolloutID  int64  `json:"rollout_id,omitempty"`
	// Wave is the rollout wave (index) that offered the action.
	Wave   int          `json:"wave"`
	Status ActionStatus `json:"status"`
	// Download and Update are hawkBit's handling types: "forced" or "attempt".
	Download  string    `json:"download"`
	Update    string    `json:"update"`
	Progress  Progress  `json:"progress"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

// Feedback executions (hawkBit's DDI values).
const (
	ExecClosed     = "closed"
	ExecProceeding = "proceeding"
	ExecCanceled   = "canceled"
	ExecScheduled  = "scheduled"
	ExecRejected   = "rejected"
	ExecResumed    = "resumed"
	ExecDownloaded = "downloaded"
	ExecDownload   = "download"
)

// Feedback results.
const (
	FinishedSuccess = "success"
	FinishedFailure = "failure"
	FinishedNone    = "none"
)

// Feedback kinds: which DDI resource the feedback was posted to.
const (
	FeedbackDeployment = "deployment"
	FeedbackCancel     = "cancel"
)

// Feedback is one status report of a device on an action.
type Feedback struct {
	ID        int64     `json:"id"`
	Tenant    string    `json:"-"`
	DeviceID  string    `json:"-"`
	ActionID  int64     `json:"action_id"`
	Kind      string    `json:"kind"` // FeedbackDeployment or FeedbackCancel
	Execution string    `json:"execution"`
	Finished  string    `json:"finished"`
	Code      *int      `json:"code,omitempty"`
	Progress  *Progress `json:"progress,omitempty"`
	Details   []string  `json:"details"`
	// DeviceTime is the client's own timestamp, as sent (SWUpdate: local time).
	DeviceTime string    `json:"device_time,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// FeedbackResult is the outcome of one Feedback in a batch.
type FeedbackResult struct {
	// Err is nil when the feedback is stored; otherwise ENOTFOUND (not the
	// device's action), EGONE (action closed), ENOTALLOWED (cancel feedback
	// on an action that is not canceling) or EINVALID (unknown execution,
	// result or kind).
	Err error
	// Action is the action after the feedback, when Err is nil.
	Action *Action
	// StatusChanged is set when the feedback moved the action's status (or
	// closed it). Only then do cached poll answers change: progress reports
	// on a running action leave them as they are, so caches need not be
	// invalidated for them.
	StatusChanged bool
}

// ActionFilter selects actions.
type ActionFilter struct {
	Tenant    string
	DeviceID  string
	RolloutID int64
	// Status, when set, selects actions in that status. Counting an open
	// status (pending, running, canceling) is cheap: the stores index open
	// actions (the fleet metrics rely on it).
	Status ActionStatus
	Offset int
	Limit  int // 0 means the store's default (100)
}

// ActionStore keeps actions and their feedback.
//
// The state machine (applied by RecordFeedback in the same transaction as
// the feedback row, through Feedback.Validate, Action.ApplyFeedback,
// NextActionStatus and DeviceStatusAfter): any feedback on a pending action makes it running;
// deployment feedback closed+success or closed+none → succeeded (device gets
// the software's version, InstalledSoftwareID, ConfigRequested);
// closed+failure → failed (device gets SkipSoftwareID); other executions keep
// the action open and update progress. Cancel feedback closed+success/none or
// canceled → canceled (SkipSoftwareID); rejected or closed+failure → running
// again. Closing an action moves Device.ActionID to Device.LastActionID.
type ActionStore interface {
	// Action returns one action of a device. Returns ENOTFOUND if it does not
	// exist or belongs to another device.
	Action(ctx context.Context, tenant, deviceID string, id int64) (*Action, error)
	// Actions returns actions matching f, newest first, and the total count.
	Actions(ctx context.Context, f ActionFilter) ([]*Action, int, error)
	// EachRolloutDevice calls fn with the id of every device that has an
	// action of the rollout, once each, from one query: the rollout
	// engine's check of a whole population, where paging by offset would
	// be quadratic. An error from fn stops the walk and is returned. fn
	// runs while the query holds a connection: it must not call the store.
	EachRolloutDevice(ctx context.Context, tenant string, rolloutID int64, fn func(deviceID string) error) error
	// CreateAction inserts an open action and makes it the device's ActionID.
	// Returns ECONFLICT if the device already has an open action,
	// ENOTFOUND if the device does not exist, and EUNAVAILABLE when the
	// action's rollout no longer offers (paused, aborted or draft: a
	// frontline's catalog may lag behind a pause) or already has
	// MaxConcurrent open actions (checked in the same transaction, so
	// concurrent frontlines cannot overshoot).
	CreateAction(ctx context.Context, a *Action) error
	// CancelRolloutActions asks the devices to cancel every open action of
	// a rollout (pending and running become canceling) and returns those
	// actions, so the caller can invalidate their devices.
	CancelRolloutActions(ctx context.Context, tenant string, rolloutID int64) ([]*Action, error)
	// CancelAction asks the device to cancel an open action (status
	// canceling). Returns ENOTFOUND, or ENOTALLOWED if it is closed.
	CancelAction(ctx context.Context, tenant, deviceID string, id int64) (*Action, error)
	// RecordFeedback stores a batch of feedback durably in one transaction
	// and applies each one's state transition; results[i] belongs to
	// batch[i]. The error is non-nil only if nothing was stored.
	RecordFeedback(ctx context.Context, batch []*Feedback) ([]FeedbackResult, error)
	// Feedback returns an action's feedback in arrival order, from offset.
	Feedback(ctx context.Context, tenant, deviceID string, actionID int64, offset, limit int) ([]*Feedback, error)
}

// PrepareCreate applies CreateAction's defaults to a new action (Download
// and Update HandlingForced) and checks what needs no store: EINVALID for
// a handling type other than forced, attempt and skip, and for a negative
// Wave or a Wave other than 0 without a rollout. The checks against the
// rollout are CheckRollout's.
func (a *Action) PrepareCreate() error {
	if a.Download == "" {
		a.Download = HandlingForced
	}
	if a.Update == "" {
		a.Update = HandlingForced
	}
	if !validActionHandling(a.Download) || !validActionHandling(a.Update) {
		return Errorf(EINVALID, "handling types must be forced, attempt or skip, not %q/%q", a.Download, a.Update)
	}
	if a.Wave < 0 || (a.RolloutID == 0 && a.Wave != 0) {
		return Errorf(EINVALID, "wave %d: want a wave index of the action's rollout", a.Wave)
	}
	return nil
}

func validActionHandling(h string) bool {
	return h == HandlingForced || h == HandlingAttempt || h == HandlingSkip
}

// CheckRollout checks a new action against its rollout, which has waves
// waves and the given status: EINVALID if it has no wave a.Wave,
// EUNAVAILABLE if it offers nothing now (see StatusOffers: a frontline's
// catalog may lag behind a pause).
func (a *Action) CheckRollout(waves int, status string) error {
	if a.Wave >= waves {
		return Errorf(EINVALID, "rollout %d has no wave %d", a.RolloutID, a.Wave)
	}
	if !StatusOffers(status) {
		return Errorf(EUNAVAILABLE, "rollout %d is %s and offers nothing", a.RolloutID, status)
	}
	return nil
}

// CheckMaxConcurrent returns EUNAVAILABLE when a rollout bounded to
// maxConcurrent open actions (0 or less: unbounded) already has open ones.
func CheckMaxConcurrent(rolloutID int64, open, maxConcurrent int) error {
	if maxConcurrent > 0 && open >= maxConcurrent {
		return Errorf(EUNAVAILABLE, "rollout %d already has %d open actions (max_concurrent %d); retry when some finish",
			rolloutID, open, maxConcurrent)
	}
	return nil
}

// Cancel asks the device to cancel a: a pending or running action becomes
// canceling, updated at at, and Cancel reports true; a canceling action
// stays as it is (false). Returns ENOTALLOWED for a closed action.
func (a *Action) Cancel(at time.Time) (changed bool, err error) {
	switch {
	case a.Status == ActionCanceling:
		return false, nil
	case !a.Status.Open():
		return false, Errorf(ENOTALLOWED, "action %d is %s and can no longer be canceled", a.ID, a.Status)
	}
	a.Status, a.UpdatedAt = ActionCanceling, at
	return true, nil
}

// executions are the Feedback executions the state machine knows.
var executions = map[string]bool{
	ExecClosed: true, ExecProceeding: true, ExecCanceled: true, ExecScheduled: true,
	ExecRejected: true, ExecResumed: true, ExecDownloaded: true, ExecDownload: true,
}

// Validate returns EINVALID for a kind, execution or finished value the
// action state machine does not know. An empty Finished means
// FinishedNone.
func (f *Feedback) Validate() error {
	if f.Kind != FeedbackDeployment && f.Kind != FeedbackCancel {
		return Errorf(EINVALID, "unknown feedback kind %q", f.Kind)
	}
	if !executions[f.Execution] {
		return Errorf(EINVALID, "unknown execution %q", f.Execution)
	}
	switch f.Finished {
	case FinishedSuccess, FinishedFailure, FinishedNone, "":
	default:
		return Errorf(EINVALID, "unknown finished result %q", f.Finished)
	}
	return nil
}

// ActionTouchInterval is how stale an open action's UpdatedAt may be while
// its device keeps sending reports that change nothing else. SWUpdate
// repeats the same progress with every flush of its log; rewriting the
// action's row for each would cost the database more than storing the
// report itself, and the report's own time is in the feedback list.
const ActionTouchInterval = 10 * time.Second

// ApplyFeedback applies feedback fb, received at at, to a: the status
// moves as NextActionStatus says, the progress is the reported one (if
// any), UpdatedAt is at when either changed or ActionTouchInterval has
// passed since it last moved, and ClosedAt is at when the action closes.
// fb must be valid (Validate) and the action's: the store looks the action
// up. moved reports whether the status moved; dirty whether a changed at
// all, that is whether the store must write it. Returns EGONE if a is
// closed (also when a device repeats its final feedback after a lost
// answer) and ENOTALLOWED for cancel feedback on an action that is not
// canceling; a is unchanged then.
func (a *Action) ApplyFeedback(fb *Feedback, at time.Time) (moved, dirty bool, err error) {
	if !a.Status.Open() {
		return false, false, Errorf(EGONE, "action %d is already %s", a.ID, a.Status)
	}
	if fb.Kind == FeedbackCancel && a.Status != ActionCanceling {
		return false, false, Errorf(ENOTALLOWED, "action %d is %s, not canceling: cancel feedback is not expected", a.ID, a.Status)
	}
	prev, prevProgress := a.Status, a.Progress
	a.Status = NextActionStatus(a.Status, fb)
	if fb.Progress != nil {
		a.Progress = *fb.Progress
	}
	moved = a.Status != prev
	if moved || a.Progress != prevProgress || at.Sub(a.UpdatedAt) >= ActionTouchInterval {
		a.UpdatedAt = at
		dirty = true
	}
	if !a.Status.Open() {
		a.ClosedAt = at
	}
	return moved, dirty, nil
}

// NextActionStatus is the action state machine of ActionStore: the status
// of an open action in status cur after valid feedback fb that the action
// accepts (see ApplyFeedback).
//
// Choices the state machine leaves open: deployment feedback on a
// canceling action follows the deployment rules (a device that finished
// installing before it saw the cancel reports closed+success, and the
// action succeeds); deployment executions other than closed keep the
// action open, and a canceling action stays canceling.
func NextActionStatus(cur ActionStatus, fb *Feedback) ActionStatus {
	if cur == ActionPending {
		cur = ActionRunning
	}
	failure := fb.Finished == FinishedFailure
	if fb.Kind == FeedbackCancel {
		switch {
		case fb.Execution == ExecCanceled, fb.Execution == ExecClosed && !failure:
			return ActionCanceled
		case fb.Execution == ExecRejected, fb.Execution == ExecClosed && failure:
			return ActionRunning
		}
		return cur
	}
	if fb.Execution == ExecClosed {
		if failure {
			return ActionFailed
		}
		return ActionSucceeded
	}
	return cur
}

// DeviceStatusAfter returns the status of a device whose action just
// closed in status closed: in_sync after success, failed after failure;
// a canceled action gives the device back prior, the status it had when
// the action opened (the device still runs what it ran), registered if
// that is unknown or updating.
func DeviceStatusAfter(closed ActionStatus, prior string) string {
	switch closed {
	case ActionFailed:
		return DeviceFailed
	case ActionCanceled:
		if prior == "" || prior == DeviceUpdating {
			return DeviceRegistered
		}
		return prior
	}
	return DeviceInSync
}
