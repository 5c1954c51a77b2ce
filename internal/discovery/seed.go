package discovery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// SeedDemo sends the demo counties a month of department events through the
// ordinary import, so both worklists have items: per county the deaths of
// two recipients, a car bought in a recipient household, a birth in one,
// and for non-recipients a high hospital bill and an unemployment
// registration, with a few events about people the registry does not know.
// It returns how many items the rules found.
func SeedDemo(ctx context.Context, s *Service, counties []string) (int, error) {
	sys := &auth.User{Username: "system", DisplayName: "系统", Role: auth.DepartmentOfficer, Region: s.Tree.Root.Code, Active: true}
	today := s.today()
	day := func(back int) string { return today.AddDate(0, 0, -back).Format(time.DateOnly) }
	type person struct{ id, birth string }
	pick := func(county, cond string, n int) ([]person, error) {
		var out []person
		err := db.Each(ctx, s.DB, `SELECT p.id_enc, p.birth_date FROM persons p JOIN households h ON h.id = p.household_id
			WHERE h.region_code LIKE $1 || '%' AND p.status = 'active' AND p.birth_date < '2000-01-01' AND `+cond+` ORDER BY p.id LIMIT $2`,
			[]any{region.ScopePrefix(county), n}, func(scan func(...any) error) error {
				var p person
				var enc string
				if err := scan(&enc, &p.birth); err != nil {
					return err
				}
				id, err := s.Keys.Open(enc)
				if err != nil {
					return err
				}
				p.id = id
				out = append(out, p)
				return nil
			})
		return out, err
	}
	recipient := `EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id AND ` + inForce + ` AND c.programme IN ('dibao', 'tekun') AND c.accepted_on < '` + day(40) + `')`
	files := map[string][]string{}
	for ci, county := range counties {
		rec, err := pick(county, recipient, 4)
		if err != nil {
			return 0, fmt.Errorf("discovery: demo: %w", err)
		}
		non, err := pick(county, "NOT "+recipient, 2)
		if err != nil {
			return 0, fmt.Errorf("discovery: demo: %w", err)
		}
		if len(rec) < 4 || len(non) < 2 {
			continue
		}
		files[KindDeath] = append(files[KindDeath], rec[0].id+","+day(20), rec[1].id+","+day(12))
		files[KindVehicle] = append(files[KindVehicle], fmt.Sprintf("%s,赣A%05d,K,%s,68000", rec[2].id, 10000+ci, day(15)))
		b := today.AddDate(0, 0, -9)
		child := idcard.Build(county[:6], b, 500+ci*2, true)
		files[KindBirth] = append(files[KindBirth], rec[3].id+","+child+","+b.Format(time.DateOnly))
		files[KindHospital] = append(files[KindHospital], non[0].id+","+day(25)+",4000000,省人民医院")
		files[KindUnemployment] = append(files[KindUnemployment], non[1].id+","+day(18))
		stranger := idcard.Build(county[:6], time.Date(1968, 3, 3, 0, 0, 0, 0, time.UTC), 800+ci*2, true)
		files[KindHospital] = append(files[KindHospital], stranger+","+day(22)+",35000,县医院")
		files[KindDeath] = append(files[KindDeath], stranger+","+day(5))
	}
	headers := map[string]string{KindDeath: "身份证号,死亡日期", KindVehicle: "身份证号,号牌号码,车辆类型,登记日期,购置价（元）",
		KindBirth: "父（母）身份证号,新生儿身份证号,出生日期", KindHospital: "身份证号,出院日期,个人自付（元）,医疗机构", KindUnemployment: "身份证号,登记日期"}
	found := 0
	for _, kind := range []string{KindDeath, KindVehicle, KindBirth, KindHospital, KindUnemployment} {
		if len(files[kind]) == 0 {
			continue
		}
		body := headers[kind] + "\n" + strings.Join(files[kind], "\n") + "\n"
		res, err := s.Import(ctx, sys, ImportInput{Kind: kind, Source: "演示数据", FileName: "demo-" + kind + ".csv", Body: []byte(body)})
		if err != nil {
			return found, fmt.Errorf("discovery: demo %s: %w", kind, err)
		}
		found += res.Items
	}
	return found, nil
}
