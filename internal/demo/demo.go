// Package demo seeds one account per role, inside two real Nanchang counties,
// for `jiuzhu serve -demo`: an office can try every screen on synthetic data.
package demo

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Password is the shared password of every demo account. Outside demo mode the
// accounts must change it before doing anything else.
const Password = "jiuzhu2026demo"

// Counties are where the demo data lives: an urban district and a rural county.
var Counties = []string{"360102000000", "360124000000"}

// Account is one seeded login.
type Account struct {
	Username, Role, Region string
}

// Seed creates the demo accounts that do not exist yet and returns all of them.
func Seed(ctx context.Context, svc *auth.Service, tree *region.Tree) ([]Account, error) {
	rural := Counties[1]
	township := tree.Children(rural)[0]
	village := tree.Children(township.Code)[0]
	specs := []struct {
		user, name string
		role       auth.Role
		region     string
	}{
		{"demo.admin", "演示省管理员", auth.Admin, tree.Root.Code},
		{"demo.countyadmin", "演示县管理员", auth.Admin, rural},
		{"demo.province", "演示省级监管", auth.Supervisor, tree.Root.Code},
		{"demo.supervisor", "演示市级监管", auth.Supervisor, "360100000000"},
		{"demo.county", "演示县级审批", auth.CountyApprover, rural},
		{"demo.finance", "演示县级资金审核", auth.CountyFinance, rural},
		{"demo.verify", "演示核对员", auth.VerificationOfficer, rural},
		{"demo.township", "演示乡镇经办", auth.TownshipCaseworker, township.Code},
		{"demo.reviewer", "演示乡镇审核", auth.TownshipReviewer, township.Code},
		{"demo.village", "演示村协理员", auth.VillageAssistant, village.Code},
		{"demo.auditor", "演示审计员", auth.Auditor, "360100000000"},
		{"demo.dept", "演示部门专员", auth.DepartmentOfficer, tree.Root.Code},
		{"demo.inspector", "演示纪检监察", auth.Inspector, rural},
		{"demo.yibao", "演示县医保局经办", auth.PartnerOfficer, rural},
		{"demo.jiaoyu", "演示县教育局经办", auth.PartnerOfficer, rural},
	}
	var out []Account
	for _, s := range specs {
		_, err := svc.Create(ctx, nil, auth.NewUser{Username: s.user, DisplayName: s.name, Role: s.role, Region: s.region, Password: Password, Demo: true})
		if err != nil && !isDuplicate(err) {
			return nil, fmt.Errorf("demo: account %s: %w", s.user, err)
		}
		out = append(out, Account{s.user, s.role.Label(), tree.FullName(s.region)})
	}
	return out, nil
}

func isDuplicate(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == "duplicate_username"
}

// SeedCases opens a dozen dibao applications in the demo township and takes
// them to different steps, so the worklists have work on the first morning.
func SeedCases(ctx context.Context, d *db.DB, svc *auth.Service, cw *casework.Service, tree *region.Tree) (int, error) {
	township := tree.Children(Counties[1])[0].Code
	caseworker, err := byName(ctx, d, svc, "demo.township")
	if err != nil {
		return 0, err
	}
	reviewer, err := byName(ctx, d, svc, "demo.reviewer")
	if err != nil {
		return 0, err
	}
	rows, err := d.QueryContext(ctx, `SELECT h.id FROM households h WHERE h.region_code LIKE $1 || '%' AND h.status = 'active'
		AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id) ORDER BY h.id LIMIT 12`, region.ScopePrefix(township))
	if err != nil {
		return 0, fmt.Errorf("demo cases: %w", err)
	}
	var hhs []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		hhs = append(hhs, id)
	}
	rows.Close()
	yes := true
	n := 0
	for i, hh := range hhs {
		prow, err := d.QueryContext(ctx, `SELECT id, relation, birth_date FROM persons WHERE household_id = $1 ORDER BY id`, hh)
		if err != nil {
			return n, err
		}
		var applicant int64
		var signed []int64
		adult := time.Now().AddDate(-18, 0, 0).Format(time.DateOnly)
		for prow.Next() {
			var id int64
			var rel, birth string
			prow.Scan(&id, &rel, &birth)
			if rel == "head" {
				applicant = id
			}
			if birth <= adult {
				signed = append(signed, id)
			}
		}
		prow.Close()
		in := casework.Intake{HouseholdID: hh, ApplicantID: applicant, Programme: "dibao", Channel: "door",
			Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: signed}
		if i%5 == 0 {
			in.Documents = in.Documents[:1] // an incomplete file with its one-time notice
		}
		cs, err := cw.Open(ctx, caseworker, in)
		if err != nil {
			return n, fmt.Errorf("demo cases: open: %w", err)
		}
		n++
		steps := []struct {
			u *auth.User
			a casework.Action
		}{
			{caseworker, casework.Action{Action: "start_investigation"}},
			{caseworker, casework.Action{Action: "home_visit", Investigators: []string{"演示调查员甲", "演示调查员乙"}, MembersSigned: true, Findings: "演示：入户核实家庭情况"}},
			{caseworker, casework.Action{Action: "verification", Consistent: &yes, ReportRef: "演示"}},
			{reviewer, casework.Action{Action: "township_opinion", Approve: &yes}},
		}
		for _, st := range steps[:i%(len(steps)+1)] {
			if cs.State == casework.StateIncomplete {
				break
			}
			st.a.Version = cs.Version
			if cs, err = cw.Act(ctx, st.u, cs.ID, st.a); err != nil {
				return n, fmt.Errorf("demo cases: %s: %w", st.a.Action, err)
			}
		}
	}
	return n, nil
}

func byName(ctx context.Context, d *db.DB, svc *auth.Service, username string) (*auth.User, error) {
	var id int64
	if err := d.QueryRowContext(ctx, `SELECT id FROM users WHERE username = $1`, username).Scan(&id); err != nil {
		return nil, fmt.Errorf("demo: account %s: %w", username, err)
	}
	return svc.ByID(ctx, id)
}

// SpreadHistory gives the seeded entitlements a past: each starts paying in
// one of the last 24 months, and some have stopped since, so the demo's
// statistics and dashboards show additions, removals and trends. Only a
// household that keeps another entitlement loses one, so the recipients (and
// what a verification batch of the demo finds) stay the same.
func SpreadHistory(ctx context.Context, d *db.DB, now time.Time) error {
	rows, err := d.QueryContext(ctx, `SELECT id, household_id FROM cases WHERE decision = 'approved' AND state = 'approved' AND programme <> 'temporary' ORDER BY household_id, id`)
	if err != nil {
		return err
	}
	type entitlement struct{ id, household int64 }
	var es []entitlement
	for rows.Next() {
		var e entitlement
		if err := rows.Scan(&e.id, &e.household); err != nil {
			rows.Close()
			return err
		}
		es = append(es, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	month := func(back int64) string {
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -int(back), 0).Format("2006-01")
	}
	return d.Tx(ctx, func(tx *sql.Tx) error {
		for i, e := range es {
			start := e.id*7919%24 + 1
			if _, err := tx.ExecContext(ctx, `UPDATE cases SET pay_from = $1 WHERE id = $2`, month(start), e.id); err != nil {
				return err
			}
			// the household's first entitlement stops when another follows it
			if start > 2 && i+1 < len(es) && es[i+1].household == e.household && (i == 0 || es[i-1].household != e.household) && e.id%3 == 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE cases SET state = 'closed', stop_from = $1 WHERE id = $2`, month(e.id*31%(start-1)+1), e.id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
