package gen

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"jiuzhu/internal/calc"
	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/testdb"
)

// situation is a generated household as the calculators see it, on date: the
// latest income per person and kind, the assets on the head, as the registry
// builds it.
func situation(h *Household, date string) calc.Situation {
	sit := calc.Situation{Date: date, Region: h.Region, Programmes: []string{"dibao"}, Household: calc.Household{Hukou: h.Hukou}}
	for i, p := range h.Members {
		m := calc.Member{ID: fmt.Sprint(i), BirthDate: p.BirthDate, Relation: p.Relation, CoResident: &p.CoResident,
			SelfCareFailedItems: 0, Student: p.Student, SeriousIllness: p.SeriousIllness, AbleToWork: &p.AbleToWork}
		if p.DisabilityKind != "" {
			m.Disability = &calc.Disability{Kind: p.DisabilityKind, Level: p.DisabilityLevel}
		}
		latest := map[string]Income{}
		var order []string
		for _, in := range p.Incomes {
			if in.Since > date {
				continue
			}
			l, ok := latest[in.Kind]
			if !ok {
				order = append(order, in.Kind)
			}
			if !ok || in.Since >= l.Since {
				latest[in.Kind] = in
			}
		}
		for _, k := range order {
			m.Incomes = append(m.Incomes, calc.Income{Kind: k, MonthlyFen: money.Fen(latest[k].MonthlyFen)})
		}
		if i == 0 {
			for _, a := range h.Assets {
				m.Assets = append(m.Assets, calc.Asset{Kind: a.Kind, ValueFen: money.Fen(a.ValueFen)})
			}
		}
		sit.Household.Members = append(sit.Household.Members, m)
	}
	return sit
}

func onDibao(h *Household) bool {
	for _, p := range h.Members {
		if p.Programmes&(DibaoUrban|DibaoRural) != 0 {
			return true
		}
	}
	return false
}

func hasProgramme(h *Household) bool {
	for _, p := range h.Members {
		if p.Programmes != 0 {
			return true
		}
	}
	return false
}

// TestIncomeCalibration evaluates the generated households with the dibao
// calculator: recipients mostly qualify, a minority no longer does (what
// re-checks find), and most other households do not.
func TestIncomeCalibration(t *testing.T) {
	set, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	ev := calc.NewEvaluator(set, calc.Options{})
	_, households := generate(t, Options{Scale: 0.002, Seed: 9, Now: testNow})
	for _, date := range []string{testNow.Format(time.DateOnly)} {
		var dibao, dibaoOK, others, othersOK, othersAlone, marginal, perCapitaBelow int
		for _, h := range households {
			kindRecipient := onDibao(h)
			if !kindRecipient && hasProgramme(h) && h.Members[0].Programmes&(TekunCentralised|TekunDispersed) != 0 {
				continue // extreme poverty: its own means test
			}
			sit := situation(h, date)
			r, err := ev.Evaluate(&sit)
			if err != nil {
				t.Fatalf("household %s: %v", h.No, err)
			}
			p, _ := r.Programmes.Get("dibao")
			income, n := h.countedFen()
			std := int64(ruralStandardFen)
			if h.Hukou == "urban" {
				std = urbanStandardFen
			}
			if kindRecipient {
				dibao++
				if p.Eligible {
					dibaoOK++
				}
				if income < std*int64(n) {
					perCapitaBelow++
				}
			} else {
				others++
				switch {
				case p.Eligible && p.Unit == "individual":
					othersAlone++
				case p.Eligible:
					othersOK++
				}
				if income >= std*int64(n) && 2*income < 3*std*int64(n) {
					marginal++
				}
			}
		}
		t.Logf("%s: dibao households %d, %.1f%% eligible (%.1f%% below the standard by income); others %d, %.1f%% eligible as a household, %.1f%% members alone (DB-06), %.1f%% marginal",
			date, dibao, 100*float64(dibaoOK)/float64(dibao), 100*float64(perCapitaBelow)/float64(dibao),
			others, 100*float64(othersOK)/float64(others), 100*float64(othersAlone)/float64(others), 100*float64(marginal)/float64(others))
		if share := float64(dibaoOK) / float64(dibao); share < 0.82 || share > 0.97 {
			t.Errorf("%s: %.1f%% of dibao households eligible, want most but not all (82–97%%)", date, 100*share)
		}
		if share := float64(othersOK) / float64(others); share > 0.12 {
			t.Errorf("%s: %.1f%% of other households eligible, want few", date, 100*share)
		}
		// Severely disabled adults without work may be included alone; in
		// households on the care subsidy they are many, but not most.
		if share := float64(othersOK+othersAlone) / float64(others); share > 0.35 {
			t.Errorf("%s: %.1f%% of other households with someone eligible, want a minority", date, 100*share)
		}
		if share := float64(marginal) / float64(others); share < 0.1 || share > 0.5 {
			t.Errorf("%s: %.1f%% of other households marginal, want some", date, 100*share)
		}
	}
}

// TestFinances checks the kinds against the calculators' lists, the dates,
// and that incomes and assets are deterministic and independent of the people.
func TestFinances(t *testing.T) {
	incomeKinds, assetKinds := map[string]bool{}, map[string]bool{}
	for _, k := range calc.IncomeKinds() {
		incomeKinds[k.Name] = true
	}
	for _, k := range calc.AssetKinds() {
		assetKinds[k.Name] = true
	}
	for k := range countedKinds {
		if !incomeKinds[k] {
			t.Errorf("counted kind %s is not a calculator income kind", k)
		}
	}
	opts := Options{Scale: 0.001, Seed: 4, Now: testNow}
	_, a := generate(t, opts)
	_, b := generate(t, opts)
	var incomes, assets, withIncome, persons int
	kinds := map[string]int{}
	for i, h := range a {
		if !slices.Equal(h.Assets, b[i].Assets) {
			t.Fatalf("household %s: assets differ between runs", h.No)
		}
		for _, as := range h.Assets {
			if !assetKinds[as.Kind] || as.ValueFen <= 0 {
				t.Fatalf("household %s: asset %+v", h.No, as)
			}
		}
		assets += len(h.Assets)
		for j, p := range h.Members {
			persons++
			if !slices.Equal(p.Incomes, b[i].Members[j].Incomes) {
				t.Fatalf("%s: incomes differ between runs", p.Name)
			}
			if len(p.Incomes) > 0 {
				withIncome++
			}
			for _, in := range p.Incomes {
				kinds[in.Kind]++
				if !incomeKinds[in.Kind] || in.MonthlyFen <= 0 || in.MonthlyFen%100 != 0 || in.Since > testNow.Format(time.DateOnly) {
					t.Fatalf("%s: income %+v", p.Name, in)
				}
				if _, err := time.Parse(time.DateOnly, in.Since); err != nil {
					t.Fatalf("%s: income %+v", p.Name, in)
				}
			}
			incomes += len(p.Incomes)
		}
	}
	t.Logf("%d households, %d persons (%d with income): %d incomes %v, %d assets", len(a), persons, withIncome, incomes, kinds, assets)
	for _, k := range []string{"wage", "business", "pension", "basic_pension", "support_received", "disability_subsidy", "child_allowance", "scholarship"} {
		if kinds[k] == 0 {
			t.Errorf("no %s income generated", k)
		}
	}
	if assets < len(a)/2 {
		t.Errorf("%d assets for %d households", assets, len(a))
	}
	// The people do not depend on whether finances are drawn.
	g, err := New(opts, testdb.Tree(t))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for h, err := range g.households(t.Context(), nil, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if h.No != a[i].No || h.Members[0].IDNumber != a[i].Members[0].IDNumber || len(h.Assets) != 0 || len(h.Members[0].Incomes) != 0 {
			t.Fatalf("household %d differs without finances", i)
		}
		i++
	}
}
