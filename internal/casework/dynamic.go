package casework

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
)

// Dynamic management (DB-37..DB-43, TK-10, TK-13) and appeals (DB-13, DB-45).
//
// An approved dibao or tekun case is an entitlement: it carries its monthly
// amount, its review cycle and the date of its next review. A review is a case
// row of its own (purpose review, parent_id the entitlement) with a short
// procedure: the township re-investigates and re-assesses, the county decides
// to maintain, increase, decrease or stop. Its decision changes the
// entitlement in the same transaction, with an event on both files and a row
// of amount history.

// addMonths adds months to a date, keeping the day within the month.
func addMonths(d time.Time, n int) time.Time {
	first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, n, 0)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d.Day(), last)-1)
}

// monthPlus is the month n months after d's month, as YYYY-MM.
func monthPlus(d time.Time, n int) string {
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, n, 0).Format("2006-01")
}

// defaultCycle is the review frequency of a household (DB-38, DB-39): under
// the 2021 rules every 6 months if a member of working age can work, else
// yearly; under the 2012 rules monthly (towns) or quarterly (rural) if a
// member can work, else yearly (三无, illness, disability). Stable households
// under the 2012 rules (every 6 months) are set by the county at the decision.
// Tekun recipients are reviewed yearly [B].
func (s *Service) defaultCycle(ctx context.Context, hhID int64, programme, rules string, on time.Time) (string, error) {
	if programme == "tekun" {
		return "yearly", nil
	}
	var hukou string
	if err := s.DB.QueryRowContext(ctx, `SELECT hukou FROM households WHERE id = $1`, hhID).Scan(&hukou); err != nil {
		return "", fmt.Errorf("casework: household: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT birth_date, able_to_work FROM persons WHERE household_id = $1`, hhID)
	if err != nil {
		return "", fmt.Errorf("casework: members: %w", err)
	}
	defer rows.Close()
	able := false
	for rows.Next() {
		var birth string
		var ok bool
		if err := rows.Scan(&birth, &ok); err != nil {
			return "", err
		}
		b, err := time.Parse(time.DateOnly, birth)
		if err == nil && ok && !b.AddDate(16, 0, 0).After(on) && b.AddDate(60, 0, 0).After(on) {
			able = true
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch {
	case !able:
		return "yearly", nil
	case rules == "2012" && hukou == "urban":
		return "monthly", nil
	case rules == "2012":
		return "quarterly", nil
	}
	return "half_yearly", nil
}

// schedule sets an approved entitlement's review cycle and next review.
func (s *Service) schedule(ctx context.Context, cs, next *Case, cycle string, today time.Time) error {
	if cs.Programme != "dibao" && cs.Programme != "tekun" {
		return nil
	}
	if cycle == "" {
		var err error
		if cycle, err = s.defaultCycle(ctx, cs.HouseholdID, cs.Programme, RuleVersion(today), today); err != nil {
			return err
		}
	}
	months, ok := reviewCycles[cycle]
	if !ok {
		return apperr.Invalid("review_cycle", "invalid_cycle", "复核周期应为每年、每半年、每季度或每月")
	}
	next.ReviewCycle, next.NextReviewOn = cycle, addMonths(today, months).Format(time.DateOnly)
	return nil
}

// amountChange keeps the history of an entitlement's monthly amount.
func (s *Service) amountChange(ctx context.Context, tx *sql.Tx, caseID int64, from string, before, after int64, source, ref string, on time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO entitlement_changes (case_id, effective_from, amount_before, amount_after, source, source_ref, decided_on, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, caseID, from, before, after, source, ref, on.Format(time.DateOnly), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("casework: amount history: %w", err)
	}
	return nil
}

// entChange is a change of an entitlement decided on another case.
type entChange struct {
	state, stopFrom, nextReview, cycle string
	amount                             int64
	exitMonths                         int
	effective                          string // the month the new amount or the stop takes effect
	action, source, ref, reason        string
}

// setEntitlement changes an entitlement under its version in the
// transaction of the deciding action, with an event on its file and a row of
// amount history: never silently.
func (s *Service) setEntitlement(ctx context.Context, tx *sql.Tx, c Caller, ent *Case, ch entChange, today time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE cases SET state=$1, amount_fen=$2, stop_from=$3, exit_months=$4, next_review_on=$5, review_cycle=$6,
		version=version+1, updated_at=$7 WHERE id=$8 AND version=$9`, ch.state, ch.amount, ch.stopFrom, ch.exitMonths, ch.nextReview, ch.cycle,
		time.Now().UTC(), ent.ID, ent.Version)
	if err != nil {
		return fmt.Errorf("casework: update entitlement: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Stale()
	}
	after := ch.amount
	if ch.stopFrom != "" {
		after = 0
	}
	if after != ent.AmountFen || ch.stopFrom != ent.StopFrom {
		if err := s.amountChange(ctx, tx, ent.ID, ch.effective, ent.AmountFen, after, ch.source, ch.ref, today); err != nil {
			return err
		}
	}
	return s.addEvent(ctx, tx, c, ent, ch.action, ent.State, ch.state, false, ch.reason, map[string]any{"source": ch.ref,
		"amount_before": ent.AmountFen, "amount_after": ch.amount, "effective_from": ch.effective, "stop_from": ch.stopFrom,
		"exit_months": ch.exitMonths, "next_review_on": ch.nextReview})
}

// entitlement loads the entitlement a review belongs to.
func (s *Service) entitlement(ctx context.Context, c Caller, cs *Case) (*Case, error) {
	if cs.ParentID == 0 {
		return nil, fmt.Errorf("casework: review %d has no entitlement", cs.ID)
	}
	return s.Get(ctx, c, cs.ParentID)
}

// outcomeOf compares a new monthly amount with the current one.
func outcomeOf(eligible bool, newFen, curFen int64) string {
	switch {
	case !eligible || newFen <= 0:
		return OutcomeStop
	case newFen > curFen:
		return OutcomeIncrease
	case newFen < curFen:
		return OutcomeDecrease
	}
	return OutcomeMaintain
}

// reopenStep is where a reopened case starts again: its investigation.
func reopenStep(cs *Case) Step {
	steps := cs.Steps()
	for _, st := range steps {
		if st.Action == "home_visit" || st.Action == "review_visit" {
			return st
		}
	}
	return steps[0]
}

// reopen sends a case back to its investigation, with a fresh deadline from
// today: objections and revoked decisions are special cases (DB-30, S6).
func (s *Service) reopen(cs, next *Case, today time.Time) error {
	st := reopenStep(cs)
	st.FromAccepted = false
	if st.WD == 0 && st.Days == 0 {
		st.WD = 15
	}
	d, err := s.due(st, today, "")
	if err != nil {
		return err
	}
	next.State, next.DueOn, next.Special = st.State, d, true
	next.Decision, next.DecidedOn, next.PayFrom, next.NoticeFrom, next.NoticeTo = "", "", "", "", ""
	next.Outcome, next.ExitMonths, next.StopFrom, next.Referral = "", 0, "", ""
	if cs.Purpose == PurposeApplication {
		next.NextReviewOn, next.ReviewCycle = "", ""
	}
	return nil
}

var errCalendar = apperr.Invalid("date", "calendar_unknown", "工作日历中没有该年度的节假日安排，无法计算办理期限；请管理员先录入国务院公布的放假安排")

// actDynamic checks and records the review and appeal actions; it returns
// what must happen to the entitlement in the action's transaction.
func (s *Service) actDynamic(ctx context.Context, u *auth.User, cs, next *Case, a Action, today time.Time, data map[string]any) (func(*sql.Tx) error, error) {
	todayS := today.Format(time.DateOnly)
	enter := func(state string) error {
		for _, st := range cs.Steps() {
			if st.State == state {
				d, err := s.due(st, today, cs.AcceptedOn)
				next.State, next.DueOn = st.State, d
				return err
			}
		}
		return fmt.Errorf("casework: no step %s", state)
	}
	switch a.Action {
	case "review_opinion":
		ent, err := s.entitlement(ctx, u, cs)
		if err != nil {
			return nil, err
		}
		as, err := s.assess(ctx, u, cs, today)
		if err != nil {
			return nil, err
		}
		amount := as.MonthlyFen
		if !as.Eligible {
			amount = 0
		}
		cut, notes, err := s.jobRefusalCut(ctx, ent, amount)
		if err != nil {
			return nil, err
		}
		amount -= cut
		as.Reasons = append(as.Reasons, notes...)
		next.Assessment, next.AmountFen, next.PrevAmountFen = &as, amount, ent.AmountFen
		next.Outcome = outcomeOf(as.Eligible, amount, ent.AmountFen)
		data["eligible"], data["amount_before"], data["amount_after"], data["outcome"], data["job_refusal_cut"] = as.Eligible, ent.AmountFen, amount, next.Outcome, cut
		if next.Outcome == OutcomeStop && cs.Programme == "tekun" {
			// TK-13: a 7-day notice before the decision to end support
			if err := enter("stop_notice"); err != nil {
				return nil, err
			}
			next.NoticeFrom, next.NoticeTo = todayS, today.AddDate(0, 0, 6).Format(time.DateOnly)
			return nil, nil
		}
		return nil, enter("review_decision")
	case "end_stop_notice":
		if todayS <= cs.NoticeTo {
			return nil, apperr.Invalid("action", "notice_running", fmt.Sprintf("终止供养公示期至 %s（含）结束，结束后才能报县级决定", cs.NoticeTo))
		}
		data["objections"] = a.Objections
		if a.Objections > 0 {
			if a.Reason == "" {
				return nil, apperr.Invalid("reason", "reason_required", "公示有异议的，请登记异议内容；乡镇须在15个工作日内重新调查核实并重新公示")
			}
			// TK-13: on objection, investigate within 15 WD and post a new notice
			d, err := s.Calendar.AddWorkingDays(today, 15)
			if err != nil {
				return nil, errCalendar
			}
			next.State, next.DueOn, next.Outcome, next.NoticeFrom, next.NoticeTo = "review_visit", d.Format(time.DateOnly), "", "", ""
			return nil, nil
		}
		return nil, enter("review_decision")
	case "review_decide":
		return s.reviewDecide(ctx, u, cs, next, a, today, data)
	case "reassess":
		return s.reassess(ctx, u, cs, next, a, today, data)
	case ActFileObjection:
		var wd = 15 // [B] 2021: re-check like a re-investigation (TK-07/TK-13: 15 WD)
		if cs.RuleVersion == "2012" {
			wd = 20 // DB-32: objection re-investigated within 20 WD
		}
		d, err := s.Calendar.AddWorkingDays(today, wd)
		if err != nil {
			return nil, errCalendar
		}
		next.State, next.DueOn, next.Special = StateRecheck, d.Format(time.DateOnly), true
		data["evidence"], data["documents"] = a.Evidence, a.Documents
		return func(tx *sql.Tx) error {
			return s.addAppeal(ctx, tx, u, cs, "objection", todayS, a.Evidence+joinDocs(a.Documents), cs.State, "", "", "", cs.AmountFen, cs.AmountFen)
		}, nil
	case ActRecheck:
		var appealID int64
		var fromState string
		err := s.DB.QueryRowContext(ctx, `SELECT id, from_state FROM appeals WHERE case_id = $1 AND kind = 'objection' AND outcome = '' ORDER BY id DESC LIMIT 1`, cs.ID).Scan(&appealID, &fromState)
		if err != nil {
			return nil, fmt.Errorf("casework: objection: %w", err)
		}
		outcome := "unfounded"
		if *a.Approve {
			// the objection holds: the case goes back to its investigation
			outcome = "founded"
			if err := s.reopen(cs, next, today); err != nil {
				return nil, err
			}
		} else {
			next.State, next.DueOn = fromState, ""
			if fromState == StateRefused {
				d, err := s.Calendar.AddWorkingDays(today, 3) // the refusal is notified within 3 WD
				if err != nil {
					return nil, errCalendar
				}
				next.DueOn = d.Format(time.DateOnly)
			} else if st, ok := (&Case{State: fromState, Programme: cs.Programme, RuleVersion: cs.RuleVersion, Kind: cs.Kind, Purpose: cs.Purpose}).Pending(); ok {
				st.FromAccepted = false
				if next.DueOn, err = s.due(st, today, ""); err != nil {
					return nil, err
				}
			}
		}
		data["objection_founded"] = *a.Approve
		return func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE appeals SET outcome = $1, decided_on = $2 WHERE id = $3`, outcome, todayS, appealID)
			return err
		}, nil
	case ActAppealOutcome:
		return s.appealOutcome(ctx, u, cs, next, a, today, data)
	}
	return nil, fmt.Errorf("casework: unknown dynamic action %s", a.Action)
}

func joinDocs(docs []string) string {
	if d := nonEmpty(docs); len(d) > 0 {
		return "（证据：" + strings.Join(d, "、") + "）"
	}
	return ""
}

// checkAppeal checks the state and office of the objection and appeal actions.
func (s *Service) checkAppeal(u *auth.User, cs *Case, a Action) error {
	township := roleMayAct(u.Role, u.Region, region.Township, cs.Region, a.Action)
	switch a.Action {
	case ActFileObjection:
		refused := cs.State == StateRefused || cs.State == StateClosed && cs.Decision == "refused"
		afterVerification := cs.State == "verified" || cs.State == "appraised"
		if cs.Purpose != PurposeApplication || !refused && !afterVerification {
			return apperr.Invalid("action", "out_of_order", "异议复查只适用于核对结果（核对后、审核意见前）或不予批准决定；当前环节为“"+cs.StateLabel()+"”")
		}
		if !township {
			return notYours(region.Township)
		}
		if strings.TrimSpace(a.Evidence) == "" && len(nonEmpty(a.Documents)) == 0 {
			return apperr.Invalid("evidence", "evidence_required", "提出异议须提供相关证据材料，请登记申请人提交的证据")
		}
		if a.Reason == "" {
			return apperr.Invalid("reason", "reason_required", "请填写异议的内容和理由")
		}
	case ActRecheck:
		if cs.State != StateRecheck {
			return outOfOrder(cs)
		}
		if !township {
			return notYours(region.Township)
		}
		if a.Approve == nil {
			return apperr.Invalid("approve", "recheck_result_required", "请选择复查结论：异议成立（重新调查）或异议不成立（维持原结果）")
		}
		if a.Reason == "" {
			return apperr.Invalid("reason", "reason_required", "请写明复查情况和结论的理由")
		}
	case ActAppealOutcome:
		decided := cs.Decision == "approved" || cs.Decision == "refused" || cs.Decision == "reviewed"
		if !decided || cs.State != StateApproved && cs.State != StateRefused && cs.State != StateClosed {
			return apperr.Invalid("action", "out_of_order", "只有已作出决定的案件才能登记行政复议或行政诉讼结果")
		}
		if !roleMayAct(u.Role, u.Region, region.County, cs.Region, a.Action) {
			return notYours(region.County)
		}
		if a.AppealKind != "admin_review" && a.AppealKind != "litigation" {
			return apperr.Invalid("appeal_kind", "invalid_kind", "请选择：行政复议或行政诉讼")
		}
		switch a.Outcome {
		case "upheld", "revoked":
		case "changed":
			if a.AmountFen <= 0 {
				return apperr.Invalid("amount_fen", "amount_required", "变更决定须登记变更后的月救助金额")
			}
		default:
			return apperr.Invalid("outcome", "invalid_outcome", "请选择结果：维持、撤销或变更")
		}
		if strings.TrimSpace(a.DocumentNo) == "" {
			return apperr.Invalid("document_no", "document_required", "请登记复议决定书或判决书的文号")
		}
		d, err := time.Parse(time.DateOnly, a.DecidedOn)
		if err != nil || d.After(time.Now().AddDate(0, 0, 1)) {
			return apperr.Invalid("decided_on", "invalid_date", "请填写复议决定或判决的日期（不能晚于今天）")
		}
	}
	return nil
}

func (s *Service) addAppeal(ctx context.Context, tx *sql.Tx, c Caller, cs *Case, kind, filed, evidence, from, outcome, docNo, decided string, before, after int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO appeals (case_id, kind, filed_on, evidence, from_state, outcome, document_no, decided_on, amount_before, amount_after, username, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`, cs.ID, kind, filed, evidence, from, outcome, docNo, decided, before, after, c.Actor().Username, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("casework: appeal: %w", err)
	}
	return nil
}

// reviewDecide is the county's review decision (DB-37, DB-40, TK-13).
func (s *Service) reviewDecide(ctx context.Context, u *auth.User, cs, next *Case, a Action, today time.Time, data map[string]any) (func(*sql.Tx) error, error) {
	if a.Approve == nil {
		return nil, apperr.Invalid("approve", "decision_required", "请选择：同意乡镇复核意见，或退回重新调查")
	}
	if !*a.Approve {
		if a.Reason == "" {
			return nil, apperr.Invalid("reason", "reason_required", "退回重新调查的，请写明理由")
		}
		if err := s.reopen(cs, next, today); err != nil {
			return nil, err
		}
		next.Special = cs.Special
		data["approve"] = false
		return nil, nil
	}
	ent, err := s.entitlement(ctx, u, cs)
	if err != nil {
		return nil, err
	}
	if ent.State != StateApproved {
		return nil, apperr.Conflict("entitlement_ended", "该救助已停发或正在重新办理，不能作出复核决定")
	}
	outcome := cs.Outcome
	if a.ExitMonths != 0 {
		switch {
		case outcome != OutcomeStop || cs.Programme != "dibao":
			return nil, apperr.Invalid("exit_months", "exit_not_allowed", "渐退期只适用于因就业收入增加而停发低保的家庭")
		case a.ExitMonths < 0 || a.ExitMonths > 6:
			return nil, apperr.Invalid("exit_months", "exit_too_long", "渐退期最长不超过6个月（DB-40）")
		case a.Reason == "":
			return nil, apperr.Invalid("reason", "reason_required", "给予渐退期的，请写明家庭成员就业增收的情况")
		}
	}
	if outcome == OutcomeStop && a.Reason == "" {
		return nil, apperr.Invalid("reason", "reason_required", "停发须书面说明理由（将写入停发通知书）")
	}
	if outcome == OutcomeDecrease && a.Reason == "" {
		return nil, apperr.Invalid("reason", "reason_required", "减发须说明理由（将写入减发通知书）")
	}
	ch := entChange{state: StateApproved, amount: cs.AmountFen, cycle: ent.ReviewCycle, action: "review_applied", source: "review", ref: cs.No, reason: OutcomeLabel(outcome) + "：" + a.Reason}
	next.PayFrom = monthAfter(today)
	switch outcome {
	case OutcomeStop:
		if cs.Programme == "tekun" {
			if cs.NoticeTo == "" {
				return nil, apperr.Invalid("action", "notice_required", "终止特困人员救助供养须先公示7天")
			}
			switch a.Referral {
			case "":
				// refer to dibao where the household now qualifies (TK-13)
				a.Referral = "none"
				if s.Assessor != nil {
					if as, err := s.Assessor.Assess(ctx, u, cs.HouseholdID, "dibao", "", 0, today); err == nil && as.Eligible {
						a.Referral = "dibao"
					}
				}
			case "dibao", "temporary", "none":
			default:
				return nil, apperr.Invalid("referral", "invalid_referral", "转介应为：低保、临时救助或不转介")
			}
			next.Referral = a.Referral
		}
		// paid on through a gradual exit, then stopped from the month after it
		next.ExitMonths = a.ExitMonths
		next.PayFrom = monthPlus(today, 1+a.ExitMonths)
		ch.state, ch.amount, ch.stopFrom, ch.exitMonths, ch.cycle = StateClosed, ent.AmountFen, next.PayFrom, a.ExitMonths, ent.ReviewCycle
	default:
		months := reviewCycles[ent.ReviewCycle]
		if months == 0 {
			months = 12
		}
		ch.nextReview = addMonths(today, months).Format(time.DateOnly)
	}
	if outcome == OutcomeMaintain {
		next.PayFrom = ""
	}
	ch.effective = next.PayFrom
	next.State, next.DueOn, next.Decision, next.DecidedOn = StateClosed, "", "reviewed", today.Format(time.DateOnly)
	data["approve"], data["outcome"], data["amount_after"], data["effective_from"], data["exit_months"], data["referral"] = true, outcome, cs.AmountFen, next.PayFrom, next.ExitMonths, next.Referral
	return func(tx *sql.Tx) error { return s.setEntitlement(ctx, tx, u, ent, ch, today) }, nil
}

// adjustingAssessor assesses a household with a change applied to its
// registered situation (a self-care re-assessment not yet in the registry).
type adjustingAssessor interface {
	AssessAdjusted(ctx context.Context, c Caller, householdID int64, programme string, on time.Time, adjust func(*calc.Situation)) (Assessment, error)
}

// reassess is the county's self-care re-assessment (TK-10): the six items,
// the care tier they give, the person's record and the entitlement's amount.
func (s *Service) reassess(ctx context.Context, u *auth.User, cs, next *Case, a Action, today time.Time, data map[string]any) (func(*sql.Tx) error, error) {
	mask, failed := 0, []string{}
	for _, it := range a.SelfCareFailed {
		found := false
		for i, o := range registry.SelfCareItemList {
			if o.Value == it {
				mask |= 1 << i
				found = true
				if !strings.Contains(strings.Join(failed, ","), o.Label) {
					failed = append(failed, o.Label)
				}
			}
		}
		if !found {
			return nil, apperr.Invalid("self_care_failed", "invalid_self_care_item", "生活自理能力评估项目不正确："+it)
		}
	}
	if a.PersonID == 0 {
		a.PersonID = cs.ApplicantID
	}
	var name string
	var oldMask int
	err := s.DB.QueryRowContext(ctx, `SELECT name, self_care_items FROM persons WHERE id = $1 AND household_id = $2`, a.PersonID, cs.HouseholdID).Scan(&name, &oldMask)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Invalid("person_id", "not_member", "被评估人须为本户成员")
	}
	if err != nil {
		return nil, err
	}
	ent, err := s.entitlement(ctx, u, cs)
	if err != nil {
		return nil, err
	}
	if ent.State != StateApproved {
		return nil, apperr.Conflict("entitlement_ended", "该救助已停发，不能复评")
	}
	aa, ok := s.Assessor.(adjustingAssessor)
	if !ok {
		return nil, apperr.Invalid("action", "no_assessor", "测算服务未配置")
	}
	n := len(nonEmptyMask(mask))
	pid := fmt.Sprint(a.PersonID)
	as, err := aa.AssessAdjusted(ctx, u, cs.HouseholdID, cs.Programme, today, func(sit *calc.Situation) {
		for i := range sit.Household.Members {
			if sit.Household.Members[i].ID == pid {
				sit.Household.Members[i].SelfCareFailedItems = n
			}
		}
	})
	if err != nil {
		return nil, err
	}
	amount := as.MonthlyFen
	if !as.Eligible {
		amount = 0
	}
	tier := registry.SelfCareLevel(n)
	outcome := outcomeOf(as.Eligible, amount, ent.AmountFen)
	if outcome == OutcomeStop {
		return nil, apperr.Invalid("self_care_failed", "reassess_stop", "复评后测算为不符合特困供养条件；终止供养须按终止程序（公示7天）办理，请启动复核")
	}
	as.Reasons = append(as.Reasons, fmt.Sprintf("%s生活自理能力复评：%d项不能自主完成（%s），评定为%s", name, n, strings.Join(failed, "、"), tier))
	next.Assessment, next.AmountFen, next.PrevAmountFen, next.Outcome = &as, amount, ent.AmountFen, outcome
	next.State, next.DueOn, next.Decision, next.DecidedOn = StateClosed, "", "reviewed", today.Format(time.DateOnly)
	next.PayFrom = ""
	if outcome != OutcomeMaintain {
		next.PayFrom = monthAfter(today)
	}
	data["person_id"], data["self_care_failed"], data["care_tier"], data["amount_before"], data["amount_after"], data["outcome"] = a.PersonID, a.SelfCareFailed, tier, ent.AmountFen, amount, outcome
	ch := entChange{state: StateApproved, amount: amount, cycle: ent.ReviewCycle, nextReview: ent.NextReviewOn, effective: next.PayFrom,
		action: "review_applied", source: "reassessment", ref: cs.No, reason: "生活自理能力复评：" + tier}
	return func(tx *sql.Tx) error {
		// the person's record follows the assessment, with its history row
		if _, err := tx.ExecContext(ctx, `UPDATE persons SET self_care_items = $1, version = version + 1, updated_at = $2 WHERE id = $3`, mask, time.Now().UTC(), a.PersonID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO registry_history (at, user_id, username, household_id, person_id, region_code, op, reason, before_json, after_json)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, time.Now().UTC(), u.ID, u.Username, cs.HouseholdID, a.PersonID, cs.Region, "person.update",
			"生活自理能力复评（"+cs.No+"）", fmt.Sprintf(`{"self_care_failed":%d}`, len(nonEmptyMask(oldMask))), fmt.Sprintf(`{"self_care_failed":%d}`, n)); err != nil {
			return fmt.Errorf("casework: person history: %w", err)
		}
		return s.setEntitlement(ctx, tx, u, ent, ch, today)
	}, nil
}

func nonEmptyMask(mask int) []string {
	var out []string
	for i, o := range registry.SelfCareItemList {
		if mask&(1<<i) != 0 {
			out = append(out, o.Value)
		}
	}
	return out
}

// appealOutcome records an administrative review or lawsuit (DB-45) and
// applies it: revoked reopens the case (or, for a review, restores the
// entitlement and reopens the review); changed sets the amount.
func (s *Service) appealOutcome(ctx context.Context, u *auth.User, cs, next *Case, a Action, today time.Time, data map[string]any) (func(*sql.Tx) error, error) {
	todayS := today.Format(time.DateOnly)
	kindLabel := map[string]string{"admin_review": "行政复议", "litigation": "行政诉讼"}[a.AppealKind]
	ref := kindLabel + " " + strings.TrimSpace(a.DocumentNo)
	data["appeal_kind"], data["outcome"], data["document_no"], data["decided_on"], data["amount_fen"] = a.AppealKind, a.Outcome, a.DocumentNo, a.DecidedOn, a.AmountFen
	before, after := cs.AmountFen, cs.AmountFen
	var apply func(tx *sql.Tx) error
	review := cs.Purpose != PurposeApplication
	switch {
	case a.Outcome == "upheld":
	case review:
		ent, err := s.entitlement(ctx, u, cs)
		if err != nil {
			return nil, err
		}
		ch := entChange{state: StateApproved, cycle: ent.ReviewCycle, nextReview: ent.NextReviewOn, effective: monthAfter(today),
			action: "appeal_applied", source: "appeal", ref: ref, reason: kindLabel + "：" + map[string]string{"revoked": "撤销复核决定", "changed": "变更救助金额"}[a.Outcome]}
		if ch.nextReview == "" {
			ch.nextReview = addMonths(today, max(reviewCycles[ent.ReviewCycle], 1)).Format(time.DateOnly)
		}
		before = ent.AmountFen
		if a.Outcome == "revoked" {
			// the entitlement goes back to what it was before the review, which is done again
			ch.amount = cs.PrevAmountFen
			if err := s.reopen(cs, next, today); err != nil {
				return nil, err
			}
		} else {
			ch.amount = a.AmountFen
		}
		after = ch.amount
		apply = func(tx *sql.Tx) error { return s.setEntitlement(ctx, tx, u, ent, ch, today) }
	case a.Outcome == "revoked":
		if err := s.reopen(cs, next, today); err != nil {
			return nil, err
		}
		after = 0
		if cs.Decision == "approved" {
			apply = func(tx *sql.Tx) error {
				return s.amountChange(ctx, tx, cs.ID, monthAfter(today), before, 0, "appeal", ref, today)
			}
		}
	case a.Outcome == "changed":
		next.AmountFen, after = a.AmountFen, a.AmountFen
		if cs.Decision == "refused" {
			before = 0
			next.State, next.DueOn, next.Decision, next.DecidedOn, next.PayFrom = StateApproved, "", "approved", todayS, monthAfter(today)
			if err := s.schedule(ctx, cs, next, "", today); err != nil {
				return nil, err
			}
		}
		apply = func(tx *sql.Tx) error {
			return s.amountChange(ctx, tx, cs.ID, monthAfter(today), before, after, "appeal", ref, today)
		}
	}
	return func(tx *sql.Tx) error {
		if err := s.addAppeal(ctx, tx, u, cs, a.AppealKind, a.DecidedOn, a.Reason, cs.State, a.Outcome, a.DocumentNo, a.DecidedOn, before, after); err != nil {
			return err
		}
		if apply != nil {
			return apply(tx)
		}
		return nil
	}, nil
}

// jobRefusalCut is what the review takes off for members who refused three
// suitable job offers in a row without reason (DB-42): their own share, the
// amount divided by the household's members [B].
func (s *Service) jobRefusalCut(ctx context.Context, ent *Case, amount int64) (int64, []string, error) {
	if ent.Programme != "dibao" || amount <= 0 || ent.Members == 0 {
		return 0, nil, nil
	}
	streaks, err := s.refusalStreaks(ctx, ent.ID)
	if err != nil {
		return 0, nil, err
	}
	var cut int64
	var notes []string
	for _, st := range streaks {
		if st.Streak < 3 {
			continue
		}
		share := amount / int64(ent.Members)
		cut += share
		notes = append(notes, fmt.Sprintf("%s连续%d次无正当理由拒绝介绍的与其健康状况、劳动能力相适应的工作，减发其本人份额 %.2f 元（《社会救助暂行办法》第四十五条）",
			st.Name, st.Streak, float64(share)/100))
	}
	return cut, notes, nil
}

// Streak is a member's run of refused job offers.
type Streak struct {
	PersonID int64  `json:"person_id"`
	Name     string `json:"name"`
	Streak   int    `json:"streak"`
}

// refusalStreaks counts, per member, the unbroken run of unjustified refusals
// ending with the latest offer.
func (s *Service) refusalStreaks(ctx context.Context, caseID int64) ([]Streak, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT o.person_id, p.name, o.answer FROM job_offers o JOIN persons p ON p.id = o.person_id
		WHERE o.case_id = $1 ORDER BY o.person_id, o.id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("casework: job offers: %w", err)
	}
	defer rows.Close()
	var out []Streak
	for rows.Next() {
		var pid int64
		var name, answer string
		if err := rows.Scan(&pid, &name, &answer); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].PersonID != pid {
			out = append(out, Streak{PersonID: pid, Name: name})
		}
		if answer == "refused" {
			out[len(out)-1].Streak++
		} else {
			out[len(out)-1].Streak = 0
		}
	}
	return out, rows.Err()
}
