package gen

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Columns as Load writes them.
var (
	householdColumns = []string{"id", "hh_no", "region_code", "hukou", "address", "phone", "status", "version", "created_at", "updated_at"}
	personColumns    = []string{"id", "household_id", "region_code", "id_hmac", "id_enc", "id_masked", "name", "sex", "birth_date", "phone",
		"relation", "co_resident", "disability_kind", "disability_level", "self_care_items", "student", "serious_illness", "able_to_work",
		"status", "version", "created_at", "updated_at"}
	supporterColumns = []string{"id", "household_id", "name", "id_hmac", "id_enc", "id_masked", "relation", "birth_date", "address",
		"on_dibao", "on_tekun", "disability_kind", "disability_level", "monthly_income_fen", "assets_within_rules", "active", "created_at"}
	accountColumns = []string{"id", "person_id", "bank_code", "bank_name", "account_enc", "account_masked", "active", "created_at"}
)

// Load generates the province into d with bulk loading (COPY on PostgreSQL),
// ID numbers and account numbers hashed and encrypted with keys. Rows get
// explicit ids after the largest ones already there, so Load may add to a
// registry in use but must not run beside other writers of these tables; on
// PostgreSQL the identity sequences are moved past the new rows afterwards.
//
// Each table is one COPY stream from its own run of the generator (running it
// again is cheaper than holding the province): households first, then persons
// and supporters side by side, then bank accounts, in foreign-key order.
func Load(ctx context.Context, d *db.DB, tree *region.Tree, keys *crypt.Keys, opts Options) (Stats, error) {
	g, err := New(opts, tree)
	if err != nil {
		return Stats{}, err
	}
	st := g.Stats()
	var base struct{ households, persons, supporters, accounts int64 }
	for _, b := range []struct {
		table string
		max   *int64
	}{{"households", &base.households}, {"persons", &base.persons}, {"supporters", &base.supporters}, {"bank_accounts", &base.accounts}} {
		if err := d.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM `+b.table).Scan(b.max); err != nil {
			return st, fmt.Errorf("gen: load: last id of %s: %w", b.table, err)
		}
	}
	now := g.opts.Now
	prog := &progress{report: opts.Progress, total: st.Rows()}
	prog.add(0)

	households := table{name: "households", columns: householdColumns, want: st.Households,
		rows: func(h *Household, hh, _ int64, out [][]any) [][]any {
			return append(out, []any{base.households + hh, h.No, h.Region, h.Hukou, h.Address, h.Phone, "active", 1, now, now})
		}}
	persons := table{name: "persons", columns: personColumns, want: st.Persons, seal: sealPersons,
		rows: func(h *Household, hh, person int64, out [][]any) [][]any {
			for i, p := range h.Members {
				out = append(out, []any{base.persons + person + int64(i) + 1, base.households + hh, h.Region, p.sealed.hmac, p.sealed.enc,
					idcard.Mask(p.IDNumber), p.Name, p.Sex, p.BirthDate, p.Phone, p.Relation, p.CoResident, p.DisabilityKind,
					p.DisabilityLevel, p.SelfCareItems, p.Student, p.SeriousIllness, p.AbleToWork, "active", 1, now, now})
			}
			return out
		}}
	var supporterID int64
	supporters := table{name: "supporters", columns: supporterColumns, want: st.Supporters, seal: sealSupporters,
		rows: func(h *Household, hh, _ int64, out [][]any) [][]any {
			for _, s := range h.Supporters {
				supporterID++
				out = append(out, []any{base.supporters + supporterID, base.households + hh, s.Name, s.sealed.hmac, s.sealed.enc,
					idcard.Mask(s.IDNumber), s.Relation + "/" + s.Duty, s.BirthDate, s.Address, s.OnDibao, s.OnTekun,
					s.DisabilityKind, s.DisabilityLevel, s.MonthlyIncomeFen, s.AssetsWithinRules, true, now})
			}
			return out
		}}
	var accountID int64
	accounts := table{name: "bank_accounts", columns: accountColumns, want: st.BankAccounts, seal: sealAccounts,
		rows: func(h *Household, _, person int64, out [][]any) [][]any {
			for i, p := range h.Members {
				if a := p.Account; a != nil {
					accountID++
					out = append(out, []any{base.accounts + accountID, base.persons + person + int64(i) + 1, a.BankCode, a.BankName,
						a.sealed.enc, idcard.Mask(a.Number), true, now})
				}
			}
			return out
		}}

	if err := households.load(ctx, d, g, keys, prog); err != nil {
		return st, err
	}
	if d.Dialect == db.Postgres {
		// Supporters only reference households, so their COPY runs beside the
		// persons' on a second connection.
		var wg sync.WaitGroup
		var serr error
		wg.Go(func() { serr = supporters.load(ctx, d, g, keys, prog) })
		err := persons.load(ctx, d, g, keys, prog)
		wg.Wait()
		if err == nil {
			err = serr
		}
		if err != nil {
			return st, err
		}
	} else {
		for _, t := range []table{persons, supporters} {
			if err := t.load(ctx, d, g, keys, prog); err != nil {
				return st, err
			}
		}
	}
	if err := accounts.load(ctx, d, g, keys, prog); err != nil {
		return st, err
	}
	if d.Dialect == db.Postgres {
		for _, t := range []string{"households", "persons", "supporters", "bank_accounts"} {
			// Identity columns are GENERATED BY DEFAULT: move each sequence past
			// the explicit ids so ordinary inserts continue after them.
			if _, err := d.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), (SELECT MAX(id) FROM `+t+`))`); err != nil {
				return st, fmt.Errorf("gen: load: advance %s id sequence: %w", t, err)
			}
		}
	}
	return st, nil
}

// table is one COPY stream: the rows of a household, given its index and the
// index of its first member (both from 1 and 0 respectively, in stream order).
type table struct {
	name    string
	columns []string
	want    int64
	seal    int
	rows    func(h *Household, hh, person int64, out [][]any) [][]any
}

func (t table) load(ctx context.Context, d *db.DB, g *Generator, keys *crypt.Keys, prog *progress) error {
	next, stop := iter.Pull2(g.households(ctx, keys, t.seal))
	defer stop()
	var pending [][]any
	var hh, person, sent int64
	i := 0
	n, err := d.CopyFrom(ctx, t.name, t.columns, func() ([]any, bool, error) {
		for i == len(pending) {
			h, err, ok := next()
			if !ok {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			hh++
			pending, i = t.rows(h, hh, person, pending[:0]), 0
			person += int64(len(h.Members))
		}
		row := pending[i]
		i++
		if sent++; sent%10_000 == 0 {
			prog.add(10_000)
		}
		return row, true, nil
	})
	if err != nil {
		return fmt.Errorf("gen: load: %w", err)
	}
	prog.add(sent % 10_000)
	if n != t.want {
		return fmt.Errorf("gen: load %s: wrote %d rows, planned %d", t.name, n, t.want)
	}
	return nil
}

// progress adds up rows from the concurrent COPY streams and reports them one
// call at a time.
type progress struct {
	mu     sync.Mutex
	report func(done, total int64)
	done   int64
	total  int64
}

func (p *progress) add(n int64) {
	if p.report == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.report(p.done, p.total)
}
