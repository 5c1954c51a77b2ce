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

// loadHousehold loads one household and what the registry declares of it.
func (s *Service) loadHousehold(ctx context.Context, id int64, date string) (*household, error) {
	h := &household{}
	var created time.Time
	err := s.DB.QueryRowContext(ctx, `SELECT h.id, h.hh_no, h.region_code, h.hukou, h.created_at, COALESCE(c.case_id, 0) FROM households h
		LEFT JOIN (`+RecipientCases+`) c ON c.household_id = h.id WHERE h.id = $1`, id).Scan(&h.ID, &h.No, &h.Region, &h.Hukou, &created, &h.CaseID)
	if err != nil {
		return nil, fmt.Errorf("verify: household %d: %w", id, err)
	}
	h.CreatedOn = created.Format(time.DateOnly)
	if err := s.declared(ctx, id, id, date, map[int64]*household{id: h}); err != nil {
		return nil, err
	}
	return h, nil
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
		m.Incomes = noIncomes()
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
			m.Incomes.set(kind, fen) // ordered by since: the latest stays
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
