package verify

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// recipients is every recipient household of a batch in a compact form:
// what the rules need, read with one streaming query per table and held in
// flat slices (a province is about 1.3 M households and 3.3 M members).
// Names are fetched later, only for households with findings.
type recipients struct {
	hh      []recipientHH     // by household id
	members []recipientMember // in household order: hh[i].first up to hh[i+1].first
}

type recipientHH struct {
	id, caseID       int64
	region           string
	hukou            string
	createdOn        string
	first            int32
	vehicles, houses int32
	financial        int64
}

type recipientMember struct {
	personID int64
	incomes  declaredIncomes
}

// loadRecipients reads the recipient households under scope and adds every
// member's ID hash to ix.
func (s *Service) loadRecipients(ctx context.Context, scope, date string, ix *recipientIndex) (*recipients, error) {
	rs := &recipients{}
	rows, err := s.DB.QueryContext(ctx, `SELECT h.id, h.region_code, h.hukou, h.created_at, c.case_id FROM households h
		JOIN (`+RecipientCases+`) c ON c.household_id = h.id WHERE h.region_code LIKE $1 ORDER BY h.id`, scope+"%")
	if err != nil {
		return nil, fmt.Errorf("verify: recipients: %w", err)
	}
	for rows.Next() {
		var h recipientHH
		var created time.Time
		if err := rows.Scan(&h.id, &h.region, &h.hukou, &created, &h.caseID); err != nil {
			rows.Close()
			return nil, err
		}
		h.createdOn = created.Format(time.DateOnly)
		rs.hh = append(rs.hh, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// members, in household order
	rows, err = s.DB.QueryContext(ctx, `SELECT p.household_id, p.id, p.id_hmac FROM persons p JOIN households h ON h.id = p.household_id
		WHERE p.status = 'active' AND h.region_code LIKE $1 ORDER BY p.household_id, p.id`, scope+"%")
	if err != nil {
		return nil, fmt.Errorf("verify: recipient members: %w", err)
	}
	hi := 0
	for i := range rs.hh {
		rs.hh[i].first = -1
	}
	for rows.Next() {
		var hid, pid int64
		var hash string
		if err := rows.Scan(&hid, &pid, &hash); err != nil {
			rows.Close()
			return nil, err
		}
		for hi < len(rs.hh) && rs.hh[hi].id < hid {
			hi++
		}
		if hi == len(rs.hh) || rs.hh[hi].id != hid {
			continue // a household receiving nothing
		}
		if rs.hh[hi].first < 0 {
			rs.hh[hi].first = int32(len(rs.members))
		}
		if err := ix.add(hash, int32(hi), int16(int32(len(rs.members))-rs.hh[hi].first)); err != nil {
			rows.Close()
			return nil, err
		}
		rs.members = append(rs.members, recipientMember{personID: pid, incomes: noIncomes()})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// a household without active members keeps an empty range
	next := int32(len(rs.members))
	for i := len(rs.hh) - 1; i >= 0; i-- {
		if rs.hh[i].first < 0 {
			rs.hh[i].first = next
		}
		next = rs.hh[i].first
	}

	// declared incomes, the latest per kind, found by person id
	byPerson := make([]int64, len(rs.members))
	for i, m := range rs.members {
		byPerson[i] = m.personID
	}
	order := make([]int32, len(rs.members))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(byPerson[a], byPerson[b]) })
	sortedIDs := make([]int64, len(order))
	for i, o := range order {
		sortedIDs[i] = byPerson[o]
	}
	kinds := "'" + strings.Join(declaredKinds[:], "', '") + "'"
	rows, err = s.DB.QueryContext(ctx, `SELECT person_id, kind, monthly_fen FROM person_incomes WHERE since <= $1 AND kind IN (`+kinds+`)
		ORDER BY person_id, kind, since, id`, date)
	if err != nil {
		return nil, fmt.Errorf("verify: recipient incomes: %w", err)
	}
	for rows.Next() {
		var pid, fen int64
		var kind string
		if err := rows.Scan(&pid, &kind, &fen); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := slices.BinarySearch(sortedIDs, pid); ok {
			rs.members[order[i]].incomes.set(kind, fen)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// declared assets
	rows, err = s.DB.QueryContext(ctx, `SELECT household_id, kind, value_fen FROM household_assets WHERE kind IN ('vehicle', 'house', 'deposit', 'securities', 'fund', 'commercial_insurance')`)
	if err != nil {
		return nil, fmt.Errorf("verify: recipient assets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hid, fen int64
		var kind string
		if err := rows.Scan(&hid, &kind, &fen); err != nil {
			return nil, err
		}
		i, ok := slices.BinarySearchFunc(rs.hh, hid, func(h recipientHH, id int64) int { return cmp.Compare(h.id, id) })
		if !ok {
			continue
		}
		switch h := &rs.hh[i]; kind {
		case "vehicle":
			h.vehicles++
		case "house":
			h.houses++
		default:
			h.financial += fen
		}
	}
	return rs, rows.Err()
}

// household builds the rules' view of household i, with member names when
// names holds them.
func (rs *recipients) household(i int, names map[int64]string) *household {
	r := &rs.hh[i]
	end := int32(len(rs.members))
	if i+1 < len(rs.hh) {
		end = rs.hh[i+1].first
	}
	h := &household{ID: r.id, Region: r.region, Hukou: r.hukou, CreatedOn: r.createdOn, CaseID: r.caseID,
		Vehicles: int(r.vehicles), Houses: int(r.houses), FinancialFen: r.financial}
	h.Members = make([]member, 0, end-r.first)
	for _, m := range rs.members[r.first:end] {
		h.Members = append(h.Members, member{PersonID: m.personID, Name: names[m.personID], Incomes: m.incomes})
	}
	return h
}

// memberNames fetches the names of the members of some households.
func (s *Service) memberNames(ctx context.Context, householdIDs []int64) (map[int64]string, error) {
	names := map[int64]string{}
	for chunk := range slices.Chunk(householdIDs, 500) {
		var q strings.Builder
		args := make([]any, len(chunk))
		q.WriteString(`SELECT id, name FROM persons WHERE household_id IN (`)
		for i, id := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			fmt.Fprintf(&q, "$%d", i+1)
			args[i] = id
		}
		q.WriteByte(')')
		rows, err := s.DB.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("verify: member names: %w", err)
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, err
			}
			names[id] = name
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return names, nil
}
