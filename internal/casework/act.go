package casework

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/region"
)

// Action is one step taken on a case.
type Action struct {
	Action  string `json:"action"`
	Version int    `json:"version"`
	Reason  string `json:"reason"` // why; required when late, for refusals and objections

	// home_visit, county_visit
	Investigators []string `json:"investigators"`
	VisitedOn     string   `json:"visited_on"`
	MembersSigned bool     `json:"members_signed"`
	Neighbours    string   `json:"neighbours"`
	Findings      string   `json:"findings"`
	Photos        int      `json:"photos"`
	SupportMode   string   `json:"support_mode"` // tekun: centralised|dispersed
	// verification
	Consistent *bool  `json:"consistent"`
	ReportRef  string `json:"report_ref"`
	// appraisal
	Participants    int   `json:"participants"`
	Representatives int   `json:"representatives"`
	Passed          *bool `json:"passed"`
	// township_opinion, county_review, decide
	Approve *bool `json:"approve"`
	// end_notice
	Objections int `json:"objections"`
	// decide, temporary assistance: paid in this many monthly stages (LS-03),
	// and the form of help (LS-05): cash (default), goods, or a referral to
	// another programme or to charity, named in ReferTo
	Stages   int    `json:"stages"`
	HelpForm string `json:"help_form"`
	ReferTo  string `json:"refer_to"`
	// advance (temporary emergency)
	AdvanceFen int64 `json:"advance_fen"`
	// supplement, complete_file
	Documents []string `json:"documents"`
	Pledge    bool     `json:"pledge"`
	Signed    []int64  `json:"authorisations"`
	// decide: the review cycle, when the county sets it instead of the default (DB-38, DB-39)
	ReviewCycle string `json:"review_cycle"`
	// review_decide: a gradual exit (DB-40) and, for tekun, the referral (TK-13)
	ExitMonths int    `json:"exit_months"`
	Referral   string `json:"referral"`
	// reassess: the member and the self-care items not achieved (TK-10)
	PersonID       int64    `json:"person_id"`
	SelfCareFailed []string `json:"self_care_failed"`
	// file_objection: the evidence brought (DB-13)
	Evidence string `json:"evidence"`
	// appeal_outcome: administrative review or lawsuit (DB-45)
	AppealKind string `json:"appeal_kind"` // admin_review|litigation
	Outcome    string `json:"outcome"`     // upheld|revoked|changed
	DocumentNo string `json:"document_no"`
	DecidedOn  string `json:"decided_on"`
	AmountFen  int64  `json:"amount_fen"`
}

// Act takes one action on a case: it checks the state, the role and office of
// the user, the deadline, the record the step needs, and the version, then
// moves the case on. A refused action changes nothing.
func (s *Service) Act(ctx context.Context, u *auth.User, caseID int64, a Action) (*Case, error) {
	cs, err := s.Get(ctx, u, caseID)
	if err != nil {
		return nil, err
	}
	if a.Version != cs.Version {
		return nil, apperr.Stale()
	}
	today := s.today()
	a.Reason = strings.TrimSpace(a.Reason)
	from := cs.State
	var step Step
	inStep := false
	switch a.Action {
	case ActSupplement:
		if cs.State != StateIncomplete {
			return nil, outOfOrder(cs)
		}
		if !roleMayAct(u.Role, u.Region, region.Township, cs.Region, a.Action) {
			return nil, notYours(region.Township)
		}
	case ActNotifyRefusal:
		if cs.State != StateRefused {
			return nil, outOfOrder(cs)
		}
		if !roleMayAct(u.Role, u.Region, region.Township, cs.Region, a.Action) {
			return nil, notYours(region.Township)
		}
	case ActCountyVisit:
		if cs.State == StateApproved || cs.State == StateClosed || cs.State == StateRefused {
			return nil, outOfOrder(cs)
		}
		if !roleMayAct(u.Role, u.Region, region.County, cs.Region, a.Action) {
			return nil, notYours(region.County)
		}
	case ActRecordComplain:
		if cs.State == StateClosed {
			return nil, outOfOrder(cs)
		}
		if !roleMayAct(u.Role, u.Region, region.Township, cs.Region, a.Action) && !roleMayAct(u.Role, u.Region, region.County, cs.Region, a.Action) {
			return nil, apperr.Forbidden("只有本案件所在乡镇或县级民政部门的经办人员可以登记投诉举报")
		}
		if a.Reason == "" {
			return nil, apperr.Invalid("reason", "reason_required", "请填写投诉举报的内容")
		}
	case ActFileObjection, ActRecheck, ActAppealOutcome:
		if err := s.checkAppeal(u, cs, a); err != nil {
			return nil, err
		}
	case ActObjection:
		if cs.State != "notice" {
			return nil, apperr.Invalid("action", "out_of_order", "只能在公示期间登记异议")
		}
		return nil, apperr.Invalid("action", "use_end_notice", "公示异议在公示结束时与“公示结束”一并登记（填写异议件数）")
	default:
		st, ok := cs.Pending()
		steps := cs.Steps()
		switch {
		case ok && st.Action == a.Action:
			step, inStep = st, true
		case ok && st.Optional:
			// an optional step may be passed over by the next step's action
			for i, x := range steps {
				if x.State == cs.State && i+1 < len(steps) && steps[i+1].Action == a.Action {
					step, inStep = steps[i+1], true
				}
			}
		}
		if !inStep {
			return nil, outOfOrder(cs)
		}
		if !roleMayAct(u.Role, u.Region, step.Office, cs.Region, a.Action) {
			if (a.Action == "township_opinion" || a.Action == "review_opinion") && step.Office == region.Township {
				return nil, apperr.Forbidden(ActionLabel(a.Action) + "须由乡镇（街道）审核人出具")
			}
			return nil, notYours(step.Office)
		}
	}
	late := cs.DueOn != "" && today.Format(time.DateOnly) > cs.DueOn
	if late && (a.Action == ActFileObjection || a.Action == ActAppealOutcome) {
		late = false // filed by the applicant or a court, not a step of the office
	}
	if late && a.Reason == "" && a.Action != ActRecordComplain {
		return nil, apperr.Invalid("reason", "late_reason_required", fmt.Sprintf("已超过办理期限（%s），请填写逾期原因后再办理", cs.DueOn))
	}

	// what the step must record, and where it leads
	upd := *cs
	next := &upd
	data := map[string]any{}
	// after runs in the transaction once the case row is updated: the
	// effects on the entitlement of a review, and the history rows.
	var after func(tx *sql.Tx) error
	nextStep := func() (Step, bool) {
		steps := cs.Steps()
		for i, x := range steps {
			if x.Action == step.Action && i+1 < len(steps) {
				return steps[i+1], true
			}
		}
		return Step{}, false
	}
	enter := func(st Step) error {
		next.State = st.State
		d, err := s.due(st, today, cs.AcceptedOn)
		next.DueOn = d
		return err
	}
	switch a.Action {
	case ActSupplement:
		missing, err := s.stillMissing(ctx, cs, a)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			return nil, apperr.Invalid("documents", "still_missing", "材料仍不齐全，还缺："+joinMissing(missing))
		}
		st := cs.Steps()[0]
		if err := enter(st); err != nil {
			return nil, err
		}
		next.Missing = nil
		data["documents"], data["authorisations"] = a.Documents, a.Signed
	case "start_investigation":
		st, _ := nextStep()
		if err := enter(st); err != nil {
			return nil, err
		}
	case "home_visit", ActCountyVisit, "review_visit":
		inv := nonEmpty(a.Investigators)
		if len(inv) < 2 {
			return nil, apperr.Invalid("investigators", "two_investigators", "入户调查须由至少2名工作人员进行，请填写全部调查人员姓名")
		}
		if !a.MembersSigned {
			return nil, apperr.Invalid("members_signed", "signature_missing", "入户调查表须由调查人员和在场的家庭成员签字确认")
		}
		if strings.TrimSpace(a.Findings) == "" {
			return nil, apperr.Invalid("findings", "findings_required", "请填写调查情况")
		}
		if cs.Programme == "tekun" && a.Action == "home_visit" && a.SupportMode != "centralised" && a.SupportMode != "dispersed" {
			return nil, apperr.Invalid("support_mode", "support_mode_required", "特困人员须选择供养方式：集中供养或分散供养")
		}
		data["investigators"], data["visited_on"], data["neighbours"], data["findings"], data["photos"], data["support_mode"] =
			inv, a.VisitedOn, a.Neighbours, a.Findings, a.Photos, a.SupportMode
		if cs.Programme == "tekun" {
			next.Kind = a.SupportMode // centralised or dispersed: statistics count them apart (TJ-03)
		}
		if a.Action != ActCountyVisit {
			st, _ := nextStep()
			if err := enter(st); err != nil {
				return nil, err
			}
		}
	case "verification":
		if a.Consistent == nil {
			return nil, apperr.Invalid("consistent", "result_required", "请登记核对结果：申报与核对结果是否一致")
		}
		if !*a.Consistent && a.Reason == "" {
			return nil, apperr.Invalid("reason", "reason_required", "核对结果与申报不一致时，请写明不一致的内容；申请人可提出异议并提供证据复查")
		}
		data["consistent"], data["report_ref"] = *a.Consistent, a.ReportRef
		st, _ := nextStep()
		if err := enter(st); err != nil {
			return nil, err
		}
	case "appraisal":
		if a.Passed == nil || a.Participants <= 0 {
			return nil, apperr.Invalid("participants", "appraisal_record", "请登记参加人数和评议（听证）结论")
		}
		if cs.RuleVersion == "2012" && a.Representatives*3 < a.Participants*2 {
			return nil, apperr.Invalid("representatives", "representatives_share", "民主评议中居（村）民代表不得少于参加人数的三分之二")
		}
		data["form"], data["participants"], data["representatives"], data["passed"] = appraisalForm(cs.Region), a.Participants, a.Representatives, *a.Passed
		st, _ := nextStep()
		if err := enter(st); err != nil {
			return nil, err
		}
	case "township_opinion", "county_review":
		if a.Approve == nil {
			return nil, apperr.Invalid("approve", "opinion_required", "请选择意见：建议批准或建议不予批准")
		}
		if !*a.Approve && a.Reason == "" {
			return nil, apperr.Invalid("reason", "reason_required", "建议不予批准的，请写明理由")
		}
		if a.Action == "township_opinion" {
			as, err := s.assess(ctx, u, cs, today)
			if err != nil {
				return nil, err
			}
			next.Assessment, next.AmountFen = &as, as.MonthlyFen
			if cs.Programme == "temporary" {
				// within the township's limit the township approves (LS-01)
				next.AmountFen, next.Delegated = as.AmountFen, as.Approver == "township"
			}
			data["assessment_eligible"] = as.Eligible
		}
		data["approve"] = *a.Approve
		st, _ := nextStep()
		if err := enter(st); err != nil {
			return nil, err
		}
		if st.State == "notice" {
			next.NoticeFrom, next.NoticeTo = today.Format(time.DateOnly), today.AddDate(0, 0, st.Days-1).Format(time.DateOnly)
		}
		if st.State == "decision" || st.State == "county_review" {
			next.SpotCheck = spotCheck(cs.No)
		}
	case "end_notice":
		if today.Format(time.DateOnly) <= cs.NoticeTo {
			return nil, apperr.Invalid("action", "notice_running", fmt.Sprintf("公示期至 %s（含）结束，结束后才能办理下一步", cs.NoticeTo))
		}
		data["objections"] = a.Objections
		if a.Objections > 0 {
			if a.Reason == "" {
				return nil, apperr.Invalid("reason", "reason_required", "公示有异议的，请登记异议内容；乡镇须重新调查或组织民主评议")
			}
			// DB-25: objection → re-investigate or appraise, then a new opinion and notice
			steps := cs.Steps()
			for _, x := range steps {
				if x.Action == "home_visit" {
					if err := enter(x); err != nil {
						return nil, err
					}
					break
				}
			}
			next.Special = true // objections make it a special case (S6)
		} else {
			st, _ := nextStep()
			if err := enter(st); err != nil {
				return nil, err
			}
			if st.State == "decision" && !cs.SpotCheck {
				next.SpotCheck = spotCheck(cs.No)
			}
		}
	case "decide":
		if a.Approve == nil {
			return nil, apperr.Invalid("approve", "decision_required", "请选择审批决定：批准或不予批准")
		}
		if (cs.CloseRelative || cs.Complaint || cs.SpotCheck) && !s.hasEvent(ctx, cs.ID, ActCountyVisit) {
			why := "随机抽查"
			if cs.CloseRelative {
				why = "近亲属备案"
			} else if cs.Complaint {
				why = "有投诉举报"
			}
			return nil, apperr.Invalid("action", "county_visit_required", "本案件为"+why+"案件，县级民政部门须先入户调查（登记县级入户核查）后才能审批")
		}
		if a.Stages != 0 && (cs.Programme != "temporary" || !*a.Approve) {
			return nil, apperr.Invalid("stages", "stages_not_allowed", "只有批准的临时救助可以分阶段发放")
		}
		if a.Stages < 0 || a.Stages > 12 {
			return nil, apperr.Invalid("stages", "invalid_stages", "分阶段发放的期数应为1至12期")
		}
		if a.Stages > 0 {
			next.Stages = a.Stages
			data["stages"] = a.Stages
		}
		if a.HelpForm != "" || a.ReferTo != "" {
			if cs.Programme != "temporary" || !*a.Approve {
				return nil, apperr.Invalid("help_form", "help_form_not_allowed", "救助方式只适用于批准的临时救助")
			}
			switch a.HelpForm {
			case "cash", "":
			case "goods", "referral":
				if strings.TrimSpace(a.ReferTo) == "" {
					return nil, apperr.Invalid("refer_to", "refer_to_required", "实物救助请写明物资内容，转介请写明转介的救助项目或慈善组织、社会工作服务机构")
				}
				// no cash beyond what the township advanced: the help is given in kind or by the receiving body
				next.Referral, next.AmountFen, next.Stages = a.HelpForm+"："+strings.TrimSpace(a.ReferTo), cs.AdvanceFen, 1
			default:
				return nil, apperr.Invalid("help_form", "invalid_help_form", "救助方式应为：现金、实物或转介")
			}
			data["help_form"], data["refer_to"] = a.HelpForm, a.ReferTo
		}
		if *a.Approve {
			if cs.Assessment != nil && !cs.Assessment.Eligible && a.Reason == "" {
				return nil, apperr.Invalid("reason", "reason_required", "测算结果为不符合条件；如仍批准，须写明依据")
			}
			next.State, next.DueOn, next.Decision = StateApproved, "", "approved"
			next.PayFrom = monthAfter(today)
			if err := s.schedule(ctx, cs, next, a.ReviewCycle, today); err != nil {
				return nil, err
			}
			if next.ReviewCycle != "" {
				data["review_cycle"], data["next_review_on"] = next.ReviewCycle, next.NextReviewOn
			}
			if cs.Programme != "temporary" { // every regular entitlement starts in the amount history, which the sharing feed reads
				after = func(tx *sql.Tx) error {
					return s.amountChange(ctx, tx, cs.ID, next.PayFrom, 0, next.AmountFen, "approval", cs.No, today)
				}
			}
		} else {
			if a.Reason == "" {
				return nil, apperr.Invalid("reason", "reason_required", "不予批准的，须写明理由（将写入书面通知）")
			}
			next.State, next.Decision = StateRefused, "refused"
			d, err := s.Calendar.AddWorkingDays(today, 3) // DB-30: notified within 3 WD
			if err != nil {
				return nil, apperr.Invalid("date", "calendar_unknown", "工作日历中没有该年度的节假日安排")
			}
			next.DueOn = d.Format(time.DateOnly)
		}
		next.DecidedOn = today.Format(time.DateOnly)
		data["approve"], data["amount_fen"] = *a.Approve, next.AmountFen
	case ActNotifyRefusal:
		next.State, next.DueOn = StateClosed, ""
	case "advance":
		limit, err := s.advanceLimit(ctx, u, cs, today)
		if err != nil {
			return nil, err
		}
		if a.AdvanceFen <= 0 || a.AdvanceFen > limit {
			return nil, apperr.Invalid("advance_fen", "advance_limit", fmt.Sprintf("先行救助金额须大于0且不超过乡镇审批额度 %.2f 元", float64(limit)/100))
		}
		next.AdvanceFen = a.AdvanceFen
		data["advance_fen"] = a.AdvanceFen
		st, _ := nextStep()
		if err := enter(st); err != nil {
			return nil, err
		}
	case "complete_file":
		if !a.Pledge {
			return nil, apperr.Invalid("pledge", "pledge_missing", "补办手续须有申请人签字的承诺书")
		}
		if len(nonEmpty(a.Documents)) == 0 {
			return nil, apperr.Invalid("documents", "documents_missing", "请登记补齐的材料")
		}
		as, err := s.assess(ctx, u, cs, today)
		if err != nil {
			return nil, err
		}
		next.Assessment, next.AmountFen, next.Delegated = &as, as.AmountFen, as.Approver == "township"
		data["documents"] = a.Documents
		if cs.AdvanceFen >= as.AmountFen {
			// the advance covered the whole grant: the township closes the file (LS-03)
			next.State, next.DueOn, next.Decision, next.DecidedOn = StateApproved, "", "approved", today.Format(time.DateOnly)
			next.AmountFen = cs.AdvanceFen
		} else {
			st, _ := nextStep()
			if err := enter(st); err != nil {
				return nil, err
			}
		}
	case ActRecordComplain:
		next.Complaint = true
	case "review_opinion", "end_stop_notice", "review_decide", "reassess", ActFileObjection, ActRecheck, ActAppealOutcome:
		if after, err = s.actDynamic(ctx, u, cs, next, a, today, data); err != nil {
			return nil, err
		}
	}

	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var assessment, missing string
		if next.Assessment != nil {
			b, _ := json.Marshal(next.Assessment)
			assessment = string(b)
		}
		if len(next.Missing) > 0 {
			b, _ := json.Marshal(next.Missing)
			missing = string(b)
		}
		res, err := tx.ExecContext(ctx, `UPDATE cases SET state=$1, due_on=$2, complaint=$3, spot_check=$4, special=$5, notice_from=$6, notice_to=$7,
			amount_fen=$8, advance_fen=$9, decision=$10, decided_on=$11, pay_from=$12, assessment=$13, missing=$14, version=version+1, updated_at=$15,
			review_cycle=$18, next_review_on=$19, outcome=$20, prev_amount_fen=$21, exit_months=$22, stop_from=$23, referral=$24, delegated=$25, stages=$26, kind=$27
			WHERE id=$16 AND version=$17`, next.State, next.DueOn, next.Complaint, next.SpotCheck, next.Special, next.NoticeFrom, next.NoticeTo,
			next.AmountFen, next.AdvanceFen, next.Decision, next.DecidedOn, next.PayFrom, assessment, missing, time.Now().UTC(), cs.ID, cs.Version,
			next.ReviewCycle, next.NextReviewOn, next.Outcome, next.PrevAmountFen, next.ExitMonths, next.StopFrom, next.Referral, next.Delegated, next.Stages, next.Kind)
		if err != nil {
			return fmt.Errorf("casework: update case: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		if a.Action == "advance" && s.Reserve != nil {
			if err := s.Reserve(ctx, tx, u.Actor(), region.Pad(region.ScopePrefix(cs.Region)[:9]), cs.ID, a.AdvanceFen, cs.No); err != nil {
				return err
			}
		}
		if err := s.addEvent(ctx, tx, u, cs, a.Action, from, next.State, late, a.Reason, data); err != nil {
			return err
		}
		if after != nil {
			return after(tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	next.Version = cs.Version + 1
	return next, nil
}

// MayAct reports whether the user may take the case's pending step, so pages
// show the form only to the office whose turn it is.
func (c *Case) MayAct(u *auth.User) bool {
	st, ok := c.Pending()
	if c.State == StateRecheck {
		return roleMayAct(u.Role, u.Region, region.Township, c.Region, ActRecheck)
	}
	if !ok {
		return c.State == StateIncomplete || c.State == StateRefused
	}
	return roleMayAct(u.Role, u.Region, st.Office, c.Region, st.Action)
}

func outOfOrder(cs *Case) error {
	return apperr.Invalid("action", "out_of_order", "当前环节为“"+cs.StateLabel()+"”，不能办理该事项；请按程序逐步办理")
}

func notYours(office int) error {
	return apperr.Forbidden("该环节须由本案件所在地的" + officeName(office) + "办理")
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// spotCheck draws the county's random checks (at least 30%, DB-32, TK-07):
// a keyed draw on the case number, so it is reproducible and cannot be chosen.
func spotCheck(caseNo string) bool {
	h := fnv.New32a()
	h.Write([]byte("spot-check:" + caseNo))
	return h.Sum32()%10 < 3
}

// appraisalForm is a hearing in urban communities and a democratic appraisal in
// rural villages (DB-27, Jiangxi since 2013).
func appraisalForm(village string) string {
	if p := region.ScopePrefix(village); len(p) == 12 && (p[9] == '0' || p[9] == '1' || p[9] == '4') {
		return "hearing"
	}
	return "appraisal"
}

func (s *Service) hasEvent(ctx context.Context, caseID int64, action string) bool {
	var n int
	s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND action = $2`, caseID, action).Scan(&n)
	return n > 0
}

func (s *Service) stillMissing(ctx context.Context, cs *Case, a Action) ([]string, error) {
	accepted, _ := time.Parse(time.DateOnly, cs.AcceptedOn)
	members, err := s.members(ctx, s.DB, cs.HouseholdID)
	if err != nil {
		return nil, err
	}
	return missingItems(cs.Programme, cs.Kind, a.Documents, a.Pledge, a.Signed, members, accepted)
}

func (s *Service) assess(ctx context.Context, c Caller, cs *Case, on time.Time) (Assessment, error) {
	if s.Assessor == nil {
		return Assessment{}, apperr.Invalid("action", "no_assessor", "测算服务未配置")
	}
	return s.Assessor.Assess(ctx, c, cs.HouseholdID, cs.Programme, cs.Kind, cs.RequestedFen, on)
}

// advanceLimit is what the township may pay at once: the calculator's advance
// (the township limit, capped by the need).
func (s *Service) advanceLimit(ctx context.Context, c Caller, cs *Case, on time.Time) (int64, error) {
	as, err := s.assess(ctx, c, cs, on)
	if err != nil {
		return 0, err
	}
	if as.AdvanceFen > 0 {
		return as.AdvanceFen, nil
	}
	return as.AmountFen, nil
}
