package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
)

type usersData struct {
	Users   []*auth.User
	Roles   []auth.RoleInfo
	Regions []regionOption
	Now     time.Time
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	d := usersData{Roles: auth.Roles, Regions: s.scopeRegions(u.Region), Now: time.Now()}
	users, lerr := s.Auth.List(r.Context(), u, r.URL.Query().Get("q"))
	if lerr != nil {
		err = lerr
	}
	d.Users = users
	s.render(w, r, http.StatusOK, "users", "用户管理", d, err)
}

func (s *Server) userList(w http.ResponseWriter, r *http.Request) { s.usersPage(w, r, nil) }

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request) {
	_, err := s.Auth.Create(r.Context(), currentUser(r), auth.NewUser{Username: r.PostFormValue("username"), DisplayName: r.PostFormValue("display_name"),
		Role: auth.Role(r.PostFormValue("role")), Region: strings.TrimSpace(r.PostFormValue("region")), Password: r.PostFormValue("password"), MustChange: true})
	if err != nil {
		s.usersPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/users?ok=user_created", http.StatusSeeOther)
}

func (s *Server) userUpdate(w http.ResponseWriter, r *http.Request) {
	up := auth.AdminUpdate{Version: formInt(r, "version"), NewPassword: r.PostFormValue("new_password")}
	switch r.PostFormValue("action") {
	case "unlock":
		up.Unlock = true
	case "disable", "enable":
		active := r.PostFormValue("action") == "enable"
		up.Active = &active
	}
	if err := s.Auth.Update(r.Context(), currentUser(r), pathID(r, "id"), up); err != nil {
		s.usersPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/users?ok=user_saved", http.StatusSeeOther)
}

type auditData struct {
	Entries []audit.Entry
	Verify  *audit.VerifyResult
	Next    int64
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v *audit.VerifyResult, err error) {
	u := currentUser(r)
	q := r.URL.Query()
	aq := audit.Query{ScopePrefix: u.Scope(), Username: strings.TrimSpace(q.Get("username")), Action: strings.TrimSpace(q.Get("action")),
		ObjectType: q.Get("object_type"), ObjectID: strings.TrimSpace(q.Get("object_id")), Limit: 100}
	if t, perr := time.ParseInLocation(time.DateOnly, q.Get("from"), cst); perr == nil {
		aq.From = t
	}
	if t, perr := time.ParseInLocation(time.DateOnly, q.Get("to"), cst); perr == nil {
		aq.To = t.AddDate(0, 0, 1)
	}
	aq.BeforeSeq, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	entries, serr := audit.Search(r.Context(), s.Auth.DB, aq)
	if serr != nil && err == nil {
		err = serr
	}
	d := auditData{Entries: entries, Verify: v}
	if len(entries) == aq.Limit {
		d.Next = entries[len(entries)-1].Seq
	}
	if err == nil {
		err = audit.Record(r.Context(), s.Auth.DB, u.Actor(), "audit.search", "audit_log", "", u.Region, map[string]any{"username": aq.Username, "action": aq.Action})
	}
	s.render(w, r, http.StatusOK, "audit", "审计日志", d, err)
}

func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request) { s.auditPage(w, r, nil, nil) }

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) {
	res, err := audit.Verify(r.Context(), s.Auth.DB, nil)
	s.auditPage(w, r, &res, err)
}
