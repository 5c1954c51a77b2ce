// Package demo seeds one account per role, inside two real Nanchang counties,
// for `jiuzhu serve -demo`: an office can try every screen on synthetic data.
package demo

import (
	"context"
	"fmt"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
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
		{"demo.supervisor", "演示市级监管", auth.Supervisor, "360100000000"},
		{"demo.county", "演示县级审批", auth.CountyApprover, rural},
		{"demo.finance", "演示县级资金审核", auth.CountyFinance, rural},
		{"demo.verify", "演示核对员", auth.VerificationOfficer, rural},
		{"demo.township", "演示乡镇经办", auth.TownshipCaseworker, township.Code},
		{"demo.reviewer", "演示乡镇审核", auth.TownshipReviewer, township.Code},
		{"demo.village", "演示村协理员", auth.VillageAssistant, village.Code},
		{"demo.auditor", "演示审计员", auth.Auditor, "360100000000"},
		{"demo.dept", "演示部门专员", auth.DepartmentOfficer, "360100000000"},
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
