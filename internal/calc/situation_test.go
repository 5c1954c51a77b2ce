package calc

import (
	"errors"
	"strings"
	"testing"

	"jiuzhu/internal/policy"
)

// sitJSON builds a situation around the given members array and extra
// top-level fields.
func sitJSON(members, extra string) string {
	return `{"date":"2022-03-01","region":"360102002001",` + extra +
		`"household":{"hukou":"urban","members":` + members + `}}`
}

const twoMembers = `[{"id":"a","birth_date":"1980-01-01","relation":"head"},
	{"id":"b","birth_date":"1982-01-01","relation":"spouse","incomes":[{"kind":"wage","monthly_fen":1000}]}]`

func TestParseSituationValid(t *testing.T) {
	s, err := ParseSituation([]byte(sitJSON(twoMembers, `"programmes":["dibao","price_subsidy"],`)))
	if err != nil {
		t.Fatal(err)
	}
	if s.progs != 1<<Dibao|1<<PriceSubsidy {
		t.Errorf("programmes mask = %b", s.progs)
	}
	if got := s.Household.Members[1].birth.age(s.day); got != 40 {
		t.Errorf("age = %d; want 40", got)
	}
}

func TestParseSituationRejects(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"syntax", `{"date":`, "truncated"},
		{"not JSON", `[1,2]`, "want an object"},
		{"trailing data", sitJSON(twoMembers, "") + `{}`, "unexpected data after"},
		{"unknown top-level field", sitJSON(twoMembers, `"colour":"red",`), `unknown field "colour"`},
		{"unknown nested field", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head"},{"id":"b","birth_date":"1982-01-01","relation":"spouse","incomes":[{"kind":"wage","monthly_fen":1,"note":"x"}]}]`, ""),
			`household.members[1].incomes[0]: unknown field "note"`},
		{"unknown income kind", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head"},{"id":"b","birth_date":"1982-01-01","relation":"spouse","incomes":[{"kind":"xyz","monthly_fen":1}]}]`, ""),
			`household.members[1].incomes[0].kind: unknown income kind "xyz"`},
		{"unknown asset kind", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","assets":[{"kind":"gold","value_fen":1}]}]`, ""),
			`household.members[0].assets[0].kind: unknown asset kind "gold"`},
		{"unknown programme", sitJSON(twoMembers, `"programmes":["dibao","pension"],`), `programmes[1]: unknown programme "pension"`},
		{"programme twice", sitJSON(twoMembers, `"programmes":["dibao","dibao"],`), `programmes[1]: programme "dibao" listed twice`},
		{"impossible date", strings.Replace(sitJSON(twoMembers, ""), "2022-03-01", "2021-02-29", 1), `date: want a real date`},
		{"impossible birth date", sitJSON(`[{"id":"a","birth_date":"1980-13-01","relation":"head"}]`, ""), `household.members[0].birth_date: want a real date`},
		{"birth after date", sitJSON(`[{"id":"a","birth_date":"2023-01-01","relation":"head"}]`, ""), `household.members[0].birth_date: 2023-01-01 is after the situation date`},
		{"negative income", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","incomes":[{"kind":"wage","monthly_fen":-5}]}]`, ""),
			`household.members[0].incomes[0].monthly_fen: must not be negative`},
		{"negative asset", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","assets":[{"kind":"deposit","value_fen":-5}]}]`, ""),
			`household.members[0].assets[0].value_fen: must not be negative`},
		{"fractional fen", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","incomes":[{"kind":"wage","monthly_fen":1.5}]}]`, ""),
			`household.members[0].incomes[0].monthly_fen: want an integer`},
		{"string fen", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","incomes":[{"kind":"wage","monthly_fen":"100"}]}]`, ""),
			`household.members[0].incomes[0].monthly_fen: want an integer`},
		{"duplicate member id", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head"},{"id":"a","birth_date":"1982-01-01","relation":"spouse"}]`, ""),
			`household.members[1].id: member id "a" listed twice`},
		{"missing member id", sitJSON(`[{"birth_date":"1980-01-01","relation":"head"}]`, ""), `household.members[0].id: required`},
		{"self-care 7", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","self_care_failed_items":7}]`, ""),
			`household.members[0].self_care_failed_items: must be between 0 and 6`},
		{"self-care -1", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","self_care_failed_items":-1}]`, ""),
			`household.members[0].self_care_failed_items: must be between 0 and 6`},
		{"unknown relation", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"cousin"}]`, ""), `household.members[0].relation: unknown relation "cousin"`},
		{"no head", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"spouse"}]`, ""), `household.members: one member must have relation "head"`},
		{"two heads", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head"},{"id":"b","birth_date":"1980-01-01","relation":"head"}]`, ""), `household.members[1].relation: a second head`},
		{"no members", sitJSON(`[]`, ""), `household.members: at least one member`},
		{"disability kind", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","disability":{"kind":"bad","level":1}}]`, ""),
			`household.members[0].disability.kind: unknown disability kind "bad"`},
		{"disability level", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","disability":{"kind":"physical","level":5}}]`, ""),
			`household.members[0].disability.level: must be between 1 and 4`},
		{"student", sitJSON(`[{"id":"a","birth_date":"1980-01-01","relation":"head","student":"phd"}]`, ""), `household.members[0].student: unknown student level "phd"`},
		{"parents count", sitJSON(`[{"id":"a","birth_date":"2010-01-01","relation":"head","parents":["dead"]}]`, ""), `household.members[0].parents: give the status of both parents`},
		{"parent status", sitJSON(`[{"id":"a","birth_date":"2010-01-01","relation":"head","parents":["dead","gone"]}]`, ""), `household.members[0].parents[1]: unknown parent status "gone"`},
		{"bad region", strings.Replace(sitJSON(twoMembers, ""), "360102002001", "3601", 1), `region: want a 12-digit region code`},
		{"bad hukou", strings.Replace(sitJSON(twoMembers, ""), `"urban"`, `"city"`, 1), `household.hukou: unknown hukou "city"`},
		{"request kind", sitJSON(twoMembers, `"request":{"kind":"flood","need_fen":1},`), `request.kind: unknown request kind "flood"`},
		{"request need", sitJSON(twoMembers, `"request":{"kind":"emergency","need_fen":0},`), `request.need_fen: must be greater than 0`},
		{"prices missing", sitJSON(twoMembers, `"prices":{"cpi_yoy":3.5},`), `prices.food_yoy: required`},
		{"supporter of unknown", `{"date":"2022-03-01","region":"360102002001","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1950-01-01","relation":"head"}],
			"supporters":[{"relation":"child","birth_date":"1980-01-01","on_dibao":false,"on_tekun":false,"monthly_income_fen":0,"assets_within_rules":true,"of":"zz"}]}}`,
			`household.supporters[0].of: no member with id "zz"`},
		{"current since", `{"date":"2022-03-01","region":"360102002001","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1950-01-01","relation":"head"}],
			"current":{"programme":"dibao","monthly_fen":1,"since":"2022-13"}}}`, `household.current.since: want YYYY-MM`},
		{"current in future", `{"date":"2022-03-01","region":"360102002001","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1950-01-01","relation":"head"}],
			"current":{"programme":"dibao","monthly_fen":1,"since":"2022-04"}}}`, `household.current.since: 2022-04 is after the situation date`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSituation([]byte(tt.json))
			if err == nil {
				t.Fatalf("want error containing %q", tt.want)
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("error %v is not an *InputError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEvaluateKnownRegion(t *testing.T) {
	params, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSituation([]byte(sitJSON(twoMembers, "")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(s, params, Options{KnownRegion: func(code string) bool { return code == "360102001001" }})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Path != "region" || !strings.Contains(err.Error(), `unknown region code "360102002001"`) {
		t.Fatalf("error = %v; want unknown region", err)
	}
	if _, err := Evaluate(s, params, Options{KnownRegion: func(string) bool { return true }}); err != nil {
		t.Fatal(err)
	}
}

func TestEvaluateMissingParameter(t *testing.T) {
	params, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	// The seeded dibao standards start in 2019: an earlier date must fail
	// naming the parameter, never compute with zero.
	s, err := ParseSituation([]byte(strings.Replace(sitJSON(twoMembers, ""), "2022-03-01", "2018-06-01", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(s, params, Options{})
	if !errors.Is(err, policy.ErrNoValue) || !strings.Contains(err.Error(), "dibao.standard.urban") {
		t.Fatalf("error = %v; want ErrNoValue naming dibao.standard.urban", err)
	}
}

func TestEvaluateValidatesGoBuiltSituation(t *testing.T) {
	params, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	s := Situation{Date: "2022-03-01", Region: "360102002001", Household: Household{Hukou: "urban",
		Members: []Member{{ID: "a", BirthDate: "1980-01-01", Relation: "head", Incomes: []Income{{Kind: "nope"}}}}}}
	if _, err := Evaluate(s, params, Options{}); err == nil || !strings.Contains(err.Error(), `incomes[0].kind: unknown income kind "nope"`) {
		t.Fatalf("error = %v", err)
	}
}

func TestKinds(t *testing.T) {
	for _, list := range [][]Kind{IncomeKinds(), AssetKinds(), ProgrammeKinds()} {
		seen := map[string]bool{}
		for _, k := range list {
			if k.Name == "" || k.Label == "" || seen[k.Name] {
				t.Errorf("bad or duplicate kind %+v", k)
			}
			seen[k.Name] = true
		}
	}
	if len(ProgrammeKinds()) != int(numProgrammes) {
		t.Error("programme list out of step with the Programme constants")
	}
}

func TestParameterNamesExist(t *testing.T) {
	params, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ParameterNames() {
		if _, ok := params.Parameter(name); !ok {
			t.Errorf("calculator reads %s, which is not in policy/*.yaml", name)
		}
	}
}
