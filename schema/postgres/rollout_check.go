package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/gosling-ota/gosling/schema"
)

// rolloutJSON is a rollout's jsonb columns, encoded: nil for a nil target
// or window (stored as NULL).
type rolloutJSON struct{ target, waves, window *string }

// checkRollout validates r's settings and normalises r in place to what a
// read returns: a zero Target becomes nil, times are UTC milliseconds, and
// Target, Waves and Window go through JSON (so, say, an empty IDs slice
// reads back as nil). Any status is valid here; CreateRollout and
// SetRolloutStatus restrict further. The rules are schema/sqlite's.
func checkRollout(r *schema.Rollout) (rolloutJSON, error) {
	var j rolloutJSON
	switch r.Status {
	case schema.RolloutDraft, schema.RolloutRunning, schema.RolloutPaused, schema.RolloutFinished, schema.RolloutAborted:
	default:
		return j, schema.Errorf(schema.EINVALID, "unknown rollout status %q", r.Status)
	}
	for _, h := range []string{r.Download, r.Update} {
		if h != schema.HandlingForced && h != schema.HandlingAttempt {
			return j, schema.Errorf(schema.EINVALID, "rollout handling types must be forced or attempt, not %q/%q", r.Download, r.Update)
		}
	}
	if err := checkWaves(r.Waves); err != nil {
		return j, err
	}
	if r.CurrentWave < -1 || r.CurrentWave >= len(r.Waves) {
		return j, schema.Errorf(schema.EINVALID, "current wave %d is outside -1..%d", r.CurrentWave, len(r.Waves)-1)
	}
	if r.MaxConcurrent < 0 {
		return j, schema.Errorf(schema.EINVALID, "max_concurrent %d is negative", r.MaxConcurrent)
	}
	if r.Window != nil {
		if err := r.Window.Validate(); err != nil {
			return j, err
		}
	}
	if r.Target.IsZero() {
		r.Target = nil
	}
	for i := range r.Waves {
		r.Waves[i].OpenedAt = ms(r.Waves[i].OpenedAt)
	}
	r.StartAt = ms(r.StartAt)

	var err error
	if r.Target != nil {
		if j.target, err = roundTrip(&r.Target); err != nil {
			return j, fmt.Errorf("rollout target: %w", err)
		}
	}
	if r.Window != nil {
		if j.window, err = roundTrip(&r.Window); err != nil {
			return j, fmt.Errorf("rollout maintenance window: %w", err)
		}
	}
	if j.waves, err = roundTrip(&r.Waves); err != nil {
		return j, fmt.Errorf("rollout waves: %w", err)
	}
	return j, nil
}

// roundTrip marshals *v and replaces *v with what the JSON reads back as,
// so the caller's value equals what a later read returns.
func roundTrip[T any](v *T) (*string, error) {
	b, err := json.Marshal(*v)
	if err != nil {
		return nil, err
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		return nil, err
	}
	*v = back
	s := string(b)
	return &s, nil
}

// checkWaves enforces the rules of schema.Wave: at least one wave; each
// sets exactly one of Percent in (0, 100] and Count > 0; percents never
// decrease from one percent wave to the next; the rule settings are in
// range.
func checkWaves(waves []schema.Wave) error {
	if len(waves) == 0 {
		return schema.Errorf(schema.EINVALID, "a rollout needs at least one wave")
	}
	prev := 0.0
	for i, w := range waves {
		n := i + 1
		switch {
		case w.Percent != 0 && w.Count != 0:
			return schema.Errorf(schema.EINVALID, "wave %d sets both percent and count; set one", n)
		case w.Count < 0:
			return schema.Errorf(schema.EINVALID, "wave %d count %d must be positive", n, w.Count)
		case w.Count == 0 && !(w.Percent > 0 && w.Percent <= 100):
			return schema.Errorf(schema.EINVALID, "wave %d percent %g is outside (0, 100] (or set a count)", n, w.Percent)
		case w.Percent != 0 && w.Percent < prev:
			return schema.Errorf(schema.EINVALID, "wave %d percent %g is below the previous wave's %g: waves are cumulative", n, w.Percent, prev)
		case w.SuccessPercent < 0 || w.SuccessPercent > 100:
			return schema.Errorf(schema.EINVALID, "wave %d success_percent %g is outside 0..100", n, w.SuccessPercent)
		case w.ErrorPercent < 0 || w.ErrorPercent > 100:
			return schema.Errorf(schema.EINVALID, "wave %d error_percent %g is outside 0..100", n, w.ErrorPercent)
		case w.ErrorCount < 0 || w.MinFinished < 0 || w.AcceptedFailures < 0:
			return schema.Errorf(schema.EINVALID, "wave %d error_count, min_finished and accepted_failures must not be negative", n)
		case w.OnError != "" && w.OnError != schema.OnErrorPause && w.OnError != schema.OnErrorAbort:
			return schema.Errorf(schema.EINVALID, "wave %d on_error must be pause or abort, not %q", n, w.OnError)
		}
		if w.Percent != 0 {
			prev = w.Percent
		}
	}
	return nil
}

// final reports whether a rollout status can no longer change.
func final(status string) bool {
	return status == schema.RolloutFinished || status == schema.RolloutAborted
}
