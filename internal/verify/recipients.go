package verify

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/db"
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
// member's ID hash to ix. The four tables are read at once, each by its own
// connection, and merged in memory.
func (s *Service) loadRecipients(ctx context.Context, scope, date string, ix *recipientIndex) (*recipients, error) {
	rs := &recipients{}
	// rows held until the merge, kept small: a province has 4 M members
	// and 5 M income records
	type memberRow struct {
		hid, pid int64
		hash     [32]byte
	}
	type incomeRow struct {
		pid  int64
		kind int8 // index in declaredKinds
		fen  int64
	}
	type assetRow struct {
		hid  int64
		kind string
		fen  int64
	}
	var members []memberRow
	var incomes []incomeRow
	var assets []assetRow
	kinds := "'" + strings.Join(declaredKinds[:], "', '") + "'"
	each := func(fn func(scan func(...any) error) error, query string, args ...any) error {
		return db.Each(ctx, s.DB, query, args, fn)
	}
	reads := []func() error{
		func() error {
			return each(func(scan func(...any) error) error {
				var h recipientHH
				var created time.Time
				if err := scan(&h.id, &h.region, &h.hukou, &created, &h.caseID); err != nil {
					return err
				}
				h.createdOn = created.Format(time.DateOnly)
				rs.hh = append(rs.hh, h)
				return nil
			}, `SELECT h.id, h.region_code, h.hukou, h.created_at, c.case_id FROM households h
				JOIN (`+RecipientCases+`) c ON c.household_id = h.id WHERE h.region_code LIKE $1 ORDER BY h.id`, scope+"%")
		},
		func() error {
			return each(func(scan func(...any) error) error {
				var m memberRow
				var hash string
				if err := scan(&m.hid, &m.pid, &hash); err != nil {
					return err
				}
				if len(hash) != 64 {
					return fmt.Errorf("bad id hash of person %d", m.pid)
				}
				if _, err := hex.Decode(m.hash[:], []byte(hash)); err != nil {
					return fmt.Errorf("bad id hash of person %d: %w", m.pid, err)
				}
				members = append(members, m)
				return nil
			}, `SELECT p.household_id, p.id, p.id_hmac FROM persons p JOIN households h ON h.id = p.household_id
				WHERE p.status = 'active' AND h.region_code LIKE $1 ORDER BY p.household_id, p.id`, scope+"%")
		},
		func() error {
			return each(func(scan func(...any) error) error {
				var in incomeRow
				var kind string
				if err := scan(&in.pid, &kind, &in.fen); err != nil {
					return err
				}
				in.kind = int8(slices.Index(declaredKinds[:], kind))
				incomes = append(incomes, in)
				return nil
			}, `SELECT person_id, kind, monthly_fen FROM person_incomes WHERE since <= $1 AND kind IN (`+kinds+`) ORDER BY person_id, kind, since, id`, date)
		},
		func() error {
			return each(func(scan func(...any) error) error {
				var a assetRow
				if err := scan(&a.hid, &a.kind, &a.fen); err != nil {
					return err
				}
				assets = append(assets, a)
				return nil
			}, `SELECT household_id, kind, value_fen FROM household_assets WHERE kind IN ('vehicle', 'house', 'deposit', 'securities', 'fund', 'commercial_insurance')`)
		},
	}
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, read := range reads {
		wg.Go(func() { errs[i] = read() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("verify: recipients: %w", err)
	}

	// members, merged into the households (both in household order)
	hi := 0
	for i := range rs.hh {
		rs.hh[i].first = -1
	}
	for _, m := range members {
		for hi < len(rs.hh) && rs.hh[hi].id < m.hid {
			hi++
		}
		if hi == len(rs.hh) || rs.hh[hi].id != m.hid {
			continue // a household receiving nothing
		}
		if rs.hh[hi].first < 0 {
			rs.hh[hi].first = int32(len(rs.members))
		}
		ix.add(m.hash, int32(hi), int16(int32(len(rs.members))-rs.hh[hi].first))
		rs.members = append(rs.members, recipientMember{personID: m.pid, incomes: noIncomes()})
	}
	members = nil
	// a household without active members keeps an empty range
	next := int32(len(rs.members))
	for i := len(rs.hh) - 1; i >= 0; i-- {
		if rs.hh[i].first < 0 {
			rs.hh[i].first = next
		}
		next = rs.hh[i].first
	}

	// declared incomes, the latest per kind (rows come oldest first), by person id
	order := make([]int32, len(rs.members))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(rs.members[a].personID, rs.members[b].personID) })
	for _, in := range incomes {
		i, ok := slices.BinarySearchFunc(order, in.pid, func(o int32, pid int64) int { return cmp.Compare(rs.members[o].personID, pid) })
		if ok && in.kind >= 0 {
			rs.members[order[i]].incomes[in.kind] = in.fen
		}
	}
	// declared assets
	for _, a := range assets {
		i, ok := slices.BinarySearchFunc(rs.hh, a.hid, func(h recipientHH, id int64) int { return cmp.Compare(h.id, id) })
		if !ok {
			continue
		}
		switch h := &rs.hh[i]; a.kind {
		case "vehicle":
			h.vehicles++
		case "house":
			h.houses++
		default:
			h.financial += a.fen
		}
	}
	return rs, nil
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
