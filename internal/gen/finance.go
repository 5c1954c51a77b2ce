package gen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Income is one monthly income record of a person (registry person_incomes).
// Kinds are those of calc.IncomeKinds. Since is the first day it holds; a
// person may carry an older record of the same kind that the newer one
// replaced.
type Income struct {
	Kind       string
	MonthlyFen int64
	Since      string // YYYY-MM-DD
}

// Asset is one asset item of a household (registry household_assets); kinds
// are those of calc.AssetKinds.
type Asset struct {
	Kind     string
	ValueFen int64
}

// The 2019 dibao standards (policy/dibao.yaml) the incomes are calibrated to,
// in fen per person and month, and the financial-asset limit in months of the
// standard (dibao.assets.financial_multiple).
const (
	urbanStandardFen   = 64000
	ruralStandardFen   = 38500
	financialMonths    = 24
	vehicleLimitFen    = 15 * urbanStandardFen // dibao.assets.vehicle_multiple × urban standard
	orphanAllowanceFen = 80000                 // children.yaml: dispersed orphans
	livingSubsidyFen   = 6000                  // disability.yaml
	careSubsidyFen     = 7000
)

// Income brackets per kind of household: the share of households below the
// standard, between 1 and 1.5 times it (marginal) and above, for the household's
// per-capita counted income. Dibao recipients are mostly below; the few above
// are what re-checks catch. Households not on dibao are mostly above.
var incomeBrackets = map[kind][3]float64{
	kindDibao:     {0.92, 0.07, 0.01},
	kindOrphan:    {0.12, 0.28, 0.60},
	kindCare:      {0.07, 0.18, 0.75},
	kindApplicant: {0.14, 0.30, 0.56},
}

// counts says whether a member counts in the household for the means test
// (DB-02 under the 2021 rules, as the calculators apply it).
func counts(p *Person) bool {
	switch p.Relation {
	case "head", "spouse":
		return true
	case "child":
		return p.age < 18 || p.CoResident || !p.AbleToWork || p.Student != "none" && p.Student != "graduate" || severeDisability(p)
	case "parent", "grandchild", "sibling":
		return p.CoResident
	}
	return false
}

// countedKinds are the income kinds the 2021 dibao rules count (Jiangxi
// parameters from 2026 on); deductions are subtracted. Subsidies, child
// allowances and scholarships are left out.
var countedKinds = map[string]int64{
	"wage": 1, "business": 1, "property": 1, "support_received": 1, "pension": 1, "basic_pension": 1,
	"unemployment_benefit": 1, "old_age_allowance": 1, "other": 1,
	"social_insurance_contribution": -1, "rigid_expense": -1,
}

// countedFen is the household's monthly counted income and counted members,
// by the 2021 rules as calibrated: the latest record per kind of each counted
// member.
func (h *Household) countedFen() (income int64, members int) {
	for _, p := range h.Members {
		if !counts(p) {
			continue
		}
		members++
		latest := map[string]Income{}
		for _, in := range p.Incomes {
			if l, ok := latest[in.Kind]; !ok || in.Since >= l.Since {
				latest[in.Kind] = in
			}
		}
		for k, in := range latest {
			income += countedKinds[k] * in.MonthlyFen
		}
	}
	return max(income, 0), members
}

// financeRNG is the county's stream for incomes and assets, apart from the
// one that draws people, so that adding finances left the people unchanged.
func (c *county) financeRNG(seed int64) *rand.Rand {
	n, _ := strconv.ParseUint(c.code, 10, 64)
	return rand.New(rand.NewPCG(uint64(seed)^0x243f6a8885a308d3, n*0x9e3779b97f4a7c15+1))
}

// finances draws a household's incomes and assets. The household's target is
// a per-capita counted income relative to its dibao standard, drawn from its
// bracket; fixed items (pensions, subsidies, allowances) come first and work
// or farming makes up the rest.
type financer struct {
	rng *rand.Rand
	now time.Time
}

func (f *financer) chance(p float64) bool { return f.rng.Float64() < p }

// yuan draws a whole amount in [lo, hi] yuan in steps of step yuan, as fen.
func (f *financer) yuan(lo, hi, step int) int64 {
	return int64(lo+step*f.rng.IntN((hi-lo)/step+1)) * 100
}

// since is a start date between 1 and 60 months ago.
func (f *financer) since() string {
	return f.now.AddDate(0, -1-f.rng.IntN(60), -f.rng.IntN(28)).Format(time.DateOnly)
}

func (f *financer) add(p *Person, kind string, fen int64) {
	if fen <= 0 {
		return
	}
	since := f.since()
	if (kind == "wage" || kind == "business" || kind == "basic_pension") && f.chance(0.12) {
		// The amount changed: the older record stays in the registry.
		t, _ := time.Parse(time.DateOnly, since)
		older := fen * int64(80+f.rng.IntN(30)) / 100 / 100 * 100
		p.Incomes = append(p.Incomes, Income{Kind: kind, MonthlyFen: older, Since: t.AddDate(0, -6-f.rng.IntN(24), 0).Format(time.DateOnly)})
	}
	p.Incomes = append(p.Incomes, Income{Kind: kind, MonthlyFen: fen, Since: since})
}

func (f *financer) household(h *Household, k kind) {
	urban := h.Hukou == "urban"
	std := int64(ruralStandardFen)
	if urban {
		std = urbanStandardFen
	}
	dibao := k == kindDibao
	tekun := k == kindTekunDispersed || k == kindTekunCentralised
	n := 0
	for _, p := range h.Members {
		if counts(p) {
			n++
		}
	}
	// The target per-capita ratio to the standard.
	ratio := -1.0
	if br, ok := incomeBrackets[k]; ok {
		switch pick(f.rng, br[:]) {
		case 0:
			// Below: the average of two draws leans to the middle.
			ratio = 0.1 + 0.85*(f.rng.Float64()+f.rng.Float64())/2
		case 1:
			ratio = 1.02 + 0.45*f.rng.Float64()
		default:
			ratio = 1.55 + 3*f.rng.Float64()*f.rng.Float64()
			if dibao { // a recipient who found a job: just above
				ratio = 1.5 + 0.5*f.rng.Float64()
			}
		}
	}
	var fixed int64 // counted fixed income of counted members
	head := h.Members[0]
	var earners []*Person
	for _, p := range h.Members {
		c := counts(p)
		put := func(kind string, fen int64) {
			f.add(p, kind, fen)
			if c {
				fixed += countedKinds[kind] * fen
			}
		}
		switch {
		case p.age >= 60 && urban && !dibao && !tekun && f.chance(0.6):
			put("pension", f.yuan(2200, 4800, 10)) // retired employee
		case p.age >= 60 && f.chance(0.95):
			put("basic_pension", f.yuan(130, 220, 5)) // residents' basic pension
		}
		if p.age >= 80 && f.chance(0.7) {
			fen := int64(5000)
			if p.age >= 90 {
				fen = 10000
			}
			put("old_age_allowance", fen)
		}
		var subsidy int64
		if p.Programmes&DisabilityLiving != 0 {
			subsidy += livingSubsidyFen
		}
		if p.Programmes&DisabilityCare != 0 {
			subsidy += careSubsidyFen
		}
		put("disability_subsidy", subsidy)
		if p.Programmes&Orphan != 0 {
			put("child_allowance", orphanAllowanceFen)
		}
		switch p.Student {
		case "senior_high", "vocational", "bachelor":
			if f.chance(0.25) {
				put("scholarship", f.yuan(150, 300, 10))
			}
		}
		if p.SeriousIllness && (dibao || k == kindApplicant) && f.chance(0.4) {
			put("rigid_expense", f.yuan(100, 600, 10))
		}
		if (dibao || tekun) && p == head && f.chance(0.04) {
			put("social_assistance", f.yuan(100, 400, 10)) // temporary assistance spread over months
		}
		if p.AbleToWork {
			if c {
				earners = append(earners, p)
			} else if !p.CoResident {
				put("wage", f.yuan(2500, 6000, 50)) // works away, not counted
			}
		}
	}
	if ratio >= 0 && n > 0 {
		rest := int64(math.Round(ratio*float64(std*int64(n)))) - fixed
		if rest > 0 {
			f.work(h, earners, rest, urban, dibao, k)
		}
	} else if tekun && len(h.Supporters) > 0 && f.chance(0.3) {
		f.add(head, "support_received", f.yuan(50, 200, 10))
	}
	f.assets(h, k, std, n, ratio)
}

// work spreads the household's missing counted income over its earners as
// wages or farm income; a household without one lives on farming, support
// from children or odd jobs of the head.
func (f *financer) work(h *Household, earners []*Person, rest int64, urban, dibao bool, k kind) {
	head := h.Members[0]
	if len(h.Supporters) > 0 && head.age >= 55 {
		part := rest * int64(20+f.rng.IntN(30)) / 100
		part = part / 100 * 100
		f.add(head, "support_received", part)
		rest -= part
	}
	if len(earners) == 0 {
		switch {
		case !urban:
			f.add(head, "business", rest/100*100) // farming
		case head.age >= 60:
			f.add(head, "support_received", rest/100*100)
		default:
			f.add(head, "other", rest/100*100) // odd jobs
		}
		return
	}
	weights := make([]float64, len(earners))
	total := 0.0
	for i := range weights {
		weights[i] = 0.5 + f.rng.Float64()
		total += weights[i]
	}
	for i, p := range earners {
		share := int64(float64(rest) * weights[i] / total)
		switch {
		case !urban && (i == 0 && f.chance(0.6) || f.chance(0.3)):
			f.add(p, "business", share/100*100) // farm or small trade
		case urban && !dibao && f.chance(0.6):
			// A formal job: the contributions are deducted.
			wage := share * 1000 / 895 / 100 * 100
			f.add(p, "wage", wage)
			f.add(p, "social_insurance_contribution", (wage-share)/100*100)
		default:
			f.add(p, "wage", share/100*100)
		}
	}
	if k != kindDibao && f.chance(0.04) {
		f.add(earners[0], "property", f.yuan(300, 1500, 50)) // rent
	}
}

// assets: most households own their home; recipients hold small deposits,
// a few of them above the limit; others hold more, some a car.
func (f *financer) assets(h *Household, k kind, std int64, n int, ratio float64) {
	urban := h.Hukou == "urban"
	recipient := k == kindDibao || k == kindTekunDispersed || k == kindTekunCentralised || k == kindOrphan
	limit := financialMonths * std * int64(max(n, 1))
	add := func(kind string, fen int64) { h.Assets = append(h.Assets, Asset{Kind: kind, ValueFen: fen}) }
	if k == kindTekunCentralised {
		if f.chance(0.3) {
			add("deposit", f.yuan(200, 3000, 100))
		}
		return
	}
	switch {
	case !urban && f.chance(0.92):
		add("house", f.yuan(30000, 200000, 1000))
	case urban && (recipient && f.chance(0.45) || !recipient && f.chance(0.7)):
		add("house", f.yuan(150000, 900000, 5000))
	}
	if recipient {
		switch {
		case k == kindDibao && f.chance(0.03): // what a re-check finds
			add("deposit", limit+f.yuan(1000, 30000, 100))
		case f.chance(0.55):
			add("deposit", limit*int64(5+f.rng.IntN(50))/100/100*100)
		}
		if !urban && f.chance(0.25) {
			add("production_asset", f.yuan(500, 8000, 100))
		}
		if k == kindDibao && f.chance(0.01) {
			add("vehicle", vehicleLimitFen+f.yuan(5000, 60000, 1000))
		}
		return
	}
	// Not on dibao. Those below the standard were mostly refused for assets.
	if ratio >= 0 && ratio < 1 && f.chance(0.7) {
		if f.chance(0.5) {
			add("vehicle", vehicleLimitFen+f.yuan(10000, 80000, 1000))
		} else {
			add("deposit", limit+f.yuan(5000, 80000, 500))
		}
		return
	}
	if f.chance(0.85) {
		add("deposit", f.yuan(5000, 200000, 500))
	}
	if f.chance(0.25) {
		add("vehicle", f.yuan(30000, 150000, 1000))
	}
	if urban && f.chance(0.1) {
		add([]string{"securities", "fund", "commercial_insurance"}[f.rng.IntN(3)], f.yuan(5000, 100000, 500))
	}
	if !urban && f.chance(0.3) {
		add("production_asset", f.yuan(2000, 30000, 500))
	}
	if urban && f.chance(0.08) {
		add("house", f.yuan(300000, 1200000, 5000)) // a second flat
	}
}
