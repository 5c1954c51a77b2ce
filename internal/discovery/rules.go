package discovery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/money"
	"jiuzhu/internal/region"
)

// The two lists.
const (
	ListHelp = "help" // 应助未助: people who should be helped
	ListStop = "stop" // 应退未退: recipients to review or stop
)

// Rule is one way events become items.
type Rule struct {
	Name    string
	List    string
	Label   string
	Reason  string // why the item is there, shown with it
	Suggest string // the programme to apply for, or the action
}

// MedicalFloorFen is the smallest self-paid hospital cost the medical rule
// looks at, so a household without declared income is not flagged for a
// small bill: 5,000 yuan.
const MedicalFloorFen = 500000

// Rules are run in this order; their reasons are the explanations workers see.
var Rules = []Rule{
	{"medical", ListHelp, "高额医疗支出", "住院个人自付医疗费用不少于 5000 元且超过家庭全年收入（按登记的收入计），家庭未享受低保或特困供养，属刚性支出困难家庭；请核实后引导申请临时救助（支出型）或低保。", "temporary"},
	{"disability", ListHelp, "新办残疾证未享受残疾人两项补贴", "新办残疾证：一、二级重度残疾人未享受重度残疾人护理补贴，或低保家庭中的残疾人未享受困难残疾人生活补贴；请核实后引导申请。", ""},
	{"carer_lost", ListHelp, "儿童失去监护照料", "家中未成年人的唯一成年家庭成员死亡或被收监，户内再无其他成年人，儿童未享受孤儿或事实无人抚养儿童保障；请尽快入户了解监护情况并引导申请。", ""},
	{"unemployed", ListHelp, "低收入家庭成员失业", "家庭成员登记失业，家庭人均收入低于低保边缘标准（低保标准 × 边缘倍数），未享受低保或特困供养；请核实后引导申请低保。", "dibao"},
	{"released", ListHelp, "刑满释放人员无生活保障", "刑满释放人员所在家庭未享受任何救助，可能缺乏基本生活来源；请核实后引导申请临时救助或低保。", "temporary"},
	{"death", ListStop, "救助对象家庭成员死亡", "低保或特困供养家庭的成员死亡：须在 3 个月内复核（DB-41），本人为特困供养人员或单人户的应停发。", "review"},
	{"vehicle", ListStop, "救助家庭购买机动车", "低保或特困供养家庭成员在享受救助后登记了机动车（残疾人专用车除外）：须复核家庭财产状况，不符合条件的停发。", "review"},
	{"property", ListStop, "救助家庭购买房产", "低保或特困供养家庭成员在享受救助后购买了住房：须复核家庭财产状况，不符合条件的停发。", "review"},
	{"business", ListStop, "救助家庭成员登记市场主体", "低保或特困供养家庭成员在享受救助后开办企业或个体工商户：须复核家庭收入和财产，不符合条件的停发或减发。", "review"},
	{"birth", ListStop, "救助家庭新生儿", "低保或特困供养家庭新添人口：须复核家庭人口，符合条件的增发。", "review"},
}

// RuleOf finds a rule.
func RuleOf(name string) (Rule, bool) {
	for _, r := range Rules {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

// The SQL pieces every rule shares. An entitlement in force is an approved
// application (payroll pays it); dibao and tekun are the programmes with a
// review procedure, so the stop list is about them.
const (
	itemCols = `INSERT INTO discovery_items (list, rule, event_id, household_id, person_id, entitlement_id, programme, region_code, township_code, county_code,
		event_date, amount_fen, ref_fen, run_id, created_at) `
	inForce      = `c.purpose = 'application' AND c.state = 'approved' AND c.decision = 'approved'`
	noDibao      = `NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id AND ` + inForce + ` AND c.programme IN ('dibao', 'tekun'))`
	placed       = `h.region_code, SUBSTR(h.region_code, 1, 9) || '000', SUBSTR(h.region_code, 1, 6) || '000000'`
	eventsOfKind = `FROM discovery_events e JOIN households h ON h.id = e.household_id AND h.status = 'active' WHERE e.event_date >= $1 AND e.kind = `
	onceOnly     = ` ON CONFLICT (rule, event_id) DO NOTHING`
	// household monthly income: every active member's latest declared
	// income of each kind as of the event date
	income = `(SELECT COALESCE(SUM(pi.monthly_fen), 0) FROM person_incomes pi JOIN persons pm ON pm.id = pi.person_id
		WHERE pm.household_id = h.id AND pm.status = 'active' AND pi.since <= e.event_date
		AND NOT EXISTS (SELECT 1 FROM person_incomes p2 WHERE p2.person_id = pi.person_id AND p2.kind = pi.kind AND p2.since <= e.event_date
			AND (p2.since > pi.since OR (p2.since = pi.since AND p2.id > pi.id))))`
	members = `(SELECT COUNT(*) FROM persons pm WHERE pm.household_id = h.id AND pm.status = 'active')`
	// the date 18 years before the event, as text
	adultCutoff = `CAST(CAST(SUBSTR(e.event_date, 1, 4) AS INTEGER) - 18 AS TEXT) || SUBSTR(e.event_date, 5)`
)

// ruleSQL are the statements of each rule; $1 since, $2 run, $3 now.
var ruleSQL = map[string]string{}

func init() {
	// The stop rules share one shape: the household's dibao or tekun
	// entitlement in force; purchases and births count from the day the
	// application was accepted (what came before was verified then).
	stop := func(rule, kind, extra string, sinceAccepted bool) string {
		cond := "TRUE"
		if sinceAccepted {
			cond = "e.event_date >= c.accepted_on"
		}
		// the entitlements as one grouped table, joined by household: a
		// per-event subquery in the join condition defeats the planner
		return itemCols + `SELECT 'stop', '` + rule + `', e.id, h.id, e.person_id, c.id, c.programme, ` + placed + `, e.event_date, e.amount_fen, c.amount_fen, $2, $3
		FROM discovery_events e JOIN households h ON h.id = e.household_id AND h.status = 'active'
		JOIN (SELECT c.household_id, MAX(c.id) AS id FROM cases c WHERE ` + inForce + ` AND c.programme IN ('dibao', 'tekun') GROUP BY c.household_id) ent ON ent.household_id = h.id
		JOIN cases c ON c.id = ent.id
		WHERE e.event_date >= $1 AND e.kind = '` + kind + `'` + extra + ` AND ` + cond + `
		` + onceOnly
	}
	ruleSQL["death"] = stop("death", KindDeath, "", false)
	ruleSQL["vehicle"] = stop("vehicle", KindVehicle, " AND e.attr <> 'D'", true)
	ruleSQL["property"] = stop("property", KindProperty, "", true)
	ruleSQL["business"] = stop("business", KindBusiness, "", true)
	ruleSQL["birth"] = stop("birth", KindBirth, "", true)

	ruleSQL["medical"] = itemCols + `SELECT 'help', 'medical', x.id, x.hid, x.person_id, NULL, 'temporary', x.rc, SUBSTR(x.rc, 1, 9) || '000', SUBSTR(x.rc, 1, 6) || '000000',
			x.event_date, x.amount_fen, 12 * x.income, $2, $3
		FROM (SELECT e.id, h.id AS hid, e.person_id, e.event_date, e.amount_fen, h.region_code AS rc, ` + income + ` AS income
			` + eventsOfKind + `'hospital' AND e.amount_fen >= ` + strconv.Itoa(MedicalFloorFen) + ` AND ` + noDibao + `) x
		WHERE x.amount_fen > 12 * x.income` + onceOnly

	ruleSQL["disability"] = itemCols + `SELECT 'help', 'disability', e.id, h.id, e.person_id, NULL,
			CASE WHEN e.attr IN ('1', '2') THEN 'disability_care' ELSE 'disability_living' END, ` + placed + `, e.event_date, 0, 0, $2, $3
		` + eventsOfKind + `'disability'
			AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.applicant_id = e.person_id AND ` + inForce + ` AND c.programme IN ('disability_living', 'disability_care'))
			AND (e.attr IN ('1', '2') OR NOT ` + noDibao + `)` + onceOnly

	ruleSQL["carer_lost"] = itemCols + `SELECT 'help', 'carer_lost', e.id, h.id, e.person_id, NULL,
			CASE WHEN e.kind = 'death' THEN 'orphan' ELSE 'unattended_child' END, ` + placed + `, e.event_date, 0, 0, $2, $3
		FROM discovery_events e JOIN households h ON h.id = e.household_id AND h.status = 'active' JOIN persons p ON p.id = e.person_id
		WHERE e.event_date >= $1 AND (e.kind = 'death' OR (e.kind = 'prison' AND e.attr = '1'))
			AND p.birth_date <= ` + adultCutoff + `
			AND EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id AND m.status = 'active' AND m.id <> e.person_id AND m.birth_date > ` + adultCutoff + `)
			AND NOT EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id AND m.status = 'active' AND m.id <> e.person_id AND m.birth_date <= ` + adultCutoff + `)
			AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id AND ` + inForce + ` AND c.programme IN ('orphan', 'unattended_child'))` + onceOnly

	ruleSQL["unemployed"] = itemCols + `SELECT 'help', 'unemployed', x.id, x.hid, x.person_id, NULL, 'dibao', x.rc, SUBSTR(x.rc, 1, 9) || '000', SUBSTR(x.rc, 1, 6) || '000000',
			x.event_date, CAST(x.income AS BIGINT) / x.n, l.line_fen, $2, $3
		FROM (SELECT e.id, h.id AS hid, h.hukou, e.person_id, e.event_date, h.region_code AS rc, ` + income + ` AS income, ` + members + ` AS n
			` + eventsOfKind + `'unemployment' AND ` + noDibao + `) x
		JOIN discovery_lines l ON l.county_code = SUBSTR(x.rc, 1, 6) AND l.hukou = x.hukou
		WHERE x.n > 0 AND x.income < l.line_fen * x.n` + onceOnly

	ruleSQL["released"] = itemCols + `SELECT 'help', 'released', e.id, h.id, e.person_id, NULL, 'temporary', ` + placed + `, e.event_date, 0, 0, $2, $3
		` + eventsOfKind + `'prison' AND e.attr = '2'
			AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id AND ` + inForce + ` AND c.programme <> 'temporary')` + onceOnly
}

// RunSummary is one rule run.
type RunSummary struct {
	ID         int64            `json:"id"`
	Since      string           `json:"since"`
	Found      int64            `json:"found"`
	Linked     int64            `json:"linked"` // items found started by a case opened meanwhile
	ByRule     map[string]int64 `json:"by_rule"`
	StartedBy  string           `json:"started_by"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Status     string           `json:"status"`
}

// Run applies every rule to the events dated since (YYYY-MM-DD): a few
// set-based statements per rule in one transaction. An item is keyed by rule
// and event, so a rerun finds only what is new; it is idempotent and a
// failed run leaves nothing behind. Open items whose household has since had
// an application (help) or whose entitlement has a review (stop) opened after
// the item are marked started with that case. u may be nil for the system.
func (s *Service) Run(ctx context.Context, u *auth.User, since string) (*RunSummary, error) {
	if u != nil && !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权运行主动发现规则")
	}
	if _, err := time.Parse(time.DateOnly, since); err != nil {
		return nil, apperr.Invalid("since", "bad_since", "起始日期格式不正确（应为 YYYY-MM-DD）")
	}
	by := "system"
	actor := audit.Actor{Username: "system", Role: "system", Region: s.Tree.Root.Code}
	if u != nil {
		by, actor = u.Username, u.Actor()
	}
	sum := &RunSummary{Since: since, ByRule: map[string]int64{}, StartedBy: by, StartedAt: time.Now().UTC(), Status: "done"}
	lines, err := s.resolveLines(ctx, since)
	if err != nil {
		return nil, err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, "discovery.run"); err != nil {
			return err
		}
		// the lines are written under the run's lock, as an upsert: two
		// imports running the rules at once must not both insert a line
		for _, l := range lines {
			if _, err := tx.ExecContext(ctx, `INSERT INTO discovery_lines (county_code, hukou, line_fen) VALUES ($1, $2, $3)
				ON CONFLICT (county_code, hukou) DO UPDATE SET line_fen = excluded.line_fen`, l.county, l.hukou, l.fen); err != nil {
				return fmt.Errorf("store line: %w", err)
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO discovery_runs (since, status, started_by, started_at) VALUES ($1, 'running', $2, $3) RETURNING id`,
			since, by, sum.StartedAt).Scan(&sum.ID); err != nil {
			return err
		}
		for _, r := range Rules {
			t0 := time.Now()
			res, err := tx.ExecContext(ctx, ruleSQL[r.Name], since, sum.ID, sum.StartedAt)
			s.log().Debug("discovery rule", "rule", r.Name, "seconds", time.Since(t0).Seconds())
			if err != nil {
				return fmt.Errorf("rule %s: %w", r.Name, err)
			}
			n, _ := res.RowsAffected()
			sum.ByRule[r.Name] = n
			sum.Found += n
		}
		t0 := time.Now()
		n, err := s.link(ctx, tx, sum.StartedAt)
		s.log().Debug("discovery link", "seconds", time.Since(t0).Seconds())
		if err != nil {
			return err
		}
		sum.Linked = n
		fin := time.Now().UTC()
		sum.FinishedAt = &fin
		b, _ := json.Marshal(sum.ByRule)
		if _, err := tx.ExecContext(ctx, `UPDATE discovery_runs SET status = 'done', found = $1, linked = $2, summary = $3, finished_at = $4 WHERE id = $5`,
			sum.Found, sum.Linked, string(b), fin, sum.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, actor, "discovery.run", "discovery_run", strconv.FormatInt(sum.ID, 10), actor.Region,
			map[string]any{"since": since, "found": sum.Found, "by_rule": sum.ByRule})
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: run: %w", err)
	}
	s.log().Info("discovery rules run", "run", sum.ID, "since", since, "found", sum.Found, "linked", sum.Linked)
	return sum, nil
}

// link marks open items started when the case they call for was opened
// outside the worklist (at the one door, or from the case page), and stop
// items whose claim went stale after their review was opened ($2 the
// cut-off); other stale claims are reopened.
func (s *Service) link(ctx context.Context, tx *sql.Tx, now time.Time) (int64, error) {
	var total int64
	for i, q := range []string{
		`UPDATE discovery_items SET status = 'started', worked_by = 'system', worked_at = $1,
			case_id = (SELECT MIN(c.id) FROM cases c WHERE c.household_id = discovery_items.household_id AND c.purpose = 'application' AND c.created_at >= discovery_items.created_at)
		WHERE list = 'help' AND status = 'open'
			AND EXISTS (SELECT 1 FROM cases c WHERE c.household_id = discovery_items.household_id AND c.purpose = 'application' AND c.created_at >= discovery_items.created_at)`,
		`UPDATE discovery_items SET status = 'started', worked_by = 'system', worked_at = $1,
			case_id = (SELECT MIN(c.id) FROM cases c WHERE c.parent_id = discovery_items.entitlement_id AND c.purpose = 'review' AND c.created_at >= discovery_items.created_at)
		WHERE list = 'stop' AND (status = 'open' OR (status = 'claimed' AND worked_at < $2))
			AND EXISTS (SELECT 1 FROM cases c WHERE c.parent_id = discovery_items.entitlement_id AND c.purpose = 'review' AND c.created_at >= discovery_items.created_at)`,
	} {
		args := []any{now}
		if i == 1 {
			args = append(args, now.Add(-staleClaim))
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("link items: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	// a stale claim without a review never got its change reported: the
	// item goes back on the list
	if _, err := tx.ExecContext(ctx, `UPDATE discovery_items SET status = 'open', worked_by = '', worked_at = NULL WHERE status = 'claimed' AND worked_at < $1`,
		now.Add(-staleClaim)); err != nil {
		return 0, fmt.Errorf("reopen stale claims: %w", err)
	}
	return total, nil
}

// line is the low-income line of a county and hukou.
type line struct {
	county, hukou string
	fen           int64
}

// resolveLines gives the low-income line (dibao standard × the marginal
// multiple) of every county and hukou with unemployment events to look at;
// Run stores them.
func (s *Service) resolveLines(ctx context.Context, since string) ([]line, error) {
	var out []line
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT SUBSTR(h.region_code, 1, 6), h.hukou FROM discovery_events e JOIN households h ON h.id = e.household_id
		WHERE e.kind = 'unemployment' AND e.event_date >= $1`, since)
	if err != nil {
		return nil, fmt.Errorf("discovery: lines: %w", err)
	}
	for rows.Next() {
		var l line
		if err := rows.Scan(&l.county, &l.hukou); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("discovery: lines: %w", err)
	}
	today := s.today()
	for i := range out {
		if out[i].fen, err = s.lowIncomeLine(ctx, region.Pad(out[i].county), out[i].hukou, today); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) lowIncomeLine(ctx context.Context, county, hukou string, on time.Time) (int64, error) {
	if s.Params == nil {
		return 38500 * 3 / 2, nil // the 2019 rural standard × 1.5, without parameters
	}
	if hukou != "urban" {
		hukou = "rural"
	}
	std, err := s.Params.Resolve(ctx, "dibao.standard."+hukou, county, on)
	if err != nil {
		return 0, fmt.Errorf("discovery: dibao standard of %s: %w", county, err)
	}
	mult, err := s.Params.Resolve(ctx, "marginal.income_multiple", county, on)
	if err != nil || mult.Ratio.Den == 0 {
		return std.Int * 3 / 2, nil // before marginal households existed (2021) the customary 1.5
	}
	return int64(mult.Ratio.MulFen(money.Fen(std.Int))), nil
}

// Runs lists the latest rule runs.
func (s *Service) Runs(ctx context.Context, limit int) ([]RunSummary, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, since, status, found, linked, summary, started_by, started_at, finished_at FROM discovery_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("discovery: runs: %w", err)
	}
	defer rows.Close()
	var out []RunSummary
	for rows.Next() {
		var r RunSummary
		var summary string
		var fin sql.NullTime
		if err := rows.Scan(&r.ID, &r.Since, &r.Status, &r.Found, &r.Linked, &summary, &r.StartedBy, &r.StartedAt, &fin); err != nil {
			return nil, err
		}
		if fin.Valid {
			r.FinishedAt = &fin.Time
		}
		json.Unmarshal([]byte(summary), &r.ByRule)
		out = append(out, r)
	}
	return out, rows.Err()
}
