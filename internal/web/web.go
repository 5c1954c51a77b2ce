// Package web serves the Chinese HTML pages: server-rendered templates parsed
// once at start, cookie sessions, and a form token on every state-changing
// request on top of the standard library's cross-origin protection.
package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/credit"
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
	"jiuzhu/internal/share"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/verify"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// SessionCookie is the name of the login cookie.
const SessionCookie = "jiuzhu_session"

// Server holds what the pages need.
type Server struct {
	Auth         *auth.Service
	Registry     *registry.Service
	Policy       *policydb.Store // parameters, calculation, reform simulation
	Casework     *casework.Service
	Payroll      *payroll.Service
	Online       *online.Service // the citizen's online applications
	Verify       *verify.Service
	Stats        *stats.Service
	Institutions *institution.Service
	Share        *share.Service
	Discovery    *discovery.Service
	Linkage      *linkage.Service
	Credit       *credit.Service
	Referrals    *referral.Service
	Integrity    *integrity.Service
	Calendar     *calendar.Calendar
	Tree         *region.Tree
	Secure       bool // Secure cookies
	Demo         bool
	Log          *slog.Logger
	pages        map[string]*template.Template
}

// New parses every page with the layout once, so a broken template stops the
// start instead of a request.
func New(s *Server) (*Server, error) {
	s.pages = map[string]*template.Template{}
	entries, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	// every page gets the layout and the shared pieces (files named _*.html)
	shared := []string{"templates/layout.html"}
	if parts, _ := fs.Glob(templateFS, "templates/_*.html"); len(parts) > 0 {
		shared = append(shared, parts...)
	}
	for _, e := range entries {
		name := strings.TrimPrefix(e, "templates/")
		if name == "layout.html" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New(name).Funcs(funcs(s.Tree)).ParseFS(templateFS, append(shared, e)...)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return s, nil
}

var cst = calendar.China

func todayCST() time.Time { return time.Now().In(cst) }

func funcs(tree *region.Tree) template.FuncMap {
	return template.FuncMap{
		"regionName": tree.FullName,
		"regionShort": func(code string) string {
			if r, ok := tree.Get(code); ok {
				return r.Name
			}
			return code
		},
		"time": func(t time.Time) string { return t.In(cst).Format("2006-01-02 15:04") },
		"yuan": func(fen int64) string { return fmt.Sprintf("%.2f", float64(fen)/100) },
		"label": func(kind, v string) string {
			switch kind {
			case "relation":
				return registry.Label(registry.Relations, v)
			case "hukou":
				return registry.Label(registry.Hukous, v)
			case "disability":
				return registry.Label(registry.DisabilityKinds, v)
			case "student":
				return registry.Label(registry.StudentStatuses, v)
			case "selfcare":
				return registry.Label(registry.SelfCareItemList, v)
			case "duty":
				return registry.Label(registry.SupportDuties, v)
			case "sex":
				return map[string]string{"M": "男", "F": "女"}[v]
			case "role":
				return auth.Role(v).Label()
			case "status":
				return map[string]string{"active": "正常", "closed": "已注销", "merged": "已合并", "left": "已迁出", "deceased": "已死亡"}[v]
			}
			return v
		},
		"opLabel": opLabel,
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		},
		"selfCareLevel": func(items []string) string { return registry.SelfCareLevel(len(items)) },
		"age":           func(p *registry.Person) int { return p.Age(todayCST()) },
		"programme": func(p string) string {
			// casework names what can be applied for; payroll also pays the
			// price subsidy and purchased services
			if l := casework.ProgrammeLabel(p); l != p {
				return l
			}
			return payroll.ProgrammeLabel(p)
		},
		"actionLabel":   casework.ActionLabel,
		"verifyPurpose": func(p string) string { return verify.Purposes[p] },
		"stateName":     casework.StateName,
		"inc":           func(i int) int { return i + 1 },
		"officeName": func(level int) string {
			return map[int]string{4: "乡镇（街道）", 5: "村（社区）", 3: "县级"}[level]
		},
		"options": func() map[string][]registry.Option { return optionLists },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
	}
}

var optionLists = map[string][]registry.Option{
	"relations": registry.Relations, "hukous": registry.Hukous, "disability": registry.DisabilityKinds,
	"student": registry.StudentStatuses, "selfcare": registry.SelfCareItemList, "duties": registry.SupportDuties,
	"removal": registry.RemovalReasons,
	"levels":  {{Value: "1", Label: "一级"}, {Value: "2", Label: "二级"}, {Value: "3", Label: "三级"}, {Value: "4", Label: "四级"}},
}

var opLabels = map[string]string{
	"household.create": "新建户", "household.update": "修改户信息", "household.split": "分户", "household.merge": "合户（并入）",
	"household.merged_away": "合户（并出）", "household.move": "迁移", "member.add": "增加成员", "member.rejoin": "成员重新登记",
	"member.remove": "移出成员", "person.update": "修改成员信息", "supporter.add": "登记义务人", "supporter.remove": "移除义务人",
	"bank_account.add": "登记银行账户",
}

func opLabel(op string) string {
	if l, ok := opLabels[op]; ok {
		return l
	}
	return op
}

type ctxKey int

const (
	userKey ctxKey = iota
	sessionKey
)

func currentUser(r *http.Request) *auth.User {
	u, _ := r.Context().Value(userKey).(*auth.User)
	return u
}

func currentSession(r *http.Request) *auth.Session {
	s, _ := r.Context().Value(sessionKey).(*auth.Session)
	return s
}

// page is the data every template gets.
type page struct {
	Title   string
	User    *auth.User
	CSRF    string
	Error   string
	Field   string
	Notice  string
	Demo    bool
	Data    any
	Form    url.Values
	Request *http.Request
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, err error) {
	p := page{Title: title, User: currentUser(r), Data: data, Demo: s.Demo, Form: r.Form, Request: r}
	if sess := currentSession(r); sess != nil {
		p.CSRF = sess.CSRF
	}
	if msg := notices[r.URL.Query().Get("ok")]; msg != "" {
		p.Notice = msg
	}
	if err != nil {
		var e *apperr.Error
		if errors.As(err, &e) {
			p.Error, p.Field = e.Message, e.Field
			if status == http.StatusOK {
				status = e.Status
			}
		} else {
			s.Log.Error("request failed", "path", r.URL.Path, "err", err)
			p.Error = "系统内部错误，请稍后重试；如问题持续，请联系系统管理员。"
			status = http.StatusInternalServerError
		}
	}
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "page "+name+" missing", http.StatusInternalServerError)
		return
	}
	// Render fully before writing, so a template failure becomes a clear error
	// page instead of half a form.
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.Log.Error("template", "page", name, "err", err)
		http.Error(w, "页面生成失败，请联系系统管理员。", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// notices are the confirmations shown after a redirect (?ok=key).
var notices = map[string]string{
	"saved": "已保存。", "created": "已登记。", "member_added": "已增加成员。", "member_removed": "已移出该成员。", "split": "已分户。",
	"merged": "已合户。", "moved": "已迁移。", "supporter": "已保存义务人信息。", "bank": "已登记银行账户。", "password": "密码已修改。",
	"user_created": "用户已创建。", "calendar": "节假日安排已录入，办理期限将按新安排计算。", "user_saved": "用户信息已保存。", "case_opened": "申请已受理。", "case_step": "已办理。",
	"online_returned":     "已退回补正，需补正的材料已一次性告知申请人（申请人可凭查询码查看并在网上补交）。",
	"online_rejected":     "已作出不予受理，理由将告知申请人。",
	"online_register":     "网上申请人尚未登记：已按申请预填村（社区）、姓名和电话。请按申请人上传的身份证件录入身份证号码并补全信息；保存后回到该网上申请点击“受理”。",
	"online_supplemented": "补交的材料已提交，乡镇（街道）将重新审查。",
	"verify_authorised":   "授权书已登记。",
	"discovery_review":    "已启动复核。",
	"verify_ended":        "授权书已终止。",
	"verify_requested":    "核对已完成，报告如下。",
	"verify_rechecked":    "已按异议重新核对，新的报告如下。",
	"verify_closed":       "核对任务已办结。",
	"verify_imported":     "部门数据已导入，现为该来源的现行数据。",
	"verify_batch":        "批量复核已开始，在后台进行；完成后刷新本页可看到结果，核对任务将分派到各乡镇（街道）。",
	"verify_peer":         "协查请求已登记。",
	"verify_answered":     "已答复协查请求。",
}

// Routes registers every page.
func (s *Server) Routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.loginSubmit)
	mux.Handle("POST /logout", s.auth("", s.logout))
	mux.Handle("GET /password", s.auth("", s.passwordForm))
	mux.Handle("POST /password", s.auth("", s.passwordSubmit))
	mux.Handle("GET /{$}", s.auth("", s.home))

	mux.Handle("GET /registry", s.auth(auth.RegistryRead, s.registrySearch))
	mux.Handle("GET /households/new", s.auth(auth.RegistryWrite, s.householdNewForm))
	mux.Handle("POST /households", s.auth(auth.RegistryWrite, s.householdCreate))
	mux.Handle("GET /households/{id}", s.auth(auth.RegistryRead, s.householdView))
	mux.Handle("POST /households/{id}", s.auth(auth.RegistryWrite, s.householdUpdate))
	mux.Handle("GET /households/{id}/members/new", s.auth(auth.RegistryWrite, s.memberNewForm))
	mux.Handle("POST /households/{id}/members", s.auth(auth.RegistryWrite, s.memberAdd))
	mux.Handle("POST /households/{id}/members/{pid}/remove", s.auth(auth.RegistryWrite, s.memberRemove))
	mux.Handle("POST /households/{id}/split", s.auth(auth.RegistryWrite, s.householdSplit))
	mux.Handle("POST /households/{id}/merge", s.auth(auth.RegistryWrite, s.householdMerge))
	mux.Handle("POST /households/{id}/move", s.auth(auth.RegistryWrite, s.householdMove))
	mux.Handle("POST /households/{id}/supporters", s.auth(auth.RegistryWrite, s.supporterAdd))
	mux.Handle("POST /households/{id}/supporters/{sid}/remove", s.auth(auth.RegistryWrite, s.supporterRemove))
	mux.Handle("GET /persons/{id}", s.auth(auth.RegistryRead, s.personView))
	mux.Handle("GET /persons/{id}/edit", s.auth(auth.RegistryWrite, s.personEditForm))
	mux.Handle("POST /persons/{id}", s.auth(auth.RegistryWrite, s.personUpdate))
	mux.Handle("POST /persons/{id}/bank-accounts", s.auth(auth.RegistryWrite, s.bankAccountAdd))
	mux.Handle("POST /persons/{id}/reveal", s.auth(auth.RegistryReveal, s.personReveal))

	mux.Handle("GET /admin/users", s.auth(auth.UserAdmin, s.userList))
	mux.Handle("POST /admin/users", s.auth(auth.UserAdmin, s.userCreate))
	mux.Handle("POST /admin/users/{id}", s.auth(auth.UserAdmin, s.userUpdate))
	mux.Handle("GET /audit", s.auth(auth.AuditRead, s.auditSearch))
	mux.Handle("POST /audit/verify", s.auth(auth.AuditRead, s.auditVerify))
	mux.Handle("GET /admin/calendar", s.auth(auth.UserAdmin, s.calendarPage))
	mux.Handle("POST /admin/calendar", s.auth(auth.UserAdmin, s.calendarAdd))
	s.policyRoutes(mux)
	s.caseRoutes(mux)
	s.payrollRoutes(mux)
	s.onlineRoutes(mux)
	s.verifyRoutes(mux)
	s.importRoutes(mux)
	s.statsRoutes(mux)
	s.institutionRoutes(mux)
	s.shareRoutes(mux)
	s.discoveryRoutes(mux)
	s.referralRoutes(mux)
	s.integrityRoutes(mux)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// auth loads the session, enforces the permission (if any), the forced password
// change and, on POST, the form token.
func (s *Server) auth(perm auth.Permission, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie(SessionCookie)
		token := ""
		if c != nil {
			token = c.Value
		}
		sess, u, err := s.Auth.Authenticate(r.Context(), token)
		if err != nil {
			if r.Method == http.MethodGet {
				q := url.Values{"next": {r.URL.RequestURI()}}
				if token != "" {
					q.Set("expired", "1")
				}
				http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
				return
			}
			s.render(w, r, http.StatusUnauthorized, "login", "登录", nil, auth.ErrSessionExpired)
			return
		}
		ctx := context.WithValue(context.WithValue(r.Context(), userKey, u), sessionKey, sess)
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost {
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
				s.render(w, r, http.StatusForbidden, "error", "请求无效", nil,
					apperr.Forbidden("表单已失效或来源不明（可能页面停留过久或在其他窗口重新登录过）。请返回刷新页面后重新提交。"))
				return
			}
		}
		if u.MustChangePW && r.URL.Path != "/password" && r.URL.Path != "/logout" {
			http.Redirect(w, r, "/password", http.StatusSeeOther)
			return
		}
		if perm != "" && !u.Can(perm) {
			s.render(w, r, http.StatusForbidden, "error", "无权访问", nil, apperr.Forbidden("您的角色没有此项操作权限。"))
			return
		}
		h(w, r)
	})
}

func pathID(r *http.Request, name string) int64 {
	n, _ := strconv.ParseInt(r.PathValue(name), 10, 64)
	return n
}

func formInt(r *http.Request, name string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue(name)))
	return n
}

// formID reads a posted whole number such as a record number; 0 when absent or not a number.
func formID(r *http.Request, name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(r.PostFormValue(name)), 10, 64)
	return n
}

func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
