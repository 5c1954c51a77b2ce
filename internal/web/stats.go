package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/money"
	"jiuzhu/internal/region"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/xlsx"
)

// statsRoutes registers the statistics pages (issue #7): the TJ-01/TJ-02
// table with drill-down and its Excel export, the supervisors' dashboard and
// the comparison of dibao standards.
func (s *Server) statsRoutes(mux *http.ServeMux) {
	mux.Handle("GET /stats", s.auth(auth.StatsRead, s.statsTable))
	mux.Handle("GET /stats/export.xlsx", s.auth(auth.StatsRead, s.statsExport))
	mux.Handle("GET /stats/standards", s.auth(auth.StatsRead, s.statsStandards))
	mux.Handle("GET /dashboard", s.auth(auth.StatsRead, s.dashboard))
}

// ---------------------------------------------------------------------------
// Periods

// addMonths moves a "2006-01" month by n months.
func addMonths(month string, n int) string {
	t, err := time.Parse("2006-01", month)
	if err != nil {
		return month
	}
	return t.AddDate(0, n, 0).Format("2006-01")
}

// periodRe is the shape of a period worth offering again in the selector.
var periodRe = regexp.MustCompile(`^20[0-9]{2}(-(0[1-9]|1[0-2])|Q[1-4])$`)

type periodOption struct {
	Value, Label string
}

// periodOptions lists the closed months (24) and quarters (8) up to lastMonth,
// the latest first; selected is added if it is an older valid-looking period.
func periodOptions(lastMonth, selected string) (months, quarters []periodOption) {
	for i := range 24 {
		m := addMonths(lastMonth, -i)
		months = append(months, periodOption{m, stats.PeriodLabel(m)})
	}
	t, _ := time.Parse("2006-01", lastMonth)
	y, q := t.Year(), int(t.Month())/3 // the last quarter whose last month is closed
	if q == 0 {
		y, q = y-1, 4
	}
	for range 8 {
		k := fmt.Sprintf("%dQ%d", y, q)
		quarters = append(quarters, periodOption{k, stats.PeriodLabel(k)})
		if q--; q == 0 {
			y, q = y-1, 4
		}
	}
	has := func(list []periodOption) bool {
		return slices.ContainsFunc(list, func(o periodOption) bool { return o.Value == selected })
	}
	if periodRe.MatchString(selected) && !has(months) && !has(quarters) {
		if strings.Contains(selected, "Q") {
			quarters = append(quarters, periodOption{selected, stats.PeriodLabel(selected)})
		} else {
			months = append(months, periodOption{selected, stats.PeriodLabel(selected)})
		}
	}
	return months, quarters
}

// ---------------------------------------------------------------------------
// The TJ-01 / TJ-02 table

// statsDisplay formats a figure for the page (inside the system, nothing
// suppressed).
func statsDisplay(c stats.Column, f *stats.Figures) string {
	if c.Avg && c.Base != nil && c.Base(f) == 0 {
		return "—"
	}
	if c.Money {
		return money.Fen(c.Value(f)).String()
	}
	return groupDigits(strconv.FormatInt(c.Value(f), 10))
}

type regionCrumb struct {
	Code, Name string
	Current    bool
}

// statsCrumbs is the path from the user's own region down to code.
func (s *Server) statsCrumbs(u *auth.User, code string) []regionCrumb {
	var out []regionCrumb
	for _, r := range s.Tree.Path(code) {
		if region.Within(u.Region, r.Code) {
			out = append(out, regionCrumb{Code: r.Code, Name: r.Name, Current: r.Code == region.Pad(code)})
		}
	}
	return out
}

type statsRow struct {
	Code, Name string
	Drill      bool // has regions under it
	Total      bool
	Cells      []statsCell
}

type statsCell struct {
	Key, Text string
}

type statsTableData struct {
	Region      *region.Region
	FullName    string
	Period      string
	PeriodLabel string
	Months      []periodOption
	Quarters    []periodOption
	Crumbs      []regionCrumb
	Groups      []xlsx.Group
	Columns     []stats.Column
	Rows        []statsRow
	Method      string
	K           int
}

func (d statsTableData) Query() string {
	code := ""
	if d.Region != nil {
		code = d.Region.Code
	}
	return url.Values{"region": {code}, "period": {d.Period}}.Encode()
}

func (s *Server) statsRow(f *stats.Figures, total bool) statsRow {
	row := statsRow{Code: f.Region, Name: f.Name, Total: total}
	if total {
		row.Name = "合计"
	} else {
		row.Drill = len(s.Tree.Children(f.Region)) > 0
	}
	for _, c := range stats.Columns {
		row.Cells = append(row.Cells, statsCell{Key: c.Key, Text: statsDisplay(c, f)})
	}
	return row
}

// statsParams reads region and period, with the user's region and the last
// closed month as defaults.
func (s *Server) statsParams(r *http.Request) (string, string) {
	q := r.URL.Query()
	code := strings.TrimSpace(q.Get("region"))
	if code == "" {
		code = currentUser(r).Region
	}
	period := strings.ToUpper(strings.TrimSpace(q.Get("period")))
	if period == "" {
		period = s.Stats.LastClosedMonth()
	}
	return code, period
}

func (s *Server) statsTable(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	code, period := s.statsParams(r)
	d := statsTableData{Period: period, PeriodLabel: stats.PeriodLabel(period), Groups: stats.ColumnGroups(), Columns: stats.Columns, K: s.Stats.SuppressionK()}
	d.Months, d.Quarters = periodOptions(s.Stats.LastClosedMonth(), period)
	if reg, ok := s.Tree.Get(code); ok && region.Within(u.Region, reg.Code) {
		d.Region, d.FullName, d.Crumbs = reg, s.Tree.FullName(reg.Code), s.statsCrumbs(u, reg.Code)
	}
	t, err := s.Stats.Table(r.Context(), u, code, period)
	if err != nil {
		s.render(w, r, http.StatusOK, "stats", "统计报表", d, err)
		return
	}
	d.Period, d.PeriodLabel, d.Method = t.Period, stats.PeriodLabel(t.Period), t.Method
	d.Rows = append(d.Rows, s.statsRow(t.Region, true))
	for _, c := range t.Children {
		d.Rows = append(d.Rows, s.statsRow(c, false))
	}
	s.render(w, r, http.StatusOK, "stats", "统计报表", d, nil)
}

func (s *Server) statsExport(w http.ResponseWriter, r *http.Request) {
	code, period := s.statsParams(r)
	b, name, err := s.Stats.Export(r.Context(), s.Tree, currentUser(r), code, period)
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "导出统计表", nil, err)
		return
	}
	xlsx.Serve(w, name, b)
}

// ---------------------------------------------------------------------------
// Dashboard

type dashCard struct {
	ID, Label, Value, Unit, Sub string
	Delta, DeltaClass           string
}

type dashChild struct {
	Code, Name            string
	Drill                 bool
	Households, Persons   int64
	Level, RuralStd, Diff string
	DiffClass             string
	Tekun, Temp           int64
}

type dashboardData struct {
	Region    *region.Region
	FullName  string
	Month     string
	MonthL    string
	PrevL     string
	FirstL    string
	Crumbs    []regionCrumb
	Cards     []dashCard
	Trend     template.HTML
	Compare   template.HTML
	Measure   string
	Standards template.HTML
	RefLabel  string
	Children  []dashChild
	Method    string
}

// deltaCount describes the change of a count against the previous month.
func deltaCount(cur, prev int64) (string, string) {
	d := cur - prev
	if d == 0 {
		return "与上月持平", "flat"
	}
	sign, class := "+", "up"
	if d < 0 {
		sign, class, d = "−", "down", -d
	}
	s := "较上月 " + sign + groupDigits(strconv.FormatInt(d, 10))
	if prev > 0 {
		s += fmt.Sprintf("（%s%.1f%%）", sign, float64(d)*100/float64(prev))
	}
	return s, class
}

// deltaFen describes the change of an amount against the previous month.
func deltaFen(cur, prev int64) (string, string) {
	d := cur - prev
	if d == 0 {
		return "与上月持平", "flat"
	}
	sign, class := "+", "up"
	if d < 0 {
		sign, class, d = "−", "down", -d
	}
	return "较上月 " + sign + money.Fen(d).String() + " 元", class
}

func statCount(n int64) string { return groupDigits(strconv.FormatInt(n, 10)) }

// levelAll is the month's payment level over urban and rural recipients together.
func levelAll(f *stats.Figures) int64 {
	p := stats.Both(f.DibaoPersons)
	if p == 0 {
		return 0
	}
	return (stats.Both(f.DibaoFen) + p/2) / p
}

func yuanFloat(fen int64) float64 { return float64(fen) / 100 }

func yuanLabel(v float64) string { return money.Fen(int64(math.Round(v * 100))).String() }

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	q := r.URL.Query()
	code := strings.TrimSpace(q.Get("region"))
	if code == "" {
		code = u.Region
	}
	d := dashboardData{Measure: "persons"}
	if q.Get("measure") == "level" {
		d.Measure = "level"
	}
	d.Month = s.Stats.LastClosedMonth()
	d.MonthL, d.PrevL, d.FirstL = stats.PeriodLabel(d.Month), stats.PeriodLabel(addMonths(d.Month, -1)), stats.PeriodLabel(addMonths(d.Month, -11))
	if reg, ok := s.Tree.Get(code); ok && region.Within(u.Region, reg.Code) {
		d.Region, d.FullName, d.Crumbs = reg, s.Tree.FullName(reg.Code), s.statsCrumbs(u, reg.Code)
	}
	// the last 12 closed months, oldest first; the service caches closed periods
	tables := make([]*stats.Table, 12)
	labels := make([]string, 12)
	for i := range 12 {
		m := addMonths(d.Month, i-11)
		t, err := s.Stats.Table(r.Context(), u, code, m)
		if err != nil {
			s.render(w, r, http.StatusOK, "dashboard", "统计看板", d, err)
			return
		}
		tables[i], labels[i] = t, m
	}
	cur, prev := tables[11].Region, tables[10].Region
	d.Method = tables[11].Method
	card := func(id, label string, c, p int64, unit, sub string) {
		delta, class := deltaCount(c, p)
		d.Cards = append(d.Cards, dashCard{ID: id, Label: label, Value: statCount(c), Unit: unit, Sub: sub, Delta: delta, DeltaClass: class})
	}
	moneyCard := func(id, label string, c, p int64, sub string) {
		delta, class := deltaFen(c, p)
		v := money.Fen(c).String()
		if c == 0 {
			v, delta, class = "—", "本月无对象", "flat"
		}
		d.Cards = append(d.Cards, dashCard{ID: id, Label: label, Value: v, Unit: "元/人·月", Sub: sub, Delta: delta, DeltaClass: class})
	}
	card("card-urban", "城市低保人数", cur.DibaoPersons[0], prev.DibaoPersons[0], "人", statCount(cur.DibaoHH[0])+" 户")
	card("card-rural", "农村低保人数", cur.DibaoPersons[1], prev.DibaoPersons[1], "人", statCount(cur.DibaoHH[1])+" 户")
	moneyCard("card-level-urban", "城市低保月人均补助水平", cur.PaymentLevel(0), prev.PaymentLevel(0), "平均标准 "+money.Fen(cur.AvgStandard(0)).String()+" 元")
	moneyCard("card-level-rural", "农村低保月人均补助水平", cur.PaymentLevel(1), prev.PaymentLevel(1), "平均标准 "+money.Fen(cur.AvgStandard(1)).String()+" 元")
	tekun := func(f *stats.Figures) int64 { return stats.Both(f.TekunCentral) + stats.Both(f.TekunDispersed) }
	card("card-tekun", "特困人员", tekun(cur), tekun(prev), "人", "集中 "+statCount(stats.Both(cur.TekunCentral))+" · 分散 "+statCount(stats.Both(cur.TekunDispersed)))
	card("card-new", "低保新增 / 调减（户）", stats.Both(cur.DibaoNewHH), stats.Both(prev.DibaoNewHH), "户", "调减 "+statCount(stats.Both(cur.DibaoOutHH))+" 户")
	card("card-temp", "临时救助", cur.TempCases, prev.TempCases, "人次", "金额 "+money.Fen(cur.TempFen).String()+" 元")
	card("card-disability", "残疾人两项补贴", cur.DisLiving+cur.DisCare, prev.DisLiving+prev.DisCare, "人", "生活 "+statCount(cur.DisLiving)+" · 护理 "+statCount(cur.DisCare))
	card("card-children", "孤儿和事实无人抚养儿童", cur.Orphans+cur.Unattended, prev.Orphans+prev.Unattended, "人", "孤儿 "+statCount(cur.Orphans)+" · 事实无人抚养 "+statCount(cur.Unattended))

	// (a) trend of dibao persons, urban and rural
	urban, rural := make([]float64, 12), make([]float64, 12)
	for i, t := range tables {
		urban[i], rural[i] = float64(t.Region.DibaoPersons[0]), float64(t.Region.DibaoPersons[1])
	}
	d.Trend = LineChart{Title: d.FullName + "近12个月低保人数（城市、农村）", Labels: labels, Unit: "人",
		Series: []Series{{Name: "城市低保人数", Values: urban}, {Name: "农村低保人数", Values: rural}}}.SVG()

	// (b) children compared, (c) their average rural standard against this level's
	children := tables[11].Children
	var cmp, std []Bar
	ref := cur.AvgStandard(1)
	d.RefLabel = d.Region.Name + "平均"
	for _, c := range children {
		href := "/dashboard?" + url.Values{"region": {c.Region}, "measure": {d.Measure}}.Encode()
		drill := len(s.Tree.Children(c.Region)) > 0
		if !drill {
			href = "/stats?" + url.Values{"region": {c.Region}, "period": {d.Month}}.Encode()
		}
		if d.Measure == "level" {
			cmp = append(cmp, Bar{Label: c.Name, Value: yuanFloat(levelAll(c)), Href: href})
		} else {
			cmp = append(cmp, Bar{Label: c.Name, Value: float64(stats.Both(c.DibaoPersons)), Href: href})
		}
		ch := dashChild{Code: c.Region, Name: c.Name, Drill: drill, Households: stats.Both(c.DibaoHH), Persons: stats.Both(c.DibaoPersons),
			Level: "—", RuralStd: "—", Tekun: tekun(c), Temp: c.TempCases}
		if l := levelAll(c); stats.Both(c.DibaoPersons) > 0 {
			ch.Level = money.Fen(l).String()
		}
		if c.DibaoPersons[1] > 0 {
			std = append(std, Bar{Label: c.Name, Value: yuanFloat(c.AvgStandard(1)), Href: href})
			ch.RuralStd = money.Fen(c.AvgStandard(1)).String()
			diff := c.AvgStandard(1) - ref
			switch {
			case diff > 0:
				ch.Diff, ch.DiffClass = "+"+money.Fen(diff).String(), "up"
			case diff < 0:
				ch.Diff, ch.DiffClass = "−"+money.Fen(-diff).String(), "down"
			default:
				ch.Diff, ch.DiffClass = "持平", "flat"
			}
		}
		d.Children = append(d.Children, ch)
	}
	if len(children) > 0 {
		if d.Measure == "level" {
			d.Compare = BarChart{Title: "下辖地区低保月人均补助水平（" + d.MonthL + "）", Bars: cmp, Unit: "元/人·月", Format: yuanLabel}.SVG()
		} else {
			d.Compare = BarChart{Title: "下辖地区低保人数（" + d.MonthL + "）", Bars: cmp, Unit: "人"}.SVG()
		}
		var refLine *Reference
		if cur.DibaoPersons[1] > 0 {
			refLine = &Reference{Label: d.RefLabel, Value: yuanFloat(ref)}
		}
		d.Standards = BarChart{Title: "下辖地区农村低保平均标准与" + d.RefLabel + "（" + d.MonthL + "）", Bars: std, Unit: "元/人·月", Format: yuanLabel, Ref: refLine}.SVG()
	}
	s.render(w, r, http.StatusOK, "dashboard", "统计看板", d, nil)
}

// ---------------------------------------------------------------------------
// Standards comparison

type standardChange struct {
	Date, Value string
	First       bool // the value at the window's start, in force since earlier
}

type standardRow struct {
	Rank       int
	Code, Name string
	Drill      bool
	Current    int64
	YearAgo    int64
	Growth     string
	Diff       string
	DiffClass  string
	Range      string // the counties under a city, when they differ
	Changes    []standardChange
}

type standardKind struct {
	Key, Label   string
	Chart        template.HTML
	Rows         []standardRow
	Reference    int64 // the province average today
	ReferenceAgo int64
	RefGrowth    string
	ProvinceSet  int64 // the value set for the province as a whole
}

type standardsData struct {
	Region   *region.Region
	FullName string
	Crumbs   []regionCrumb
	Today    string
	From     string
	Inherit  bool // a township or village: the county's standard applies
	Kinds    []standardKind
}

func firstOfMonth(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func growthPct(cur, prev int64) string {
	if prev <= 0 {
		return "—"
	}
	return fmt.Sprintf("%+.2f%%", float64(cur-prev)*100/float64(prev))
}

func (s *Server) statsStandards(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	ctx := r.Context()
	code := strings.TrimSpace(r.URL.Query().Get("region"))
	if code == "" {
		code = u.Region
	}
	var d standardsData
	reg, ok := s.Tree.Get(code)
	if !ok {
		s.render(w, r, http.StatusOK, "stats_standards", "低保标准对比", d, apperr.Invalid("region", "unknown_region", "区划代码不存在"))
		return
	}
	if !region.Within(u.Region, reg.Code) {
		s.render(w, r, http.StatusOK, "stats_standards", "低保标准对比", d, apperr.Forbidden("该地区不在您的管辖范围内"))
		return
	}
	d.Region, d.FullName, d.Crumbs = reg, s.Tree.FullName(reg.Code), s.statsCrumbs(u, reg.Code)
	now := s.Stats.Today().In(cst)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	from := firstOfMonth(today).AddDate(-3, 0, 0)
	yearAgo := today.AddDate(-1, 0, 0)
	d.Today, d.From = today.Format(time.DateOnly), from.Format(time.DateOnly)

	// the regions compared: a province's cities, a city's counties; below a
	// county the county's own standard applies
	var rows []*region.Region
	if reg.Level >= region.County {
		county, _ := s.Tree.Get(region.Pad(reg.Code[:6]))
		rows, d.Inherit = []*region.Region{county}, reg.Level > region.County
	} else {
		rows = s.Tree.Children(reg.Code)
	}
	var counties []*region.Region
	for _, c := range s.Tree.Children(s.Tree.Root.Code) {
		counties = append(counties, s.Tree.Children(c.Code)...)
	}
	// month starts over three years for the chart
	var months []time.Time
	for m := from; !m.After(today); m = m.AddDate(0, 1, 0) {
		months = append(months, m)
	}
	set, err := s.Policy.Effective(ctx)
	if err != nil {
		s.render(w, r, http.StatusOK, "stats_standards", "低保标准对比", d, err)
		return
	}
	for _, kind := range []struct{ key, label string }{{"urban", "城市低保标准"}, {"rural", "农村低保标准"}} {
		name := "dibao.standard." + kind.key
		k := standardKind{Key: kind.key, Label: kind.label}
		// resolved in memory on the effective set: a page resolves thousands of values
		resolve := func(code string, at time.Time) (int64, error) {
			v, err := set.Resolve(name, code, at)
			if err != nil {
				return 0, fmt.Errorf("web: %s for %s at %s: %w", name, code, at.Format(time.DateOnly), err)
			}
			return v.Int, nil
		}
		provinceAvg := func(at time.Time) (int64, error) {
			var sum int64
			for _, c := range counties {
				v, err := resolve(c.Code, at)
				if err != nil {
					return 0, err
				}
				sum += v
			}
			if len(counties) == 0 {
				return 0, nil
			}
			return (sum + int64(len(counties))/2) / int64(len(counties)), nil
		}
		if k.Reference, err = provinceAvg(today); err == nil {
			if k.ReferenceAgo, err = provinceAvg(yearAgo); err == nil {
				k.ProvinceSet, err = resolve(s.Tree.Root.Code, today)
			}
		}
		// the dates a value changed: the starts of approved values in the window
		hist, herr := s.Policy.History(ctx, name)
		if err == nil {
			err = herr
		}
		if err != nil {
			s.render(w, r, http.StatusOK, "stats_standards", "低保标准对比", d, err)
			return
		}
		k.RefGrowth = growthPct(k.Reference, k.ReferenceAgo)
		dates := []time.Time{from}
		for _, h := range hist {
			st, perr := time.Parse(time.DateOnly, h.Start)
			if perr != nil || h.Status != "approved" || !st.After(from) || st.After(today) {
				continue
			}
			if !slices.ContainsFunc(dates, st.Equal) {
				dates = append(dates, st)
			}
		}
		sort.Slice(dates, func(i, j int) bool { return dates[i].Before(dates[j]) })

		var series []Series
		for _, c := range rows {
			row := standardRow{Code: c.Code, Name: c.Name, Drill: c.Level < region.County}
			if row.Current, err = resolve(c.Code, today); err == nil {
				row.YearAgo, err = resolve(c.Code, yearAgo)
			}
			last := int64(-1)
			for _, at := range dates {
				if err != nil {
					break
				}
				var v int64
				if v, err = resolve(c.Code, at); err == nil && v != last {
					row.Changes = append(row.Changes, standardChange{at.Format(time.DateOnly), money.Fen(v).String(), last < 0})
					last = v
				}
			}
			if err == nil && c.Level == region.City {
				lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
				for _, cc := range s.Tree.Children(c.Code) {
					v, rerr := resolve(cc.Code, today)
					if rerr != nil {
						err = rerr
						break
					}
					lo, hi = min(lo, v), max(hi, v)
				}
				if lo < hi {
					row.Range = money.Fen(lo).String() + "–" + money.Fen(hi).String()
				}
			}
			if err != nil {
				s.render(w, r, http.StatusOK, "stats_standards", "低保标准对比", d, err)
				return
			}
			row.Growth = growthPct(row.Current, row.YearAgo)
			switch diff := row.Current - k.Reference; {
			case diff > 0:
				row.Diff, row.DiffClass = "+"+money.Fen(diff).String(), "up"
			case diff < 0:
				row.Diff, row.DiffClass = "−"+money.Fen(-diff).String(), "down"
			default:
				row.Diff, row.DiffClass = "持平", "flat"
			}
			vals := make([]float64, len(months))
			for i, m := range months {
				v, rerr := resolve(c.Code, m)
				if rerr != nil {
					vals[i] = math.NaN()
					continue
				}
				vals[i] = yuanFloat(v)
			}
			series = append(series, Series{Name: c.Name, Values: vals})
			k.Rows = append(k.Rows, row)
		}
		// ranked as the 2019 report ranks provinces: highest standard first,
		// equal standards share a place
		sort.SliceStable(k.Rows, func(i, j int) bool { return k.Rows[i].Current > k.Rows[j].Current })
		for i := range k.Rows {
			k.Rows[i].Rank = i + 1
			if i > 0 && k.Rows[i].Current == k.Rows[i-1].Current {
				k.Rows[i].Rank = k.Rows[i-1].Rank
			}
		}
		avg := make([]float64, len(months))
		labels := make([]string, len(months))
		for i, m := range months {
			v, aerr := provinceAvg(m)
			if aerr != nil {
				avg[i] = math.NaN()
			} else {
				avg[i] = yuanFloat(v)
			}
			labels[i] = m.Format("2006-01")
		}
		series = append(series, Series{Name: "全省平均", Values: avg, Dashed: true})
		k.Chart = LineChart{Title: d.FullName + kind.label + "（近三年，每月1日）", Labels: labels, Series: series, Unit: "元/人·月", Format: yuanLabel, Height: 320, Fit: true}.SVG()
		d.Kinds = append(d.Kinds, k)
	}
	s.render(w, r, http.StatusOK, "stats_standards", "低保标准对比", d, nil)
}
