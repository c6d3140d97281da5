package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gosling-ota/gosling/schema"
)

const rolloutColumns = `id, tenant, name, feed, software_id, status, created_at`

func scanRollout(s scanner) (*schema.Rollout, error) {
	var (
		r       schema.Rollout
		created int64
	)
	if err := s.Scan(&r.ID, &r.Tenant, &r.Name, &r.Feed, &r.SoftwareID, &r.Status, &created); err != nil {
		return nil, err
	}
	r.CreatedAt = fromMillis(created)
	return &r, nil
}

// findRollout reads one rollout through q. Returns ENOTFOUND.
func findRollout(ctx context.Context, q queryer, tenant string, id int64) (*schema.Rollout, error) {
	r, err := scanRollout(q.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = ? AND tenant = ?`, id, tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, schema.Errorf(schema.ENOTFOUND, "rollout %d not found in tenant %q", id, tenant)
	}
	return r, err
}

func validRolloutStatus(s string) error {
	if s != schema.RolloutRunning && s != schema.RolloutPaused {
		return schema.Errorf(schema.EINVALID, "rollout status must be %q or %q, not %q", schema.RolloutRunning, schema.RolloutPaused, s)
	}
	return nil
}

// Rollout returns one rollout. Returns ENOTFOUND.
func (db *DB) Rollout(ctx context.Context, tenant string, id int64) (*schema.Rollout, error) {
	r, err := findRollout(ctx, db.r, tenant, id)
	return r, wrap("rollout", err)
}

// Rollouts returns the tenant's rollouts, newest first (by creation, then id).
func (db *DB) Rollouts(ctx context.Context, tenant string) ([]*schema.Rollout, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE tenant = ?
		ORDER BY created_at DESC, id DESC`, tenant)
	if err != nil {
		return nil, wrap("list rollouts", err)
	}
	defer rows.Close()
	var list []*schema.Rollout
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			return nil, wrap("list rollouts", err)
		}
		list = append(list, r)
	}
	return list, wrap("list rollouts", rows.Err())
}

// CreateRollout inserts r (status running unless set, feed "default" unless
// set) and sets ID and CreatedAt. Returns ENOTFOUND if its software does not
// exist in the tenant, EINVALID for an unknown status.
func (db *DB) CreateRollout(ctx context.Context, r *schema.Rollout) error {
	if r.Status == "" {
		r.Status = schema.RolloutRunning
	}
	if err := validRolloutStatus(r.Status); err != nil {
		return err
	}
	if r.Feed == "" {
		r.Feed = schema.DefaultFeed
	}
	t := now()
	err := db.update(ctx, func(tx *sql.Tx) error {
		if err := softwareExists(ctx, tx, r.Tenant, r.SoftwareID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO rollouts (tenant, name, feed, software_id, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, r.Tenant, r.Name, r.Feed, r.SoftwareID, r.Status, millis(t)).Scan(&r.ID)
	})
	if err != nil {
		return wrap("create rollout", err)
	}
	r.CreatedAt = t
	return nil
}

// SetRolloutStatus pauses or resumes a rollout. Returns ENOTFOUND, or
// EINVALID for an unknown status.
func (db *DB) SetRolloutStatus(ctx context.Context, tenant string, id int64, status string) (*schema.Rollout, error) {
	if err := validRolloutStatus(status); err != nil {
		return nil, err
	}
	var r *schema.Rollout
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = findRollout(ctx, tx, tenant, id); err != nil {
			return err
		}
		r.Status = status
		_, err = tx.ExecContext(ctx, `UPDATE rollouts SET status = ? WHERE id = ?`, status, id)
		return err
	})
	if err != nil {
		return nil, wrap("set rollout status", err)
	}
	return r, nil
}

// DeleteRollout removes a rollout; its actions keep their history (and
// their RolloutID). Returns ENOTFOUND.
func (db *DB) DeleteRollout(ctx context.Context, tenant string, id int64) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rollouts WHERE id = ? AND tenant = ?`, id, tenant)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return schema.Errorf(schema.ENOTFOUND, "rollout %d not found in tenant %q", id, tenant)
		}
		return nil
	})
	return wrap("delete rollout", err)
}
