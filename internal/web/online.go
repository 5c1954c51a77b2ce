package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/online"
)

func (s *Server) onlineRoutes(mux *http.ServeMux) {
	// public: apply and follow the application without an account
	mux.HandleFunc("GET /apply", s.applyForm)
	mux.HandleFunc("POST /apply", s.applySubmit)
	mux.HandleFunc("GET /apply/status", s.applyStatusForm)
	mux.HandleFunc("POST /apply/status", s.applyStatus)
	mux.HandleFunc("POST /apply/status/supplement", s.applySupplement)
	// the township's side, region-scoped
	mux.Handle("GET /online", s.auth(auth.CaseRead, s.onlineList))
	mux.Handle("GET /online/{id}", s.auth(auth.CaseRead, s.onlineView))
	mux.Handle("GET /online/{id}/documents/{doc}", s.auth(auth.CaseRead, s.onlineDocument))
	mux.Handle("GET /online/{id}/register", s.auth(auth.RegistryWrite, s.onlineRegister))
	mux.Handle("POST /online/{id}/accept", s.auth(auth.CaseAct, s.onlineAccept))
	mux.Handle("POST /online/{id}/return", s.auth(auth.CaseAct, s.onlineReturn))
	mux.Handle("POST /online/{id}/reject", s.auth(auth.CaseAct, s.onlineReject))
}

// onlinePending counts the applications waiting in the user's scope, for the worklist.
func (s *Server) onlinePending(r *http.Request) int {
	if s.Online == nil {
		return 0
	}
	n, err := s.Online.Pending(r.Context(), currentUser(r))
	if err != nil {
		s.Log.Error("online pending", "err", err)
	}
	return n
}

type onlineListData struct {
	Apps     []*online.Application
	Status   string
	Statuses []statusOption
}

type statusOption struct{ Value, Label string }

func (s *Server) onlineList(w http.ResponseWriter, r *http.Request) {
	st := r.URL.Query().Get("status")
	if _, all := r.URL.Query()["status"]; !all {
		st = online.StatusSubmitted
	}
	d := onlineListData{Status: st, Statuses: []statusOption{{online.StatusSubmitted, "待处理"}, {online.StatusReturned, "需补正"},
		{online.StatusAccepted, "已受理"}, {online.StatusRejected, "不予受理"}, {"", "全部"}}}
	var err error
	d.Apps, err = s.Online.List(r.Context(), currentUser(r), st, 200)
	s.render(w, r, http.StatusOK, "online", "网上申请", d, err)
}

type onlineViewData struct {
	A    *online.Application
	Docs []casework.Document
}

func (s *Server) onlineViewPage(w http.ResponseWriter, r *http.Request, err error) {
	a, lerr := s.Online.Get(r.Context(), currentUser(r), pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "网上申请", nil, lerr)
		return
	}
	s.render(w, r, http.StatusOK, "online_view", "网上申请 "+a.No, onlineViewData{A: a, Docs: casework.DocumentLabels(a.Programme, a.Kind)}, err)
}

func (s *Server) onlineView(w http.ResponseWriter, r *http.Request) { s.onlineViewPage(w, r, nil) }

func (s *Server) onlineDocument(w http.ResponseWriter, r *http.Request) {
	a, d, err := s.Online.Document(r.Context(), currentUser(r), pathID(r, "id"), pathID(r, "doc"))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "申请材料", nil, err)
		return
	}
	disp := "inline"
	if r.URL.Query().Get("download") != "" {
		disp = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", d.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(d.Data)))
	h.Set("Content-Disposition", fmt.Sprintf(`%s; filename="%s-%d%s"`, disp, a.No, d.ID, d.Ext()))
	h.Set("Cache-Control", "no-store")
	w.Write(d.Data)
}

// onlineRegister opens the registration form prefilled from the application:
// the village, the name and the phone. The ID number is typed from the
// uploaded card, never copied out of the sealed value.
func (s *Server) onlineRegister(w http.ResponseWriter, r *http.Request) {
	a, err := s.Online.Get(r.Context(), currentUser(r), pathID(r, "id"))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "新建户籍登记", nil, err)
		return
	}
	r.Form = url.Values{"region": {a.Region}, "name": {a.Name}, "phone": {a.Phone}, "hh_phone": {a.Phone}, "co_resident": {"1"}, "able_to_work": {"1"},
		"hukou": {"rural"}, "reason": {"网上申请 " + a.No + " 受理前登记"}}
	r.URL.RawQuery = "ok=online_register"
	s.render(w, r, http.StatusOK, "household_new", "新建户籍登记", s.villageOptions(currentUser(r)), nil)
}

func decision(r *http.Request) online.Decision {
	d := online.Decision{Version: formInt(r, "version"), Documents: r.PostForm["documents"], Pledge: r.PostFormValue("pledge") != "",
		Missing: r.PostForm["missing"], Reason: r.PostFormValue("reason")}
	d.Missing = append(d.Missing, strings.Split(strings.ReplaceAll(r.PostFormValue("missing_other"), "\r", ""), "\n")...)
	return d
}

func (s *Server) onlineAccept(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Online.Accept(r.Context(), currentUser(r), pathID(r, "id"), decision(r))
	if err == nil {
		http.Redirect(w, r, "/cases/"+strconv.FormatInt(cs.ID, 10)+"?ok=case_opened", http.StatusSeeOther)
		return
	}
	if e, ok := apperr.As(err); ok && e.Code == "not_registered" && currentUser(r).Can(auth.RegistryWrite) {
		http.Redirect(w, r, "/online/"+r.PathValue("id")+"/register", http.StatusSeeOther)
		return
	}
	s.onlineViewPage(w, r, err)
}

func (s *Server) onlineReturn(w http.ResponseWriter, r *http.Request) {
	if err := s.Online.Return(r.Context(), currentUser(r), pathID(r, "id"), decision(r)); err != nil {
		s.onlineViewPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/online/"+r.PathValue("id")+"?ok=online_returned", http.StatusSeeOther)
}

func (s *Server) onlineReject(w http.ResponseWriter, r *http.Request) {
	if err := s.Online.Reject(r.Context(), currentUser(r), pathID(r, "id"), decision(r)); err != nil {
		s.onlineViewPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/online/"+r.PathValue("id")+"?ok=online_rejected", http.StatusSeeOther)
}
