package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/reform"
	"jiuzhu/internal/registry"
)

// policyUsers adds the province and city supervisors the policy tests need.
func policyUsers(t *testing.T, e *env) {
	t.Helper()
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{
		{"sup_p1", auth.Supervisor, "360000000000"}, {"sup_p2", auth.Supervisor, "360000000000"},
		{"sup_gz", auth.Supervisor, "360700000000"}, {"sup_nc", auth.Supervisor, "360100000000"},
	} {
		if _, err := e.app.Auth.Create(context.Background(), nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
}

// raw calls the API with a literal body and returns the undecoded answer.
func (e *env) raw(token, method, path string, body []byte) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.app.DB.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func errField(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// TestRuleCasesThroughAPI runs every worked example and boundary case of
// internal/calc/cases through POST /api/v1/calculate.
func TestRuleCasesThroughAPI(t *testing.T) {
	e := newEnv(t)
	token := e.login("case_a")
	cases, err := calc.Cases()
	if err != nil || len(cases) < 50 {
		t.Fatalf("cases: %d, %v", len(cases), err)
	}
	for _, c := range cases {
		code, body := e.raw(token, "POST", "/api/v1/calculate", c.SituationJSON)
		if code != 200 {
			t.Errorf("%s: %d %s", c.File, code, body)
			continue
		}
		for _, d := range c.Check(body) {
			t.Errorf("%s: %s", c.File, d)
		}
	}
}

func TestCalculateBadInput(t *testing.T) {
	e := newEnv(t)
	token := e.login("case_a")
	member := `{"id":"a","birth_date":"1970-01-01","relation":"head"%s}`
	sit := func(date, region, members string) string {
		return fmt.Sprintf(`{"date":%q,"region":%q,"household":{"hukou":"rural","members":[%s]}}`, date, region, members)
	}
	ok := fmt.Sprintf(member, "")
	auditBefore, valuesBefore := e.count("audit_log"), e.count("policy_values")
	for _, tt := range []struct {
		name, body, field string
	}{
		{"impossible date", sit("2022-02-30", villageA, ok), "date"},
		{"unknown region", sit("2022-03-01", "360124100999", ok), "region"},
		{"negative income", sit("2022-03-01", villageA, fmt.Sprintf(member, `,"incomes":[{"kind":"wage","monthly_fen":-1}]`)), "household.members[0].incomes[0].monthly_fen"},
		{"unknown income kind", sit("2022-03-01", villageA, fmt.Sprintf(member, `,"incomes":[{"kind":"lottery","monthly_fen":1}]`)), "household.members[0].incomes[0].kind"},
		{"member twice", sit("2022-03-01", villageA, ok+","+strings.Replace(ok, "head", "child", 1)), "household.members[1].id"},
		{"self-care outside 0-6", sit("2022-03-01", villageA, fmt.Sprintf(member, `,"self_care_failed_items":7`)), "household.members[0].self_care_failed_items"},
		{"unknown field", `{"date":"2022-03-01","region":"` + villageA + `","household":{"hukou":"rural","members":[` + ok + `]},"salary":1}`, ""},
		{"unknown what-if parameter", `{"date":"2022-03-01","region":"` + villageA + `","household":{"hukou":"rural","members":[` + ok + `]},"parameters":{"no.such":"1"}}`, "parameters.no.such"},
		{"no parameter value", sit("2010-03-01", villageA, fmt.Sprintf(member, `,"birth_date":"1950-01-01"`)), ""},
	} {
		code, out := e.api(token, "POST", "/api/v1/calculate", tt.body)
		if code != 422 || (tt.field != "" && errField(out) != tt.field) {
			t.Errorf("%s: %d %v; want 422 naming %q", tt.name, code, out, tt.field)
		}
	}
	// A date before the first standard: the error names the missing parameter.
	code, out := e.api(token, "POST", "/api/v1/calculate", sit("2010-03-01", villageA, ok))
	if code != 422 || !strings.HasPrefix(errField(out), "dibao.") || errCode(out) != "no_parameter_value" {
		t.Errorf("missing parameter: %d %v", code, out)
	}
	if code, _ := e.api("", "POST", "/api/v1/calculate", sit("2022-03-01", villageA, ok)); code != 401 {
		t.Errorf("without login: %d", code)
	}
	if a, v := e.count("audit_log"), e.count("policy_values"); a != auditBefore || v != valuesBefore {
		t.Errorf("a refused calculation stored something: audit %d→%d, values %d→%d", auditBefore, a, valuesBefore, v)
	}
}

func TestPolicyReadAPI(t *testing.T) {
	e := newEnv(t)
	token := e.login("village_a")
	code, out := e.api(token, "GET", "/api/v1/policy/kinds", nil)
	if code != 200 || len(out["income"].([]any)) < 10 || len(out["asset"].([]any)) < 5 || len(out["programme"].([]any)) != 9 {
		t.Fatalf("kinds: %d %v", code, out)
	}
	if k := out["income"].([]any)[0].(map[string]any); k["name"] != "wage" || k["label"] == "" {
		t.Errorf("income kind: %v", k)
	}
	code, out = e.api(token, "GET", "/api/v1/policy/parameters", nil)
	if code != 200 || len(out["parameters"].([]any)) < 40 {
		t.Fatalf("parameters: %d %v", code, out)
	}
	code, out = e.api(token, "GET", "/api/v1/policy/parameters/dibao.standard.rural?region="+villageA+"&date=2022-03-01", nil)
	if code != 200 || out["value"] != "385.00" || out["value_fen"].(float64) != 38500 || out["region"] != "36" || out["start"] != "2019-01-01" || out["reference"] == "" || out["demo"] != false {
		t.Errorf("resolve: %d %v", code, out)
	}
	if code, out = e.api(token, "GET", "/api/v1/policy/parameters/dibao.average_payment.urban", nil); code != 200 || out["demo"] != true {
		t.Errorf("demo value: %d %v", code, out)
	}
	if code, out = e.api(token, "GET", "/api/v1/policy/parameters/no.such", nil); code != 404 {
		t.Errorf("unknown parameter: %d %v", code, out)
	}
	code, out = e.api(token, "GET", "/api/v1/policy/parameters/dibao.standard.urban?date=2010-01-01", nil)
	if code != 422 || errField(out) != "dibao.standard.urban" || !strings.Contains(out["error"].(map[string]any)["message"].(string), "dibao.standard.urban") {
		t.Errorf("no value: %d %v", code, out)
	}
	if code, out = e.api(token, "GET", "/api/v1/policy/parameters/dibao.standard.urban?date=2022-13-01", nil); code != 422 || errField(out) != "date" {
		t.Errorf("bad date: %d %v", code, out)
	}
	code, out = e.api(token, "GET", "/api/v1/policy/parameters/dibao.standard.urban/history", nil)
	if code != 200 || len(out["values"].([]any)) == 0 || out["values"].([]any)[0].(map[string]any)["source"] != "yaml" {
		t.Errorf("history: %d %v", code, out)
	}
	// Loading the YAML set again adds nothing.
	if n, err := e.app.Policy.Sync(context.Background()); err != nil || n != 0 {
		t.Errorf("second Sync added %d rows, %v", n, err)
	}
}

func nextJanuary() string {
	return fmt.Sprintf("%d-01-01", time.Now().Year()+1)
}

func TestPolicySchedule(t *testing.T) {
	e := newEnv(t)
	policyUsers(t, e)
	gz, p1, p2, nc := e.login("sup_gz"), e.login("sup_p1"), e.login("sup_p2"), e.login("sup_nc")
	jan := nextJanuary()
	proposal := func(region, start, value string) map[string]any {
		return map[string]any{"name": "dibao.standard.urban", "region": region, "start": start, "value": value, "reference": "赣市府字〔2025〕1号"}
	}
	code, out := e.api(gz, "POST", "/api/v1/policy/schedule", proposal("3607", jan, "720.00"))
	if code != 201 || out["status"] != "scheduled" || out["proposed_by"] != "sup_gz" {
		t.Fatalf("schedule: %d %v", code, out)
	}
	id := int64(out["id"].(float64))

	adminA, caseA := e.login("admin_a"), e.login("case_a") // logins are audited too
	rows, audits := e.count("policy_values"), e.count("audit_log")
	dayBefore, _ := time.Parse(time.DateOnly, jan)
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	for _, tt := range []struct {
		name, token string
		body        any
		code        int
		field       string
	}{
		{"overlap", p1, proposal("3607", jan, "730.00"), 422, "start"},
		{"before the last start", p1, proposal("3607", dayBefore.AddDate(0, 0, -1).Format(time.DateOnly), "730.00"), 422, "start"},
		{"starts today", p1, proposal("36", today, "700.00"), 422, "start"},
		{"in the past", p1, proposal("36", "2020-01-01", "700.00"), 422, "start"},
		{"bad value", p1, proposal("36", jan, "七百"), 422, "value"},
		{"no reference", p1, map[string]any{"name": "dibao.standard.urban", "region": "36", "start": jan, "value": "700.00"}, 422, "reference"},
		{"bad date", p1, proposal("36", "2026-02-30", "700.00"), 422, "start"},
		{"unknown parameter", p1, map[string]any{"name": "no.such", "region": "36", "start": jan, "value": "1", "reference": "x"}, 422, "name"},
		{"outside the region", gz, proposal("3601", jan, "700.00"), 403, "region"},
		{"county level", adminA, proposal("360124", jan, "700.00"), 403, ""},
		{"no permission", caseA, proposal("360124", jan, "700.00"), 403, ""},
		{"unknown field", p1, map[string]any{"name": "dibao.standard.urban", "region": "36", "start": jan, "value": "700.00", "reference": "x", "by": "me"}, 422, "by"},
	} {
		code, out := e.api(tt.token, "POST", "/api/v1/policy/schedule", tt.body)
		if code != tt.code || (tt.field != "" && errField(out) != tt.field) {
			t.Errorf("%s: %d %v; want %d naming %q", tt.name, code, out, tt.code, tt.field)
		}
	}
	if r, a := e.count("policy_values"), e.count("audit_log"); r != rows || a != audits {
		t.Errorf("refused proposals stored something: rows %d→%d, audit %d→%d", rows, r, audits, a)
	}

	approve := fmt.Sprintf("/api/v1/policy/schedule/%d/approve", id)
	if code, out := e.api(gz, "POST", approve, nil); code != 403 {
		t.Errorf("proposer approving own schedule: %d %v", code, out)
	}
	if code, out := e.api(nc, "POST", approve, nil); code != 404 {
		t.Errorf("Nanchang supervisor approving a Ganzhou value: %d %v", code, out)
	}
	if code, out := e.api(caseA, "POST", approve, nil); code != 403 {
		t.Errorf("caseworker approving: %d %v", code, out)
	}
	// Before approval the new value is not effective.
	code, out = e.api(p2, "GET", "/api/v1/policy/parameters/dibao.standard.urban?region=360702001001&date="+jan, nil)
	if code != 200 || out["value"] != "640.00" {
		t.Errorf("before approval: %d %v", code, out)
	}
	code, out = e.api(p1, "GET", "/api/v1/policy/schedule", nil)
	if code != 200 || len(out["values"].([]any)) != 1 {
		t.Errorf("pending list: %d %v", code, out)
	}
	if code, out := e.api(p1, "POST", approve, map[string]any{"note": "同意"}); code != 200 || out["status"] != "approved" || out["decided_by"] != "sup_p1" {
		t.Fatalf("approve: %d %v", code, out)
	}
	if code, out := e.api(p2, "POST", approve, nil); code != 409 {
		t.Errorf("second approval: %d %v", code, out)
	}
	code, out = e.api(p2, "GET", "/api/v1/policy/parameters/dibao.standard.urban?region=360702001001&date="+jan, nil)
	if code != 200 || out["value"] != "720.00" || out["region"] != "3607" || out["start"] != jan {
		t.Errorf("after approval, Ganzhou: %d %v", code, out)
	}
	if code, out = e.api(p2, "GET", "/api/v1/policy/parameters/dibao.standard.urban?region="+villageB+"&date="+jan, nil); out["value"] != "640.00" {
		t.Errorf("after approval, Nanchang keeps the province value: %d %v", code, out)
	}
	// Calculations use the approved value from its start.
	sit := fmt.Sprintf(`{"date":%q,"region":"360702001001","programmes":["dibao"],"household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head"}]}}`, jan)
	code, body := e.raw(p2, "POST", "/api/v1/calculate", []byte(sit))
	if code != 200 || !strings.Contains(string(body), `"monthly_fen":72000`) || !strings.Contains(string(body), "赣市府字〔2025〕1号") {
		t.Errorf("calculation after approval: %d %s", code, body)
	}

	// A rejection needs a reason and is kept in the history.
	code, out = e.api(p2, "POST", "/api/v1/policy/schedule", map[string]any{"name": "dibao.standard.rural", "region": "36", "start": jan, "value": "450.00",
		"reference": "赣府字〔2025〕2号", "demo": true, "note": "测算用"})
	if code != 201 {
		t.Fatalf("second schedule: %d %v", code, out)
	}
	reject := fmt.Sprintf("/api/v1/policy/schedule/%d/reject", int64(out["id"].(float64)))
	if code, out := e.api(p1, "POST", reject, nil); code != 422 || errField(out) != "note" {
		t.Errorf("reject without a reason: %d %v", code, out)
	}
	if code, out := e.api(p1, "POST", reject, map[string]any{"note": "依据不足"}); code != 200 || out["status"] != "rejected" {
		t.Errorf("reject: %d %v", code, out)
	}
	code, out = e.api(p1, "GET", "/api/v1/policy/parameters/dibao.standard.rural/history", nil)
	last := out["values"].([]any)[len(out["values"].([]any))-1].(map[string]any)
	if code != 200 || last["status"] != "rejected" || last["decision_note"] != "依据不足" {
		t.Errorf("history after rejection: %d %v", code, last)
	}
	// The rejected start is free again.
	if code, out := e.api(p2, "POST", "/api/v1/policy/schedule", map[string]any{"name": "dibao.standard.rural", "region": "36", "start": jan, "value": "440.00", "reference": "赣府字〔2025〕3号"}); code != 201 {
		t.Errorf("schedule after a rejection: %d %v", code, out)
	}
	var n int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action IN ('policy.schedule', 'policy.approve', 'policy.reject')`).Scan(&n)
	if n != 5 { // three proposals, one approval, one rejection
		t.Errorf("audit entries for policy steps: %d; want 5", n)
	}
}

func TestPolicyPages(t *testing.T) {
	e := newEnv(t)
	policyUsers(t, e)
	gz, p1 := e.browse("sup_gz"), e.browse("sup_p1")
	cases, _ := calc.Cases()
	for _, p := range []string{"/policy", "/policy/dibao.standard.urban", "/policy/cases", "/calculate", "/simulate"} {
		code, body := gz.get(p)
		if code != 200 || !strings.Contains(body, "</html>") || strings.Contains(body, "系统内部错误") {
			t.Errorf("GET %s: %d", p, code)
		}
		if p == "/policy/cases" && strings.Count(body, `class="card case"`) != len(cases) {
			t.Errorf("/policy/cases lists %d cases; want %d", strings.Count(body, `class="card case"`), len(cases))
		}
	}
	if code, body := gz.get("/policy/dibao.standard.average"); code != 404 || !strings.Contains(body, "参数不存在") {
		t.Errorf("unknown parameter page: %d", code)
	}
	if _, body := gz.get("/policy/dibao.average_payment.urban"); !strings.Contains(body, "演示值") {
		t.Error("demo values are not labelled")
	}
	jan := nextJanuary()
	form := url.Values{"csrf": {gz.csrf()}, "region": {"3607"}, "start": {"2020-01-01"}, "value": {"720.00"}, "reference": {"赣市府字〔2025〕1号"}}
	if code, body := gz.post("/policy/dibao.standard.urban/schedule", form); code != 422 || !strings.Contains(body, "必须晚于今天") || !strings.Contains(body, `value="720.00"`) {
		t.Errorf("schedule in the past: %d", code)
	}
	form.Set("start", jan)
	if code, body := gz.post("/policy/dibao.standard.urban/schedule", form); code != 200 || !strings.Contains(body, "待审批") {
		t.Fatalf("schedule: %d", code)
	}
	var id int64
	e.app.DB.QueryRow(`SELECT id FROM policy_values WHERE status = 'scheduled'`).Scan(&id)
	if code, body := gz.post(fmt.Sprintf("/policy/values/%d/approve", id), url.Values{"csrf": {gz.csrf()}, "back": {"dibao.standard.urban"}}); code != 403 || !strings.Contains(body, "不能审批自己") {
		t.Errorf("own approval on the page: %d", code)
	}
	if code, body := p1.post(fmt.Sprintf("/policy/values/%d/approve", id), url.Values{"csrf": {p1.csrf()}, "note": {"同意"}}); code != 200 || !strings.Contains(body, "已批准") {
		t.Errorf("approval on the page: %d", code)
	}

	// The calculation page: a form household, then bad JSON naming the field.
	form = url.Values{"csrf": {gz.csrf()}, "use": {"form"}, "date": {"2022-03-01"}, "region": {villageB}, "hukou": {"urban"},
		"birth0": {"1970-01-01"}, "relation0": {"head"}, "co_resident0": {"1"}, "able0": {"1"}, "inc0_0": {"wage"}, "incamt0_0": {"300"}, "programmes": {"dibao"}}
	code, body := gz.post("/calculate", form)
	if code != 200 || !strings.Contains(body, "符合，每月 340.00 元") || !strings.Contains(body, "dibao.standard.urban") || !strings.Contains(body, "JX2019") {
		t.Errorf("calculate form: %d\n%s", code, body)
	}
	bad := url.Values{"csrf": {gz.csrf()}, "use": {"json"}, "json": {`{"date":"2022-03-01","region":"` + villageB + `","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head","self_care_failed_items":9}]}}`}}
	if code, body := gz.post("/calculate", bad); code != 422 || !strings.Contains(body, "household.members[0].self_care_failed_items") {
		t.Errorf("calculate bad JSON: %d", code)
	}
}

// TestSimulation builds households with incomes in a village of county A and
// simulates a higher rural standard there: the page and the service agree,
// and people outside the user's region are neither read nor counted.
func TestSimulation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	caseA, _ := e.app.Auth.ByID(ctx, 2)
	caseB, _ := e.app.Auth.ByID(ctx, 4)
	if caseA.Username != "case_a" || caseB.Username != "case_b" {
		t.Fatal("unexpected user ids")
	}
	mk := func(u *auth.User, village string, seq int, wageFen int64) int64 {
		h, err := e.app.Registry.CreateHousehold(ctx, u, registry.HouseholdInput{Region: village, Hukou: "rural", Address: "测试地址",
			Head: registry.PersonInput{IDNumber: idNo("1975-03-04", seq, true), Name: "测试户主", CoResident: true, AbleToWork: true}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Registry.SetIncome(ctx, u, h.Members[0].ID, "wage", wageFen, "2020-01-01", "入户调查"); err != nil {
			t.Fatal(err)
		}
		return h.ID
	}
	mk(caseA, villageA, 11, 40000)   // 400 > 385: not eligible now, eligible at 420 (20.00)
	mk(caseA, villageA, 13, 30000)   // eligible now (85.00) and after (120.00)
	mk(caseA, villageA, 15, 100000)  // never
	mk(caseB, villageB, 17, 10000)   // another county: never read by case_a
	h5 := mk(caseA, villageA, 19, 0) // income ended below
	p5, _ := e.app.Registry.Household(ctx, caseA, h5)
	if _, err := e.app.Registry.SetIncome(ctx, caseA, p5.Members[0].ID, "wage", 50000, "2021-01-01", "就业"); err != nil {
		t.Fatal(err)
	}

	// Finance input is validated and scoped.
	if _, err := e.app.Registry.SetIncome(ctx, caseA, p5.Members[0].ID, "wage", -1, "2021-01-01", "x"); err == nil {
		t.Error("negative income accepted")
	}
	if _, err := e.app.Registry.SetIncome(ctx, caseB, p5.Members[0].ID, "wage", 1, "2021-01-01", "x"); err == nil {
		t.Error("income set from another county")
	}
	if _, err := e.app.Registry.AddAsset(ctx, caseA, h5, "deposit", 100, "核查"); err != nil {
		t.Fatal(err)
	}
	sit, err := e.app.Registry.Situation(ctx, caseA, h5, "2022-03-01")
	if err != nil || len(sit.Household.Members) != 1 || len(sit.Household.Members[0].Incomes) != 1 || sit.Household.Members[0].Incomes[0].MonthlyFen != 50000 ||
		len(sit.Household.Members[0].Assets) != 1 {
		t.Fatalf("situation of household %d: %+v %v", h5, sit, err)
	}

	current, err := e.app.Policy.Effective(ctx)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := time.Parse(time.DateOnly, "2022-03-01")
	rep, err := reform.Simulate(ctx, e.app.Registry, e.app.Tree, current, reform.Change{Name: "dibao.standard.rural", Value: "420.00", From: from, Region: "36"},
		reform.Options{Scope: caseA.Scope(), BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var dibao reform.ProgrammeDelta
	for _, p := range rep.Programmes {
		if p.Programme == "dibao" {
			dibao = p
		}
	}
	if rep.Households != 4 || dibao.EligibleNow != 1 || dibao.EligibleAfter != 2 || dibao.NewlyEligible != 1 || dibao.Changed != 1 ||
		dibao.MonthlyNow != 8500 || dibao.MonthlyAfter != 14000 || len(rep.Counties) != 1 || rep.Counties[0].Code != "360124" {
		t.Errorf("simulation: %+v\ndibao %+v", rep, dibao)
	}
	if _, err := reform.Simulate(ctx, e.app.Registry, e.app.Tree, current, reform.Change{Name: "dibao.standard.rural", Value: "x", From: from, Region: "36"}, reform.Options{}); err == nil {
		t.Error("a bad value was simulated")
	}
	var se *policy.ScheduleError
	_, err = reform.Simulate(ctx, e.app.Registry, e.app.Tree, current, reform.Change{Name: "dibao.standard.rural", Value: "x", From: from, Region: "36"}, reform.Options{})
	if !errors.As(err, &se) || se.Field != "value" {
		t.Errorf("bad value error: %v", err)
	}

	b := e.browse("case_a")
	code, body := b.post("/simulate", url.Values{"csrf": {b.csrf()}, "param": {"dibao.standard.rural"}, "value": {"420.00"}, "from": {"2022-03-01"}, "region": {"36"}})
	if code != 200 || !strings.Contains(body, "测算 4 户") || !strings.Contains(body, "进贤县") || strings.Contains(body, "东湖区") {
		t.Errorf("simulate page: %d\n%s", code, body)
	}
	if code, body := b.post("/simulate", url.Values{"csrf": {b.csrf()}, "param": {"dibao.standard.rural"}, "value": {"420.00"}, "from": {"2022-03-01"}, "region": {"3607"}}); code != 403 {
		t.Errorf("simulate outside the region: %d %s", code, body)
	}
	var n int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'policy.simulate'`).Scan(&n)
	if n != 1 {
		t.Errorf("simulation audit entries: %d", n)
	}
}
