package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
)

// policyRoutes registers the pages of the rules and standards.
func (s *Server) policyRoutes(mux *http.ServeMux) {
	mux.Handle("GET /policy", s.auth("", s.policyList))
	mux.Handle("GET /policy/cases", s.auth("", s.ruleCases))
	mux.Handle("GET /policy/{name}", s.auth("", s.policyView))
	mux.Handle("POST /policy/{name}/schedule", s.auth(auth.PolicySchedule, s.policySchedule))
	mux.Handle("POST /policy/values/{id}/approve", s.auth(auth.PolicyApprove, s.policyDecide(true)))
	mux.Handle("POST /policy/values/{id}/reject", s.auth(auth.PolicyApprove, s.policyDecide(false)))
	mux.Handle("GET /calculate", s.auth("", s.calculateForm))
	mux.Handle("POST /calculate", s.auth("", s.calculateSubmit))
	mux.Handle("GET /simulate", s.auth(auth.RegistryRead, s.simulateForm))
	mux.Handle("POST /simulate", s.auth(auth.RegistryRead, s.simulateSubmit))
}

func today() time.Time {
	t := time.Now().In(cst)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

type paramLine struct {
	Name, Description, Unit string
	Value                   string // province value today
	Start, Reference        string
	Demo                    bool
	Regions                 int // regions with their own values
}

type policyListData struct {
	Params  []paramLine
	Pending []policydb.Row
	Today   string
}

func (s *Server) policyList(w http.ResponseWriter, r *http.Request) {
	set, err := s.Policy.Effective(r.Context())
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "救助标准", nil, err)
		return
	}
	d := policyListData{Today: today().Format(time.DateOnly)}
	for _, name := range set.Names() {
		p, _ := set.Parameter(name)
		l := paramLine{Name: name, Description: p.Description, Unit: unitLabel[p.Unit]}
		regions := map[string]bool{}
		for _, v := range p.Values {
			regions[v.Region] = true
		}
		l.Regions = len(regions)
		if v, err := set.Resolve(name, s.Tree.Root.Code, today()); err == nil {
			l.Value, l.Start, l.Reference, l.Demo = v.String(), v.Start.Format(time.DateOnly), v.Reference, v.Demo
		}
		d.Params = append(d.Params, l)
	}
	u := currentUser(r)
	if u.Can(auth.PolicyApprove) {
		if d.Pending, err = s.Policy.Pending(r.Context(), u); err != nil {
			s.render(w, r, http.StatusOK, "error", "救助标准", nil, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "policy", "救助标准", d, nil)
}

var unitLabel = map[policy.Unit]string{policy.UnitFen: "元", policy.UnitRatio: "比例/倍数", policy.UnitCount: "数量",
	policy.UnitMonths: "月", policy.UnitBool: "是/否", policy.UnitExpr: "表达式"}

type regionHistory struct {
	Region, RegionName string
	Rows               []policydb.Row
}

type policyViewData struct {
	Name, Description, Unit string
	Regions                 []regionHistory
	CanSchedule, CanApprove bool
	UserID                  string
	Tomorrow                string
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, err error) {
	name := r.PathValue("name")
	p, ok := s.Policy.Base.Parameter(name)
	if !ok {
		s.render(w, r, http.StatusNotFound, "error", "救助标准", nil, apperr.NotFound("参数不存在："+name))
		return
	}
	rows, lerr := s.Policy.History(r.Context(), name)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "救助标准", nil, lerr)
		return
	}
	u := currentUser(r)
	d := policyViewData{Name: name, Description: p.Description, Unit: unitLabel[p.Unit], CanSchedule: u.Can(auth.PolicySchedule),
		CanApprove: u.Can(auth.PolicyApprove), UserID: u.Username, Tomorrow: today().AddDate(0, 0, 1).Format(time.DateOnly)}
	for _, row := range rows {
		if n := len(d.Regions); n == 0 || d.Regions[n-1].Region != row.Region {
			name := row.Region
			if reg, ok := s.Tree.Get(row.Region); ok {
				name = s.Tree.FullName(reg.Code)
			}
			d.Regions = append(d.Regions, regionHistory{Region: row.Region, RegionName: name})
		}
		d.Regions[len(d.Regions)-1].Rows = append(d.Regions[len(d.Regions)-1].Rows, row)
	}
	if r.Method == http.MethodGet {
		r.Form = url.Values{"region": {s.scheduleRegion(u)}, "start": {d.Tomorrow}}
	}
	s.render(w, r, http.StatusOK, "policy_param", p.Description+" "+name, d, err)
}

// scheduleRegion proposes the user's own node as the region of a new value.
func (s *Server) scheduleRegion(u *auth.User) string {
	if reg, ok := s.Tree.Get(u.Region); ok {
		return reg.Prefix
	}
	return u.Region
}

func (s *Server) policyView(w http.ResponseWriter, r *http.Request) { s.policyPage(w, r, nil) }

func (s *Server) policySchedule(w http.ResponseWriter, r *http.Request) {
	_, err := s.Policy.Schedule(r.Context(), currentUser(r), policydb.Proposal{Name: r.PathValue("name"), Region: strings.TrimSpace(r.PostFormValue("region")),
		Start: strings.TrimSpace(r.PostFormValue("start")), Value: r.PostFormValue("value"), Reference: r.PostFormValue("reference"),
		Demo: r.PostFormValue("demo") != "", Note: r.PostFormValue("note")})
	if err != nil {
		s.policyPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/policy/"+url.PathEscape(r.PathValue("name"))+"?ok=saved", http.StatusSeeOther)
}

func (s *Server) policyDecide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		decide := s.Policy.Reject
		if approve {
			decide = s.Policy.Approve
		}
		row, err := decide(r.Context(), currentUser(r), pathID(r, "id"), r.PostFormValue("note"))
		back := r.PostFormValue("back")
		if err != nil {
			if back != "" {
				r.SetPathValue("name", back)
				s.policyPage(w, r, err)
				return
			}
			s.render(w, r, http.StatusOK, "error", "审批", nil, err)
			return
		}
		http.Redirect(w, r, "/policy/"+url.PathEscape(row.Name)+"?ok=saved", http.StatusSeeOther)
	}
}

// caseLine is one rule case as a caseworker reads it.
type caseLine struct {
	calc.Case
	Summary    []string
	Parameters []string
	Expected   []string
}

func (s *Server) ruleCases(w http.ResponseWriter, r *http.Request) {
	cases, err := calc.Cases()
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "规则测试用例", nil, err)
		return
	}
	labels := programmeLabels()
	var out []caseLine
	for _, c := range cases {
		l := caseLine{Case: c}
		if sit, err := calc.ParseSituation(c.SituationJSON); err == nil {
			l.Summary = s.summarise(&sit)
		}
		for name, v := range c.Parameters {
			l.Parameters = append(l.Parameters, name+" = "+v)
		}
		sort.Strings(l.Parameters)
		for name, e := range c.Expect.Programmes {
			l.Expected = append(l.Expected, labels[name]+"："+expectText(e))
		}
		sort.Strings(l.Expected)
		out = append(out, l)
	}
	s.render(w, r, http.StatusOK, "rulecases", "规则测试用例", out, nil)
}

func programmeLabels() map[string]string {
	m := map[string]string{}
	for _, k := range calc.ProgrammeKinds() {
		m[k.Name] = k.Label
	}
	return m
}

func kindLabels(kinds []calc.Kind) map[string]string {
	m := map[string]string{}
	for _, k := range kinds {
		m[k.Name] = k.Label
	}
	return m
}

// summarise describes a situation in a few Chinese lines.
func (s *Server) summarise(sit *calc.Situation) []string {
	hukou := map[string]string{"urban": "城镇户籍", "rural": "农村户籍"}[sit.Household.Hukou]
	out := []string{sit.Date + "，" + s.Tree.FullName(sit.Region) + "，" + hukou + "，" + strconv.Itoa(len(sit.Household.Members)) + " 人"}
	inc, ast := kindLabels(calc.IncomeKinds()), kindLabels(calc.AssetKinds())
	for _, m := range sit.Household.Members {
		line := m.ID + "：" + m.BirthDate + " 生，" + relationLabel(m.Relation)
		if m.Disability != nil {
			line += "，残疾 " + m.Disability.Kind + " " + strconv.Itoa(m.Disability.Level) + " 级"
		}
		if m.SelfCareFailedItems > 0 {
			line += "，自理能力 " + strconv.Itoa(m.SelfCareFailedItems) + " 项不能完成"
		}
		if m.Student != "" && m.Student != "none" {
			line += "，在校（" + m.Student + "）"
		}
		if m.SeriousIllness {
			line += "，重病"
		}
		if m.AbleToWork != nil && !*m.AbleToWork {
			line += "，无劳动能力"
		}
		for _, in := range m.Incomes {
			line += "，" + inc[in.Kind] + " " + in.MonthlyFen.String() + " 元/月"
		}
		for _, a := range m.Assets {
			line += "，" + ast[a.Kind] + " " + a.ValueFen.String() + " 元"
		}
		out = append(out, line)
	}
	if n := len(sit.Household.Supporters); n > 0 {
		out = append(out, "赡养（抚养、扶养）义务人 "+strconv.Itoa(n)+" 人")
	}
	if q := sit.Request; q != nil {
		out = append(out, "临时救助申请："+q.Kind+"，需求 "+q.NeedFen.String()+" 元")
	}
	if c := sit.Household.Current; c != nil {
		out = append(out, "现享受："+c.Programme+" "+c.MonthlyFen.String()+" 元/月（自 "+c.Since+"）")
	}
	return out
}

func relationLabel(rel string) string {
	switch rel {
	case "head":
		return "户主"
	case "grandchild":
		return "孙子女"
	}
	return labelOf(relationOptions, rel)
}

func expectText(e calc.ExpectProgramme) string {
	var parts []string
	if e.Eligible != nil {
		parts = append(parts, map[bool]string{true: "符合", false: "不符合"}[*e.Eligible])
	}
	if e.MonthlyFen != nil {
		parts = append(parts, "每月 "+e.MonthlyFen.String()+" 元")
	}
	if e.AmountFen != nil {
		parts = append(parts, "一次性 "+e.AmountFen.String()+" 元")
	}
	if e.AdvanceFen != nil {
		parts = append(parts, "乡镇先行 "+e.AdvanceFen.String()+" 元")
	}
	if e.Category != nil {
		parts = append(parts, "类别 "+*e.Category)
	}
	if e.Approver != nil {
		parts = append(parts, map[string]string{"township": "乡镇审批", "county": "县级审批"}[*e.Approver])
	}
	if e.Unit != nil {
		parts = append(parts, map[string]string{"household": "按户", "individual": "单人保"}[*e.Unit])
	}
	for id, f := range e.Members {
		parts = append(parts, id+" "+f.String()+" 元")
	}
	for _, r := range e.ReasonsContain {
		parts = append(parts, "理由含“"+r+"”")
	}
	return strings.Join(parts, "；")
}

// --- /calculate ---

type option struct{ Value, Label string }

var (
	relationOptions = []option{{"head", "户主/申请人"}, {"spouse", "配偶"}, {"child", "子女"}, {"parent", "父母"}, {"grandchild", "孙子女、外孙子女"}, {"sibling", "兄弟姐妹"}, {"other", "其他"}}
	studentOptions  = []option{{"none", "非在校"}, {"compulsory", "义务教育"}, {"senior_high", "普通高中"}, {"vocational", "中职/高职"}, {"bachelor", "本科及以下全日制"}, {"graduate", "研究生"}}
	disOptions      = []option{{"", "无"}, {"physical", "肢体"}, {"intellectual", "智力"}, {"mental", "精神"}, {"visual", "视力"}, {"hearing", "听力"}, {"speech", "言语"}, {"multiple", "多重"}}
)

func labelOf(opts []option, v string) string {
	for _, o := range opts {
		if o.Value == v {
			return o.Label
		}
	}
	return v
}

const formMembers = 6

type memberSlot struct{ I, No int }

type calcData struct {
	Members    []memberSlot
	Pair       []int // two income rows per member, two asset rows
	Relations  []option
	Students   []option
	Disability []option
	Incomes    []calc.Kind
	Assets     []calc.Kind
	Programmes []calc.Kind
	JSON       string
	Result     *calc.Result
	Lines      []resultLine
}

type resultLine struct {
	Name, Label string
	R           *calc.ProgrammeResult
}

func (s *Server) calcData() *calcData {
	d := &calcData{Relations: relationOptions, Students: studentOptions, Disability: disOptions,
		Incomes: calc.IncomeKinds(), Assets: calc.AssetKinds(), Programmes: calc.ProgrammeKinds(), Pair: []int{0, 1}}
	for i := range formMembers {
		d.Members = append(d.Members, memberSlot{i, i + 1})
	}
	return d
}

func (s *Server) calculateForm(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	region := u.Region
	if len(s.Tree.Villages(u.Region)) > 0 {
		region = s.Tree.Villages(u.Region)[0].Code
	}
	r.Form = url.Values{"date": {today().Format(time.DateOnly)}, "region": {region}, "hukou": {"rural"}, "relation0": {"head"},
		"co_resident0": {"1"}, "able0": {"1"}}
	for i := 1; i < formMembers; i++ {
		r.Form.Set("co_resident"+strconv.Itoa(i), "1")
		r.Form.Set("able"+strconv.Itoa(i), "1")
		r.Form.Set("relation"+strconv.Itoa(i), "child")
	}
	s.render(w, r, http.StatusOK, "calculate", "救助测算", s.calcData(), nil)
}

// calculateSubmit evaluates the pasted JSON situation, or the one the form
// describes; the form is turned into the same JSON, shown with the result so
// that it can be kept or sent to the API.
func (s *Server) calculateSubmit(w http.ResponseWriter, r *http.Request) {
	d := s.calcData()
	body := strings.TrimSpace(r.PostFormValue("json"))
	var err error
	if body == "" || r.PostFormValue("use") == "form" {
		var b []byte
		b, err = situationFromForm(r)
		body = string(b)
	}
	d.JSON = body
	if err == nil {
		var res calc.Result
		if res, err = s.Policy.Calculate(r.Context(), []byte(body)); err == nil {
			d.Result = &res
			labels := programmeLabels()
			for _, name := range res.Programmes.Names() {
				pr, _ := res.Programmes.Get(name)
				d.Lines = append(d.Lines, resultLine{Name: name, Label: labels[name], R: pr})
			}
		}
	}
	if pretty, perr := indentJSON(body); perr == nil {
		d.JSON = pretty
	}
	r.Form.Set("json", d.JSON)
	s.render(w, r, http.StatusOK, "calculate", "救助测算", d, err)
}

func indentJSON(s string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	return string(b), err
}

// situationFromForm builds the JSON situation from the household form. Empty
// member rows (no birth date) are skipped; amounts are typed in yuan.
func situationFromForm(r *http.Request) ([]byte, error) {
	f := r.PostFormValue
	sit := map[string]any{"date": strings.TrimSpace(f("date")), "region": strings.TrimSpace(f("region"))}
	if progs := r.PostForm["programmes"]; len(progs) > 0 {
		sit["programmes"] = progs
	}
	var members []map[string]any
	for i := range formMembers {
		n := strconv.Itoa(i)
		birth := strings.TrimSpace(f("birth" + n))
		if birth == "" {
			continue
		}
		id := strings.TrimSpace(f("id" + n))
		if id == "" {
			id = "成员" + strconv.Itoa(i+1)
		}
		m := map[string]any{"id": id, "birth_date": birth, "relation": f("relation" + n), "co_resident": f("co_resident"+n) != "",
			"able_to_work": f("able"+n) != "", "serious_illness": f("ill"+n) != "", "student": f("student" + n)}
		items, err := strconv.Atoi(strings.TrimSpace(f("selfcare" + n)))
		if f("selfcare"+n) != "" && err != nil {
			return nil, apperr.Invalid("selfcare"+n, "invalid_number", "第 "+strconv.Itoa(i+1)+" 位成员：自理能力不能完成项目数须为 0—6 的整数")
		}
		m["self_care_failed_items"] = items
		if kind := f("dis" + n); kind != "" {
			lv, _ := strconv.Atoi(f("dislevel" + n))
			m["disability"] = map[string]any{"kind": kind, "level": lv}
		}
		var incomes []map[string]any
		for j := range 2 {
			k := n + "_" + strconv.Itoa(j)
			if f("inc"+k) == "" || strings.TrimSpace(f("incamt"+k)) == "" {
				continue
			}
			fen, err := money.Parse(strings.TrimSpace(f("incamt" + k)))
			if err != nil {
				return nil, apperr.Invalid("incamt"+k, "invalid_amount", "第 "+strconv.Itoa(i+1)+" 位成员：收入金额格式不正确（以元为单位，如 1200.50）")
			}
			incomes = append(incomes, map[string]any{"kind": f("inc" + k), "monthly_fen": int64(fen)})
		}
		if len(incomes) > 0 {
			m["incomes"] = incomes
		}
		members = append(members, m)
	}
	// Household assets go with the first member (the head, in the form).
	var assets []map[string]any
	for j := range 2 {
		k := strconv.Itoa(j)
		if f("asset"+k) == "" || strings.TrimSpace(f("assetamt"+k)) == "" {
			continue
		}
		fen, err := money.Parse(strings.TrimSpace(f("assetamt" + k)))
		if err != nil {
			return nil, apperr.Invalid("assetamt"+k, "invalid_amount", "财产价值格式不正确（以元为单位）")
		}
		assets = append(assets, map[string]any{"kind": f("asset" + k), "value_fen": int64(fen)})
	}
	if len(assets) > 0 && len(members) > 0 {
		members[0]["assets"] = assets
	}
	if members == nil {
		members = []map[string]any{}
	}
	sit["household"] = map[string]any{"hukou": f("hukou"), "members": members}
	if need := strings.TrimSpace(f("need")); need != "" {
		fen, err := money.Parse(need)
		if err != nil {
			return nil, apperr.Invalid("need", "invalid_amount", "临时救助需求金额格式不正确（以元为单位）")
		}
		sit["request"] = map[string]any{"kind": f("request_kind"), "need_fen": int64(fen)}
	}
	return json.Marshal(sit)
}
