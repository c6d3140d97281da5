package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
)

// MigrateFS applies the migrations of fsys (migrations/NNN_name.sql) as
// Migrate applies the embedded ones.
func (db *DB) MigrateFS(ctx context.Context, fsys fs.FS) error { return db.migrate(ctx, fsys) }

// FeedbackRows are feedback rows ready to write, for BenchmarkWriteFeedback.
type FeedbackRows []feedbackRow

// MakeFeedbackRows returns n progress reports on one action.
func MakeFeedbackRows(actionID int64, n int) FeedbackRows {
	rows := make(FeedbackRows, n)
	at := now()
	for i := range rows {
		cnt, of := i, n
		rows[i] = feedbackRow{
			index: i, actionID: actionID,
			kind: "deployment", execution: "proceeding", finished: "none",
			progCnt: &cnt, progOf: &of,
			details:    json.RawMessage(`["Installing image 3 of 5","rootfs: 42% written"]`),
			deviceTime: "2026-11-28T03:30:00", receivedAt: at.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return rows
}

// FeedbackStrategies names the ways WriteFeedbackVia can write rows.
var FeedbackStrategies = []string{"values", "unnest", "copy"}

// WriteFeedbackVia gives rows the ids firstID, firstID+1, … and writes them
// in one transaction with the named strategy.
func (db *DB) WriteFeedbackVia(ctx context.Context, strategy string, rows FeedbackRows, firstID int64) error {
	for i := range rows {
		rows[i].id = firstID + int64(i)
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var pipe pgx.Batch
		switch strategy {
		case "values":
			queueInsertFeedbackValues(&pipe, rows)
		case "unnest":
			queueInsertFeedbackUnnest(&pipe, rows)
		case "copy":
			return copyFeedback(ctx, tx, rows)
		default:
			return fmt.Errorf("unknown strategy %q", strategy)
		}
		return tx.SendBatch(ctx, &pipe).Close()
	})
}
