package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

// rolloutActionCountsSQL counts a rollout's devices by the wave and status
// of their newest action of the rollout, in one round trip. The inner query
// walks actions_rollout_device (rollout_id, device_id, id DESC) in order
// and DISTINCT ON keeps the first row of each device: its newest action.
// "rollout_id <> 0" repeats the partial index's predicate: a generic plan
// of the prepared statement cannot prove it from "rollout_id = $1".
// The rollout row comes along (LEFT JOIN) for its wave count and to tell a
// missing rollout (no row at all) from one without actions (one row of
// NULL counts).
const rolloutActionCountsSQL = `SELECT jsonb_array_length(r.waves), c.wave, c.status, c.n
	FROM rollouts r LEFT JOIN (
		SELECT wave, status, count(*) AS n FROM (
			SELECT DISTINCT ON (device_id) wave, status FROM actions
			WHERE rollout_id = $1 AND rollout_id <> 0 AND tenant = $2
			ORDER BY device_id, id DESC
		) newest GROUP BY wave, status
	) c ON true
	WHERE r.id = $1 AND r.tenant = $2`

// RolloutActionCounts counts the rollout's devices by their newest action
// of the rollout, per wave (len = the rollout's wave count), as
// schema.ActionCounts.Add does. Returns ENOTFOUND.
func (db *DB) RolloutActionCounts(ctx context.Context, tenant string, id int64) (schema.ActionCounts, error) {
	rows, err := db.pool.Query(ctx, rolloutActionCountsSQL, id, tenant)
	if err != nil {
		return nil, wrap("rollout action counts", err)
	}
	var (
		counts schema.ActionCounts
		found  bool
		waves  int
		wave   *int
		status *string
		n      *int
	)
	_, err = pgx.ForEachRow(rows, []any{&waves, &wave, &status, &n}, func() error {
		if !found {
			found, counts = true, make(schema.ActionCounts, waves)
		}
		if wave == nil || len(counts) == 0 { // no actions (LEFT JOIN)
			return nil
		}
		counts.Add(*wave, schema.ActionStatus(*status), *n)
		return nil
	})
	if err != nil {
		return nil, wrap("rollout action counts", err)
	}
	if !found {
		return nil, rolloutNotFound(tenant, id)
	}
	return counts, nil
}

// AddRolloutEvent appends an event to a rollout's history and sets its ID
// and At (now). Returns ENOTFOUND if the rollout does not exist in the
// tenant, EINVALID for an empty Type. The insert selects from the rollout
// row, so the check and the write are one statement.
func (db *DB) AddRolloutEvent(ctx context.Context, tenant string, e *schema.RolloutEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	at := now()
	err := db.pool.QueryRow(ctx, `INSERT INTO rollout_events (tenant, rollout_id, type, wave, message, at)
		SELECT tenant, id, $3, $4, $5, $6 FROM rollouts WHERE id = $1 AND tenant = $2 RETURNING id`,
		e.RolloutID, tenant, e.Type, e.Wave, e.Message, at).Scan(&e.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows), isForeignKey(err): // deleted in between
		return rolloutNotFound(tenant, e.RolloutID)
	case err != nil:
		return wrap("add rollout event", err)
	}
	e.At = at
	return nil
}

// RolloutEvents returns a rollout's events with ID > after, oldest first,
// at most limit (0 means 100, capped at 1000). An unknown rollout has no
// events (a deleted rollout's events are deleted with it). Returns EINVALID
// for a negative limit.
func (db *DB) RolloutEvents(ctx context.Context, tenant string, rolloutID, after int64, limit int) ([]*schema.RolloutEvent, error) {
	n, err := schema.PageLimit(0, limit, schema.DefaultPageLimit, schema.MaxPageLimit)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT id, rollout_id, type, wave, message, at FROM rollout_events
		WHERE rollout_id = $1 AND tenant = $2 AND id > $3 ORDER BY id LIMIT $4`, rolloutID, tenant, after, n)
	if err != nil {
		return nil, wrap("rollout events", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*schema.RolloutEvent, error) {
		var e schema.RolloutEvent
		if err := r.Scan(&e.ID, &e.RolloutID, &e.Type, &e.Wave, &e.Message, &e.At); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		return &e, nil
	})
	if err != nil {
		return nil, wrap("rollout events", err)
	}
	if list == nil {
		list = []*schema.RolloutEvent{}
	}
	return list, nil
}
