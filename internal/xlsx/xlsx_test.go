package xlsx

import (
	"bytes"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"jiuzhu/internal/money"
)

func open(t *testing.T, sheets ...Sheet) *excelize.File {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, sheets...); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestXLSXWrite(t *testing.T) {
	f := open(t, Sheet{
		Name:   "统计表",
		Title:  "进贤县社会救助统计表",
		Lines:  []string{"统计期：2026年3月"},
		Groups: []Group{{Label: "", Span: 1}, {Label: "城市低保", Span: 2}},
		Header: []string{"地区", "人数（人）", "月人均补助水平（元/人·月）"},
		Widths: []float64{22, 10, 13},
		Rows: slices.Values([][]any{
			{"合计", int64(1234), Yuan(30000)},
			{"民和镇", "<5", "*"},
			{"李渡镇", 7, money.Fen(12345)},
			{"前坊镇", 2.5, nil},
		}),
		Bold:  1,
		Notes: []string{"统计口径：……"},
	})
	if got := f.GetSheetList(); !slices.Equal(got, []string{"统计表"}) {
		t.Fatalf("sheets %q", got)
	}
	rows, err := f.GetRows("统计表")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"进贤县社会救助统计表"},
		{"统计期：2026年3月"},
		{"地区", "城市低保"},
		{"地区", "人数（人）", "月人均补助水平（元/人·月）"},
		{"合计", "1234", "300.00"},
		{"民和镇", "<5", "*"},
		{"李渡镇", "7", "123.45"},
		{"前坊镇", "2.5"},
		{"统计口径：……"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d: %q, want %q", i+1, rows[i], want[i])
		}
	}
	// the title and notes span the table; a group without a label leaves its
	// header spanning both header rows
	merges, err := f.GetMergeCells("统计表")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range merges {
		got = append(got, m.GetStartAxis()+":"+m.GetEndAxis())
	}
	for _, m := range []string{"A1:C1", "A2:C2", "A3:A4", "B3:C3", "A9:C9"} {
		if !slices.Contains(got, m) {
			t.Errorf("merge %s missing; have %q", m, got)
		}
	}
	// the total row is bold, the rows under it are not
	bold := func(cell string) bool {
		id, err := f.GetCellStyle("统计表", cell)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.GetStyle(id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Font != nil && st.Font.Bold
	}
	if !bold("A5") || !bold("C5") || bold("A6") || bold("C7") {
		t.Error("only the first data row should be bold")
	}
	// flags stand where numbers stand: right-aligned
	id, _ := f.GetCellStyle("统计表", "B6")
	if st, _ := f.GetStyle(id); st.Alignment == nil || st.Alignment.Horizontal != "right" {
		t.Errorf("\"<5\" not aligned as a number: %+v", st.Alignment)
	}
	// numbers are numbers, so that a sum works in Excel
	if v, _ := f.GetCellValue("统计表", "C5", excelize.Options{RawCellValue: true}); v != "300" {
		t.Errorf("yuan stored as %q", v)
	}
}

func TestXLSXSplitsLongLists(t *testing.T) {
	defer func(n int) { maxRows = n }(maxRows)
	// title, a line, the groups and the header take 4 rows and the note 1:
	// 3 data rows fit in a sheet of 8
	maxRows = 8
	n := 0
	rows := func(yield func([]any) bool) {
		for i := range 7 {
			n++
			if !yield([]any{"户" + string(rune('A'+i)), i}) {
				return
			}
		}
	}
	f := open(t, Sheet{Name: "名单", Title: "名单", Lines: []string{"说明"}, Groups: []Group{{Label: "", Span: 1}, {Label: "组", Span: 1}},
		Header: []string{"姓名", "人数"}, Rows: rows, Notes: []string{"注"}},
		Sheet{Name: "另一张", Header: []string{"甲"}})
	if n != 7 {
		t.Errorf("%d rows read", n)
	}
	if got := f.GetSheetList(); !slices.Equal(got, []string{"名单", "名单(2)", "名单(3)", "另一张"}) {
		t.Fatalf("sheets %q", got)
	}
	for i, name := range []string{"名单", "名单(2)", "名单(3)"} {
		r, err := f.GetRows(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(r) < 5 || r[0][0] != "名单" || r[1][0] != "说明" || !slices.Equal(r[3], []string{"姓名", "人数"}) {
			t.Fatalf("%s: title and header not repeated: %q", name, r)
		}
		body := r[4:]
		if i < 2 && len(body) != 3 {
			t.Errorf("%s: %d data rows, want 3: %q", name, len(body), body)
		}
		if i == 2 && (len(body) != 2 || body[0][0] != "户G" || body[1][0] != "注") {
			t.Errorf("last part: %q, want the 7th row and the note", body)
		}
	}

	// no room for a single row
	maxRows = 5
	if err := Write(&bytes.Buffer{}, Sheet{Name: "名单", Title: "名单", Lines: []string{"说明"}, Header: []string{"姓名"}, Notes: []string{"注", "注"}}); err == nil {
		t.Error("a sheet with no room for rows written")
	}
}

func TestXLSXSheetName(t *testing.T) {
	for _, c := range []struct {
		name string
		part int
		want string
	}{
		{"统计表", 1, "统计表"},
		{"统计表", 2, "统计表(2)"},
		{"a/b[c]:d*e?f\\g", 1, "a_b_c__d_e_f_g"},
		{"", 1, "Sheet"},
		{strings.Repeat("表", 40), 1, strings.Repeat("表", 31)},
		{strings.Repeat("表", 40), 12, strings.Repeat("表", 27) + "(12)"},
	} {
		if got := sheetName(c.name, c.part); got != c.want {
			t.Errorf("sheetName(%q, %d) = %q, want %q", c.name, c.part, got, c.want)
		}
	}
}

func TestXLSXServe(t *testing.T) {
	w := httptest.NewRecorder()
	Serve(w, "进贤县_社会救助统计表_2026-03.xlsx", []byte("PK"))
	h := w.Header()
	if !strings.Contains(h.Get("Content-Type"), "spreadsheetml") || h.Get("Cache-Control") != "no-store" ||
		h.Get("Content-Disposition") != "attachment; filename*=UTF-8''%E8%BF%9B%E8%B4%A4%E5%8E%BF_%E7%A4%BE%E4%BC%9A%E6%95%91%E5%8A%A9%E7%BB%9F%E8%AE%A1%E8%A1%A8_2026-03.xlsx" ||
		w.Body.String() != "PK" {
		t.Errorf("headers %v, body %q", h, w.Body.String())
	}
}
