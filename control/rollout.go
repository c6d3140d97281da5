package control

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gosling-ota/gosling/cache"
	"github.com/gosling-ota/gosling/schema"
)

// waveRules are a wave's rules for leaving it. Absent fields take the
// rollout's rules (rolloutCreateRequest.Rules), then the defaults.
type waveRules struct {
	SuccessPercent *float64 `json:"success_percent"`
	Approval       *bool    `json:"approval"`
	ErrorCount     *int     `json:"error_count"`
	ErrorPercent   *float64 `json:"error_percent"`
	MinFinished    *int     `json:"min_finished"`
	OnError        *string  `json:"on_error"`
}

// waveRequest is one wave of a new rollout.
type waveRequest struct {
	Percent float64 `json:"percent"`
	Count   int     `json:"count"`
	waveRules
}

// rolloutCreateRequest creates a rollout.
type rolloutCreateRequest struct {
	Name          string                    `json:"name"`
	Feed          string                    `json:"feed"`
	SoftwareID    int64                     `json:"software_id"`
	Target        *schema.Target            `json:"target"`
	Waves         []waveRequest             `json:"waves"`
	Rules         *waveRules                `json:"rules"`
	StartAt       *time.Time                `json:"start_at"`
	MaxConcurrent int                       `json:"max_concurrent"`
	Download      string                    `json:"download"`
	Update        string                    `json:"update"`
	Window        *schema.MaintenanceWindow `json:"maintenance_window"`
	Draft         bool                      `json:"draft"`
}

// maxWaves bounds a rollout's waves; real plans have a handful.
const maxWaves = 100

// rolloutBody is a rollout as answered by GET, with live statistics.
type rolloutBody struct {
	*schema.Rollout
	Stats *Statistics `json:"stats,omitempty"`
}

// createRollout creates a rollout of a software to the ModeRollout devices
// of a feed (default "default") that its target selects, in waves (default
// one 100% wave). It runs at once (wave 0 opens in the request, or at
// start_at), or waits as a draft until /start.
func (s *Server) createRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	var req rolloutCreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ro, err := req.rollout(tenant)
	if err != nil {
		return err
	}
	if err := s.softwareExists(ctx, tenant, req.SoftwareID); err != nil {
		return err
	}
	if err := s.store.CreateRollout(ctx, ro); err != nil {
		if schema.ErrorCode(err) == schema.ENOTFOUND {
			// The software went away since the check above.
			return schema.Errorf(schema.EINVALID, "software_id %d: no such software", req.SoftwareID)
		}
		return err
	}
	s.recordEvents(ctx, ro, &schema.RolloutEvent{Type: "created", Wave: -1, Message: "created as " + ro.Status})
	ro = s.stepNow(ctx, ro)
	s.publish(r, cache.KindCatalog, tenant, "")
	w.Header().Set("Location", "/api/v1/rollouts/"+strconv.FormatInt(ro.ID, 10)+"?tenant="+url.QueryEscape(tenant))
	writeJSON(w, http.StatusCreated, ro)
	return nil
}

// rollout validates the request and builds the rollout to create.
func (req *rolloutCreateRequest) rollout(tenant string) (*schema.Rollout, error) {
	if req.Name == "" {
		return nil, schema.Errorf(schema.EINVALID, "name is required")
	}
	if err := validName(req.Name); err != nil {
		return nil, err
	}
	if req.SoftwareID <= 0 {
		return nil, schema.Errorf(schema.EINVALID, "software_id is required")
	}
	ro := &schema.Rollout{
		Tenant: tenant, Name: req.Name, SoftwareID: req.SoftwareID,
		Status: schema.RolloutRunning, CurrentWave: -1,
		MaxConcurrent: req.MaxConcurrent,
		Download:      req.Download, Update: req.Update,
		Window: req.Window,
	}
	if req.Draft {
		ro.Status = schema.RolloutDraft
	}
	if req.Target != nil && !req.Target.IsZero() {
		if err := validTarget(req.Target); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		if req.Target.UpdateMode != "" && req.Target.UpdateMode != schema.ModeRollout {
			return nil, schema.Errorf(schema.EINVALID, "target.update_mode %q: a rollout only reaches devices in update_mode %q", req.Target.UpdateMode, schema.ModeRollout)
		}
		if req.Feed == "" {
			req.Feed = req.Target.Feed
		}
		if req.Target.Feed != "" && req.Target.Feed != req.Feed {
			return nil, schema.Errorf(schema.EINVALID, "target.feed %q differs from feed %q", req.Target.Feed, req.Feed)
		}
		t := *req.Target
		ro.Target = &t
	}
	if req.Feed == "" {
		req.Feed = schema.DefaultFeed
	}
	if err := validFeed(req.Feed); err != nil {
		return nil, err
	}
	ro.Feed = req.Feed
	if req.StartAt != nil {
		ro.StartAt = req.StartAt.UTC()
	}
	if req.MaxConcurrent < 0 {
		return nil, schema.Errorf(schema.EINVALID, "max_concurrent: want 0 (no bound) or more, got %d", req.MaxConcurrent)
	}
	for _, h := range []struct{ field, v string }{{"download", req.Download}, {"update", req.Update}} {
		if h.v != "" && h.v != schema.HandlingForced && h.v != schema.HandlingAttempt {
			return nil, schema.Errorf(schema.EINVALID, "%s %q: want one of %s", h.field, h.v, quoteList(schema.HandlingForced, schema.HandlingAttempt))
		}
	}
	if ro.Download == "" {
		ro.Download = schema.HandlingForced
	}
	if ro.Update == "" {
		ro.Update = schema.HandlingForced
	}
	if req.Window != nil {
		if err := req.Window.Validate(); err != nil {
			return nil, err
		}
	}
	waves := req.Waves
	if len(waves) == 0 {
		waves = []waveRequest{{Percent: 100}}
	}
	if len(waves) > maxWaves {
		return nil, schema.Errorf(schema.EINVALID, "waves: at most %d, got %d", maxWaves, len(waves))
	}
	var defaults waveRules
	if req.Rules != nil {
		defaults = *req.Rules
		if err := defaults.validate("rules"); err != nil {
			return nil, err
		}
	}
	for i, wr := range waves {
		w, err := wr.wave(fmt.Sprintf("waves[%d]", i), defaults)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			prev := ro.Waves[i-1]
			if (w.Percent > 0 && prev.Percent >= w.Percent) || (w.Count > 0 && prev.Count >= w.Count) {
				return nil, schema.Errorf(schema.EINVALID, "waves[%d]: waves are cumulative, so each must cover more than the one before", i)
			}
		}
		ro.Waves = append(ro.Waves, w)
	}
	return ro, nil
}

// wave builds a wave from its request, rules absent from it taken from
// defaults.
func (wr waveRequest) wave(field string, defaults waveRules) (schema.Wave, error) {
	if (wr.Percent != 0) == (wr.Count != 0) {
		return schema.Wave{}, schema.Errorf(schema.EINVALID, "%s: set exactly one of percent and count", field)
	}
	if wr.Percent != 0 && (wr.Percent < 0 || wr.Percent > 100) {
		return schema.Wave{}, schema.Errorf(schema.EINVALID, "%s.percent %g: want more than 0 and at most 100", field, wr.Percent)
	}
	if wr.Count < 0 {
		return schema.Wave{}, schema.Errorf(schema.EINVALID, "%s.count %d: want a positive number of devices", field, wr.Count)
	}
	if err := wr.validate(field); err != nil {
		return schema.Wave{}, err
	}
	rules := wr.waveRules
	w := schema.Wave{Percent: wr.Percent, Count: wr.Count, OnError: schema.OnErrorPause}
	if v := first(rules.SuccessPercent, defaults.SuccessPercent); v != nil {
		w.SuccessPercent = *v
	}
	if v := first(rules.Approval, defaults.Approval); v != nil {
		w.Approval = *v
	}
	if v := first(rules.ErrorCount, defaults.ErrorCount); v != nil {
		w.ErrorCount = *v
	}
	if v := first(rules.ErrorPercent, defaults.ErrorPercent); v != nil {
		w.ErrorPercent = *v
	}
	if v := first(rules.MinFinished, defaults.MinFinished); v != nil {
		w.MinFinished = *v
	}
	if v := first(rules.OnError, defaults.OnError); v != nil && *v != "" {
		w.OnError = *v
	}
	return w, nil
}

// first returns a if it is set, else b.
func first[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// validate checks the rules that are set.
func (wr waveRules) validate(field string) error {
	pct := func(name string, v *float64) error {
		if v != nil && (*v < 0 || *v > 100) {
			return schema.Errorf(schema.EINVALID, "%s.%s %g: want 0 to 100", field, name, *v)
		}
		return nil
	}
	if err := pct("success_percent", wr.SuccessPercent); err != nil {
		return err
	}
	if err := pct("error_percent", wr.ErrorPercent); err != nil {
		return err
	}
	if wr.ErrorCount != nil && *wr.ErrorCount < 0 {
		return schema.Errorf(schema.EINVALID, "%s.error_count %d: want 0 (off) or more", field, *wr.ErrorCount)
	}
	if wr.MinFinished != nil && *wr.MinFinished < 0 {
		return schema.Errorf(schema.EINVALID, "%s.min_finished %d: want 0 or more", field, *wr.MinFinished)
	}
	if wr.OnError != nil && *wr.OnError != "" && *wr.OnError != schema.OnErrorPause && *wr.OnError != schema.OnErrorAbort {
		return schema.Errorf(schema.EINVALID, "%s.on_error %q: want one of %s", field, *wr.OnError, quoteList(schema.OnErrorPause, schema.OnErrorAbort))
	}
	return nil
}

// listRollouts answers the tenant's rollouts, newest first, paged (without
// statistics: GET one rollout for those).
func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request, tenant string) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	all, err := s.store.Rollouts(r.Context(), tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageSlice(all, p))
	return nil
}

// getRollout answers one rollout with its live statistics.
func (s *Server) getRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ro, err := s.store.Rollout(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	st, err := s.statistics(r.Context(), ro, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rolloutBody{Rollout: ro, Stats: st})
	return nil
}

// rolloutTransition is an operator's state change of a rollout: it changes
// ro in place and returns the events to record, none when nothing changes
// (the request is idempotent), or an error (ENOTALLOWED in a wrong state).
type rolloutTransition func(ctx context.Context, ro *schema.Rollout) ([]*schema.RolloutEvent, error)

// transition applies t with optimistic concurrency (changeRollout), records
// its events, runs the engine's step when the rollout is running afterwards
// (stepNow) and publishes the catalog when it changed the rollout.
func (s *Server) transition(r *http.Request, tenant string, t rolloutTransition) (*schema.Rollout, error) {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var events []*schema.RolloutEvent
	ro, changed, err := s.changeRollout(ctx, tenant, id, func(ro *schema.Rollout) (bool, error) {
		var err error
		events, err = t(ctx, ro)
		return len(events) > 0, err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.recordEvents(ctx, ro, events...)
		// A rollout that is running now (started, resumed, approved)
		// takes its engine step at once; one invalidation covers both.
		ro = s.stepNow(ctx, ro)
		s.publish(r, cache.KindCatalog, tenant, "")
	}
	return ro, nil
}

// event is a one-event transition result.
func event(typ string, wave int, msg string) []*schema.RolloutEvent {
	return []*schema.RolloutEvent{{Type: typ, Wave: wave, Message: msg}}
}

// notAllowed is the error of a transition from the wrong state.
func notAllowed(ro *schema.Rollout, what string) error {
	return schema.Errorf(schema.ENOTALLOWED, "cannot %s rollout %d: it is %s", what, ro.ID, ro.Status)
}

// startRollout makes a draft run: wave 0 opens in the request (stepNow), or
// at start_at. Starting a running rollout is a no-op.
func (s *Server) startRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	ro, err := s.transition(r, tenant, func(_ context.Context, ro *schema.Rollout) ([]*schema.RolloutEvent, error) {
		switch ro.Status {
		case schema.RolloutRunning:
			return nil, nil
		case schema.RolloutDraft:
			ro.Status = schema.RolloutRunning
			return event("started", ro.CurrentWave, "started by an operator"), nil
		}
		return nil, notAllowed(ro, "start")
	})
	return answerRollout(w, ro, err)
}

// pauseRollout stops a rollout from offering its software to devices that
// have not started it; open actions run on. Pausing a paused rollout is a
// no-op; drafts and final rollouts cannot be paused.
func (s *Server) pauseRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	ro, err := s.transition(r, tenant, func(_ context.Context, ro *schema.Rollout) ([]*schema.RolloutEvent, error) {
		switch ro.Status {
		case schema.RolloutPaused:
			return nil, nil
		case schema.RolloutRunning:
			ro.Status, ro.Reason = schema.RolloutPaused, ""
			return event("paused", ro.CurrentWave, "paused by an operator"), nil
		}
		return nil, notAllowed(ro, "pause")
	})
	return answerRollout(w, ro, err)
}

// resumeRollout makes a paused rollout run again. After an automatic pause
// by the error rule, the failures seen so far are accepted (the wave's
// AcceptedFailures), so the next tick does not pause it again; new
// failures count anew.
func (s *Server) resumeRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	ro, err := s.transition(r, tenant, func(ctx context.Context, ro *schema.Rollout) ([]*schema.RolloutEvent, error) {
		switch ro.Status {
		case schema.RolloutRunning:
			return nil, nil
		case schema.RolloutPaused:
		default:
			return nil, notAllowed(ro, "resume")
		}
		msg := "resumed by an operator"
		if ro.Reason != "" && ro.CurrentWave >= 0 && ro.CurrentWave < len(ro.Waves) {
			counts, err := s.store.RolloutActionCounts(ctx, ro.Tenant, ro.ID)
			if err != nil {
				return nil, err
			}
			if ro.CurrentWave < len(counts) {
				ro.Waves = append([]schema.Wave(nil), ro.Waves...)
				ro.Waves[ro.CurrentWave].AcceptedFailures = counts[ro.CurrentWave].Failed
				msg += fmt.Sprintf("; %d failures of wave %d accepted", counts[ro.CurrentWave].Failed, ro.CurrentWave)
			}
		}
		ro.Status, ro.Reason = schema.RolloutRunning, ""
		return event("resumed", ro.CurrentWave, msg), nil
	})
	return answerRollout(w, ro, err)
}

// approveRollout opens the next wave of a rollout that waits for approval.
func (s *Server) approveRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	ro, err := s.transition(r, tenant, func(ctx context.Context, ro *schema.Rollout) ([]*schema.RolloutEvent, error) {
		if !ro.AwaitingApproval || ro.Status != schema.RolloutRunning || ro.CurrentWave+1 >= len(ro.Waves) {
			return nil, schema.Errorf(schema.ENOTALLOWED, "rollout %d is not awaiting approval (status %s, wave %d of %d)",
				ro.ID, ro.Status, ro.CurrentWave, len(ro.Waves))
		}
		approved := &schema.RolloutEvent{Type: "approved", Wave: ro.CurrentWave + 1,
			Message: fmt.Sprintf("wave %d approved by an operator", ro.CurrentWave+1)}
		opened, err := s.openWave(ctx, ro, ro.CurrentWave+1, s.cfg.Now())
		if err != nil {
			return nil, err
		}
		return []*schema.RolloutEvent{approved, opened}, nil
	})
	return answerRollout(w, ro, err)
}

// abortRequest is the optional body of /abort.
type abortRequest struct {
	// CancelActions also asks the devices to cancel the rollout's open
	// actions.
	CancelActions bool `json:"cancel_actions"`
}

// abortRollout ends a rollout for good: no device is offered its software
// any more. With {"cancel_actions": true} its open actions are canceled
// too. Aborting an aborted rollout is a no-op (the cancel still applies);
// a finished one cannot be aborted.
func (s *Server) abortRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	var req abortRequest
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		return err
	}
	ro, err := s.transition(r, tenant, func(_ context.Context, ro *schema.Rollout) ([]*schema.RolloutEvent, error) {
		switch ro.Status {
		case schema.RolloutAborted:
			return nil, nil
		case schema.RolloutFinished:
			return nil, notAllowed(ro, "abort")
		}
		ro.Status, ro.Reason, ro.AwaitingApproval = schema.RolloutAborted, "", false
		return event("aborted", ro.CurrentWave, "aborted by an operator"), nil
	})
	if err != nil {
		return err
	}
	if req.CancelActions {
		if _, err := s.cancelOpenActions(r, ro); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, ro)
	return nil
}

// cancelActionsBody answers /cancel-actions.
type cancelActionsBody struct {
	Canceled int `json:"canceled"`
}

// cancelRolloutActions asks the devices to cancel every open action of a
// rollout, in any state. It does not stop the rollout from offering its
// software (pause or abort it for that); canceled devices skip it.
func (s *Server) cancelRolloutActions(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ro, err := s.store.Rollout(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	n, err := s.cancelOpenActions(r, ro)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cancelActionsBody{Canceled: n})
	return nil
}

// cancelOpenActions cancels a rollout's open actions, invalidates their
// devices, records an event and publishes the catalog (followers of the
// rollout's events wake on it).
func (s *Server) cancelOpenActions(r *http.Request, ro *schema.Rollout) (int, error) {
	ctx := r.Context()
	actions, err := s.store.CancelRolloutActions(ctx, ro.Tenant, ro.ID)
	if err != nil {
		return 0, err
	}
	for _, a := range actions {
		s.publish(r, cache.KindDevice, ro.Tenant, a.DeviceID)
	}
	s.recordEvents(ctx, ro, &schema.RolloutEvent{Type: "actions_canceled", Wave: ro.CurrentWave,
		Message: fmt.Sprintf("%d open actions canceled by an operator", len(actions))})
	s.publish(r, cache.KindCatalog, ro.Tenant, "")
	return len(actions), nil
}

func answerRollout(w http.ResponseWriter, ro *schema.Rollout, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ro)
	return nil
}

// rolloutActions answers a rollout's actions, newest first, paged.
func (s *Server) rolloutActions(w http.ResponseWriter, r *http.Request, tenant string) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	if _, err := s.store.Rollout(ctx, tenant, id); err != nil {
		return err
	}
	actions, total, err := s.store.Actions(ctx, schema.ActionFilter{Tenant: tenant, RolloutID: id, Offset: p.Offset, Limit: p.Limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(actions, total, p))
	return nil
}

// deleteRollout removes a rollout; its actions keep their history.
func (s *Server) deleteRollout(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteRollout(r.Context(), tenant, id); err != nil {
		return err
	}
	s.publish(r, cache.KindCatalog, tenant, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
