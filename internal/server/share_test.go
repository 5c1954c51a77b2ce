package server_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	issuedIDRe     = regexp.MustCompile(`id="issued-client-id">([^<]+)<`)
	issuedSecretRe = regexp.MustCompile(`id="issued-secret-value">([^<]+)<`)
	keyLinkRe      = regexp.MustCompile(`href="/admin/share/keys/(\d+)"`)
)

// TestShareKeyThroughWebForm: a county administrator issues a key on the
// page, which shows the secret once; the secret gets a token that answers;
// revoking on the key's page stops the token at once. Another county's
// administrator neither sees nor revokes the key.
func TestShareKeyThroughWebForm(t *testing.T) {
	e := newEnv(t)
	e.household(e.login("case_a"), villageA, 11)
	admin := e.browse("admin_a")
	form := url.Values{"csrf": {admin.csrf()}, "department": {"县医保局"}, "name": {"医保结算系统"}, "region": {countyA},
		"scopes": {"recipient.status", "person.name"}, "rate_per_minute": {"120"}}

	// a region outside the administrator's county is refused, nothing stored
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("region", countyB)
	if code, body := admin.post("/admin/share/keys", bad); code != 422 || !strings.Contains(body, "管辖范围") {
		t.Fatalf("out-of-scope key: %d", code)
	}
	if _, body := admin.get("/admin/share"); keyLinkRe.MatchString(body) {
		t.Fatal("a refused key was listed")
	}

	code, body := admin.post("/admin/share/keys", form)
	idm, sm := issuedIDRe.FindStringSubmatch(body), issuedSecretRe.FindStringSubmatch(body)
	if code != 200 || idm == nil || sm == nil || !strings.Contains(body, "无法再次查看") {
		t.Fatalf("issue: %d", code)
	}
	clientID, secret := idm[1], sm[1]
	// the list shows the key, never the secret again
	_, list := admin.get("/admin/share")
	km := keyLinkRe.FindStringSubmatch(list)
	if km == nil || !strings.Contains(list, clientID) || strings.Contains(list, secret) || !strings.Contains(list, "县医保局") {
		t.Fatal("key list")
	}

	code, out := e.api("", "POST", "/share/v1/token", map[string]string{"client_id": clientID, "client_secret": secret})
	if code != 200 {
		t.Fatalf("token: %d %v", code, out)
	}
	token := out["access_token"].(string)
	code, out = e.api(token, "GET", "/share/v1/recipients/"+idNo("1960-02-03", 11, true), nil)
	if code != 200 || out["found"] != true || out["recipient"] != false || out["name"] != "测试户主" {
		t.Fatalf("lookup: %d %v", code, out)
	}
	if code, out = e.api(token, "GET", "/share/v1/changes", nil); code != 403 || errCode(out) != "scope_exceeded" {
		t.Fatalf("changes without scope: %d %v", code, out)
	}

	// county B's administrator cannot see or revoke it
	other := e.browse("admin_b")
	if _, body := other.get("/admin/share"); strings.Contains(body, clientID) {
		t.Fatal("another county sees the key")
	}
	if code, _ := other.post("/admin/share/keys/"+km[1]+"/revoke", url.Values{"csrf": {other.csrf()}, "reason": {"越权"}}); code != 404 {
		t.Fatalf("other county revoke: %d", code)
	}
	// a revoke without the form token is refused
	if code, _ := admin.post("/admin/share/keys/"+km[1]+"/revoke", url.Values{"reason": {"合作终止"}}); code != 403 {
		t.Fatalf("revoke without csrf: %d", code)
	}
	if code, _ = e.api(token, "GET", "/share/v1/recipients/"+idNo("1960-02-03", 11, true), nil); code != 200 {
		t.Fatal("a refused revoke stopped the key")
	}

	code, body = admin.post("/admin/share/keys/"+km[1]+"/revoke", url.Values{"csrf": {admin.csrf()}, "reason": {"合作终止"}})
	if code != 200 || !strings.Contains(body, "已吊销") || !strings.Contains(body, "合作终止") || !strings.Contains(body, "recipients.get") {
		t.Fatalf("revoke: %d", code)
	}
	if code, out = e.api(token, "GET", "/share/v1/recipients/"+idNo("1960-02-03", 11, true), nil); code != 401 || errCode(out) != "key_revoked" {
		t.Fatalf("after revoke: %d %v", code, out)
	}
	if code, out = e.api("", "POST", "/share/v1/token", map[string]string{"client_id": clientID, "client_secret": secret}); code != 401 || errCode(out) != "key_revoked" {
		t.Fatalf("token after revoke: %d %v", code, out)
	}
}
