package gen

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/idcard"
	"jiuzhu/internal/testdb"
	"jiuzhu/internal/verify"
)

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func extractsDigest(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no files in %s: %v", dir, err)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(h, filepath.Base(name))
		if _, err := io.Copy(h, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestExtractsDeterministic(t *testing.T) {
	write := func(seed int64, plant float64) string {
		dir := t.TempDir()
		opts := Options{Scale: 0.01, Seed: seed, Now: testNow, Regions: []string{"361128"}}
		if _, err := WriteExtracts(context.Background(), dir, testdb.Tree(t), opts, ExtractOptions{Background: 2, Plant: plant}); err != nil {
			t.Fatal(err)
		}
		return extractsDigest(t, dir)
	}
	a, b, c := write(3, 0.05), write(3, 0.05), write(4, 0.05)
	if a != b {
		t.Fatalf("same seed, different extracts: %s %s", a, b)
	}
	if a == c {
		t.Fatal("different seeds, same extracts")
	}
}

func TestExtractsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	opts := Options{Scale: 0.01, Seed: 1, Now: testNow, Regions: []string{"361128"}}
	if _, err := WriteExtracts(ctx, dir, testdb.Tree(t), opts, ExtractOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, ".*")); len(parts) > 0 {
		t.Errorf("part files left: %v", parts)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.csv")); err == nil {
		t.Error("manifest written for a cancelled run")
	}
}

var (
	yuanPattern = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	areaPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// TestExtracts checks every file against its layout, the truth against the
// registry, and that households without planted discrepancies agree with
// their declarations.
func TestExtracts(t *testing.T) {
	opts := Options{Scale: 0.01, Seed: 21, Now: testNow, Regions: []string{"360704"}}
	date := testNow.AddDate(0, 0, -14)
	dir := t.TempDir()
	var lastDone, lastTotal int64
	opts.Progress = func(done, total int64) { lastDone, lastTotal = done, total }
	start := time.Now()
	st, err := WriteExtracts(context.Background(), dir, testdb.Tree(t), opts, ExtractOptions{DataDate: date, Plant: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d households, %d persons: %d registry rows (%d traps), %d background rows, planted %v in %s",
		st.Households, st.Persons, st.Registry, st.Traps, st.Background, st.Planted, time.Since(start).Round(time.Millisecond))
	if lastDone != st.Rows() || lastTotal != lastDone {
		t.Errorf("progress ended at %d of %d, wrote %d", lastDone, lastTotal, st.Rows())
	}
	if want := 7 * float64(st.Persons); float64(st.Background) < 0.9*want || float64(st.Background) > 1.02*want {
		t.Errorf("%d background rows for %d persons, want about 7 per person", st.Background, st.Persons)
	}
	opts.Progress = nil
	_, households := generate(t, opts)

	type member struct {
		h *Household
		p *Person
	}
	registry := map[string]member{}
	supporters := map[string]bool{}
	for _, h := range households {
		for _, p := range h.Members {
			registry[p.IDNumber] = member{h, p}
		}
		for _, s := range h.Supporters {
			supporters[s.IDNumber] = true
		}
	}

	// Every file against its layout, through the manifest.
	manifest := readCSVFile(t, filepath.Join(dir, "manifest.csv"))
	if !slices.Equal(manifest[0], []string{"file", "source", "provider", "data_date", "rows"}) {
		t.Fatalf("manifest header %v", manifest[0])
	}
	rowsOf := map[string][][]string{} // source → rows with column names in the header order
	providersSeen := map[string]int{}
	var registryRows, backgroundRows int64
	bgPersons := map[string]int{}
	for _, m := range manifest[1:] {
		src, ok := verify.SourceByName(m[1])
		if !ok {
			t.Fatalf("manifest: unknown source %s", m[1])
		}
		if want := m[1] + ".csv"; src.PerProvider && m[0] != m[1]+"-"+m[2]+".csv" || !src.PerProvider && (m[0] != want || m[2] != "") {
			t.Errorf("manifest: file %s for source %s provider %q", m[0], m[1], m[2])
		}
		providersSeen[m[1]]++
		if m[3] != date.Format(time.DateOnly) {
			t.Errorf("%s: data date %s", m[0], m[3])
		}
		rows := readCSVFile(t, filepath.Join(dir, m[0]))
		if n, _ := strconv.Atoi(m[4]); n != len(rows)-1 {
			t.Errorf("%s: manifest says %s rows, file has %d", m[0], m[4], len(rows)-1)
		}
		var header []string
		for _, c := range src.Columns {
			header = append(header, c.Name)
		}
		if !slices.Equal(rows[0], header) {
			t.Fatalf("%s: header %v, layout %v", m[0], rows[0], header)
		}
		keys := map[string]int{}
		for i, row := range rows[1:] {
			line := i + 2
			if len(row) != len(src.Columns) {
				t.Fatalf("%s:%d: %d cells", m[0], line, len(row))
			}
			cell := map[string]string{}
			for j, c := range src.Columns {
				v := row[j]
				cell[c.Name] = v
				if v == "" {
					if c.Required {
						t.Fatalf("%s:%d: %s empty", m[0], line, c.Name)
					}
					continue
				}
				bad := false
				switch c.Type {
				case verify.ColID:
					id, err := idcard.Parse(v, date)
					bad = err != nil || id.Number != v
				case verify.ColCode:
					_, ok := c.Codes[v]
					bad = !ok
				case verify.ColDate:
					d, err := time.Parse(time.DateOnly, v)
					bad = err != nil || d.After(date) || d.Year() < 1900
				case verify.ColYuan:
					bad = !yuanPattern.MatchString(v)
				case verify.ColNumber:
					bad = !areaPattern.MatchString(v)
				case verify.ColYear:
					y, err := strconv.Atoi(v)
					bad = err != nil || len(v) != 4 || y < 1990 || y > date.Year()
				case verify.ColText:
					bad = strings.ContainsAny(v, "\r\n")
				}
				if bad {
					t.Fatalf("%s:%d: %s %q is not valid", m[0], line, c.Name, v)
				}
			}
			var key []string
			for _, k := range src.Key {
				key = append(key, cell[k])
			}
			k := strings.Join(key, "|")
			if first, dup := keys[k]; dup {
				t.Fatalf("%s:%d: key %s also on line %d", m[0], line, k, first)
			}
			keys[k] = line
			id := cell["id_number"]
			if _, ok := registry[id]; ok {
				registryRows++
			} else {
				backgroundRows++
				bgPersons[id]++
				if strings.HasPrefix(id, "36") || supporters[id] {
					t.Fatalf("%s:%d: background ID %s looks like a registry one", m[0], line, id)
				}
			}
			rowsOf[src.Name] = append(rowsOf[src.Name], row)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(manifest)+1 {
		t.Errorf("%d files in the folder, want the %d of the manifest, manifest.csv and truth.csv", len(entries), len(manifest)-1)
	}
	for _, src := range verify.Sources {
		if want := max(1, len(extractProviders[src.Name])); providersSeen[src.Name] != want {
			t.Errorf("source %s: %d files, want %d", src.Name, providersSeen[src.Name], want)
		}
	}
	if registryRows != st.Registry || backgroundRows != st.Background {
		t.Errorf("registry rows %d (stats %d), background rows %d (stats %d)", registryRows, st.Registry, backgroundRows, st.Background)
	}
	several := 0
	for _, n := range bgPersons {
		if n > 1 {
			several++
		}
	}
	if several < len(bgPersons)/10 {
		t.Errorf("only %d of %d background persons in several rows", several, len(bgPersons))
	}

	// What department data says per registry person and source.
	type fact struct {
		source string
		row    []string
	}
	facts := map[string][]fact{}
	for source, rows := range rowsOf {
		for _, row := range rows {
			if _, ok := registry[row[0]]; ok {
				facts[row[0]] = append(facts[row[0]], fact{source, row})
			}
		}
	}

	// The truth: real recipient households and members, each kind at least
	// once, at most once per household, and backed by a row of its source.
	truth := readCSVFile(t, filepath.Join(dir, "truth.csv"))
	if !slices.Equal(truth[0], []string{"hh_no", "id_number", "kind", "source"}) {
		t.Fatalf("truth header %v", truth[0])
	}
	planted := map[string]bool{}
	kinds := map[string]int64{}
	wantSource := map[string]string{PlantVehicle: "vehicle", PlantBusiness: "market", PlantFinancial: "bank", PlantDeath: "hukou",
		PlantIncome: "social_insurance", PlantHouse: "real_estate"}
	for _, row := range truth[1:] {
		m, ok := registry[row[1]]
		if !ok || m.h.No != row[0] {
			t.Fatalf("truth %v: not a member of that household", row)
		}
		if !hasProgramme(m.h) {
			t.Fatalf("truth %v: household receives nothing", row)
		}
		if wantSource[row[2]] != row[3] {
			t.Fatalf("truth %v: kind and source", row)
		}
		if planted[row[0]+row[2]] {
			t.Fatalf("truth %v: kind twice for the household", row)
		}
		planted[row[0]+row[2]] = true
		planted[row[0]] = true
		kinds[row[2]]++
		if !slices.ContainsFunc(facts[row[1]], func(f fact) bool { return f.source == row[3] }) {
			t.Fatalf("truth %v: no %s row for the person", row, row[3])
		}
	}
	for _, k := range PlantKinds {
		if kinds[k] == 0 || kinds[k] != st.Planted[k] {
			t.Errorf("planted %s: %d in truth.csv, %d in stats", k, kinds[k], st.Planted[k])
		}
	}

	// Households without planted discrepancies agree with their declarations.
	checked, withDeposit := 0, 0
	for _, h := range households {
		if planted[h.No] {
			continue
		}
		checked++
		var deposits, vehicles, houses int64
		for _, a := range h.Assets {
			switch a.Kind {
			case "deposit":
				deposits += a.ValueFen
			case "vehicle":
				vehicles++
			case "house":
				houses++
			}
		}
		var balances, foundVehicles, foundHouses int64
		for i, p := range h.Members {
			for _, f := range facts[p.IDNumber] {
				switch f.source {
				case "bank":
					if i == 0 {
						balances += fenOf(t, f.row[2])
					} else {
						t.Errorf("%s: bank row for %s, not the head", h.No, p.Relation)
					}
				case "vehicle":
					if f.row[2] == "D" {
						if p.DisabilityKind == "" || p.Programmes == 0 {
							t.Errorf("%s: disability vehicle for %s without disability", h.No, p.Name)
						}
					} else {
						foundVehicles++
					}
				case "real_estate":
					foundHouses++
				case "hukou", "funeral", "marriage", "tax", "provident_fund":
					t.Errorf("%s: %s row for %s", h.No, f.source, p.Name)
				case "market":
					if f.row[3] != "3" || fenOf(t, f.row[4]) > 50000_00 || !slices.ContainsFunc(p.Incomes, func(in Income) bool { return in.Kind == "business" }) {
						t.Errorf("%s: market row %v for %s", h.No, f.row, p.Name)
					}
				case "social_insurance":
					kind := map[string]string{"11": "pension", "12": "basic_pension", "21": "unemployment_benefit", "31": "wage"}[f.row[1]]
					var last Income
					for _, in := range p.Incomes {
						if in.Kind == kind && in.Since >= last.Since {
							last = in
						}
					}
					if last.Kind == "" || fenOf(t, f.row[2]) != last.MonthlyFen {
						t.Errorf("%s: social insurance %v for %s, declared %+v", h.No, f.row, p.Name, last)
					}
				}
			}
		}
		if deposits > 0 {
			withDeposit++
		}
		if balances != deposits || foundVehicles != vehicles || foundHouses != houses {
			t.Errorf("household %s: balances %d for deposits %d, %d vehicles for %d, %d houses for %d",
				h.No, balances, deposits, foundVehicles, vehicles, foundHouses, houses)
		}
	}
	if checked < len(households)/3 || withDeposit == 0 {
		t.Errorf("only %d of %d households without planted discrepancies (%d with deposits)", checked, len(households), withDeposit)
	}
	var traps int64
	for _, row := range rowsOf["vehicle"] {
		if row[2] == "D" {
			traps++
			if _, ok := registry[row[0]]; !ok {
				t.Errorf("disability vehicle %v outside the registry", row)
			}
		}
	}
	if traps == 0 || traps != st.Traps {
		t.Errorf("%d disability vehicles, stats %d", traps, st.Traps)
	}
}

func fenOf(t *testing.T, yuan string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(yuan, ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("amount %q", yuan)
	}
	return w*100 + f
}

func TestExtractHelpers(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int64{0, 1, 2, 33_999, 34_000, 1_155_999, 1_156_000, 1_156_001, 5_000_000} {
		b, err := plateBody(n)
		if err != nil || seen[b] || len(b) < 5 {
			t.Fatalf("plate %d: %q %v", n, b, err)
		}
		seen[b] = true
	}
	for n := range int64(200) {
		code := creditCode("91", "350203", n)
		sum := strings.IndexByte(creditChars, code[17])
		for i := range 17 {
			sum += strings.IndexByte(creditChars, code[i]) * creditWeights[i]
		}
		if len(code) != 18 || sum%31 != 0 || seen[code] {
			t.Fatalf("credit code %s", code)
		}
		seen[code] = true
	}
	birth := time.Date(1971, 2, 3, 0, 0, 0, 0, time.UTC)
	if got, want := buildID("110101", birth, 123), idcard.Build("110101", birth, 123, true); got != want {
		t.Errorf("buildID %s, idcard.Build %s", got, want)
	}
	// 2019 brackets: 100,000 yuan → 40,000 taxable at 10% − 2,520.
	if got := incomeTax(100_000_00); got != 148_000 {
		t.Errorf("tax on 100,000 yuan: %d fen", got)
	}
	if got := incomeTax(50_000_00); got != 0 {
		t.Errorf("tax on 50,000 yuan: %d fen", got)
	}
}
