package calc

import (
	"fmt"
	"math/rand/v2"
	"time"

	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
)

// SyntheticSituations builds n varied, valid households deterministically
// (the same n gives the same households), for benchmarks and load tests.
func SyntheticSituations(n int) ([]Situation, error) {
	rng := rand.New(rand.NewPCG(2019, 36))
	out := make([]Situation, n)
	regions := []string{"360102002001", "360704101201", "360402001200", "361102001200"} // villages of the 2023 tree
	for i := range out {
		year := 2020 + rng.IntN(6)
		date := time.Date(year, time.Month(1+rng.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
		s := Situation{
			Date:   date.Format(time.DateOnly),
			Region: regions[rng.IntN(len(regions))],
			Household: Household{
				Hukou: [2]string{"urban", "rural"}[rng.IntN(2)],
			},
			Prices: &Prices{CPIYoY: ptr(1 + rng.Float64()*3.5), FoodYoY: ptr(rng.Float64() * 8)},
		}
		person := func(id, rel string, age int) Member {
			m := Member{ID: id, Relation: rel, BirthDate: date.AddDate(-age, -rng.IntN(12), -rng.IntN(28)).Format(time.DateOnly)}
			switch {
			case age >= 60:
				m.Incomes = append(m.Incomes, Income{Kind: "basic_pension", MonthlyFen: money.Fen(10000 + rng.IntN(10000))})
				m.SelfCareFailedItems = rng.IntN(7)
			case age >= 18 && rng.IntN(3) > 0:
				m.Incomes = append(m.Incomes, Income{Kind: "wage", MonthlyFen: money.Fen(rng.IntN(400000))})
			case age < 18:
				m.Student = "compulsory"
			}
			if rng.IntN(8) == 0 {
				m.Disability = &Disability{Kind: disabilityKinds[rng.IntN(len(disabilityKinds))].Name, Level: 1 + rng.IntN(4)}
				m.LongTermCare = rng.IntN(2) == 0
			}
			if rng.IntN(5) == 0 {
				m.Assets = append(m.Assets, Asset{Kind: "deposit", ValueFen: money.Fen(rng.IntN(8000000))})
			}
			return m
		}
		headAge := 25 + rng.IntN(60)
		hh := &s.Household
		hh.Members = append(hh.Members, person("m0", "head", headAge))
		if rng.IntN(3) > 0 {
			hh.Members = append(hh.Members, person("m1", "spouse", headAge-2+rng.IntN(5)))
		}
		for c := range rng.IntN(3) {
			kid := person(fmt.Sprintf("c%d", c), "child", max(0, headAge-20-rng.IntN(15)))
			if rng.IntN(20) == 0 {
				kid.Parents = []string{"dead", "prison"}
			}
			hh.Members = append(hh.Members, kid)
		}
		if headAge < 50 && rng.IntN(3) == 0 {
			hh.Members = append(hh.Members, person("p0", "parent", headAge+25+rng.IntN(10)))
		}
		if rng.IntN(4) == 0 {
			hh.Supporters = append(hh.Supporters, Supporter{Relation: "child", BirthDate: "1975-01-01", OnDibao: rng.IntN(2) == 0, AssetsWithinRules: true})
		}
		if rng.IntN(6) == 0 {
			s.Request = &Request{Kind: [2]string{"emergency", "expenditure"}[rng.IntN(2)], NeedFen: money.Fen(50000 + rng.IntN(5000000))}
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("calc: synthetic household %d: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }

// BenchEvaluations evaluates n synthetic households against the embedded
// parameters on one goroutine and returns evaluations per second. Parameter
// bundles are resolved in a warm-up pass first, as they would be in a long
// batch. `jiuzhu bench calc` calls it.
func BenchEvaluations(n int, trace bool) (float64, error) {
	params, err := policy.Default()
	if err != nil {
		return 0, err
	}
	sits, err := SyntheticSituations(min(n, 4096))
	if err != nil {
		return 0, err
	}
	ev := NewEvaluator(params, Options{Trace: trace})
	var r Result
	for i := range sits {
		if err := ev.EvaluateInto(&sits[i], &r); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for i := range n {
		if err := ev.EvaluateInto(&sits[i%len(sits)], &r); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
