package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/gosling-ota/gosling/schema"
)

// rolloutJSON is a rollout's jsonb columns, encoded: nil for a nil target
// or window (stored as NULL).
type rolloutJSON struct{ target, waves, window *string }

// encodeRollout encodes a normalised rollout (schema.Rollout.Normalize)
// for its jsonb columns and brings r in place to what a read returns:
// times are UTC milliseconds, and Target, Waves and Window go through JSON
// (so, say, an empty IDs slice reads back as nil).
func encodeRollout(r *schema.Rollout) (rolloutJSON, error) {
	var j rolloutJSON
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
