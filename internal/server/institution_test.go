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
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
)

// TestInstitutionsThroughAPIAndPages registers a township elder home in
// county A through the API, admits centralised extreme-poverty people, rates
// and inspects it, and checks that county B's offices neither see nor change
// it; then the same through the pages, and the capacity figures.
func TestInstitutionsThroughAPIAndPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opts := gen.Options{Scale: 0.01, Seed: 5, Regions: []string{countyA}, Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, e.app.DB, e.app.Tree, e.app.Keys, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := payroll.SeedEntitlements(ctx, e.app.DB, e.app.Tree, opts, "2026-03"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"county_a", auth.CountyApprover, countyA}, {"county_b", auth.CountyApprover, countyB}, {"sup_city", auth.Supervisor, "360100000000"}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	day := func(ago int) string { return time.Now().In(calendar.China).AddDate(0, 0, -ago).Format(time.DateOnly) }
	a, b := e.login("county_a"), e.login("county_b")

	code, inst := e.api(a, "POST", "/api/v1/institutions", map[string]any{"kind": "elder_home", "name": "测试敬老院", "region": townshipA,
		"operator": "public_private", "capacity": 3, "carers": 2, "opened_on": "2010-01-01"})
	if code != 201 || inst["beds"].(float64) != 3 || inst["version"].(float64) != 1 {
		t.Fatalf("create: %d %v", code, inst)
	}
	id := int64(inst["id"].(float64))
	path := fmt.Sprintf("/api/v1/institutions/%d", id)
	if code, out := e.api(a, "POST", "/api/v1/institutions", map[string]any{"kind": "elder_home", "name": "x", "region": townshipA, "operator": "public", "stars": 3}); code != 422 || errCode(out) != "unknown_field" {
		t.Fatalf("unknown field: %d %v", code, out)
	}

	// county B: not found, forbidden, empty
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", path, nil, 404},
		{"PATCH", path, map[string]any{"kind": "elder_home", "name": "改", "region": countyB, "operator": "public", "version": 1}, 404},
		{"DELETE", path + "?version=1", nil, 404},
		{"POST", path + "/ratings", map[string]any{"stars": 3, "rated_on": day(1), "assessor": "外县"}, 404},
		{"POST", path + "/inspections", map[string]any{"inspected_on": day(1), "inspector": "外县", "findings": "x", "result": "pass"}, 404},
		{"POST", path + "/beds", map[string]any{"beds": []string{"9"}}, 404},
		{"GET", path + "/placements", nil, 404},
		{"POST", "/api/v1/institutions", map[string]any{"kind": "elder_home", "name": "越权", "region": townshipA, "operator": "public"}, 403},
		{"GET", "/api/v1/institutions?region=" + countyA, nil, 403},
		{"GET", "/api/v1/capacity?region=" + countyA, nil, 403},
		{"POST", "/api/v1/capacity/staff", map[string]any{"region": countyA, "as_of": day(1), "civil_servants": 5}, 403},
	} {
		if code, out := e.api(b, c.method, c.path, c.body); code != c.want {
			t.Errorf("B %s %s: %d %v, want %d", c.method, c.path, code, out, c.want)
		}
	}
	if code, out := e.api(b, "GET", "/api/v1/institutions", nil); code != 200 || len(out["institutions"].([]any)) != 0 {
		t.Fatalf("B list: %d %v", code, out)
	}
	if code, out := e.api(e.login("auditor_b"), "GET", "/api/v1/institutions", nil); code != 200 || len(out["institutions"].([]any)) != 0 {
		t.Fatalf("B auditor list: %d %v", code, out)
	}
	// the township caseworker reads, does not write; the village assistant neither
	ca := e.login("case_a")
	if code, out := e.api(ca, "GET", "/api/v1/institutions", nil); code != 200 || len(out["institutions"].([]any)) != 1 {
		t.Fatalf("township list: %d %v", code, out)
	}
	if code, _ := e.api(ca, "POST", path+"/ratings", map[string]any{"stars": 3, "rated_on": day(1), "assessor": "x"}); code != 403 {
		t.Fatalf("caseworker rated: %d", code)
	}
	if code, _ := e.api(e.login("village_a"), "GET", "/api/v1/institutions", nil); code != 403 {
		t.Fatalf("village assistant listed: %d", code)
	}

	// admissions: occupied bed and double placement refused
	_, cands := e.api(a, "GET", path+"/candidates", nil)
	cs := cands["candidates"].([]any)
	if len(cs) < 2 {
		t.Fatalf("candidates: %v", cands)
	}
	p1 := int64(cs[0].(map[string]any)["person_id"].(float64))
	p2 := int64(cs[1].(map[string]any)["person_id"].(float64))
	code, pl := e.api(a, "POST", path+"/placements", map[string]any{"person_id": p1, "bed_no": "1", "admitted_on": day(20)})
	if code != 201 || pl["bed_no"] != "1" || pl["case_id"].(float64) == 0 {
		t.Fatalf("admit: %d %v", code, pl)
	}
	if code, out := e.api(a, "POST", path+"/placements", map[string]any{"person_id": p2, "bed_no": "1", "admitted_on": day(10)}); code != 409 || errCode(out) != "bed_occupied" {
		t.Fatalf("occupied bed: %d %v", code, out)
	}
	if code, out := e.api(a, "POST", path+"/placements", map[string]any{"person_id": p1, "bed_no": "2", "admitted_on": day(10)}); code != 409 || errCode(out) != "already_placed" {
		t.Fatalf("double placement: %d %v", code, out)
	}
	if code, out := e.api(b, "GET", fmt.Sprintf("/api/v1/institutions/placements?person_id=%d", p1), nil); code != 200 || len(out["placements"].([]any)) != 0 {
		t.Fatalf("B sees A's placement: %d %v", code, out)
	}
	if code, out := e.api(a, "GET", fmt.Sprintf("/api/v1/institutions/placements?person_id=%d", p1), nil); code != 200 || len(out["placements"].([]any)) != 1 {
		t.Fatalf("A's placement history: %d %v", code, out)
	}

	// ratings come back newest first; an inspection is rectified
	for _, r := range []map[string]any{{"stars": 1, "rated_on": "2020-06-30", "assessor": "县民政局"}, {"stars": 3, "rated_on": day(30), "assessor": "市民政局"},
		{"stars": 2, "rated_on": "2023-06-30", "assessor": "县民政局"}} {
		if code, out := e.api(a, "POST", path+"/ratings", r); code != 201 {
			t.Fatalf("rate: %d %v", code, out)
		}
	}
	_, rs := e.api(a, "GET", path+"/ratings", nil)
	var order []string
	for _, r := range rs["ratings"].([]any) {
		order = append(order, r.(map[string]any)["rated_on"].(string))
	}
	if strings.Join(order, ",") != day(30)+",2023-06-30,2020-06-30" {
		t.Fatalf("rating order %v", order)
	}
	code, x := e.api(a, "POST", path+"/inspections", map[string]any{"inspected_on": day(40), "inspector": "县民政局", "findings": "消防通道堵塞", "result": "rectify", "deadline": day(10)})
	if code != 201 || x["overdue"] != true {
		t.Fatalf("inspect: %d %v", code, x)
	}
	xpath := fmt.Sprintf("%s/inspections/%d/close", path, int64(x["id"].(float64)))
	if code, out := e.api(a, "POST", xpath, map[string]any{"version": 1, "closed_on": day(5), "note": "已清理并复查"}); code != 200 || out["closed_on"] != day(5) || out["overdue"] != false {
		t.Fatalf("close: %d %v", code, out)
	}
	if code, out := e.api(a, "POST", xpath, map[string]any{"version": 1, "closed_on": day(5), "note": "again"}); code != 409 || errCode(out) != "version_conflict" {
		t.Fatalf("stale close: %d %v", code, out)
	}
	_, got := e.api(a, "GET", path, nil)
	gi := got["institution"].(map[string]any)
	if gi["stars"].(float64) != 3 || gi["occupied"].(float64) != 1 || gi["open_rectifications"].(float64) != 0 {
		t.Fatalf("details: %v", gi)
	}
	if code, out := e.api(a, "PATCH", path, map[string]any{"kind": "elder_home", "name": "测试中心敬老院", "region": townshipA, "operator": "public", "capacity": 3, "version": 2}); code != 409 || errCode(out) != "version_conflict" {
		t.Fatalf("stale edit: %d %v", code, out)
	}

	// capacity: the county's recipients per worker and the staffing record
	if code, out := e.api(a, "POST", "/api/v1/capacity/staff", map[string]any{"region": countyA, "as_of": day(3), "civil_servants": 4, "career_staff": 2, "purchased_workers": 4}); code != 201 {
		t.Fatalf("staff: %d %v", code, out)
	}
	var recipients float64
	if err := e.app.DB.QueryRowContext(ctx, `SELECT COUNT(DISTINCT household_id) FROM cases WHERE state = 'approved' AND decision = 'approved' AND region_code LIKE '360124%'`).Scan(&recipients); err != nil {
		t.Fatal(err)
	}
	code, capy := e.api(a, "GET", "/api/v1/capacity", nil)
	node := capy["node"].(map[string]any)
	if code != 200 || node["recipients"].(float64) != recipients || node["workers"].(float64) != 10 || node["per_worker"].(float64) != recipients/10 {
		t.Fatalf("capacity: %d %v (want %v recipients)", code, node, recipients)
	}
	if capy["ratio"].(map[string]any)["default"] != true {
		t.Fatalf("ratio %v", capy["ratio"])
	}
	if code, out := e.api(e.login("sup_city"), "PUT", "/api/v1/capacity/ratio", map[string]any{"recipients_per_worker": 100, "start_on": day(1), "reference": "x"}); code != 403 {
		t.Fatalf("city set the ratio: %d %v", code, out)
	}

	// the pages
	wa := e.browse("county_a")
	code, page := wa.get("/institutions?kind=elder_home")
	if code != 200 || !strings.Contains(page, "测试敬老院") || !strings.Contains(page, `href="/institutions"`) {
		t.Fatalf("list page: %d", code)
	}
	code, page = wa.get(fmt.Sprintf("/institutions/%d", id))
	if code != 200 || !strings.Contains(page, "三星级") || !strings.Contains(page, "admit-form") || !regexp.MustCompile(`360124\*+\d{3}[\dX]`).MatchString(page) {
		t.Fatalf("institution page: %d", code)
	}
	tok := wa.csrf()
	code, page = wa.post(fmt.Sprintf("/institutions/%d/placements", id), url.Values{"csrf": {tok}, "person_id": {fmt.Sprint(p2)}, "bed_id": {fmt.Sprint(bedID(t, e, id, "1"))}, "admitted_on": {day(1)}})
	if code != 409 || !strings.Contains(page, "已有人入住") {
		t.Fatalf("occupied bed by form: %d", code)
	}
	code, page = wa.post(fmt.Sprintf("/institutions/%d/placements", id), url.Values{"csrf": {tok}, "candidate": {fmt.Sprint(p2)}, "bed_id": {fmt.Sprint(bedID(t, e, id, "2"))}, "admitted_on": {day(1)}})
	if code != 200 || !strings.Contains(page, "已保存") {
		t.Fatalf("admit by form: %d", code)
	}
	code, page = wa.post(fmt.Sprintf("/institutions/%d/ratings", id), url.Values{"csrf": {tok}, "stars": {"2"}, "rated_on": {day(0)}, "assessor": {"县民政局复评"}})
	if code != 200 || !strings.Contains(page, `<strong id="current-stars">二星级</strong>`) {
		t.Fatalf("rate by form: %d", code)
	}
	code, page = wa.post(fmt.Sprintf("/institutions/%d", id), url.Values{"csrf": {tok}, "form": {"edit"}, "version": {"2"}, "kind": {"elder_home"}, "name": {"旧版本"},
		"region": {townshipA}, "operator": {"public"}})
	if code != 409 || !strings.Contains(page, "已被其他人修改") {
		t.Fatalf("stale edit by form: %d", code)
	}
	code, page = wa.get("/capacity")
	if code != 200 || !strings.Contains(page, "演示值") || !strings.Contains(page, "capacity-rows") || !strings.Contains(page, "staff-form") {
		t.Fatalf("capacity page: %d", code)
	}
	code, page = wa.post("/capacity/staff", url.Values{"csrf": {tok}, "back": {countyA}, "region": {townshipA}, "as_of": {day(2)}, "civil_servants": {"1"}, "purchased_workers": {"2"}})
	if code != 200 || !strings.Contains(page, "已保存") {
		t.Fatalf("staff by form: %d", code)
	}
	wb := e.browse("county_b")
	if code, _ := wb.get(fmt.Sprintf("/institutions/%d", id)); code != 404 {
		t.Fatalf("B's page of A's institution: %d", code)
	}
	if code, _ := wb.post(fmt.Sprintf("/institutions/%d/ratings", id), url.Values{"csrf": {wb.csrf()}, "stars": {"1"}, "rated_on": {day(0)}, "assessor": {"外县"}}); code != 404 {
		t.Fatalf("B rated A's institution by form: %d", code)
	}
	if code, _ := wb.get("/capacity?region=" + countyA); code != 403 {
		t.Fatalf("B's capacity page of A: %d", code)
	}
	if code, page := e.browse("case_a").get("/"); code != 200 || !strings.Contains(page, `href="/capacity"`) {
		t.Fatalf("nav for the caseworker: %d", code)
	}
	if code, _ := e.browse("village_a").get("/institutions"); code != 403 {
		t.Fatalf("village assistant: %d", code)
	}
}

func bedID(t *testing.T, e *env, inst int64, no string) int64 {
	t.Helper()
	var id int64
	if err := e.app.DB.QueryRowContext(context.Background(), `SELECT id FROM institution_beds WHERE institution_id = $1 AND bed_no = $2`, inst, no).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
