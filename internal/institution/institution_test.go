package institution_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/institution"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

const (
	county   = "360124000000" // 进贤县
	township = "360124100000" // 民和镇
	other    = "360102000000" // 东湖区
)

var ctx = context.Background()

// today is the service's clock in these tests.
var today = time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC)

type fixture struct {
	t        *testing.T
	d        *db.DB
	tree     *region.Tree
	svc      *institution.Service
	opts     gen.Options
	approver *auth.User // county A, write
	otherCty *auth.User // county B, write
	reader   *auth.User // township caseworker in A, read only
	province *auth.User // province supervisor
	city     *auth.User // city supervisor
	finance  *auth.User // county A finance, payroll ledger
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := gen.Options{Scale: 0.02, Seed: 11, Regions: []string{county}, Now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, d, tree, keys, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := payroll.SeedEntitlements(ctx, d, tree, opts, "2026-01"); err != nil {
		t.Fatal(err)
	}
	if err := payroll.SeedDemo(ctx, d, tree, []string{county}, 2026); err != nil {
		t.Fatal(err)
	}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, code string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: code, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return &fixture{t: t, d: d, tree: tree, opts: opts,
		svc:      &institution.Service{DB: d, Tree: tree, Now: func() time.Time { return today }},
		approver: mk("xianji", auth.CountyApprover, county),
		otherCty: mk("donghu", auth.CountyApprover, other),
		reader:   mk("jingban", auth.TownshipCaseworker, township),
		province: mk("sheng", auth.Supervisor, "360000000000"),
		city:     mk("shi", auth.Supervisor, "360100000000"),
		finance:  mk("zijin", auth.CountyFinance, county),
	}
}

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func (f *fixture) want(err error, want string) {
	f.t.Helper()
	if got := code(err); got != want {
		f.t.Fatalf("got %q (%v), want %q", got, err, want)
	}
}

func (f *fixture) create(u *auth.User, kind, name, code string, beds int) *institution.Institution {
	f.t.Helper()
	i, err := f.svc.Create(ctx, u, institution.Input{Kind: kind, Name: name, Region: code, Operator: "public", Capacity: beds, Carers: 3, OpenedOn: "2010-05-01"})
	if err != nil {
		f.t.Fatal(err)
	}
	return i
}

// tekunPeople returns persons holding an approved tekun case of centralised
// support in the county.
func (f *fixture) tekunPeople(n int) []int64 {
	f.t.Helper()
	rows, err := f.d.QueryContext(ctx, `SELECT DISTINCT applicant_id FROM cases WHERE programme = 'tekun' AND kind = 'centralised' AND state = 'approved'
		AND decision = 'approved' AND region_code LIKE $1 || '%' ORDER BY applicant_id LIMIT $2`, county[:6], n)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		out = append(out, id)
	}
	if len(out) < n {
		f.t.Fatalf("only %d tekun people", len(out))
	}
	return out
}

func (f *fixture) beds(i *institution.Institution) []institution.Bed {
	f.t.Helper()
	b, err := f.svc.Beds(ctx, f.approver, i.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) get(u *auth.User, id int64) *institution.Institution {
	f.t.Helper()
	i, err := f.svc.Get(ctx, u, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return i
}

func TestScopeCrossing(t *testing.T) {
	f := newFixture(t)
	home := f.create(f.approver, institution.KindElderHome, "民和镇敬老院", township, 10)
	centre := f.create(f.approver, institution.KindCareCentre, "进贤县特困人员集中照护中心", county, 20)
	if home.Beds != 10 || home.Version != 1 || home.Occupied != 0 {
		t.Fatalf("created %+v", home)
	}

	// another county's approver sees nothing and can change nothing
	list, err := f.svc.List(ctx, f.otherCty, institution.Filter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("other county lists %d: %v", len(list), err)
	}
	_, err = f.svc.List(ctx, f.otherCty, institution.Filter{Region: county})
	f.want(err, "forbidden")
	_, err = f.svc.Get(ctx, f.otherCty, home.ID)
	f.want(err, "not_found")
	_, err = f.svc.Details(ctx, f.otherCty, home.ID)
	f.want(err, "not_found")
	_, err = f.svc.Update(ctx, f.otherCty, home.ID, institution.Input{Kind: institution.KindElderHome, Name: "改名", Region: other, Operator: "public", Version: 1})
	f.want(err, "not_found")
	_, err = f.svc.Rate(ctx, f.otherCty, home.ID, institution.RatingInput{Stars: 3, RatedOn: "2026-01-01", Assessor: "外县"})
	f.want(err, "not_found")
	_, err = f.svc.Inspect(ctx, f.otherCty, home.ID, institution.InspectionInput{InspectedOn: "2026-01-01", Inspector: "外县", Findings: "x", Result: "pass"})
	f.want(err, "not_found")
	beds := f.beds(home)
	people := f.tekunPeople(1)
	_, err = f.svc.Admit(ctx, f.otherCty, home.ID, institution.AdmitInput{PersonID: people[0], BedID: beds[0].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "not_found")
	_, err = f.svc.Create(ctx, f.otherCty, institution.Input{Kind: institution.KindElderHome, Name: "越权敬老院", Region: township, Operator: "public"})
	f.want(err, "forbidden")
	f.want(f.svc.Delete(ctx, f.otherCty, home.ID, 1), "not_found")
	_, err = f.svc.RecordStaff(ctx, f.otherCty, institution.StaffInput{Region: county, AsOf: "2026-01-01", CivilServants: 9})
	f.want(err, "forbidden")
	_, err = f.svc.Capacity(ctx, f.otherCty, county, 2026)
	f.want(err, "forbidden")

	// A's person cannot be admitted by B, even into B's own institution
	bHome := f.create(f.otherCty, institution.KindCareCentre, "东湖区社会福利院", other, 5)
	bBeds, err := f.svc.Beds(ctx, f.otherCty, bHome.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Admit(ctx, f.otherCty, bHome.ID, institution.AdmitInput{PersonID: people[0], BedID: bBeds[0].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "person_not_found")

	// the township caseworker reads the township's home but not the county
	// centre, and writes nothing
	list, err = f.svc.List(ctx, f.reader, institution.Filter{})
	if err != nil || len(list) != 1 || list[0].ID != home.ID {
		t.Fatalf("township list: %v %v", list, err)
	}
	_, err = f.svc.Get(ctx, f.reader, centre.ID)
	f.want(err, "not_found")
	_, err = f.svc.Rate(ctx, f.reader, home.ID, institution.RatingInput{Stars: 3, RatedOn: "2026-01-01", Assessor: "x"})
	f.want(err, "forbidden")
	_, err = f.svc.Admit(ctx, f.reader, home.ID, institution.AdmitInput{PersonID: people[0], BedID: beds[0].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "forbidden")

	// the filter by kind, and the city above sees both
	list, err = f.svc.List(ctx, f.city, institution.Filter{Kind: institution.KindCareCentre})
	if err != nil || len(list) != 2 {
		t.Fatalf("city list of centres: %d %v", len(list), err)
	}
	list, err = f.svc.List(ctx, f.city, institution.Filter{Region: county})
	if err != nil || len(list) != 2 {
		t.Fatalf("city list of the county: %d %v", len(list), err)
	}
}

func TestAdmitTransferDischarge(t *testing.T) {
	f := newFixture(t)
	home := f.create(f.approver, institution.KindElderHome, "民和镇敬老院", township, 3)
	centre := f.create(f.approver, institution.KindCareCentre, "进贤县特困人员集中照护中心", county, 2)
	station := f.create(f.approver, institution.KindReliefStation, "进贤县救助管理站", county, 2)
	beds, cbeds := f.beds(home), f.beds(centre)
	if len(beds) != 3 || beds[0].No != "1" || beds[2].No != "3" {
		t.Fatalf("beds %+v", beds)
	}
	cands, err := f.svc.Candidates(ctx, f.approver, home.ID, 500)
	if err != nil || len(cands) < 3 {
		t.Fatalf("candidates %d %v", len(cands), err)
	}
	p1, p2, p3 := cands[0].PersonID, cands[1].PersonID, cands[2].PersonID

	a1, err := f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p1, BedID: beds[0].ID, AdmittedOn: "2026-02-01"})
	if err != nil || a1.CaseID == 0 || a1.BedNo != "1" || !a1.Current() {
		t.Fatalf("admit: %+v %v", a1, err)
	}
	// an occupied bed is refused, and so is a second placement of p1
	_, err = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p2, BedID: beds[0].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "bed_occupied")
	_, err = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p1, BedID: beds[1].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "already_placed")
	_, err = f.svc.Admit(ctx, f.approver, centre.ID, institution.AdmitInput{PersonID: p1, BedID: cbeds[0].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "already_placed")
	// a bed of another institution, a future date
	_, err = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p2, BedID: cbeds[0].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "bed_not_found")
	_, err = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p2, BedID: beds[1].ID, AdmittedOn: "2026-03-03"})
	f.want(err, "future_date")
	if c, _ := f.svc.Candidates(ctx, f.approver, home.ID, 500); len(c) != len(cands)-1 {
		t.Fatalf("candidates after admission: %d, want %d", len(c), len(cands)-1)
	}

	// a person without a tekun case: not in a support institution, but in a
	// relief station; a tekun case recorded as dispersed support is refused
	var plain int64
	if err := f.d.QueryRowContext(ctx, `SELECT MIN(p.id) FROM persons p WHERE p.region_code LIKE '360124%' AND p.status = 'active'
		AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.applicant_id = p.id AND c.programme = 'tekun')`).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: plain, BedID: beds[1].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "no_tekun_case")
	if _, err := f.svc.Admit(ctx, f.approver, station.ID, institution.AdmitInput{PersonID: plain, BedID: f.beds(station)[0].ID, AdmittedOn: "2026-02-01"}); err != nil {
		t.Fatal(err)
	}
	var dispersed int64
	if err := f.d.QueryRowContext(ctx, `SELECT MIN(applicant_id) FROM cases WHERE programme = 'tekun' AND kind = 'dispersed' AND decision = 'approved'
		AND region_code LIKE '360124%'`).Scan(&dispersed); err != nil {
		t.Fatal(err)
	}
	// a legacy case without a recorded form is accepted
	if _, err := f.d.ExecContext(ctx, `UPDATE cases SET kind = '' WHERE applicant_id = $1 AND programme = 'tekun'`, p3); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: dispersed, BedID: beds[1].ID, AdmittedOn: "2026-02-01"})
	f.want(err, "dispersed_support")
	for _, c := range mustCandidates(t, f, home.ID) {
		if c.PersonID == dispersed {
			t.Fatal("a dispersed-support person is offered as a candidate")
		}
	}
	p3placed, err := f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p3, BedID: beds[2].ID, AdmittedOn: "2026-02-01"})
	if err != nil || p3placed.CaseID == 0 {
		t.Fatalf("legacy case: %+v %v", p3placed, err)
	}
	if _, err := f.svc.Discharge(ctx, f.approver, home.ID, p3placed.ID, institution.DischargeInput{On: "2026-02-02", Reason: "测试"}); err != nil {
		t.Fatal(err)
	}

	// transfer p1 to bed 2: bed 1 frees, the history keeps both stays
	_, err = f.svc.Transfer(ctx, f.approver, home.ID, a1.ID, institution.TransferInput{ToBedID: beds[0].ID, On: "2026-02-10", Reason: "x"})
	f.want(err, "same_bed")
	_, err = f.svc.Transfer(ctx, f.approver, home.ID, a1.ID, institution.TransferInput{ToBedID: beds[1].ID, On: "2026-01-10", Reason: "调整"})
	f.want(err, "before_admission")
	t1, err := f.svc.Transfer(ctx, f.approver, home.ID, a1.ID, institution.TransferInput{ToBedID: beds[1].ID, On: "2026-02-10", Reason: "一楼便于照护"})
	if err != nil || t1.BedNo != "2" || t1.TransferredFrom != a1.ID || t1.CaseID != a1.CaseID {
		t.Fatalf("transfer: %+v %v", t1, err)
	}
	if i := f.get(f.approver, home.ID); i.Occupied != 1 || i.Free() != 2 {
		t.Fatalf("occupancy after transfer: %+v", i)
	}
	if _, err := f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: p2, BedID: beds[0].ID, AdmittedOn: "2026-02-11"}); err != nil {
		t.Fatalf("admit to the freed bed: %v", err)
	}
	// to the county centre, then out
	t2, err := f.svc.Transfer(ctx, f.approver, home.ID, t1.ID, institution.TransferInput{ToInstitution: centre.ID, ToBedID: cbeds[1].ID, On: "2026-02-20", Reason: "失能，转县级照护中心"})
	if err != nil || t2.InstitutionID != centre.ID {
		t.Fatalf("transfer to centre: %+v %v", t2, err)
	}
	_, err = f.svc.Discharge(ctx, f.approver, home.ID, t1.ID, institution.DischargeInput{On: "2026-02-21", Reason: "x"})
	f.want(err, "already_ended")
	_, err = f.svc.Discharge(ctx, f.approver, centre.ID, t2.ID, institution.DischargeInput{On: "2026-02-21"})
	f.want(err, "reason_required")
	d, err := f.svc.Discharge(ctx, f.approver, centre.ID, t2.ID, institution.DischargeInput{On: "2026-02-25", Reason: "亲属接回赡养"})
	if err != nil || d.EndKind != "discharge" || d.Current() {
		t.Fatalf("discharge: %+v %v", d, err)
	}
	hist, err := f.svc.PersonPlacements(ctx, f.approver, p1)
	if err != nil || len(hist) != 3 || hist[0].ID != t2.ID || hist[1].EndKind != "transfer" || hist[2].ID != a1.ID {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if i := f.get(f.approver, home.ID); i.Occupied != 1 {
		t.Fatalf("home occupancy %d", i.Occupied)
	}
	if i := f.get(f.approver, centre.ID); i.Occupied != 0 {
		t.Fatalf("centre occupancy %d", i.Occupied)
	}
	// p1 can come back after discharge
	if _, err := f.svc.Admit(ctx, f.approver, centre.ID, institution.AdmitInput{PersonID: p1, BedID: cbeds[0].ID, AdmittedOn: "2026-03-01"}); err != nil {
		t.Fatalf("readmit: %v", err)
	}

	// the institution page shows the occupants masked
	det, err := f.svc.Details(ctx, f.approver, home.ID)
	if err != nil || len(det.Placements) != 4 || !det.Beds[0].Occupied() || det.Beds[0].IDMasked == "" || det.Beds[0].Name == "" {
		t.Fatalf("details: %+v %v", det, err)
	}
	// an occupied bed cannot be removed; a free one can
	f.want(f.svc.RemoveBed(ctx, f.approver, home.ID, beds[0].ID), "bed_occupied")
	if err := f.svc.RemoveBed(ctx, f.approver, home.ID, beds[2].ID); err != nil {
		t.Fatal(err)
	}
	if i := f.get(f.approver, home.ID); i.Beds != 2 {
		t.Fatalf("beds after removal: %d", i.Beds)
	}
	// closing with residents is refused
	_, err = f.svc.Update(ctx, f.approver, home.ID, institution.Input{Kind: institution.KindElderHome, Name: "民和镇敬老院", Region: township, Operator: "public", Status: "closed", Version: 1})
	f.want(err, "has_residents")
	f.want(f.svc.Delete(ctx, f.approver, home.ID, 1), "has_history")
}

func mustCandidates(t *testing.T, f *fixture, id int64) []institution.Candidate {
	t.Helper()
	c, err := f.svc.Candidates(ctx, f.approver, id, 500)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConcurrentAdmissions: two people for one bed and one person for two
// beds at the same moment; exactly one of each pair gets in.
func TestConcurrentAdmissions(t *testing.T) {
	f := newFixture(t)
	home := f.create(f.approver, institution.KindElderHome, "民和镇敬老院", township, 8)
	beds := f.beds(home)
	people := f.tekunPeople(9)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for k := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[k] = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: people[k], BedID: beds[0].ID, AdmittedOn: "2026-02-01"})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch code(err) {
		case "":
			ok++
		case "bed_occupied", "placement_conflict":
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d admissions to one bed", ok)
	}
	for k := range 7 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[k] = f.svc.Admit(ctx, f.approver, home.ID, institution.AdmitInput{PersonID: people[8], BedID: beds[k+1].ID, AdmittedOn: "2026-02-01"})
		}()
	}
	wg.Wait()
	ok = 0
	for _, err := range errs[:7] {
		switch code(err) {
		case "":
			ok++
		case "already_placed", "placement_conflict":
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("one person placed %d times", ok)
	}
	if i := f.get(f.approver, home.ID); i.Occupied != 2 {
		t.Fatalf("occupied %d", i.Occupied)
	}
}

func TestRatingHistory(t *testing.T) {
	f := newFixture(t)
	home := f.create(f.approver, institution.KindElderHome, "民和镇敬老院", township, 5)
	station := f.create(f.approver, institution.KindReliefStation, "进贤县救助管理站", county, 5)
	for _, r := range []institution.RatingInput{
		{Stars: 2, RatedOn: "2024-06-30", Assessor: "进贤县民政局评定组"},
		{Stars: 1, RatedOn: "2021-06-30", Assessor: "进贤县民政局评定组", Note: "补录首次评定"},
		{Stars: 3, RatedOn: "2025-06-30", Assessor: "南昌市民政局复核组"},
		{Stars: 2, RatedOn: "2024-06-30", Assessor: "进贤县民政局评定组", Note: "同日更正"},
	} {
		if _, err := f.svc.Rate(ctx, f.approver, home.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := f.svc.Ratings(ctx, f.reader, home.ID)
	if err != nil || len(rs) != 4 {
		t.Fatalf("ratings %v %v", rs, err)
	}
	got := ""
	for _, r := range rs {
		got += fmt.Sprintf("%s:%d:%s ", r.RatedOn, r.Stars, r.Note)
	}
	if want := "2025-06-30:3: 2024-06-30:2:同日更正 2024-06-30:2: 2021-06-30:1:补录首次评定 "; got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
	if i := f.get(f.approver, home.ID); i.Stars != 3 {
		t.Fatalf("current stars %d", i.Stars)
	}
	// a later backdated rating does not become current
	if _, err := f.svc.Rate(ctx, f.approver, home.ID, institution.RatingInput{Stars: 1, RatedOn: "2023-01-01", Assessor: "补录"}); err != nil {
		t.Fatal(err)
	}
	if i := f.get(f.approver, home.ID); i.Stars != 3 {
		t.Fatalf("current stars after backdated entry %d", i.Stars)
	}
	_, err = f.svc.Rate(ctx, f.approver, home.ID, institution.RatingInput{Stars: 4, RatedOn: "2025-06-30", Assessor: "x"})
	f.want(err, "invalid_stars")
	_, err = f.svc.Rate(ctx, f.approver, home.ID, institution.RatingInput{Stars: 2, RatedOn: "2026-04-01", Assessor: "x"})
	f.want(err, "future_date")
	_, err = f.svc.Rate(ctx, f.approver, home.ID, institution.RatingInput{Stars: 2, RatedOn: "2025-06-30"})
	f.want(err, "assessor_required")
	_, err = f.svc.Rate(ctx, f.approver, station.ID, institution.RatingInput{Stars: 2, RatedOn: "2025-06-30", Assessor: "x"})
	f.want(err, "not_rated_kind")
}

func TestInspectionRectification(t *testing.T) {
	f := newFixture(t)
	home := f.create(f.approver, institution.KindElderHome, "民和镇敬老院", township, 5)
	pass, err := f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-01-05", Inspector: "县民政局", Findings: "符合要求", Result: "pass", Deadline: "2026-02-01"})
	if err != nil || pass.Deadline != "" || pass.Open() {
		t.Fatalf("pass: %+v %v", pass, err)
	}
	_, err = f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-01-10", Inspector: "县民政局", Findings: "消防通道堵塞", Result: "rectify"})
	f.want(err, "deadline_required")
	_, err = f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-01-10", Inspector: "县民政局", Findings: "消防通道堵塞", Result: "rectify", Deadline: "2026-01-10"})
	f.want(err, "deadline_before")
	_, err = f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-01-10", Inspector: "县民政局", Result: "rectify", Deadline: "2026-02-10"})
	f.want(err, "findings_required")
	_, err = f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-01-10", Inspector: "县民政局", Findings: "x", Result: "bad", Deadline: "2026-02-10"})
	f.want(err, "invalid_result")
	x, err := f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-01-10", Inspector: "县民政局", Findings: "消防通道堵塞", Result: "rectify", Deadline: "2026-02-10"})
	if err != nil || !x.Open() || !x.Overdue {
		t.Fatalf("rectify: %+v %v", x, err)
	}
	y, err := f.svc.Inspect(ctx, f.approver, home.ID, institution.InspectionInput{InspectedOn: "2026-03-01", Inspector: "市民政局", Findings: "护理记录缺失", Result: "fail", Deadline: "2026-04-30"})
	if err != nil || !y.Open() || y.Overdue {
		t.Fatalf("fail: %+v %v", y, err)
	}
	if i := f.get(f.approver, home.ID); i.OpenRectifications != 2 {
		t.Fatalf("open rectifications %d", i.OpenRectifications)
	}
	_, err = f.svc.CloseRectification(ctx, f.approver, home.ID, x.ID, institution.Closure{Version: 7, ClosedOn: "2026-02-08", Note: "已清理"})
	f.want(err, "version_conflict")
	_, err = f.svc.CloseRectification(ctx, f.approver, home.ID, x.ID, institution.Closure{Version: 1, ClosedOn: "2026-01-09", Note: "已清理"})
	f.want(err, "closed_before")
	_, err = f.svc.CloseRectification(ctx, f.approver, home.ID, x.ID, institution.Closure{Version: 1, ClosedOn: "2026-02-08"})
	f.want(err, "note_required")
	_, err = f.svc.CloseRectification(ctx, f.approver, home.ID, pass.ID, institution.Closure{Version: 1, ClosedOn: "2026-02-08", Note: "x"})
	f.want(err, "not_open")
	_, err = f.svc.CloseRectification(ctx, f.reader, home.ID, x.ID, institution.Closure{Version: 1, ClosedOn: "2026-02-08", Note: "x"})
	f.want(err, "forbidden")
	closed, err := f.svc.CloseRectification(ctx, f.approver, home.ID, x.ID, institution.Closure{Version: 1, ClosedOn: "2026-02-08", Note: "已清理通道并复查"})
	if err != nil || closed.Open() || closed.Overdue || closed.ClosedBy != "xianji" || closed.Version != 2 {
		t.Fatalf("closed: %+v %v", closed, err)
	}
	_, err = f.svc.CloseRectification(ctx, f.approver, home.ID, x.ID, institution.Closure{Version: 2, ClosedOn: "2026-02-09", Note: "again"})
	f.want(err, "not_open")
	if i := f.get(f.approver, home.ID); i.OpenRectifications != 1 {
		t.Fatalf("open rectifications after closing %d", i.OpenRectifications)
	}
	xs, err := f.svc.Inspections(ctx, f.reader, home.ID)
	if err != nil || len(xs) != 3 || xs[0].ID != y.ID || xs[2].ID != pass.ID {
		t.Fatalf("inspections %+v %v", xs, err)
	}
}

func TestEditWithVersion(t *testing.T) {
	f := newFixture(t)
	home := f.create(f.approver, institution.KindElderHome, "民和镇敬老院", township, 5)
	in := institution.Input{Kind: institution.KindElderHome, Name: "民和镇中心敬老院", Region: township, Address: "民和镇", Operator: "public_private", Capacity: 60, Carers: 6, Version: 1}
	up, err := f.svc.Update(ctx, f.approver, home.ID, in)
	if err != nil || up.Version != 2 || up.Name != "民和镇中心敬老院" || up.Operator != "public_private" || up.Beds != 5 {
		t.Fatalf("update: %+v %v", up, err)
	}
	in.Name = "旧版本的修改"
	_, err = f.svc.Update(ctx, f.approver, home.ID, in)
	f.want(err, "version_conflict")
	in.Version, in.Region = 2, other
	_, err = f.svc.Update(ctx, f.approver, home.ID, in)
	f.want(err, "forbidden")
	in.Region, in.Kind = township, "nursing"
	_, err = f.svc.Update(ctx, f.approver, home.ID, in)
	f.want(err, "invalid_kind")
	_, err = f.svc.Create(ctx, f.approver, institution.Input{Kind: institution.KindElderHome, Name: "村敬老院", Region: "360124100001", Operator: "public"})
	f.want(err, "region_level")
	_, err = f.svc.Create(ctx, f.approver, institution.Input{Kind: institution.KindElderHome, Name: "民和镇中心敬老院", Region: township, Operator: "public"})
	f.want(err, "duplicate_name")
	n, err := f.svc.AddBeds(ctx, f.approver, home.ID, mustBeds(t, "A01-A03, 加床1"))
	if err != nil || n != 4 {
		t.Fatalf("add beds: %d %v", n, err)
	}
	_, err = f.svc.AddBeds(ctx, f.approver, home.ID, []string{"A02"})
	f.want(err, "duplicate_bed")
	if i := f.get(f.approver, home.ID); i.Beds != 9 {
		t.Fatalf("beds %d", i.Beds)
	}
	f.want(f.svc.Delete(ctx, f.approver, home.ID, 1), "version_conflict")
	if err := f.svc.Delete(ctx, f.approver, home.ID, 2); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Get(ctx, f.approver, home.ID)
	f.want(err, "not_found")
}

func mustBeds(t *testing.T, s string) []string {
	t.Helper()
	b, err := institution.ParseBeds(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBeds(t *testing.T) {
	for in, want := range map[string]string{
		"1-3":          "[1 2 3]",
		"A08-A11 B1":   "[A08 A09 A10 A11 B1]",
		"101，102、加床":   "[101 102 加床]",
		"  ":           "[]",
		"2-01-3":       "error",
		"A1-B3":        "error",
		"5-3":          "error",
		"1-99999":      "error",
		"东-1, 东-2":     "error",
		"8-10\n12;13 ": "[8 9 10 12 13]",
	} {
		got, err := institution.ParseBeds(in)
		s := fmt.Sprint(got)
		if got == nil && err == nil {
			s = "[]"
		}
		if err != nil {
			s = "error"
		}
		if s != want {
			t.Errorf("%q: %s, want %s", in, s, want)
		}
	}
}

// TestRecipientsPerWorker checks the capacity figures against the generated
// county: recipients are households with an approved current case.
func TestRecipientsPerWorker(t *testing.T) {
	f := newFixture(t)
	towns := f.tree.Children(county)
	t0, t1 := towns[0].Code, towns[1].Code
	recipients := func(prefix string) int {
		var n int
		if err := f.d.QueryRowContext(ctx, `SELECT COUNT(DISTINCT household_id) FROM cases WHERE state = 'approved' AND decision = 'approved' AND region_code LIKE $1 || '%'`,
			prefix).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	all, r0 := recipients(county[:6]), recipients(t0[:9])
	if all < 100 || r0 == 0 {
		t.Fatalf("fixture too small: %d recipients, %d in the first township", all, r0)
	}
	rec := func(code, asOf string, civil, career, purchased int) {
		t.Helper()
		if _, err := f.svc.RecordStaff(ctx, f.approver, institution.StaffInput{Region: code, AsOf: asOf, CivilServants: civil, CareerStaff: career, PurchasedWorkers: purchased}); err != nil {
			t.Fatal(err)
		}
	}
	rec(county, "2025-01-01", 3, 2, 0)
	rec(county, "2026-01-01", 4, 2, 3) // supersedes the 2025 record
	rec(t0, "2026-01-01", 1, 0, 1)
	rec(t1, "2026-02-01", 1, 1, 0)
	_, err := f.svc.RecordStaff(ctx, f.approver, institution.StaffInput{Region: t1, AsOf: "2026-06-01", CivilServants: 50})
	f.want(err, "future_date")
	_, err = f.svc.RecordStaff(ctx, f.approver, institution.StaffInput{Region: "360124100001", AsOf: "2026-01-01", CivilServants: 1})
	f.want(err, "region_level")
	_, err = f.svc.RecordStaff(ctx, f.approver, institution.StaffInput{Region: t0, AsOf: "2026-01-01", CivilServants: -1})
	f.want(err, "invalid_count")

	c, err := f.svc.Capacity(ctx, f.approver, "", 2026)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Ratio.Default || c.Ratio.RecipientsPerWorker != institution.DefaultRecipientsPerWorker {
		t.Fatalf("ratio %+v", c.Ratio)
	}
	n := c.Node
	if n.Region != county || n.Recipients != all || n.Workers != 9+2+2 || n.PurchasedWorkers != 4 || n.Offices != 3 || n.Office == nil || n.Office.Total() != 9 {
		t.Fatalf("county row %+v (want %d recipients)", n, all)
	}
	if math.Abs(n.PerWorker-float64(all)/13) > 1e-9 || n.OverRatio != (all > 13*institution.DefaultRecipientsPerWorker) {
		t.Fatalf("per worker %v over %v", n.PerWorker, n.OverRatio)
	}
	if len(c.Rows) != len(towns) {
		t.Fatalf("%d township rows", len(c.Rows))
	}
	sum := 0
	for _, r := range c.Rows {
		sum += r.Recipients
		if r.HasFunds {
			t.Fatalf("township row with funds: %+v", r)
		}
		if r.Region == t0 && (r.Recipients != r0 || r.Workers != 2 || r.PerWorker != float64(r0)/2) {
			t.Fatalf("first township %+v, want %d recipients", r, r0)
		}
		if r.Workers == 0 && r.Recipients > 0 && !r.OverRatio {
			t.Fatalf("township without staff not flagged: %+v", r)
		}
	}
	if sum != all {
		t.Fatalf("township recipients add to %d, county %d", sum, all)
	}

	// the province sets its ratio; a city may not
	_, err = f.svc.SetRatio(ctx, f.city, institution.RatioInput{RecipientsPerWorker: 50, StartOn: "2026-01-01", Reference: "x"})
	f.want(err, "forbidden")
	_, err = f.svc.SetRatio(ctx, f.province, institution.RatioInput{RecipientsPerWorker: 50, StartOn: "2026-01-01"})
	f.want(err, "reference_required")
	if _, err := f.svc.SetRatio(ctx, f.province, institution.RatioInput{RecipientsPerWorker: 50, StartOn: "2026-01-01", Reference: "赣民字〔2026〕1号（测试）"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetRatio(ctx, f.province, institution.RatioInput{RecipientsPerWorker: 5, StartOn: "2027-01-01", Reference: "未来值（测试）"}); err != nil {
		t.Fatal(err)
	}
	c, err = f.svc.Capacity(ctx, f.approver, county, 2026)
	if err != nil || c.Ratio.Default || c.Ratio.RecipientsPerWorker != 50 {
		t.Fatalf("ratio after setting: %+v %v", c.Ratio, err)
	}
	if c.Node.OverRatio != (all > 13*50) {
		t.Fatalf("over ratio %v with %d recipients", c.Node.OverRatio, all)
	}
	// the township office alone, for its own caseworker
	c, err = f.svc.Capacity(ctx, f.reader, "", 2026)
	if err != nil || c.Node.Region != township || len(c.Rows) != 0 || c.Node.HasFunds {
		t.Fatalf("township view %+v %v", c, err)
	}
	hist, err := f.svc.StaffHistory(ctx, f.approver, county)
	if err != nil || len(hist) != 2 || hist[0].AsOf != "2026-01-01" {
		t.Fatalf("history %+v %v", hist, err)
	}
}

// TestPurchasedServicesShare reads the payroll ledger: the year's spending on
// purchased services over the spending on assistance, flagged above 2%.
func TestPurchasedServicesShare(t *testing.T) {
	f := newFixture(t)
	pay := &payroll.Service{DB: f.d, Tree: f.tree}
	spend := func(programme string, fen int64) {
		t.Helper()
		if err := pay.Spend(ctx, f.finance, county, programme, 2026, fen, "测试凭证"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := f.svc.Capacity(ctx, f.approver, county, 2026)
	if err != nil || !c.Node.HasFunds || c.Node.PurchasedFen != 0 || c.Node.OverCap {
		t.Fatalf("before spending: %+v %v", c.Node, err)
	}
	spend("dibao", 1_000_000)
	spend(payroll.PurchasedServices, 30_000)
	c, err = f.svc.Capacity(ctx, f.approver, county, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Node; n.AssistanceFen != 1_000_000 || n.PurchasedFen != 30_000 || math.Abs(n.SharePercent-3) > 1e-9 || !n.OverCap {
		t.Fatalf("3%%: %+v", n)
	}
	spend("tekun", 1_000_000)
	c, _ = f.svc.Capacity(ctx, f.approver, county, 2026)
	if n := c.Node; math.Abs(n.SharePercent-1.5) > 1e-9 || n.OverCap {
		t.Fatalf("1.5%%: %+v", n)
	}
	// another year is empty; the city sees the county row with the same share
	c, _ = f.svc.Capacity(ctx, f.approver, county, 2025)
	if c.Node.PurchasedFen != 0 || c.Node.AssistanceFen != 0 {
		t.Fatalf("2025: %+v", c.Node)
	}
	c, err = f.svc.Capacity(ctx, f.city, "", 2026)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range c.Rows {
		if r.Region == county {
			found = true
			if math.Abs(r.SharePercent-1.5) > 1e-9 || r.OverCap || !r.HasFunds {
				t.Fatalf("county row under the city: %+v", r)
			}
		}
	}
	if !found || c.Node.PurchasedFen != 30_000 {
		t.Fatalf("city view %+v", c.Node)
	}
}

func TestSeedDemo(t *testing.T) {
	f := newFixture(t)
	if err := institution.SeedDemo(ctx, f.d, f.tree, []string{county}); err != nil {
		t.Fatal(err)
	}
	list, err := f.svc.List(ctx, f.approver, institution.Filter{})
	if err != nil || len(list) < 3 {
		t.Fatalf("seeded %d: %v", len(list), err)
	}
	placed, rated := 0, 0
	for _, i := range list {
		placed += i.Occupied
		if i.Stars > 0 {
			rated++
		}
		if i.Occupied > i.Beds {
			t.Fatalf("over-full %+v", i)
		}
	}
	if placed == 0 || rated == 0 {
		t.Fatalf("placed %d, rated %d", placed, rated)
	}
	var n int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM placements p WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.applicant_id = p.person_id AND c.programme = 'tekun' AND c.decision = 'approved')`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d placements without a tekun case", n)
	}
	// a second call does nothing
	if err := institution.SeedDemo(ctx, f.d, f.tree, []string{county}); err != nil {
		t.Fatal(err)
	}
	again, _ := f.svc.List(ctx, f.approver, institution.Filter{})
	if len(again) != len(list) {
		t.Fatalf("second seed: %d institutions, was %d", len(again), len(list))
	}
	live := &institution.Service{DB: f.d, Tree: f.tree} // the seed dates from the real clock
	c, err := live.Capacity(ctx, f.approver, county, 0)
	if err != nil || c.Node.Workers == 0 {
		t.Fatalf("seeded staff: %+v %v", c, err)
	}
	if errors.Is(err, nil) && c.Year == 0 {
		t.Fatal("year not defaulted")
	}
}
