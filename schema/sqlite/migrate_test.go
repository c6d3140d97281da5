package sqlite

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gosling-ota/gosling/schema"
)

func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].Version != 1 || ms[0].Name != "001_init" || ms[1].Name != "002_rollouts" {
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
		{Version: 900, Name: "900_a", SQL: `CREATE TABLE mig_a (x INTEGER);`},
		{Version: 901, Name: "901_b", SQL: `CREATE TABLE mig_b (x INTEGER); INSERT INTO no_such_table VALUES (1);`},
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
	broken[1].SQL = `CREATE TABLE mig_b (x INTEGER);`
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

// TestMigrate002 upgrades a database holding 001-era rows: rollouts become
// one open 100 % wave and keep offering what they offered.
func TestMigrate002(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gosling.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	w, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	old := &DB{w: w}
	if err := old.migrate(ctx, ms[:1]); err != nil {
		t.Fatal(err)
	}
	const created = 1767225600999 // 2026-01-01T00:00:00.999Z
	for _, q := range []string{
		`INSERT INTO software (tenant, version, created_at) VALUES ('acme', '1.0', 1)`,
		`INSERT INTO devices (tenant, id, update_mode, feed, status, config_requested, provisioned, created_at)
			VALUES ('acme', 'dev-1', 'rollout', 'default', 'updating', 0, 0, 1)`,
		`INSERT INTO rollouts (tenant, name, feed, software_id, status, created_at)
			VALUES ('acme', 'old', 'default', 1, 'paused', 1767225600999)`,
		`INSERT INTO actions (tenant, device_id, software_id, rollout_id, status, download_type, update_type,
			prior_status, created_at, updated_at) VALUES ('acme', 'dev-1', 1, 1, 'pending', 'forced', 'forced', 'registered', 1, 1)`,
		`INSERT INTO tenants (name, gateway_token_hash) VALUES ('acme', 'h')`,
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Rollout(ctx, "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(created).UTC()
	want := []schema.Wave{{Percent: 100, Threshold: ^uint32(0), OpenedAt: at}}
	if r.CurrentWave != 0 || !reflect.DeepEqual(r.Waves, want) || !r.UpdatedAt.Equal(at) || !r.CreatedAt.Equal(at) ||
		r.Download != "forced" || r.Update != "forced" || r.Target != nil || r.Window != nil || r.Status != schema.RolloutPaused {
		t.Fatalf("migrated rollout %+v", r)
	}
	r.Status = schema.RolloutRunning
	if !r.Offers() || r.WaveOf("dev-1") != 0 {
		t.Fatal("a migrated rollout no longer offers its software to its whole feed")
	}
	d, err := db.Device(ctx, "acme", "dev-1")
	if err != nil || d.Tags == nil || len(d.Tags) != 0 || d.PollInterval != 0 {
		t.Fatalf("migrated device %+v, %v", d, err)
	}
	if c, err := db.RolloutActionCounts(ctx, "acme", 1); err != nil || !reflect.DeepEqual(c, schema.ActionCounts{{Pending: 1}}) {
		t.Fatalf("counts %+v, %v", c, err)
	}
	if p, err := db.PollSettings(ctx, "acme"); err != nil || !reflect.DeepEqual(p, &schema.PollSettings{}) {
		t.Fatalf("poll settings %+v, %v", p, err)
	}
	if h, err := db.GatewayTokenHash(ctx, "acme"); err != nil || h != "h" {
		t.Fatalf("gateway token %q, %v", h, err)
	}
}

// TestRolloutQueryPlans checks that the rollout queries use their indexes:
// SQLite only uses a partial index when the query repeats its WHERE terms.
func TestRolloutQueryPlans(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "gosling.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct{ query, index string }{
		{rolloutCountsSQL, "actions_rollout_device"},
		{openRolloutActionsSQL, "actions_rollout_open"},
	} {
		rows, err := db.r.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+tc.query, 1)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), tc.index) {
			t.Errorf("plan of %s does not use %s:\n%s", tc.query, tc.index, strings.Join(plan, "\n"))
		}
	}
}
