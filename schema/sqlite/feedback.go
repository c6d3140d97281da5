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

const feedbackColumns = `id, action_id, kind, execution, finished, code, progress_cnt, progress_of,
	details, device_time, received_at`

const insertFeedbackSQL = `INSERT INTO feedback (action_id, kind, execution, finished, code,
	progress_cnt, progress_of, details, device_time, received_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const updateActionSQL = `UPDATE actions SET status = ?, progress_cnt = ?, progress_of = ?,
	updated_at = ?, closed_at = ? WHERE id = ?`

// closeDeviceSQL applies a closed action to its device. ?1 says whether the
// action succeeded: then the device runs the software ?2 (its version, and
// configData is asked for again so the device confirms it); otherwise ?2 is
// skipped until an operator changes the device's update settings.
const closeDeviceSQL = `UPDATE devices SET
	sw_version = CASE WHEN ?1 THEN coalesce((SELECT version FROM software WHERE id = ?2), sw_version) ELSE sw_version END,
	installed_software_id = CASE WHEN ?1 THEN ?2 ELSE installed_software_id END,
	config_requested = CASE WHEN ?1 THEN 1 ELSE config_requested END,
	skip_software_id = CASE WHEN ?1 THEN 0 ELSE ?2 END,
	status = ?3, action_id = 0, last_action_id = ?4
	WHERE tenant = ?5 AND id = ?6`

// feedbackStmts are the hot statements bound to one RecordFeedback
// transaction.
type feedbackStmts struct {
	action, insert, update, closeDevice *sql.Stmt
}

// RecordFeedback stores a batch of feedback in one write transaction and
// applies each one's transition (see schema.ActionStore); results[i] belongs
// to batch[i]. Each stored feedback gets its ID, and its ReceivedAt if zero.
//
// Per-item errors, which store nothing for that item:
//   - EINVALID: unknown kind, execution or finished value;
//   - ENOTFOUND: the action does not exist or is not the device's;
//   - EGONE: the action is closed. A device retrying its final feedback
//     after a lost answer gets EGONE too; the DDI layer may treat EGONE on
//     a closed action as acknowledged;
//   - ENOTALLOWED: cancel feedback on an action that is not canceling.
//
// The checks and transitions are schema's (Feedback.Validate,
// Action.ApplyFeedback, schema.NextActionStatus, schema.DeviceStatusAfter).
//
// The returned error is non-nil only if the transaction failed, and then
// nothing is stored.
func (db *DB) RecordFeedback(ctx context.Context, batch []*schema.Feedback) ([]schema.FeedbackResult, error) {
	results := make([]schema.FeedbackResult, len(batch))
	if len(batch) == 0 {
		return results, nil
	}
	ids := make([]int64, len(batch))
	t := now()
	err := db.update(ctx, func(tx *sql.Tx) error {
		// The driver starts a goroutine per statement to interrupt it when a
		// cancelable context ends, a third of the CPU time of a batch. The
		// statements here are point reads and writes under a write lock
		// already held, so they cannot wait long: they run without
		// cancellation and ctx is checked between items instead (and
		// database/sql still rolls the transaction back when ctx ends).
		sctx := context.WithoutCancel(ctx)
		st := feedbackStmts{
			action:      tx.StmtContext(sctx, db.actionStmt),
			insert:      tx.StmtContext(sctx, db.insFeedbackStmt),
			update:      tx.StmtContext(sctx, db.updActionStmt),
			closeDevice: tx.StmtContext(sctx, db.closeDeviceStmt),
		}
		for i, fb := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			a, id, changed, err := applyFeedback(sctx, st, fb, t)
			var se *schema.Error
			if errors.As(err, &se) {
				results[i].Err = err
				continue
			} else if err != nil {
				return err
			}
			results[i].Action, results[i].StatusChanged, ids[i] = a, changed, id
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record feedback: %w", err)
	}
	// IDs are handed out only once the batch is durable.
	for i, fb := range batch {
		if results[i].Err == nil {
			fb.ID = ids[i]
			if fb.ReceivedAt.IsZero() {
				fb.ReceivedAt = t
			}
		}
	}
	return results, nil
}

// applyFeedback checks, stores and applies one feedback. Schema errors are
// per item; other errors abort the batch.
func applyFeedback(ctx context.Context, st feedbackStmts, fb *schema.Feedback, t time.Time) (_ *schema.Action, _ int64, changed bool, err error) {
	if err := fb.Validate(); err != nil {
		return nil, 0, false, err
	}

	a, prior, err := scanAction(st.action.QueryRowContext(ctx, fb.ActionID, fb.Tenant))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && a.DeviceID != fb.DeviceID) {
		return nil, 0, false, actionNotFound(fb.DeviceID, fb.ActionID)
	} else if err != nil {
		return nil, 0, false, err
	}
	at := t
	if !fb.ReceivedAt.IsZero() {
		at = fb.ReceivedAt.UTC().Truncate(time.Millisecond)
	}
	changed, dirty, err := a.ApplyFeedback(fb, at)
	if err != nil {
		return nil, 0, false, err
	}

	details := fb.Details
	if details == nil {
		details = []string{}
	}
	dj, err := json.Marshal(details)
	if err != nil {
		return nil, 0, false, err
	}
	var code, pcnt, pof sql.NullInt64
	if fb.Code != nil {
		code = sql.NullInt64{Int64: int64(*fb.Code), Valid: true}
	}
	if fb.Progress != nil {
		pcnt = sql.NullInt64{Int64: int64(fb.Progress.Cnt), Valid: true}
		pof = sql.NullInt64{Int64: int64(fb.Progress.Of), Valid: true}
	}
	finished := fb.Finished
	if finished == "" {
		finished = schema.FinishedNone
	}
	// Exec and LastInsertId, not RETURNING: SQLite buffers RETURNING rows in
	// an ephemeral table, which costs a b-tree per statement (~8% of a batch).
	res, err := st.insert.ExecContext(ctx, a.ID, fb.Kind, fb.Execution, finished, code, pcnt, pof,
		string(dj), fb.DeviceTime, millis(at))
	if err != nil {
		return nil, 0, false, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, 0, false, err
	}
	if dirty {
		if _, err := st.update.ExecContext(ctx, string(a.Status), a.Progress.Cnt, a.Progress.Of,
			millis(a.UpdatedAt), nullMillis(a.ClosedAt), a.ID); err != nil {
			return nil, 0, false, err
		}
	}
	if !a.Status.Open() {
		if _, err := st.closeDevice.ExecContext(ctx, a.Status == schema.ActionSucceeded, a.SoftwareID,
			schema.DeviceStatusAfter(a.Status, prior), a.ID, a.Tenant, a.DeviceID); err != nil {
			return nil, 0, false, err
		}
	}
	return a, id, changed, nil
}

func scanFeedback(s scanner) (*schema.Feedback, error) {
	var (
		fb             schema.Feedback
		code           sql.NullInt64
		pcnt, pof      sql.NullInt64
		details        string
		receivedMillis int64
	)
	if err := s.Scan(&fb.ID, &fb.ActionID, &fb.Kind, &fb.Execution, &fb.Finished, &code, &pcnt, &pof,
		&details, &fb.DeviceTime, &receivedMillis); err != nil {
		return nil, err
	}
	if code.Valid {
		c := int(code.Int64)
		fb.Code = &c
	}
	if pcnt.Valid {
		fb.Progress = &schema.Progress{Cnt: int(pcnt.Int64), Of: int(pof.Int64)}
	}
	if err := json.Unmarshal([]byte(details), &fb.Details); err != nil {
		return nil, fmt.Errorf("feedback %d details: %w", fb.ID, err)
	}
	if fb.Details == nil {
		fb.Details = []string{}
	}
	fb.ReceivedAt = fromMillis(receivedMillis)
	return &fb, nil
}

// Feedback returns an action's feedback in arrival order, from offset; limit
// defaults to 100 and is capped at 1000. Returns ENOTFOUND if the action is
// not the device's.
func (db *DB) Feedback(ctx context.Context, tenant, deviceID string, actionID int64, offset, limit int) ([]*schema.Feedback, error) {
	n, err := schema.PageLimit(offset, limit, schema.DefaultPageLimit, schema.MaxPageLimit)
	if err != nil {
		return nil, err
	}
	var list []*schema.Feedback
	err = db.view(ctx, func(tx *sql.Tx) error {
		if _, err := findAction(ctx, tx, tenant, deviceID, actionID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+feedbackColumns+` FROM feedback WHERE action_id = ?
			ORDER BY id LIMIT ? OFFSET ?`, actionID, n, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			fb, err := scanFeedback(rows)
			if err != nil {
				return err
			}
			fb.Tenant, fb.DeviceID = tenant, deviceID
			list = append(list, fb)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("feedback", err)
	}
	return list, nil
}
