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
	"jiuzhu/internal/region"
)

// openReview creates a review (or a self-care re-assessment) of an
// entitlement, its first step due on a date, in the caller's transaction.
func (s *Service) openReview(ctx context.Context, tx *sql.Tx, c Caller, ent *Case, purpose, due, channel, reason string, data map[string]any) (*Case, error) {
	today := s.today()
	if due == "" {
		st := reviewProcedure(ent.Programme, purpose)[0]
		wd := st.WD
		if wd == 0 {
			wd = 15 // [B] a reported change is re-investigated within 15 WD
		}
		d, err := s.Calendar.AddWorkingDays(today, wd)
		if err != nil {
			return nil, errCalendar
		}
		due = d.Format(time.DateOnly)
	}
	no, err := s.nextCaseNo(ctx, tx, ent.Programme, ent.Region, today)
	if err != nil {
		return nil, err
	}
	rv := &Case{No: no, Programme: ent.Programme, RuleVersion: RuleVersion(today), HouseholdID: ent.HouseholdID, ApplicantID: ent.ApplicantID,
		Region: ent.Region, Channel: channel, Purpose: purpose, ParentID: ent.ID, AcceptedOn: today.Format(time.DateOnly), DueOn: due,
		AmountFen: ent.AmountFen, PrevAmountFen: ent.AmountFen, Version: 1, ApplicantName: ent.ApplicantName, HouseholdNo: ent.HouseholdNo, Members: ent.Members}
	rv.State = rv.Steps()[0].State
	now := time.Now().UTC()
	if err := tx.QueryRowContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state, due_on,
		accepted_on, amount_fen, prev_amount_fen, purpose, parent_id, version, created_at, updated_at)
		VALUES ($1,$2,$3,'',$4,$5,$6,$7,$8,$9,$10,$11,$11,$12,$13,1,$14,$14) RETURNING id`,
		no, rv.Programme, rv.RuleVersion, rv.HouseholdID, rv.ApplicantID, rv.Region, channel, rv.State, due, rv.AcceptedOn, ent.AmountFen,
		purpose, ent.ID, now).Scan(&rv.ID); err != nil {
		return nil, fmt.Errorf("casework: open review: %w", err)
	}
	if data == nil {
		data = map[string]any{}
	}
	data["entitlement"] = ent.No
	return rv, s.addEvent(ctx, tx, c, rv, "open_review", "", rv.State, false, reason, data)
}

// openReviewOf finds the open review of an entitlement, if any.
func (s *Service) openReviewOf(ctx context.Context, tx *sql.Tx, entID int64, purpose string) (*Case, error) {
	cs, err := scanCase(tx.QueryRowContext(ctx, `SELECT `+caseCols+caseFrom+`WHERE c.parent_id = $1 AND c.purpose = $2 AND c.state <> 'closed' ORDER BY c.id DESC LIMIT 1`, entID, purpose))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return cs, err
}

func (s *Service) approvedEntitlement(ctx context.Context, c Caller, id int64) (*Case, error) {
	ent, err := s.Get(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if ent.Purpose != PurposeApplication || ent.State != StateApproved || (ent.Programme != "dibao" && ent.Programme != "tekun") {
		return nil, apperr.Invalid("case", "not_entitlement", "只有已批准的低保、特困供养案件才能进行复核和动态管理")
	}
	return ent, nil
}

// StartReview opens the scheduled review of an entitlement (DB-38, DB-39):
// due on the review date, or in 15 WD when started without one.
func (s *Service) StartReview(ctx context.Context, u *auth.User, entID int64, reason string) (*Case, error) {
	ent, err := s.approvedEntitlement(ctx, u, entID)
	if err != nil {
		return nil, err
	}
	if !roleMayAct(u.Role, u.Region, region.Township, ent.Region, "open_review") {
		return nil, notYours(region.Township)
	}
	var rv *Case
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, fmt.Sprint("review:", ent.ID)); err != nil {
			return err
		}
		open, err := s.openReviewOf(ctx, tx, ent.ID, PurposeReview)
		if err != nil {
			return err
		}
		if open != nil {
			return apperr.Conflict("review_open", "该救助已有正在办理的复核（"+open.No+"），请在该复核中继续办理")
		}
		due := ent.NextReviewOn
		if due != "" && due < s.today().Format(time.DateOnly) {
			due = "" // an overdue review gets a working deadline from today
		}
		rv, err = s.openReview(ctx, tx, u, ent, PurposeReview, due, "review", strings.TrimSpace(reason), map[string]any{"cycle": ent.ReviewCycle, "review_date": ent.NextReviewOn})
		return err
	})
	return rv, err
}

// ChangeReport is a change in a recipient household, reported by the
// household, the village or found by data matching (DB-37).
type ChangeReport struct {
	ID           int64  `json:"id"`
	Kind         string `json:"kind"`        // death|income|members|employment|address|self_care|other
	ReportedBy   string `json:"reported_by"` // household|village|township|data
	PersonID     int64  `json:"person_id"`
	ChangedOn    string `json:"changed_on"`
	ReportedOn   string `json:"reported_on"`
	Details      string `json:"details"`
	Warning      string `json:"warning"`
	ReviewCaseID int64  `json:"review_case_id"`
	Username     string `json:"username"`
}

// ChangeKinds are the kinds of reported change, with their labels.
var ChangeKinds = []struct{ Value, Label string }{
	{"death", "家庭成员死亡"}, {"income", "收入变化"}, {"employment", "就业"}, {"members", "家庭人口变化"},
	{"assets", "财产变化"}, {"address", "居住地变化"}, {"self_care", "生活自理能力变化（特困）"}, {"other", "其他"},
}

// ReporterKinds are who reported a change.
var ReporterKinds = []struct{ Value, Label string }{{"household", "救助对象本人（户）"}, {"village", "村（居）委会"}, {"township", "乡镇（街道）排查"}, {"data", "信息比对"}}

func known(list []struct{ Value, Label string }, v string) bool {
	for _, x := range list {
		if x.Value == v {
			return true
		}
	}
	return false
}

// ReportChange records a change in a recipient household and opens what it
// calls for: a review, due within 3 months of a death (DB-41) and otherwise
// in 15 WD [B]; for tekun a change in self-care, a county re-assessment within
// 10 WD (TK-10). A change reported more than 3 months after it happened is
// recorded with a warning (DB-43).
func (s *Service) ReportChange(ctx context.Context, u *auth.User, entID int64, in ChangeReport) (*ChangeReport, *Case, error) {
	ent, err := s.approvedEntitlement(ctx, u, entID)
	if err != nil {
		return nil, nil, err
	}
	lvl := region.LevelOf(u.Region)
	if !region.Within(u.Region, ent.Region) || (lvl != region.Township && lvl != region.Village) ||
		(u.Role != auth.TownshipCaseworker && u.Role != auth.TownshipReviewer && u.Role != auth.VillageAssistant) {
		return nil, nil, apperr.Forbidden("家庭状况变化由所在乡镇（街道）经办人员或村协理员登记")
	}
	if !known(ChangeKinds, in.Kind) {
		return nil, nil, apperr.Invalid("kind", "invalid_kind", "请选择变化类型")
	}
	if !known(ReporterKinds, in.ReportedBy) {
		return nil, nil, apperr.Invalid("reported_by", "invalid_reporter", "请选择报告人：救助对象、村（居）委会、乡镇排查或信息比对")
	}
	if in.Kind == "self_care" && ent.Programme != "tekun" {
		return nil, nil, apperr.Invalid("kind", "invalid_kind", "生活自理能力复评只适用于特困人员")
	}
	today := s.today()
	changed, err := time.Parse(time.DateOnly, in.ChangedOn)
	if err != nil || changed.After(today) {
		return nil, nil, apperr.Invalid("changed_on", "invalid_date", "请填写变化发生的日期（不能晚于今天）")
	}
	in.Details = strings.TrimSpace(in.Details)
	if in.Details == "" {
		return nil, nil, apperr.Invalid("details", "details_required", "请填写变化的具体情况")
	}
	var person any
	if in.PersonID != 0 {
		var name string
		err := s.DB.QueryRowContext(ctx, `SELECT name FROM persons WHERE id = $1 AND (household_id = $2 OR household_id IS NULL)`, in.PersonID, ent.HouseholdID).Scan(&name)
		if err != nil {
			return nil, nil, apperr.Invalid("person_id", "not_member", "变化涉及的人员须为本户成员")
		}
		person = in.PersonID
	} else if in.Kind == "death" || in.Kind == "self_care" {
		return nil, nil, apperr.Invalid("person_id", "person_required", "请选择涉及的家庭成员")
	}
	in.ReportedOn, in.Username = today.Format(time.DateOnly), u.Username
	// DB-43: unreported for more than 3 months
	if addMonths(changed, 3).Before(today) {
		in.Warning = fmt.Sprintf("家庭状况变化发生于 %s，至 %s 才报告，超过3个月未主动告知，予以批评教育；不再符合条件的停发，骗取救助的追回并依法处理（DB-43）", in.ChangedOn, in.ReportedOn)
	}
	var rv *Case
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, fmt.Sprint("review:", ent.ID)); err != nil {
			return err
		}
		purpose, due := PurposeReview, ""
		switch in.Kind {
		case "self_care":
			purpose = PurposeReassess
		case "death":
			due = addMonths(changed, 3).Format(time.DateOnly) // DB-41
			if due < in.ReportedOn {
				due = in.ReportedOn
			}
		}
		open, err := s.openReviewOf(ctx, tx, ent.ID, purpose)
		if err != nil {
			return err
		}
		if open != nil {
			rv = open
			// the open review takes the change; its deadline comes forward if need be
			if due != "" && (open.DueOn == "" || due < open.DueOn) && open.State == open.Steps()[0].State {
				if _, err := tx.ExecContext(ctx, `UPDATE cases SET due_on = $1, version = version + 1, updated_at = $2 WHERE id = $3`, due, time.Now().UTC(), open.ID); err != nil {
					return err
				}
				if err := s.addEvent(ctx, tx, u, open, "review_moved", open.State, open.State, false, "家庭成员死亡，3个月内复核", map[string]any{"due_before": open.DueOn, "due_after": due}); err != nil {
					return err
				}
				rv.DueOn, rv.Version = due, open.Version+1
			}
		} else if rv, err = s.openReview(ctx, tx, u, ent, purpose, due, "change_report", in.Details, map[string]any{"change": in.Kind, "changed_on": in.ChangedOn}); err != nil {
			return err
		}
		in.ReviewCaseID = rv.ID
		if err := tx.QueryRowContext(ctx, `INSERT INTO change_reports (case_id, household_id, region_code, person_id, kind, reported_by, changed_on, reported_on, details, warning, review_case_id, username, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING id`, ent.ID, ent.HouseholdID, ent.Region, person, in.Kind, in.ReportedBy, in.ChangedOn,
			in.ReportedOn, in.Details, in.Warning, rv.ID, u.Username, time.Now().UTC()).Scan(&in.ID); err != nil {
			return fmt.Errorf("casework: change report: %w", err)
		}
		if err := s.addEvent(ctx, tx, u, ent, "change_report", ent.State, ent.State, false, in.Details, map[string]any{"kind": in.Kind, "reported_by": in.ReportedBy,
			"changed_on": in.ChangedOn, "review": rv.No}); err != nil {
			return err
		}
		if in.Warning != "" {
			return s.addEvent(ctx, tx, u, ent, "warning", ent.State, ent.State, false, in.Warning, map[string]any{"change_report": in.ID})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &in, rv, nil
}

// JobOffer is a suitable job offered to a recipient able to work (DB-42).
type JobOffer struct {
	ID        int64  `json:"id"`
	PersonID  int64  `json:"person_id"`
	Name      string `json:"name"`
	OfferedOn string `json:"offered_on"`
	Job       string `json:"job"`
	Answer    string `json:"answer"` // accepted|refused|refused_with_reason
	Reason    string `json:"reason"`
	Username  string `json:"username"`
}

// RecordJobOffer records a job offer and the member's answer; it returns the
// member's run of refusals without reason. At three in a row the next review
// takes off the member's own share (DB-42).
func (s *Service) RecordJobOffer(ctx context.Context, u *auth.User, entID int64, in JobOffer) (int, error) {
	ent, err := s.approvedEntitlement(ctx, u, entID)
	if err != nil {
		return 0, err
	}
	if ent.Programme != "dibao" {
		return 0, apperr.Invalid("case", "not_dibao", "拒绝就业减发只适用于低保家庭")
	}
	if !roleMayAct(u.Role, u.Region, region.Township, ent.Region, "job_offer") {
		return 0, notYours(region.Township)
	}
	switch in.Answer {
	case "accepted", "refused", "refused_with_reason":
	default:
		return 0, apperr.Invalid("answer", "invalid_answer", "请选择：接受、无正当理由拒绝或有正当理由拒绝")
	}
	in.Job, in.Reason = strings.TrimSpace(in.Job), strings.TrimSpace(in.Reason)
	if in.Job == "" {
		return 0, apperr.Invalid("job", "job_required", "请填写介绍的工作岗位（单位、岗位、待遇）")
	}
	if in.Answer == "refused_with_reason" && in.Reason == "" {
		return 0, apperr.Invalid("reason", "reason_required", "请填写拒绝的正当理由")
	}
	d, err := time.Parse(time.DateOnly, in.OfferedOn)
	if err != nil || d.After(s.today()) {
		return 0, apperr.Invalid("offered_on", "invalid_date", "请填写介绍工作的日期（不能晚于今天）")
	}
	var able bool
	err = s.DB.QueryRowContext(ctx, `SELECT name, able_to_work FROM persons WHERE id = $1 AND household_id = $2`, in.PersonID, ent.HouseholdID).Scan(&in.Name, &able)
	if err != nil {
		return 0, apperr.Invalid("person_id", "not_member", "请选择本户有劳动能力的成员")
	}
	if !able {
		return 0, apperr.Invalid("person_id", "not_able", in.Name+"登记为无劳动能力，不适用拒绝就业减发")
	}
	streak := 0
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_offers (case_id, person_id, offered_on, job, answer, reason, username, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
			ent.ID, in.PersonID, in.OfferedOn, in.Job, in.Answer, in.Reason, u.Username, time.Now().UTC()); err != nil {
			return fmt.Errorf("casework: job offer: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT answer FROM job_offers WHERE case_id = $1 AND person_id = $2 ORDER BY id`, ent.ID, in.PersonID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return err
			}
			if a == "refused" {
				streak++
			} else {
				streak = 0
			}
		}
		rows.Close()
		note := fmt.Sprintf("%s：%s（%s）", in.Name, in.Job, map[string]string{"accepted": "接受", "refused": "无正当理由拒绝", "refused_with_reason": "有正当理由拒绝"}[in.Answer])
		if streak >= 3 {
			note += fmt.Sprintf("；已连续%d次无正当理由拒绝，下次复核时减发其本人份额（DB-42）", streak)
		}
		return s.addEvent(ctx, tx, u, ent, "job_offer", ent.State, ent.State, false, note, map[string]any{"person_id": in.PersonID, "answer": in.Answer, "streak": streak})
	})
	return streak, err
}

// AmountChange is one row of an entitlement's amount history.
type AmountChange struct {
	From      string `json:"effective_from"`
	Before    int64  `json:"amount_before"`
	After     int64  `json:"amount_after"`
	Source    string `json:"source"`
	Ref       string `json:"source_ref"`
	DecidedOn string `json:"decided_on"`
}

// Appeal is an objection, administrative review or lawsuit.
type Appeal struct {
	Kind       string `json:"kind"`
	FiledOn    string `json:"filed_on"`
	Evidence   string `json:"evidence"`
	FromState  string `json:"from_state"`
	Outcome    string `json:"outcome"`
	DocumentNo string `json:"document_no"`
	DecidedOn  string `json:"decided_on"`
	Before     int64  `json:"amount_before"`
	After      int64  `json:"amount_after"`
	Username   string `json:"username"`
}

// Dynamic is the dynamic-management file of a case.
type Dynamic struct {
	Reviews []*Case        `json:"reviews"`
	Changes []ChangeReport `json:"change_reports"`
	Offers  []JobOffer     `json:"job_offers"`
	Streaks []Streak       `json:"refusal_streaks"`
	Appeals []Appeal       `json:"appeals"`
	Amounts []AmountChange `json:"amount_history"`
}

// Dynamic loads the reviews, change reports, job offers, appeals and amount
// history of a case.
func (s *Service) Dynamic(ctx context.Context, c Caller, caseID int64) (*Dynamic, error) {
	cs, err := s.Get(ctx, c, caseID)
	if err != nil {
		return nil, err
	}
	d := &Dynamic{Reviews: []*Case{}, Changes: []ChangeReport{}, Offers: []JobOffer{}, Appeals: []Appeal{}, Amounts: []AmountChange{}}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+caseCols+caseFrom+`WHERE c.parent_id = $1 ORDER BY c.id DESC`, cs.ID)
	if err != nil {
		return nil, fmt.Errorf("casework: reviews: %w", err)
	}
	for rows.Next() {
		rv, err := scanCase(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		d.Reviews = append(d.Reviews, rv)
	}
	rows.Close()
	type q struct {
		sql  string
		scan func(*sql.Rows) error
	}
	for _, x := range []q{
		{`SELECT id, kind, reported_by, COALESCE(person_id, 0), changed_on, reported_on, details, warning, COALESCE(review_case_id, 0), username FROM change_reports WHERE case_id = $1 ORDER BY id`,
			func(r *sql.Rows) error {
				var x ChangeReport
				err := r.Scan(&x.ID, &x.Kind, &x.ReportedBy, &x.PersonID, &x.ChangedOn, &x.ReportedOn, &x.Details, &x.Warning, &x.ReviewCaseID, &x.Username)
				d.Changes = append(d.Changes, x)
				return err
			}},
		{`SELECT o.id, o.person_id, p.name, o.offered_on, o.job, o.answer, o.reason, o.username FROM job_offers o JOIN persons p ON p.id = o.person_id WHERE o.case_id = $1 ORDER BY o.id`,
			func(r *sql.Rows) error {
				var x JobOffer
				err := r.Scan(&x.ID, &x.PersonID, &x.Name, &x.OfferedOn, &x.Job, &x.Answer, &x.Reason, &x.Username)
				d.Offers = append(d.Offers, x)
				return err
			}},
		{`SELECT kind, filed_on, evidence, from_state, outcome, document_no, decided_on, amount_before, amount_after, username FROM appeals WHERE case_id = $1 ORDER BY id`,
			func(r *sql.Rows) error {
				var x Appeal
				err := r.Scan(&x.Kind, &x.FiledOn, &x.Evidence, &x.FromState, &x.Outcome, &x.DocumentNo, &x.DecidedOn, &x.Before, &x.After, &x.Username)
				d.Appeals = append(d.Appeals, x)
				return err
			}},
		{`SELECT effective_from, amount_before, amount_after, source, source_ref, decided_on FROM entitlement_changes WHERE case_id = $1 ORDER BY id`,
			func(r *sql.Rows) error {
				var x AmountChange
				err := r.Scan(&x.From, &x.Before, &x.After, &x.Source, &x.Ref, &x.DecidedOn)
				d.Amounts = append(d.Amounts, x)
				return err
			}},
	} {
		rows, err := s.DB.QueryContext(ctx, x.sql, cs.ID)
		if err != nil {
			return nil, fmt.Errorf("casework: dynamic file: %w", err)
		}
		for rows.Next() {
			if err := x.scan(rows); err != nil {
				rows.Close()
				return nil, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if d.Streaks, err = s.refusalStreaks(ctx, cs.ID); err != nil {
		return nil, err
	}
	return d, nil
}

// reviewsDue lists the entitlements in scope whose review falls within 30
// days (or is overdue) and has not been started: the review part of a worklist.
func (s *Service) reviewsDue(ctx context.Context, c Caller, q WorklistQuery, today string) ([]WorkItem, error) {
	horizon := s.today().AddDate(0, 0, 30).Format(time.DateOnly)
	if q.OverdueOnly {
		horizon = s.today().AddDate(0, 0, -1).Format(time.DateOnly)
	}
	scope, scopeArg := scopeFilter(c.Scope(), 1)
	rows, err := s.DB.QueryContext(ctx, `SELECT `+caseCols+caseFrom+`WHERE `+scope+` AND c.state = 'approved' AND c.next_review_on <> ''
		AND c.next_review_on <= $2 AND ($3 = '' OR c.programme = $3)
		AND NOT EXISTS (SELECT 1 FROM cases r WHERE r.parent_id = c.id AND r.purpose = 'review' AND r.state <> 'closed')
		ORDER BY c.next_review_on, c.id LIMIT $4`, scopeArg, horizon, q.Programme, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("casework: reviews due: %w", err)
	}
	defer rows.Close()
	var out []WorkItem
	for rows.Next() {
		cs, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, WorkItem{Case: cs, Label: ReviewCycleLabel(cs.ReviewCycle) + "：定期复核到期，待启动复核", Office: region.Township,
			Overdue: cs.NextReviewOn < today, ReviewDue: true, Due: cs.NextReviewOn})
	}
	return out, rows.Err()
}

// OutcomeText names a review's outcome in Chinese.
func (c *Case) OutcomeText() string { return OutcomeLabel(c.Outcome) }

// CycleText names an entitlement's review cycle in Chinese.
func (c *Case) CycleText() string { return ReviewCycleLabel(c.ReviewCycle) }

// KindText names the kind of a reported change.
func (r ChangeReport) KindText() string {
	for _, k := range ChangeKinds {
		if k.Value == r.Kind {
			return k.Label
		}
	}
	return r.Kind
}

var appealLabels = map[string]string{"objection": "异议（复查）", "admin_review": "行政复议", "litigation": "行政诉讼",
	"founded": "异议成立，重新调查", "unfounded": "异议不成立", "upheld": "维持原决定", "revoked": "撤销原决定", "changed": "变更", "": "待复查"}

// KindText names the kind of an appeal.
func (a Appeal) KindText() string { return appealLabels[a.Kind] }

// OutcomeText names an appeal's outcome.
func (a Appeal) OutcomeText() string { return appealLabels[a.Outcome] }
