package web

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/share"
)

func (s *Server) shareRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin/share", s.auth(auth.ShareAdmin, s.shareKeys))
	mux.Handle("POST /admin/share/keys", s.auth(auth.ShareAdmin, s.shareKeyCreate))
	mux.Handle("GET /admin/share/keys/{id}", s.auth(auth.ShareAdmin, s.shareKeyView))
	mux.Handle("POST /admin/share/keys/{id}/revoke", s.auth(auth.ShareAdmin, s.shareKeyRevoke))
}

type shareKeysData struct {
	Keys   []share.Client
	Scopes []struct{ Value, Label string }
	Region string
	Issued *share.Client
	Secret string
}

func (s *Server) shareKeysPage(w http.ResponseWriter, r *http.Request, d shareKeysData, err error) {
	keys, lerr := s.Share.Clients(r.Context(), currentUser(r))
	if lerr != nil && err == nil {
		err = lerr
	}
	d.Keys, d.Scopes = keys, share.AllScopes
	if d.Region == "" {
		d.Region = currentUser(r).Region
	}
	s.render(w, r, http.StatusOK, "share_keys", "数据共享密钥", d, err)
}

func (s *Server) shareKeys(w http.ResponseWriter, r *http.Request) {
	s.shareKeysPage(w, r, shareKeysData{}, nil)
}

func (s *Server) shareKeyCreate(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	in := share.NewClient{Name: r.PostFormValue("name"), Department: r.PostFormValue("department"), RegionCode: strings.TrimSpace(r.PostFormValue("region")),
		Scopes: r.PostForm["scopes"], CallbackURL: strings.TrimSpace(r.PostFormValue("callback_url"))}
	if v := strings.TrimSpace(r.PostFormValue("rate_per_minute")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.shareKeysPage(w, r, shareKeysData{Region: in.RegionCode}, apperr.Invalid("rate_per_minute", "invalid_rate", "频率限制应为整数（每分钟次数）"))
			return
		}
		in.RatePerMinute = n
	}
	if v := strings.TrimSpace(r.PostFormValue("public_key")); v != "" {
		pk, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			s.shareKeysPage(w, r, shareKeysData{Region: in.RegionCode}, apperr.Invalid("public_key", "invalid_public_key", "签名公钥应为 Base64 编码的32字节 Ed25519 公钥"))
			return
		}
		in.PublicKey = pk
	}
	c, secret, err := s.Share.CreateClient(r.Context(), currentUser(r), in)
	if err != nil {
		s.shareKeysPage(w, r, shareKeysData{Region: in.RegionCode}, err)
		return
	}
	// the secret is shown on this one answer and never again; the form is
	// not re-filled so that a reload does not show it twice
	r.Form = nil
	s.shareKeysPage(w, r, shareKeysData{Issued: &c, Secret: secret}, nil)
}

type shareKeyData struct {
	Key     *share.Client
	Calls   []share.Call
	Revoked bool
}

func (s *Server) shareKeyPage(w http.ResponseWriter, r *http.Request, revoked bool, err error) {
	u := currentUser(r)
	c, gerr := s.Share.ClientByID(r.Context(), u, pathID(r, "id"))
	if gerr != nil {
		s.render(w, r, http.StatusOK, "error", "数据共享密钥", nil, gerr)
		return
	}
	calls, cerr := s.Share.Calls(r.Context(), u, c, 100)
	if cerr != nil && err == nil {
		err = cerr
	}
	s.render(w, r, http.StatusOK, "share_key", "密钥 "+c.Name, shareKeyData{Key: c, Calls: calls, Revoked: revoked}, err)
}

func (s *Server) shareKeyView(w http.ResponseWriter, r *http.Request) {
	s.shareKeyPage(w, r, r.URL.Query().Get("revoked") == "1", nil)
}

func (s *Server) shareKeyRevoke(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "id")
	if err := s.Share.Revoke(r.Context(), currentUser(r), id, r.PostFormValue("reason")); err != nil {
		s.shareKeyPage(w, r, false, err)
		return
	}
	http.Redirect(w, r, "/admin/share/keys/"+strconv.FormatInt(id, 10)+"?revoked=1", http.StatusSeeOther)
}
