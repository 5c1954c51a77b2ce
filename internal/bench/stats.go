package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/region"
	"jiuzhu/internal/stats"
)

// Stats measures the monthly statistics of every region of a synthetic
// province against one query per region (the same measures restricted to
// the region's code range), on PostgreSQL.
func Stats(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	keys, err := randomKeys()
	if err != nil {
		return err
	}
	t0 := time.Now()
	p, err := newProvince(ctx, "stats", dbURL, scale, keys, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return err
	}
	defer p.Close()
	d, tree := p.DB, p.Tree
	// some movement: 2% of the cases stop in March, 1% start in March, and a
	// temporary grant for 1% of the households in March
	for _, q := range []string{
		`UPDATE cases SET state = 'closed', stop_from = '2026-03' WHERE id % 50 = 7`,
		`UPDATE cases SET pay_from = '2026-03' WHERE id % 100 = 11`,
		`INSERT INTO cases (case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state, accepted_on,
			amount_fen, decision, decided_on, pay_from, created_at, updated_at)
		SELECT 'BT' || id, 'temporary', '2021', 'emergency', household_id, applicant_id, region_code, 'door', 'approved', '2026-03-02',
			100000 + id % 7 * 10000, 'approved', '2026-03-1' || (id % 9), '2026-03', now(), now() FROM cases WHERE id % 100 = 23 AND programme = 'dibao'`,
		`ANALYZE`,
	} {
		if _, err := d.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("bench stats: fixture: %w", err)
		}
	}
	fmt.Fprintf(w, "registry: %d households, %d persons, %d entitlements (plus movement) in %.1f s\n", p.Registry.Households, p.Registry.Persons, p.Seeded.Cases, time.Since(t0).Seconds())

	base, err := policy.Default()
	if err != nil {
		return err
	}
	pol := &policydb.Store{DB: d, Tree: tree, Base: base}
	if _, err := pol.Sync(ctx); err != nil {
		return err
	}
	svc := &stats.Service{DB: d, Tree: tree, Params: pol, Now: func() time.Time { return time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC) }}
	per, err := svc.ParsePeriod("2026-03")
	if err != nil {
		return err
	}
	// ours: one pass, every level
	t0 = time.Now()
	figs, err := svc.Compute(ctx, per)
	if err != nil {
		return err
	}
	ours := time.Since(t0)
	prov := figs[tree.Root.Code]
	fmt.Fprintf(w, "ours: %d regions at all levels in %.2f s; province: dibao %d+%d households, %d+%d persons, %d temporary grants\n",
		len(figs), ours.Seconds(), prov.DibaoHH[0], prov.DibaoHH[1], prov.DibaoPersons[0], prov.DibaoPersons[1], prov.TempCases)

	// baseline: one query per region, the same measures over its code range.
	// The province, its cities and counties are all queried; of each lower
	// level an even sample of perLevel regions, whose time is scaled up to the
	// level's count (a query per township or village takes seconds here, so
	// all 23,959 would take hours).
	const perLevel = 60
	byLevel := map[int][]*region.Region{}
	var walk func(r *region.Region)
	walk = func(r *region.Region) {
		byLevel[r.Level] = append(byLevel[r.Level], r)
		for _, c := range tree.Children(r.Code) {
			walk(c)
		}
	}
	walk(tree.Root)
	var baseline time.Duration
	var queried int
	for level := region.Province; level <= region.Village; level++ {
		all := byLevel[level]
		sample := all
		if level >= region.Township && len(all) > perLevel {
			sample = nil
			for i := range perLevel {
				sample = append(sample, all[i*len(all)/perLevel])
			}
		}
		t0 := time.Now()
		for _, r := range sample {
			// the codes written into the statement (digits from the tree), so
			// each query is planned for its own range
			lo, hi := codeRange(r)
			q := strings.NewReplacer("$1", "'"+lo+"'", "$2", "'"+hi+"'").Replace(baselineSQL)
			var hh, persons, temp int64
			if err := d.QueryRowContext(ctx, q).Scan(&hh, &persons, &temp); err != nil {
				return fmt.Errorf("bench stats: baseline %s: %w", r.Code, err)
			}
			f := figs[r.Code]
			if hh != f.DibaoHH[0]+f.DibaoHH[1] || persons != f.DibaoPersons[0]+f.DibaoPersons[1] || temp != f.TempCases {
				return fmt.Errorf("bench stats: %s %s: baseline %d households %d persons %d temporary, ours %v %v %d",
					r.Code, r.Name, hh, persons, temp, f.DibaoHH, f.DibaoPersons, f.TempCases)
			}
		}
		took := time.Since(t0)
		scaled := time.Duration(float64(took) * float64(len(all)) / float64(len(sample)))
		baseline += scaled
		queried += len(sample)
		fmt.Fprintf(w, "baseline level %d: %d of %d regions queried in %.2f s, all ≈ %.2f s\n", level, len(sample), len(all), took.Seconds(), scaled.Seconds())
	}
	fmt.Fprintf(w, "baseline: %d queries, every one agreeing with ours; all 23,959 regions ≈ %.2f s\n", queried, baseline.Seconds())
	fmt.Fprintf(w, "target: under 5 s and ≥ 10× faster than the baseline\n")
	fmt.Fprintf(w, "RESULT stats ours=%.3f baseline=%.3f ratio=%.4f\n", ours.Seconds(), baseline.Seconds(), ours.Seconds()/baseline.Seconds())
	return nil
}

// baselineSQL is the stock of dibao households and persons in March 2026 and
// the month's temporary grants, for the cases whose region code lies in
// [$1, $2).
const baselineSQL = `SELECT
	(SELECT COUNT(*) FROM cases c WHERE ` + baselineStock + `),
	(SELECT COALESCE(SUM((SELECT COUNT(*) FROM persons p WHERE p.household_id = c.household_id AND p.status = 'active')), 0) FROM cases c WHERE ` + baselineStock + `),
	(SELECT COUNT(*) FROM cases c WHERE c.programme = 'temporary' AND c.decision = 'approved' AND c.decided_on >= '2026-03-01' AND c.decided_on <= '2026-03-31'
		AND c.region_code >= $1 AND c.region_code < $2)`

const baselineStock = `c.programme = 'dibao' AND c.decision = 'approved' AND c.purpose = 'application' AND c.pay_from <> '' AND c.pay_from <= '2026-03'
	AND (c.state = 'approved' OR c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > '2026-03') AND c.region_code >= $1 AND c.region_code < $2`

// codeRange is the half-open range of 12-digit codes under a region.
func codeRange(r *region.Region) (string, string) {
	p := r.Prefix
	hi := []byte(p)
	for i := len(hi) - 1; i >= 0; i-- {
		if hi[i] < '9' {
			hi[i]++
			break
		}
		hi[i] = '0'
	}
	return region.Pad(p), region.Pad(string(hi))
}
