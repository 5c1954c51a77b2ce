package gen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/bankcard"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
	"jiuzhu/internal/testdb"
)

var testNow = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)

func generate(t *testing.T, opts Options) (*Generator, []*Household) {
	t.Helper()
	g, err := New(opts, testdb.Tree(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*Household
	for h, err := range g.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return g, out
}

// The 2019 figures at scale 1, per programme.
var calibration = map[Programme]float64{
	DibaoRural: ruralDibaoPersons, DibaoUrban: urbanDibaoPersons,
	TekunCentralised: tekunPersons * tekunCentralisedShare, TekunDispersed: tekunPersons * (1 - tekunCentralisedShare),
	Orphan: orphanPersons, DisabilityLiving: disabilityLivingPersons, DisabilityCare: disabilityCarePersons,
}

func TestCalibrationAndLinearScale(t *testing.T) {
	const scale = 0.002
	g, households := generate(t, Options{Scale: scale, Seed: 7, Now: testNow})
	st := g.Stats()
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol*want {
			t.Errorf("%s = %.0f, want %.0f ± %.0f%%", what, got, want, tol*100)
		}
	}
	for p, n := range calibration {
		near(p.String(), float64(st.Recipients[p]), n*scale, 0.03)
	}
	// The whole province is only planned, not drawn: that is quick.
	whole, err := New(Options{Scale: 1, Seed: 7, Now: testNow}, testdb.Tree(t))
	if err != nil {
		t.Fatal(err)
	}
	if w := whole.Stats(); w.Households < 1.3e6 || w.Households > 1.5e6 || w.Persons < 4e6 || w.Persons > 5e6 {
		t.Errorf("scale 1: %d households, %d persons; want 1.3–1.5 M and 4–5 M", w.Households, w.Persons)
	}

	double, err := New(Options{Scale: 2 * scale, Seed: 7, Now: testNow}, testdb.Tree(t))
	if err != nil {
		t.Fatal(err)
	}
	d := double.Stats()
	// Supporters are drawn per household, so they vary more.
	for _, c := range []struct {
		what      string
		got, want int64
		tol       float64
	}{{"households", d.Households, st.Households, 0.03}, {"persons", d.Persons, st.Persons, 0.03},
		{"supporters", d.Supporters, st.Supporters, 0.10}, {"accounts", d.BankAccounts, st.BankAccounts, 0.03}} {
		near(c.what+" at double scale", float64(c.got), 2*float64(c.want), c.tol)
	}

	// The stream holds exactly what the plan counted.
	var got Stats
	got.Recipients = map[Programme]int64{}
	for _, h := range households {
		got.Households++
		got.Persons += int64(len(h.Members))
		got.Supporters += int64(len(h.Supporters))
		for _, p := range h.Members {
			if p.Account != nil {
				got.BankAccounts++
			}
			for _, q := range Programmes {
				if p.Programmes&q != 0 {
					got.Recipients[q]++
				}
			}
		}
	}
	if got.Households != st.Households || got.Persons != st.Persons || got.Supporters != st.Supporters || got.BankAccounts != st.BankAccounts {
		t.Errorf("stream %+v, plan %+v", got, st)
	}
	for _, q := range Programmes {
		if got.Recipients[q] != st.Recipients[q] {
			t.Errorf("%s: stream %d, plan %d", q, got.Recipients[q], st.Recipients[q])
		}
	}
}

func TestPeopleAreConsistent(t *testing.T) {
	tree := testdb.Tree(t)
	_, households := generate(t, Options{Scale: 0.002, Seed: 3, Now: testNow})
	ids := map[string]bool{}
	checkID := func(number, birth, sex string) {
		t.Helper()
		id, err := idcard.Parse(number, testNow)
		if err != nil {
			t.Fatalf("%s: %v", number, err)
		}
		if ids[number] {
			t.Fatalf("ID number %s twice", number)
		}
		ids[number] = true
		if id.BirthDate.Format(time.DateOnly) != birth || sex != "" && id.Sex() != sex {
			t.Fatalf("%s does not match birth %s sex %s", number, birth, sex)
		}
	}
	var urbanHukou, urbanInCommittee int
	for _, h := range households {
		r, ok := tree.Get(h.Region)
		if !ok || r.Level != region.Village || !strings.HasPrefix(h.No, h.Region) || len(h.No) != 17 {
			t.Fatalf("household %s in %s: not a village", h.No, h.Region)
		}
		if h.Hukou == "urban" {
			urbanHukou++
			if r.Kind == "居委会" || r.Kind == "类似居委会" {
				urbanInCommittee++
			}
		}
		if h.Members[0].Relation != "head" || len(h.Members) > 6 {
			t.Fatalf("household %s: %d members, first %s", h.No, len(h.Members), h.Members[0].Relation)
		}
		for _, p := range h.Members {
			checkID(p.IDNumber, p.BirthDate, p.Sex)
			birth, _ := time.Parse(time.DateOnly, p.BirthDate)
			age := testNow.Year() - birth.Year()
			if testNow.Month() < birth.Month() || testNow.Month() == birth.Month() && testNow.Day() < birth.Day() {
				age--
			}
			if age != p.age {
				t.Fatalf("%s: age %d from birth date, drawn %d", p.Name, age, p.age)
			}
			if p.Programmes&(TekunCentralised|TekunDispersed) != 0 && !(age >= 60 || age < 16 || severeDisability(p)) {
				t.Fatalf("extreme-poverty %s aged %d without qualifying disability (%s %d)", p.Name, age, p.DisabilityKind, p.DisabilityLevel)
			}
			if p.Programmes&Orphan != 0 && age >= 18 {
				t.Fatalf("orphan %s aged %d", p.Name, age)
			}
			if p.Programmes&DisabilityLiving != 0 && (p.DisabilityKind == "" || p.Programmes&(DibaoRural|DibaoUrban) == 0) {
				t.Fatalf("living subsidy for %s: %s, %s", p.Name, p.DisabilityKind, p.Programmes)
			}
			if p.Programmes&DisabilityCare != 0 && (p.DisabilityLevel < 1 || p.DisabilityLevel > 2) {
				t.Fatalf("care subsidy for %s at level %d", p.Name, p.DisabilityLevel)
			}
			if p.Programmes&DibaoUrban != 0 && h.Hukou != "urban" || p.Programmes&DibaoRural != 0 && h.Hukou != "rural" {
				t.Fatalf("%s on %s with %s hukou", p.Name, p.Programmes, h.Hukou)
			}
			if p.AbleToWork && (age < 16 || age >= 60) || p.Student == "compulsory" && (age < 6 || age > 15) {
				t.Fatalf("%s aged %d: able %v student %s", p.Name, age, p.AbleToWork, p.Student)
			}
			if a := p.Account; a != nil && (len(a.Number) != 19 || !bankcard.Valid(a.Number)) {
				t.Fatalf("account %s", a.Number)
			}
		}
		for _, s := range h.Supporters {
			checkID(s.IDNumber, s.BirthDate, "")
		}
	}
	if share := float64(urbanInCommittee) / float64(urbanHukou); share < 0.8 {
		t.Errorf("only %.0f%% of urban-hukou households live in residents' committees", share*100)
	}
}

func TestRegionsAndRetiredCodes(t *testing.T) {
	// 赣县区 (360704) was 赣县 (360721): older people keep the old code.
	_, county := generate(t, Options{Scale: 0.01, Seed: 5, Now: testNow, Regions: []string{"360704"}})
	var old, young int
	for _, h := range county {
		if !strings.HasPrefix(h.Region, "360704") {
			t.Fatalf("household %s outside 360704", h.No)
		}
		for _, p := range h.Members {
			switch p.IDNumber[:6] {
			case "360721":
				old++
				if p.BirthDate >= "2016-10-01" {
					t.Fatalf("%s born %s with the retired code", p.IDNumber, p.BirthDate)
				}
			case "360704":
				young++
			default:
				t.Fatalf("%s: address code of another county", p.IDNumber)
			}
		}
	}
	if old == 0 || young == 0 || old < young {
		t.Errorf("retired code on %d persons, new code on %d", old, young)
	}
	// A county generated alone is the same as within the province.
	_, province := generate(t, Options{Scale: 0.01, Seed: 5, Now: testNow, Regions: []string{"3607"}})
	var inProvince []*Household
	for _, h := range province {
		if strings.HasPrefix(h.Region, "360704") {
			inProvince = append(inProvince, h)
		}
	}
	if len(inProvince) != len(county) {
		t.Fatalf("%d households alone, %d within the city", len(county), len(inProvince))
	}
	for i, h := range county {
		if h.No != inProvince[i].No || h.Members[0].IDNumber != inProvince[i].Members[0].IDNumber {
			t.Fatalf("household %d differs: %s %s", i, h.No, inProvince[i].No)
		}
	}
	if _, err := New(Options{Scale: 0.01, Now: testNow, Regions: []string{"369999"}}, testdb.Tree(t)); err == nil {
		t.Error("unknown region accepted")
	}
}

func TestCSVIsDeterministic(t *testing.T) {
	digest := func(seed int64) string {
		dir := t.TempDir()
		var last int64
		st, err := WriteCSV(context.Background(), dir, testdb.Tree(t), Options{Scale: 0.001, Seed: seed, Now: testNow,
			Progress: func(done, total int64) { last = done }})
		if err != nil {
			t.Fatal(err)
		}
		if last != st.Rows() {
			t.Errorf("progress ended at %d of %d", last, st.Rows())
		}
		h := sha256.New()
		for _, name := range []string{"households", "persons", "supporters", "bank_accounts", "person_incomes", "household_assets"} {
			f, err := os.Open(filepath.Join(dir, name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(h, f); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	a, b, c := digest(11), digest(11), digest(12)
	if a != b {
		t.Fatalf("same seed, different files: %s %s", a, b)
	}
	if a == c {
		t.Fatal("different seeds, same files")
	}
}
