package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

const actionColumns = `id, tenant, device_id, software_id, rollout_id, status, download_type, update_type,
	progress_cnt, progress_of, created_at, updated_at, closed_at, prior_status, wave`

// scanAction scans an action and the device status it replaced.
func scanAction(s scanner) (*schema.Action, string, error) {
	var (
		a                schema.Action
		created, updated int64
		closed           sql.NullInt64
		prior            string
	)
	if err := s.Scan(&a.ID, &a.Tenant, &a.DeviceID, &a.SoftwareID, &a.RolloutID, &a.Status, &a.Download, &a.Update,
		&a.Progress.Cnt, &a.Progress.Of, &created, &updated, &closed, &prior, &a.Wave); err != nil {
		return nil, "", err
	}
	a.CreatedAt, a.UpdatedAt, a.ClosedAt = fromMillis(created), fromMillis(updated), fromNullMillis(closed)
	return &a, prior, nil
}

func actionNotFound(deviceID string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "action %d of device %q not found", id, deviceID)
}

// findAction reads an action of a device through q; ENOTFOUND if it belongs
// to another device or tenant.
func findAction(ctx context.Context, q queryer, tenant, deviceID string, id int64) (*schema.Action, error) {
	a, _, err := scanAction(q.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM actions
		WHERE id = ? AND tenant = ? AND device_id = ?`, id, tenant, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, actionNotFound(deviceID, id)
	}
	return a, err
}

// Action returns one action of a device. Returns ENOTFOUND if it does not
// exist or belongs to another device.
func (db *DB) Action(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	a, err := findAction(ctx, db.r, tenant, deviceID, id)
	return a, wrap("action", err)
}

// EachRolloutDevice implements schema.ActionStore.
func (db *DB) EachRolloutDevice(ctx context.Context, tenant string, rolloutID int64, fn func(deviceID string) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT device_id FROM actions WHERE tenant = ? AND rollout_id = ?`, tenant, rolloutID)
	if err != nil {
		return wrap("each rollout device", err)
	}
	return wrap("each rollout device", eachString(rows, fn))
}

// Actions returns actions matching f, newest first, and the total count.
// Limit defaults to 100 and is capped at 1000.
func (db *DB) Actions(ctx context.Context, f schema.ActionFilter) ([]*schema.Action, int, error) {
	n, err := schema.PageLimit(f.Offset, f.Limit, schema.DefaultPageLimit, schema.MaxPageLimit)
	if err != nil {
		return nil, 0, err
	}
	cond, args := " WHERE 1 = 1", []any{}
	if f.Tenant != "" {
		cond, args = cond+" AND tenant = ?", append(args, f.Tenant)
	}
	if f.DeviceID != "" {
		cond, args = cond+" AND device_id = ?", append(args, f.DeviceID)
	}
	if f.RolloutID != 0 {
		cond, args = cond+" AND rollout_id = ?", append(args, f.RolloutID)
	}
	if f.Status != "" {
		cond, args = cond+" AND status = ?", append(args, string(f.Status))
	}
	var (
		list  []*schema.Action
		total int
	)
	err = db.view(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM actions`+cond, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+actionColumns+` FROM actions`+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`,
			append(args, n, f.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, _, err := scanAction(rows)
			if err != nil {
				return err
			}
			list = append(list, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, wrap("list actions", err)
	}
	return list, total, nil
}

// openRolloutActionsSQL counts a rollout's open actions. The status list
// repeats actions_rollout_open's verbatim, so SQLite uses that partial index.
const openRolloutActionsSQL = `SELECT count(*) FROM actions
	WHERE rollout_id = ? AND status IN ('pending', 'running', 'canceling')`

// CreateAction inserts a pending action (Download and Update default to
// "forced"), sets its ID, timestamps and status, makes it the device's
// ActionID and the device status updating. Returns ECONFLICT if the device
// already has an open action; ENOTFOUND if the device, the software or a
// non-zero RolloutID does not exist in the tenant; EINVALID for a Wave
// that is not one of the rollout's (or not 0 without a rollout);
// EUNAVAILABLE when the rollout's MaxConcurrent actions are already open.
// The bound is counted in the write transaction, which SQLite runs one at
// a time (BEGIN IMMEDIATE), so concurrent callers cannot overshoot it.
func (db *DB) CreateAction(ctx context.Context, a *schema.Action) error {
	if err := a.PrepareCreate(); err != nil {
		return err
	}
	t := now()
	err := db.update(ctx, func(tx *sql.Tx) error {
		d, err := findDevice(ctx, tx, a.Tenant, a.DeviceID)
		if err != nil {
			return err
		}
		if d.ActionID != 0 {
			return schema.Errorf(schema.ECONFLICT, "device %q already has open action %d", d.ID, d.ActionID)
		}
		if err := softwareExists(ctx, tx, a.Tenant, a.SoftwareID); err != nil {
			return err
		}
		if a.RolloutID != 0 {
			r, err := findRollout(ctx, tx, a.Tenant, a.RolloutID)
			if err != nil {
				return err
			}
			if err := a.CheckRollout(len(r.Waves), r.Status); err != nil {
				return err
			}
			if r.MaxConcurrent > 0 {
				var open int
				if err := tx.QueryRowContext(ctx, openRolloutActionsSQL, r.ID).Scan(&open); err != nil {
					return err
				}
				if err := schema.CheckMaxConcurrent(r.ID, open, r.MaxConcurrent); err != nil {
					return err
				}
			}
		}
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO actions (tenant, device_id, software_id, rollout_id, wave, status,
			download_type, update_type, progress_cnt, progress_of, prior_status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.Tenant, a.DeviceID, a.SoftwareID, a.RolloutID, a.Wave, string(schema.ActionPending),
			a.Download, a.Update, a.Progress.Cnt, a.Progress.Of, d.Status, millis(t), millis(t)).Scan(&id)
		if isUnique(err) {
			return schema.Errorf(schema.ECONFLICT, "device %q already has an open action", d.ID)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET action_id = ?, status = ? WHERE tenant = ? AND id = ?`,
			id, schema.DeviceUpdating, a.Tenant, a.DeviceID); err != nil {
			return err
		}
		a.ID = id
		return nil
	})
	if err != nil {
		return wrap("create action", err)
	}
	a.Status = schema.ActionPending
	a.CreatedAt, a.UpdatedAt, a.ClosedAt = t, t, time.Time{}
	return nil
}

// CancelRolloutActions moves every pending or running action of a rollout
// to canceling, in one transaction, and returns all the rollout's open
// actions (now all canceling, ordered by id), including those that were
// canceling already: a caller retrying after a failure invalidates their
// devices again. The rollout need not exist any more (its actions outlive
// it); an unknown rollout has no actions.
func (db *DB) CancelRolloutActions(ctx context.Context, tenant string, rolloutID int64) ([]*schema.Action, error) {
	list := []*schema.Action{}
	err := db.update(ctx, func(tx *sql.Tx) error {
		// The status list matches actions_rollout_open's; the second term
		// narrows it to pending and running.
		if _, err := tx.ExecContext(ctx, `UPDATE actions SET status = 'canceling', updated_at = ?
			WHERE rollout_id = ? AND status IN ('pending', 'running', 'canceling') AND status <> 'canceling'
			AND tenant = ?`, millis(now()), rolloutID, tenant); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+actionColumns+` FROM actions
			WHERE rollout_id = ? AND status IN ('pending', 'running', 'canceling') AND tenant = ? ORDER BY id`,
			rolloutID, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, _, err := scanAction(rows)
			if err != nil {
				return err
			}
			list = append(list, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("cancel rollout actions", err)
	}
	return list, nil
}

// CancelAction moves a pending or running action to canceling; a canceling
// action is returned as it is. Returns ENOTFOUND, or ENOTALLOWED if the
// action is closed.
func (db *DB) CancelAction(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	var a *schema.Action
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = findAction(ctx, tx, tenant, deviceID, id); err != nil {
			return err
		}
		if changed, err := a.Cancel(now()); err != nil || !changed {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE actions SET status = ?, updated_at = ? WHERE id = ?`,
			string(a.Status), millis(a.UpdatedAt), id)
		return err
	})
	if err != nil {
		return nil, wrap("cancel action", err)
	}
	return a, nil
}
