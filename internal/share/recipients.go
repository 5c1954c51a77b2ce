package share

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/db"
)

// Programmes are the regular entitlements the sharing API answers about;
// temporary assistance is a one-off grant and is not shared as a status.
var Programmes = []string{"dibao", "tekun", "orphan", "unattended_child", "disability_living", "disability_care"}

// CheckProgramme validates an optional programme filter.
func CheckProgramme(p string) error {
	if p != "" && !slices.Contains(Programmes, p) {
		return apperr.Invalid("programme", "unknown_programme", "未知的救助项目："+p+"（可选："+strings.Join(Programmes, "、")+"）")
	}
	return nil
}

// Entitlement is one programme a person currently receives.
type Entitlement struct {
	Programme string
	Since     string // YYYY-MM, the first month paid
	DecidedOn string
	AmountFen int64 // the entitlement's monthly amount (for dibao the household's)
}

// Recipient is a registered person in a key's region and what they receive now.
type Recipient struct {
	PersonID      int64
	RegionCode    string
	IDMasked      string
	Name          string
	HouseholdNo   string
	HouseholdSize int
	Entitlements  []Entitlement
	householdID   int64
	idEnc         string
}

// currentSQL is "an entitlement in payment this month": an approved
// application of a regular programme not yet stopped (a gradual exit pays on
// until stop_from), the same condition payroll uses.
const currentSQL = `c.decision = 'approved' AND c.purpose = 'application' AND c.programme <> 'temporary'
	AND (c.state = 'approved' OR (c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > $2))`

func (s *Service) thisMonth() string { return s.now().In(calendar.China).Format("2006-01") }

// recipients looks people up by the keyed hash of their ID number inside the
// key's region. People outside it are simply absent from the answer.
func (s *Service) recipients(ctx context.Context, c *Client, hashes []string, programme string) (map[string]*Recipient, error) {
	out := map[string]*Recipient{}
	if len(hashes) == 0 {
		return out, nil
	}
	args := []any{c.Scope()}
	ph := make([]string, len(hashes))
	for i, h := range hashes {
		args = append(args, h)
		ph[i] = "$" + strconv.Itoa(i+2)
	}
	byPerson := map[int64]*Recipient{}
	byHousehold := map[int64][]*Recipient{}
	err := db.Each(ctx, s.DB, `SELECT p.id, p.id_hmac, COALESCE(p.household_id, 0), p.region_code, p.id_masked, p.name, p.id_enc, COALESCE(h.hh_no, ''),
			(SELECT COUNT(*) FROM persons m WHERE m.household_id = p.household_id AND m.status = 'active')
		FROM persons p LEFT JOIN households h ON h.id = p.household_id
		WHERE p.region_code LIKE $1 || '%' AND p.id_hmac IN (`+strings.Join(ph, ",")+`)`, args,
		func(scan func(...any) error) error {
			var r Recipient
			var hash string
			if err := scan(&r.PersonID, &hash, &r.householdID, &r.RegionCode, &r.IDMasked, &r.Name, &r.idEnc, &r.HouseholdNo, &r.HouseholdSize); err != nil {
				return err
			}
			out[hash] = &r
			byPerson[r.PersonID] = &r
			if r.householdID != 0 {
				byHousehold[r.householdID] = append(byHousehold[r.householdID], &r)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("share: find persons: %w", err)
	}
	if len(byPerson) == 0 {
		return out, nil
	}
	if len(byHousehold) == 0 {
		return out, nil
	}
	args = []any{c.Scope(), s.thisMonth(), programme}
	var hp []string
	for id := range byHousehold {
		args = append(args, id)
		hp = append(hp, "$"+strconv.Itoa(len(args)))
	}
	err = db.Each(ctx, s.DB, `SELECT c.applicant_id, c.household_id, c.programme, c.pay_from, c.decided_on, c.amount_fen FROM cases c
		WHERE c.region_code LIKE $1 || '%' AND `+currentSQL+` AND ($3 = '' OR c.programme = $3)
			AND c.household_id IN (`+strings.Join(hp, ",")+`)
		ORDER BY c.pay_from, c.id`, args,
		func(scan func(...any) error) error {
			var applicant, hh int64
			var e Entitlement
			if err := scan(&applicant, &hh, &e.Programme, &e.Since, &e.DecidedOn, &e.AmountFen); err != nil {
				return err
			}
			seen := map[*Recipient]bool{}
			add := func(r *Recipient) {
				if r == nil || seen[r] {
					return
				}
				seen[r] = true
				for _, x := range r.Entitlements {
					if x.Programme == e.Programme {
						return
					}
				}
				r.Entitlements = append(r.Entitlements, e)
			}
			add(byPerson[applicant])
			if e.Programme == "dibao" {
				for _, r := range byHousehold[hh] {
					add(r)
				}
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("share: find entitlements: %w", err)
	}
	return out, nil
}

// MaskName shows the first and the last character of a name (张*丰); a
// two-character name keeps its surname only (张*).
func MaskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	switch n := utf8.RuneCountInString(string(r)); {
	case n <= 1:
		return string(r)
	case n == 2:
		return string(r[0]) + "*"
	default:
		return string(r[0]) + strings.Repeat("*", n-2) + string(r[n-1])
	}
}

// ProgrammeLabel is a programme's Chinese name.
func ProgrammeLabel(p string) string { return casework.ProgrammeLabel(p) }
