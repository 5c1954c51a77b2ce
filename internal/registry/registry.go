package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Caller is whoever acts: the scope limits every query, the actor goes into the
// audit log and the history.
type Caller interface {
	Scope() string
	Actor() audit.Actor
}

// Service is the registry store.
type Service struct {
	DB   *db.DB
	Keys *crypt.Keys
	Tree *region.Tree
	Now  func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

var errHouseholdNotFound = apperr.NotFound("该户不存在或不在您的管辖范围内")
var errPersonNotFound = apperr.NotFound("该人员不存在或不在您的管辖范围内")

const householdCols = `id, hh_no, region_code, hukou, address, phone, status, version, created_at, updated_at`

func (s *Service) scanHousehold(row interface{ Scan(...any) error }) (*Household, error) {
	var h Household
	if err := row.Scan(&h.ID, &h.No, &h.Region, &h.Hukou, &h.Address, &h.Phone, &h.Status, &h.Version, &h.CreatedAt, &h.UpdatedAt); err != nil {
		return nil, err
	}
	h.RegionName = s.Tree.FullName(h.Region)
	return &h, nil
}

const personCols = `id, COALESCE(household_id, 0), region_code, id_masked, name, sex, birth_date, phone, relation, co_resident,
	disability_kind, disability_level, self_care_items, student, serious_illness, able_to_work, status, version`

func scanPerson(row interface{ Scan(...any) error }) (*Person, error) {
	var p Person
	var mask int
	if err := row.Scan(&p.ID, &p.HouseholdID, &p.Region, &p.IDMasked, &p.Name, &p.Sex, &p.BirthDate, &p.Phone, &p.Relation, &p.CoResident,
		&p.DisabilityKind, &p.DisabilityLevel, &mask, &p.Student, &p.SeriousIllness, &p.AbleToWork, &p.Status, &p.Version); err != nil {
		return nil, err
	}
	p.SelfCareItems = selfCareItems(mask)
	return &p, nil
}

// household loads one household inside scope, optionally locking it for update.
func (s *Service) household(ctx context.Context, q db.Querier, scope string, id int64) (*Household, error) {
	h, err := s.scanHousehold(q.QueryRowContext(ctx, `SELECT `+householdCols+` FROM households WHERE id = $1 AND region_code LIKE $2 || '%'`, id, scope))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errHouseholdNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("registry: load household: %w", err)
	}
	return h, nil
}

// Household returns a household with members, supporters and bank accounts. The
// read is audited: the page shows personal data.
func (s *Service) Household(ctx context.Context, c Caller, id int64) (*Household, error) {
	h, err := s.household(ctx, s.DB, c.Scope(), id)
	if err != nil {
		return nil, err
	}
	if h.Members, err = s.members(ctx, s.DB, h.ID); err != nil {
		return nil, err
	}
	if h.Supporters, err = s.supporters(ctx, h.ID); err != nil {
		return nil, err
	}
	if err := s.bankAccounts(ctx, h.Members); err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.household.view", "household", fmt.Sprint(h.ID), h.Region, nil); err != nil {
		return nil, err
	}
	return h, nil
}

func (s *Service) members(ctx context.Context, q db.Querier, hhID int64) ([]*Person, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+personCols+` FROM persons WHERE household_id = $1 ORDER BY CASE relation WHEN 'head' THEN 0 ELSE 1 END, birth_date`, hhID)
	if err != nil {
		return nil, fmt.Errorf("registry: members: %w", err)
	}
	defer rows.Close()
	var out []*Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Service) supporters(ctx context.Context, hhID int64) ([]*Supporter, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, household_id, name, id_masked, relation, birth_date, address, on_dibao, on_tekun,
		disability_kind, disability_level, monthly_income_fen, assets_within_rules FROM supporters WHERE household_id = $1 AND active ORDER BY id`, hhID)
	if err != nil {
		return nil, fmt.Errorf("registry: supporters: %w", err)
	}
	defer rows.Close()
	var out []*Supporter
	for rows.Next() {
		var sp Supporter
		var rel string
		if err := rows.Scan(&sp.ID, &sp.HouseholdID, &sp.Name, &sp.IDMasked, &rel, &sp.BirthDate, &sp.Address, &sp.OnDibao, &sp.OnTekun,
			&sp.DisabilityKind, &sp.DisabilityLevel, &sp.MonthlyIncomeFen, &sp.AssetsWithinRules); err != nil {
			return nil, err
		}
		sp.Relation, sp.Duty, _ = strings.Cut(rel, "/")
		out = append(out, &sp)
	}
	return out, rows.Err()
}

func (s *Service) bankAccounts(ctx context.Context, members []*Person) error {
	if len(members) == 0 {
		return nil
	}
	byID := map[int64]*Person{}
	ph := make([]string, len(members))
	args := make([]any, len(members))
	for i, m := range members {
		byID[m.ID] = m
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = m.ID
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, person_id, bank_code, bank_name, account_masked, active FROM bank_accounts WHERE person_id IN (`+strings.Join(ph, ",")+`) ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("registry: bank accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b BankAccount
		if err := rows.Scan(&b.ID, &b.PersonID, &b.BankCode, &b.BankName, &b.Masked, &b.Active); err != nil {
			return err
		}
		byID[b.PersonID].BankAccounts = append(byID[b.PersonID].BankAccounts, &b)
	}
	return rows.Err()
}

// Found is one search hit: a person and the household they belong to.
type Found struct {
	Person    *Person    `json:"person"`
	Household *Household `json:"household"`
}

// ByIDNumber finds the person with an ID number inside the caller's scope. The
// lookup goes by the keyed hash; the audit entry never holds the plaintext.
func (s *Service) ByIDNumber(ctx context.Context, c Caller, number string) (*Found, error) {
	id, err := idcard.Parse(number, s.now())
	if err != nil {
		e, _ := idcard.AsError(err)
		return nil, apperr.Invalid("id_number", e.Code, e.Message)
	}
	hash := s.Keys.Hash(id.Number)
	p, err := scanPerson(s.DB.QueryRowContext(ctx, `SELECT `+personCols+` FROM persons WHERE id_hmac = $1 AND region_code LIKE $2 || '%'`, hash, c.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		if err := audit.Record(ctx, s.DB, c.Actor(), "registry.lookup", "id_hash", hash[:16], c.Actor().Region, map[string]any{"found": false}); err != nil {
			return nil, err
		}
		return nil, apperr.NotFound("在您的管辖范围内没有找到该身份证号码的登记人员")
	}
	if err != nil {
		return nil, fmt.Errorf("registry: lookup: %w", err)
	}
	f := &Found{Person: p}
	if p.HouseholdID != 0 {
		if f.Household, err = s.household(ctx, s.DB, c.Scope(), p.HouseholdID); err != nil {
			return nil, err
		}
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.lookup", "person", fmt.Sprint(p.ID), p.Region, map[string]any{"found": true}); err != nil {
		return nil, err
	}
	return f, nil
}

// SearchByName finds people by name (exact, or a prefix of at least two
// characters) inside a region node that lies in the caller's scope. It never
// returns more than limit rows: the registry is search-first, not a list.
func (s *Service) SearchByName(ctx context.Context, c Caller, regionCode, name string, limit int) ([]Found, bool, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) < 2 {
		return nil, false, apperr.Invalid("name", "name_too_short", "按姓名查询请至少输入两个字")
	}
	scope := c.Scope()
	if regionCode != "" {
		if _, ok := s.Tree.Get(regionCode); !ok {
			return nil, false, apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
		}
		if !region.Within(c.Actor().Region, regionCode) {
			return nil, false, apperr.Forbidden("所选地区不在您的管辖范围内")
		}
		scope = region.ScopePrefix(regionCode)
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT p.id, COALESCE(p.household_id, 0), p.region_code, p.id_masked, p.name, p.sex, p.birth_date, p.phone, p.relation, p.co_resident,
		p.disability_kind, p.disability_level, p.self_care_items, p.student, p.serious_illness, p.able_to_work, p.status, p.version, h.hh_no FROM persons p LEFT JOIN households h ON h.id = p.household_id
		WHERE p.region_code LIKE $1 || '%' AND p.name LIKE $2 || '%' ORDER BY p.name, p.region_code LIMIT $3`, scope, escapeLike(name), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("registry: search: %w", err)
	}
	defer rows.Close()
	var out []Found
	for rows.Next() {
		var p Person
		var mask int
		var hhNo sql.NullString
		if err := rows.Scan(&p.ID, &p.HouseholdID, &p.Region, &p.IDMasked, &p.Name, &p.Sex, &p.BirthDate, &p.Phone, &p.Relation, &p.CoResident,
			&p.DisabilityKind, &p.DisabilityLevel, &mask, &p.Student, &p.SeriousIllness, &p.AbleToWork, &p.Status, &p.Version, &hhNo); err != nil {
			return nil, false, err
		}
		p.SelfCareItems = selfCareItems(mask)
		f := Found{Person: &p}
		if hhNo.Valid {
			f.Household = &Household{ID: p.HouseholdID, No: hhNo.String, Region: p.Region, RegionName: s.Tree.FullName(p.Region)}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.search", "region", scope, region.Pad(scope), map[string]any{"name_prefix_len": utf8.RuneCountInString(name), "hits": len(out)}); err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// ByHouseholdNo finds a household by its number inside scope.
func (s *Service) ByHouseholdNo(ctx context.Context, c Caller, no string) (*Household, error) {
	h, err := s.scanHousehold(s.DB.QueryRowContext(ctx, `SELECT `+householdCols+` FROM households WHERE hh_no = $1 AND region_code LIKE $2 || '%'`, strings.TrimSpace(no), c.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errHouseholdNotFound
	}
	return h, err
}

// RevealIDNumber decrypts one person's full ID number; always audited.
func (s *Service) RevealIDNumber(ctx context.Context, c Caller, personID int64) (string, error) {
	var enc, reg string
	err := s.DB.QueryRowContext(ctx, `SELECT id_enc, region_code FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, personID, c.Scope()).Scan(&enc, &reg)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errPersonNotFound
	}
	if err != nil {
		return "", fmt.Errorf("registry: reveal: %w", err)
	}
	n, err := s.Keys.Open(enc)
	if err != nil {
		return "", fmt.Errorf("registry: reveal person %d: %w", personID, err)
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.id_number.reveal", "person", fmt.Sprint(personID), reg, nil); err != nil {
		return "", err
	}
	return n, nil
}

// History lists a household's changes, newest first.
func (s *Service) History(ctx context.Context, c Caller, hhID int64) ([]Change, error) {
	if _, err := s.household(ctx, s.DB, c.Scope(), hhID); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT at, username, COALESCE(person_id, 0), op, reason, before_json, after_json
		FROM registry_history WHERE household_id = $1 ORDER BY id DESC LIMIT 200`, hhID)
	if err != nil {
		return nil, fmt.Errorf("registry: history: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var ch Change
		if err := rows.Scan(&ch.At, &ch.Username, &ch.PersonID, &ch.Op, &ch.Reason, &ch.Before, &ch.After); err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

// Person returns one person in scope with bank accounts and the changes that
// concern them in any household; the read is audited.
func (s *Service) Person(ctx context.Context, c Caller, id int64) (*Person, []Change, error) {
	p, err := scanPerson(s.DB.QueryRowContext(ctx, `SELECT `+personCols+` FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, id, c.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errPersonNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("registry: load person: %w", err)
	}
	if err := s.bankAccounts(ctx, []*Person{p}); err != nil {
		return nil, nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT at, username, COALESCE(person_id, 0), op, reason, before_json, after_json
		FROM registry_history WHERE person_id = $1 ORDER BY id DESC LIMIT 200`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: person history: %w", err)
	}
	defer rows.Close()
	var hist []Change
	for rows.Next() {
		var ch Change
		if err := rows.Scan(&ch.At, &ch.Username, &ch.PersonID, &ch.Op, &ch.Reason, &ch.Before, &ch.After); err != nil {
			return nil, nil, err
		}
		hist = append(hist, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "registry.person.view", "person", fmt.Sprint(id), p.Region, nil); err != nil {
		return nil, nil, err
	}
	return p, hist, nil
}

// RecentChanges lists the newest changes inside scope, for a home page.
func (s *Service) RecentChanges(ctx context.Context, c Caller, limit int) ([]Change, []int64, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT at, username, COALESCE(person_id,0), op, reason, '', '', COALESCE(household_id,0)
		FROM registry_history WHERE region_code LIKE $1 || '%' ORDER BY id DESC LIMIT $2`, c.Scope(), limit)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: recent changes: %w", err)
	}
	defer rows.Close()
	var out []Change
	var hh []int64
	for rows.Next() {
		var ch Change
		var h int64
		if err := rows.Scan(&ch.At, &ch.Username, &ch.PersonID, &ch.Op, &ch.Reason, &ch.Before, &ch.After, &h); err != nil {
			return nil, nil, err
		}
		out = append(out, ch)
		hh = append(hh, h)
	}
	return out, hh, rows.Err()
}

// Counts are the registry figures of a scope.
type Counts struct {
	Households int64 `json:"households"`
	Persons    int64 `json:"persons"`
}

// Count counts active households and persons in scope.
func (s *Service) Count(ctx context.Context, c Caller) (Counts, error) {
	var n Counts
	err := s.DB.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM households WHERE region_code LIKE $1 || '%' AND status = 'active'),
		(SELECT COUNT(*) FROM persons WHERE region_code LIKE $1 || '%' AND household_id IS NOT NULL)`, c.Scope()).Scan(&n.Households, &n.Persons)
	if err != nil {
		return n, fmt.Errorf("registry: count: %w", err)
	}
	return n, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer("%", "", "_", "").Replace(s)
}

func snapshot(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
