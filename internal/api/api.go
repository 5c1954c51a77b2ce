// Package api serves the JSON API under /api/v1. Callers log in for a bearer
// token (a session row like the web's); errors are structured as
// {"error": {"code", "message", "field"}} with the Chinese message of the UI.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/db"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/institution"
	"jiuzhu/internal/integrity"
	"jiuzhu/internal/linkage"
	"jiuzhu/internal/online"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/referral"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/verify"
)

// API holds the services the endpoints call.
type API struct {
	Auth         *auth.Service
	Registry     *registry.Service
	Policy       *policydb.Store // parameters, calculation, reform simulation
	Tree         *region.Tree
	DB           *db.DB
	Log          *slog.Logger
	Casework     *casework.Service
	Payroll      *payroll.Service
	Online       *online.Service
	Verify       *verify.Service
	Stats        *stats.Service
	Institutions *institution.Service
	Discovery    *discovery.Service
	Linkage      *linkage.Service
	Credit       *credit.Service
	Referrals    *referral.Service
	Integrity    *integrity.Service
}

// Routes registers every endpoint on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/login", a.login)
	mux.Handle("POST /api/v1/logout", a.auth("", a.logout))
	mux.Handle("GET /api/v1/me", a.auth("", a.me))
	mux.HandleFunc("GET /api/v1/regions/{code}", a.regionNode)

	mux.Handle("GET /api/v1/persons", a.auth(auth.RegistryRead, a.personSearch))
	mux.Handle("PATCH /api/v1/persons/{id}", a.auth(auth.RegistryWrite, a.personUpdate()))
	mux.Handle("POST /api/v1/persons/{id}/reveal", a.auth(auth.RegistryReveal, a.personReveal()))
	mux.Handle("POST /api/v1/persons/{id}/bank-accounts", a.auth(auth.RegistryWrite, a.bankAccountAdd()))
	mux.Handle("GET /api/v1/households", a.auth(auth.RegistryRead, a.householdByNo))
	mux.Handle("POST /api/v1/households", a.auth(auth.RegistryWrite, a.householdCreate()))
	mux.Handle("GET /api/v1/households/{id}", a.auth(auth.RegistryRead, a.householdGet()))
	mux.Handle("PATCH /api/v1/households/{id}", a.auth(auth.RegistryWrite, a.householdUpdate()))
	mux.Handle("GET /api/v1/households/{id}/history", a.auth(auth.RegistryRead, a.householdHistory()))
	mux.Handle("POST /api/v1/households/{id}/members", a.auth(auth.RegistryWrite, a.memberAdd()))
	mux.Handle("POST /api/v1/households/{id}/members/{pid}/remove", a.auth(auth.RegistryWrite, a.memberRemove()))
	mux.Handle("POST /api/v1/households/{id}/split", a.auth(auth.RegistryWrite, a.householdSplit()))
	mux.Handle("POST /api/v1/households/{id}/merge", a.auth(auth.RegistryWrite, a.householdMerge()))
	mux.Handle("POST /api/v1/households/{id}/move", a.auth(auth.RegistryWrite, a.householdMove()))
	mux.Handle("POST /api/v1/households/{id}/supporters", a.auth(auth.RegistryWrite, a.supporterAdd()))

	mux.Handle("GET /api/v1/users", a.auth(auth.UserAdmin, a.userList))
	mux.Handle("POST /api/v1/users", a.auth(auth.UserAdmin, a.userCreate()))
	mux.Handle("PATCH /api/v1/users/{id}", a.auth(auth.UserAdmin, a.userUpdate()))
	mux.Handle("GET /api/v1/audit", a.auth(auth.AuditRead, a.auditSearch))
	a.policyRoutes(mux)
	a.caseRoutes(mux)
	a.payrollRoutes(mux)
	a.onlineRoutes(mux)
	a.verifyRoutes(mux)
	a.importRoutes(mux)
	a.statsRoutes(mux)
	a.institutionRoutes(mux)
	a.discoveryRoutes(mux)
	a.referralRoutes(mux)
	a.integrityRoutes(mux)
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apperr.Error{Status: http.StatusNotFound, Code: "no_such_endpoint", Message: "接口不存在：" + r.Method + " " + r.URL.Path})
	}))
}

type ctxKey struct{}

func user(r *http.Request) *auth.User { return r.Context().Value(ctxKey{}).(*auth.User) }

func (a *API) auth(perm auth.Permission, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		_, u, err := a.Auth.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if u.MustChangePW && r.URL.Path != "/api/v1/me" && r.URL.Path != "/api/v1/logout" {
			writeError(w, &apperr.Error{Status: http.StatusForbidden, Code: "password_change_required", Message: "请先在网页上修改初始密码"})
			return
		}
		if perm != "" && !u.Can(perm) {
			writeError(w, apperr.Forbidden("您的角色没有此项操作权限"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, u)))
	})
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apperr.Error) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Field = e.Code, e.Message, e.Field
	writeJSON(w, e.Status, b)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *apperr.Error
	if errors.As(err, &e) {
		writeError(w, e)
		return
	}
	a.Log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, &apperr.Error{Status: http.StatusInternalServerError, Code: "internal", Message: "系统内部错误，请稍后重试"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: unknown fields are an error naming them.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return apperr.Invalid(strings.Trim(f, `"`), "unknown_field", "请求中有无法识别的字段："+f)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return apperr.Invalid(te.Field, "wrong_type", fmt.Sprintf("字段 %s 的类型不正确，应为 %s", te.Field, te.Type))
		}
		return &apperr.Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "请求内容不是有效的 JSON：" + msg}
	}
	return nil
}

// withID is the shape of most read endpoints: the numeric {id} of the path,
// one call, its answer as JSON (status 204 when the answer is nil).
func (a *API) withID(status int, call func(r *http.Request, id int64) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "id")
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.answer(w, r, status, func() (any, error) { return call(r, id) })
	}
}

// withBody is the shape of most write endpoints: an optional {id}, a strict
// JSON body decoded into In, one call, its answer as JSON.
func withBody[In any](a *API, status int, call func(r *http.Request, id int64, in *In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var id int64
		if r.PathValue("id") != "" {
			var err error
			if id, err = pathID(r, "id"); err != nil {
				a.fail(w, r, err)
				return
			}
		}
		var in In
		if err := decode(r, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		a.answer(w, r, status, func() (any, error) { return call(r, id, &in) })
	}
}

func (a *API) answer(w http.ResponseWriter, r *http.Request, status int, call func() (any, error)) {
	out, err := call()
	switch {
	case err != nil:
		a.fail(w, r, err)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, out)
	}
}

// clientIP is the peer's address without the port, as the login audit keeps it.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func pathID(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.Invalid(name, "invalid_id", "编号格式不正确")
	}
	return n, nil
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	sess, u, err := a.Auth.Login(r.Context(), in.Username, in.Password, clientIP(r), r.UserAgent())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": sess.Token, "expires_at": sess.ExpiresAt, "user": userView(u)})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if err := a.Auth.Logout(r.Context(), strings.TrimSpace(token)); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func userView(u *auth.User) map[string]any {
	return map[string]any{"id": u.ID, "username": u.Username, "display_name": u.DisplayName, "role": u.Role, "region": u.Region,
		"must_change_password": u.MustChangePW, "active": u.Active, "version": u.Version}
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, userView(user(r)))
}

// regionNode is public: the division tree is open government data.
func (a *API) regionNode(w http.ResponseWriter, r *http.Request) {
	n, ok := a.Tree.Get(r.PathValue("code"))
	if !ok {
		writeError(w, apperr.NotFound("行政区划代码不存在"))
		return
	}
	type node struct {
		Code  string `json:"code"`
		Name  string `json:"name"`
		Level int    `json:"level"`
		Kind  string `json:"kind"`
	}
	var children []node
	for _, c := range a.Tree.Children(n.Code) {
		children = append(children, node{c.Code, c.Name, c.Level, c.Kind})
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": n.Code, "name": n.Name, "full_name": a.Tree.FullName(n.Code), "level": n.Level,
		"kind": n.Kind, "parent": n.Parent, "children": children})
}

func (a *API) personSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("id_number") != "":
		f, err := a.Registry.ByIDNumber(r.Context(), user(r), q.Get("id_number"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": []*registry.Found{f}, "more": false})
	case q.Get("name") != "":
		hits, more, err := a.Registry.SearchByName(r.Context(), user(r), q.Get("region"), q.Get("name"), 50)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if hits == nil {
			hits = []registry.Found{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": hits, "more": more})
	default:
		writeError(w, apperr.Invalid("id_number", "query_required", "请提供身份证号码（id_number）或姓名（name）；不提供全量列表"))
	}
}

type personChange struct {
	Version int                  `json:"version"`
	Person  registry.PersonInput `json:"person"`
	Reason  string               `json:"reason"`
}

func (a *API) householdByNo(w http.ResponseWriter, r *http.Request) {
	no := r.URL.Query().Get("no")
	if no == "" {
		writeError(w, apperr.Invalid("no", "query_required", "请提供户编号（no）；不提供全量列表"))
		return
	}
	h, err := a.Registry.ByHouseholdNo(r.Context(), user(r), no)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (a *API) userList(w http.ResponseWriter, r *http.Request) {
	users, err := a.Auth.List(r.Context(), user(r), r.URL.Query().Get("q"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, u := range users {
		out = append(out, userView(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (a *API) auditSearch(w http.ResponseWriter, r *http.Request) {
	u := user(r)
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	entries, err := audit.Search(r.Context(), a.DB, audit.Query{ScopePrefix: u.Scope(), Username: q.Get("username"), Action: q.Get("action"),
		ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), BeforeSeq: before, Limit: 100})
	if err == nil {
		err = audit.Record(r.Context(), a.DB, u.Actor(), "audit.search", "audit_log", "", u.Region, map[string]any{"username": q.Get("username"), "action": q.Get("action")})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

func (a *API) personUpdate() http.HandlerFunc {
	return withBody(a, http.StatusOK, func(r *http.Request, id int64, in *personChange) (any, error) {
		return a.Registry.UpdatePerson(r.Context(), user(r), id, in.Version, in.Person, in.Reason)
	})
}

func (a *API) personReveal() http.HandlerFunc {
	return a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		n, err := a.Registry.RevealIDNumber(r.Context(), user(r), id)
		return map[string]string{"id_number": n}, err
	})
}

func (a *API) bankAccountAdd() http.HandlerFunc {
	return withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *struct {
		Version int                       `json:"version"`
		Account registry.BankAccountInput `json:"account"`
		Reason  string                    `json:"reason"`
	}) (any, error) {
		return a.Registry.AddBankAccount(r.Context(), user(r), id, in.Version, in.Account, in.Reason)
	})
}

func (a *API) householdCreate() http.HandlerFunc {
	return withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *registry.HouseholdInput) (any, error) {
		return a.Registry.CreateHousehold(r.Context(), user(r), *in)
	})
}

func (a *API) householdGet() http.HandlerFunc {
	return a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Registry.Household(r.Context(), user(r), id)
	})
}

func (a *API) householdUpdate() http.HandlerFunc {
	return withBody(a, http.StatusOK, func(r *http.Request, id int64, in *registry.HouseholdUpdate) (any, error) {
		return a.Registry.UpdateHousehold(r.Context(), user(r), id, *in)
	})
}

func (a *API) householdHistory() http.HandlerFunc {
	return a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		h, err := a.Registry.History(r.Context(), user(r), id)
		if h == nil {
			h = []registry.Change{}
		}
		return map[string]any{"changes": h}, err
	})
}

func (a *API) memberAdd() http.HandlerFunc {
	return withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *personChange) (any, error) {
		return a.Registry.AddMember(r.Context(), user(r), id, in.Version, in.Person, in.Reason)
	})
}

func (a *API) memberRemove() http.HandlerFunc {
	return withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *struct {
		Version int    `json:"version"`
		Why     string `json:"why"`
		Reason  string `json:"reason"`
	}) (any, error) {
		pid, err := pathID(r, "pid")
		if err != nil {
			return nil, err
		}
		return nil, a.Registry.RemoveMember(r.Context(), user(r), id, in.Version, pid, in.Why, in.Reason)
	})
}

func (a *API) householdSplit() http.HandlerFunc {
	return withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *struct {
		Version int     `json:"version"`
		Persons []int64 `json:"persons"`
		NewHead int64   `json:"new_head"`
		Address string  `json:"address"`
		Reason  string  `json:"reason"`
	}) (any, error) {
		return a.Registry.Split(r.Context(), user(r), id, in.Version, in.Persons, in.NewHead, in.Address, in.Reason)
	})
}

func (a *API) householdMerge() http.HandlerFunc {
	return withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *struct {
		Version       int    `json:"version"`
		Source        int64  `json:"source"`
		SourceVersion int    `json:"source_version"`
		Reason        string `json:"reason"`
	}) (any, error) {
		return nil, a.Registry.Merge(r.Context(), user(r), id, in.Version, in.Source, in.SourceVersion, in.Reason)
	})
}

func (a *API) householdMove() http.HandlerFunc {
	return withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *struct {
		Version int    `json:"version"`
		Region  string `json:"region"`
		Address string `json:"address"`
		Reason  string `json:"reason"`
	}) (any, error) {
		return nil, a.Registry.Move(r.Context(), user(r), id, in.Version, in.Region, in.Address, in.Reason)
	})
}

func (a *API) supporterAdd() http.HandlerFunc {
	return withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *struct {
		Version   int                     `json:"version"`
		Supporter registry.SupporterInput `json:"supporter"`
		Reason    string                  `json:"reason"`
	}) (any, error) {
		return a.Registry.AddSupporter(r.Context(), user(r), id, in.Version, in.Supporter, in.Reason)
	})
}

func (a *API) userCreate() http.HandlerFunc {
	return withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *struct {
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		Role        string `json:"role"`
		Region      string `json:"region"`
		Password    string `json:"password"`
	}) (any, error) {
		u, err := a.Auth.Create(r.Context(), user(r), auth.NewUser{Username: in.Username, DisplayName: in.DisplayName, Role: auth.Role(in.Role),
			Region: in.Region, Password: in.Password, MustChange: true})
		if err != nil {
			return nil, err
		}
		return userView(u), nil
	})
}

func (a *API) userUpdate() http.HandlerFunc {
	return withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *struct {
		Version     int    `json:"version"`
		Active      *bool  `json:"active"`
		Unlock      bool   `json:"unlock"`
		NewPassword string `json:"new_password"`
	}) (any, error) {
		return nil, a.Auth.Update(r.Context(), user(r), id, auth.AdminUpdate{Version: in.Version, Active: in.Active, Unlock: in.Unlock, NewPassword: in.NewPassword})
	})
}
