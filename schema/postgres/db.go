// Package postgres implements schema.Store on PostgreSQL through pgx
// (github.com/jackc/pgx/v5) and its connection pool, pgxpool.
//
// # Connections
//
// A DB is one pgxpool.Pool. Statements run in pgx's default exec mode,
// which prepares each distinct SQL text once per connection and caches it,
// so the hot paths (poll reads by primary key, feedback batches, last-seen
// flushes) cost one round trip without re-planning. Behind a transaction
// pooler that cannot keep prepared statements (PgBouncer in transaction
// mode) add default_query_exec_mode=exec to the URL.
//
// # Schema
//
// Open does not change the schema; Migrate applies the embedded migrations,
// so "gosling migrate" and every "gosling serve"/"control" process may run
// it at the same time: an advisory lock makes them take turns.
//
// # Storage
//
// Timestamps are timestamptz, read back in UTC; the store truncates the
// times it is given to milliseconds, as schema/sqlite does, so both stores
// return the same values and what a store returns equals what it later
// reads. Attributes, hardware rules, feedback details, poll settings and
// rollout targets, waves and windows are jsonb; device tags are a text[]
// with a GIN index (see migrations/002_rollouts.sql).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gosling-ota/gosling/schema"
)

var _ schema.Store = (*DB)(nil)

// DB is a schema.Store on a Postgres database. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	// unicodeLower says that the server can fold case like
	// strings.ToLower: a UTF8 database with ICU's root collation.
	unicodeLower bool
}

// where starts a statement's conditions.
func (db *DB) where() where { return where{unicodeLower: db.unicodeLower} }

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN, as pgx parses them) and checks that it answers. Pool settings given
// in the URL (pool_max_conns, pool_max_conn_lifetime, …) win over the
// defaults here. Open does not migrate: call Migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("open postgres: cannot parse the database URL")
	}
	// pgxpool's default of max(4, NumCPU) connections is tight for a
	// frontline whose feedback and last-seen batches run next to cache-miss
	// reads; Postgres copes well with a few dozen connections per process.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 2*runtime.GOMAXPROCS(0)))
	}
	if !strings.Contains(url, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "gosling"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	db := &DB{pool: pool}
	// PostgreSQL built without ICU (rare: the Debian, RPM, Docker and
	// managed-service builds have it) falls back to lower() that folds
	// ASCII only.
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_encoding') = 'UTF8'
		AND EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')`).Scan(&db.unicodeLower); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return db, nil
}

// Close closes the pool, waiting for connections in use to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool returns the underlying pool, for health checks and metrics
// (pool.Stat()). Callers must not change the schema through it.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Migrations.

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is a schema.Migration (see schema.LoadMigrations).
type migration = schema.Migration

// migrations returns the migrations of fsys (migrations/*.sql) ordered by
// version. Files are named NNN_name.sql; versions must be unique.
func migrations(fsys fs.FS) ([]migration, error) { return schema.LoadMigrations(fsys) }

// migrateLockID is the key of the transaction-level advisory lock that
// serializes migrations across processes: the first 8 bytes of
// sha256("gosling.schema_migrations") read as a big-endian int64, so that it
// is unlikely to collide with another application's lock on the same
// database.
const migrateLockID int64 = 0x2145_f848_cca9_6346

// Migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction together with its record.
// Every transaction first takes an advisory lock (pg_advisory_xact_lock,
// released at commit or rollback), so concurrent Migrate calls from several
// processes take turns and each sees the others' records; running it again
// is a no-op, and an interrupted run leaves whole migrations applied or not.
// Postgres DDL is transactional, so a migration that fails half-way leaves
// no trace.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, migrationFS)
}

func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := migrations(fsys)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if err := db.migrateOne(ctx, m); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	return nil
}

// migrateOne applies m unless it is recorded. The bookkeeping table is
// created under the lock too: two processes running CREATE TABLE IF NOT
// EXISTS at the same moment can otherwise both pass the check and one fail
// on the catalog's unique index.
func (db *DB) migrateOne(ctx context.Context, m migration) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text    NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
			m.Version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		// Without arguments pgx sends the file over the simple protocol,
		// which runs a script of several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
		return err
	})
}

// Transactions.

// update runs fn in a read-committed transaction and commits it if fn
// returns nil. A transaction Postgres aborts as a deadlock victim or for a
// serialization failure runs again (see retry), so fn must start from
// scratch each time: read what it needs, and overwrite, not append to,
// anything it hands out.
func (db *DB) update(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, func() error { return pgx.BeginFunc(ctx, db.pool, fn) })
}

// view runs fn in a read-only repeatable-read transaction, so that several
// queries (a page and its total count) see the same snapshot.
func (db *DB) view(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{
		IsoLevel:   pgx.RepeatableRead,
		AccessMode: pgx.ReadOnly,
	}, fn)
}

// retry runs fn, which must be a whole transaction or a single statement,
// up to three times while it fails only because it lost a race with a
// concurrent transaction (see retryable): Postgres aborted it, so nothing of
// it is stored, and running it again is safe.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
			}
		}
		if err = fn(); !retryable(err) {
			return err
		}
	}
	return err
}

// Helpers.

// queryer is what *pgxpool.Pool and pgx.Tx have in common.
type queryer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

// wrap adds context to errors that are not schema errors, which already
// speak to a person. A database that cannot be reached or is shutting down
// is EUNAVAILABLE (the APIs answer 429/503: retry later), not an internal
// error; the cause stays in the chain for the log.
func wrap(what string, err error) error {
	var se *schema.Error
	if err == nil || errors.As(err, &se) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, errUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

var errUnavailable = schema.Errorf(schema.EUNAVAILABLE, "the database is unavailable, retry later")

// unavailable reports whether err says that the database could not be
// reached or went away, rather than that the statement was wrong: a failed
// connect, a broken connection, or SQLSTATE class 08 (connection
// exception), 57P01–57P03 (shutting down, starting up) or 53300 (too many
// connections).
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	switch c := pgCode(err); {
	case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03", c == "53300":
		return true
	}
	return false
}

// SQLSTATE codes the store maps to schema errors or retries on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeSerializationFail   = "40001"
	codeDeadlockDetected    = "40P01"
)

// pgCode returns the SQLSTATE of a Postgres error in err's chain, or "".
func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// pgConstraint returns the constraint a Postgres error names, or "".
func pgConstraint(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.ConstraintName
	}
	return ""
}

func isUnique(err error) bool     { return pgCode(err) == codeUniqueViolation }
func isForeignKey(err error) bool { return pgCode(err) == codeForeignKeyViolation }

// retryable reports whether a transaction failed only because it lost a
// race with another one (deadlock victim, serialization failure) and may
// simply run again.
func retryable(err error) bool {
	c := pgCode(err)
	return c == codeDeadlockDetected || c == codeSerializationFail
}

// now is the store's clock, at the precision it stores.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// ms truncates t to the stored precision, in UTC.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = ms(t)
	return &t
}

// fromNullTime reads a nullable timestamptz back in UTC, NULL as zero.
func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
