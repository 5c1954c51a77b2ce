package dci

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// token is the client-credentials grant of authz_core (RFC 6749 §4.4): the
// key's client_id and secret, form-encoded (a JSON body is accepted too),
// give a bearer token. Errors use the standard's HttpErrorResponse with the
// RFC 6749 error codes.
func (s *Service) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var grant, id, secret string
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		var in struct {
			GrantType    string `json:"grant_type"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.refusedUnknown(w, r, "/oauth2/client/token", "invalid_request", "", func() { writeHTTPError(w, http.StatusBadRequest, "invalid_request", "请求体格式错误") })
			return
		}
		grant, id, secret = in.GrantType, in.ClientID, in.ClientSecret
	} else {
		if err := r.ParseForm(); err != nil {
			s.refusedUnknown(w, r, "/oauth2/client/token", "invalid_request", "", func() { writeHTTPError(w, http.StatusBadRequest, "invalid_request", "请求体格式错误") })
			return
		}
		grant, id, secret = r.PostForm.Get("grant_type"), r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if u, p, ok := r.BasicAuth(); ok && id == "" {
			id, secret = u, p // RFC 6749 §2.3.1 allows HTTP Basic for the client
		}
	}
	if grant != "client_credentials" {
		s.refusedUnknown(w, r, "/oauth2/client/token", "unsupported_grant_type", id, func() {
			writeHTTPError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type 必须是 client_credentials")
		})
		return
	}
	if id == "" || secret == "" {
		s.refusedUnknown(w, r, "/oauth2/client/token", "invalid_request", id, func() {
			writeHTTPError(w, http.StatusBadRequest, "invalid_request", "缺少 client_id 或 client_secret")
		})
		return
	}
	c, err := s.Share.Authenticate(ctx, id, secret)
	if err != nil || c == nil {
		s.refusedUnknown(w, r, "/oauth2/client/token", "invalid_client", id, func() {
			writeHTTPError(w, http.StatusUnauthorized, "invalid_client", "client_id 或 client_secret 不正确，或密钥已吊销")
		})
		return
	}
	if !s.Share.Allow(c) {
		s.logCall(ctx, c, "/oauth2/client/token", "err.request.too_many_requests", 0)
		writeHTTPError(w, http.StatusTooManyRequests, "err.request.too_many_requests", "请求过于频繁")
		return
	}
	if !c.Allows("dci.search") && !c.Allows("dci.subscribe") {
		s.logCall(ctx, c, "/oauth2/client/token", "unauthorized_client", 0)
		writeHTTPError(w, http.StatusForbidden, "unauthorized_client", "该密钥没有 DCI 权限")
		return
	}
	tok, exp, err := s.Share.IssueToken(ctx, c)
	if err != nil {
		s.log().Error("dci: issue token", "err", err)
		writeHTTPError(w, http.StatusInternalServerError, "err.service.unavailable", "暂时无法签发令牌")
		return
	}
	s.logCall(ctx, c, "/oauth2/client/token", "issued", 0)
	secs := int(exp.Sub(s.now()).Seconds())
	if secs < 0 {
		secs = 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": strconv.Itoa(secs)})
}
