package stats_test

import (
	"context"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/testdb"
)

var ctx = context.Background()

const county = "360124000000" // 进贤县

func TestMonthlyFiguresFromTheRecords(t *testing.T) {
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := gen.Options{Scale: 0.01, Seed: 3, Regions: []string{county}, Now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, d, tree, keys, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := payroll.SeedEntitlements(ctx, d, tree, opts, "2026-01"); err != nil {
		t.Fatal(err)
	}
	base, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	pol := &policydb.Store{DB: d, Tree: tree, Base: base}
	if _, err := pol.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	svc := &stats.Service{DB: d, Tree: tree, Params: pol, Now: func() time.Time { return time.Date(2026, 4, 10, 3, 0, 0, 0, time.UTC) }}
	u := &auth.User{Username: "sheng", Role: auth.Supervisor, Region: "360000000000"}

	// what the records say, counted directly
	var dibaoHH, dibaoP, tekunC, tekunD, disLiving, orphans int64
	d.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM((SELECT COUNT(*) FROM persons p WHERE p.household_id = c.household_id AND p.status = 'active')), 0)
		FROM cases c WHERE c.programme = 'dibao' AND c.state = 'approved'`).Scan(&dibaoHH, &dibaoP)
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE programme = 'tekun' AND kind = 'centralised'`).Scan(&tekunC)
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE programme = 'tekun' AND kind = 'dispersed'`).Scan(&tekunD)
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE programme = 'disability_living'`).Scan(&disLiving)
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE programme = 'orphan'`).Scan(&orphans)
	if dibaoHH == 0 || tekunC+tekunD == 0 {
		t.Fatalf("fixture: %d dibao households, %d tekun", dibaoHH, tekunC+tekunD)
	}

	feb, err := svc.Table(ctx, u, county, "2026-02")
	if err != nil {
		t.Fatal(err)
	}
	f := feb.Region
	if f.DibaoHH[0]+f.DibaoHH[1] != dibaoHH || f.DibaoPersons[0]+f.DibaoPersons[1] != dibaoP || f.TekunCentral[0]+f.TekunCentral[1] != tekunC ||
		f.TekunDispersed[0]+f.TekunDispersed[1] != tekunD || f.DisLiving != disLiving || f.Orphans != orphans {
		t.Fatalf("county figures %+v; records: dibao %d/%d, tekun %d+%d, living %d, orphans %d", f, dibaoHH, dibaoP, tekunC, tekunD, disLiving, orphans)
	}
	if f.DibaoNewHH[0]+f.DibaoNewHH[1] != 0 {
		t.Errorf("February counts %d new dibao households; all started in January", f.DibaoNewHH)
	}
	// the townships add up to the county
	var sum stats.Figures
	for _, c := range feb.Children {
		sum.DibaoHH[0] += c.DibaoHH[0]
		sum.DibaoHH[1] += c.DibaoHH[1]
		sum.TekunCentral[1] += c.TekunCentral[1]
	}
	if sum.DibaoHH != f.DibaoHH || sum.TekunCentral[1] != f.TekunCentral[1] || len(feb.Children) < 5 {
		t.Errorf("townships sum to %v, county %v", sum.DibaoHH, f.DibaoHH)
	}
	// the average standard is the recipient-weighted standard
	std, _ := pol.Resolve(ctx, "dibao.standard.rural", county, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	if f.DibaoPersons[1] > 0 && f.AvgStandard(1) != std.Int {
		t.Errorf("rural average standard %d, the county's standard %d", f.AvgStandard(1), std.Int)
	}
	q1, err := svc.Table(ctx, u, county, "2026Q1")
	if err != nil {
		t.Fatal(err)
	}
	if q1.Region.DibaoNewHH[0]+q1.Region.DibaoNewHH[1] != dibaoHH {
		t.Errorf("Q1 new dibao households %v, want %d", q1.Region.DibaoNewHH, dibaoHH)
	}

	// a household stops in March; a temporary grant in March: February is unchanged
	var stopID, stopMembers int64
	d.QueryRowContext(ctx, `SELECT c.id, (SELECT COUNT(*) FROM persons p WHERE p.household_id = c.household_id AND p.status = 'active')
		FROM cases c WHERE c.programme = 'dibao' ORDER BY c.id LIMIT 1`).Scan(&stopID, &stopMembers)
	if _, err := d.ExecContext(ctx, `UPDATE cases SET state = 'closed', stop_from = '2026-03' WHERE id = $1`, stopID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state, accepted_on,
			amount_fen, decision, decided_on, pay_from, created_at, updated_at)
		SELECT 'T1', 'temporary', '2021', 'emergency', household_id, applicant_id, region_code, 'door', 'approved', '2026-03-02', 150000, 'approved', '2026-03-05', '2026-03', $1, $1
		FROM cases WHERE id = $2`, time.Now(), stopID); err != nil {
		t.Fatal(err)
	}
	svc2 := &stats.Service{DB: d, Tree: tree, Params: pol, Now: svc.Now}
	mar, err := svc2.Table(ctx, u, county, "2026-03")
	if err != nil {
		t.Fatal(err)
	}
	m := mar.Region
	if m.DibaoHH[0]+m.DibaoHH[1] != dibaoHH-1 || m.DibaoOutHH[0]+m.DibaoOutHH[1] != 1 || m.DibaoOutP[0]+m.DibaoOutP[1] != stopMembers {
		t.Errorf("March: %v households, %v removed (%v persons); want %d, 1 (%d)", m.DibaoHH, m.DibaoOutHH, m.DibaoOutP, dibaoHH-1, stopMembers)
	}
	if m.TempCases != 1 || m.TempFen != 150000 || m.TempAverage() != 150000 {
		t.Errorf("March temporary assistance: %d cases, %d fen", m.TempCases, m.TempFen)
	}
	feb2, err := svc2.Table(ctx, u, county, "2026-02")
	if err != nil {
		t.Fatal(err)
	}
	if feb2.Region.DibaoHH != f.DibaoHH || feb2.Region.DibaoPersons != f.DibaoPersons {
		t.Errorf("February recomputed: %v / %v, before %v / %v", feb2.Region.DibaoHH, feb2.Region.DibaoPersons, f.DibaoHH, f.DibaoPersons)
	}

	// refusals
	township := &auth.User{Username: "xiang", Role: auth.TownshipCaseworker, Region: feb.Children[0].Region}
	for _, c := range []struct {
		u           *auth.User
		region, per string
		code        string
	}{
		{township, county, "2026-02", "forbidden"},
		{u, county, "2026-04", "period_open"},
		{u, county, "2026Q2", "period_open"},
		{u, county, "2026-13", "bad_period"},
		{u, "369999000000", "2026-02", "unknown_region"},
	} {
		_, err := svc.Table(ctx, c.u, c.region, c.per)
		if e, ok := apperr.As(err); !ok || e.Code != c.code {
			t.Errorf("%s %s as %s: %v, want %s", c.region, c.per, c.u.Username, err, c.code)
		}
	}
}
