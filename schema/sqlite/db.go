// Package sqlite implements schema.Store on an embedded SQLite file through
// the pure-Go driver modernc.org/sqlite (no cgo).
//
// # Connections
//
// SQLite allows one writer at a time. Letting several pooled connections
// race for the write lock makes them fail with SQLITE_BUSY (or sleep in the
// busy handler), so a DB keeps two pools:
//
//   - a write pool of exactly one connection, whose transactions begin with
//     BEGIN IMMEDIATE (_txlock=immediate): writers queue in database/sql, in
//     process, and a write transaction takes the lock before its first read,
//     so it can never fail half-way on a lock upgrade;
//   - a read pool of several query_only connections, which in WAL mode read a
//     consistent snapshot without blocking the writer or each other.
//
// busy_timeout still covers other processes (gosling migrate, the sqlite3
// shell) touching the same file.
//
// # Durability
//
// The journal is WAL with synchronous=NORMAL: a committed transaction
// survives the process being killed at any point, and the file is never
// corrupted, but the last transactions before a power loss or OS crash may be
// rolled back, because WAL is synced only at checkpoints. That is the
// embedded, single-box default; deployments that must not lose acknowledged
// feedback on power loss run Postgres.
//
// # Storage
//
// Timestamps are INTEGER unix milliseconds, read back in UTC; the store
// truncates the times it is given to milliseconds, so what it returns equals
// what it later reads. Attributes, hardware rules and feedback details are
// JSON text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gosling-ota/gosling/schema"
)

var _ schema.Store = (*DB)(nil)

// busyTimeout bounds how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// DB is a schema.Store on one SQLite file. It is safe for concurrent use.
type DB struct {
	path string
	w    *sql.DB // one connection, BEGIN IMMEDIATE: all writes
	r    *sql.DB // query_only connections: all reads outside write transactions

	// Statements of the hot write paths, prepared once on the single write
	// connection and bound to each transaction with tx.StmtContext, which
	// reuses the prepared statement instead of compiling the SQL again.
	touchStmt       *sql.Stmt
	actionStmt      *sql.Stmt
	insFeedbackStmt *sql.Stmt
	updActionStmt   *sql.Stmt
	closeDeviceStmt *sql.Stmt
}

// Open opens (creating if needed) the SQLite database at path and applies
// the migrations it lacks. path must name a file: the read and write pools
// need to share it, which an in-memory database cannot do.
func Open(ctx context.Context, path string) (*DB, error) {
	// The DSN is the plain path followed by the driver's query parameters,
	// so the path needs no URI escaping, but it cannot contain '?'.
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("open sqlite: path %q must be a plain file path without '?'", path)
	}
	db := &DB{path: path}

	pragmas := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "temp_store(MEMORY)")
		for _, e := range extra {
			q.Add("_pragma", e)
		}
		return q.Encode()
	}
	// journal_mode(WAL) is persistent in the file; the writer sets it before
	// anything else touches the database.
	var err error
	db.w, err = sql.Open("sqlite", path+"?"+pragmas("journal_mode(WAL)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	if err := db.w.PingContext(ctx); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ms, err := migrations()
	if err != nil {
		db.w.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := db.migrate(ctx, ms); err != nil {
		db.w.Close()
		return nil, err
	}

	db.r, err = sql.Open("sqlite", path+"?"+pragmas("query_only(1)"))
	if err != nil {
		db.w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(n)
	db.r.SetMaxIdleConns(n)

	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&db.touchStmt, touchSQL},
		{&db.actionStmt, `SELECT ` + actionColumns + ` FROM actions WHERE id = ? AND tenant = ?`},
		{&db.insFeedbackStmt, insertFeedbackSQL},
		{&db.updActionStmt, updateActionSQL},
		{&db.closeDeviceStmt, closeDeviceSQL},
	} {
		s, err := db.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("open sqlite: prepare: %w", err)
		}
		*p.stmt = s
	}
	return nil
}

// Close closes both pools. It checkpoints nothing explicitly: the last
// connection to close checkpoints and removes the WAL file.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.touchStmt, db.actionStmt, db.insFeedbackStmt, db.updActionStmt, db.closeDeviceStmt} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		_, _ = db.w.Exec("PRAGMA optimize")
		errs = append(errs, db.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite %s: %w", db.path, err)
	}
	return nil
}

// Migrations.

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is a schema.Migration (see schema.LoadMigrations).
type migration = schema.Migration

// migrations returns the embedded migrations ordered by version. Files are
// named NNN_name.sql; versions must be unique.
func migrations() ([]migration, error) { return schema.LoadMigrations(migrationFS) }

// migrate applies the migrations not yet recorded in schema_migrations, each
// in its own IMMEDIATE transaction together with its record: a run that is
// interrupted leaves whole migrations applied or not, a second process
// migrating at the same time waits for the lock and then sees the record,
// and running again is a no-op.
func (db *DB) migrate(ctx context.Context, ms []migration) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		err := db.update(ctx, func(tx *sql.Tx) error {
			var done bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, millis(now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	return nil
}

// Transactions.

// update runs fn in a write transaction (BEGIN IMMEDIATE on the single write
// connection) and commits it if fn returns nil. fn must do all its database
// work through tx: the write pool has no second connection to give.
func (db *DB) update(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// view runs fn in a read transaction, so that several queries (a page and
// its total count) see the same snapshot.
func (db *DB) view(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Helpers.

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// wrap adds context to errors that are not schema errors, which already
// speak to a person.
func wrap(what string, err error) error {
	var se *schema.Error
	if err == nil || errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// now is the store's clock, at the precision it stores.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func millis(t time.Time) int64 { return t.UnixMilli() }

// nullMillis stores the zero time as NULL.
func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMillis(n.Int64)
}

func marshalJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
