package payroll_test

import (
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/money"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/testdb"
)

func TestPriceSubsidyFollowsTheIndex(t *testing.T) {
	f := newFixture(t)
	tree := testdb.Tree(t)
	base, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	pol := &policydb.Store{DB: f.d, Tree: tree, Base: base}
	if _, err := pol.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f.svc.Params = pol
	f.svc.Now = func() time.Time { return time.Date(2026, 4, 20, 2, 0, 0, 0, time.UTC) }
	as := &auth.Service{DB: f.d, Tree: tree}
	province, err := as.Create(ctx, nil, auth.NewUser{Username: "shengji", DisplayName: "省级", Role: auth.Supervisor, Region: "360000000000", Password: "test-pass-2026"})
	if err != nil {
		t.Fatal(err)
	}
	city, err := as.Create(ctx, nil, auth.NewUser{Username: "shiji", DisplayName: "市级", Role: auth.Supervisor, Region: "360100000000", Password: "test-pass-2026"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EnterPriceIndex(ctx, city, "2025-12", 3.6, 2.0, "2026-01-12"); code(err) != "forbidden" {
		t.Errorf("a city entered the index: %v", err)
	}
	if _, err := f.svc.EnterPriceIndex(ctx, province, "2025-12", 3.6, 2.0, "2025-12-10"); code(err) != "bad_release" {
		t.Errorf("released inside its own month: %v", err)
	}
	if _, err := f.svc.EnterPriceIndex(ctx, province, "2025-12", 3.6, 2.0, "2026-01-12"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EnterPriceIndex(ctx, province, "2026-01", 2.0, 5.9, "2026-02-11"); err != nil {
		t.Fatal(err)
	}

	// January pays on December's CPI of 3.6% (threshold 3%): per person the
	// standard × 3.6%, rounded to whole yuan, for dibao (each member), extreme
	// poverty and orphans
	run, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil {
		t.Fatal(err)
	}
	jan, _ := time.Parse("2006-01", "2026-01")
	want := map[string]int64{}
	for _, hukou := range []string{"urban", "rural"} {
		std, err := pol.Resolve(ctx, "dibao.standard."+hukou, county, jan)
		if err != nil {
			t.Fatal(err)
		}
		want[hukou] = int64(money.Fen(std.Int * 360 / 10000).RoundYuan())
	}
	rates, err := f.svc.PriceRates(ctx, f.maker, run.ID)
	if err != nil || len(rates) != 8 {
		t.Fatalf("rates: %v %+v", err, rates)
	}
	for _, r := range rates {
		if r.PerPersonFen != want[r.Hukou] || !strings.Contains(r.Basis, "3.60%") {
			t.Errorf("rate %+v, want %d fen", r, want[r.Hukou])
		}
	}
	rows, err := f.d.QueryContext(ctx, `SELECT l.amount_fen, h.hukou, c.programme,
			(SELECT COUNT(*) FROM persons p WHERE p.household_id = c.household_id AND p.status = 'active')
		FROM payment_lines l JOIN cases c ON c.id = l.case_id JOIN households h ON h.id = c.household_id
		WHERE l.run_id = $1 AND l.programme = 'price_subsidy'`, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for rows.Next() {
		var amount, members int64
		var hukou, prog string
		rows.Scan(&amount, &hukou, &prog, &members)
		lines++
		per := want[hukou]
		if prog == "dibao" {
			per *= members
		}
		if amount != per {
			t.Errorf("%s line of a %s household with %d members: %d fen, want %d", prog, hukou, members, amount, per)
		}
	}
	rows.Close()
	var covered int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines WHERE run_id = $1 AND programme IN ('dibao', 'tekun', 'orphan', 'unattended_child')`, run.ID).Scan(&covered)
	if lines == 0 || lines != covered {
		t.Errorf("%d price lines for %d covered entitlements", lines, covered)
	}
	var disabled int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines l JOIN cases c ON c.id = l.case_id WHERE l.run_id = $1 AND l.programme = 'price_subsidy' AND c.programme LIKE 'disability%'`, run.ID).Scan(&disabled)
	if disabled != 0 {
		t.Errorf("%d disability subsidies got the price subsidy", disabled)
	}

	// February: January's CPI 2.0% and food 5.9% trigger nothing
	feb, err := f.svc.Start(ctx, f.maker, "2026-02", county)
	if err != nil {
		t.Fatal(err)
	}
	// March: February's index was not entered
	mar, err := f.svc.Start(ctx, f.maker, "2026-03", county)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		run   *payroll.Run
		basis string
	}{{feb, "未达到启动条件"}, {mar, "未录入 2026-02"}} {
		var n int
		f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines WHERE run_id = $1 AND programme = 'price_subsidy'`, c.run.ID).Scan(&n)
		rates, _ := f.svc.PriceRates(ctx, f.maker, c.run.ID)
		if n != 0 || len(rates) == 0 || !strings.Contains(rates[0].Basis, c.basis) || rates[0].PerPersonFen != 0 {
			t.Errorf("%s: %d price lines, rates %+v", c.run.Month, n, rates)
		}
	}

	// once January is approved, December's index is fixed
	if _, err := f.svc.Check(ctx, f.checker, run.ID, payroll.Decision{Version: run.Version, Approve: true, Note: "核对无误", Override: "测试：资金已另行下达"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EnterPriceIndex(ctx, province, "2025-12", 3.9, 2.0, "2026-01-12"); code(err) != "index_used" {
		t.Errorf("corrected an index an approved run used: %v", err)
	}
}
