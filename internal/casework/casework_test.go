package casework_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

type fixture struct {
	t                        *testing.T
	cw                       *casework.Service
	reg                      *registry.Service
	clock                    time.Time
	caseworker, reviewer     *auth.User
	county, otherCounty, vil *auth.User
}

const (
	township = "360102002000" // 滕王阁街道, 东湖区
	village  = "360102002001" // 民巷社区居委会 (urban)
	county   = "360102000000"
)

func day(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d.Add(3 * time.Hour) }

func newFixture(t *testing.T) *fixture {
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, _ := crypt.LoadOrCreate(t.TempDir())
	f := &fixture{t: t}
	now := func() time.Time { return f.clock }
	f.reg = &registry.Service{DB: d, Keys: keys, Tree: tree}
	f.cw = &casework.Service{DB: d, Tree: tree, Calendar: calendar.Default(), Keys: keys, Now: now,
		Assessor: &casework.CalcAssessor{Registry: f.reg, Tree: tree, Params: func(context.Context) (*policy.Set, error) { return policy.Default() }}}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(context.Background(), nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.caseworker = mk("jingban", auth.TownshipCaseworker, township)
	f.reviewer = mk("shenhe", auth.TownshipReviewer, township)
	f.county = mk("xianji", auth.CountyApprover, county)
	f.otherCounty = mk("jinxian", auth.CountyApprover, "360124000000")
	f.vil = mk("xieli", auth.VillageAssistant, village)
	return f
}

// household registers an urban family of three with a monthly wage.
func (f *fixture) household(wageFen int64) (*registry.Household, []int64) {
	ctx := context.Background()
	b := func(s string, seq int, male bool) string {
		d, _ := time.Parse(time.DateOnly, s)
		return idcard.Build("360102", d, seq, male)
	}
	h, err := f.reg.CreateHousehold(ctx, f.caseworker, registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷1号",
		Head: registry.PersonInput{IDNumber: b("1976-03-01", 11, true), Name: "王建华", Relation: "head", CoResident: true, AbleToWork: true}})
	if err != nil {
		f.t.Fatal(err)
	}
	sp, err := f.reg.AddMember(ctx, f.caseworker, h.ID, 1, registry.PersonInput{IDNumber: b("1978-04-02", 22, false), Name: "陈丽", Relation: "spouse", CoResident: true, AbleToWork: true}, "家庭成员")
	if err != nil {
		f.t.Fatal(err)
	}
	ch, err := f.reg.AddMember(ctx, f.caseworker, h.ID, 2, registry.PersonInput{IDNumber: b("2006-05-03", 33, true), Name: "王小军", Relation: "child", CoResident: true, Student: "compulsory"}, "家庭成员")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.reg.SetIncome(ctx, f.caseworker, h.Members[0].ID, "wage", wageFen, "2021-01-01", "申报"); err != nil {
		f.t.Fatal(err)
	}
	return h, []int64{h.Members[0].ID, sp.ID, ch.ID}
}

func (f *fixture) act(u *auth.User, cs *casework.Case, a casework.Action) *casework.Case {
	f.t.Helper()
	a.Version = cs.Version
	next, err := f.cw.Act(context.Background(), u, cs.ID, a)
	if err != nil {
		f.t.Fatalf("%s on %s by %s: %v", a.Action, f.clock.Format(time.DateOnly), u.Username, err)
	}
	return next
}

func (f *fixture) refused(u *auth.User, cs *casework.Case, a casework.Action, code string) {
	f.t.Helper()
	if a.Version == 0 {
		a.Version = cs.Version
	}
	_, err := f.cw.Act(context.Background(), u, cs.ID, a)
	e, ok := apperr.As(err)
	if !ok || e.Code != code {
		f.t.Fatalf("%s by %s: error %v, want %s", a.Action, u.Username, err, code)
	}
	again, _ := f.cw.Get(context.Background(), f.county, cs.ID)
	if again.Version != cs.Version || again.State != cs.State {
		f.t.Fatalf("a refused %s changed the case", a.Action)
	}
}

func yes() *bool { b := true; return &b }

// TestDibao2021EndToEnd follows domain.md worked example 7: accepted on Monday
// 2021-11-01, through every step with its deadline, to approval paid from 2022-01.
func TestDibao2021EndToEnd(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids := f.household(100000) // 1,000 yuan for 3 people
	f.clock = day("2021-11-01")

	// an incomplete file is accepted as such, with every missing item in one notice
	cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "dibao", Channel: "door",
		Documents: []string{"application"}, Authorisations: []int64{ids[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if cs.State != casework.StateIncomplete || len(cs.Missing) != 4 || !strings.Contains(strings.Join(cs.Missing, ""), "陈丽") {
		t.Fatalf("incomplete file: %s %v", cs.State, cs.Missing)
	}
	f.refused(f.caseworker, cs, casework.Action{Action: "supplement", Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Signed: ids[:1]}, "still_missing")
	cs = f.act(f.caseworker, cs, casework.Action{Action: "supplement", Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Signed: ids[:2]})
	if cs.State != "accepted" || cs.DueOn != "2021-11-04" || cs.RuleVersion != "2021" {
		t.Fatalf("accepted: %s due %s rules %s (want investigation to start by 2021-11-04)", cs.State, cs.DueOn, cs.RuleVersion)
	}
	// wrong office, wrong order, stale version
	f.refused(f.county, cs, casework.Action{Action: "start_investigation"}, "forbidden")
	f.refused(f.caseworker, cs, casework.Action{Action: "decide", Approve: yes()}, "out_of_order")
	f.refused(f.caseworker, cs, casework.Action{Action: "start_investigation", Version: cs.Version + 5}, "version_conflict")
	if _, err := f.cw.Get(ctx, f.otherCounty, cs.ID); err == nil {
		t.Fatal("another county sees the case")
	}

	f.clock = day("2021-11-02")
	cs = f.act(f.caseworker, cs, casework.Action{Action: "start_investigation"})
	f.refused(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四"}, MembersSigned: true, Findings: "x"}, "two_investigators")
	f.refused(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, Findings: "x"}, "signature_missing")
	cs = f.act(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "三口之家，户主务工", Neighbours: "邻居张某"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "verification", Consistent: yes(), ReportRef: "手工核对"})
	// the opinion is the reviewer's; the optional appraisal may be passed over (no dispute)
	f.refused(f.caseworker, cs, casework.Action{Action: "township_opinion", Approve: yes()}, "forbidden")
	f.clock = day("2021-11-12")
	cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: yes()})
	if cs.State != "notice" || cs.NoticeFrom != "2021-11-12" || cs.NoticeTo != "2021-11-18" {
		t.Fatalf("notice %s %s..%s", cs.State, cs.NoticeFrom, cs.NoticeTo)
	}
	if cs.Assessment == nil || !cs.Assessment.Eligible || cs.AmountFen <= 0 || len(cs.Assessment.Result) == 0 {
		t.Fatalf("assessment: %+v amount %d", cs.Assessment, cs.AmountFen)
	}
	// the public notice shows the masked name, size, amount and village only
	lines, err := f.cw.Notices(ctx, village)
	if err != nil || len(lines) != 1 || lines[0].Name != "王**" || lines[0].Members != 3 || lines[0].AmountFen != cs.AmountFen {
		t.Fatalf("notice lines %+v %v", lines, err)
	}
	f.refused(f.reviewer, cs, casework.Action{Action: "end_notice"}, "notice_running")
	f.clock = day("2021-11-22") // the county receives the file
	cs = f.act(f.reviewer, cs, casework.Action{Action: "end_notice"})
	if cs.State != "decision" || cs.DueOn != "2021-12-06" {
		t.Fatalf("county step: %s due %s, want decision by 2021-12-06 (10 WD)", cs.State, cs.DueOn)
	}
	// the county's worklist shows it; the township's too
	items, err := f.cw.Worklist(ctx, f.county, casework.WorklistQuery{})
	if err != nil || len(items) != 1 || items[0].Case.ID != cs.ID {
		t.Fatalf("county worklist %v %v", items, err)
	}
	f.refused(f.reviewer, cs, casework.Action{Action: "decide", Approve: yes()}, "forbidden")
	if cs.SpotCheck {
		f.refused(f.county, cs, casework.Action{Action: "decide", Approve: yes()}, "county_visit_required")
		cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"县民政甲", "县民政乙"}, MembersSigned: true, Findings: "属实"})
	}
	f.clock = day("2021-12-07") // a day late
	if items, _ := f.cw.Worklist(ctx, f.county, casework.WorklistQuery{OverdueOnly: true}); len(items) != 1 {
		t.Fatalf("overdue view: %d items", len(items))
	}
	f.refused(f.county, cs, casework.Action{Action: "decide", Approve: yes()}, "late_reason_required")
	cs = f.act(f.county, cs, casework.Action{Action: "decide", Approve: yes(), Reason: "等待补充材料"})
	if cs.State != casework.StateApproved || cs.PayFrom != "2022-01" || cs.DecidedOn != "2021-12-07" {
		t.Fatalf("decision: %s pay from %s", cs.State, cs.PayFrom)
	}
	events, err := f.cw.Events(ctx, f.county, cs.ID)
	if err != nil || len(events) < 8 || !events[len(events)-1].Late {
		t.Fatalf("file: %d events, last late=%v, %v", len(events), events[len(events)-1].Late, err)
	}
	if res, err := audit.Verify(ctx, f.cw.DB, nil); err != nil || res.FirstBroken != 0 {
		t.Fatalf("audit %+v %v", res, err)
	}
}

func TestRefusalNoticeAndCloseRelative(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids := f.household(500000) // 5,000 yuan: not eligible
	f.clock = day("2021-11-01")
	cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "dibao", Channel: "door",
		Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: ids[:2],
		CloseRelative: true, StaffName: "王某", StaffPost: "村委会委员", Relation: "兄弟姐妹"})
	if err != nil {
		t.Fatal(err)
	}
	if !cs.CloseRelative {
		t.Fatal("declared close relative not registered")
	}
	cs = f.act(f.caseworker, cs, casework.Action{Action: "start_investigation"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "收入较高"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "verification", Consistent: yes()})
	no := false
	f.clock = day("2021-11-12")
	f.refused(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: &no}, "reason_required")
	cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: &no, Reason: "人均收入高于标准"})
	if cs.Assessment.Eligible {
		t.Fatal("5,000 yuan for 3 people assessed eligible")
	}
	f.clock = day("2021-11-22")
	cs = f.act(f.reviewer, cs, casework.Action{Action: "end_notice"})
	f.clock = day("2021-12-06")
	// a registered close relative needs the county's own home visit first
	f.refused(f.county, cs, casework.Action{Action: "decide", Approve: &no, Reason: "收入超标"}, "county_visit_required")
	cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"县民政甲", "县民政乙"}, MembersSigned: true, Findings: "收入属实"})
	f.refused(f.county, cs, casework.Action{Action: "decide", Approve: &no}, "reason_required")
	cs = f.act(f.county, cs, casework.Action{Action: "decide", Approve: &no, Reason: "家庭人均收入高于当地低保标准"})
	if cs.State != casework.StateRefused || cs.DueOn != "2021-12-09" {
		t.Fatalf("refusal: %s, notify by %s (want 2021-12-09)", cs.State, cs.DueOn)
	}
	cs = f.act(f.caseworker, cs, casework.Action{Action: "notify_refusal"})
	if cs.State != casework.StateClosed {
		t.Fatalf("closed: %s", cs.State)
	}
	// the relative stays registered: a new application is flagged without a declaration
	cs2, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "dibao", Channel: "door",
		Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: ids[:2]})
	if err != nil || !cs2.CloseRelative {
		t.Fatalf("second application not flagged: %v %v", cs2, err)
	}
}

// TestDeadlinesAcrossHolidays: the 45-WD limit of example 7 crosses New Year.
func TestDeadlinesAcrossHolidays(t *testing.T) {
	cal := calendar.Default()
	start, _ := time.Parse(time.DateOnly, "2021-11-01")
	for wd, want := range map[int]string{3: "2021-11-04", 30: "2021-12-13", 45: "2022-01-04"} {
		d, err := cal.AddWorkingDays(start, wd)
		if err != nil || d.Format(time.DateOnly) != want {
			t.Errorf("+%d WD = %v, want %s", wd, d, want)
		}
	}
	if casework.RuleVersion(day("2021-06-30")) != "2012" || casework.RuleVersion(day("2021-07-01")) != "2021" {
		t.Fatal("rule version switch")
	}
	if casework.OverallLimitWD("dibao", "2021", false, true) != 45 || casework.OverallLimitWD("dibao", "2021", true, false) != 20 {
		t.Fatal("overall limits")
	}
	if casework.MaskName("欧阳小明") != "欧***" {
		t.Fatal(casework.MaskName("欧阳小明"))
	}
}

// TestEmergencyAssistFirst: a fire; the township pays at once from its reserve
// within its limit, completes the file within 5 WD, and the county approves the rest.
func TestEmergencyAssistFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids := f.household(100000)
	f.clock = day("2026-11-02")
	cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "temporary", Kind: "emergency",
		Channel: "door", Documents: []string{"application"}, RequestedFen: 500000, Reason: "房屋失火"})
	if err != nil {
		t.Fatal(err)
	}
	if cs.State != "accepted" || cs.DueOn != "2026-11-04" {
		t.Fatalf("emergency intake: %s due %s (48 hours = 2 WD)", cs.State, cs.DueOn)
	}
	as, err := f.cw.Assessor.Assess(ctx, f.caseworker, h.ID, "temporary", "emergency", 500000, f.clock)
	if err != nil || as.AdvanceFen <= 0 || as.AmountFen <= as.AdvanceFen {
		t.Fatalf("assessment eligible=%v amount=%d advance=%d %v: want an advance below the grant", as.Eligible, as.AmountFen, as.AdvanceFen, err)
	}
	f.refused(f.caseworker, cs, casework.Action{Action: "advance", AdvanceFen: as.AdvanceFen + 1}, "advance_limit")
	cs = f.act(f.caseworker, cs, casework.Action{Action: "advance", AdvanceFen: as.AdvanceFen})
	if cs.State != "advanced" || cs.DueOn != "2026-11-09" {
		t.Fatalf("after the advance: %s due %s (paperwork within 5 WD)", cs.State, cs.DueOn)
	}
	f.refused(f.caseworker, cs, casework.Action{Action: "complete_file", Documents: []string{"id_hukou"}}, "pledge_missing")
	cs = f.act(f.caseworker, cs, casework.Action{Action: "complete_file", Documents: []string{"id_hukou", "receipt"}, Pledge: true})
	if cs.State != "decision" {
		t.Fatalf("remainder goes to the county: %s", cs.State)
	}
	if cs.SpotCheck || cs.CloseRelative {
		cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "属实"})
	}
	f.refused(f.county, cs, casework.Action{Action: "decide", Approve: yes(), Stages: 13}, "invalid_stages")
	cs = f.act(f.county, cs, casework.Action{Action: "decide", Approve: yes(), Stages: 3})
	if cs.State != casework.StateApproved || cs.AmountFen != as.AmountFen || cs.AdvanceFen != as.AdvanceFen || cs.Stages != 3 {
		t.Fatalf("approved %s amount %d advance %d", cs.State, cs.AmountFen, cs.AdvanceFen)
	}
}

// TestChildrenNoNotice: the children's procedure has no public notice (ER-03).
func TestChildrenNoNotice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids := f.household(0)
	f.clock = day("2026-11-02")
	cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[2], Programme: "unattended_child", Channel: "agent", AgentName: "王奶奶",
		Documents: []string{"application", "id_hukou", "parents"}, Pledge: true, Authorisations: ids})
	if err != nil {
		t.Fatal(err)
	}
	if cs.DueOn != "2026-11-23" {
		t.Fatalf("township check due %s, want 15 WD = 2026-11-23", cs.DueOn)
	}
	cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: yes()})
	if cs.State != "decision" || cs.NoticeFrom != "" {
		t.Fatalf("children's case went to %s with notice %q", cs.State, cs.NoticeFrom)
	}
	if lines, _ := f.cw.Notices(ctx, village); len(lines) != 0 {
		t.Fatalf("a child's case appeared on the public notice: %+v", lines)
	}
}

// TestDelegatedApproval: where the county delegated dibao approval (DB-31), the
// township reviewer decides; a small temporary grant is decided by the
// township, and help given as a referral to charity pays no cash (LS-05).
func TestDelegatedApproval(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.cw.Delegation = func(context.Context, string, time.Time) (bool, error) { return true, nil }
	h, ids := f.household(100000)
	f.clock = day("2026-11-02")
	cs, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "dibao", Channel: "door",
		Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: ids})
	if err != nil || !cs.Delegated {
		t.Fatalf("delegated intake: %+v %v", cs, err)
	}
	cs = f.act(f.caseworker, cs, casework.Action{Action: "start_investigation"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "属实"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "verification", Consistent: yes()})
	cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: yes()})
	f.clock = day("2026-11-09")
	cs = f.act(f.reviewer, cs, casework.Action{Action: "end_notice"})
	f.refused(f.county, cs, casework.Action{Action: "decide", Approve: yes()}, "forbidden")
	if cs.SpotCheck {
		cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "属实"})
	}
	cs = f.act(f.reviewer, cs, casework.Action{Action: "decide", Approve: yes()})
	if cs.State != casework.StateApproved {
		t.Fatalf("township decision: %s", cs.State)
	}

	// a 1,500-yuan expenditure grant lies within the township limit of 2,000
	f.cw.Delegation = nil
	tmp, err := f.cw.Open(ctx, f.caseworker, casework.Intake{HouseholdID: h.ID, ApplicantID: ids[0], Programme: "temporary", Kind: "expenditure", Channel: "door",
		Documents: []string{"application", "id_hukou", "expenses"}, Pledge: true, Authorisations: ids, RequestedFen: 150000})
	if err != nil {
		t.Fatal(err)
	}
	tmp = f.act(f.caseworker, tmp, casework.Action{Action: "home_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "住院"})
	tmp = f.act(f.caseworker, tmp, casework.Action{Action: "verification", Consistent: yes()})
	tmp = f.act(f.reviewer, tmp, casework.Action{Action: "township_opinion", Approve: yes()})
	if !tmp.Delegated {
		t.Fatalf("a grant of %d fen within the township limit went to the county", tmp.AmountFen)
	}
	f.clock = day("2026-11-16")
	tmp = f.act(f.reviewer, tmp, casework.Action{Action: "end_notice"})
	if tmp.SpotCheck {
		tmp = f.act(f.county, tmp, casework.Action{Action: "county_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "属实"})
	}
	f.refused(f.reviewer, tmp, casework.Action{Action: "decide", Approve: yes(), HelpForm: "referral"}, "refer_to_required")
	tmp = f.act(f.reviewer, tmp, casework.Action{Action: "decide", Approve: yes(), HelpForm: "referral", ReferTo: "县慈善总会大病救助项目"})
	if tmp.State != casework.StateApproved || tmp.AmountFen != 0 || !strings.Contains(tmp.Referral, "县慈善总会") {
		t.Fatalf("referral decision: %s amount %d referral %q", tmp.State, tmp.AmountFen, tmp.Referral)
	}
}
