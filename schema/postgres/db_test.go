package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gosling-ota/gosling/schema"
	"github.com/gosling-ota/gosling/schema/postgres"
	"github.com/gosling-ota/gosling/schema/postgres/pgtest"
	"github.com/gosling-ota/gosling/schema/storetest"
)

// TestMain stops the throwaway Postgres cluster after the tests.
func TestMain(m *testing.M) { pgtest.Main(m) }

// MustOpen returns a migrated store on a new database, closed when the test
// ends.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db := mustOpenURL(tb, pgtest.Start(tb))
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}

func mustOpenURL(tb testing.TB, url string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) schema.Store { return MustOpen(t) })
}

// appliedMigrations returns the versions recorded in schema_migrations.
func appliedMigrations(tb testing.TB, db *postgres.DB) []int {
	tb.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return vs
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpen(t)
	first := appliedMigrations(t, db)
	if len(first) == 0 {
		t.Fatal("no migration recorded")
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if again := appliedMigrations(t, db); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("second migrate recorded %v, first %v", again, first)
	}
}

// TestMigrateConcurrent runs Migrate from several processes' worth of pools
// at once on an empty database, as gosling migrate and serve may.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Start(t)
	const n = 4
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		dbs[i] = mustOpenURL(t, url)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
	vs := appliedMigrations(t, dbs[0])
	for i := range vs {
		if vs[i] != i+1 {
			t.Fatalf("recorded versions %v, want 1..%d once each", vs, len(vs))
		}
	}
	// The store works on the result.
	storetest.MustCreateDevice(t, dbs[0], "acme", "dev-1")
}

// TestMigrateFailure checks that a migration failing half-way leaves no
// trace and keeps the ones before it.
func TestMigrateFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenURL(t, pgtest.Start(t))
	fsys := fstest.MapFS{
		"migrations/001_one.sql": {Data: []byte(`CREATE TABLE one (id int); INSERT INTO one VALUES (1);`)},
		"migrations/002_two.sql": {Data: []byte(`CREATE TABLE two (id int); INSERT INTO two VALUES ('not a number');`)},
	}
	if err := db.MigrateFS(ctx, fsys); err == nil {
		t.Fatal("migrate with a broken migration: no error")
	}
	if vs := appliedMigrations(t, db); fmt.Sprint(vs) != "[1]" {
		t.Fatalf("recorded %v, want [1]", vs)
	}
	var two *string
	if err := db.Pool().QueryRow(ctx, `SELECT to_regclass('two')::text`).Scan(&two); err != nil {
		t.Fatal(err)
	}
	if two != nil {
		t.Fatal("table of the failed migration exists")
	}
	// Fixed, the run completes.
	fsys["migrations/002_two.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE two (id int);`)}
	if err := db.MigrateFS(ctx, fsys); err != nil {
		t.Fatal(err)
	}
	if vs := appliedMigrations(t, db); fmt.Sprint(vs) != "[1 2]" {
		t.Fatalf("recorded %v, want [1 2]", vs)
	}
}

func TestMigrationNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenURL(t, pgtest.Start(t))
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"migrations/init.sql": {Data: []byte(`SELECT 1`)}},
		"duplicate": {
			"migrations/001_a.sql": {Data: []byte(`SELECT 1`)},
			"migrations/01_b.sql":  {Data: []byte(`SELECT 1`)},
		},
	} {
		if err := db.MigrateFS(ctx, fsys); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// benchSizes are the batch sizes the feedback benchmarks compare.
var benchSizes = []int{10, 100, 1000}

// BenchmarkWriteFeedback compares ways of writing a batch of feedback rows
// in one transaction: multi-row INSERT … VALUES, INSERT … SELECT FROM
// unnest(arrays), and binary COPY.
func BenchmarkWriteFeedback(b *testing.B) {
	ctx := context.Background()
	db := MustOpen(b)
	action := mustOpenAction(b, db, "acme", "bench-0")
	id := int64(1 << 40) // far above the sequence; every row needs a new id
	for _, strategy := range postgres.FeedbackStrategies {
		for _, n := range benchSizes {
			b.Run(strategy+"/"+strconv.Itoa(n), func(b *testing.B) {
				rows := postgres.MakeFeedbackRows(action.ID, n)
				b.ReportAllocs()
				for b.Loop() {
					if err := db.WriteFeedbackVia(ctx, strategy, rows, id); err != nil {
						b.Fatal(err)
					}
					id += int64(n)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
			})
		}
	}
}

// BenchmarkRecordFeedback measures the whole feedback path with the
// suite's shared body, so the numbers compare with schema/sqlite's.
func BenchmarkRecordFeedback(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) { storetest.BenchRecordFeedback(b, MustOpen(b), n) })
	}
}

// BenchmarkTouchDevices measures a last-seen flush of n devices.
func BenchmarkTouchDevices(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) { storetest.BenchTouchDevices(b, MustOpen(b), n) })
	}
}

// mustOpenAction creates a device, a software and an open action for it.
func mustOpenAction(tb testing.TB, db *postgres.DB, tenant, deviceID string) *schema.Action {
	tb.Helper()
	ctx := context.Background()
	d := storetest.MustCreateDevice(tb, db, tenant, deviceID)
	sw := &schema.Software{Tenant: tenant, Version: "1.0." + deviceID, Filename: "fw.swu"}
	if err := db.CreateSoftware(ctx, sw); err != nil {
		tb.Fatal(err)
	}
	a := &schema.Action{Tenant: tenant, DeviceID: d.ID, SoftwareID: sw.ID}
	if err := db.CreateAction(ctx, a); err != nil {
		tb.Fatal(err)
	}
	return a
}
