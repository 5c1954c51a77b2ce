// Package share serves assistance data to other departments and portals:
// API keys per consuming department with field and region scopes, rate
// limits, an audit entry for every call, a change feed of entitlements and
// masked bulk exports. The DCI endpoints (package dci) authenticate their
// callers with the same keys.
package share

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the share_* tables.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
	Log  *slog.Logger
	// Now is the clock (tests move it); nil is the real one.
	Now func() time.Time
	// Settle is how long a row of the change feed must have been written
	// before the feed hands it out. On PostgreSQL a transaction that took a
	// lower id may commit after one with a higher id; a reader that had
	// already passed the higher id would never see the lower one. Waiting
	// until every transaction older than Settle has committed closes that
	// gap. Zero means DefaultSettle on PostgreSQL and none on SQLite, whose
	// writers are serialised; negative means none.
	Settle time.Duration
	// HTTP delivers subscriptions' batches; nil is a client with a 10 s timeout.
	HTTP *http.Client
	// Credit is the credit records' feed the credit platform fetches.
	Credit CreditFeed

	// FailuresPerMinute is how many failed authentications one remote
	// address may make a minute before it is refused cheaply (429); zero
	// means DefaultFailureRate.
	FailuresPerMinute int

	keys  limiter  // the keys' rate limits, by key
	fails failures // failed authentications, by remote address
}

// DefaultSettle is the feed's holding time on PostgreSQL (see Service.Settle).
const DefaultSettle = 5 * time.Second

// TokenLifetime is how long a bearer token is valid.
const TokenLifetime = time.Hour

// DefaultRate is a key's rate limit when none is given, in calls per minute.
const DefaultRate = 600

// Scopes a key may hold. A key sees only what its scopes name, inside its region.
const (
	ScopeRecipientStatus = "recipient.status" // is this person a current recipient of programme X, since when
	ScopePersonName      = "person.name"      // the name beside a masked ID number
	ScopePersonID        = "person.id"        // the full ID number instead of the masked one
	ScopeHousehold       = "household"        // household number, size and region
	ScopeAmount          = "entitlement.amount"
	ScopeChanges         = "changes"    // the change feed and subscriptions
	ScopeExport          = "export"     // bulk export of the shared dataset
	ScopeDCISearch       = "dci.search" // DCI search, sync and async, and transaction status
	ScopeDCISubscribe    = "dci.subscribe"
	ScopeCredit          = "credit.records" // the credit platform's feed of fraud records, with full ID numbers
)

// CreditFeed is what the credit platform fetches (package credit).
type CreditFeed interface {
	Feed(ctx context.Context, after int64, limit int, regionPrefix string) ([]credit.Record, int64, error)
}

// AllScopes lists every scope with its Chinese label, in the order the UI offers them.
var AllScopes = []struct{ Value, Label string }{
	{ScopeRecipientStatus, "救助对象身份查询（是否在保、项目、起始时间）"},
	{ScopePersonName, "姓名"},
	{ScopePersonID, "完整身份证号码"},
	{ScopeHousehold, "家庭户信息（户编号、人数、地区）"},
	{ScopeAmount, "救助金额"},
	{ScopeChanges, "变动推送（变动流与订阅）"},
	{ScopeExport, "共享数据集批量导出"},
	{ScopeDCISearch, "DCI 社会登记查询"},
	{ScopeDCISubscribe, "DCI 订阅通知"},
	{ScopeCredit, "失信记录（信用平台）"},
}

// ScopeLabel is the Chinese name of a scope.
func ScopeLabel(s string) string {
	for _, x := range AllScopes {
		if x.Value == s {
			return x.Label
		}
	}
	return s
}

// Client is an authenticated consumer: one API key of one department.
type Client struct {
	ID            int64
	ClientID      string // public identifier, also the DCI sender_id
	Name          string
	Department    string
	RegionCode    string // scope: the key sees only this part of the tree
	Scopes        []string
	RatePerMinute int
	// PublicKey verifies the signatures of the DCI message envelopes this
	// sender signs (Ed25519, raw 32 bytes); nil when the key signs nothing.
	PublicKey   []byte
	CallbackURL string // where asynchronous DCI answers and notifications go

	Status       string // active or revoked
	CreatedBy    string
	CreatedAt    time.Time
	RevokedBy    string
	RevokedAt    *time.Time
	RevokeReason string
	// filled by Clients and ClientByID from the audit log
	Calls      int64
	LastCallAt *time.Time
}

// Allows reports whether the key holds a scope.
func (c *Client) Allows(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Scope is the region prefix every query made for this key is limited to.
func (c *Client) Scope() string { return region.ScopePrefix(c.RegionCode) }

// Revoked reports whether the key was revoked.
func (c *Client) Revoked() bool { return c.Status == "revoked" }

// Change is one entry of the change feed: an entitlement started, changed or ended.
type Change struct {
	Seq        int64
	At         time.Time
	Kind       string // started, changed, ended
	Programme  string
	PersonID   int64
	CaseID     int64
	RegionCode string
	Effective  string // YYYY-MM-DD
	AmountFen  int64
	// the beneficiary as the feed may show them: masked ID number and name
	IDMasked string
	Name     string
	idEnc    string
}

// Errors the API and the DCI endpoints return to callers.
var (
	ErrInvalidClient = &apperr.Error{Status: http.StatusUnauthorized, Code: "invalid_client", Message: "客户端标识或密钥错误"}
	ErrKeyRevoked    = &apperr.Error{Status: http.StatusUnauthorized, Code: "key_revoked", Message: "该接口密钥已被吊销，请联系数据共享管理员"}
	ErrTokenMissing  = &apperr.Error{Status: http.StatusUnauthorized, Code: "token_missing", Message: "缺少访问令牌（Authorization: Bearer …）"}
	ErrTokenInvalid  = &apperr.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "访问令牌无效"}
	ErrTokenExpired  = &apperr.Error{Status: http.StatusUnauthorized, Code: "token_expired", Message: "访问令牌已过期，请重新获取"}
	ErrRateLimited   = &apperr.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "调用过于频繁，已超过该密钥的频率限制，请稍后再试"}
)

// ScopeExceeded is the refusal of a call the key's scopes do not cover.
func ScopeExceeded(scope string) *apperr.Error {
	return &apperr.Error{Status: http.StatusForbidden, Code: "scope_exceeded", Message: "该密钥未获授权：" + ScopeLabel(scope)}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// secretHash and tokenHash are keyed (HMAC-SM3): a database dump alone
// neither reveals nor lets anyone test a secret or token.
func (s *Service) secretHash(secret string) string { return s.Keys.Hash("share-secret:" + secret) }
func (s *Service) tokenHash(token string) string   { return s.Keys.Hash("share-token:" + token) }

// NewClient is what an administrator fills in to issue a key.
type NewClient struct {
	Name          string
	Department    string
	RegionCode    string
	Scopes        []string
	RatePerMinute int
	CallbackURL   string
	PublicKey     []byte // Ed25519, 32 bytes
}

const clientCols = `id, client_id, name, department, region_code, scopes, rate_per_minute, public_key, callback_url, status, created_by, created_at, revoked_by, revoked_at, revoke_reason`

func scanClient(row interface{ Scan(...any) error }) (*Client, error) {
	var c Client
	var scopes, pk string
	var revokedAt sql.NullTime
	if err := row.Scan(&c.ID, &c.ClientID, &c.Name, &c.Department, &c.RegionCode, &scopes, &c.RatePerMinute, &pk, &c.CallbackURL, &c.Status,
		&c.CreatedBy, &c.CreatedAt, &c.RevokedBy, &revokedAt, &c.RevokeReason); err != nil {
		return nil, err
	}
	if scopes != "" {
		c.Scopes = strings.Split(scopes, ",")
	}
	if pk != "" {
		c.PublicKey, _ = base64.StdEncoding.DecodeString(pk)
	}
	if revokedAt.Valid {
		t := revokedAt.Time
		c.RevokedAt = &t
	}
	return &c, nil
}

// ValidCallback checks a callback URL: absolute http or https.
func ValidCallback(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", apperr.Invalid("callback_url", "invalid_callback", "回调地址应为完整的 http(s):// 网址")
	}
	return u.String(), nil
}

// CreateClient issues a key. The secret is returned once and kept only hashed.
func (s *Service) CreateClient(ctx context.Context, actor *auth.User, in NewClient) (Client, string, error) {
	if !actor.Can(auth.ShareAdmin) {
		return Client{}, "", apperr.Forbidden("您的角色不能签发数据共享密钥")
	}
	in.Name, in.Department, in.RegionCode = strings.TrimSpace(in.Name), strings.TrimSpace(in.Department), strings.TrimSpace(in.RegionCode)
	switch {
	case in.Department == "":
		return Client{}, "", apperr.Invalid("department", "department_required", "请填写使用部门")
	case in.Name == "":
		return Client{}, "", apperr.Invalid("name", "name_required", "请填写密钥名称（用途或系统名称）")
	case utf8.RuneCountInString(in.Name) > 100 || utf8.RuneCountInString(in.Department) > 100:
		return Client{}, "", apperr.Invalid("name", "name_too_long", "名称和部门不超过100个字")
	}
	if _, ok := s.Tree.Get(in.RegionCode); !ok {
		return Client{}, "", apperr.Invalid("region_code", "unknown_region", "区划代码不存在")
	}
	if !region.Within(actor.Region, in.RegionCode) {
		return Client{}, "", apperr.Invalid("region_code", "region_out_of_scope", "密钥的地区范围须在您的管辖范围内")
	}
	var scopes []string
	for _, sc := range in.Scopes {
		sc = strings.TrimSpace(sc)
		if sc == "" || slices.Contains(scopes, sc) {
			continue
		}
		if ScopeLabel(sc) == sc {
			return Client{}, "", apperr.Invalid("scopes", "unknown_scope", "未知的授权范围："+sc)
		}
		scopes = append(scopes, sc)
	}
	if len(scopes) == 0 {
		return Client{}, "", apperr.Invalid("scopes", "scopes_required", "请至少选择一项授权范围")
	}
	if in.RatePerMinute == 0 {
		in.RatePerMinute = DefaultRate
	}
	if in.RatePerMinute < 1 || in.RatePerMinute > 100000 {
		return Client{}, "", apperr.Invalid("rate_per_minute", "invalid_rate", "频率限制应为每分钟1至100000次")
	}
	if in.CallbackURL != "" {
		u, err := ValidCallback(in.CallbackURL)
		if err != nil {
			return Client{}, "", err
		}
		in.CallbackURL = u
	}
	pk := ""
	if len(in.PublicKey) > 0 {
		if len(in.PublicKey) != 32 {
			return Client{}, "", apperr.Invalid("public_key", "invalid_public_key", "签名公钥应为32字节的 Ed25519 公钥（Base64 编码）")
		}
		pk = base64.StdEncoding.EncodeToString(in.PublicKey)
	}
	now := s.now().Truncate(time.Microsecond)
	secret := randomString(32)
	c := Client{ClientID: "jz_" + randomHex(8), Name: in.Name, Department: in.Department, RegionCode: in.RegionCode,
		Scopes: scopes, RatePerMinute: in.RatePerMinute, PublicKey: in.PublicKey, CallbackURL: in.CallbackURL, Status: "active",
		CreatedBy: actor.Username, CreatedAt: now}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO share_clients (client_id, secret_hash, name, department, region_code, scopes, rate_per_minute, public_key, callback_url, status, created_by, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'active',$10,$11) RETURNING id`, c.ClientID, s.secretHash(secret), c.Name, c.Department, c.RegionCode,
			strings.Join(scopes, ","), c.RatePerMinute, pk, c.CallbackURL, c.CreatedBy, now).Scan(&c.ID); err != nil {
			return fmt.Errorf("share: insert client: %w", err)
		}
		return audit.Append(ctx, tx, actor.Actor(), "share.key.create", "share_client", c.ClientID, c.RegionCode,
			map[string]any{"name": c.Name, "department": c.Department, "scopes": scopes, "rate_per_minute": c.RatePerMinute})
	})
	if err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// Revoke ends a key at once: its tokens are kept until they expire so that
// a call with one is refused as key_revoked, not as an unknown token.
func (s *Service) Revoke(ctx context.Context, actor *auth.User, id int64, reason string) error {
	if !actor.Can(auth.ShareAdmin) {
		return apperr.Forbidden("您的角色不能吊销数据共享密钥")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return apperr.Invalid("reason", "reason_required", "请写明吊销理由")
	}
	c, err := s.ClientByID(ctx, actor, id)
	if err != nil {
		return err
	}
	if c.Revoked() {
		return apperr.Conflict("already_revoked", "该密钥已被吊销")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE share_clients SET status = 'revoked', revoked_by = $1, revoked_at = $2, revoke_reason = $3 WHERE id = $4 AND status = 'active'`,
			actor.Username, s.now(), reason, id)
		if err != nil {
			return fmt.Errorf("share: revoke: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("already_revoked", "该密钥已被吊销")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE share_subscriptions SET status = 'cancelled', cancelled_at = $1 WHERE client_id = $2 AND status = 'active'`, s.now(), id); err != nil {
			return fmt.Errorf("share: revoke subscriptions: %w", err)
		}
		return audit.Append(ctx, tx, actor.Actor(), "share.key.revoke", "share_client", c.ClientID, c.RegionCode, map[string]any{"reason": reason})
	})
}

// Clients lists the keys in the administrator's region, newest first, with
// their call counts from the audit log.
func (s *Service) Clients(ctx context.Context, actor *auth.User) ([]Client, error) {
	if !actor.Can(auth.ShareAdmin) {
		return nil, apperr.Forbidden("您的角色不能管理数据共享密钥")
	}
	var out []Client
	err := db.Each(ctx, s.DB, `SELECT `+clientCols+` FROM share_clients WHERE region_code LIKE $1 || '%' ORDER BY id DESC`, []any{actor.Scope()},
		func(scan func(...any) error) error {
			c, err := scanClient(scanFunc(scan))
			if err != nil {
				return err
			}
			out = append(out, *c)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("share: clients: %w", err)
	}
	for i := range out {
		if err := s.callStats(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type scanFunc func(...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// callStats counts a key's calls in the audit log (index on object type and id).
func (s *Service) callStats(ctx context.Context, c *Client) error {
	var last sql.NullString
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), MAX(seq) FROM audit_log WHERE object_type = 'share_client' AND object_id = $1 AND action = 'share.call'`,
		c.ClientID).Scan(&c.Calls, &last); err != nil {
		return fmt.Errorf("share: call count: %w", err)
	}
	if last.Valid {
		var at time.Time
		if err := s.DB.QueryRowContext(ctx, `SELECT at FROM audit_log WHERE seq = $1`, last.String).Scan(&at); err != nil {
			return fmt.Errorf("share: last call: %w", err)
		}
		c.LastCallAt = &at
	}
	return nil
}

// ClientByID returns one key inside the administrator's region.
func (s *Service) ClientByID(ctx context.Context, actor *auth.User, id int64) (*Client, error) {
	if !actor.Can(auth.ShareAdmin) {
		return nil, apperr.Forbidden("您的角色不能管理数据共享密钥")
	}
	c, err := scanClient(s.DB.QueryRowContext(ctx, `SELECT `+clientCols+` FROM share_clients WHERE id = $1 AND region_code LIKE $2 || '%'`, id, actor.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("没有找到该密钥")
	}
	if err != nil {
		return nil, fmt.Errorf("share: client: %w", err)
	}
	if err := s.callStats(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Call is one audited call of a key, as the administrators' page shows it.
type Call struct {
	At       time.Time
	Endpoint string
	Outcome  string
	Records  int
}

// OK reports whether the call succeeded.
func (c Call) OK() bool { return c.Outcome == "ok" }

// OutcomeLabel names the outcome in Chinese.
func (c Call) OutcomeLabel() string {
	if l, ok := outcomeLabels[c.Outcome]; ok {
		return l
	}
	return "被拒绝（" + c.Outcome + "）"
}

var outcomeLabels = map[string]string{
	"ok": "成功", "rate_limited": "超过频率限制", "scope_exceeded": "超出授权范围", "key_revoked": "密钥已吊销", "token_expired": "令牌已过期",
	"invalid_token": "令牌无效", "token_missing": "缺少令牌", "invalid_client": "标识或密钥错误", "not_found": "未找到", "failed": "推送失败",
	"interrupted": "传输中断", "internal": "系统错误", "auth_failures_limited": "认证失败过多（同一地址超限部分汇总记录）",
	"callback_outside": "回调地址不在登记地址之下，订阅已停止",
}

// Calls returns a key's most recent calls from the audit log.
func (s *Service) Calls(ctx context.Context, actor *auth.User, c *Client, limit int) ([]Call, error) {
	entries, err := audit.Search(ctx, s.DB, audit.Query{ScopePrefix: actor.Scope(), Action: "share.call", ObjectType: "share_client", ObjectID: c.ClientID, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("share: calls: %w", err)
	}
	out := make([]Call, 0, len(entries))
	for _, e := range entries {
		var d struct {
			Endpoint string `json:"endpoint"`
			Outcome  string `json:"outcome"`
			Records  int    `json:"records"`
		}
		json.Unmarshal([]byte(e.Detail), &d)
		out = append(out, Call{At: e.At, Endpoint: d.Endpoint, Outcome: d.Outcome, Records: d.Records})
	}
	return out, nil
}

// clientByClientID finds a key by its public identifier.
func (s *Service) clientByClientID(ctx context.Context, clientID string) (*Client, string, error) {
	var hash string
	row := s.DB.QueryRowContext(ctx, `SELECT `+clientCols+`, secret_hash FROM share_clients WHERE client_id = $1`, clientID)
	var c *Client
	c, err := scanClient(scanFunc(func(dest ...any) error { return row.Scan(append(dest, &hash)...) }))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", ErrInvalidClient
	}
	if err != nil {
		return nil, "", fmt.Errorf("share: client: %w", err)
	}
	return c, hash, nil
}

// ClientByClientID is the key behind a public identifier as it stands now,
// revoked or not: for work done on a key's behalf after its call, such as
// notifying a subscriber.
func (s *Service) ClientByClientID(ctx context.Context, clientID string) (*Client, error) {
	c, _, err := s.clientByClientID(ctx, clientID)
	return c, err
}

// Authenticate checks a client id and secret (the client-credentials grant).
func (s *Service) Authenticate(ctx context.Context, clientID, secret string) (*Client, error) {
	c, err := s.authenticate(ctx, clientID, secret)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// authenticate also returns the key a wrong secret was tried on, so that the
// refusal is logged against it.
func (s *Service) authenticate(ctx context.Context, clientID, secret string) (*Client, error) {
	clientID, secret = strings.TrimSpace(clientID), strings.TrimSpace(secret)
	if clientID == "" || secret == "" || len(clientID) > 64 {
		return nil, ErrInvalidClient
	}
	c, hash, err := s.clientByClientID(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if !hmacEqual(hash, s.secretHash(secret)) {
		return c, ErrInvalidClient
	}
	if c.Revoked() {
		return c, ErrKeyRevoked
	}
	return c, nil
}

func hmacEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// IssueToken gives an authenticated client a bearer token.
func (s *Service) IssueToken(ctx context.Context, c *Client) (token string, expires time.Time, err error) {
	if c == nil || c.Revoked() {
		return "", time.Time{}, ErrKeyRevoked
	}
	now := s.now().Truncate(time.Microsecond)
	token, expires = randomString(32), now.Add(TokenLifetime)
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		// expired tokens of the key are of no use to anyone
		if _, err := tx.ExecContext(ctx, `DELETE FROM share_tokens WHERE client_id = $1 AND expires_at < $2`, c.ID, now); err != nil {
			return err
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM share_clients WHERE id = $1`, c.ID).Scan(&status); err != nil {
			return err
		}
		if status != "active" {
			return ErrKeyRevoked
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO share_tokens (token_hash, client_id, created_at, expires_at) VALUES ($1,$2,$3,$4)`, s.tokenHash(token), c.ID, now, expires)
		return err
	})
	if err != nil {
		if _, ok := apperr.As(err); ok {
			return "", time.Time{}, err
		}
		return "", time.Time{}, fmt.Errorf("share: issue token: %w", err)
	}
	return token, expires, nil
}

// ClientByToken resolves a bearer token; revoked keys and expired tokens fail.
func (s *Service) ClientByToken(ctx context.Context, token string) (*Client, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, ErrTokenMissing
	}
	if len(token) > 200 {
		return nil, ErrTokenInvalid
	}
	var expires time.Time
	row := s.DB.QueryRowContext(ctx, `SELECT `+prefixCols("c.", clientCols)+`, t.expires_at FROM share_tokens t JOIN share_clients c ON c.id = t.client_id WHERE t.token_hash = $1`, s.tokenHash(token))
	c, err := scanClient(scanFunc(func(dest ...any) error { return row.Scan(append(dest, &expires)...) }))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrTokenInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("share: token: %w", err)
	}
	if c.Revoked() {
		return c, ErrKeyRevoked
	}
	if !expires.After(s.now()) {
		return c, ErrTokenExpired
	}
	return c, nil
}

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// LogCall records one call in the audit log: endpoint, outcome and how many
// records went out. c may be nil when the caller could not be identified.
// Nothing personal goes into the entry: no ID number, no name.
func (s *Service) LogCall(ctx context.Context, c *Client, endpoint, outcome string, records int) error {
	a := audit.Actor{Username: "share:unknown", Role: "share_client", Region: "360000000000"}
	objectID, reg := "", "360000000000"
	if s.Tree != nil && s.Tree.Root != nil {
		a.Region, reg = s.Tree.Root.Code, s.Tree.Root.Code
	}
	if c != nil {
		a = audit.Actor{Username: "share:" + c.ClientID, Role: "share_client", Region: c.RegionCode}
		objectID, reg = c.ClientID, c.RegionCode
	}
	err := audit.Record(ctx, s.DB, a, "share.call", "share_client", objectID, reg, map[string]any{"endpoint": endpoint, "outcome": outcome, "records": records})
	if err != nil {
		return fmt.Errorf("share: log call: %w", err)
	}
	return nil
}

// ScopeLabels names the key's scopes in Chinese, for the administrators' pages.
func (c *Client) ScopeLabels() []string {
	out := make([]string, len(c.Scopes))
	for i, s := range c.Scopes {
		out[i] = ScopeLabel(s)
	}
	return out
}
