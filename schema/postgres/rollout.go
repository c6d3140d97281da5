package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

const rolloutColumns = `id, tenant, name, feed, software_id, status, created_at, target, waves, current_wave,
	awaiting_approval, start_at, max_concurrent, download_type, update_type, maintenance_window, reason, updated_at`

func scanRollout(s scanner) (*schema.Rollout, error) {
	var (
		r                     schema.Rollout
		target, waves, window []byte
		startAt               *time.Time
	)
	if err := s.Scan(&r.ID, &r.Tenant, &r.Name, &r.Feed, &r.SoftwareID, &r.Status, &r.CreatedAt, &target, &waves,
		&r.CurrentWave, &r.AwaitingApproval, &startAt, &r.MaxConcurrent, &r.Download, &r.Update, &window,
		&r.Reason, &r.UpdatedAt); err != nil {
		return nil, err
	}
	if target != nil { // NULL: no target
		r.Target = new(schema.Target)
		if err := json.Unmarshal(target, r.Target); err != nil {
			return nil, fmt.Errorf("rollout %d target: %w", r.ID, err)
		}
	}
	if err := json.Unmarshal(waves, &r.Waves); err != nil {
		return nil, fmt.Errorf("rollout %d waves: %w", r.ID, err)
	}
	for i := range r.Waves {
		r.Waves[i].OpenedAt = ms(r.Waves[i].OpenedAt)
	}
	if window != nil {
		r.Window = new(schema.MaintenanceWindow)
		if err := json.Unmarshal(window, r.Window); err != nil {
			return nil, fmt.Errorf("rollout %d maintenance window: %w", r.ID, err)
		}
	}
	r.CreatedAt, r.UpdatedAt, r.StartAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), fromNullTime(startAt)
	return &r, nil
}

func rolloutNotFound(tenant string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "rollout %d not found in tenant %q", id, tenant)
}

// findRollout reads one rollout through q. Returns ENOTFOUND.
func findRollout(ctx context.Context, q queryer, tenant string, id int64) (*schema.Rollout, error) {
	return queryRollout(ctx, q, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = $1 AND tenant = $2`, tenant, id)
}

// findRolloutForUpdate reads one rollout in tx and locks its row until
// commit (FOR NO KEY UPDATE: enough against other writers of the row, and
// it lets rollout_events' foreign-key checks through). Returns ENOTFOUND.
func findRolloutForUpdate(ctx context.Context, tx pgx.Tx, tenant string, id int64) (*schema.Rollout, error) {
	return queryRollout(ctx, tx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = $1 AND tenant = $2
		FOR NO KEY UPDATE`, tenant, id)
}

func queryRollout(ctx context.Context, q queryer, sql, tenant string, id int64) (*schema.Rollout, error) {
	r, err := scanRollout(q.QueryRow(ctx, sql, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, rolloutNotFound(tenant, id)
	}
	return r, err
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

// CreateRollout inserts r and sets ID, CreatedAt and UpdatedAt, with the
// defaults and checks of schema.Rollout.PrepareCreate; r is then
// normalised as a read returns it (see encodeRollout). Returns ENOTFOUND
// if its software does not exist in the tenant, EINVALID as PrepareCreate
// does.
func (db *DB) CreateRollout(ctx context.Context, r *schema.Rollout) error {
	if err := r.PrepareCreate(); err != nil {
		return err
	}
	j, err := encodeRollout(r)
	if err != nil {
		return err
	}
	t := now()
	err = db.update(ctx, func(tx pgx.Tx) error {
		if err := softwareExists(ctx, tx, r.Tenant, r.SoftwareID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO rollouts (tenant, name, feed, software_id, status, created_at,
			target, waves, current_wave, awaiting_approval, start_at, max_concurrent, download_type,
			update_type, maintenance_window, reason, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $6)
			RETURNING id`,
			r.Tenant, r.Name, r.Feed, r.SoftwareID, r.Status, t,
			j.target, j.waves, r.CurrentWave, r.AwaitingApproval, nullTime(r.StartAt), r.MaxConcurrent, r.Download,
			r.Update, j.window, r.Reason).Scan(&r.ID)
		if isForeignKey(err) { // unreachable while softwareExists holds its lock; kept as the schema's guarantee
			return softwareNotFound(r.Tenant, r.SoftwareID)
		}
		return err
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
	t, next := now(), ms(prev).Add(time.Millisecond)
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
//
// The check and the write are one conditional UPDATE, a single round trip
// on the engine's path: two writers holding the same version cannot both
// succeed, because the second one waits for the first one's row lock and
// then re-evaluates its WHERE on the new row (read committed), which no
// longer matches. Only a failed write reads the row again, to say why.
func (db *DB) UpdateRollout(ctx context.Context, r *schema.Rollout) error {
	if err := r.Normalize(); err != nil {
		return err
	}
	j, err := encodeRollout(r)
	if err != nil {
		return err
	}
	prev := ms(r.UpdatedAt)
	t := nextUpdatedAt(prev)
	var created time.Time
	err = db.pool.QueryRow(ctx, `UPDATE rollouts SET name = $1, target = $2::jsonb, status = $3, waves = $4::jsonb,
		current_wave = $5, awaiting_approval = $6, start_at = $7, max_concurrent = $8, download_type = $9,
		update_type = $10, maintenance_window = $11::jsonb, reason = $12, updated_at = $13
		WHERE id = $14 AND tenant = $15 AND updated_at = $16
			AND (status = $3 OR status NOT IN ('finished', 'aborted'))
		RETURNING feed, software_id, created_at`,
		r.Name, j.target, r.Status, j.waves, r.CurrentWave, r.AwaitingApproval, nullTime(r.StartAt),
		r.MaxConcurrent, r.Download, r.Update, j.window, r.Reason, t, r.ID, r.Tenant, prev).
		Scan(&r.Feed, &r.SoftwareID, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		old, err := findRollout(ctx, db.pool, r.Tenant, r.ID)
		switch {
		case err != nil:
			return wrap("update rollout", err)
		case !old.UpdatedAt.Equal(prev):
			return schema.Errorf(schema.ECONFLICT, "rollout %d changed at %s after this version (%s): read it again",
				r.ID, old.UpdatedAt.Format(time.RFC3339Nano), prev.Format(time.RFC3339Nano))
		}
		if err := old.CanUpdateStatus(r.Status); err != nil {
			return err
		}
		// Changed and changed back in between: still another writer's.
		return schema.Errorf(schema.ECONFLICT, "rollout %d changed while it was written: read it again", r.ID)
	}
	if err != nil {
		return wrap("update rollout", err)
	}
	r.CreatedAt, r.UpdatedAt = created.UTC(), t
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
	err := db.update(ctx, func(tx pgx.Tx) error {
		var err error
		if r, err = findRolloutForUpdate(ctx, tx, tenant, id); err != nil {
			return err
		}
		if r.Status == status {
			return nil
		}
		if err := r.CanSetStatus(status); err != nil {
			return err
		}
		r.Status, r.UpdatedAt = status, nextUpdatedAt(r.UpdatedAt)
		_, err = tx.Exec(ctx, `UPDATE rollouts SET status = $1, updated_at = $2 WHERE id = $3`, r.Status, r.UpdatedAt, id)
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
	tag, err := db.pool.Exec(ctx, `DELETE FROM rollouts WHERE id = $1 AND tenant = $2`, id, tenant)
	if err != nil {
		return wrap("delete rollout", err)
	}
	if tag.RowsAffected() == 0 {
		return rolloutNotFound(tenant, id)
	}
	return nil
}
