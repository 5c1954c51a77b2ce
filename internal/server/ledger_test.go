package server_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"jiuzhu/internal/auth"
)

// section returns the part of a page from the element with that id to the
// end of its table (or the page).
func section(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	body = body[i:]
	if j := strings.Index(body, "</table>"); j >= 0 {
		return body[:j]
	}
	return body
}

// TestLedgerPages keeps a county's ledgers through the pages: funds are
// allocated and spent, a township's reserve fund is replenished, a fraud
// recovery with a 2× fine is opened, partly repaid and the rest written off
// with a second person's approval. Refused inputs show the service's Chinese
// message next to the form, keep what was typed and change nothing.
func TestLedgerPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []struct {
		name   string
		role   auth.Role
		region string
	}{{"finance_a", auth.CountyFinance, countyA}, {"finance_a2", auth.CountyFinance, countyA}, {"reviewer_a", auth.TownshipReviewer, townshipA},
		{"maker_b", auth.CountyApprover, countyB}, {"sup_p", auth.Supervisor, "360000000000"}} {
		if _, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: u.name, DisplayName: "测试" + u.name, Role: u.role, Region: u.region, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	_, personID, _ := e.household(e.login("case_a"), villageA, 31)
	idNumber := idNo("1960-02-03", 31, true)
	ok := func(code int, body string) bool {
		return code == 200 && strings.Contains(body, "</html>") && !strings.Contains(body, "系统内部错误")
	}
	sum := func(q string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := e.app.DB.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	fin := e.browse("finance_a")
	tok := fin.csrf()
	code, body := fin.get("/payroll/ledgers")
	if !ok(code, body) || !strings.Contains(body, `id="allocate-form"`) || !strings.Contains(body, `id="spend-form"`) ||
		!strings.Contains(body, `<option value="`+countyA+`"`) || strings.Contains(body, `<option value="`+countyB+`"`) {
		t.Fatalf("ledgers page: %d", code)
	}

	// funds
	alloc := url.Values{"csrf": {tok}, "form": {"allocate"}, "county": {countyA}, "programme": {"dibao"}, "year": {"2026"},
		"amount": {"1,200,000.50"}, "reference": {"赣财社〔2026〕1号"}}
	code, body = fin.post("/payroll/funds/allocations", alloc)
	funds := section(body, "ledger-funds")
	if !ok(code, body) || !strings.Contains(body, "资金下达已登记") || !strings.Contains(funds, "最低生活保障") || !strings.Contains(funds, "1200000.50") {
		t.Fatalf("allocate: %d %s", code, funds)
	}
	if n := sum(`SELECT COALESCE(SUM(amount_fen), 0) FROM fund_allocations WHERE county_code = $1`, countyA); n != 120000050 {
		t.Fatalf("allocated %d fen", n)
	}
	bad := url.Values{}
	for k, v := range alloc {
		bad[k] = v
	}
	bad.Set("amount", "100.005")
	code, body = fin.post("/payroll/funds/allocations", bad)
	if code != 422 || !strings.Contains(body, "最多保留两位小数") || !strings.Contains(body, `class="field-error"`) ||
		!strings.Contains(section(body, "allocate-form"), `value="100.005"`) || strings.Contains(section(body, "spend-form"), "100.005") {
		t.Fatalf("three decimals: %d", code)
	}
	bad.Set("amount", "100")
	bad.Set("county", countyB)
	code, body = fin.post("/payroll/funds/allocations", bad)
	if code != 403 || !strings.Contains(body, "该县不在您的管辖范围内") {
		t.Fatalf("county outside scope: %d", code)
	}
	if n := e.count("fund_allocations"); n != 1 {
		t.Fatalf("refused allocations were recorded: %d rows", n)
	}
	code, body = fin.post("/payroll/funds/spending", url.Values{"csrf": {tok}, "form": {"spend"}, "county": {countyA}, "programme": {"dibao"},
		"year": {"2026"}, "amount": {"200"}, "reference": {"支出凭证001"}})
	if funds = section(body, "ledger-funds"); !ok(code, body) || !strings.Contains(body, "支出已登记") || !strings.Contains(funds, "200.00") || !strings.Contains(funds, "1199800.50") {
		t.Fatalf("spend: %d %s", code, funds)
	}
	code, body = fin.post("/payroll/funds/spending", url.Values{"csrf": {tok}, "form": {"spend"}, "county": {countyA}, "programme": {"dibao"},
		"year": {"2026"}, "amount": {"2000000"}, "reference": {"支出凭证002"}})
	if code != 422 || !strings.Contains(body, "超出已下达资金") || e.count("fund_spending") != 1 {
		t.Fatalf("spending beyond the funds: %d", code)
	}

	// the township reserve fund
	code, body = fin.post("/payroll/reserves/"+townshipA+"/replenishments", url.Values{"csrf": {tok}, "form": {"replenish"}, "amount": {"5,000"}, "reference": {"进民拨〔2026〕2号"}})
	if !ok(code, body) || !strings.Contains(body, "备用金拨付已登记") || !strings.Contains(section(body, "reserve-balance"), "5000.00") ||
		!strings.Contains(section(body, "reserve-entries"), "县级拨付") {
		t.Fatalf("replenish: %d", code)
	}
	if code, body = fin.get("/payroll/ledgers?county=" + countyA + "&year=2026"); !ok(code, body) || !strings.Contains(section(body, "reserves"), "5000.00") {
		t.Fatalf("ledgers reserves: %d", code)
	}
	rv := e.browse("reviewer_a")
	if code, body = rv.get("/payroll/reserves/" + townshipA); !ok(code, body) || strings.Contains(body, "replenish-form") || !strings.Contains(body, "5000.00") {
		t.Fatalf("reserve page as the township: %d", code)
	}
	if code, body = rv.get("/payroll/ledgers"); !ok(code, body) || strings.Contains(body, "allocate-form") {
		t.Fatalf("ledgers as the township: %d", code)
	}

	// a fraud recovery with a 2× fine
	code, body = fin.get("/payroll/recoveries")
	if !ok(code, body) || !strings.Contains(body, `id="recovery-form"`) {
		t.Fatalf("recoveries page: %d", code)
	}
	open := url.Values{"csrf": {tok}, "id_number": {idNumber}, "kind": {"late_report"}, "decision_ref": {"进民追〔2026〕1号"}, "details": {"隐瞒工资收入"},
		"amount_due": {"1,000"}, "fine_multiple": {"2"}, "allow_offset": {"1"}, "offset_max": {"100"}}
	code, body = fin.post("/payroll/recoveries", open)
	if code != 422 || !strings.Contains(body, "只有以虚报、隐瞒、伪造等手段骗取救助的才可处以罚款") || !strings.Contains(body, `value="进民追〔2026〕1号"`) {
		t.Fatalf("fine without fraud: %d", code)
	}
	open.Set("kind", "fraud")
	open.Set("amount_due", "1000.001")
	if code, body = fin.post("/payroll/recoveries", open); code != 422 || !strings.Contains(body, "最多保留两位小数") {
		t.Fatalf("amount due with three decimals: %d", code)
	}
	if n := e.count("recoveries"); n != 0 {
		t.Fatalf("refused recoveries were recorded: %d", n)
	}
	open.Set("amount_due", "1,000")
	code, body = fin.post("/payroll/recoveries", open)
	m := regexp.MustCompile(`action="/payroll/recoveries/(\d+)/repayments"`).FindStringSubmatch(body)
	if !ok(code, body) || m == nil || !strings.Contains(body, "追缴已登记") || !strings.Contains(body, "骗取救助（进民追〔2026〕1号）：隐瞒工资收入") ||
		!strings.Contains(body, "2000.00") || !strings.Contains(section(body, "recovery-outstanding"), "3000.00") {
		t.Fatalf("open recovery: %d", code)
	}
	rec := "/payroll/recoveries/" + m[1]
	if n := sum(`SELECT fine_fen FROM recoveries WHERE person_id = $1 AND amount_due_fen = 100000 AND offset_max_fen = 10000 AND allow_offset`, personID); n != 200000 {
		t.Fatalf("fine %d fen", n)
	}
	version := func(body string) string {
		v := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(body)
		if v == nil {
			t.Fatal("no version on the recovery page")
		}
		return v[1]
	}

	// a repayment; the same form sent again is refused as stale
	repay := url.Values{"csrf": {tok}, "form": {"repay"}, "version": {version(body)}, "amount": {"500"}, "reference": {"缴款书001"}}
	code, body = fin.post(rec+"/repayments", repay)
	if !ok(code, body) || !strings.Contains(body, "缴回已登记") || !strings.Contains(section(body, "recovery-outstanding"), "2500.00") ||
		!strings.Contains(section(body, "recovery-entries"), "缴款书001") {
		t.Fatalf("repay: %d", code)
	}
	if code, body = fin.post(rec+"/repayments", repay); code != 409 || !strings.Contains(body, "已被其他人修改") || e.count("recovery_entries") != 1 {
		t.Fatalf("repeated repayment: %d", code)
	}

	// the write-off of the rest: asked by one, refused to the same person, approved by a second
	code, body = fin.post(rec+"/writeoff", url.Values{"csrf": {tok}, "form": {"writeoff"}, "version": {version(body)}, "reason": {"当事人死亡且无遗产"}})
	if !ok(code, body) || !strings.Contains(body, "核销申请已提交") || !strings.Contains(body, `id="own-request"`) || strings.Contains(body, `id="decide-form"`) ||
		strings.Contains(body, `id="repay-form"`) {
		t.Fatalf("request write-off: %d", code)
	}
	// the requester's page has no decision form; the request is made by hand with the current version
	recID, _ := strconv.ParseInt(m[1], 10, 64)
	cur := fmt.Sprint(sum(`SELECT version FROM recoveries WHERE id = $1`, recID))
	code, body = fin.post(rec+"/writeoff/decision", url.Values{"csrf": {tok}, "form": {"decide"}, "version": {cur}, "decision": {"approve"}})
	if code != 403 || !strings.Contains(body, "核销须由申请人以外的另一名工作人员审批") || !strings.Contains(body, "核销待审批") {
		t.Fatalf("own write-off approved: %d", code)
	}
	if n := sum(`SELECT COUNT(*) FROM recoveries WHERE state = 'writeoff_requested'`); n != 1 || e.count("recovery_entries") != 1 {
		t.Fatalf("own approval changed the recovery: %d", n)
	}
	f2 := e.browse("finance_a2")
	code, body = f2.get(rec)
	if !ok(code, body) || !strings.Contains(body, `id="decide-form"`) || !strings.Contains(body, "当事人死亡且无遗产") {
		t.Fatalf("second person's page: %d", code)
	}
	code, body = f2.post(rec+"/writeoff/decision", url.Values{"csrf": {f2.csrf()}, "form": {"decide"}, "version": {version(body)}, "decision": {"approve"}})
	if !ok(code, body) || !strings.Contains(body, "已批准核销") || !strings.Contains(section(body, "recovery-state"), "已核销") ||
		!strings.Contains(section(body, "recovery-outstanding"), "0.00") || !strings.Contains(section(body, "recovery-entries"), "2500.00") {
		t.Fatalf("approve write-off: %d", code)
	}

	// the totals
	want := []string{"1000.00", "2000.00", "500.00", "2500.00"}
	for _, p := range []string{"/payroll/recoveries", "/payroll/ledgers"} {
		code, body = fin.get(p)
		tot := section(body, "recovery-totals")
		row := regexp.MustCompile(`<td class="num">1</td>((?:<td class="num">[^<]*</td>)+)`).FindStringSubmatch(tot)
		if !ok(code, body) || row == nil {
			t.Fatalf("%s totals: %d %s", p, code, tot)
		}
		cells := regexp.MustCompile(`>([^<]*)<`).FindAllStringSubmatch(row[1], -1)
		var got []string
		for _, c := range cells {
			if c[1] != "" {
				got = append(got, c[1])
			}
		}
		if strings.Join(got, " ") != "1000.00 2000.00 500.00 0.00 2500.00 0.00" {
			t.Fatalf("%s totals %v, want due/fine/repaid/offset/written off/outstanding %v", p, got, want)
		}
	}
	if n := sum(`SELECT COUNT(*) FROM audit_log WHERE action LIKE 'payroll.recovery%'`); n != 4 {
		t.Fatalf("%d recovery audit entries", n)
	}

	// the province sees every county's ledgers and totals, with no forms
	sp := e.browse("sup_p")
	if code, body = sp.get("/payroll/ledgers?county=" + countyA + "&year=2026"); !ok(code, body) || strings.Contains(body, "allocate-form") ||
		!strings.Contains(body, `<option value="`+countyB+`"`) || !strings.Contains(section(body, "ledger-funds"), "1199800.50") || !strings.Contains(section(body, "recovery-totals"), "2500.00") {
		t.Fatalf("ledgers as the province: %d", code)
	}
	if code, body = sp.get(rec); !ok(code, body) || strings.Contains(body, "<form method=\"post\" action=\"/payroll/recoveries") {
		t.Fatalf("recovery as the province: %d", code)
	}

	// another county sees none of it
	mb := e.browse("maker_b")
	if code, body = mb.get(rec); code != 404 || !strings.Contains(body, "不在您的管辖范围内") {
		t.Fatalf("other county's recovery page: %d", code)
	}
	if code, body = mb.get("/payroll/recoveries"); !ok(code, body) || strings.Contains(body, "/payroll/recoveries/"+m[1]) || strings.Contains(body, "recovery-form") {
		t.Fatalf("other county's recoveries: %d", code)
	}
}
