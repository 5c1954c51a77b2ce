// Package policydb keeps the policy parameters in the database (DESIGN.md §4):
// the YAML files' values as the approved baseline, and new values scheduled
// by province or city staff, each approved or rejected by a second person.
// Rows are never rewritten; every step is audited. The effective set used by
// calculations is the YAML set plus the approved scheduled values, rebuilt
// whenever an approval is seen.
package policydb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
)

// Statuses and sources of a stored value.
const (
	StatusScheduled = "scheduled"
	StatusApproved  = "approved"
	StatusRejected  = "rejected"

	SourceYAML     = "yaml"
	SourceSchedule = "schedule"
)

// China Standard Time: "today" for a start date is the civil date in Jiangxi.
var cst = calendar.China

// Row is one stored value of a parameter.
type Row struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	Region       string     `json:"region"`
	Start        string     `json:"start"`
	Value        string     `json:"value"`
	Unit         string     `json:"unit"`
	Reference    string     `json:"reference"`
	Demo         bool       `json:"demo"`
	Note         string     `json:"note,omitempty"`
	Source       string     `json:"source"`
	Status       string     `json:"status"`
	ProposedBy   string     `json:"proposed_by"`
	DecidedBy    string     `json:"decided_by,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	DecisionNote string     `json:"decision_note,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`

	proposedByID int64
}

// Store is the parameter store. Base is the YAML set the binary carries.
type Store struct {
	DB   *db.DB
	Tree *region.Tree
	Base *policy.Set
	Now  func() time.Time

	mu       sync.Mutex
	set      *policy.Set
	approved int64 // approved scheduled values the cached set was built from
	evals    map[[2]bool]*calc.Evaluator
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// today is the current civil date in China, as a UTC midnight like policy's dates.
func (s *Store) today() time.Time {
	t := s.now().In(cst)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

const rowCols = `id, name, region, start_date, value, unit, reference, demo, note, source, status, proposed_by, COALESCE(proposed_by_id, 0),
	decided_by, decided_at, decision_note, created_at`

func scanRow(row interface{ Scan(...any) error }) (Row, error) {
	var r Row
	var decided sql.NullTime
	err := row.Scan(&r.ID, &r.Name, &r.Region, &r.Start, &r.Value, &r.Unit, &r.Reference, &r.Demo, &r.Note, &r.Source, &r.Status,
		&r.ProposedBy, &r.proposedByID, &r.DecidedBy, &decided, &r.DecisionNote, &r.CreatedAt)
	if decided.Valid {
		t := decided.Time
		r.DecidedAt = &t
	}
	return r, err
}

// Sync loads the YAML set into the table: a value not yet stored, or stored
// with different figures or reference (the file was corrected), becomes a
// new approved row; nothing is updated or deleted. It is idempotent, so every
// start may call it, and on PostgreSQL two servers starting together do not
// both insert. It returns how many rows it added.
func (s *Store) Sync(ctx context.Context) (int, error) {
	added := 0
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if s.DB.Dialect == db.Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7212)`); err != nil {
				return err
			}
		}
		// The latest stored YAML row per name, region and start.
		rows, err := tx.QueryContext(ctx, `SELECT name, region, start_date, value, reference, demo, note FROM policy_values WHERE source = 'yaml' ORDER BY id`)
		if err != nil {
			return fmt.Errorf("policydb: sync: %w", err)
		}
		stored := map[string]string{}
		for rows.Next() {
			var name, reg, start, val, ref, note string
			var demo bool
			if err := rows.Scan(&name, &reg, &start, &val, &ref, &demo, &note); err != nil {
				rows.Close()
				return err
			}
			stored[name+"|"+reg+"|"+start] = fmt.Sprint(val, "|", ref, "|", demo, "|", note)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := s.now()
		for _, name := range s.Base.Names() {
			p, _ := s.Base.Parameter(name)
			for _, v := range p.Values {
				start := v.Start.Format(time.DateOnly)
				if stored[name+"|"+v.Region+"|"+start] == fmt.Sprint(v.String(), "|", v.Reference, "|", v.Demo, "|", v.Note) {
					continue
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO policy_values (name, region, start_date, value, unit, reference, demo, note, source, status,
					proposed_by, decided_by, decided_at, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'yaml','approved','system','system',$9,$9)`,
					name, v.Region, start, v.String(), string(v.Unit), v.Reference, v.Demo, v.Note, now); err != nil {
					return fmt.Errorf("policydb: sync %s: %w", name, err)
				}
				added++
			}
		}
		if added == 0 {
			return nil
		}
		return audit.Append(ctx, tx, audit.System, "policy.load", "policy", "yaml", region.Pad("36"), map[string]any{"values_added": added})
	})
	return added, err
}

// approvedCount is the cheap check that tells whether the cached set is
// current: approved scheduled rows are only ever added, never removed.
func (s *Store) approvedCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_values WHERE status = 'approved' AND source = 'schedule'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("policydb: count approved: %w", err)
	}
	return n, nil
}

// Effective returns the parameter set calculations use: the YAML set plus
// every approved scheduled value. It is cached, and rebuilt when the number of
// approved values changed, so an approval made through another server is seen
// at the next calculation.
func (s *Store) Effective(ctx context.Context) (*policy.Set, error) {
	n, err := s.approvedCount(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set != nil && s.approved == n {
		return s.set, nil
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+rowCols+` FROM policy_values WHERE status = 'approved' AND source = 'schedule' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("policydb: load approved values: %w", err)
	}
	defer rows.Close()
	var vals []policy.Value
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		v, err := s.value(r)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	set, err := s.Base.WithValues(vals)
	if err != nil {
		return nil, fmt.Errorf("policydb: build effective set: %w", err)
	}
	s.set, s.approved, s.evals = set, n, nil
	return set, nil
}

// value parses a stored row back into a policy value, through the same
// checks as a proposal (against an empty schedule and the epoch as today).
func (s *Store) value(r Row) (policy.Value, error) {
	p, ok := s.Base.Parameter(r.Name)
	if !ok {
		return policy.Value{}, fmt.Errorf("policydb: stored value %d: %s: %w", r.ID, r.Name, policy.ErrUnknownParameter)
	}
	start, err := time.Parse(time.DateOnly, r.Start)
	if err != nil {
		return policy.Value{}, fmt.Errorf("policydb: stored value %d: start %q", r.ID, r.Start)
	}
	p.Values = nil
	v, err := policy.ScheduleValue(p, policy.Proposal{Region: r.Region, Start: start, Value: r.Value, Reference: r.Reference, Demo: r.Demo, Note: r.Note}, time.Time{})
	if err != nil {
		return policy.Value{}, fmt.Errorf("policydb: stored value %d: %w", r.ID, err)
	}
	return v, nil
}

// Evaluator returns a calculator over the effective set that knows the region
// tree, shared between requests so that resolved parameters are cached.
// whatIf accepts situations carrying their own parameter values (the
// calculate API and page); decisions must leave it off.
func (s *Store) Evaluator(ctx context.Context, trace, whatIf bool) (*calc.Evaluator, error) {
	set, err := s.Effective(ctx)
	if err != nil {
		return nil, err
	}
	opts := calc.Options{Trace: trace, KnownRegion: s.KnownRegion, AllowParameters: whatIf}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set != set { // rebuilt meanwhile: use the set read, uncached
		return calc.NewEvaluator(set, opts), nil
	}
	if s.evals == nil {
		s.evals = map[[2]bool]*calc.Evaluator{}
	}
	ev, ok := s.evals[[2]bool{trace, whatIf}]
	if !ok {
		ev = calc.NewEvaluator(set, opts)
		s.evals[[2]bool{trace, whatIf}] = ev
	}
	return ev, nil
}

// KnownRegion reports whether code is a 12-digit node of the region tree.
func (s *Store) KnownRegion(code string) bool {
	r, ok := s.Tree.Get(code)
	return ok && r.Code == code
}

// History lists every stored row of a parameter (YAML loads, proposals,
// approvals and rejections) by region, start and id.
func (s *Store) History(ctx context.Context, name string) ([]Row, error) {
	if _, ok := s.Base.Parameter(name); !ok {
		return nil, apperr.NotFound("参数不存在：" + name)
	}
	return s.query(ctx, `SELECT `+rowCols+` FROM policy_values WHERE name = $1 ORDER BY LENGTH(region), region, start_date, id`, name)
}

// Pending lists the proposals waiting for a decision inside the caller's region.
func (s *Store) Pending(ctx context.Context, u *auth.User) ([]Row, error) {
	all, err := s.query(ctx, `SELECT `+rowCols+` FROM policy_values WHERE status = 'scheduled' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	// Value regions are prefixes of any length, so scope is checked on the
	// padded code; the list of live proposals is short.
	var out []Row
	for _, r := range all {
		if region.Within(u.Region, region.Pad(r.Region)) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Row, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("policydb: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Proposal is what a supervisor enters to schedule a new value.
type Proposal struct {
	Name      string `json:"name"`
	Region    string `json:"region"` // a region code prefix or 12-digit code: "3607", "360700000000"
	Start     string `json:"start"`  // YYYY-MM-DD
	Value     string `json:"value"`  // as written in policy/*.yaml: "720.00", "1.5", "true"
	Reference string `json:"reference"`
	Demo      bool   `json:"demo"`
	Note      string `json:"note"`
}

// mayDecideAt checks the caller's level: standards are set by provinces and
// cities (DESIGN.md §4), so county and township staff cannot schedule or approve.
func mayDecideAt(u *auth.User) error {
	if l := region.LevelOf(u.Region); l != region.Province && l != region.City {
		return apperr.Forbidden("只有省级、设区市的监管人员或系统管理员可以调整救助标准")
	}
	return nil
}

// Schedule records a proposed new value, waiting for a second person's
// approval. It is refused, with nothing stored, when the start is not after
// today and after every start already stored (approved or waiting) for the
// same parameter and region, when the region lies outside the caller's, or
// when the value does not parse.
func (s *Store) Schedule(ctx context.Context, u *auth.User, in Proposal) (Row, error) {
	if !u.Can(auth.PolicySchedule) {
		return Row{}, apperr.Forbidden("您的角色没有调整救助标准的权限")
	}
	if err := mayDecideAt(u); err != nil {
		return Row{}, err
	}
	base, ok := s.Base.Parameter(in.Name)
	if !ok {
		return Row{}, apperr.Invalid("name", "unknown_parameter", "参数不存在："+in.Name)
	}
	in.Region = strings.TrimSpace(in.Region)
	node, ok := s.Tree.Get(in.Region)
	if !ok {
		return Row{}, apperr.Invalid("region", "unknown_region", "行政区划代码不存在："+in.Region)
	}
	if !region.Within(u.Region, node.Code) {
		return Row{}, &apperr.Error{Status: http.StatusForbidden, Code: "out_of_scope", Field: "region",
			Message: "适用地区“" + s.Tree.FullName(node.Code) + "”不在您的管辖范围内"}
	}
	start, err := time.Parse(time.DateOnly, strings.TrimSpace(in.Start))
	if err != nil {
		return Row{}, apperr.Invalid("start", "invalid_date", "起始日期格式不正确，应为 YYYY-MM-DD")
	}
	// The schedule to check against: the effective values plus the proposals
	// still waiting, so that two proposals cannot claim the same start.
	set, err := s.Effective(ctx)
	if err != nil {
		return Row{}, err
	}
	p, _ := set.Parameter(in.Name)
	pending, err := s.query(ctx, `SELECT `+rowCols+` FROM policy_values WHERE name = $1 AND status = 'scheduled'`, in.Name)
	if err != nil {
		return Row{}, err
	}
	for _, r := range pending {
		if v, err := s.value(r); err == nil {
			p.Values = append(p.Values, v)
		}
	}
	v, err := policy.ScheduleValue(p, policy.Proposal{Region: node.Prefix, Start: start, Value: in.Value, Reference: in.Reference, Demo: in.Demo, Note: in.Note}, s.today())
	var se *policy.ScheduleError
	if errors.As(err, &se) {
		return Row{}, &apperr.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_schedule", Field: se.Field,
			Message: fmt.Sprintf("%s（%s）：%s", base.Description, in.Name, se.Message), Err: err}
	}
	if err != nil {
		return Row{}, err
	}
	r := Row{Name: v.Name, Region: v.Region, Start: v.Start.Format(time.DateOnly), Value: v.String(), Unit: string(v.Unit), Reference: v.Reference,
		Demo: v.Demo, Note: v.Note, Source: SourceSchedule, Status: StatusScheduled, ProposedBy: u.Username, CreatedAt: s.now(), proposedByID: u.ID}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO policy_values (name, region, start_date, value, unit, reference, demo, note, source, status,
			proposed_by, proposed_by_id, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'schedule','scheduled',$9,$10,$11) RETURNING id`,
			r.Name, r.Region, r.Start, r.Value, r.Unit, r.Reference, r.Demo, r.Note, r.ProposedBy, u.ID, r.CreatedAt).Scan(&r.ID)
		if db.IsUniqueViolation(err) {
			return &apperr.Error{Status: http.StatusConflict, Code: "schedule_overlap", Field: "start",
				Message: "该地区在 " + r.Start + " 已有一个待审批或已批准的值，起始日期重叠"}
		}
		if err != nil {
			return fmt.Errorf("policydb: schedule: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "policy.schedule", "policy_value", fmt.Sprint(r.ID), region.Pad(r.Region),
			map[string]any{"name": r.Name, "region": r.Region, "start": r.Start, "value": r.Value, "reference": r.Reference, "demo": r.Demo})
	})
	if err != nil {
		return Row{}, err
	}
	return r, nil
}

// Approve makes a waiting proposal part of the effective set.
func (s *Store) Approve(ctx context.Context, u *auth.User, id int64, note string) (Row, error) {
	return s.decide(ctx, u, id, StatusApproved, note)
}

// Reject closes a waiting proposal; it stays in the history.
func (s *Store) Reject(ctx context.Context, u *auth.User, id int64, note string) (Row, error) {
	return s.decide(ctx, u, id, StatusRejected, note)
}

// decide is the one transition a stored row makes: scheduled → approved or
// rejected, by a second person inside the value's region. The row's figures
// are never touched.
func (s *Store) decide(ctx context.Context, u *auth.User, id int64, status, note string) (Row, error) {
	if !u.Can(auth.PolicyApprove) {
		return Row{}, apperr.Forbidden("您的角色没有审批救助标准的权限")
	}
	if err := mayDecideAt(u); err != nil {
		return Row{}, err
	}
	note = strings.TrimSpace(note)
	if status == StatusRejected && note == "" {
		return Row{}, apperr.Invalid("note", "reason_required", "请填写不予批准的理由")
	}
	var r Row
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRow(tx.QueryRowContext(ctx, `SELECT `+rowCols+` FROM policy_values WHERE id = $1 AND source = 'schedule'`, id))
		if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, region.Pad(r.Region)) {
			return apperr.NotFound("该调整申请不存在或不在您的管辖范围内")
		}
		if err != nil {
			return fmt.Errorf("policydb: decide: %w", err)
		}
		if r.Status != StatusScheduled {
			return apperr.Conflict("already_decided", "该调整申请已经处理过（"+statusLabel[r.Status]+"），不能再次审批")
		}
		if r.proposedByID == u.ID {
			return apperr.Forbidden("不能审批自己提出的调整：须由另一位有审批权限的人员审批")
		}
		if status == StatusApproved {
			start, _ := time.Parse(time.DateOnly, r.Start)
			if !start.After(s.today()) {
				return apperr.Invalid("start", "start_passed", "该调整的起始日期 "+r.Start+" 已经到来，不能再批准（已生效的历史不能改写）；请驳回后重新提出")
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE policy_values SET status = $1, decided_by = $2, decided_by_id = $3, decided_at = $4, decision_note = $5
			WHERE id = $6 AND status = 'scheduled'`, status, u.Username, u.ID, s.now(), note, id)
		if err != nil {
			return fmt.Errorf("policydb: decide: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Conflict("already_decided", "该调整申请已被他人处理")
		}
		r.Status, r.DecidedBy, r.DecisionNote = status, u.Username, note
		action := "policy.approve"
		if status == StatusRejected {
			action = "policy.reject"
		}
		return audit.Append(ctx, tx, u.Actor(), action, "policy_value", fmt.Sprint(id), region.Pad(r.Region),
			map[string]any{"name": r.Name, "region": r.Region, "start": r.Start, "value": r.Value, "proposed_by": r.ProposedBy, "note": note})
	})
	if err != nil {
		return Row{}, err
	}
	if status == StatusApproved {
		// Rebuild now rather than at the next calculation, so a broken
		// combination is reported to the approver at once.
		if _, err := s.Effective(ctx); err != nil {
			return r, err
		}
	}
	return r, nil
}

var statusLabel = map[string]string{StatusScheduled: "待审批", StatusApproved: "已批准", StatusRejected: "未批准"}

// StatusLabel is the Chinese name of a status.
func StatusLabel(status string) string { return statusLabel[status] }

// Calculate parses one JSON situation (DESIGN.md §4) and evaluates it with
// the effective parameters and a full trace. What-if parameter values in the
// situation are accepted and marked in the result. Errors come back as
// *apperr.Error naming the field at fault (see CalcError).
func (s *Store) Calculate(ctx context.Context, data []byte) (calc.Result, error) {
	sit, err := calc.ParseSituation(data)
	if err != nil {
		return calc.Result{}, CalcError(err)
	}
	ev, err := s.Evaluator(ctx, true, true)
	if err != nil {
		return calc.Result{}, err
	}
	res, err := ev.Evaluate(&sit)
	return res, CalcError(err)
}

// CalcError turns a calculation's failure into the error callers show: a
// refused situation names its JSON field path, a missing parameter names the
// parameter; anything else passes through as an internal error.
func CalcError(err error) error {
	if err == nil {
		return nil
	}
	var ie *calc.InputError
	if errors.As(err, &ie) {
		msg := "计算输入有误"
		if ie.Path != "" {
			msg += "（字段 " + ie.Path + "）"
		}
		return &apperr.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_situation", Field: ie.Path, Message: msg + "：" + ie.Msg, Err: err}
	}
	var nv *policy.NoValueError
	if errors.As(err, &nv) {
		return &apperr.Error{Status: http.StatusUnprocessableEntity, Code: "no_parameter_value", Field: nv.Name, Err: err,
			Message: fmt.Sprintf("参数 %s 在地区 %s、日期 %s 没有取值，无法计算；请联系省、市监管人员补充该标准", nv.Name, nv.Region, nv.Date.Format(time.DateOnly))}
	}
	return err
}

// Resolve returns the effective value of a parameter for a region and date,
// with a missing parameter (404) or value (422) as a message naming it.
func (s *Store) Resolve(ctx context.Context, name, regionCode string, date time.Time) (policy.Value, error) {
	set, err := s.Effective(ctx)
	if err != nil {
		return policy.Value{}, err
	}
	v, err := set.Resolve(name, regionCode, date)
	switch {
	case errors.Is(err, policy.ErrUnknownParameter):
		return v, &apperr.Error{Status: http.StatusNotFound, Code: "unknown_parameter", Field: "name", Message: "参数不存在：" + name, Err: err}
	case errors.Is(err, policy.ErrNoValue):
		return v, CalcError(err)
	case err != nil:
		return v, apperr.Invalid("region", "invalid_region", "地区代码格式不正确："+regionCode)
	}
	return v, nil
}
