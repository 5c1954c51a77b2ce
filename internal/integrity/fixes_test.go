package integrity_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/integrity"
)

// confirmFraud confirms the first entry of a list in the rural county as
// fraud and returns the entry.
func confirmFraud(t *testing.T, f *fixture, list, reason string) *integrity.Entry {
	t.Helper()
	ctx := context.Background()
	insp := user("insp", auth.Inspector, rural)
	es, err := f.svc.Entries(ctx, insp, integrity.Query{List: list})
	if err != nil || len(es) == 0 {
		t.Fatalf("entries of %s: %v %d", list, err, len(es))
	}
	e, err := f.svc.Decide(ctx, insp, es[0].ID, integrity.DecisionInput{Status: integrity.StatusConfirmed, Fraud: true, Reason: reason, Version: es[0].Version})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestCreditExpiryWithdrawnFromFeed: a record that passes its expiry date
// without any edit comes once more in the credit platform's feed, not
// exportable, so the platform withdraws it; concurrent fetches give it one
// new position only, and its version stays.
func TestCreditExpiryWithdrawnFromFeed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Run(ctx, "", "test"); err != nil {
		t.Fatal(err)
	}
	e := confirmFraud(t, f, integrity.ListAfterDeath, "隐瞒死亡继续领取")
	cr := f.svc.Credit
	feed, next, err := cr.Feed(ctx, 0, 10, "360124")
	if err != nil || len(feed) != 1 || !feed[0].Exportable || feed[0].ID != e.CreditID || feed[0].ExpiresOn != "2029-11-20" {
		t.Fatalf("first fetch: %+v %v", feed, err)
	}
	// the day before expiry nothing changes
	f.now = time.Date(2029, 11, 19, 3, 0, 0, 0, time.UTC)
	if more, _, err := cr.Feed(ctx, next, 10, "360124"); err != nil || len(more) != 0 {
		t.Fatalf("before expiry: %d records, %v", len(more), err)
	}
	// on the expiry day (China time) the record is no longer exportable
	f.now = time.Date(2029, 11, 20, 3, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := cr.Feed(ctx, next, 10, "360124")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	more, next2, err := cr.Feed(ctx, next, 10, "360124")
	if err != nil || len(more) != 1 || more[0].ID != e.CreditID || more[0].Exportable || more[0].Seq != next+1 || next2 != next+1 || more[0].Version != 1 {
		t.Fatalf("after expiry: %+v next %d→%d %v", more, next, next2, err)
	}
	if again, _, err := cr.Feed(ctx, next2, 10, "360124"); err != nil || len(again) != 0 {
		t.Fatalf("expiry sent twice: %d records, %v", len(again), err)
	}
	// a form opened before the expiry still saves: the version did not move
	if r, err := cr.SetExpiry(ctx, user("insp", auth.Inspector, rural), e.CreditID, 1, "2030-01-31", "信用修复期延长"); err != nil || !r.Exportable {
		t.Fatalf("set expiry after withdrawal: %+v %v", r, err)
	}
	if back, _, err := cr.Feed(ctx, next2, 10, "360124"); err != nil || len(back) != 1 || !back[0].Exportable {
		t.Fatalf("re-extended record: %+v %v", back, err)
	}
}

// TestRunHashesOlderBankAccounts: accounts written before migration 0019
// carry no account_hmac; a run hashes them first (as registry does), so the
// shared-account list still finds every planted account.
func TestRunHashesOlderBankAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.DB.ExecContext(ctx, `UPDATE bank_accounts SET account_hmac = ''`); err != nil {
		t.Fatal(err)
	}
	sum, err := f.svc.Run(ctx, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, tr := range f.truth {
		want = append(want, tr.Expected[integrity.ListSharedAccount]...)
	}
	sort.Strings(want)
	got := keysOf(sum)[integrity.ListSharedAccount]
	if len(want) == 0 || strings.Join(want, ",") != strings.Join(got, ",") {
		t.Fatalf("shared accounts after backfill: %v, planted %v", got, want)
	}
	var left int
	if err := f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM bank_accounts WHERE account_hmac = ''`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d accounts left unhashed (%v)", left, err)
	}
	var enc, hmac string
	if err := f.svc.DB.QueryRowContext(ctx, `SELECT account_enc, account_hmac FROM bank_accounts ORDER BY id LIMIT 1`).Scan(&enc, &hmac); err != nil {
		t.Fatal(err)
	}
	if number, err := f.svc.Keys.Open(enc); err != nil || f.svc.Keys.Hash(number) != hmac {
		t.Fatalf("backfilled hash differs from registry's: %v", err)
	}
	if n, err := f.svc.BackfillAccountHashes(ctx); err != nil || n != 0 {
		t.Fatalf("second backfill hashed %d (%v)", n, err)
	}
}

func wantErr(t *testing.T, what string, err error, code string) {
	t.Helper()
	if ae, ok := apperr.As(err); !ok || ae.Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

// TestVersionsRequired: a decision, a re-check or a credit change without
// the version read is refused, and one with an old version is stale;
// nothing changes either way.
func TestVersionsRequired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Run(ctx, "", "test"); err != nil {
		t.Fatal(err)
	}
	insp := user("insp", auth.Inspector, rural)
	es, _ := f.svc.Entries(ctx, insp, integrity.Query{List: integrity.ListFast})
	e := es[0]
	_, err := f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusExplained, Reason: "经核实程序完整"})
	wantErr(t, "decision without version", err, "version_required")
	if _, err := f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusReferred, Reason: "移送", Version: e.Version}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Decide(ctx, insp, e.ID, integrity.DecisionInput{Status: integrity.StatusExplained, Reason: "经核实程序完整", Version: e.Version})
	wantErr(t, "decision on an old version", err, "version_conflict")
	if got, _ := f.svc.Get(ctx, insp, e.ID); got.Status != integrity.StatusReferred || len(got.Decisions) != 1 {
		t.Fatalf("refused decisions changed the entry: %+v", got)
	}

	c, err := f.svc.OpenCampaign(ctx, insp, integrity.CampaignInput{Name: "复查", From: "2026-11-01", To: "2026-12-31", Percent: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := f.svc.Cases(ctx, insp, c.ID)
	x := list[0]
	tw, tw2 := user("tw", auth.TownshipCaseworker, x.Township), user("tw2", auth.TownshipCaseworker, x.Township)
	wantErr(t, "re-check without version", f.svc.RecordCheck(ctx, tw, x.ID, 0, "correct", ""), "version_required")
	if err := f.svc.RecordCheck(ctx, tw, x.ID, x.Version, "stop", "户主已有稳定收入"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "re-check over a colleague's", f.svc.RecordCheck(ctx, tw2, x.ID, x.Version, "correct", ""), "version_conflict")
	after, _ := f.svc.Cases(ctx, tw, c.ID)
	for _, y := range after {
		if y.ID == x.ID && (y.Result != "stop" || y.CheckedBy != "tw" || y.Version != x.Version+1) {
			t.Fatalf("re-check overwritten: %+v", y)
		}
	}

	d := confirmFraud(t, f, integrity.ListAfterDeath, "查实")
	_, err = f.svc.Credit.SetExpiry(ctx, insp, d.CreditID, 0, "2027-01-01", "信用修复")
	wantErr(t, "credit change without version", err, "version_required")
	_, err = f.svc.Credit.FileAppeal(ctx, insp, d.CreditID, 2, "2026-11-19", "有误")
	wantErr(t, "credit change on another version", err, "version_conflict")
	if r, _ := f.svc.Credit.Get(ctx, insp, d.CreditID); r.ExpiresOn != "2029-11-20" || r.State != "active" || r.Version != 1 {
		t.Fatalf("refused credit changes changed it: %+v", r)
	}
}

// TestAuditHoldsNoFreeText: the inspector's reason, a credit expiry reason and
// a campaign's closing note stay in their tables; the audit log has ids,
// codes and lengths. Planting is audited with its counts.
func TestAuditHoldsNoFreeText(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Run(ctx, "", "test"); err != nil {
		t.Fatal(err)
	}
	insp := user("insp", auth.Inspector, rural)
	e := confirmFraud(t, f, integrity.ListAfterDeath, "家属隐瞒死亡甲乙丙")
	if _, err := f.svc.Credit.SetExpiry(ctx, insp, e.CreditID, 1, "2027-06-30", "信用修复丁戊己"); err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.OpenCampaign(ctx, insp, integrity.CampaignInput{Name: "复查", From: "2026-11-01", To: "2026-12-31", Percent: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CloseCampaign(ctx, insp, c.ID, "总结庚辛壬"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"甲乙丙", "丁戊己", "庚辛壬"} {
		var n int
		if err := f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%' || $1 || '%'`, text).Scan(&n); err != nil || n != 0 {
			t.Errorf("%q in %d audit details (%v)", text, n, err)
		}
	}
	var reason, detail string
	f.svc.DB.QueryRowContext(ctx, `SELECT reason FROM integrity_decisions WHERE entry_id = $1`, e.ID).Scan(&reason)
	f.svc.DB.QueryRowContext(ctx, `SELECT detail FROM audit_log WHERE action = 'campaign.close'`).Scan(&detail)
	if reason != "家属隐瞒死亡甲乙丙" || !strings.Contains(detail, `"note_len":5`) {
		t.Fatalf("decision reason %q, close audit %s", reason, detail)
	}
	var plants int
	f.svc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE action = 'integrity.plant' AND detail LIKE '%"payment_lines":%' AND detail LIKE '%"complete":true%'`).Scan(&plants)
	if plants != 2 {
		t.Fatalf("%d plant audit entries, want one per county", plants)
	}
}
