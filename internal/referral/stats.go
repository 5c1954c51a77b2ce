package referral

import (
	"context"
	"fmt"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Counts are the figures of one line of the statistics.
type Counts struct {
	Sent      int   `json:"sent"`
	Accepted  int   `json:"accepted"` // taken on (accepted, whether closed yet or not)
	Helped    int   `json:"helped"`   // closed with help given
	NoHelp    int   `json:"no_help"`  // closed without help
	Declined  int   `json:"declined"`
	Open      int   `json:"open"`
	Overdue   int   `json:"overdue"` // answered late or unanswered after the due date
	AmountFen int64 `json:"amount_fen"`
}

func (c *Counts) add(o Counts) {
	c.Sent += o.Sent
	c.Accepted += o.Accepted
	c.Helped += o.Helped
	c.NoHelp += o.NoHelp
	c.Declined += o.Declined
	c.Open += o.Open
	c.Overdue += o.Overdue
	c.AmountFen += o.AmountFen
}

// AreaLine is the statistics of one area of help.
type AreaLine struct {
	Area  string `json:"area"`
	Label string `json:"label"`
	Counts
}

// OrgLine is the statistics of one organisation.
type OrgLine struct {
	OrgID  int64  `json:"org_id"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	County string `json:"county"`
	Counts
}

// KindLabel names the organisation's kind.
func (l OrgLine) KindLabel() string { return OrgKindLabel(l.Kind) }

// Stats is help counted by area and by organisation for a region and a
// period of sending dates.
type Stats struct {
	Region     string     `json:"region"`
	RegionName string     `json:"region_name"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	ByArea     []AreaLine `json:"by_area"`
	ByOrg      []OrgLine  `json:"by_org"`
	Total      Counts     `json:"total"`
}

// StatsQuery names the region and period; empty values mean the caller's
// region and the current year.
type StatsQuery struct {
	Region string
	From   string
	To     string
}

// Stats counts referrals sent in the period inside the region.
func (s *Service) Stats(ctx context.Context, u *auth.User, q StatsQuery) (*Stats, error) {
	if !u.Can(auth.ReferralRead) {
		return nil, apperr.Forbidden("您没有查看转介统计的权限")
	}
	if q.Region == "" {
		q.Region = u.Region
	}
	q.Region = region.Pad(q.Region)
	if _, ok := s.Tree.Get(q.Region); !ok {
		return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
	}
	if !region.Within(u.Region, q.Region) {
		return nil, apperr.Forbidden("只能统计本辖区")
	}
	today := s.today()
	if q.From == "" {
		q.From = fmt.Sprintf("%d-01-01", today.Year())
	}
	if q.To == "" {
		q.To = today.Format(time.DateOnly)
	}
	from, err1 := time.Parse(time.DateOnly, q.From)
	to, err2 := time.Parse(time.DateOnly, q.To)
	if err1 != nil || err2 != nil || to.Before(from) {
		return nil, apperr.Invalid("from", "invalid_period", "统计期间应为两个日期（YYYY-MM-DD），起始不晚于截止")
	}
	st := &Stats{Region: q.Region, RegionName: s.Tree.FullName(q.Region), From: q.From, To: q.To}
	const counts = `COUNT(*),
		SUM(CASE WHEN r.state IN ('accepted', 'closed') THEN 1 ELSE 0 END),
		SUM(CASE WHEN r.state = 'closed' AND r.outcome <> 'no_help' THEN 1 ELSE 0 END),
		SUM(CASE WHEN r.state = 'closed' AND r.outcome = 'no_help' THEN 1 ELSE 0 END),
		SUM(CASE WHEN r.state = 'declined' THEN 1 ELSE 0 END),
		SUM(CASE WHEN r.state IN ('sent', 'accepted') THEN 1 ELSE 0 END),
		SUM(CASE WHEN r.answered_on <> '' AND r.answered_on > r.due_on OR r.answered_on = '' AND r.state = 'sent' AND r.due_on < $4 THEN 1 ELSE 0 END),
		COALESCE(SUM(CASE WHEN r.state = 'closed' THEN r.amount_fen ELSE 0 END), 0)`
	const where = ` WHERE r.region_code LIKE $1 || '%' AND r.sent_on >= $2 AND r.sent_on <= $3 `
	args := []any{region.ScopePrefix(q.Region), q.From, q.To, today.Format(time.DateOnly)}
	byArea := map[string]Counts{}
	err := db.Each(ctx, s.DB, `SELECT r.area, `+counts+` FROM referrals r`+where+`GROUP BY r.area`, args, func(scan func(...any) error) error {
		var a string
		var c Counts
		if err := scan(&a, &c.Sent, &c.Accepted, &c.Helped, &c.NoHelp, &c.Declined, &c.Open, &c.Overdue, &c.AmountFen); err != nil {
			return err
		}
		byArea[a] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referral: statistics by area: %w", err)
	}
	for _, a := range Areas {
		c := byArea[a.Value]
		st.ByArea = append(st.ByArea, AreaLine{Area: a.Value, Label: a.Label, Counts: c})
		st.Total.add(c)
	}
	err = db.Each(ctx, s.DB, `SELECT o.id, o.name, o.kind, o.county_code, `+counts+` FROM referrals r JOIN referral_orgs o ON o.id = r.org_id`+where+
		`GROUP BY o.id, o.name, o.kind, o.county_code ORDER BY o.county_code, o.id`, args, func(scan func(...any) error) error {
		var l OrgLine
		if err := scan(&l.OrgID, &l.Name, &l.Kind, &l.County, &l.Sent, &l.Accepted, &l.Helped, &l.NoHelp, &l.Declined, &l.Open, &l.Overdue, &l.AmountFen); err != nil {
			return err
		}
		st.ByOrg = append(st.ByOrg, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referral: statistics by organisation: %w", err)
	}
	return st, nil
}
