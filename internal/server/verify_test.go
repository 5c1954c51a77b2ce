package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/payroll"
)

// verifyFixture is a small county with its recipients, the verification
// accounts, and one recipient household of township A with two adults that the
// extracts below speak about.
type verifyFixture struct {
	e        *env
	hhID     int64
	hhNo     string
	adults   []int64 // person ids of the adult members
	dead     string  // the member with a funeral record
	deadID   string  // their ID number
	owner    string  // the member with an undeclared car
	dataDate string
}

func newVerifyFixture(t *testing.T) *verifyFixture {
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
	otherTownship := e.app.Tree.Children(countyA)[1].Code
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{
		{"verify_a", auth.VerificationOfficer, countyA}, {"dept_p", auth.DepartmentOfficer, "360000000000"},
		{"case_a2", auth.TownshipCaseworker, otherTownship},
	} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}

	// a dibao household of township A with two adults and no declared car
	today := time.Now().UTC()
	var pick *gen.Household
	g, err := gen.New(opts, e.app.Tree)
	if err != nil {
		t.Fatal(err)
	}
	for h, err := range g.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Region, townshipA[:9]) || h.Members[0].Programmes&(gen.DibaoRural|gen.DibaoUrban) == 0 {
			continue
		}
		adults, car := 0, false
		for _, m := range h.Members {
			if b, _ := time.Parse(time.DateOnly, m.BirthDate); !b.AddDate(18, 0, 0).After(today) {
				adults++
			}
		}
		for _, a := range h.Assets {
			car = car || a.Kind == "vehicle"
		}
		if adults >= 2 && !car {
			pick = h
			break
		}
	}
	if pick == nil {
		t.Fatal("no dibao household with two adults in township A")
	}
	f := &verifyFixture{e: e, hhNo: pick.No, dataDate: today.AddDate(0, 0, -1).Format(time.DateOnly)}
	code, out := e.api(e.login("case_a"), "GET", "/api/v1/households?no="+pick.No, nil)
	if code != 200 {
		t.Fatalf("household %s: %d %v", pick.No, code, out)
	}
	f.hhID = int64(out["id"].(float64))
	if code, out = e.api(e.login("case_a"), "GET", fmt.Sprintf("/api/v1/households/%d", f.hhID), nil); code != 200 {
		t.Fatalf("household %d: %d %v", f.hhID, code, out)
	}
	var adultsGen []*gen.Person
	for _, m := range pick.Members {
		if b, _ := time.Parse(time.DateOnly, m.BirthDate); !b.AddDate(18, 0, 0).After(today) {
			adultsGen = append(adultsGen, m)
		}
	}
	for _, m := range out["members"].([]any) {
		m := m.(map[string]any)
		for _, a := range adultsGen {
			if m["name"] == a.Name && m["birth_date"] == a.BirthDate {
				f.adults = append(f.adults, int64(m["id"].(float64)))
			}
		}
	}
	if len(f.adults) != len(adultsGen) {
		t.Fatalf("adults: %v of %d", f.adults, len(adultsGen))
	}
	dead, owner := adultsGen[len(adultsGen)-1], adultsGen[0]
	f.dead, f.deadID, f.owner = dead.Name, dead.IDNumber, owner.Name

	// the department officer imports a funeral record and a car
	dept := e.login("dept_p")
	stranger := idcard.Build("110101", time.Date(1975, 4, 5, 0, 0, 0, 0, time.UTC), 31, true) // someone of Beijing
	day := func(d int) string { return today.AddDate(0, 0, -d).Format(time.DateOnly) }
	funeral := "id_number,death_date,cremation_date,home\n" + dead.IDNumber + "," + day(20) + "," + day(18) + ",进贤县殡仪馆\n" +
		stranger + "," + day(30) + ",,\n"
	if code, out := f.upload(dept, "funeral", "", "funeral.csv", funeral); code != 200 || out["outcome"] != "loaded" {
		t.Fatalf("funeral import: %d %v", code, out)
	}
	vehicle := "身份证号,号牌号码,车辆类型,登记日期,购置价（元）\n" + owner.IDNumber + ",赣A7K281,K,2024-05-01,186000.00\n"
	if code, out := f.upload(dept, "vehicle", "", "vehicle.csv", vehicle); code != 200 || out["outcome"] != "loaded" {
		t.Fatalf("vehicle import: %d %v", code, out)
	}
	return f
}

// upload posts an extract to the API as a multipart form.
func (f *verifyFixture) upload(token, source, provider, name, content string) (int, map[string]any) {
	f.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("source", source)
	mw.WriteField("provider", provider)
	mw.WriteField("data_date", f.dataDate)
	w, _ := mw.CreateFormFile("file", name)
	io.WriteString(w, content)
	mw.Close()
	req, _ := http.NewRequest("POST", f.e.srv.URL+"/api/v1/verify/extracts", &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// authorise records a signed form for a member through the API.
func (f *verifyFixture) authorise(token string, person int64) (int, map[string]any) {
	return f.e.api(token, "POST", "/api/v1/verify/authorisations", map[string]any{"household_id": f.hhID, "person_id": person,
		"programme": "dibao", "signed_on": f.dataDate, "fingerprint": true, "pledge": true})
}

func (f *verifyFixture) auditCount(action string) int {
	f.e.t.Helper()
	var n int
	if err := f.e.app.DB.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
		f.e.t.Fatal(err)
	}
	return n
}

func findings(rep map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := rep["findings"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestVerifyThroughAPI: authorisations gate the request; the report shows the
// planted department items and findings, is audited on every read and stays
// inside the township; a refused import leaves the extracts in force; an
// objection re-checks with a finding set aside; a batch raises tasks that the
// township closes; another office's request is answered.
func TestVerifyThroughAPI(t *testing.T) {
	f := newVerifyFixture(t)
	e := f.e
	caseA, dept := e.login("case_a"), e.login("dept_p")
	req := map[string]any{"household_id": f.hhID, "purpose": "application"}

	// no query without every adult's signed authorisation
	if code, out := e.api(caseA, "POST", "/api/v1/verify/requests", req); code != 422 || errCode(out) != "authorisation_missing" {
		t.Fatalf("request without authorisations: %d %v", code, out)
	}
	if code, out := e.api(caseA, "POST", "/api/v1/verify/authorisations", map[string]any{"household_id": f.hhID, "person_id": f.adults[0],
		"programme": "dibao", "signed_on": f.dataDate, "pledge": true}); code != 422 || errCode(out) != "fingerprint_required" {
		t.Fatalf("authorisation without fingerprint: %d %v", code, out)
	}
	if code, out := f.authorise(caseA, f.adults[0]); code != 201 || out["id"] == nil {
		t.Fatalf("authorise: %d %v", code, out)
	}
	if code, out := e.api(caseA, "POST", "/api/v1/verify/requests", req); code != 422 || errCode(out) != "authorisation_missing" {
		t.Fatalf("request with one of the adults: %d %v", code, out)
	}
	for _, p := range f.adults[1:] {
		if code, out := f.authorise(caseA, p); code != 201 {
			t.Fatalf("authorise %d: %d %v", p, code, out)
		}
	}
	code, out := e.api(caseA, "GET", fmt.Sprintf("/api/v1/verify/households/%d/authorisations", f.hhID), nil)
	if code != 200 || len(out["authorisations"].([]any)) != len(f.adults) {
		t.Fatalf("authorisations: %d %v", code, out)
	}
	for _, a := range out["authorisations"].([]any) {
		if a.(map[string]any)["valid"] != true {
			t.Fatalf("authorisation not valid: %v", a)
		}
	}
	code, sum := e.api(caseA, "POST", "/api/v1/verify/requests", req)
	if code != 200 || sum["findings"].(float64) < 2 {
		t.Fatalf("request: %d %v", code, sum)
	}
	reqID := int64(sum["id"].(float64))
	reportPath := fmt.Sprintf("/api/v1/verify/requests/%d", reqID)

	// the report: the planted items and findings; every read audited
	reads := f.auditCount("verify.report.read")
	code, rep := e.api(caseA, "GET", reportPath, nil)
	if code != 200 || rep["no"] != sum["no"] || rep["household_no"] != f.hhNo {
		t.Fatalf("report: %d %v", code, rep)
	}
	kinds := map[string]string{}
	for _, m := range rep["members"].([]any) {
		m := m.(map[string]any)
		items, _ := m["items"].([]any)
		for _, it := range items {
			kinds[it.(map[string]any)["kind"].(string)] = m["name"].(string)
		}
	}
	if kinds["death"] != f.dead || kinds["vehicle"] != f.owner {
		t.Fatalf("report items by kind: %v (want death of %s, vehicle of %s)", kinds, f.dead, f.owner)
	}
	var death, car int = -1, -1
	for i, fd := range findings(rep) {
		switch fd["kind"] {
		case "death":
			death = i
			if !strings.Contains(fd["text"].(string), f.dead) {
				t.Errorf("death finding: %v", fd)
			}
		case "vehicle":
			car = i
		}
	}
	if death < 0 || car < 0 {
		t.Fatalf("findings: %v", rep["findings"])
	}
	if code, _ := e.api(caseA, "GET", reportPath, nil); code != 200 {
		t.Fatalf("second read: %d", code)
	}
	if n := f.auditCount("verify.report.read"); n != reads+2 {
		t.Fatalf("report reads audited: %d, want %d", n, reads+2)
	}
	if code, out := e.api(caseA, "GET", fmt.Sprintf("/api/v1/verify/households/%d/requests", f.hhID), nil); code != 200 || len(out["requests"].([]any)) != 1 {
		t.Fatalf("requests: %d %v", code, out)
	}

	// another township and the department officer do not see it
	if code, out := e.api(e.login("case_a2"), "GET", reportPath, nil); code != 404 {
		t.Fatalf("other township read the report: %d %v", code, out)
	}
	if code, out := e.api(e.login("case_a2"), "POST", "/api/v1/verify/requests", req); code != 404 {
		t.Fatalf("other township requested: %d %v", code, out)
	}
	if code, out := e.api(dept, "GET", reportPath, nil); code != 403 {
		t.Fatalf("department officer read the report: %d %v", code, out)
	}
	if n := f.auditCount("verify.report.read"); n != reads+2 {
		t.Fatalf("refused reads audited as reads: %d", n)
	}

	// a refused import changes nothing in force
	_, before := e.api(dept, "GET", "/api/v1/verify/extracts", nil)
	bad := "id_number,plate,vehicle_type,register_date,price_yuan\n" + badCheckDigit(f.deadID) + ",赣A00001,K,2024-05-01,90000\n"
	code, out = f.upload(dept, "vehicle", "", "vehicle-bad.csv", bad)
	if code != 422 || errCode(out) != "extract_refused" {
		t.Fatalf("bad import: %d %v", code, out)
	}
	res := out["result"].(map[string]any)
	errs, _ := res["errors"].([]any)
	if res["outcome"] != "refused" || len(errs) != 1 || errs[0].(map[string]any)["line"].(float64) != 2 || errs[0].(map[string]any)["column"] != "身份证号" {
		t.Fatalf("row report: %v", res)
	}
	_, after := e.api(dept, "GET", "/api/v1/verify/extracts", nil)
	if b1, _ := json.Marshal(before); !bytes.Equal(b1, must(json.Marshal(after))) {
		t.Fatalf("extracts changed by a refused import:\n%v\n%v", before, after)
	}
	if n := len(after["extracts"].([]any)); n != 2 {
		t.Fatalf("extracts in force: %d", n)
	}
	if code, out := e.api(dept, "GET", fmt.Sprintf("/api/v1/verify/imports/%d", int64(res["import_id"].(float64))), nil); code != 200 || out["outcome"] != "refused" || out["errors"] == nil {
		t.Fatalf("import log: %d %v", code, out)
	}
	if code, out := e.api(caseA, "GET", "/api/v1/verify/extracts", nil); code != 403 {
		t.Fatalf("caseworker saw the extracts: %d %v", code, out)
	}

	// an objection: the car was sold, the finding is set aside on the evidence
	code, re := e.api(caseA, "POST", reportPath+"/objection", map[string]any{"evidence": "机动车转让登记证明（2026年10月）",
		"set_aside": map[string]string{fmt.Sprint(car): "车辆已于2026年10月过户给他人"}})
	if code != 200 || re["purpose"] != "objection" || re["findings"].(float64) != sum["findings"].(float64)-1 {
		t.Fatalf("objection: %d %v", code, re)
	}
	code, rep2 := e.api(caseA, "GET", fmt.Sprintf("/api/v1/verify/requests/%d", int64(re["id"].(float64))), nil)
	if code != 200 || rep2["parent"] != sum["no"] || !strings.Contains(fmt.Sprint(rep2["evidence"]), "转让") {
		t.Fatalf("re-check report: %d %v", code, rep2)
	}
	for _, fd := range findings(rep2) {
		if (fd["kind"] == "vehicle") != (fd["excluded"] == true) {
			t.Errorf("re-check finding: %v", fd)
		}
	}
	if code, out := e.api(caseA, "POST", reportPath+"/objection", map[string]any{"evidence": "x", "set_aside": map[string]string{fmt.Sprint(car): ""}}); code != 422 || errCode(out) != "reason_required" {
		t.Fatalf("set aside without a reason: %d %v", code, out)
	}

	// the county's batch re-check raises tasks for the township
	verifier := e.login("verify_a")
	code, batch := e.api(verifier, "POST", "/api/v1/verify/batches", map[string]any{})
	if code != 200 || batch["status"] != "done" || batch["tasks"].(float64) < 2 {
		t.Fatalf("batch: %d %v", code, batch)
	}
	if code, out := e.api(verifier, "GET", "/api/v1/verify/batches", nil); code != 200 || len(out["batches"].([]any)) != 1 {
		t.Fatalf("batches: %d %v", code, out)
	}
	if code, out := e.api(caseA, "POST", "/api/v1/verify/batches", map[string]any{}); code != 403 {
		t.Fatalf("caseworker ran a batch: %d %v", code, out)
	}
	code, out = e.api(caseA, "GET", "/api/v1/verify/tasks?status=open", nil)
	var taskID int64
	for _, x := range out["tasks"].([]any) {
		if tk := x.(map[string]any); int64(tk["household_id"].(float64)) == f.hhID && tk["kind"] == "death" {
			taskID = int64(tk["id"].(float64))
		}
	}
	if code != 200 || taskID == 0 {
		t.Fatalf("tasks: %d %v", code, out)
	}
	if code, out := e.api(e.login("case_a2"), "GET", fmt.Sprintf("/api/v1/verify/tasks/%d", taskID), nil); code != 404 {
		t.Fatalf("other township read the task: %d %v", code, out)
	}
	code, task := e.api(caseA, "GET", fmt.Sprintf("/api/v1/verify/tasks/%d", taskID), nil)
	ev, _ := task["evidence"].(map[string]any)
	if code != 200 || ev == nil || !strings.Contains(fmt.Sprint(ev["finding"]), f.dead) || len(ev["items"].([]any)) != 1 {
		t.Fatalf("task: %d %v", code, task)
	}
	if code, out := e.api(caseA, "POST", fmt.Sprintf("/api/v1/verify/tasks/%d/close", taskID), map[string]any{"outcome": "confirmed", "note": ""}); code != 422 || errCode(out) != "note_required" {
		t.Fatalf("close without note: %d %v", code, out)
	}
	if code, out := e.api(caseA, "POST", fmt.Sprintf("/api/v1/verify/tasks/%d/close", taskID), map[string]any{"outcome": "confirmed", "note": "入户核实，已于上月去世，启动停发"}); code != 204 {
		t.Fatalf("close: %d %v", code, out)
	}
	if code, task := e.api(caseA, "GET", fmt.Sprintf("/api/v1/verify/tasks/%d", taskID), nil); code != 200 || task["status"] != "closed" {
		t.Fatalf("closed task: %d %v", code, task)
	}

	// another county's office asks about the deceased member
	code, peer := e.api(verifier, "POST", "/api/v1/verify/peers", map[string]any{"peer": "南昌县民政局核对中心", "peer_ref": "南核〔2026〕12号",
		"id_number": f.deadID, "name": f.dead, "purpose": "低保申请核对", "authorisation": "SQ-2026-0091"})
	if code != 201 || peer["status"] != "open" || strings.Contains(fmt.Sprint(peer), f.deadID) {
		t.Fatalf("peer: %d %v", code, peer)
	}
	code, ans := e.api(verifier, "POST", fmt.Sprintf("/api/v1/verify/peers/%d/answer", int64(peer["id"].(float64))), nil)
	if code != 200 || ans["status"] != "answered" || !strings.Contains(fmt.Sprint(ans["answer"]), "民政殡葬") {
		t.Fatalf("answer: %d %v", code, ans)
	}
	if code, out := e.api(verifier, "GET", "/api/v1/verify/peers", nil); code != 200 || len(out["peers"].([]any)) != 1 {
		t.Fatalf("peers: %d %v", code, out)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// badCheckDigit changes the last character of an ID number to a wrong one.
func badCheckDigit(id string) string {
	last := id[17]
	for _, c := range "0123456789X" {
		if byte(c) != last {
			return id[:17] + string(c)
		}
	}
	return id
}

// multipart posts a multipart form with one file through the web session.
func (b *browser) multipart(path string, fields url.Values, field, name, content string) (int, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	w, _ := mw.CreateFormFile(field, name)
	io.WriteString(w, content)
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
	return resp.StatusCode, string(body)
}

var reportLinkRe = regexp.MustCompile(`href="/verify/requests/(\d+)"`)

// TestVerifyPages: the household section, the report with an objection, the
// centre with a refused upload and a background batch, tasks and peer
// requests, each for the roles that use them.
func TestVerifyPages(t *testing.T) {
	f := newVerifyFixture(t)
	e := f.e
	ok := func(code int, body string) bool {
		return code == 200 && strings.Contains(body, "</html>") && !strings.Contains(body, "系统内部错误")
	}
	cw := e.browse("case_a")
	tok := cw.csrf()
	hhPage := fmt.Sprintf("/households/%d", f.hhID)
	code, body := cw.get(hhPage)
	if !ok(code, body) || !strings.Contains(body, "家庭经济状况核对") || !strings.Contains(body, "尚未登记授权书") {
		t.Fatalf("household page: %d", code)
	}
	// a refusal shows the service's message
	code, body = cw.post(hhPage+"/verify/requests", url.Values{"csrf": {tok}, "purpose": {"application"}})
	if code != 422 || !strings.Contains(body, "没有有效的核对授权书") {
		t.Fatalf("request without authorisations: %d", code)
	}
	code, body = cw.post(hhPage+"/verify/authorisations", url.Values{"csrf": {tok}, "person_id": {fmt.Sprint(f.adults[0])}, "programme": {"dibao"},
		"signed_on": {f.dataDate}, "fingerprint": {"1"}})
	if code != 422 || !strings.Contains(body, "如实申报承诺") {
		t.Fatalf("authorisation without pledge: %d", code)
	}
	for _, p := range f.adults {
		code, body = cw.post(hhPage+"/verify/authorisations", url.Values{"csrf": {tok}, "person_id": {fmt.Sprint(p)}, "programme": {"dibao"},
			"signed_on": {f.dataDate}, "fingerprint": {"1"}, "pledge": {"1"}})
		if !ok(code, body) || !strings.Contains(body, "授权书已登记") {
			t.Fatalf("authorise %d: %d", p, code)
		}
	}
	code, body = cw.post(hhPage+"/verify/requests", url.Values{"csrf": {tok}, "purpose": {"application"}, "case_id": {""}})
	if !ok(code, body) || !strings.Contains(body, "家庭经济状况核对报告") || !strings.Contains(body, "死亡未报告") || !strings.Contains(body, "赣A7K281") {
		t.Fatalf("report page: %d", code)
	}
	m := regexp.MustCompile(`action="/verify/requests/(\d+)/objection"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no objection form on the report")
	}
	code, body = cw.post("/verify/requests/"+m[1]+"/objection", url.Values{"csrf": {tok}, "evidence": {"死亡证明更正"}, "set_aside": {"0"}})
	if code != 422 || !strings.Contains(body, "须写明依据") {
		t.Fatalf("objection without reason: %d", code)
	}
	code, body = cw.post("/verify/requests/"+m[1]+"/objection", url.Values{"csrf": {tok}, "evidence": {"公安机关出具的户籍证明"}, "set_aside": {"0"}, "reason_0": {"殡葬记录身份证号登记错误"}})
	if !ok(code, body) || !strings.Contains(body, "已按异议重新核对") || !strings.Contains(body, "已排除") || !strings.Contains(body, "殡葬记录身份证号登记错误") {
		t.Fatalf("objection: %d", code)
	}
	code, body = cw.get(hhPage)
	if links := reportLinkRe.FindAllString(body, -1); !ok(code, body) || len(links) != 2 || strings.Count(body, ">有效<") != len(f.adults) {
		t.Fatalf("household requests: %d %v", code, links)
	}
	if code, body := e.browse("case_a2").get("/verify/requests/" + m[1]); code != 404 {
		t.Fatalf("other township's report page: %d %s", code, body)
	}

	// the centre: counts, a refused upload with its row report, a batch in the background
	dp := e.browse("dept_p")
	code, body = dp.get("/verify")
	if !ok(code, body) || !strings.Contains(body, "民政殡葬") || strings.Contains(body, "batch-form") || strings.Contains(body, f.dead) {
		t.Fatalf("centre as the department: %d", code)
	}
	bad := "id_number,plate,vehicle_type,register_date,price_yuan\n" + badCheckDigit(f.deadID) + ",赣A00001,K,2024-05-01,90000\n"
	code, body = dp.multipart("/verify/extracts", url.Values{"csrf": {dp.csrf()}, "source": {"vehicle"}, "data_date": {f.dataDate}}, "file", "bad.csv", bad)
	if code != 422 || !strings.Contains(body, "import-errors") || !strings.Contains(body, "整个文件未导入") {
		t.Fatalf("refused upload: %d", code)
	}
	good := "id_number,account_no,balance_yuan,as_of\n" + f.deadID + ",6217000000000001,1200.50," + f.dataDate + "\n"
	code, body = dp.multipart("/verify/extracts", url.Values{"csrf": {dp.csrf()}, "source": {"bank"}, "provider": {"ICBC"}, "data_date": {f.dataDate}}, "file", "icbc.csv", good)
	if !ok(code, body) || !strings.Contains(body, "部门数据已导入") || !strings.Contains(body, "已导入") {
		t.Fatalf("upload: %d", code)
	}
	for _, p := range []string{"/verify/tasks", "/verify/peers"} {
		if code, _ := dp.get(p); code != 403 {
			t.Errorf("department officer GET %s: %d", p, code)
		}
	}
	vb := e.browse("verify_a")
	code, body = vb.post("/verify/batches", url.Values{"csrf": {vb.csrf()}, "sources": {"funeral", "vehicle"}})
	if !ok(code, body) || !strings.Contains(body, "批量复核已开始") {
		t.Fatalf("batch: %d", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// the batch row appears when the background work starts: wait for it to be done
		var done, running int
		e.app.DB.QueryRow(`SELECT COUNT(*) FROM verify_batches WHERE status = 'done'`).Scan(&done)
		e.app.DB.QueryRow(`SELECT COUNT(*) FROM verify_batches WHERE status <> 'done'`).Scan(&running)
		if done > 0 && running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background batch did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body = vb.get("/verify")
	if !ok(code, body) || !strings.Contains(body, "已完成") || !strings.Contains(body, "进贤县") || !strings.Contains(body, "死亡未报告") {
		t.Fatalf("centre after the batch: %d", code)
	}
	code, body = cw.get("/verify/tasks")
	tm := regexp.MustCompile(`href="/verify/tasks/(\d+)"`).FindStringSubmatch(body)
	if !ok(code, body) || tm == nil || !strings.Contains(body, f.hhNo) {
		t.Fatalf("tasks page: %d", code)
	}
	code, body = cw.get("/verify/tasks/" + tm[1])
	if !ok(code, body) || !strings.Contains(body, "task-close") || !strings.Contains(body, "/cases/") {
		t.Fatalf("task page: %d", code)
	}
	code, body = cw.post("/verify/tasks/"+tm[1]+"/close", url.Values{"csrf": {tok}, "outcome": {"explained"}, "note": {"入户核实：已申报"}})
	if !ok(code, body) || !strings.Contains(body, "核对任务已办结") || strings.Contains(body, `id="task-close"`) {
		t.Fatalf("close task: %d", code)
	}
	code, body = vb.post("/verify/peers", url.Values{"csrf": {vb.csrf()}, "peer": {"上饶市民政局"}, "peer_ref": {"饶核〔2026〕3号"}, "id_number": {f.deadID},
		"name": {f.dead}, "purpose": {"临时救助核对"}, "authorisation": {"SQ-1"}})
	if !ok(code, body) || !strings.Contains(body, "协查请求已登记") || strings.Contains(body, f.deadID) {
		t.Fatalf("peer: %d", code)
	}
	pm := regexp.MustCompile(`action="/verify/peers/(\d+)/answer"`).FindStringSubmatch(body)
	code, body = vb.post("/verify/peers/"+pm[1]+"/answer", url.Values{"csrf": {vb.csrf()}})
	if !ok(code, body) || !strings.Contains(body, "银行存款（ICBC）") {
		t.Fatalf("answer: %d", code)
	}
	for _, p := range []string{"/verify", "/verify/tasks", "/verify/peers", "/verify/imports/1", "/verify/requests/" + m[1], hhPage} {
		if code, body := vb.get(p); !ok(code, body) {
			t.Errorf("verify_a GET %s: %d", p, code)
		}
	}
	// the navigation shows the links to who may use them
	if _, body := cw.get("/"); !strings.Contains(body, `href="/verify/tasks"`) || strings.Contains(body, `href="/verify"`) {
		t.Error("caseworker's navigation")
	}
	if _, body := dp.get("/verify"); strings.Contains(body, `href="/verify/tasks"`) || !strings.Contains(body, `href="/verify"`) {
		t.Error("department officer's navigation")
	}
}

// TestBrowserVerify: in a real browser a caseworker opens the household, is
// refused a verification without the authorisations, records them for the
// adults and reads the report with its finding.
func TestBrowserVerify(t *testing.T) {
	path := chromium(t)
	f := newVerifyFixture(t)
	e := f.e
	bctx := newBrowser(t, path)
	tb := &tab{t: t, ctx: bctx}
	do := tb.do
	text := tb.text
	tb.login(e.srv.URL, "case_a", "#stat-households")
	hhURL := fmt.Sprintf("%s/households/%d", e.srv.URL, f.hhID)
	do("household", chromedp.Navigate(hhURL), chromedp.WaitVisible(chromedp.CSS("#verify-request-form")))
	do("refused request", chromedp.Click(chromedp.CSS("#vr-submit")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := text("#error"); !strings.Contains(msg, "没有有效的核对授权书") {
		t.Fatalf("refusal: %q", msg)
	}
	for _, p := range f.adults {
		do("authorise", chromedp.Navigate(hhURL), chromedp.WaitVisible(chromedp.CSS("#verify-auth-form")),
			chromedp.SetValue(chromedp.CSS("#va-person"), fmt.Sprint(p)), chromedp.SetValue(chromedp.CSS("#va-programme"), "dibao"),
			chromedp.SetValue(chromedp.CSS("#va-signed"), f.dataDate),
			chromedp.Click(chromedp.CSS("#va-fingerprint")), chromedp.Click(chromedp.CSS("#va-pledge")),
			chromedp.Click(chromedp.CSS("#va-submit")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	}
	if auths := text("#verify-auths"); strings.Count(auths, "有效") != len(f.adults) {
		t.Fatalf("authorisations table: %q", auths)
	}
	shot(t, bctx, "verify-household")
	do("request", chromedp.SetValue(chromedp.CSS("#vr-purpose"), "application"), chromedp.Click(chromedp.CSS("#vr-submit")),
		chromedp.WaitVisible(chromedp.CSS("#report-findings")))
	if fs := text("#report-findings"); !strings.Contains(fs, "死亡未报告") || !strings.Contains(fs, f.dead+"：死亡记录日期") {
		t.Fatalf("report findings: %q", fs)
	}
	if no := text("#report-no"); !strings.HasPrefix(no, "HC360124") {
		t.Fatalf("report number %q", no)
	}
	shot(t, bctx, "verify-report")
}
