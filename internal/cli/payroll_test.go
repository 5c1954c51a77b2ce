package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/config"
	"jiuzhu/internal/server"
	"jiuzhu/internal/testdb"
)

// TestPayrollPricesCommand lists, enters and refuses price indices through
// `jiuzhu payroll prices`.
func TestPayrollPricesCommand(t *testing.T) {
	ctx := context.Background()
	common := []string{"-data", t.TempDir()}
	if url := testdb.URL(t); strings.HasPrefix(url, "postgres") {
		common = append(common, "-db", url)
	}
	cfg := config.Defaults()
	cfg.DataDir = common[1]
	if len(common) > 2 {
		cfg.DB = common[3]
	}
	app, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name   string
		region string
	}{{"sup_p", "360000000000"}, {"sup_nc", "360100000000"}} {
		if _, err := app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: u.name, Role: auth.Supervisor, Region: u.region, Password: "test-pass-2026"}); err != nil {
			t.Fatal(err)
		}
	}
	app.Close()
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := payrollCmd(ctx, append(append([]string{"prices"}, common...), args...), &out, &errOut)
		return out.String(), err
	}

	if out, err := run("-as", "sup_nc"); err != nil || !strings.Contains(out, "no price indices entered") {
		t.Errorf("empty list: %v %s", err, out)
	}
	if _, err := run("-as", "sup_p", "-month", "2026-02", "-cpi", "3.6", "-food", "2.0"); err == nil || !strings.Contains(err.Error(), "-released") {
		t.Errorf("without -released: %v", err)
	}
	if _, err := run("-as", "sup_nc", "-month", "2026-02", "-cpi", "3.6", "-food", "2.0", "-released", "2026-03-10"); err == nil || !strings.Contains(err.Error(), "省级") {
		t.Errorf("a city entered the index: %v", err)
	}
	if _, err := run("-as", "sup_p", "-month", "2026-02", "-cpi", "3.6", "-food", "2.0", "-released", "2026-02-27"); err == nil || !strings.Contains(err.Error(), "发布日期应在指数所属月份之后") {
		t.Errorf("released inside its month: %v", err)
	}
	out, err := run("-as", "sup_p", "-month", "2026-02", "-cpi", "3.6", "-food", "2.0", "-released", "2026-03-10")
	if err != nil || !strings.Contains(out, "price index 2026-02 entered: CPI 3.60%, food 2.00%, released 2026-03-10; used by the 2026-03 runs") {
		t.Fatalf("enter: %v %s", err, out)
	}
	if out, err := run("-as", "sup_nc"); err != nil || !strings.Contains(out, "2026-02") || !strings.Contains(out, "3.60%") || !strings.Contains(out, "sup_p") {
		t.Errorf("list: %v %s", err, out)
	}
	if err := payrollCmd(ctx, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "payroll prices") {
		t.Errorf("usage: %v", err)
	}
}
