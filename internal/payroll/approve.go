package payroll

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
)

// Total is the sum of lines of one programme (and township).
type Total struct {
	Programme string `json:"programme"`
	Township  string `json:"township,omitempty"`
	Lines     int64  `json:"lines"`
	AmountFen int64  `json:"amount_fen"`
	OffsetFen int64  `json:"offset_fen"`
	Held      int64  `json:"held"` // lines without a usable account
}

// Totals sums a run by programme, and by programme and township.
func (s *Service) Totals(ctx context.Context, u *auth.User, id int64) (byProgramme, byTownship []Total, err error) {
	if _, err := s.Get(ctx, u, id); err != nil {
		return nil, nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT programme, SUBSTR(region_code, 1, 9), COUNT(*), SUM(amount_fen), SUM(offset_fen),
		SUM(CASE WHEN status IN ('no_account', 'invalid_account') THEN 1 ELSE 0 END)
		FROM payment_lines WHERE run_id = $1 GROUP BY programme, SUBSTR(region_code, 1, 9) ORDER BY 2, 1`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("payroll: totals: %w", err)
	}
	defer rows.Close()
	per := map[string]*Total{}
	for rows.Next() {
		var t Total
		if err := rows.Scan(&t.Programme, &t.Township, &t.Lines, &t.AmountFen, &t.OffsetFen, &t.Held); err != nil {
			return nil, nil, err
		}
		t.Township += "000"
		byTownship = append(byTownship, t)
		p := per[t.Programme]
		if p == nil {
			p = &Total{Programme: t.Programme}
			per[t.Programme] = p
		}
		p.Lines += t.Lines
		p.AmountFen += t.AmountFen
		p.OffsetFen += t.OffsetFen
		p.Held += t.Held
	}
	for _, p := range per {
		byProgramme = append(byProgramme, *p)
	}
	slices.SortFunc(byProgramme, func(a, b Total) int { return strings.Compare(a.Programme, b.Programme) })
	return byProgramme, byTownship, rows.Err()
}

// Difference is one change from last month's run, with its reason from the
// case file.
type Difference struct {
	Kind      string `json:"kind"` // new | stopped | changed | reissue
	CaseID    int64  `json:"case_id"`
	CaseNo    string `json:"case_no"`
	Name      string `json:"name"`
	Programme string `json:"programme"`
	Region    string `json:"region"`
	BeforeFen int64  `json:"before_fen"`
	AfterFen  int64  `json:"after_fen"`
	// Why is the case event or amount change that explains it; empty when
	// nothing on file does (the checker must then write a note).
	Why    string `json:"why"`
	Action string `json:"action"`
	On     string `json:"on"`
}

// KindLabel names the kind of difference.
func (d Difference) KindLabel() string {
	return map[string]string{"new": "新增", "stopped": "停发", "changed": "金额变动", "reissue": "补发"}[d.Kind]
}

// Differences compares a run's lines with the same county's run of the month
// before, case by case, and explains each difference from the case file: the
// latest amount change in force by this month, else the latest case event.
// It returns at most limit differences (all when limit <= 0), new ones last,
// and how many there are in all and how many nothing on file explains.
func (s *Service) Differences(ctx context.Context, u *auth.User, id int64, limit int) (out []Difference, total, unexplained int, err error) {
	r, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, 0, 0, err
	}
	prev := prevMonth(r.Month)
	rows, err := s.DB.QueryContext(ctx, `WITH d AS (
		SELECT 'new' AS kind, l.case_id, 0 AS before_fen, l.amount_fen AS after_fen FROM payment_lines l
		WHERE l.run_id = $1 AND l.kind IN ('regular', 'oneoff')
			AND NOT EXISTS (SELECT 1 FROM payment_lines p JOIN payroll_runs pr ON pr.id = p.run_id
				WHERE pr.county_code = $2 AND p.month = $3 AND p.case_id = l.case_id AND p.kind = 'regular')
		UNION ALL
		SELECT 'stopped', p.case_id, p.amount_fen, 0 FROM payment_lines p JOIN payroll_runs pr ON pr.id = p.run_id
		WHERE pr.county_code = $2 AND p.month = $3 AND p.kind = 'regular'
			AND NOT EXISTS (SELECT 1 FROM payment_lines l WHERE l.run_id = $1 AND l.case_id = p.case_id AND l.kind = 'regular')
		UNION ALL
		SELECT 'changed', l.case_id, p.amount_fen, l.amount_fen FROM payment_lines l
			JOIN payment_lines p ON p.case_id = l.case_id AND p.month = $3 AND p.kind = 'regular'
			JOIN payroll_runs pr ON pr.id = p.run_id AND pr.county_code = $2
		WHERE l.run_id = $1 AND l.kind = 'regular' AND l.amount_fen <> p.amount_fen
		UNION ALL
		SELECT 'reissue', l.case_id, 0, l.amount_fen FROM payment_lines l WHERE l.run_id = $1 AND l.kind = 'reissue')
	SELECT d.kind, d.case_id, d.before_fen, d.after_fen, c.case_no, p.name, c.programme, c.region_code,
		COALESCE((SELECT ec.source || '|' || ec.source_ref || '|' || ec.effective_from || '|' || ec.decided_on || '|' || ec.amount_before || '|' || ec.amount_after
			FROM entitlement_changes ec WHERE ec.case_id = d.case_id AND ec.effective_from <= $4 AND ec.effective_from > $3
			ORDER BY ec.effective_from DESC, ec.id DESC LIMIT 1), ''),
		COALESCE((SELECT e.action || '|' || e.on_date || '|' || e.reason FROM case_events e WHERE e.case_id = d.case_id ORDER BY e.id DESC LIMIT 1), '')
	FROM d JOIN cases c ON c.id = d.case_id JOIN persons p ON p.id = c.applicant_id
	ORDER BY CASE d.kind WHEN 'new' THEN 1 ELSE 0 END, d.kind, d.case_id`, r.ID, r.County, prev, r.Month)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("payroll: differences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Difference
		var change, event string
		if err := rows.Scan(&d.Kind, &d.CaseID, &d.BeforeFen, &d.AfterFen, &d.CaseNo, &d.Name, &d.Programme, &d.Region, &change, &event); err != nil {
			return nil, 0, 0, err
		}
		switch {
		case d.Kind == "reissue":
			d.Why, d.Action = "上月银行发放失败或暂停发放，本月补发", "reissue"
		case change != "" && d.Kind != "new":
			f := strings.SplitN(change, "|", 6)
			before, _ := strconv.ParseInt(f[4], 10, 64)
			after, _ := strconv.ParseInt(f[5], 10, 64)
			d.Action, d.On = f[0], f[3]
			d.Why = fmt.Sprintf("%s（%s）自 %s 起月发放 %.2f 元调整为 %.2f 元", changeSource(f[0]), f[1], f[2], float64(before)/100, float64(after)/100)
		case event != "":
			f := strings.SplitN(event, "|", 3)
			d.Action, d.On = f[0], f[1]
			d.Why = strings.TrimSpace(eventLabel(f[0]) + " " + f[2])
			if d.Kind == "stopped" {
				d.Why = "案件已停发或终止：" + d.Why
			}
		}
		total++
		if d.Why == "" {
			unexplained++
		}
		if limit <= 0 || len(out) < limit {
			out = append(out, d)
		}
	}
	return out, total, unexplained, rows.Err()
}

func changeSource(src string) string {
	return map[string]string{"review": "复核决定", "reassessment": "生活自理能力复评", "appeal": "复议/诉讼结果"}[src] + ""
}

func eventLabel(action string) string {
	if l, ok := map[string]string{"decide": "县级审批决定", "review_applied": "复核决定", "appeal_applied": "复议/诉讼结果", "seed": "存量待遇导入"}[action]; ok {
		return l
	}
	return action
}

// FundCheck is one programme's funds against a run.
type FundCheck struct {
	Programme    string `json:"programme"`
	AllocatedFen int64  `json:"allocated_fen"`
	SpentFen     int64  `json:"spent_fen"`
	RunFen       int64  `json:"run_fen"`
	Short        bool   `json:"short"`
}

// fundCheck compares each programme's lines in the run with what is left of
// the county's allocation for the run's year.
func (s *Service) fundCheck(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, r *Run) ([]FundCheck, error) {
	year, _ := strconv.Atoi(r.Month[:4])
	rows, err := q.QueryContext(ctx, `SELECT l.programme, SUM(l.amount_fen),
		(SELECT COALESCE(SUM(a.amount_fen), 0) FROM fund_allocations a WHERE a.county_code = $2 AND a.year = $3 AND a.programme = l.programme),
		(SELECT COALESCE(SUM(f.amount_fen), 0) FROM fund_spending f WHERE f.county_code = $2 AND f.year = $3 AND f.programme = l.programme)
		FROM payment_lines l WHERE l.run_id = $1 GROUP BY l.programme ORDER BY l.programme`, r.ID, r.County, year)
	if err != nil {
		return nil, fmt.Errorf("payroll: funds: %w", err)
	}
	defer rows.Close()
	var out []FundCheck
	for rows.Next() {
		var f FundCheck
		if err := rows.Scan(&f.Programme, &f.RunFen, &f.AllocatedFen, &f.SpentFen); err != nil {
			return nil, err
		}
		f.Short = f.SpentFen+f.RunFen > f.AllocatedFen
		out = append(out, f)
	}
	return out, rows.Err()
}

// Review is what the checker sees before deciding.
type Review struct {
	Run         *Run         `json:"run"`
	ByProgramme []Total      `json:"by_programme"`
	ByTownship  []Total      `json:"by_township"`
	Differences []Difference `json:"differences"` // the first 2,000, unexplained and changes first
	DiffTotal   int          `json:"differences_total"`
	Unexplained int          `json:"unexplained"`
	Funds       []FundCheck  `json:"funds"`
	Short       bool         `json:"short"`
	Exceptions  []Exception  `json:"exceptions"`
}

// Exception is an entitlement that got no line.
type Exception struct {
	CaseID    int64  `json:"case_id"`
	PersonID  int64  `json:"person_id"`
	Programme string `json:"programme"`
	Reason    string `json:"reason"`
}

// ReviewOf gathers totals, differences, funds and exceptions of a run.
func (s *Service) ReviewOf(ctx context.Context, u *auth.User, id int64) (*Review, error) {
	r, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, err
	}
	rv := &Review{Run: r}
	if rv.ByProgramme, rv.ByTownship, err = s.Totals(ctx, u, id); err != nil {
		return nil, err
	}
	if rv.Differences, rv.DiffTotal, rv.Unexplained, err = s.Differences(ctx, u, id, 2000); err != nil {
		return nil, err
	}
	if rv.Funds, err = s.fundCheck(ctx, s.DB, r); err != nil {
		return nil, err
	}
	for _, f := range rv.Funds {
		rv.Short = rv.Short || f.Short
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT case_id, person_id, programme, reason FROM payroll_exceptions WHERE run_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e Exception
		if err := rows.Scan(&e.CaseID, &e.PersonID, &e.Programme, &e.Reason); err != nil {
			return nil, err
		}
		rv.Exceptions = append(rv.Exceptions, e)
	}
	return rv, rows.Err()
}

// Decision is the checker's answer.
type Decision struct {
	Version int    `json:"version"`
	Approve bool   `json:"approve"`
	Note    string `json:"note"`
	// Override approves beyond the county's funds; it must say why and is kept
	// on the run and in the audit log.
	Override string `json:"override"`
}

// Check approves or rejects a built run. The checker must hold the approve
// permission in the county and must not be the person who made the run;
// differences nothing on file explains need a note; a run beyond the funds
// needs a recorded override. Approval books the spending per programme and
// replenishes the township reserve funds for the advances of the one-off
// grants it pays, in the same transaction.
func (s *Service) Check(ctx context.Context, u *auth.User, id int64, d Decision) (*Run, error) {
	if !u.Can(auth.PayrollApprove) {
		return nil, apperr.Forbidden("您的角色不能复核发放批次")
	}
	rv, err := s.ReviewOf(ctx, u, id)
	if err != nil {
		return nil, err
	}
	r := rv.Run
	if err := s.checkCounty(u, r.County); err != nil {
		return nil, err
	}
	if r.State != StateBuilt {
		return nil, apperr.Conflict("run_state", "只有已生成、待复核的批次可以复核（当前："+r.StateLabel()+"）")
	}
	if r.MadeByID == u.ID {
		return nil, apperr.Forbidden("发放批次须由生成人以外的另一名工作人员复核（审核与复核不能是同一人）")
	}
	d.Note, d.Override = strings.TrimSpace(d.Note), strings.TrimSpace(d.Override)
	if !d.Approve {
		if d.Note == "" {
			return nil, apperr.Invalid("note", "note_required", "退回须写明理由")
		}
	} else {
		if rv.Unexplained > 0 && d.Note == "" {
			return nil, apperr.Invalid("note", "unexplained_differences", fmt.Sprintf("有 %d 项与上月的差异在案卷中找不到原因，请核实后写明复核意见", rv.Unexplained))
		}
		if rv.Short && d.Override == "" {
			return nil, apperr.Invalid("override", "beyond_funds", "本批次超出该县已下达的资金，须登记超支批准的依据（如追加资金文号）才能批准")
		}
		if len(rv.Exceptions) > 0 && d.Note == "" {
			return nil, apperr.Invalid("note", "exceptions", fmt.Sprintf("有 %d 个已批准案件未生成发放明细（重复案件），请核实后写明复核意见", len(rv.Exceptions)))
		}
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lockRun(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Version != d.Version {
			return apperr.Stale()
		}
		state, action := StateApproved, "payroll.run_approve"
		if !d.Approve {
			state, action = StateRejected, "payroll.run_reject"
		}
		override := ""
		if d.Approve && rv.Short {
			override = d.Override
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payroll_runs SET state = $1, checked_by = $2, checked_by_id = $3, check_note = $4, override_reason = $5,
			checked_at = $6, version = version + 1 WHERE id = $7`, state, u.Username, u.ID, d.Note, override, s.now(), id); err != nil {
			return fmt.Errorf("payroll: check run: %w", err)
		}
		if d.Approve {
			year, _ := strconv.Atoi(r.Month[:4])
			if _, err := tx.ExecContext(ctx, `INSERT INTO fund_spending (county_code, programme, year, amount_fen, run_id, reference, username, created_at)
				SELECT $1, programme, $2, SUM(amount_fen), $3, $4, $5, $6 FROM payment_lines WHERE run_id = $3 GROUP BY programme`,
				r.County, year, id, "发放批次 "+r.Month, u.Username, s.now()); err != nil {
				return fmt.Errorf("payroll: book spending: %w", err)
			}
			// the county replenishes what townships advanced on the one-off grants paid now (LS-03)
			if _, err := tx.ExecContext(ctx, `INSERT INTO reserve_entries (township_code, kind, amount_fen, case_id, reference, username, created_at)
				SELECT SUBSTR(c.region_code, 1, 9) || '000', 'replenish', c.advance_fen, c.id, '县级拨付补充备用金（' || c.case_no || '）', $2, $3
				FROM payment_lines l JOIN cases c ON c.id = l.case_id
				WHERE l.run_id = $1 AND l.kind = 'oneoff' AND c.advance_fen > 0
				ON CONFLICT DO NOTHING`, id, u.Username, s.now()); err != nil {
				return fmt.Errorf("payroll: replenish reserve: %w", err)
			}
		}
		return audit.Append(ctx, tx, u.Actor(), action, "payroll_run", fmt.Sprint(id), r.County,
			map[string]any{"month": r.Month, "note": d.Note, "override": override, "total_fen": r.TotalFen, "lines": r.Lines})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, u, id)
}
