package server_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"jiuzhu/internal/casework"
	"jiuzhu/internal/registry"
)

// chromium finds Debian's browser; .ci/run installs it.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("JIUZHU_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required in CI (apt-get install chromium)")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium not installed: apt-get install chromium")
	}
	return "chromium"
}

// TestBrowserRegistryPath walks a caseworker's main path in a real browser:
// login, search by ID number, the household page, and an edit that meets a
// version conflict (refused, with what was typed kept) and then succeeds.
func TestBrowserRegistryPath(t *testing.T) {
	path := chromium(t)
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.app.Auth.ByID(ctx, 2) // case_a
	if err != nil || u.Username != "case_a" {
		t.Fatalf("case_a: %v %v", u, err)
	}
	headID := idNo("1958-07-09", 71, false)
	h, err := e.app.Registry.CreateHousehold(ctx, u, registry.HouseholdInput{Region: villageA, Hukou: "rural", Address: "进贤县民和镇1号",
		Head: registry.PersonInput{IDNumber: headID, Name: "刘桂英", Relation: "head", CoResident: true}})
	if err != nil {
		t.Fatal(err)
	}

	bctx := newBrowser(t, path)
	tb := &tab{t: t, ctx: bctx}
	run, text := tb.do, tb.text

	run("login", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "case_a"), chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#stat-households")))
	if n := text("#stat-households"); n != "1" {
		t.Fatalf("home page counts %q households, want 1", n)
	}

	run("search by ID", chromedp.Navigate(e.srv.URL+"/registry"), chromedp.WaitVisible(chromedp.CSS("#q-id")),
		chromedp.SendKeys(chromedp.CSS("#q-id"), headID), chromedp.Click(chromedp.CSS("#search-id")),
		chromedp.WaitVisible(chromedp.CSS("#hh-no")))
	if no := text("#hh-no"); no != h.No {
		t.Fatalf("household page shows %q, want %q", no, h.No)
	}
	if m := text("#members"); !strings.Contains(m, "刘桂英") || strings.Contains(m, headID) {
		t.Fatalf("members table: %q (must show the name and only a masked ID)", m)
	}

	run("open edit", chromedp.Click(chromedp.CSS("a.edit-person")), chromedp.WaitVisible(chromedp.CSS("#save-person")))
	// meanwhile a colleague saves a change to the same person
	p := h.Members[0]
	if _, err := e.app.Registry.UpdatePerson(ctx, u, p.ID, p.Version, registry.PersonInput{Name: "刘桂英", Relation: "head", CoResident: true, Phone: "13907910000"}, "同事更新电话"); err != nil {
		t.Fatal(err)
	}
	run("stale save", chromedp.SetValue(chromedp.CSS("#name"), "刘桂英"), chromedp.SendKeys(chromedp.CSS("#reason"), "核对残疾证"),
		chromedp.SetValue(chromedp.CSS("#disability_kind"), "physical"), chromedp.SetValue(chromedp.CSS("#disability_level"), "2"),
		chromedp.Click(chromedp.CSS("#save-person")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := text("#error"); !strings.Contains(msg, "已被其他人修改") {
		t.Fatalf("conflict message: %q", msg)
	}
	if v, _ := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#reason"))); v != "核对残疾证" {
		t.Fatalf("typed reason lost after the conflict: %q", v)
	}
	shot(t, bctx, "conflict")

	run("fresh save", chromedp.Navigate(e.srv.URL+"/households/"+itoa(h.ID)), chromedp.WaitVisible(chromedp.CSS("a.edit-person")),
		chromedp.Click(chromedp.CSS("a.edit-person")), chromedp.WaitVisible(chromedp.CSS("#save-person")),
		chromedp.SetValue(chromedp.CSS("#disability_kind"), "physical"), chromedp.SetValue(chromedp.CSS("#disability_level"), "2"),
		chromedp.SendKeys(chromedp.CSS("#reason"), "核对残疾证"), chromedp.Click(chromedp.CSS("#save-person")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if m := text("#members"); !strings.Contains(m, "肢体2级") {
		t.Fatalf("saved edit not shown: %q", m)
	}
	if hist := text("#history"); !strings.Contains(hist, "修改成员信息") || !strings.Contains(hist, "核对残疾证") {
		t.Fatalf("history: %q", hist)
	}
	shot(t, bctx, "household")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newBrowser starts headless Chromium for one test.
func newBrowser(t *testing.T, path string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1024, 1366))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	return bctx
}

// shot saves a screenshot when JIUZHU_SCREENSHOTS names a folder, so a person
// can look at what the test saw.
// tab is one browser of a test: steps that fail the test (with a screenshot
// when JIUZHU_SCREENSHOTS is set), an element's text, and logging in.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string // who uses it, for the messages and the screenshot
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		shot(b.t, b.ctx, "fail-"+cmp.Or(b.name, what))
		if b.name != "" {
			what += " as " + b.name
		}
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text %s: %v", sel, err)
	}
	return s
}

// login signs user in at base and waits for wait on the page that follows.
func (b *tab) login(base, user, wait string) {
	b.t.Helper()
	b.do("login "+user, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS(wait)))
}

func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("JIUZHU_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
}

// TestBrowserCasework: in a real browser, a caseworker accepts an emergency
// temporary assistance at the one door, pays the advance at once and completes
// the file afterwards; then an urban dibao case is posted and the public notice
// shows only the masked name.
func TestBrowserCasework(t *testing.T) {
	path := chromium(t)
	e, _ := caseEnv(t, "2026-11-02")
	tokA := e.login("case_a")
	hA, pA, _ := e.household(tokA, villageA, 11)
	bctx := newBrowser(t, path)
	tb := &tab{t: t, ctx: bctx}
	do := tb.do
	text := tb.text
	login := func(user string) { tb.login(e.srv.URL, user, "#stat-cases") }
	login("case_a")
	do("intake form", chromedp.Navigate(fmt.Sprintf("%s/households/%d", e.srv.URL, hA)), chromedp.Click(chromedp.CSS("#new-case")),
		chromedp.WaitVisible(chromedp.CSS("#case-open")),
		chromedp.SetValue(chromedp.CSS("#programme"), "temporary"), chromedp.SetValue(chromedp.CSS("#kind"), "emergency"),
		chromedp.SendKeys(chromedp.CSS("#requested"), "5000"), chromedp.Click(chromedp.CSS(`input[value="application"]`)),
		chromedp.SendKeys(chromedp.CSS("#reason"), "房屋失火"), chromedp.Click(chromedp.CSS("#case-open")), chromedp.WaitVisible(chromedp.CSS("#case-no")))
	if st := text("#case-state"); !strings.Contains(st, "先行救助") {
		t.Fatalf("emergency case waits for %q", st)
	}
	// more than the township may advance is refused with the limit named
	do("advance too much", chromedp.SendKeys(chromedp.CSS(`#form-advance input[name="advance"]`), "4000"), chromedp.Click(chromedp.CSS("#do-advance")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := text("#error"); !strings.Contains(msg, "乡镇审批额度") {
		t.Fatalf("advance limit message: %q", msg)
	}
	do("advance", chromedp.SetValue(chromedp.CSS(`#form-advance input[name="advance"]`), "2000"), chromedp.Click(chromedp.CSS("#do-advance")),
		chromedp.WaitVisible(chromedp.CSS("#form-complete_file")))
	if st := text("#case-state"); !strings.Contains(st, "补齐手续") {
		t.Fatalf("after the advance the case waits for %q", st)
	}
	var advanced int64
	e.app.DB.QueryRow(`SELECT COALESCE(SUM(amount_fen), 0) FROM reserve_entries WHERE kind = 'advance' AND township_code = $1`, townshipA).Scan(&advanced)
	if advanced != -200000 {
		t.Fatalf("reserve fund entry for the advance: %d fen, want -200000", advanced)
	}
	do("complete file", chromedp.Click(chromedp.CSS(`#form-complete_file input[value="id_hukou"]`)), chromedp.Click(chromedp.CSS(`#form-complete_file input[name="pledge"]`)),
		chromedp.Click(chromedp.CSS("#do-complete_file")), chromedp.WaitVisible(chromedp.CSS("#waiting-other")))
	if st := text("#case-state"); !strings.Contains(st, "审批") {
		t.Fatalf("after the paperwork the case waits for %q", st)
	}
	if ev := text("#events"); !strings.Contains(ev, "先行救助发放") || !strings.Contains(ev, "补办手续") {
		t.Fatalf("case file: %q", ev)
	}
	shot(t, bctx, "case-emergency")

	// a dibao case taken to the public notice through the service, then the board in the browser
	ctx := context.Background()
	u, _ := e.app.Auth.ByID(ctx, 2)
	rev, _ := e.app.Auth.ByID(ctx, 7)
	cs, err := e.app.Casework.Open(ctx, u, casework.Intake{HouseholdID: hA, ApplicantID: pA, Programme: "dibao", Channel: "door",
		Documents: []string{"application", "id_hukou", "income"}, Pledge: true, Authorisations: []int64{pA}})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, a := range []casework.Action{{Action: "start_investigation"}, {Action: "home_visit", Investigators: []string{"甲", "乙"}, MembersSigned: true, Findings: "属实"},
		{Action: "verification", Consistent: &yes}} {
		a.Version = cs.Version
		if cs, err = e.app.Casework.Act(ctx, u, cs.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	if cs, err = e.app.Casework.Act(ctx, rev, cs.ID, casework.Action{Action: "township_opinion", Approve: &yes, Version: cs.Version}); err != nil {
		t.Fatal(err)
	}
	do("notice board", chromedp.Navigate(e.srv.URL+"/public/notices?region="+villageA), chromedp.WaitVisible(chromedp.CSS("#notice")))
	board := text("#notice")
	if !strings.Contains(board, "测***") || strings.Contains(board, "测试户主") {
		t.Fatalf("notice board: %q", board)
	}
	shot(t, bctx, "notice")
}

// TestBrowserDibao: an urban dibao application in a real browser, from the one
// door to the county's approval, each office in its own browser.
func TestBrowserDibao(t *testing.T) {
	path := chromium(t)
	e, clock := caseEnv(t, "2026-11-02")
	hA, _, _ := e.household(e.login("case_a"), villageA, 11)
	as := func(user string) (func(string, ...chromedp.Action[chromedp.Void]), func(string) string) {
		bctx := newBrowser(t, path)
		tb := &tab{t: t, ctx: bctx, name: user}
		do := tb.do
		text := tb.text
		tb.login(e.srv.URL, user, "#stat-cases")
		return do, text
	}
	do, text := as("case_a")
	do("intake", chromedp.Navigate(fmt.Sprintf("%s/cases/new?household=%d&programme=dibao", e.srv.URL, hA)), chromedp.WaitVisible(chromedp.CSS("#case-open")),
		chromedp.Click(chromedp.CSS(`input[value="application"]`)), chromedp.Click(chromedp.CSS(`input[value="id_hukou"]`)),
		chromedp.Click(chromedp.CSS(`input[value="income"]`)), chromedp.Click(chromedp.CSS(`input[name="pledge"]`)),
		chromedp.Click(chromedp.CSS(`input[name="authorisations"]`)), chromedp.Click(chromedp.CSS("#case-open")),
		chromedp.WaitVisible(chromedp.CSS("#form-start_investigation")))
	if no := text("#case-no"); !strings.HasPrefix(no, "DB360124") {
		t.Fatalf("case number %q", no)
	}
	do("start", chromedp.Click(chromedp.CSS("#do-start_investigation")), chromedp.WaitVisible(chromedp.CSS("#form-home_visit")))
	do("visit", chromedp.SendKeys(chromedp.CSS(`#form-home_visit input[name="investigators"]`), "李四、赵五"),
		chromedp.SendKeys(chromedp.CSS(`#form-home_visit textarea[name="findings"]`), "独居老人，无固定收入"),
		chromedp.Click(chromedp.CSS(`#form-home_visit input[name="members_signed"]`)), chromedp.Click(chromedp.CSS("#do-home_visit")),
		chromedp.WaitVisible(chromedp.CSS("#form-verification")))
	do("verify", chromedp.Click(chromedp.CSS("#do-verification")), chromedp.WaitVisible(chromedp.CSS("#form-appraisal")))

	var id int64
	e.app.DB.QueryRow(`SELECT id FROM cases`).Scan(&id)
	caseURL := fmt.Sprintf("%s/cases/%d", e.srv.URL, id)
	doR, _ := as("rev_a")
	doR("opinion", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.CSS("#form-township_opinion")),
		chromedp.Click(chromedp.CSS("#do-township_opinion")), chromedp.WaitVisible(chromedp.CSS("#form-end_notice")))
	*clock = clock.AddDate(0, 0, 8)
	doR("end notice", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.CSS("#form-end_notice")),
		chromedp.Click(chromedp.CSS("#do-end_notice")), chromedp.WaitVisible(chromedp.CSS("#waiting-other")))

	doC, textC := as("county_a")
	doC("open", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.CSS("#form-decide")))
	var spot bool
	e.app.DB.QueryRow(`SELECT spot_check FROM cases WHERE id = $1`, id).Scan(&spot)
	if spot {
		// a spot-checked case needs the county's own home visit before the decision
		doC("county visit", chromedp.Click(chromedp.CSS("#county-visit summary")),
			chromedp.SendKeys(chromedp.CSS(`#form-county_visit input[name="investigators"]`), "县甲、县乙"),
			chromedp.SendKeys(chromedp.CSS(`#form-county_visit textarea[name="findings"]`), "属实"),
			chromedp.Click(chromedp.CSS(`#form-county_visit input[name="members_signed"]`)), chromedp.Click(chromedp.CSS("#do-county_visit")),
			chromedp.WaitVisible(chromedp.CSS(".notice")))
	}
	doC("decide", chromedp.Click(chromedp.CSS("#do-decide")), chromedp.WaitVisible(chromedp.CSS("#print-decision")))
	if st := textC("#case-state"); st != "已批准" {
		t.Fatalf("after the decision: %q", st)
	}
}
