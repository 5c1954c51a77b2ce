package referral

import (
	"context"
	"fmt"
	"sort"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
)

// Received is one piece of help a household got, from this platform's
// assistance or from a department or charity.
type Received struct {
	Source    string `json:"source"` // "救助业务" or the organisation's name
	Kind      string `json:"kind"`   // "case" or "referral"
	Area      string `json:"area"`
	What      string `json:"what"`
	AmountFen int64  `json:"amount_fen"`
	Monthly   bool   `json:"monthly"` // the amount is paid every month
	On        string `json:"on"`
	Status    string `json:"status"`
	Link      string `json:"link,omitempty"`
	Ref       string `json:"ref"` // case number or referral number
}

// AreaLabel names the area.
func (r Received) AreaLabel() string { return AreaLabel(r.Area) }

// Help is a household's section: its needs with their referrals, and the
// help received from every source.
type Help struct {
	HouseholdID int64      `json:"household_id"`
	Needs       []*Need    `json:"needs"`
	Received    []Received `json:"received"`
	// TotalFen sums one-off amounts and one month of monthly ones.
	OneOffFen  int64 `json:"one_off_fen"`
	MonthlyFen int64 `json:"monthly_fen"`
}

// caseArea is the area of help a programme of this platform belongs to.
func caseArea(programme string) string {
	if programme == "temporary" {
		return "temporary"
	}
	return "basic_living"
}

// HouseholdHelp gathers a household's needs and referrals in the caller's
// region, and the help received: the approved assistance cases given (the
// caller reads them from casework, which owns them) and every referral
// closed with help. The read is audited once, with its counts.
func (s *Service) HouseholdHelp(ctx context.Context, u *auth.User, householdID int64, cases []*casework.Case) (*Help, error) {
	if !u.Can(auth.ReferralRead) {
		return nil, apperr.Forbidden("您没有查看转介的权限")
	}
	code, _, err := householdIn(ctx, s.DB, u, householdID)
	if err != nil {
		return nil, err
	}
	needs, err := s.needs(ctx, u, householdID)
	if err != nil {
		return nil, err
	}
	h := &Help{HouseholdID: householdID, Needs: needs, Received: []Received{}}
	for _, c := range cases {
		if c.HouseholdID != householdID || c.Purpose != casework.PurposeApplication || c.Decision != "approved" {
			continue
		}
		monthly := c.Programme != "temporary"
		h.Received = append(h.Received, Received{Source: "救助业务", Kind: "case", Area: caseArea(c.Programme), What: casework.ProgrammeLabel(c.Programme),
			AmountFen: c.AmountFen, Monthly: monthly, On: c.DecidedOn, Status: c.StateLabel(), Link: fmt.Sprintf("/cases/%d", c.ID), Ref: c.No})
	}
	for _, n := range needs {
		for _, r := range n.Referrals {
			if !r.Helped() {
				continue
			}
			h.Received = append(h.Received, Received{Source: r.OrgName, Kind: "referral", Area: r.Area, What: r.OutcomeLabel(), AmountFen: r.AmountFen,
				On: r.ClosedOn, Status: r.StateLabel(), Link: fmt.Sprintf("/referrals/%d", r.ID), Ref: r.No})
		}
	}
	sort.SliceStable(h.Received, func(i, j int) bool { return h.Received[i].On > h.Received[j].On })
	for _, x := range h.Received {
		if x.Monthly {
			h.MonthlyFen += x.AmountFen
		} else {
			h.OneOffFen += x.AmountFen
		}
	}
	// one entry per view of the section (the household page, the API); the
	// cases' own reads are casework's to audit
	if err := s.auditHousehold(ctx, u, "referral.help.view", householdID, code, needs, map[string]any{"received": len(h.Received)}); err != nil {
		return nil, err
	}
	return h, nil
}
