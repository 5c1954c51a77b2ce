package tabular

import (
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

type col struct {
	name, label string
	req         bool
}

func head(c col) Header { return Header{Name: c.name, Label: c.label, Required: c.req} }

var layout = []col{{"id_number", "身份证号", true}, {"death_date", "死亡日期", true}, {"note", "备注", false}}

func rows(t *testing.T, name string, body []byte) [][]string {
	t.Helper()
	var out [][]string
	if err := EachRow(name, body, func(line int, cells []string) error {
		out = append(out, append([]string{}, cells...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEachRowReadsGBKAndXLSXAlike(t *testing.T) {
	text := "身份证号,死亡日期\n\n360124195001011234,2026-02-01\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	f := excelize.NewFile()
	f.SetSheetRow("Sheet1", "A1", &[]any{"身份证号", "死亡日期"})
	f.SetSheetRow("Sheet1", "A3", &[]any{"360124195001011234", "2026-02-01"})
	book, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if x := rows(t, "deaths.xlsx", book.Bytes()); len(x) != 2 || x[1][0] != "360124195001011234" {
		t.Fatalf("XLSX: %q", x)
	}
	got := rows(t, "deaths.csv", []byte(gbk))
	if len(got) != 2 || got[0][0] != "身份证号" || got[1][1] != "2026-02-01" {
		t.Fatalf("GBK CSV: %q", got)
	}
	if utf := rows(t, "deaths.csv", []byte("\ufeff"+text)); len(utf) != 2 || utf[0][0] != "身份证号" {
		t.Fatalf("UTF-8 with BOM: %q", utf)
	}
}

func TestMapHeader(t *testing.T) {
	cols, err := MapHeader("死亡", layout, head, []string{"死亡日期", "id_number"})
	if err != nil || len(cols) != 2 || cols[0].name != "death_date" || cols[1].name != "id_number" {
		t.Fatalf("%v %v", cols, err)
	}
	for _, c := range []struct {
		header []string
		want   string
	}{
		{[]string{"身份证号"}, "缺少必需的列：死亡日期（death_date）"},
		{[]string{"身份证号", "死亡日期", "住址"}, "不属于“死亡”格式的列：住址"},
		{[]string{"身份证号", "id_number", "死亡日期"}, "表头列“id_number”重复"},
	} {
		if _, err := MapHeader("死亡", layout, head, c.header); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.header, err, c.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	for _, s := range []string{"2026-02-01", "2026/2/1", "20260201", " 2026-2-1 "} {
		if d, err := ParseDate(s); err != nil || d.Format("2006-01-02") != "2026-02-01" {
			t.Errorf("%q: %v %v", s, d, err)
		}
	}
	for _, s := range []string{"2026-02-30", "01/02/2026", ""} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestCheck(t *testing.T) {
	today, _ := ParseDate("2026-03-02")
	l := Limits{Latest: today, LatestName: "数据日期", Region: func(c string) bool { return c == "360124100001" }}
	for _, c := range []struct {
		cell      Cell
		in, norm  string
		wantProbe string
	}{
		{Date, "2026/3/1", "2026-03-01", ""},
		{Date, "2026-03-03", "", "日期晚于数据日期"},
		{Yuan, "1,234.5", "123450", ""},
		{Yuan, "-3", "", "金额格式不正确"},
		{Year, "2027", "", "年度不正确"},
		{Region, "360124100001", "360124100001", ""},
		{Region, "360124100002", "", "区划代码不存在"},
		{Code, "9", "", "代码不在取值范围内"},
	} {
		norm, msg := Check(c.cell, map[string]string{"1": "一"}, c.in, l)
		if norm != c.norm || !strings.Contains(msg, c.wantProbe) || (c.wantProbe == "") != (msg == "") {
			t.Errorf("%v %q: %q %q", c.cell, c.in, norm, msg)
		}
	}
}
