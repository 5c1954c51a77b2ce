package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/integrity"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// Integrity measures every anomaly list over a synthetic province with
// planted anomalies against one SQL query per list.
//
// The province gets two months of paid payment lines for every seeded
// entitlement, then integrity.Plant plants one anomaly of every kind with
// its decoys in several counties (the ground truth). Ours is Service.Run
// over the province (each list's query, its evidence and the upsert of the
// entries); the baseline is the same checks as one plain SQL query per list
// returning the entry keys. Every planted anomaly must be found, nothing
// else may be (the synthetic registry holds no anomaly of its own, and the
// decoys must stay unflagged), and the baseline must agree.
func Integrity(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	keys, err := randomKeys()
	if err != nil {
		return err
	}
	now := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	t0 := time.Now()
	p, err := newProvince(ctx, "integrity", dbURL, scale, keys, now)
	if err != nil {
		return err
	}
	defer p.Close()
	d, tree := p.DB, p.Tree
	fmt.Fprintf(w, "registry: %d households, %d persons, %d entitlements in %.1f s\n", p.Registry.Households, p.Registry.Persons, p.Seeded.Cases, time.Since(t0).Seconds())

	t0 = time.Now()
	var counties []string
	for _, city := range tree.Children(tree.Root.Code) {
		for _, c := range tree.Children(city.Code) {
			counties = append(counties, c.Code)
		}
	}
	lines, err := payLines(ctx, d, counties, []string{"2026-09", "2026-10"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "payroll: %d payment lines (2 months, %d counties) in %.1f s\n", lines, len(counties), time.Since(t0).Seconds())

	t0 = time.Now()
	cal := calendar.Default()
	truth := map[string]map[string]bool{}
	decoys := 0
	for i, c := range []string{counties[0], counties[len(counties)/2], counties[len(counties)-1]} {
		tr, err := integrity.Plant(ctx, d, keys, tree, cal, c, now, uint64(i+1), fmt.Sprint(i))
		if err != nil {
			return err
		}
		for l, ks := range tr.Expected {
			if truth[l] == nil {
				truth[l] = map[string]bool{}
			}
			for _, k := range ks {
				truth[l][k] = true
			}
		}
		decoys += len(tr.Decoys)
	}
	planted := 0
	for _, ks := range truth {
		planted += len(ks)
	}
	if _, err := d.ExecContext(ctx, `ANALYZE`); err != nil {
		return err
	}
	fmt.Fprintf(w, "planted: %d anomalies and %d decoys in 3 counties in %.1f s\n", planted, decoys, time.Since(t0).Seconds())

	svc := &integrity.Service{DB: d, Tree: tree, Keys: keys, Calendar: cal, Now: func() time.Time { return now }}
	t0 = time.Now()
	sum, err := svc.Run(ctx, "", "bench")
	if err != nil {
		return err
	}
	ours := time.Since(t0)

	base := baselineQueries(svc, now)
	baseKeys := map[string][]string{}
	baseSecs := map[string]float64{}
	t0 = time.Now()
	for _, q := range base {
		t1 := time.Now()
		err := db.Each(ctx, d, q.sql, q.args, func(scan func(...any) error) error {
			var k string
			if err := scan(&k); err != nil {
				return err
			}
			baseKeys[q.list] = append(baseKeys[q.list], k)
			return nil
		})
		if err != nil {
			return fmt.Errorf("bench integrity: baseline %s: %w", q.list, err)
		}
		baseSecs[q.list] = time.Since(t1).Seconds()
	}
	baseline := time.Since(t0)

	fmt.Fprintf(w, "%-18s %7s %7s %9s %9s  %s\n", "list", "found", "planted", "ours s", "base s", "")
	var problems []string
	for _, l := range integrity.Lists {
		got := sum.Found[l.Value]
		missing, extra := 0, 0
		seen := map[string]bool{}
		for _, k := range got {
			seen[k] = true
			if !truth[l.Value][k] {
				extra++
			}
		}
		for k := range truth[l.Value] {
			if !seen[k] {
				missing++
			}
		}
		b := append([]string(nil), baseKeys[l.Value]...)
		g := append([]string(nil), got...)
		sort.Strings(b)
		sort.Strings(g)
		agree := strings.Join(b, ",") == strings.Join(g, ",")
		status := "ok"
		if missing > 0 || extra > 0 || !agree {
			status = fmt.Sprintf("MISSING %d FALSE %d baseline-agrees %v", missing, extra, agree)
			problems = append(problems, l.Value)
		}
		fmt.Fprintf(w, "%-18s %7d %7d %9.3f %9.3f  %s\n", l.Value, len(got), len(truth[l.Value]), sum.Seconds[l.Value], baseSecs[l.Value], status)
	}
	if len(problems) > 0 {
		return fmt.Errorf("bench integrity: lists wrong: %s", strings.Join(problems, ", "))
	}
	fmt.Fprintf(w, "every planted anomaly found, no false entries, baseline agrees\n")
	fmt.Fprintf(w, "RESULT integrity ours=%.3f baseline=%.3f ratio=%.3f\n", ours.Seconds(), baseline.Seconds(), ours.Seconds()/baseline.Seconds())
	return nil
}

// payLines writes paid lines of every seeded entitlement for the months, one
// approved run per county and month, as payroll's own INSERT … SELECT would.
func payLines(ctx context.Context, d *db.DB, counties, months []string) (int64, error) {
	var total int64
	for _, m := range months {
		for _, c := range counties {
			var run int64
			if err := d.QueryRowContext(ctx, `INSERT INTO payroll_runs (month, county_code, state, made_by, started_at) VALUES ($1,$2,'approved','bench',$3) RETURNING id`,
				m, c, time.Now().UTC()).Scan(&run); err != nil {
				return total, err
			}
			res, err := d.ExecContext(ctx, `INSERT INTO payment_lines (run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot, amount_fen, bank_account_id, status)
				SELECT $1, $2, e.region_code, e.person_id, e.household_id, e.case_id, e.programme, e.kind, e.slot, e.amount_fen, e.bank_account_id,
					CASE WHEN e.bank_account_id IS NULL THEN 'no_account' ELSE 'paid' END
				FROM (`+payroll.EntitlementsSQL("$2", "$3", "")+`) e`, run, m, region.ScopePrefix(c))
			if err != nil {
				return total, fmt.Errorf("bench integrity: lines %s %s: %w", c, m, err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
	}
	return total, nil
}

type baseQuery struct {
	list string
	sql  string
	args []any
}

// baselineQueries are the same checks written as one plain query each,
// returning the entry keys (no evidence, nothing stored).
func baselineQueries(s *integrity.Service, now time.Time) []baseQuery {
	r := integrity.DefaultRules
	today := calendar.Day(now.In(calendar.China))
	from := time.Date(today.Year(), today.Month()-time.Month(r.LookbackMonths), 1, 0, 0, 0, 0, time.UTC)
	fromMonth, fromDay := from.Format("2006-01"), from.Format(time.DateOnly)
	// the verification cutoff: the start of the earliest day at most VerifyWD working days ago
	day := today
	for {
		n, err := s.Calendar.WorkingDaysBetween(day.AddDate(0, 0, -1), today)
		if err != nil || n > r.VerifyWD {
			break
		}
		day = day.AddDate(0, 0, -1)
	}
	cutoff := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, calendar.China).UTC()
	paid := `('pending', 'sent', 'paid', 'paid_by_hand')`
	visit := `(c.programme IN ('dibao', 'tekun') OR (c.programme = 'temporary' AND c.kind <> 'emergency'))`
	return []baseQuery{
		{integrity.ListSharedAccount, `SELECT DISTINCT 'account:' || b1.account_hmac FROM payment_lines l1 JOIN bank_accounts b1 ON b1.id = l1.bank_account_id
			JOIN bank_accounts b2 ON b2.account_hmac = b1.account_hmac JOIN payment_lines l2 ON l2.bank_account_id = b2.id AND l2.household_id > l1.household_id
			WHERE b1.account_hmac <> '' AND l1.month >= $1 AND l2.month >= $1 AND l1.status IN ` + paid + ` AND l2.status IN ` + paid + `
			AND NOT EXISTS (SELECT 1 FROM supporters s JOIN persons q ON q.id_hmac = s.id_hmac WHERE s.active AND s.id_hmac <> ''
				AND ((s.household_id = l1.household_id AND q.household_id = l2.household_id) OR (s.household_id = l2.household_id AND q.household_id = l1.household_id)))`, []any{fromMonth}},
		{integrity.ListRelative, `SELECT 'relative:' || c.id || ':' || sr.id FROM staff_relatives sr JOIN persons p ON p.id_hmac = sr.relative_hmac
			JOIN cases c ON c.household_id = p.household_id WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.state = 'approved'`, nil},
		{integrity.ListAfterDeath, `SELECT DISTINCT 'death:' || p.id || ':' || l.case_id FROM persons p JOIN payment_lines l ON l.person_id = p.id
			WHERE p.status = 'deceased' AND l.status IN ` + paid + ` AND l.month > SUBSTR(COALESCE(
				(SELECT MIN(cr.changed_on) FROM change_reports cr WHERE cr.person_id = p.id AND cr.kind = 'death'),
				(SELECT MIN(SUBSTR(CAST(rh.at AS TEXT), 1, 10)) FROM registry_history rh WHERE rh.person_id = p.id AND rh.op = 'member.remove')), 1, 7)`, nil},
		{integrity.ListAfterStop, `SELECT DISTINCT 'stop:' || c.id FROM cases c JOIN payment_lines l ON l.case_id = c.id
			WHERE c.stop_from <> '' AND c.state = 'closed' AND l.kind = 'regular' AND l.month >= c.stop_from AND l.status IN ` + paid, nil},
		{integrity.ListVerifyIgnored, `SELECT 'verify:' || t.id FROM verify_tasks t WHERE t.status = 'open' AND t.created_at < $1`, []any{cutoff}},
		{integrity.ListNoVisit, `SELECT DISTINCT 'novisit:' || c.id FROM cases c JOIN case_events d ON d.case_id = c.id AND d.action = 'decide' AND d.to_state = 'approved'
			WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.decided_on >= $1 AND ` + visit + `
			AND NOT EXISTS (SELECT 1 FROM case_events v WHERE v.case_id = c.id AND v.action IN ('home_visit', 'county_visit'))`, []any{fromDay}},
		{integrity.ListSameHand, `SELECT DISTINCT 'samehand:' || c.id FROM cases c JOIN case_events v ON v.case_id = c.id AND v.action = 'home_visit'
			JOIN case_events o ON o.case_id = c.id AND o.action IN ('township_opinion', 'decide') AND o.username = v.username
			WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.decided_on >= $1`, []any{fromDay}},
		{integrity.ListFast, `SELECT DISTINCT 'fast:' || c.id FROM cases c JOIN case_events d ON d.case_id = c.id AND d.action = 'decide' AND d.to_state = 'approved'
			JOIN integrity_workdays wa ON wa.day = c.accepted_on JOIN integrity_workdays wd ON wd.day = c.decided_on
			WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.decided_on >= $1 AND ` + visit + ` AND wd.n - wa.n < $2`, []any{fromDay, r.FastWD}},
		{integrity.ListMany, `SELECT 'many:' || p.username || ':' || p.month FROM (
				SELECT SUBSTR(c.region_code, 1, 4) AS city, d.username, SUBSTR(d.on_date, 1, 7) AS month, COUNT(*) AS x
				FROM case_events d JOIN cases c ON c.id = d.case_id WHERE d.action = 'decide' AND d.to_state = 'approved' AND d.on_date >= $1
				GROUP BY 1, 2, 3) p
			WHERE p.x >= $2 AND (SELECT COUNT(*) FROM case_events d2 JOIN cases c2 ON c2.id = d2.case_id WHERE d2.action = 'decide' AND d2.to_state = 'approved'
				AND SUBSTR(c2.region_code, 1, 4) = p.city AND SUBSTR(d2.on_date, 1, 7) = p.month AND d2.username <> p.username) > 0
			AND p.x > (SELECT AVG(q.x) + 3 * COALESCE(STDDEV_POP(q.x), 0) FROM (SELECT d3.username, COUNT(*) AS x FROM case_events d3 JOIN cases c3 ON c3.id = d3.case_id
				WHERE d3.action = 'decide' AND d3.to_state = 'approved' AND SUBSTR(c3.region_code, 1, 4) = p.city AND SUBSTR(d3.on_date, 1, 7) = p.month AND d3.username <> p.username
				GROUP BY d3.username HAVING COUNT(*) > 0) q HAVING COUNT(*) >= $3 AND p.x >= 2 * AVG(q.x))`, []any{fromDay, r.ManyMin, r.ManyPeers}},
		{integrity.ListTemporary, `SELECT 'temporary:' || c.applicant_id || ':' || SUBSTR(c.decided_on, 1, 4) || ':' || c.kind FROM cases c
			WHERE c.programme = 'temporary' AND c.decision = 'approved' AND c.purpose = 'application' AND c.decided_on >= $1
			GROUP BY c.applicant_id, SUBSTR(c.decided_on, 1, 4), c.kind HAVING COUNT(*) > $2`, []any{fmt.Sprintf("%d-01-01", today.Year()-r.LookbackMonths/12), r.TemporaryPerYear}},
	}
}
