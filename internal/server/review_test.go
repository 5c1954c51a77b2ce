package server_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
)

var actionURL = regexp.MustCompile(`action="/cases/(\d+)/actions"`)

// TestReviewThroughThePages: an approved dibao case carries its review date;
// a death reported on the case page opens a review due within 3 months, which
// the township and the county take to a printed notice; a change reported
// late through the API is warned; other offices are refused.
func TestReviewThroughThePages(t *testing.T) {
	e, clock := caseEnv(t, "2025-12-01")
	ctx := context.Background()
	hA, pA, _ := e.household(e.login("case_a"), villageA, 11)
	users := map[string]*auth.User{}
	for id := int64(1); id <= 8; id++ {
		if u, err := e.app.Auth.ByID(ctx, id); err == nil {
			users[u.Username] = u
		}
	}
	cs, err := e.app.Casework.Open(ctx, users["case_a"], casework.Intake{HouseholdID: hA, ApplicantID: pA, Programme: "dibao", Channel: "door",
		Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: []int64{pA}})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	act := func(u string, a casework.Action) {
		t.Helper()
		a.Version = cs.Version
		if cs, err = e.app.Casework.Act(ctx, users[u], cs.ID, a); err != nil {
			t.Fatalf("%s: %v", a.Action, err)
		}
	}
	act("case_a", casework.Action{Action: "start_investigation"})
	act("case_a", casework.Action{Action: "home_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "独居"})
	act("case_a", casework.Action{Action: "verification", Consistent: &yes})
	act("rev_a", casework.Action{Action: "township_opinion", Approve: &yes})
	*clock = clock.AddDate(0, 0, 8)
	act("rev_a", casework.Action{Action: "end_notice"})
	if cs.SpotCheck || cs.CloseRelative {
		act("county_a", casework.Action{Action: "county_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "属实"})
	}
	act("county_a", casework.Action{Action: "decide", Approve: &yes})
	ent := fmt.Sprint(cs.ID)

	cw := e.browse("case_a")
	if _, page := cw.get("/cases/" + ent); !strings.Contains(page, "每年复核") || !strings.Contains(page, `id="next-review">2026-12-09`) || !strings.Contains(page, "登记家庭状况变化") {
		t.Fatal("entitlement page lacks its review schedule or the change form")
	}
	*clock = clock.AddDate(0, 2, 7) // 2026-02-16
	code, body := cw.post("/cases/"+ent+"/changes", url.Values{"csrf": {cw.csrf()}, "kind": {"death"}, "reported_by": {"village"},
		"person_id": {fmt.Sprint(pA)}, "changed_on": {"2026-02-10"}, "details": {"户主因病去世"}})
	m := actionURL.FindStringSubmatch(body)
	if code != 200 || m == nil || !strings.Contains(body, "复核入户调查") || !strings.Contains(body, "期限：2026-05-10") {
		t.Fatalf("death report: %d, review page missing", code)
	}
	rv := m[1]
	// a stale form is refused and changes nothing
	code, body = cw.post("/cases/"+rv+"/actions", url.Values{"csrf": {cw.csrf()}, "version": {"9"}, "action": {"review_visit"},
		"investigators": {"李四、赵五"}, "members_signed": {"1"}, "findings": {"x"}})
	if !strings.Contains(body, "旧版本") {
		t.Fatalf("stale review form: %d", code)
	}
	step(t, cw, rv, url.Values{"action": {"review_visit"}, "investigators": {"李四、赵五"}, "members_signed": {"1"}, "findings": {"入户核实"}}, "乡镇复核意见")
	step(t, e.browse("rev_a"), rv, url.Values{"action": {"review_opinion"}}, "县级复核决定")
	county := e.browse("county_a")
	step(t, county, rv, url.Values{"action": {"review_decide"}, "approve": {"yes"}}, "复核已决定：维持")
	if code, doc := county.get("/cases/" + rv + "/print/review"); code != 200 || !strings.Contains(doc, "维持救助通知书") || !strings.Contains(doc, "行政复议") {
		t.Fatalf("review notice: %d", code)
	}
	if _, page := county.get("/cases/" + ent); !strings.Contains(page, `id="reviews"`) || !strings.Contains(page, "户主因病去世") {
		t.Fatal("entitlement page does not list the review and the report")
	}

	// a change hidden for more than 3 months, reported by the village through the API
	code, out := e.api(e.login("village_a"), "POST", "/api/v1/cases/"+ent+"/changes", map[string]any{"kind": "income", "reported_by": "household",
		"changed_on": "2025-10-01", "details": "外出务工收入"})
	rep, _ := out["change_report"].(map[string]any)
	if code != 201 || rep == nil || !strings.Contains(fmt.Sprint(rep["warning"]), "批评教育") {
		t.Fatalf("late report: %d %v", code, out)
	}
	if code, out := e.api(e.login("county_a"), "POST", "/api/v1/cases/"+ent+"/reviews", nil); code != 403 {
		t.Fatalf("county started a township review: %d %v", code, out)
	}
	if code, _ := e.api(e.login("case_b"), "POST", "/api/v1/cases/"+ent+"/changes", map[string]any{"kind": "income", "reported_by": "household",
		"changed_on": "2026-01-01", "details": "x"}); code != 404 {
		t.Fatalf("county B reported a change in county A: %d", code)
	}
	code, out = e.api(e.login("case_a"), "GET", "/api/v1/cases/"+ent+"/dynamic", nil)
	if ch, _ := out["change_reports"].([]any); code != 200 || len(ch) != 2 {
		t.Fatalf("dynamic file: %d %v", code, out)
	}
}
