package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/region"
)

const benchCounty = "360124000000" // 进贤县

// Casework measures the worklist of one county holding n open cases (p50/p99
// over repeated requests), against the same worklist as one plain SQL query on
// the same tables; and the rate of case transitions. The last line is
// RESULT casework ours=<p99 s> baseline=<p99 s> ratio=<ours/baseline>.
func Casework(ctx context.Context, w io.Writer, dbURL string, n int) error {
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return fmt.Errorf("bench casework: -db must be a postgres:// URL")
	}
	tree, err := region.Load()
	if err != nil {
		return err
	}
	keys, err := randomKeys()
	if err != nil {
		return err
	}
	url, drop, err := db.Scratch(ctx, dbURL, "bench_casework")
	if err != nil {
		return err
	}
	defer drop()
	d, err := openSchema(ctx, url, tree)
	if err != nil {
		return err
	}
	defer d.Close()

	st, err := gen.Load(ctx, d, tree, keys, gen.Options{Scale: 1, Seed: 7, Regions: []string{benchCounty}, Now: time.Now().UTC()})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "county %s: %d households, %d persons\n", tree.FullName(benchCounty), st.Households, st.Persons)
	if err := seedCases(ctx, d, n); err != nil {
		return err
	}
	d.ExecContext(ctx, `ANALYZE`)
	fmt.Fprintf(w, "%d open cases inserted\n", n)

	svc := &casework.Service{DB: d, Tree: tree, Calendar: calendar.Default(), Keys: keys, Now: func() time.Time { return time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC) }}
	county := &auth.User{ID: 1, Username: "bench", Role: auth.CountyApprover, Region: benchCounty}
	const rounds = 200
	ours, err := timeIt(rounds, func() error {
		_, err := svc.Worklist(ctx, county, casework.WorklistQuery{})
		return err
	})
	if err != nil {
		return err
	}
	base, err := timeIt(rounds, func() error {
		// the same 200 most urgent open cases of the county, as one plain query on the cases table alone
		rows, err := d.QueryContext(ctx, `SELECT id, case_no, state, due_on FROM cases WHERE region_code LIKE $1 || '%'
			AND state NOT IN ('approved', 'closed', 'incomplete') ORDER BY due_on, id LIMIT 200`, region.ScopePrefix(benchCounty))
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return rows.Err()
	})
	if err != nil {
		return err
	}
	overdue, err := timeIt(rounds, func() error {
		_, err := svc.Worklist(ctx, county, casework.WorklistQuery{OverdueOnly: true})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "county worklist (200 most urgent of %d): p50 %s p99 %s (target p99 < 100ms)\n", n, ours[0], ours[1])
	fmt.Fprintf(w, "county overdue view: p50 %s p99 %s\n", overdue[0], overdue[1])
	fmt.Fprintf(w, "plain SQL worklist: p50 %s p99 %s\n", base[0], base[1])

	// transitions: start the investigation of accepted cases, one audited transaction each
	town := &auth.User{ID: 2, Username: "bench-town", Role: auth.TownshipCaseworker}
	rows, err := d.QueryContext(ctx, `SELECT id, version, region_code FROM cases WHERE state = 'accepted' AND programme = 'dibao' AND rule_version = '2021' ORDER BY id LIMIT 2000`)
	if err != nil {
		return err
	}
	type todo struct {
		id      int64
		version int
		region  string
	}
	var work []todo
	for rows.Next() {
		var t todo
		rows.Scan(&t.id, &t.version, &t.region)
		work = append(work, t)
	}
	rows.Close()
	start := time.Now()
	for _, t := range work {
		town.Region = region.Pad(region.ScopePrefix(t.region)[:9])
		if _, err := svc.Act(ctx, town, t.id, casework.Action{Action: "start_investigation", Version: t.version, Reason: "bench"}); err != nil {
			return fmt.Errorf("bench casework: transition: %w", err)
		}
	}
	el := time.Since(start)
	fmt.Fprintf(w, "transitions: %d in %s = %.0f per second (each with its event row and audit entry)\n", len(work), el.Round(time.Millisecond), float64(len(work))/el.Seconds())
	if res, err := audit.Verify(ctx, d, nil); err != nil || res.FirstBroken != 0 {
		return fmt.Errorf("bench casework: audit chain after the transitions: %+v %v", res, err)
	}
	fmt.Fprintf(w, "RESULT casework ours=%.4f baseline=%.4f ratio=%.2f\n", ours[1].Seconds(), base[1].Seconds(), ours[1].Seconds()/base[1].Seconds())
	return nil
}

// timeIt runs fn rounds times and returns the p50 and p99 latencies.
func timeIt(rounds int, fn func() error) ([2]time.Duration, error) {
	lat := make([]time.Duration, rounds)
	for i := range lat {
		t := time.Now()
		if err := fn(); err != nil {
			return [2]time.Duration{}, err
		}
		lat[i] = time.Since(t)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return [2]time.Duration{lat[rounds/2].Round(time.Microsecond), lat[rounds*99/100].Round(time.Microsecond)}, nil
}

// seedCases inserts n open cases over the county's households with states and
// deadlines spread over the procedure, as an office mid-year would have them.
func seedCases(ctx context.Context, d *db.DB, n int) error {
	rows, err := d.QueryContext(ctx, `SELECT p.household_id, p.id, p.region_code FROM persons p WHERE p.relation = 'head' AND p.household_id IS NOT NULL ORDER BY p.id`)
	if err != nil {
		return err
	}
	type hh struct {
		id, head int64
		region   string
	}
	var hs []hh
	for rows.Next() {
		var h hh
		rows.Scan(&h.id, &h.head, &h.region)
		hs = append(hs, h)
	}
	rows.Close()
	if len(hs) == 0 {
		return fmt.Errorf("bench casework: no households generated")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	states := []string{"accepted", "investigating", "visited", "verified", "appraised", "notice", "decision", "incomplete"}
	progs := []string{"dibao", "dibao", "dibao", "tekun", "temporary", "disability_living"}
	now := time.Now().UTC()
	i := 0
	_, err = d.CopyFrom(ctx, "cases", []string{"case_no", "programme", "rule_version", "kind", "household_id", "applicant_id", "region_code", "channel", "state",
		"due_on", "accepted_on", "version", "created_at", "updated_at"}, func() ([]any, bool, error) {
		if i == n {
			return nil, false, nil
		}
		h := hs[i%len(hs)]
		prog := progs[rng.IntN(len(progs))]
		state := states[rng.IntN(len(states))]
		kind := ""
		if prog == "temporary" {
			kind = "expenditure"
			if state != "accepted" && state != "notice" && state != "decision" {
				state = "visited"
			}
		}
		accepted := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(80))
		due := accepted.AddDate(0, 0, 5+rng.IntN(40)).Format(time.DateOnly)
		if state == "incomplete" {
			due = ""
		}
		row := []any{fmt.Sprintf("BN%s%08d", h.region[:6], i), prog, "2021", kind, h.id, h.head, h.region, "door", state, due,
			accepted.Format(time.DateOnly), 1, now, now}
		i++
		return row, true, nil
	})
	return err
}
