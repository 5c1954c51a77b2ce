package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/stats"
)

const (
	province = "360000000000"
	nanchang = "360100000000"
)

// statsEnv is a platform with a small 进贤县 paying since January 2026 and a
// statistics clock in April 2026, so March is the last closed month.
func statsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	e.app.Stats.Now = func() time.Time { return time.Date(2026, 4, 10, 3, 0, 0, 0, time.UTC) }
	opts := gen.Options{Scale: 0.01, Seed: 7, Regions: []string{countyA}, Now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, e.app.DB, e.app.Tree, e.app.Keys, opts); err != nil {
		t.Fatal(err)
	}
	if st, err := payroll.SeedEntitlements(ctx, e.app.DB, e.app.Tree, opts, "2026-01"); err != nil || st.Cases == 0 {
		t.Fatalf("seed: %v %+v", err, st)
	}
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"sup_p", auth.Supervisor, province}, {"sup_p2", auth.Supervisor, province}, {"rev_t", auth.TownshipReviewer, townshipA}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// cellRe reads a figure of the statistics table by its column key.
func cell(t *testing.T, row, key string) int64 {
	t.Helper()
	m := regexp.MustCompile(`data-col="` + key + `">([^<]*)<`).FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("no %s cell in %s", key, row)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	if err != nil {
		t.Fatalf("%s: %q", key, m[1])
	}
	return n
}

func totalRow(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `id="stats-total"`)
	if i < 0 {
		t.Fatalf("no total row")
	}
	return page[i : i+strings.Index(page[i:], "</tr>")]
}

var drillRe = regexp.MustCompile(`id="drill-(\d{12})" href="([^"]+)"`)

// TestStatsTableExportAndScope: a province supervisor drills down from the
// province to a township, the county's figures match the records, the Excel
// export reads back with small counts suppressed, and the refusals are
// clear: another level's region, an open month.
func TestStatsTableExportAndScope(t *testing.T) {
	e := statsEnv(t)
	ctx := context.Background()

	// what the records say
	var hh, persons [2]int64
	rows, err := e.app.DB.QueryContext(ctx, `SELECT h.hukou, COUNT(*), COALESCE(SUM((SELECT COUNT(*) FROM persons p WHERE p.household_id = c.household_id AND p.status = 'active')), 0)
		FROM cases c JOIN households h ON h.id = c.household_id WHERE c.programme = 'dibao' AND c.state = 'approved' GROUP BY h.hukou`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var hukou string
		var n, p int64
		if err := rows.Scan(&hukou, &n, &p); err != nil {
			t.Fatal(err)
		}
		i := 1
		if hukou == "urban" {
			i = 0
		}
		hh[i], persons[i] = n, p
	}
	rows.Close()
	var tekunRural, orphans int64
	e.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases c JOIN households h ON h.id = c.household_id
		WHERE c.programme = 'tekun' AND c.kind = 'dispersed' AND h.hukou = 'rural'`).Scan(&tekunRural)
	e.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE programme = 'orphan'`).Scan(&orphans)
	if hh[1] == 0 || persons[1] == 0 {
		t.Fatalf("fixture: %v dibao households", hh)
	}

	b := e.browse("sup_p")
	// the default: the supervisor's province, the last closed month
	code, page := b.get("/stats")
	if code != 200 || !strings.Contains(page, "2026年3月") || !strings.Contains(page, `id="drill-`+nanchang+`"`) || !strings.Contains(page, `href="/dashboard"`) {
		t.Fatalf("province table: %d\n%s", code, page)
	}
	if !strings.Contains(page, "低保平均标准按在保人数加权") {
		t.Error("the method is not stated under the table")
	}
	if n := cell(t, totalRow(t, page), "dibao_households_rural"); n != hh[1] {
		t.Errorf("province total rural dibao households %d, records %d", n, hh[1])
	}
	// drill down: province → 南昌市 → 进贤县 → a township
	follow := func(page, code string) string {
		t.Helper()
		for _, m := range drillRe.FindAllStringSubmatch(page, -1) {
			if code == "" || m[1] == code {
				st, next := b.get(strings.ReplaceAll(m[2], "&amp;", "&"))
				if st != 200 {
					t.Fatalf("%s: %d", m[2], st)
				}
				return next
			}
		}
		t.Fatalf("no drill-down link to %q", code)
		return ""
	}
	page = follow(follow(page, nanchang), countyA)
	total := totalRow(t, page)
	for key, want := range map[string]int64{"dibao_households_urban": hh[0], "dibao_households_rural": hh[1], "dibao_persons_urban": persons[0],
		"dibao_persons_rural": persons[1], "tekun_dispersed_rural": tekunRural, "orphans": orphans, "dibao_new_households": 0} {
		if got := cell(t, total, key); got != want {
			t.Errorf("进贤县 %s = %d, records %d", key, got, want)
		}
	}
	if !strings.Contains(page, "进贤县") || strings.Count(page, `class="drill"`) < 5 {
		t.Fatalf("county table lists %d townships", strings.Count(page, `class="drill"`))
	}
	township := follow(page, "")
	if !strings.Contains(township, `id="stats-total"`) || strings.Contains(township, `class="drill"`) {
		t.Fatalf("township table (villages have no level under them)")
	}
	if code, page := b.get("/stats?region=" + countyA + "&period=2026Q1"); code != 200 || cell(t, totalRow(t, page), "dibao_new_households") != hh[0]+hh[1] {
		t.Errorf("Q1: %d; every household started in January", code)
	}

	// the API: the same figures with the averages computed
	tok := e.login("sup_p")
	code, out := e.api(tok, "GET", "/api/v1/stats?region="+countyA+"&period=2026-03", nil)
	if code != 200 {
		t.Fatalf("api: %d %v", code, out)
	}
	reg := out["region"].(map[string]any)
	std, _ := e.app.Policy.Resolve(ctx, "dibao.standard.rural", countyA, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if int64(reg["dibao_households"].([]any)[1].(float64)) != hh[1] || int64(reg["avg_standard_fen"].([]any)[1].(float64)) != std.Int ||
		int64(reg["rural_avg_standard_year_fen"].(float64)) != 12*std.Int || len(out["children"].([]any)) < 5 || out["period"] != "2026-03" {
		t.Errorf("api table: %v", reg)
	}
	if _, ok := reg["payment_level_fen"]; !ok {
		t.Error("api: no payment level")
	}

	// the Excel export reads back: title, units, the total, "<5" for small counts
	resp, err := b.c.Get(e.srv.URL + "/stats/export.xlsx?region=" + countyA + "&period=2026-03")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "spreadsheetml") {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sheet := f.GetSheetName(0)
	xrows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xrows[0][0], "进贤县") || !strings.Contains(xrows[0][0], "2026年3月") || !strings.Contains(xrows[2][0], "元") {
		t.Fatalf("title rows: %q", xrows[:3])
	}
	col := map[string]int{}
	for i, c := range stats.Columns {
		col[c.Key] = i + 1
	}
	if !strings.HasPrefix(xrows[5][0], "合计") {
		t.Fatalf("row 6 is %q, want the total", xrows[5])
	}
	want := strconv.FormatInt(hh[1], 10)
	if hh[1] < 5 {
		want = "<5"
	}
	if got := xrows[5][col["dibao_households_rural"]]; got != want {
		t.Errorf("export total rural households %q, want %s", got, want)
	}
	if got := xrows[5][col["dibao_standard_rural"]]; got != strconv.FormatInt(std.Int/100, 10)+"."+strconv.FormatInt(std.Int%100/10, 10)+strconv.FormatInt(std.Int%10, 10) {
		t.Errorf("export rural average standard %q (yuan with two decimals), standard %d fen", got, std.Int)
	}
	small, note := 0, false
	for _, r := range xrows[5:] {
		if len(r) > 0 && strings.HasPrefix(r[0], "统计口径") {
			note = true
			continue
		}
		for _, c := range stats.Columns {
			i := col[c.Key]
			if c.Money || i >= len(r) {
				continue
			}
			if r[i] == "<5" {
				small++
			} else if n, err := strconv.Atoi(r[i]); err == nil && n > 0 && n < 5 {
				t.Errorf("row %q: %s = %d left the system", r[0], c.Key, n)
			}
		}
	}
	if small == 0 || !note {
		t.Errorf("export: %d suppressed counts, method note %v", small, note)
	}
	var audited int
	e.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE action = 'stats.export'`).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audited exports", audited)
	}
	// the API export is the same workbook
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/stats/export.xlsx?region="+countyA+"&period=2026Q1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), ".xlsx") {
		t.Fatalf("api export: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// refusals: a township asking for its county, a role without statistics, an open month
	rev := e.browse("rev_t")
	if code, page := rev.get("/stats?region=" + countyA); code != 403 || !strings.Contains(page, "不在您的管辖范围内") {
		t.Errorf("township reviewer asking for the county: %d", code)
	}
	if code, _ := rev.get("/stats"); code != 200 {
		t.Errorf("township reviewer's own township: %d", code)
	}
	if code, out := e.api(e.login("rev_t"), "GET", "/api/v1/stats?region="+countyA, nil); code != 403 {
		t.Errorf("api, township reviewer asking for the county: %d %v", code, out)
	}
	if code, _ := e.browse("case_a").get("/stats"); code != 403 {
		t.Errorf("caseworker (no statistics permission): %d", code)
	}
	if code, page := b.get("/stats?region=" + countyA + "&period=2026-04"); code != 422 || !strings.Contains(page, "尚未结束") || !strings.Contains(page, `id="st-period"`) {
		t.Errorf("open month: %d", code)
	}
	if code, out := e.api(tok, "GET", "/api/v1/stats?period=2026Q2", nil); code != 422 || errCode(out) != "period_open" {
		t.Errorf("api open quarter: %d %v", code, out)
	}
	if code, page := b.get("/stats?region=369999000000"); code != 422 || !strings.Contains(page, "区划代码不存在") {
		t.Errorf("unknown region: %d", code)
	}
	if code, _ := b.get("/stats/export.xlsx?region=" + countyA + "&period=2026-05"); code != 422 {
		t.Errorf("export of an open month: %d", code)
	}
}

// TestDashboardAndStandards: the dashboard draws its charts on the server;
// the standards page ranks the cities after 南昌 raised its urban standard.
func TestDashboardAndStandards(t *testing.T) {
	e := statsEnv(t)
	b := e.browse("sup_p")
	code, page := b.get("/dashboard")
	if code != 200 || strings.Count(page, "<svg") != 3 || !strings.Contains(page, `id="chart-trend"`) || !strings.Contains(page, `id="drill-`+nanchang+`"`) {
		t.Fatalf("dashboard: %d\n%s", code, page)
	}
	if !strings.Contains(page, "2025-04") || !strings.Contains(page, "2026-03") || !strings.Contains(page, "与上月持平") {
		t.Error("dashboard: the trend runs over the last 12 closed months; March is unchanged from February")
	}
	for _, p := range []string{"/dashboard?region=" + countyA + "&measure=level", "/dashboard?region=" + townshipA, "/dashboard?region=" + villageA} {
		if code, page := b.get(p); code != 200 || !strings.Contains(page, "<svg") {
			t.Errorf("%s: %d", p, code)
		}
	}
	if code, _ := e.browse("rev_t").get("/dashboard?region=" + countyA); code != 403 {
		t.Errorf("township reviewer, county dashboard: %d", code)
	}

	raiseNanchang(t, e)

	code, page = b.get("/stats/standards")
	if code != 200 || !strings.Contains(page, "不设全国参考值") {
		t.Fatalf("standards: %d\n%s", code, page)
	}
	urban := page[strings.Index(page, `id="standards-urban"`):]
	urban = urban[:strings.Index(urban, "</table>")]
	first := urban[strings.Index(urban, "第 1 位"):]
	first = first[:strings.Index(first, "</tr>")]
	if !strings.Contains(first, "南昌市") || !strings.Contains(first, "700.00") || !strings.Contains(first, "9.38%") || !strings.Contains(first, "2025-07-01 起 700.00") {
		t.Errorf("first place: %s", first)
	}
	if strings.Count(urban, "第 2 位") != 10 {
		t.Errorf("the ten other cities share the second place: %s", urban)
	}
	// the province average: 9 of 100 counties at 700, the rest at 640
	if !strings.Contains(page, `id="ref-urban">645.40<`) || strings.Count(page, "<svg") != 2 {
		t.Errorf("province average or charts missing")
	}
	if code, page := b.get("/stats/standards?region=" + nanchang); code != 200 || !strings.Contains(page, "进贤县") {
		t.Errorf("南昌's counties: %d", code)
	}
	if code, page := b.get("/stats/standards?region=" + townshipA); code != 200 || !strings.Contains(page, "执行所在县") {
		t.Errorf("a township: %d", code)
	}
	if code, _ := e.browse("rev_t").get("/stats/standards?region=" + countyA); code != 403 {
		t.Errorf("township reviewer, county standards: %d", code)
	}
}

// raiseNanchang raises 南昌's urban dibao standard to 700 from July 2025,
// scheduled before then and approved by a second person.
func raiseNanchang(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	e.app.Policy.Now = func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }
	byName := func(name string) *auth.User {
		var id int64
		e.app.DB.QueryRowContext(ctx, `SELECT id FROM users WHERE username = $1`, name).Scan(&id)
		u, err := e.app.Auth.ByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	sup, sup2 := byName("sup_p"), byName("sup_p2")
	row, err := e.app.Policy.Schedule(ctx, sup, policydb.Proposal{Name: "dibao.standard.urban", Region: "3601", Start: "2025-07-01", Value: "700.00", Reference: "测试", Demo: true, Note: "测试用值"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Policy.Approve(ctx, sup2, row.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.app.Policy.Now = nil
}

// TestBrowserStatsDrillDown: a supervisor opens the dashboard in a real
// browser and clicks through to a county.
func TestBrowserStatsDrillDown(t *testing.T) {
	path := chromium(t)
	e := statsEnv(t)
	bctx := newBrowser(t, path)
	tb := &tab{t: t, ctx: bctx}
	do := tb.do
	text := tb.text
	tb.login(e.srv.URL, "sup_p", `header a[href="/dashboard"]`)
	do("dashboard", chromedp.Click(chromedp.CSS(`header a[href="/dashboard"]`)), chromedp.WaitVisible(chromedp.CSS("#chart-trend svg")))
	shot(t, bctx, "dashboard-province")
	do("南昌市", chromedp.Click(chromedp.CSS("#drill-"+nanchang)), chromedp.WaitVisible(chromedp.CSS("#drill-"+countyA)))
	if h := text("h1"); !strings.Contains(h, "南昌市") {
		t.Fatalf("after the click: %q", h)
	}
	do("进贤县", chromedp.Click(chromedp.CSS("#drill-"+countyA)), chromedp.WaitVisible(chromedp.CSS("#chart-compare svg")))
	if h := text("h1"); !strings.Contains(h, "进贤县") {
		t.Fatalf("after the second click: %q", h)
	}
	if n := text("#card-rural .stat"); n == "0" || n == "" {
		t.Errorf("county rural dibao persons: %q", n)
	}
	shot(t, bctx, "dashboard-county")
	do("table", chromedp.Click(chromedp.CSS("#dash-table")), chromedp.WaitVisible(chromedp.CSS("#stats-total")))
	if m := text("#stats-method"); !strings.Contains(m, "加权") {
		t.Errorf("method under the table: %q", m)
	}
	shot(t, bctx, "stats-table")
	raiseNanchang(t, e)
	do("standards", chromedp.Navigate(e.srv.URL+"/stats/standards"), chromedp.WaitVisible(chromedp.CSS("#standards-rural")))
	if r := text("#standards-rural"); !strings.Contains(r, "第 1 位") || !strings.Contains(r, "上饶市") {
		t.Errorf("rural standards ranking: %q", r)
	}
	shot(t, bctx, "stats-standards")
}
