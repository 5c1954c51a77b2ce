package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/idcard"
)

// uploadForm posts a multipart form with fields and one file through a web session.
func (b *browser) uploadForm(path string, fields map[string]string, name string, content []byte) (int, string, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", b.csrf())
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	w, _ := mw.CreateFormFile("file", name)
	w.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.e.srv.URL)
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(body)
}

var itemLink = regexp.MustCompile(`href="/discovery/items/(\d+)"`)

// TestDiscoveryDeathEventStartsAReview: the done-when path over HTTP. A death
// file from the police names a dibao recipient; after the upload (which runs
// the rules) the recipient's township caseworker finds a review item on the
// should-stop list, caseworkers of other townships do not; starting it opens
// the review case, due within 3 months of the death, and the item records it.
func TestDiscoveryDeathEventStartsAReview(t *testing.T) {
	e, clock := caseEnv(t, "2025-12-01")
	ctx := context.Background()
	e.app.Discovery.Now = func() time.Time { return *clock }
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"dept", auth.DepartmentOfficer, "360000000000"}, {"case_a2", auth.TownshipCaseworker, "360124101000"}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	users := map[string]*auth.User{}
	for id := int64(1); id <= 12; id++ {
		if u, err := e.app.Auth.ByID(ctx, id); err == nil {
			users[u.Username] = u
		}
	}
	hA, pA, hhNo := e.household(e.login("case_a"), villageA, 11)
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
	if cs.State != casework.StateApproved {
		t.Fatalf("entitlement not approved: %s", cs.State)
	}
	*clock = time.Date(2026, 2, 16, 2, 0, 0, 0, time.UTC)

	// the police's death file: the recipient, and someone not in the registry
	stranger := idNo("1950-01-01", 901, true)
	file := "身份证号,死亡日期\n" + idNo("1960-02-03", 11, true) + ",2026-02-10\n" + stranger + ",2026-02-11\n"
	dept := e.browse("dept")
	// a bad file first: refused with its row report, nothing on any list
	code, path, body := dept.uploadForm("/discovery/events", map[string]string{"kind": "death", "source": "公安"}, "bad.csv",
		[]byte("身份证号,死亡日期\n"+idNo("1960-02-03", 11, true)+",2026-13-01\n"))
	if code != 200 || !strings.HasPrefix(path, "/discovery/imports/") || !strings.Contains(body, "未导入") || !strings.Contains(body, "日期格式不正确") {
		t.Fatalf("bad file: %d %s", code, path)
	}
	code, path, body = dept.uploadForm("/discovery/events", map[string]string{"kind": "death", "source": "公安"}, "deaths.csv", []byte(file))
	if code != 200 || !strings.HasPrefix(path, "/discovery/imports/") || !strings.Contains(body, "已导入") || !strings.Contains(body, "新发现 1 条") ||
		!strings.Contains(body, "未保存") {
		t.Fatalf("death file: %d %s %s", code, path, body)
	}
	if strings.Contains(body, stranger) || strings.Contains(body, idNo("1960-02-03", 11, true)) {
		t.Fatal("the import report shows an ID number")
	}

	// the township caseworker sees the review item; others do not
	cw := e.browse("case_a")
	_, page := cw.get("/discovery?list=stop")
	m := itemLink.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, hhNo) || !strings.Contains(page, "救助对象家庭成员死亡") {
		t.Fatalf("township A's list lacks the item:\n%s", page)
	}
	item := m[1]
	for _, other := range []string{"case_a2", "case_b"} {
		b := e.browse(other)
		if _, p := b.get("/discovery?all=1"); strings.Contains(p, hhNo) || itemLink.MatchString(p) {
			t.Fatalf("%s sees township A's item", other)
		}
		if code, _ := b.get("/discovery/items/" + item); code != 404 {
			t.Fatalf("%s opened township A's item: %d", other, code)
		}
		if code, out := e.api(e.login(other), "GET", "/api/v1/discovery/items", nil); code != 200 || len(out["items"].([]any)) != 0 {
			t.Fatalf("%s's API list: %d %v", other, code, out)
		}
	}
	// another township's caseworker cannot start it either
	b2 := e.browse("case_a2")
	if code, _ := b2.post("/discovery/items/"+item+"/review", url.Values{"csrf": {b2.csrf()}}); code != 404 {
		t.Fatalf("case_a2 started the review: %d", code)
	}
	_, page = cw.get("/discovery/items/" + item)
	if !strings.Contains(page, "3 个月内复核") || !strings.Contains(page, `action="/discovery/items/`+item+`/review"`) {
		t.Fatal("item page lacks its reason or the review form")
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/discovery/items/"+item+"/review", strings.NewReader(url.Values{"csrf": {cw.csrf()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	resp, err := cw.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rvm := regexp.MustCompile(`^/cases/(\d+)$`).FindStringSubmatch(resp.Request.URL.Path)
	if resp.StatusCode != 200 || rvm == nil || !strings.Contains(string(rb), "复核入户调查") || !strings.Contains(string(rb), "期限：2026-05-10") {
		t.Fatalf("starting the review: %d %s", resp.StatusCode, resp.Request.URL.Path)
	}
	var parent int64
	var purpose, status string
	var caseID int64
	e.app.DB.QueryRowContext(ctx, `SELECT parent_id, purpose FROM cases WHERE id = $1`, rvm[1]).Scan(&parent, &purpose)
	e.app.DB.QueryRowContext(ctx, `SELECT status, case_id FROM discovery_items WHERE id = $1`, item).Scan(&status, &caseID)
	if parent != cs.ID || purpose != "review" || status != "started" || fmt.Sprint(caseID) != rvm[1] {
		t.Fatalf("review %s of %d (%s); item %s with case %d", rvm[1], parent, purpose, status, caseID)
	}
	// worked once only; the county's summary counts it
	if code, out := e.api(e.login("case_a"), "POST", "/api/v1/discovery/items/"+item+"/review", nil); code != 409 {
		t.Fatalf("second start: %d %v", code, out)
	}
	code, out := e.api(e.login("county_a"), "GET", "/api/v1/discovery/measures", nil)
	ms, _ := out["counties"].([]any)
	if code != 200 || len(ms) != 1 || ms[0].(map[string]any)["stop_started"].(float64) != 1 {
		t.Fatalf("measures: %d %v", code, out)
	}
	// the same file again adds nothing
	_, _, body = dept.uploadForm("/discovery/events", map[string]string{"kind": "death"}, "deaths.csv", []byte(file))
	if !strings.Contains(body, "1 个此前已接收") || !strings.Contains(body, "新接收 0 个事件") {
		t.Fatal("re-sent file was counted again")
	}
	// an API batch with an unknown kind is refused with its report
	code, out = e.api(e.login("dept"), "POST", "/api/v1/discovery/events", map[string]any{"source": "公安", "events": []any{map[string]any{"kind": "lottery", "id_number": stranger}}})
	if code != 422 || errCode(out) != "events_refused" || out["report"] == nil {
		t.Fatalf("api batch: %d %v", code, out)
	}

	// a car registered after the application: a second should-stop item of
	// the same entitlement
	_, _, body = dept.uploadForm("/discovery/events", map[string]string{"kind": "vehicle"}, "cars.csv",
		[]byte("id_number,plate,vehicle_type,register_date,price_yuan\n"+idNo("1960-02-03", 11, true)+",赣A12345,K,2026-02-12,80000\n"))
	if !strings.Contains(body, "新发现 1 条") {
		t.Fatal("the car was not found")
	}
	cars, err := e.app.Discovery.Items(ctx, users["case_a"], discovery.Query{Rule: "vehicle"})
	if err != nil || len(cars) != 1 {
		t.Fatalf("vehicle items: %v %v", err, cars)
	}
	car := cars[0].ID
	reports := func() (n int, status string) {
		e.app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM change_reports WHERE case_id = $1`, cs.ID).Scan(&n)
		e.app.DB.QueryRowContext(ctx, `SELECT status FROM discovery_items WHERE id = $1`, car).Scan(&status)
		return
	}
	before, _ := reports()
	// a start that fails puts the item back on the list and reports nothing
	e.app.DB.ExecContext(ctx, `UPDATE cases SET state = 'suspended' WHERE id = $1`, cs.ID)
	if _, err := e.app.Discovery.StartReview(ctx, users["case_a"], e.app.Casework, car); err == nil {
		t.Fatal("a review was started on an entitlement not in force")
	}
	e.app.DB.ExecContext(ctx, `UPDATE cases SET state = 'approved' WHERE id = $1`, cs.ID)
	if n, st := reports(); n != before || st != "open" {
		t.Fatalf("after a failed start: %d change reports (had %d), item %s", n, before, st)
	}
	// workers starting it at once: one reports the change, the others are told
	var wg sync.WaitGroup
	who := []string{"case_a", "rev_a", "case_a", "rev_a"}
	errs := make([]error, len(who))
	start := make(chan struct{})
	for i := range who {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.app.Discovery.StartReview(ctx, users[who[i]], e.app.Casework, car)
		}()
	}
	close(start)
	wg.Wait()
	started := 0
	for _, err := range errs {
		var ae *apperr.Error
		switch {
		case err == nil:
			started++
		case !errors.As(err, &ae) || ae.Status != 409:
			t.Fatalf("a start at once failed otherwise: %v", err)
		}
	}
	if started != 1 {
		t.Fatalf("%d of %d starts at once succeeded: %v", started, len(who), errs)
	}
	if n, st := reports(); n != before+1 || st != "started" {
		t.Fatalf("after two starts at once: %d change reports (had %d), item %s", n, before, st)
	}

	// the poverty list: the department's clerk uploads it and sees the
	// counts and runs; the people on the review lists are for the township
	strangerMasked := idcard.Mask(stranger)
	code, _, body = dept.uploadForm("/linkage", map[string]string{"registry": "poverty"}, "p.csv",
		[]byte("身份证号,姓名,区划代码,类别\n"+stranger+",李四,"+villageA+",3\n"))
	if code != 200 || !strings.Contains(body, `id="linkage-counts"`) || !strings.Contains(body, `id="linkage-runs"`) || !strings.Contains(body, `id="linkage-form"`) ||
		strings.Contains(body, `id="linkage-entries"`) || strings.Contains(body, strangerMasked) {
		t.Fatalf("the importer's linkage page: %d\n%s", code, body)
	}
	if code, out := e.api(e.login("dept"), "GET", "/api/v1/linkage/poverty/not_receiving", nil); code != 403 {
		t.Fatalf("the importer read the list by API: %d %v", code, out)
	}
	if code, out := e.api(e.login("dept"), "GET", "/api/v1/linkage", nil); code != 200 || len(out["counties"].([]any)) != 1 {
		t.Fatalf("the importer's counts by API: %d %v", code, out)
	}
	if _, p := cw.get("/discovery"); !strings.Contains(p, `href="/linkage"`) {
		t.Fatal("the worklist does not lead to the linkage lists")
	}
	if code, p := cw.get("/linkage"); code != 200 || !strings.Contains(p, `id="linkage-entries"`) || !strings.Contains(p, strangerMasked) || strings.Contains(p, `id="linkage-form"`) {
		t.Fatalf("the caseworker's linkage page: %d", code)
	}
	if code, _ := e.browse("village_a").get("/linkage"); code != 403 {
		t.Fatalf("a village assistant opened the linkage page: %d", code)
	}
}
