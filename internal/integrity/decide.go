package integrity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/db"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// Entry is one anomaly with its decision.
type Entry struct {
	ID         int64      `json:"id"`
	List       string     `json:"list"`
	ListLabel  string     `json:"list_label"`
	Key        string     `json:"key"`
	Region     string     `json:"region"`
	County     string     `json:"county"`
	Household  int64      `json:"household_id,omitempty"`
	Case       int64      `json:"case_id,omitempty"`
	Person     int64      `json:"-"`
	AmountFen  int64      `json:"amount_fen"`
	Evidence   Evidence   `json:"evidence"`
	Present    bool       `json:"present"`
	FirstSeen  time.Time  `json:"first_seen"`
	LastSeen   time.Time  `json:"last_seen"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason,omitempty"`
	Fraud      bool       `json:"fraud"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	RecoveryID int64      `json:"recovery_id,omitempty"`
	CreditID   int64      `json:"credit_id,omitempty"`
	Version    int        `json:"version"`
	Decisions  []Decision `json:"decisions,omitempty"`
}

// Decision is one recorded decision on an entry.
type Decision struct {
	Status    string    `json:"status"`
	Reason    string    `json:"reason"`
	Fraud     bool      `json:"fraud"`
	AmountFen int64     `json:"amount_fen"`
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	At        time.Time `json:"at"`
}

const entryCols = `id, list, entry_key, region_code, county_code, COALESCE(household_id, 0), COALESCE(case_id, 0), COALESCE(person_id, 0), amount_fen, evidence,
	present, first_seen, last_seen, status, reason, fraud, decided_by, decided_at, COALESCE(recovery_id, 0), COALESCE(credit_id, 0), version`

func scanEntry(scan func(...any) error) (*Entry, error) {
	var e Entry
	var ev string
	var at sql.NullTime
	if err := scan(&e.ID, &e.List, &e.Key, &e.Region, &e.County, &e.Household, &e.Case, &e.Person, &e.AmountFen, &ev, &e.Present, &e.FirstSeen, &e.LastSeen,
		&e.Status, &e.Reason, &e.Fraud, &e.DecidedBy, &at, &e.RecoveryID, &e.CreditID, &e.Version); err != nil {
		return nil, err
	}
	if at.Valid {
		e.DecidedAt = &at.Time
	}
	e.ListLabel = ListLabel(e.List)
	if err := json.Unmarshal([]byte(ev), &e.Evidence); err != nil {
		return nil, fmt.Errorf("integrity: entry %d evidence: %w", e.ID, err)
	}
	return &e, nil
}

// Query selects entries.
type Query struct {
	List   string
	Status string // "" all, or a status
	Region string // narrows the user's scope
	All    bool   // include entries no longer found by the latest run
	Limit  int
}

// Count is a list's entries by status, for the overview.
type Count struct {
	List  string `json:"list"`
	Label string `json:"label"`
	Open  int    `json:"open"`
	Total int    `json:"total"`
}

func (s *Service) scope(u *auth.User, narrow string) (string, error) {
	if !u.Can(auth.IntegrityRead) {
		return "", apperr.Forbidden("您的角色不能查看异常线索")
	}
	if narrow == "" {
		return u.Scope(), nil
	}
	if _, ok := s.Tree.Get(narrow); !ok || !region.Within(u.Region, narrow) {
		return "", apperr.Forbidden("所选地区不在您的管辖范围内")
	}
	return region.ScopePrefix(narrow), nil
}

// Counts gives the number of present entries per list in the user's scope.
func (s *Service) Counts(ctx context.Context, u *auth.User, narrow string) ([]Count, error) {
	prefix, err := s.scope(u, narrow)
	if err != nil {
		return nil, err
	}
	got := map[string]*Count{}
	err = db.Each(ctx, s.DB, `SELECT list, SUM(CASE WHEN status IN ('open', 'referred') THEN 1 ELSE 0 END), COUNT(*) FROM integrity_entries
		WHERE region_code LIKE $1 || '%' AND present GROUP BY list`, []any{prefix}, func(scan func(...any) error) error {
		var c Count
		if err := scan(&c.List, &c.Open, &c.Total); err != nil {
			return err
		}
		got[c.List] = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Count, 0, len(Lists))
	for _, l := range Lists {
		c := Count{List: l.Value, Label: l.Label}
		if g := got[l.Value]; g != nil {
			c.Open, c.Total = g.Open, g.Total
		}
		out = append(out, c)
	}
	return out, nil
}

// Entries lists the entries in the user's scope; the read is audited (the
// evidence names people).
func (s *Service) Entries(ctx context.Context, u *auth.User, q Query) ([]*Entry, error) {
	prefix, err := s.scope(u, q.Region)
	if err != nil {
		return nil, err
	}
	sqlq := `SELECT ` + entryCols + ` FROM integrity_entries WHERE region_code LIKE $1 || '%'`
	args := []any{prefix}
	if q.List != "" {
		args = append(args, q.List)
		sqlq += ` AND list = $` + strconv.Itoa(len(args))
	}
	if q.Status != "" {
		args = append(args, q.Status)
		sqlq += ` AND status = $` + strconv.Itoa(len(args))
	}
	if !q.All {
		sqlq += ` AND present`
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	sqlq += ` ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'referred' THEN 1 ELSE 2 END, id LIMIT ` + strconv.Itoa(limit)
	var out []*Entry
	err = db.Each(ctx, s.DB, sqlq, args, func(scan func(...any) error) error {
		e, err := scanEntry(scan)
		if err == nil {
			out = append(out, e)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "integrity.list", "integrity_list", q.List, region.Pad(prefix), map[string]any{"status": q.Status, "entries": len(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// Get loads one entry in scope with its decisions; the read is audited.
func (s *Service) Get(ctx context.Context, u *auth.User, id int64) (*Entry, error) {
	prefix, err := s.scope(u, "")
	if err != nil {
		return nil, err
	}
	e, err := s.entry(ctx, s.DB, id, prefix)
	if err != nil {
		return nil, err
	}
	err = db.Each(ctx, s.DB, `SELECT status, reason, fraud, amount_fen, username, role, at FROM integrity_decisions WHERE entry_id = $1 ORDER BY id`, []any{id},
		func(scan func(...any) error) error {
			var d Decision
			if err := scan(&d.Status, &d.Reason, &d.Fraud, &d.AmountFen, &d.Username, &d.Role, &d.At); err != nil {
				return err
			}
			e.Decisions = append(e.Decisions, d)
			return nil
		})
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "integrity.read", "integrity_entry", strconv.FormatInt(id, 10), e.Region, nil); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *Service) entry(ctx context.Context, q db.Querier, id int64, prefix string) (*Entry, error) {
	var e *Entry
	err := db.Each(ctx, q, `SELECT `+entryCols+` FROM integrity_entries WHERE id = $1 AND region_code LIKE $2 || '%'`, []any{id, prefix}, func(scan func(...any) error) error {
		var err error
		e, err = scanEntry(scan)
		return err
	})
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, apperr.NotFound("该线索不存在或不在您的管辖范围内")
	}
	return e, nil
}

// DecisionInput is an inspector's decision on an entry.
type DecisionInput struct {
	Status string `json:"status"` // explained | referred | confirmed
	Reason string `json:"reason"`
	// Fraud (only with confirmed) also records a credit record.
	Fraud bool `json:"fraud"`
	// AmountFen is the wrongly paid amount to recover on confirmation; 0
	// takes the amount the list computed.
	AmountFen int64 `json:"amount_fen"`
	Version   int   `json:"version"`
}

// Decide records an inspector's decision. A reason is always required.
// Confirming starts a recovery of the wrongly paid amount from the person
// concerned and, for fraud, a credit record, in the same transaction.
// A confirmed entry is final.
func (s *Service) Decide(ctx context.Context, u *auth.User, id int64, in DecisionInput) (*Entry, error) {
	if !u.Can(auth.IntegrityDecide) {
		return nil, apperr.Forbidden("您的角色不能处理异常线索")
	}
	in.Reason = strings.TrimSpace(in.Reason)
	switch in.Status {
	case StatusExplained, StatusReferred, StatusConfirmed:
	default:
		return nil, apperr.Invalid("status", "invalid_status", "请选择处理结果：已说明、移送调查或查实")
	}
	if in.Reason == "" {
		return nil, apperr.Invalid("reason", "reason_required", "请写明处理理由（核查经过、依据或移送单位）")
	}
	if in.Fraud && in.Status != StatusConfirmed {
		return nil, apperr.Invalid("fraud", "fraud_needs_confirm", "只有查实的线索才能认定为骗取救助")
	}
	if in.AmountFen < 0 {
		return nil, apperr.Invalid("amount_fen", "invalid_amount", "追缴金额不能为负数")
	}
	// without the version the caller read, a decision could overwrite one it
	// never saw
	if in.Version <= 0 {
		return nil, apperr.Invalid("version", "version_required", "缺少版本号，请刷新页面后重新提交")
	}
	var out *Entry
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		e, err := s.entry(ctx, tx, id, u.Scope())
		if err != nil {
			return err
		}
		if in.Version != e.Version {
			return apperr.Stale()
		}
		if e.Status == StatusConfirmed {
			return apperr.Conflict("entry_confirmed", "该线索已查实并启动追缴，不能再更改处理结果")
		}
		amount := in.AmountFen
		if amount == 0 {
			amount = e.AmountFen
		}
		var recID, creditID any
		if in.Status == StatusConfirmed {
			if (in.Fraud || amount > 0) && e.Person == 0 {
				return apperr.Invalid("status", "no_person", "该线索不涉及具体救助对象（如审批人员行为），查实后请移送有关部门处理，不能追缴或记入失信记录；如需追缴请按户分别办理")
			}
			today := calendar.Day(s.now().In(calendar.China)).Format(time.DateOnly)
			if amount > 0 {
				rid, err := s.openRecovery(ctx, tx, u, e, amount)
				if err != nil {
					return err
				}
				recID = rid
			}
			if in.Fraud {
				cid, err := s.Credit.CreateTx(ctx, tx, u.Actor(), credit.New{PersonID: e.Person, What: "骗取社会救助：" + ListLabel(e.List) + "。" + in.Reason,
					AmountFen: amount, DecisionRef: fmt.Sprintf("JJ-%s-%d", today[:4], e.ID), DecidedOn: today})
				if err != nil {
					return err
				}
				creditID = cid
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE integrity_entries SET status = $1, reason = $2, fraud = $3, decided_by = $4, decided_at = $5,
			recovery_id = COALESCE($6, recovery_id), credit_id = COALESCE($7, credit_id), version = version + 1 WHERE id = $8 AND version = $9`,
			in.Status, in.Reason, in.Fraud, u.Username, s.now(), recID, creditID, id, e.Version)
		if err != nil {
			return fmt.Errorf("integrity: decide: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO integrity_decisions (entry_id, status, reason, fraud, amount_fen, username, role, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
			id, in.Status, in.Reason, in.Fraud, amount, u.Username, string(u.Role), s.now()); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, u.Actor(), "integrity.decide", "integrity_entry", strconv.FormatInt(id, 10), e.Region,
			map[string]any{"status": in.Status, "fraud": in.Fraud, "amount_fen": amount, "recovery_id": recID, "credit_id": creditID}); err != nil {
			return err
		}
		out, err = s.entry(ctx, tx, id, u.Scope())
		return err
	})
	return out, err
}

// openRecovery opens the recovery (DB-44) of a confirmed entry in the
// decision's transaction: a discipline inspector starts recoveries without
// keeping the ledger, and a decision and its recovery commit together.
// Payroll then keeps it like any other recovery. The reason names the list
// and the entry but not the inspector's text: payroll writes the reason into
// its audit entry, and the text stays in integrity_decisions.
func (s *Service) openRecovery(ctx context.Context, tx *sql.Tx, u *auth.User, e *Entry, amount int64) (int64, error) {
	why := "纪检监察查实（" + ListLabel(e.List) + "，线索 " + strconv.FormatInt(e.ID, 10) + "，处理理由见该线索）"
	return s.Payroll.OpenRecoveryTx(ctx, tx, u, payroll.NewRecovery{PersonID: e.Person, CaseID: e.Case, Reason: why, AmountDueFen: amount})
}

// RunFor runs every list over the user's scope (the page's "重新计算").
func (s *Service) RunFor(ctx context.Context, u *auth.User) (*RunSummary, error) {
	if !u.Can(auth.IntegrityDecide) {
		return nil, apperr.Forbidden("您的角色不能重新计算异常线索")
	}
	sum, err := s.Run(ctx, u.Region, u.Username)
	if err != nil {
		return nil, err
	}
	return sum, audit.Record(ctx, s.DB, u.Actor(), "integrity.run", "integrity_run", strconv.FormatInt(sum.ID, 10), u.Region, sum.Lists)
}

// LastRun is when the lists were last computed (any scope), zero if never.
func (s *Service) LastRun(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := s.DB.QueryRowContext(ctx, `SELECT finished_at FROM integrity_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1`).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return at, err
}
