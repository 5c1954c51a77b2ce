package share

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
)

// Handler serves the departments' sharing API under /share/.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /share/v1/token", s.token)
	mux.Handle("GET /share/v1/recipients/{idnumber}", s.call("recipients.get", ScopeRecipientStatus, s.recipientGet))
	mux.Handle("POST /share/v1/recipients/check", s.call("recipients.check", ScopeRecipientStatus, s.recipientCheck))
	mux.Handle("GET /share/v1/changes", s.call("changes", ScopeChanges, s.changesGet))
	mux.Handle("POST /share/v1/subscriptions", s.call("subscriptions.create", ScopeChanges, s.subscriptionCreate))
	mux.Handle("GET /share/v1/subscriptions", s.call("subscriptions.list", ScopeChanges, s.subscriptionList))
	mux.Handle("DELETE /share/v1/subscriptions/{id}", s.call("subscriptions.delete", ScopeChanges, s.subscriptionDelete))
	mux.Handle("DELETE /share/v1/subscriptions", s.call("subscriptions.delete", ScopeChanges, s.subscriptionDelete))
	mux.Handle("GET /share/v1/export", s.stream("export", ScopeExport, s.export))
	mux.Handle("GET /share/v1/credit-records", s.call("credit", ScopeCredit, s.creditGet))
	mux.HandleFunc("/share/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apperr.NotFound("没有这个接口"))
	})
	return mux
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apperr.Error) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Field = e.Code, e.Message, e.Field
	if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "60")
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jiuzhu-share"`)
	}
	writeJSON(w, e.Status, b)
}

var errInternal = &apperr.Error{Status: http.StatusInternalServerError, Code: "internal", Message: "系统内部错误，请稍后重试"}

// appError turns any error into the one the caller sees; internal causes
// are logged, never shown.
func (s *Service) appError(r *http.Request, err error) *apperr.Error {
	if e, ok := apperr.As(err); ok {
		return e
	}
	if s.Log != nil {
		s.Log.Error("share request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	return errInternal
}

// remoteAddr is the peer's address without the port.
func remoteAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// reply is what a JSON endpoint produces: sent only after its audit entry is written.
type reply struct {
	status  int
	body    any
	records int
}

// gate authenticates, rate-limits and checks the scope of a call. On refusal
// it audits the call, answers and returns nil.
func (s *Service) gate(w http.ResponseWriter, r *http.Request, endpoint, scope string) *Client {
	c, err := s.ClientByToken(r.Context(), bearer(r))
	if err != nil {
		e := s.appError(r, err)
		switch {
		case c != nil:
			// a revoked key or an expired token: only the key's holder had
			// the token, so the key's own limit applies
			if !s.Allow(c) {
				e = ErrRateLimited
			}
		case e.Status == http.StatusUnauthorized:
			// no key behind the token: limited by address, never by a key
			if !s.Failed(r, endpoint) {
				writeError(w, ErrTooManyFailures)
				return nil
			}
		}
		s.refuse(w, r, c, endpoint, e)
		return nil
	}
	if !s.Allow(c) {
		s.refuse(w, r, c, endpoint, ErrRateLimited)
		return nil
	}
	if !c.Allows(scope) {
		s.refuse(w, r, c, endpoint, ScopeExceeded(scope))
		return nil
	}
	return c
}

func (s *Service) refuse(w http.ResponseWriter, r *http.Request, c *Client, endpoint string, e *apperr.Error) {
	if err := s.LogCall(context.WithoutCancel(r.Context()), c, endpoint, e.Code, 0); err != nil {
		writeError(w, s.appError(r, err))
		return
	}
	writeError(w, e)
}

// call wraps a JSON endpoint: gate, run, audit, answer.
func (s *Service) call(endpoint, scope string, fn func(r *http.Request, c *Client) (reply, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.gate(w, r, endpoint, scope)
		if c == nil {
			return
		}
		rep, err := fn(r, c)
		if err != nil {
			s.refuse(w, r, c, endpoint, s.appError(r, err))
			return
		}
		if err := s.LogCall(context.WithoutCancel(r.Context()), c, endpoint, "ok", rep.records); err != nil {
			writeError(w, s.appError(r, err))
			return
		}
		if rep.body == nil {
			w.WriteHeader(rep.status)
			return
		}
		writeJSON(w, rep.status, rep.body)
	})
}

// countingWriter knows whether anything was sent, so a failure half-way
// through a download is not answered with a second status line.
type countingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.wrote = true
	return c.ResponseWriter.Write(p)
}

func (c *countingWriter) WriteHeader(code int) {
	c.wrote = true
	c.ResponseWriter.WriteHeader(code)
}

// stream wraps a download: the rows go out as they are read, and the call is
// audited with the number sent once it ends (or fails).
func (s *Service) stream(endpoint, scope string, fn func(w *countingWriter, r *http.Request, c *Client) (int, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.gate(w, r, endpoint, scope)
		if c == nil {
			return
		}
		cw := &countingWriter{ResponseWriter: w}
		n, err := fn(cw, r, c)
		if err != nil {
			e := s.appError(r, err)
			if !cw.wrote {
				s.refuse(w, r, c, endpoint, e)
				return
			}
			if lerr := s.LogCall(context.WithoutCancel(r.Context()), c, endpoint, "interrupted", n); lerr != nil && s.Log != nil {
				s.Log.Error("share: audit of an interrupted export failed", "err", lerr)
			}
			return
		}
		if err := s.LogCall(context.WithoutCancel(r.Context()), c, endpoint, "ok", n); err != nil && s.Log != nil {
			s.Log.Error("share: audit of an export failed", "err", err)
		}
	})
}

// token is the client-credentials grant: JSON or form client_id and client_secret.
func (s *Service) token(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	// every refusal before the secret is checked counts as a failed
	// authentication of the address, like a wrong secret
	fail := func(c *Client, e *apperr.Error) {
		if !s.Failed(r, "token") {
			writeError(w, ErrTooManyFailures)
			return
		}
		s.refuse(w, r, c, "token", e)
	}
	if ct == "application/json" {
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
			fail(nil, apperr.Invalid("", "bad_request", "请求体不是有效的 JSON"))
			return
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		in.ClientID, in.ClientSecret, in.GrantType = r.PostFormValue("client_id"), r.PostFormValue("client_secret"), r.PostFormValue("grant_type")
		if id, secret, ok := r.BasicAuth(); ok && in.ClientID == "" {
			in.ClientID, in.ClientSecret = id, secret
		}
	}
	if in.GrantType != "" && in.GrantType != "client_credentials" {
		fail(nil, apperr.Invalid("grant_type", "unsupported_grant_type", "只支持 client_credentials 授权方式"))
		return
	}
	// the secret is checked before the address's allowance: one indexed read,
	// while the costly part of a refusal is its audit append; so the right
	// secret is never refused for others' failures from the same address
	// (a shared proxy or NAT)
	c, err := s.authenticate(r.Context(), in.ClientID, in.ClientSecret)
	switch {
	case errors.Is(err, ErrInvalidClient):
		// a wrong secret or an unknown client_id: the address pays, not the
		// key named (a client_id is no secret); the refusal is still audited
		// against that key while the address is within its allowance
		fail(c, ErrInvalidClient)
		return
	case c == nil && err != nil:
		s.refuse(w, r, nil, "token", s.appError(r, err))
		return
	}
	// the right secret (of a live or a revoked key): the key's own limit
	if !s.Allow(c) {
		s.refuse(w, r, c, "token", ErrRateLimited)
		return
	}
	if err != nil {
		s.refuse(w, r, c, "token", s.appError(r, err))
		return
	}
	tok, exp, err := s.IssueToken(r.Context(), c)
	if err != nil {
		s.refuse(w, r, c, "token", s.appError(r, err))
		return
	}
	if err := s.LogCall(context.WithoutCancel(r.Context()), c, "token", "ok", 0); err != nil {
		writeError(w, s.appError(r, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(exp.Sub(s.now()).Seconds()),
		"scope": strings.Join(c.Scopes, " ")})
}

type programmeOut struct {
	Programme string `json:"programme"`
	Label     string `json:"label"`
	Since     string `json:"since"`
	AmountFen *int64 `json:"amount_fen,omitempty"`
}

type householdOut struct {
	HouseholdNo string `json:"household_no"`
	Size        int    `json:"size"`
	RegionCode  string `json:"region_code"`
	RegionName  string `json:"region_name"`
}

type recipientOut struct {
	Index      *int           `json:"index,omitempty"`
	IDNumber   string         `json:"id_number,omitempty"`
	Found      bool           `json:"found"`
	Recipient  bool           `json:"recipient"`
	Programmes []programmeOut `json:"programmes"`
	Name       string         `json:"name,omitempty"`
	Household  *householdOut  `json:"household,omitempty"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// ShowID is an ID number as a key may see it: in full with person.id,
// otherwise only its region part (the first six digits). The six-and-four
// mask of public notices is not enough here: with the birth year beside it
// and the checksum digit among the four, a key could guess the birth date
// and confirm each guess with a lookup by ID number.
func (s *Service) ShowID(c *Client, masked, enc string) string {
	if c.Allows(ScopePersonID) && enc != "" {
		if id, err := s.Keys.Open(enc); err == nil {
			return id
		}
	}
	return RegionOnly(masked)
}

// RegionOnly keeps the first six digits of a (masked) ID number.
func RegionOnly(id string) string {
	if len(id) < 6 {
		return strings.Repeat("*", len(id))
	}
	return id[:6] + strings.Repeat("*", len(id)-6)
}

func (s *Service) recipientView(c *Client, r *Recipient) recipientOut {
	out := recipientOut{IDNumber: s.ShowID(c, r.IDMasked, r.idEnc), Found: true, Recipient: len(r.Entitlements) > 0, Programmes: []programmeOut{}}
	for _, e := range r.Entitlements {
		p := programmeOut{Programme: e.Programme, Label: ProgrammeLabel(e.Programme), Since: e.Since}
		if c.Allows(ScopeAmount) {
			amt := e.AmountFen
			p.AmountFen = &amt
		}
		out.Programmes = append(out.Programmes, p)
	}
	if c.Allows(ScopePersonName) {
		out.Name = r.Name
	}
	if c.Allows(ScopeHousehold) && r.HouseholdNo != "" {
		out.Household = &householdOut{HouseholdNo: r.HouseholdNo, Size: r.HouseholdSize, RegionCode: r.RegionCode, RegionName: s.Tree.FullName(r.RegionCode)}
	}
	return out
}

func idError(err error) *apperr.Error {
	if e, ok := idcard.AsError(err); ok {
		return apperr.Invalid("id_number", e.Code, e.Message)
	}
	return apperr.Invalid("id_number", "invalid_id_number", "身份证号码无效")
}

func (s *Service) recipientGet(r *http.Request, c *Client) (reply, error) {
	programme := r.URL.Query().Get("programme")
	if err := CheckProgramme(programme); err != nil {
		return reply{}, err
	}
	id, err := idcard.Parse(r.PathValue("idnumber"), s.now())
	if err != nil {
		return reply{}, idError(err)
	}
	hash := s.Keys.Hash(id.Number)
	found, err := s.recipients(r.Context(), c, []string{hash}, programme)
	if err != nil {
		return reply{}, err
	}
	p, ok := found[hash]
	if !ok {
		return reply{}, apperr.NotFound("在该密钥的授权地区内没有找到此人")
	}
	return reply{status: http.StatusOK, body: s.recipientView(c, p), records: 1}, nil
}

// MaxCheck is the most ID numbers one bulk check takes.
const MaxCheck = 1000

func (s *Service) recipientCheck(r *http.Request, c *Client) (reply, error) {
	var in struct {
		IDNumbers []string `json:"id_numbers"`
		Programme string   `json:"programme"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return reply{}, apperr.Invalid("", "bad_request", "请求体应为 JSON：{\"id_numbers\": [...], \"programme\": \"\"}")
	}
	if err := CheckProgramme(in.Programme); err != nil {
		return reply{}, err
	}
	switch {
	case len(in.IDNumbers) == 0:
		return reply{}, apperr.Invalid("id_numbers", "id_numbers_required", "请提供要查询的身份证号码")
	case len(in.IDNumbers) > MaxCheck:
		return reply{}, apperr.Invalid("id_numbers", "too_many", fmt.Sprintf("一次最多查询 %d 个身份证号码", MaxCheck))
	}
	results := make([]recipientOut, len(in.IDNumbers))
	hashes := make([]string, len(in.IDNumbers))
	var valid []string
	now := s.now()
	for i, raw := range in.IDNumbers {
		idx := i
		results[i].Index = &idx
		results[i].Programmes = []programmeOut{}
		id, err := idcard.Parse(raw, now)
		if err != nil {
			e := idError(err)
			results[i].Error = &struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}{e.Code, e.Message}
			continue
		}
		hashes[i] = s.Keys.Hash(id.Number)
		results[i].IDNumber = idcard.Mask(id.Number)
		if c.Allows(ScopePersonID) {
			results[i].IDNumber = id.Number
		}
		valid = append(valid, hashes[i])
	}
	found, err := s.recipients(r.Context(), c, valid, in.Programme)
	if err != nil {
		return reply{}, err
	}
	n := 0
	for i := range results {
		if p, ok := found[hashes[i]]; ok && hashes[i] != "" {
			v := s.recipientView(c, p)
			v.Index = results[i].Index
			results[i] = v
			n++
		}
	}
	return reply{status: http.StatusOK, body: map[string]any{"results": results}, records: n}, nil
}

// changeOut is one feed entry as a key may see it.
type changeOut struct {
	Seq       int64  `json:"seq"`
	At        string `json:"at"`
	Kind      string `json:"kind"`
	Programme string `json:"programme"`
	Label     string `json:"label"`
	Effective string `json:"effective"`
	Region    string `json:"region_code"`
	IDNumber  string `json:"id_number"`
	Name      string `json:"name,omitempty"`
	AmountFen *int64 `json:"amount_fen,omitempty"`
}

func (s *Service) changeView(c *Client, ch Change) changeOut {
	o := changeOut{Seq: ch.Seq, At: ch.At.UTC().Format("2006-01-02T15:04:05Z"), Kind: ch.Kind, Programme: ch.Programme, Label: ProgrammeLabel(ch.Programme),
		Effective: ch.Effective, Region: ch.RegionCode, IDNumber: s.ShowID(c, ch.IDMasked, ch.idEnc)}
	if c.Allows(ScopePersonName) {
		o.Name = ch.Name
	}
	if c.Allows(ScopeAmount) {
		amt := ch.AmountFen
		o.AmountFen = &amt
	}
	return o
}

func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, apperr.Invalid(name, "invalid_"+name, "参数 "+name+" 应为非负整数")
	}
	return n, nil
}

// creditGet hands the credit platform the fraud records after its cursor in
// the key's region; overturned and expired records come with exportable=false
// so the platform withdraws them.
func (s *Service) creditGet(r *http.Request, c *Client) (reply, error) {
	if s.Credit == nil {
		return reply{}, apperr.NotFound("本平台未开通失信记录共享")
	}
	after, err := intParam(r, "after", 0)
	if err != nil {
		return reply{}, err
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return reply{}, err
	}
	if limit == 0 || limit > 1000 {
		return reply{}, apperr.Invalid("limit", "invalid_limit", "limit 应为 1 至 1000")
	}
	recs, next, err := s.Credit.Feed(r.Context(), after, int(limit), c.Scope())
	if err != nil {
		return reply{}, err
	}
	if recs == nil {
		recs = []credit.Record{} // an empty page is [], not null
	}
	return reply{status: http.StatusOK, body: map[string]any{"records": recs, "next_after": next}, records: len(recs)}, nil
}

func (s *Service) changesGet(r *http.Request, c *Client) (reply, error) {
	after, err := intParam(r, "after", 0)
	if err != nil {
		return reply{}, err
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return reply{}, err
	}
	if limit == 0 || limit > MaxChanges {
		return reply{}, apperr.Invalid("limit", "invalid_limit", fmt.Sprintf("limit 应为 1 至 %d", MaxChanges))
	}
	programme := r.URL.Query().Get("programme")
	if err := CheckProgramme(programme); err != nil {
		return reply{}, err
	}
	chs, next, err := s.changes(r.Context(), after, int(limit), c.Scope(), programme)
	if err != nil {
		return reply{}, err
	}
	out := make([]changeOut, len(chs))
	for i, ch := range chs {
		out[i] = s.changeView(c, ch)
	}
	return reply{status: http.StatusOK, body: map[string]any{"changes": out, "next_after": next}, records: len(out)}, nil
}

var errBadFormat = apperr.Invalid("format", "invalid_format", "format 应为 csv 或 xlsx")

// export streams the shared dataset: current entitlements in the key's
// region, names and ID numbers always masked, amounts only with their scope.
func (s *Service) export(w *countingWriter, r *http.Request, c *Client) (int, error) {
	programme := r.URL.Query().Get("programme")
	if err := CheckProgramme(programme); err != nil {
		return 0, err
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "xlsx" {
		return 0, errBadFormat
	}
	if format == "xlsx" {
		return s.exportXLSX(r.Context(), w, c, programme)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="jiuzhu-shared.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	header := exportHeader(c)
	n := 0
	// the byte-order mark lets Excel read the Chinese text as UTF-8
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return 0, err
	}
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	err := s.exportRows(r.Context(), c, programme, func(row []string) error {
		n++
		if err := cw.Write(row); err != nil {
			return err
		}
		if n%5000 == 0 {
			cw.Flush()
		}
		return cw.Error()
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return n, err
}

func exportHeader(c *Client) []string {
	h := []string{"姓名", "身份证号码", "区划代码", "所在地区", "救助项目", "起始月份"}
	if c.Allows(ScopeAmount) {
		h = append(h, "月救助金额（元）")
	}
	return h
}

// exportRows reads the dataset row by row; nothing is held beyond one row.
func (s *Service) exportRows(ctx context.Context, c *Client, programme string, fn func([]string) error) error {
	amount := c.Allows(ScopeAmount)
	err := db.Each(ctx, s.DB, `SELECT pe.name, pe.id_masked, c.region_code, c.programme, c.pay_from, c.amount_fen
		FROM cases c JOIN persons pe ON pe.id = c.applicant_id
		WHERE c.region_code LIKE $1 || '%' AND `+currentSQL+` AND ($3 = '' OR c.programme = $3)
		ORDER BY c.region_code, c.id`, []any{c.Scope(), s.thisMonth(), programme},
		func(scan func(...any) error) error {
			var name, masked, reg, prog, since string
			var fen int64
			if err := scan(&name, &masked, &reg, &prog, &since, &fen); err != nil {
				return err
			}
			row := []string{MaskName(name), RegionOnly(masked), reg, s.Tree.FullName(reg), ProgrammeLabel(prog), since}
			if amount {
				row = append(row, fmt.Sprintf("%d.%02d", fen/100, fen%100))
			}
			return fn(row)
		})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("share: export: %w", err)
	}
	return err
}
