package share_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/share"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

const (
	county    = "360102000000" // 东湖区
	township  = "360102002000"
	village   = "360102002001"
	countyB   = "360124000000" // 进贤县
	townshipB = "360124100000"
	villageB  = "360124100001"
)

type fixture struct {
	t                            *testing.T
	d                            *db.DB
	sh                           *share.Service
	cw                           *casework.Service
	reg                          *registry.Service
	clock, shareClock            time.Time
	caseworker, reviewer, county *auth.User
	admin, adminB, caseworkerB   *auth.User
}

func day(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d.Add(3 * time.Hour) }

func newFixture(t *testing.T) *fixture {
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, _ := crypt.LoadOrCreate(t.TempDir())
	f := &fixture{t: t, d: d, shareClock: day("2026-11-20")}
	f.reg = &registry.Service{DB: d, Keys: keys, Tree: tree}
	f.cw = &casework.Service{DB: d, Tree: tree, Calendar: calendar.Default(), Keys: keys, Now: func() time.Time { return f.clock },
		Assessor: &casework.CalcAssessor{Registry: f.reg, Tree: tree, Params: func(context.Context) (*policy.Set, error) { return policy.Default() }}}
	// tests write nothing concurrently, so the feed needs no settling time
	f.sh = &share.Service{DB: d, Tree: tree, Keys: keys, Settle: -1, Now: func() time.Time { return f.shareClock }}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(context.Background(), nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.caseworker = mk("jingban", auth.TownshipCaseworker, township)
	f.reviewer = mk("shenhe", auth.TownshipReviewer, township)
	f.county = mk("xianji", auth.CountyApprover, county)
	f.admin = mk("guanli", auth.Admin, county)
	f.adminB = mk("guanli_b", auth.Admin, countyB)
	f.caseworkerB = mk("jingban_b", auth.TownshipCaseworker, townshipB)
	return f
}

func idNo(addr, birth string, seq int, male bool) string {
	d, _ := time.Parse(time.DateOnly, birth)
	return idcard.Build(addr, d, seq, male)
}

// household registers an urban family of three in 东湖区 with a monthly wage.
func (f *fixture) household(seq int, wageFen int64) (*registry.Household, []int64, []string) {
	ctx := context.Background()
	ids := []string{idNo("360102", "1976-03-01", seq, true), idNo("360102", "1978-04-02", seq+1, false), idNo("360102", "2012-05-03", seq+2, true)}
	h, err := f.reg.CreateHousehold(ctx, f.caseworker, registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷1号",
		Head: registry.PersonInput{IDNumber: ids[0], Name: "王建华", Relation: "head", CoResident: true, AbleToWork: true}})
	if err != nil {
		f.t.Fatal(err)
	}
	sp, err := f.reg.AddMember(ctx, f.caseworker, h.ID, 1, registry.PersonInput{IDNumber: ids[1], Name: "陈丽", Relation: "spouse", CoResident: true, AbleToWork: true}, "家庭成员")
	if err != nil {
		f.t.Fatal(err)
	}
	ch, err := f.reg.AddMember(ctx, f.caseworker, h.ID, 2, registry.PersonInput{IDNumber: ids[2], Name: "王小军", Relation: "child", CoResident: true, Student: "compulsory"}, "家庭成员")
	if err != nil {
		f.t.Fatal(err)
	}
	f.income(h.Members[0].ID, wageFen, "2021-01-01")
	return h, []int64{h.Members[0].ID, sp.ID, ch.ID}, ids
}

func (f *fixture) income(personID, fen int64, since string) {
	f.t.Helper()
	if _, err := f.reg.SetIncome(context.Background(), f.caseworker, personID, "wage", fen, since, "申报"); err != nil {
		f.t.Fatal(err)
	}
}

func yes() *bool { b := true; return &b }

func (f *fixture) act(u *auth.User, cs *casework.Case, a casework.Action) *casework.Case {
	f.t.Helper()
	a.Version = cs.Version
	next, err := f.cw.Act(context.Background(), u, cs.ID, a)
	if err != nil {
		f.t.Fatalf("%s by %s: %v", a.Action, u.Username, err)
	}
	return next
}

// approve takes a dibao application through its whole procedure.
func (f *fixture) approve(hhID, applicant int64, signers []int64, start string) *casework.Case {
	f.t.Helper()
	f.clock = day(start)
	cs, err := f.cw.Open(context.Background(), f.caseworker, casework.Intake{HouseholdID: hhID, ApplicantID: applicant, Programme: "dibao", Channel: "door",
		Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: signers})
	if err != nil {
		f.t.Fatal(err)
	}
	cs = f.act(f.caseworker, cs, casework.Action{Action: "start_investigation"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "home_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "属实"})
	cs = f.act(f.caseworker, cs, casework.Action{Action: "verification", Consistent: yes()})
	cs = f.act(f.reviewer, cs, casework.Action{Action: "township_opinion", Approve: yes()})
	f.clock = f.clock.AddDate(0, 0, 8)
	cs = f.act(f.reviewer, cs, casework.Action{Action: "end_notice"})
	if cs.SpotCheck || cs.CloseRelative {
		cs = f.act(f.county, cs, casework.Action{Action: "county_visit", Investigators: []string{"县甲", "县乙"}, MembersSigned: true, Findings: "属实"})
	}
	cs = f.act(f.county, cs, casework.Action{Action: "decide", Approve: yes()})
	if cs.State != casework.StateApproved || cs.AmountFen <= 0 {
		f.t.Fatalf("not approved: %s %d", cs.State, cs.AmountFen)
	}
	return cs
}

// stop reviews an entitlement after the household's income rose and stops it.
func (f *fixture) stop(ent *casework.Case, head int64, on string) {
	f.t.Helper()
	f.clock = day(on)
	f.income(head, 900000, on)
	rv, err := f.cw.StartReview(context.Background(), f.caseworker, ent.ID, "")
	if err != nil {
		f.t.Fatal(err)
	}
	rv = f.act(f.caseworker, rv, casework.Action{Action: "review_visit", Investigators: []string{"李四", "赵五"}, MembersSigned: true, Findings: "收入增加"})
	rv = f.act(f.reviewer, rv, casework.Action{Action: "review_opinion"})
	if rv.Outcome != casework.OutcomeStop {
		f.t.Fatalf("review outcome %s, want stop", rv.Outcome)
	}
	f.act(f.county, rv, casework.Action{Action: "review_decide", Approve: yes(), Reason: "户主就业增收"})
}

func (f *fixture) issue(u *auth.User, region string, rate int, scopes ...string) (share.Client, string) {
	f.t.Helper()
	c, secret, err := f.sh.CreateClient(context.Background(), u, share.NewClient{Name: "门户", Department: "民政局", RegionCode: region, Scopes: scopes, RatePerMinute: rate})
	if err != nil {
		f.t.Fatal(err)
	}
	return c, secret
}

// issueCB issues a key with a callback URL registered by the administrator.
func (f *fixture) issueCB(callback string, scopes ...string) (share.Client, string) {
	f.t.Helper()
	c, secret, err := f.sh.CreateClient(context.Background(), f.admin, share.NewClient{Name: "门户", Department: "民政局", RegionCode: county, Scopes: scopes, CallbackURL: callback})
	if err != nil {
		f.t.Fatal(err)
	}
	return c, secret
}

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func (f *fixture) calls() int {
	f.t.Helper()
	var n int
	if err := f.d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'share.call'`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestKeyLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// refusals change nothing
	for _, tc := range []struct {
		u    *auth.User
		in   share.NewClient
		want string
	}{
		{f.admin, share.NewClient{Name: "a", Department: "b", RegionCode: countyB, Scopes: []string{share.ScopeChanges}}, "region_out_of_scope"},
		{f.admin, share.NewClient{Name: "a", Department: "b", RegionCode: county, Scopes: []string{"everything"}}, "unknown_scope"},
		{f.admin, share.NewClient{Name: "a", Department: "b", RegionCode: county}, "scopes_required"},
		{f.admin, share.NewClient{Name: "a", Department: "b", RegionCode: county, Scopes: []string{share.ScopeChanges}, PublicKey: []byte("short")}, "invalid_public_key"},
		{f.caseworker, share.NewClient{Name: "a", Department: "b", RegionCode: village, Scopes: []string{share.ScopeChanges}}, "forbidden"},
	} {
		if _, _, err := f.sh.CreateClient(ctx, tc.u, tc.in); code(err) != tc.want {
			t.Errorf("create %+v: %v, want %s", tc.in, err, tc.want)
		}
	}
	if list, _ := f.sh.Clients(ctx, f.admin); len(list) != 0 {
		t.Fatalf("a refused key was stored: %d", len(list))
	}

	c, secret := f.issue(f.admin, township, 0, share.ScopeRecipientStatus)
	if c.RatePerMinute != share.DefaultRate || !strings.HasPrefix(c.ClientID, "jz_") || len(secret) < 40 {
		t.Fatalf("issued %+v secret %q", c, secret)
	}
	var stored string
	f.d.QueryRow(`SELECT secret_hash FROM share_clients WHERE id = $1`, c.ID).Scan(&stored)
	if stored == "" || strings.Contains(stored, secret) {
		t.Fatal("secret stored in plaintext")
	}
	if _, err := f.sh.Authenticate(ctx, c.ClientID, secret+"x"); code(err) != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := f.sh.Authenticate(ctx, "jz_nosuchkey", secret); code(err) != "invalid_client" {
		t.Fatalf("unknown key: %v", err)
	}
	got, err := f.sh.Authenticate(ctx, c.ClientID, secret)
	if err != nil || got.ID != c.ID {
		t.Fatal(err)
	}
	tok, exp, err := f.sh.IssueToken(ctx, got)
	if err != nil || exp.Sub(f.shareClock) != time.Hour {
		t.Fatalf("token: %v expires %v", err, exp)
	}
	if byTok, err := f.sh.ClientByToken(ctx, tok); err != nil || byTok.ClientID != c.ClientID || !byTok.Allows(share.ScopeRecipientStatus) || byTok.Allows(share.ScopeChanges) {
		t.Fatalf("by token: %+v %v", byTok, err)
	}
	if _, err := f.sh.ClientByToken(ctx, tok+"x"); code(err) != "invalid_token" {
		t.Fatalf("bad token: %v", err)
	}
	// an hour later the token has expired
	f.shareClock = f.shareClock.Add(time.Hour + time.Second)
	if _, err := f.sh.ClientByToken(ctx, tok); code(err) != "token_expired" {
		t.Fatalf("expired token: %v", err)
	}
	tok, _, _ = f.sh.IssueToken(ctx, got)

	// another county's administrator neither sees nor revokes it
	if list, _ := f.sh.Clients(ctx, f.adminB); len(list) != 0 {
		t.Fatal("another county sees the key")
	}
	if err := f.sh.Revoke(ctx, f.adminB, c.ID, "越权"); code(err) != "not_found" {
		t.Fatalf("other county revoked: %v", err)
	}
	if err := f.sh.Revoke(ctx, f.admin, c.ID, " "); code(err) != "reason_required" {
		t.Fatalf("revoke without reason: %v", err)
	}
	if err := f.sh.Revoke(ctx, f.admin, c.ID, "合作终止"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sh.ClientByToken(ctx, tok); code(err) != "key_revoked" {
		t.Fatalf("token of a revoked key: %v", err)
	}
	if _, err := f.sh.Authenticate(ctx, c.ClientID, secret); code(err) != "key_revoked" {
		t.Fatalf("revoked key: %v", err)
	}
	if err := f.sh.Revoke(ctx, f.admin, c.ID, "再次"); code(err) != "already_revoked" {
		t.Fatalf("second revoke: %v", err)
	}
	list, err := f.sh.Clients(ctx, f.admin)
	if err != nil || len(list) != 1 || !list[0].Revoked() || list[0].RevokeReason != "合作终止" || list[0].RevokedBy != "guanli" {
		t.Fatalf("list after revoke: %+v %v", list, err)
	}
	var audited int
	f.d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action IN ('share.key.create', 'share.key.revoke') AND object_id = $1`, c.ClientID).Scan(&audited)
	if audited != 2 {
		t.Fatalf("key administration audited %d times, want 2", audited)
	}
}

// api is a caller of the HTTP API.
type api struct {
	t   *testing.T
	url string
}

func (a api) do(token, method, path string, body any) (int, map[string]any, http.Header) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

func (a api) token(id, secret string) string {
	a.t.Helper()
	st, out, _ := a.do("", "POST", "/share/v1/token", map[string]string{"client_id": id, "client_secret": secret})
	if st != 200 || out["token_type"] != "Bearer" || out["expires_in"].(float64) != 3600 {
		a.t.Fatalf("token: %d %v", st, out)
	}
	return out["access_token"].(string)
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestRecipientAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids, nums := f.household(11, 100000)
	ent := f.approve(h.ID, ids[0], ids, "2026-09-01")
	// a registered person of 进贤县, outside the 东湖区 keys' region
	outside := idNo("360124", "1960-01-01", 77, true)
	if _, err := f.reg.CreateHousehold(ctx, f.caseworkerB, registry.HouseholdInput{Region: villageB, Hukou: "rural", Address: "进贤1号",
		Head: registry.PersonInput{IDNumber: outside, Name: "李外县", Relation: "head", CoResident: true}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.sh.Handler())
	defer srv.Close()
	a := api{t, srv.URL}
	basic, basicSecret := f.issue(f.admin, county, 0, share.ScopeRecipientStatus)
	full, fullSecret := f.issue(f.admin, county, 0, share.ScopeRecipientStatus, share.ScopePersonName, share.ScopePersonID, share.ScopeHousehold, share.ScopeAmount)
	slow, slowSecret := f.issue(f.admin, county, 3, share.ScopeRecipientStatus)
	before := f.calls()
	made := 0
	call := func(token, method, path string, body any, status int, wantCode string) map[string]any {
		t.Helper()
		made++
		st, out, _ := a.do(token, method, path, body)
		if st != status || errCode(out) != wantCode {
			t.Fatalf("%s %s: %d %v, want %d %q", method, path, st, out, status, wantCode)
		}
		return out
	}
	bt := a.token(basic.ClientID, basicSecret)
	ft := a.token(full.ClientID, fullSecret)
	made += 2

	// the spouse is a dibao recipient through the household; only the status shows
	out := call(bt, "GET", "/share/v1/recipients/"+nums[1], nil, 200, "")
	progs := out["programmes"].([]any)
	if out["recipient"] != true || len(progs) != 1 || out["id_number"] != share.RegionOnly(nums[1]) || out["name"] != nil || out["household"] != nil {
		t.Fatalf("basic view: %v", out)
	}
	p := progs[0].(map[string]any)
	if p["programme"] != "dibao" || p["since"] != ent.PayFrom || p["amount_fen"] != nil {
		t.Fatalf("programme: %v (since %s)", p, ent.PayFrom)
	}
	// with every scope: name, full number, household and amount
	out = call(ft, "GET", "/share/v1/recipients/"+nums[0]+"?programme=dibao", nil, 200, "")
	p = out["programmes"].([]any)[0].(map[string]any)
	hh, _ := out["household"].(map[string]any)
	if out["id_number"] != nums[0] || out["name"] != "王建华" || hh["size"] != float64(3) || p["amount_fen"] != float64(ent.AmountFen) {
		t.Fatalf("full view: %v", out)
	}
	call(ft, "GET", "/share/v1/recipients/"+nums[0]+"?programme=tekun", nil, 200, "")
	if out := call(ft, "GET", "/share/v1/recipients/"+nums[0]+"?programme=tekun", nil, 200, ""); out["recipient"] != false {
		t.Fatalf("tekun filter: %v", out)
	}
	// outside the region, and unknown: the same not found
	call(ft, "GET", "/share/v1/recipients/"+outside, nil, 404, "not_found")
	call(ft, "GET", "/share/v1/recipients/"+idNo("360102", "1990-01-01", 5, true), nil, 404, "not_found")
	bad := nums[0][:17] + string("0123456789X"[(strings.IndexByte("0123456789X", nums[0][17])+1)%11])
	call(ft, "GET", "/share/v1/recipients/"+bad, nil, 422, "id_check_digit")
	call(ft, "GET", "/share/v1/recipients/"+nums[0]+"?programme=lottery", nil, 422, "unknown_programme")
	// bulk: a recipient, someone outside, a bad number
	out = call(bt, "POST", "/share/v1/recipients/check", map[string]any{"id_numbers": []string{nums[2], outside, bad}}, 200, "")
	res := out["results"].([]any)
	r0, r1, r2 := res[0].(map[string]any), res[1].(map[string]any), res[2].(map[string]any)
	if r0["recipient"] != true || r1["found"] != false || r1["recipient"] != false || errCode(r2) != "id_check_digit" {
		t.Fatalf("bulk: %v", res)
	}
	many := make([]string, share.MaxCheck+1)
	for i := range many {
		many[i] = nums[0]
	}
	call(bt, "POST", "/share/v1/recipients/check", map[string]any{"id_numbers": many}, 422, "too_many")
	// scopes, tokens
	call(bt, "GET", "/share/v1/changes", nil, 403, "scope_exceeded")
	call(bt, "GET", "/share/v1/export", nil, 403, "scope_exceeded")
	call("", "GET", "/share/v1/recipients/"+nums[0], nil, 401, "token_missing")
	call("nonsense", "GET", "/share/v1/recipients/"+nums[0], nil, 401, "invalid_token")
	call("", "POST", "/share/v1/token", map[string]string{"client_id": basic.ClientID, "client_secret": "wrong"}, 401, "invalid_client")
	// rate: 3 a minute, the fourth call is refused
	st := a.token(slow.ClientID, slowSecret)
	made++
	call(st, "GET", "/share/v1/recipients/"+nums[0], nil, 200, "")
	call(st, "GET", "/share/v1/recipients/"+nums[0], nil, 200, "")
	_, out, hdr := a.do(st, "GET", "/share/v1/recipients/"+nums[0], nil)
	made++
	if errCode(out) != "rate_limited" || hdr.Get("Retry-After") == "" {
		t.Fatalf("fourth call: %v", out)
	}
	// a revoked key stops at once
	if err := f.sh.Revoke(ctx, f.admin, basic.ID, "测试"); err != nil {
		t.Fatal(err)
	}
	call(bt, "GET", "/share/v1/recipients/"+nums[0], nil, 401, "key_revoked")
	call("", "POST", "/share/v1/token", map[string]string{"client_id": basic.ClientID, "client_secret": basicSecret}, 401, "key_revoked")

	// every call is audited, refusals included, with nothing personal
	if n := f.calls() - before; n != made {
		t.Fatalf("%d calls audited, %d made", n, made)
	}
	var leaks int
	f.d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'share.call' AND (detail LIKE '%' || $1 || '%' OR detail LIKE '%王建华%')`, nums[0][6:14]).Scan(&leaks)
	if leaks != 0 {
		t.Fatal("personal data in the audit log")
	}
	var refused int
	f.d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'share.call' AND object_id = $1 AND detail LIKE '%scope_exceeded%'`, basic.ClientID).Scan(&refused)
	if refused != 2 {
		t.Fatalf("scope refusals audited against the key: %d", refused)
	}
}

func TestChangesFeedAndExport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids, nums := f.household(11, 100000)
	ent := f.approve(h.ID, ids[0], ids, "2026-09-01")
	h2, ids2, _ := f.household(21, 120000)
	ent2 := f.approve(h2.ID, ids2[0], ids2, "2026-09-01")
	f.stop(ent, ids[0], "2026-11-02")

	chs, next, err := f.sh.Changes(ctx, 0, 100, "360102")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ch := range chs {
		if ch.CaseID == ent.ID {
			kinds = append(kinds, ch.Kind)
		}
	}
	if strings.Join(kinds, ",") != "started,ended" || len(chs) != 3 || chs[0].Seq >= chs[len(chs)-1].Seq {
		t.Fatalf("feed: %+v", chs)
	}
	last := chs[len(chs)-1]
	if last.Kind != "ended" || last.Effective != "2026-12-01" || last.AmountFen != 0 || last.IDMasked != idcard.Mask(nums[0]) {
		t.Fatalf("ended entry: %+v", last)
	}
	if chs[0].Kind != "started" || chs[0].Programme != "dibao" || chs[0].AmountFen != ent.AmountFen || chs[0].Effective != ent.PayFrom+"-01" {
		t.Fatalf("started entry: %+v", chs[0])
	}
	// read on from the cursor: nothing again
	if again, n2, err := f.sh.Changes(ctx, next, 100, "360102"); err != nil || len(again) != 0 || n2 != next {
		t.Fatalf("after the cursor: %+v %d %v", again, n2, err)
	}
	// paging one at a time gives the same entries once each
	var paged []int64
	for cur := int64(0); ; {
		page, n, err := f.sh.Changes(ctx, cur, 1, "360102")
		if err != nil {
			t.Fatal(err)
		}
		if n == cur {
			break
		}
		for _, ch := range page {
			paged = append(paged, ch.Seq)
		}
		cur = n
	}
	if len(paged) != 3 {
		t.Fatalf("paged feed: %v", paged)
	}
	// another county's prefix sees none of it
	if other, _, _ := f.sh.Changes(ctx, 0, 100, "360124"); len(other) != 0 {
		t.Fatalf("feed leaks across counties: %+v", other)
	}

	// the export: current entitlements (the stopped one pays through November), masked, scoped
	if _, err := f.reg.CreateHousehold(ctx, f.caseworkerB, registry.HouseholdInput{Region: villageB, Hukou: "rural", Address: "进贤1号",
		Head: registry.PersonInput{IDNumber: idNo("360124", "1960-01-01", 77, true), Name: "李外县", Relation: "head", CoResident: true}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.sh.Handler())
	defer srv.Close()
	c, secret := f.issue(f.admin, county, 0, share.ScopeExport, share.ScopeChanges)
	a := api{t, srv.URL}
	tok := a.token(c.ClientID, secret)
	get := func(path string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	st, body, _ := get("/share/v1/export?format=csv")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if st != 200 || len(lines) != 3 || strings.Contains(body, "金额") {
		t.Fatalf("csv export: %d %q", st, body)
	}
	if !strings.Contains(body, "王*华") || strings.Contains(body, "王建华") || strings.Contains(body, nums[0]) || !strings.Contains(body, share.RegionOnly(nums[0])) || strings.Contains(body, idcard.Mask(nums[0])) ||
		strings.Contains(body, "李") || strings.Contains(body, "360124") {
		t.Fatalf("export not masked or not scoped: %q", body)
	}
	if st, body, _ = get("/share/v1/export?format=xlsx&programme=dibao"); st != 200 || !strings.HasPrefix(body, "PK") {
		t.Fatalf("xlsx export: %d", st)
	}
	if st, _, _ = get("/share/v1/export?format=pdf"); st != 422 {
		t.Fatalf("bad format: %d", st)
	}
	// the change feed over HTTP, in the key's region, masked without person.id
	st, out, _ := a.do(tok, "GET", "/share/v1/changes?after=0&limit=10", nil)
	feed, _ := out["changes"].([]any)
	if st != 200 || len(feed) != 3 || feed[2].(map[string]any)["kind"] != "ended" || feed[0].(map[string]any)["id_number"] != share.RegionOnly(nums[0]) ||
		feed[0].(map[string]any)["amount_fen"] != nil || out["next_after"] != float64(next) {
		t.Fatalf("changes: %d %v", st, out)
	}
	if st, out, _ = a.do(tok, "GET", "/share/v1/changes?limit=0", nil); st != 422 {
		t.Fatalf("limit 0: %d %v", st, out)
	}
	_ = ent2
}

func TestSubscriptionDelivery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids, _ := f.household(11, 100000)
	ent := f.approve(h.ID, ids[0], ids, "2026-09-01")

	var mu sync.Mutex
	var got []map[string]any
	fail := 1
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		got = append(got, body)
	}))
	defer cb.Close()
	srv := httptest.NewServer(f.sh.Handler())
	defer srv.Close()
	a := api{t, srv.URL}
	c, secret := f.issueCB(cb.URL, share.ScopeChanges)
	tok := a.token(c.ClientID, secret)
	st, out, _ := a.do(tok, "POST", "/share/v1/subscriptions", map[string]any{"callback_url": cb.URL + "/hook", "programme": "dibao", "after": 0})
	if st != 201 || out["status"] != "active" {
		t.Fatalf("subscribe: %d %v", st, out)
	}
	subID := int64(out["id"].(float64))
	if st, out, _ = a.do(tok, "POST", "/share/v1/subscriptions", map[string]any{"callback_url": "ftp://x"}); st != 422 || errCode(out) != "invalid_callback" {
		t.Fatalf("bad callback: %d %v", st, out)
	}

	// the first attempt fails: nothing acknowledged, retried only after the backoff
	if n, err := f.sh.Deliver(ctx); err != nil || n != 0 {
		t.Fatalf("first pass: %d %v", n, err)
	}
	if n, _ := f.sh.Deliver(ctx); n != 0 || len(got) != 0 {
		t.Fatal("retried before the backoff")
	}
	st, out, _ = a.do(tok, "GET", "/share/v1/subscriptions", nil)
	subs := out["subscriptions"].([]any)
	if s0 := subs[0].(map[string]any); s0["attempts"] != float64(1) || s0["last_error"] == "" || s0["cursor"] != float64(0) {
		t.Fatalf("after a failure: %v", s0)
	}
	f.shareClock = f.shareClock.Add(time.Minute)
	if n, err := f.sh.Deliver(ctx); err != nil || n != 1 || len(got) != 1 {
		t.Fatalf("retry: %d %v %d", n, err, len(got))
	}
	first := got[0]["changes"].([]any)[0].(map[string]any)
	if first["kind"] != "started" || int64(got[0]["subscription_id"].(float64)) != subID {
		t.Fatalf("delivered: %v", got[0])
	}
	// acknowledged: later passes send nothing again
	for range 3 {
		f.shareClock = f.shareClock.Add(time.Hour)
		if n, _ := f.sh.Deliver(ctx); n != 0 {
			t.Fatal("delivered twice")
		}
	}
	// the next change goes out once
	f.stop(ent, ids[0], "2026-11-02")
	f.shareClock = f.shareClock.Add(time.Minute)
	if n, err := f.sh.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("stop delivered: %d %v", n, err)
	}
	f.shareClock = f.shareClock.Add(time.Minute)
	f.sh.Deliver(ctx)
	if len(got) != 2 || got[1]["changes"].([]any)[0].(map[string]any)["kind"] != "ended" {
		t.Fatalf("deliveries: %v", got)
	}
	// cancelled: nothing more (the clock moved past the first token's hour)
	tok = a.token(c.ClientID, secret)
	if st, _, _ := a.do(tok, "DELETE", "/share/v1/subscriptions/"+jsonInt(subID), nil); st != 204 {
		t.Fatalf("unsubscribe: %d", st)
	}
	if st, out, _ := a.do(tok, "DELETE", "/share/v1/subscriptions/"+jsonInt(subID), nil); st != 404 {
		t.Fatalf("second unsubscribe: %d %v", st, out)
	}
	var audited int
	f.d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'share.call' AND detail LIKE '%subscriptions.deliver%'`).Scan(&audited)
	if audited != 3 {
		t.Fatalf("deliveries audited: %d, want 3 (one failure, two batches)", audited)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// A key's subscriptions post only under the callback URL its administrator
// registered: a key without one cannot subscribe, other hosts (this server,
// an internal address) and paths climbing out are refused, and a stored
// subscription outside it is stopped rather than delivered.
func TestSubscriptionCallbackRegistered(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids, _ := f.household(11, 100000)
	f.approve(h.ID, ids[0], ids, "2026-09-01")
	var hits, strayHits int
	var mu sync.Mutex
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mu.Lock(); hits++; mu.Unlock() }))
	defer cb.Close()
	stray := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mu.Lock(); strayHits++; mu.Unlock() }))
	defer stray.Close()
	srv := httptest.NewServer(f.sh.Handler())
	defer srv.Close()
	a := api{t, srv.URL}
	count := func() int {
		var n int
		f.d.QueryRow(`SELECT COUNT(*) FROM share_subscriptions`).Scan(&n)
		return n
	}

	bare, bareSecret := f.issue(f.admin, county, 0, share.ScopeChanges)
	tok := a.token(bare.ClientID, bareSecret)
	if st, out, _ := a.do(tok, "POST", "/share/v1/subscriptions", map[string]any{"callback_url": cb.URL + "/hook"}); st != 403 || errCode(out) != "callback_not_registered" {
		t.Fatalf("key without a registered callback: %d %v", st, out)
	}

	reg, regSecret := f.issueCB(cb.URL+"/jiuzhu", share.ScopeChanges)
	tok = a.token(reg.ClientID, regSecret)
	for _, bad := range []string{
		srv.URL + "/jiuzhu",              // this server: same host, another port
		"http://127.0.0.1:1/jiuzhu",      // loopback
		"http://169.254.169.254/jiuzhu",  // metadata address
		cb.URL + "/other",                // another path of the same host
		cb.URL + "/jiuzhux",              // a longer name is not a sub-path
		cb.URL + "/jiuzhu/../admin",      // climbing out
		cb.URL + "/jiuzhu/%2e%2e/admin",  // climbing out, encoded
		"https" + cb.URL[4:] + "/jiuzhu", // another scheme
	} {
		if st, out, _ := a.do(tok, "POST", "/share/v1/subscriptions", map[string]any{"callback_url": bad}); st != 422 || errCode(out) != "callback_outside" {
			t.Errorf("%s: %d %v", bad, st, out)
		}
	}
	if n := count(); n != 0 {
		t.Fatalf("refused subscriptions stored: %d", n)
	}
	// under the registered URL, or the URL itself when none is given
	st, out, _ := a.do(tok, "POST", "/share/v1/subscriptions", map[string]any{"callback_url": cb.URL + "/jiuzhu/changes", "after": 0})
	if st != 201 || out["callback_url"] != cb.URL+"/jiuzhu/changes" {
		t.Fatalf("subscribe under the registered URL: %d %v", st, out)
	}
	if st, out, _ := a.do(tok, "POST", "/share/v1/subscriptions", map[string]any{"programme": "dibao"}); st != 201 || out["callback_url"] != cb.URL+"/jiuzhu" {
		t.Fatalf("subscribe to the registered URL: %d %v", st, out)
	}

	// a subscription stored before the rule (straight into the table) is stopped, never posted to
	var legacy int64
	if err := f.d.QueryRow(`INSERT INTO share_subscriptions (client_id, callback_url, programme, feed_cursor, status, next_attempt_at, created_at)
		VALUES ($1, $2, '', 0, 'active', $3, $3) RETURNING id`, reg.ID, stray.URL+"/x", f.shareClock).Scan(&legacy); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sh.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	var status string
	f.d.QueryRow(`SELECT status FROM share_subscriptions WHERE id = $1`, legacy).Scan(&status)
	if strayHits != 0 || status != "cancelled" || hits != 1 { // the second subscription starts at the head: nothing to send
		t.Fatalf("legacy subscription: %d posts to it, status %s; %d posts to the registered URL", strayHits, status, hits)
	}
}

// Parallel requests cannot take a key past MaxSubscriptions.
func TestSubscriptionLimitParallel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.issueCB("https://portal.example.cn/hook", share.ScopeChanges)
	var wg sync.WaitGroup
	var mu sync.Mutex
	made, refused := 0, 0
	zero := int64(0)
	for range share.MaxSubscriptions + 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.sh.Subscribe(ctx, &c, "", "", &zero)
			mu.Lock()
			defer mu.Unlock()
			switch code(err) {
			case "":
				made++
			case "too_many_subscriptions":
				refused++
			default:
				t.Errorf("subscribe: %v", err)
			}
		}()
	}
	wg.Wait()
	var active int
	f.d.QueryRow(`SELECT COUNT(*) FROM share_subscriptions WHERE client_id = $1 AND status = 'active'`, c.ID).Scan(&active)
	if made != share.MaxSubscriptions || refused != 10 || active != share.MaxSubscriptions {
		t.Fatalf("%d made, %d refused, %d active; want %d, 10, %d", made, refused, active, share.MaxSubscriptions, share.MaxSubscriptions)
	}
}

// Knowing a client_id is not enough to lock its department out: wrong
// secrets and unknown tokens are limited by the caller's address, never by
// the key's bucket; the refusals beyond the address's allowance are answered
// at once and written as aggregate entries, not one each.
func TestFailedAuthenticationLimitedByAddress(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, ids, nums := f.household(11, 100000)
	f.approve(h.ID, ids[0], ids, "2026-09-01")
	srv := httptest.NewServer(f.sh.Handler())
	defer srv.Close()
	a := api{t, srv.URL}
	// a key with 3 calls a minute: a token and two calls
	key, secret := f.issue(f.admin, county, 3, share.ScopeRecipientStatus)
	wrong := map[string]string{"client_id": key.ClientID, "client_secret": "guessed"}
	for i := range share.DefaultFailureRate {
		if st, out, _ := a.do("", "POST", "/share/v1/token", wrong); st != 401 || errCode(out) != "invalid_client" {
			t.Fatalf("wrong secret %d: %d %v", i, st, out)
		}
	}
	for range 5 {
		if st, out, hdr := a.do("", "POST", "/share/v1/token", wrong); st != 429 || errCode(out) != "too_many_failures" || hdr.Get("Retry-After") == "" {
			t.Fatalf("beyond the allowance: %d %v", st, out)
		}
	}
	if st, out, _ := a.do("unknown-token", "GET", "/share/v1/recipients/"+nums[0], nil); st != 429 || errCode(out) != "too_many_failures" {
		t.Fatalf("unknown token from the same address: %d %v", st, out)
	}
	// the key's own bucket is untouched: its holder still gets a token and calls
	tok := a.token(key.ClientID, secret)
	for range 2 {
		if st, out, _ := a.do(tok, "GET", "/share/v1/recipients/"+nums[0], nil); st != 200 {
			t.Fatalf("the key's holder: %d %v", st, out)
		}
	}

	// the first 30 refusals one entry each, against the key; the rest aggregated
	var individual int
	f.d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'share.call' AND object_id = $1 AND detail LIKE '%invalid_client%'`, key.ClientID).Scan(&individual)
	refused := func() map[string]int {
		out := map[string]int{}
		rows, err := f.d.Query(`SELECT detail FROM audit_log WHERE action = 'share.call' AND detail LIKE '%auth_failures_limited%'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var raw string
			rows.Scan(&raw)
			var d struct {
				Endpoint string `json:"endpoint"`
				Refused  int    `json:"refused"`
				Address  string `json:"address"`
			}
			json.Unmarshal([]byte(raw), &d)
			if d.Address != "127.0.0.1" {
				t.Errorf("aggregate entry without the address: %s", raw)
			}
			out[d.Endpoint] += d.Refused
		}
		return out
	}
	if got := refused(); individual != share.DefaultFailureRate || got["token"] != 1 || got["recipients.get"] != 1 {
		t.Fatalf("audited: %d individual, aggregates %v", individual, got)
	}
	// a minute on, the rest of the count is written; the address may try again
	f.shareClock = f.shareClock.Add(2 * time.Minute)
	f.sh.FlushFailures(ctx)
	if got := refused(); got["token"] != 5 || got["recipients.get"] != 1 {
		t.Fatalf("aggregates after the flush: %v", got)
	}
	if st, out, _ := a.do("", "POST", "/share/v1/token", wrong); st != 401 || errCode(out) != "invalid_client" {
		t.Fatalf("after the allowance refilled: %d %v", st, out)
	}
}
