package verify

import (
	"context"
	"fmt"
	"time"
)

// RecipientCases are the households receiving assistance now, with their
// latest approved case.
const RecipientCases = `SELECT household_id, MAX(id) AS case_id FROM cases
	WHERE state = 'approved' AND decision = 'approved' GROUP BY household_id`

const householdChunk = 5000

// loadHouseholds calls fn with households and what the registry declares
// of them, a chunk at a time in id order: every recipient household under
// the scope prefix, or the one household only.
func (s *Service) loadHouseholds(ctx context.Context, only int64, scope string, date string, fn func([]*household) error) error {
	q := `SELECT h.id, h.hh_no, h.region_code, h.hukou, h.created_at, c.case_id FROM households h
		JOIN (` + RecipientCases + `) c ON c.household_id = h.id WHERE h.region_code LIKE $1 ORDER BY h.id`
	args := []any{scope + "%"}
	if only != 0 {
		q = `SELECT h.id, h.hh_no, h.region_code, h.hukou, h.created_at, COALESCE(c.case_id, 0) FROM households h
			LEFT JOIN (` + RecipientCases + `) c ON c.household_id = h.id WHERE h.id = $1`
		args = []any{only}
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("verify: households: %w", err)
	}
	var all []*household
	for rows.Next() {
		h := &household{}
		var created time.Time
		if err := rows.Scan(&h.ID, &h.No, &h.Region, &h.Hukou, &created, &h.CaseID); err != nil {
			rows.Close()
			return err
		}
		h.CreatedOn = created.Format(time.DateOnly)
		all = append(all, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for len(all) > 0 {
		chunk := all[:min(householdChunk, len(all))]
		all = all[len(chunk):]
		byID := make(map[int64]*household, len(chunk))
		for _, h := range chunk {
			byID[h.ID] = h
		}
		if err := s.declared(ctx, chunk[0].ID, chunk[len(chunk)-1].ID, date, byID); err != nil {
			return err
		}
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// declared fills in members, their latest incomes and the household assets
// for the households with ids in [lo, hi] that byID holds.
func (s *Service) declared(ctx context.Context, lo, hi int64, date string, byID map[int64]*household) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, household_id, id_hmac, name, id_masked, relation, birth_date FROM persons
		WHERE household_id BETWEEN $1 AND $2 AND status = 'active' ORDER BY household_id, id`, lo, hi)
	if err != nil {
		return fmt.Errorf("verify: members: %w", err)
	}
	person := map[int64]*member{}
	for rows.Next() {
		var m member
		var hid int64
		if err := rows.Scan(&m.PersonID, &hid, &m.Hash, &m.Name, &m.IDMasked, &m.Relation, &m.Birth); err != nil {
			rows.Close()
			return err
		}
		if h := byID[hid]; h != nil {
			h.Members = append(h.Members, m)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range byID {
		for i := range h.Members {
			person[h.Members[i].PersonID] = &h.Members[i]
		}
	}
	rows, err = s.DB.QueryContext(ctx, `SELECT pi.person_id, pi.kind, pi.monthly_fen FROM person_incomes pi JOIN persons p ON p.id = pi.person_id
		WHERE p.household_id BETWEEN $1 AND $2 AND pi.since <= $3 ORDER BY pi.person_id, pi.kind, pi.since, pi.id`, lo, hi, date)
	if err != nil {
		return fmt.Errorf("verify: incomes: %w", err)
	}
	for rows.Next() {
		var pid, fen int64
		var kind string
		if err := rows.Scan(&pid, &kind, &fen); err != nil {
			rows.Close()
			return err
		}
		if m := person[pid]; m != nil {
			if m.Incomes == nil {
				m.Incomes = map[string]int64{}
			}
			m.Incomes[kind] = fen // ordered by since: the latest stays
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.DB.QueryContext(ctx, `SELECT household_id, kind, value_fen FROM household_assets WHERE household_id BETWEEN $1 AND $2`, lo, hi)
	if err != nil {
		return fmt.Errorf("verify: assets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hid, fen int64
		var kind string
		if err := rows.Scan(&hid, &kind, &fen); err != nil {
			return err
		}
		h := byID[hid]
		if h == nil {
			continue
		}
		switch kind {
		case "vehicle":
			h.Vehicles++
		case "house":
			h.Houses++
		case "deposit", "securities", "fund", "commercial_insurance":
			h.FinancialFen += fen
		}
	}
	return rows.Err()
}
