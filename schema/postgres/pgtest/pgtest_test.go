package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStart checks that every Start gives a distinct, usable database.
func TestStart(t *testing.T) {
	ctx := context.Background()
	seen := map[string]bool{}
	for range 2 {
		u := pgtest.Start(t)
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var db string
		if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if seen[db] {
			t.Fatalf("database %s handed out twice", db)
		}
		seen[db] = true
	}
}
