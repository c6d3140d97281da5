package schema

import (
	"context"
	"time"
)

// Rollout states. Draft rollouts are being prepared; running ones offer
// software wave by wave; paused ones offer nothing new (open actions go on);
// finished and aborted are final.
const (
	RolloutDraft    = "draft"
	RolloutRunning  = "running"
	RolloutPaused   = "paused"
	RolloutFinished = "finished"
	RolloutAborted  = "aborted"
)

// Handling types of download and update, as hawkBit names them.
const (
	HandlingForced  = "forced"
	HandlingAttempt = "attempt"
)

// What a rollout does when a wave crosses its error threshold.
const (
	OnErrorPause = "pause"
	OnErrorAbort = "abort"
)

// Rollout offers one software to the devices its target selects that are
// in ModeRollout, in waves. Among running rollouts that select a device, the
// newest wins.
//
// Wave membership is deterministic and needs no per-device rows: each
// device gets a bucket, Bucket(rolloutID, deviceID) in [0, 2^32), and wave
// k covers the devices whose bucket is below Waves[k].Threshold (cumulative:
// wave 2 includes wave 1's devices). The engine sets a wave's Threshold when
// it opens the wave: Percent maps straight to a threshold; Count is turned
// into the threshold that selects that many of the targeted devices.
type Rollout struct {
	ID     int64  `json:"id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Feed and Target select devices (both must match). Feed "" means
	// DefaultFeed, kept for gooseBit's one-rollout-per-feed habit; Target
	// nil selects every device of the feed.
	Feed       string  `json:"feed"`
	Target     *Target `json:"target,omitempty"`
	SoftwareID int64   `json:"software_id"`
	Status     string  `json:"status"`

	Waves []Wave `json:"waves"`
	// CurrentWave is the index of the newest open wave, -1 before the first.
	CurrentWave int `json:"current_wave"`
	// AwaitingApproval is set when the current wave met its success
	// threshold but its successor needs an operator's approval.
	AwaitingApproval bool `json:"awaiting_approval,omitempty"`

	// StartAt delays the first wave of a running rollout (zero: at once).
	StartAt time.Time `json:"start_at,omitzero"`
	// MaxConcurrent bounds the rollout's open actions (0: no bound).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// Download and Update are HandlingForced or HandlingAttempt.
	Download string             `json:"download"`
	Update   string             `json:"update"`
	Window   *MaintenanceWindow `json:"maintenance_window,omitempty"`

	// Reason says why the rollout last paused or aborted by itself.
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Wave is one stage of a rollout with the rules for leaving it.
type Wave struct {
	// Percent (0 < p ≤ 100) or Count (> 0) of the targeted devices that the
	// rollout covers once this wave is open (cumulative). One is set.
	Percent float64 `json:"percent,omitempty"`
	Count   int     `json:"count,omitempty"`
	// Threshold is set by the engine when the wave opens (see Rollout).
	Threshold uint32    `json:"threshold,omitempty"`
	OpenedAt  time.Time `json:"opened_at,omitzero"`

	// SuccessPercent of the wave's targeted devices that must have
	// succeeded before the next wave opens (0 means 100).
	SuccessPercent float64 `json:"success_percent,omitempty"`
	// Approval: the next wave waits for an operator even when the success
	// threshold is met.
	Approval bool `json:"approval,omitempty"`
	// ErrorCount and ErrorPercent (of finished devices) trip the error
	// rule once at least MinFinished devices of the wave have finished;
	// 0 disables each. OnError is OnErrorPause (default) or OnErrorAbort.
	ErrorCount   int     `json:"error_count,omitempty"`
	ErrorPercent float64 `json:"error_percent,omitempty"`
	MinFinished  int     `json:"min_finished,omitempty"`
	OnError      string  `json:"on_error,omitempty"`
	// AcceptedFailures are failures of this wave that an operator accepted
	// by resuming the rollout after the error rule paused it: the rule
	// counts only failures (and finished devices) beyond them, so a resume
	// is not undone by the next engine tick. Set by the control plane.
	AcceptedFailures int `json:"accepted_failures,omitempty"`
}

// MaintenanceWindow is a daily time window in which devices may install.
type MaintenanceWindow struct {
	// Start is the window's daily opening time, "HH:MM" in Location.
	Start string `json:"start"`
	// Duration is how long the window stays open (≤ 24 h).
	Duration Duration `json:"duration"`
	// Location is an IANA time zone name; "" means UTC.
	Location string `json:"location,omitempty"`
}

// RolloutStats counts a rollout's devices by outcome, once per device: the
// device's newest action of the rollout decides.
type RolloutStats struct {
	Targeted  int `json:"targeted"`
	Pending   int `json:"pending"` // targeted by an open wave, no action yet or action pending
	Running   int `json:"running"` // action running or canceling
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Canceled  int `json:"canceled"`
}

// Finished is the number of devices whose outcome is known.
func (s RolloutStats) Finished() int { return s.Succeeded + s.Failed + s.Canceled }

// ActionCounts counts a rollout's devices by their newest action's status,
// per wave (index = Action.Wave); Pending counts pending actions. Targeted,
// and the devices without any action yet, are the engine's to add (they
// need the device population).
type ActionCounts []RolloutStats

// RolloutEvent is one entry of a rollout's history: created, started,
// wave opened, threshold crossed, paused, resumed, aborted, finished.
type RolloutEvent struct {
	ID        int64     `json:"id"`
	RolloutID int64     `json:"rollout_id"`
	Type      string    `json:"type"`
	Wave      int       `json:"wave"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}

// RolloutStore keeps rollouts.
type RolloutStore interface {
	// Rollout returns one rollout. Returns ENOTFOUND.
	Rollout(ctx context.Context, tenant string, id int64) (*Rollout, error)
	// Rollouts returns the tenant's rollouts, newest first.
	Rollouts(ctx context.Context, tenant string) ([]*Rollout, error)
	// CreateRollout inserts r (status running unless set; Download and
	// Update forced unless set; CurrentWave -1; one 100% wave when none is
	// given: see PrepareCreate) and sets ID, CreatedAt and UpdatedAt.
	// Returns ENOTFOUND if its software does not exist, EINVALID as
	// PrepareCreate does (invalid status, waves, handling, window…).
	CreateRollout(ctx context.Context, r *Rollout) error
	// UpdateRollout stores r's mutable fields (Status, Waves, CurrentWave,
	// AwaitingApproval, Reason, Name, Target, StartAt, MaxConcurrent,
	// Download, Update, Window) if the stored UpdatedAt still equals
	// r.UpdatedAt, and sets r.UpdatedAt. Returns ECONFLICT when another
	// writer got there first (re-read and retry), ENOTFOUND.
	UpdateRollout(ctx context.Context, r *Rollout) error
	// SetRolloutStatus pauses or resumes a rollout. Returns ENOTFOUND.
	SetRolloutStatus(ctx context.Context, tenant string, id int64, status string) (*Rollout, error)
	// DeleteRollout removes a rollout; its actions keep their history.
	// Returns ENOTFOUND.
	DeleteRollout(ctx context.Context, tenant string, id int64) error
	// RolloutActionCounts counts the rollout's devices by their newest
	// action of the rollout, per wave; len = the rollout's wave count.
	RolloutActionCounts(ctx context.Context, tenant string, id int64) (ActionCounts, error)
	// AddRolloutEvent appends an event and sets its ID and At.
	AddRolloutEvent(ctx context.Context, tenant string, e *RolloutEvent) error
	// RolloutEvents returns a rollout's events with ID > after, oldest
	// first, at most limit (0: 100).
	RolloutEvents(ctx context.Context, tenant string, rolloutID, after int64, limit int) ([]*RolloutEvent, error)
}

// PrepareCreate applies CreateRollout's defaults to a new rollout and
// checks it: Status running, Feed DefaultFeed, Download and Update
// HandlingForced, one 100% wave when none is given; CurrentWave is always
// -1 (the engine opens waves). Returns EINVALID for a status other than
// draft, running and paused, and whatever Normalize returns.
func (r *Rollout) PrepareCreate() error {
	if r.Status == "" {
		r.Status = RolloutRunning
	}
	if r.Feed == "" {
		r.Feed = DefaultFeed
	}
	if r.Download == "" {
		r.Download = HandlingForced
	}
	if r.Update == "" {
		r.Update = HandlingForced
	}
	if len(r.Waves) == 0 {
		r.Waves = []Wave{{Percent: 100}}
	}
	r.CurrentWave = -1
	switch r.Status {
	case RolloutDraft, RolloutRunning, RolloutPaused:
	default:
		return Errorf(EINVALID, "a rollout is created draft, running or paused, not %q", r.Status)
	}
	return r.Normalize()
}

// Normalize checks r (Validate) and brings it to the form a store keeps:
// a zero Target becomes nil. Stores call it on every write (CreateRollout
// through PrepareCreate, UpdateRollout).
func (r *Rollout) Normalize() error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Target.IsZero() {
		r.Target = nil
	}
	return nil
}

// Validate returns EINVALID for an unknown status or handling type (a
// rollout's are forced or attempt), waves that break the rules of Wave
// (see validateWaves), a CurrentWave outside -1..len(Waves)-1, a negative
// MaxConcurrent, or an invalid maintenance window. Any status is valid
// here; CreateRollout and SetRolloutStatus restrict further.
func (r *Rollout) Validate() error {
	switch r.Status {
	case RolloutDraft, RolloutRunning, RolloutPaused, RolloutFinished, RolloutAborted:
	default:
		return Errorf(EINVALID, "unknown rollout status %q", r.Status)
	}
	for _, h := range []string{r.Download, r.Update} {
		if h != HandlingForced && h != HandlingAttempt {
			return Errorf(EINVALID, "rollout handling types must be forced or attempt, not %q/%q", r.Download, r.Update)
		}
	}
	if err := validateWaves(r.Waves); err != nil {
		return err
	}
	if r.CurrentWave < -1 || r.CurrentWave >= len(r.Waves) {
		return Errorf(EINVALID, "current wave %d is outside -1..%d", r.CurrentWave, len(r.Waves)-1)
	}
	if r.MaxConcurrent < 0 {
		return Errorf(EINVALID, "max_concurrent %d is negative", r.MaxConcurrent)
	}
	if r.Window != nil {
		if err := r.Window.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// validateWaves enforces the rules of Wave: at least one wave; each sets
// exactly one of Percent in (0, 100] and Count > 0; percents never
// decrease from one percent wave to the next; the rule settings are in
// range. Errors count waves from 1, as operators do.
func validateWaves(waves []Wave) error {
	if len(waves) == 0 {
		return Errorf(EINVALID, "a rollout needs at least one wave")
	}
	prev := 0.0
	for i, w := range waves {
		n := i + 1
		switch {
		case w.Percent != 0 && w.Count != 0:
			return Errorf(EINVALID, "wave %d sets both percent and count; set one", n)
		case w.Count < 0:
			return Errorf(EINVALID, "wave %d count %d must be positive", n, w.Count)
		case w.Count == 0 && !(w.Percent > 0 && w.Percent <= 100):
			return Errorf(EINVALID, "wave %d percent %g is outside (0, 100] (or set a count)", n, w.Percent)
		case w.Percent != 0 && w.Percent < prev:
			return Errorf(EINVALID, "wave %d percent %g is below the previous wave's %g: waves are cumulative", n, w.Percent, prev)
		case w.SuccessPercent < 0 || w.SuccessPercent > 100:
			return Errorf(EINVALID, "wave %d success_percent %g is outside 0..100", n, w.SuccessPercent)
		case w.ErrorPercent < 0 || w.ErrorPercent > 100:
			return Errorf(EINVALID, "wave %d error_percent %g is outside 0..100", n, w.ErrorPercent)
		case w.ErrorCount < 0 || w.MinFinished < 0 || w.AcceptedFailures < 0:
			return Errorf(EINVALID, "wave %d error_count, min_finished and accepted_failures must not be negative", n)
		case w.OnError != "" && w.OnError != OnErrorPause && w.OnError != OnErrorAbort:
			return Errorf(EINVALID, "wave %d on_error must be pause or abort, not %q", n, w.OnError)
		}
		if w.Percent != 0 {
			prev = w.Percent
		}
	}
	return nil
}

// RolloutStatusFinal reports whether a rollout in this status can no
// longer change status: finished and aborted.
func RolloutStatusFinal(status string) bool {
	return status == RolloutFinished || status == RolloutAborted
}

// CheckSetRolloutStatus returns EINVALID unless status is one an operator
// may set with SetRolloutStatus: running, paused or aborted.
func CheckSetRolloutStatus(status string) error {
	switch status {
	case RolloutRunning, RolloutPaused, RolloutAborted:
		return nil
	}
	return Errorf(EINVALID, "rollout status can be set to running, paused or aborted, not %q", status)
}

// CanSetStatus is the operator's rule (SetRolloutStatus) for moving r to
// status: running starts a draft or resumes a paused rollout, paused
// pauses a running one, aborted stops any that is not final; the status r
// already has is always allowed (a no-op). Returns ENOTALLOWED otherwise.
// status must pass CheckSetRolloutStatus.
func (r *Rollout) CanSetStatus(status string) error {
	if r.Status == status {
		return nil
	}
	allowed := false
	switch status {
	case RolloutRunning:
		allowed = r.Status == RolloutDraft || r.Status == RolloutPaused
	case RolloutPaused:
		allowed = r.Status == RolloutRunning
	case RolloutAborted:
		allowed = !RolloutStatusFinal(r.Status)
	}
	if !allowed {
		return Errorf(ENOTALLOWED, "rollout %d is %s and cannot become %s", r.ID, r.Status, status)
	}
	return nil
}

// CanUpdateStatus is UpdateRollout's rule for a stored rollout r written
// with status: any change but one of a final status (RolloutStatusFinal),
// which is ENOTALLOWED. The engine, not this rule, decides which changes
// make sense.
func (r *Rollout) CanUpdateStatus(status string) error {
	if RolloutStatusFinal(r.Status) && status != r.Status {
		return Errorf(ENOTALLOWED, "rollout %d is %s and cannot become %s", r.ID, r.Status, status)
	}
	return nil
}

// Add counts n devices whose newest action of the rollout is of wave wave
// and in status: pending in Pending, running and canceling in Running, the
// closed states in their own counts. An action whose wave no longer exists
// (the waves were shortened) counts in the nearest wave. c must not be
// empty.
func (c ActionCounts) Add(wave int, status ActionStatus, n int) {
	s := &c[min(max(wave, 0), len(c)-1)]
	switch status {
	case ActionPending:
		s.Pending += n
	case ActionRunning, ActionCanceling:
		s.Running += n
	case ActionSucceeded:
		s.Succeeded += n
	case ActionFailed:
		s.Failed += n
	case ActionCanceled:
		s.Canceled += n
	}
}

// Validate returns EINVALID for an event without a Type.
func (e *RolloutEvent) Validate() error {
	if e.Type == "" {
		return Errorf(EINVALID, "rollout event type is required")
	}
	return nil
}
