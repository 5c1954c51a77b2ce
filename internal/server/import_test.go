package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// postFile posts a multipart form with one file, through the web session
// (b != nil, with its form token) or the API (token != "").
func (e *env) postFile(b *browser, token, path, name string, content []byte) (int, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if b != nil {
		mw.WriteField("csrf", b.csrf())
	}
	w, _ := mw.CreateFormFile("file", name)
	w.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	client := http.DefaultClient
	if b != nil {
		req.Header.Set("Origin", e.srv.URL)
		client = b.c
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// registryWorkbook is a two-sheet import file of the given member rows in villageA.
func registryWorkbook(t *testing.T, members [][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	f.SetSheetName("Sheet1", "户")
	f.NewSheet("成员")
	households := [][]string{{"户编号", "户主姓名", "户籍性质", "家庭住址", "所属村（社区）代码"},
		{"A1", "黄国强", "农村", "岚湖1号", villageA}, {"A2", "黄秀珍", "农村", "岚湖2号", villageA}}
	members = append([][]string{{"户编号", "姓名", "身份证号", "与户主关系", "性别"}}, members...)
	for name, rows := range map[string][][]string{"户": households, "成员": members} {
		for r, row := range rows {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				f.SetCellStr(name, cell, v)
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) registryCounts() (hh, persons int) {
	e.t.Helper()
	if err := e.app.DB.QueryRow(`SELECT (SELECT COUNT(*) FROM households), (SELECT COUNT(*) FROM persons)`).Scan(&hh, &persons); err != nil {
		e.t.Fatal(err)
	}
	return hh, persons
}

var commitFormRe = regexp.MustCompile(`action="/registry/imports/([0-9a-f]+)/commit"`)

// TestRegistryImportPages: the registry page leads to 登记导入; a workbook
// with a bad row is previewed with the row marked and cannot be committed;
// the fixed workbook is previewed, committed once, and shows what it registered.
func TestRegistryImportPages(t *testing.T) {
	e := newEnv(t)
	b := e.browse("case_a")
	ok := func(code int, body string) bool {
		return code == 200 && strings.Contains(body, "</html>") && !strings.Contains(body, "系统内部错误")
	}
	if code, body := b.get("/registry"); !ok(code, body) || !strings.Contains(body, `href="/registry/imports"`) {
		t.Fatalf("registry page without the import link: %d", code)
	}
	if code, body := b.get("/registry/imports"); !ok(code, body) || !strings.Contains(body, `id="import-form"`) || !strings.Contains(body, "所属村（社区）代码") {
		t.Fatalf("import page: %d", code)
	}
	resp, err := b.c.Get(e.srv.URL + "/registry/imports/template.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "spreadsheetml") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("template: %d %v", resp.StatusCode, resp.Header)
	}
	wb, err := excelize.OpenReader(bytes.NewReader(tpl))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := wb.GetCellValue("成员", "C1"); v != "身份证号" {
		t.Fatalf("template 成员!C1 = %q", v)
	}
	if v, _ := wb.GetCellValue("户", "F2"); v != villageA {
		t.Fatalf("template example village %q, want the user's first village", v)
	}

	members := [][]string{
		{"A1", "黄国强", idNo("1961-03-03", 201, true), "户主", "男"},
		{"A1", "林美玉", idNo("1963-05-05", 202, false), "配偶", "女"},
		{"A2", "黄秀珍", idNo("1948-08-08", 204, false), "户主", "女"},
	}
	good := members[1][2]
	bad := good[:17] + map[bool]string{true: "1", false: "0"}[good[17] == '0']
	members[1][2] = bad
	hh0, p0 := e.registryCounts()
	code, body := e.postFile(b, "", "/registry/imports", "花名册.xlsx", registryWorkbook(t, members))
	if !ok(code, body) || !strings.Contains(body, `id="import-problems"`) || !strings.Contains(body, "校验位") || !strings.Contains(body, "✗ 3") ||
		!strings.Contains(body, "未导入") || strings.Contains(body, `id="commit-form"`) {
		t.Fatalf("preview of the bad file: %d\n%s", code, body)
	}
	if hh, p := e.registryCounts(); hh != hh0 || p != p0 {
		t.Fatalf("the bad file wrote: %d/%d → %d/%d", hh0, p0, hh, p)
	}

	members[1][2] = good
	code, body = e.postFile(b, "", "/registry/imports", "花名册.xlsx", registryWorkbook(t, members))
	m := commitFormRe.FindStringSubmatch(body)
	if !ok(code, body) || m == nil || !strings.Contains(body, "校验通过") || !strings.Contains(body, "岚湖社区居委会") {
		t.Fatalf("preview of the fixed file: %d\n%s", code, body)
	}
	token := m[1]
	if hh, p := e.registryCounts(); hh != hh0 || p != p0 {
		t.Fatal("the preview wrote")
	}
	// nobody else sees or commits it
	v := e.browse("village_a")
	if code, _ := v.get("/registry/imports/" + token); code != 404 {
		t.Fatalf("another user's preview: %d", code)
	}
	if code, _ := v.post("/registry/imports/"+token+"/commit", url.Values{"csrf": {v.csrf()}}); code != 403 {
		t.Fatalf("another user's commit: %d", code)
	}
	if code, _ := e.browse("auditor_b").get("/registry/imports"); code != 403 {
		t.Fatalf("an auditor opened 登记导入: %d", code)
	}

	code, body = b.post("/registry/imports/"+token+"/commit", url.Values{"csrf": {b.csrf()}})
	if !ok(code, body) || !strings.Contains(body, "已导入 2 户、3 人") || !strings.Contains(body, `id="import-households"`) || !strings.Contains(body, villageA+"0000") {
		t.Fatalf("commit: %d\n%s", code, body)
	}
	if hh, p := e.registryCounts(); hh != hh0+2 || p != p0+3 {
		t.Fatalf("commit wrote %d/%d → %d/%d", hh0, p0, hh, p)
	}
	code, body = b.post("/registry/imports/"+token+"/commit", url.Values{"csrf": {b.csrf()}})
	if code != 409 || !strings.Contains(body, "不能重复导入") {
		t.Fatalf("second commit: %d", code)
	}
	if hh, p := e.registryCounts(); hh != hh0+2 || p != p0+3 {
		t.Fatal("the second commit wrote")
	}
	if code, body := b.get("/registry/imports"); !ok(code, body) || strings.Count(body, `href="/registry/imports/`) < 2 {
		t.Fatalf("import list: %d", code)
	}
	if code, body := b.get("/registry?name=黄国强"); !ok(code, body) || !strings.Contains(body, "黄国强") {
		t.Fatalf("imported person not found: %d", code)
	}
}

func TestRegistryImportAPI(t *testing.T) {
	e := newEnv(t)
	tok := e.login("case_a")
	csv := "户编号,姓名,身份证号码,与户主关系,户籍性质,家庭住址,所属村（社区）\n" +
		"1,邓文华," + idNo("1970-10-10", 301, true) + ",户主,城镇,岚湖9号,岚湖社区\n" +
		"1,邓小梅," + idNo("2000-01-01", 302, false) + ",女儿,,,\n"
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(csv)
	code, body := e.postFile(nil, tok, "/api/v1/registry/imports", "a.csv", []byte(gbk))
	var rep map[string]any
	json.Unmarshal([]byte(body), &rep)
	if code != 201 || rep["status"] != "previewed" || rep["token"] == nil {
		t.Fatalf("preview: %d %s", code, body)
	}
	token := rep["token"].(string)
	if code, out := e.api(tok, "GET", "/api/v1/registry/imports/"+token, nil); code != 200 || out["file_name"] != "a.csv" {
		t.Fatalf("get: %d %v", code, out)
	}
	if code, out := e.api(e.login("case_b"), "POST", "/api/v1/registry/imports/"+token+"/commit", nil); code != 403 {
		t.Fatalf("someone else's commit: %d %v", code, out)
	}
	code, out := e.api(tok, "POST", "/api/v1/registry/imports/"+token+"/commit", nil)
	if code != 200 || out["status"] != "committed" || len(out["households"].([]any)) != 1 {
		t.Fatalf("commit: %d %v", code, out)
	}
	if code, out := e.api(tok, "POST", "/api/v1/registry/imports/"+token+"/commit", nil); code != 409 || errCode(out) != "import_committed" {
		t.Fatalf("second commit: %d %v", code, out)
	}
	// the same people again: refused with the report
	code, body = e.postFile(nil, tok, "/api/v1/registry/imports", "a.csv", []byte(gbk))
	var refused struct {
		Error  struct{ Code string }
		Result struct {
			Status   string
			Problems []struct {
				Sheet, Column, Message string
				Row                    int
			}
		}
	}
	json.Unmarshal([]byte(body), &refused)
	if code != 422 || refused.Error.Code != "import_refused" || refused.Result.Status != "refused" || len(refused.Result.Problems) != 2 ||
		refused.Result.Problems[0].Row != 2 || refused.Result.Problems[0].Column != "身份证号码" || !strings.Contains(refused.Result.Problems[0].Message, "已登记在户") {
		t.Fatalf("re-import: %d %s", code, body)
	}
	if code, out := e.api(tok, "POST", "/api/v1/registry/imports", "{}"); code != 422 || errCode(out) != "not_multipart" {
		t.Fatalf("JSON instead of a file: %d %v", code, out)
	}
	if code, out := e.api(e.login("auditor_b"), "GET", "/api/v1/registry/imports", nil); code != 403 {
		t.Fatalf("auditor: %d %v", code, fmt.Sprint(out))
	}
}
