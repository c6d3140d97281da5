package schema

import (
	"context"
	"time"
)

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
// the feedback row): any feedback on a pending action makes it running;
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
