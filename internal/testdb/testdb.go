// Package testdb gives each test a fresh, migrated database with the region
// tree: a temporary SQLite file by default, or a private schema on the
// PostgreSQL server named by JIUZHU_TEST_PG, so the same tests run on both.
package testdb

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

var (
	treeOnce sync.Once
	tree     *region.Tree
	treeErr  error
)

// Tree returns the region tree, loaded once per test binary.
func Tree(t testing.TB) *region.Tree {
	treeOnce.Do(func() { tree, treeErr = region.Load() })
	if treeErr != nil {
		t.Fatal(treeErr)
	}
	return tree
}

// PGURL is the PostgreSQL server tests use, "" for SQLite only.
func PGURL() string { return os.Getenv("JIUZHU_TEST_PG") }

// Open returns a migrated database holding the region tree; it is removed when
// the test ends.
func Open(t testing.TB) *db.DB {
	t.Helper()
	ctx := context.Background()
	url := URL(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Tree(t).Store(ctx, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// URL creates an empty database (a SQLite file or a PostgreSQL schema) and
// returns the URL that opens it.
func URL(t testing.TB) string {
	t.Helper()
	pg := PGURL()
	if pg == "" {
		return filepath.Join(t.TempDir(), "test.db")
	}
	url, drop, err := db.Scratch(context.Background(), pg, "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return url
}
