package payroll

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
)

// The price-linkage subsidy (价格临时补贴, domain.md §7) is paid in the run of
// month M when the province's index of month M-1 (released during M)
// reaches a threshold: per covered person, the dibao standard times the
// rise, rounded to whole yuan (PL-02, PL-06). Each run records the rates it
// used, per hukou and programme, with their reasoning.

// Params resolves dated regional rule parameters (policydb.Store).
type Params interface {
	Resolve(ctx context.Context, name, regionCode string, date time.Time) (policy.Value, error)
}

// PriceIndex is one month's year-on-year price rises, in hundredths of a percent.
type PriceIndex struct {
	Month      string    `json:"month"`
	CPIBP      int64     `json:"cpi_bp"`
	FoodBP     int64     `json:"food_bp"`
	ReleasedOn string    `json:"released_on"`
	EnteredBy  string    `json:"entered_by"`
	EnteredAt  time.Time `json:"entered_at"`
}

// PaysIn is the payroll month that pays on this index (the month after it).
func (p PriceIndex) PaysIn() string {
	t, _ := time.Parse("2006-01", p.Month)
	return t.AddDate(0, 1, 0).Format("2006-01")
}

// PriceRate is a run's rate for one hukou and programme.
type PriceRate struct {
	Hukou        string `json:"hukou"`
	Programme    string `json:"programme"`
	IndexMonth   string `json:"index_month"`
	PerPersonFen int64  `json:"per_person_fen"`
	Basis        string `json:"basis"`
}

// EnterPriceIndex records (or corrects) a month's indices. Only the province
// enters them, and not once a run that used them has been approved.
func (s *Service) EnterPriceIndex(ctx context.Context, u *auth.User, month string, cpiPct, foodPct float64, releasedOn string) (*PriceIndex, error) {
	if !u.Can(auth.PolicySchedule) || region.LevelOf(u.Region) != region.Province {
		return nil, apperr.Forbidden("物价指数由省级民政部门录入")
	}
	if err := checkMonth(month); err != nil {
		return nil, err
	}
	released, err := time.Parse(time.DateOnly, releasedOn)
	if err != nil {
		return nil, apperr.Invalid("released_on", "bad_date", "发布日期格式应为 YYYY-MM-DD")
	}
	first, _ := time.Parse("2006-01", month)
	today := s.now().In(calendar.China).Format(time.DateOnly)
	if released.Before(first.AddDate(0, 1, 0)) || releasedOn > today {
		return nil, apperr.Invalid("released_on", "bad_release", "发布日期应在指数所属月份之后，且不晚于今天")
	}
	for field, v := range map[string]float64{"cpi": cpiPct, "food": foodPct} {
		if math.IsNaN(v) || v < -50 || v > 100 {
			return nil, apperr.Invalid(field, "bad_index", "同比涨幅应在 -50% 到 100% 之间")
		}
	}
	p := &PriceIndex{Month: month, CPIBP: int64(math.Round(cpiPct * 100)), FoodBP: int64(math.Round(foodPct * 100)),
		ReleasedOn: releasedOn, EnteredBy: u.Username, EnteredAt: s.now()}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		used, err := scalarInt(ctx, tx, `SELECT COUNT(*) FROM payroll_price_rates r JOIN payroll_runs pr ON pr.id = r.run_id
			WHERE r.index_month = $1 AND pr.state = 'approved'`, month)
		if err != nil {
			return err
		}
		if used > 0 {
			return apperr.Conflict("index_used", "该月物价指数已用于已批准的发放批次，不能再修改")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM price_indices WHERE month = $1`, month); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO price_indices (month, cpi_bp, food_bp, released_on, entered_by, entered_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.Month, p.CPIBP, p.FoodBP, p.ReleasedOn, p.EnteredBy, p.EnteredAt); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.price_index", "price_index", month, u.Region,
			map[string]any{"cpi_bp": p.CPIBP, "food_bp": p.FoodBP, "released_on": releasedOn})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// PriceIndices lists the entered indices, newest first.
func (s *Service) PriceIndices(ctx context.Context) ([]PriceIndex, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT month, cpi_bp, food_bp, released_on, entered_by, entered_at FROM price_indices ORDER BY month DESC LIMIT 36`)
	if err != nil {
		return nil, fmt.Errorf("payroll: price indices: %w", err)
	}
	defer rows.Close()
	var out []PriceIndex
	for rows.Next() {
		var p PriceIndex
		if err := rows.Scan(&p.Month, &p.CPIBP, &p.FoodBP, &p.ReleasedOn, &p.EnteredBy, &p.EnteredAt); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PriceRates are the rates a run used.
func (s *Service) PriceRates(ctx context.Context, u *auth.User, runID int64) ([]PriceRate, error) {
	if _, err := s.Get(ctx, u, runID); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT hukou, programme, index_month, per_person_fen, basis FROM payroll_price_rates WHERE run_id = $1 ORDER BY hukou DESC, programme`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PriceRate
	for rows.Next() {
		var r PriceRate
		if err := rows.Scan(&r.Hukou, &r.Programme, &r.IndexMonth, &r.PerPersonFen, &r.Basis); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// priceProgrammes are always covered (PL-01); children's programmes and
// marginal households follow the price.covers.* parameters.
var priceProgrammes = []string{"dibao", "tekun"}

// setPriceRates records the run's rates, once, before its first batch.
// Without Params (a payroll service outside the server) no subsidy is paid.
func (s *Service) setPriceRates(ctx context.Context, tx *sql.Tx, r *Run) error {
	if s.Params == nil {
		return nil
	}
	indexMonth := prevMonth(r.Month)
	var idx PriceIndex
	err := tx.QueryRowContext(ctx, `SELECT cpi_bp, food_bp, released_on FROM price_indices WHERE month = $1`, indexMonth).Scan(&idx.CPIBP, &idx.FoodBP, &idx.ReleasedOn)
	missing := errors.Is(err, sql.ErrNoRows)
	if err != nil && !missing {
		return fmt.Errorf("payroll: price index: %w", err)
	}
	on, _ := time.Parse("2006-01", r.Month)
	val := func(name string) (policy.Value, error) { return s.Params.Resolve(ctx, name, r.County, on) }
	programmes := priceProgrammes
	for name, progs := range map[string][]string{"price.covers.children": {"orphan", "unattended_child"}, "price.covers.marginal": {"marginal"}} {
		v, err := val(name)
		if err != nil {
			return fmt.Errorf("payroll: %s: %w", name, err)
		}
		if v.Bool {
			programmes = append(programmes, progs...)
		}
	}
	insert := func(hukou, programme string, per int64, basis string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO payroll_price_rates (run_id, hukou, programme, index_month, per_person_fen, basis) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (run_id, hukou, programme) DO NOTHING`, r.ID, hukou, programme, indexMonth, per, basis)
		return err
	}
	for _, hukou := range []string{"urban", "rural"} {
		var per int64
		var basis string
		if missing {
			basis = "未录入 " + indexMonth + " 物价指数，本月不发放价格临时补贴"
		} else {
			params := map[string]policy.Value{}
			for _, name := range []string{"dibao.standard." + hukou, "price.threshold.cpi", "price.threshold.food", "price.multiplier", "price.minimum"} {
				if params[name], err = val(name); err != nil {
					return fmt.Errorf("payroll: %s: %w", name, err)
				}
			}
			std := params["dibao.standard."+hukou].Fen()
			rate := calc.PriceRateOf(std, idx.CPIBP, idx.FoodBP, params["price.threshold.cpi"].Ratio, params["price.threshold.food"].Ratio,
				params["price.multiplier"].Ratio, params["price.minimum"].Fen())
			per = int64(rate.PerPersonFen)
			basis = fmt.Sprintf("%s CPI 同比 %s（启动条件 %s）、食品 %s（启动条件 %s）", indexMonth, Percent(idx.CPIBP), ratioPct(params["price.threshold.cpi"].Ratio),
				Percent(idx.FoodBP), ratioPct(params["price.threshold.food"].Ratio))
			switch rate.Index {
			case "":
				basis += "：未达到启动条件，本月不发放"
			default:
				bp := map[string]int64{"cpi": idx.CPIBP, "food": idx.FoodBP}[rate.Index]
				basis += fmt.Sprintf("：按%s，%s低保标准 %s 元 × %s，每人每月 %s 元", map[string]string{"cpi": "居民消费价格指数", "food": "食品价格指数"}[rate.Index],
					map[string]string{"urban": "城市", "rural": "农村"}[hukou], std, Percent(bp), money.Fen(per))
				if m := params["price.multiplier"].Ratio; m.Num != m.Den {
					basis += "（含阶段性 " + m.String() + " 倍）"
				}
			}
		}
		for _, prog := range programmes {
			if err := insert(hukou, prog, per, basis); err != nil {
				return fmt.Errorf("payroll: price rates: %w", err)
			}
		}
	}
	return nil
}

// Percent shows hundredths of a percent as a percentage: 360 → "3.60%".
func Percent(bp int64) string {
	sign := ""
	if bp < 0 {
		sign, bp = "-", -bp
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bp/100, bp%100)
}

func ratioPct(r policy.Ratio) string { return Percent(r.Num * 10000 / r.Den) }

func scalarInt(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}
