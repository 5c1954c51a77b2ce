package web

import (
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/integrity"
)

func (s *Server) integrityRoutes(mux *http.ServeMux) {
	mux.Handle("GET /integrity", s.auth(auth.IntegrityRead, s.integrityList))
	mux.Handle("POST /integrity/run", s.auth(auth.IntegrityDecide, s.integrityRun))
	mux.Handle("GET /integrity/{id}", s.auth(auth.IntegrityRead, s.integrityEntry))
	mux.Handle("POST /integrity/{id}/decide", s.auth(auth.IntegrityDecide, s.integrityDecide))
	s.campaignRoutes(mux)
	s.creditRoutes(mux)
}

type integrityListData struct {
	Counts   []integrity.Count
	Entries  []*integrity.Entry
	List     string
	Status   string
	Region   string
	Lists    any
	Statuses []struct{ Value, Label string }
	CanRun   bool
	LastRun  string
	Summary  *integrity.RunSummary
	// StatusLabels names the statuses in Chinese.
	StatusLabels map[string]string
}

var integrityStatuses = []struct{ Value, Label string }{
	{integrity.StatusOpen, integrity.StatusLabel(integrity.StatusOpen)}, {integrity.StatusReferred, integrity.StatusLabel(integrity.StatusReferred)},
	{integrity.StatusExplained, integrity.StatusLabel(integrity.StatusExplained)}, {integrity.StatusConfirmed, integrity.StatusLabel(integrity.StatusConfirmed)},
}

var integrityStatusLabels = map[string]string{}

func init() {
	integrityStatusLabels[integrity.StatusOpen] = integrity.StatusLabel(integrity.StatusOpen)
	for _, st := range integrityStatuses {
		integrityStatusLabels[st.Value] = st.Label
	}
}

func (s *Server) integrityList(w http.ResponseWriter, r *http.Request) {
	s.integrityListRender(w, r, nil, nil)
}

func (s *Server) integrityListRender(w http.ResponseWriter, r *http.Request, sum *integrity.RunSummary, err error) {
	u := currentUser(r)
	q := r.URL.Query()
	d := integrityListData{List: q.Get("list"), Status: q.Get("status"), Region: q.Get("region"), Lists: integrity.Lists, Statuses: integrityStatuses,
		CanRun: u.Can(auth.IntegrityDecide), Summary: sum, StatusLabels: integrityStatusLabels}
	var lerr error
	if d.Counts, lerr = s.Integrity.Counts(r.Context(), u, d.Region); lerr == nil {
		d.Entries, lerr = s.Integrity.Entries(r.Context(), u, integrity.Query{List: d.List, Status: d.Status, Region: d.Region})
	}
	if lerr != nil && err == nil {
		err = lerr
	}
	if at, e := s.Integrity.LastRun(r.Context()); e == nil && !at.IsZero() {
		d.LastRun = at.In(cst).Format("2006-01-02 15:04")
	}
	s.render(w, r, http.StatusOK, "integrity_list", "异常线索", d, err)
}

func (s *Server) integrityRun(w http.ResponseWriter, r *http.Request) {
	sum, err := s.Integrity.RunFor(r.Context(), currentUser(r))
	s.integrityListRender(w, r, sum, err)
}

type integrityEntryData struct {
	E         *integrity.Entry
	Statuses  []struct{ Value, Label string }
	CanDecide bool
	CanCase   bool
	CanHH     bool
	// StatusLabels names the statuses in Chinese.
	StatusLabels map[string]string
}

func (s *Server) integrityEntry(w http.ResponseWriter, r *http.Request) {
	s.integrityEntryRender(w, r, nil)
}

func (s *Server) integrityEntryRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	e, lerr := s.Integrity.Get(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "异常线索", nil, lerr)
		return
	}
	d := integrityEntryData{E: e, Statuses: integrityStatuses[1:], CanDecide: u.Can(auth.IntegrityDecide) && e.Status != integrity.StatusConfirmed,
		CanCase: u.Can(auth.CaseRead), CanHH: u.Can(auth.RegistryRead), StatusLabels: integrityStatusLabels}
	s.render(w, r, http.StatusOK, "integrity_entry", "异常线索 "+strconv.FormatInt(e.ID, 10), d, err)
}

func (s *Server) integrityDecide(w http.ResponseWriter, r *http.Request) {
	in := integrity.DecisionInput{Status: r.PostFormValue("status"), Reason: r.PostFormValue("reason"), Fraud: r.PostFormValue("fraud") == "1", Version: formInt(r, "version")}
	if a := strings.TrimSpace(r.PostFormValue("amount")); a != "" {
		fen, err := parseYuan(a)
		if err != nil {
			s.integrityEntryRender(w, r, apperr.Invalid("amount", "invalid_amount", "追缴金额格式不正确，请输入元，最多两位小数"))
			return
		}
		in.AmountFen = fen
	}
	id := pathID(r, "id")
	if _, err := s.Integrity.Decide(r.Context(), currentUser(r), id, in); err != nil {
		s.integrityEntryRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/integrity/"+strconv.FormatInt(id, 10)+"?ok=saved", http.StatusSeeOther)
}
