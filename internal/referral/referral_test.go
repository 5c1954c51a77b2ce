package referral_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/referral"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

const (
	countyA = "360124000000" // 进贤县
	countyB = "360102000000" // 东湖区
)

var ctx = context.Background()

type fixture struct {
	t        *testing.T
	d        *db.DB
	svc      *referral.Service
	cw       *casework.Service
	clock    *time.Time
	hh       int64 // a household of county A with an approved assistance case
	town     *auth.User
	townB    *auth.User
	county   *auth.User // county A approver (keeps the list)
	countyB  *auth.User
	yibao    *auth.User // partner bound to A's medical insurance bureau
	yibao2   *auth.User // a second user of the same bureau
	jiaoyu   *auth.User // partner bound to A's education bureau
	orgs     map[string]*referral.Org
	orgsB    map[string]*referral.Org
	inactive *referral.Org
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := gen.Options{Scale: 0.005, Seed: 9, Regions: []string{countyA}, Now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	if _, err := gen.Load(ctx, d, tree, keys, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := payroll.SeedEntitlements(ctx, d, tree, opts, "2026-01"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, d: d, orgs: map[string]*referral.Org{}, orgsB: map[string]*referral.Org{}}
	var village string
	if err := d.QueryRow(`SELECT household_id, region_code FROM cases WHERE decision = 'approved' AND programme = 'dibao' ORDER BY id LIMIT 1`).Scan(&f.hh, &village); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 9, 30, 2, 0, 0, 0, time.UTC) // Wednesday before the National Day holiday
	f.clock = &clock
	cal := calendar.Default()
	f.svc = &referral.Service{DB: d, Tree: tree, Keys: keys, Calendar: cal, Now: func() time.Time { return *f.clock }}
	f.cw = &casework.Service{DB: d, Tree: tree, Calendar: cal, Keys: keys}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, code string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: code, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.town = mk("jingban", auth.TownshipCaseworker, village[:9]+"000")
	f.townB = mk("jingban_b", auth.TownshipCaseworker, "360102002000")
	f.county = mk("xianji", auth.CountyApprover, countyA)
	f.countyB = mk("xianji_b", auth.CountyApprover, countyB)
	f.yibao = mk("demo.yibao", auth.PartnerOfficer, countyA)
	f.yibao2 = mk("yibao2", auth.PartnerOfficer, countyA)
	f.jiaoyu = mk("demo.jiaoyu", auth.PartnerOfficer, countyA)
	if err := referral.SeedDemo(ctx, d, tree, []string{countyA, countyB}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		u *auth.User
		m map[string]*referral.Org
	}{{f.county, f.orgs}, {f.countyB, f.orgsB}} {
		list, err := f.svc.Orgs(ctx, c.u, referral.OrgFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			c.m[o.Department+o.Kind] = o
		}
	}
	if _, err := f.svc.Bind(ctx, f.county, f.orgs["medical_insurancedepartment"].ID, "yibao2"); err != nil {
		t.Fatal(err)
	}
	// an organisation that stopped working with the county
	in := referral.OrgInput{County: countyA, Name: "某停办基金会", Kind: "charity", Areas: []string{"medical"}, ContactName: "赵", ContactPhone: "0791-1234567", AnswerDays: 5}
	o, err := f.svc.CreateOrg(ctx, f.county, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Version, in.Active = o.Version, false
	if f.inactive, err = f.svc.UpdateOrg(ctx, f.county, o.ID, in); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) org(key string) int64 { return f.orgs[key].ID }

func (f *fixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.d.QueryRow(q, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func wantErr(t *testing.T, err error, status int, code, msg string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Status != status || code != "" && e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("error %v, want %d %s %q", err, status, code, msg)
	}
}

// refer records a need of the fixture's household and refers it.
func (f *fixture) refer(area string, org int64) *referral.Referral {
	f.t.Helper()
	n, err := f.svc.RecordNeed(ctx, f.town, referral.NeedInput{HouseholdID: f.hh, Area: area, Description: "需求 " + area, Stage: "review", OrgID: org})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(n.Referrals) != 1 {
		f.t.Fatalf("need %d has %d referrals", n.ID, len(n.Referrals))
	}
	return n.Referrals[0]
}

func TestOrgListPerCounty(t *testing.T) {
	f := newFixture(t)
	if len(f.orgs) != 9 || len(f.orgsB) != 9 {
		t.Fatalf("seeded organisations: A %d, B %d", len(f.orgs), len(f.orgsB))
	}
	// the township sees its own county's list only, and can filter by area
	list, err := f.svc.Orgs(ctx, f.town, referral.OrgFilter{Area: "medical", ActiveOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range list {
		if o.County != countyA || !o.ServesArea("medical") || !o.Active {
			t.Errorf("township list has %s of %s (areas %v, active %v)", o.Name, o.County, o.Areas, o.Active)
		}
		names = append(names, o.Name)
	}
	if len(list) != 4 { // 医保局, 残联, 卫健委, 慈善总会 (the inactive foundation left out)
		t.Fatalf("medical organisations of county A: %v", names)
	}
	if _, err := f.svc.Orgs(ctx, f.town, referral.OrgFilter{County: countyB}); err == nil {
		t.Fatal("a township of county A read county B's list")
	}
	// county B may not add to county A's list; bad input changes nothing
	before := f.count(`SELECT COUNT(*) FROM referral_orgs`)
	in := referral.OrgInput{County: countyA, Name: "越权协会", Kind: "charity", Areas: []string{"medical"}, ContactName: "钱", ContactPhone: "0791-7654321", AnswerDays: 5}
	_, err = f.svc.CreateOrg(ctx, f.countyB, in)
	wantErr(t, err, 403, "forbidden", "本辖区")
	bad := in
	bad.Areas = nil
	_, err = f.svc.CreateOrg(ctx, f.county, bad)
	wantErr(t, err, 422, "required", "领域")
	bad = in
	bad.AnswerDays = 0
	_, err = f.svc.CreateOrg(ctx, f.county, bad)
	wantErr(t, err, 422, "invalid_days", "工作日")
	bad = in
	bad.Name = f.orgs["charity"].Name
	_, err = f.svc.CreateOrg(ctx, f.county, bad)
	wantErr(t, err, 422, "duplicate_name", "同名")
	if n := f.count(`SELECT COUNT(*) FROM referral_orgs`); n != before {
		t.Fatalf("refused creations changed the list: %d → %d", before, n)
	}
	// a stale edit is refused
	o := f.orgs["medical_insurancedepartment"]
	up := referral.OrgInput{Name: o.Name, Kind: o.Kind, Department: o.Department, Areas: []string{"medical", "social_insurance"}, ContactName: "新联系人",
		ContactPhone: o.ContactPhone, AnswerDays: 7, Active: true, Version: o.Version}
	if _, err := f.svc.UpdateOrg(ctx, f.county, o.ID, up); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.UpdateOrg(ctx, f.county, o.ID, up)
	wantErr(t, err, 409, "version_conflict", "")
	got, _ := f.svc.Org(ctx, f.county, o.ID)
	if got.AnswerDays != 7 || len(got.Areas) != 2 || got.Version != o.Version+1 || len(got.Users) != 2 {
		t.Fatalf("after the edit: %+v", got)
	}
	// binding: a partner belongs to one organisation; other roles and counties refused
	_, err = f.svc.Bind(ctx, f.county, f.org("educationdepartment"), "yibao2")
	wantErr(t, err, 409, "already_bound", "医疗保障局")
	_, err = f.svc.Bind(ctx, f.county, f.org("educationdepartment"), "jingban")
	wantErr(t, err, 422, "not_partner", "")
	_, err = f.svc.Bind(ctx, f.countyB, f.orgsB["charity"].ID, "demo.jiaoyu")
	wantErr(t, err, 422, "unknown_user", "")
}

func TestReferRefusals(t *testing.T) {
	f := newFixture(t)
	needs := f.count(`SELECT COUNT(*) FROM referral_needs`)
	cases := []struct {
		name string
		area string
		org  int64
		code string
		msg  string
	}{
		{"other county", "medical", f.orgsB["medical_insurancedepartment"].ID, "org_not_listed", "名单"},
		{"unknown org", "medical", 999999, "org_not_listed", "名单"},
		{"area not served", "education", f.org("medical_insurancedepartment"), "area_not_served", "不承办“教育”"},
		{"inactive", "medical", f.inactive.ID, "org_inactive", "停用"},
		{"bad area", "space", f.org("medical_insurancedepartment"), "invalid_area", ""},
	}
	for _, c := range cases {
		_, err := f.svc.RecordNeed(ctx, f.town, referral.NeedInput{HouseholdID: f.hh, Area: c.area, Description: "x", Stage: "intake", OrgID: c.org})
		wantErr(t, err, 422, c.code, c.msg)
	}
	if n := f.count(`SELECT COUNT(*) FROM referral_needs`); n != needs {
		t.Fatalf("refused referrals left needs behind: %d → %d", needs, n)
	}
	if n := f.count(`SELECT COUNT(*) FROM referrals`); n != 0 {
		t.Fatalf("refused referrals left %d rows", n)
	}
	// another township cannot record needs of this household
	_, err := f.svc.RecordNeed(ctx, f.townB, referral.NeedInput{HouseholdID: f.hh, Area: "medical", Description: "x", Stage: "intake"})
	wantErr(t, err, 404, "not_found", "")
	// a need referred once cannot be referred again while in hand
	r := f.refer("medical", f.org("medical_insurancedepartment"))
	_, err = f.svc.Refer(ctx, f.town, r.NeedID, referral.ReferInput{OrgID: f.org("healthdepartment")})
	wantErr(t, err, 409, "already_referred", "医疗保障局")
}

func TestAnswerFlow(t *testing.T) {
	f := newFixture(t)
	r := f.refer("medical", f.org("medical_insurancedepartment"))
	if r.State != referral.StateSent || r.Version != 1 {
		t.Fatalf("sent: %+v", r)
	}
	// the education bureau's user is not the addressee; a township user cannot answer
	_, err := f.svc.Accept(ctx, f.jiaoyu, r.ID, r.Version)
	wantErr(t, err, 403, "forbidden", "您不是该转介的承办单位")
	_, err = f.svc.Close(ctx, f.jiaoyu, r.ID, referral.CloseInput{Version: r.Version, Outcome: "medical_aid", AmountFen: 1})
	wantErr(t, err, 403, "forbidden", "您不是该转介的承办单位")
	_, err = f.svc.Get(ctx, f.jiaoyu, r.ID)
	wantErr(t, err, 403, "forbidden", "您不是该转介的承办单位")
	_, err = f.svc.Accept(ctx, f.town, r.ID, r.Version)
	wantErr(t, err, 403, "forbidden", "")
	if n := f.count(`SELECT COUNT(*) FROM referrals WHERE state = 'sent' AND version = 1`); n != 1 {
		t.Fatal("a refused answer changed the referral")
	}
	// closing before accepting, and a wrong outcome, are refused
	_, err = f.svc.Close(ctx, f.yibao, r.ID, referral.CloseInput{Version: r.Version, Outcome: "medical_aid", AmountFen: 100})
	wantErr(t, err, 409, "not_accepted", "")
	a, err := f.svc.Accept(ctx, f.yibao, r.ID, r.Version)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != referral.StateAccepted || a.AnsweredOn != "2026-09-30" || a.AnsweredBy != "demo.yibao" || a.Version != 2 {
		t.Fatalf("accepted: %+v", a)
	}
	for _, c := range []struct {
		in   referral.CloseInput
		code string
	}{
		{referral.CloseInput{Version: 2, Outcome: "fee_waiver", AmountFen: 100}, "invalid_outcome"},
		{referral.CloseInput{Version: 2, Outcome: "medical_aid"}, "amount_required"},
		{referral.CloseInput{Version: 2, Outcome: "no_help"}, "note_required"},
		{referral.CloseInput{Version: 2, Outcome: "medical_aid", AmountFen: -5}, "invalid_amount"},
	} {
		_, err := f.svc.Close(ctx, f.yibao, r.ID, c.in)
		wantErr(t, err, 422, c.code, "")
	}
	c, err := f.svc.Close(ctx, f.yibao2, r.ID, referral.CloseInput{Version: 2, Outcome: "medical_aid", AmountFen: 320000, Note: "住院费用医疗救助"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != referral.StateClosed || !c.Helped() || c.AmountFen != 320000 || c.ClosedBy != "yibao2" {
		t.Fatalf("closed: %+v", c)
	}
	// a helped need is not referred again
	_, err = f.svc.Refer(ctx, f.town, r.NeedID, referral.ReferInput{OrgID: f.org("charity")})
	wantErr(t, err, 409, "need_met", "")

	// declined with a reason, then re-referred to another organisation
	e := f.refer("education", f.org("educationdepartment"))
	_, err = f.svc.Decline(ctx, f.jiaoyu, e.ID, e.Version, " ")
	wantErr(t, err, 422, "reason_required", "")
	d, err := f.svc.Decline(ctx, f.jiaoyu, e.ID, e.Version, "非本县学籍，请转学籍所在地")
	if err != nil || d.State != referral.StateDeclined {
		t.Fatalf("decline: %v %+v", err, d)
	}
	again, err := f.svc.Refer(ctx, f.town, e.NeedID, referral.ReferInput{OrgID: f.org("charity"), Note: "教育局退回，请慈善总会助学"})
	if err != nil {
		t.Fatal(err)
	}
	if again.PreviousID != e.ID || again.State != referral.StateSent {
		t.Fatalf("re-referral: %+v", again)
	}
	n, err := f.svc.Need(ctx, f.town, e.NeedID)
	if err != nil || len(n.Referrals) != 2 || n.Referrals[0].DeclineReason == "" {
		t.Fatalf("need history: %v %+v", err, n)
	}
	// every answer is in the audit log
	for _, act := range []string{"referral.send", "referral.accept", "referral.close", "referral.decline"} {
		if f.count(`SELECT COUNT(*) FROM audit_log WHERE action = $1`, act) == 0 {
			t.Errorf("no audit entry %s", act)
		}
	}
}

// TestOverdueWorkingDays: an answer due in 5 working days from the day before
// the National Day holiday falls after it (10-10 is a make-up working day).
func TestOverdueWorkingDays(t *testing.T) {
	f := newFixture(t)
	r := f.refer("medical", f.org("medical_insurancedepartment")) // 5 WD
	if r.SentOn != "2026-09-30" || r.DueOn != "2026-10-13" {
		t.Fatalf("sent %s due %s, want 2026-09-30 → 2026-10-13 (10-08, 10-09, 10-10 make-up, 10-12, 10-13)", r.SentOn, r.DueOn)
	}
	*f.clock = time.Date(2026, 10, 13, 15, 0, 0, 0, time.UTC) // 23:00 on 10-13 in China
	if got, _ := f.svc.Get(ctx, f.town, r.ID); got.Overdue {
		t.Fatal("overdue on its due date")
	}
	*f.clock = time.Date(2026, 10, 13, 17, 0, 0, 0, time.UTC) // 01:00 on 10-14 in China
	got, _ := f.svc.Get(ctx, f.town, r.ID)
	if !got.Overdue {
		t.Fatal("not overdue the day after its due date (China time)")
	}
	list, err := f.svc.List(ctx, f.town, referral.Filter{Status: "overdue"})
	if err != nil || len(list) != 1 {
		t.Fatalf("overdue list: %v %d", err, len(list))
	}
	sum := referral.ByArea(list)
	if sum[2].Area != "medical" || sum[2].Overdue != 1 || sum[2].Open != 1 {
		t.Fatalf("by area: %+v", sum)
	}
	// answered late stays flagged
	a, err := f.svc.Accept(ctx, f.yibao, r.ID, r.Version)
	if err != nil || !a.Overdue || a.AnsweredOn != "2026-10-14" {
		t.Fatalf("late answer: %v %+v", err, a)
	}
	if list, _ := f.svc.List(ctx, f.town, referral.Filter{Status: "overdue"}); len(list) != 0 {
		t.Fatal("an answered referral is still in the unanswered-overdue list")
	}
	// a deadline the calendar cannot count is refused, not guessed
	*f.clock = time.Date(2026, 12, 28, 2, 0, 0, 0, time.UTC)
	_, err = f.svc.RecordNeed(ctx, f.town, referral.NeedInput{HouseholdID: f.hh, Area: "housing", Description: "危房", Stage: "visit", OrgID: f.org("housingdepartment")})
	wantErr(t, err, 422, "calendar_unknown", "节假日")
}

func TestConcurrentAnswerIsStale(t *testing.T) {
	f := newFixture(t)
	r := f.refer("medical", f.org("medical_insurancedepartment"))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []*auth.User{f.yibao, f.yibao2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.svc.Accept(ctx, u, r.ID, r.Version)
		}()
	}
	wg.Wait()
	ok, stale := 0, 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if e, isApp := apperr.As(err); isApp && e.Code == "version_conflict" {
			stale++
		} else {
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok != 1 || stale != 1 {
		t.Fatalf("two accepts at once: %d succeeded, %d stale", ok, stale)
	}
	if v := f.count(`SELECT version FROM referrals WHERE id = $1`, r.ID); v != 2 {
		t.Fatalf("version after one accept: %d", v)
	}
	// a close at the old version is refused too
	_, err := f.svc.Close(ctx, f.yibao, r.ID, referral.CloseInput{Version: 1, Outcome: "medical_aid", AmountFen: 100})
	wantErr(t, err, 409, "version_conflict", "")
}

func TestPartnerSeesOnlyItsReferralsAudited(t *testing.T) {
	f := newFixture(t)
	m := f.refer("medical", f.org("medical_insurancedepartment"))
	e := f.refer("education", f.org("educationdepartment"))
	f.refer("housing", f.org("housingdepartment"))
	before := f.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'referral.view'`)
	org, list, err := f.svc.Inbox(ctx, f.jiaoyu, referral.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if org.ID != f.org("educationdepartment") || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("education inbox: %v %+v", org.Name, list)
	}
	x := list[0]
	if x.HeadName == "" || x.Address == "" || !strings.Contains(x.HeadIDMasked, "*") || x.Need == "" {
		t.Fatalf("partner view lacks the minimum data: %+v", x)
	}
	if n := f.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'referral.view' AND object_id = $1 AND username = 'demo.jiaoyu'`, fmt.Sprint(e.ID)); n != 1 {
		t.Fatalf("inbox read audited %d times", n)
	}
	if _, err := f.svc.Get(ctx, f.yibao, m.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'referral.view'`); n != before+2 {
		t.Fatalf("audit entries for 2 reads: %d", n-before)
	}
	// nothing of the other organisations leaks through a filter
	if _, list, _ := f.svc.Inbox(ctx, f.yibao, referral.Filter{Area: "education"}); len(list) != 0 {
		t.Fatalf("medical bureau sees education referrals: %+v", list)
	}
	// an unbound partner sees nothing
	as := &auth.Service{DB: f.d, Tree: testdb.Tree(t)}
	lone, _ := as.Create(ctx, nil, auth.NewUser{Username: "lone", DisplayName: "lone", Role: auth.PartnerOfficer, Region: countyA, Password: "test-pass-2026"})
	_, _, err = f.svc.Inbox(ctx, lone, referral.Filter{})
	wantErr(t, err, 403, "forbidden", "尚未绑定")
}

func TestHouseholdHelpAndStats(t *testing.T) {
	f := newFixture(t)
	m := f.refer("medical", f.org("medical_insurancedepartment"))
	if _, err := f.svc.Accept(ctx, f.yibao, m.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Close(ctx, f.yibao, m.ID, referral.CloseInput{Version: 2, Outcome: "medical_aid", AmountFen: 150000, Note: "门诊慢特病"}); err != nil {
		t.Fatal(err)
	}
	e := f.refer("education", f.org("educationdepartment"))
	if _, err := f.svc.Decline(ctx, f.jiaoyu, e.ID, 1, "已享受资助"); err != nil {
		t.Fatal(err)
	}
	f.refer("housing", f.org("housingdepartment"))
	*f.clock = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC) // long after every due date

	cases, err := f.cw.ByHousehold(ctx, f.town, f.hh)
	if err != nil || len(cases) == 0 {
		t.Fatalf("cases: %v %d", err, len(cases))
	}
	h, err := f.svc.HouseholdHelp(ctx, f.town, f.hh, cases)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Needs) != 3 {
		t.Fatalf("needs: %d", len(h.Needs))
	}
	var fromCase, fromReferral bool
	for _, x := range h.Received {
		switch x.Kind {
		case "case":
			fromCase = fromCase || x.What == "最低生活保障" && x.AmountFen > 0 && x.Monthly
		case "referral":
			fromReferral = x.Source == f.orgs["medical_insurancedepartment"].Name && x.AmountFen == 150000 && x.What == "医疗救助金"
		}
	}
	if !fromCase || !fromReferral || h.OneOffFen != 150000 {
		t.Fatalf("help received: %+v", h.Received)
	}
	if _, err := f.svc.HouseholdHelp(ctx, f.townB, f.hh, nil); err == nil {
		t.Fatal("another township read the household's help")
	}

	st, err := f.svc.Stats(ctx, f.county, referral.StatsQuery{From: "2026-01-01", To: "2026-12-31"})
	if err != nil {
		t.Fatal(err)
	}
	want := referral.Counts{Sent: 3, Accepted: 1, Helped: 1, Declined: 1, Open: 1, Overdue: 1, AmountFen: 150000}
	if st.Total != want {
		t.Fatalf("totals %+v, want %+v", st.Total, want)
	}
	if st.ByArea[2].Area != "medical" || st.ByArea[2].Helped != 1 || st.ByArea[2].AmountFen != 150000 || st.ByArea[5].Overdue != 1 {
		t.Fatalf("by area: %+v", st.ByArea)
	}
	if len(st.ByOrg) != 3 {
		t.Fatalf("by organisation: %+v", st.ByOrg)
	}
	// a period before anything was sent counts nothing; county B sees nothing of A
	if st, _ := f.svc.Stats(ctx, f.county, referral.StatsQuery{From: "2026-01-01", To: "2026-06-30"}); st.Total.Sent != 0 {
		t.Fatalf("empty period: %+v", st.Total)
	}
	_, err = f.svc.Stats(ctx, f.countyB, referral.StatsQuery{Region: countyA})
	wantErr(t, err, 403, "forbidden", "本辖区")
}

// The household's needs and its help section show the referrals with the
// head's name, phone and address: every read leaves one audit entry with its
// counts; another township's read is refused and leaves none.
func TestHouseholdReadsAudited(t *testing.T) {
	f := newFixture(t)
	f.refer("medical", f.org("medical_insurancedepartment"))
	f.refer("education", f.org("educationdepartment"))
	hh := fmt.Sprint(f.hh)
	entries := func(action string) int {
		return f.count(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND object_type = 'household' AND object_id = $2 AND username = 'jingban'`, action, hh)
	}

	needs, err := f.svc.Needs(ctx, f.town, f.hh)
	if err != nil || len(needs) != 2 || len(needs[0].Referrals) != 1 || needs[0].Referrals[0].HeadName == "" {
		t.Fatalf("needs: %v %+v", err, needs)
	}
	if n := entries("referral.needs.view"); n != 1 {
		t.Fatalf("needs read audited %d times, want 1", n)
	}
	var detail string
	f.d.QueryRow(`SELECT detail FROM audit_log WHERE action = 'referral.needs.view'`).Scan(&detail)
	if !strings.Contains(detail, `"needs":2`) || !strings.Contains(detail, `"referrals":2`) {
		t.Fatalf("needs audit detail: %s", detail)
	}

	if _, err := f.svc.HouseholdHelp(ctx, f.town, f.hh, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.HouseholdHelp(ctx, f.town, f.hh, nil); err != nil {
		t.Fatal(err)
	}
	// one entry per view of the section, not one for the needs inside it too
	if h, n := entries("referral.help.view"), entries("referral.needs.view"); h != 2 || n != 1 {
		t.Fatalf("help views audited %d times (want 2), needs %d (want 1)", h, n)
	}

	before := f.count(`SELECT COUNT(*) FROM audit_log WHERE action IN ('referral.needs.view', 'referral.help.view')`)
	_, err = f.svc.Needs(ctx, f.townB, f.hh)
	wantErr(t, err, 404, "not_found", "管辖范围")
	if n := f.count(`SELECT COUNT(*) FROM audit_log WHERE action IN ('referral.needs.view', 'referral.help.view')`); n != before {
		t.Fatalf("a refused read was audited: %d → %d", before, n)
	}
}
