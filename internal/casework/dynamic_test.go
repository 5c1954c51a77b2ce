package casework_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/registry"
)

// approve takes an application through its procedure from start, the county
// deciding 8 days later.
func (f *fixture) approve(hhID int64, applicant int64, signers []int64, programme, start string) *casework.Case {
	f.t.Helper()
	ctx := context.Background()
	f.clock = day(start)
	docs := map[string][]string{"dibao": {"application", "id_hukou", "income"}, "tekun": {"application", "id_hukou", "capacity"}}[programme]
	cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: hhID, ApplicantID: applicant, Programme: programme, Channel: "door",
		Documents: docs, Pledge: true, Authorisations: signers})
	if err != nil {
		f.t.Fatal(err)
	}
	if programme == "dibao" {
		cs = f.act(f.caseworker, cs, casework.Action{Action: "start_investigation"})
	}
	cs = f.act(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "属实", SupportMode: "dispersed"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "verification", Consistent: yes()})
	cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: yes()})
	f.clock = f.clock.AddDate(0, 0, 8)
	cs = f.act(f.reviewer, cs, casework.Action{Action: "end_notice"})
	if cs.SpotCheck || cs.CloseRelative {
		cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"县甲", "县乙"}, MembersSigned: true, Findings: "属实"})
	}
	cs = f.act(f.county, cs, casework.Action{Action: "decide", Approve: yes()})
	if cs.State != casework.StateApproved || cs.AmountFen <= 0 {
		f.t.Fatalf("%s not approved: %s amount %d", programme, cs.State, cs.AmountFen)
	}
	return cs
}

// elder registers a person of 70 living alone, unable to work, without income.
func (f *fixture) elder(seq int) (*registry.Household, int64) {
	d, _ := time.Parse(time.DateOnly, "1955-06-01")
	h, err := f.reg.CreateHousehold(context.Background(), f.caseworker, registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷9号",
		Head: registry.PersonInput{IDNumber: idcard.Build("360102", d, seq, false), Name: "刘桂英", Relation: "head", CoResident: true}})
	if err != nil {
		f.t.Fatal(err)
	}
	return h, h.Members[0].ID
}

func (f *fixture) get(id int64) *casework.Case {
	f.t.Helper()
	cs, err := f.cw.Get(context.Background(), f.county, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

func (f *fixture) income(personID, fen int64, since string) {
	f.t.Helper()
	if _, err := f.reg.SetIncome(context.Background(), f.caseworker, personID, "wage", fen, since, "复核核实"); err != nil {
		f.t.Fatal(err)
	}
}

// review runs a review from its start to the township's opinion.
func (f *fixture) review(ent *casework.Case) *casework.Case {
	f.t.Helper()
	rv, err := f.cw.StartReview(context.Background(), f.caseworker, ent.ID, "")
	if err != nil {
		f.t.Fatal(err)
	}
	rv = f.act(f.caseworker, rv, casework.Action{Action: "review_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "复核入户"})
	return f.act(f.reviewer, rv, casework.Action{Action: "review_opinion"})
}

// TestReviewSchedule: a household with a member able to work is reviewed every
// 6 months, one without yearly (DB-38); the review shows on the worklists when
// due, the county sees it overdue.
func TestReviewSchedule(t *testing.T) {
	f := newFixture(t)
	h, ids := f.household(100000)
	ent := f.approve(h.ID, ids[0], ids, "dibao", "2025-12-01")
	if ent.ReviewCycle != "half_yearly" || ent.NextReviewOn != "2026-06-09" || ent.PayFrom != "2026-01" {
		t.Fatalf("able to work: cycle %s next %s pay %s", ent.ReviewCycle, ent.NextReviewOn, ent.PayFrom)
	}
	eh, eid := f.elder(41)
	old := f.approve(eh.ID, eid, []int64{eid}, "dibao", "2025-12-01")
	if old.ReviewCycle != "yearly" || old.NextReviewOn != "2026-12-09" {
		t.Fatalf("elderly alone: cycle %s next %s", old.ReviewCycle, old.NextReviewOn)
	}
	ctx := context.Background()
	f.clock = day("2026-05-01")
	if items, _ := f.cw.Worklist(ctx, f.caseworker, casework.WorklistQuery{}); len(items) != 0 {
		t.Fatalf("review shown too early: %d items", len(items))
	}
	f.clock = day("2026-05-20")
	items, err := f.cw.Worklist(ctx, f.caseworker, casework.WorklistQuery{})
	if err != nil || len(items) != 1 || !items[0].ReviewDue || items[0].Case.ID != ent.ID || items[0].Overdue {
		t.Fatalf("township worklist %+v %v", items, err)
	}
	f.clock = day("2026-06-15")
	items, _ = f.cw.Worklist(ctx, f.county, casework.WorklistQuery{OverdueOnly: true})
	if len(items) != 1 || !items[0].Overdue {
		t.Fatalf("county overdue view: %+v", items)
	}
	// only the township starts it; once started the review itself is on the list
	if _, err := f.cw.StartReview(ctx, f.county, ent.ID, ""); err == nil {
		t.Fatal("county started a township review")
	}
	rv, err := f.cw.StartReview(ctx, f.caseworker, ent.ID, "")
	if err != nil || rv.Purpose != casework.PurposeReview || rv.State != "review_visit" || rv.DueOn != "2026-07-07" {
		t.Fatalf("review %+v %v (overdue: 15 WD from today)", rv, err)
	}
	if _, err := f.cw.StartReview(ctx, f.caseworker, ent.ID, ""); err == nil {
		t.Fatal("second review opened")
	}
	items, _ = f.cw.Worklist(ctx, f.caseworker, casework.WorklistQuery{})
	if len(items) != 1 || items[0].ReviewDue || items[0].Case.ID != rv.ID {
		t.Fatalf("after start: %+v", items)
	}
}

// TestReviewOutcomes: reviews that increase, decrease and stop, each with its
// effective month; a gradual exit of 6 months is allowed, 7 refused; wrong
// role, other region and stale version change nothing.
func TestReviewOutcomes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids := f.household(100000)
	ent := f.approve(h.ID, ids[0], ids, "dibao", "2025-12-01")
	start := ent.AmountFen

	f.clock = day("2026-06-08")
	f.income(ids[0], 50000, "2026-06-01")
	rv, err := f.cw.StartReview(ctx, f.caseworker, ent.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	visit := casework.Action{Action: "review_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "收入减少"}
	f.refused(f.county, rv, visit, "forbidden")
	f.refused(f.otherCounty, rv, visit, "not_found")
	stale := visit
	stale.Version = rv.Version + 1
	f.refused(f.caseworker, rv, stale, "version_conflict")
	rv = f.act(f.caseworker, rv, visit)
	f.refused(f.caseworker, rv, casework.Action{Action: "review_opinion"}, "forbidden")
	f.refused(f.reviewer, rv, casework.Action{Action: "review_decide", Approve: yes()}, "out_of_order")
	rv = f.act(f.reviewer, rv, casework.Action{Action: "review_opinion"})
	if rv.Outcome != casework.OutcomeIncrease || rv.AmountFen <= start || rv.PrevAmountFen != start || rv.State != "review_decision" {
		t.Fatalf("increase: %s %d → %d in %s", rv.Outcome, rv.PrevAmountFen, rv.AmountFen, rv.State)
	}
	f.refused(f.reviewer, rv, casework.Action{Action: "review_decide", Approve: yes()}, "forbidden")
	rv = f.act(f.county, rv, casework.Action{Action: "review_decide", Approve: yes()})
	if rv.State != casework.StateClosed || rv.PayFrom != "2026-07" {
		t.Fatalf("increase decided: %s from %s", rv.State, rv.PayFrom)
	}
	e := f.get(ent.ID)
	if e.AmountFen != rv.AmountFen || e.NextReviewOn != "2026-12-08" || e.State != casework.StateApproved {
		t.Fatalf("entitlement after increase: %d next %s", e.AmountFen, e.NextReviewOn)
	}
	high := rv.AmountFen

	// decrease: a reason is required for the written notice
	f.income(ids[0], 150000, "2026-06-01")
	rv = f.review(e)
	if rv.Outcome != casework.OutcomeDecrease || rv.AmountFen >= high {
		t.Fatalf("decrease: %s %d → %d", rv.Outcome, high, rv.AmountFen)
	}
	f.refused(f.county, rv, casework.Action{Action: "review_decide", Approve: yes()}, "reason_required")
	rv = f.act(f.county, rv, casework.Action{Action: "review_decide", Approve: yes(), Reason: "户主工资增加"})
	if f.get(ent.ID).AmountFen != rv.AmountFen || rv.PayFrom != "2026-07" {
		t.Fatal("decrease not applied")
	}

	// stop with a gradual exit: 7 months refused, 6 accepted; paid until, stopped from the month after
	f.income(ids[0], 600000, "2026-06-01")
	rv = f.review(f.get(ent.ID))
	if rv.Outcome != casework.OutcomeStop || rv.AmountFen != 0 {
		t.Fatalf("stop: %s %d", rv.Outcome, rv.AmountFen)
	}
	f.refused(f.county, rv, casework.Action{Action: "review_decide", Approve: yes(), ExitMonths: 7, Reason: "户主就业增收"}, "exit_too_long")
	rv = f.act(f.county, rv, casework.Action{Action: "review_decide", Approve: yes(), ExitMonths: 6, Reason: "户主就业增收"})
	e = f.get(ent.ID)
	if e.State != casework.StateClosed || e.StopFrom != "2027-01" || e.ExitMonths != 6 || rv.PayFrom != "2027-01" {
		t.Fatalf("stopped entitlement: %s stop %s exit %d", e.State, e.StopFrom, e.ExitMonths)
	}
	if !strings.Contains(e.StateLabel(), "渐退期6个月") {
		t.Fatal(e.StateLabel())
	}
	d, err := f.cw.Dynamic(ctx, f.county, ent.ID)
	if err != nil || len(d.Amounts) != 4 || d.Amounts[3].After != 0 || d.Amounts[3].From != "2027-01" || len(d.Reviews) != 3 {
		t.Fatalf("amount history %+v reviews %d %v", d.Amounts, len(d.Reviews), err)
	}
	if _, err := f.cw.StartReview(ctx, f.caseworker, ent.ID, ""); err == nil {
		t.Fatal("a stopped entitlement reviewed")
	}
}

// TestChangeReports: a death opens a review due within 3 months (DB-41); a
// change reported after more than 3 months is warned (DB-43); three refused
// job offers take the member's share off at the review (DB-42).
func TestChangeReports(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids := f.household(100000)
	ent := f.approve(h.ID, ids[0], ids, "dibao", "2025-12-01")
	f.clock = day("2026-02-16")
	rep := casework.ChangeReport{Kind: "death", ReportedBy: "village", PersonID: ids[1], ChangedOn: "2026-02-10", Details: "陈丽因病去世"}
	if _, _, err := f.cw.ReportChange(ctx, f.otherCounty, ent.ID, rep); err == nil {
		t.Fatal("another county reported")
	}
	cr, rv, err := f.cw.ReportChange(ctx, f.vil, ent.ID, rep)
	if err != nil || cr.Warning != "" || rv.DueOn != "2026-05-10" || rv.Purpose != casework.PurposeReview {
		t.Fatalf("death report: %+v review %+v %v", cr, rv, err)
	}
	// a change hidden for 4 months: warned, and attached to the open review
	cr, rv2, err := f.cw.ReportChange(ctx, f.caseworker, ent.ID, casework.ChangeReport{Kind: "income", ReportedBy: "data", ChangedOn: "2025-10-01", Details: "信息比对发现工资收入"})
	if err != nil || !strings.Contains(cr.Warning, "批评教育") || rv2.ID != rv.ID {
		t.Fatalf("late report: %+v %v", cr, err)
	}
	// DB-42: three refusals in a row (one with a reason breaks nothing, an acceptance resets)
	offer := func(answer string) int {
		n, err := f.cw.RecordJobOffer(ctx, f.caseworker, ent.ID, casework.JobOffer{PersonID: ids[0], OfferedOn: "2026-02-16", Job: "物业保安", Answer: answer, Reason: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if offer("refused") != 1 || offer("accepted") != 0 || offer("refused") != 1 || offer("refused") != 2 || offer("refused") != 3 {
		t.Fatal("refusal streak")
	}
	if _, err := f.cw.RecordJobOffer(ctx, f.caseworker, ent.ID, casework.JobOffer{PersonID: ids[2], OfferedOn: "2026-02-16", Job: "x", Answer: "refused"}); err == nil {
		t.Fatal("a member unable to work was offered a job")
	}
	rv = f.act(f.caseworker, rv, casework.Action{Action: "review_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "复核"})
	rv = f.act(f.reviewer, rv, casework.Action{Action: "review_opinion"})
	as, err := f.cw.Assessor.Assess(ctx, f.reviewer, h.ID, "dibao", "", 0, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	share := as.MonthlyFen / 3
	if rv.AmountFen != as.MonthlyFen-share || !strings.Contains(strings.Join(rv.Assessment.Reasons, ""), "连续3次") {
		t.Fatalf("job refusals: amount %d, assessed %d share %d, reasons %v", rv.AmountFen, as.MonthlyFen, share, rv.Assessment.Reasons)
	}
	ev, _ := f.cw.Events(ctx, f.county, ent.ID)
	var warned bool
	for _, e := range ev {
		warned = warned || e.Action == "warning"
	}
	if !warned {
		t.Fatal("no warning on the file")
	}
}

// TestTekunStopAndReassessment: a tekun recipient's self-care change is
// re-assessed by the county within 10 WD across the National Day holiday
// (TK-10); a new able supporter ends support after a 7-day notice, with a
// referral (TK-13).
func TestTekunStopAndReassessment(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, pid := f.elder(51)
	ent := f.approve(h.ID, pid, []int64{pid}, "tekun", "2025-12-01")
	if ent.ReviewCycle != "yearly" {
		t.Fatalf("tekun cycle %s", ent.ReviewCycle)
	}
	f.clock = day("2026-09-28")
	_, ra, err := f.cw.ReportChange(ctx, f.caseworker, ent.ID, casework.ChangeReport{Kind: "self_care", ReportedBy: "household", PersonID: pid, ChangedOn: "2026-09-20", Details: "中风后行动不便"})
	if err != nil || ra.Purpose != casework.PurposeReassess || ra.DueOn != "2026-10-16" {
		t.Fatalf("re-assessment %+v %v (10 WD across National Day = 2026-10-16)", ra, err)
	}
	f.refused(f.caseworker, ra, casework.Action{Action: "reassess", SelfCareFailed: []string{"walking"}}, "forbidden")
	f.clock = day("2026-10-09")
	ra = f.act(f.county, ra, casework.Action{Action: "reassess", PersonID: pid, SelfCareFailed: []string{"walking", "bathing", "dressing", "toileting"}})
	if ra.Outcome != casework.OutcomeIncrease || ra.PayFrom != "2026-11" || !strings.Contains(strings.Join(ra.Assessment.Reasons, ""), "完全丧失") {
		t.Fatalf("re-assessment: %s from %s %v", ra.Outcome, ra.PayFrom, ra.Assessment.Reasons)
	}
	if e := f.get(ent.ID); e.AmountFen != ra.AmountFen {
		t.Fatal("care tier not applied")
	}
	p, _, _ := f.reg.Person(ctx, f.caseworker, pid)
	if len(p.SelfCareItems) != 4 {
		t.Fatalf("registry self-care %v", p.SelfCareItems)
	}

	// a son able to support turns up: support ends (TK-13)
	hh, _ := f.reg.Household(ctx, f.caseworker, h.ID)
	d, _ := time.Parse(time.DateOnly, "1980-01-01")
	if _, err := f.reg.AddSupporter(ctx, f.caseworker, h.ID, hh.Version, registry.SupporterInput{IDNumber: idcard.Build("360102", d, 61, true), Name: "刘强",
		Relation: "child", Duty: "maintenance", MonthlyIncomeFen: 800000, AssetsWithinRules: true}, "儿子返乡"); err != nil {
		t.Fatal(err)
	}
	f.clock = day("2026-11-02")
	rv := f.review(f.get(ent.ID))
	if rv.Outcome != casework.OutcomeStop || rv.State != "stop_notice" || rv.NoticeTo != "2026-11-08" {
		t.Fatalf("tekun stop: %s in %s notice to %s", rv.Outcome, rv.State, rv.NoticeTo)
	}
	f.refused(f.reviewer, rv, casework.Action{Action: "end_stop_notice"}, "notice_running")
	f.clock = day("2026-11-09")
	rv = f.act(f.reviewer, rv, casework.Action{Action: "end_stop_notice"})
	f.refused(f.county, rv, casework.Action{Action: "review_decide", Approve: yes(), ExitMonths: 2, Reason: "x"}, "exit_not_allowed")
	rv = f.act(f.county, rv, casework.Action{Action: "review_decide", Approve: yes(), Reason: "有赡养能力的儿子返乡", Referral: "temporary"})
	if rv.Referral != "temporary" || rv.PayFrom != "2026-12" || f.get(ent.ID).StopFrom != "2026-12" {
		t.Fatalf("tekun stop decided: referral %q from %s", rv.Referral, rv.PayFrom)
	}
}

// TestObjectionAndAdminReview: an objection with evidence against a refusal
// is re-checked by the township and reopens the investigation (DB-13, HD-07);
// an administrative review revoking a refusal reopens the case (DB-45).
func TestObjectionAndAdminReview(t *testing.T) {
	ctx := context.Background()
	refuse := func(f *fixture) *casework.Case {
		h, ids := f.household(500000)
		f.clock = day("2026-03-02")
		cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "dibao", Channel: "door",
			Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: ids})
		if err != nil {
			t.Fatal(err)
		}
		no := false
		cs = f.act(f.caseworker, cs, casework.Action{Action: "start_investigation"})
		cs = f.act(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "x"})
		cs = f.act(f.caseworker, cs, casework.Action{Action: "verification", Consistent: &no, Reason: "核对发现工资收入5000元"})
		cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: &no, Reason: "收入超标"})
		f.clock = day("2026-03-10")
		cs = f.act(f.reviewer, cs, casework.Action{Action: "end_notice"})
		if cs.SpotCheck || cs.CloseRelative {
			cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"县甲", "县乙"}, MembersSigned: true, Findings: "属实"})
		}
		return f.act(f.county, cs, casework.Action{Action: "decide", Approve: &no, Reason: "家庭人均收入高于低保标准"})
	}
	f := newFixture(t)
	cs := refuse(f)
	f.refused(f.caseworker, cs, casework.Action{Action: "file_objection", Reason: "工资已停发"}, "evidence_required")
	f.refused(f.county, cs, casework.Action{Action: "file_objection", Reason: "工资已停发", Evidence: "单位解除劳动合同证明"}, "forbidden")
	cs = f.act(f.caseworker, cs, casework.Action{Action: "file_objection", Reason: "工资已停发", Evidence: "单位解除劳动合同证明"})
	if cs.State != casework.StateRecheck || cs.DueOn != "2026-03-31" || !cs.Special {
		t.Fatalf("objection: %s due %s", cs.State, cs.DueOn)
	}
	f.refused(f.caseworker, cs, casework.Action{Action: "recheck", Reason: "x"}, "recheck_result_required")
	cs = f.act(f.reviewer, cs, casework.Action{Action: "recheck", Approve: yes(), Reason: "证据属实，重新调查"})
	if cs.State != "investigating" || cs.Decision != "" || cs.DueOn != "2026-03-31" {
		t.Fatalf("re-check reopened: %s decision %q due %s", cs.State, cs.Decision, cs.DueOn)
	}

	// an administrative review revokes a notified refusal
	f = newFixture(t)
	cs = refuse(f)
	cs = f.act(f.caseworker, cs, casework.Action{Action: "notify_refusal"})
	appeal := casework.Action{Action: "appeal_outcome", AppealKind: "admin_review", Outcome: "revoked", DocumentNo: "洪府复决〔2026〕12号", DecidedOn: "2026-03-20"}
	f.refused(f.reviewer, cs, appeal, "forbidden")
	f.refused(f.otherCounty, cs, appeal, "not_found")
	bad := appeal
	bad.DocumentNo = ""
	f.refused(f.county, cs, bad, "document_required")
	f.clock = day("2026-03-23")
	cs = f.act(f.county, cs, appeal)
	if cs.State != "investigating" || cs.Decision != "" || !cs.Special {
		t.Fatalf("revoked refusal: %s %q", cs.State, cs.Decision)
	}
	d, err := f.cw.Dynamic(ctx, f.county, cs.ID)
	if err != nil || len(d.Appeals) != 1 || d.Appeals[0].Outcome != "revoked" || d.Appeals[0].DocumentNo == "" {
		t.Fatalf("appeals %+v %v", d.Appeals, err)
	}
	_ = auth.CountyApprover
}
