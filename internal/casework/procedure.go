// Package casework carries an application from intake to decision: the steps
// of each programme's procedure under the rules of its date, their deadlines in
// Chinese working days, who may act at each step, and a complete, audited file.
package casework

import (
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/region"
)

// Programmes that have a casework procedure, with their Chinese names.
var Programmes = []struct{ Value, Label string }{
	{"dibao", "最低生活保障"}, {"tekun", "特困人员救助供养"}, {"temporary", "临时救助"},
	{"orphan", "孤儿基本生活保障"}, {"unattended_child", "事实无人抚养儿童保障"},
	{"disability_living", "困难残疾人生活补贴"}, {"disability_care", "重度残疾人护理补贴"},
}

// ProgrammeLabel is the Chinese name of a programme.
func ProgrammeLabel(p string) string {
	for _, x := range Programmes {
		if x.Value == p {
			return x.Label
		}
	}
	return p
}

// Step is one stage of a procedure: the state a case waits in, the action that
// ends it, which office takes it, and how long it may take.
type Step struct {
	State  string
	Label  string // what is awaited, for worklists
	Action string
	Office int // region.Township or region.County
	// WD is the deadline in working days from entering the state, or from the
	// acceptance when FromAccepted (stages whose limit runs from acceptance);
	// Days, in calendar days (public notices run 7 calendar days).
	WD, Days     int
	FromAccepted bool
	// Optional steps may be passed over with the next step's action.
	Optional bool
	Source   string // the rule that sets the step
}

// Terminal states.
const (
	StateIncomplete = "incomplete"
	StateApproved   = "approved"
	StateRefused    = "refused" // the refusal still has to be notified
	StateClosed     = "closed"
	StateRecheck    = "recheck" // an objection with evidence is re-checked by the township (DB-13, HD-07)
)

// Purposes of a case row.
const (
	PurposeApplication = "application"
	PurposeReview      = "review"       // a periodic or reported-change review of an entitlement (DB-37..DB-41)
	PurposeReassess    = "reassessment" // a tekun self-care re-assessment (TK-10)
)

// Actions outside the linear steps.
const (
	ActSupplement     = "supplement"       // the missing items of an incomplete file arrive
	ActObjection      = "objection"        // an objection during the public notice
	ActNotifyRefusal  = "notify_refusal"   // the written refusal reached the applicant
	ActCountyVisit    = "county_visit"     // county home visit (close relatives, complaints, spot checks)
	ActRecordComplain = "record_complaint" // a complaint or report about the case
	ActFileObjection  = "file_objection"   // an objection with evidence against a verification result or a refusal
	ActRecheck        = "recheck"          // the township's re-check of an objection
	ActAppealOutcome  = "appeal_outcome"   // the outcome of an administrative review or a lawsuit
)

// reviewProcedure is the procedure of a review (S2 §30–31: the township
// re-investigates and re-assesses, the county decides) or of a tekun self-care
// re-assessment (TK-10: by the county within 10 WD of the reported change).
// The first step's deadline is set when the review opens: the review date, 3
// months after a death (DB-41), or 15 WD after another reported change [B].
func reviewProcedure(programme, purpose string) []Step {
	if purpose == PurposeReassess {
		return []Step{{State: "reassess", Label: "生活自理能力复评（报告变化后10个工作日内）", Action: "reassess", Office: region.County, WD: 10, Source: "S4 §23"}}
	}
	steps := []Step{
		{State: "review_visit", Label: "复核入户调查", Action: "review_visit", Office: region.Township, Source: "S2 §31"},
		{State: "review_opinion", Label: "乡镇复核意见（按现行标准重新测算）", Action: "review_opinion", Office: region.Township, WD: 5, Source: "S2 §30 [B 5WD]"},
	}
	if programme == "tekun" {
		steps = append(steps, Step{State: "stop_notice", Label: "拟终止供养公示7天（仅拟终止时）", Action: "end_stop_notice", Office: region.Township, Days: 7, Source: "S4 §25"})
	}
	return append(steps, Step{State: "review_decision", Label: "县级复核决定（维持、增发、减发或停发）", Action: "review_decide", Office: region.County, WD: 10, Source: "S2 §30"})
}

// Review outcomes (DB-37).
const (
	OutcomeMaintain = "maintain"
	OutcomeIncrease = "increase"
	OutcomeDecrease = "decrease"
	OutcomeStop     = "stop"
)

// OutcomeLabel names a review outcome in Chinese.
func OutcomeLabel(o string) string {
	return map[string]string{OutcomeMaintain: "维持", OutcomeIncrease: "增发", OutcomeDecrease: "减发", OutcomeStop: "停发"}[o]
}

// Review cycles (DB-38, DB-39) and their length in months.
var reviewCycles = map[string]int{"yearly": 12, "half_yearly": 6, "quarterly": 3, "monthly": 1}

// ReviewCycleLabel names a review cycle in Chinese.
func ReviewCycleLabel(c string) string {
	return map[string]string{"yearly": "每年复核", "half_yearly": "每半年复核", "quarterly": "每季度复核", "monthly": "每月复核"}[c]
}

// roleOffice is the office level whose staff may take actions of that level.
var officeRoles = map[int][]auth.Role{
	region.Township: {auth.TownshipCaseworker, auth.TownshipReviewer},
	region.County:   {auth.CountyApprover},
}

// procedure returns the steps of a programme under a rule version. kind is the
// temporary-assistance type (emergency|expenditure). delegated is set where the
// county has delegated approval to the township (DB-31).
func procedure(programme, rules, kind string, delegated bool) []Step {
	decide := region.County
	if delegated {
		decide = region.Township
	}
	switch programme {
	case "dibao":
		if rules == "2012" {
			// S3 (民发〔2012〕220号): investigation 10 WD, mandatory appraisal within 5 WD, county review 5 WD
			// with spot checks, a county 7-day notice, then the decision within 3 WD.
			return []Step{
				{State: "accepted", Label: "入户调查（10个工作日内完成）", Action: "home_visit", Office: region.Township, WD: 10, FromAccepted: true, Source: "S3 §18"},
				{State: "visited", Label: "经济状况核对", Action: "verification", Office: region.Township, WD: 10, FromAccepted: true, Source: "S3 §19"},
				{State: "verified", Label: "民主评议（调查结束后5个工作日内）", Action: "appraisal", Office: region.Township, WD: 5, Source: "S3 §21"},
				{State: "appraised", Label: "乡镇审核意见", Action: "township_opinion", Office: region.Township, WD: 5, Source: "S3 §25"},
				{State: "county_review", Label: "县级审核（5个工作日，抽查不少于30%）", Action: "county_review", Office: region.County, WD: 5, Source: "S3 §26"},
				{State: "notice", Label: "县级公示7天", Action: "end_notice", Office: region.County, Days: 7, Source: "S3 §29"},
				{State: "decision", Label: "审批决定（公示结束后3个工作日内）", Action: "decide", Office: decide, WD: 3, Source: "S3 §29"},
			}
		}
		// S2 (民发〔2021〕57号): investigation starts within 3 WD; the township's opinion is posted
		// 7 days; the county decides within 10 WD of receiving the file; 30 WD in all.
		return []Step{
			{State: "accepted", Label: "启动调查（受理后3个工作日内）", Action: "start_investigation", Office: region.Township, WD: 3, Source: "S2 §15"},
			// The township's share of the 30 WD: 15 WD from acceptance, leaving the notice and the county's 10 WD.
			{State: "investigating", Label: "入户调查", Action: "home_visit", Office: region.Township, WD: 15, FromAccepted: true, Source: "S2 §16"},
			{State: "visited", Label: "信息核对", Action: "verification", Office: region.Township, WD: 15, FromAccepted: true, Source: "S2 §17"},
			{State: "verified", Label: "民主评议或听证（无争议可不评议）", Action: "appraisal", Office: region.Township, WD: 15, FromAccepted: true, Optional: true, Source: "S2 §19"},
			{State: "appraised", Label: "乡镇审核意见", Action: "township_opinion", Office: region.Township, WD: 15, FromAccepted: true, Source: "S2 §19"},
			{State: "notice", Label: "村（社区）公示7天", Action: "end_notice", Office: region.Township, Days: 7, Source: "S2 §19"},
			{State: "decision", Label: "县级审批（收到材料后10个工作日内）", Action: "decide", Office: decide, WD: 10, Source: "S2 §20"},
		}
	case "tekun":
		wd := 15
		if rules == "2012" {
			wd = 20 // TK-08: 2016 rules, 20 WD each
		}
		return []Step{
			// the township investigates and gives its opinion within wd of acceptance (TK-07)
			{State: "accepted", Label: "入户调查及生活自理能力评估", Action: "home_visit", Office: region.Township, WD: wd, FromAccepted: true, Source: "S4 §13"},
			{State: "visited", Label: "信息核对", Action: "verification", Office: region.Township, WD: wd, FromAccepted: true, Source: "S4 §13"},
			{State: "verified", Label: "民主评议（可选）", Action: "appraisal", Office: region.Township, WD: wd, FromAccepted: true, Optional: true, Source: "S4 §13"},
			{State: "appraised", Label: "乡镇审核意见", Action: "township_opinion", Office: region.Township, WD: wd, FromAccepted: true, Source: "S4 §13"},
			{State: "notice", Label: "公示7天", Action: "end_notice", Office: region.Township, Days: 7, Source: "S4 §14"},
			{State: "decision", Label: "县级审批（抽查不少于30%）", Action: "decide", Office: region.County, WD: wd, Source: "S4 §15"},
		}
	case "orphan", "unattended_child":
		// ER-03: data matching by the township within 15 WD, no public notice, county confirms within 15 WD.
		return []Step{
			{State: "accepted", Label: "乡镇数据比对核实（15个工作日内）", Action: "township_opinion", Office: region.Township, WD: 15, Source: "S10"},
			{State: "decision", Label: "县级确认（15个工作日内）", Action: "decide", Office: region.County, WD: 15, Source: "S10"},
		}
	case "disability_living", "disability_care":
		// CJ-05 [B]: township review, county approval; no public notice.
		return []Step{
			{State: "accepted", Label: "乡镇初审", Action: "township_opinion", Office: region.Township, WD: 10, Source: "CJ-05"},
			{State: "decision", Label: "县级审核认定", Action: "decide", Office: region.County, WD: 10, Source: "CJ-05"},
		}
	case "temporary":
		if kind == "emergency" {
			// LS-03: assist first, file later; LS-06: paid within 48 hours, paperwork within 5 WD.
			return []Step{
				{State: "accepted", Label: "先行救助（48小时内发放）", Action: "advance", Office: region.Township, WD: 2, Source: "LS-03, LS-06"},
				{State: "advanced", Label: "补齐手续（5个工作日内）", Action: "complete_file", Office: region.Township, WD: 5, Source: "LS-06"},
				{State: "decision", Label: "审批（超出乡镇额度报县级）", Action: "decide", Office: decide, WD: 10, Source: "LS-01"},
			}
		}
		return []Step{
			{State: "accepted", Label: "入户调查", Action: "home_visit", Office: region.Township, WD: 10, FromAccepted: true, Source: "LS-03"},
			{State: "visited", Label: "信息核对", Action: "verification", Office: region.Township, WD: 10, FromAccepted: true, Source: "LS-03"},
			{State: "verified", Label: "乡镇审核意见", Action: "township_opinion", Office: region.Township, WD: 10, FromAccepted: true, Source: "LS-03"},
			{State: "notice", Label: "公示", Action: "end_notice", Office: region.Township, Days: 7, Source: "LS-01"},
			{State: "decision", Label: "审批", Action: "decide", Office: decide, WD: 10, Source: "LS-01"},
		}
	}
	return nil
}

// RuleVersion is the rule set in force on a date (domain.md: the 2021 rules from 2021-07-01).
func RuleVersion(date time.Time) string {
	if date.Before(time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)) {
		return "2012"
	}
	return "2021"
}

// OverallLimitWD is the whole-procedure limit from acceptance (DB-30, DB-31):
// 30 WD (45 in special cases), 20 (45) where the township approves; 0 where
// the rules set no overall limit.
func OverallLimitWD(programme, rules string, delegated, special bool) int {
	if programme != "dibao" || rules != "2021" {
		return 0
	}
	switch {
	case special:
		return 45
	case delegated:
		return 20
	}
	return 30
}

var actionLabels = map[string]string{
	"accept": "受理申请", ActSupplement: "补正材料", "start_investigation": "启动调查", "home_visit": "入户调查", "verification": "信息核对",
	"appraisal": "民主评议/听证", "township_opinion": "乡镇审核意见", "county_review": "县级审核", "end_notice": "公示结束", "decide": "审批决定",
	ActNotifyRefusal: "送达不予批准通知", ActCountyVisit: "县级入户核查", ActRecordComplain: "登记投诉举报", "advance": "先行救助发放",
	"complete_file": "补办手续", "review_visit": "复核入户调查", "review_opinion": "乡镇复核意见", "end_stop_notice": "终止供养公示结束",
	"review_decide": "县级复核决定", "reassess": "生活自理能力复评", ActFileObjection: "登记异议（附证据）", ActRecheck: "异议复查结论",
	ActAppealOutcome: "登记行政复议/诉讼结果", "open_review": "启动复核", "change_report": "登记家庭状况变化", "warning": "批评教育（逾期未报告）",
	"job_offer": "登记就业岗位介绍", "review_applied": "复核结果生效", "appeal_applied": "复议/诉讼结果生效", "review_moved": "复核期限提前",
}

// ActionLabel names an action in Chinese.
func ActionLabel(a string) string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return a
}

var stateNames = map[string]string{
	"": "—", StateIncomplete: "材料不全", "accepted": "已受理", "investigating": "调查中", "visited": "已入户调查", "verified": "已核对",
	"appraised": "已评议", "notice": "公示中", "county_review": "县级审核", "decision": "待审批", "advanced": "已先行救助",
	StateApproved: "已批准", StateRefused: "不予批准", StateClosed: "已办结", "recheck": "复查中", "reassess": "自理能力复评",
	"review_visit": "复核调查", "review_opinion": "复核意见", "review_decision": "复核审批", "stop_notice": "终止公示",
}

// StateName names a case state in Chinese for the case file; an unknown state
// shows as itself.
func StateName(state string) string {
	if n, ok := stateNames[state]; ok {
		return n
	}
	return state
}
