// Package payroll pays the approved entitlements every month (DESIGN.md §7,
// DB-36): a run per county and month turns the active entitlements into
// payment lines, unique per month, beneficiary and programme, in keyset
// batches that each commit their lines together with the run's checkpoint,
// so a crash at any moment resumes where it stopped and a rerun or a second
// click never pays twice. A second county user checks and approves the run
// (maker-checker) against last month's lines and the county's funds; the
// approved lines go to the banks in each bank's file layout and come back in
// return files that reconcile every line. Ledgers keep the funds per county
// and programme, the township reserve funds and the recoveries of wrong
// payments (DB-44).
package payroll

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service is the payroll store.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
	// BatchSize is how many approved cases a run takes per transaction
	// (default 10,000).
	BatchSize int
	// AfterBatch, when set, is called after each committed batch; an error
	// stops the run there (tests inject crashes with it).
	AfterBatch func(runID int64, batch int) error
	Now        func() time.Time
	// Params gives the price-linkage subsidy its thresholds and standards;
	// without it no subsidy lines are made.
	Params Params
}

// Run states.
const (
	StateBuilding = "building" // lines are being written, batch by batch
	StateBuilt    = "built"    // every active entitlement has its line; waiting for the checker
	StateRejected = "rejected" // the checker sent it back; the maker rebuilds it
	StateApproved = "approved" // checked and approved; bank files may be written
)

// Line statuses.
const (
	LinePending   = "pending"    // approved or waiting for approval, not yet in a bank file
	LineNoAccount = "no_account" // the beneficiary has no active bank account: held
	LineInvalid   = "invalid_account"
	LineOffset    = "offset"       // fully offset against a recovery: nothing to send
	LineSent      = "sent"         // in a bank file, no answer yet
	LinePaid      = "paid"         // the bank confirmed the credit
	LineFailed    = "failed"       // the bank refused it (reason kept); re-issued in the next run
	LineByHand    = "paid_by_hand" // a failed line settled outside the bank file, with a reference
)

// Run is one county's payroll of one month.
type Run struct {
	ID             int64      `json:"id"`
	Month          string     `json:"month"`
	County         string     `json:"county"`
	State          string     `json:"state"`
	Checkpoint     int64      `json:"checkpoint"`
	Batches        int        `json:"batches"`
	Lines          int64      `json:"lines"`
	TotalFen       int64      `json:"total_fen"`
	MadeBy         string     `json:"made_by"`
	MadeByID       int64      `json:"-"`
	CheckedBy      string     `json:"checked_by,omitempty"`
	CheckNote      string     `json:"check_note,omitempty"`
	OverrideReason string     `json:"override_reason,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	BuiltAt        *time.Time `json:"built_at,omitempty"`
	CheckedAt      *time.Time `json:"checked_at,omitempty"`
	Version        int        `json:"version"`
}

// StateLabel names the state in Chinese.
func (r *Run) StateLabel() string {
	return map[string]string{StateBuilding: "生成中（可续跑）", StateBuilt: "已生成，待复核", StateRejected: "复核退回，待重新生成", StateApproved: "已复核批准"}[r.State]
}

var monthRe = regexp.MustCompile(`^20[0-9]{2}-(0[1-9]|1[0-2])$`)

func checkMonth(m string) error {
	if !monthRe.MatchString(m) {
		return apperr.Invalid("month", "invalid_month", "月份格式应为 YYYY-MM，例如 2026-03")
	}
	return nil
}

// prevMonth is the month before m (YYYY-MM).
func prevMonth(m string) string {
	t, _ := time.Parse("2006-01", m)
	return t.AddDate(0, -1, 0).Format("2006-01")
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) batchSize() int {
	if s.BatchSize > 0 {
		return s.BatchSize
	}
	return 10000
}

// county6 is the 6-digit prefix of a county code.
func county6(county string) string { return region.ScopePrefix(county) }

// checkCounty refuses a code that is not a county inside the user's region.
func (s *Service) checkCounty(u *auth.User, county string) error {
	if region.LevelOf(county) != region.County {
		return apperr.Invalid("county", "not_county", "请填写县（市、区）的12位区划代码")
	}
	if _, ok := s.Tree.Get(county); !ok {
		return apperr.Invalid("county", "unknown_region", "区划代码不存在")
	}
	if !region.Within(u.Region, county) {
		return apperr.Forbidden("该县不在您的管辖范围内")
	}
	return nil
}

// EntitlementsSQL is the one definition of "which entitlements are active in
// month M with which amount": every approved application whose payment has
// begun by M and has not stopped before M (a stop takes effect from stop_from;
// a gradual exit pays on until then), at the monthly amount in force in M
// (the amount before the first change that takes effect after M, else the
// current amount); a temporary grant is paid once, the approved amount less
// the township's advance (a staged grant pays an equal share a month and the
// remainder in its last stage). It selects case_id, person_id, household_id,
// region_code, programme, kind, slot, amount_fen and bank_account_id (the
// beneficiary's newest active account) for the county whose 6-digit prefix is
// the parameter county, with extra conditions on c (the cases row) ANDed in.
// month and county are SQL expressions, usually placeholders. In a month whose
// run recorded a price-linkage rate (price.go), each covered entitlement adds
// a price_subsidy line: the rate times the household's members for dibao,
// the rate for a person's own entitlement.
func EntitlementsSQL(month, county, extra string) string {
	if extra != "" {
		extra = " AND " + extra
	}
	return `SELECT c.id AS case_id, c.applicant_id AS person_id, c.household_id, c.region_code, c.programme,
		CASE WHEN c.programme = 'temporary' THEN 'oneoff' ELSE 'regular' END AS kind,
		CASE WHEN c.programme = 'temporary' THEN c.id ELSE 0 END AS slot,
		CASE WHEN c.programme = 'temporary' THEN
			CASE WHEN (SELECT COUNT(*) FROM payment_lines pl WHERE pl.case_id = c.id AND pl.kind = 'oneoff' AND pl.month <> ` + month + `) >= c.stages - 1
				THEN (c.amount_fen - c.advance_fen) - (c.stages - 1) * ((c.amount_fen - c.advance_fen) / c.stages)
				ELSE (c.amount_fen - c.advance_fen) / c.stages END
			ELSE COALESCE((SELECT ec.amount_before FROM entitlement_changes ec WHERE ec.case_id = c.id AND ec.effective_from > ` + month + `
				ORDER BY ec.effective_from, ec.id LIMIT 1), c.amount_fen) END AS amount_fen,
		(SELECT MAX(b.id) FROM bank_accounts b WHERE b.person_id = c.applicant_id AND b.active) AS bank_account_id
	FROM cases c
	WHERE SUBSTR(c.region_code, 1, 6) = ` + county + ` AND c.decision = 'approved' AND c.purpose = 'application'` + extra + `
		AND c.pay_from <= ` + month + `
		AND (c.state = 'approved' OR (c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > ` + month + `))
		AND (CASE WHEN c.programme = 'temporary' THEN c.amount_fen - c.advance_fen ELSE c.amount_fen END) > 0
		AND (c.programme <> 'temporary' OR (SELECT COUNT(*) FROM payment_lines pl WHERE pl.case_id = c.id AND pl.kind = 'oneoff' AND pl.month <> ` + month + `) < c.stages)
	UNION ALL
	SELECT c.id, c.applicant_id, c.household_id, c.region_code, 'price_subsidy', 'price', 0,
		r.per_person_fen * CASE WHEN c.programme IN ('dibao', 'marginal')
			THEN (SELECT COUNT(*) FROM persons p WHERE p.household_id = c.household_id AND p.status = 'active') ELSE 1 END,
		(SELECT MAX(b.id) FROM bank_accounts b WHERE b.person_id = c.applicant_id AND b.active)
	FROM cases c
	JOIN households h ON h.id = c.household_id
	JOIN payroll_runs pr ON pr.month = ` + month + ` AND SUBSTR(pr.county_code, 1, 6) = ` + county + `
	JOIN payroll_price_rates r ON r.run_id = pr.id AND r.hukou = h.hukou AND r.programme = c.programme AND r.per_person_fen > 0
	WHERE SUBSTR(c.region_code, 1, 6) = ` + county + ` AND c.decision = 'approved' AND c.purpose = 'application'` + extra + `
		AND c.pay_from <= ` + month + `
		AND (c.state = 'approved' OR (c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > ` + month + `))`
}

// insertLinesSQL turns entitlements into lines of run $1 for month $2 and
// county $3; lines without an account are held at once.
func insertLinesSQL(extra string) string {
	return `INSERT INTO payment_lines (run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot, amount_fen, bank_account_id, status)
	SELECT $1, $2, e.region_code, e.person_id, e.household_id, e.case_id, e.programme, e.kind, e.slot, e.amount_fen, e.bank_account_id,
		CASE WHEN e.bank_account_id IS NULL THEN 'no_account' ELSE 'pending' END
	FROM (` + EntitlementsSQL("$2", "$3", extra) + `) e WHERE TRUE` // WHERE: SQLite parses INSERT…SELECT…ON CONFLICT only with one
}

const runCols = `id, month, county_code, state, checkpoint, batches, lines, total_fen, made_by, COALESCE(made_by_id, 0), checked_by, check_note,
	override_reason, started_at, built_at, checked_at, version`

func scanRun(row interface{ Scan(...any) error }) (*Run, error) {
	var r Run
	var built, checked sql.NullTime
	if err := row.Scan(&r.ID, &r.Month, &r.County, &r.State, &r.Checkpoint, &r.Batches, &r.Lines, &r.TotalFen, &r.MadeBy, &r.MadeByID,
		&r.CheckedBy, &r.CheckNote, &r.OverrideReason, &r.StartedAt, &built, &checked, &r.Version); err != nil {
		return nil, err
	}
	if built.Valid {
		r.BuiltAt = &built.Time
	}
	if checked.Valid {
		r.CheckedAt = &checked.Time
	}
	return &r, nil
}

var errRunNotFound = apperr.NotFound("该发放批次不存在或不在您的管辖范围内")

// Get loads a run in the caller's scope.
func (s *Service) Get(ctx context.Context, u *auth.User, id int64) (*Run, error) {
	r, err := scanRun(s.DB.QueryRowContext(ctx, `SELECT `+runCols+` FROM payroll_runs WHERE id = $1 AND county_code LIKE $2 || '%'`, id, u.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errRunNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("payroll: load run: %w", err)
	}
	return r, nil
}

// Runs lists the runs in scope, newest month first.
func (s *Service) Runs(ctx context.Context, u *auth.User, limit int) ([]*Run, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+runCols+` FROM payroll_runs WHERE county_code LIKE $1 || '%' ORDER BY month DESC, county_code LIMIT $2`, u.Scope(), limit)
	if err != nil {
		return nil, fmt.Errorf("payroll: runs: %w", err)
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Start creates the run of a county and month, or joins the one that exists,
// and builds it to the end: two people starting the same run at once share
// the work batch by batch; neither can make a second line.
func (s *Service) Start(ctx context.Context, u *auth.User, month, county string) (*Run, error) {
	if !u.Can(auth.PayrollRun) {
		return nil, apperr.Forbidden("您的角色不能生成发放批次")
	}
	if err := checkMonth(month); err != nil {
		return nil, err
	}
	if err := s.checkCounty(u, county); err != nil {
		return nil, err
	}
	var id int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO payroll_runs (month, county_code, state, made_by, made_by_id, started_at)
			VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (month, county_code) DO NOTHING`, month, county, StateBuilding, u.Username, u.ID, s.now())
		if err != nil {
			return fmt.Errorf("payroll: create run: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT id FROM payroll_runs WHERE month = $1 AND county_code = $2`, month, county).Scan(&id); err != nil {
			return fmt.Errorf("payroll: find run: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return audit.Append(ctx, tx, u.Actor(), "payroll.run_start", "payroll_run", fmt.Sprint(id), county, map[string]any{"month": month})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Build(ctx, u, id)
}

// Build writes the remaining lines of a run from its checkpoint: resuming
// after a crash is calling it again. It returns the run as it stands.
func (s *Service) Build(ctx context.Context, u *auth.User, id int64) (*Run, error) {
	r, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if r.State == StateBuilding && !u.Can(auth.PayrollRun) {
		return nil, apperr.Forbidden("您的角色不能生成发放批次")
	}
	for r.State == StateBuilding {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, done, err := s.batch(ctx, id)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		if s.AfterBatch != nil {
			if err := s.AfterBatch(id, batch); err != nil {
				return nil, err
			}
		}
	}
	return s.Get(ctx, u, id)
}

// lockRun takes the run's row for the transaction: FOR UPDATE on PostgreSQL;
// SQLite write transactions are exclusive already.
func (s *Service) lockRun(ctx context.Context, tx *sql.Tx, id int64) (*Run, error) {
	q := `SELECT ` + runCols + ` FROM payroll_runs WHERE id = $1`
	if s.DB.Dialect == db.Postgres {
		q += ` FOR UPDATE`
	}
	r, err := scanRun(tx.QueryRowContext(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errRunNotFound
	}
	return r, err
}

// batch writes one keyset batch of lines and advances the checkpoint in the
// same transaction, or finishes the run when no cases are left.
func (s *Service) batch(ctx context.Context, id int64) (n int, done bool, err error) {
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		r, err := s.lockRun(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State != StateBuilding {
			done = true
			return nil
		}
		if r.Checkpoint == 0 && r.Batches == 0 {
			if err := s.setPriceRates(ctx, tx, r); err != nil {
				return err
			}
		}
		c6 := county6(r.County)
		var hi sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM (SELECT c.id FROM cases c WHERE SUBSTR(c.region_code, 1, 6) = $1 AND c.decision = 'approved'
			AND c.id > $2 ORDER BY c.id LIMIT $3) b`, c6, r.Checkpoint, s.batchSize()).Scan(&hi); err != nil {
			return fmt.Errorf("payroll: next batch: %w", err)
		}
		if !hi.Valid {
			done = true
			return s.finish(ctx, tx, r)
		}
		if err := s.insertBatch(ctx, tx, r, c6, r.Checkpoint, hi.Int64); err != nil {
			return err
		}
		n = r.Batches + 1
		_, err = tx.ExecContext(ctx, `UPDATE payroll_runs SET checkpoint = $1, batches = batches + 1 WHERE id = $2`, hi.Int64, id)
		return err
	})
	return n, done, err
}

// insertBatch inserts the lines of cases (lo, hi]. A second approved case of
// the same programme for the same person would break the unique index: the
// batch is then redone line by line around it and the case recorded as an
// exception for the checker.
func (s *Service) insertBatch(ctx context.Context, tx *sql.Tx, r *Run, c6 string, lo, hi int64) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT payroll_batch`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, insertLinesSQL(`c.id > $4 AND c.id <= $5`), r.ID, r.Month, c6, lo, hi)
	if err == nil {
		_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT payroll_batch`)
		return err
	}
	if !db.IsUniqueViolation(err) {
		return fmt.Errorf("payroll: insert lines: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT payroll_batch`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insertLinesSQL(`c.id > $4 AND c.id <= $5`)+` ON CONFLICT DO NOTHING`, r.ID, r.Month, c6, lo, hi); err != nil {
		return fmt.Errorf("payroll: insert lines: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payroll_exceptions (run_id, case_id, person_id, programme, reason)
		SELECT $1, e.case_id, e.person_id, e.programme, '同一人同一项目本月已有发放记录（重复的已批准案件），本案件未生成发放明细'
		FROM (`+EntitlementsSQL("$2", "$3", `c.id > $4 AND c.id <= $5`)+`) e
		WHERE NOT EXISTS (SELECT 1 FROM payment_lines l WHERE l.case_id = e.case_id AND l.month = $2)`, r.ID, r.Month, c6, lo, hi)
	if err != nil {
		return fmt.Errorf("payroll: record exceptions: %w", err)
	}
	_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT payroll_batch`)
	return err
}

// finish re-issues the county's failed lines of earlier months, offsets
// open recoveries, totals the run and marks it built.
func (s *Service) finish(ctx context.Context, tx *sql.Tx, r *Run) error {
	// failed lines of earlier approved runs, and held ones whose beneficiary
	// has registered a new account since, not yet re-issued nor settled by
	// hand, go again to the beneficiary's current account
	if _, err := tx.ExecContext(ctx, `INSERT INTO payment_lines (run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot,
			amount_fen, bank_account_id, status, reissue_of, note)
		SELECT $1, $2, l.region_code, l.person_id, l.household_id, l.case_id, l.programme, 'reissue', l.id, l.amount_fen - l.offset_fen,
			(SELECT MAX(b.id) FROM bank_accounts b WHERE b.person_id = l.person_id AND b.active),
			CASE WHEN (SELECT MAX(b.id) FROM bank_accounts b WHERE b.person_id = l.person_id AND b.active) IS NULL THEN 'no_account' ELSE 'pending' END,
			l.id, '补发 ' || l.month || ' 失败款项：' || l.fail_reason
		FROM payment_lines l JOIN payroll_runs pr ON pr.id = l.run_id
		WHERE pr.county_code = $3 AND pr.state = 'approved' AND l.month < $2 AND (l.status = 'failed' OR l.status IN ('no_account', 'invalid_account') AND EXISTS (SELECT 1 FROM bank_accounts b
				WHERE b.person_id = l.person_id AND b.active AND (l.bank_account_id IS NULL OR b.id > l.bank_account_id)))
			AND NOT EXISTS (SELECT 1 FROM payment_lines x WHERE x.reissue_of = l.id)
		ON CONFLICT DO NOTHING`, r.ID, r.Month, r.County); err != nil {
		return fmt.Errorf("payroll: re-issue failed lines: %w", err)
	}
	if err := s.applyOffsets(ctx, tx, r); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE payroll_runs SET state = $1, built_at = $2, version = version + 1,
		lines = (SELECT COUNT(*) FROM payment_lines WHERE run_id = $3),
		total_fen = (SELECT COALESCE(SUM(amount_fen), 0) FROM payment_lines WHERE run_id = $3) WHERE id = $3`, StateBuilt, s.now(), r.ID)
	if err != nil {
		return fmt.Errorf("payroll: finish run: %w", err)
	}
	return audit.Append(ctx, tx, audit.Actor{Username: r.MadeBy, UserID: r.MadeByID}, "payroll.run_built", "payroll_run", fmt.Sprint(r.ID), r.County,
		map[string]any{"month": r.Month, "batches": r.Batches})
}

// ProgrammeLabel names a programme in Chinese.
func ProgrammeLabel(p string) string {
	if l, ok := programmeLabels[p]; ok {
		return l
	}
	return p
}

// Programmes are the budget lines funds are allocated to and payments made
// under, in the order offices list them.
var Programmes = []string{"dibao", "tekun", "temporary", "orphan", "unattended_child", "disability_living", "disability_care",
	"marginal", "price_subsidy", PurchasedServices}

var programmeLabels = map[string]string{"dibao": "最低生活保障", "tekun": "特困人员救助供养", "temporary": "临时救助", "orphan": "孤儿基本生活保障",
	"unattended_child": "事实无人抚养儿童保障", "disability_living": "困难残疾人生活补贴", "disability_care": "重度残疾人护理补贴",
	"marginal": "低保边缘", "price_subsidy": "价格临时补贴", PurchasedServices: "政府购买服务"}

// Rebuild throws away the lines of a rejected run and builds it again from the
// entitlements as they now are.
func (s *Service) Rebuild(ctx context.Context, u *auth.User, id int64, version int) (*Run, error) {
	r, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if !u.Can(auth.PayrollRun) {
		return nil, apperr.Forbidden("您的角色不能生成发放批次")
	}
	if r.State != StateRejected && r.State != StateBuilt {
		return nil, apperr.Conflict("run_state", "只有待复核或被退回的批次可以重新生成")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lockRun(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Version != version {
			return apperr.Stale()
		}
		for _, q := range []string{
			`DELETE FROM recovery_entries WHERE line_id IN (SELECT id FROM payment_lines WHERE run_id = $1)`,
			`DELETE FROM payroll_exceptions WHERE run_id = $1`,
			`DELETE FROM payment_lines WHERE run_id = $1`,
			`DELETE FROM payroll_price_rates WHERE run_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("payroll: rebuild: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE recoveries SET state = 'open' WHERE state = 'settled' AND county_code = $1
			AND amount_due_fen + fine_fen > (SELECT COALESCE(SUM(amount_fen), 0) FROM recovery_entries e WHERE e.recovery_id = recoveries.id)`, r.County); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payroll_runs SET state = $1, checkpoint = 0, batches = 0, lines = 0, total_fen = 0, made_by = $2, made_by_id = $3,
			checked_by = '', checked_by_id = NULL, version = version + 1 WHERE id = $4`, StateBuilding, u.Username, u.ID, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.run_rebuild", "payroll_run", fmt.Sprint(id), r.County, map[string]any{"month": r.Month})
	})
	if err != nil {
		return nil, err
	}
	return s.Build(ctx, u, id)
}
