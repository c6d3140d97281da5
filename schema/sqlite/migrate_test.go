package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
)

func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 || ms[0].name != "001_init" {
		t.Fatalf("embedded migrations: %+v", ms)
	}
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "gosling.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db.r, `SELECT count(*) FROM schema_migrations`); n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
	if err := db.migrate(t.Context(), ms); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := count(t, db.r, `SELECT count(*) FROM schema_migrations`); n != len(ms) {
		t.Fatalf("%d migrations recorded after a second run, want %d", n, len(ms))
	}
}

// TestMigrateInterrupted checks that a migration that fails half-way leaves
// nothing of itself behind, and that the next run applies it.
func TestMigrateInterrupted(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "gosling.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := count(t, db.r, `SELECT count(*) FROM schema_migrations`)
	broken := []migration{
		{version: 900, name: "900_a", sql: `CREATE TABLE mig_a (x INTEGER);`},
		{version: 901, name: "901_b", sql: `CREATE TABLE mig_b (x INTEGER); INSERT INTO no_such_table VALUES (1);`},
	}
	if err := db.migrate(t.Context(), broken); err == nil {
		t.Fatal("broken migration applied")
	}
	if n := count(t, db.r, `SELECT count(*) FROM sqlite_schema WHERE name = 'mig_b'`); n != 0 {
		t.Fatal("half of the failed migration is applied")
	}
	if n := count(t, db.r, `SELECT count(*) FROM schema_migrations`); n != before+1 {
		t.Fatalf("%d migrations recorded, want %d", n, before+1)
	}
	broken[1].sql = `CREATE TABLE mig_b (x INTEGER);`
	if err := db.migrate(t.Context(), broken); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.r, `SELECT count(*) FROM sqlite_schema WHERE name IN ('mig_a', 'mig_b')`); n != 2 {
		t.Fatalf("%d tables, want 2", n)
	}
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
