package calc

import (
	"encoding/json"
	"strings"
	"testing"

	"jiuzhu/internal/policy"
)

// TestRuleCases runs every case of cases/*.yaml through ParseSituation and an
// Evaluator with and without trace, checking the JSON result as the API and
// `jiuzhu calc` give it. Each case's parameter values come in the situation's
// "parameters" extension, as they do over HTTP.
func TestRuleCases(t *testing.T) {
	seeded, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	cases, err := Cases()
	if err != nil || len(cases) == 0 {
		t.Fatalf("no rule cases found: %v", err)
	}
	for _, c := range cases {
		t.Run(c.File, func(t *testing.T) {
			sit, err := ParseSituation(c.SituationJSON)
			if err != nil {
				t.Fatalf("ParseSituation: %v", err)
			}
			for _, trace := range []bool{false, true} {
				res, err := NewEvaluator(seeded, Options{Trace: trace, AllowParameters: true}).Evaluate(&sit)
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				js, err := json.Marshal(res)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range c.Check(js) {
					t.Error(d)
				}
				if len(c.Parameters) > 0 && len(res.Parameters) != len(c.Parameters) {
					t.Errorf("result does not echo the what-if parameters: %v", res.Parameters)
				}
			}
		})
	}
}

func TestWhatIfParameters(t *testing.T) {
	seeded, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	base := `{"date":"2022-03-01","region":"360102002001","programmes":["dibao"],"household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head"}]}`
	sit, err := ParseSituation([]byte(base + `,"parameters":{"dibao.standard.urban":"700.00"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEvaluator(seeded, Options{}).Evaluate(&sit); err == nil || err.(*InputError).Path != "parameters" {
		t.Fatalf("what-if values without AllowParameters: %v", err)
	}
	res, err := NewEvaluator(seeded, Options{AllowParameters: true, Trace: true}).Evaluate(&sit)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := res.Programmes.Get("dibao"); d.MonthlyFen != 70000 {
		t.Errorf("dibao = %d; want 70000 under the what-if standard", d.MonthlyFen)
	}
	js, _ := json.Marshal(res)
	if !strings.Contains(string(js), `"reference":"override"`) || !strings.Contains(string(js), `"parameters":{"dibao.standard.urban":"700.00"}`) {
		t.Errorf("what-if not marked in the result: %s", js)
	}
	for body, path := range map[string]string{
		`,"parameters":{"no.such":"1"}}`:                "parameters.no.such",
		`,"parameters":{"dibao.standard.urban":"abc"}}`: "parameters.dibao.standard.urban",
	} {
		sit, err := ParseSituation([]byte(base + body))
		if err == nil {
			_, err = NewEvaluator(seeded, Options{AllowParameters: true}).Evaluate(&sit)
		}
		if ie, ok := err.(*InputError); !ok || ie.Path != path {
			t.Errorf("%s: error %v; want an InputError at %s", body, err, path)
		}
	}
}
