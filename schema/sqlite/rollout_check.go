package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

// rolloutRow is a rollout's JSON and nullable columns, ready to bind.
type rolloutRow struct {
	target, window sql.NullString
	waves          string
	startAt        sql.NullInt64
}

// encodeRollout encodes a normalised rollout (schema.Rollout.Normalize)
// for its columns and brings r in place to what a read returns: times are
// UTC milliseconds, and Target, Waves and Window go through JSON (so, say,
// an empty IDs slice reads back as nil).
func encodeRollout(r *schema.Rollout) (rolloutRow, error) {
	var row rolloutRow
	for i := range r.Waves {
		if w := &r.Waves[i]; !w.OpenedAt.IsZero() {
			w.OpenedAt = w.OpenedAt.UTC().Truncate(time.Millisecond)
		}
	}
	if !r.StartAt.IsZero() {
		r.StartAt = r.StartAt.UTC().Truncate(time.Millisecond)
	}
	row.startAt = nullMillis(r.StartAt)

	var err error
	if r.Target != nil {
		if row.target.String, err = roundTrip(&r.Target); err != nil {
			return row, fmt.Errorf("rollout target: %w", err)
		}
		row.target.Valid = true
	}
	if r.Window != nil {
		if row.window.String, err = roundTrip(&r.Window); err != nil {
			return row, fmt.Errorf("rollout maintenance window: %w", err)
		}
		row.window.Valid = true
	}
	if row.waves, err = roundTrip(&r.Waves); err != nil {
		return row, fmt.Errorf("rollout waves: %w", err)
	}
	return row, nil
}

// roundTrip marshals *v and replaces *v with what the JSON reads back as,
// so the caller's value equals what a later read returns.
func roundTrip[T any](v *T) (string, error) {
	b, err := json.Marshal(*v)
	if err != nil {
		return "", err
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		return "", err
	}
	*v = back
	return string(b), nil
}
