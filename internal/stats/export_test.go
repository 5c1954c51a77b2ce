package stats_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"jiuzhu/internal/region"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/xlsx"
)

func column(t *testing.T, key string) stats.Column {
	t.Helper()
	for _, c := range stats.Columns {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no column %s", key)
	return stats.Column{}
}

func TestStatsExportCells(t *testing.T) {
	// the suppression rule of exports
	c, level := column(t, "orphans"), column(t, "dibao_level_rural")
	for _, x := range []struct {
		n    int64
		want any
	}{{0, int64(0)}, {1, "<5"}, {4, "<5"}, {5, int64(5)}} {
		if got := c.Export(&stats.Figures{Orphans: x.n}, 5); got != x.want {
			t.Errorf("orphans %d exported as %v, want %v", x.n, got, x.want)
		}
	}
	// a payment level over fewer than K recipients is one or two people's benefit
	few := &stats.Figures{DibaoPersons: [2]int64{0, 3}, DibaoFen: [2]int64{0, 90000}}
	if got := level.Export(few, 5); got != "*" {
		t.Errorf("level over 3 persons exported as %v", got)
	}
	if got := level.Export(&stats.Figures{}, 5); got != "—" {
		t.Errorf("level over nobody exported as %v", got)
	}
	many := &stats.Figures{DibaoPersons: [2]int64{0, 10}, DibaoFen: [2]int64{0, 300000}}
	if got := level.Export(many, 5); got != xlsx.Yuan(30000) {
		t.Errorf("level over 10 persons exported as %v", got)
	}
	// a larger K suppresses more
	if got := c.Export(&stats.Figures{Orphans: 7}, 10); got != "<10" {
		t.Errorf("orphans 7 with K 10 exported as %v", got)
	}
}

func TestStatsSuppressionK(t *testing.T) {
	var none *stats.Service
	if none.SuppressionK() != 5 || (&stats.Service{}).SuppressionK() != 5 || (&stats.Service{K: 10}).SuppressionK() != 10 {
		t.Error("K defaults to 5 and follows Service.K")
	}
}

func TestStatsPeriodLabel(t *testing.T) {
	for p, want := range map[string]string{"2026-03": "2026年3月", "2026q1": "2026年第1季度", " 2025Q4 ": "2025年第4季度", "bad": "BAD"} {
		if got := stats.PeriodLabel(p); got != want {
			t.Errorf("PeriodLabel(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestStatsColumnGroups(t *testing.T) {
	groups := stats.ColumnGroups()
	n := 0
	for _, g := range groups {
		for _, c := range stats.Columns[n : n+g.Span] {
			if c.Group != g.Label {
				t.Errorf("column %s under group %s", c.Key, g.Label)
			}
		}
		n += g.Span
	}
	if n != len(stats.Columns) || len(groups) != 8 || groups[0].Label != "城市低保" || groups[0].Span != 4 {
		t.Errorf("groups %v", groups)
	}
}

// TestStatsSheet: the workbook that leaves the system carries "<K" and "*"
// in place of small figures, and says so in a note.
func TestStatsSheet(t *testing.T) {
	tree, err := region.Load()
	if err != nil {
		t.Fatal(err)
	}
	const jinxian = "360124000000"
	kids := tree.Children(jinxian)
	tbl := &stats.Table{Period: "2026Q1", Method: stats.Method,
		Region: &stats.Figures{Region: jinxian, Name: "进贤县", DibaoHH: [2]int64{12, 340}, DibaoPersons: [2]int64{20, 600}, DibaoFen: [2]int64{900000, 24000000}, Orphans: 3},
		Children: []*stats.Figures{
			{Region: kids[0].Code, Name: kids[0].Name, DibaoHH: [2]int64{0, 2}, DibaoPersons: [2]int64{0, 3}, DibaoFen: [2]int64{0, 90000}},
		}}
	at := time.Date(2026, 4, 10, 2, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := xlsx.Write(&buf, stats.Sheet(tree, tbl, 5, "县级统计员", at)); err != nil {
		t.Fatal(err)
	}
	if name := stats.FileName(tree, tbl); name != "南昌市进贤县_社会救助统计表_2026Q1.xlsx" {
		t.Errorf("file name %q", name)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("统计表")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 {
		t.Fatalf("%d rows: %q", len(rows), rows)
	}
	if rows[0][0] != "南昌市进贤县社会救助统计表（2026年第1季度）" || !strings.Contains(rows[1][0], "季报") || !strings.Contains(rows[2][0], "金额单位：元") {
		t.Errorf("title rows %q", rows[:3])
	}
	if rows[4][0] != "地区" || rows[4][1] != "户数（户）" || rows[3][1] != "城市低保" {
		t.Errorf("header %q / %q", rows[3], rows[4])
	}
	col := map[string]int{}
	for i, c := range stats.Columns {
		col[c.Key] = i + 1
	}
	total, child := rows[5], rows[6]
	if total[0] != "合计（进贤县）" || total[col["dibao_households_urban"]] != "12" || total[col["orphans"]] != "<5" ||
		total[col["dibao_level_rural"]] != "400.00" || total[col["temporary_average"]] != "—" {
		t.Errorf("total %q", total)
	}
	if child[0] != kids[0].Name || child[col["dibao_households_rural"]] != "<5" || child[col["dibao_level_rural"]] != "*" || child[col["dibao_households_urban"]] != "0" {
		t.Errorf("child %q", child)
	}
	if !strings.HasPrefix(rows[7][0], "统计口径：") || !strings.Contains(rows[8][0], "1 至 4 的计数以“<5”表示") ||
		rows[9][0] != "导出：县级统计员，2026-04-10 10:00，江西省社会救助综合信息平台" {
		t.Errorf("notes %q", rows[7:])
	}
}
