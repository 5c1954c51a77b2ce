package stats

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// casesSQL aggregates the regular programmes by village, hukou, programme and
// kind: the stock at the period's last month ($2) and the flows between its
// first ($1) and last month, counted in cases.
const casesSQL = `SELECT c.region_code, h.hukou, c.programme, c.kind,
	SUM(CASE WHEN ` + stock + ` THEN 1 ELSE 0 END),
	SUM(CASE WHEN ` + stock + ` THEN c.amount_fen ELSE 0 END),
	SUM(CASE WHEN c.pay_from >= $1 THEN 1 ELSE 0 END),
	SUM(CASE WHEN ` + stopped + ` THEN 1 ELSE 0 END)
FROM cases c JOIN households h ON h.id = c.household_id
WHERE ` + regular + `
GROUP BY c.region_code, h.hukou, c.programme, c.kind`

// membersSQL counts the same for the household programmes in persons: the
// household's members in the registry, one row each.
const membersSQL = `SELECT c.region_code, h.hukou, c.programme,
	SUM(CASE WHEN ` + stock + ` THEN 1 ELSE 0 END),
	SUM(CASE WHEN c.pay_from >= $1 THEN 1 ELSE 0 END),
	SUM(CASE WHEN ` + stopped + ` THEN 1 ELSE 0 END)
FROM cases c JOIN households h ON h.id = c.household_id JOIN persons p ON p.household_id = c.household_id AND p.status = 'active'
WHERE ` + regular + ` AND c.programme IN ('dibao', 'marginal')
GROUP BY c.region_code, h.hukou, c.programme`

const (
	regular = `c.decision = 'approved' AND c.purpose = 'application' AND c.programme <> 'temporary' AND c.pay_from <> '' AND c.pay_from <= $2`
	stock   = `(c.state = 'approved' OR c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > $2)`
	stopped = `(c.state = 'closed' AND c.stop_from >= $1 AND c.stop_from <= $2)`
)

// temporarySQL counts temporary assistance approved between two days;
// non-local by the ID number's address code against the handling county.
const temporarySQL = `SELECT c.region_code, COUNT(*), SUM(c.amount_fen),
	SUM(CASE WHEN SUBSTR(p.id_masked, 1, 6) <> SUBSTR(c.region_code, 1, 6) THEN 1 ELSE 0 END)
FROM cases c JOIN persons p ON p.id = c.applicant_id
WHERE c.programme = 'temporary' AND c.decision = 'approved' AND c.decided_on >= $1 AND c.decided_on <= $2
GROUP BY c.region_code`

// Compute counts every region's figures for a period from the records.
func (s *Service) Compute(ctx context.Context, per Period) (map[string]*Figures, error) {
	first, last := per.Months[0], per.Months[len(per.Months)-1]
	lastDay, _ := time.Parse("2006-01", last)
	stockDate := lastDay
	lastDay = lastDay.AddDate(0, 1, -1)

	figs := map[string]*Figures{}
	var walk func(r *region.Region)
	walk = func(r *region.Region) {
		figs[r.Code] = &Figures{Region: r.Code, Name: r.Name}
		for _, c := range s.Tree.Children(r.Code) {
			walk(c)
		}
	}
	walk(s.Tree.Root)

	// each row is added to its own region; the tree is summed afterwards
	own := map[string]*Figures{}
	at := func(code string) *Figures {
		code = region.Pad(code)
		if f, ok := own[code]; ok {
			return f
		}
		if _, ok := figs[code]; !ok {
			return nil
		}
		f := &Figures{}
		own[code] = f
		return f
	}
	standards := map[string]int64{}
	standard := func(code, hukou string) (int64, error) {
		county := region.Pad(code[:6])
		key := county + hukou
		if v, ok := standards[key]; ok {
			return v, nil
		}
		v, err := s.Params.Resolve(ctx, "dibao.standard."+hukou, county, stockDate)
		if err != nil {
			return 0, fmt.Errorf("stats: dibao standard of %s: %w", county, err)
		}
		standards[key] = v.Int
		return v.Int, nil
	}

	// the three aggregates at once, each on its own connection
	type caseRow struct {
		code, hukou, prog, kind string
		n, fen, newN, outN      int64
	}
	type memberRow struct {
		code, hukou, prog string
		p, newP, outP     int64
	}
	type tempRow struct {
		code             string
		n, fen, nonLocal int64
	}
	var caseRows []caseRow
	var memberRows []memberRow
	var tempRows []tempRow
	firstDay, _ := time.Parse("2006-01", first)
	reads := []func() error{
		func() error {
			return s.each(ctx, casesSQL, []any{first, last}, func(scan func(...any) error) error {
				var r caseRow
				err := scan(&r.code, &r.hukou, &r.prog, &r.kind, &r.n, &r.fen, &r.newN, &r.outN)
				caseRows = append(caseRows, r)
				return err
			})
		},
		func() error {
			return s.each(ctx, membersSQL, []any{first, last}, func(scan func(...any) error) error {
				var r memberRow
				err := scan(&r.code, &r.hukou, &r.prog, &r.p, &r.newP, &r.outP)
				memberRows = append(memberRows, r)
				return err
			})
		},
		func() error {
			return s.each(ctx, temporarySQL, []any{firstDay.Format(time.DateOnly), lastDay.Format(time.DateOnly)}, func(scan func(...any) error) error {
				var r tempRow
				err := scan(&r.code, &r.n, &r.fen, &r.nonLocal)
				tempRows = append(tempRows, r)
				return err
			})
		},
	}
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, read := range reads {
		wg.Go(func() { errs[i] = read() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}

	urban := func(hukou string) int {
		if hukou == "urban" {
			return 0
		}
		return 1
	}
	for _, r := range caseRows {
		f := at(r.code)
		if f == nil {
			continue // a region code not in the tree
		}
		u := urban(r.hukou)
		switch r.prog {
		case "dibao":
			f.DibaoHH[u] += r.n
			f.DibaoFen[u] += r.fen
			f.DibaoNewHH[u] += r.newN
			f.DibaoOutHH[u] += r.outN
		case "tekun":
			if r.kind == "centralised" {
				f.TekunCentral[u] += r.n
			} else {
				f.TekunDispersed[u] += r.n
			}
			f.TekunFen[u] += r.fen
			f.TekunNew[u] += r.newN
			f.TekunOut[u] += r.outN
		case "disability_living":
			f.DisLiving += r.n
		case "disability_care":
			f.DisCare += r.n
		case "orphan":
			f.Orphans += r.n
		case "unattended_child":
			f.Unattended += r.n
		}
	}
	for _, r := range memberRows {
		f := at(r.code)
		if f == nil || r.prog != "dibao" {
			continue
		}
		u := urban(r.hukou)
		std, err := standard(r.code, r.hukou)
		if err != nil {
			return nil, err
		}
		f.DibaoPersons[u] += r.p
		f.DibaoStdWeight[u] += std * r.p
		f.DibaoNewP[u] += r.newP
		f.DibaoOutP[u] += r.outP
	}
	for _, r := range tempRows {
		if f := at(r.code); f != nil {
			f.TempCases += r.n
			f.TempFen += r.fen
			f.TempNonLocal += r.nonLocal
		}
	}

	// roll up: each region's own figures into itself and every ancestor
	for code, f := range own {
		for r, ok := s.Tree.Get(code); ok; r, ok = s.Tree.Get(r.Parent) {
			figs[r.Code].add(f)
			if r.Parent == "" {
				break
			}
		}
	}
	return figs, nil
}

// each runs a query and calls fn with a scanner for every row. On
// PostgreSQL the aggregates get room to sort and hash in memory (a setting
// that needs a transaction; SQLite's would take its write lock, so not there).
func (s *Service) each(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	if s.DB.Dialect != db.Postgres {
		return db.Each(ctx, s.DB, query, args, fn)
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '128MB'`); err != nil {
			return err
		}
		return db.Each(ctx, tx, query, args, fn)
	})
}
