package integrity_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/integrity"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/testdb"
)

const (
	rural = "360124000000" // 进贤县
	urban = "360102000000" // 东湖区
)

type fixture struct {
	svc   *integrity.Service
	truth map[string]*integrity.Truth
	// now is the services' clock; a test moves it
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	d := testdb.Open(t)
	keys, err := crypt.New("0123456789abcdef0123456789abcdef", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	if err != nil {
		t.Fatal(err)
	}
	tree := testdb.Tree(t)
	now := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	f := &fixture{truth: map[string]*integrity.Truth{}, now: now}
	clock := func() time.Time { return f.now }
	cr := &credit.Service{DB: d, Tree: tree, Keys: keys, Now: clock}
	svc := &integrity.Service{DB: d, Tree: tree, Keys: keys, Calendar: calendar.Default(), Payroll: &payroll.Service{DB: d, Tree: tree, Keys: keys},
		Credit: cr, Now: clock}
	f.svc = svc
	for i, c := range []string{rural, urban} {
		tr, err := integrity.Plant(ctx, d, keys, tree, svc.Calendar, c, now, uint64(i+1), string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		f.truth[c] = tr
	}
	return f
}

func keysOf(sum *integrity.RunSummary) map[string][]string {
	out := map[string][]string{}
	for l, ks := range sum.Found {
		ks = append([]string(nil), ks...)
		sort.Strings(ks)
		out[l] = ks
	}
	return out
}

// TestListsFindPlantedNotDecoys: every list finds exactly what was planted in
// each county (the decoys beside them are not flagged), and a county run sees
// only its county.
func TestListsFindPlantedNotDecoys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sum, err := f.svc.Run(ctx, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, tr := range f.truth {
		for l, ks := range tr.Expected {
			want[l] = append(want[l], ks...)
		}
	}
	got := keysOf(sum)
	for _, l := range integrity.Lists {
		w := append([]string(nil), want[l.Value]...)
		sort.Strings(w)
		if len(w) == 0 {
			t.Errorf("%s: nothing planted", l.Value)
		}
		if strings.Join(w, ",") != strings.Join(got[l.Value], ",") {
			t.Errorf("%s: found %v, planted %v", l.Value, got[l.Value], w)
		}
	}
	county, err := f.svc.Run(ctx, rural, "test")
	if err != nil {
		t.Fatal(err)
	}
	for l, ks := range keysOf(county) {
		w := append([]string(nil), f.truth[rural].Expected[l]...)
		sort.Strings(w)
		if strings.Join(w, ",") != strings.Join(ks, ",") {
			t.Errorf("county run %s: %v, want %v", l, ks, w)
		}
	}
}

func user(name string, role auth.Role, reg string) *auth.User {
	return &auth.User{ID: 1, Username: name, Role: role, Region: reg, Active: true}
}

// TestDecisions: a decision needs a reason (refused otherwise, nothing
// changes); confirming starts a recovery and, for fraud, a credit record; a
// re-run keeps the decision and does not duplicate the entry; scope holds.
func TestDecisions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Run(ctx, "", "test"); err != nil {
		t.Fatal(err)
	}
	insp := user("insp", auth.Inspector, rural)
	list, err := f.svc.Entries(ctx, insp, integrity.Query{List: integrity.ListAfterDeath})
	if err != nil || len(list) != 1 {
		t.Fatalf("entries: %v %d", err, len(list))
	}
	e := list[0]
	if e.AmountFen != 82000 || e.Person == 0 || !strings.HasPrefix(e.Region, "360124") {
		t.Fatalf("entry: %+v", e)
	}
	// no reason: refused, nothing changes
	_, err = f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusConfirmed, Fraud: true, Reason: "  ", Version: e.Version})
	if ae, ok := apperr.As(err); !ok || ae.Field != "reason" {
		t.Fatalf("no reason: %v", err)
	}
	var n int
	f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM recoveries`).Scan(&n)
	if got, _ := f.svc.Get(ctx, insp, e.ID); got.Status != integrity.StatusOpen || n != 0 || len(got.Decisions) != 0 {
		t.Fatalf("refused decision changed something: %+v, %d recoveries", got, n)
	}
	// an auditor reads but cannot decide; an urban inspector cannot see it
	if _, err := f.svc.Decide(ctx, user("aud", auth.Auditor, rural), e.ID, integrity.DecisionInput{Status: "explained", Reason: "x", Version: e.Version}); err == nil {
		t.Fatal("auditor decided")
	}
	if _, err := f.svc.Decide(ctx, user("other", auth.Inspector, urban), e.ID, integrity.DecisionInput{Status: "explained", Reason: "x", Version: e.Version}); err == nil {
		t.Fatal("inspector of another county decided")
	}
	if l, _ := f.svc.Entries(ctx, user("other", auth.Inspector, urban), integrity.Query{List: integrity.ListAfterDeath}); len(l) != 1 || l[0].ID == e.ID {
		t.Fatalf("urban inspector sees %d entries", len(l))
	}
	// referred, then confirmed as fraud
	referred, err := f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusReferred, Reason: "移送县纪委调查", Version: e.Version})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusConfirmed, Fraud: true, Reason: "家属隐瞒死亡冒领", Version: referred.Version})
	if err != nil {
		t.Fatal(err)
	}
	if got.RecoveryID == 0 || got.CreditID == 0 {
		t.Fatalf("confirmed: %+v", got)
	}
	fin := user("fin", auth.CountyFinance, rural)
	rec, err := f.svc.Payroll.Recovery(ctx, fin, got.RecoveryID)
	if err != nil || rec.AmountDueFen != 82000 || rec.PersonID != e.Person || rec.Outstanding != 82000 {
		t.Fatalf("recovery: %+v %v", rec, err)
	}
	cr, err := f.svc.Credit.Get(ctx, insp, got.CreditID)
	if err != nil || cr.AmountFen != 82000 || !cr.Exportable || cr.IDMasked == "" || !strings.Contains(cr.Name, "*") {
		t.Fatalf("credit: %+v %v", cr, err)
	}
	if _, err := f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusExplained, Reason: "改判", Version: got.Version}); err == nil {
		t.Fatal("a confirmed entry was changed")
	}
	// explained without fraud on another list: no recovery
	other, _ := f.svc.Entries(ctx, insp, integrity.Query{List: integrity.ListFast})
	if _, err := f.svc.Decide(ctx, insp, other[0].ID, integrity.DecisionInput{Status: integrity.StatusExplained, Reason: "紧急情况经县政府批准简化程序", Version: other[0].Version}); err != nil {
		t.Fatal(err)
	}
	// a many-approvals entry names no recipient: it cannot be confirmed with a recovery
	many, _ := f.svc.Entries(ctx, insp, integrity.Query{List: integrity.ListMany})
	if _, err := f.svc.Decide(ctx, insp, many[0].ID, integrity.DecisionInput{Status: integrity.StatusConfirmed, Fraud: true, Reason: "x", Version: many[0].Version}); err == nil {
		t.Fatal("fraud recorded without a person")
	}

	// re-run: decisions kept, no duplicates
	var before int
	f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM integrity_entries`).Scan(&before)
	if _, err := f.svc.Run(ctx, "", "again"); err != nil {
		t.Fatal(err)
	}
	var after int
	f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM integrity_entries`).Scan(&after)
	again, _ := f.svc.Get(ctx, insp, e.ID)
	if after != before || again.Status != integrity.StatusConfirmed || len(again.Decisions) != 2 || !again.Present {
		t.Fatalf("re-run: %d→%d entries, %+v", before, after, again)
	}
	var recs int
	f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM recoveries`).Scan(&recs)
	if recs != 1 {
		t.Fatalf("%d recoveries", recs)
	}
}

// TestCampaign: the sample is reproducible with a seed and differs with
// another, cases go to their townships, only that township records results,
// progress counts them, and a closed campaign takes no more.
func TestCampaign(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	insp := user("insp", auth.Inspector, rural)
	in := integrity.CampaignInput{Name: "农村低保专项治理", From: "2026-11-01", To: "2027-03-31", Programme: "dibao", Percent: 50, Seed: 42}
	a, err := f.svc.OpenCampaign(ctx, insp, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.OpenCampaign(ctx, insp, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Seed = 7
	c, _ := f.svc.OpenCampaign(ctx, insp, in)
	ids := func(id int64) string {
		list, err := f.svc.Cases(ctx, insp, id)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, x := range list {
			s = append(s, strings.Repeat("", 0)+x.CaseNo)
			if x.Township != x.Region[:9]+"000" || !strings.HasPrefix(x.Region, "360124") || x.Programme != "dibao" {
				t.Fatalf("sampled %+v", x)
			}
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	if a.Sampled == 0 || ids(a.ID) != ids(b.ID) || ids(a.ID) == ids(c.ID) {
		t.Fatalf("sampling not reproducible: %d\n%s\n%s\n%s", a.Sampled, ids(a.ID), ids(b.ID), ids(c.ID))
	}
	if _, err := f.svc.OpenCampaign(ctx, insp, integrity.CampaignInput{Name: "x", Region: urban, From: "2026-11-01", To: "2026-12-31", Percent: 10}); err == nil {
		t.Fatal("opened a campaign outside the inspector's county")
	}
	list, _ := f.svc.Cases(ctx, insp, a.ID)
	first := list[0]
	own := user("tw", auth.TownshipCaseworker, first.Township)
	if err := f.svc.RecordCheck(ctx, own, first.ID, first.Version, "stop", ""); err == nil {
		t.Fatal("a finding without a note was accepted")
	}
	if err := f.svc.RecordCheck(ctx, own, first.ID, first.Version, "stop", "已外出务工有稳定收入"); err != nil {
		t.Fatal(err)
	}
	var otherTs string
	for _, x := range list {
		if x.Township != first.Township {
			otherTs = x.Township
		}
	}
	if otherTs != "" {
		if err := f.svc.RecordCheck(ctx, user("tw2", auth.TownshipCaseworker, otherTs), first.ID, first.Version+1, "correct", ""); err == nil {
			t.Fatal("another township recorded the check")
		}
	}
	mine, _ := f.svc.Cases(ctx, own, a.ID)
	for _, x := range mine {
		if x.Township != first.Township {
			t.Fatalf("township sees %s", x.Township)
		}
	}
	prog, err := f.svc.Progress(ctx, insp, a.ID)
	if err != nil || len(prog) != 1 || prog[0].Checked != 1 || prog[0].Stop != 1 || prog[0].Sampled != a.Sampled {
		t.Fatalf("progress %+v %v", prog, err)
	}
	if err := f.svc.CloseCampaign(ctx, insp, a.ID, ""); err == nil {
		t.Fatal("closed without a summary")
	}
	if err := f.svc.CloseCampaign(ctx, insp, a.ID, "抽查完成，1户停发"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RecordCheck(ctx, own, first.ID, first.Version+1, "correct", ""); err == nil {
		t.Fatal("recorded after closing")
	}
}

// TestCredit: appeal and its outcome, expiry, export (CSV) and the feed.
func TestCredit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Run(ctx, "", "test"); err != nil {
		t.Fatal(err)
	}
	insp := user("insp", auth.Inspector, rural)
	var made []int64
	for _, l := range []string{integrity.ListAfterDeath, integrity.ListAfterStop, integrity.ListTemporary} {
		es, _ := f.svc.Entries(ctx, insp, integrity.Query{List: l})
		e, err := f.svc.Decide(ctx, insp, es[0].ID, integrity.DecisionInput{Status: integrity.StatusConfirmed, Fraud: true, Reason: "查实骗取", Version: es[0].Version})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, e.CreditID)
	}
	cr := f.svc.Credit
	if _, err := cr.FileAppeal(ctx, insp, made[0], 1, "2026-11-19", ""); err == nil {
		t.Fatal("appeal without grounds")
	}
	appealed, err := cr.FileAppeal(ctx, insp, made[0], 1, "2026-11-19", "死亡时间登记有误")
	if err != nil {
		t.Fatal(err)
	}
	r, err := cr.DecideAppeal(ctx, insp, made[0], appealed.Version, "overturned", "经核实死亡日期为次月")
	if err != nil || r.State != credit.StateOverturned || r.Exportable {
		t.Fatalf("overturned: %+v %v", r, err)
	}
	if r, err = cr.SetExpiry(ctx, insp, made[1], 1, "2026-11-20", "信用修复"); err != nil || r.Exportable {
		t.Fatalf("expired: %+v %v", r, err)
	}
	if _, err := cr.SetExpiry(ctx, insp, made[2], 1, "2020-01-01", "x"); err == nil {
		t.Fatal("expiry before the decision")
	}
	var buf strings.Builder
	n, err := cr.Export(ctx, insp, "csv", &buf)
	if err != nil || n != 1 || strings.Count(buf.String(), "\n") != 2 || !strings.Contains(buf.String(), "同一人重复享受临时救助") {
		t.Fatalf("export %d %v\n%s", n, err, buf.String())
	}
	var xb strings.Builder
	if n, err := cr.Export(ctx, insp, "xlsx", &xb); err != nil || n != 1 || !strings.HasPrefix(xb.String(), "PK") {
		t.Fatalf("xlsx %d %v", n, err)
	}
	if _, err := cr.List(ctx, user("tw", auth.TownshipCaseworker, "360124100000"), credit.Filter{}); err == nil {
		t.Fatal("a caseworker read credit records")
	}
	feed, next, err := cr.Feed(ctx, 0, 10, "360124")
	if err != nil || len(feed) != 3 || next != feed[2].Seq || len(feed[0].IDNumber) != 18 {
		t.Fatalf("feed %d %d %v", len(feed), next, err)
	}
	exportable := 0
	for _, r := range feed {
		if r.Exportable {
			exportable++
		}
	}
	if more, _, _ := cr.Feed(ctx, next, 10, "360124"); len(more) != 0 || exportable != 1 {
		t.Fatalf("feed after %d: %d more, %d exportable", next, len(more), exportable)
	}
	if other, _, _ := cr.Feed(ctx, 0, 10, "360102"); len(other) != 0 {
		t.Fatalf("feed of another county: %d", len(other))
	}
}
