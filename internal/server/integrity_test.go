package server_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/integrity"
	"jiuzhu/internal/share"
)

var versionRe = regexp.MustCompile(`name="version" value="(\d+)"`)

// formVersion is the version a page's form carries.
func formVersion(t *testing.T, body string) string {
	t.Helper()
	m := versionRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the page's form carries no version")
	}
	return m[1]
}

// TestIntegrityInspectorWorksThroughList: lists planted in two counties; an
// inspector of county A recomputes them over the web, sees only A's entries,
// opens one, is refused a decision without a reason (nothing changes),
// confirms fraud with a reason (a recovery and a credit record appear), and
// the API shows the same; an inspector of county B cannot open A's entry.
func TestIntegrityInspectorWorksThroughList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []struct {
		name, region string
	}{{"insp_a", countyA}, {"insp_b", countyB}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: "纪检" + u.name, Role: auth.Inspector, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.app.Integrity.SeedDemo(ctx, []string{countyA, countyB}); err != nil {
		t.Fatal(err)
	}
	b := e.browse("insp_a")
	code, body := b.post("/integrity/run", url.Values{"csrf": {b.csrf()}})
	if code != 200 || !strings.Contains(body, `id="integrity-summary"`) {
		t.Fatalf("run: %d", code)
	}
	code, body = b.get("/integrity?list=after_death")
	if code != 200 || strings.Count(body, `<a href="/integrity/`) != 1 {
		t.Fatalf("list: %d %d entries\n%s", code, strings.Count(body, `<a href="/integrity/`), body)
	}
	i := strings.Index(body, `<a href="/integrity/`) + len(`<a href="/integrity/`)
	id := body[i : i+strings.Index(body[i:], `"`)]
	code, body = b.get("/integrity/" + id)
	if code != 200 || !strings.Contains(body, "死亡") || !strings.Contains(body, `id="entry-decide"`) {
		t.Fatalf("entry: %d", code)
	}
	ver := formVersion(t, body)
	code, body = b.post("/integrity/"+id+"/decide", url.Values{"csrf": {b.csrf()}, "status": {"confirmed"}, "fraud": {"1"}, "reason": {""}, "version": {ver}})
	if code != 422 || !strings.Contains(body, "请写明处理理由") {
		t.Fatalf("no reason: %d", code)
	}
	var n int
	e.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM recoveries`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d recoveries after a refused decision", n)
	}
	code, body = b.post("/integrity/"+id+"/decide", url.Values{"csrf": {b.csrf()}, "status": {"confirmed"}, "fraud": {"1"}, "reason": {"家属隐瞒死亡继续领取"}, "amount": {"820.00"}, "version": {ver}})
	if code != 200 || !strings.Contains(body, `id="entry-recovery"`) || !strings.Contains(body, `id="entry-credit"`) {
		t.Fatalf("confirm: %d\n%s", code, body)
	}
	tok := e.login("insp_a")
	code, out := e.api(tok, "GET", "/api/v1/integrity/entries/"+id, nil)
	if code != 200 || out["status"] != "confirmed" || out["recovery_id"] == nil {
		t.Fatalf("api entry: %d %v", code, out)
	}
	version := out["version"]
	code, out = e.api(tok, "GET", "/api/v1/credit", nil)
	if recs, _ := out["records"].([]any); code != 200 || len(recs) != 1 {
		t.Fatalf("api credit: %d %v", code, out)
	}
	code, out = e.api(tok, "POST", "/api/v1/integrity/entries/"+id+"/decision", map[string]any{"status": "explained", "reason": "x"})
	if code != 422 || errCode(out) != "version_required" {
		t.Fatalf("decision without a version: %d %v", code, out)
	}
	code, out = e.api(tok, "POST", "/api/v1/integrity/entries/"+id+"/decision", map[string]any{"status": "explained", "reason": "x", "version": version})
	if code != 409 || errCode(out) != "entry_confirmed" {
		t.Fatalf("changed a confirmed entry: %d %v", code, out)
	}
	code, out = e.api(e.login("insp_b"), "GET", "/api/v1/integrity/entries/"+id, nil)
	if code != 404 {
		t.Fatalf("county B read A's entry: %d", code)
	}
	code, out = e.api(e.login("case_a"), "GET", "/api/v1/integrity/counts", nil)
	if code != 403 {
		t.Fatalf("caseworker read the lists: %d", code)
	}
	for _, p := range []string{"/integrity", "/campaigns", "/credit", "/credit/export?format=csv"} {
		if code, _ := b.get(p); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
}

// TestCreditFeedOnSharingAPI: a confirmed fraud finding reaches the credit
// platform through its sharing key with the full ID number; a key of another
// county gets nothing and a key without the scope is refused.
func TestCreditFeedOnSharingAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: "insp_a", DisplayName: "纪检", Role: auth.Inspector, Region: countyA, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if err := e.app.Integrity.SeedDemo(ctx, []string{countyA}); err != nil {
		t.Fatal(err)
	}
	b := e.browse("insp_a")
	if code, _ := b.post("/integrity/run", url.Values{"csrf": {b.csrf()}}); code != 200 {
		t.Fatalf("run: %d", code)
	}
	_, body := b.get("/integrity?list=after_death")
	i := strings.Index(body, `<a href="/integrity/`) + len(`<a href="/integrity/`)
	id := body[i : i+strings.Index(body[i:], `"`)]
	_, page := b.get("/integrity/" + id)
	if code, _ := b.post("/integrity/"+id+"/decide", url.Values{"csrf": {b.csrf()}, "status": {"confirmed"}, "fraud": {"1"}, "reason": {"隐瞒死亡继续领取"}, "amount": {"820.00"},
		"version": {formVersion(t, page)}}); code != 200 {
		t.Fatalf("confirm: %d", code)
	}
	admin := &auth.User{Username: "admin", Role: auth.Admin, Region: "360000000000", Active: true}
	token := func(region string, scopes ...string) string {
		c, secret, err := e.app.Share.CreateClient(ctx, admin, share.NewClient{Name: "信用平台", Department: "发展改革委", RegionCode: region, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		code, out := e.api("", "POST", "/share/v1/token", map[string]string{"client_id": c.ClientID, "client_secret": secret})
		if code != 200 {
			t.Fatalf("token: %d %v", code, out)
		}
		return out["access_token"].(string)
	}
	code, out := e.api(token(countyA, share.ScopeCredit), "GET", "/share/v1/credit-records", nil)
	recs, _ := out["records"].([]any)
	if code != 200 || len(recs) != 1 {
		t.Fatalf("credit feed: %d %v", code, out)
	}
	if idNo, _ := recs[0].(map[string]any)["id_number"].(string); len(idNo) != 18 || strings.Contains(idNo, "*") {
		t.Fatalf("the platform needs the full ID number, got %q", idNo)
	}
	if code, out = e.api(token(countyB, share.ScopeCredit), "GET", "/share/v1/credit-records", nil); code != 200 || len(out["records"].([]any)) != 0 {
		t.Fatalf("another county's key: %d %v", code, out)
	}
	if code, out = e.api(token(countyA, share.ScopeRecipientStatus), "GET", "/share/v1/credit-records", nil); code != 403 || errCode(out) != "scope_exceeded" {
		t.Fatalf("key without the scope: %d %v", code, out)
	}
}

// TestCampaignRecheckCarriesVersion: the re-check form sends the sampled
// case's version, so a second form opened on the same version is refused as
// stale instead of overwriting the first result; the API refuses a re-check
// without a version.
func TestCampaignRecheckCarriesVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.app.Integrity.SeedDemo(ctx, []string{countyA}); err != nil {
		t.Fatal(err)
	}
	insp := &auth.User{Username: "insp", Role: auth.Inspector, Region: countyA, Active: true}
	c, err := e.app.Integrity.OpenCampaign(ctx, insp, integrity.CampaignInput{Name: "低保专项复查", From: "2026-01-01", To: "2026-12-31", Percent: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	cases, err := e.app.Integrity.Cases(ctx, insp, c.ID)
	if err != nil || len(cases) == 0 {
		t.Fatalf("cases: %d %v", len(cases), err)
	}
	x := cases[0]
	if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: "tw_x", DisplayName: "乡镇经办", Role: auth.TownshipCaseworker, Region: x.Township, Password: pw}); err != nil {
		t.Fatal(err)
	}
	b := e.browse("tw_x")
	page := fmt.Sprintf("/campaigns/%d", c.ID)
	code, body := b.get(page)
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`action="/campaigns/%d/checks/%d"`, c.ID, x.ID)) || !strings.Contains(body, `name="version" value="1"`) {
		t.Fatalf("campaign page: %d\n%s", code, body)
	}
	form := url.Values{"csrf": {b.csrf()}, "result": {"stop"}, "note": {"已外出务工有稳定收入"}, "version": {"1"}}
	if code, body = b.post(fmt.Sprintf("%s/checks/%d", page, x.ID), form); code != 200 || !strings.Contains(body, "已外出务工有稳定收入") {
		t.Fatalf("re-check: %d", code)
	}
	form.Set("result", "correct")
	form.Set("note", "")
	if code, body = b.post(fmt.Sprintf("%s/checks/%d", page, x.ID), form); code != 409 || !strings.Contains(body, "已被其他人修改") {
		t.Fatalf("second form on the same version: %d", code)
	}
	tok := e.login("tw_x")
	code, out := e.api(tok, "POST", fmt.Sprintf("/api/v1/campaign-cases/%d/check", x.ID), map[string]any{"result": "correct"})
	if code != 422 || errCode(out) != "version_required" {
		t.Fatalf("api re-check without version: %d %v", code, out)
	}
	after, _ := e.app.Integrity.Cases(ctx, insp, c.ID)
	for _, y := range after {
		if y.ID == x.ID && (y.Result != "stop" || y.Version != 2) {
			t.Fatalf("re-check overwritten: %+v", y)
		}
	}
}
