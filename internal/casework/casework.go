package casework

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Caller is the acting user.
type Caller interface {
	Scope() string
	Actor() audit.Actor
}

// Assessment is what the calculators say about a case at the township opinion.
type Assessment struct {
	Eligible   bool     `json:"eligible"`
	MonthlyFen int64    `json:"monthly_fen"`
	AmountFen  int64    `json:"amount_fen"`
	AdvanceFen int64    `json:"advance_fen"`
	Approver   string   `json:"approver"`
	Category   string   `json:"category"`
	Reasons    []string `json:"reasons"`
	// Result is the calculator's whole JSON result with its trace, kept in the
	// file so an appeal can replay the decision.
	Result json.RawMessage `json:"result"`
}

// Assessor evaluates a household for a programme on a date.
type Assessor interface {
	Assess(ctx context.Context, c Caller, householdID int64, programme, kind string, requestedFen int64, on time.Time) (Assessment, error)
}

// Service is the casework store.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Calendar *calendar.Calendar
	Keys     *crypt.Keys
	Assessor Assessor
	// Delegation says whether dibao approval is delegated to the townships of
	// a region on a date (the dated parameter dibao.approval.township_delegated).
	Delegation func(ctx context.Context, region string, on time.Time) (bool, error)
	// Reserve pays a township's emergency advance out of its reserve fund, in
	// the transaction that records the advance (LS-03, LS-04).
	Reserve func(ctx context.Context, tx *sql.Tx, actor audit.Actor, township string, caseID, amountFen int64, reference string) error
	Now     func() time.Time
}

var cst = calendar.China

// today is the office's date in China.
func (s *Service) today() time.Time {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	y, m, d := now.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Case is one application.
type Case struct {
	ID            int64       `json:"id"`
	No            string      `json:"case_no"`
	Programme     string      `json:"programme"`
	RuleVersion   string      `json:"rule_version"`
	Kind          string      `json:"kind"`
	HouseholdID   int64       `json:"household_id"`
	ApplicantID   int64       `json:"applicant_id"`
	Region        string      `json:"region"`
	Channel       string      `json:"channel"`
	State         string      `json:"state"`
	DueOn         string      `json:"due_on"`
	AcceptedOn    string      `json:"accepted_on"`
	CloseRelative bool        `json:"close_relative"`
	Complaint     bool        `json:"complaint"`
	SpotCheck     bool        `json:"spot_check"`
	Special       bool        `json:"special"`
	NoticeFrom    string      `json:"notice_from"`
	NoticeTo      string      `json:"notice_to"`
	RequestedFen  int64       `json:"requested_fen"`
	AmountFen     int64       `json:"amount_fen"`
	AdvanceFen    int64       `json:"advance_fen"`
	Decision      string      `json:"decision"`
	DecidedOn     string      `json:"decided_on"`
	PayFrom       string      `json:"pay_from"`
	Assessment    *Assessment `json:"assessment,omitempty"`
	Missing       []string    `json:"missing,omitempty"`
	Version       int         `json:"version"`
	// Delegated: the township decides — the county delegated dibao approval
	// (DB-31), or a temporary grant lies within the township's limit (LS-01).
	Delegated bool `json:"delegated"`
	// Stages: a temporary grant approved once and paid over this many months.
	Stages int `json:"stages"`
	// Dynamic management: what the row is (an application, or a review,
	// self-care re-assessment of the entitlement ParentID), the review
	// schedule of an entitlement, and a review's outcome.
	Purpose       string `json:"purpose"`
	ParentID      int64  `json:"parent_id,omitempty"`
	ReviewCycle   string `json:"review_cycle,omitempty"`
	NextReviewOn  string `json:"next_review_on,omitempty"`
	Outcome       string `json:"outcome,omitempty"`
	PrevAmountFen int64  `json:"prev_amount_fen,omitempty"`
	ExitMonths    int    `json:"exit_months,omitempty"`
	StopFrom      string `json:"stop_from,omitempty"`
	Referral      string `json:"referral,omitempty"`
	// Filled for pages.
	ApplicantName string `json:"applicant_name"`
	HouseholdNo   string `json:"household_no"`
	Members       int    `json:"members"`
}

func (c *Case) delegated() bool { return c.Delegated }

// OverallDue is the last day of the whole procedure (DB-30), or "" where the
// rules set no overall limit or the case is decided.
func (s *Service) OverallDue(c *Case) string {
	n := OverallLimitWD(c.Programme, c.RuleVersion, c.Delegated, c.Special)
	accepted, err := time.Parse(time.DateOnly, c.AcceptedOn)
	if n == 0 || c.Decision != "" || err != nil {
		return ""
	}
	d, err := s.Calendar.AddWorkingDays(accepted, n)
	if err != nil {
		return ""
	}
	return d.Format(time.DateOnly)
}

// Steps is the case's procedure.
func (c *Case) Steps() []Step {
	if c.Purpose == PurposeReview || c.Purpose == PurposeReassess {
		return reviewProcedure(c.Programme, c.Purpose)
	}
	return procedure(c.Programme, c.RuleVersion, c.Kind, c.delegated())
}

// Pending is the step the case waits on, if any.
func (c *Case) Pending() (Step, bool) {
	for _, st := range c.Steps() {
		if st.State == c.State {
			return st, true
		}
	}
	return Step{}, false
}

// StateLabel names the state in Chinese.
func (c *Case) StateLabel() string {
	switch c.State {
	case StateIncomplete:
		return "材料不全，待补正"
	case StateApproved:
		return "已批准"
	case StateRefused:
		return "不予批准，待送达通知"
	case StateRecheck:
		return "异议复查（乡镇重新调查核实）"
	case StateClosed:
		switch {
		case c.Decision == "refused":
			return "不予批准（已送达）"
		case c.Outcome != "" && c.Purpose != PurposeApplication:
			return "复核已决定：" + OutcomeLabel(c.Outcome)
		case c.StopFrom != "":
			s := "已停发（自 " + c.StopFrom + " 起）"
			if c.ExitMonths > 0 {
				s += fmt.Sprintf("，渐退期%d个月", c.ExitMonths)
			}
			return s
		}
		return "已办结"
	}
	if st, ok := c.Pending(); ok {
		return st.Label
	}
	return c.State
}

const caseCols = `c.id, c.case_no, c.programme, c.rule_version, c.kind, c.household_id, c.applicant_id, c.region_code, c.channel, c.state, c.due_on,
	c.accepted_on, c.close_relative, c.complaint, c.spot_check, c.special, c.notice_from, c.notice_to, c.requested_fen, c.amount_fen, c.advance_fen,
	c.decision, c.decided_on, c.pay_from, c.assessment, c.missing, c.version, c.purpose, COALESCE(c.parent_id, 0), c.review_cycle, c.next_review_on,
	c.outcome, c.prev_amount_fen, c.exit_months, c.stop_from, c.referral, c.delegated, c.stages, p.name, h.hh_no,
	(SELECT COUNT(*) FROM persons m WHERE m.household_id = c.household_id)`

const caseJoins = ` JOIN persons p ON p.id = c.applicant_id JOIN households h ON h.id = c.household_id `

const caseFrom = ` FROM cases c` + caseJoins

func scanCase(row interface{ Scan(...any) error }) (*Case, error) {
	var c Case
	var assessment, missing string
	err := row.Scan(&c.ID, &c.No, &c.Programme, &c.RuleVersion, &c.Kind, &c.HouseholdID, &c.ApplicantID, &c.Region, &c.Channel, &c.State, &c.DueOn,
		&c.AcceptedOn, &c.CloseRelative, &c.Complaint, &c.SpotCheck, &c.Special, &c.NoticeFrom, &c.NoticeTo, &c.RequestedFen, &c.AmountFen, &c.AdvanceFen,
		&c.Decision, &c.DecidedOn, &c.PayFrom, &assessment, &missing, &c.Version, &c.Purpose, &c.ParentID, &c.ReviewCycle, &c.NextReviewOn,
		&c.Outcome, &c.PrevAmountFen, &c.ExitMonths, &c.StopFrom, &c.Referral, &c.Delegated, &c.Stages, &c.ApplicantName, &c.HouseholdNo, &c.Members)
	if err != nil {
		return nil, err
	}
	if assessment != "" {
		c.Assessment = &Assessment{}
		if err := json.Unmarshal([]byte(assessment), c.Assessment); err != nil {
			return nil, fmt.Errorf("casework: case %d assessment: %w", c.ID, err)
		}
	}
	if missing != "" {
		json.Unmarshal([]byte(missing), &c.Missing)
	}
	return &c, nil
}

var errCaseNotFound = apperr.NotFound("该案件不存在或不在您的管辖范围内")

// Get loads one case in scope.
func (s *Service) Get(ctx context.Context, c Caller, id int64) (*Case, error) {
	cs, err := scanCase(s.DB.QueryRowContext(ctx, `SELECT `+caseCols+caseFrom+`WHERE c.id = $1 AND c.region_code LIKE $2 || '%'`, id, c.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errCaseNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("casework: load case: %w", err)
	}
	return cs, nil
}

// Event is one row of a case file.
type Event struct {
	At       time.Time       `json:"at"`
	OnDate   string          `json:"on_date"`
	Username string          `json:"username"`
	Role     string          `json:"role"`
	Action   string          `json:"action"`
	From     string          `json:"from_state"`
	To       string          `json:"to_state"`
	Late     bool            `json:"late"`
	Reason   string          `json:"reason"`
	Data     json.RawMessage `json:"data"`
}

// Events lists a case's file in order.
func (s *Service) Events(ctx context.Context, c Caller, id int64) ([]Event, error) {
	if _, err := s.Get(ctx, c, id); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT at, on_date, username, role, action, from_state, to_state, late, reason, data FROM case_events WHERE case_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("casework: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var data string
		if err := rows.Scan(&e.At, &e.OnDate, &e.Username, &e.Role, &e.Action, &e.From, &e.To, &e.Late, &e.Reason, &data); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// addEvent writes the event row and its audit entry in the transition's transaction.
func (s *Service) addEvent(ctx context.Context, tx *sql.Tx, c Caller, cs *Case, action, from, to string, late bool, reason string, data any) error {
	a := c.Actor()
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var uid any
	if a.UserID != 0 {
		uid = a.UserID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO case_events (case_id, at, on_date, user_id, username, role, action, from_state, to_state, late, reason, data)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`, cs.ID, time.Now().UTC(), s.today().Format(time.DateOnly), uid, a.Username, a.Role, action, from, to, late, reason, string(b)); err != nil {
		return fmt.Errorf("casework: event: %w", err)
	}
	return audit.Append(ctx, tx, a, "case."+action, "case", fmt.Sprint(cs.ID), cs.Region, map[string]any{"case_no": cs.No, "from": from, "to": to, "late": late, "reason": reason})
}

// due computes the deadline of a step entered on a date. A notice of N days
// posted on day D runs to D+N-1.
func (s *Service) due(st Step, entered time.Time, accepted string) (string, error) {
	if st.Days > 0 {
		// the file goes on within 3 WD of the notice's last day [B]
		d, err := s.Calendar.AddWorkingDays(entered.AddDate(0, 0, st.Days-1), 3)
		if err != nil {
			return "", apperr.Invalid("date", "calendar_unknown", "工作日历中没有该年度的节假日安排，无法计算办理期限；请管理员先录入国务院公布的放假安排")
		}
		return d.Format(time.DateOnly), nil
	}
	if st.WD == 0 {
		return "", nil
	}
	from := entered
	if st.FromAccepted {
		if a, err := time.Parse(time.DateOnly, accepted); err == nil {
			from = a
		}
	}
	d, err := s.Calendar.AddWorkingDays(from, st.WD)
	if err != nil {
		return "", apperr.Invalid("date", "calendar_unknown", "工作日历中没有该年度的节假日安排，无法计算办理期限；请管理员先录入国务院公布的放假安排")
	}
	return d.Format(time.DateOnly), nil
}

// roleMayAct reports whether a user of role at userRegion may take an action of
// the given office level on a case in caseRegion.
func roleMayAct(role auth.Role, userRegion string, office int, caseRegion string, action string) bool {
	if !region.Within(userRegion, caseRegion) || region.LevelOf(userRegion) != office {
		return false
	}
	for _, r := range officeRoles[office] {
		if r == role {
			// the township's opinion and a delegated decision are the reviewer's (乡镇审核)
			if (action == "township_opinion" || action == "review_opinion" || action == "decide") && office == region.Township && role != auth.TownshipReviewer {
				return false
			}
			return true
		}
	}
	return false
}

func officeName(level int) string {
	if level == region.County {
		return "县级民政部门（县级审批人）"
	}
	return "乡镇（街道）经办人或审核人"
}

func isAdult(birth string, on time.Time) bool {
	b, err := time.Parse(time.DateOnly, birth)
	return err == nil && !b.AddDate(18, 0, 0).After(on)
}

func monthAfter(d time.Time) string { return d.AddDate(0, 1, 1-d.Day()).Format("2006-01") }

func joinMissing(items []string) string { return strings.Join(items, "；") }
