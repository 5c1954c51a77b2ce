package server_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
)

// TestPayrollThroughAPIAndPages runs a county's month through the API (maker),
// refuses the maker's own approval, approves it as the second person through
// the web form, and checks the pages and another county's view.
func TestPayrollThroughAPIAndPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opts := gen.Options{Scale: 0.01, Seed: 5, Regions: []string{countyA}, Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, e.app.DB, e.app.Tree, e.app.Keys, opts); err != nil {
		t.Fatal(err)
	}
	st, err := payroll.SeedEntitlements(ctx, e.app.DB, e.app.Tree, opts, "2026-03")
	if err != nil || st.Cases == 0 {
		t.Fatalf("seed: %v %+v", err, st)
	}
	if err := payroll.SeedDemo(ctx, e.app.DB, e.app.Tree, []string{countyA}, 2026); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"maker_a", auth.CountyApprover, countyA}, {"finance_a", auth.CountyFinance, countyA}, {"maker_b", auth.CountyApprover, countyB}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	maker := e.login("maker_a")
	code, run := e.api(maker, "POST", "/api/v1/payroll/runs", map[string]any{"month": "2026-03", "county": countyA})
	if code != 200 || run["state"] != "built" || int64(run["total_fen"].(float64)) != st.MonthFen {
		t.Fatalf("start: %d %v", code, run)
	}
	id := int64(run["id"].(float64))
	if code, out := e.api(maker, "POST", fmt.Sprintf("/api/v1/payroll/runs/%d/check", id), map[string]any{"version": run["version"], "approve": true}); code != 403 {
		t.Fatalf("maker approved: %d %v", code, out)
	}
	if code, out := e.api(e.login("maker_b"), "GET", fmt.Sprintf("/api/v1/payroll/runs/%d", id), nil); code != 404 {
		t.Fatalf("other county: %d %v", code, out)
	}
	if code, out := e.api(maker, "POST", "/api/v1/payroll/runs", map[string]any{"month": "2026-3", "county": countyA}); code != 422 || errCode(out) != "invalid_month" {
		t.Fatalf("bad month: %d %v", code, out)
	}
	b := e.browse("finance_a")
	code, page := b.get(fmt.Sprintf("/payroll/runs/%d", id))
	if code != 200 || !strings.Contains(page, "check-form") || !strings.Contains(page, "存量待遇导入") {
		t.Fatalf("run page: %d", code)
	}
	v := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(page)
	code, page = b.post(fmt.Sprintf("/payroll/runs/%d/check", id), url.Values{"csrf": {b.csrf()}, "version": {v[1]}, "approve": {"yes"}})
	if code != 200 || !strings.Contains(page, "已复核批准") {
		t.Fatalf("approve: %d", code)
	}
	mb := e.browse("maker_a")
	code, page = mb.post(fmt.Sprintf("/payroll/runs/%d/bank-files", id), url.Values{"csrf": {mb.csrf()}})
	if code != 200 || !strings.Contains(page, "bank-files") || !strings.Contains(page, "JZ") {
		t.Fatalf("bank files: %d", code)
	}
	for _, p := range []string{"/payroll", "/payroll/ledgers", fmt.Sprintf("/payroll/runs/%d/export?kind=summary", id)} {
		if code, _ := mb.get(p); code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
	}
}
