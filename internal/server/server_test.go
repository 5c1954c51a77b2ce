package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/config"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/server"
	"jiuzhu/internal/testdb"
)

func init() {
	// Tests need many logins; production cost is set in auth.
	auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1
}

// env is a running platform with two counties' offices.
type env struct {
	t   *testing.T
	app *server.App
	srv *httptest.Server
}

const (
	countyA   = "360124000000" // 进贤县
	townshipA = "360124100000"
	villageA  = "360124100001"
	countyB   = "360102000000" // 东湖区
	townshipB = "360102002000"
	villageB  = "360102002001"
	pw        = "test-pass-2026"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	if url := testdb.URL(t); strings.HasPrefix(url, "postgres") {
		cfg.DB = url
	}
	cfg.Addr = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	app, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	h, err := app.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, app: app, srv: srv}
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{
		{"admin_a", auth.Admin, countyA}, {"case_a", auth.TownshipCaseworker, townshipA},
		{"admin_b", auth.Admin, countyB}, {"case_b", auth.TownshipCaseworker, townshipB},
		{"auditor_b", auth.Auditor, countyB}, {"village_a", auth.VillageAssistant, villageA},
	} {
		if _, err := app.Auth.Create(context.Background(), nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// api calls the JSON API and decodes the answer.
func (e *env) api(token, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) login(user string) string {
	e.t.Helper()
	code, out := e.api("", "POST", "/api/v1/login", map[string]string{"username": user, "password": pw})
	if code != 200 {
		e.t.Fatalf("login %s: %d %v", user, code, out)
	}
	return out["token"].(string)
}

func idNo(birth string, seq int, male bool) string {
	b, _ := time.Parse(time.DateOnly, birth)
	return idcard.Build("360124", b, seq, male)
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (e *env) household(token, region string, seq int) (int64, int64, string) {
	e.t.Helper()
	code, out := e.api(token, "POST", "/api/v1/households", map[string]any{"region": region, "hukou": "rural", "address": "测试地址",
		"head": map[string]any{"id_number": idNo("1960-02-03", seq, true), "name": "测试户主", "co_resident": true}})
	if code != 201 {
		e.t.Fatalf("create household: %d %v", code, out)
	}
	m := out["members"].([]any)[0].(map[string]any)
	return int64(out["id"].(float64)), int64(m["id"].(float64)), out["household_no"].(string)
}

// TestAPIScopeCrossing tries every registry and user endpoint of county A's
// data with county B's accounts: each is refused and nothing changes.
func TestAPIScopeCrossing(t *testing.T) {
	e := newEnv(t)
	a, b := e.login("case_a"), e.login("case_b")
	hA, pA, noA := e.household(a, villageA, 11)
	hB, _, _ := e.household(b, villageB, 21)
	idA := idNo("1960-02-03", 11, true)
	person := map[string]any{"id_number": idNo("1990-01-01", 31, true), "name": "越权", "relation": "child"}
	calls := []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", fmt.Sprintf("/api/v1/households/%d", hA), nil, 404},
		{"PATCH", fmt.Sprintf("/api/v1/households/%d", hA), map[string]any{"version": 1, "hukou": "urban", "address": "x", "reason": "x"}, 404},
		{"GET", fmt.Sprintf("/api/v1/households/%d/history", hA), nil, 404},
		{"POST", fmt.Sprintf("/api/v1/households/%d/members", hA), map[string]any{"version": 1, "person": person, "reason": "x"}, 404},
		{"POST", fmt.Sprintf("/api/v1/households/%d/members/%d/remove", hA, pA), map[string]any{"version": 1, "why": "other", "reason": "x"}, 404},
		{"POST", fmt.Sprintf("/api/v1/households/%d/split", hA), map[string]any{"version": 1, "persons": []int64{pA}, "new_head": pA, "reason": "x"}, 404},
		{"POST", fmt.Sprintf("/api/v1/households/%d/merge", hB), map[string]any{"version": 1, "source": hA, "source_version": 1, "reason": "x"}, 404},
		{"POST", fmt.Sprintf("/api/v1/households/%d/move", hA), map[string]any{"version": 1, "region": villageB, "address": "x", "reason": "x"}, 404},
		{"POST", fmt.Sprintf("/api/v1/households/%d/move", hB), map[string]any{"version": 1, "region": villageA, "address": "x", "reason": "x"}, 403},
		{"POST", fmt.Sprintf("/api/v1/households/%d/supporters", hA), map[string]any{"version": 1, "supporter": map[string]any{"name": "义务人", "id_number": idNo("1985-01-01", 41, true), "relation": "child", "duty": "maintenance"}, "reason": "x"}, 404},
		{"PATCH", fmt.Sprintf("/api/v1/persons/%d", pA), map[string]any{"version": 1, "person": map[string]any{"name": "改名", "relation": "head"}, "reason": "x"}, 404},
		{"POST", fmt.Sprintf("/api/v1/persons/%d/reveal", pA), nil, 404},
		{"POST", fmt.Sprintf("/api/v1/persons/%d/bank-accounts", pA), map[string]any{"version": 1, "account": map[string]any{"bank_code": "402", "bank_name": "农商行", "number": "6217001234567890123"}, "reason": "x"}, 404},
		{"GET", "/api/v1/persons?id_number=" + idA, nil, 404},
		{"GET", "/api/v1/persons?name=测试户主&region=" + countyA, nil, 403},
		{"GET", "/api/v1/households?no=" + noA, nil, 404},
		{"POST", "/api/v1/households", map[string]any{"region": villageA, "hukou": "rural", "address": "x", "head": map[string]any{"id_number": idNo("1970-01-01", 51, true), "name": "越权"}}, 403},
	}
	for _, c := range calls {
		code, out := e.api(b, c.method, c.path, c.body)
		if code != c.want {
			t.Errorf("%s %s as county B: %d %v, want %d", c.method, c.path, code, out, c.want)
		}
	}
	// name search in B's own scope does not see A's people
	if code, out := e.api(b, "GET", "/api/v1/persons?name=测试户主", nil); code != 200 || len(out["results"].([]any)) != 1 {
		t.Errorf("B's own name search: %d %v", code, out)
	}
	// the same calls by A's own caseworker work, proving the refusals were about scope
	if code, out := e.api(a, "GET", fmt.Sprintf("/api/v1/households/%d", hA), nil); code != 200 || out["version"].(float64) != 1 {
		t.Fatalf("A's household changed or unreadable: %d %v", code, out)
	}
	// user administration is scoped too
	adminB := e.login("admin_b")
	var aUserID int64
	e.app.DB.QueryRow(`SELECT id FROM users WHERE username = 'case_a'`).Scan(&aUserID)
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/v1/users", map[string]any{"username": "intruder", "display_name": "x", "role": "township_caseworker", "region": townshipA, "password": pw}, 403},
		{"PATCH", fmt.Sprintf("/api/v1/users/%d", aUserID), map[string]any{"version": 1, "new_password": "hijacked-2026"}, 404},
		{"GET", "/api/v1/users?q=case_a", nil, 200},
	} {
		code, out := e.api(adminB, c.method, c.path, c.body)
		if code != c.want {
			t.Errorf("%s %s as admin B: %d %v", c.method, c.path, code, out)
		}
		if c.method == "GET" && len(out["users"].([]any)) != 0 {
			t.Errorf("admin B sees county A's users: %v", out)
		}
	}
	// roles: a caseworker cannot administer users or read the audit log
	if code, _ := e.api(b, "GET", "/api/v1/users", nil); code != 403 {
		t.Errorf("caseworker listed users: %d", code)
	}
	if code, _ := e.api(b, "GET", "/api/v1/audit", nil); code != 403 {
		t.Errorf("caseworker read the audit log: %d", code)
	}
	// the auditor of B sees B's entries only
	code, out := e.api(e.login("auditor_b"), "GET", "/api/v1/audit", nil)
	if code != 200 {
		t.Fatalf("auditor: %d %v", code, out)
	}
	for _, en := range out["entries"].([]any) {
		m := en.(map[string]any)
		if strings.HasPrefix(m["region"].(string), "360124") && strings.HasPrefix(m["user_region"].(string), "360124") {
			t.Errorf("auditor of B sees A's entry %v", m)
		}
	}
	if res, err := audit.Verify(context.Background(), e.app.DB, nil); err != nil || res.FirstBroken != 0 {
		t.Fatalf("audit chain: %+v %v", res, err)
	}
}

func TestAPIBadInput(t *testing.T) {
	e := newEnv(t)
	a := e.login("case_a")
	hA, _, _ := e.household(a, villageA, 11)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"malformed", "POST", "/api/v1/households", `{"region":`, 400, "malformed_json", ""},
		{"unknown field", "POST", "/api/v1/households", `{"region":"` + villageA + `","colour":"red"}`, 422, "unknown_field", "colour"},
		{"check digit", "POST", "/api/v1/households", map[string]any{"region": villageA, "hukou": "rural", "address": "x", "head": map[string]any{"id_number": "340524198001010013", "name": "张三"}}, 422, "id_check_digit", "id_number"},
		{"unknown region", "POST", "/api/v1/households", map[string]any{"region": "360124100999", "hukou": "rural", "address": "x", "head": map[string]any{"id_number": idNo("1970-01-01", 61, true), "name": "张三"}}, 422, "unknown_region", "region"},
		{"birth date", "POST", "/api/v1/households", map[string]any{"region": villageA, "hukou": "rural", "address": "x", "head": map[string]any{"id_number": idNo("1970-01-01", 61, true), "name": "张三", "birth_date": "1970-01-02"}}, 422, "birth_date_mismatch", "birth_date"},
		{"duplicate", "POST", "/api/v1/households", map[string]any{"region": villageA, "hukou": "rural", "address": "x", "head": map[string]any{"id_number": idNo("1960-02-03", 11, true), "name": "张三"}}, 409, "duplicate_person", ""},
		{"stale", "PATCH", fmt.Sprintf("/api/v1/households/%d", hA), map[string]any{"version": 7, "hukou": "urban", "address": "x", "reason": "x"}, 409, "version_conflict", ""},
		{"no list", "GET", "/api/v1/persons", nil, 422, "query_required", "id_number"},
		{"bad id in path", "GET", "/api/v1/households/abc", nil, 422, "invalid_id", "id"},
	}
	for _, c := range cases {
		code, out := e.api(a, c.method, c.path, c.body)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if code != c.status || errCode(out) != c.code || msg == "" || c.field != "" && out["error"].(map[string]any)["field"] != c.field {
			t.Errorf("%s: %d %v, want %d %s field %s", c.name, code, out, c.status, c.code, c.field)
		}
	}
	var n int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM households`).Scan(&n)
	if n != 1 {
		t.Fatalf("refused requests left %d households", n)
	}
	if code, out := e.api("not-a-token", "GET", "/api/v1/me", nil); code != 401 || errCode(out) != "session_expired" {
		t.Errorf("bad token: %d %v", code, out)
	}
	// expired session
	e.app.DB.Exec(`UPDATE sessions SET expires_at = $1`, time.Now().Add(-time.Minute).UTC())
	if code, out := e.api(a, "GET", "/api/v1/me", nil); code != 401 || errCode(out) != "session_expired" {
		t.Errorf("expired session: %d %v", code, out)
	}
	// lockout after five failures, even with the right password afterwards
	for i := 0; i < auth.MaxFailedLogins; i++ {
		e.api("", "POST", "/api/v1/login", map[string]string{"username": "case_b", "password": "wrong-password-1"})
	}
	if code, out := e.api("", "POST", "/api/v1/login", map[string]string{"username": "case_b", "password": pw}); code != 423 || errCode(out) != "account_locked" {
		t.Errorf("lockout: %d %v", code, out)
	}
	if code, out := e.api("", "POST", "/api/v1/login", map[string]string{"username": "nobody", "password": pw}); code != 401 || errCode(out) != "login_failed" {
		t.Errorf("unknown user: %d %v", code, out)
	}
}

// browser is a cookie-carrying client for the HTML pages.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browse(user string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, c: &http.Client{Jar: jar}}
	resp, err := b.c.PostForm(e.srv.URL+"/login", url.Values{"username": {user}, "password": {pw}})
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Request.URL.Path, "/") {
		e.t.Fatalf("web login: %v %v", resp, err)
	}
	resp.Body.Close()
	return b
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) get(path string) (int, string) {
	resp, err := b.c.Get(b.e.srv.URL + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) csrf() string {
	_, body := b.get("/")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		b.e.t.Fatal("no csrf token on the home page")
	}
	return m[1]
}

func (b *browser) post(path string, form url.Values) (int, string) {
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestWebScopeAndForgery(t *testing.T) {
	e := newEnv(t)
	hA, pA, _ := e.household(e.login("case_a"), villageA, 11)
	b := e.browse("case_b")
	tok := b.csrf()
	for _, p := range []string{fmt.Sprintf("/households/%d", hA), fmt.Sprintf("/persons/%d", pA), fmt.Sprintf("/persons/%d/edit?household=%d", pA, hA), fmt.Sprintf("/households/%d/members/new", hA)} {
		if code, body := b.get(p); code != 404 || !strings.Contains(body, "不在您的管辖范围内") {
			t.Errorf("B read A's page %s: %d", p, code)
		}
	}
	if code, body := b.get("/registry?id_number=" + idNo("1960-02-03", 11, true)); code != 200 || !strings.Contains(body, "没有找到") {
		t.Errorf("B found A's person by ID: %d", code)
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{fmt.Sprintf("/households/%d", hA), url.Values{"version": {"1"}, "hukou": {"urban"}, "address": {"x"}, "reason": {"x"}}},
		{fmt.Sprintf("/households/%d/members", hA), url.Values{"version": {"1"}, "id_number": {idNo("1990-01-01", 31, true)}, "name": {"越权"}, "relation": {"child"}, "reason": {"x"}}},
		{fmt.Sprintf("/persons/%d", pA), url.Values{"version": {"1"}, "name": {"改名"}, "relation": {"head"}, "reason": {"x"}, "household": {fmt.Sprint(hA)}}},
		{fmt.Sprintf("/persons/%d/reveal", pA), url.Values{"household": {fmt.Sprint(hA)}}},
		{fmt.Sprintf("/households/%d/members/%d/remove", hA, pA), url.Values{"version": {"1"}, "why": {"other"}, "reason": {"x"}}},
		{fmt.Sprintf("/households/%d/split", hA), url.Values{"version": {"1"}, "persons": {fmt.Sprint(pA)}, "new_head": {fmt.Sprint(pA)}, "reason": {"x"}}},
		{fmt.Sprintf("/households/%d/move", hA), url.Values{"version": {"1"}, "region": {villageB}, "address": {"x"}, "reason": {"x"}}},
		{fmt.Sprintf("/households/%d/supporters", hA), url.Values{"version": {"1"}, "name": {"义务人"}, "id_number": {idNo("1985-01-01", 41, true)}, "relation": {"child"}, "duty": {"maintenance"}, "reason": {"x"}}},
		{fmt.Sprintf("/persons/%d/bank-accounts", pA), url.Values{"version": {"1"}, "household": {fmt.Sprint(hA)}, "bank_name": {"农商行"}, "bank_code": {"402"}, "number": {"6217001234567890123"}, "reason": {"x"}}},
	} {
		p.form.Set("csrf", tok)
		if code, _ := b.post(p.path, p.form); code != 404 {
			t.Errorf("POST %s as B: %d, want 404", p.path, code)
		}
	}
	// a forged form (wrong token) is refused before anything else
	a := e.browse("case_a")
	if code, body := a.post(fmt.Sprintf("/households/%d", hA), url.Values{"csrf": {"forged"}, "version": {"1"}, "hukou": {"urban"}, "address": {"伪造"}, "reason": {"x"}}); code != 403 || !strings.Contains(body, "表单已失效") {
		t.Errorf("forged form: %d", code)
	}
	// a cross-site request is refused by the origin check
	req, _ := http.NewRequest("POST", e.srv.URL+fmt.Sprintf("/households/%d", hA), strings.NewReader("csrf="+a.csrf()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := a.c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("cross-site POST: %v %v", resp.StatusCode, err)
	}
	if code, body := a.get(fmt.Sprintf("/households/%d", hA)); code != 200 || strings.Contains(body, "伪造") {
		t.Errorf("A's household: %d", code)
	}
	// a village assistant cannot reveal full ID numbers
	v := e.browse("village_a")
	if code, _ := v.post(fmt.Sprintf("/persons/%d/reveal", pA), url.Values{"csrf": {v.csrf()}, "household": {fmt.Sprint(hA)}}); code != 403 {
		t.Errorf("village assistant revealed an ID: %d", code)
	}
	// an expired session sends the person back to the login page with a message
	e.app.DB.Exec(`UPDATE sessions SET expires_at = $1`, time.Now().Add(-time.Minute).UTC())
	if code, body := a.get("/registry"); code != 401 || !strings.Contains(body, "登录已过期") {
		t.Errorf("expired session page: %d", code)
	}
}

func TestDemoAccountMustChangePassword(t *testing.T) {
	e := newEnv(t)
	if _, err := e.app.Auth.Create(context.Background(), nil, auth.NewUser{Username: "demo.x", DisplayName: "演示", Role: auth.TownshipCaseworker, Region: townshipA, Password: pw, Demo: true}); err != nil {
		t.Fatal(err)
	}
	b := e.browse("demo.x")
	if code, body := b.get("/registry"); code != 200 || !strings.Contains(body, "请先设置您自己的新密码") {
		t.Fatalf("demo account outside demo mode was not sent to change its password: %d", code)
	}
	code, _ := b.post("/password", url.Values{"csrf": {b.csrf()}, "old_password": {pw}, "new_password": {"my-own-pass-99"}, "new_password2": {"my-own-pass-99"}})
	if code != 200 {
		t.Fatalf("change password: %d", code)
	}
	if code, body := b.get("/registry"); code != 200 || !strings.Contains(body, "户籍查询") || strings.Contains(body, "请先设置") {
		t.Fatalf("after the change: %d", code)
	}
}

func TestProbesAndMetrics(t *testing.T) {
	e := newEnv(t)
	// in this order: the request counter appears once requests were served
	for _, c := range [][2]string{{"/healthz", "ok"}, {"/readyz", "ready"}, {"/metrics", `jiuzhu_http_requests_total{code="200",route="GET /healthz"} 1`}} {
		path, want := c[0], c[1]
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
}

// TestEveryPageRenders opens each page as the roles that use it.
func TestEveryPageRenders(t *testing.T) {
	e := newEnv(t)
	hA, pA, noA := e.household(e.login("case_a"), villageA, 11)
	pages := map[string][]string{
		"case_a": {"/", "/registry", "/registry?name=测试户主", "/registry?household_no=" + noA, "/households/new",
			fmt.Sprintf("/households/%d", hA), fmt.Sprintf("/households/%d/members/new", hA), fmt.Sprintf("/persons/%d/edit?household=%d", pA, hA), fmt.Sprintf("/persons/%d", pA), "/password"},
		"admin_a":   {"/", "/admin/users", "/audit", "/audit?username=case_a&from=2020-01-01&to=2030-01-01"},
		"auditor_b": {"/", "/audit"},
	}
	for user, paths := range pages {
		b := e.browse(user)
		for _, p := range paths {
			code, body := b.get(p)
			if code != 200 || !strings.Contains(body, "</html>") || strings.Contains(body, "系统内部错误") {
				t.Errorf("%s GET %s: %d", user, p, code)
			}
		}
	}
}

// TestCalendarNextYear: the province administrator enters next year's official
// arrangement; a county administrator may not; a wrong line stores nothing.
func TestCalendarNextYear(t *testing.T) {
	e := newEnv(t)
	if _, err := e.app.Auth.Create(context.Background(), nil, auth.NewUser{Username: "admin_p", DisplayName: "省管理员", Role: auth.Admin, Region: "360000000000", Password: pw}); err != nil {
		t.Fatal(err)
	}
	rows := "2027-01-01,off,元旦\n2027-01-02,off,元旦\n2027-01-03,off,元旦\n2027-02-06,work,春节\n2027-02-07,off,春节"
	county := e.browse("admin_a")
	if code, body := county.post("/admin/calendar", url.Values{"csrf": {county.csrf()}, "year": {"2027"}, "rows": {rows}}); code != 403 || !strings.Contains(body, "省级系统管理员") {
		t.Fatalf("county admin entered a year: %d", code)
	}
	p := e.browse("admin_p")
	bad := strings.Replace(rows, "2027-02-06,work", "2027-02-08,work", 1) // a Monday cannot be a make-up working day
	if code, body := p.post("/admin/calendar", url.Values{"csrf": {p.csrf()}, "year": {"2027"}, "rows": {bad}}); code != 422 || !strings.Contains(body, "放假安排有误") {
		t.Fatalf("bad arrangement accepted: %d", code)
	}
	var n int
	e.app.DB.QueryRow(`SELECT COUNT(*) FROM calendar_days`).Scan(&n)
	if n != 0 {
		t.Fatalf("a refused arrangement stored %d rows", n)
	}
	if _, err := e.app.Calendar.AddWorkingDays(time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), 10); err == nil {
		t.Fatal("a deadline into 2027 was computed before 2027 was entered")
	}
	if code, body := p.post("/admin/calendar", url.Values{"csrf": {p.csrf()}, "year": {"2027"}, "rows": {rows}}); code != 200 || !strings.Contains(body, "2027") {
		t.Fatalf("entering 2027: %d", code)
	}
	d, err := e.app.Calendar.AddWorkingDays(time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC), 2)
	if err != nil || d.Format(time.DateOnly) != "2027-01-04" {
		t.Fatalf("2 WD after 2026-12-30 = %v %v, want 2027-01-04 (12-31, then New Year 1–3 off)", d, err)
	}
}
