package dci_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/dci"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/share"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

const (
	township = "360102002000" // 滕王阁街道, 东湖区
	village  = "360102002001"
	county   = "360102000000"
	villageJ = "360124100001" // 进贤县: outside the test keys' region
)

// fx is a registry with a few households, the share keys and the DCI
// endpoints served over real HTTP, and a sender's callback server.
type fx struct {
	t                              *testing.T
	ctx                            context.Context
	d                              *db.DB
	reg                            *registry.Service
	cw                             *casework.Service
	sh                             *share.Service
	svc                            *dci.Service
	srv                            *httptest.Server
	cb                             *callbacks
	admin, caseworker, reviewer, x *auth.User
	clock                          time.Time
	// ID numbers of the fixture's people
	elderID, headID, spouseID, childID, outsideID string
	elderHH                                       int64
	elderPerson                                   int64
}

type received struct {
	path string
	body []byte
}

// callbacks is the sender's side: it takes every callback and hands it to the test.
type callbacks struct {
	srv *httptest.Server
	ch  chan received
}

func newCallbacks(t *testing.T) *callbacks {
	cb := &callbacks{ch: make(chan received, 32)}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cb.ch <- received{path: r.URL.Path, body: b}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"message":{"ack_status":"ACK","timestamp":"2026-01-01T00:00:00Z","correlation_id":"x"}}`))
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *callbacks) next(t *testing.T, path string) []byte {
	t.Helper()
	select {
	case r := <-cb.ch:
		if r.path != path {
			t.Fatalf("callback to %s, want %s", r.path, path)
		}
		return r.body
	case <-time.After(10 * time.Second):
		t.Fatalf("no callback to %s", path)
	}
	return nil
}

func (cb *callbacks) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-cb.ch:
		t.Fatalf("unexpected callback to %s", r.path)
	default:
	}
}

func day(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d.Add(3 * time.Hour) }

func newFx(t *testing.T) *fx {
	t.Helper()
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fx{t: t, ctx: context.Background(), d: d, clock: day("2025-12-01")}
	f.reg = &registry.Service{DB: d, Keys: keys, Tree: tree}
	f.cw = &casework.Service{DB: d, Tree: tree, Calendar: calendar.Default(), Keys: keys, Now: func() time.Time { return f.clock },
		Assessor: &casework.CalcAssessor{Registry: f.reg, Tree: tree, Params: func(context.Context) (*policy.Set, error) { return policy.Default() }}}
	f.sh = &share.Service{DB: d, Tree: tree, Keys: keys, Settle: -1}
	f.svc = &dci.Service{DB: d, Tree: tree, Keys: keys, Share: f.sh, Client: &http.Client{Timeout: 5 * time.Second}}
	f.srv = httptest.NewServer(f.svc.Handler())
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.svc.Wait)
	f.cb = newCallbacks(t)
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(f.ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.admin = mk("admin", auth.Admin, "360000000000")
	f.caseworker = mk("jingban", auth.TownshipCaseworker, township)
	f.reviewer = mk("shenhe", auth.TownshipReviewer, township)
	f.x = mk("xianji", auth.CountyApprover, county)
	jw := mk("jingban_j", auth.TownshipCaseworker, "360124100000")

	id := func(area, birth string, seq int, male bool) string {
		b, _ := time.Parse(time.DateOnly, birth)
		return idcard.Build(area, b, seq, male)
	}
	f.elderID = id("360102", "1955-06-01", 51, false)
	h, err := f.reg.CreateHousehold(f.ctx, f.caseworker, registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷9号",
		Head: registry.PersonInput{IDNumber: f.elderID, Name: "刘桂英", Relation: "head", CoResident: true}})
	if err != nil {
		t.Fatal(err)
	}
	f.elderHH, f.elderPerson = h.ID, h.Members[0].ID
	f.headID, f.spouseID, f.childID = id("360102", "1976-03-01", 11, true), id("360102", "1978-04-02", 22, false), id("360102", "2006-05-03", 33, true)
	fam, err := f.reg.CreateHousehold(f.ctx, f.caseworker, registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷1号",
		Head: registry.PersonInput{IDNumber: f.headID, Name: "王建华", Relation: "head", CoResident: true, AbleToWork: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.AddMember(f.ctx, f.caseworker, fam.ID, 1, registry.PersonInput{IDNumber: f.spouseID, Name: "陈丽", Relation: "spouse", CoResident: true,
		DisabilityKind: "physical", DisabilityLevel: 2}, "家庭成员"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.AddMember(f.ctx, f.caseworker, fam.ID, 2, registry.PersonInput{IDNumber: f.childID, Name: "王小军", Relation: "child", CoResident: true, Student: "compulsory"}, "家庭成员"); err != nil {
		t.Fatal(err)
	}
	f.outsideID = id("360124", "1950-02-03", 71, false)
	if _, err := f.reg.CreateHousehold(f.ctx, jw, registry.HouseholdInput{Region: villageJ, Hukou: "rural", Address: "三里村",
		Head: registry.PersonInput{IDNumber: f.outsideID, Name: "张秀英", Relation: "head", CoResident: true}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// approveTekun takes the elder's extreme-poverty application from intake to
// the county's approval: the casework write that puts a "started" entry on
// the share change feed.
func (f *fx) approveTekun(hhID, person int64, start string) {
	f.t.Helper()
	f.clock = day(start)
	cs, err := f.cw.Open(f.ctx, f.caseworker, casework.Intake{HouseholdID: hhID, ApplicantID: person, Programme: "tekun", Channel: "door",
		Documents: []string{"application", "id_hukou", "capacity"}, Pledge: true, Authorisations: []int64{person}})
	if err != nil {
		f.t.Fatal(err)
	}
	yes := true
	act := func(u *auth.User, a casework.Action) {
		f.t.Helper()
		a.Version = cs.Version
		if cs, err = f.cw.Act(f.ctx, u, cs.ID, a); err != nil {
			f.t.Fatalf("%s: %v", a.Action, err)
		}
	}
	act(f.caseworker, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "属实", SupportMode: "dispersed"})
	act(f.caseworker, casework.Action{Action: "verification", Consistent: &yes})
	act(f.reviewer, casework.Action{Action: "township_opinion", Approve: &yes})
	f.clock = f.clock.AddDate(0, 0, 8)
	act(f.reviewer, casework.Action{Action: "end_notice"})
	if cs.SpotCheck || cs.CloseRelative {
		act(f.x, casework.Action{Action: "county_visit", Investigators: []string{"县甲", "县乙"}, MembersSigned: true, Findings: "属实"})
	}
	act(f.x, casework.Action{Action: "decide", Approve: &yes})
	if cs.State != casework.StateApproved {
		f.t.Fatalf("tekun not approved: %s", cs.State)
	}
}

// ---- a DCI client ----

type client struct {
	f      *fx
	c      share.Client
	secret string
	token  string
	priv   ed25519.PrivateKey
}

func (f *fx) newClient(region string, scopes []string, signed bool) *client {
	f.t.Helper()
	in := share.NewClient{Name: "社会救助对接系统", Department: "测试部门", RegionCode: region, Scopes: scopes, CallbackURL: f.cb.srv.URL + "/spmis"}
	var priv ed25519.PrivateKey
	if signed {
		pub, p, _ := ed25519.GenerateKey(rand.Reader)
		in.PublicKey, priv = pub, p
	}
	c, secret, err := f.sh.CreateClient(f.ctx, f.admin, in)
	if err != nil {
		f.t.Fatal(err)
	}
	k := &client{f: f, c: c, secret: secret, priv: priv}
	k.token = k.getToken(secret, http.StatusOK)
	return k
}

// getToken runs the client-credentials grant and validates the answer against authz_core.
func (k *client) getToken(secret string, want int) string {
	t := k.f.t
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.c.ClientID}, "client_secret": {secret}}
	resp, err := http.PostForm(k.f.srv.URL+"/oauth2/client/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	doc := loadSpec(t, "authz_core_api_v1.0.0.yaml")
	op := doc.Paths.Find("/oauth2/client/token").Post
	if want == http.StatusOK {
		validateJSON(t, "token answer", op.Responses.Status(200).Value.Content.Get("application/json").Schema.Value, b, false)
		var out map[string]any
		json.Unmarshal(b, &out)
		return out["access_token"].(string)
	}
	validateJSON(t, "token error", op.Responses.Status(404).Value.Content.Get("application/json").Schema.Value, b, false)
	return ""
}

func validateJSON(t *testing.T, what string, sch *openapi3.Schema, body []byte, request bool) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s is not JSON: %s", what, body)
	}
	opt := openapi3.VisitAsResponse()
	if request {
		opt = openapi3.VisitAsRequest()
	}
	if err := sch.VisitJSON(v, opt, openapi3.EnableFormatValidation()); err != nil {
		t.Fatalf("%s does not validate against the spec: %v\n%s", what, err, body)
	}
}

// validateRequest and validateAnswer check bodies against social_api.
func validateRequest(t *testing.T, path string, body []byte) {
	t.Helper()
	sch, err := dci.RequestSchema(path)
	if err != nil {
		t.Fatal(err)
	}
	validateJSON(t, "request to "+path, sch, body, true)
}

func validateAnswer(t *testing.T, path string, status int, body []byte) {
	t.Helper()
	doc, err := dci.Spec()
	if err != nil {
		t.Fatal(err)
	}
	rs := doc.Paths.Find(path).Post.Responses
	r := rs.Status(status)
	if r == nil {
		r = rs.Default()
	}
	validateJSON(t, "answer of "+path, r.Value.Content.Get("application/json").Schema.Value, body, false)
}

// callback checks a callback body against the spec and this registry's signature.
func (f *fx) callback(path string) map[string]any {
	f.t.Helper()
	body := f.cb.next(f.t, "/spmis"+path)
	validateRequest(f.t, path, body)
	f.checkSigned(body)
	var out map[string]any
	json.Unmarshal(body, &out)
	return out
}

// checkSigned verifies an envelope of this registry with the key it publishes.
func (f *fx) checkSigned(body []byte) {
	f.t.Helper()
	resp, err := http.Get(f.srv.URL + "/.well-known/jwks.json")
	if err != nil {
		f.t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Use, Alg string }
	}
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if len(set.Keys) != 1 || set.Keys[0].Kty != "OKP" || set.Keys[0].Use != "sig" || set.Keys[0].Kid == "" {
		f.t.Fatalf("jwks %+v", set)
	}
	pub, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
	var env struct {
		Signature string
		Header    json.RawMessage
		Message   json.RawMessage
	}
	json.Unmarshal(body, &env)
	if err := dci.VerifySignature(pub, "jiuzhu-sr", env.Signature, env.Header, env.Message, time.Now()); err != nil {
		f.t.Fatalf("registry signature: %v", err)
	}
	if !strings.Contains(env.Signature, set.Keys[0].Kid) {
		f.t.Fatal("signature names another key")
	}
}

type opts struct {
	async     bool
	noCheck   bool // send as is: the request is deliberately invalid
	header    func(h map[string]any)
	sign      func(header, message []byte) string
	body      func(header, message []byte, sig string) []byte
	token     string
	messageID string
}

func randID() string { b := make([]byte, 8); rand.Read(b); return hex.EncodeToString(b) }

// send posts one envelope and validates request and answer against the spec.
func (k *client) send(path, action string, message any, o opts) (int, map[string]any) {
	t := k.f.t
	t.Helper()
	mid := o.messageID
	if mid == "" {
		mid = randID()
	}
	h := map[string]any{"version": "1.0.0", "message_id": mid, "message_ts": time.Now().UTC().Format(time.RFC3339), "action": action,
		"sender_id": k.c.ClientID, "receiver_id": "jiuzhu-sr", "total_count": 1, "is_msg_encrypted": false}
	if o.async {
		h["sender_uri"] = k.f.cb.srv.URL + "/spmis"
	}
	if o.header != nil {
		o.header(h)
	}
	hb, _ := json.Marshal(h)
	mb, _ := json.Marshal(message)
	sig := ""
	if o.sign != nil {
		sig = o.sign(hb, mb)
	} else if k.priv != nil {
		sig = dci.SignatureFor(k.priv, k.c.ClientID, "k1", hb, mb, time.Now(), 10*time.Minute)
	}
	var body []byte
	if o.body != nil {
		body = o.body(hb, mb, sig)
	} else {
		var buf bytes.Buffer
		buf.WriteString("{")
		if sig != "" {
			sb, _ := json.Marshal(sig)
			buf.WriteString(`"signature":` + string(sb) + ",")
		}
		buf.WriteString(`"header":` + string(hb) + `,"message":` + string(mb) + "}")
		body = buf.Bytes()
	}
	if !o.noCheck {
		validateRequest(t, path, body)
	}
	req, _ := http.NewRequest("POST", k.f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	tok := k.token
	if o.token != "" {
		tok = o.token
	}
	if tok != "-" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	validateAnswer(t, path, resp.StatusCode, rb)
	if resp.StatusCode == http.StatusOK && strings.Contains(path, "/sync/") {
		k.f.checkSigned(rb)
	}
	var out map[string]any
	json.Unmarshal(rb, &out)
	return resp.StatusCode, out
}

func searchMsg(items ...map[string]any) map[string]any {
	var reqs []any
	for i, c := range items {
		reqs = append(reqs, map[string]any{"reference_id": "ref-" + string(rune('a'+i)), "timestamp": time.Now().UTC().Format(time.RFC3339), "search_criteria": c})
	}
	return map[string]any{"transaction_id": "txn-" + randID(), "search_request": reqs}
}

func byID(id string) map[string]any {
	return map[string]any{"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social", "query_type": "idtype-value",
		"query": map[string]any{"type": "NationalID", "value": id}}
}

func predicate(p ...map[string]any) map[string]any {
	var list []any
	for i, x := range p {
		x["seq_num"] = i + 1
		list = append(list, x)
	}
	return map[string]any{"query_type": "predicate", "query": list, "pagination": map[string]any{"page_size": 10, "page_number": 1}}
}

func expr(attr, op string, v any) map[string]any {
	return map[string]any{"attribute_name": attr, "operator": op, "attribute_value": v}
}

// results returns the items of a search answer's message.
func results(t *testing.T, out map[string]any) []map[string]any {
	t.Helper()
	msg, _ := out["message"].(map[string]any)
	list, _ := msg["search_response"].([]any)
	var items []map[string]any
	for _, x := range list {
		items = append(items, x.(map[string]any))
	}
	if len(items) == 0 {
		t.Fatalf("no search_response in %v", out)
	}
	return items
}

func records(t *testing.T, item map[string]any) []map[string]any {
	t.Helper()
	if item["status"] != "succ" {
		t.Fatalf("request %v: %v %v", item["reference_id"], item["status_reason_code"], item["status_reason_message"])
	}
	data := item["data"].(map[string]any)
	var out []map[string]any
	for _, r := range data["reg_records"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

func identifier(rec map[string]any) string {
	ids := rec["member_identifier"].([]any)
	return ids[0].(map[string]any)["identifier_value"].(string)
}

func attr(rec map[string]any, name string) []any {
	var out []any
	for _, a := range rec["additional_attributes"].([]any) {
		m := a.(map[string]any)
		if m["name"] == name {
			out = append(out, m["value"])
		}
	}
	return out
}

// count counts a table's rows once the records of answered searches are
// stored (they are written after the answers).
func (f *fx) count(table string) int {
	f.svc.Wait()
	var n int
	if err := f.d.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func loadSpec(t *testing.T, name string) *openapi3.T {
	t.Helper()
	specMu.Lock()
	defer specMu.Unlock()
	if d, ok := specs[name]; ok {
		return d
	}
	b, err := dci.SpecFS.ReadFile("spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	specs[name] = doc
	return doc
}

var (
	specMu sync.Mutex
	specs  = map[string]*openapi3.T{}
)

// registryElder is a woman of 70 living alone in the test village.
func registryElder(t *testing.T, seq int) registry.HouseholdInput {
	b, _ := time.Parse(time.DateOnly, "1956-07-01")
	return registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷10号",
		Head: registry.PersonInput{IDNumber: idcard.Build("360102", b, seq, false), Name: "周秀兰", Relation: "head", CoResident: true}}
}
