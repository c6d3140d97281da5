package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

const rolloutColumns = `id, tenant, name, feed, software_id, status, created_at`

func scanRollout(s scanner) (*schema.Rollout, error) {
	var r schema.Rollout
	if err := s.Scan(&r.ID, &r.Tenant, &r.Name, &r.Feed, &r.SoftwareID, &r.Status, &r.CreatedAt); err != nil {
		return nil, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return &r, nil
}

func rolloutNotFound(tenant string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "rollout %d not found in tenant %q", id, tenant)
}

// findRollout reads one rollout through q. Returns ENOTFOUND.
func findRollout(ctx context.Context, q queryer, tenant string, id int64) (*schema.Rollout, error) {
	r, err := scanRollout(q.QueryRow(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = $1 AND tenant = $2`, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rolloutNotFound(tenant, id)
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
	r, err := findRollout(ctx, db.pool, tenant, id)
	return r, wrap("rollout", err)
}

// Rollouts returns the tenant's rollouts, newest first (by creation, then id).
func (db *DB) Rollouts(ctx context.Context, tenant string) ([]*schema.Rollout, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE tenant = $1
		ORDER BY created_at DESC, id DESC`, tenant)
	if err != nil {
		return nil, wrap("list rollouts", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*schema.Rollout, error) { return scanRollout(r) })
	return list, wrap("list rollouts", err)
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
	err := db.update(ctx, func(tx pgx.Tx) error {
		if err := softwareExists(ctx, tx, r.Tenant, r.SoftwareID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO rollouts (tenant, name, feed, software_id, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, r.Tenant, r.Name, r.Feed, r.SoftwareID, r.Status, t).Scan(&r.ID)
		if isForeignKey(err) { // unreachable while softwareExists holds its lock; kept as the schema's guarantee
			return softwareNotFound(r.Tenant, r.SoftwareID)
		}
		return err
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
	r, err := scanRollout(db.pool.QueryRow(ctx, `UPDATE rollouts SET status = $1 WHERE id = $2 AND tenant = $3
		RETURNING `+rolloutColumns, status, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rolloutNotFound(tenant, id)
	}
	if err != nil {
		return nil, wrap("set rollout status", err)
	}
	return r, nil
}

// DeleteRollout removes a rollout; its actions keep their history (and
// their RolloutID). Returns ENOTFOUND.
func (db *DB) DeleteRollout(ctx context.Context, tenant string, id int64) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM rollouts WHERE id = $1 AND tenant = $2`, id, tenant)
	if err != nil {
		return wrap("delete rollout", err)
	}
	if tag.RowsAffected() == 0 {
		return rolloutNotFound(tenant, id)
	}
	return nil
}
