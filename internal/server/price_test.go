package server_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/money"
	"jiuzhu/internal/payroll"
)

// priceEnv is county A with approved entitlements paying from March 2026,
// its payroll offices (maker_a, finance_a), county B's maker, and the
// province and city supervisors of policyUsers (sup_p1, sup_nc, ...).
func priceEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	opts := gen.Options{Scale: 0.01, Seed: 5, Regions: []string{countyA}, Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, e.app.DB, e.app.Tree, e.app.Keys, opts); err != nil {
		t.Fatal(err)
	}
	if st, err := payroll.SeedEntitlements(ctx, e.app.DB, e.app.Tree, opts, "2026-03"); err != nil || st.Cases == 0 {
		t.Fatalf("seed: %v %+v", err, st)
	}
	if err := payroll.SeedDemo(ctx, e.app.DB, e.app.Tree, []string{countyA}, 2026); err != nil {
		t.Fatal(err)
	}
	policyUsers(t, e)
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"maker_a", auth.CountyApprover, countyA}, {"finance_a", auth.CountyFinance, countyA}, {"maker_b", auth.CountyApprover, countyB},
		{"admin_p", auth.Admin, "360000000000"}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func errMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// TestPriceSubsidyThroughAPIAndPages: the province enters February's index
// (a city or county may not; refused input is explained), county A's March
// run records the rates with their basis and pays price_subsidy lines, the
// run page and the prices page show them, and an index an approved run used
// can no longer be corrected.
func TestPriceSubsidyThroughAPIAndPages(t *testing.T) {
	e := priceEnv(t)
	ctx := context.Background()
	prov, maker := e.login("sup_p1"), e.login("maker_a")
	feb := map[string]any{"month": "2026-02", "cpi_pct": 3.6, "food_pct": 2.0, "released_on": "2026-03-10"}

	for _, who := range []string{"sup_nc", "admin_a", "case_a", "maker_a"} {
		if code, out := e.api(e.login(who), "POST", "/api/v1/payroll/prices", feb); code != 403 || errCode(out) != "forbidden" {
			t.Errorf("%s entered an index: %d %v", who, code, out)
		}
	}
	for _, c := range []struct {
		body        map[string]any
		code, field string
		msg         string
	}{
		{map[string]any{"month": "2026-2", "cpi_pct": 3.6, "food_pct": 2.0, "released_on": "2026-03-10"}, "invalid_month", "month", "YYYY-MM"},
		{map[string]any{"month": "2026-02", "cpi_pct": 3.6, "food_pct": 2.0, "released_on": "2026-02-20"}, "bad_release", "released_on", "发布日期应在指数所属月份之后"},
		{map[string]any{"month": "2026-02", "cpi_pct": 3.6, "food_pct": 2.0, "released_on": "2026/03/10"}, "bad_date", "released_on", "YYYY-MM-DD"},
		{map[string]any{"month": "2026-02", "cpi_pct": 3.6, "food_pct": 2.0, "released_on": "2099-03-10"}, "bad_release", "released_on", "不晚于今天"},
		{map[string]any{"month": "2026-02", "cpi_pct": 150, "food_pct": 2.0, "released_on": "2026-03-10"}, "bad_index", "cpi_pct", "-50% 到 100%"},
		{map[string]any{"month": "2026-02", "cpi_pct": 3.6, "food_pct": -60, "released_on": "2026-03-10"}, "bad_index", "food_pct", "-50% 到 100%"},
		{map[string]any{"month": "2026-02", "food_pct": 2.0, "released_on": "2026-03-10"}, "required", "cpi_pct", "CPI"},
		{map[string]any{"month": "2026-02", "cpi_pct": "3.6", "food_pct": 2.0, "released_on": "2026-03-10"}, "wrong_type", "cpi_pct", "类型不正确"},
		{map[string]any{"month": "2026-02", "cpi": 3.6, "food_pct": 2.0, "released_on": "2026-03-10"}, "unknown_field", "cpi", "无法识别"},
	} {
		code, out := e.api(prov, "POST", "/api/v1/payroll/prices", c.body)
		if code != 422 || errCode(out) != c.code || errField(out) != c.field || !strings.Contains(errMessage(out), c.msg) {
			t.Errorf("%v: %d %v, want 422 %s on %s", c.body, code, out, c.code, c.field)
		}
	}
	if n := e.count("price_indices"); n != 0 {
		t.Fatalf("%d indices stored by refused requests", n)
	}

	code, idx := e.api(prov, "POST", "/api/v1/payroll/prices", feb)
	if code != 201 || idx["month"] != "2026-02" || idx["cpi_bp"].(float64) != 360 || idx["food_pct"].(float64) != 2 || idx["entered_by"] != "sup_p1" {
		t.Fatalf("enter: %d %v", code, idx)
	}
	for _, who := range []string{"maker_a", "sup_nc", "admin_p"} {
		code, out := e.api(e.login(who), "GET", "/api/v1/payroll/prices", nil)
		list, _ := out["indices"].([]any)
		if code != 200 || len(list) != 1 || list[0].(map[string]any)["cpi_pct"].(float64) != 3.6 {
			t.Errorf("%s lists: %d %v", who, code, out)
		}
	}
	if code, out := e.api(e.login("case_a"), "GET", "/api/v1/payroll/prices", nil); code != 403 {
		t.Errorf("caseworker lists indices: %d %v", code, out)
	}

	// March pays on February's CPI of 3.6% (threshold 3%)
	code, run := e.api(maker, "POST", "/api/v1/payroll/runs", map[string]any{"month": "2026-03", "county": countyA})
	if code != 200 || run["state"] != "built" {
		t.Fatalf("start: %d %v", code, run)
	}
	id := int64(run["id"].(float64))
	code, out := e.api(maker, "GET", fmt.Sprintf("/api/v1/payroll/runs/%d/price-rates", id), nil)
	rates, _ := out["price_rates"].([]any)
	if code != 200 || len(rates) < 4 {
		t.Fatalf("price rates: %d %v", code, out)
	}
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]int64{}
	for _, hukou := range []string{"urban", "rural"} {
		std, err := e.app.Policy.Resolve(ctx, "dibao.standard."+hukou, countyA, march)
		if err != nil {
			t.Fatal(err)
		}
		want[hukou] = int64(money.Fen(int64(std.Fen()) * 360 / 10000).RoundYuan())
	}
	for _, x := range rates {
		r := x.(map[string]any)
		if int64(r["per_person_fen"].(float64)) != want[r["hukou"].(string)] || r["index_month"] != "2026-02" || !strings.Contains(r["basis"].(string), "3.60%") {
			t.Errorf("rate %v, want %d fen", r, want[r["hukou"].(string)])
		}
	}
	var lines int
	var total int64
	e.app.DB.QueryRow(`SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payment_lines WHERE run_id = $1 AND programme = 'price_subsidy'`, id).Scan(&lines, &total)
	if lines == 0 || total == 0 {
		t.Fatalf("no price_subsidy lines in the run (%d, %d fen)", lines, total)
	}
	if code, out := e.api(e.login("maker_b"), "GET", fmt.Sprintf("/api/v1/payroll/runs/%d/price-rates", id), nil); code != 404 {
		t.Errorf("other county reads the rates: %d %v", code, out)
	}
	if code, out := e.api(maker, "GET", "/api/v1/payroll/runs/0/price-rates", nil); code != 422 || errCode(out) != "invalid_id" {
		t.Errorf("run 0: %d %v", code, out)
	}

	// the run page shows the rates, their basis, and the subsidy's own line in the totals
	mb := e.browse("maker_a")
	code, page := mb.get("/payroll")
	if code != 200 || !strings.Contains(page, `href="/payroll/prices"`) {
		t.Fatalf("payroll page has no link to the prices: %d", code)
	}
	code, page = mb.get(fmt.Sprintf("/payroll/runs/%d", id))
	if code != 200 || !strings.Contains(page, "<h2>价格临时补贴</h2>") || !strings.Contains(page, `id="price-rates"`) {
		t.Fatalf("run page: %d", code)
	}
	rows := page[strings.Index(page, `id="price-rates"`):]
	rows = rows[:strings.Index(rows, "</table>")]
	for _, s := range []string{"城市", "农村", "最低生活保障", "特困人员救助供养", money.Fen(want["rural"]).String(), money.Fen(want["urban"]).String(),
		"2026-02 CPI 同比 3.60%", "按居民消费价格指数"} {
		if !strings.Contains(rows, s) {
			t.Errorf("run page rates lack %q:\n%s", s, rows)
		}
	}
	byProg := page[strings.Index(page, `id="by-programme"`):]
	if byProg = byProg[:strings.Index(byProg, "</table>")]; !strings.Contains(byProg, "价格临时补贴") || strings.Contains(byProg, "price_subsidy") {
		t.Errorf("totals by programme do not name the subsidy:\n%s", byProg)
	}

	// the prices page: everyone concerned reads it, only the province gets the form
	pb := e.browse("sup_p1")
	code, page = pb.get("/payroll/prices")
	if code != 200 || !strings.Contains(page, `id="price-form"`) || !strings.Contains(page, "3.60%") || !strings.Contains(page, "2026-03-10") || !strings.Contains(page, "sup_p1") {
		t.Fatalf("prices page as the province: %d", code)
	}
	for _, name := range []string{"price.threshold.cpi", "price.threshold.food", "price.multiplier", "price.minimum"} {
		if !strings.Contains(page, `href="/policy/`+name+`"`) {
			t.Errorf("prices page has no link to %s", name)
		} else if code, _ := pb.get("/policy/" + name); code != 200 {
			t.Errorf("/policy/%s: %d", name, code)
		}
	}
	for user, wantForm := range map[string]bool{"maker_a": false, "sup_nc": false, "admin_p": true} {
		code, page := e.browse(user).get("/payroll/prices")
		if code != 200 || strings.Contains(page, `id="price-form"`) != wantForm || !strings.Contains(page, "3.60%") {
			t.Errorf("prices page as %s: %d, form %v", user, code, !wantForm)
		}
	}
	if code, page := e.browse("admin_p").get("/"); code != 200 || !strings.Contains(page, `href="/payroll/prices"`) {
		t.Errorf("province administrator's home has no link to the prices: %d", code)
	}
	if code, _ := e.browse("case_a").get("/payroll/prices"); code != 403 {
		t.Errorf("caseworker opened the prices page: %d", code)
	}
	cb := e.browse("sup_nc")
	if code, page := cb.post("/payroll/prices", url.Values{"csrf": {cb.csrf()}, "month": {"2026-01"}, "cpi": {"1"}, "food": {"1"}, "released_on": {"2026-02-10"}}); code != 403 || !strings.Contains(page, "物价指数由省级民政部门录入") {
		t.Errorf("city supervisor's form: %d", code)
	}
	tok := pb.csrf()
	for _, c := range []struct {
		form url.Values
		msg  string
	}{
		{url.Values{"month": {"2026-1"}, "cpi": {"1.5"}, "food": {"1"}, "released_on": {"2026-02-10"}}, "格式应为 YYYY-MM"},
		{url.Values{"month": {"2026-01"}, "cpi": {"1.5"}, "food": {"1"}, "released_on": {"2026-01-31"}}, "发布日期应在指数所属月份之后，且不晚于今天"},
		{url.Values{"month": {"2026-01"}, "cpi": {"三点六"}, "food": {"1"}, "released_on": {"2026-02-10"}}, "CPI 同比涨幅应为数字"},
		{url.Values{"month": {"2026-01"}, "cpi": {"1.5"}, "food": {""}, "released_on": {"2026-02-10"}}, "请填写食品价格同比涨幅"},
		{url.Values{"month": {"2026-01"}, "cpi": {"1.5"}, "food": {"101"}, "released_on": {"2026-02-10"}}, "同比涨幅应在 -50% 到 100% 之间"},
	} {
		c.form.Set("csrf", tok)
		code, page := pb.post("/payroll/prices", c.form)
		if code != 422 || !strings.Contains(page, `class="field-error"`) || !strings.Contains(page, c.msg) || !strings.Contains(page, `value="`+c.form.Get("cpi")+`"`) ||
			!strings.Contains(page, `value="`+c.form.Get("month")+`"`) {
			t.Errorf("%v: %d, want 422 with %q next to the field and the typed values kept", c.form, code, c.msg)
		}
	}
	code, page = pb.post("/payroll/prices", url.Values{"csrf": {tok}, "month": {"2026-01"}, "cpi": {"-0.5%"}, "food": {"1.25"}, "released_on": {"2026-02-10"}})
	if code != 200 || !strings.Contains(page, "已保存") || !strings.Contains(page, "-0.50%") || !strings.Contains(page, "1.25%") {
		t.Fatalf("enter through the form: %d", code)
	}

	// once the March run is approved, February's index is fixed
	code, out = e.api(e.login("finance_a"), "POST", fmt.Sprintf("/api/v1/payroll/runs/%d/check", id),
		map[string]any{"version": run["version"], "approve": true, "note": "核对无误", "override": "测试：资金已另行下达"})
	if code != 200 || out["state"] != "approved" {
		t.Fatalf("approve: %d %v", code, out)
	}
	feb["cpi_pct"] = 3.9
	if code, out := e.api(prov, "POST", "/api/v1/payroll/prices", feb); code != 409 || errCode(out) != "index_used" {
		t.Errorf("corrected a used index: %d %v", code, out)
	}
	if code, _ := pb.post("/payroll/prices", url.Values{"csrf": {tok}, "month": {"2026-02"}, "cpi": {"3.9"}, "food": {"2"}, "released_on": {"2026-03-10"}}); code != 409 {
		t.Errorf("corrected a used index through the form: %d", code)
	}
}

// TestBrowserPriceIndex: in a real browser, under the pages' Content-Security-
// Policy, the province supervisor is refused a release date inside the
// index month (the typed values kept), then enters the index.
func TestBrowserPriceIndex(t *testing.T) {
	path := chromium(t)
	e := newEnv(t)
	policyUsers(t, e)
	bctx := newBrowser(t, path)
	tb := &tab{t: t, ctx: bctx}
	do := tb.do
	text := tb.text
	tb.login(e.srv.URL, "sup_p1", `a[href="/payroll/prices"]`)
	do("open", chromedp.Click(chromedp.CSS(`main a[href="/payroll/prices"]`)), chromedp.WaitVisible(chromedp.CSS("#price-form")))
	do("refused", chromedp.SetValue(chromedp.CSS("#pi-month"), "2026-02"), chromedp.SetValue(chromedp.CSS("#pi-cpi"), "3.6"),
		chromedp.SetValue(chromedp.CSS("#pi-food"), "2.0"), chromedp.SetValue(chromedp.CSS("#pi-released"), "2026-02-27"),
		chromedp.Click(chromedp.CSS("#price-submit")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := text("#error"); !strings.Contains(msg, "发布日期应在指数所属月份之后") {
		t.Fatalf("refusal: %q", msg)
	}
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#pi-cpi"))); v != "3.6" {
		t.Fatalf("typed CPI lost after the refusal: %q", v)
	}
	do("enter", chromedp.SetValue(chromedp.CSS("#pi-released"), "2026-03-10"), chromedp.Click(chromedp.CSS("#price-submit")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if tbl := text("#price-indices"); !strings.Contains(tbl, "2026-02") || !strings.Contains(tbl, "3.60%") || !strings.Contains(tbl, "2026-03") {
		t.Fatalf("indices table: %q", tbl)
	}
	shot(t, bctx, "price-index")
}
