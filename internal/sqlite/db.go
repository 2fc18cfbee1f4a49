// Package sqlite implements patchbay.Store on SQLite, through the pure-Go
// driver modernc.org/sqlite.
//
// # Connections
//
// A DB holds two connection pools on the same file:
//
//   - a writer pool limited to one connection. Every write runs in a
//     transaction on it, begun with BEGIN IMMEDIATE. Concurrent writers
//     therefore queue in database/sql (honouring their context) instead of
//     racing for SQLite's write lock, so a busy server never sees
//     SQLITE_BUSY from its own writes, and a deferred transaction can never
//     fail to upgrade from read to write half-way.
//   - a reader pool of several query_only connections. The database is in
//     WAL mode, so readers see the last committed state and neither block
//     the writer nor wait for it.
//
// busy_timeout is still set (5 s) for what the pools cannot order: WAL
// checkpoints and another process (a CLI) on the same file. Writes use
// synchronous=NORMAL: a commit is durable against a crash of the process
// and, after the next checkpoint, against a power loss.
//
// # Values
//
// Times are stored as INTEGER unix nanoseconds and read back in UTC, so
// they round-trip exactly; 0 stands for the zero time.Time. Host.Status is
// never stored nor set: callers derive it with Host.StatusAt(now). Lists
// returned are never nil, except inside an Inventory, where a list the
// agent sent as null stays nil so that ContentHash gives the stored hash.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	write  *sql.DB // exactly one connection
	read   *sql.DB // query_only connections
	logger *slog.Logger
	pkgs   *packageCache
	// prepared holds the statements of the hot write paths, prepared once
	// on the writer connection: with modernc.org/sqlite preparing costs
	// more than running most of them.
	prepared map[string]*sql.Stmt
}

// writeQueries are the statements prepared at Open.
func writeQueries() []string {
	return []string{qSelectPackageVersion, qInsertPackageVersion, qInventoryState, qHostPackageIDs,
		qDeleteHostPackages, qInsertHostPackages, qHostUpdates, qUpsertHostUpdate, qDeleteHostUpdate, qUpdateFirstSeen,
		qSaveInventoryFacts, qInsertEvent}
}

// stmt returns the prepared statement for query, bound to tx. Asking for a
// query that is not in writeQueries is a bug in this package.
func (db *DB) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	st, ok := db.prepared[query]
	if !ok {
		panic("sqlite: statement not prepared at Open: " + query)
	}
	return tx.StmtContext(ctx, st)
}

var _ patchbay.Store = (*DB)(nil)

// Open opens the database at path, creating it if needed, and applies the
// migrations it lacks. A nil logger discards.
func Open(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" || strings.ContainsAny(path, "?#") || path == ":memory:" {
		return nil, patchbay.Errorf(patchbay.EINVALID, "sqlite: invalid database path %q (a file path without '?' or '#')", path)
	}
	common := "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=temp_store(memory)"
	write, err := sql.Open("sqlite", path+"?"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-131072)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	db := &DB{write: write, logger: logger, pkgs: newPackageCache(), prepared: map[string]*sql.Stmt{}}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for _, q := range writeQueries() {
		st, err := write.PrepareContext(ctx, q)
		if err != nil {
			db.closePrepared()
			write.Close()
			return nil, fmt.Errorf("open %s: prepare: %w", path, err)
		}
		db.prepared[q] = st
	}

	read, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)&_pragma=cache_size(-16384)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		db.closePrepared()
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.read = read
	return db, nil
}

// Close closes both pools. The writer goes last so that its close
// checkpoints the WAL into the database file.
func (db *DB) Close() error {
	return errors.Join(db.closePrepared(), db.read.Close(), db.write.Close())
}

func (db *DB) closePrepared() error {
	var errs []error
	for _, st := range db.prepared {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// writeTx runs fn in a write transaction, committing if it returns nil.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, db.write, fn)
}

// readTx runs fn in a transaction on the reader pool, so that the queries
// of one method see one snapshot.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, db.read, fn)
}

func runTx(ctx context.Context, pool *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// nanos converts t to the stored form: unix nanoseconds, 0 for zero.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// isUnique reports whether err is a violation of a UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
