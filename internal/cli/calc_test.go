package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/calc"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/testdb"
)

// TestCalcCommandCases runs some of the rule cases through `jiuzhu calc`,
// from standard input and from a file.
func TestCalcCommandCases(t *testing.T) {
	cases, err := calc.Cases()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if i%6 != 0 { // every sixth case: the full set runs through the API test
			continue
		}
		var out, errOut bytes.Buffer
		if err := calcCmd(context.Background(), []string{"-"}, bytes.NewReader(c.SituationJSON), &out, &errOut); err != nil {
			t.Errorf("%s: %v %s", c.File, err, errOut.String())
			continue
		}
		for _, d := range c.Check(out.Bytes()) {
			t.Errorf("%s: %s", c.File, d)
		}
	}
	file := filepath.Join(t.TempDir(), "sit.json")
	os.WriteFile(file, cases[0].SituationJSON, 0o600)
	var out bytes.Buffer
	if err := calcCmd(context.Background(), []string{"-trace=false", file}, nil, &out, &out); err != nil || len(cases[0].Check(out.Bytes())) > 0 || strings.Contains(out.String(), `"trace"`) {
		t.Errorf("calc FILE: %v %s", err, out.String())
	}
}

func TestCalcCommandBadInput(t *testing.T) {
	for body, field := range map[string]string{
		`{"date":"2022-02-30","region":"360102002001","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head"}]}}`:                                              "field date",
		`{"date":"2022-03-01","region":"360799999999","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head"}]}}`:                                              "field region",
		`{"date":"2022-03-01","region":"360102002001","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head","incomes":[{"kind":"wage","monthly_fen":-5}]}]}}`: "field household.members[0].incomes[0].monthly_fen",
		`{"date":"2010-03-01","region":"360102002001","household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head"}]}}`:                                              "parameter dibao.",
	} {
		var out bytes.Buffer
		err := calcCmd(context.Background(), nil, strings.NewReader(body), &out, &out)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v; want it to name %s", err, field)
		}
		if out.Len() != 0 {
			t.Errorf("output on a refused situation: %s", out.String())
		}
	}
	if err := calcCmd(context.Background(), []string{"a", "b"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("two files accepted")
	}
}

// TestCalcCommandDatabase uses a database's approved parameters, and
// simulates over its (empty) registry.
func TestCalcCommandDatabase(t *testing.T) {
	url := testdb.URL(t)
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	sit := `{"date":"2022-03-01","region":"360102002001","programmes":["dibao"],"household":{"hukou":"urban","members":[{"id":"a","birth_date":"1970-01-01","relation":"head"}]}}`
	var out, errOut bytes.Buffer
	if err := calcCmd(context.Background(), []string{"-db", url}, strings.NewReader(sit), &out, &errOut); err != nil || !strings.Contains(out.String(), `"monthly_fen": 64000`) {
		t.Fatalf("calc -db: %v %s %s", err, out.String(), errOut.String())
	}
	out.Reset()
	if err := simulateCmd(context.Background(), []string{"-db", url, "-param", "dibao.standard.urban", "-value", "700.00", "-from", "2022-01-01"}, &out, &errOut); err != nil ||
		!strings.Contains(out.String(), "households: 0 evaluated") {
		t.Errorf("simulate: %v %s", err, out.String())
	}
	if err := simulateCmd(context.Background(), []string{"-db", url, "-param", "dibao.standard.urban", "-value", "abc", "-from", "2022-01-01"}, &out, &errOut); err == nil {
		t.Error("simulate with a bad value")
	}
}

func TestBenchCalcWithoutDatabase(t *testing.T) {
	var out bytes.Buffer
	if err := benchCalc(context.Background(), []string{"-scale", "0.01"}, &out, &out); err != nil || !strings.Contains(out.String(), "with trace") {
		t.Errorf("bench calc: %v %s", err, out.String())
	}
}

// TestBenchCalcAgrees runs the simulation against the SQL baseline over a
// generated county: the bench fails unless both find the same dibao
// households and amounts. PostgreSQL only.
func TestBenchCalcAgrees(t *testing.T) {
	if testdb.PGURL() == "" {
		t.Skip("the SQL baseline needs PostgreSQL (JIUZHU_TEST_PG)")
	}
	url := testdb.URL(t)
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := testdb.Tree(t).Store(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Load(context.Background(), d, testdb.Tree(t), keys, gen.Options{Scale: 0.02, Seed: 5, Now: time.Now().UTC(),
		Regions: []string{"360124", "360702"}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := benchCalc(context.Background(), []string{"-db", url, "-scale", "0.01", "-runs", "1"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "RESULT calc ours=") {
		t.Errorf("no result line:\n%s", out.String())
	}
	t.Log(out.String())
}

// TestBaselineKindsCoverCalc: the SQL baseline classifies every income kind
// of the calculators exactly once.
func TestBaselineKindsCoverCalc(t *testing.T) {
	seen := map[string]int{}
	k := baselineIncomeKinds
	for _, list := range [][]string{k.counted, k.deducted, k.byParameter, k.excluded} {
		for _, n := range list {
			seen[n]++
		}
	}
	for _, kind := range calc.IncomeKinds() {
		if seen[kind.Name] != 1 {
			t.Errorf("income kind %s classified %d times", kind.Name, seen[kind.Name])
		}
		delete(seen, kind.Name)
	}
	for n := range seen {
		t.Errorf("baseline kind %s is not a calculator kind", n)
	}
}
