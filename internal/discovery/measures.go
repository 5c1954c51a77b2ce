package discovery

import (
	"context"
	"fmt"
	"sort"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/region"
)

// Measure is one county's figures.
type Measure struct {
	County       string `json:"county"`
	HelpFound    int64  `json:"help_found"`
	HelpOpen     int64  `json:"help_open"`
	HelpOpened   int64  `json:"help_opened"`   // applications opened
	HelpApproved int64  `json:"help_approved"` // of which approved: confirmed missed coverage
	StopFound    int64  `json:"stop_found"`
	StopOpen     int64  `json:"stop_open"`
	StopStarted  int64  `json:"stop_started"` // reviews started
	StopStopped  int64  `json:"stop_stopped"` // reviews that stopped the entitlement
	Wrongful     int64  `json:"wrongful_exits"`
	Dismissed    int64  `json:"dismissed"`
	Unmatched    int64  `json:"unmatched_events"` // kept events about people not in the registry
}

// MissedRate is the share of should-help items confirmed as missed coverage.
func (m Measure) MissedRate() string { return pct(m.HelpApproved, m.HelpFound) }

// StopRate is the share of should-stop items that ended in a stop.
func (m Measure) StopRate() string { return pct(m.StopStopped, m.StopFound) }

func pct(a, b int64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", float64(a)*100/float64(b))
}

// Definitions are shown with the measures.
var Definitions = []struct{ Term, Text string }{
	{"应助发现", "规则从部门事件中发现的“应助未助”条目数（每个事件每条规则一条）。"},
	{"已受理 / 已批准", "其中已为该户受理救助申请的条目数，以及受理的申请最终批准的条目数。"},
	{"漏保（已确认）", "应助条目中申请获批准的：事件发生时符合条件却未纳入救助的家庭。漏保率 = 已确认漏保 ÷ 应助发现。仍待处理的应助条目是疑似漏保。"},
	{"应退发现", "“应退未退”条目数：低保、特困供养家庭成员死亡、购车、购房、登记市场主体或新添人口。"},
	{"已启动复核 / 已停发", "其中已启动复核的条目数，以及复核决定停发的条目数。停发率 = 已停发 ÷ 应退发现。"},
	{"错退", "因应退条目复核停发、其后该户又重新申请并获批准的条目数：停发后仍符合条件，说明停发有误，应复查。"},
	{"未匹配事件", "住院、新办残疾证、失业登记、刑满释放中当事人不在救助登记中的事件数，按报送的居住地（未填则按导入人所在地）统计到县；这些人可能需要救助但尚未登记。"},
}

// Measures gives the figures per county in the caller's scope.
func (s *Service) Measures(ctx context.Context, u *auth.User) ([]Measure, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	by := map[string]*Measure{}
	get := func(c string) *Measure {
		c = region.Pad(c)
		if by[c] == nil {
			by[c] = &Measure{County: c}
		}
		return by[c]
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT i.county_code,
		SUM(CASE WHEN i.list = 'help' THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'help' AND i.status = 'open' THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'help' AND i.case_id IS NOT NULL THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'help' AND c.decision = 'approved' THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'stop' THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'stop' AND i.status IN ('open', 'claimed') THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'stop' AND i.case_id IS NOT NULL THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'stop' AND c.outcome = 'stop' THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.list = 'stop' AND c.outcome = 'stop' AND c.decided_on <> '' AND EXISTS (SELECT 1 FROM cases a WHERE a.household_id = i.household_id
			AND a.purpose = 'application' AND a.decision = 'approved' AND a.accepted_on >= c.decided_on) THEN 1 ELSE 0 END),
		SUM(CASE WHEN i.status = 'dismissed' THEN 1 ELSE 0 END)
		FROM discovery_items i LEFT JOIN cases c ON c.id = i.case_id
		WHERE i.region_code LIKE $1 || '%' GROUP BY i.county_code`, u.Scope())
	if err != nil {
		return nil, fmt.Errorf("discovery: measures: %w", err)
	}
	for rows.Next() {
		var county string
		var m Measure
		if err := rows.Scan(&county, &m.HelpFound, &m.HelpOpen, &m.HelpOpened, &m.HelpApproved, &m.StopFound, &m.StopOpen, &m.StopStarted, &m.StopStopped,
			&m.Wrongful, &m.Dismissed); err != nil {
			rows.Close()
			return nil, err
		}
		un := get(county).Unmatched
		*get(county) = m
		get(county).County, get(county).Unmatched = region.Pad(county), un
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.DB.QueryContext(ctx, `SELECT SUBSTR(region_code, 1, 6), COUNT(*) FROM discovery_events
		WHERE person_id IS NULL AND region_code LIKE $1 || '%' GROUP BY SUBSTR(region_code, 1, 6)`, u.Scope())
	if err != nil {
		return nil, fmt.Errorf("discovery: unmatched: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		if len(c) == 6 && c[4:] != "00" { // a city or province code is no county
			get(c).Unmatched = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Measure, 0, len(by))
	for _, m := range by {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].County < out[j].County })
	return out, nil
}
