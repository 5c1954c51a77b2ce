package gen

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"jiuzhu/internal/region"
)

// WriteCSV writes households.csv, persons.csv, supporters.csv,
// bank_accounts.csv, person_incomes.csv and household_assets.csv into dir. They hold PLAINTEXT ID and account numbers and
// the programme of each person: test data only, never a real registry. Rows
// refer to each other by household number and ID number. The returned Stats
// count the incomes and assets written.
func WriteCSV(ctx context.Context, dir string, tree *region.Tree, opts Options) (Stats, error) {
	g, err := New(opts, tree)
	if err != nil {
		return Stats{}, err
	}
	st := g.Stats()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return st, fmt.Errorf("gen: csv: %w", err)
	}
	files := map[string]*csvFile{}
	for name, header := range map[string][]string{
		"households": {"hh_no", "region_code", "hukou", "address", "phone"},
		"persons": {"hh_no", "region_code", "id_number", "name", "sex", "birth_date", "phone", "relation", "co_resident",
			"disability_kind", "disability_level", "self_care_items", "student", "serious_illness", "able_to_work", "programmes"},
		"supporters": {"hh_no", "name", "id_number", "relation", "birth_date", "address", "on_dibao", "on_tekun",
			"disability_kind", "disability_level", "monthly_income_fen", "assets_within_rules"},
		"bank_accounts":    {"id_number", "bank_code", "bank_name", "account_number"},
		"person_incomes":   {"id_number", "kind", "monthly_fen", "since"},
		"household_assets": {"hh_no", "kind", "value_fen"},
	} {
		f, err := createCSV(filepath.Join(dir, name+".csv"), header)
		if err != nil {
			for _, f := range files {
				f.close()
			}
			return st, err
		}
		files[name] = f
	}
	prog := &progress{report: opts.Progress,
		total: st.Rows() + int64(incomesPerPerson*float64(st.Persons)+assetsPerHousehold*float64(st.Households))}
	err = writeAll(ctx, g, files, prog, &st)
	prog.finish()
	for _, f := range files {
		err = errors.Join(err, f.close())
	}
	if err != nil {
		return st, fmt.Errorf("gen: csv: %w", err)
	}
	return st, nil
}

func writeAll(ctx context.Context, g *Generator, files map[string]*csvFile, prog *progress, st *Stats) error {
	b, itoa, fen := strconv.FormatBool, strconv.Itoa, func(f int64) string { return strconv.FormatInt(f, 10) }
	var rows, reported int64
	for h, err := range g.All(ctx) {
		if err != nil {
			return err
		}
		rows += int64(1 + len(h.Members) + len(h.Supporters))
		if rows-reported >= 10_000 {
			prog.add(rows - reported)
			reported = rows
		}
		files["households"].write(h.No, h.Region, h.Hukou, h.Address, h.Phone)
		for _, p := range h.Members {
			files["persons"].write(h.No, h.Region, p.IDNumber, p.Name, p.Sex, p.BirthDate, p.Phone, p.Relation, b(p.CoResident),
				p.DisabilityKind, itoa(p.DisabilityLevel), itoa(p.SelfCareItems), p.Student, b(p.SeriousIllness), b(p.AbleToWork),
				p.Programmes.String())
			if a := p.Account; a != nil {
				rows++
				files["bank_accounts"].write(p.IDNumber, a.BankCode, a.BankName, a.Number)
			}
			for _, in := range p.Incomes {
				files["person_incomes"].write(p.IDNumber, in.Kind, fen(in.MonthlyFen), in.Since)
			}
			rows += int64(len(p.Incomes))
			st.Incomes += int64(len(p.Incomes))
		}
		for _, a := range h.Assets {
			files["household_assets"].write(h.No, a.Kind, fen(a.ValueFen))
		}
		rows += int64(len(h.Assets))
		st.Assets += int64(len(h.Assets))
		for _, s := range h.Supporters {
			files["supporters"].write(h.No, s.Name, s.IDNumber, s.Relation+"/"+s.Duty, s.BirthDate, s.Address, b(s.OnDibao), b(s.OnTekun),
				s.DisabilityKind, itoa(s.DisabilityLevel), strconv.FormatInt(s.MonthlyIncomeFen, 10), b(s.AssetsWithinRules))
		}
	}
	prog.add(rows - reported)
	return nil
}

// csvFile is a buffered CSV file that keeps its first write error.
type csvFile struct {
	f   *os.File
	buf *bufio.Writer
	w   *csv.Writer
}

func createCSV(path string, header []string) (*csvFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gen: csv: %w", err)
	}
	c := &csvFile{f: f, buf: bufio.NewWriterSize(f, 1<<16)}
	c.w = csv.NewWriter(c.buf)
	c.write(header...)
	return c, nil
}

// write adds a record; csv.Writer keeps the first error for close to report.
func (c *csvFile) write(fields ...string) {
	_ = c.w.Write(fields)
}

func (c *csvFile) close() error {
	c.w.Flush()
	err := c.w.Error()
	if err == nil {
		err = c.buf.Flush()
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gen: csv %s: %w", c.f.Name(), err)
	}
	return nil
}
