package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// TestDeleteDeletesFeedback checks what the dropped foreign key from
// feedback to actions used to do (migration 003): deleting a device, and
// so its actions, deletes their feedback rows, and nobody else's.
func TestDeleteDeletesFeedback(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t)
	db := mustOpenURL(t, url)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	gone, kept := mustOpenAction(t, db, "t", "gone"), mustOpenAction(t, db, "t", "kept")
	var batch []*schema.Feedback
	for range 3 {
		for _, a := range []*schema.Action{gone, kept} {
			fb := storetest.NewFeedback(a, schema.FeedbackDeployment, schema.ExecProceeding, schema.FinishedNone)
			fb.Details = []string{"line"}
			batch = append(batch, fb)
		}
	}
	res, err := db.RecordFeedback(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("feedback %d: %v", i, r.Err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows := func(actionID int64) int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM feedback WHERE action_id = $1", actionID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if g, k := rows(gone.ID), rows(kept.ID); g != 3 || k != 3 {
		t.Fatalf("before delete: %d and %d feedback rows, want 3 and 3", g, k)
	}
	if err := db.DeleteDevice(ctx, "t", "gone"); err != nil {
		t.Fatal(err)
	}
	if g, k := rows(gone.ID), rows(kept.ID); g != 0 || k != 3 {
		t.Fatalf("after deleting the device: %d and %d feedback rows, want 0 and 3", g, k)
	}
}
