package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/money"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// The payroll ledgers as pages: a county's funds per programme and year
// (allocations and spending outside the runs), the townships' reserve funds
// (replenishments) and the recoveries of wrong payments (repayments,
// write-offs approved by a second person). The rules are payroll's: every
// form here calls the service, which decides; the pages only turn yuan into
// fen, offer what the user may use, and show the service's refusals next to
// the form with the typed values kept.

func (s *Server) ledgerRoutes(mux *http.ServeMux) {
	mux.Handle("GET /payroll/ledgers", s.auth(auth.PayrollRead, s.payrollLedgers))
	mux.Handle("POST /payroll/funds/allocations", s.auth(auth.PayrollLedger, s.fundAllocate))
	mux.Handle("POST /payroll/funds/spending", s.auth(auth.PayrollLedger, s.fundSpend))
	mux.Handle("GET /payroll/reserves/{township}", s.auth(auth.PayrollRead, s.reservePage))
	mux.Handle("POST /payroll/reserves/{township}/replenishments", s.auth(auth.PayrollLedger, s.reserveReplenish))
	mux.Handle("GET /payroll/recoveries", s.auth(auth.PayrollRead, s.recoveriesPage))
	mux.Handle("POST /payroll/recoveries", s.auth(auth.PayrollLedger, s.recoveryOpen))
	mux.Handle("GET /payroll/recoveries/{id}", s.auth(auth.PayrollRead, s.recoveryPage))
	mux.Handle("POST /payroll/recoveries/{id}/repayments", s.auth(auth.PayrollLedger, s.recoveryRepay))
	mux.Handle("POST /payroll/recoveries/{id}/writeoff", s.auth(auth.PayrollLedger, s.recoveryWriteOff))
	mux.Handle("POST /payroll/recoveries/{id}/writeoff/decision", s.auth(auth.PayrollApprove, s.recoveryDecide))
}

func init() {
	for k, v := range map[string]string{
		"fund_allocated":      "资金下达已登记。",
		"fund_spent":          "支出已登记。",
		"reserve_replenished": "备用金拨付已登记。",
		"recovery_opened":     "追缴已登记。",
		"recovery_repaid":     "缴回已登记。",
		"writeoff_requested":  "核销申请已提交，须由申请人以外的另一名工作人员审批。",
		"writeoff_approved":   "已批准核销，该追缴已核销。",
		"writeoff_refused":    "已不予核销，该追缴继续追缴。",
	} {
		notices[k] = v
	}
}

func programmeOptions() []option {
	out := make([]option, len(payroll.Programmes))
	for i, p := range payroll.Programmes {
		out[i] = option{p, payroll.ProgrammeLabel(p)}
	}
	return out
}

// formState is one form of a page that has several: what was typed into it
// when it is the form that just failed, its defaults otherwise.
type formState struct {
	Mine bool
	V    url.Values
}

func postedForm(r *http.Request, name string, defaults url.Values) formState {
	if r.Method == http.MethodPost && r.PostFormValue("form") == name {
		return formState{Mine: true, V: r.PostForm}
	}
	if defaults == nil {
		defaults = url.Values{}
	}
	return formState{V: defaults}
}

// maxFormFen bounds an amount typed into a form (10 billion yuan), so that a
// fine of three times it still fits.
const maxFormFen = 1_000_000_000_000

// formFen reads an amount typed in yuan ("1200", "1,200.50", "-300元") into
// integer fen, exactly: more than two decimals is refused, never rounded.
// Blank is 0 when optional. field names the error the way the service names
// its own (amount_fen, …), so the template shows both next to the same input.
func formFen(r *http.Request, name, field, label string, negative, optional bool) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		if optional {
			return 0, nil
		}
		return 0, apperr.Invalid(field, "amount_required", "请填写"+label+"（元）")
	}
	f, err := money.Parse(v)
	if err != nil {
		if _, frac, ok := strings.Cut(strings.TrimSuffix(v, "元"), "."); ok && len(strings.TrimSpace(frac)) > 2 {
			return 0, apperr.Invalid(field, "too_many_decimals", label+"最多保留两位小数（精确到分），请核对后重新填写")
		}
		return 0, apperr.Invalid(field, "invalid_amount", label+"格式不正确，请填写以元为单位的数字，如 1200 或 1,200.50")
	}
	if f < 0 && !negative {
		return 0, apperr.Invalid(field, "invalid_amount", label+"须大于0")
	}
	if f > maxFormFen || f < -maxFormFen {
		return 0, apperr.Invalid(field, "invalid_amount", label+"过大，请核对")
	}
	return int64(f), nil
}

// ---- funds and reserves ----

type payrollLedgerData struct {
	County     string
	Year       int
	Counties   []*region.Region // the counties the user may look at
	Funds      []payroll.Fund
	Reserves   []reserveRow
	Totals     []payroll.RecoveryTotal
	CanLedger  bool
	FundCounty []*region.Region // where the user may allocate and spend
	Programmes []option
	Alloc      formState
	Spend      formState
}

type reserveRow struct {
	Township string
	Balance  int64
}

// viewCounties lists the counties at or above a user's region: all of a
// province's or a city's, the county itself, a township's county.
func (s *Server) viewCounties(code string) []*region.Region {
	var out []*region.Region
	switch region.LevelOf(code) {
	case region.Province:
		for _, c := range s.Tree.Children(code) {
			for _, k := range s.Tree.Children(c.Code) {
				if k.Level == region.County {
					out = append(out, k)
				}
			}
		}
	case region.City:
		for _, k := range s.Tree.Children(code) {
			if k.Level == region.County {
				out = append(out, k)
			}
		}
	default:
		if k, ok := s.Tree.Get(region.ScopePrefix(code)[:6]); ok {
			out = append(out, k)
		}
	}
	return out
}

func (s *Server) payrollLedgers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	y, _ := strconv.Atoi(q.Get("year"))
	s.ledgersRender(w, r, strings.TrimSpace(q.Get("county")), y, nil)
}

// ledgersRender shows the funds of a county and year (the user's own county
// when none is asked for), its townships' reserve funds and the recovery
// totals, with the forms the user may use.
func (s *Server) ledgersRender(w http.ResponseWriter, r *http.Request, county string, year int, err error) {
	u := currentUser(r)
	d := payrollLedgerData{County: county, Year: year, Counties: s.viewCounties(u.Region), CanLedger: u.Can(auth.PayrollLedger)}
	if d.Year < 2000 || d.Year > 2100 {
		d.Year = todayCST().Year()
	}
	if d.County == "" && region.LevelOf(u.Region) >= region.County {
		d.County = region.Pad(region.ScopePrefix(u.Region)[:6])
	}
	if d.CanLedger {
		for _, c := range d.Counties {
			if region.Within(u.Region, c.Code) {
				d.FundCounty = append(d.FundCounty, c)
			}
		}
		d.Programmes = programmeOptions()
		defaults := url.Values{"county": {d.County}, "year": {strconv.Itoa(d.Year)}}
		d.Alloc, d.Spend = postedForm(r, "allocate", defaults), postedForm(r, "spend", defaults)
	}
	var lerr error
	if d.County != "" {
		if d.Funds, lerr = s.Payroll.Funds(r.Context(), u, d.County, d.Year); lerr == nil {
			for _, t := range s.Tree.Children(d.County) {
				if !region.Within(u.Region, t.Code) && !region.Within(t.Code, u.Region) {
					continue
				}
				bal, _, rerr := s.Payroll.Reserve(r.Context(), u, t.Code)
				if rerr != nil {
					lerr = rerr
					break
				}
				d.Reserves = append(d.Reserves, reserveRow{t.Code, bal})
			}
		}
	}
	if lerr == nil {
		d.Totals, lerr = s.Payroll.RecoveryTotals(r.Context(), u)
	}
	if err == nil {
		err = lerr
	}
	s.render(w, r, http.StatusOK, "payroll_ledgers", "资金台账", d, err)
}

// fundForm reads the allocation and spending forms.
func fundForm(r *http.Request, negative bool) (county, programme string, year int, fen int64, ref string, err error) {
	county, programme = strings.TrimSpace(r.PostFormValue("county")), r.PostFormValue("programme")
	ref = strings.TrimSpace(r.PostFormValue("reference"))
	year = formInt(r, "year")
	label := "金额"
	if !negative {
		label = "支出金额"
	}
	fen, err = formFen(r, "amount", "amount_fen", label, negative, false)
	return
}

// fundDone goes back to the ledgers of the county and year the form was
// about, or shows the page with the refusal.
func (s *Server) fundDone(w http.ResponseWriter, r *http.Request, county string, year int, err error, ok string) {
	if err != nil {
		u := currentUser(r)
		view := ""
		for _, c := range s.viewCounties(u.Region) {
			if c.Code == county {
				view = county
			}
		}
		s.ledgersRender(w, r, view, year, err)
		return
	}
	http.Redirect(w, r, "/payroll/ledgers?"+url.Values{"county": {county}, "year": {strconv.Itoa(year)}, "ok": {ok}}.Encode(), http.StatusSeeOther)
}

func (s *Server) fundAllocate(w http.ResponseWriter, r *http.Request) {
	county, programme, year, fen, ref, err := fundForm(r, true)
	if err == nil {
		err = s.Payroll.Allocate(r.Context(), currentUser(r), county, programme, year, fen, ref)
	}
	s.fundDone(w, r, county, year, err, "fund_allocated")
}

func (s *Server) fundSpend(w http.ResponseWriter, r *http.Request) {
	county, programme, year, fen, ref, err := fundForm(r, false)
	if err == nil && (year < 2000 || year > 2100) {
		err = apperr.Invalid("year", "invalid_year", "请填写年度")
	}
	if err == nil && programme == "" {
		err = apperr.Invalid("programme", "programme_required", "请选择救助项目")
	}
	if err == nil {
		err = s.Payroll.Spend(r.Context(), currentUser(r), county, programme, year, fen, ref)
	}
	s.fundDone(w, r, county, year, err, "fund_spent")
}

type reserveData struct {
	Township  string
	County    string
	Balance   int64
	Entries   []payroll.ReserveEntry
	CanFill   bool
	Replenish formState
	ledgerText
}

func (s *Server) reservePage(w http.ResponseWriter, r *http.Request) { s.reserveRender(w, r, nil) }

func (s *Server) reserveRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	code := r.PathValue("township")
	t, ok := s.Tree.Get(code)
	if !ok || t.Level != region.Township || t.Code != code {
		s.render(w, r, http.StatusOK, "error", "乡镇备用金", nil, apperr.NotFound("没有这个乡镇（街道）"))
		return
	}
	bal, entries, lerr := s.Payroll.Reserve(r.Context(), u, code)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "乡镇备用金", nil, lerr)
		return
	}
	d := reserveData{Township: code, County: t.Parent, Balance: bal, Entries: entries,
		// mirrors payroll.Replenish, which decides
		CanFill:   u.Can(auth.PayrollLedger) && region.Within(u.Region, code),
		Replenish: postedForm(r, "replenish", nil)}
	s.render(w, r, http.StatusOK, "payroll_reserve", t.Name+"备用金", d, err)
}

func (s *Server) reserveReplenish(w http.ResponseWriter, r *http.Request) {
	township := r.PathValue("township")
	fen, err := formFen(r, "amount", "amount_fen", "拨付金额", true, false)
	if err == nil {
		err = s.Payroll.Replenish(r.Context(), currentUser(r), township, fen, strings.TrimSpace(r.PostFormValue("reference")))
	}
	if err != nil {
		s.reserveRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/payroll/reserves/"+url.PathEscape(township)+"?ok=reserve_replenished", http.StatusSeeOther)
}

// ---- recoveries ----

// ledgerText names states and kinds in Chinese for the templates.
type ledgerText struct{}

var recoveryStates = map[string]string{payroll.RecoveryOpen: "追缴中", payroll.RecoverySettled: "已结清",
	payroll.RecoveryWOPending: "核销待审批", payroll.RecoveryWrittenOff: "已核销"}

// State names a recovery's state.
func (ledgerText) State(st string) string {
	if l, ok := recoveryStates[st]; ok {
		return l
	}
	return st
}

// Entry names a movement of a recovery or of a reserve fund.
func (ledgerText) Entry(kind string) string {
	if l, ok := map[string]string{"repayment": "缴回", "offset": "发放抵扣", "writeoff": "核销",
		"replenish": "县级拨付", "advance": "先行救助支出", "adjust": "收回（调减）"}[kind]; ok {
		return l
	}
	return kind
}

// recoveryKind is why a wrong payment is recovered. Only fraud may be fined
// (《社会救助暂行办法》第六十八条).
type recoveryKind struct{ Value, Label, Short string }

var recoveryKinds = []recoveryKind{
	{"fraud", "虚报、隐瞒、伪造等手段骗取救助", "骗取救助"},
	{"late_report", "家庭情况变化未按规定及时报告", "变化未及时报告"},
	{"after_death", "救助对象死亡后继续发放", "死亡后继续发放"},
	{"other", "其他原因多发、错发", "其他"},
}

type recoveriesData struct {
	Totals     []payroll.RecoveryTotal
	Recoveries []*payroll.Recovery
	CanLedger  bool
	Kinds      []recoveryKind
	ledgerText
}

func (s *Server) recoveriesPage(w http.ResponseWriter, r *http.Request) {
	s.recoveriesRender(w, r, nil)
}

func (s *Server) recoveriesRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	d := recoveriesData{CanLedger: u.Can(auth.PayrollLedger), Kinds: recoveryKinds}
	var lerr error
	if d.Totals, lerr = s.Payroll.RecoveryTotals(r.Context(), u); lerr == nil {
		d.Recoveries, lerr = s.Payroll.Recoveries(r.Context(), u)
	}
	if err == nil {
		err = lerr
	}
	if r.Method == http.MethodGet {
		r.Form = url.Values{"fine_multiple": {"0"}}
	}
	s.render(w, r, http.StatusOK, "payroll_recoveries", "追缴", d, err)
}

// recoveryInput turns the open form into the service's NewRecovery: the
// person by ID number, the case (optional) by its number among the person's
// household's cases, the fine as a multiple of the amount due, the reason
// from its kind, the decision's document number and the details.
func (s *Server) recoveryInput(r *http.Request) (payroll.NewRecovery, error) {
	var in payroll.NewRecovery
	u := currentUser(r)
	var kind *recoveryKind
	for i := range recoveryKinds {
		if recoveryKinds[i].Value == r.PostFormValue("kind") {
			kind = &recoveryKinds[i]
		}
	}
	if kind == nil {
		return in, apperr.Invalid("kind", "kind_required", "请选择追缴原因")
	}
	details := strings.TrimSpace(r.PostFormValue("details"))
	if kind.Value == "other" && details == "" {
		return in, apperr.Invalid("details", "details_required", "其他原因的追缴请写明具体情况")
	}
	decision := strings.TrimSpace(r.PostFormValue("decision_ref"))
	if decision == "" {
		return in, apperr.Invalid("decision_ref", "reference_required", "请填写追缴决定书文号")
	}
	var err error
	if in.AmountDueFen, err = formFen(r, "amount_due", "amount_due_fen", "应追缴金额", false, false); err != nil {
		return in, err
	}
	multiple, err := strconv.Atoi(r.PostFormValue("fine_multiple"))
	if err != nil || multiple < 0 || multiple > 3 {
		return in, apperr.Invalid("fine_fen", "fine_range", "请选择罚款倍数（不罚款，或1倍、2倍、3倍）")
	}
	if multiple > 0 && kind.Value != "fraud" {
		return in, apperr.Invalid("fine_fen", "fine_not_fraud", "只有以虚报、隐瞒、伪造等手段骗取救助的才可处以罚款（《社会救助暂行办法》第六十八条）；其他原因的追缴请选择“不罚款”")
	}
	in.FineFen = int64(multiple) * in.AmountDueFen
	in.AllowOffset = r.PostFormValue("allow_offset") != ""
	if in.AllowOffset {
		if in.OffsetMaxFen, err = formFen(r, "offset_max", "offset_max_fen", "每月抵扣上限", false, true); err != nil {
			return in, err
		}
	}
	in.Reason = kind.Short + "（" + decision + "）"
	if details != "" {
		in.Reason += "：" + details
	}
	f, err := s.Registry.ByIDNumber(r.Context(), u, r.PostFormValue("id_number"))
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Status == http.StatusNotFound {
			return in, apperr.Invalid("id_number", "person_not_found", e.Message)
		}
		return in, err
	}
	in.PersonID = f.Person.ID
	if no := strings.TrimSpace(r.PostFormValue("case_no")); no != "" {
		if f.Household != nil {
			cases, err := s.Casework.ByHousehold(r.Context(), u, f.Household.ID)
			if err != nil {
				return in, err
			}
			for _, c := range cases {
				if c.No == no {
					in.CaseID = c.ID
				}
			}
		}
		if in.CaseID == 0 {
			return in, apperr.Invalid("case_no", "case_not_found", "该人员所在家庭没有这个编号的案件，请核对案件编号（可不填）")
		}
	}
	return in, nil
}

func (s *Server) recoveryOpen(w http.ResponseWriter, r *http.Request) {
	in, err := s.recoveryInput(r)
	if err == nil {
		var rc *payroll.Recovery
		if rc, err = s.Payroll.OpenRecovery(r.Context(), currentUser(r), in); err == nil {
			http.Redirect(w, r, fmt.Sprintf("/payroll/recoveries/%d?ok=recovery_opened", rc.ID), http.StatusSeeOther)
			return
		}
	}
	s.recoveriesRender(w, r, err)
}

type recoveryData struct {
	R          *payroll.Recovery
	Entries    []payroll.RecoveryEntry
	CanLedger  bool // repay and ask for a write-off
	CanDecide  bool // approve or refuse someone else's write-off request
	OwnRequest bool // the user asked for the pending write-off
	Repay      formState
	WriteOff   formState
	Decide     formState
	ledgerText
}

func (s *Server) recoveryPage(w http.ResponseWriter, r *http.Request) { s.recoveryRender(w, r, nil) }

func (s *Server) recoveryRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	rc, lerr := s.Payroll.Recovery(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "追缴", nil, lerr)
		return
	}
	// the forms mirror payroll.Repay, RequestWriteOff and DecideWriteOff, which decide
	d := recoveryData{R: rc, CanLedger: u.Can(auth.PayrollLedger) && rc.State == payroll.RecoveryOpen,
		OwnRequest: rc.State == payroll.RecoveryWOPending && rc.WriteoffBy == u.Username,
		Repay:      postedForm(r, "repay", nil), WriteOff: postedForm(r, "writeoff", nil), Decide: postedForm(r, "decide", nil)}
	d.CanDecide = u.Can(auth.PayrollApprove) && rc.State == payroll.RecoveryWOPending && !d.OwnRequest
	d.Entries, lerr = s.Payroll.RecoveryEntries(r.Context(), u, rc.ID)
	if err == nil {
		err = lerr
	}
	s.render(w, r, http.StatusOK, "payroll_recovery", fmt.Sprintf("追缴 %d", rc.ID), d, err)
}

// recoveryDone goes back to the recovery page with a notice, or shows it
// with the refusal.
func (s *Server) recoveryDone(w http.ResponseWriter, r *http.Request, err error, ok string) {
	if err != nil {
		s.recoveryRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/payroll/recoveries/%d?ok=%s", pathID(r, "id"), ok), http.StatusSeeOther)
}

// recoveryCurrent refuses a form made from an older state of the recovery (a
// second click, or someone else's change in between): the service's own
// version check covers only a change while it writes.
func (s *Server) recoveryCurrent(r *http.Request) error {
	rc, err := s.Payroll.Recovery(r.Context(), currentUser(r), pathID(r, "id"))
	if err != nil {
		return err
	}
	if v := strings.TrimSpace(r.PostFormValue("version")); v != strconv.Itoa(rc.Version) {
		return apperr.Stale()
	}
	return nil
}

func (s *Server) recoveryRepay(w http.ResponseWriter, r *http.Request) {
	err := s.recoveryCurrent(r)
	var fen int64
	if err == nil {
		fen, err = formFen(r, "amount", "amount_fen", "缴回金额", false, false)
	}
	if err == nil {
		_, err = s.Payroll.Repay(r.Context(), currentUser(r), pathID(r, "id"), fen, strings.TrimSpace(r.PostFormValue("reference")))
	}
	s.recoveryDone(w, r, err, "recovery_repaid")
}

func (s *Server) recoveryWriteOff(w http.ResponseWriter, r *http.Request) {
	err := s.recoveryCurrent(r)
	if err == nil {
		_, err = s.Payroll.RequestWriteOff(r.Context(), currentUser(r), pathID(r, "id"), strings.TrimSpace(r.PostFormValue("reason")))
	}
	s.recoveryDone(w, r, err, "writeoff_requested")
}

func (s *Server) recoveryDecide(w http.ResponseWriter, r *http.Request) {
	err := s.recoveryCurrent(r)
	decision := r.PostFormValue("decision")
	if err == nil && decision != "approve" && decision != "refuse" {
		err = apperr.Invalid("decision", "decision_required", "请选择批准核销或不予核销")
	}
	if err == nil {
		_, err = s.Payroll.DecideWriteOff(r.Context(), currentUser(r), pathID(r, "id"), decision == "approve")
	}
	ok := "writeoff_approved"
	if decision == "refuse" {
		ok = "writeoff_refused"
	}
	s.recoveryDone(w, r, err, ok)
}
