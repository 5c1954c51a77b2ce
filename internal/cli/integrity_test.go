package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"jiuzhu/internal/config"
	"jiuzhu/internal/server"
	"jiuzhu/internal/testdb"
)

// TestIntegrityPlantNeedsSynthetic: `jiuzhu integrity plant` refuses to write
// fake cases and payments unless -synthetic says the database holds synthetic
// data; with it, it plants and leaves one audit entry with the counts.
func TestIntegrityPlantNeedsSynthetic(t *testing.T) {
	ctx := context.Background()
	common := []string{"-data", t.TempDir()}
	if url := testdb.URL(t); strings.HasPrefix(url, "postgres") {
		common = append(common, "-db", url)
	}
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := integrityCmd(ctx, append(append([]string{"plant"}, common...), args...), &out, &errOut)
		return out.String(), err
	}
	if _, err := run("-county", "360124000000"); err == nil || !strings.Contains(err.Error(), "-synthetic") {
		t.Fatalf("plant without -synthetic: %v", err)
	}
	cfg := config.Defaults()
	cfg.DataDir = common[1]
	if len(common) > 2 {
		cfg.DB = common[3]
	}
	count := func(q string) int {
		app, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		var n int
		if err := app.DB.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT COUNT(*) FROM households WHERE hh_no LIKE 'PL%'`); n != 0 {
		t.Fatalf("refused plant wrote %d households", n)
	}
	out, err := run("-synthetic", "-county", "360124000000")
	if err != nil || !strings.Contains(out, `"expected"`) {
		t.Fatalf("plant -synthetic: %v\n%s", err, out)
	}
	if n := count(`SELECT COUNT(*) FROM audit_log WHERE action = 'integrity.plant' AND detail LIKE '%"payment_lines":%'`); n != 1 {
		t.Fatalf("%d plant audit entries", n)
	}
}
