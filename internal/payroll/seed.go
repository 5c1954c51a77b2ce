package payroll

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/region"
)

// Synthetic monthly amounts for seeded entitlements (fen), close to Jiangxi's
// 2019 levels; they are demo figures, not policy.
const (
	seedDibaoUrban   = 58000 // per covered member
	seedDibaoRural   = 41000
	seedTekunCentral = 110000
	seedTekunDisp    = 90000
	seedOrphan       = 150000
	seedDisability   = 9000
)

// SeedStats counts what SeedEntitlements wrote.
type SeedStats struct {
	Cases    int64
	MonthFen int64 // the monthly total of the seeded entitlements
}

// SeedEntitlements turns the generator's programme tags into approved cases,
// the entitlements payroll pays, for a registry that gen.Load filled with the
// same options: a dibao case per household (the head applies; the amount
// counts the covered members), and a case per person for extreme poverty,
// orphans and the two disability subsidies, paying from payFrom. Each case
// gets one event row so a run's differences explain it. Persons are found by
// household number and member order, as gen.Load numbers them.
func SeedEntitlements(ctx context.Context, d *db.DB, tree *region.Tree, opts gen.Options, payFrom string) (SeedStats, error) {
	var st SeedStats
	g, err := gen.New(opts, tree)
	if err != nil {
		return st, err
	}
	// household number -> household id and its persons' ids in order
	type hh struct {
		id      int64
		persons []int64
	}
	households := map[string]*hh{}
	prefixes := opts.Regions
	if len(prefixes) == 0 {
		prefixes = []string{tree.Root.Code}
	}
	for _, code := range prefixes {
		rows, err := d.QueryContext(ctx, `SELECT h.hh_no, h.id, p.id FROM households h JOIN persons p ON p.household_id = h.id
			WHERE h.region_code LIKE $1 || '%' ORDER BY h.id, p.id`, region.ScopePrefix(code))
		if err != nil {
			return st, fmt.Errorf("payroll: seed: %w", err)
		}
		for rows.Next() {
			var no string
			var hid, pid int64
			if err := rows.Scan(&no, &hid, &pid); err != nil {
				rows.Close()
				return st, err
			}
			h := households[no]
			if h == nil {
				h = &hh{id: hid}
				households[no] = h
			}
			h.persons = append(h.persons, pid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	var base int64
	if err := d.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM cases`).Scan(&base); err != nil {
		return st, err
	}
	now := time.Now().UTC()
	decided := now.Format(time.DateOnly)
	type row = []any
	var cases []row
	add := func(h *gen.Household, hid, pid int64, programme, kind string, amount int64) {
		st.Cases++
		st.MonthFen += amount
		id := base + st.Cases
		cases = append(cases, row{id, "SEED" + strconv.FormatInt(id, 10), programme, "2021", kind, hid, pid, h.Region, "door", "approved",
			decided, amount, "approved", decided, payFrom, 1, now, now})
	}
	for h, err := range g.All(ctx) {
		if err != nil {
			return st, err
		}
		rec := households[h.No]
		if rec == nil || len(rec.persons) != len(h.Members) {
			continue
		}
		covered := 0
		for _, p := range h.Members {
			if p.Programmes&(gen.DibaoUrban|gen.DibaoRural) != 0 {
				covered++
			}
		}
		if covered > 0 {
			per := int64(seedDibaoRural)
			if h.Hukou == "urban" {
				per = seedDibaoUrban
			}
			add(h, rec.id, rec.persons[0], "dibao", "", per*int64(covered))
		}
		for i, p := range h.Members {
			pid := rec.persons[i]
			switch {
			case p.Programmes&gen.TekunCentralised != 0:
				add(h, rec.id, pid, "tekun", "centralised", seedTekunCentral)
			case p.Programmes&gen.TekunDispersed != 0:
				add(h, rec.id, pid, "tekun", "dispersed", seedTekunDisp)
			}
			if p.Programmes&gen.Orphan != 0 {
				add(h, rec.id, pid, "orphan", "", seedOrphan)
			}
			if p.Programmes&gen.DisabilityLiving != 0 {
				add(h, rec.id, pid, "disability_living", "", seedDisability)
			}
			if p.Programmes&gen.DisabilityCare != 0 {
				add(h, rec.id, pid, "disability_care", "", seedDisability)
			}
		}
	}
	i := 0
	if _, err := d.CopyFrom(ctx, "cases", []string{"id", "case_no", "programme", "rule_version", "kind", "household_id", "applicant_id", "region_code",
		"channel", "state", "accepted_on", "amount_fen", "decision", "decided_on", "pay_from", "version", "created_at", "updated_at"}, func() ([]any, bool, error) {
		if i == len(cases) {
			return nil, false, nil
		}
		i++
		return cases[i-1], true, nil
	}); err != nil {
		return st, fmt.Errorf("payroll: seed cases: %w", err)
	}
	i = 0
	if _, err := d.CopyFrom(ctx, "case_events", []string{"case_id", "at", "on_date", "username", "role", "action", "from_state", "to_state", "late", "reason", "data"},
		func() ([]any, bool, error) {
			if i == len(cases) {
				return nil, false, nil
			}
			i++
			return []any{cases[i-1][0], now, decided, "system", "", "seed", "", "approved", false, "存量待遇导入（合成数据）", "{}"}, true, nil
		}); err != nil {
		return st, fmt.Errorf("payroll: seed events: %w", err)
	}
	if d.Dialect == db.Postgres && len(cases) > 0 {
		if _, err := d.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT MAX(id) FROM cases))`); err != nil {
			return st, err
		}
	}
	return st, nil
}

// SeedDemo allocates a year of funds per seeded programme and county with 5%
// headroom (and for a price-linkage subsidy), and a reserve fund of 20,000 yuan per township, for the demo.
func SeedDemo(ctx context.Context, d *db.DB, tree *region.Tree, counties []string, year int) error {
	now := time.Now().UTC()
	for _, c := range counties {
		rows, err := d.QueryContext(ctx, `SELECT programme, SUM(amount_fen) FROM cases WHERE region_code LIKE $1 || '%' AND decision = 'approved' GROUP BY programme`, region.ScopePrefix(c))
		if err != nil {
			return err
		}
		type alloc struct {
			p string
			a int64
		}
		var as []alloc
		var total int64
		for rows.Next() {
			var a alloc
			rows.Scan(&a.p, &a.a)
			a.a = a.a * 12 * 105 / 100
			total += a.a
			as = append(as, a)
		}
		rows.Close()
		// the price-linkage subsidy, should prices rise: a twentieth of the
		// dibao and extreme-poverty funds
		var covered int64
		for _, a := range as {
			if a.p == "dibao" || a.p == "tekun" {
				covered += a.a
			}
		}
		as = append(as, alloc{"price_subsidy", covered / 20}, alloc{PurchasedServices, total / 100})
		for _, a := range as {
			if _, err := d.ExecContext(ctx, `INSERT INTO fund_allocations (county_code, programme, year, amount_fen, reference, username, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
				c, a.p, year, a.a, "演示资金下达", "system", now); err != nil {
				return err
			}
		}
		for _, t := range tree.Children(c) {
			if _, err := d.ExecContext(ctx, `INSERT INTO reserve_entries (township_code, kind, amount_fen, reference, username, created_at) VALUES ($1,'replenish',$2,$3,$4,$5)`,
				t.Code, 2000000, "演示备用金拨付", "system", now); err != nil {
				return err
			}
		}
	}
	return nil
}
