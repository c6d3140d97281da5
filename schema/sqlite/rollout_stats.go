package sqlite

import (
	"context"
	"database/sql"

	"github.com/gosling-ota/gosling/schema"
)

// rolloutCountsSQL counts a rollout's devices by the wave and status of
// their newest action of the rollout. The inner query reads only the
// actions_rollout_device index (hence the rollout_id <> 0 term, which
// SQLite needs verbatim to use that partial index). Rollout ids are unique
// across tenants, and CreateAction gives a rollout's actions the rollout's
// tenant, so no tenant term is needed.
const rolloutCountsSQL = `SELECT wave, status, count(*) FROM actions
	WHERE id IN (SELECT max(id) FROM actions WHERE rollout_id = ?1 AND rollout_id <> 0 GROUP BY device_id)
	GROUP BY wave, status`

// RolloutActionCounts counts the rollout's devices by their newest action
// of the rollout, per wave, as schema.ActionCounts.Add does. Returns
// ENOTFOUND.
func (db *DB) RolloutActionCounts(ctx context.Context, tenant string, id int64) (schema.ActionCounts, error) {
	var counts schema.ActionCounts
	err := db.view(ctx, func(tx *sql.Tx) error {
		r, err := findRollout(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		counts = make(schema.ActionCounts, len(r.Waves))
		rows, err := tx.QueryContext(ctx, rolloutCountsSQL, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				wave, n int
				status  schema.ActionStatus
			)
			if err := rows.Scan(&wave, &status, &n); err != nil {
				return err
			}
			counts.Add(wave, status, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("rollout action counts", err)
	}
	return counts, nil
}

// AddRolloutEvent appends an event to a rollout's history and sets its ID
// and At (now). Returns ENOTFOUND if the rollout does not exist in the
// tenant, EINVALID for an empty Type.
func (db *DB) AddRolloutEvent(ctx context.Context, tenant string, e *schema.RolloutEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	t := now()
	err := db.update(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM rollouts WHERE id = ? AND tenant = ?)`,
			e.RolloutID, tenant).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return rolloutNotFound(tenant, e.RolloutID)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO rollout_events (tenant, rollout_id, type, wave, message, at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, tenant, e.RolloutID, e.Type, e.Wave, e.Message, millis(t)).Scan(&e.ID)
	})
	if err != nil {
		return wrap("add rollout event", err)
	}
	e.At = t
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
	rows, err := db.r.QueryContext(ctx, `SELECT id, rollout_id, type, wave, message, at FROM rollout_events
		WHERE rollout_id = ? AND id > ? AND tenant = ? ORDER BY id LIMIT ?`, rolloutID, after, tenant, n)
	if err != nil {
		return nil, wrap("rollout events", err)
	}
	defer rows.Close()
	list := []*schema.RolloutEvent{}
	for rows.Next() {
		var (
			e  schema.RolloutEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &e.RolloutID, &e.Type, &e.Wave, &e.Message, &at); err != nil {
			return nil, wrap("rollout events", err)
		}
		e.At = fromMillis(at)
		list = append(list, &e)
	}
	return list, wrap("rollout events", rows.Err())
}
