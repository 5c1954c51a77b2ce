package payroll

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// PurchasedServices is the budget line for purchased services (政府购买服务),
// capped at 2% of the county's assistance funds of the year.
const PurchasedServices = "purchased_services"

// Fund is one programme's allocation and spending in a county and year.
type Fund struct {
	Programme    string `json:"programme"`
	AllocatedFen int64  `json:"allocated_fen"`
	SpentFen     int64  `json:"spent_fen"`
	LeftFen      int64  `json:"left_fen"`
}

// Allocate records funds allocated to a county for a programme and year. The
// purchased-services line may not pass 2% of the assistance funds.
func (s *Service) Allocate(ctx context.Context, u *auth.User, county, programme string, year int, amountFen int64, reference string) error {
	if !u.Can(auth.PayrollLedger) {
		return apperr.Forbidden("您的角色不能登记资金")
	}
	if err := s.checkCounty(u, county); err != nil {
		return err
	}
	if year < 2000 || year > 2100 {
		return apperr.Invalid("year", "invalid_year", "请填写年度")
	}
	if amountFen == 0 {
		return apperr.Invalid("amount_fen", "invalid_amount", "金额不能为0（调减请填写负数）")
	}
	if strings.TrimSpace(reference) == "" {
		return apperr.Invalid("reference", "reference_required", "请填写资金下达文号")
	}
	if strings.TrimSpace(programme) == "" {
		return apperr.Invalid("programme", "programme_required", "请选择救助项目")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, "funds:"+county); err != nil {
			return err
		}
		var assist, purchased int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN programme <> $3 THEN amount_fen ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN programme = $3 THEN amount_fen ELSE 0 END), 0) FROM fund_allocations WHERE county_code = $1 AND year = $2`,
			county, year, PurchasedServices).Scan(&assist, &purchased); err != nil {
			return err
		}
		if programme == PurchasedServices {
			purchased += amountFen
		} else {
			assist += amountFen
		}
		if purchased*50 > assist {
			return apperr.Invalid("amount_fen", "purchased_services_cap", fmt.Sprintf("购买服务经费不得超过困难群众救助资金的2%%（本年度救助资金 %.2f 元，上限 %.2f 元）",
				float64(assist)/100, float64(assist)/5000))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fund_allocations (county_code, programme, year, amount_fen, reference, username, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7)`, county, programme, year, amountFen, reference, u.Username, s.now()); err != nil {
			return fmt.Errorf("payroll: allocate: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.fund_allocate", "county", county, county,
			map[string]any{"programme": programme, "year": year, "amount_fen": amountFen, "reference": reference})
	})
}

// Spend records spending outside the runs (purchased services), within the line.
func (s *Service) Spend(ctx context.Context, u *auth.User, county, programme string, year int, amountFen int64, reference string) error {
	if !u.Can(auth.PayrollLedger) {
		return apperr.Forbidden("您的角色不能登记资金")
	}
	if err := s.checkCounty(u, county); err != nil {
		return err
	}
	if amountFen <= 0 || strings.TrimSpace(reference) == "" {
		return apperr.Invalid("amount_fen", "invalid_amount", "请填写支出金额和凭证号")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, "funds:"+county); err != nil {
			return err
		}
		var alloc, spent int64
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM fund_allocations WHERE county_code = $1 AND year = $2 AND programme = $3),
			(SELECT COALESCE(SUM(amount_fen), 0) FROM fund_spending WHERE county_code = $1 AND year = $2 AND programme = $3)`, county, year, programme).Scan(&alloc, &spent); err != nil {
			return err
		}
		if spent+amountFen > alloc {
			return apperr.Invalid("amount_fen", "beyond_funds", fmt.Sprintf("超出已下达资金（剩余 %.2f 元）", float64(alloc-spent)/100))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fund_spending (county_code, programme, year, amount_fen, reference, username, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7)`, county, programme, year, amountFen, reference, u.Username, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.fund_spend", "county", county, county, map[string]any{"programme": programme, "amount_fen": amountFen, "reference": reference})
	})
}

// Funds lists a county's allocations and spending per programme for a year.
func (s *Service) Funds(ctx context.Context, u *auth.User, county string, year int) ([]Fund, error) {
	if !region.Within(u.Region, county) && !region.Within(county, u.Region) {
		return nil, apperr.Forbidden("该县不在您的管辖范围内")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT programme, SUM(a), SUM(s) FROM (
			SELECT programme, amount_fen AS a, 0 AS s FROM fund_allocations WHERE county_code = $1 AND year = $2
			UNION ALL SELECT programme, 0, amount_fen FROM fund_spending WHERE county_code = $1 AND year = $2) t
		GROUP BY programme ORDER BY programme`, county, year)
	if err != nil {
		return nil, fmt.Errorf("payroll: funds: %w", err)
	}
	defer rows.Close()
	var out []Fund
	for rows.Next() {
		var f Fund
		if err := rows.Scan(&f.Programme, &f.AllocatedFen, &f.SpentFen); err != nil {
			return nil, err
		}
		f.LeftFen = f.AllocatedFen - f.SpentFen
		out = append(out, f)
	}
	return out, rows.Err()
}

// ReserveEntry is one movement of a township's reserve fund.
type ReserveEntry struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"` // replenish | advance | adjust
	AmountFen int64     `json:"amount_fen"`
	CaseID    int64     `json:"case_id,omitempty"`
	Reference string    `json:"reference"`
	Username  string    `json:"username"`
	At        time.Time `json:"at"`
}

// ReserveAdvance pays an emergency advance out of a township's reserve fund
// (LS-03, LS-04) inside the caller's transaction: casework calls it in the
// transaction that records the advance. It refuses an advance beyond the
// balance and a second advance entry for the same case.
func ReserveAdvance(ctx context.Context, d *db.DB, tx *sql.Tx, actor audit.Actor, township string, caseID, amountFen int64, reference string) error {
	if amountFen <= 0 {
		return apperr.Invalid("advance_fen", "invalid_amount", "先行救助金额须大于0")
	}
	if region.LevelOf(township) != region.Township {
		return apperr.Invalid("township", "not_township", "备用金按乡镇（街道）管理")
	}
	if err := d.LockKey(ctx, tx, "reserve:"+township); err != nil {
		return err
	}
	var bal int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM reserve_entries WHERE township_code = $1`, township).Scan(&bal); err != nil {
		return fmt.Errorf("payroll: reserve balance: %w", err)
	}
	if bal < amountFen {
		return apperr.Invalid("advance_fen", "reserve_insufficient", fmt.Sprintf("乡镇备用金余额不足（余额 %.2f 元），请先申请县级拨付补充", float64(bal)/100))
	}
	var cid any
	if caseID != 0 {
		cid = caseID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO reserve_entries (township_code, kind, amount_fen, case_id, reference, username, created_at)
		VALUES ($1, 'advance', $2, $3, $4, $5, $6)`, township, -amountFen, cid, reference, actor.Username, time.Now().UTC()); err != nil {
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("advance_recorded", "该案件的先行救助已从备用金支付")
		}
		return fmt.Errorf("payroll: reserve advance: %w", err)
	}
	return audit.Append(ctx, tx, actor, "payroll.reserve_advance", "township", township, township, map[string]any{"case_id": caseID, "amount_fen": amountFen})
}

// Advance is ReserveAdvance in a transaction of its own, for a township user.
func (s *Service) Advance(ctx context.Context, u *auth.User, township string, caseID, amountFen int64, reference string) error {
	if !u.Can(auth.PayrollReserve) || !region.Within(u.Region, township) {
		return apperr.Forbidden("您不能支用该乡镇的备用金")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		return ReserveAdvance(ctx, s.DB, tx, u.Actor(), township, caseID, amountFen, reference)
	})
}

// Replenish records money the county puts into a township's reserve fund
// (negative: taken back).
func (s *Service) Replenish(ctx context.Context, u *auth.User, township string, amountFen int64, reference string) error {
	if !u.Can(auth.PayrollLedger) || !region.Within(u.Region, township) {
		return apperr.Forbidden("县级资金审核人才能拨付乡镇备用金")
	}
	if region.LevelOf(township) != region.Township {
		return apperr.Invalid("township", "not_township", "请选择乡镇（街道）")
	}
	if amountFen == 0 || strings.TrimSpace(reference) == "" {
		return apperr.Invalid("amount_fen", "invalid_amount", "请填写拨付金额和文号")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, "reserve:"+township); err != nil {
			return err
		}
		kind := "replenish"
		if amountFen < 0 {
			kind = "adjust"
			var bal int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM reserve_entries WHERE township_code = $1`, township).Scan(&bal); err != nil {
				return err
			}
			if bal+amountFen < 0 {
				return apperr.Invalid("amount_fen", "reserve_insufficient", "收回金额超过备用金余额")
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reserve_entries (township_code, kind, amount_fen, reference, username, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
			township, kind, amountFen, reference, u.Username, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.reserve_"+kind, "township", township, township, map[string]any{"amount_fen": amountFen, "reference": reference})
	})
}

// Reserve returns a township's balance and its movements, newest first.
func (s *Service) Reserve(ctx context.Context, u *auth.User, township string) (int64, []ReserveEntry, error) {
	if !region.Within(u.Region, township) && !region.Within(township, u.Region) {
		return 0, nil, apperr.Forbidden("该乡镇不在您的管辖范围内")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, kind, amount_fen, COALESCE(case_id, 0), reference, username, created_at FROM reserve_entries
		WHERE township_code = $1 ORDER BY id DESC`, township)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var bal int64
	var out []ReserveEntry
	for rows.Next() {
		var e ReserveEntry
		if err := rows.Scan(&e.ID, &e.Kind, &e.AmountFen, &e.CaseID, &e.Reference, &e.Username, &e.At); err != nil {
			return 0, nil, err
		}
		bal += e.AmountFen
		out = append(out, e)
	}
	return bal, out, rows.Err()
}
