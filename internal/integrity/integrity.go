// Package integrity computes the anomaly lists for discipline inspectors and
// county leaders, records the inspectors' decisions on them, and runs
// special campaigns that sample cases for re-checking.
//
// Each list is one SQL statement over the whole scope (no per-case loops);
// its rows become entries keyed by list and subject (entry_key), so a re-run
// refreshes the evidence of what it finds again, keeps every decision, and
// marks what it no longer finds as no longer present instead of deleting it.
package integrity

import (
	"log/slog"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// Service owns the integrity_* and campaign_* tables.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Calendar *calendar.Calendar
	Payroll  *payroll.Service
	Credit   *credit.Service
	Log      *slog.Logger
	// Now is the clock (tests and benchmarks fix it); nil is time.Now.
	Now func() time.Time
	// Rules are the thresholds of the lists; the zero value is DefaultRules.
	Rules Rules
}

// Rules are the thresholds the lists apply, each documented where it is used.
type Rules struct {
	// LookbackMonths bounds the payments, approvals and grants examined.
	LookbackMonths int
	// VerifyWD is how many working days a township has to act on a
	// verification hit. The verify package sets no deadline for its tasks;
	// HD-08 gives 5–10 WD as the usual local limit for a verification, so a
	// task still open after the upper bound, 10 WD, is flagged.
	VerifyWD int
	// FastWD: an application with a 7-day public notice (dibao, tekun,
	// expenditure-type temporary assistance) approved in fewer working days
	// than this from acceptance skipped or shortened a step: seven calendar
	// days hold at least five working days outside the long holidays.
	FastWD int
	// ManyMin and ManyPeers: a user's approvals in a month are unusual when
	// they exceed the mean of the other deciding users of the same city in
	// that month by more than 3 standard deviations, are at least twice that
	// mean, number at least ManyMin, and at least ManyPeers others decided.
	ManyMin, ManyPeers int
	// TemporaryPerYear is how many grants of one type (emergency or
	// expenditure) one person may receive in a calendar year. Jiangxi's rule
	// was not found (LS-07); LS-06 (Kashi): one grant per person per reason
	// per calendar year.
	TemporaryPerYear int
}

// DefaultRules are the documented defaults.
var DefaultRules = Rules{LookbackMonths: 12, VerifyWD: 10, FastWD: 5, ManyMin: 10, ManyPeers: 4, TemporaryPerYear: 1}

func (s *Service) rules() Rules {
	r := s.Rules
	d := DefaultRules
	if r.LookbackMonths <= 0 {
		r.LookbackMonths = d.LookbackMonths
	}
	if r.VerifyWD <= 0 {
		r.VerifyWD = d.VerifyWD
	}
	if r.FastWD <= 0 {
		r.FastWD = d.FastWD
	}
	if r.ManyMin <= 0 {
		r.ManyMin = d.ManyMin
	}
	if r.ManyPeers <= 0 {
		r.ManyPeers = d.ManyPeers
	}
	if r.TemporaryPerYear <= 0 {
		r.TemporaryPerYear = d.TemporaryPerYear
	}
	return r
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// today is the calendar date in China.
func (s *Service) today() time.Time { return calendar.Day(s.now().In(calendar.China)) }

// The lists.
const (
	ListSharedAccount = "shared_account"
	ListRelative      = "relative"
	ListAfterDeath    = "after_death"
	ListAfterStop     = "after_stop"
	ListVerifyIgnored = "verify_ignored"
	ListNoVisit       = "no_visit"
	ListSameHand      = "same_hand"
	ListFast          = "fast_approval"
	ListMany          = "many_approvals"
	ListTemporary     = "temporary_repeat"
)

// Lists are the lists in display order with their Chinese names.
var Lists = []struct{ Value, Label, Group string }{
	{ListSharedAccount, "一个银行账户领取多个无关联家庭的救助金", "一"},
	{ListRelative, "工作人员及村干部近亲属享受救助（含审批人）", "二"},
	{ListAfterDeath, "死亡后仍发放", "三"},
	{ListAfterStop, "停发决定后仍发放", "三"},
	{ListVerifyIgnored, "核对发现逾期未处理", "四"},
	{ListNoVisit, "未经入户调查即批准", "五"},
	{ListSameHand, "调查与审核（审批）为同一人", "五"},
	{ListFast, "审批异常快速", "六"},
	{ListMany, "个人审批数量异常", "六"},
	{ListTemporary, "同一人重复享受临时救助超出规定", "七"},
}

// ListLabel names a list in Chinese.
func ListLabel(l string) string {
	for _, x := range Lists {
		if x.Value == l {
			return x.Label
		}
	}
	return l
}

// Entry statuses.
const (
	StatusOpen      = "open"
	StatusExplained = "explained"
	StatusReferred  = "referred"
	StatusConfirmed = "confirmed"
)

// StatusLabel names a status in Chinese.
func StatusLabel(st string) string {
	return map[string]string{StatusOpen: "待处理", StatusExplained: "已说明（排除）", StatusReferred: "已移送调查", StatusConfirmed: "已查实"}[st]
}
