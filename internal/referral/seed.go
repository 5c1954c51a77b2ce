package referral

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

type seedOrg struct {
	name, kind, dept string
	areas            []string
	contact, phone   string
	days             int
}

// demoOrgs are a county's usual coordination partners (2019 report §2(四)):
// the member departments, the trade union, the disabled persons' federation,
// the charity federation and a social-work centre. Contacts are invented.
var demoOrgs = []seedOrg{
	{"人力资源和社会保障局", "department", "hrss", []string{"employment", "social_insurance"}, "王建军", "0791-8561001", 10},
	{"医疗保障局", "department", "medical_insurance", []string{"medical"}, "李丽华", "0791-8561002", 5},
	{"教育体育局", "department", "education", []string{"education"}, "张文斌", "0791-8561003", 10},
	{"住房和城乡建设局", "department", "housing", []string{"housing"}, "刘志强", "0791-8561004", 15},
	{"残疾人联合会", "department", "disabled", []string{"basic_living", "employment", "medical", "social_help"}, "陈秀英", "0791-8561005", 10},
	{"卫生健康委员会", "department", "health", []string{"medical"}, "杨海燕", "0791-8561006", 5},
	{"总工会", "department", "union", []string{"basic_living", "employment", "temporary"}, "黄国平", "0791-8561007", 10},
	{"慈善总会", "charity", "", []string{"basic_living", "medical", "education", "housing", "temporary", "social_help"}, "周慧敏", "0791-8561008", 10},
	{"社会工作服务中心", "social_work", "", []string{"social_help", "basic_living"}, "吴晓燕", "0791-8561009", 5},
}

// demoBindings bind the demo partner accounts (created by demo.Seed) to
// their organisations in the rural demo county; missing accounts are skipped.
var demoBindings = map[string]string{"demo.yibao": "医疗保障局", "demo.jiaoyu": "教育体育局"}

// SeedDemo lists the coordination partners of each demo county (once) and
// binds the demo partner accounts that exist to theirs.
func SeedDemo(ctx context.Context, d *db.DB, tree *region.Tree, counties []string) error {
	now := time.Now().UTC()
	for _, county := range counties {
		c, ok := tree.Get(county)
		if !ok || c.Level != region.County {
			return fmt.Errorf("referral: seed: %s is not a county", county)
		}
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM referral_orgs WHERE county_code = $1`, c.Code).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				for _, o := range demoOrgs {
					name := c.Name + o.name
					var id int64
					if err := tx.QueryRowContext(ctx, `INSERT INTO referral_orgs (county_code, name, kind, department, contact_name, contact_phone, answer_days, active, created_by, created_at, updated_at)
						VALUES ($1,$2,$3,$4,$5,$6,$7,TRUE,'system',$8,$8) RETURNING id`, c.Code, name, o.kind, o.dept, o.contact, o.phone, o.days, now).Scan(&id); err != nil {
						return err
					}
					if err := setAreas(ctx, tx, id, o.areas); err != nil {
						return err
					}
				}
				if err := audit.Append(ctx, tx, audit.System, "referral.org.seed", "region", c.Code, c.Code, map[string]any{"organisations": len(demoOrgs)}); err != nil {
					return err
				}
			}
			for user, org := range demoBindings {
				var uid, oid int64
				err := tx.QueryRowContext(ctx, `SELECT us.id, o.id FROM users us JOIN referral_orgs o ON o.county_code = us.region_code AND o.name = $2
					WHERE us.username = $1 AND us.role = 'partner_officer' AND us.region_code = $3
					AND NOT EXISTS (SELECT 1 FROM referral_org_users b WHERE b.user_id = us.id)`, user, c.Name+org, c.Code).Scan(&uid, &oid)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO referral_org_users (user_id, org_id, bound_by, bound_at) VALUES ($1,$2,'system',$3)`, uid, oid, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("referral: seed %s: %w", c.Name, err)
		}
	}
	return nil
}
