// Package dci serves the DCI Social Registry API (spdci social_api v1.0.0,
// OpenSPP compliance edition) over the registry: client-credentials tokens,
// signed message envelopes, synchronous and asynchronous search, transaction
// status, subscriptions and notifications. Callers are the API keys of
// package share; region scope and masking apply to them as to users.
// docs/dci.md describes the contract (whitelist, signing input, codes).
package dci

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
	"jiuzhu/internal/share"
)

// Service owns the dci_* tables.
type Service struct {
	DB     *db.DB
	Tree   *region.Tree
	Keys   *crypt.Keys
	Share  *share.Service
	Log    *slog.Logger
	Client *http.Client // for callbacks to senders

	// ReceiverID is this registry's id in envelopes (receiver_id of requests,
	// sender_id of what it sends); "jiuzhu-sr" when empty.
	ReceiverID string
	// Now is the clock; time.Now when nil (tests move it).
	Now func() time.Time

	initOnce sync.Once
	signer   ed25519.PrivateKey
	kid      string
	wg       sync.WaitGroup // asynchronous answers and transaction records in flight
	txns     txnLog
}

const (
	maxBody        = 1 << 20
	maxRequests    = 100  // search_request items in one message
	maxPageSize    = 1000 // records in one page
	defaultPage    = 100
	clockSkew      = 5 * time.Minute
	messageMaxAge  = 24 * time.Hour // older message_ts refused; seen ids kept twice as long
	regType        = "ns:org:RegistryType:Social"
	defaultRecvID  = "jiuzhu-sr"
	protocolVer    = "1.0.0"
	callbackPrefix = "/registry/"
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) today() time.Time { return s.now().In(calendar.China) }

func (s *Service) receiverID() string {
	if s.ReceiverID != "" {
		return s.ReceiverID
	}
	return defaultRecvID
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) httpClient() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Wait blocks until every asynchronous answer started so far has been sent
// (or has failed): for tests and an orderly shutdown.
func (s *Service) Wait() { s.wg.Wait() }

// Handler serves the endpoints under the prefix it is mounted at (/dci).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/client/token", s.token)
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	spec, _ := fs.Sub(SpecFS, "spec")
	mux.Handle("GET /spec/", http.StripPrefix("/spec/", http.FileServerFS(spec)))
	mux.HandleFunc("POST /registry/sync/search", s.endpoint(epSyncSearch))
	mux.HandleFunc("POST /registry/search", s.endpoint(epSearch))
	mux.HandleFunc("POST /registry/sync/txn/status", s.endpoint(epSyncTxnStatus))
	mux.HandleFunc("POST /registry/txn/status", s.endpoint(epTxnStatus))
	mux.HandleFunc("POST /registry/subscribe", s.endpoint(epSubscribe))
	mux.HandleFunc("POST /registry/unsubscribe", s.endpoint(epUnsubscribe))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeHTTPError(w, http.StatusNotFound, "err.request.not_found", "没有这个 DCI 接口")
	})
	return mux
}

// endpointKind describes one request endpoint of the standard.
type endpointKind struct {
	path   string // as in the YAML
	action string // header.action expected
	scope  string
	sync   bool
	answer string // callback path under /registry/ (asynchronous endpoints)
	ansAct string // header.action of the answer
}

var (
	epSyncSearch    = endpointKind{path: "/registry/sync/search", action: "search", scope: share.ScopeDCISearch, sync: true, ansAct: "on-search"}
	epSearch        = endpointKind{path: "/registry/search", action: "search", scope: share.ScopeDCISearch, answer: "on-search", ansAct: "on-search"}
	epSyncTxnStatus = endpointKind{path: "/registry/sync/txn/status", action: "txn-status", scope: share.ScopeDCISearch, sync: true, ansAct: "txn-on-status"}
	epTxnStatus     = endpointKind{path: "/registry/txn/status", action: "txn-status", scope: share.ScopeDCISearch, answer: "txn/on-status", ansAct: "txn-on-status"}
	epSubscribe     = endpointKind{path: "/registry/subscribe", action: "subscribe", scope: share.ScopeDCISubscribe, answer: "on-subscribe", ansAct: "on-subscribe"}
	epUnsubscribe   = endpointKind{path: "/registry/unsubscribe", action: "unsubscribe", scope: share.ScopeDCISubscribe, answer: "on-unsubscribe", ansAct: "on-unsubscribe"}
)

// dciError is a refusal of a whole message: an HTTP status, a code of the
// standard's Error enum (err.*), optionally a header reason code (rjct.*) and
// a message for the caller.
type dciError struct {
	status int
	code   string
	header string
	msg    string
}

func (e *dciError) Error() string { return e.code + ": " + e.msg }

func refuse(status int, code, header, msg string) *dciError {
	return &dciError{status: status, code: code, header: header, msg: msg}
}

// reject answers a refused message in the shape the standard allows for the
// endpoint: HttpErrorResponse for 401/403, otherwise an ERR acknowledgement
// (asynchronous endpoints) or a rejected answer header (synchronous ones).
func (s *Service) reject(w http.ResponseWriter, ep endpointKind, e *dciError) {
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden || ep.path == "" {
		writeHTTPError(w, e.status, e.code, e.msg)
		return
	}
	if !ep.sync {
		writeJSON(w, e.status, map[string]any{"message": map[string]any{
			"ack_status": "ERR", "timestamp": s.ts(), "correlation_id": newID("err"),
			"error": map[string]any{"code": e.code, "message": e.msg}}})
		return
	}
	h := s.answerHeader(ep.ansAct, "", "rjct", 0, 0)
	if e.header != "" {
		h["status_reason_code"] = e.header
	}
	h["status_reason_message"] = e.code + ": " + e.msg
	body, err := s.sealed(h, nil)
	if err != nil {
		writeHTTPError(w, http.StatusInternalServerError, "err.service.unavailable", "签名失败")
		return
	}
	writeRaw(w, e.status, body)
}

func writeHTTPError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"code": code, "message": msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"code":"err.service.unavailable","message":"internal error"}]}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Service) ts() string { return s.now().UTC().Format(time.RFC3339) }

// refusedUnknown answers a request refused before a key was known (no
// token, an unknown one, a bad token request). Within the address's
// allowance of failed authentications (shared with the sharing API) it is
// audited with what little is known and answered with e; beyond it the
// sharing service counts it in an aggregate entry and the caller gets 429,
// so nobody can fill the audit log or lock a department out by guessing.
func (s *Service) refusedUnknown(w http.ResponseWriter, r *http.Request, endpoint, code, who string, answer func()) {
	if !s.Share.Failed(r, endpoint) {
		writeHTTPError(w, http.StatusTooManyRequests, "err.request.too_many_requests", "认证失败次数过多，请稍后再试")
		return
	}
	if len(who) > 64 {
		who = who[:64]
	}
	a := audit.Actor{Username: "dci:" + who, Role: "dci_client", Region: region.Pad("36")}
	if err := audit.Record(r.Context(), s.DB, a, "dci.refused", "dci_endpoint", endpoint, a.Region, map[string]any{"code": code}); err != nil {
		s.log().Error("dci: audit refusal", "err", err)
	}
	answer()
}

// logCall audits one request or answer of a known client; a failure to audit
// is logged (the answer is already decided) but never silently dropped.
func (s *Service) logCall(ctx context.Context, c *share.Client, endpoint, outcome string, records int) {
	if err := s.Share.LogCall(ctx, c, endpoint, outcome, records); err != nil {
		s.log().Error("dci: audit call", "endpoint", endpoint, "err", err)
	}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
