package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestDefaultSeededFigures(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		demo       bool
	}{
		{"dibao.standard.urban", "640.00", false},
		{"dibao.standard.rural", "385.00", false},
		{"dibao.average_payment.urban", "410.00", true},
		{"dibao.average_payment.rural", "285.00", true},
		{"tekun.basic.rural.centralised", "505.00", false},
		{"tekun.basic.rural.dispersed", "400.00", false},
		{"tekun.basic.urban", "835.00", false},
		{"disability.living.standard", "60.00", true},
		{"disability.care.standard", "70.00", true},
		{"orphan.standard.institution", "1200.00", false},
		{"orphan.standard.scattered", "800.00", false},
		{"tekun.care.full", "1200.00", false},
		{"tekun.care.partial", "300.00", false},
		{"disability.severe_care.home", "600.00", false},
		{"disability.severe_care.institution", "1000.00", false},
		{"marginal.income_multiple", "1.5", false},
		{"temporary.special.min", "10000.00", false},
		{"temporary.special.max", "30000.00", false},
		{"price.threshold.cpi", "0.03", false},
		{"price.threshold.food", "0.06", false},
	}
	for _, tt := range tests {
		v, err := s.Resolve(tt.name, "360721101201", day("2022-03-01"))
		if err != nil {
			t.Errorf("Resolve(%s): %v", tt.name, err)
			continue
		}
		if v.String() != tt.want || v.Demo != tt.demo || v.Reference == "" {
			t.Errorf("%s = %s (demo %v, ref %q); want %s (demo %v)", tt.name, v, v.Demo, v.Reference, tt.want, tt.demo)
		}
	}
	// Dated values: the national 3.5% threshold before Jiangxi's 3.0% of 2020-09-25.
	for date, want := range map[string]string{"2020-09-24": "0.035", "2020-09-25": "0.03"} {
		v, err := s.Resolve("price.threshold.cpi", "360102002001", day(date))
		if err != nil || v.String() != want {
			t.Errorf("price.threshold.cpi on %s = %v, %v; want %s", date, v, err, want)
		}
	}
	v, _ := s.Resolve("tekun.minor_age", "360102002001", day("2020-08-24"))
	if v.Int != 16 {
		t.Errorf("tekun.minor_age before 2020-08-25 = %d; want 16", v.Int)
	}
}

func TestValueJSON(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Resolve("dibao.standard.urban", "360102002001", day("2022-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil || !strings.Contains(string(b), `"value":"640.00","value_fen":64000,"region":"36","start":"2019-01-01"`) {
		t.Fatalf("JSON = %s, %v", b, err)
	}
}

func TestResolveErrors(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Resolve("dibao.standard.urban", "360102002001", day("2018-12-31"))
	if !errors.Is(err, ErrNoValue) || !strings.Contains(err.Error(), "dibao.standard.urban") {
		t.Errorf("before the first value: %v; want ErrNoValue naming the parameter", err)
	}
	_, err = s.Resolve("dibao.standard.urbanx", "360102002001", day("2022-01-01"))
	if !errors.Is(err, ErrUnknownParameter) || !strings.Contains(err.Error(), "dibao.standard.urbanx") {
		t.Errorf("unknown name: %v", err)
	}
	_, err = s.Resolve("dibao.standard.urban", "11010", day("2022-01-01"))
	if !errors.Is(err, ErrNoValue) {
		t.Errorf("region outside Jiangxi: %v; want ErrNoValue", err)
	}
	if _, err := s.Resolve("dibao.standard.urban", "36ab", day("2022-01-01")); err == nil {
		t.Error("non-digit region: want error")
	}
}

const regional = `
parameters:
  - name: x.standard
    unit: fen
    values:
      - {region: "36", start: 2019-01-01, value: "640", reference: province, demo: false}
      - {region: "36", start: 2021-01-01, value: "700", reference: province 2021, demo: false}
      - {region: "3607", start: 2020-01-01, value: "660", reference: Ganzhou, demo: false}
      - {region: "360721", start: 2022-01-01, value: "680", reference: Ganxian, demo: true, note: test}
`

func TestRegionOverride(t *testing.T) {
	s, err := Load(fstest.MapFS{"x.yaml": {Data: []byte(regional)}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		region, date, want, from string
	}{
		{"360102002001", "2019-06-01", "640.00", "36"},
		{"360102002001", "2021-01-01", "700.00", "36"},
		{"360721101201", "2019-06-01", "640.00", "36"},   // city value not started yet
		{"360721101201", "2021-06-01", "660.00", "3607"}, // city overrides the newer province value
		{"360702001001", "2022-06-01", "660.00", "3607"},
		{"360721101201", "2021-12-31", "660.00", "3607"},
		{"360721101201", "2022-01-01", "680.00", "360721"}, // county from its start
	}
	for _, tt := range tests {
		v, err := s.Resolve("x.standard", tt.region, day(tt.date))
		if err != nil || v.String() != tt.want || v.Region != tt.from {
			t.Errorf("Resolve(%s, %s) = %s from %s, %v; want %s from %s", tt.region, tt.date, v, v.Region, err, tt.want, tt.from)
		}
	}
	for region, want := range map[string]string{"360721101201": "360721", "360702001001": "3607", "360102002001": "36", "110101": ""} {
		if got := s.RegionKey(region); got != want {
			t.Errorf("RegionKey(%s) = %q; want %q", region, got, want)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	value := func(extra string) string {
		return "parameters:\n  - name: a.b\n    unit: fen\n    values:\n" + extra
	}
	ok := `      - {region: "36", start: 2020-01-01, value: "1", reference: r, demo: false}` + "\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown unit", strings.Replace(value(ok), "unit: fen", "unit: yuan", 1), `a.b: unknown unit "yuan"`},
		{"same start twice", value(ok + ok), "a.b: values[1]: region 36 has two values starting 2020-01-01"},
		{"back in time", value(ok + `      - {region: "36", start: 2019-01-01, value: "2", reference: r, demo: false}` + "\n"), "a.b: values[1]: region 36: start 2019-01-01 goes back before the previous start 2020-01-01"},
		{"missing reference", value(`      - {region: "36", start: 2020-01-01, value: "1", demo: false}` + "\n"), "a.b: values[0]: missing reference"},
		{"missing demo", value(`      - {region: "36", start: 2020-01-01, value: "1", reference: r}` + "\n"), "a.b: values[0]: missing demo"},
		{"demo without note", value(`      - {region: "36", start: 2020-01-01, value: "1", reference: r, demo: true}` + "\n"), "a.b: values[0]: a demo value needs a note"},
		{"bad region", value(`      - {region: "360", start: 2020-01-01, value: "1", reference: r, demo: false}` + "\n"), `a.b: values[0]: invalid region "360"`},
		{"bad start", value(`      - {region: "36", start: 2020-02-30, value: "1", reference: r, demo: false}` + "\n"), `a.b: values[0]: invalid start "2020-02-30"`},
		{"bad fen", value(`      - {region: "36", start: 2020-01-01, value: "1.234", reference: r, demo: false}` + "\n"), "a.b: values[0]: value:"},
		{"negative fen", value(`      - {region: "36", start: 2020-01-01, value: "-1", reference: r, demo: false}` + "\n"), "negative amount"},
		{"no values", value(""), "a.b: no values"},
		{"bad name", strings.Replace(value(ok), "a.b", "A b", 1), `invalid name "A b"`},
		{"unknown field", value(ok) + "    colour: red\n", "field colour not found"},
		{"bool value", strings.Replace(value(`      - {region: "36", start: 2020-01-01, value: "yes", reference: r, demo: false}`+"\n"), "unit: fen", "unit: bool", 1), `invalid bool "yes"`},
		{"ratio value", strings.Replace(value(`      - {region: "36", start: 2020-01-01, value: "1/0", reference: r, demo: false}`+"\n"), "unit: fen", "unit: ratio", 1), `invalid ratio "1/0"`},
		{"count value", strings.Replace(value(`      - {region: "36", start: 2020-01-01, value: "1.5", reference: r, demo: false}`+"\n"), "unit: fen", "unit: count", 1), `invalid count "1.5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"p.yaml": {Data: []byte(tt.yaml)}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v; want it to contain %q", err, tt.want)
			}
		})
	}
	twice := value(ok)
	_, err := Load(fstest.MapFS{"a.yaml": {Data: []byte(twice)}, "b.yaml": {Data: []byte(twice)}})
	if err == nil || !strings.Contains(err.Error(), "a.b defined again") {
		t.Errorf("duplicate across files: %v", err)
	}
	if _, err := Load(fstest.MapFS{}); err == nil {
		t.Error("no files: want error")
	}
}

func TestScheduleValue(t *testing.T) {
	s, err := Load(fstest.MapFS{"x.yaml": {Data: []byte(regional)}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Parameter("x.standard")
	today := day("2021-06-15")
	v, err := ScheduleValue(p, Proposal{Region: "3607", Start: day("2021-07-01"), Value: "720.00", Reference: "赣州 2021"}, today)
	if err != nil || v.Int != 72000 || v.Name != "x.standard" {
		t.Fatalf("ScheduleValue = %+v, %v", v, err)
	}
	bad := []struct {
		name string
		prop Proposal
		want string
	}{
		{"starts today", Proposal{Region: "36", Start: today, Value: "1", Reference: "r"}, "must be after today"},
		{"before last start", Proposal{Region: "360721", Start: day("2021-07-01"), Value: "1", Reference: "r"}, "must be after the last start 2022-01-01 for region 360721"},
		{"equal to last start", Proposal{Region: "360721", Start: day("2022-01-01"), Value: "1", Reference: "r"}, "must be after the last start"},
		{"no reference", Proposal{Region: "36", Start: day("2022-01-01"), Value: "1"}, "legal reference is required"},
		{"bad value", Proposal{Region: "36", Start: day("2022-01-01"), Value: "abc", Reference: "r"}, "invalid yuan amount"},
		{"bad region", Proposal{Region: "3", Start: day("2022-01-01"), Value: "1", Reference: "r"}, "invalid region"},
	}
	for _, tt := range bad {
		if _, err := ScheduleValue(p, tt.prop, today); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "x.standard") {
			t.Errorf("%s: error = %v; want it to name x.standard and contain %q", tt.name, err, tt.want)
		}
	}
}

func TestOverride(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Override(map[string]string{"dibao.standard.urban": "700.00"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := o.Resolve("dibao.standard.urban", "360102002001", day("2015-01-01"))
	if err != nil || v.Int != 70000 {
		t.Fatalf("overridden value = %v, %v", v, err)
	}
	if v, _ := s.Resolve("dibao.standard.urban", "360102002001", day("2022-01-01")); v.Int != 64000 {
		t.Error("Override changed the original set")
	}
	if _, err := s.Override(map[string]string{"no.such": "1"}); !errors.Is(err, ErrUnknownParameter) {
		t.Errorf("unknown override: %v", err)
	}
	if _, err := s.Override(map[string]string{"marginal.income_multiple": "x"}); err == nil {
		t.Error("bad override value: want error")
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		in, str string
		mul     int64 // × 52000 fen
	}{
		{"1.3", "1.3", 67600},
		{"1.5", "1.5", 78000},
		{"0.035", "0.035", 1820},
		{"1/3", "1/3", 17333},
		{"2/6", "1/3", 17333},
		{"6", "6", 312000},
		{"0", "0", 0},
	}
	for _, tt := range tests {
		r, err := ParseRatio(tt.in)
		if err != nil || r.String() != tt.str || int64(r.MulFen(52000)) != tt.mul {
			t.Errorf("ParseRatio(%q) = %v (%s, ×52000 = %d), %v; want %s, %d", tt.in, r, r, r.MulFen(52000), err, tt.str, tt.mul)
		}
	}
	for _, in := range []string{"", "x", "1e3", "1/0", "1/-2", "1.5.2"} {
		if _, err := ParseRatio(in); err == nil {
			t.Errorf("ParseRatio(%q): want error", in)
		}
	}
}
