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

// TestCluster checks that a Cluster keeps its URL and its committed data
// across a fast restart and across a crash (Kill, then Start).
func TestCluster(t *testing.T) {
	ctx := context.Background()
	c := pgtest.StartCluster(t)
	url, port := c.URL(), c.Port()
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec(`CREATE TABLE t (x int)`)
	exec(`INSERT INTO t VALUES (1)`)

	c.Restart()
	exec(`INSERT INTO t VALUES (2)`)
	c.Kill()
	if c.Running() {
		t.Fatal("Running after Kill")
	}
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a killed cluster")
	}
	c.Start()
	if c.URL() != url || c.Port() != port {
		t.Fatalf("after restarts: %s (port %d), want %s (port %d)", c.URL(), c.Port(), url, port)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows after a restart and a crash, want 2", n)
	}
}
