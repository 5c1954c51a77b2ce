package stats

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/region"
	"jiuzhu/internal/xlsx"
)

// Column is one column of the statistics table, shared by the page, the
// Excel export and the API.
type Column struct {
	Key   string
	Group string
	Label string
	Unit  string
	Money bool // fen, shown in yuan
	// Avg marks an average over Base: "—" when Base is zero.
	Avg bool
	// Private marks money drawn from few recipients (a payment level, the
	// temporary assistance amounts): an export leaves it out when Base is
	// below K, as it would describe one or two people's benefit.
	Private bool
	Value   func(f *Figures) int64
	Base    func(f *Figures) int64
}

// Both adds the urban and rural halves of a figure.
func Both(a [2]int64) int64 { return a[0] + a[1] }

// Columns are the TJ-01/TJ-02 items of domain.md §8 in the order of the
// MCA tables: urban and rural dibao, dynamic management, extreme poverty,
// temporary assistance, disability subsidies, children.
var Columns = []Column{
	{Key: "dibao_households_urban", Group: "城市低保", Label: "户数", Unit: "户", Value: func(f *Figures) int64 { return f.DibaoHH[0] }},
	{Key: "dibao_persons_urban", Group: "城市低保", Label: "人数", Unit: "人", Value: func(f *Figures) int64 { return f.DibaoPersons[0] }},
	{Key: "dibao_standard_urban", Group: "城市低保", Label: "平均标准", Unit: "元/人·月", Money: true, Avg: true,
		Value: func(f *Figures) int64 { return f.AvgStandard(0) }, Base: func(f *Figures) int64 { return f.DibaoPersons[0] }},
	{Key: "dibao_level_urban", Group: "城市低保", Label: "月人均补助水平", Unit: "元/人·月", Money: true, Avg: true, Private: true,
		Value: func(f *Figures) int64 { return f.PaymentLevel(0) }, Base: func(f *Figures) int64 { return f.DibaoPersons[0] }},
	{Key: "dibao_households_rural", Group: "农村低保", Label: "户数", Unit: "户", Value: func(f *Figures) int64 { return f.DibaoHH[1] }},
	{Key: "dibao_persons_rural", Group: "农村低保", Label: "人数", Unit: "人", Value: func(f *Figures) int64 { return f.DibaoPersons[1] }},
	{Key: "dibao_standard_rural", Group: "农村低保", Label: "平均标准", Unit: "元/人·月", Money: true, Avg: true,
		Value: func(f *Figures) int64 { return f.AvgStandard(1) }, Base: func(f *Figures) int64 { return f.DibaoPersons[1] }},
	{Key: "dibao_standard_rural_year", Group: "农村低保", Label: "平均标准", Unit: "元/人·年", Money: true, Avg: true,
		Value: func(f *Figures) int64 { return f.AvgStandard(1) * 12 }, Base: func(f *Figures) int64 { return f.DibaoPersons[1] }},
	{Key: "dibao_level_rural", Group: "农村低保", Label: "月人均补助水平", Unit: "元/人·月", Money: true, Avg: true, Private: true,
		Value: func(f *Figures) int64 { return f.PaymentLevel(1) }, Base: func(f *Figures) int64 { return f.DibaoPersons[1] }},
	{Key: "dibao_new_households", Group: "低保新增", Label: "户数", Unit: "户", Value: func(f *Figures) int64 { return Both(f.DibaoNewHH) }},
	{Key: "dibao_new_persons", Group: "低保新增", Label: "人数", Unit: "人", Value: func(f *Figures) int64 { return Both(f.DibaoNewP) }},
	{Key: "dibao_removed_households", Group: "低保动态调减", Label: "户数", Unit: "户", Value: func(f *Figures) int64 { return Both(f.DibaoOutHH) }},
	{Key: "dibao_removed_persons", Group: "低保动态调减", Label: "人数", Unit: "人", Value: func(f *Figures) int64 { return Both(f.DibaoOutP) }},
	{Key: "tekun_centralised_urban", Group: "特困人员", Label: "城市集中供养", Unit: "人", Value: func(f *Figures) int64 { return f.TekunCentral[0] }},
	{Key: "tekun_dispersed_urban", Group: "特困人员", Label: "城市分散供养", Unit: "人", Value: func(f *Figures) int64 { return f.TekunDispersed[0] }},
	{Key: "tekun_centralised_rural", Group: "特困人员", Label: "农村集中供养", Unit: "人", Value: func(f *Figures) int64 { return f.TekunCentral[1] }},
	{Key: "tekun_dispersed_rural", Group: "特困人员", Label: "农村分散供养", Unit: "人", Value: func(f *Figures) int64 { return f.TekunDispersed[1] }},
	{Key: "temporary_cases", Group: "临时救助", Label: "人次", Unit: "人次", Value: func(f *Figures) int64 { return f.TempCases }},
	{Key: "temporary_amount", Group: "临时救助", Label: "金额", Unit: "元", Money: true, Private: true,
		Value: func(f *Figures) int64 { return f.TempFen }, Base: func(f *Figures) int64 { return f.TempCases }},
	{Key: "temporary_average", Group: "临时救助", Label: "次均", Unit: "元", Money: true, Avg: true, Private: true,
		Value: func(f *Figures) int64 { return f.TempAverage() }, Base: func(f *Figures) int64 { return f.TempCases }},
	{Key: "temporary_non_local", Group: "临时救助", Label: "非本地人次", Unit: "人次", Value: func(f *Figures) int64 { return f.TempNonLocal }},
	{Key: "disability_living", Group: "残疾人两项补贴", Label: "困难残疾人生活补贴", Unit: "人", Value: func(f *Figures) int64 { return f.DisLiving }},
	{Key: "disability_care", Group: "残疾人两项补贴", Label: "重度残疾人护理补贴", Unit: "人", Value: func(f *Figures) int64 { return f.DisCare }},
	{Key: "orphans", Group: "儿童", Label: "孤儿", Unit: "人", Value: func(f *Figures) int64 { return f.Orphans }},
	{Key: "unattended_children", Group: "儿童", Label: "事实无人抚养儿童", Unit: "人", Value: func(f *Figures) int64 { return f.Unattended }},
}

// Export is a figure's cell for a file that leaves the system: counts from 1
// to k-1 become "<k", and private money figures over fewer than k recipients
// become "*".
func (c Column) Export(f *Figures, k int) any {
	if c.Avg && c.Base != nil && c.Base(f) == 0 {
		return "—"
	}
	if c.Money {
		if c.Private && c.Base != nil {
			if b := c.Base(f); b > 0 && b < int64(k) {
				return "*"
			}
		}
		return xlsx.Yuan(c.Value(f))
	}
	if v := c.Value(f); v > 0 && v < int64(k) {
		return fmt.Sprintf("<%d", k)
	}
	return c.Value(f)
}

// ColumnGroups are the column groups with their widths, in order.
func ColumnGroups() []xlsx.Group {
	var out []xlsx.Group
	for _, c := range Columns {
		if n := len(out); n > 0 && out[n-1].Label == c.Group {
			out[n-1].Span++
			continue
		}
		out = append(out, xlsx.Group{Label: c.Group, Span: 1})
	}
	return out
}

// SuppressionK is the smallest count an export shows (K, default 5).
func (s *Service) SuppressionK() int {
	if s == nil || s.K <= 0 {
		return 5
	}
	return s.K
}

// PeriodLabel names a period in Chinese: 2026年3月, 2026年第1季度.
func PeriodLabel(p string) string {
	p = strings.ToUpper(strings.TrimSpace(p))
	if y, q, ok := strings.Cut(p, "Q"); ok {
		return y + "年第" + q + "季度"
	}
	if t, err := time.Parse("2006-01", p); err == nil {
		return fmt.Sprintf("%d年%d月", t.Year(), int(t.Month()))
	}
	return p
}

// Sheet lays a statistics table out for Excel: a title row, the units and
// period, the grouped header, the total and a row per child region, and the
// method and the suppression rule in note rows.
func Sheet(tree *region.Tree, t *Table, k int, exportedBy string, at time.Time) xlsx.Sheet {
	sh := xlsx.Sheet{
		Name:   "统计表",
		Title:  tree.FullName(t.Region.Region) + "社会救助统计表（" + PeriodLabel(t.Period) + "）",
		Groups: append([]xlsx.Group{{Label: "", Span: 1}}, ColumnGroups()...),
		Header: []string{"地区"},
		Widths: []float64{22},
		Bold:   1,
	}
	kind := "月报"
	if strings.Contains(t.Period, "Q") {
		kind = "季报：在保数为季末月，新增、调减和临时救助为季内合计"
	}
	sh.Lines = []string{
		"统计期：" + PeriodLabel(t.Period) + "（" + kind + "）；区划代码：" + t.Region.Region,
		"计量单位：户、人、人次；金额单位：元（保留两位小数）；平均标准和月人均补助水平为元/人·月，另列农村平均标准元/人·年（= 月标准 × 12）",
	}
	for _, c := range Columns {
		sh.Header = append(sh.Header, c.Label+"（"+c.Unit+"）")
		w := 10.0
		if c.Money {
			w = 13
		}
		if n := utf8.RuneCountInString(c.Label); n > 5 {
			w = math.Max(w, float64(n)*2+2)
		}
		sh.Widths = append(sh.Widths, w)
	}
	figs := append([]*Figures{t.Region}, t.Children...)
	sh.Rows = func(yield func([]any) bool) {
		for i, f := range figs {
			name := f.Name
			if i == 0 {
				name = "合计（" + f.Name + "）"
			}
			row := []any{name}
			for _, c := range Columns {
				row = append(row, c.Export(f, k))
			}
			if !yield(row) {
				return
			}
		}
	}
	sh.Notes = []string{
		"统计口径：" + t.Method,
		fmt.Sprintf("数据保护：导出文件离开本系统，1 至 %d 的计数以“<%d”表示；对象少于 %d 人（人次）时，其月人均补助水平和临时救助金额以“*”表示；“—”表示无对象、无法计算平均数。", k-1, k, k),
		"导出：" + exportedBy + "，" + at.In(calendar.China).Format("2006-01-02 15:04") + "，江西省社会救助综合信息平台",
	}
	return sh
}

// FileName is the download name of a table's export.
func FileName(tree *region.Tree, t *Table) string {
	return tree.FullName(t.Region.Region) + "_社会救助统计表_" + t.Period + ".xlsx"
}

// Export writes a statistics table as a workbook for the user and records
// the export in the audit log (the file leaves the system). It returns the
// workbook and its download name.
func (s *Service) Export(ctx context.Context, tree *region.Tree, u *auth.User, code, period string) ([]byte, string, error) {
	t, err := s.Table(ctx, u, code, period)
	if err != nil {
		return nil, "", err
	}
	k := s.SuppressionK()
	var buf bytes.Buffer
	by := u.DisplayName
	if by == "" {
		by = u.Username
	}
	if err := xlsx.Write(&buf, Sheet(tree, t, k, by, time.Now())); err != nil {
		return nil, "", err
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "stats.export", "stats_table", t.Period, t.Region.Region,
		map[string]any{"period": t.Period, "rows": len(t.Children) + 1, "k": k}); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), FileName(tree, t), nil
}
