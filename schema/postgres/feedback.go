package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
)

const feedbackColumns = `id, action_id, kind, execution, finished, code, progress_cnt, progress_of,
	details, device_time, received_at`

// lockActionsSQL reads the actions a batch refers to and locks them until
// commit. ORDER BY puts the lock step after the sort, so every batch locks
// in id order and two frontlines' batches sharing actions queue instead of
// deadlocking.
const lockActionsSQL = `SELECT ` + actionColumns + ` FROM actions WHERE id = ANY($1) ORDER BY id FOR UPDATE`

// reserveFeedbackIDsSQL takes a batch's feedback ids from the sequence up
// front: COPY returns nothing, and INSERT … RETURNING does not promise to
// return rows in input order, yet each feedback must learn its own id and
// ids must follow arrival order. Ids of a batch that rolls back are lost, as
// any sequence value is.
const reserveFeedbackIDsSQL = `SELECT nextval('feedback_id_seq') FROM generate_series(1, $1)`

// updateActionsSQL writes the final state of every action a batch changed,
// one statement for the batch.
const updateActionsSQL = `UPDATE actions a SET status = s.status, progress_cnt = s.p_cnt, progress_of = s.p_of,
	updated_at = s.updated_at, closed_at = s.closed_at
	FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::timestamptz[])
		AS s(id, status, p_cnt, p_of, updated_at, closed_at)
	WHERE a.id = s.id`

// closeDevicesSQL applies the batch's closed actions to their devices (a
// device has one open action, so it appears at most once). s.ok says
// whether the action succeeded: then the device runs the software (its
// version, and configData is asked for again so the device confirms it);
// otherwise the software is skipped until an operator changes the device's
// update settings.
const closeDevicesSQL = `UPDATE devices d SET
	sw_version = CASE WHEN s.ok THEN coalesce((SELECT version FROM software WHERE id = s.software_id), d.sw_version) ELSE d.sw_version END,
	installed_software_id = CASE WHEN s.ok THEN s.software_id ELSE d.installed_software_id END,
	config_requested = d.config_requested OR s.ok,
	skip_software_id = CASE WHEN s.ok THEN 0 ELSE s.software_id END,
	status = s.status, action_id = 0, last_action_id = s.action_id
	FROM unnest($1::text[], $2::text[], $3::bool[], $4::bigint[], $5::text[], $6::bigint[])
		AS s(tenant, id, ok, software_id, status, action_id)
	WHERE d.tenant = s.tenant AND d.id = s.id`

// RecordFeedback stores a batch of feedback in one transaction and applies
// each one's transition (see schema.ActionStore); results[i] belongs to
// batch[i], and results[i].Action is the action right after batch[i]. Each
// stored feedback gets its ID, and its ReceivedAt if zero.
//
// Per-item errors, which store nothing for that item:
//   - EINVALID: unknown kind, execution or finished value;
//   - ENOTFOUND: the action does not exist or is not the device's;
//   - EGONE: the action is closed (also when the device repeats its final
//     feedback after a lost answer);
//   - ENOTALLOWED: cancel feedback on an action that is not canceling.
//
// The checks and transitions are schema's (Feedback.Validate,
// Action.ApplyFeedback, schema.NextActionStatus, schema.DeviceStatusAfter).
//
// # Cost
//
// Four round trips whatever the batch size: BEGIN; one pipeline that locks
// the batch's actions in id order and reserves the feedback ids; one
// pipeline with three set-based writes (insert every feedback row, update
// every changed action, close every finished device), each a single
// statement over unnest'ed arrays, whose SQL does not depend on the batch
// size and so stays prepared on the connection; COMMIT. The transitions are
// computed in Go on the locked rows, in batch order, so several feedback
// rows on one action in a batch see each other as they would one by one.
//
// Lock order: actions by id, then the devices whose action closes by
// primary key (lockDevicesSQL). If Postgres still aborts the transaction as
// a deadlock victim (say, against an operator deleting a device, which
// locks the device before its actions) it is run again (see DB.update).
// The returned error is non-nil only if the transaction failed, and
// then nothing is stored.
func (db *DB) RecordFeedback(ctx context.Context, batch []*schema.Feedback) ([]schema.FeedbackResult, error) {
	results := make([]schema.FeedbackResult, len(batch))
	if len(batch) == 0 {
		return results, nil
	}
	t := now()
	var rows []feedbackRow
	err := db.update(ctx, func(tx pgx.Tx) error {
		var err error
		rows, err = recordFeedback(ctx, tx, batch, results, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record feedback: %w", err)
	}
	// IDs are handed out only once the batch is durable.
	for _, r := range rows {
		fb := batch[r.index]
		fb.ID = r.id
		if fb.ReceivedAt.IsZero() {
			fb.ReceivedAt = t
		}
	}
	return results, nil
}

// feedbackRow is one feedback as stored, with the batch index it came from.
type feedbackRow struct {
	index      int
	id         int64
	actionID   int64
	kind       string
	execution  string
	finished   string
	code       *int
	progCnt    *int
	progOf     *int
	details    json.RawMessage
	deviceTime string
	receivedAt time.Time
}

// lockedAction is an action of the batch as locked, and as the batch leaves it.
type lockedAction struct {
	a       *schema.Action
	prior   string // device status before the action opened
	changed bool
}

// recordFeedback is one attempt of RecordFeedback in tx. It fills results
// and returns the stored rows.
func recordFeedback(ctx context.Context, tx pgx.Tx, batch []*schema.Feedback, results []schema.FeedbackResult, t time.Time) ([]feedbackRow, error) {
	clear(results) // a retried attempt starts over
	var ids []int64
	valid := 0
	for i, fb := range batch {
		if err := fb.Validate(); err != nil {
			results[i].Err = err
			continue
		}
		valid++
		ids = append(ids, fb.ActionID)
	}
	if valid == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	// Lock the actions and reserve the ids in one round trip.
	var (
		pipe    pgx.Batch
		actions = make(map[int64]*lockedAction, len(ids))
		fbIDs   = make([]int64, 0, valid)
	)
	pipe.Queue(lockActionsSQL, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			a, prior, err := scanAction(rows)
			if err != nil {
				return err
			}
			actions[a.ID] = &lockedAction{a: a, prior: prior}
		}
		return rows.Err()
	})
	pipe.Queue(reserveFeedbackIDsSQL, valid).Query(func(rows pgx.Rows) error {
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			fbIDs = append(fbIDs, id)
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, &pipe).Close(); err != nil {
		return nil, err
	}
	slices.Sort(fbIDs) // the sequence hands them out ascending; make sure

	// Apply the batch in order on the locked actions.
	rows := make([]feedbackRow, 0, valid)
	for i, fb := range batch {
		if results[i].Err != nil {
			continue
		}
		la := actions[fb.ActionID]
		if la == nil || la.a.Tenant != fb.Tenant || la.a.DeviceID != fb.DeviceID {
			results[i].Err = actionNotFound(fb.DeviceID, fb.ActionID)
			continue
		}
		a := la.a
		at := t
		if !fb.ReceivedAt.IsZero() {
			at = ms(fb.ReceivedAt)
		}
		moved, dirty, err := a.ApplyFeedback(fb, at)
		if err != nil {
			results[i].Err = err
			continue
		}
		la.changed = la.changed || dirty
		snapshot := *a
		results[i].Action, results[i].StatusChanged = &snapshot, moved

		row, err := newFeedbackRow(i, fbIDs[len(rows)], fb, at)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, nil
	}

	// Write everything in one round trip.
	pipe = pgx.Batch{}
	queueInsertFeedbackUnnest(&pipe, rows)
	queueActionWrites(&pipe, actions)
	if err := tx.SendBatch(ctx, &pipe).Close(); err != nil {
		return nil, err
	}
	return rows, nil
}

func newFeedbackRow(index int, id int64, fb *schema.Feedback, at time.Time) (feedbackRow, error) {
	details := fb.Details
	if details == nil {
		details = []string{}
	}
	dj, err := json.Marshal(details)
	if err != nil {
		return feedbackRow{}, err
	}
	r := feedbackRow{
		index: index, id: id, actionID: fb.ActionID,
		kind: fb.Kind, execution: fb.Execution, finished: fb.Finished,
		code: fb.Code, details: dj, deviceTime: fb.DeviceTime, receivedAt: at,
	}
	if r.finished == "" {
		r.finished = schema.FinishedNone
	}
	if fb.Progress != nil {
		r.progCnt, r.progOf = &fb.Progress.Cnt, &fb.Progress.Of
	}
	return r, nil
}

// queueActionWrites queues the update of every changed action and of the
// devices whose action closed. A batch of reports that changed nothing
// (see schema.ActionTouchInterval) writes no action.
func queueActionWrites(pipe *pgx.Batch, actions map[int64]*lockedAction) {
	var (
		n                         = len(actions)
		ids                       = make([]int64, 0, n)
		statuses                  = make([]string, 0, n)
		cnts, ofs                 = make([]int, 0, n), make([]int, 0, n)
		updated                   = make([]time.Time, 0, n)
		closed                    = make([]*time.Time, 0, n)
		dTenants, dIDs, dStatuses []string
		dOK                       []bool
		dSoftware, dActions       []int64
	)
	for _, la := range actions {
		if !la.changed {
			continue
		}
		a := la.a
		ids, statuses = append(ids, a.ID), append(statuses, string(a.Status))
		cnts, ofs = append(cnts, a.Progress.Cnt), append(ofs, a.Progress.Of)
		updated, closed = append(updated, a.UpdatedAt), append(closed, nullTime(a.ClosedAt))
		if a.Status.Open() {
			continue
		}
		status := schema.DeviceStatusAfter(a.Status, la.prior)
		dTenants, dIDs, dStatuses = append(dTenants, a.Tenant), append(dIDs, a.DeviceID), append(dStatuses, status)
		dOK = append(dOK, a.Status == schema.ActionSucceeded)
		dSoftware, dActions = append(dSoftware, a.SoftwareID), append(dActions, a.ID)
	}
	if len(ids) > 0 {
		pipe.Queue(updateActionsSQL, ids, statuses, cnts, ofs, updated, closed)
	}
	if len(dIDs) > 0 {
		pipe.Queue(lockDevicesSQL, dTenants, dIDs)
		pipe.Queue(closeDevicesSQL, dTenants, dIDs, dOK, dSoftware, dStatuses, dActions)
	}
}

// Feedback row writers. RecordFeedback uses the unnest form; the others are
// kept for BenchmarkWriteFeedback, which compares them. Measured on loopback
// (Postgres 15, 2 vCPU, one transaction per batch, median of 3):
//
//	rows   VALUES            unnest            COPY
//	10     0.45 ms  19 kB    0.46 ms  15 kB    0.44 ms  10 kB
//	100    1.68 ms  288 kB   1.30 ms  183 kB   1.33 ms  120 kB
//	1000   13.3 ms  3.3 MB   11.9 ms  1.6 MB   9.9 ms   0.65 MB
//
// COPY wins only at about a thousand rows, by 17%, and needs a round trip
// of its own; unnest is as fast up to a few hundred rows (the frontline's
// group-commit batches), rides in the same pipeline as the action and
// device updates, and is one prepared statement for every batch size.
// Multi-row VALUES is the slowest and allocates most: every batch size is
// a new SQL text to parse, plan and cache.

// insertFeedbackUnnestSQL inserts any number of feedback rows with one
// statement of eleven array parameters: the SQL text never changes, so it
// is prepared once per connection and queues into a pipeline.
const insertFeedbackUnnestSQL = `INSERT INTO feedback (id, action_id, kind, execution, finished, code,
	progress_cnt, progress_of, details, device_time, received_at)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[],
		$7::int[], $8::int[], $9::jsonb[], $10::text[], $11::timestamptz[])`

func queueInsertFeedbackUnnest(pipe *pgx.Batch, rows []feedbackRow) {
	n := len(rows)
	var (
		ids, actionIDs              = make([]int64, n), make([]int64, n)
		kinds, execs, finished, dts = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		codes, cnts, ofs            = make([]*int, n), make([]*int, n), make([]*int, n)
		details                     = make([]json.RawMessage, n)
		received                    = make([]time.Time, n)
	)
	for i, r := range rows {
		ids[i], actionIDs[i] = r.id, r.actionID
		kinds[i], execs[i], finished[i], dts[i] = r.kind, r.execution, r.finished, r.deviceTime
		codes[i], cnts[i], ofs[i] = r.code, r.progCnt, r.progOf
		details[i], received[i] = r.details, r.receivedAt
	}
	pipe.Queue(insertFeedbackUnnestSQL, ids, actionIDs, kinds, execs, finished, codes, cnts, ofs, details, dts, received)
}

// feedbackInsertColumns are the columns every writer fills, in order.
var feedbackInsertColumns = []string{"id", "action_id", "kind", "execution", "finished", "code",
	"progress_cnt", "progress_of", "details", "device_time", "received_at"}

func (r *feedbackRow) values() []any {
	return []any{r.id, r.actionID, r.kind, r.execution, r.finished, r.code,
		r.progCnt, r.progOf, r.details, r.deviceTime, r.receivedAt}
}

// maxValuesRows keeps a multi-row INSERT under Postgres's limit of 65535
// parameters per statement (11 per row).
const maxValuesRows = 65535 / 11

// queueInsertFeedbackValues inserts rows with multi-row INSERT … VALUES
// statements. Each batch size is a different SQL text, so pgx prepares (and
// caches, crowding out others) one statement per size seen.
func queueInsertFeedbackValues(pipe *pgx.Batch, rows []feedbackRow) {
	for chunk := range slices.Chunk(rows, maxValuesRows) {
		sql := make([]byte, 0, 96+len(chunk)*64)
		sql = append(sql, "INSERT INTO feedback (id, action_id, kind, execution, finished, code, progress_cnt, progress_of, details, device_time, received_at) VALUES "...)
		args := make([]any, 0, len(chunk)*len(feedbackInsertColumns))
		for i, r := range chunk {
			if i > 0 {
				sql = append(sql, ',')
			}
			sql = append(sql, '(')
			for j := range len(feedbackInsertColumns) {
				if j > 0 {
					sql = append(sql, ',')
				}
				sql = append(sql, '$')
				sql = fmt.Appendf(sql, "%d", len(args)+j+1)
			}
			sql = append(sql, ')')
			args = append(args, r.values()...)
		}
		pipe.Queue(string(sql), args...)
	}
}

// copyFeedback writes rows with COPY FROM STDIN in binary format: the least
// work for the server per row, but a round trip of its own that cannot join
// a pipeline.
func copyFeedback(ctx context.Context, tx pgx.Tx, rows []feedbackRow) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"feedback"}, feedbackInsertColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil }))
	return err
}

func scanFeedback(s scanner) (*schema.Feedback, error) {
	var (
		fb        schema.Feedback
		pcnt, pof *int
	)
	if err := s.Scan(&fb.ID, &fb.ActionID, &fb.Kind, &fb.Execution, &fb.Finished, &fb.Code, &pcnt, &pof,
		&fb.Details, &fb.DeviceTime, &fb.ReceivedAt); err != nil {
		return nil, err
	}
	if pcnt != nil && pof != nil {
		fb.Progress = &schema.Progress{Cnt: *pcnt, Of: *pof}
	}
	if fb.Details == nil {
		fb.Details = []string{}
	}
	fb.ReceivedAt = fb.ReceivedAt.UTC()
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
	err = db.view(ctx, func(tx pgx.Tx) error {
		if _, err := findAction(ctx, tx, tenant, deviceID, actionID, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+feedbackColumns+` FROM feedback WHERE action_id = $1
			ORDER BY id LIMIT $2 OFFSET $3`, actionID, n, offset)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*schema.Feedback, error) {
			fb, err := scanFeedback(r)
			if err == nil {
				fb.Tenant, fb.DeviceID = tenant, deviceID
			}
			return fb, err
		})
		return err
	})
	if err != nil {
		return nil, wrap("feedback", err)
	}
	return list, nil
}
