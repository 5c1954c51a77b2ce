package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/registry"
)

var errMismatch = apperr.Invalid("new_password2", "mismatch", "两次输入的新密码不一致")

type searchData struct {
	Hits    []registry.Found
	More    bool
	Done    bool
	Kind    string
	Regions []regionOption
}

type regionOption struct{ Code, Name string }

// scopeRegions lists the user's node and its children down to the county, as a
// region filter for name search.
func (s *Server) scopeRegions(code string) []regionOption {
	out := []regionOption{{code, s.Tree.FullName(code)}}
	for _, c := range s.Tree.Children(code) {
		out = append(out, regionOption{c.Code, "　" + c.Name})
	}
	return out
}

func (s *Server) registrySearch(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	q := r.URL.Query()
	d := searchData{Kind: q.Get("kind"), Regions: s.scopeRegions(u.Region)}
	if d.Kind == "" {
		d.Kind = "id"
	}
	var err error
	switch {
	case q.Get("id_number") != "":
		d.Done = true
		var f *registry.Found
		if f, err = s.Registry.ByIDNumber(r.Context(), u, q.Get("id_number")); err == nil {
			if f.Household != nil && q.Get("go") != "" {
				http.Redirect(w, r, "/households/"+strconv.FormatInt(f.Household.ID, 10), http.StatusSeeOther)
				return
			}
			d.Hits = []registry.Found{*f}
		}
	case q.Get("name") != "":
		d.Done = true
		d.Hits, d.More, err = s.Registry.SearchByName(r.Context(), u, q.Get("region"), q.Get("name"), 50)
	case q.Get("household_no") != "":
		d.Done = true
		var h *registry.Household
		if h, err = s.Registry.ByHouseholdNo(r.Context(), u, q.Get("household_no")); err == nil {
			http.Redirect(w, r, "/households/"+strconv.FormatInt(h.ID, 10), http.StatusSeeOther)
			return
		}
	}
	if e, ok := apperr.As(err); ok && e.Status == http.StatusNotFound {
		err = nil // "nothing found" is a result, not an error
	}
	s.render(w, r, http.StatusOK, "registry", "户籍查询", d, err)
}

func personInput(r *http.Request) registry.PersonInput {
	return registry.PersonInput{
		IDNumber: r.PostFormValue("id_number"), Name: r.PostFormValue("name"), Sex: r.PostFormValue("sex"), BirthDate: r.PostFormValue("birth_date"),
		Phone: r.PostFormValue("phone"), Relation: r.PostFormValue("relation"), CoResident: r.PostFormValue("co_resident") != "",
		DisabilityKind: r.PostFormValue("disability_kind"), DisabilityLevel: formInt(r, "disability_level"), SelfCareFailed: r.PostForm["self_care_failed"],
		Student: r.PostFormValue("student"), SeriousIllness: r.PostFormValue("serious_illness") != "", AbleToWork: r.PostFormValue("able_to_work") != "",
	}
}

// villageOptions lists the villages a user registers households in, when the
// list is short enough for a drop-down (a township's or a small county's).
func (s *Server) villageOptions(u *auth.User) []regionOption {
	vs := s.Tree.Villages(u.Region)
	if len(vs) > 600 {
		return nil
	}
	out := make([]regionOption, 0, len(vs))
	for _, v := range vs {
		name := v.Name
		if p, ok := s.Tree.Get(v.Parent); ok {
			name = p.Name + " " + v.Name
		}
		out = append(out, regionOption{v.Code, name})
	}
	return out
}

func (s *Server) householdNewForm(w http.ResponseWriter, r *http.Request) {
	r.Form = url.Values{"co_resident": {"1"}, "able_to_work": {"1"}, "hukou": {"rural"}}
	s.render(w, r, http.StatusOK, "household_new", "新建户籍登记", s.villageOptions(currentUser(r)), nil)
}

func (s *Server) householdCreate(w http.ResponseWriter, r *http.Request) {
	in := registry.HouseholdInput{Region: strings.TrimSpace(r.PostFormValue("region")), Hukou: r.PostFormValue("hukou"), Address: r.PostFormValue("address"),
		Phone: r.PostFormValue("hh_phone"), Head: personInput(r), Reason: r.PostFormValue("reason")}
	h, err := s.Registry.CreateHousehold(r.Context(), currentUser(r), in)
	if err != nil {
		s.render(w, r, http.StatusOK, "household_new", "新建户籍登记", s.villageOptions(currentUser(r)), err)
		return
	}
	http.Redirect(w, r, "/households/"+strconv.FormatInt(h.ID, 10)+"?ok=created", http.StatusSeeOther)
}

type householdData struct {
	H       *registry.Household
	History []registry.Change
	Reveal  map[int64]string
	Cases   []*casework.Case
	Verify  *householdVerify // the economic verification section, for those who request it
	Help    *householdHelp   // needs, referrals and the help received from every source
}

func (s *Server) householdPage(w http.ResponseWriter, r *http.Request, status int, err error, reveal map[int64]string) {
	u := currentUser(r)
	h, lerr := s.Registry.Household(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "户信息", nil, lerr)
		return
	}
	hist, lerr := s.Registry.History(r.Context(), u, h.ID)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "户信息", nil, lerr)
		return
	}
	var cases []*casework.Case
	if u.Can(auth.CaseRead) {
		if cases, lerr = s.Casework.ByHousehold(r.Context(), u, h.ID); lerr != nil {
			s.render(w, r, http.StatusOK, "error", "户信息", nil, lerr)
			return
		}
	}
	vd, lerr := s.verifyHousehold(r.Context(), u, h.ID)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "户信息", nil, lerr)
		return
	}
	help, lerr := s.householdHelp(r.Context(), u, h.ID, cases)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "户信息", nil, lerr)
		return
	}
	s.render(w, r, status, "household", "户信息 "+h.No, householdData{H: h, History: hist, Reveal: reveal, Cases: cases, Verify: vd, Help: help}, err)
}

func (s *Server) householdView(w http.ResponseWriter, r *http.Request) {
	s.householdPage(w, r, http.StatusOK, nil, nil)
}

// afterWrite redirects on success, or shows the household page again with the
// error: the form values stay in r.Form so nothing typed is lost.
func (s *Server) afterWrite(w http.ResponseWriter, r *http.Request, err error, ok string) {
	if err != nil {
		s.householdPage(w, r, http.StatusOK, err, nil)
		return
	}
	http.Redirect(w, r, "/households/"+r.PathValue("id")+"?ok="+ok, http.StatusSeeOther)
}

func (s *Server) householdUpdate(w http.ResponseWriter, r *http.Request) {
	_, err := s.Registry.UpdateHousehold(r.Context(), currentUser(r), pathID(r, "id"), registry.HouseholdUpdate{
		Version: formInt(r, "version"), Hukou: r.PostFormValue("hukou"), Address: r.PostFormValue("address"), Phone: r.PostFormValue("phone"), Reason: r.PostFormValue("reason")})
	s.afterWrite(w, r, err, "saved")
}

func (s *Server) memberNewForm(w http.ResponseWriter, r *http.Request) {
	h, err := s.Registry.Household(r.Context(), currentUser(r), pathID(r, "id"))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "增加成员", nil, err)
		return
	}
	r.Form = url.Values{"co_resident": {"1"}, "able_to_work": {"1"}, "version": {strconv.Itoa(h.Version)}}
	s.render(w, r, http.StatusOK, "member_new", "增加成员", h, nil)
}

func (s *Server) memberAdd(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	_, err := s.Registry.AddMember(r.Context(), u, pathID(r, "id"), formInt(r, "version"), personInput(r), r.PostFormValue("reason"))
	if err != nil {
		h, herr := s.Registry.Household(r.Context(), u, pathID(r, "id"))
		if herr != nil {
			err = herr
		}
		s.render(w, r, http.StatusOK, "member_new", "增加成员", h, err)
		return
	}
	http.Redirect(w, r, "/households/"+r.PathValue("id")+"?ok=member_added", http.StatusSeeOther)
}

func (s *Server) memberRemove(w http.ResponseWriter, r *http.Request) {
	err := s.Registry.RemoveMember(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), pathID(r, "pid"), r.PostFormValue("why"), r.PostFormValue("reason"))
	s.afterWrite(w, r, err, "member_removed")
}

func (s *Server) householdSplit(w http.ResponseWriter, r *http.Request) {
	var ids []int64
	for _, v := range r.PostForm["persons"] {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	head, _ := strconv.ParseInt(r.PostFormValue("new_head"), 10, 64)
	nh, err := s.Registry.Split(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), ids, head, r.PostFormValue("address"), r.PostFormValue("reason"))
	if err != nil {
		s.afterWrite(w, r, err, "")
		return
	}
	http.Redirect(w, r, "/households/"+strconv.FormatInt(nh.ID, 10)+"?ok=split", http.StatusSeeOther)
}

func (s *Server) householdMerge(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	src, err := s.Registry.ByHouseholdNo(r.Context(), u, r.PostFormValue("source_no"))
	if err == nil {
		err = s.Registry.Merge(r.Context(), u, pathID(r, "id"), formInt(r, "version"), src.ID, src.Version, r.PostFormValue("reason"))
	}
	s.afterWrite(w, r, err, "merged")
}

func (s *Server) householdMove(w http.ResponseWriter, r *http.Request) {
	err := s.Registry.Move(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), strings.TrimSpace(r.PostFormValue("region")), r.PostFormValue("address"), r.PostFormValue("reason"))
	s.afterWrite(w, r, err, "moved")
}

func (s *Server) supporterAdd(w http.ResponseWriter, r *http.Request) {
	income, err := parseYuan(r.PostFormValue("monthly_income"))
	if err == nil {
		_, err = s.Registry.AddSupporter(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), registry.SupporterInput{
			Name: r.PostFormValue("name"), IDNumber: r.PostFormValue("id_number"), Relation: r.PostFormValue("relation"), Duty: r.PostFormValue("duty"),
			Address: r.PostFormValue("address"), OnDibao: r.PostFormValue("on_dibao") != "", OnTekun: r.PostFormValue("on_tekun") != "",
			DisabilityKind: r.PostFormValue("disability_kind"), DisabilityLevel: formInt(r, "disability_level"), MonthlyIncomeFen: income,
			AssetsWithinRules: r.PostFormValue("assets_within_rules") != ""}, r.PostFormValue("reason"))
	}
	s.afterWrite(w, r, err, "supporter")
}

func (s *Server) supporterRemove(w http.ResponseWriter, r *http.Request) {
	err := s.Registry.RemoveSupporter(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), pathID(r, "sid"), r.PostFormValue("reason"))
	s.afterWrite(w, r, err, "supporter")
}

// parseYuan reads an amount typed in yuan ("1200", "1,200.50") into fen.
func parseYuan(v string) (int64, error) {
	v = strings.ReplaceAll(strings.TrimSpace(v), ",", "")
	if v == "" {
		return 0, nil
	}
	whole, frac, _ := strings.Cut(v, ".")
	if len(frac) > 2 {
		return 0, apperr.Invalid("monthly_income", "invalid_amount", "金额最多保留两位小数")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n < 0 {
		return 0, apperr.Invalid("monthly_income", "invalid_amount", "金额格式不正确，请输入不小于0的数字（元）")
	}
	return n, nil
}

type personData struct {
	P       *registry.Person
	History []registry.Change
}

func (s *Server) personView(w http.ResponseWriter, r *http.Request) {
	p, hist, err := s.Registry.Person(r.Context(), currentUser(r), pathID(r, "id"))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "人员信息", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "person", "人员信息 "+p.Name, personData{P: p, History: hist}, nil)
}

type personEditData struct {
	P *registry.Person
	H *registry.Household
}

func (s *Server) personEditForm(w http.ResponseWriter, r *http.Request) {
	d, err := s.personData(r)
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "修改成员信息", nil, err)
		return
	}
	p := d.P
	r.Form = url.Values{"name": {p.Name}, "phone": {p.Phone}, "relation": {p.Relation}, "disability_kind": {p.DisabilityKind},
		"disability_level": {strconv.Itoa(p.DisabilityLevel)}, "student": {p.Student}, "self_care_failed": p.SelfCareItems, "version": {strconv.Itoa(p.Version)}}
	for k, b := range map[string]bool{"co_resident": p.CoResident, "serious_illness": p.SeriousIllness, "able_to_work": p.AbleToWork} {
		if b {
			r.Form.Set(k, "1")
		}
	}
	s.render(w, r, http.StatusOK, "person_edit", "修改成员信息", d, nil)
}

// personData finds the person (in scope) and their household for the edit page.
func (s *Server) personData(r *http.Request) (personEditData, error) {
	u := currentUser(r)
	var d personEditData
	hhID, err := strconv.ParseInt(r.URL.Query().Get("household"), 10, 64)
	if err != nil {
		hhID, _ = strconv.ParseInt(r.PostFormValue("household"), 10, 64)
	}
	h, err := s.Registry.Household(r.Context(), u, hhID)
	if err != nil {
		return d, err
	}
	d.H = h
	for _, m := range h.Members {
		if m.ID == pathID(r, "id") {
			d.P = m
		}
	}
	if d.P == nil {
		return d, apperr.NotFound("该人员不是本户成员或不在您的管辖范围内")
	}
	return d, nil
}

func (s *Server) personUpdate(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	in := personInput(r)
	in.IDNumber = "" // the ID number is not editable
	_, err := s.Registry.UpdatePerson(r.Context(), u, pathID(r, "id"), formInt(r, "version"), in, r.PostFormValue("reason"))
	if err != nil {
		d, derr := s.personData(r)
		if derr != nil {
			err = derr
		}
		s.render(w, r, http.StatusOK, "person_edit", "修改成员信息", d, err)
		return
	}
	http.Redirect(w, r, "/households/"+r.PostFormValue("household")+"?ok=saved", http.StatusSeeOther)
}

func (s *Server) bankAccountAdd(w http.ResponseWriter, r *http.Request) {
	_, err := s.Registry.AddBankAccount(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), registry.BankAccountInput{
		BankCode: r.PostFormValue("bank_code"), BankName: r.PostFormValue("bank_name"), Number: r.PostFormValue("number")}, r.PostFormValue("reason"))
	r.SetPathValue("id", r.PostFormValue("household"))
	s.afterWrite(w, r, err, "bank")
}

func (s *Server) personReveal(w http.ResponseWriter, r *http.Request) {
	n, err := s.Registry.RevealIDNumber(r.Context(), currentUser(r), pathID(r, "id"))
	pid := pathID(r, "id")
	r.SetPathValue("id", r.PostFormValue("household"))
	if err != nil {
		s.householdPage(w, r, http.StatusOK, err, nil)
		return
	}
	s.householdPage(w, r, http.StatusOK, nil, map[int64]string{pid: n})
}
