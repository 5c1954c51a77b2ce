package web

import (
	"net/http"
	"strings"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/registry"
)

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	var err error
	if r.URL.Query().Get("expired") != "" {
		err = auth.ErrSessionExpired
	}
	s.render(w, r, http.StatusOK, "login", "登录", map[string]string{"Next": safeNext(r.URL.Query().Get("next"))}, err)
}

// safeNext keeps redirects after login on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	next := safeNext(r.PostFormValue("next"))
	sess, _, err := s.Auth.Login(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"), clientIP(r), r.UserAgent())
	if err != nil {
		s.render(w, r, http.StatusOK, "login", "登录", map[string]string{"Next": next}, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.Token, Path: "/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.Auth.Logout(r.Context(), currentSession(r).Token)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.Secure, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "password", "修改密码", nil, nil)
}

func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	if r.PostFormValue("new_password") != r.PostFormValue("new_password2") {
		s.render(w, r, http.StatusUnprocessableEntity, "password", "修改密码", nil, errMismatch)
		return
	}
	if err := s.Auth.ChangePassword(r.Context(), u, r.PostFormValue("old_password"), r.PostFormValue("new_password")); err != nil {
		s.render(w, r, http.StatusOK, "password", "修改密码", nil, err)
		return
	}
	http.Redirect(w, r, "/?ok=password", http.StatusSeeOther)
}

type homeData struct {
	Cases   casework.Counts
	Counts  registry.Counts
	Recent  []registry.Change
	RecentH []int64
	Today   string
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	var d homeData
	d.Today = time.Now().In(cst).Format("2006年01月02日")
	if u.Can(auth.RegistryRead) {
		var err error
		if d.Counts, err = s.Registry.Count(r.Context(), u); err != nil {
			s.render(w, r, http.StatusOK, "home", "工作台", d, err)
			return
		}
		if d.Recent, d.RecentH, err = s.Registry.RecentChanges(r.Context(), u, 10); err != nil {
			s.render(w, r, http.StatusOK, "home", "工作台", d, err)
			return
		}
	}
	if u.Can(auth.CaseRead) {
		var err error
		if d.Cases, err = s.Casework.Count(r.Context(), u); err != nil {
			s.render(w, r, http.StatusOK, "home", "工作台", d, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "home", "工作台", d, nil)
}
