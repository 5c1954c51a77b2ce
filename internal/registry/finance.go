package registry

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

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

// StreamOptions tune StreamSituations.
type StreamOptions struct {
	// Batch is the width of the household id ranges read at a time (default
	// 4096 ids).
	Batch int
	// Readers is the number of ranges read at once on PostgreSQL, each on its
	// own connection (default 2).
	Readers int
}

// StreamSituations reads every active household under the region prefix
// scope as its situation on date (as SituationBatch builds it) and hands them
// to fn in batches. Batches come in household id order with one reader; with
// several, fn is called from several goroutines at once and the batches
// interleave. An error from fn stops the stream and is returned. Like
// SituationBatch it is not audited and never holds more than a few batches.
//
// On PostgreSQL each range of household ids is read with five queries sent in
// one round trip and decoded from the binary protocol straight into the
// situations (strings interned, members, incomes and flags allocated per
// batch); on SQLite it pages through SituationBatch.
func (s *Service) StreamSituations(ctx context.Context, scope, date string, opts StreamOptions, fn func([]HouseholdSituation) error) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return apperr.Invalid("date", "invalid_date", "日期格式不正确，应为 YYYY-MM-DD")
	}
	if opts.Batch <= 0 {
		opts.Batch = 4096
	}
	if opts.Readers <= 0 {
		opts.Readers = 2
	}
	if s.DB.Pool() == nil {
		var after int64
		for {
			b, last, err := s.SituationBatch(ctx, scope, after, opts.Batch, date)
			if err != nil || len(b) == 0 {
				return err
			}
			if err := fn(b); err != nil {
				return err
			}
			after = last
		}
	}
	var lo, hi sql.NullInt64
	if err := s.DB.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM households WHERE region_code LIKE $1 || '%' AND status = 'active'`,
		scope).Scan(&lo, &hi); err != nil {
		return fmt.Errorf("registry: stream: %w", err)
	}
	if !lo.Valid {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ranges := make(chan int64)
	go func() {
		defer close(ranges)
		for from := lo.Int64; from <= hi.Int64; from += int64(opts.Batch) {
			select {
			case ranges <- from:
			case <-ctx.Done():
				return
			}
		}
	}()
	errs := make([]error, opts.Readers)
	var wg sync.WaitGroup
	for r := range opts.Readers {
		wg.Go(func() {
			sr := newStreamReader(scope, date)
			conn, err := s.DB.Pool().Acquire(ctx)
			if err != nil {
				errs[r] = fmt.Errorf("registry: stream: %w", err)
				cancel()
				return
			}
			defer conn.Release()
			tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
			if err == nil {
				_, err = tx.Exec(ctx, streamSettings)
			}
			if err != nil {
				errs[r] = fmt.Errorf("registry: stream: %w", err)
				cancel()
				return
			}
			defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to commit
			for from := range ranges {
				b, err := sr.read(ctx, tx, from, from+int64(opts.Batch))
				if err == nil && len(b) > 0 {
					err = fn(b)
				}
				if err != nil {
					errs[r] = err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// The queries of one id range [$1, $2): households in scope $3, and the rows
// of the other tables for the range, filtered to those households in Go. Income
// records are read by the range of the persons' ids, an index range scan
// rather than a lookup per person; those of persons outside the range's
// households are dropped in Go. Only records started by the date $3 are read;
// the latest per person and kind is picked in Go.
const (
	streamHouseholds = `SELECT id, region_code, hukou FROM households
		WHERE id >= $1 AND id < $2 AND region_code LIKE $3 || '%' AND status = 'active' ORDER BY id`
	streamPersons = `SELECT id, household_id, birth_date, relation, co_resident, disability_kind, disability_level,
		self_care_items, student, serious_illness, able_to_work FROM persons
		WHERE household_id >= $1 AND household_id < $2 ORDER BY household_id, id`
	streamIncomes = `SELECT i.person_id, i.kind, i.monthly_fen, i.since, i.id FROM person_incomes i,
		(SELECT min(id) AS lo, max(id) AS hi FROM (SELECT id FROM persons WHERE household_id >= $1 AND household_id < $2 OFFSET 0) s) r
		WHERE i.person_id BETWEEN r.lo AND r.hi AND i.since <= $3`
	streamAssets = `SELECT household_id, kind, value_fen FROM household_assets
		WHERE household_id >= $1 AND household_id < $2 ORDER BY household_id, id`
	streamSupporters = `SELECT household_id, relation, birth_date, on_dibao, on_tekun, disability_kind, disability_level,
		monthly_income_fen, assets_within_rules FROM supporters
		WHERE active AND household_id >= $1 AND household_id < $2 ORDER BY household_id, id`
	// Each reader works in one read-only transaction planned for its ranges:
	// custom plans for the range parameters, no parallel workers (the readers
	// are the parallelism) and no JIT for queries this short.
	streamSettings = `SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off`
)

// streamReader decodes ranges on one connection. It interns the strings that
// repeat (codes, kinds, dates) so a batch allocates little per row: dates and
// region codes under integer keys, the short enumerations per column. It
// keeps the sizes of the last batch to allocate the next one at once.
type streamReader struct {
	scope, date string
	dates       []string          // YYYY-MM-DD by (y−1900)·416 + m·32 + d
	codes       map[uint64]string // 12-digit region codes
	enums       [8]map[string]string
	hh          []int32 // household id − range start → index in the batch, or −1
	person      []int32 // person id − lowest person id → index among members, or −1
	ids         []byte
	last        [6]int // households, persons, incomes, assets, supporters, disabilities
}

// The enumerated columns, each with its own table of interned strings.
const (
	enHukou = iota
	enRelation
	enStudent
	enDisability
	enIncome
	enAsset
	enSupporterRelation
	enOther
)

func newStreamReader(scope, date string) *streamReader {
	r := &streamReader{scope: scope, date: date, codes: map[uint64]string{}}
	for i := range r.enums {
		r.enums[i] = map[string]string{}
	}
	return r
}

// enum interns a value of a column with few distinct values.
func (r *streamReader) enum(col int, b []byte) string {
	m := r.enums[col]
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(m) < 1024 { // a column that is not an enumeration after all stays bounded
		m[s] = s
	}
	return s
}

// day interns a YYYY-MM-DD date of the years 1900–2099 in a table indexed by
// the date itself; other text is copied.
func (r *streamReader) day(b []byte) string {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return string(b)
	}
	var y, m, d int
	for i, c := range b {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return string(b)
		}
		switch {
		case i < 4:
			y = y*10 + int(c-'0')
		case i < 7:
			m = m*10 + int(c-'0')
		default:
			d = d*10 + int(c-'0')
		}
	}
	if y < 1900 || y >= 2100 || m > 12 || d > 31 {
		return string(b)
	}
	k := (y-1900)*416 + m*32 + d
	if r.dates == nil {
		r.dates = make([]string, 200*416)
	}
	if s := r.dates[k]; s != "" {
		return s
	}
	s := string(b)
	r.dates[k] = s
	return s
}

// code interns a 12-digit region code.
func (r *streamReader) code(b []byte) string {
	if len(b) != 12 {
		return string(b)
	}
	var k uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return string(b)
		}
		k = k*10 + uint64(c-'0')
	}
	if s, ok := r.codes[k]; ok {
		return s
	}
	s := string(b)
	if len(r.codes) < 1<<17 {
		r.codes[k] = s
	}
	return s
}

// binary decoding of the columns pgx receives in binary format.
func bint(b []byte) int64 {
	switch len(b) {
	case 8:
		return int64(binary.BigEndian.Uint64(b))
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b)))
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b)))
	}
	return 0
}

func bbool(b []byte) bool { return len(b) == 1 && b[0] != 0 }

func (r *streamReader) read(ctx context.Context, conn pgx.Tx, from, to int64) ([]HouseholdSituation, error) {
	batch := &pgx.Batch{}
	batch.Queue(streamHouseholds, from, to, r.scope)
	batch.Queue(streamPersons, from, to)
	batch.Queue(streamIncomes, from, to, r.date)
	batch.Queue(streamAssets, from, to)
	batch.Queue(streamSupporters, from, to)
	br := conn.SendBatch(ctx, batch)
	defer br.Close()
	forRows := func(what string, each func([][]byte)) error {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("registry: stream %s: %w", what, err)
		}
		for rows.Next() {
			each(rows.RawValues())
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("registry: stream %s: %w", what, err)
		}
		return nil
	}
	// Room for a batch like the last one.
	grow := func(n int) int { return n + n/8 + 16 }
	out := make([]HouseholdSituation, 0, grow(r.last[0]))
	if cap(r.hh) < int(to-from) {
		r.hh = make([]int32, to-from)
	}
	r.hh = r.hh[:to-from]
	for i := range r.hh {
		r.hh[i] = -1
	}
	household := func(b []byte) (int, bool) {
		id := bint(b) - from
		if id < 0 || id >= int64(len(r.hh)) || r.hh[id] < 0 {
			return 0, false
		}
		return int(r.hh[id]), true
	}
	if err := forRows("households", func(v [][]byte) {
		id := bint(v[0])
		if id < from || id >= to {
			return
		}
		r.hh[id-from] = int32(len(out))
		reg := r.code(v[1])
		out = append(out, HouseholdSituation{ID: id, Region: reg,
			Situation: calc.Situation{Date: r.date, Region: reg, Household: calc.Household{Hukou: r.enum(enHukou, v[2])}}})
	}); err != nil {
		return nil, err
	}
	// Members of the batch share backing arrays: one slice of members, one of
	// flags and one of disabilities, sliced per household below.
	type pm struct {
		hh     int
		id     int64
		idEnd  int
		member calc.Member
		co     bool
		able   bool
		dis    calc.Disability
	}
	ps := make([]pm, 0, grow(r.last[1]))
	r.ids = r.ids[:0]
	ndis := 0
	if err := forRows("persons", func(v [][]byte) {
		i, ok := household(v[1])
		if !ok {
			return
		}
		p := pm{hh: i, id: bint(v[0]), co: bbool(v[4]), able: bbool(v[10])}
		r.ids = strconv.AppendInt(r.ids, p.id, 10)
		p.idEnd = len(r.ids)
		p.member = calc.Member{BirthDate: r.day(v[2]), Relation: r.enum(enRelation, v[3]), Student: r.enum(enStudent, v[8]),
			SeriousIllness:      bbool(v[9]),
			SelfCareFailedItems: bits.OnesCount64(uint64(bint(v[7])) & (1<<len(SelfCareItemList) - 1))}
		if len(v[5]) > 0 {
			p.dis = calc.Disability{Kind: r.enum(enDisability, v[5]), Level: int(bint(v[6]))}
			ndis++
		}
		ps = append(ps, p)
	}); err != nil {
		return nil, err
	}
	// Person ids of a range are nearly contiguous: index them densely when
	// they are, by a map otherwise.
	var plo, phi int64
	for j := range ps {
		if j == 0 || ps[j].id < plo {
			plo = ps[j].id
		}
		if j == 0 || ps[j].id > phi {
			phi = ps[j].id
		}
	}
	var sparse map[int64]int32
	if width := phi - plo + 1; len(ps) > 0 && width <= int64(4*len(ps)+1024) {
		if cap(r.person) < int(width) {
			r.person = make([]int32, width)
		}
		r.person = r.person[:width]
		for i := range r.person {
			r.person[i] = -1
		}
		for j := range ps {
			r.person[ps[j].id-plo] = int32(j)
		}
	} else {
		r.person = r.person[:0]
		sparse = make(map[int64]int32, len(ps))
		for j := range ps {
			sparse[ps[j].id] = int32(j)
		}
	}
	person := func(b []byte) (int32, bool) {
		id := bint(b)
		if sparse != nil {
			j, ok := sparse[id]
			return j, ok
		}
		if id < plo || id > phi || r.person[id-plo] < 0 {
			return 0, false
		}
		return r.person[id-plo], true
	}
	// Incomes come in no particular order; the latest record per person and
	// kind (by since, then id) is picked below.
	type inc struct {
		person int32
		in     calc.Income
		since  string
		id     int64
	}
	incs := make([]inc, 0, grow(r.last[2]))
	if err := forRows("incomes", func(v [][]byte) {
		if j, ok := person(v[0]); ok {
			incs = append(incs, inc{j, calc.Income{Kind: r.enum(enIncome, v[1]), MonthlyFen: money.Fen(bint(v[2]))}, r.day(v[3]), bint(v[4])})
		}
	}); err != nil {
		return nil, err
	}
	type asset struct {
		hh int
		a  calc.Asset
	}
	assets := make([]asset, 0, grow(r.last[3]))
	if err := forRows("assets", func(v [][]byte) {
		if i, ok := household(v[0]); ok {
			assets = append(assets, asset{i, calc.Asset{Kind: r.enum(enAsset, v[1]), ValueFen: money.Fen(bint(v[2]))}})
		}
	}); err != nil {
		return nil, err
	}
	type sup struct {
		hh  int
		s   calc.Supporter
		dis calc.Disability
	}
	sups := make([]sup, 0, grow(r.last[4]))
	if err := forRows("supporters", func(v [][]byte) {
		i, ok := household(v[0])
		if !ok {
			return
		}
		rel, _, _ := strings.Cut(r.enum(enSupporterRelation, v[1]), "/")
		sp := sup{hh: i, s: calc.Supporter{Relation: rel, BirthDate: r.day(v[2]), OnDibao: bbool(v[3]), OnTekun: bbool(v[4]),
			MonthlyIncomeFen: money.Fen(bint(v[7])), AssetsWithinRules: bbool(v[8])}}
		if len(v[5]) > 0 {
			sp.dis = calc.Disability{Kind: r.enum(enDisability, v[5]), Level: int(bint(v[6]))}
		}
		sups = append(sups, sp)
	}); err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("registry: stream: %w", err)
	}
	r.last = [6]int{len(out), len(ps), len(incs), len(assets), len(sups), ndis}

	// Group the incomes by member (a counting sort), keep the latest record
	// per kind, and drop those of 0, which ended an income.
	at := make([]int32, len(ps)+1)
	for _, in := range incs {
		at[in.person+1]++
	}
	for j := range ps {
		at[j+1] += at[j]
	}
	grouped := make([]inc, len(incs))
	next := append([]int32(nil), at[:len(ps)]...)
	for _, in := range incs {
		grouped[next[in.person]] = in
		next[in.person]++
	}
	incomes := make([]calc.Income, 0, len(incs))
	for j := range ps {
		seg := grouped[at[j]:at[j+1]]
		at[j] = int32(len(incomes))
		for a := range seg {
			latest := true
			for b := range seg {
				if b != a && seg[b].in.Kind == seg[a].in.Kind && (seg[b].since > seg[a].since || seg[b].since == seg[a].since && seg[b].id > seg[a].id) {
					latest = false
					break
				}
			}
			if latest && seg[a].in.MonthlyFen > 0 {
				incomes = append(incomes, seg[a].in)
			}
		}
	}
	at[len(ps)] = int32(len(incomes))

	// Assemble: member ids are substrings of one string, incomes and members
	// slices of one array each.
	ids := string(r.ids)
	flags := make([]bool, 2*len(ps))
	dis := make([]calc.Disability, 0, ndis)
	members := make([]calc.Member, len(ps))
	start := 0
	for j := range ps {
		p := &ps[j]
		m := &members[j]
		*m = p.member
		m.ID = ids[start:p.idEnd]
		start = p.idEnd
		flags[2*j], flags[2*j+1] = p.co, p.able
		m.CoResident, m.AbleToWork = &flags[2*j], &flags[2*j+1]
		if p.dis.Kind != "" {
			dis = append(dis, p.dis)
			m.Disability = &dis[len(dis)-1]
		}
		if at[j+1] > at[j] {
			m.Incomes = incomes[at[j]:at[j+1]:at[j+1]]
		}
	}
	// Persons arrive grouped by household in id order, like out.
	for j := 0; j < len(ps); {
		e := j
		for e < len(ps) && ps[e].hh == ps[j].hh {
			e++
		}
		out[ps[j].hh].Situation.Household.Members = members[j:e:e]
		j = e
	}
	// Assets and supporters come ordered by household: each household's run
	// becomes a slice of one array.
	assetArr := make([]calc.Asset, len(assets))
	for j := 0; j < len(assets); {
		e := j
		for e < len(assets) && assets[e].hh == assets[j].hh {
			assetArr[e] = assets[e].a
			e++
		}
		h := &out[assets[j].hh].Situation.Household
		for mi := range h.Members {
			if h.Members[mi].Relation == "head" {
				if h.Members[mi].Assets == nil {
					h.Members[mi].Assets = assetArr[j:e:e]
				} else {
					h.Members[mi].Assets = append(h.Members[mi].Assets, assetArr[j:e:e]...)
				}
				break
			}
		}
		j = e
	}
	supArr := make([]calc.Supporter, len(sups))
	sdis := make([]calc.Disability, 0, len(sups))
	for j := range sups {
		supArr[j] = sups[j].s
		if sups[j].dis.Kind != "" {
			sdis = append(sdis, sups[j].dis)
			supArr[j].Disability = &sdis[len(sdis)-1]
		}
	}
	for j := 0; j < len(sups); {
		e := j
		for e < len(sups) && sups[e].hh == sups[j].hh {
			e++
		}
		h := &out[sups[j].hh].Situation.Household
		if h.Supporters == nil {
			h.Supporters = supArr[j:e:e]
		} else {
			h.Supporters = append(h.Supporters, supArr[j:e:e]...)
		}
		j = e
	}
	for i := range out {
		out[i].Err = out[i].Situation.Validate()
	}
	return out, nil
}
