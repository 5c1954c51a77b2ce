package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/payroll"
)

var caseURL = regexp.MustCompile(`/cases/(\d+)`)

// caseEnv adds the township reviewer and the county approver of county A and
// fixes the casework clock.
func caseEnv(t *testing.T, start string) (*env, *time.Time) {
	e := newEnv(t)
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"rev_a", auth.TownshipReviewer, townshipA}, {"county_a", auth.CountyApprover, countyA}} {
		if _, err := e.app.Auth.Create(context.Background(), nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	// the townships' reserve funds pay emergency advances
	if err := payroll.SeedDemo(context.Background(), e.app.DB, e.app.Tree, []string{countyA}, 2026); err != nil {
		t.Fatal(err)
	}
	clock, _ := time.Parse(time.DateOnly, start)
	clock = clock.Add(2 * time.Hour)
	e.app.Casework.Now = func() time.Time { return clock }
	return e, &clock
}

// step posts one action form and checks where the case went.
func step(t *testing.T, b *browser, caseID string, form url.Values, wantState string) {
	t.Helper()
	_, page := b.get("/cases/" + caseID)
	v := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(page)
	if v == nil {
		t.Fatalf("no action form on case %s for %s", caseID, form.Get("action"))
	}
	form.Set("csrf", b.csrf())
	form.Set("version", v[1])
	code, body := b.post("/cases/"+caseID+"/actions", form)
	if code != 200 || strings.Contains(body, `id="error"`) {
		msg := regexp.MustCompile(`(?s)id="error">(.*?)</div>`).FindStringSubmatch(body)
		t.Fatalf("%s: %d %v", form.Get("action"), code, msg)
	}
	if !strings.Contains(body, wantState) {
		t.Fatalf("%s: case page does not show %q", form.Get("action"), wantState)
	}
}

// TestDibaoThroughThePages takes an urban dibao application from the one door
// to the county's approval through the web forms, with the public notice
// showing masked names only.
func TestDibaoThroughThePages(t *testing.T) {
	e, clock := caseEnv(t, "2026-11-02")
	hA, pA, _ := e.household(e.login("case_a"), villageA, 11)
	cw := e.browse("case_a")
	if code, body := cw.get(fmt.Sprintf("/cases/new?household=%d", hA)); code != 200 || !strings.Contains(body, "测试户主") {
		t.Fatalf("intake form: %d", code)
	}
	// an incomplete file: one notice lists every missing item
	resp, body := cw.post("/cases", url.Values{"csrf": {cw.csrf()}, "household": {fmt.Sprint(hA)}, "applicant": {fmt.Sprint(pA)}, "programme": {"dibao"},
		"channel": {"door"}, "documents": {"application"}})
	if resp != 200 || !strings.Contains(body, "一次性告知") || !strings.Contains(body, "核对授权书") || !strings.Contains(body, "承诺书") {
		t.Fatalf("incomplete intake: %d", resp)
	}
	id := caseURL.FindStringSubmatch(body)
	if id == nil {
		t.Fatal("no case id on the page")
	}
	caseID := id[1]
	step(t, cw, caseID, url.Values{"action": {"supplement"}, "documents": {"application", "id_hukou", "income"}, "pledge": {"1"}, "authorisations": {fmt.Sprint(pA)}}, "启动调查")
	if _, page := cw.get("/cases/" + caseID); !strings.Contains(page, `<span id="overall-due">2026-12-14</span>`) {
		t.Fatal("case page does not show the 30-WD limit from 2026-11-02 (2026-12-14)")
	}
	step(t, cw, caseID, url.Values{"action": {"start_investigation"}}, "入户调查")
	step(t, cw, caseID, url.Values{"action": {"home_visit"}, "investigators": {"李四、赵五"}, "members_signed": {"1"}, "findings": {"独居，无收入"}}, "信息核对")
	step(t, cw, caseID, url.Values{"action": {"verification"}, "consistent": {"yes"}}, "民主评议或听证")
	rev := e.browse("rev_a")
	step(t, rev, caseID, url.Values{"action": {"township_opinion"}, "approve": {"yes"}}, "村（社区）公示7天")

	// the public notice board needs no login and shows only the masked name
	resp2, err := http.Get(e.srv.URL + "/public/notices?region=" + villageA)
	if err != nil {
		t.Fatal(err)
	}
	notice, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if !strings.Contains(string(notice), "<td>测***</td>") || strings.Contains(string(notice), "测试户主") || strings.Contains(string(notice), "3601241960") {
		t.Fatalf("public notice leaks or misses the masked name:\n%s", notice)
	}

	*clock = clock.AddDate(0, 0, 8)
	step(t, rev, caseID, url.Values{"action": {"end_notice"}, "objections": {"0"}}, "县级审批")
	county := e.browse("county_a")
	_, page := county.get("/cases/" + caseID)
	if strings.Contains(page, "县级随机抽查") || strings.Contains(page, "近亲属备案：") {
		step(t, county, caseID, url.Values{"action": {"county_visit"}, "investigators": {"县甲,县乙"}, "members_signed": {"1"}, "findings": {"属实"}}, "县级审批")
	}
	step(t, county, caseID, url.Values{"action": {"decide"}, "approve": {"yes"}}, "已批准")
	code, doc := county.get("/cases/" + caseID + "/print/decision")
	if code != 200 || !strings.Contains(doc, "予以批准") || !strings.Contains(doc, "2026-12") {
		t.Fatalf("decision letter: %d", code)
	}
	// the worklists are empty again; the household page lists the case
	if _, wl := cw.get("/cases"); !strings.Contains(wl, "没有待办案件") {
		t.Fatal("approved case still on the worklist")
	}
	if _, hh := cw.get(fmt.Sprintf("/households/%d", hA)); !strings.Contains(hh, "已批准") {
		t.Fatal("household page does not show the approved case")
	}
	// the village assistant of another township cannot act, another county cannot see
	if code, _ := e.browse("case_b").get("/cases/" + caseID); code != 404 {
		t.Fatalf("county B opened county A's case: %d", code)
	}
}
