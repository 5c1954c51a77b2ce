package db_test

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"jiuzhu/internal/db"
	"jiuzhu/internal/testdb"
)

// TestDialectParity checks that both migration folders carry the same versions
// and create the same tables with the same columns, so one SQL text serves both.
func TestDialectParity(t *testing.T) {
	pg, err := db.Migrations(db.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := db.Migrations(db.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) {
		t.Fatalf("%d postgres migrations, %d sqlite", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Version != lite[i].Version || pg[i].Name != lite[i].Name {
			t.Fatalf("migration %d: %s vs %s", i, pg[i].Name, lite[i].Name)
		}
		if a, b := columns(pg[i].SQL), columns(lite[i].SQL); a != b {
			t.Errorf("%s: tables differ\npostgres: %s\nsqlite:   %s", pg[i].Name, a, b)
		}
	}
}

var tableRe = regexp.MustCompile(`(?s)CREATE TABLE (\w+) \((.*?)\n\);`)

// columns summarises "table(col,col,...)" from CREATE TABLE statements.
func columns(sql string) string {
	var out []string
	for _, m := range tableRe.FindAllStringSubmatch(sql, -1) {
		var cols []string
		for _, line := range strings.Split(m[2], "\n") {
			f := strings.Fields(line)
			if len(f) > 0 {
				cols = append(cols, f[0])
			}
		}
		out = append(out, m[1]+"("+strings.Join(cols, ",")+")")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	d := testdb.Open(t)
	n, err := d.Migrate(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("second migrate applied %d: %v", n, err)
	}
	ok, err := d.SchemaCurrent(context.Background())
	if err != nil || !ok {
		t.Fatalf("schema not current: %v", err)
	}
}
