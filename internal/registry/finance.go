package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/money"
)

// Income is one dated income record of a person. Records are never edited:
// a changed income is a new record with its own since date, and for each
// person and kind the latest record started on or before a date holds then
// (a record of 0 ends an income).
type Income struct {
	ID         int64     `json:"id"`
	PersonID   int64     `json:"person_id"`
	Kind       string    `json:"kind"`
	MonthlyFen int64     `json:"monthly_fen"`
	Since      string    `json:"since"`
	CreatedAt  time.Time `json:"created_at"`
}

// Asset is one asset item of a household (a house, a deposit, a vehicle).
type Asset struct {
	ID          int64     `json:"id"`
	HouseholdID int64     `json:"household_id"`
	Kind        string    `json:"kind"`
	ValueFen    int64     `json:"value_fen"`
	CreatedAt   time.Time `json:"created_at"`
}

func knownKind(kinds []calc.Kind, k string) bool {
	for _, x := range kinds {
		if x.Name == k {
			return true
		}
	}
	return false
}

// SetIncome records a person's monthly income of one kind from a date on.
func (s *Service) SetIncome(ctx context.Context, c Caller, personID int64, kind string, monthlyFen int64, since, reason string) (*Income, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	if !knownKind(calc.IncomeKinds(), kind) {
		return nil, apperr.Invalid("kind", "invalid_income_kind", "收入类别不正确："+kind)
	}
	if monthlyFen < 0 {
		return nil, apperr.Invalid("monthly_fen", "negative_income", "月收入不能为负数")
	}
	if _, err := time.Parse(time.DateOnly, since); err != nil {
		return nil, apperr.Invalid("since", "invalid_date", "起始日期格式不正确，应为 YYYY-MM-DD")
	}
	in := &Income{PersonID: personID, Kind: kind, MonthlyFen: monthlyFen, Since: since, CreatedAt: s.now()}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var hhID sql.NullInt64
		var reg string
		err := tx.QueryRowContext(ctx, `SELECT household_id, region_code FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, personID, c.Scope()).Scan(&hhID, &reg)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !hhID.Valid {
			return errPersonNotFound
		}
		if err != nil {
			return fmt.Errorf("registry: set income: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO person_incomes (person_id, kind, monthly_fen, since, created_at) VALUES ($1,$2,$3,$4,$5) RETURNING id`,
			personID, kind, monthlyFen, since, in.CreatedAt).Scan(&in.ID); err != nil {
			return fmt.Errorf("registry: set income: %w", err)
		}
		return s.record(ctx, tx, c, hhID.Int64, personID, reg, "income.set", reason, nil, in)
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// AddAsset records an asset item of a household.
func (s *Service) AddAsset(ctx context.Context, c Caller, hhID int64, kind string, valueFen int64, reason string) (*Asset, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	if !knownKind(calc.AssetKinds(), kind) {
		return nil, apperr.Invalid("kind", "invalid_asset_kind", "财产类别不正确："+kind)
	}
	if valueFen < 0 {
		return nil, apperr.Invalid("value_fen", "negative_value", "财产价值不能为负数")
	}
	a := &Asset{HouseholdID: hhID, Kind: kind, ValueFen: valueFen, CreatedAt: s.now()}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.household(ctx, tx, c.Scope(), hhID)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO household_assets (household_id, kind, value_fen, created_at) VALUES ($1,$2,$3,$4) RETURNING id`,
			hhID, kind, valueFen, a.CreatedAt).Scan(&a.ID); err != nil {
			return fmt.Errorf("registry: add asset: %w", err)
		}
		return s.record(ctx, tx, c, hhID, 0, h.Region, "asset.add", reason, nil, a)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Finances lists every income record (history included, oldest first) and
// asset of a household inside the caller's scope; the read is audited.
func (s *Service) Finances(ctx context.Context, c Caller, hhID int64) ([]Income, []Asset, error) {
	h, err := s.household(ctx, s.DB, c.Scope(), hhID)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.loadBatch(ctx, c.Scope(), hhID-1, 1)
	if err != nil {
		return nil, nil, err
	}
	var incomes []Income
	var assets []Asset
	if len(b) == 1 {
		for _, m := range b[0].members {
			incomes = append(incomes, m.incomes...)
		}
		assets = b[0].assets
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.finances.view", "household", fmt.Sprint(h.ID), h.Region, nil); err != nil {
		return nil, nil, err
	}
	return incomes, assets, nil
}

// HouseholdSituation is a registered household as the calculators see it.
type HouseholdSituation struct {
	ID        int64
	Region    string
	Situation calc.Situation
	// Err is set when the registry data do not make a valid situation (a
	// birth date after the date, no head, ...); Situation is then unusable.
	Err error
}

// Situation builds the calculation input of one household on a date (YYYY-MM-DD)
// from the registry: members, their incomes, the household's assets (held by
// the head) and the active supporters. The read is audited.
func (s *Service) Situation(ctx context.Context, c Caller, hhID int64, date string) (calc.Situation, error) {
	h, err := s.household(ctx, s.DB, c.Scope(), hhID)
	if err != nil {
		return calc.Situation{}, err
	}
	out, _, err := s.SituationBatch(ctx, c.Scope(), hhID-1, 1, date)
	if err != nil {
		return calc.Situation{}, err
	}
	if len(out) != 1 || out[0].ID != hhID {
		return calc.Situation{}, errHouseholdNotFound
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.household.situation", "household", fmt.Sprint(h.ID), h.Region, map[string]any{"date": date}); err != nil {
		return calc.Situation{}, err
	}
	return out[0].Situation, out[0].Err
}

// SituationBatch reads up to limit active households with an id above afterID
// under the region prefix scope, in id order, and builds each one's situation
// on date. It returns the last id read (for the next call; 0 when done). Batch
// work pages through a whole province this way, a few thousand households at
// a time, never holding more in memory. It is not audited: the batch job
// records one entry for its run.
func (s *Service) SituationBatch(ctx context.Context, scope string, afterID int64, limit int, date string) ([]HouseholdSituation, int64, error) {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return nil, 0, apperr.Invalid("date", "invalid_date", "日期格式不正确，应为 YYYY-MM-DD")
	}
	b, err := s.loadBatch(ctx, scope, afterID, limit)
	if err != nil || len(b) == 0 {
		return nil, 0, err
	}
	out := make([]HouseholdSituation, len(b))
	for i := range b {
		out[i] = b[i].situation(date)
	}
	return out, b[len(b)-1].id, nil
}

type batchMember struct {
	p       Person
	incomes []Income
}

type batchHousehold struct {
	id         int64
	region     string
	hukou      string
	members    []batchMember
	assets     []Asset
	supporters []Supporter
}

// loadBatch runs one query per table over the id range of the batch, joined
// to households so that the scope is applied in SQL.
func (s *Service) loadBatch(ctx context.Context, scope string, afterID int64, limit int) ([]batchHousehold, error) {
	if limit <= 0 {
		limit = 2000
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, region_code, hukou FROM households
		WHERE id > $1 AND region_code LIKE $2 || '%' AND status = 'active' ORDER BY id LIMIT $3`, afterID, scope, limit)
	if err != nil {
		return nil, fmt.Errorf("registry: batch households: %w", err)
	}
	var hs []batchHousehold
	idx := map[int64]int{}
	for rows.Next() {
		var h batchHousehold
		if err := rows.Scan(&h.id, &h.region, &h.hukou); err != nil {
			rows.Close()
			return nil, err
		}
		idx[h.id] = len(hs)
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(hs) == 0 {
		return nil, err
	}
	lo, hi := hs[0].id, hs[len(hs)-1].id
	// Every per-household table is read for the id range [lo, hi], restricted
	// to the households above (same scope, active).
	const inBatch = ` h.id BETWEEN $1 AND $2 AND h.region_code LIKE $3 || '%' AND h.status = 'active'`
	personIdx := map[int64][2]int{}
	rows, err = s.DB.QueryContext(ctx, `SELECT p.id, p.household_id, p.birth_date, p.relation, p.co_resident, p.disability_kind, p.disability_level,
		p.self_care_items, p.student, p.serious_illness, p.able_to_work FROM persons p JOIN households h ON h.id = p.household_id
		WHERE`+inBatch+` ORDER BY p.household_id, p.id`, lo, hi, scope)
	if err != nil {
		return nil, fmt.Errorf("registry: batch persons: %w", err)
	}
	for rows.Next() {
		var p Person
		var mask int
		if err := rows.Scan(&p.ID, &p.HouseholdID, &p.BirthDate, &p.Relation, &p.CoResident, &p.DisabilityKind, &p.DisabilityLevel,
			&mask, &p.Student, &p.SeriousIllness, &p.AbleToWork); err != nil {
			rows.Close()
			return nil, err
		}
		p.SelfCareItems = selfCareItems(mask)
		i, ok := idx[p.HouseholdID]
		if !ok {
			continue
		}
		personIdx[p.ID] = [2]int{i, len(hs[i].members)}
		hs[i].members = append(hs[i].members, batchMember{p: p})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.DB.QueryContext(ctx, `SELECT i.id, i.person_id, i.kind, i.monthly_fen, i.since, i.created_at FROM person_incomes i
		JOIN persons p ON p.id = i.person_id JOIN households h ON h.id = p.household_id
		WHERE`+inBatch+` ORDER BY i.person_id, i.id`, lo, hi, scope)
	if err != nil {
		return nil, fmt.Errorf("registry: batch incomes: %w", err)
	}
	for rows.Next() {
		var in Income
		if err := rows.Scan(&in.ID, &in.PersonID, &in.Kind, &in.MonthlyFen, &in.Since, &in.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		if at, ok := personIdx[in.PersonID]; ok {
			m := &hs[at[0]].members[at[1]]
			m.incomes = append(m.incomes, in)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.DB.QueryContext(ctx, `SELECT a.id, a.household_id, a.kind, a.value_fen, a.created_at FROM household_assets a
		JOIN households h ON h.id = a.household_id WHERE`+inBatch+` ORDER BY a.id`, lo, hi, scope)
	if err != nil {
		return nil, fmt.Errorf("registry: batch assets: %w", err)
	}
	for rows.Next() {
		var a Asset
		if err := rows.Scan(&a.ID, &a.HouseholdID, &a.Kind, &a.ValueFen, &a.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := idx[a.HouseholdID]; ok {
			hs[i].assets = append(hs[i].assets, a)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.DB.QueryContext(ctx, `SELECT sp.household_id, sp.relation, sp.birth_date, sp.on_dibao, sp.on_tekun, sp.disability_kind, sp.disability_level,
		sp.monthly_income_fen, sp.assets_within_rules FROM supporters sp JOIN households h ON h.id = sp.household_id
		WHERE sp.active AND`+inBatch+` ORDER BY sp.id`, lo, hi, scope)
	if err != nil {
		return nil, fmt.Errorf("registry: batch supporters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sp Supporter
		var rel string
		if err := rows.Scan(&sp.HouseholdID, &rel, &sp.BirthDate, &sp.OnDibao, &sp.OnTekun, &sp.DisabilityKind, &sp.DisabilityLevel,
			&sp.MonthlyIncomeFen, &sp.AssetsWithinRules); err != nil {
			return nil, err
		}
		sp.Relation, sp.Duty, _ = strings.Cut(rel, "/")
		if i, ok := idx[sp.HouseholdID]; ok {
			hs[i].supporters = append(hs[i].supporters, sp)
		}
	}
	return hs, rows.Err()
}

// situation maps the registry's fields onto the calculation contract.
func (h *batchHousehold) situation(date string) HouseholdSituation {
	out := HouseholdSituation{ID: h.id, Region: h.region}
	sit := calc.Situation{Date: date, Region: h.region, Household: calc.Household{Hukou: h.hukou}}
	head := -1
	for _, bm := range h.members {
		p := bm.p
		m := calc.Member{ID: fmt.Sprint(p.ID), BirthDate: p.BirthDate, Relation: p.Relation, CoResident: ptr(p.CoResident),
			SelfCareFailedItems: len(p.SelfCareItems), Student: p.Student, SeriousIllness: p.SeriousIllness, AbleToWork: ptr(p.AbleToWork)}
		if p.DisabilityKind != "" {
			m.Disability = &calc.Disability{Kind: p.DisabilityKind, Level: p.DisabilityLevel}
		}
		// The latest record per kind started on or before the date holds.
		latest := map[string]int{}
		var order []string
		for i, in := range bm.incomes {
			if in.Since > date {
				continue
			}
			j, seen := latest[in.Kind]
			if !seen {
				order = append(order, in.Kind)
			}
			if !seen || in.Since >= bm.incomes[j].Since {
				latest[in.Kind] = i
			}
		}
		for _, k := range order {
			if in := bm.incomes[latest[k]]; in.MonthlyFen > 0 {
				m.Incomes = append(m.Incomes, calc.Income{Kind: k, MonthlyFen: money.Fen(in.MonthlyFen)})
			}
		}
		if p.Relation == "head" && head < 0 {
			head = len(sit.Household.Members)
		}
		sit.Household.Members = append(sit.Household.Members, m)
	}
	// Household assets are tested on household totals; the contract keeps
	// assets per member, so they go to the head.
	if head >= 0 {
		for _, a := range h.assets {
			sit.Household.Members[head].Assets = append(sit.Household.Members[head].Assets, calc.Asset{Kind: a.Kind, ValueFen: money.Fen(a.ValueFen)})
		}
	}
	for _, sp := range h.supporters {
		cs := calc.Supporter{Relation: sp.Relation, BirthDate: sp.BirthDate, OnDibao: sp.OnDibao, OnTekun: sp.OnTekun,
			MonthlyIncomeFen: money.Fen(sp.MonthlyIncomeFen), AssetsWithinRules: sp.AssetsWithinRules}
		if sp.DisabilityKind != "" {
			cs.Disability = &calc.Disability{Kind: sp.DisabilityKind, Level: sp.DisabilityLevel}
		}
		sit.Household.Supporters = append(sit.Household.Supporters, cs)
	}
	out.Err = sit.Validate()
	out.Situation = sit
	return out
}

func ptr[T any](v T) *T { return &v }
