// Package stats computes the oversight statistics of domain.md §8 (TJ-01..03)
// from the records, for any closed month or quarter and any level of the
// region tree: one aggregate query per measure grouped by village and hukou,
// rolled up the tree in memory, so a province's every level costs one pass.
package stats

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
)

// Params resolves dated regional rule parameters (policydb.Store).
type Params interface {
	Resolve(ctx context.Context, name, regionCode string, date time.Time) (policy.Value, error)
}

// Service computes statistics.
type Service struct {
	DB     *db.DB
	Tree   *region.Tree
	Params Params
	Now    func() time.Time
	// K suppresses counts below it in exports that leave the system (default 5).
	K int

	mu    sync.Mutex
	cache map[string]cached // by period: closed periods, recomputed after a while
}

type cached struct {
	at   time.Time
	figs map[string]*Figures
}

const cacheFor = 10 * time.Minute

// Today is the service's clock (Now, when set, for tests).
func (s *Service) Today() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// LastClosedMonth is the latest month statistics can be counted for: the
// month before the current one in China ("2026-10" during November 2026).
func (s *Service) LastClosedMonth() string {
	t := s.Today().In(calendar.China)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01")
}

// Figures are one region's numbers for a period. Counts of the stock are at
// the period's last month; flows (new, removed, temporary assistance) are
// summed over the period. Money is fen a month unless said otherwise.
type Figures struct {
	Region string `json:"region"`
	Name   string `json:"name"`

	DibaoHH      [2]int64 `json:"dibao_households"` // [urban, rural]
	DibaoPersons [2]int64 `json:"dibao_persons"`
	DibaoFen     [2]int64 `json:"dibao_fen"` // monthly amounts in force
	// standard × persons, summed: the average standard is this ÷ persons
	// (recipient-weighted, TJ-03)
	DibaoStdWeight [2]int64 `json:"-"`
	DibaoNewHH     [2]int64 `json:"dibao_new_households"`
	DibaoNewP      [2]int64 `json:"dibao_new_persons"`
	DibaoOutHH     [2]int64 `json:"dibao_removed_households"`
	DibaoOutP      [2]int64 `json:"dibao_removed_persons"`

	TekunCentral   [2]int64 `json:"tekun_centralised"`
	TekunDispersed [2]int64 `json:"tekun_dispersed"`
	TekunFen       [2]int64 `json:"tekun_fen"`
	TekunNew       [2]int64 `json:"tekun_new"`
	TekunOut       [2]int64 `json:"tekun_removed"`

	TempCases    int64 `json:"temporary_cases"` // person-times
	TempFen      int64 `json:"temporary_fen"`
	TempNonLocal int64 `json:"temporary_non_local"`

	DisLiving  int64 `json:"disability_living"`
	DisCare    int64 `json:"disability_care"`
	Orphans    int64 `json:"orphans"`
	Unattended int64 `json:"unattended_children"`
}

// AvgStandard is the recipient-weighted average dibao standard of urban (0)
// or rural (1) recipients, in fen a person and month.
func (f *Figures) AvgStandard(i int) int64 {
	if f.DibaoPersons[i] == 0 {
		return 0
	}
	return (f.DibaoStdWeight[i] + f.DibaoPersons[i]/2) / f.DibaoPersons[i]
}

// PaymentLevel is the monthly amount per dibao recipient (月人均补助水平,
// TJ-03: the month's amounts ÷ recipients), urban (0) or rural (1).
func (f *Figures) PaymentLevel(i int) int64 {
	if f.DibaoPersons[i] == 0 {
		return 0
	}
	return (f.DibaoFen[i] + f.DibaoPersons[i]/2) / f.DibaoPersons[i]
}

// TempAverage is the average temporary assistance per case.
func (f *Figures) TempAverage() int64 {
	if f.TempCases == 0 {
		return 0
	}
	return (f.TempFen + f.TempCases/2) / f.TempCases
}

func (f *Figures) add(g *Figures) {
	for i := range 2 {
		f.DibaoHH[i] += g.DibaoHH[i]
		f.DibaoPersons[i] += g.DibaoPersons[i]
		f.DibaoFen[i] += g.DibaoFen[i]
		f.DibaoStdWeight[i] += g.DibaoStdWeight[i]
		f.DibaoNewHH[i] += g.DibaoNewHH[i]
		f.DibaoNewP[i] += g.DibaoNewP[i]
		f.DibaoOutHH[i] += g.DibaoOutHH[i]
		f.DibaoOutP[i] += g.DibaoOutP[i]
		f.TekunCentral[i] += g.TekunCentral[i]
		f.TekunDispersed[i] += g.TekunDispersed[i]
		f.TekunFen[i] += g.TekunFen[i]
		f.TekunNew[i] += g.TekunNew[i]
		f.TekunOut[i] += g.TekunOut[i]
	}
	f.TempCases += g.TempCases
	f.TempFen += g.TempFen
	f.TempNonLocal += g.TempNonLocal
	f.DisLiving += g.DisLiving
	f.DisCare += g.DisCare
	f.Orphans += g.Orphans
	f.Unattended += g.Unattended
}

// Period is a month (2026-03) or a quarter (2026Q1).
type Period struct {
	Key    string
	Months []string // in order; the last one is the stock month
}

var (
	monthRe   = regexp.MustCompile(`^(20[0-9]{2})-(0[1-9]|1[0-2])$`)
	quarterRe = regexp.MustCompile(`^(20[0-9]{2})Q([1-4])$`)
)

// ParsePeriod reads a month or a quarter and refuses one not yet closed: a
// period is closed once its last month has ended (China time).
func (s *Service) ParsePeriod(p string) (Period, error) {
	p = strings.ToUpper(strings.TrimSpace(p))
	var per Period
	switch {
	case monthRe.MatchString(strings.ToLower(p)):
		per = Period{Key: p, Months: []string{p}}
	case quarterRe.MatchString(p):
		m := quarterRe.FindStringSubmatch(p)
		q := int(m[2][0] - '0')
		for i := range 3 {
			per.Months = append(per.Months, fmt.Sprintf("%s-%02d", m[1], (q-1)*3+i+1))
		}
		per.Key = p
	default:
		return per, apperr.Invalid("period", "bad_period", "统计期应为月份（如 2026-03）或季度（如 2026Q1）")
	}
	current := s.Today().In(calendar.China).Format("2006-01")
	if last := per.Months[len(per.Months)-1]; last >= current {
		return per, apperr.Invalid("period", "period_open", "统计期 "+p+" 尚未结束，数据尚未关账，不能统计")
	}
	return per, nil
}

// Table is the figures of a region and of each region directly under it.
type Table struct {
	Period   string     `json:"period"`
	Months   []string   `json:"months"`
	Region   *Figures   `json:"region"`
	Children []*Figures `json:"children"`
	Method   string     `json:"method"`
}

// Method explains how the figures are counted.
const Method = "在保人数、户数为统计期末月在保（已批准、已开始发放且未停发）的数；新增为统计期内开始发放的，动态调减为统计期内停发的；" +
	"低保平均标准按在保人数加权（各县城乡低保标准 × 在保人数 ÷ 在保总人数）；月人均补助水平为统计期末月应发金额 ÷ 在保人数；" +
	"低保人数为在保家庭的在册成员数；临时救助按统计期内批准的人次和金额统计，非本地按申请人身份证号地址码不属于办理县统计。"

// Table returns the figures of a region and its children for a period.
func (s *Service) Table(ctx context.Context, u *auth.User, regionCode, period string) (*Table, error) {
	if !u.Can(auth.StatsRead) {
		return nil, apperr.Forbidden("无权查看统计数据")
	}
	if regionCode == "" {
		regionCode = u.Region
	}
	regionCode = region.Pad(regionCode)
	r, ok := s.Tree.Get(regionCode)
	if !ok {
		return nil, apperr.Invalid("region", "unknown_region", "区划代码不存在")
	}
	if !region.Within(u.Region, regionCode) {
		return nil, apperr.Forbidden("该地区不在您的管辖范围内")
	}
	per, err := s.ParsePeriod(period)
	if err != nil {
		return nil, err
	}
	figs, err := s.figures(ctx, per)
	if err != nil {
		return nil, err
	}
	t := &Table{Period: per.Key, Months: per.Months, Region: figs[r.Code], Method: Method}
	for _, c := range s.Tree.Children(r.Code) {
		t.Children = append(t.Children, figs[c.Code])
	}
	return t, nil
}

// figures computes (or takes from the cache) every region's figures.
func (s *Service) figures(ctx context.Context, per Period) (map[string]*Figures, error) {
	s.mu.Lock()
	if c, ok := s.cache[per.Key]; ok && s.Today().Sub(c.at) < cacheFor {
		s.mu.Unlock()
		return c.figs, nil
	}
	s.mu.Unlock()
	figs, err := s.Compute(ctx, per)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	s.cache[per.Key] = cached{at: s.Today(), figs: figs}
	s.mu.Unlock()
	return figs, nil
}
