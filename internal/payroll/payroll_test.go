package payroll_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

const county = "360124000000" // 进贤县

type fixture struct {
	t                     *testing.T
	d                     *db.DB
	svc                   *payroll.Service
	maker, checker, other *auth.User
	finance2              *auth.User
	entitled              int64 // entitlements active in the first month
	monthFen              int64
}

var ctx = context.Background()

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
	st, err := payroll.SeedEntitlements(ctx, d, tree, opts, "2026-01")
	if err != nil {
		t.Fatal(err)
	}
	if st.Cases < 50 {
		t.Fatalf("only %d entitlements seeded", st.Cases)
	}
	if err := payroll.SeedDemo(ctx, d, tree, []string{county}, 2026); err != nil {
		t.Fatal(err)
	}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f := &fixture{t: t, d: d, svc: &payroll.Service{DB: d, Tree: tree, Keys: keys, BatchSize: 25}}
	f.maker = mk("xianji", auth.CountyApprover, county)
	f.checker = mk("zijin", auth.CountyFinance, county)
	f.finance2 = mk("zijin2", auth.CountyFinance, county)
	f.other = mk("donghu", auth.CountyApprover, "360102000000")
	f.entitled, f.monthFen = f.expected("2026-01")
	if f.entitled != st.Cases {
		t.Fatalf("active entitlements %d, seeded %d", f.entitled, st.Cases)
	}
	return f
}

// expected counts the active entitlements of a month and their amount, with
// the package's one query.
func (f *fixture) expected(month string) (n, fen int64) {
	f.t.Helper()
	err := f.d.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(e.amount_fen), 0) FROM (`+payroll.EntitlementsSQL("$1", "$2", "")+`) e`, month, county[:6]).Scan(&n, &fen)
	if err != nil {
		f.t.Fatal(err)
	}
	return n, fen
}

// exactlyOnce proves every active entitlement of the month has exactly one
// line and the totals match.
func (f *fixture) exactlyOnce(run *payroll.Run, wantN, wantFen int64) {
	f.t.Helper()
	var lines, cases, fen int64
	var maxPerCase int64
	if err := f.d.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT case_id), COALESCE(SUM(amount_fen), 0) FROM payment_lines WHERE run_id = $1 AND kind <> 'reissue'`, run.ID).
		Scan(&lines, &cases, &fen); err != nil {
		f.t.Fatal(err)
	}
	if err := f.d.QueryRowContext(ctx, `SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM payment_lines WHERE month = $1 GROUP BY case_id, kind) x`, run.Month).Scan(&maxPerCase); err != nil {
		f.t.Fatal(err)
	}
	if lines != wantN || cases != wantN || fen != wantFen || maxPerCase != 1 {
		f.t.Fatalf("run %d: %d lines for %d cases, %d fen, max %d lines per case; want %d lines, %d fen", run.ID, lines, cases, fen, maxPerCase, wantN, wantFen)
	}
	if run.State == payroll.StateBuilt && run.Lines < wantN {
		f.t.Fatalf("run says %d lines", run.Lines)
	}
}

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestRunOnceAndRerun(t *testing.T) {
	f := newFixture(t)
	r, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != payroll.StateBuilt || r.TotalFen != f.monthFen {
		t.Fatalf("run %+v, want built with %d fen", r, f.monthFen)
	}
	f.exactlyOnce(r, f.entitled, f.monthFen)
	again, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil || again.ID != r.ID {
		t.Fatalf("rerun: %v %+v", err, again)
	}
	f.exactlyOnce(again, f.entitled, f.monthFen)
	// the unique index itself refuses a second line, whatever the code does
	_, err = f.d.ExecContext(ctx, `INSERT INTO payment_lines (run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot, amount_fen)
		SELECT run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot, amount_fen FROM payment_lines WHERE run_id = $1 LIMIT 1`, r.ID)
	if !db.IsUniqueViolation(err) {
		t.Fatalf("second line accepted: %v", err)
	}
	// scope and roles
	if _, err := f.svc.Start(ctx, f.other, "2026-01", county); code(err) != "forbidden" {
		t.Fatalf("other county started a run: %v", err)
	}
	if _, err := f.svc.Get(ctx, f.other, r.ID); code(err) != "not_found" {
		t.Fatalf("other county sees the run: %v", err)
	}
	if _, err := f.svc.Start(ctx, f.checker, "2026-02", county); code(err) != "forbidden" {
		t.Fatalf("finance made a run: %v", err)
	}
	if _, err := f.svc.Start(ctx, f.maker, "2026-13", county); code(err) != "invalid_month" {
		t.Fatalf("bad month: %v", err)
	}
}

// TestCrashResume interrupts a run at random points (an error after a random
// number of batches, or the context cancelled at a random moment) at least
// 20 times, resumes it each time, and proves every entitlement has exactly one
// line and the totals match.
func TestCrashResume(t *testing.T) {
	f := newFixture(t)
	f.svc.BatchSize = 7
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	crash := errors.New("injected crash")
	crashes := 0
	var run *payroll.Run
	for i := 0; crashes < 24 || run == nil || run.State == payroll.StateBuilding; i++ {
		if i > 500 {
			t.Fatal("run never finished")
		}
		budget := 1 + rng.IntN(3)
		f.svc.AfterBatch = func(_ int64, _ int) error {
			budget--
			if budget == 0 {
				return crash
			}
			return nil
		}
		c, cancel := context.WithCancel(ctx)
		if i%2 == 1 {
			// cancel at a random moment instead: mid-transaction or between
			f.svc.AfterBatch = nil
			time.AfterFunc(time.Duration(rng.IntN(3000))*time.Microsecond, cancel)
		}
		var err error
		if run == nil {
			run, err = f.svc.Start(c, f.maker, "2026-01", county)
		} else {
			run, err = f.svc.Build(c, f.maker, run.ID)
		}
		cancel()
		if err != nil {
			crashes++
			if !errors.Is(err, crash) && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "cancel") {
				t.Fatalf("unexpected error: %v", err)
			}
			if run == nil {
				// the run row may exist already: find it
				runs, _ := f.svc.Runs(ctx, f.maker, 10)
				if len(runs) == 1 {
					run = runs[0]
				}
			} else if run, err = f.svc.Get(ctx, f.maker, run.ID); err != nil {
				t.Fatal(err)
			}
			if run != nil && run.State == payroll.StateBuilding {
				continue
			}
		}
		if run != nil && run.State == payroll.StateBuilt && crashes < 24 {
			// built before enough crashes: start the next month and crash that too
			f.exactlyOnce(run, f.entitled, f.monthFen)
			if err := f.rejectAndRebuildPrep(run); err != nil {
				t.Fatal(err)
			}
			run, _ = f.svc.Get(ctx, f.maker, run.ID)
		}
	}
	f.svc.AfterBatch = nil
	if run.State != payroll.StateBuilt {
		t.Fatalf("state %s", run.State)
	}
	t.Logf("%d interruptions, %d batches", crashes, run.Batches)
	f.exactlyOnce(run, f.entitled, f.monthFen)
}

// rejectAndRebuildPrep rejects a built run and resets it to building without
// finishing, so the crash test can go on crashing it.
func (f *fixture) rejectAndRebuildPrep(run *payroll.Run) error {
	if _, err := f.svc.Check(ctx, f.checker, run.ID, payroll.Decision{Version: run.Version, Approve: false, Note: "crash test"}); err != nil {
		return err
	}
	r, _ := f.svc.Get(ctx, f.maker, run.ID)
	f.svc.AfterBatch = func(int64, int) error { return errors.New("stop") }
	_, err := f.svc.Rebuild(ctx, f.maker, run.ID, r.Version)
	f.svc.AfterBatch = nil
	if err != nil && err.Error() != "stop" {
		return err
	}
	return nil
}

func TestConcurrentStarts(t *testing.T) {
	f := newFixture(t)
	f.svc.BatchSize = 13
	var wg sync.WaitGroup
	errs := make([]error, 4)
	ids := make([]int64, 4)
	for i := range errs {
		wg.Go(func() {
			r, err := f.svc.Start(ctx, f.maker, "2026-01", county)
			errs[i] = err
			if r != nil {
				ids[i] = r.ID
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Fatalf("two runs: %v", ids)
		}
	}
	var runs int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM payroll_runs`).Scan(&runs)
	if runs != 1 {
		t.Fatalf("%d runs", runs)
	}
	r, _ := f.svc.Get(ctx, f.maker, ids[0])
	f.exactlyOnce(r, f.entitled, f.monthFen)
}

func (f *fixture) approve(r *payroll.Run) *payroll.Run {
	f.t.Helper()
	r, err := f.svc.Check(ctx, f.checker, r.ID, payroll.Decision{Version: r.Version, Approve: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func TestMakerCheckerDifferencesFunds(t *testing.T) {
	f := newFixture(t)
	jan, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Check(ctx, f.maker, jan.ID, payroll.Decision{Version: jan.Version, Approve: true}); code(err) != "forbidden" {
		t.Fatalf("maker approved own run: %v", err)
	}
	rv, err := f.svc.ReviewOf(ctx, f.checker, jan.ID)
	if err != nil {
		t.Fatal(err)
	}
	if int64(rv.DiffTotal) != f.entitled || rv.Unexplained != 0 || rv.Short {
		t.Fatalf("first month: %d differences (%d unexplained), short %v", len(rv.Differences), rv.Unexplained, rv.Short)
	}
	var sum int64
	for _, tt := range rv.ByProgramme {
		sum += tt.AmountFen
	}
	if sum != f.monthFen || len(rv.ByTownship) == 0 {
		t.Fatalf("totals %d vs %d", sum, f.monthFen)
	}
	f.approve(jan)
	var spent int64
	f.d.QueryRowContext(ctx, `SELECT SUM(amount_fen) FROM fund_spending WHERE run_id = $1`, jan.ID).Scan(&spent)
	if spent != f.monthFen {
		t.Fatalf("spending booked %d", spent)
	}

	// February: a review raises one amount, another entitlement stops, a
	// third change has nothing on file
	var raise, stop, silent int64
	f.d.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM cases WHERE programme = 'dibao'`).Scan(&raise, &stop)
	f.d.QueryRowContext(ctx, `SELECT MIN(id) FROM cases WHERE programme = 'tekun'`).Scan(&silent)
	now := time.Now().UTC()
	mustExec(t, f.d, `INSERT INTO entitlement_changes (case_id, effective_from, amount_before, amount_after, source, source_ref, decided_on, created_at)
		SELECT id, '2026-02', amount_fen, amount_fen + 5000, 'review', 'FH-1', '2026-01-20', $2 FROM cases WHERE id = $1`, raise, now)
	mustExec(t, f.d, `UPDATE cases SET amount_fen = amount_fen + 5000 WHERE id = $1`, raise)
	mustExec(t, f.d, `UPDATE cases SET state = 'closed', stop_from = '2026-02' WHERE id = $1`, stop)
	mustExec(t, f.d, `INSERT INTO case_events (case_id, at, on_date, username, role, action, from_state, to_state, late, reason, data)
		VALUES ($1, $2, '2026-01-20', 'x', 'county_approver', 'review_applied', 'approved', 'closed', FALSE, '家庭收入超过标准', '{}')`, stop, now)
	mustExec(t, f.d, `UPDATE cases SET amount_fen = amount_fen - 100 WHERE id = $1`, silent)
	mustExec(t, f.d, `DELETE FROM case_events WHERE case_id = $1`, silent)
	feb, err := f.svc.Start(ctx, f.maker, "2026-02", county)
	if err != nil {
		t.Fatal(err)
	}
	rv, err = f.svc.ReviewOf(ctx, f.checker, feb.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]payroll.Difference{}
	for _, d := range rv.Differences {
		kinds[fmt.Sprint(d.Kind, d.CaseID)] = d
	}
	if d, ok := kinds[fmt.Sprint("changed", raise)]; !ok || d.AfterFen-d.BeforeFen != 5000 || !strings.Contains(d.Why, "复核决定") {
		t.Fatalf("raise: %+v", d)
	}
	if d, ok := kinds[fmt.Sprint("stopped", stop)]; !ok || !strings.Contains(d.Why, "家庭收入超过标准") {
		t.Fatalf("stop: %+v", d)
	}
	if d, ok := kinds[fmt.Sprint("changed", silent)]; !ok || d.Why != "" || rv.Unexplained != 1 {
		t.Fatalf("silent change: %+v, unexplained %d", d, rv.Unexplained)
	}
	if len(rv.Differences) != 3 {
		t.Fatalf("differences: %+v", rv.Differences)
	}
	if _, err := f.svc.Check(ctx, f.checker, feb.ID, payroll.Decision{Version: feb.Version, Approve: true}); code(err) != "unexplained_differences" {
		t.Fatalf("approved with unexplained change: %v", err)
	}
	// funds: take most of the dibao allocation back, then approval needs an override
	mustExec(t, f.d, `INSERT INTO fund_allocations (county_code, programme, year, amount_fen, reference, username, created_at)
		SELECT county_code, programme, year, -SUM(amount_fen) + $2, 'cut', 'x', $3 FROM fund_allocations WHERE county_code = $1 AND programme = 'dibao' GROUP BY county_code, programme, year`,
		county, f.monthFen, now)
	if _, err := f.svc.Check(ctx, f.checker, feb.ID, payroll.Decision{Version: feb.Version, Approve: true, Note: "已核实"}); code(err) != "beyond_funds" {
		t.Fatalf("approved beyond funds: %v", err)
	}
	feb, err = f.svc.Check(ctx, f.checker, feb.ID, payroll.Decision{Version: feb.Version, Approve: true, Note: "已核实", Override: "赣民字〔2026〕9号追加资金"})
	if err != nil || feb.State != payroll.StateApproved || feb.OverrideReason == "" {
		t.Fatalf("override: %v %+v", err, feb)
	}
	// the override is in the audit log
	if res, err := audit.Verify(ctx, f.d, nil); err != nil || res.FirstBroken != 0 {
		t.Fatalf("audit chain: %+v %v", res, err)
	}
}

func mustExec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.ExecContext(ctx, q, args...); err != nil {
		t.Fatal(err)
	}
}

// bankFiles approves a run and prepares and downloads its bank files.
func (f *fixture) bankFiles(r *payroll.Run) (map[int64][]byte, []payroll.BankFile) {
	f.t.Helper()
	files, err := f.svc.PrepareBankFiles(ctx, f.maker, r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[int64][]byte{}
	for _, bf := range files {
		var buf bytes.Buffer
		if _, err := f.svc.WriteBankFile(ctx, f.maker, bf.ID, &buf); err != nil {
			f.t.Fatal(err)
		}
		out[bf.ID] = buf.Bytes()
	}
	return out, files
}

func TestBankFilesReturnsReissue(t *testing.T) {
	f := newFixture(t)
	// one account number broken: held as invalid, not sent
	var bad int64
	f.d.QueryRowContext(ctx, `SELECT MIN(b.id) FROM bank_accounts b JOIN cases c ON c.applicant_id = b.person_id AND c.programme = 'dibao'`).Scan(&bad)
	mustExec(t, f.d, `UPDATE bank_accounts SET account_enc = $1 WHERE id = $2`, f.svc.Keys.Seal("6223611234567890123"), bad)
	jan, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil {
		t.Fatal(err)
	}
	jan = f.approve(jan)
	contents, files := f.bankFiles(jan)
	if len(files) < 2 {
		t.Fatalf("%d bank files", len(files))
	}
	var inFiles int64
	for _, bf := range files {
		inFiles += bf.Lines
	}
	rec, _ := f.svc.Reconcile(ctx, f.maker, jan.ID)
	if rec.Status[payroll.LineInvalid] != 1 || rec.Status[payroll.LineSent] != inFiles {
		t.Fatalf("reconciliation after files: %+v (%d in files)", rec, inFiles)
	}
	// a second prepare changes nothing
	if again, err := f.svc.PrepareBankFiles(ctx, f.maker, jan.ID); err != nil || len(again) != len(files) {
		t.Fatalf("second prepare: %v %d", err, len(again))
	}
	var failedID int64
	var answered int
	for _, bf := range files {
		l, _ := f.svc.LayoutOf(ctx, bf.Bank)
		ret, failed := returnFile(t, &l, contents[bf.ID], answered == 0)
		if failed != 0 {
			failedID = failed
		}
		// bad files first: each refused whole, nothing changed
		for _, bad := range badReturns(&l, ret) {
			rep, err := f.svc.ImportReturn(ctx, f.maker, bf.ID, "bad", bad)
			if code(err) != "return_rejected" || rep == nil || !rep.Rejected || len(rep.Problems) == 0 {
				t.Fatalf("%s: bad return accepted: %v %+v", bf.Bank, err, rep)
			}
		}
		r2, _ := f.svc.Reconcile(ctx, f.maker, jan.ID)
		if r2.Status[payroll.LinePaid] != int64(answered) {
			t.Fatalf("a refused file changed lines: %+v", r2)
		}
		rep, err := f.svc.ImportReturn(ctx, f.maker, bf.ID, fmt.Sprintf("JZ%d_RET.txt", bf.ID), ret)
		if err != nil {
			t.Fatalf("%s return: %v %+v", bf.Bank, err, rep)
		}
		answered += rep.Paid
		if payroll.BankFileIDFromName(fmt.Sprintf("JZ%d_%s_RET.txt", bf.ID, bf.Bank)) != bf.ID {
			t.Fatal("file id from name")
		}
		// the same file again is harmless
		if rep2, err := f.svc.ImportReturn(ctx, f.maker, bf.ID, "again", ret); err != nil || rep2.Unchanged != rep.Paid+rep.Failed {
			t.Fatalf("re-import: %v %+v", err, rep2)
		}
	}
	rec, _ = f.svc.Reconcile(ctx, f.maker, jan.ID)
	if rec.Status[payroll.LineFailed] != 1 || rec.Status[payroll.LinePaid] != inFiles-1 || rec.Status[payroll.LineSent] != 0 || rec.Failures["账户已销户"] != 1 {
		t.Fatalf("reconciliation: %+v", rec)
	}
	// February re-issues the failed line (the held one waits for a new account)
	feb, err := f.svc.Start(ctx, f.maker, "2026-02", county)
	if err != nil {
		t.Fatal(err)
	}
	var reissued int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines WHERE run_id = $1 AND kind = 'reissue'`, feb.ID).Scan(&reissued)
	var ofFailed int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines WHERE run_id = $1 AND reissue_of = $2`, feb.ID, failedID).Scan(&ofFailed)
	if reissued != 1 || ofFailed != 1 {
		t.Fatalf("re-issued %d lines (%d of the failed one)", reissued, ofFailed)
	}
	// once re-issued, it cannot also be settled by hand
	if err := f.svc.SettleByHand(ctx, f.maker, failedID, "现金 001"); code(err) != "already_reissued" {
		t.Fatalf("settled a re-issued line: %v", err)
	}
}

// returnFile answers every line of a bank file as paid except the first
// (when failOne), which fails with "账户已销户".
func returnFile(t *testing.T, l *payroll.Layout, content []byte, failOne bool) ([]byte, int64) {
	t.Helper()
	text := content
	if l.Encoding == "gbk" {
		text = fromGBK(t, content)
	}
	var out []string
	var failed int64
	lines := strings.Split(strings.TrimRight(string(text), "\r\n"), "\r\n")
	for i, ln := range lines {
		if i == 0 && l.Header {
			continue
		}
		vals := map[string]string{}
		if l.Format == "csv" {
			parts := strings.Split(ln, l.Separator)
			for j, fd := range l.Fields {
				vals[fd.Name] = parts[j]
			}
		} else {
			b := toGBK(t, ln, l.Encoding == "gbk")
			pos := 0
			for _, fd := range l.Fields {
				vals[fd.Name] = strings.TrimSpace(string(fromGBKMaybe(t, b[pos:pos+fd.Width], l.Encoding == "gbk")))
				pos += fd.Width
			}
		}
		if vals["amount_fen"] == "" && vals["amount"] != "" {
			var y, c int64
			fmt.Sscanf(vals["amount"], "%d.%d", &y, &c)
			vals["amount_fen"] = fmt.Sprint(y*100 + c)
		}
		if vals["amount"] == "" {
			var n int64
			fmt.Sscan(vals["amount_fen"], &n)
			vals["amount"] = fmt.Sprintf("%d.%02d", n/100, n%100)
		}
		res, reason := l.PaidCodes[0], ""
		if failOne && len(out) == 0 {
			res, reason = "E001", "账户已销户"
			fmt.Sscan(strings.TrimLeft(vals["ref"], "0"), &failed)
		}
		vals["result"], vals["reason"] = res, reason
		var rec []byte
		for j, fd := range l.Return {
			v := vals[fd.Name]
			if l.Format == "csv" {
				if j > 0 {
					rec = append(rec, l.Separator...)
				}
				rec = append(rec, v...)
				continue
			}
			b := toGBK(t, v, l.Encoding == "gbk")
			pad := " "
			if fd.Zero {
				pad = "0"
			}
			if fd.Right {
				rec = append(rec, strings.Repeat(pad, fd.Width-len(b))...)
				rec = append(rec, b...)
			} else {
				rec = append(rec, b...)
				rec = append(rec, strings.Repeat(pad, fd.Width-len(b))...)
			}
		}
		if l.Format == "csv" && l.Encoding == "gbk" {
			rec = toGBK(t, string(rec), true)
		}
		out = append(out, string(rec))
	}
	return []byte(strings.Join(out, "\r\n") + "\r\n"), failed
}

// badReturns are return files with an unknown line, a duplicate line and a
// malformed line, each otherwise correct.
func badReturns(l *payroll.Layout, good []byte) [][]byte {
	lines := strings.Split(strings.TrimRight(string(good), "\r\n"), "\r\n")
	unknown := strings.Replace(lines[0], "", "", 1)
	if l.Format == "csv" {
		i := strings.Index(unknown, l.Separator)
		unknown = "999999999" + unknown[i:]
	} else {
		unknown = "999999999999" + unknown[12:]
	}
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "\r\n") + "\r\n") }
	with := func(extra string) []byte { return join(append(append([]string{}, lines...), extra)...) }
	return [][]byte{with(unknown), with(lines[len(lines)-1]), with("garbage")}
}

func TestRecoveriesAndLedgers(t *testing.T) {
	f := newFixture(t)
	var person, amount int64
	f.d.QueryRowContext(ctx, `SELECT applicant_id, amount_fen FROM cases WHERE programme = 'dibao' ORDER BY id LIMIT 1`).Scan(&person, &amount)
	if _, err := f.svc.OpenRecovery(ctx, f.checker, payroll.NewRecovery{PersonID: person, Reason: "隐瞒收入", AmountDueFen: 10000, FineFen: 5000}); code(err) != "fine_range" {
		t.Fatalf("fine below 1x: %v", err)
	}
	rc, err := f.svc.OpenRecovery(ctx, f.checker, payroll.NewRecovery{PersonID: person, Reason: "隐瞒收入", AmountDueFen: amount + 10000, FineFen: 0, AllowOffset: true, OffsetMaxFen: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.OpenRecovery(ctx, f.other, payroll.NewRecovery{PersonID: person, Reason: "x", AmountDueFen: 1}); code(err) != "forbidden" && code(err) != "not_found" {
		t.Fatalf("other county opened a recovery: %v", err)
	}
	jan, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ = f.svc.Recovery(ctx, f.checker, rc.ID)
	if rc.OffsetFen != 10000 || jan.TotalFen != f.monthFen {
		t.Fatalf("offset %d", rc.OffsetFen)
	}
	if rc, err = f.svc.Repay(ctx, f.checker, rc.ID, 3000, "缴款书 1"); err != nil || rc.Outstanding != amount+10000-13000 {
		t.Fatalf("repay: %v %+v", err, rc)
	}
	if rc, err = f.svc.RequestWriteOff(ctx, f.checker, rc.ID, "当事人死亡，无遗产"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DecideWriteOff(ctx, f.checker, rc.ID, true); code(err) != "forbidden" {
		t.Fatalf("self-approved write-off: %v", err)
	}
	if rc, err = f.svc.DecideWriteOff(ctx, f.finance2, rc.ID, true); err != nil || rc.State != payroll.RecoveryWrittenOff || rc.Outstanding != 0 {
		t.Fatalf("write-off: %v %+v", err, rc)
	}
	tot, err := f.svc.RecoveryTotals(ctx, f.checker)
	if err != nil || len(tot) != 1 || tot[0].Outstanding != 0 || tot[0].OffsetFen != 10000 || tot[0].RepaidFen != 3000 {
		t.Fatalf("totals: %v %+v", err, tot)
	}

	// purchased services: at most 2% of the assistance funds
	funds, _ := f.svc.Funds(ctx, f.checker, county, 2026)
	var assist, purchased int64
	for _, fd := range funds {
		if fd.Programme == payroll.PurchasedServices {
			purchased = fd.AllocatedFen
		} else {
			assist += fd.AllocatedFen
		}
	}
	room := assist/50 - purchased
	if err := f.svc.Allocate(ctx, f.checker, county, payroll.PurchasedServices, 2026, room+1, "doc"); code(err) != "purchased_services_cap" {
		t.Fatalf("cap: %v", err)
	}
	if err := f.svc.Allocate(ctx, f.checker, county, payroll.PurchasedServices, 2026, room, "doc"); err != nil {
		t.Fatal(err)
	}

	// reserve fund: advance, refusal beyond the balance, replenishment on approval
	township := "360124100000"
	var emergency int64
	f.d.QueryRowContext(ctx, `SELECT MIN(c.id) FROM cases c WHERE c.region_code LIKE '360124100%'`).Scan(&emergency)
	bal, _, _ := f.svc.Reserve(ctx, f.checker, township)
	err = f.d.Tx(ctx, func(tx *sql.Tx) error {
		return payroll.ReserveAdvance(ctx, f.d, tx, f.maker.Actor(), township, emergency, bal+1, "急难")
	})
	if code(err) != "reserve_insufficient" {
		t.Fatalf("advance beyond balance: %v", err)
	}
	if err := f.d.Tx(ctx, func(tx *sql.Tx) error {
		return payroll.ReserveAdvance(ctx, f.d, tx, f.maker.Actor(), township, emergency, 30000, "急难")
	}); err != nil {
		t.Fatal(err)
	}
	bal2, entries, _ := f.svc.Reserve(ctx, f.checker, township)
	if bal2 != bal-30000 || len(entries) != 2 {
		t.Fatalf("reserve %d -> %d, %d entries", bal, bal2, len(entries))
	}
}

func TestExports(t *testing.T) {
	f := newFixture(t)
	jan, err := f.svc.Start(ctx, f.maker, "2026-01", county)
	if err != nil {
		t.Fatal(err)
	}
	var township string
	var n int
	f.d.QueryRowContext(ctx, `SELECT SUBSTR(region_code, 1, 9) || '000', COUNT(*) FROM payment_lines WHERE run_id = $1 GROUP BY 1 ORDER BY 2 DESC LIMIT 1`, jan.ID).Scan(&township, &n)
	old := payroll.SheetRows
	payroll.SheetRows = 10
	defer func() { payroll.SheetRows = old }()
	for _, kind := range []string{payroll.ExportPayroll, payroll.ExportSignature} {
		var buf bytes.Buffer
		if err := f.svc.ExportTownship(ctx, f.maker, jan.ID, township, kind, &buf); err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		sheets := x.GetSheetList()
		for _, sh := range sheets {
			rs, _ := x.GetRows(sh)
			if len(rs) > 10 {
				t.Fatalf("sheet %s has %d rows", sh, len(rs))
			}
			rows += len(rs) - 1 // header on each sheet
		}
		if rows != n || len(sheets) != (n+8)/9 {
			t.Fatalf("%s: %d rows on %d sheets, want %d", kind, rows, len(sheets), n)
		}
	}
	var buf bytes.Buffer
	if err := f.svc.ExportSummary(ctx, f.maker, jan.ID, &buf); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ExportTownship(ctx, f.maker, jan.ID, "360102002000", payroll.ExportPayroll, &buf); code(err) != "not_township" {
		t.Fatalf("other county's township: %v", err)
	}
}

func toGBK(t *testing.T, s string, gbk bool) []byte {
	if !gbk {
		return []byte(s)
	}
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fromGBK(t *testing.T, b []byte) []byte { return fromGBKMaybe(t, b, true) }

func fromGBKMaybe(t *testing.T, b []byte, gbk bool) []byte {
	if !gbk {
		return b
	}
	out, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStagedTemporaryGrant: a temporary grant approved once in three stages is
// paid over three monthly runs, the last stage the remainder, then no more.
func TestStagedTemporaryGrant(t *testing.T) {
	f := newFixture(t)
	var hh, person int64
	var village string
	if err := f.d.QueryRowContext(ctx, `SELECT household_id, id, region_code FROM persons WHERE relation = 'head' AND household_id IS NOT NULL ORDER BY id LIMIT 1`).Scan(&hh, &person, &village); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var caseID int64
	if err := f.d.QueryRowContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state, accepted_on,
		amount_fen, advance_fen, decision, decided_on, pay_from, stages, version, created_at, updated_at)
		VALUES ('LS-STAGED', 'temporary', '2021', 'expenditure', $1, $2, $3, 'door', 'approved', '2025-12-20', 100000, 0, 'approved', '2025-12-22', '2026-01', 3, 1, $4, $4) RETURNING id`,
		hh, person, village, now).Scan(&caseID); err != nil {
		t.Fatal(err)
	}
	var paid []int64
	for _, month := range []string{"2026-01", "2026-02", "2026-03", "2026-04"} {
		r, err := f.svc.Start(ctx, f.maker, month, county)
		if err != nil {
			t.Fatal(err)
		}
		var fen int64
		err = f.d.QueryRowContext(ctx, `SELECT amount_fen FROM payment_lines WHERE run_id = $1 AND case_id = $2`, r.ID, caseID).Scan(&fen)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		paid = append(paid, fen)
		// a rerun of the month pays nothing more
		if again, err := f.svc.Start(ctx, f.maker, month, county); err != nil || again.ID != r.ID {
			t.Fatalf("rerun %s: %v", month, err)
		}
	}
	if len(paid) != 3 || paid[0] != 33333 || paid[1] != 33333 || paid[2] != 33334 {
		t.Fatalf("staged payments %v, want 333.33, 333.33, 333.34 yuan in three months", paid)
	}
}
