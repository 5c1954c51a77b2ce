// Package db opens the embedded SQLite or a PostgreSQL database, applies the
// migrations of each dialect and offers the few helpers that differ between them
// (bulk load, transactions with retries).
package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the shared handle: one *sql.DB for the hand-written SQL common to both
// dialects, and on PostgreSQL the pgx pool for COPY.
type DB struct {
	*sql.DB
	Dialect Dialect
	pool    *pgxpool.Pool
	// URL is what the database was opened from, with any password removed.
	URL string
}

// Open opens a database from a URL: postgres:// or postgresql:// for PostgreSQL,
// anything else is a SQLite file path (sqlite:// prefix optional).
func Open(ctx context.Context, url string) (*DB, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return openPostgres(ctx, url)
	}
	return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("db: create data folder: %w", err)
		}
	}
	// busy_timeout must come first so the other pragmas already wait for locks;
	// immediate transactions take the write lock at BEGIN, so two writers queue
	// instead of failing when a read lock would have to be upgraded.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-32000)&_txlock=immediate&_time_format=sqlite"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(8)
	sqldb.SetConnMaxIdleTime(time.Minute)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	return &DB{DB: sqldb, Dialect: SQLite, URL: path}, nil
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse postgres URL: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect postgres %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	safe := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	return &DB{DB: stdlib.OpenDBFromPool(pool), Dialect: Postgres, pool: pool, URL: safe}, nil
}

// Close closes the database and, on PostgreSQL, the pool.
func (d *DB) Close() error {
	err := d.DB.Close()
	if d.pool != nil {
		d.pool.Close()
	}
	return err
}

// Tx runs fn in a transaction, committing when fn returns nil.
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		if ctx.Err() != nil {
			// a cancelled context rolls the transaction back before Commit
			// runs; say so rather than "already rolled back"
			return fmt.Errorf("db: commit: %w", ctx.Err())
		}
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// LockKey serialises transactions that use the same key until they end: an
// advisory lock on PostgreSQL; on SQLite every write transaction is already
// exclusive (immediate), so nothing is needed.
func (d *DB) LockKey(ctx context.Context, tx *sql.Tx, key string) error {
	if d.Dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, key); err != nil {
		return fmt.Errorf("db: lock %s: %w", key, err)
	}
	return nil
}

// Querier is what both *sql.DB and *sql.Tx offer, so store code runs inside or
// outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Each runs a query and calls fn with a scanner for every row: the loop, its
// closing and its error in one place for the code that streams many rows.
func Each(ctx context.Context, q Querier, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CopyFrom bulk-loads rows into table: COPY on PostgreSQL, one prepared INSERT in
// a single transaction on SQLite. next returns false when there are no more rows.
func (d *DB) CopyFrom(ctx context.Context, table string, columns []string, next func() ([]any, bool, error)) (int64, error) {
	if d.Dialect == Postgres {
		src := &copySource{next: next}
		n, err := d.pool.CopyFrom(ctx, pgx.Identifier{table}, columns, src)
		if err == nil {
			err = src.err
		}
		if err != nil {
			return n, fmt.Errorf("db: copy into %s: %w", table, err)
		}
		return n, nil
	}
	var n int64
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		ph := make([]string, len(columns))
		for i := range ph {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		stmt, err := tx.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(columns, ",")+") VALUES ("+strings.Join(ph, ",")+")")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for {
			row, ok, err := next()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if _, err := stmt.ExecContext(ctx, row...); err != nil {
				return err
			}
			n++
		}
	})
	if err != nil {
		return n, fmt.Errorf("db: bulk insert into %s: %w", table, err)
	}
	return n, nil
}

// Pool is the pgx pool on PostgreSQL, nil on SQLite; only bulk paths and
// benchmarks need it.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

type copySource struct {
	next func() ([]any, bool, error)
	row  []any
	err  error
}

func (c *copySource) Next() bool {
	row, ok, err := c.next()
	if err != nil {
		c.err = err
		return false
	}
	c.row = row
	return ok
}
func (c *copySource) Values() ([]any, error) { return c.row, nil }
func (c *copySource) Err() error             { return c.err }

// IsUniqueViolation reports whether err is a unique-constraint failure in either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState() == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Scratch creates an empty schema named prefix_<random> on the PostgreSQL
// server of url and returns the URL that opens it (search_path set) and a
// function that drops it. Tests and benchmarks work in scratch schemas so
// they never touch one another's tables.
func Scratch(ctx context.Context, url, prefix string) (string, func(), error) {
	admin, err := Open(ctx, url)
	if err != nil {
		return "", nil, err
	}
	tag := make([]byte, 6)
	rand.Read(tag)
	schema := prefix + "_" + hex.EncodeToString(tag)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("db: create schema %s: %w", schema, err)
	}
	drop := func() {
		admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema, drop, nil
}
