package institution

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// SeedDemo gives each demo county a handful of institutions with beds, star
// ratings and inspections, places the county's centralised extreme-poverty
// people (approved tekun cases of centralised support) in them — in the
// institution their household address names, as the generator writes it — and records the staff of the
// county bureau and its township offices. It must run after the entitlements
// are seeded (payroll.SeedEntitlements) and does nothing for a county that
// already has institutions. All figures are demonstration data.
func SeedDemo(ctx context.Context, d *db.DB, tree *region.Tree, counties []string) error {
	now := time.Now().UTC()
	today := now.In(calendar.China).Format(time.DateOnly)
	for _, county := range counties {
		c, ok := tree.Get(county)
		if !ok || c.Level != region.County {
			return fmt.Errorf("institution: seed: %s is not a county", county)
		}
		var n int
		if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM institutions WHERE region_code LIKE $1 || '%'`, c.Prefix).Scan(&n); err != nil {
			return fmt.Errorf("institution: seed: %w", err)
		}
		if n > 0 {
			continue
		}
		if err := d.Tx(ctx, func(tx *sql.Tx) error { return seedCounty(ctx, tx, tree, c, now, today) }); err != nil {
			return fmt.Errorf("institution: seed %s: %w", c.Name, err)
		}
	}
	return nil
}

type seedResident struct {
	person, caseID int64
	address        string
	township       string
}

type seedInst struct {
	id     int64
	beds   []int64
	used   int
	region string
}

func seedCounty(ctx context.Context, tx *sql.Tx, tree *region.Tree, c *region.Region, now time.Time, today string) error {
	ago := func(days int) string { return now.In(calendar.China).AddDate(0, 0, -days).Format(time.DateOnly) }
	// the people waiting: approved tekun cases living at an institution
	rows, err := tx.QueryContext(ctx, `SELECT p.id, MAX(c.id), h.address, p.region_code FROM cases c
		JOIN persons p ON p.id = c.applicant_id JOIN households h ON h.id = p.household_id
		WHERE c.programme = 'tekun' AND c.state = 'approved' AND c.decision = 'approved' AND c.region_code LIKE $1 || '%' AND p.status = 'active'
			AND c.kind = 'centralised'
			AND NOT EXISTS (SELECT 1 FROM placements pl WHERE pl.person_id = p.id AND pl.ended_on = '')
		GROUP BY p.id, h.address, p.region_code ORDER BY p.id`, c.Prefix)
	if err != nil {
		return err
	}
	var residents []seedResident
	for rows.Next() {
		var r seedResident
		if err := rows.Scan(&r.person, &r.caseID, &r.address, &r.township); err != nil {
			rows.Close()
			return err
		}
		r.township = region.Pad(r.township[:9])
		residents = append(residents, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	byAddress := map[string][]seedResident{}
	for _, r := range residents {
		byAddress[r.address] = append(byAddress[r.address], r)
	}

	create := func(kind, name, code, address, operator, opened string, beds, carers, medical, other int) (*seedInst, error) {
		si := &seedInst{region: code}
		if err := tx.QueryRowContext(ctx, `INSERT INTO institutions (kind, name, region_code, address, operator, capacity, carers, medical, other_staff, opened_on, status,
			created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'open','system',$11,$11) RETURNING id`,
			kind, name, code, address, operator, beds, carers, medical, other, opened, now).Scan(&si.id); err != nil {
			return nil, err
		}
		for b := 1; b <= beds; b++ {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO institution_beds (institution_id, bed_no) VALUES ($1,$2) RETURNING id`, si.id, strconv.Itoa(b)).Scan(&id); err != nil {
				return nil, err
			}
			si.beds = append(si.beds, id)
		}
		return si, nil
	}
	rate := func(si *seedInst, stars int, on, note string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO institution_ratings (institution_id, stars, rated_on, assessor, note, recorded_by, recorded_at)
			VALUES ($1,$2,$3,$4,$5,'system',$6)`, si.id, stars, on, c.Name+"民政局星级评定组", note, now)
		return err
	}
	inspect := func(si *seedInst, on, result, findings, deadline, closedOn, closure string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO institution_inspections (institution_id, inspected_on, inspector, findings, result, deadline, closed_on, closure_note,
			closed_by, recorded_by, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'system',$10)`,
			si.id, on, c.Name+"民政局", findings, result, deadline, closedOn, closure, map[bool]string{true: "system", false: ""}[closedOn != ""], now)
		return err
	}
	place := func(si *seedInst, r seedResident) (bool, error) {
		if si.used >= len(si.beds) {
			return false, nil
		}
		bed := si.beds[si.used]
		si.used++
		_, err := tx.ExecContext(ctx, `INSERT INTO placements (institution_id, bed_id, person_id, case_id, region_code, admitted_on, admitted_by, admit_note, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,'system',$7,$8)`, si.id, bed, r.person, r.caseID, si.region, today, "存量集中供养人员导入（合成数据）", now)
		return err == nil, err
	}
	roundUp := func(n int) int { return (n + 9) / 10 * 10 }

	// the county-level centre: the urban district's welfare home (where the
	// generator houses its centralised people) or the county's care centre
	centreName := c.Name + "特困人员集中照护中心"
	centreAddress := tree.FullName(c.Code) + "特困人员集中照护中心"
	if strings.HasPrefix(c.Kind, "市辖区") {
		centreName, centreAddress = c.Name+"社会福利院", tree.FullName(c.Code)+"社会福利院"
	}
	centreResidents := byAddress[centreAddress]
	centre, err := create(KindCareCentre, centreName, c.Code, centreAddress, "public", "2019-12-28", max(40, roundUp(len(centreResidents)+10)), 12, 3, 5)
	if err != nil {
		return err
	}
	if err := rate(centre, 2, "2020-06-30", "首次评定"); err != nil {
		return err
	}
	if err := rate(centre, 3, ago(90), "失能照护设施改造后复评"); err != nil {
		return err
	}
	if err := inspect(centre, ago(60), ResultPass, "消防设施、食品安全、护理记录检查均符合要求。", "", "", ""); err != nil {
		return err
	}
	for _, r := range centreResidents {
		if _, err := place(centre, r); err != nil {
			return err
		}
	}

	// township elder homes: the townships where most centralised people live
	type home struct {
		address  string
		township string
		people   []seedResident
	}
	var homes []home
	for addr, rs := range byAddress {
		if strings.HasSuffix(addr, "敬老院") {
			homes = append(homes, home{addr, rs[0].township, rs})
		}
	}
	sort.Slice(homes, func(i, j int) bool {
		if len(homes[i].people) != len(homes[j].people) {
			return len(homes[i].people) > len(homes[j].people)
		}
		return homes[i].township < homes[j].township
	})
	operators := []string{"public", "public_private", "public", "public"}
	for k, h := range homes {
		t, ok := tree.Get(h.township)
		if !ok {
			continue
		}
		if k >= 4 {
			// the others wait in the county centre's free beds, a few of them
			for _, r := range h.people[:min(3, len(h.people))] {
				if _, err := place(centre, r); err != nil {
					return err
				}
			}
			continue
		}
		beds := roundUp(len(h.people) + 6)
		si, err := create(KindElderHome, t.Name+"敬老院", t.Code, h.address, operators[k], "2008-10-01", beds, max(2, beds/8), 1, 2)
		if err != nil {
			return err
		}
		if err := rate(si, 1+k%2, "2019-09-30", "全省敬老院星级评定"); err != nil {
			return err
		}
		if k%2 == 0 {
			if err := rate(si, 2+k%2, ago(120), "复评晋级"); err != nil {
				return err
			}
		}
		switch k {
		case 0:
			if err := inspect(si, ago(30), ResultRectify, "部分房间未安装呼叫装置；消防通道堆放杂物。", ago(-60), "", ""); err != nil {
				return err
			}
		case 1:
			if err := inspect(si, ago(100), ResultRectify, "厨房留样记录不全。", ago(70), ago(75), "已补全留样记录并建立台账，复查合格。"); err != nil {
				return err
			}
		}
		for _, r := range h.people {
			if _, err := place(si, r); err != nil {
				return err
			}
		}
	}

	// a relief station (no beds in use) and the offices' staff
	if _, err := create(KindReliefStation, c.Name+"救助管理站", c.Code, tree.FullName(c.Code)+"救助管理站", "public", "2012-05-01", 20, 2, 1, 3); err != nil {
		return err
	}
	asOf := ago(200)
	if _, err := tx.ExecContext(ctx, `INSERT INTO office_staff (region_code, as_of, civil_servants, career_staff, purchased_workers, note, recorded_by, recorded_at)
		VALUES ($1,$2,$3,$4,$5,$6,'system',$7)`, c.Code, asOf, 5, 3, 6, "演示数据", now); err != nil {
		return err
	}
	for k, t := range tree.Children(c.Code) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO office_staff (region_code, as_of, civil_servants, career_staff, purchased_workers, note, recorded_by, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6,'system',$7)`, t.Code, asOf, 1, k%2, k%3, "演示数据", now); err != nil {
			return err
		}
	}
	return nil
}
