package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

const actionColumns = `id, tenant, device_id, software_id, rollout_id, status, download_type, update_type,
	progress_cnt, progress_of, created_at, updated_at, closed_at, prior_status, wave`

// scanAction scans an action and the device status it replaced.
func scanAction(s scanner) (*schema.Action, string, error) {
	var (
		a      schema.Action
		closed *time.Time
		prior  string
	)
	if err := s.Scan(&a.ID, &a.Tenant, &a.DeviceID, &a.SoftwareID, &a.RolloutID, &a.Status, &a.Download, &a.Update,
		&a.Progress.Cnt, &a.Progress.Of, &a.CreatedAt, &a.UpdatedAt, &closed, &prior, &a.Wave); err != nil {
		return nil, "", err
	}
	a.CreatedAt, a.UpdatedAt, a.ClosedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC(), fromNullTime(closed)
	return &a, prior, nil
}

func collectAction(r pgx.CollectableRow) (*schema.Action, error) {
	a, _, err := scanAction(r)
	return a, err
}

func actionNotFound(deviceID string, id int64) error {
	return schema.Errorf(schema.ENOTFOUND, "action %d of device %q not found", id, deviceID)
}

// findAction reads an action of a device by primary key through q, with the
// row lock if lock; ENOTFOUND if it belongs to another device or tenant.
func findAction(ctx context.Context, q queryer, tenant, deviceID string, id int64, lock bool) (*schema.Action, error) {
	sql := `SELECT ` + actionColumns + ` FROM actions WHERE id = $1 AND tenant = $2 AND device_id = $3`
	if lock {
		sql += ` FOR UPDATE`
	}
	a, _, err := scanAction(q.QueryRow(ctx, sql, id, tenant, deviceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, actionNotFound(deviceID, id)
	}
	return a, err
}

// Action returns one action of a device. Returns ENOTFOUND if it does not
// exist or belongs to another device. It is one primary-key lookup outside
// any transaction: a single round trip.
func (db *DB) Action(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	a, err := findAction(ctx, db.pool, tenant, deviceID, id, false)
	return a, wrap("action", err)
}

// EachRolloutDevice implements schema.ActionStore.
func (db *DB) EachRolloutDevice(ctx context.Context, tenant string, rolloutID int64, fn func(deviceID string) error) error {
	// "rollout_id <> 0" lets the plan use the partial actions_rollout_device.
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT device_id FROM actions
		WHERE tenant = $1 AND rollout_id = $2 AND rollout_id <> 0`, tenant, rolloutID)
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
	cond, args := " WHERE true", []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Tenant != "" {
		cond += " AND tenant = " + arg(f.Tenant)
	}
	if f.DeviceID != "" {
		cond += " AND device_id = " + arg(f.DeviceID)
	}
	if f.RolloutID != 0 {
		// "<> 0" lets generic plans use the partial actions_rollout_device.
		cond += " AND rollout_id = " + arg(f.RolloutID) + " AND rollout_id <> 0"
	}
	if f.Status != "" {
		cond += " AND status = " + arg(string(f.Status))
	}
	var (
		list  []*schema.Action
		total int
	)
	err = db.view(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM actions`+cond, args...).Scan(&total); err != nil {
			return err
		}
		page := cond + ` ORDER BY id DESC LIMIT ` + arg(n) + ` OFFSET ` + arg(f.Offset)
		rows, err := tx.Query(ctx, `SELECT `+actionColumns+` FROM actions`+page, args...)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, collectAction)
		return err
	})
	if err != nil {
		return nil, 0, wrap("list actions", err)
	}
	return list, total, nil
}

// CreateAction inserts a pending action (Download and Update default to
// "forced"), sets its ID, timestamps and status, makes it the device's
// ActionID and the device status updating. Returns ECONFLICT if the device
// already has an open action; ENOTFOUND if the device, the software or a
// non-zero RolloutID does not exist in the tenant; EINVALID for a Wave
// that is not one of the rollout's (or not 0 without a rollout);
// EUNAVAILABLE when the rollout's MaxConcurrent actions are already open
// (see checkRolloutAction).
func (db *DB) CreateAction(ctx context.Context, a *schema.Action) error {
	if err := a.PrepareCreate(); err != nil {
		return err
	}
	t := now()
	err := db.update(ctx, func(tx pgx.Tx) error {
		// The device's row lock orders concurrent CreateAction calls for the
		// same device; the actions_open index would catch them anyway.
		d, err := findDevice(ctx, tx, a.Tenant, a.DeviceID, true)
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
			if err := checkRolloutAction(ctx, tx, a); err != nil {
				return err
			}
		}
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO actions (tenant, device_id, software_id, rollout_id, wave, status,
			download_type, update_type, progress_cnt, progress_of, prior_status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id`,
			a.Tenant, a.DeviceID, a.SoftwareID, a.RolloutID, a.Wave, string(schema.ActionPending),
			a.Download, a.Update, a.Progress.Cnt, a.Progress.Of, d.Status, t).Scan(&id)
		switch {
		case isUnique(err):
			return schema.Errorf(schema.ECONFLICT, "device %q already has an open action", d.ID)
		case isForeignKey(err):
			return deviceNotFound(a.Tenant, a.DeviceID)
		case err != nil:
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE devices SET action_id = $1, status = $2 WHERE tenant = $3 AND id = $4`,
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

// CancelAction moves a pending or running action to canceling; a canceling
// action is returned as it is. Returns ENOTFOUND, or ENOTALLOWED if the
// action is closed.
func (db *DB) CancelAction(ctx context.Context, tenant, deviceID string, id int64) (*schema.Action, error) {
	var a *schema.Action
	err := db.update(ctx, func(tx pgx.Tx) error {
		var err error
		if a, err = findAction(ctx, tx, tenant, deviceID, id, true); err != nil {
			return err
		}
		if changed, err := a.Cancel(now()); err != nil || !changed {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE actions SET status = $1, updated_at = $2 WHERE id = $3`,
			string(a.Status), a.UpdatedAt, id)
		return err
	})
	if err != nil {
		return nil, wrap("cancel action", err)
	}
	return a, nil
}

// checkRolloutAction returns ENOTFOUND unless the tenant has the action's
// rollout, and the errors of schema.Action.CheckRollout (no such wave; the
// rollout no longer offers) and schema.CheckMaxConcurrent.
//
// The bound must hold until commit against other frontlines creating
// actions for the same rollout at the same moment: counting alone would let
// each of them see one free slot and all take it. So a bounded rollout's
// row is locked (FOR NO KEY UPDATE: it conflicts with itself and with the
// rollout's other writers, not with the key-share locks of rollout_events'
// foreign key) before counting; concurrent CreateActions of the rollout
// take turns, and each one's count, a new snapshot under read committed,
// sees the actions the others committed. Unbounded rollouts take no lock,
// so their actions are created in parallel. Lock order: the device (by the
// caller), then the rollout; nothing locks a rollout and then a device.
func checkRolloutAction(ctx context.Context, tx pgx.Tx, a *schema.Action) error {
	const sql = `SELECT max_concurrent, jsonb_array_length(waves), status FROM rollouts WHERE id = $1 AND tenant = $2`
	var (
		maxOpen, waves int
		status         string
	)
	err := tx.QueryRow(ctx, sql, a.RolloutID, a.Tenant).Scan(&maxOpen, &waves, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return rolloutNotFound(a.Tenant, a.RolloutID)
	} else if err != nil {
		return err
	}
	if maxOpen > 0 {
		// Lock, and re-read what a writer may have changed since.
		err = tx.QueryRow(ctx, sql+` FOR NO KEY UPDATE`, a.RolloutID, a.Tenant).Scan(&maxOpen, &waves, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return rolloutNotFound(a.Tenant, a.RolloutID)
		} else if err != nil {
			return err
		}
	}
	if err := a.CheckRollout(waves, status); err != nil {
		return err
	}
	if maxOpen <= 0 {
		return nil
	}
	var open int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM actions WHERE rollout_id = $1
		AND rollout_id <> 0 AND status IN ('pending', 'running', 'canceling')`, a.RolloutID).Scan(&open); err != nil {
		return err
	}
	return schema.CheckMaxConcurrent(a.RolloutID, open, maxOpen)
}

// CancelRolloutActions moves every pending or running action of a rollout
// to canceling, in one transaction, and returns all the rollout's open
// actions (now all canceling, ordered by id), including those that were
// canceling already: a caller retrying after a failure invalidates their
// devices again. The rollout need not exist any more (its actions outlive
// it); an unknown rollout has no actions.
//
// The open actions are locked in id order first, the order RecordFeedback
// locks them in, so the two queue rather than deadlock; an action that a
// feedback closed while this waited for its lock is left out.
func (db *DB) CancelRolloutActions(ctx context.Context, tenant string, rolloutID int64) ([]*schema.Action, error) {
	var list []*schema.Action
	err := db.update(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+actionColumns+` FROM actions
			WHERE rollout_id = $1 AND rollout_id <> 0 AND status IN ('pending', 'running', 'canceling') AND tenant = $2
			ORDER BY id FOR UPDATE`, rolloutID, tenant)
		if err != nil {
			return err
		}
		if list, err = pgx.CollectRows(rows, collectAction); err != nil {
			return err
		}
		t := now()
		var ids []int64
		for _, a := range list {
			if a.Status != schema.ActionCanceling {
				a.Status, a.UpdatedAt = schema.ActionCanceling, t
				ids = append(ids, a.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE actions SET status = $1, updated_at = $2 WHERE id = ANY($3)`,
			string(schema.ActionCanceling), t, ids)
		return err
	})
	if err != nil {
		return nil, wrap("cancel rollout actions", err)
	}
	if list == nil {
		list = []*schema.Action{}
	}
	return list, nil
}
