package bench

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"jiuzhu/internal/db"
	"jiuzhu/internal/testdb"
)

func TestRegistryNeedsPostgres(t *testing.T) {
	err := Registry(context.Background(), &bytes.Buffer{}, "data/jiuzhu.db", 0.001)
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegistry(t *testing.T) {
	url := testdb.PGURL()
	if url == "" {
		t.Skip("JIUZHU_TEST_PG not set")
	}
	ctx := context.Background()
	admin, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schemas := func() int {
		var n int
		if err := admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'bench\_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := schemas()
	var out bytes.Buffer
	if err := Registry(ctx, &out, url, 0.0005); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	result := regexp.MustCompile(`^RESULT registry ours=\d+\.\d{3} baseline=\d+\.\d{3} ratio=\d+\.\d{2}$`)
	if !result.MatchString(lines[len(lines)-1]) || strings.Count(out.String(), "RESULT") != 1 {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	for _, want := range []string{"load, ours", "load, baseline", "lookup by ID number", "household page"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q figure", want)
		}
	}
	if after := schemas(); after != before {
		t.Errorf("%d bench schemas left behind", after-before)
	}
}
