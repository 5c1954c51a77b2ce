package payroll

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/region"
)

// Recovery states.
const (
	RecoveryOpen       = "open"
	RecoverySettled    = "settled"
	RecoveryWOPending  = "writeoff_requested"
	RecoveryWrittenOff = "written_off"
)

// Recovery is a wrongly paid amount to recover (DB-44), with the fine decided.
type Recovery struct {
	ID           int64     `json:"id"`
	County       string    `json:"county"`
	Region       string    `json:"region"`
	PersonID     int64     `json:"person_id"`
	Name         string    `json:"name"`
	CaseID       int64     `json:"case_id,omitempty"`
	Reason       string    `json:"reason"`
	AmountDueFen int64     `json:"amount_due_fen"`
	FineFen      int64     `json:"fine_fen"`
	AllowOffset  bool      `json:"allow_offset"`
	OffsetMaxFen int64     `json:"offset_max_fen"`
	RepaidFen    int64     `json:"repaid_fen"`
	OffsetFen    int64     `json:"offset_fen"`
	WrittenOff   int64     `json:"written_off_fen"`
	Outstanding  int64     `json:"outstanding_fen"`
	State        string    `json:"state"`
	WriteoffBy   string    `json:"writeoff_by,omitempty"`
	WOReason     string    `json:"writeoff_reason,omitempty"`
	CreatedBy    string    `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	Version      int       `json:"version"`
}

// NewRecovery opens a recovery case.
type NewRecovery struct {
	PersonID     int64  `json:"person_id"`
	CaseID       int64  `json:"case_id"`
	Reason       string `json:"reason"`
	AmountDueFen int64  `json:"amount_due_fen"`
	// FineFen is 0 (no fine) or 1–3 times the amount due (DB-44).
	FineFen     int64 `json:"fine_fen"`
	AllowOffset bool  `json:"allow_offset"`
	// OffsetMaxFen caps what one month's payment may be reduced by (0: the whole payment).
	OffsetMaxFen int64 `json:"offset_max_fen"`
}

const recoveryCols = `r.id, r.county_code, r.region_code, r.person_id, p.name, COALESCE(r.case_id, 0), r.reason, r.amount_due_fen, r.fine_fen, r.allow_offset,
	r.offset_max_fen, r.state, r.writeoff_by, r.writeoff_reason, r.created_by, r.created_at, r.version,
	COALESCE((SELECT SUM(CASE WHEN e.kind = 'repayment' THEN e.amount_fen ELSE 0 END) FROM recovery_entries e WHERE e.recovery_id = r.id), 0),
	COALESCE((SELECT SUM(CASE WHEN e.kind = 'offset' THEN e.amount_fen ELSE 0 END) FROM recovery_entries e WHERE e.recovery_id = r.id), 0),
	COALESCE((SELECT SUM(CASE WHEN e.kind = 'writeoff' THEN e.amount_fen ELSE 0 END) FROM recovery_entries e WHERE e.recovery_id = r.id), 0)`

func scanRecovery(row interface{ Scan(...any) error }) (*Recovery, error) {
	var r Recovery
	if err := row.Scan(&r.ID, &r.County, &r.Region, &r.PersonID, &r.Name, &r.CaseID, &r.Reason, &r.AmountDueFen, &r.FineFen, &r.AllowOffset,
		&r.OffsetMaxFen, &r.State, &r.WriteoffBy, &r.WOReason, &r.CreatedBy, &r.CreatedAt, &r.Version, &r.RepaidFen, &r.OffsetFen, &r.WrittenOff); err != nil {
		return nil, err
	}
	r.Outstanding = r.AmountDueFen + r.FineFen - r.RepaidFen - r.OffsetFen - r.WrittenOff
	return &r, nil
}

// OpenRecovery records a wrong payment to recover.
func (s *Service) OpenRecovery(ctx context.Context, u *auth.User, in NewRecovery) (*Recovery, error) {
	if !u.Can(auth.PayrollLedger) {
		return nil, apperr.Forbidden("您的角色不能登记追缴")
	}
	if in.AmountDueFen <= 0 {
		return nil, apperr.Invalid("amount_due_fen", "invalid_amount", "应追缴金额须大于0")
	}
	if in.FineFen != 0 && (in.FineFen < in.AmountDueFen || in.FineFen > 3*in.AmountDueFen) {
		return nil, apperr.Invalid("fine_fen", "fine_range", "罚款应为冒领金额的1倍以上3倍以下（《社会救助暂行办法》第六十八条），不罚款填0")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, apperr.Invalid("reason", "reason_required", "请写明追缴原因")
	}
	if in.OffsetMaxFen < 0 {
		return nil, apperr.Invalid("offset_max_fen", "invalid_amount", "每月抵扣上限不能为负数")
	}
	var id int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = s.OpenRecoveryTx(ctx, tx, u, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Recovery(ctx, u, id)
}

// OpenRecoveryTx records a recovery of a person in u's scope inside the
// caller's transaction, for decisions taken elsewhere whose recovery must
// stand or fall with them (an inspector's confirmed finding). Permission and
// amount checks are the caller's.
func (s *Service) OpenRecoveryTx(ctx context.Context, tx *sql.Tx, u *auth.User, in NewRecovery) (int64, error) {
	var reg string
	if err := tx.QueryRowContext(ctx, `SELECT region_code FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, in.PersonID, u.Scope()).Scan(&reg); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, apperr.NotFound("该人员不存在或不在您的管辖范围内")
		}
		return 0, err
	}
	var cid any
	if in.CaseID != 0 {
		cid = in.CaseID
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO recoveries (county_code, region_code, person_id, case_id, reason, amount_due_fen, fine_fen, allow_offset, offset_max_fen,
		state, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id`, region.Pad(reg[:6]), reg, in.PersonID, cid, in.Reason, in.AmountDueFen, in.FineFen,
		in.AllowOffset, in.OffsetMaxFen, RecoveryOpen, u.Username, s.now()).Scan(&id); err != nil {
		return 0, fmt.Errorf("payroll: open recovery: %w", err)
	}
	return id, audit.Append(ctx, tx, u.Actor(), "payroll.recovery_open", "recovery", fmt.Sprint(id), reg, in)
}

// Recovery loads one recovery in scope.
func (s *Service) Recovery(ctx context.Context, u *auth.User, id int64) (*Recovery, error) {
	r, err := scanRecovery(s.DB.QueryRowContext(ctx, `SELECT `+recoveryCols+` FROM recoveries r JOIN persons p ON p.id = r.person_id
		WHERE r.id = $1 AND r.region_code LIKE $2 || '%'`, id, u.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("该追缴记录不存在或不在您的管辖范围内")
	}
	return r, err
}

// Recoveries lists the recoveries in scope.
func (s *Service) Recoveries(ctx context.Context, u *auth.User) ([]*Recovery, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+recoveryCols+` FROM recoveries r JOIN persons p ON p.id = r.person_id
		WHERE r.region_code LIKE $1 || '%' ORDER BY r.id DESC LIMIT 500`, u.Scope())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Recovery
	for rows.Next() {
		r, err := scanRecovery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Repay records a repayment; the recovery settles when nothing is outstanding.
func (s *Service) Repay(ctx context.Context, u *auth.User, id int64, amountFen int64, reference string) (*Recovery, error) {
	if !u.Can(auth.PayrollLedger) {
		return nil, apperr.Forbidden("您的角色不能登记追缴")
	}
	r, err := s.Recovery(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if r.State != RecoveryOpen {
		return nil, apperr.Conflict("recovery_state", "该追缴已结清、已核销或正在核销审批中")
	}
	if amountFen <= 0 || amountFen > r.Outstanding {
		return nil, apperr.Invalid("amount_fen", "invalid_amount", fmt.Sprintf("缴回金额须大于0且不超过未缴金额 %.2f 元", float64(r.Outstanding)/100))
	}
	if strings.TrimSpace(reference) == "" {
		return nil, apperr.Invalid("reference", "reference_required", "请填写缴款凭证号")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.bumpRecovery(ctx, tx, r); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_entries (recovery_id, kind, amount_fen, reference, username, created_at) VALUES ($1,'repayment',$2,$3,$4,$5)`,
			id, amountFen, reference, u.Username, s.now()); err != nil {
			return err
		}
		if amountFen == r.Outstanding {
			if _, err := tx.ExecContext(ctx, `UPDATE recoveries SET state = $1 WHERE id = $2`, RecoverySettled, id); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.recovery_repay", "recovery", fmt.Sprint(id), r.Region, map[string]any{"amount_fen": amountFen, "reference": reference})
	})
	if err != nil {
		return nil, err
	}
	return s.Recovery(ctx, u, id)
}

func (s *Service) bumpRecovery(ctx context.Context, tx *sql.Tx, r *Recovery) error {
	res, err := tx.ExecContext(ctx, `UPDATE recoveries SET version = version + 1 WHERE id = $1 AND version = $2`, r.ID, r.Version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Stale()
	}
	return nil
}

// RequestWriteOff asks to write off what is outstanding; a second person approves it.
func (s *Service) RequestWriteOff(ctx context.Context, u *auth.User, id int64, reason string) (*Recovery, error) {
	if !u.Can(auth.PayrollLedger) {
		return nil, apperr.Forbidden("您的角色不能申请核销")
	}
	r, err := s.Recovery(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if r.State != RecoveryOpen {
		return nil, apperr.Conflict("recovery_state", "只有未结清的追缴可以申请核销")
	}
	if strings.TrimSpace(reason) == "" {
		return nil, apperr.Invalid("reason", "reason_required", "请写明核销理由（如当事人死亡且无遗产）")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.bumpRecovery(ctx, tx, r); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE recoveries SET state = $1, writeoff_by = $2, writeoff_reason = $3 WHERE id = $4`, RecoveryWOPending, u.Username, reason, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.recovery_writeoff_request", "recovery", fmt.Sprint(id), r.Region, map[string]any{"reason": reason, "outstanding_fen": r.Outstanding})
	})
	if err != nil {
		return nil, err
	}
	return s.Recovery(ctx, u, id)
}

// DecideWriteOff approves or refuses a requested write-off; the approver
// must not be the one who asked.
func (s *Service) DecideWriteOff(ctx context.Context, u *auth.User, id int64, approve bool) (*Recovery, error) {
	if !u.Can(auth.PayrollApprove) {
		return nil, apperr.Forbidden("您的角色不能审批核销")
	}
	r, err := s.Recovery(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if r.State != RecoveryWOPending {
		return nil, apperr.Conflict("recovery_state", "该追缴没有待审批的核销申请")
	}
	if r.WriteoffBy == u.Username {
		return nil, apperr.Forbidden("核销须由申请人以外的另一名工作人员审批")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.bumpRecovery(ctx, tx, r); err != nil {
			return err
		}
		state := RecoveryOpen
		if approve {
			state = RecoveryWrittenOff
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_entries (recovery_id, kind, amount_fen, reference, username, created_at) VALUES ($1,'writeoff',$2,$3,$4,$5)`,
				id, r.Outstanding, r.WOReason, u.Username, s.now()); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE recoveries SET state = $1 WHERE id = $2`, state, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.recovery_writeoff_decide", "recovery", fmt.Sprint(id), r.Region, map[string]any{"approve": approve, "amount_fen": r.Outstanding})
	})
	if err != nil {
		return nil, err
	}
	return s.Recovery(ctx, u, id)
}

// RecoveryTotal sums a county's recoveries.
type RecoveryTotal struct {
	County      string `json:"county"`
	Count       int    `json:"count"`
	DueFen      int64  `json:"due_fen"`
	FineFen     int64  `json:"fine_fen"`
	RepaidFen   int64  `json:"repaid_fen"`
	OffsetFen   int64  `json:"offset_fen"`
	WrittenOff  int64  `json:"written_off_fen"`
	Outstanding int64  `json:"outstanding_fen"`
}

// RecoveryTotals sums the recoveries per county in scope.
func (s *Service) RecoveryTotals(ctx context.Context, u *auth.User) ([]RecoveryTotal, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT r.county_code, COUNT(*), SUM(r.amount_due_fen), SUM(r.fine_fen),
		COALESCE(SUM((SELECT SUM(CASE WHEN e.kind = 'repayment' THEN e.amount_fen ELSE 0 END) FROM recovery_entries e WHERE e.recovery_id = r.id)), 0),
		COALESCE(SUM((SELECT SUM(CASE WHEN e.kind = 'offset' THEN e.amount_fen ELSE 0 END) FROM recovery_entries e WHERE e.recovery_id = r.id)), 0),
		COALESCE(SUM((SELECT SUM(CASE WHEN e.kind = 'writeoff' THEN e.amount_fen ELSE 0 END) FROM recovery_entries e WHERE e.recovery_id = r.id)), 0)
		FROM recoveries r WHERE r.region_code LIKE $1 || '%' GROUP BY r.county_code ORDER BY r.county_code`, u.Scope())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecoveryTotal
	for rows.Next() {
		var t RecoveryTotal
		if err := rows.Scan(&t.County, &t.Count, &t.DueFen, &t.FineFen, &t.RepaidFen, &t.OffsetFen, &t.WrittenOff); err != nil {
			return nil, err
		}
		t.Outstanding = t.DueFen + t.FineFen - t.RepaidFen - t.OffsetFen - t.WrittenOff
		out = append(out, t)
	}
	return out, rows.Err()
}

// applyOffsets reduces this run's regular lines of people with an open
// recovery that allows offsets, in the run's finishing transaction.
func (s *Service) applyOffsets(ctx context.Context, tx *sql.Tx, run *Run) error {
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.offset_max_fen, r.amount_due_fen + r.fine_fen -
			COALESCE((SELECT SUM(e.amount_fen) FROM recovery_entries e WHERE e.recovery_id = r.id), 0), l.id, l.amount_fen - l.offset_fen
		FROM recoveries r JOIN payment_lines l ON l.person_id = r.person_id AND l.run_id = $1 AND l.kind = 'regular' AND l.status IN ('pending', 'no_account')
		WHERE r.county_code = $2 AND r.state = 'open' AND r.allow_offset ORDER BY r.id, l.id`, run.ID, run.County)
	if err != nil {
		return fmt.Errorf("payroll: offsets: %w", err)
	}
	type off struct{ rec, line, amount, left int64 }
	var todo []off
	left := map[int64]int64{}
	lineLeft := map[int64]int64{}
	for rows.Next() {
		var rec, max, outstanding, line, net int64
		if err := rows.Scan(&rec, &max, &outstanding, &line, &net); err != nil {
			rows.Close()
			return err
		}
		if _, ok := left[rec]; !ok {
			left[rec] = outstanding
		}
		if _, ok := lineLeft[line]; !ok {
			lineLeft[line] = net
		}
		a := min(left[rec], lineLeft[line])
		if max > 0 {
			a = min(a, max)
		}
		if a <= 0 {
			continue
		}
		left[rec] -= a
		lineLeft[line] -= a
		todo = append(todo, off{rec, line, a, left[rec]})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range todo {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_entries (recovery_id, kind, amount_fen, line_id, reference, username, created_at) VALUES ($1,'offset',$2,$3,$4,$5,$6)`,
			o.rec, o.amount, o.line, "发放批次 "+run.Month+" 抵扣", run.MadeBy, s.now()); err != nil {
			return fmt.Errorf("payroll: offset: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payment_lines SET offset_fen = offset_fen + $1,
			status = CASE WHEN amount_fen - offset_fen - $1 <= 0 THEN 'offset' ELSE status END WHERE id = $2`, o.amount, o.line); err != nil {
			return err
		}
		if o.left == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE recoveries SET state = 'settled' WHERE id = $1`, o.rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecoveryEntry is one movement of a recovery: a repayment, an offset against
// a payment line, or the write-off.
type RecoveryEntry struct {
	Kind      string    `json:"kind"`
	AmountFen int64     `json:"amount_fen"`
	LineID    int64     `json:"line_id,omitempty"`
	Reference string    `json:"reference"`
	Username  string    `json:"username"`
	At        time.Time `json:"at"`
}

// RecoveryEntries lists a recovery's movements in order.
func (s *Service) RecoveryEntries(ctx context.Context, u *auth.User, id int64) ([]RecoveryEntry, error) {
	if _, err := s.Recovery(ctx, u, id); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT kind, amount_fen, COALESCE(line_id, 0), reference, username, created_at
		FROM recovery_entries WHERE recovery_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("payroll: recovery entries: %w", err)
	}
	defer rows.Close()
	var out []RecoveryEntry
	for rows.Next() {
		var e RecoveryEntry
		if err := rows.Scan(&e.Kind, &e.AmountFen, &e.LineID, &e.Reference, &e.Username, &e.At); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
