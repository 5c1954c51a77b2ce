package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/db"
	"jiuzhu/internal/online"
)

// upload is one file of a multipart form.
type upload struct {
	name string
	data []byte
}

func pngBytes(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var pdfBytes = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// multipartPost posts a multipart form without a session, as a citizen's browser or client.
func (e *env) multipartPost(path string, fields url.Values, files []upload) (int, []byte) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile(online.FileField, f.name)
		w.Write(f.data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) publicPost(path string, form url.Values) (int, string) {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func applyFields(id string) url.Values {
	return url.Values{"county": {countyA}, "region": {villageA}, "programme": {"dibao"}, "name": {"网申测试"}, "id_number": {id},
		"phone": {"13907910001"}, "members": {"3"}, "statement": {"丈夫因病去世，本人无固定收入，孩子上学。"}, "pledge": {"1"}, "consent": {"1"}}
}

var (
	appNoRe   = regexp.MustCompile(`id="app-no">(WS\d+)<`)
	appCodeRe = regexp.MustCompile(`id="app-code">([A-Z0-9]{8})<`)
	onlineRe  = regexp.MustCompile(`href="/online/(\d+)"`)
	docRe     = regexp.MustCompile(`href="(/online/\d+/documents/\d+)"`)
)

// dbText is every value of every table but the region tree, as text.
func dbText(t *testing.T, e *env) string {
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if e.app.DB.Dialect == db.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := e.app.DB.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		if n != "regions" {
			tables = append(tables, n)
		}
	}
	rows.Close()
	var sb strings.Builder
	for _, tb := range tables {
		rows, err := e.app.DB.Query(`SELECT * FROM ` + tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					sb.Write(b)
				} else {
					fmt.Fprint(&sb, v)
				}
				sb.WriteByte('|')
			}
		}
		rows.Close()
	}
	return sb.String()
}

// TestOnlineApplicationToCase: a citizen applies on the public page with two
// documents, follows the application, and the township of the hukou accepts
// it into casework; another township sees nothing; a wrong code looks like an
// unknown number; the plaintext ID number and query code are stored nowhere.
func TestOnlineApplicationToCase(t *testing.T) {
	e, clock := caseEnv(t, "2026-11-02")
	applicant := idNo("1975-04-05", 71, false)
	img := pngBytes(t)

	if code, page := e.publicPost("/apply/status", url.Values{}); code != 404 || !strings.Contains(page, "没有找到") {
		t.Fatalf("empty status query: %d", code)
	}
	resp, err := http.Get(e.srv.URL + "/apply")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "进贤县") || strings.Contains(string(page), `name="region"`) {
		t.Fatalf("apply page, step 1: %d", resp.StatusCode)
	}
	resp, _ = http.Get(e.srv.URL + "/apply?county=" + countyA)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `value="`+villageA+`"`) || !strings.Contains(string(page), "只需去一次") {
		t.Fatalf("apply page, step 2 misses the villages of the county")
	}

	// submit on the page
	code, body := e.multipartPost("/apply", applyFields(applicant), []upload{{"身份证.png", img}, {"收入.pdf", pdfBytes}})
	no, qc := appNoRe.FindSubmatch(body), appCodeRe.FindSubmatch(body)
	if code != 200 || no == nil || qc == nil {
		t.Fatalf("submit: %d %s", code, regexp.MustCompile(`(?s)id="error">(.*?)</div>`).Find(body))
	}
	appNo, appCode := string(no[1]), string(qc[1])
	if _, st := e.publicPost("/apply/status", url.Values{"no": {appNo}, "code": {strings.ToLower(appCode)}}); !strings.Contains(st, `id="status-label">已提交<`) {
		t.Fatal("status page does not show 已提交")
	}

	// a wrong code answers exactly as an unknown number
	c1, o1 := e.raw("", "GET", "/api/v1/public/applications/"+appNo+"?code=ZZZZ2222", nil)
	c2, o2 := e.raw("", "GET", "/api/v1/public/applications/WS20261102000000?code="+appCode, nil)
	if c1 != 404 || c1 != c2 || !bytes.Equal(o1, o2) {
		t.Fatalf("wrong code %d %s vs unknown number %d %s", c1, o1, c2, o2)
	}
	_, p1 := e.publicPost("/apply/status", url.Values{"no": {appNo}, "code": {"ZZZZ2222"}})
	_, p2 := e.publicPost("/apply/status", url.Values{"no": {"WS20261102000000"}, "code": {"ZZZZ2222"}})
	if strings.ReplaceAll(p1, appNo, "N") != strings.ReplaceAll(p2, "WS20261102000000", "N") {
		t.Fatal("the status page tells a wrong code from an unknown number")
	}

	// another township sees nothing and can do nothing
	var appID, docID int64
	e.app.DB.QueryRow(`SELECT id FROM online_applications WHERE app_no = $1`, appNo).Scan(&appID)
	e.app.DB.QueryRow(`SELECT MIN(id) FROM online_documents WHERE application_id = $1`, appID).Scan(&docID)
	b := e.browse("case_b")
	if _, list := b.get("/online"); strings.Contains(list, appNo) {
		t.Fatal("township B lists A's online application")
	}
	for _, p := range []string{fmt.Sprintf("/online/%d", appID), fmt.Sprintf("/online/%d/documents/%d", appID, docID)} {
		if code, _ := b.get(p); code != 404 {
			t.Errorf("township B GET %s: %d", p, code)
		}
	}
	if code, _ := b.post(fmt.Sprintf("/online/%d/accept", appID), url.Values{"csrf": {b.csrf()}, "version": {"1"}}); code != 404 {
		t.Errorf("township B accepted: %d", code)
	}
	tb := e.login("case_b")
	if code, out := e.api(tb, "GET", "/api/v1/online-applications", nil); code != 200 || len(out["applications"].([]any)) != 0 {
		t.Errorf("township B API list: %d %v", code, out)
	}
	for _, c := range []struct{ method, path string }{{"GET", fmt.Sprintf("/api/v1/online-applications/%d", appID)},
		{"GET", fmt.Sprintf("/api/v1/online-applications/%d/documents/%d", appID, docID)}, {"POST", fmt.Sprintf("/api/v1/online-applications/%d/accept", appID)},
		{"POST", fmt.Sprintf("/api/v1/online-applications/%d/return", appID)}, {"POST", fmt.Sprintf("/api/v1/online-applications/%d/reject", appID)}} {
		var body any
		if c.method == "POST" {
			body = map[string]any{"version": 1, "missing": []string{"x"}, "reason": "x"}
		}
		if code, out := e.api(tb, c.method, c.path, body); code != 404 {
			t.Errorf("township B %s %s: %d %v", c.method, c.path, code, out)
		}
	}

	// the township of the hukou: counted on the worklist, listed masked, documents readable
	cw := e.browse("case_a")
	if _, wl := cw.get("/cases"); !strings.Contains(wl, "群众网上申请待处理 1 件") {
		t.Fatal("the worklist does not count the online application")
	}
	_, list := cw.get("/online")
	if !strings.Contains(list, appNo) || strings.Contains(list, applicant) || !strings.Contains(list, applicant[:6]+"********"+applicant[14:]) {
		t.Fatal("township A's list misses the application or shows the full ID number")
	}
	_, view := cw.get(fmt.Sprintf("/online/%d", appID))
	docs := docRe.FindAllStringSubmatch(view, -1)
	if len(docs) != 2 || strings.Contains(view, applicant) {
		t.Fatalf("application page: %d documents", len(docs))
	}
	resp, err = cw.c.Get(e.srv.URL + docs[0][1])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got, img) {
		t.Fatalf("document: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var reads int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'online.document.read' AND username = 'case_a'`).Scan(&reads)
	if reads != 1 {
		t.Fatalf("%d audited document reads, want 1", reads)
	}

	// not yet registered: accepting leads to the prefilled registration form
	code, reg := cw.post(fmt.Sprintf("/online/%d/accept", appID), url.Values{"csrf": {cw.csrf()}, "version": {"1"}})
	if code != 200 || !strings.Contains(reg, "网上申请人尚未登记") || !strings.Contains(reg, `value="网申测试"`) || !strings.Contains(reg, `value="`+villageA+`" selected`) {
		t.Fatalf("accept before registration: %d", code)
	}
	ta := e.login("case_a")
	if code, out := e.api(ta, "POST", "/api/v1/households", map[string]any{"region": villageA, "hukou": "rural", "address": "网申路1号",
		"head": map[string]any{"id_number": applicant, "name": "网申测试", "co_resident": true}}); code != 201 {
		t.Fatalf("register: %d %v", code, out)
	}
	code, cs := cw.post(fmt.Sprintf("/online/%d/accept", appID), url.Values{"csrf": {cw.csrf()}, "version": {"1"},
		"documents": {"application", "id_hukou", "income"}, "pledge": {"1"}})
	if code != 200 || !strings.Contains(cs, "申请已受理") {
		t.Fatalf("accept: %d %s", code, regexp.MustCompile(`(?s)id="error">(.*?)</div>`).FindString(cs))
	}
	var caseNo, channel string
	e.app.DB.QueryRow(`SELECT c.case_no, c.channel FROM cases c JOIN online_applications a ON a.case_id = c.id WHERE a.id = $1`, appID).Scan(&caseNo, &channel)
	if channel != "online" || caseNo == "" {
		t.Fatalf("case %q channel %q", caseNo, channel)
	}
	// accepted once only
	if code, out := e.api(ta, "POST", fmt.Sprintf("/api/v1/online-applications/%d/accept", appID), map[string]any{"version": 2}); code != 409 {
		t.Fatalf("second acceptance: %d %v", code, out)
	}

	// the status follows the case: its number and its current step
	_, st := e.publicPost("/apply/status", url.Values{"no": {appNo}, "code": {appCode}})
	if !strings.Contains(st, `id="status-label">已受理<`) || !strings.Contains(st, `id="case-no">`+caseNo+`<`) || !strings.Contains(st, `id="case-step">材料不全，待补正<`) ||
		!strings.Contains(st, "核对授权书") || strings.Contains(st, "网申测试") {
		t.Fatal("status page after acceptance")
	}
	code, out := e.api("", "GET", "/api/v1/public/applications/"+appNo+"?code="+appCode, nil)
	if code != 200 || out["status"] != "accepted" || out["case_no"] != caseNo || out["current_step"] != "材料不全，待补正" {
		t.Fatalf("API status after acceptance: %d %v", code, out)
	}
	if _, wl := cw.get("/cases"); strings.Contains(wl, "群众网上申请待处理") || !strings.Contains(wl, caseNo) {
		t.Fatal("worklist after acceptance")
	}

	// once the township has the signatures, the case goes on and the status follows
	*clock = clock.AddDate(0, 0, 1)
	var caseID int64
	e.app.DB.QueryRow(`SELECT case_id FROM online_applications WHERE id = $1`, appID).Scan(&caseID)
	var pID int64
	e.app.DB.QueryRow(`SELECT applicant_id FROM cases WHERE id = $1`, caseID).Scan(&pID)
	if code, out := e.api(ta, "POST", fmt.Sprintf("/api/v1/cases/%d/actions", caseID), map[string]any{"action": "supplement", "version": 1,
		"documents": []string{"application", "id_hukou", "income"}, "pledge": true, "authorisations": []int64{pID}}); code != 200 {
		t.Fatalf("supplement: %d %v", code, out)
	}
	if _, out := e.api("", "GET", "/api/v1/public/applications/"+appNo+"?code="+appCode, nil); out["current_step"] != "启动调查（受理后3个工作日内）" || out["due_on"] == "" {
		t.Fatalf("status after the signatures: %v", out)
	}

	// nothing stores the plaintext ID number or the query code; the citizen's audit entry has no personal data
	all := dbText(t, e)
	if !strings.Contains(all, "网申测试") || !strings.Contains(all, appNo) {
		t.Fatal("the database dump misses the application") // the check below would prove nothing
	}
	for _, secret := range []string{applicant, applicant[:17], appCode} {
		if strings.Contains(all, secret) {
			t.Fatalf("%q is stored in plaintext", secret)
		}
	}
	var detail string
	e.app.DB.QueryRow(`SELECT detail FROM audit_log WHERE action = 'online.submit' AND username = 'citizen'`).Scan(&detail)
	if detail == "" || strings.Contains(detail, "网申测试") || strings.Contains(detail, "13907910001") {
		t.Fatalf("submission audit: %q", detail)
	}
}

// TestOnlineRefusals: bad input, oversized and wrong files, and the rate
// limit store nothing; the township returns one application with every
// missing item, the citizen supplements online, and refuses another with a reason.
func TestOnlineRefusals(t *testing.T) {
	e := newEnv(t)
	applicant := idNo("1980-07-08", 81, true)
	stored := func() int { return e.count("online_applications") + e.count("online_documents") }

	bad := applyFields(applicant[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", applicant[17])+1)%11]))
	code, body := e.multipartPost("/apply", bad, []upload{{"a.png", pngBytes(t)}})
	if code != 422 || !strings.Contains(string(body), "校验位") || !strings.Contains(string(body), `value="网申测试"`) ||
		!strings.Contains(string(body), `value="13907910001"`) || strings.Contains(string(body), bad.Get("id_number")) {
		t.Fatalf("bad ID number: %d", code)
	}
	big := append(pngBytes(t), make([]byte, online.MaxFileSize)...)
	for _, c := range []struct {
		files []upload
		want  string
	}{
		{[]upload{{"big.png", big}}, "file_too_large"},
		{[]upload{{"note.txt", []byte("这是文字，不是图片")}}, "file_type"},
		{[]upload{{"fake.pdf", []byte("<html><body>not a pdf</body></html>")}}, "file_type"},
		{[]upload{{"1.png", pngBytes(t)}, {"2.png", pngBytes(t)}, {"3.png", pngBytes(t)}, {"4.png", pngBytes(t)}, {"5.png", pngBytes(t)}, {"6.png", pngBytes(t)}}, "too_many_files"},
	} {
		code, out := e.multipartPost("/api/v1/public/applications", applyFields(applicant), c.files)
		var o map[string]any
		json.Unmarshal(out, &o)
		if code != 422 || errCode(o) != c.want {
			t.Errorf("%s: %d %s", c.want, code, out)
		}
	}
	if code, body := e.multipartPost("/apply", applyFields(applicant), []upload{{"big.png", big}}); code != 422 || !strings.Contains(string(body), "超过5MB") ||
		!strings.Contains(string(body), "丈夫因病去世") {
		t.Errorf("oversized file on the page: %d", code)
	}
	if n := stored(); n != 0 {
		t.Fatalf("refused submissions stored %d rows", n)
	}

	// two good applications through the API
	var receipts []map[string]any
	for i, f := range [][]upload{{{"a.png", pngBytes(t)}}, nil} {
		fields := applyFields(idNo("1980-07-08", 82+i, true))
		code, out := e.multipartPost("/api/v1/public/applications", fields, f)
		var o map[string]any
		json.Unmarshal(out, &o)
		if code != 201 || o["application_no"] == nil {
			t.Fatalf("API submit: %d %s", code, out)
		}
		receipts = append(receipts, o)
	}
	status := func(i int) map[string]any {
		_, out := e.api("", "GET", fmt.Sprintf("/api/v1/public/applications/%s?code=%s", receipts[i]["application_no"], receipts[i]["query_code"]), nil)
		return out
	}
	ta := e.login("case_a")
	_, out := e.api(ta, "GET", "/api/v1/online-applications", nil)
	apps := out["applications"].([]any)
	if len(apps) != 2 {
		t.Fatalf("township A lists %d", len(apps))
	}
	idOf := func(no any) int64 {
		for _, a := range apps {
			if m := a.(map[string]any); m["application_no"] == no {
				return int64(m["id"].(float64))
			}
		}
		t.Fatalf("%v not listed", no)
		return 0
	}
	first, second := idOf(receipts[0]["application_no"]), idOf(receipts[1]["application_no"])

	// a village assistant may not refuse; another county cannot; an empty notice is refused
	if code, out := e.api(e.login("village_a"), "POST", fmt.Sprintf("/api/v1/online-applications/%d/reject", second), map[string]any{"version": 1, "reason": "x"}); code != 403 {
		t.Errorf("village assistant refused: %d %v", code, out)
	}
	if code, out := e.api(ta, "POST", fmt.Sprintf("/api/v1/online-applications/%d/return", first), map[string]any{"version": 1}); code != 422 || errCode(out) != "missing_required" {
		t.Errorf("empty return: %d %v", code, out)
	}
	// return on the page with every missing item at once
	cw := e.browse("case_a")
	code, page := cw.post(fmt.Sprintf("/online/%d/return", first), url.Values{"csrf": {cw.csrf()}, "version": {"1"},
		"missing": {"家庭收入和财产状况申报材料"}, "missing_other": {"医院诊断证明\r\n\r\n住院费用票据"}})
	if code != 200 || !strings.Contains(page, "已退回补正") {
		t.Fatalf("return: %d", code)
	}
	st := status(0)
	if st["status"] != "returned" || fmt.Sprint(st["missing"]) != "[家庭收入和财产状况申报材料 医院诊断证明 住院费用票据]" {
		t.Fatalf("returned status: %v", st)
	}
	// the citizen supplements online: back before the township
	code, sup := e.multipartPost(fmt.Sprintf("/api/v1/public/applications/%s/documents", receipts[0]["application_no"]),
		url.Values{"code": {receipts[0]["query_code"].(string)}}, []upload{{"income.pdf", pdfBytes}})
	if code != 200 || !strings.Contains(string(sup), `"status":"submitted"`) {
		t.Fatalf("supplement: %d %s", code, sup)
	}
	var docs int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM online_documents WHERE application_id = $1`, first).Scan(&docs)
	if docs != 2 {
		t.Fatalf("%d documents after the supplement", docs)
	}
	// refuse the other with a reason
	if code, out := e.api(ta, "POST", fmt.Sprintf("/api/v1/online-applications/%d/reject", second), map[string]any{"version": 1}); code != 422 || errCode(out) != "reason_required" {
		t.Errorf("refusal without reason: %d %v", code, out)
	}
	if code, out := e.api(ta, "POST", fmt.Sprintf("/api/v1/online-applications/%d/reject", second), map[string]any{"version": 1, "reason": "申请人户籍不在本乡镇，请向户籍所在地申请"}); code != 200 || out["status"] != "rejected" {
		t.Fatalf("refusal: %d %v", code, out)
	}
	if st := status(1); st["status"] != "rejected" || st["status_label"] != "不予受理" || st["reason"] != "申请人户籍不在本乡镇，请向户籍所在地申请" || st["case_no"] != nil {
		t.Fatalf("rejected status: %v", st)
	}

	// the rate limit: the next submission from this address is refused and stores nothing
	e.app.Online.SubmitLimit = online.NewLimiter(1, time.Hour)
	if code, out := e.multipartPost("/apply", applyFields(idNo("1980-07-08", 90, true)), nil); code != 200 || !appNoRe.Match(out) {
		t.Fatalf("submission within the limit: %d", code)
	}
	before := stored()
	code, lim := e.multipartPost("/apply", applyFields(idNo("1980-07-08", 91, true)), nil)
	if code != 429 || !strings.Contains(string(lim), "提交的申请过多") || stored() != before {
		t.Fatalf("rate limit: %d, %d rows added", code, stored()-before)
	}
}
