package referral

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
)

// Need is one need of a household in one area of help.
type Need struct {
	ID          int64       `json:"id"`
	HouseholdID int64       `json:"household_id"`
	Region      string      `json:"region"`
	Area        string      `json:"area"`
	Description string      `json:"description"`
	Stage       string      `json:"stage"`
	PersonID    int64       `json:"person_id,omitempty"`
	PersonName  string      `json:"person_name,omitempty"`
	CaseID      int64       `json:"case_id,omitempty"`
	CaseNo      string      `json:"case_no,omitempty"`
	RecordedBy  string      `json:"recorded_by"`
	RecordedOn  string      `json:"recorded_on"`
	RecordedAt  time.Time   `json:"recorded_at"`
	Referrals   []*Referral `json:"referrals,omitempty"`
}

// AreaLabel names the need's area.
func (n *Need) AreaLabel() string { return AreaLabel(n.Area) }

// StageLabel names when the need was recorded.
func (n *Need) StageLabel() string { return StageLabel(n.Stage) }

// Status sums up the need from its referrals, latest last.
func (n *Need) Status() string {
	if len(n.Referrals) == 0 {
		return "待转介"
	}
	r := n.Referrals[len(n.Referrals)-1]
	switch {
	case r.State == StateDeclined:
		return "被退回，待重新转介"
	case r.State == StateClosed && !r.Helped():
		return "未获帮扶，可重新转介"
	case r.State == StateClosed:
		return "已获帮扶"
	}
	return "办理中（" + r.OrgName + "）"
}

// Referable reports whether the need may be referred now: no referral in hand
// and no help given yet.
func (n *Need) Referable() bool {
	for _, r := range n.Referrals {
		if r.Open() || r.Helped() {
			return false
		}
	}
	return true
}

// NeedInput is what the township records; OrgID, when set, refers the need
// at once.
type NeedInput struct {
	HouseholdID int64  `json:"household_id"`
	Area        string `json:"area"`
	Description string `json:"description"`
	Stage       string `json:"stage"`
	PersonID    int64  `json:"person_id"`
	CaseID      int64  `json:"case_id"`
	OrgID       int64  `json:"org_id"`
	Note        string `json:"note"`
}

// householdIn loads the household's region and status inside u's scope.
func householdIn(ctx context.Context, q db.Querier, u *auth.User, id int64) (string, string, error) {
	var code, status string
	err := q.QueryRowContext(ctx, `SELECT region_code, status FROM households WHERE id = $1 AND region_code LIKE $2 || '%'`, id, u.Scope()).Scan(&code, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", apperr.NotFound("该户不存在或不在您的管辖范围内")
	}
	if err != nil {
		return "", "", fmt.Errorf("referral: load household: %w", err)
	}
	return code, status, nil
}

// RecordNeed records a household's need in one area, at intake or at a
// review (linked to the case when there is one), and refers it when the input
// names an organisation: both or neither.
func (s *Service) RecordNeed(ctx context.Context, u *auth.User, in NeedInput) (*Need, error) {
	if !u.Can(auth.ReferralWrite) {
		return nil, apperr.Forbidden("您没有登记救助需求的权限")
	}
	in.Description, in.Note = strings.TrimSpace(in.Description), strings.TrimSpace(in.Note)
	if !known(Areas, in.Area) {
		return nil, apperr.Invalid("area", "invalid_area", "请选择救助帮扶领域（基本生活、就业创业、医疗、教育、社会保险、住房安全、临时救助、社会帮扶）")
	}
	if in.Description == "" || utf8.RuneCountInString(in.Description) > 500 {
		return nil, apperr.Invalid("description", "required", "请填写需求说明（不超过500字）")
	}
	if !known(Stages, in.Stage) {
		return nil, apperr.Invalid("stage", "invalid_stage", "请选择登记时机：受理时、复核时或走访时")
	}
	var id int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		code, status, err := householdIn(ctx, tx, u, in.HouseholdID)
		if err != nil {
			return err
		}
		if status != "active" {
			return apperr.Invalid("household_id", "household_inactive", "该户已注销或迁出，不能登记需求")
		}
		var person, cs any
		if in.PersonID != 0 {
			var hh int64
			err := tx.QueryRowContext(ctx, `SELECT COALESCE(household_id, 0) FROM persons WHERE id = $1`, in.PersonID).Scan(&hh)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("referral: need person: %w", err)
			}
			if hh != in.HouseholdID {
				return apperr.Invalid("person_id", "not_member", "所选人员不是该户成员")
			}
			person = in.PersonID
		}
		if in.CaseID != 0 {
			var hh int64
			err := tx.QueryRowContext(ctx, `SELECT household_id FROM cases WHERE id = $1`, in.CaseID).Scan(&hh)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("referral: need case: %w", err)
			}
			if hh != in.HouseholdID {
				return apperr.Invalid("case_id", "other_case", "所选案件不属于该户")
			}
			cs = in.CaseID
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO referral_needs (household_id, region_code, area, description, stage, person_id, case_id, recorded_by, recorded_by_id, recorded_on, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id`,
			in.HouseholdID, code, in.Area, in.Description, in.Stage, person, cs, u.Username, u.ID, s.Today(), s.now()).Scan(&id)
		if err != nil {
			return fmt.Errorf("referral: record need: %w", err)
		}
		if err := audit.Append(ctx, tx, u.Actor(), "referral.need.record", "household", fmt.Sprint(in.HouseholdID), code,
			map[string]any{"need": id, "area": in.Area, "stage": in.Stage, "case": in.CaseID}); err != nil {
			return err
		}
		if in.OrgID != 0 {
			_, err := s.refer(ctx, tx, u, id, ReferInput{OrgID: in.OrgID, Note: in.Note})
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Need(ctx, u, id)
}

const needCols = `n.id, n.household_id, n.region_code, n.area, n.description, n.stage, COALESCE(n.person_id, 0), COALESCE(p.name, ''), COALESCE(n.case_id, 0),
	COALESCE(c.case_no, ''), n.recorded_by, n.recorded_on, n.recorded_at`

const needFrom = ` FROM referral_needs n LEFT JOIN persons p ON p.id = n.person_id LEFT JOIN cases c ON c.id = n.case_id `

func scanNeed(scan func(...any) error) (*Need, error) {
	var n Need
	err := scan(&n.ID, &n.HouseholdID, &n.Region, &n.Area, &n.Description, &n.Stage, &n.PersonID, &n.PersonName, &n.CaseID, &n.CaseNo,
		&n.RecordedBy, &n.RecordedOn, &n.RecordedAt)
	return &n, err
}

// Need loads one need in the caller's region with its referrals.
func (s *Service) Need(ctx context.Context, u *auth.User, id int64) (*Need, error) {
	n, err := scanNeed(s.DB.QueryRowContext(ctx, `SELECT `+needCols+needFrom+`WHERE n.id = $1 AND n.region_code LIKE $2 || '%'`, id, u.Scope()).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("该需求不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, fmt.Errorf("referral: load need: %w", err)
	}
	refs, err := s.list(ctx, `r.need_id = $1 AND r.region_code LIKE $2 || '%'`, []any{id, u.Scope()}, "r.id", false)
	if err != nil {
		return nil, err
	}
	n.Referrals = refs
	return n, nil
}

// Needs lists a household's needs in the caller's region, each with its
// referrals (oldest first). The referrals carry the head's name, phone and
// address, so the read is audited once, with its counts, like List.
func (s *Service) Needs(ctx context.Context, u *auth.User, householdID int64) ([]*Need, error) {
	if !u.Can(auth.ReferralRead) {
		return nil, apperr.Forbidden("您没有查看转介的权限")
	}
	code, _, err := householdIn(ctx, s.DB, u, householdID)
	if err != nil {
		return nil, err
	}
	needs, err := s.needs(ctx, u, householdID)
	if err != nil {
		return nil, err
	}
	if err := s.auditHousehold(ctx, u, "referral.needs.view", householdID, code, needs, nil); err != nil {
		return nil, err
	}
	return needs, nil
}

// auditHousehold records one read of a household's needs and referrals.
func (s *Service) auditHousehold(ctx context.Context, u *auth.User, action string, householdID int64, code string, needs []*Need, extra map[string]any) error {
	refs := 0
	for _, n := range needs {
		refs += len(n.Referrals)
	}
	detail := map[string]any{"needs": len(needs), "referrals": refs}
	for k, v := range extra {
		detail[k] = v
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), action, "household", fmt.Sprint(householdID), code, detail); err != nil {
		return fmt.Errorf("referral: audit %s: %w", action, err)
	}
	return nil
}

// needs loads a household's needs with their referrals, unaudited: the
// exported callers audit the read they make of it.
func (s *Service) needs(ctx context.Context, u *auth.User, householdID int64) ([]*Need, error) {
	out := []*Need{}
	byID := map[int64]*Need{}
	err := db.Each(ctx, s.DB, `SELECT `+needCols+needFrom+`WHERE n.household_id = $1 AND n.region_code LIKE $2 || '%' ORDER BY n.id`,
		[]any{householdID, u.Scope()}, func(scan func(...any) error) error {
			n, err := scanNeed(scan)
			if err != nil {
				return err
			}
			out = append(out, n)
			byID[n.ID] = n
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("referral: household needs: %w", err)
	}
	refs, err := s.list(ctx, `r.household_id = $1 AND r.region_code LIKE $2 || '%'`, []any{householdID, u.Scope()}, "r.id", false)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if n := byID[r.NeedID]; n != nil {
			n.Referrals = append(n.Referrals, r)
		}
	}
	return out, nil
}

// ReferInput names the organisation a need goes to.
type ReferInput struct {
	OrgID int64  `json:"org_id"`
	Note  string `json:"note"`
}

// Refer sends a need to an organisation on its county's list that serves the
// need's area; the answer is due after the organisation's working days.
func (s *Service) Refer(ctx context.Context, u *auth.User, needID int64, in ReferInput) (*Referral, error) {
	if !u.Can(auth.ReferralWrite) {
		return nil, apperr.Forbidden("您没有转介的权限")
	}
	var id int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = s.refer(ctx, tx, u, needID, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, u, id)
}

func (s *Service) refer(ctx context.Context, tx *sql.Tx, u *auth.User, needID int64, in ReferInput) (int64, error) {
	in.Note = strings.TrimSpace(in.Note)
	if utf8.RuneCountInString(in.Note) > 500 {
		return 0, apperr.Invalid("note", "too_long", "转介说明不超过500字")
	}
	var hh int64
	var code, area string
	err := tx.QueryRowContext(ctx, `SELECT household_id, region_code, area FROM referral_needs WHERE id = $1 AND region_code LIKE $2 || '%'`, needID, u.Scope()).
		Scan(&hh, &code, &area)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.NotFound("该需求不存在或不在您的管辖范围内")
	}
	if err != nil {
		return 0, fmt.Errorf("referral: load need: %w", err)
	}
	if in.OrgID == 0 {
		return 0, apperr.Invalid("org_id", "required", "请选择承办单位")
	}
	var orgCounty, orgName string
	var days int
	var active bool
	err = tx.QueryRowContext(ctx, `SELECT county_code, name, answer_days, active FROM referral_orgs WHERE id = $1`, in.OrgID).Scan(&orgCounty, &orgName, &days, &active)
	if errors.Is(err, sql.ErrNoRows) || err == nil && orgCounty != countyOf(code) {
		return 0, apperr.Invalid("org_id", "org_not_listed", "该单位不在本县（市、区）的协同单位名单中，不能转介")
	}
	if err != nil {
		return 0, fmt.Errorf("referral: load organisation: %w", err)
	}
	if !active {
		return 0, apperr.Invalid("org_id", "org_inactive", "“"+orgName+"”已停用，不能转介")
	}
	var serves int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral_org_areas WHERE org_id = $1 AND area = $2`, in.OrgID, area).Scan(&serves); err != nil {
		return 0, fmt.Errorf("referral: organisation areas: %w", err)
	}
	if serves == 0 {
		return 0, apperr.Invalid("org_id", "area_not_served", fmt.Sprintf("“%s”不承办“%s”领域的帮扶，请选择承办该领域的单位", orgName, AreaLabel(area)))
	}
	// what became of the need's earlier referrals
	var previous int64
	var prevState, prevOutcome, prevOrg string
	err = tx.QueryRowContext(ctx, `SELECT r.id, r.state, r.outcome, o.name FROM referrals r JOIN referral_orgs o ON o.id = r.org_id WHERE r.need_id = $1 ORDER BY r.id DESC LIMIT 1`, needID).
		Scan(&previous, &prevState, &prevOutcome, &prevOrg)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("referral: earlier referrals: %w", err)
	}
	switch {
	case prevState == StateSent || prevState == StateAccepted:
		return 0, apperr.Conflict("already_referred", "该需求已转介给“"+prevOrg+"”，正在办理中；对方退回后才能重新转介")
	case prevState == StateClosed && prevOutcome != "no_help":
		return 0, apperr.Conflict("need_met", "该需求已由“"+prevOrg+"”办结并提供了帮扶；如有新的困难请另行登记需求")
	}
	today := s.today()
	due, err := s.Calendar.AddWorkingDays(today, days)
	if err != nil {
		return 0, errCalendar
	}
	var prev any
	if previous != 0 {
		prev = previous
	}
	var id int64
	now := s.now()
	err = tx.QueryRowContext(ctx, `INSERT INTO referrals (need_id, household_id, region_code, area, org_id, state, note, sent_on, due_on, sent_by, sent_at, previous_id, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$11) RETURNING id`,
		needID, hh, code, area, in.OrgID, StateSent, in.Note, today.Format(time.DateOnly), due.Format(time.DateOnly), u.Username, now, prev).Scan(&id)
	if db.IsUniqueViolation(err) {
		return 0, apperr.Conflict("already_referred", "该需求已有正在办理的转介")
	}
	if err != nil {
		return 0, fmt.Errorf("referral: refer: %w", err)
	}
	return id, audit.Append(ctx, tx, u.Actor(), "referral.send", "referral", fmt.Sprint(id), code,
		map[string]any{"need": needID, "org": in.OrgID, "area": area, "due_on": due.Format(time.DateOnly), "previous": previous})
}
