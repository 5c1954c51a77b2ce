package casework

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/region"
)

// WorkItem is one line of an office's worklist.
type WorkItem struct {
	Case    *Case
	Label   string
	Office  int
	Overdue bool
	DueSoon bool // within 2 working days
	// ReviewDue marks an entitlement whose periodic review is due and not
	// yet started (Case is the entitlement); Due is the item's deadline.
	ReviewDue bool
	Due       string
}

// WorklistQuery filters a worklist.
type WorklistQuery struct {
	OverdueOnly bool
	Programme   string
	Limit       int
}

// Worklist lists the open cases in the caller's scope by deadline, the most
// urgent first. A county or city sees every office below it; OverdueOnly gives
// the supervision view.
func (s *Service) Worklist(ctx context.Context, c Caller, q WorklistQuery) ([]WorkItem, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 200
	}
	today := s.today().Format(time.DateOnly)
	scope, scopeArg := scopeFilter(c.Scope(), 1)
	args := []any{scopeArg, q.Programme}
	overdue := ""
	if q.OverdueOnly {
		overdue = ` AND c.due_on <> '' AND c.due_on < $3`
		args = append(args, today)
	}
	args = append(args, q.Limit)
	// The inner query picks the most urgent ids from the partial indexes of
	// migration 9; only those rows are joined for the page.
	rows, err := s.DB.QueryContext(ctx, `SELECT `+caseCols+` FROM (SELECT c.id FROM cases c WHERE `+scope+
		` AND c.state NOT IN ('approved', 'closed', 'incomplete') AND ($2 = '' OR c.programme = $2)`+overdue+
		fmt.Sprintf(` ORDER BY c.due_on, c.id LIMIT $%d) t JOIN cases c ON c.id = t.id`, len(args))+caseJoins+` ORDER BY c.due_on, c.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("casework: worklist: %w", err)
	}
	defer rows.Close()
	soon := today
	if d, err := s.Calendar.AddWorkingDays(s.today(), 2); err == nil {
		soon = d.Format(time.DateOnly)
	}
	var out []WorkItem
	for rows.Next() {
		cs, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		it := WorkItem{Case: cs, Label: cs.StateLabel(), Office: region.Township}
		if st, ok := cs.Pending(); ok {
			it.Office = st.Office
		}
		it.Overdue = cs.DueOn != "" && cs.DueOn < today
		it.DueSoon = !it.Overdue && cs.DueOn != "" && cs.DueOn <= soon
		it.Due = cs.DueOn
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	due, err := s.reviewsDue(ctx, c, q, today)
	if err != nil {
		return nil, err
	}
	if !q.OverdueOnly {
		waiting, err := s.incomplete(ctx, c, q)
		if err != nil {
			return nil, err
		}
		due = append(due, waiting...)
	}
	for i := range due {
		due[i].DueSoon = !due[i].Overdue && due[i].Due <= soon
	}
	if len(due) == 0 {
		return out, nil
	}
	// merge by deadline; items without one last
	all := append(out, due...)
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i].Due, all[j].Due
		if (a == "") != (b == "") {
			return b == ""
		}
		return a < b
	})
	if len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return all, nil
}

// incomplete lists files waiting for the applicant's missing items, oldest first.
func (s *Service) incomplete(ctx context.Context, c Caller, q WorklistQuery) ([]WorkItem, error) {
	scope, scopeArg := scopeFilter(c.Scope(), 1)
	rows, err := s.DB.QueryContext(ctx, `SELECT `+caseCols+caseFrom+`WHERE `+scope+` AND c.state = 'incomplete' AND ($2 = '' OR c.programme = $2)
		ORDER BY c.accepted_on, c.id LIMIT $3`, scopeArg, q.Programme, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("casework: incomplete files: %w", err)
	}
	defer rows.Close()
	var out []WorkItem
	for rows.Next() {
		cs, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, WorkItem{Case: cs, Label: cs.StateLabel(), Office: region.Township})
	}
	return out, rows.Err()
}

// scopeFilter is the SQL condition on c.region_code for a scope prefix, shaped
// to use the worklist indexes: counties and townships by equality on their
// code's digits, villages exactly, cities and the province by prefix.
func scopeFilter(prefix string, n int) (string, any) {
	switch len(prefix) {
	case 6, 9:
		return fmt.Sprintf("substr(c.region_code, 1, %d) = $%d", len(prefix), n), prefix
	case 12:
		return fmt.Sprintf("c.region_code = $%d", n), prefix
	}
	return fmt.Sprintf("c.region_code LIKE $%d || '%%'", n), prefix
}

// NoticeLine is one line of a public notice: only what DB-28/29 allow.
type NoticeLine struct {
	CaseNo    string
	Programme string
	Name      string // masked
	Members   int
	AmountFen int64
	Village   string
	From, To  string
}

// MaskName keeps the surname and masks the given name (DB-29).
func MaskName(name string) string {
	n := utf8.RuneCountInString(name)
	if n <= 1 {
		return name
	}
	r := []rune(name)
	return string(r[0]) + strings.Repeat("*", n-1)
}

// Notices lists the cases under public notice in a village or township on a
// date: masked name, household size, proposed amount, village — nothing else.
// It is public: it needs no login and shows nothing that identifies more.
func (s *Service) Notices(ctx context.Context, regionCode string) ([]NoticeLine, error) {
	if _, ok := s.Tree.Get(regionCode); !ok {
		return nil, fmt.Errorf("casework: unknown region %s", regionCode)
	}
	today := s.today().Format(time.DateOnly)
	rows, err := s.DB.QueryContext(ctx, `SELECT c.case_no, c.programme, p.name, (SELECT COUNT(*) FROM persons m WHERE m.household_id = c.household_id),
		c.amount_fen, c.region_code, c.notice_from, c.notice_to
		FROM cases c JOIN persons p ON p.id = c.applicant_id
		WHERE c.region_code LIKE $1 || '%' AND c.state = 'notice' AND c.notice_from <= $2 ORDER BY c.region_code, c.case_no LIMIT 1000`,
		region.ScopePrefix(regionCode), today)
	if err != nil {
		return nil, fmt.Errorf("casework: notices: %w", err)
	}
	defer rows.Close()
	var out []NoticeLine
	for rows.Next() {
		var l NoticeLine
		var name, village string
		if err := rows.Scan(&l.CaseNo, &l.Programme, &name, &l.Members, &l.AmountFen, &village, &l.From, &l.To); err != nil {
			return nil, err
		}
		l.Name, l.Village = MaskName(name), s.Tree.FullName(village)
		out = append(out, l)
	}
	return out, rows.Err()
}

// ByHousehold lists a household's cases, newest first.
func (s *Service) ByHousehold(ctx context.Context, c Caller, householdID int64) ([]*Case, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+caseCols+caseFrom+`WHERE c.household_id = $1 AND c.region_code LIKE $2 || '%' ORDER BY c.id DESC`, householdID, c.Scope())
	if err != nil {
		return nil, fmt.Errorf("casework: household cases: %w", err)
	}
	defer rows.Close()
	var out []*Case
	for rows.Next() {
		cs, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, rows.Err()
}

// Counts are the figures of an office's home page.
type Counts struct{ Open, Overdue, DueSoon int }

// Count counts open, overdue and soon-due cases in scope.
func (s *Service) Count(ctx context.Context, c Caller) (Counts, error) {
	today := s.today()
	soon := today
	if d, err := s.Calendar.AddWorkingDays(today, 2); err == nil {
		soon = d
	}
	scope, scopeArg := scopeFilter(c.Scope(), 1)
	var n Counts
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN c.due_on <> '' AND c.due_on < $2 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN c.due_on >= $2 AND c.due_on <= $3 THEN 1 ELSE 0 END), 0)
		FROM cases c WHERE `+scope+` AND c.state NOT IN ('approved', 'closed')`,
		scopeArg, today.Format(time.DateOnly), soon.Format(time.DateOnly)).Scan(&n.Open, &n.Overdue, &n.DueSoon)
	if err != nil {
		return n, fmt.Errorf("casework: count: %w", err)
	}
	return n, nil
}
