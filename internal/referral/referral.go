// Package referral carries the township's one door to the member
// departments and social organisations (一门受理、协同办理): a household's
// needs in the eight areas of help of the 2019 report, each referred to an
// organisation on the county's list that serves that area, accepted, acted on
// and closed with an outcome by that organisation's own users.
//
// Organisations belong to a county; referrals carry the household's village
// code, and every query is limited to the caller's region in SQL. A partner
// officer (member department or charity) sees only what is addressed to the
// one organisation the user is bound to, and every such read is audited.
package referral

import (
	"fmt"
	"log/slog"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the referral_* tables.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Calendar *calendar.Calendar
	Log      *slog.Logger
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// today is the office's date in China.
func (s *Service) today() time.Time {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	return calendar.Day(now.In(calendar.China))
}

// Today is the office's date in China as YYYY-MM-DD.
func (s *Service) Today() string { return s.today().Format(time.DateOnly) }

// Option is a code with its Chinese label.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Areas are the eight areas of help of the 2019 report (§1(一), §2(四)).
var Areas = []Option{
	{"basic_living", "基本生活"},
	{"employment", "就业创业"},
	{"medical", "医疗"},
	{"education", "教育"},
	{"social_insurance", "社会保险"},
	{"housing", "住房安全"},
	{"temporary", "临时救助"},
	{"social_help", "社会帮扶：慈善、社工"},
}

// OrgKinds are the kinds of organisation a county lists.
var OrgKinds = []Option{
	{"department", "成员单位（政府部门、群团组织）"},
	{"charity", "慈善组织"},
	{"social_work", "社会工作服务机构"},
}

// Departments are the usual member departments of a county's coordination
// group; the list is a convenience for the form, not a closed set.
var Departments = []Option{
	{"hrss", "人力资源和社会保障局"}, {"medical_insurance", "医疗保障局"}, {"education", "教育体育局"},
	{"housing", "住房和城乡建设局"}, {"disabled", "残疾人联合会"}, {"health", "卫生健康委员会"},
	{"union", "总工会"}, {"women", "妇女联合会"}, {"civil_affairs", "民政局"}, {"other", "其他"},
}

// Stages at which a need is recorded.
var Stages = []Option{{"intake", "受理时"}, {"review", "复核时"}, {"visit", "走访时"}}

// States of a referral.
const (
	StateSent     = "sent"
	StateAccepted = "accepted"
	StateDeclined = "declined"
	StateClosed   = "closed"
)

var stateLabels = map[string]string{StateSent: "已转介，待接收", StateAccepted: "已接收，办理中", StateDeclined: "已退回", StateClosed: "已办结"}

// StateLabel names a referral state in Chinese.
func StateLabel(s string) string {
	if l, ok := stateLabels[s]; ok {
		return l
	}
	return s
}

// Outcome is a kind of closure: what the organisation did.
type Outcome struct {
	Value string   `json:"value"`
	Label string   `json:"label"`
	Areas []string `json:"areas"` // empty: every area
	// Amount is "required" for help given as money, "optional" or "".
	Amount string `json:"amount,omitempty"`
	// Help is false for a closure that gave no help (counted apart).
	Help bool `json:"help"`
}

// Outcomes are the closures an organisation may record, by area.
var Outcomes = []Outcome{
	{"living_allowance", "发放生活补助", []string{"basic_living"}, "required", true},
	{"goods", "发放实物（米面油、衣被等）", []string{"basic_living", "temporary", "social_help"}, "optional", true},
	{"job_placement", "推荐就业、就业安置", []string{"employment"}, "", true},
	{"welfare_job", "安排公益性岗位", []string{"employment"}, "", true},
	{"skills_training", "职业技能培训", []string{"employment"}, "", true},
	{"startup_support", "创业担保贷款、创业扶持", []string{"employment"}, "required", true},
	{"medical_aid", "医疗救助金", []string{"medical"}, "required", true},
	{"insurance_subsidy", "资助参加基本医疗保险", []string{"medical"}, "required", true},
	{"treatment", "救治、康复服务", []string{"medical"}, "optional", true},
	{"fee_waiver", "学费减免", []string{"education"}, "required", true},
	{"school_grant", "助学金、生活补助", []string{"education"}, "required", true},
	{"school_placement", "入学安置、送教上门", []string{"education"}, "", true},
	{"pension_subsidy", "代缴城乡居民养老保险费", []string{"social_insurance"}, "required", true},
	{"insurance_enrolment", "办理参保登记", []string{"social_insurance"}, "", true},
	{"housing_repair", "危房改造", []string{"housing"}, "required", true},
	{"rental_housing", "公租房保障、租赁补贴", []string{"housing"}, "optional", true},
	{"temporary_aid", "临时救助金", []string{"temporary"}, "required", true},
	{"charity_donation", "慈善捐助", []string{"social_help"}, "required", true},
	{"social_worker", "指派社工服务", []string{"social_help"}, "", true},
	{"volunteer", "志愿者结对帮扶", []string{"social_help"}, "", true},
	{"other_help", "其他帮扶", nil, "optional", true},
	{"no_help", "经核实无法提供帮扶", nil, "", false},
}

// AreaLabel names an area in Chinese.
func AreaLabel(a string) string { return label(Areas, a) }

// OrgKindLabel names an organisation kind in Chinese.
func OrgKindLabel(k string) string { return label(OrgKinds, k) }

// DepartmentLabel names a department code in Chinese.
func DepartmentLabel(d string) string { return label(Departments, d) }

// StageLabel names a stage in Chinese.
func StageLabel(s string) string { return label(Stages, s) }

func label(list []Option, v string) string {
	for _, o := range list {
		if o.Value == v {
			return o.Label
		}
	}
	return v
}

func known(list []Option, v string) bool {
	for _, o := range list {
		if o.Value == v {
			return true
		}
	}
	return false
}

// OutcomeOf finds an outcome kind.
func OutcomeOf(v string) (Outcome, bool) {
	for _, o := range Outcomes {
		if o.Value == v {
			return o, true
		}
	}
	return Outcome{}, false
}

// OutcomeLabel names an outcome in Chinese.
func OutcomeLabel(v string) string {
	if o, ok := OutcomeOf(v); ok {
		return o.Label
	}
	return v
}

// Serves reports whether an outcome kind fits an area.
func (o Outcome) Serves(area string) bool {
	if len(o.Areas) == 0 {
		return true
	}
	for _, a := range o.Areas {
		if a == area {
			return true
		}
	}
	return false
}

// OutcomesFor lists the outcome kinds that fit an area.
func OutcomesFor(area string) []Outcome {
	var out []Outcome
	for _, o := range Outcomes {
		if o.Serves(area) {
			out = append(out, o)
		}
	}
	return out
}

// No is the referral's number as offices quote it.
func No(id int64) string { return fmt.Sprintf("ZJ%07d", id) }

// countyOf is the 12-digit code of the county a code lies in.
func countyOf(code string) string {
	c := region.Pad(code)
	return c[:6] + "000000"
}

var errCalendar = apperr.Invalid("date", "calendar_unknown", "工作日历中没有该年度的节假日安排，无法计算答复期限；请管理员先录入国务院公布的放假安排")
