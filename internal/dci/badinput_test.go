package dci_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/dci"
	"jiuzhu/internal/share"
)

// errorCode finds the standard's code in any refusal shape: HttpErrorResponse,
// an ERR acknowledgement or a rejected answer header.
func errorCode(out map[string]any) string {
	if errs, ok := out["errors"].([]any); ok && len(errs) > 0 {
		return errs[0].(map[string]any)["code"].(string)
	}
	if m, ok := out["message"].(map[string]any); ok {
		if e, ok := m["error"].(map[string]any); ok {
			return e["code"].(string)
		}
	}
	if h, ok := out["header"].(map[string]any); ok {
		if rc, ok := h["status_reason_code"].(string); ok {
			return rc
		}
		msg, _ := h["status_reason_message"].(string)
		code, _, _ := strings.Cut(msg, ":")
		return code
	}
	return ""
}

// TestBadInput: every bad message is refused with the standard's code,
// audited, and changes nothing (no transaction stored, no message id used).
func TestBadInput(t *testing.T) {
	f := newFx(t)
	signed := f.newClient(county, []string{share.ScopeDCISearch}, true)
	plain := f.newClient(county, []string{share.ScopeDCISearch}, false)
	search := searchMsg(byID(f.elderID))

	// the key's token, then the key revoked
	revoked := f.newClient(county, []string{share.ScopeDCISearch}, false)
	if err := f.sh.Revoke(f.ctx, f.admin, revoked.c.ID, "停止对接"); err != nil {
		t.Fatal(err)
	}
	tamper := func(hb, mb []byte) string {
		return dci.SignatureFor(signed.priv, signed.c.ClientID, "k1", hb, []byte(strings.Replace(string(mb), "ref-a", "ref-b", 1)), time.Now(), time.Minute)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name   string
		k      *client
		path   string
		action string
		msg    any
		o      opts
		status int
		code   string
	}{
		{"no token", plain, "/registry/sync/search", "search", search, opts{token: "-"}, 401, "err.request.unauthorized"},
		{"unknown token", plain, "/registry/search", "search", search, opts{token: "forged-token", async: true}, 401, "err.request.unauthorized"},
		{"revoked key", revoked, "/registry/sync/search", "search", search, opts{}, 401, "err.request.unauthorized"},
		{"scope exceeded", plain, "/registry/subscribe", "subscribe", map[string]any{"transaction_id": "t", "subscribe_request": []any{}}, opts{async: true}, 403, "err.request.forbidden"},
		{"malformed envelope", plain, "/registry/search", "search", nil, opts{async: true, noCheck: true, body: func(h, m []byte, s string) []byte { return []byte(`{"header":`) }}, 400, "err.request.bad"},
		{"no message", plain, "/registry/sync/search", "search", nil, opts{noCheck: true, body: func(h, m []byte, s string) []byte { return []byte(`{"header":` + string(h) + `}`) }}, 400, "err.request.bad"},
		{"transaction_id too long", plain, "/registry/search", "search", map[string]any{"transaction_id": strings.Repeat("x", 100), "search_request": search["search_request"]}, opts{async: true, noCheck: true}, 400, "err.request.bad"},
		{"locale in upper case", plain, "/registry/sync/search", "search", localised(search, "ZHO"), opts{noCheck: true}, 400, "err.request.bad"},
		{"timestamp without zone", plain, "/registry/search", "search", map[string]any{"transaction_id": "t", "search_request": []any{map[string]any{"reference_id": "r", "timestamp": "2026-01-01T10:00:00", "search_criteria": byID(f.elderID)}}}, opts{async: true, noCheck: true}, 400, "err.request.bad"},
		{"wrong action", plain, "/registry/sync/search", "search", search, opts{noCheck: true, header: func(h map[string]any) { h["action"] = "subscribe" }}, 400, "rjct.action.invalid"},
		{"old message_ts", plain, "/registry/sync/search", "search", search, opts{header: func(h map[string]any) { h["message_ts"] = "2020-01-01T00:00:00+08:00" }}, 400, "rjct.message_ts.invalid"},
		{"version", plain, "/registry/search", "search", search, opts{async: true, header: func(h map[string]any) { h["version"] = "2.0.0" }}, 400, "err.version.not_supported"},
		{"another sender_id", plain, "/registry/sync/search", "search", search, opts{header: func(h map[string]any) { h["sender_id"] = signed.c.ClientID }}, 401, "err.sender_id.invalid"},
		{"another receiver_id", plain, "/registry/search", "search", search, opts{async: true, header: func(h map[string]any) { h["receiver_id"] = "someone-else" }}, 400, "err.receiver_id.invalid"},
		{"encrypted message", plain, "/registry/search", "search", search, opts{async: true, header: func(h map[string]any) { h["is_msg_encrypted"] = true }}, 400, "err.encryption.invalid"},
		{"signature missing", signed, "/registry/search", "search", search, opts{async: true, sign: func(h, m []byte) string { return "" }}, 401, "err.signature.missing"},
		{"signature over another message", signed, "/registry/search", "search", search, opts{async: true, sign: tamper}, 401, "err.signature.invalid"},
		{"signature by another key", signed, "/registry/sync/search", "search", search, opts{sign: func(h, m []byte) string {
			return dci.SignatureFor(otherKey, signed.c.ClientID, "k1", h, m, time.Now(), time.Minute)
		}}, 401, "err.signature.invalid"},
		{"expired signature", signed, "/registry/sync/search", "search", search, opts{sign: func(h, m []byte) string {
			return dci.SignatureFor(signed.priv, signed.c.ClientID, "k1", h, m, time.Now().Add(-2*time.Hour), time.Hour)
		}}, 401, "err.signature.invalid"},
		{"signature from a key without a public key", plain, "/registry/sync/search", "search", search, opts{sign: func(h, m []byte) string {
			return dci.SignatureFor(otherKey, plain.c.ClientID, "k1", h, m, time.Now(), time.Minute)
		}}, 401, "err.signature.invalid"},
		{"async without a callback under the registered one", plain, "/registry/search", "search", search, opts{async: true, header: func(h map[string]any) { h["sender_uri"] = "https://evil.example.org/cb" }}, 400, "err.sender_uri.invalid"},
	}
	for _, c := range cases {
		tx, msgs, aud := f.count("dci_transactions"), f.count("dci_messages"), f.count("audit_log")
		code, out := c.k.send(c.path, c.action, c.msg, c.o)
		if code != c.status || errorCode(out) != c.code {
			t.Errorf("%s: %d %q, want %d %q (%v)", c.name, code, errorCode(out), c.status, c.code, out)
		}
		if f.count("dci_transactions") != tx || f.count("dci_messages") != msgs {
			t.Errorf("%s: a refused message changed something", c.name)
		}
		if f.count("audit_log") <= aud {
			t.Errorf("%s: refusal not audited", c.name)
		}
	}
	f.cb.none(t)

	// a replayed message id: the first is answered, the second refused
	mid := "replay-" + randID()
	if code, _ := plain.send("/registry/sync/search", "search", search, opts{messageID: mid}); code != http.StatusOK {
		t.Fatal("first message refused")
	}
	tx := f.count("dci_transactions")
	code, out := plain.send("/registry/sync/search", "search", search, opts{messageID: mid})
	if code != http.StatusConflict || errorCode(out) != "rjct.message_id.duplicate" || f.count("dci_transactions") != tx {
		t.Fatalf("replay: %d %v", code, out)
	}

	// refusals inside a batch: one reason code per request, the others answered
	bad := searchMsg(
		predicate(map[string]any{"expression1": expr("id_hmac", "eq", "x")}),
		map[string]any{"query_type": "expression", "query": map[string]any{"type": "graphql", "value": map[string]any{"expression": "query { member { name } }"}}},
		map[string]any{"query_type": "predicate", "query": []any{map[string]any{"expression1": expr("sex", "eq", "female")}}, "pagination": map[string]any{"page_size": 0}},
		map[string]any{"query_type": "predicate", "query": []any{map[string]any{"expression1": expr("sex", "eq", "female")}}, "sort": []any{map[string]any{"attribute_name": "name"}}},
		map[string]any{"query_type": "idtype-value", "query": map[string]any{"type": "NationalID", "value": "360102195506010000"}},
		map[string]any{"query_type": "predicate", "query": []any{map[string]any{"expression1": expr("age", "gt", "abc")}}},
		byID(f.elderID),
	)
	code, out = plain.send("/registry/sync/search", "search", bad, opts{})
	items := results(t, out)
	want := []string{"rjct.filter.invalid", "rjct.search_criteria.invalid", "rjct.pagination.invalid", "rjct.sort.invalid", "rjct.search_criteria.invalid", "rjct.filter.invalid"}
	for i, w := range want {
		if items[i]["status"] != "rjct" || items[i]["status_reason_code"] != w {
			t.Errorf("request %d: %v %v, want %s", i, items[i]["status"], items[i]["status_reason_code"], w)
		}
	}
	if code != http.StatusOK || len(records(t, items[6])) != 1 {
		t.Fatalf("the good request of the batch: %d %v", code, items[6])
	}

	// the token endpoint
	if plain.getToken("wrong-secret", http.StatusUnauthorized) != "" || revoked.getToken(revoked.secret, http.StatusUnauthorized) != "" {
		t.Fatal("token for a bad secret or a revoked key")
	}
	resp, _ := http.Post(f.srv.URL+"/oauth2/client/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=password&client_id=x&client_secret=y"))
	var e map[string]any
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || errorCode(e) != "unsupported_grant_type" {
		t.Fatalf("password grant: %d %v", resp.StatusCode, e)
	}
}

func localised(m map[string]any, loc string) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	out["search_request"].([]any)[0].(map[string]any)["locale"] = loc
	return out
}

// TestGuessingSecretsIsLimitedByAddress: wrong secrets for a department's
// client_id are refused and audited up to the address's allowance, then
// answered 429 without an entry each; the department's own secret still
// gets its token, because failures never take from the key's bucket.
func TestGuessingSecretsIsLimitedByAddress(t *testing.T) {
	f := newFx(t)
	k := f.newClient(county, []string{share.ScopeDCISearch}, false)
	before := f.count("audit_log")
	limited := 0
	for range share.DefaultFailureRate + 10 {
		code := postTokenStatus(t, f, k.c.ClientID, "guess")
		switch code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("wrong secret answered %d", code)
		}
	}
	if limited < 10 {
		t.Fatalf("only %d of %d guesses limited", limited, share.DefaultFailureRate+10)
	}
	// one entry per refusal within the allowance, one aggregate for the rest
	if n := f.count("audit_log") - before; n > share.DefaultFailureRate+1 || n < share.DefaultFailureRate {
		t.Fatalf("%d audit entries for %d guesses", n, share.DefaultFailureRate+10)
	}
	if k.getToken(k.secret, http.StatusOK) == "" {
		t.Fatal("the department's own secret was locked out")
	}
}

func postTokenStatus(t *testing.T, f *fx, clientID, secret string) int {
	t.Helper()
	resp, err := http.PostForm(f.srv.URL+"/oauth2/client/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
