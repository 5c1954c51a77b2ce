package dci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"golang.org/x/crypto/blake2b"

	"jiuzhu/internal/db"
	"jiuzhu/internal/share"
)

// envelope is a message as received: the header and message kept as the
// exact bytes sent, because the signature covers those bytes.
type envelope struct {
	Signature string          `json:"signature"`
	Header    json.RawMessage `json:"header"`
	Message   json.RawMessage `json:"message"`
}

type msgHeader struct {
	Version        string `json:"version"`
	MessageID      string `json:"message_id"`
	MessageTS      string `json:"message_ts"`
	Action         string `json:"action"`
	SenderID       string `json:"sender_id"`
	SenderURI      string `json:"sender_uri"`
	ReceiverID     string `json:"receiver_id"`
	TotalCount     int    `json:"total_count"`
	IsMsgEncrypted bool   `json:"is_msg_encrypted"`
}

// request is an authenticated, validated message ready for its handler.
type request struct {
	ep       endpointKind
	client   *share.Client
	header   msgHeader
	message  json.RawMessage
	callback string // base URL of the sender's callbacks (async only)
}

// endpoint runs the checks every request message passes, in this order:
// token, rate limit, scope, body, encryption, schema, header, signature,
// replay. Each refusal is audited and changes nothing.
func (s *Service) endpoint(ep endpointKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tok := bearer(r)
		if tok == "" {
			s.refusedUnknown(w, r, ep.path, "err.request.unauthorized", "", func() {
				s.reject(w, ep, refuse(http.StatusUnauthorized, "err.request.unauthorized", "", "缺少访问令牌（Authorization: Bearer）"))
			})
			return
		}
		c, err := s.Share.ClientByToken(ctx, tok)
		if err != nil || c == nil {
			answer := func() {
				s.reject(w, ep, refuse(http.StatusUnauthorized, "err.request.unauthorized", "", "访问令牌无效、已过期或密钥已吊销"))
			}
			if c == nil {
				s.refusedUnknown(w, r, ep.path, "err.request.unauthorized", "", answer)
				return
			}
			// a revoked key or an expired token: the refusal is logged against the key
			s.logCall(ctx, c, ep.path, "err.request.unauthorized", 0)
			answer()
			return
		}
		if !s.Share.Allow(c) {
			s.logCall(ctx, c, ep.path, "err.request.too_many_requests", 0)
			s.reject(w, ep, refuse(http.StatusTooManyRequests, "err.request.too_many_requests", "", "请求过于频繁，超过该密钥的速率限制"))
			return
		}
		if !c.Allows(ep.scope) {
			s.logCall(ctx, c, ep.path, "err.request.forbidden", 0)
			s.reject(w, ep, refuse(http.StatusForbidden, "err.request.forbidden", "", "该密钥没有 "+ep.scope+" 权限"))
			return
		}
		req, derr := s.open(ctx, r, ep, c)
		if derr != nil {
			s.logCall(ctx, c, ep.path, derr.code+" "+derr.header, 0)
			s.reject(w, ep, derr)
			return
		}
		switch ep {
		case epSyncSearch:
			s.syncSearch(w, r, req)
		case epSearch:
			s.asyncSearch(w, r, req)
		case epSyncTxnStatus, epTxnStatus:
			s.txnStatus(w, r, req)
		case epSubscribe:
			s.subscribe(w, r, req)
		case epUnsubscribe:
			s.unsubscribe(w, r, req)
		}
	}
}

// open reads and checks a message; it records the message id last, so a
// refused message does not burn its id.
func (s *Service) open(ctx context.Context, r *http.Request, ep endpointKind, c *share.Client) (*request, *dciError) {
	bad := func(header, msg string) *dciError {
		return refuse(http.StatusBadRequest, "err.request.bad", header, msg)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, refuse(http.StatusUnsupportedMediaType, "err.request.bad", "", "请求体必须是 application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, bad("", "无法读取请求体")
	}
	if len(body) > maxBody {
		return nil, refuse(http.StatusRequestEntityTooLarge, "err.request.bad", "", "请求体超过 1 MiB")
	}
	var env envelope
	var doc any
	if err := json.Unmarshal(body, &env); err != nil || json.Unmarshal(body, &doc) != nil {
		return nil, bad("", "请求体不是合法的 JSON 消息信封")
	}
	var h msgHeader
	if len(env.Header) == 0 || json.Unmarshal(env.Header, &h) != nil {
		return nil, bad("", "消息信封缺少 header 或 header 格式错误")
	}
	if h.IsMsgEncrypted {
		return nil, refuse(http.StatusBadRequest, "err.encryption.invalid", "", "本注册系统不接受加密消息（is_msg_encrypted 必须为 false）")
	}
	if h.Version != "" && h.Version != protocolVer {
		return nil, refuse(http.StatusBadRequest, "err.version.not_supported", "rjct.version.invalid", "只支持协议版本 1.0.0")
	}
	if h.Action != ep.action {
		return nil, bad("rjct.action.invalid", fmt.Sprintf("header.action 应为 %q", ep.action))
	}
	if err := validateRequest(ep.path, doc); err != nil {
		return nil, bad("", "消息不符合 DCI 社会登记接口规范："+err.Error())
	}
	if h.SenderID != c.ClientID {
		return nil, refuse(http.StatusUnauthorized, "err.sender_id.invalid", "", "header.sender_id 与访问令牌所属的密钥不符")
	}
	if h.ReceiverID != "" && h.ReceiverID != s.receiverID() {
		return nil, refuse(http.StatusBadRequest, "err.receiver_id.invalid", "", "header.receiver_id 应为 "+s.receiverID())
	}
	ts, err := time.Parse(time.RFC3339, h.MessageTS)
	now := s.now()
	if err != nil || ts.After(now.Add(clockSkew)) || ts.Before(now.Add(-messageMaxAge)) {
		return nil, bad("rjct.message_ts.invalid", "header.message_ts 必须是带时区的 ISO 8601 时间，且在 24 小时之内")
	}
	if strings.TrimSpace(h.MessageID) == "" || len(h.MessageID) > 99 {
		return nil, bad("", "header.message_id 不能为空且不超过 99 个字符")
	}
	if err := s.verifySignature(c, h, env); err != nil {
		return nil, err
	}
	req := &request{ep: ep, client: c, header: h, message: env.Message}
	if !ep.sync {
		cb, derr := s.callbackBase(c, h.SenderURI)
		if derr != nil {
			return nil, derr
		}
		req.callback = cb
	}
	if ep == epSyncSearch {
		// remembered in the transaction that stores the answer's outcome:
		// one write per search, and a concurrent replay still fails there
		return req, nil
	}
	if err := s.remember(ctx, s.DB, c.ClientID, h.MessageID); err != nil {
		return nil, err
	}
	return req, nil
}

// remember stores a message id; a second message with the same id from the
// same sender is a replay.
func (s *Service) remember(ctx context.Context, q db.Querier, sender, id string) *dciError {
	_, err := q.ExecContext(ctx, `INSERT INTO dci_messages (sender_id, message_id, received_at) VALUES ($1, $2, $3)`, sender, id, s.now().UTC())
	if db.IsUniqueViolation(err) {
		return refuse(http.StatusConflict, "err.request.bad", "rjct.message_id.duplicate", "header.message_id 已使用过（重放的消息）")
	}
	if err != nil {
		s.log().Error("dci: remember message id", "err", err)
		return refuse(http.StatusServiceUnavailable, "err.service.unavailable", "", "服务暂不可用")
	}
	return nil
}

// callbackBase is where asynchronous answers go: the header's sender_uri when
// it lies under the key's registered callback URL, else the registered URL.
// Answers never go to an address the department did not register.
func (s *Service) callbackBase(c *share.Client, senderURI string) (string, *dciError) {
	bad := refuse(http.StatusBadRequest, "err.sender_uri.invalid", "", "异步请求需要该密钥登记的回调地址（sender_uri 必须位于登记的回调地址之下）")
	reg := strings.TrimRight(c.CallbackURL, "/")
	if reg == "" {
		return "", bad
	}
	if senderURI == "" {
		return reg, nil
	}
	u, err := url.Parse(senderURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", bad
	}
	base := strings.TrimRight(senderURI, "/")
	if base != reg && !strings.HasPrefix(base, reg+"/") {
		return "", bad
	}
	return base, nil
}

// ---- the specification, also used at run time to check every request ----

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

// Spec is the social registry YAML, loaded once; tests validate against the
// same document the server checks requests with.
func Spec() (*openapi3.T, error) {
	specOnce.Do(func() {
		b, err := SpecFS.ReadFile("spec/social_api_v1.0.0.yaml")
		if err != nil {
			specErr = err
			return
		}
		l := openapi3.NewLoader()
		specDoc, specErr = l.LoadFromData(b)
	})
	return specDoc, specErr
}

// RequestSchema and AnswerSchema find the JSON schemas of a path's request
// body and of its default (synchronous) answer.
func RequestSchema(path string) (*openapi3.Schema, error) {
	doc, err := Spec()
	if err != nil {
		return nil, err
	}
	p := doc.Paths.Find(path)
	if p == nil || p.Post == nil || p.Post.RequestBody == nil {
		return nil, fmt.Errorf("dci: spec has no POST %s", path)
	}
	mt := p.Post.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil, fmt.Errorf("dci: spec has no JSON body for %s", path)
	}
	return mt.Schema.Value, nil
}

func validateRequest(path string, doc any) error {
	sch, err := RequestSchema(path)
	if err != nil {
		return err
	}
	err = sch.VisitJSON(doc, openapi3.VisitAsRequest(), openapi3.EnableFormatValidation(), openapi3.DisableSchemaErrorDetails())
	if err == nil {
		return nil
	}
	// the reason without the offending value: it may be an ID number
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %s", strings.Join(se.JSONPointer(), "/"), se.Reason)
	}
	return errors.New("格式错误")
}

// ---- signatures ----

var sigParam = regexp.MustCompile(`([A-Za-z]+)="([^"]*)"`)

// signingInput is what an Ed25519 signature covers (docs/dci.md): the
// created and expires times and a BLAKE2b-512 digest of the exact bytes of
// the header value followed by the exact bytes of the message value.
func signingInput(created, expires string, header, message []byte) []byte {
	d := blake2b.Sum512(append(append([]byte{}, header...), message...))
	return []byte("(created): " + created + "\n(expires): " + expires + "\ndigest: BLAKE-512=" + base64.StdEncoding.EncodeToString(d[:]))
}

// SignatureFor signs a header and message with a private key in the
// envelope's signature format; exported for clients written in Go and tests.
func SignatureFor(priv ed25519.PrivateKey, senderID, keyID string, header, message []byte, created time.Time, ttl time.Duration) string {
	c, e := strconv.FormatInt(created.Unix(), 10), strconv.FormatInt(created.Add(ttl).Unix(), 10)
	sig := ed25519.Sign(priv, signingInput(c, e, header, message))
	return fmt.Sprintf(`Signature: namespace="spdci", kidId="%s|%s|ed25519", algorithm="ed25519", created="%s", expires="%s", headers="(created) (expires) digest", signature="%s"`,
		senderID, keyID, c, e, base64.StdEncoding.EncodeToString(sig))
}

// VerifySignature checks an envelope signature against a public key and the
// sender it must name; nil when it is good.
func VerifySignature(pub ed25519.PublicKey, senderID, signature string, header, message []byte, now time.Time) error {
	p := map[string]string{}
	for _, m := range sigParam.FindAllStringSubmatch(signature, -1) {
		p[m[1]] = m[2]
	}
	kid := strings.Split(p["kidId"], "|")
	if len(kid) != 3 || kid[0] != senderID {
		return errors.New("kidId 必须是 {sender_id}|{key_id}|ed25519，且 sender_id 与消息头一致")
	}
	if !strings.EqualFold(p["algorithm"], "ed25519") || !strings.EqualFold(kid[2], "ed25519") {
		return errors.New("只支持 ed25519 签名")
	}
	created, err1 := strconv.ParseInt(p["created"], 10, 64)
	expires, err2 := strconv.ParseInt(p["expires"], 10, 64)
	if err1 != nil || err2 != nil || time.Unix(created, 0).After(now.Add(clockSkew)) || !time.Unix(expires, 0).After(now) || expires < created {
		return errors.New("签名的 created/expires 无效或已过期")
	}
	sig, err := base64.StdEncoding.DecodeString(p["signature"])
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signingInput(p["created"], p["expires"], header, message), sig) {
		return errors.New("签名与消息内容不符")
	}
	return nil
}

// verifySignature applies the key's rule: a key registered with a public key
// must sign every message; a key without one may not send a signature it
// cannot have verified.
func (s *Service) verifySignature(c *share.Client, h msgHeader, env envelope) *dciError {
	if len(c.PublicKey) == 0 {
		if env.Signature != "" {
			return refuse(http.StatusUnauthorized, "err.signature.invalid", "", "该密钥未登记签名公钥，无法验证签名")
		}
		return nil
	}
	if env.Signature == "" {
		return refuse(http.StatusUnauthorized, "err.signature.missing", "", "该密钥要求对消息签名（signature 缺失）")
	}
	if err := VerifySignature(ed25519.PublicKey(c.PublicKey), h.SenderID, env.Signature, env.Header, env.Message, s.now()); err != nil {
		return refuse(http.StatusUnauthorized, "err.signature.invalid", "", "签名无效："+err.Error())
	}
	return nil
}

// initKey derives this registry's Ed25519 signing key from the platform's
// HMAC key, so every server of a deployment signs with the same key and no
// extra secret has to be kept.
func (s *Service) initKey() {
	s.initOnce.Do(func() {
		seed, _ := hex.DecodeString(s.Keys.Hash("jiuzhu/dci/ed25519-signing/v1"))
		s.signer = ed25519.NewKeyFromSeed(seed[:ed25519.SeedSize])
		s.kid = thumbprint(s.signer.Public().(ed25519.PublicKey))
	})
}

// PublicKey is the key that verifies this registry's messages.
func (s *Service) PublicKey() (ed25519.PublicKey, string) {
	s.initKey()
	return s.signer.Public().(ed25519.PublicKey), s.kid
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 key.
func thumbprint(pub ed25519.PublicKey) string {
	j := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(j))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Service) jwks(w http.ResponseWriter, r *http.Request) {
	pub, kid := s.PublicKey()
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]any{
		"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub), "kid": kid, "use": "sig", "alg": "EdDSA"}}})
}

// answerHeader is the header of what this registry sends.
func (s *Service) answerHeader(action, receiver, status string, total, completed int) map[string]any {
	h := map[string]any{"version": protocolVer, "message_id": newID("msg"), "message_ts": s.ts(), "action": action,
		"status": status, "total_count": total, "completed_count": completed, "sender_id": s.receiverID(), "is_msg_encrypted": false}
	if receiver != "" {
		h["receiver_id"] = receiver
	}
	return h
}

// sealed builds a signed envelope from a header and a message (nil for none).
func (s *Service) sealed(header map[string]any, message any) ([]byte, error) {
	s.initKey()
	hb, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	var mb []byte
	if message != nil {
		if mb, err = json.Marshal(message); err != nil {
			return nil, err
		}
	}
	sig := SignatureFor(s.signer, s.receiverID(), s.kid, hb, mb, s.now(), time.Hour)
	sb, _ := json.Marshal(sig)
	var buf bytes.Buffer
	buf.WriteString(`{"signature":`)
	buf.Write(sb)
	buf.WriteString(`,"header":`)
	buf.Write(hb)
	if mb != nil {
		buf.WriteString(`,"message":`)
		buf.Write(mb)
	}
	buf.WriteString("}")
	return buf.Bytes(), nil
}

// post sends a signed envelope to the sender's callback and reports how it went.
func (s *Service) post(ctx context.Context, base, path string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+callbackPrefix+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("dci: callback %s: %w", path, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("dci: callback %s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}

// ack acknowledges an asynchronous request.
func (s *Service) ack(w http.ResponseWriter, correlation string) {
	writeJSON(w, http.StatusOK, map[string]any{"message": map[string]any{"ack_status": "ACK", "timestamp": s.ts(), "correlation_id": correlation}})
}

func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// pruneMessages forgets message ids older than twice the accepted age: older
// messages are refused by their timestamp anyway.
func (s *Service) pruneMessages(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM dci_messages WHERE received_at < $1`, s.now().UTC().Add(-2*messageMaxAge))
	return err
}
