package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/dci"
	"jiuzhu/internal/share"
)

// TestDCIThroughTheApp: through the whole platform handler a department's
// key gets a token at /dci and searches the registry by ID number and by
// predicate; requests and answers validate against the DCI social spec.
func TestDCIThroughTheApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.login("case_a")
	e.household(tok, villageA, 41)
	number := idNo("1960-02-03", 41, true)
	admin, err := e.app.Auth.Create(ctx, nil, auth.NewUser{Username: "dci_admin", DisplayName: "共享管理员", Role: auth.Admin, Region: countyA, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	key, secret, err := e.app.Share.CreateClient(ctx, admin, share.NewClient{Name: "人社对接", Department: "县人社局", RegionCode: countyA, Scopes: []string{share.ScopeDCISearch}})
	if err != nil {
		t.Fatal(err)
	}

	resp, err := http.PostForm(e.srv.URL+"/dci/oauth2/client/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {key.ClientID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	if resp.StatusCode != 200 || tk.AccessToken == "" || tk.TokenType != "bearer" {
		t.Fatalf("token: %d %+v", resp.StatusCode, tk)
	}

	search := func(criteria map[string]any) []any {
		t.Helper()
		now := time.Now().UTC().Format(time.RFC3339)
		env := map[string]any{
			"header": map[string]any{"version": "1.0.0", "message_id": "m-" + now + criteria["query_type"].(string), "message_ts": now, "action": "search",
				"sender_id": key.ClientID, "receiver_id": "jiuzhu-sr", "total_count": 1, "is_msg_encrypted": false},
			"message": map[string]any{"transaction_id": "t-1", "search_request": []any{map[string]any{"reference_id": "r-1", "timestamp": now, "search_criteria": criteria}}}}
		body, _ := json.Marshal(env)
		validateDCI(t, "/registry/sync/search", body, true, 0)
		req, _ := http.NewRequest("POST", e.srv.URL+"/dci/registry/sync/search", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("sync search: %d %s", resp.StatusCode, b)
		}
		validateDCI(t, "/registry/sync/search", b, false, resp.StatusCode)
		var out struct {
			Message struct {
				SearchResponse []struct {
					Status string
					Data   struct {
						RegRecords []any `json:"reg_records"`
					}
				} `json:"search_response"`
			}
		}
		json.Unmarshal(b, &out)
		if len(out.Message.SearchResponse) != 1 || out.Message.SearchResponse[0].Status != "succ" {
			t.Fatalf("search answer %s", b)
		}
		return out.Message.SearchResponse[0].Data.RegRecords
	}
	idOf := func(rec any) string {
		return rec.(map[string]any)["member_identifier"].([]any)[0].(map[string]any)["identifier_value"].(string)
	}

	recs := search(map[string]any{"query_type": "idtype-value", "query": map[string]any{"type": "NationalID", "value": number}})
	if len(recs) != 1 || idOf(recs[0]) != share.RegionOnly(number) {
		t.Fatalf("by ID: %v", recs)
	}
	recs = search(map[string]any{"query_type": "predicate", "pagination": map[string]any{"page_size": 10},
		"query": []any{map[string]any{"seq_num": 1, "condition": "and",
			"expression1": map[string]any{"attribute_name": "region_code", "operator": "eq", "attribute_value": villageA},
			"expression2": map[string]any{"attribute_name": "age", "operator": "ge", "attribute_value": "60"}}}})
	if len(recs) != 1 || idOf(recs[0]) != share.RegionOnly(number) {
		t.Fatalf("by predicate: %v", recs)
	}
}

// validateDCI checks a request body (request) or the answer of status against social_api.
func validateDCI(t *testing.T, path string, body []byte, request bool, status int) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	var sch *openapi3.Schema
	opt := openapi3.VisitAsResponse()
	if request {
		s, err := dci.RequestSchema(path)
		if err != nil {
			t.Fatal(err)
		}
		sch, opt = s, openapi3.VisitAsRequest()
	} else {
		doc, err := dci.Spec()
		if err != nil {
			t.Fatal(err)
		}
		rs := doc.Paths.Find(path).Post.Responses
		r := rs.Status(status)
		if r == nil {
			r = rs.Default()
		}
		sch = r.Value.Content.Get("application/json").Schema.Value
	}
	if err := sch.VisitJSON(v, opt, openapi3.EnableFormatValidation()); err != nil {
		t.Fatalf("%s does not validate: %v", path, err)
	}
}
