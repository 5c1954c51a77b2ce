package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/verify"
)

func (s *Server) caseRoutes(mux *http.ServeMux) {
	mux.Handle("GET /cases", s.auth(auth.CaseRead, s.caseWorklist))
	mux.Handle("GET /cases/new", s.auth(auth.CaseAct, s.caseNewForm))
	mux.Handle("POST /cases", s.auth(auth.CaseAct, s.caseOpen))
	mux.Handle("GET /cases/{id}", s.auth(auth.CaseRead, s.caseView))
	mux.Handle("POST /cases/{id}/actions", s.auth(auth.CaseAct, s.caseAct))
	mux.Handle("GET /cases/{id}/print/{doc}", s.auth(auth.CaseRead, s.casePrint))
	// dynamic management of an entitlement (DB-37..DB-43, TK-10)
	mux.Handle("POST /cases/{id}/reviews", s.auth(auth.CaseAct, s.caseStartReview))
	mux.Handle("POST /cases/{id}/changes", s.auth(auth.CaseAct, s.caseReportChange))
	mux.Handle("POST /cases/{id}/job-offers", s.auth(auth.CaseAct, s.caseJobOffer))
	// The public notice is posted for everyone (DB-28): no login, masked.
	mux.HandleFunc("GET /public/notices", s.publicNotices)
}

type worklistData struct {
	Items       []casework.WorkItem
	OverdueOnly bool
	Programmes  any
	// OnlinePending counts the online applications waiting in scope.
	OnlinePending int
}

func (s *Server) caseWorklist(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := worklistData{OverdueOnly: q.Get("overdue") != "", Programmes: casework.Programmes}
	items, err := s.Casework.Worklist(r.Context(), currentUser(r), casework.WorklistQuery{OverdueOnly: d.OverdueOnly, Programme: q.Get("programme")})
	d.Items = items
	d.OnlinePending = s.onlinePending(r)
	s.render(w, r, http.StatusOK, "cases", "待办案件", d, err)
}

type caseNewData struct {
	H          *registry.Household
	Programmes any
	Documents  map[string][]casework.Document
	Adults     []*registry.Person
}

func (s *Server) caseNewData(r *http.Request) (caseNewData, error) {
	hhID, _ := strconv.ParseInt(r.FormValue("household"), 10, 64)
	h, err := s.Registry.Household(r.Context(), currentUser(r), hhID)
	if err != nil {
		return caseNewData{}, err
	}
	d := caseNewData{H: h, Programmes: casework.Programmes, Documents: map[string][]casework.Document{}}
	for _, p := range casework.Programmes {
		d.Documents[p.Value] = casework.DocumentLabels(p.Value, "expenditure")
	}
	for _, m := range h.Members {
		if age(m) >= 18 {
			d.Adults = append(d.Adults, m)
		}
	}
	return d, nil
}

func age(p *registry.Person) int { return p.Age(todayCST()) }

func (s *Server) caseNewForm(w http.ResponseWriter, r *http.Request) {
	d, err := s.caseNewData(r)
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "受理申请", nil, err)
		return
	}
	r.Form = url.Values{"household": {strconv.FormatInt(d.H.ID, 10)}, "channel": {"door"}, "programme": {r.URL.Query().Get("programme")}}
	s.render(w, r, http.StatusOK, "case_new", "受理申请", d, nil)
}

func (s *Server) caseOpen(w http.ResponseWriter, r *http.Request) {
	in := casework.Intake{Programme: r.PostFormValue("programme"), Kind: r.PostFormValue("kind"), Channel: r.PostFormValue("channel"),
		AgentName: r.PostFormValue("agent_name"), AcceptedOn: r.PostFormValue("accepted_on"), Documents: r.PostForm["documents"],
		Pledge: r.PostFormValue("pledge") != "", Special: r.PostFormValue("special") != "", SpecialReason: r.PostFormValue("special_reason"),
		CloseRelative: r.PostFormValue("close_relative") != "", StaffName: r.PostFormValue("staff_name"), StaffPost: r.PostFormValue("staff_post"),
		Relation: r.PostFormValue("relation"), Reason: r.PostFormValue("reason")}
	in.HouseholdID, _ = strconv.ParseInt(r.PostFormValue("household"), 10, 64)
	in.ApplicantID, _ = strconv.ParseInt(r.PostFormValue("applicant"), 10, 64)
	in.Authorisations = ids(r.PostForm["authorisations"])
	var err error
	if in.RequestedFen, err = parseYuan(r.PostFormValue("requested")); err == nil {
		var cs *casework.Case
		if cs, err = s.Casework.Open(r.Context(), currentUser(r), in); err == nil {
			http.Redirect(w, r, "/cases/"+strconv.FormatInt(cs.ID, 10)+"?ok=case_opened", http.StatusSeeOther)
			return
		}
	}
	d, derr := s.caseNewData(r)
	if derr != nil {
		err = derr
	}
	s.render(w, r, http.StatusOK, "case_new", "受理申请", d, err)
}

func ids(vals []string) []int64 {
	var out []int64
	for _, v := range vals {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

type caseData struct {
	C       *casework.Case
	Events  []casework.Event
	Steps   []casework.Step
	Pending casework.Step
	Waiting bool
	Trace   any
	Docs    []casework.Document
	Adults  []*registry.Person // for the authorisations of an incomplete file
	// OverallDue is the last day of the whole procedure (30 or 45 WD, DB-30).
	OverallDue string
	// dynamic management
	Dyn         *casework.Dynamic
	Members     []*registry.Person
	ChangeKinds any
	Reporters   any
	Entitlement bool // an approved dibao or tekun case: reviews, changes, job offers
	// Verifications are the economic-verification reports filed for this case.
	Verifications []verify.RequestSummary
}

func (s *Server) caseData(r *http.Request) (caseData, error) {
	u := currentUser(r)
	cs, err := s.Casework.Get(r.Context(), u, pathID(r, "id"))
	if err != nil {
		return caseData{}, err
	}
	ev, err := s.Casework.Events(r.Context(), u, cs.ID)
	if err != nil {
		return caseData{}, err
	}
	d := caseData{C: cs, Events: ev, Steps: cs.Steps(), Docs: casework.DocumentLabels(cs.Programme, cs.Kind), OverallDue: s.Casework.OverallDue(cs)}
	d.Pending, d.Waiting = cs.Pending()
	d.ChangeKinds, d.Reporters = casework.ChangeKinds, casework.ReporterKinds
	d.Entitlement = cs.Purpose == casework.PurposeApplication && cs.State == casework.StateApproved && (cs.Programme == "dibao" || cs.Programme == "tekun")
	if d.Dyn, err = s.Casework.Dynamic(r.Context(), u, cs.ID); err != nil {
		return caseData{}, err
	}
	if s.Verify != nil && u.Can(auth.VerifyRequest) {
		reqs, err := s.Verify.Requests(r.Context(), u, cs.HouseholdID)
		if err != nil {
			return caseData{}, err
		}
		for _, q := range reqs {
			if q.CaseID == cs.ID {
				d.Verifications = append(d.Verifications, q)
			}
		}
	}
	if d.Entitlement || cs.Purpose == casework.PurposeReassess {
		h, err := s.Registry.Household(r.Context(), u, cs.HouseholdID)
		if err != nil {
			return caseData{}, err
		}
		d.Members = h.Members
	}
	if cs.State == casework.StateIncomplete {
		h, err := s.Registry.Household(r.Context(), u, cs.HouseholdID)
		if err != nil {
			return caseData{}, err
		}
		for _, m := range h.Members {
			if age(m) >= 18 {
				d.Adults = append(d.Adults, m)
			}
		}
	}
	if cs.Assessment != nil && len(cs.Assessment.Result) > 0 {
		var res map[string]any
		if json.Unmarshal(cs.Assessment.Result, &res) == nil {
			if ps, ok := res["programmes"].(map[string]any); ok {
				if p, ok := ps[cs.Programme].(map[string]any); ok {
					d.Trace = p["trace"]
				}
			}
		}
	}
	return d, nil
}

func (s *Server) caseView(w http.ResponseWriter, r *http.Request) {
	d, err := s.caseData(r)
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "案件", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "case", "案件 "+d.C.No, d, nil)
}

func boolField(r *http.Request, name string) *bool {
	switch r.PostFormValue(name) {
	case "yes":
		b := true
		return &b
	case "no":
		b := false
		return &b
	}
	return nil
}

func (s *Server) caseAct(w http.ResponseWriter, r *http.Request) {
	a := casework.Action{Action: r.PostFormValue("action"), Version: formInt(r, "version"), Reason: r.PostFormValue("reason"),
		Investigators: strings.FieldsFunc(r.PostFormValue("investigators"), func(c rune) bool { return c == '，' || c == ',' || c == '、' || c == ' ' }),
		VisitedOn:     r.PostFormValue("visited_on"), MembersSigned: r.PostFormValue("members_signed") != "", Neighbours: r.PostFormValue("neighbours"),
		Findings: r.PostFormValue("findings"), Photos: formInt(r, "photos"), SupportMode: r.PostFormValue("support_mode"),
		Consistent: boolField(r, "consistent"), ReportRef: r.PostFormValue("report_ref"), Participants: formInt(r, "participants"),
		Representatives: formInt(r, "representatives"), Passed: boolField(r, "passed"), Approve: boolField(r, "approve"),
		Objections: formInt(r, "objections"), Stages: formInt(r, "stages"), HelpForm: r.PostFormValue("help_form"), ReferTo: r.PostFormValue("refer_to"), Documents: r.PostForm["documents"], Pledge: r.PostFormValue("pledge") != "", Signed: ids(r.PostForm["authorisations"]),
		ReviewCycle: r.PostFormValue("review_cycle"), ExitMonths: formInt(r, "exit_months"), Referral: r.PostFormValue("referral"),
		SelfCareFailed: r.PostForm["self_care_failed"], Evidence: r.PostFormValue("evidence"), AppealKind: r.PostFormValue("appeal_kind"),
		Outcome: r.PostFormValue("outcome"), DocumentNo: r.PostFormValue("document_no"), DecidedOn: r.PostFormValue("decided_on")}
	a.PersonID, _ = strconv.ParseInt(r.PostFormValue("person_id"), 10, 64)
	if a.Action == casework.ActRecheck {
		a.Approve = boolField(r, "founded")
	}
	var err error
	if a.AmountFen, err = parseYuan(r.PostFormValue("amount")); err != nil {
		err = apperr.Invalid("amount", "invalid_amount", "金额格式不正确")
	} else if a.AdvanceFen, err = parseYuan(r.PostFormValue("advance")); err == nil {
		if _, err = s.Casework.Act(r.Context(), currentUser(r), pathID(r, "id"), a); err == nil {
			http.Redirect(w, r, "/cases/"+r.PathValue("id")+"?ok=case_step", http.StatusSeeOther)
			return
		}
	}
	if e, ok := apperr.As(err); ok && e.Field == "monthly_income" {
		e.Field, e.Message = "advance", strings.ReplaceAll(e.Message, "金额", "先行救助金额")
	}
	d, derr := s.caseData(r)
	if derr != nil {
		s.render(w, r, http.StatusOK, "error", "案件", nil, derr)
		return
	}
	s.render(w, r, http.StatusOK, "case", "案件 "+d.C.No, d, err)
}

var printDocs = map[string]string{"application": "申请审批表", "visit": "入户调查表", "decision": "审批决定书", "refusal": "不予批准通知书", "review": "复核决定通知书"}

// reviewNoticeTitle names the written notice of a review outcome (DB-37, TK-13).
func reviewNoticeTitle(c *casework.Case) string {
	if c.Outcome == casework.OutcomeStop && c.Programme == "tekun" {
		return "终止特困人员救助供养通知书"
	}
	switch c.Outcome {
	case casework.OutcomeMaintain:
		return "维持救助通知书"
	case casework.OutcomeIncrease:
		return "增发救助金通知书"
	case casework.OutcomeDecrease:
		return "减发救助金通知书"
	case casework.OutcomeStop:
		return "停发救助金通知书"
	}
	return "复核决定通知书"
}

type printData struct {
	caseData
	Doc, DocTitle string
	H             *registry.Household
	Today         string
}

func (s *Server) casePrint(w http.ResponseWriter, r *http.Request) {
	doc := r.PathValue("doc")
	title, ok := printDocs[doc]
	if !ok {
		s.render(w, r, http.StatusOK, "error", "打印", nil, apperr.NotFound("没有这种文书"))
		return
	}
	d, err := s.caseData(r)
	if err == nil && (doc == "decision" && d.C.Decision != "approved" || doc == "refusal" && d.C.Decision != "refused" || doc == "review" && d.C.Decision != "reviewed") {
		err = apperr.Invalid("doc", "no_decision", "案件尚未作出相应决定，不能打印"+title)
	}
	if err == nil && doc == "review" {
		title = reviewNoticeTitle(d.C)
	}
	var h *registry.Household
	if err == nil {
		h, err = s.Registry.Household(r.Context(), currentUser(r), d.C.HouseholdID)
	}
	if err != nil {
		s.render(w, r, http.StatusOK, "error", title, nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "case_print", title, printData{caseData: d, Doc: doc, DocTitle: title, H: h, Today: todayCST().Format("2006年1月2日")}, nil)
}

type noticeData struct {
	Lines  []casework.NoticeLine
	Region string
}

func (s *Server) publicNotices(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("region")
	d := noticeData{Region: s.Tree.FullName(code)}
	var err error
	if code == "" {
		err = apperr.Invalid("region", "region_required", "请在网址中指定村（社区）或乡镇代码，例如 ?region=360102002001")
	} else if d.Lines, err = s.Casework.Notices(r.Context(), code); err != nil {
		err = apperr.NotFound("行政区划代码不存在")
	}
	s.render(w, r, http.StatusOK, "notices", "公示", d, err)
}

func (s *Server) caseDynamicDone(w http.ResponseWriter, r *http.Request, to string, err error) {
	if err == nil {
		http.Redirect(w, r, to+"?ok=case_step", http.StatusSeeOther)
		return
	}
	d, derr := s.caseData(r)
	if derr != nil {
		s.render(w, r, http.StatusOK, "error", "案件", nil, derr)
		return
	}
	s.render(w, r, http.StatusOK, "case", "案件 "+d.C.No, d, err)
}

// caseStartReview opens the scheduled review of an entitlement.
func (s *Server) caseStartReview(w http.ResponseWriter, r *http.Request) {
	rv, err := s.Casework.StartReview(r.Context(), currentUser(r), pathID(r, "id"), r.PostFormValue("reason"))
	to := ""
	if err == nil {
		to = "/cases/" + strconv.FormatInt(rv.ID, 10)
	}
	s.caseDynamicDone(w, r, to, err)
}

// caseReportChange records a change reported in a recipient household.
func (s *Server) caseReportChange(w http.ResponseWriter, r *http.Request) {
	in := casework.ChangeReport{Kind: r.PostFormValue("kind"), ReportedBy: r.PostFormValue("reported_by"), ChangedOn: r.PostFormValue("changed_on"), Details: r.PostFormValue("details")}
	in.PersonID, _ = strconv.ParseInt(r.PostFormValue("person_id"), 10, 64)
	_, rv, err := s.Casework.ReportChange(r.Context(), currentUser(r), pathID(r, "id"), in)
	to := ""
	if err == nil {
		to = "/cases/" + strconv.FormatInt(rv.ID, 10)
	}
	s.caseDynamicDone(w, r, to, err)
}

// caseJobOffer records a job offered to a member and the answer (DB-42).
func (s *Server) caseJobOffer(w http.ResponseWriter, r *http.Request) {
	in := casework.JobOffer{OfferedOn: r.PostFormValue("offered_on"), Job: r.PostFormValue("job"), Answer: r.PostFormValue("answer"), Reason: r.PostFormValue("reason")}
	in.PersonID, _ = strconv.ParseInt(r.PostFormValue("person_id"), 10, 64)
	_, err := s.Casework.RecordJobOffer(r.Context(), currentUser(r), pathID(r, "id"), in)
	s.caseDynamicDone(w, r, "/cases/"+r.PathValue("id"), err)
}
