package stats

import (
	"context"
	"fmt"
	"time"

	"jiuzhu/internal/region"
)

// casesSQL aggregates the regular programmes by village, hukou, programme and
// kind: the stock at the period's last month ($2) and the flows between its
// first ($1) and last month.
const casesSQL = `SELECT c.region_code, h.hukou, c.programme, c.kind,
	SUM(CASE WHEN ` + stock + ` THEN 1 ELSE 0 END),
	SUM(CASE WHEN ` + stock + ` THEN ` + persons + ` ELSE 0 END),
	SUM(CASE WHEN ` + stock + ` THEN c.amount_fen ELSE 0 END),
	SUM(CASE WHEN c.pay_from >= $1 THEN 1 ELSE 0 END),
	SUM(CASE WHEN c.pay_from >= $1 THEN ` + persons + ` ELSE 0 END),
	SUM(CASE WHEN ` + stopped + ` THEN 1 ELSE 0 END),
	SUM(CASE WHEN ` + stopped + ` THEN ` + persons + ` ELSE 0 END)
FROM cases c
JOIN households h ON h.id = c.household_id
LEFT JOIN (SELECT household_id, COUNT(*) AS n FROM persons WHERE status = 'active' GROUP BY household_id) m ON m.household_id = c.household_id
WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.programme <> 'temporary' AND c.pay_from <> '' AND c.pay_from <= $2
GROUP BY c.region_code, h.hukou, c.programme, c.kind`

const (
	stock   = `(c.state = 'approved' OR c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > $2)`
	stopped = `(c.state = 'closed' AND c.stop_from >= $1 AND c.stop_from <= $2)`
	persons = `CASE WHEN c.programme IN ('dibao', 'marginal') THEN COALESCE(m.n, 0) ELSE 1 END`
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

	rows, err := s.DB.QueryContext(ctx, casesSQL, first, last)
	if err != nil {
		return nil, fmt.Errorf("stats: cases: %w", err)
	}
	for rows.Next() {
		var code, hukou, prog, kind string
		var n, p, fen, newN, newP, outN, outP int64
		if err := rows.Scan(&code, &hukou, &prog, &kind, &n, &p, &fen, &newN, &newP, &outN, &outP); err != nil {
			rows.Close()
			return nil, err
		}
		f := at(code)
		if f == nil {
			continue // a region code not in the tree
		}
		u := 1
		if hukou == "urban" {
			u = 0
		}
		switch prog {
		case "dibao":
			std, err := standard(code, hukou)
			if err != nil {
				rows.Close()
				return nil, err
			}
			f.DibaoHH[u] += n
			f.DibaoPersons[u] += p
			f.DibaoFen[u] += fen
			f.DibaoStdWeight[u] += std * p
			f.DibaoNewHH[u] += newN
			f.DibaoNewP[u] += newP
			f.DibaoOutHH[u] += outN
			f.DibaoOutP[u] += outP
		case "tekun":
			if kind == "centralised" {
				f.TekunCentral[u] += n
			} else {
				f.TekunDispersed[u] += n
			}
			f.TekunFen[u] += fen
			f.TekunNew[u] += newN
			f.TekunOut[u] += outN
		case "disability_living":
			f.DisLiving += n
		case "disability_care":
			f.DisCare += n
		case "orphan":
			f.Orphans += n
		case "unattended_child":
			f.Unattended += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	firstDay, _ := time.Parse("2006-01", first)
	rows, err = s.DB.QueryContext(ctx, temporarySQL, firstDay.Format(time.DateOnly), lastDay.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("stats: temporary assistance: %w", err)
	}
	for rows.Next() {
		var code string
		var n, fen, nonLocal int64
		if err := rows.Scan(&code, &n, &fen, &nonLocal); err != nil {
			rows.Close()
			return nil, err
		}
		if f := at(code); f != nil {
			f.TempCases += n
			f.TempFen += fen
			f.TempNonLocal += nonLocal
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
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
