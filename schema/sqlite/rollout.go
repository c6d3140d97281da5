package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

const rolloutColumns = `id, tenant, name, feed, target, software_id, status, waves, current_wave,
	awaiting_approval, start_at, max_concurrent, download_type, update_type, maintenance_window,
	reason, created_at, updated_at`

func scanRollout(s scanner) (*schema.Rollout, error) {
	var (
		r                schema.Rollout
		target, window   sql.NullString
		waves            string
		startAt          sql.NullInt64
		created, updated int64
	)
	if err := s.Scan(&r.ID, &r.Tenant, &r.Name, &r.Feed, &target, &r.SoftwareID, &r.Status, &waves, &r.CurrentWave,
		&r.AwaitingApproval, &startAt, &r.MaxConcurrent, &r.Download, &r.Update, &window,
		&r.Reason, &created, &updated); err != nil {
		return nil, err
	}
	if target.Valid && target.String != "" {
		if err := json.Unmarshal([]byte(target.String), &r.Target); err != nil {
			return nil, fmt.Errorf("rollout %d target: %w", r.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(waves), &r.Waves); err != nil {
		return nil, fmt.Errorf("rollout %d waves: %w", r.ID, err)
	}
	if window.Valid && window.String != "" {
		if err := json.Unmarshal([]byte(window.String), &r.Window); err != nil {
			return nil, fmt.Errorf("rollout %d maintenance window: %w", r.ID, err)
		}
	}
	r.StartAt = fromNullMillis(startAt)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &r, nil
}

func rolloutNotFound(tenant string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "rollout %d not found in tenant %q", id, tenant)
}

// findRollout reads one rollout through q. Returns ENOTFOUND.
func findRollout(ctx context.Context, q queryer, tenant string, id int64) (*schema.Rollout, error) {
	r, err := scanRollout(q.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = ? AND tenant = ?`, id, tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rolloutNotFound(tenant, id)
	}
	return r, err
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

// CreateRollout inserts r and sets ID, CreatedAt and UpdatedAt, with the
// defaults and checks of schema.Rollout.PrepareCreate; r is then
// normalised as a read returns it (see encodeRollout). Returns ENOTFOUND
// if its software does not exist in the tenant, EINVALID as PrepareCreate
// does.
func (db *DB) CreateRollout(ctx context.Context, r *schema.Rollout) error {
	if err := r.PrepareCreate(); err != nil {
		return err
	}
	row, err := encodeRollout(r)
	if err != nil {
		return err
	}
	t := now()
	err = db.update(ctx, func(tx *sql.Tx) error {
		if err := softwareExists(ctx, tx, r.Tenant, r.SoftwareID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO rollouts (tenant, name, feed, target, software_id, status,
			waves, current_wave, awaiting_approval, start_at, max_concurrent, download_type, update_type,
			maintenance_window, reason, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Tenant, r.Name, r.Feed, row.target, r.SoftwareID, r.Status,
			row.waves, r.CurrentWave, r.AwaitingApproval, row.startAt, r.MaxConcurrent, r.Download, r.Update,
			row.window, r.Reason, millis(t), millis(t)).Scan(&r.ID)
	})
	if err != nil {
		return wrap("create rollout", err)
	}
	r.CreatedAt, r.UpdatedAt = t, t
	return nil
}

// nextUpdatedAt is the UpdatedAt of a rollout's next version: now, but
// always later than the previous one. Stored at millisecond precision, two
// writes within one millisecond would otherwise carry the same token, and a
// writer holding the first version could overwrite the second.
func nextUpdatedAt(prev time.Time) time.Time {
	t, next := now(), prev.Add(time.Millisecond)
	if t.Before(next) {
		return next
	}
	return t
}

// UpdateRollout stores r's mutable fields (Status, Waves, CurrentWave,
// AwaitingApproval, Reason, Name, Target, StartAt, MaxConcurrent, Download,
// Update, Window) if the stored UpdatedAt still equals r.UpdatedAt (at
// millisecond precision), then sets r.UpdatedAt and copies the immutable
// fields (Feed, SoftwareID, CreatedAt) from the store, so r equals what a
// read returns. Returns ECONFLICT when the rollout changed since r was
// read, ENOTFOUND, EINVALID as schema.Rollout.Normalize does (any status
// is valid), and ENOTALLOWED for a status change of a finished or aborted
// rollout (schema.Rollout.CanUpdateStatus).
func (db *DB) UpdateRollout(ctx context.Context, r *schema.Rollout) error {
	if err := r.Normalize(); err != nil {
		return err
	}
	row, err := encodeRollout(r)
	if err != nil {
		return err
	}
	var t time.Time
	err = db.update(ctx, func(tx *sql.Tx) error {
		old, err := findRollout(ctx, tx, r.Tenant, r.ID)
		if err != nil {
			return err
		}
		if millis(old.UpdatedAt) != millis(r.UpdatedAt) {
			return schema.Errorf(schema.ECONFLICT, "rollout %d changed at %s after this version (%s): read it again",
				r.ID, old.UpdatedAt.Format(time.RFC3339Nano), r.UpdatedAt.UTC().Format(time.RFC3339Nano))
		}
		if err := old.CanUpdateStatus(r.Status); err != nil {
			return err
		}
		t = nextUpdatedAt(old.UpdatedAt)
		r.Feed, r.SoftwareID, r.CreatedAt = old.Feed, old.SoftwareID, old.CreatedAt
		_, err = tx.ExecContext(ctx, `UPDATE rollouts SET name = ?, target = ?, status = ?, waves = ?,
			current_wave = ?, awaiting_approval = ?, start_at = ?, max_concurrent = ?, download_type = ?,
			update_type = ?, maintenance_window = ?, reason = ?, updated_at = ? WHERE id = ?`,
			r.Name, row.target, r.Status, row.waves, r.CurrentWave, r.AwaitingApproval, row.startAt,
			r.MaxConcurrent, r.Download, r.Update, row.window, r.Reason, millis(t), r.ID)
		return err
	})
	if err != nil {
		return wrap("update rollout", err)
	}
	r.UpdatedAt = t
	return nil
}

// SetRolloutStatus is the operator's lifecycle control, with the rules of
// schema.CheckSetRolloutStatus and schema.Rollout.CanSetStatus. Setting
// the status a rollout already has is a no-op that still succeeds. Other
// changes bump UpdatedAt (so an engine holding the previous version gets
// ECONFLICT). Returns ENOTFOUND, EINVALID for a status other than running,
// paused and aborted, and ENOTALLOWED for a change the rollout's state
// does not allow.
func (db *DB) SetRolloutStatus(ctx context.Context, tenant string, id int64, status string) (*schema.Rollout, error) {
	if err := schema.CheckSetRolloutStatus(status); err != nil {
		return nil, err
	}
	var r *schema.Rollout
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = findRollout(ctx, tx, tenant, id); err != nil {
			return err
		}
		if r.Status == status {
			return nil
		}
		if err := r.CanSetStatus(status); err != nil {
			return err
		}
		r.Status, r.UpdatedAt = status, nextUpdatedAt(r.UpdatedAt)
		_, err = tx.ExecContext(ctx, `UPDATE rollouts SET status = ?, updated_at = ? WHERE id = ?`,
			status, millis(r.UpdatedAt), id)
		return err
	})
	if err != nil {
		return nil, wrap("set rollout status", err)
	}
	return r, nil
}

// DeleteRollout removes a rollout and its events; its actions keep their
// history (and their RolloutID). Returns ENOTFOUND.
func (db *DB) DeleteRollout(ctx context.Context, tenant string, id int64) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rollouts WHERE id = ? AND tenant = ?`, id, tenant)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return rolloutNotFound(tenant, id)
		}
		return nil
	})
	return wrap("delete rollout", err)
}
