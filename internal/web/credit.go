package web

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/xlsx"
)

func (s *Server) creditRoutes(mux *http.ServeMux) {
	mux.Handle("GET /credit", s.auth(auth.CreditRead, s.creditList))
	mux.Handle("GET /credit/export", s.auth(auth.CreditRead, s.creditExport))
	mux.Handle("GET /credit/{id}", s.auth(auth.CreditRead, s.creditView))
	mux.Handle("POST /credit/{id}/appeal", s.auth(auth.CreditManage, s.creditAppeal))
	mux.Handle("POST /credit/{id}/appeal-outcome", s.auth(auth.CreditManage, s.creditAppealOutcome))
	mux.Handle("POST /credit/{id}/expiry", s.auth(auth.CreditManage, s.creditExpiry))
}

type creditListData struct {
	Records []*credit.Record
	State   string
	Labels  map[string]string
}

var creditLabels = map[string]string{credit.StateActive: credit.StateLabel(credit.StateActive), credit.StateAppealed: credit.StateLabel(credit.StateAppealed),
	credit.StateOverturned: credit.StateLabel(credit.StateOverturned)}

func (s *Server) creditList(w http.ResponseWriter, r *http.Request) {
	d := creditListData{State: r.URL.Query().Get("state"), Labels: creditLabels}
	if creditLabels[d.State] == "" {
		d.State = ""
	}
	var err error
	d.Records, err = s.Credit.List(r.Context(), currentUser(r), credit.Filter{State: d.State, Limit: 500})
	s.render(w, r, http.StatusOK, "credit_list", "失信记录", d, err)
}

func (s *Server) creditExport(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	var buf bytes.Buffer
	if _, err := s.Credit.Export(r.Context(), currentUser(r), format, &buf); err != nil {
		s.render(w, r, http.StatusOK, "error", "失信记录", nil, err)
		return
	}
	name := "失信记录-" + todayCST().Format(time.DateOnly)
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", "attachment; filename=credit.csv")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
		return
	}
	xlsx.Serve(w, name+".xlsx", buf.Bytes())
}

type creditData struct {
	R         *credit.Record
	Labels    map[string]string
	CanManage bool
	Today     string
}

func (s *Server) creditView(w http.ResponseWriter, r *http.Request) { s.creditRender(w, r, nil) }

func (s *Server) creditRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	rec, lerr := s.Credit.Get(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "失信记录", nil, lerr)
		return
	}
	s.render(w, r, http.StatusOK, "credit_record", "失信记录 "+strconv.FormatInt(rec.ID, 10),
		creditData{R: rec, Labels: creditLabels, CanManage: u.Can(auth.CreditManage), Today: todayCST().Format(time.DateOnly)}, err)
}

func (s *Server) creditDone(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.creditRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/credit/"+r.PathValue("id")+"?ok=saved", http.StatusSeeOther)
}

func (s *Server) creditAppeal(w http.ResponseWriter, r *http.Request) {
	_, err := s.Credit.FileAppeal(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), r.PostFormValue("filed_on"), r.PostFormValue("grounds"))
	s.creditDone(w, r, err)
}

func (s *Server) creditAppealOutcome(w http.ResponseWriter, r *http.Request) {
	_, err := s.Credit.DecideAppeal(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), r.PostFormValue("outcome"), r.PostFormValue("note"))
	s.creditDone(w, r, err)
}

func (s *Server) creditExpiry(w http.ResponseWriter, r *http.Request) {
	_, err := s.Credit.SetExpiry(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version"), r.PostFormValue("expires_on"), r.PostFormValue("reason"))
	s.creditDone(w, r, err)
}
