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
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/referral"
)

// referralEnv is a platform with county A's synthetic households (some with
// approved assistance), both counties' organisation lists, a township
// caseworker where the household of the tests lives, the county approver and
// the partner users of the medical-insurance and education bureaus.
func referralEnv(t *testing.T) (*env, int64, map[string]int64) {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	opts := gen.Options{Scale: 0.005, Seed: 9, Regions: []string{countyA}, Now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, e.app.DB, e.app.Tree, e.app.Keys, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := payroll.SeedEntitlements(ctx, e.app.DB, e.app.Tree, opts, "2026-01"); err != nil {
		t.Fatal(err)
	}
	var hh int64
	var village string
	if err := e.app.DB.QueryRow(`SELECT household_id, region_code FROM cases WHERE decision = 'approved' AND programme = 'dibao' ORDER BY id LIMIT 1`).Scan(&hh, &village); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{
		{"case_t", auth.TownshipCaseworker, village[:9] + "000"}, {"county_a", auth.CountyApprover, countyA},
		{"demo.yibao", auth.PartnerOfficer, countyA}, {"demo.jiaoyu", auth.PartnerOfficer, countyA},
	} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := referral.SeedDemo(ctx, e.app.DB, e.app.Tree, []string{countyA, countyB}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	e.app.Referrals.Now = func() time.Time { return clock }
	orgs := map[string]int64{}
	for _, c := range []struct{ county, prefix string }{{countyA, "A"}, {countyB, "B"}} {
		rows, err := e.app.DB.Query(`SELECT id, department, kind FROM referral_orgs WHERE county_code = $1`, c.county)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var dept, kind string
			rows.Scan(&id, &dept, &kind)
			orgs[c.prefix+":"+dept+kind] = id
		}
		rows.Close()
	}
	return e, hh, orgs
}

func TestReferralAPI(t *testing.T) {
	e, hh, orgs := referralEnv(t)
	town, county, yibao, jiaoyu := e.login("case_t"), e.login("county_a"), e.login("demo.yibao"), e.login("demo.jiaoyu")
	medical, education := orgs["A:medical_insurancedepartment"], orgs["A:educationdepartment"]

	// the county's list: its own nine organisations, nothing of county B
	code, out := e.api(county, "GET", "/api/v1/referrals/orgs", nil)
	if code != 200 || len(out["organisations"].([]any)) != 9 {
		t.Fatalf("county A list: %d %v", code, out)
	}
	// refusals: another county's organisation, an organisation not serving the area
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"household_id": hh, "area": "medical", "description": "住院", "stage": "review", "org_id": orgs["B:medical_insurancedepartment"]}, "org_not_listed"},
		{map[string]any{"household_id": hh, "area": "education", "description": "学费", "stage": "review", "org_id": medical}, "area_not_served"},
		{map[string]any{"household_id": hh, "area": "medical", "description": "住院", "stage": "review", "org_id": medical, "extra": 1}, "unknown_field"},
	} {
		code, out := e.api(town, "POST", "/api/v1/referrals/needs", c.body)
		if code != 422 || errCode(out) != c.code {
			t.Errorf("need %v: %d %v, want 422 %s", c.body, code, out, c.code)
		}
	}
	var n int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM referral_needs`).Scan(&n)
	if n != 0 {
		t.Fatalf("refused needs left %d rows", n)
	}
	code, out = e.api(town, "POST", "/api/v1/referrals/needs", map[string]any{"household_id": hh, "area": "medical", "description": "慢性病长期用药", "stage": "review", "org_id": medical})
	if code != 201 {
		t.Fatalf("record need: %d %v", code, out)
	}
	ref := out["referrals"].([]any)[0].(map[string]any)
	id := int64(ref["id"].(float64))
	if ref["due_on"] != "2026-11-09" || ref["state"] != "sent" {
		t.Fatalf("referral: %v", ref)
	}
	path := fmt.Sprintf("/api/v1/referrals/%d", id)

	// only the addressee answers; the others are refused and nothing changes
	if code, out := e.api(jiaoyu, "POST", path+"/accept", map[string]any{"version": 1}); code != 403 || !strings.Contains(fmt.Sprint(out), "您不是该转介的承办单位") {
		t.Fatalf("education bureau accepting: %d %v", code, out)
	}
	if code, out := e.api(jiaoyu, "GET", path, nil); code != 403 {
		t.Fatalf("education bureau reading: %d %v", code, out)
	}
	if code, _ := e.api(town, "POST", path+"/accept", map[string]any{"version": 1}); code != 403 {
		t.Fatalf("township accepting: %d", code)
	}
	if _, out := e.api(jiaoyu, "GET", "/api/v1/referrals/inbox?status=", nil); len(out["referrals"].([]any)) != 0 {
		t.Fatalf("education inbox: %v", out)
	}
	code, out = e.api(yibao, "GET", "/api/v1/referrals/inbox", nil)
	if code != 200 || len(out["referrals"].([]any)) != 1 {
		t.Fatalf("medical inbox: %d %v", code, out)
	}
	if x := out["referrals"].([]any)[0].(map[string]any); !strings.Contains(x["head_id_masked"].(string), "*") || x["head_name"] == "" {
		t.Fatalf("inbox entry: %v", x)
	}
	if code, out := e.api(yibao, "POST", path+"/accept", map[string]any{"version": 1}); code != 200 || out["version"].(float64) != 2 {
		t.Fatalf("accept: %d %v", code, out)
	}
	if code, out := e.api(yibao, "POST", path+"/accept", map[string]any{"version": 1}); code != 409 || errCode(out) != "version_conflict" {
		t.Fatalf("stale accept: %d %v", code, out)
	}
	if code, out := e.api(yibao, "POST", path+"/close", map[string]any{"version": 2, "outcome": "fee_waiver", "amount_fen": 100}); code != 422 || errCode(out) != "invalid_outcome" {
		t.Fatalf("wrong outcome: %d %v", code, out)
	}
	if code, out := e.api(yibao, "POST", path+"/close", map[string]any{"version": 2, "outcome": "medical_aid", "amount_fen": 320000, "note": "门诊慢特病救助"}); code != 200 || out["state"] != "closed" {
		t.Fatalf("close: %d %v", code, out)
	}
	var views int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'referral.view' AND username = 'demo.yibao' AND object_id = $1`, fmt.Sprint(id)).Scan(&views)
	if views != 1 {
		t.Fatalf("partner reads audited %d times", views)
	}

	// the household's help: the approved dibao case and the referral's outcome
	code, out = e.api(town, "GET", fmt.Sprintf("/api/v1/households/%d/help", hh), nil)
	if code != 200 {
		t.Fatalf("help: %d %v", code, out)
	}
	got := fmt.Sprint(out["received"])
	if !strings.Contains(got, "最低生活保障") || !strings.Contains(got, "医疗救助金") || out["one_off_fen"].(float64) != 320000 {
		t.Fatalf("help received: %v", out["received"])
	}
	// the needs list and the help section carry the head's name, phone and
	// address: each read over the API and each household page is audited once
	helpViews := func(action string) int {
		var n int
		e.app.DB.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND username = 'case_t' AND object_type = 'household' AND object_id = $2`,
			action, fmt.Sprint(hh)).Scan(&n)
		return n
	}
	if n := helpViews("referral.help.view"); n != 1 {
		t.Fatalf("help read audited %d times, want 1", n)
	}
	code, out = e.api(town, "GET", fmt.Sprintf("/api/v1/referrals/needs?household_id=%d", hh), nil)
	if needs, _ := out["needs"].([]any); code != 200 || len(needs) != 1 || helpViews("referral.needs.view") != 1 {
		t.Fatalf("needs read: %d %v, audited %d times", code, out, helpViews("referral.needs.view"))
	}
	if code, _ := e.browse("case_t").get(fmt.Sprintf("/households/%d", hh)); code != 200 || helpViews("referral.help.view") != 2 {
		t.Fatalf("household page: %d, help audited %d times, want 2", code, helpViews("referral.help.view"))
	}
	code, out = e.api(county, "GET", "/api/v1/referrals/stats?from=2026-01-01&to=2026-12-31", nil)
	total, _ := out["total"].(map[string]any)
	if code != 200 || total["sent"].(float64) != 1 || total["helped"].(float64) != 1 || total["amount_fen"].(float64) != 320000 {
		t.Fatalf("stats: %d %v", code, out)
	}
	if code, out := e.api(county, "GET", "/api/v1/referrals/stats?from=2026-12-31&to=2026-01-01", nil); code != 422 {
		t.Fatalf("reversed period: %d %v", code, out)
	}

	// the web pages: the partner's list, another partner refused, the township's page
	b := e.browse("demo.yibao")
	if code, body := b.get("/partner?status="); code != 200 || !strings.Contains(body, referral.No(id)) {
		t.Fatalf("partner page: %d", code)
	}
	bj := e.browse("demo.jiaoyu")
	if code, body := bj.get(fmt.Sprintf("/referrals/%d", id)); code != 403 || !strings.Contains(body, "您不是该转介的承办单位") {
		t.Fatalf("other partner's web view: %d", code)
	}
	if code, body := bj.post(fmt.Sprintf("/referrals/%d/accept", id), url.Values{"csrf": {bj.csrf()}, "version": {"3"}}); code != 403 || !strings.Contains(body, "您不是该转介的承办单位") {
		t.Fatalf("other partner's web accept: %d", code)
	}
	bt := e.browse("case_t")
	if code, body := bt.get("/referrals?status="); code != 200 || !strings.Contains(body, referral.No(id)) || !strings.Contains(body, "医疗救助金") {
		t.Fatalf("township page: %d", code)
	}
	if code, body := bt.get("/referrals/stats"); code != 200 || !strings.Contains(body, "320000.00") && !strings.Contains(body, "3200.00") {
		t.Fatalf("stats page: %d", code)
	}
	bc := e.browse("county_a")
	if code, body := bc.get(fmt.Sprintf("/referrals/orgs/%d", medical)); code != 200 || !strings.Contains(body, "demo.yibao") {
		t.Fatalf("organisation page: %d", code)
	}
	// the county keeps its list on the web: a bad form changes nothing, a good one adds
	if code, body := bc.get("/referrals/orgs"); code != 200 || !strings.Contains(body, `id="org-form"`) || strings.Count(body, "/referrals/orgs/") < 9 {
		t.Fatalf("organisations page: %d", code)
	}
	form := url.Values{"csrf": {bc.csrf()}, "county": {countyA}, "name": {"进贤县爱心助学会"}, "kind": {"charity"}, "contact_name": {"孙"},
		"contact_phone": {"0791-5550000"}, "answer_days": {"7"}}
	if code, body := bc.post("/referrals/orgs", form); code != 422 || !strings.Contains(body, "至少选择一个") || !strings.Contains(body, "进贤县爱心助学会") {
		t.Fatalf("organisation without areas: %d", code)
	}
	form["areas"] = []string{"education", "social_help"}
	if code, body := bc.post("/referrals/orgs", form); code != 200 || !strings.Contains(body, "教育、社会帮扶") {
		t.Fatalf("new organisation: %d", code)
	}
	var newID int64
	e.app.DB.QueryRow(`SELECT id FROM referral_orgs WHERE name = '进贤县爱心助学会'`).Scan(&newID)
	edit := url.Values{"csrf": {bc.csrf()}, "version": {"1"}, "name": {"进贤县爱心助学会"}, "kind": {"charity"}, "areas": {"education"},
		"contact_name": {"孙"}, "contact_phone": {"0791-5550000"}, "answer_days": {"7"}}
	if code, body := bc.post(fmt.Sprintf("/referrals/orgs/%d/edit", newID), edit); code != 200 || !strings.Contains(body, "已停用") {
		t.Fatalf("deactivate: %d", code)
	}
	// a need for education cannot go to it any more
	code, out = e.api(town, "POST", "/api/v1/referrals/needs", map[string]any{"household_id": hh, "area": "education", "description": "学费", "stage": "visit", "org_id": newID})
	if code != 422 || errCode(out) != "org_inactive" {
		t.Fatalf("referral to an inactive organisation: %d %v", code, out)
	}
	if code, out := e.api(town, "POST", "/api/v1/referrals/needs", map[string]any{"household_id": hh, "area": "education", "description": "学费", "stage": "visit", "org_id": education}); code != 201 {
		t.Fatalf("education referral: %d %v", code, out)
	}
}

// TestBrowserReferral is the done-when path: on demo-like data a township
// caseworker records a household's medical and school needs and refers them,
// the medical-insurance and education users answer on their own pages, and
// the household page shows the help received.
func TestBrowserReferral(t *testing.T) {
	path := chromium(t)
	e, hh, orgs := referralEnv(t)
	as := func(user string) *tab {
		tb := &tab{t: t, ctx: newBrowser(t, path), name: user}
		tb.login(e.srv.URL, user, `form[action="/logout"]`)
		return tb
	}
	town := as("case_t")
	hhURL := fmt.Sprintf("%s/households/%d", e.srv.URL, hh)
	for _, n := range []struct{ area, text, org string }{
		{"medical", "长期服药，门诊费用负担重", fmt.Sprint(orgs["A:medical_insurancedepartment"])},
		{"education", "孩子读高中，学费困难", fmt.Sprint(orgs["A:educationdepartment"])},
	} {
		town.do("record "+n.area, chromedp.Navigate(hhURL), chromedp.WaitVisible(chromedp.CSS("#need-form")),
			chromedp.SetValue(chromedp.CSS("#need-area"), n.area), chromedp.SetValue(chromedp.CSS("#need-stage"), "review"),
			chromedp.SendKeys(chromedp.CSS("#need-description"), n.text), chromedp.SetValue(chromedp.CSS("#need-org"), n.org),
			chromedp.Click(chromedp.CSS("#need-submit")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	}
	if needs := town.text("#needs"); !strings.Contains(needs, "医疗保障局") || !strings.Contains(needs, "教育体育局") || !strings.Contains(needs, "待接收") {
		t.Fatalf("needs table: %q", needs)
	}
	answer := func(user, outcome, amount string) {
		p := as(user)
		p.do("inbox", chromedp.Navigate(e.srv.URL+"/partner"), chromedp.WaitVisible(chromedp.CSS("#partner-referrals a")))
		if list := p.text("#partner-referrals"); strings.Count(list, "ZJ") != 1 {
			t.Fatalf("%s sees %q", user, list)
		}
		p.do("accept", chromedp.Click(chromedp.CSS("#partner-referrals a")), chromedp.WaitVisible(chromedp.CSS("#do-accept")),
			chromedp.Click(chromedp.CSS("#do-accept")), chromedp.WaitVisible(chromedp.CSS("#do-close")))
		p.do("close", chromedp.SetValue(chromedp.CSS("#close-outcome"), outcome), chromedp.SendKeys(chromedp.CSS("#close-amount"), amount),
			chromedp.SendKeys(chromedp.CSS("#close-note"), "已办理"), chromedp.Click(chromedp.CSS("#do-close")), chromedp.WaitVisible(chromedp.CSS("#ref-outcome")))
		if st := p.text("#ref-state"); st != "已办结" {
			t.Fatalf("%s: state %q", user, st)
		}
	}
	answer("demo.yibao", "medical_aid", "3200")
	answer("demo.jiaoyu", "fee_waiver", "800")
	town.do("household", chromedp.Navigate(hhURL), chromedp.WaitVisible(chromedp.CSS("#help-received")))
	got := town.text("#help-received")
	for _, want := range []string{"最低生活保障", "医疗救助金", "3200.00", "学费减免", "800.00", "医疗保障局", "教育体育局"} {
		if !strings.Contains(got, want) {
			t.Fatalf("help received lacks %q: %q", want, got)
		}
	}
	if tot := town.text("#help-totals"); !strings.Contains(tot, "4000.00") {
		t.Fatalf("totals: %q", tot)
	}
	shot(t, town.ctx, "household-help")
}
