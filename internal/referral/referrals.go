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
	"jiuzhu/internal/region"
)

// Referral is one need sent to one organisation.
type Referral struct {
	ID            int64     `json:"id"`
	No            string    `json:"no"`
	NeedID        int64     `json:"need_id"`
	HouseholdID   int64     `json:"household_id"`
	Region        string    `json:"region"`
	Area          string    `json:"area"`
	OrgID         int64     `json:"org_id"`
	OrgName       string    `json:"org_name"`
	State         string    `json:"state"`
	Note          string    `json:"note,omitempty"`
	SentOn        string    `json:"sent_on"`
	DueOn         string    `json:"due_on"`
	SentBy        string    `json:"sent_by"`
	SentAt        time.Time `json:"sent_at"`
	AnsweredOn    string    `json:"answered_on,omitempty"`
	AnsweredBy    string    `json:"answered_by,omitempty"`
	ClosedOn      string    `json:"closed_on,omitempty"`
	ClosedBy      string    `json:"closed_by,omitempty"`
	Outcome       string    `json:"outcome,omitempty"`
	OutcomeNote   string    `json:"outcome_note,omitempty"`
	AmountFen     int64     `json:"amount_fen"`
	DeclineReason string    `json:"decline_reason,omitempty"`
	PreviousID    int64     `json:"previous_id,omitempty"`
	Version       int       `json:"version"`
	// Overdue: unanswered after the due date, or answered late.
	Overdue bool   `json:"overdue"`
	Need    string `json:"need"`
	// The minimum the organisation needs to reach the family.
	HouseholdNo  string `json:"household_no"`
	HeadName     string `json:"head_name"`
	HeadIDMasked string `json:"head_id_masked"`
	Phone        string `json:"phone"`
	Address      string `json:"address"`
	PersonName   string `json:"person_name,omitempty"`
	PersonMasked string `json:"person_id_masked,omitempty"`
}

// Open reports whether the referral is still in the organisation's hands.
func (r *Referral) Open() bool { return r.State == StateSent || r.State == StateAccepted }

// Helped reports whether the referral was closed with help given.
func (r *Referral) Helped() bool {
	o, ok := OutcomeOf(r.Outcome)
	return r.State == StateClosed && ok && o.Help
}

// StateLabel names the state in Chinese.
func (r *Referral) StateLabel() string { return StateLabel(r.State) }

// AreaLabel names the area in Chinese.
func (r *Referral) AreaLabel() string { return AreaLabel(r.Area) }

// OutcomeLabel names the outcome in Chinese.
func (r *Referral) OutcomeLabel() string { return OutcomeLabel(r.Outcome) }

// Outcomes are the closures that fit the referral's area.
func (r *Referral) Outcomes() []Outcome { return OutcomesFor(r.Area) }

func overdue(state, due, answered, today string) bool {
	if answered != "" {
		return answered > due
	}
	return state == StateSent && today > due
}

const refCols = `r.id, r.need_id, r.household_id, r.region_code, r.area, r.org_id, o.name, r.state, r.note, r.sent_on, r.due_on, r.sent_by, r.sent_at,
	r.answered_on, r.answered_by, r.closed_on, r.closed_by, r.outcome, r.outcome_note, r.amount_fen, r.decline_reason, COALESCE(r.previous_id, 0), r.version,
	n.description, h.hh_no, COALESCE(hp.name, ''), COALESCE(hp.id_masked, ''), COALESCE(NULLIF(hp.phone, ''), h.phone), h.address,
	COALESCE(np.name, ''), COALESCE(np.id_masked, '')`

const refFrom = ` FROM referrals r JOIN referral_needs n ON n.id = r.need_id JOIN referral_orgs o ON o.id = r.org_id JOIN households h ON h.id = r.household_id
	LEFT JOIN persons hp ON hp.id = (SELECT MIN(p.id) FROM persons p WHERE p.household_id = r.household_id AND p.relation = 'head')
	LEFT JOIN persons np ON np.id = n.person_id `

func (s *Service) list(ctx context.Context, where string, args []any, order string, desc bool) ([]*Referral, error) {
	q := `SELECT ` + refCols + refFrom + `WHERE ` + where + ` ORDER BY ` + order
	if desc {
		q += ` DESC`
	}
	q += ` LIMIT 1000`
	today := s.Today()
	out := []*Referral{}
	err := db.Each(ctx, s.DB, q, args, func(scan func(...any) error) error {
		var r Referral
		if err := scan(&r.ID, &r.NeedID, &r.HouseholdID, &r.Region, &r.Area, &r.OrgID, &r.OrgName, &r.State, &r.Note, &r.SentOn, &r.DueOn, &r.SentBy, &r.SentAt,
			&r.AnsweredOn, &r.AnsweredBy, &r.ClosedOn, &r.ClosedBy, &r.Outcome, &r.OutcomeNote, &r.AmountFen, &r.DeclineReason, &r.PreviousID, &r.Version,
			&r.Need, &r.HouseholdNo, &r.HeadName, &r.HeadIDMasked, &r.Phone, &r.Address, &r.PersonName, &r.PersonMasked); err != nil {
			return err
		}
		r.No = No(r.ID)
		r.Overdue = overdue(r.State, r.DueOn, r.AnsweredOn, today)
		out = append(out, &r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referral: list: %w", err)
	}
	return out, nil
}

var errRefNotFound = apperr.NotFound("该转介不存在或不在您的管辖范围内")

// errNotAddressee is the refusal of a partner acting on another's referral.
var errNotAddressee = apperr.Forbidden("您不是该转介的承办单位")

// Get loads one referral for the township (in scope) or for the addressed
// organisation's user; each read is audited.
func (s *Service) Get(ctx context.Context, u *auth.User, id int64) (*Referral, error) {
	var refs []*Referral
	var err error
	switch {
	case u.Can(auth.ReferralAnswer):
		o, oerr := s.OrgOf(ctx, u)
		if oerr != nil {
			return nil, oerr
		}
		if refs, err = s.list(ctx, `r.id = $1`, []any{id}, "r.id", false); err != nil {
			return nil, err
		}
		if len(refs) == 1 && refs[0].OrgID != o.ID {
			return nil, errNotAddressee
		}
	case u.Can(auth.ReferralRead):
		refs, err = s.list(ctx, `r.id = $1 AND r.region_code LIKE $2 || '%'`, []any{id, u.Scope()}, "r.id", false)
	default:
		return nil, apperr.Forbidden("您没有查看转介的权限")
	}
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, errRefNotFound
	}
	if err := s.auditReads(ctx, u, refs); err != nil {
		return nil, err
	}
	return refs[0], nil
}

// auditReads records one entry per referral a user saw, in one transaction.
func (s *Service) auditReads(ctx context.Context, u *auth.User, refs []*Referral) error {
	if len(refs) == 0 {
		return nil
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		for _, r := range refs {
			if err := audit.Append(ctx, tx, u.Actor(), "referral.view", "referral", fmt.Sprint(r.ID), r.Region, map[string]any{"org": r.OrgID}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("referral: audit reads: %w", err)
	}
	return nil
}

// Filter narrows a list of referrals.
type Filter struct {
	// Status: "open" (sent or accepted), "overdue" (unanswered after the due
	// date), "sent", "accepted", "closed", "declined"; "" = all.
	Status string
	Area   string
	OrgID  int64
	Region string // a code inside the caller's region
}

func (f Filter) where(args []any, today string) (string, []any, error) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	switch f.Status {
	case "":
	case "open":
		conds = append(conds, `r.state IN ('sent', 'accepted')`)
	case "overdue":
		add(`r.state = 'sent' AND r.due_on < $?`, today)
	case StateSent, StateAccepted, StateClosed, StateDeclined:
		add(`r.state = $?`, f.Status)
	default:
		return "", nil, apperr.Invalid("status", "invalid_status", "状态应为：open、overdue、sent、accepted、closed、declined")
	}
	if f.Area != "" {
		if !known(Areas, f.Area) {
			return "", nil, apperr.Invalid("area", "invalid_area", "未知的救助帮扶领域")
		}
		add(`r.area = $?`, f.Area)
	}
	if f.OrgID != 0 {
		add(`r.org_id = $?`, f.OrgID)
	}
	if len(conds) == 0 {
		return "", args, nil
	}
	return " AND " + strings.Join(conds, " AND "), args, nil
}

// List is the township's (or a supervisor's) view of referrals in its region,
// newest first. The list read is audited once, with its count.
func (s *Service) List(ctx context.Context, u *auth.User, f Filter) ([]*Referral, error) {
	if !u.Can(auth.ReferralRead) {
		return nil, apperr.Forbidden("您没有查看转介的权限")
	}
	scope := u.Scope()
	if f.Region != "" {
		if !region.Within(u.Region, f.Region) {
			return nil, apperr.Forbidden("只能查看本辖区的转介")
		}
		scope = region.ScopePrefix(f.Region)
	}
	extra, args, err := f.where([]any{scope}, s.Today())
	if err != nil {
		return nil, err
	}
	refs, err := s.list(ctx, `r.region_code LIKE $1 || '%'`+extra, args, "r.id", true)
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "referral.list", "region", scope, region.Pad(scope), map[string]any{"status": f.Status, "area": f.Area, "hits": len(refs)}); err != nil {
		return nil, fmt.Errorf("referral: audit list: %w", err)
	}
	return refs, nil
}

// Inbox is a partner officer's list: only what is addressed to the user's
// organisation, every referral shown audited.
func (s *Service) Inbox(ctx context.Context, u *auth.User, f Filter) (*Org, []*Referral, error) {
	if !u.Can(auth.ReferralAnswer) {
		return nil, nil, apperr.Forbidden("您没有办理转介的权限")
	}
	o, err := s.OrgOf(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	f.OrgID, f.Region = 0, ""
	extra, args, err := f.where([]any{o.ID}, s.Today())
	if err != nil {
		return nil, nil, err
	}
	refs, err := s.list(ctx, `r.org_id = $1`+extra, args, "r.id", true)
	if err != nil {
		return nil, nil, err
	}
	return o, refs, s.auditReads(ctx, u, refs)
}

// AreaCount is a line of the township's summary.
type AreaCount struct {
	Area    string `json:"area"`
	Label   string `json:"label"`
	Open    int    `json:"open"`
	Overdue int    `json:"overdue"`
}

// ByArea counts open and overdue referrals per area of a list.
func ByArea(refs []*Referral) []AreaCount {
	out := make([]AreaCount, len(Areas))
	for i, a := range Areas {
		out[i] = AreaCount{Area: a.Value, Label: a.Label}
	}
	for _, r := range refs {
		i := areaIndex(r.Area)
		if i >= len(out) || !r.Open() {
			continue
		}
		out[i].Open++
		if r.Overdue {
			out[i].Overdue++
		}
	}
	return out
}

// CloseInput is the organisation's closing record.
type CloseInput struct {
	Version   int    `json:"version"`
	Outcome   string `json:"outcome"`
	AmountFen int64  `json:"amount_fen"`
	Note      string `json:"note"`
}

// Accept takes a referral on: the answer within the deadline.
func (s *Service) Accept(ctx context.Context, u *auth.User, id int64, version int) (*Referral, error) {
	return s.answer(ctx, u, id, version, "accept", func(r *Referral) (string, []any, error) {
		if r.State != StateSent {
			return "", nil, apperr.Conflict("wrong_state", "该转介当前为“"+r.StateLabel()+"”，不能再接收")
		}
		return `state = 'accepted', answered_on = $1, answered_by = $2`, []any{s.Today(), u.Username}, nil
	})
}

// Decline returns a referral with a reason; the township may refer the need
// elsewhere.
func (s *Service) Decline(ctx context.Context, u *auth.User, id int64, version int, reason string) (*Referral, error) {
	reason = strings.TrimSpace(reason)
	return s.answer(ctx, u, id, version, "decline", func(r *Referral) (string, []any, error) {
		if r.State != StateSent {
			return "", nil, apperr.Conflict("wrong_state", "该转介当前为“"+r.StateLabel()+"”，不能退回；已接收的请登记办理结果")
		}
		if reason == "" || utf8.RuneCountInString(reason) > 500 {
			return "", nil, apperr.Invalid("reason", "reason_required", "请填写退回理由（不超过500字），乡镇（街道）将据此重新转介")
		}
		return `state = 'declined', answered_on = $1, answered_by = $2, decline_reason = $3`, []any{s.Today(), u.Username, reason}, nil
	})
}

// Close records what the organisation did.
func (s *Service) Close(ctx context.Context, u *auth.User, id int64, in CloseInput) (*Referral, error) {
	in.Note = strings.TrimSpace(in.Note)
	return s.answer(ctx, u, id, in.Version, "close", func(r *Referral) (string, []any, error) {
		if r.State == StateSent {
			return "", nil, apperr.Conflict("not_accepted", "请先接收该转介，再登记办理结果")
		}
		if r.State != StateAccepted {
			return "", nil, apperr.Conflict("wrong_state", "该转介当前为“"+r.StateLabel()+"”，不能登记办理结果")
		}
		o, ok := OutcomeOf(in.Outcome)
		if !ok || !o.Serves(r.Area) {
			return "", nil, apperr.Invalid("outcome", "invalid_outcome", "请选择适用于“"+r.AreaLabel()+"”领域的办理结果")
		}
		switch {
		case in.AmountFen < 0 || in.AmountFen > 100_000_000:
			return "", nil, apperr.Invalid("amount", "invalid_amount", "金额应在0至100万元之间")
		case o.Amount == "required" && in.AmountFen == 0:
			return "", nil, apperr.Invalid("amount", "amount_required", "“"+o.Label+"”须填写金额")
		case o.Amount == "" && in.AmountFen != 0:
			return "", nil, apperr.Invalid("amount", "no_amount", "“"+o.Label+"”不涉及金额，金额应为空")
		}
		if (!o.Help || o.Value == "other_help") && in.Note == "" {
			return "", nil, apperr.Invalid("note", "note_required", "请说明办理情况")
		}
		if utf8.RuneCountInString(in.Note) > 500 {
			return "", nil, apperr.Invalid("note", "too_long", "办理情况不超过500字")
		}
		return `state = 'closed', closed_on = $1, closed_by = $2, outcome = $3, amount_fen = $4, outcome_note = $5`,
			[]any{s.Today(), u.Username, o.Value, in.AmountFen, in.Note}, nil
	})
}

// answer runs one action of the addressed organisation: only its own users,
// at the version they saw; set returns the SET clause and its arguments.
func (s *Service) answer(ctx context.Context, u *auth.User, id int64, version int, action string, set func(*Referral) (string, []any, error)) (*Referral, error) {
	if !u.Can(auth.ReferralAnswer) {
		return nil, apperr.Forbidden("您没有办理转介的权限")
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var orgID int64
		err := tx.QueryRowContext(ctx, `SELECT org_id FROM referral_org_users WHERE user_id = $1`, u.ID).Scan(&orgID)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotAddressee
		}
		if err != nil {
			return fmt.Errorf("referral: organisation of user: %w", err)
		}
		refs, err := s.list(ctx, `r.id = $1`, []any{id}, "r.id", false)
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			return errRefNotFound
		}
		r := refs[0]
		if r.OrgID != orgID {
			return errNotAddressee
		}
		// a stale version first: whoever acted meanwhile may have changed the state
		if r.Version != version {
			return apperr.Stale()
		}
		clause, args, err := set(r)
		if err != nil {
			return err
		}
		n := len(args)
		args = append(args, s.now(), id, version)
		res, err := tx.ExecContext(ctx, `UPDATE referrals SET `+clause+fmt.Sprintf(`, updated_at = $%d, version = version + 1 WHERE id = $%d AND version = $%d`, n+1, n+2, n+3), args...)
		if err != nil {
			return fmt.Errorf("referral: %s: %w", action, err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return apperr.Stale()
		}
		return audit.Append(ctx, tx, u.Actor(), "referral."+action, "referral", fmt.Sprint(id), r.Region, map[string]any{"org": orgID, "from": r.State})
	})
	if err != nil {
		return nil, err
	}
	refs, err := s.list(ctx, `r.id = $1`, []any{id}, "r.id", false)
	if err != nil || len(refs) == 0 {
		return nil, fmt.Errorf("referral: reload: %w", err)
	}
	return refs[0], nil
}
