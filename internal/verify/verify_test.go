package verify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/testdb"
	"jiuzhu/internal/verify"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

var ctx = context.Background()

const (
	jinxian = "360124000000" // 进贤县
	donghu  = "360102000000" // 东湖区
)

type fixture struct {
	t          *testing.T
	d          *db.DB
	svc        *verify.Service
	households []*gen.Household // generated, with plain ID numbers
	ids        map[string]int64 // household number → id
	centre     *auth.User       // verification officer at the city
	dept       *auth.User
	worker     map[string]*auth.User // township caseworker by township code
}

func newFixture(t *testing.T, counties ...string) *fixture {
	t.Helper()
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	opts := gen.Options{Scale: 0.01, Seed: 5, Regions: counties, Now: now}
	if _, err := gen.Load(ctx, d, tree, keys, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := payroll.SeedEntitlements(ctx, d, tree, opts, "2026-01"); err != nil {
		t.Fatal(err)
	}
	base, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	pol := &policydb.Store{DB: d, Tree: tree, Base: base}
	if _, err := pol.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, d: d, ids: map[string]int64{}, worker: map[string]*auth.User{},
		svc: &verify.Service{DB: d, Tree: tree, Keys: keys, Params: pol, Calendar: calendar.Default(), StoreDir: t.TempDir(),
			Now: func() time.Time { return now.Add(9 * time.Hour) }}}
	g, err := gen.New(opts, tree)
	if err != nil {
		t.Fatal(err)
	}
	for h, err := range g.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		f.households = append(f.households, h)
	}
	rows, err := d.QueryContext(ctx, `SELECT hh_no, id FROM households`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var no string
		var id int64
		rows.Scan(&no, &id)
		f.ids[no] = id
	}
	rows.Close()
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.centre = mk("hedui", auth.VerificationOfficer, "360100000000")
	f.dept = mk("bumen", auth.DepartmentOfficer, "360000000000")
	for _, h := range f.households {
		tw := h.Region[:9] + "000"
		if f.worker[tw] == nil {
			f.worker[tw] = mk("jb"+tw[:9], auth.TownshipCaseworker, tw)
		}
	}
	return f
}

// recipient reports whether a generated household receives assistance.
func recipient(h *gen.Household) bool {
	for _, p := range h.Members {
		if p.Programmes != 0 {
			return true
		}
	}
	return false
}

func (f *fixture) csv(header string, rows ...string) []byte {
	return []byte(header + "\n" + strings.Join(rows, "\n") + "\n")
}

func (f *fixture) mustImport(source, provider, date string, body []byte) *verify.ImportResult {
	f.t.Helper()
	res, err := f.svc.Import(ctx, f.dept, verify.ImportInput{Source: source, Provider: provider, DataDate: date, FileName: source + ".csv", Body: body})
	if err != nil {
		f.t.Fatalf("import %s: %v %+v", source, err, res)
	}
	return res
}

func (f *fixture) refused(source, provider, date string, body []byte) *verify.ImportResult {
	f.t.Helper()
	res, err := f.svc.Import(ctx, f.dept, verify.ImportInput{Source: source, Provider: provider, DataDate: date, FileName: "x.csv", Body: body})
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		f.t.Fatalf("import %s: want a refusal, got %v", source, err)
	}
	return res
}

func (f *fixture) current(source string) (id int64, stored string) {
	f.d.QueryRowContext(ctx, `SELECT id, stored FROM verify_extracts WHERE source = $1 AND status = 'current'`, source).Scan(&id, &stored)
	return
}

func TestImportRefusesBadExtractsAndKeepsTheOldOne(t *testing.T) {
	f := newFixture(t, jinxian)
	p := f.households[0].Members[0]
	good := f.csv("id_number,death_date,cremation_date,home", p.IDNumber+",2026-10-01,2026-10-03,进贤县殡仪馆")
	first := f.mustImport("funeral", "", "2026-10-31", good)
	if first.Rows != 1 || first.Persons != 1 || first.Outcome != "loaded" {
		t.Fatalf("first import: %+v", first)
	}
	oldID, oldFile := f.current("funeral")
	before, _ := os.ReadFile(filepath.Join(f.svc.StoreDir, oldFile))

	badCheck := p.IDNumber[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", p.IDNumber[17])+1)%11])
	other := f.households[1].Members[0].IDNumber
	cases := []struct {
		name, source, provider, date string
		body                         []byte
		wantLine                     int
		wantMsg                      string
	}{
		{"wrong layout", "funeral", "", "2026-11-01", f.csv("id_number,died", p.IDNumber+",2026-10-01"), 0, "缺少必需的列"},
		{"bad id", "funeral", "", "2026-11-01", f.csv("身份证号,死亡日期", other+",2026-10-01", badCheck+",2026-10-02"), 3, "校验位"},
		{"impossible date", "funeral", "", "2026-11-01", f.csv("id_number,death_date", other+",2026-02-30"), 2, "日期格式"},
		{"date after data date", "funeral", "", "2026-11-01", f.csv("id_number,death_date", other+",2026-11-20"), 2, "晚于数据日期"},
		{"duplicate rows", "funeral", "", "2026-11-01", f.csv("id_number,death_date", other+",2026-10-01", other+",2026-10-01"), 3, "重复"},
		{"older data date", "funeral", "", "2026-10-30", f.csv("id_number,death_date", other+",2026-10-01"), 0, "早于现行数据"},
		{"same file again", "funeral", "", "2026-10-31", good, 0, "已导入"},
		{"bank without provider", "bank", "", "2026-11-01", f.csv("id_number,account_no,balance_yuan,as_of", other+",1,2.00,2026-10-31"), 0, ""},
		{"bad amount", "bank", "JXRCB", "2026-11-01", f.csv("id_number,account_no,balance_yuan,as_of", other+",1,-2.00,2026-10-31"), 2, "金额"},
		{"unknown code", "hukou", "", "2026-11-01", f.csv("id_number,event,event_date", other+",9,2026-10-01"), 2, "代码"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := f.svc.Import(ctx, f.dept, verify.ImportInput{Source: c.source, Provider: c.provider, DataDate: c.date, FileName: "x.csv", Body: c.body})
			var ae *apperr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want a refusal, got %v", err)
			}
			if res != nil && res.Outcome != "refused" {
				t.Fatalf("outcome %q", res.Outcome)
			}
			msg := ae.Message
			if res != nil {
				for _, e := range res.Errors {
					msg += "|" + e.Message
				}
			}
			if !strings.Contains(msg, c.wantMsg) {
				t.Errorf("message %q does not say %q", msg, c.wantMsg)
			}
			if c.wantLine > 0 && (len(res.Errors) == 0 || res.Errors[len(res.Errors)-1].Line != c.wantLine) {
				t.Errorf("row report %+v, want an error on line %d", res.Errors, c.wantLine)
			}
		})
	}
	if _, err := f.svc.Import(ctx, f.dept, verify.ImportInput{Source: "lottery", DataDate: "2026-11-01", Body: good}); err == nil {
		t.Error("an unknown source was accepted")
	}
	if _, err := f.svc.Import(ctx, f.worker[f.households[0].Region[:9]+"000"], verify.ImportInput{Source: "funeral", DataDate: "2026-11-01", Body: good}); err == nil {
		t.Error("a township caseworker imported an extract")
	}
	id, file := f.current("funeral")
	after, _ := os.ReadFile(filepath.Join(f.svc.StoreDir, file))
	if id != oldID || file != oldFile || !bytes.Equal(before, after) {
		t.Errorf("the extract in force changed: %d %s -> %d %s", oldID, oldFile, id, file)
	}
	var refusedLogs int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM verify_imports WHERE outcome = 'refused'`).Scan(&refusedLogs)
	if refusedLogs < 8 {
		t.Errorf("%d refused imports logged", refusedLogs)
	}
	// the store holds hashes, never the ID number or the details in clear
	if bytes.Contains(after, []byte(p.IDNumber)) || bytes.Contains(after, []byte("殡仪馆")) {
		t.Error("the stored extract holds plaintext")
	}

	// XLSX and GBK CSV take the same path
	x := excelize.NewFile()
	x.SetSheetRow("Sheet1", "A1", &[]any{"身份证号", "变动类型", "变动日期"})
	x.SetSheetRow("Sheet1", "A2", &[]any{other, "1", "2026-10-05"})
	var buf bytes.Buffer
	x.Write(&buf)
	if res := f.mustImport("hukou", "", "2026-11-01", buf.Bytes()); res.Rows != 1 {
		t.Errorf("xlsx import: %+v", res)
	}
	gbk, _ := simplifiedchinese.GBK.NewEncoder().Bytes(f.csv("身份证号,死亡日期,殡仪馆", other+",2026-10-01,南昌殡仪馆"))
	if res := f.mustImport("funeral", "", "2026-11-01", gbk); res.Rows != 1 || res.Supersedes != oldID {
		t.Errorf("gbk import: %+v", res)
	}
}

// planted writes extracts that agree with the registry for every household
// and plant one discrepancy of each kind in some recipient households; it
// returns the planted (household number, finding kind) pairs.
func (f *fixture) plant(every int, date string) map[string]bool {
	f.t.Helper()
	want := map[string]bool{}
	var vehicles, houses, banks, pensions, funerals, market, hukou []string
	n := 0
	for _, h := range f.households {
		head := h.Members[0]
		var financial int64
		for _, a := range h.Assets {
			switch a.Kind {
			case "vehicle":
				vehicles = append(vehicles, fmt.Sprintf("%s,赣A%05d,K,2020-01-01,%d.%02d", head.IDNumber, len(vehicles), a.ValueFen/100, a.ValueFen%100))
			case "house":
				houses = append(houses, fmt.Sprintf("%s,赣(2020)不动产权第%07d号,某处,80.5,2019-05-01", head.IDNumber, len(houses)))
			case "deposit", "securities", "fund", "commercial_insurance":
				financial += a.ValueFen
			}
		}
		if financial > 0 {
			banks = append(banks, fmt.Sprintf("%s,62%010d,%d.%02d,%s", head.IDNumber, len(banks), financial/100, financial%100, date))
		}
		for _, p := range h.Members {
			latest := map[string]gen.Income{}
			for _, in := range p.Incomes {
				if l, ok := latest[in.Kind]; !ok || in.Since >= l.Since {
					latest[in.Kind] = in
				}
			}
			if in, ok := latest["pension"]; ok {
				pensions = append(pensions, fmt.Sprintf("%s,11,%d.%02d,2015-01-01", p.IDNumber, in.MonthlyFen/100, in.MonthlyFen%100))
			}
		}
		if !recipient(h) {
			continue
		}
		n++
		if n%every != 0 {
			continue
		}
		// one planted kind per chosen household, in turn
		switch kind := []string{verify.FindVehicle, verify.FindDeath, verify.FindFinancial, verify.FindBusiness, verify.FindHouse}[(n/every)%5]; kind {
		case verify.FindVehicle:
			if slices.ContainsFunc(h.Assets, func(a gen.Asset) bool { return a.Kind == "vehicle" }) {
				continue
			}
			vehicles = append(vehicles, fmt.Sprintf("%s,赣A%05d,K,2025-06-01,98000.00", head.IDNumber, len(vehicles)))
			want[h.No+"/"+kind] = true
		case verify.FindDeath:
			last := h.Members[len(h.Members)-1]
			funerals = append(funerals, last.IDNumber+",2026-10-01")
			hukou = append(hukou, last.IDNumber+",1,2026-10-02")
			want[h.No+"/"+kind] = true
		case verify.FindFinancial:
			banks = append(banks, fmt.Sprintf("%s,63%010d,%d.00,%s", head.IDNumber, len(banks), 300000*len(h.Members), date))
			want[h.No+"/"+kind] = true
		case verify.FindBusiness:
			if slices.ContainsFunc(head.Incomes, func(in gen.Income) bool { return in.Kind == "business" }) {
				continue
			}
			market = append(market, fmt.Sprintf("%s,91360124MA%08d,某某商贸有限公司,1,500000.00,2024-03-01", head.IDNumber, n))
			want[h.No+"/"+kind] = true
		case verify.FindHouse:
			houses = append(houses, fmt.Sprintf("%s,赣(2024)不动产权第%07d号,另一处,120,2024-05-01", head.IDNumber, len(houses)))
			want[h.No+"/"+kind] = true
		}
	}
	f.mustImport("vehicle", "", date, f.csv("id_number,plate,vehicle_type,register_date,price_yuan", vehicles...))
	f.mustImport("real_estate", "", date, f.csv("id_number,cert_no,address,area_m2,register_date", houses...))
	f.mustImport("bank", "JXRCB", date, f.csv("id_number,account_no,balance_yuan,as_of", banks...))
	f.mustImport("social_insurance", "", date, f.csv("id_number,item,monthly_yuan,start_date", pensions...))
	f.mustImport("funeral", "", date, f.csv("id_number,death_date", funerals...))
	f.mustImport("hukou", "", date, f.csv("id_number,event,event_date", hukou...))
	if len(market) > 0 {
		f.mustImport("market", "", date, f.csv("id_number,credit_code,entity_name,role,capital_yuan,register_date", market...))
	}
	return want
}

func (f *fixture) tasks(batch int64) map[string]bool {
	got := map[string]bool{}
	rows, err := f.d.QueryContext(ctx, `SELECT h.hh_no, t.kind FROM verify_tasks t JOIN households h ON h.id = t.household_id WHERE t.batch_id = $1`, batch)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var no, kind string
		rows.Scan(&no, &kind)
		if got[no+"/"+kind] {
			f.t.Errorf("two tasks for %s/%s", no, kind)
		}
		got[no+"/"+kind] = true
	}
	return got
}

func TestBatchFindsExactlyWhatWasPlantedAndResumes(t *testing.T) {
	f := newFixture(t, jinxian, donghu)
	want := f.plant(7, "2026-11-01")
	if len(want) < 10 {
		t.Fatalf("only %d discrepancies planted", len(want))
	}
	crash := errors.New("power cut")
	calls := 0
	sum, err := f.svc.Batch(ctx, f.centre, verify.BatchOptions{AfterCounty: func(string) error {
		calls++
		return crash
	}})
	if !errors.Is(err, crash) || sum != nil || calls != 1 {
		t.Fatalf("crash injection: %v %v %d", err, sum, calls)
	}
	var running int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM verify_batches WHERE status = 'running'`).Scan(&running)
	if running != 1 {
		t.Fatalf("%d running batches after the crash", running)
	}
	sum, err = f.svc.Batch(ctx, f.centre, verify.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Resumed || sum.Status != "done" {
		t.Errorf("second run: resumed %v status %s", sum.Resumed, sum.Status)
	}
	got := f.tasks(sum.ID)
	for k := range want {
		if !got[k] {
			t.Errorf("planted %s not found", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("false hit %s", k)
		}
	}
	if sum.Tasks != int64(len(want)) || len(sum.Counties) != 2 {
		t.Errorf("summary: %d tasks in %d counties, want %d in 2", sum.Tasks, len(sum.Counties), len(want))
	}
	if sum.Persons == 0 || sum.Scanned == 0 || sum.Matched == 0 {
		t.Errorf("summary counts: %+v", sum)
	}
	// a later batch does not raise a second task while the first is open
	again, err := f.svc.Batch(ctx, f.centre, verify.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Resumed || again.Tasks != 0 || again.Carried != len(want) {
		t.Errorf("repeat batch: %d tasks, %d carried, want 0 and %d", again.Tasks, again.Carried, len(want))
	}
	// the township sees and closes its own tasks only
	var anyTask verify.Task
	for tw, u := range f.worker {
		list, err := f.svc.Tasks(ctx, u, "open", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range list {
			if !strings.HasPrefix(task.Region, tw[:9]) {
				t.Errorf("%s sees a task of %s", tw, task.Region)
			}
			anyTask = task
		}
	}
	u := f.worker[anyTask.Region[:9]+"000"]
	full, err := f.svc.Task(ctx, u, anyTask.ID)
	if err != nil || full.Evidence == nil || len(full.Evidence.Items) == 0 {
		t.Fatalf("task evidence: %v %+v", err, full)
	}
	for tw, other := range f.worker {
		if tw[:9] != anyTask.Region[:9] {
			if _, err := f.svc.Task(ctx, other, anyTask.ID); err == nil {
				t.Error("a caseworker read another township's task")
			}
			break
		}
	}
	if err := f.svc.CloseTask(ctx, u, anyTask.ID, "explained", ""); err == nil {
		t.Error("a task closed without a note")
	}
	if err := f.svc.CloseTask(ctx, u, anyTask.ID, "confirmed", "入户核实属实，已启动复核"); err != nil {
		t.Fatal(err)
	}
}

func TestRequestNeedsEveryAdultsAuthorisationAndAuditsReads(t *testing.T) {
	f := newFixture(t, jinxian)
	// a recipient household with two adults
	var h *gen.Household
	for _, c := range f.households {
		adults := 0
		for _, p := range c.Members {
			if p.BirthDate < "2008-01-01" {
				adults++
			}
		}
		if recipient(c) && adults >= 2 && !slices.ContainsFunc(c.Assets, func(a gen.Asset) bool { return a.Kind == "vehicle" }) {
			h = c
			break
		}
	}
	if h == nil {
		t.Fatal("no household with two adults")
	}
	hid := f.ids[h.No]
	u := f.worker[h.Region[:9]+"000"]
	f.mustImport("vehicle", "", "2026-11-01", f.csv("id_number,plate,vehicle_type,register_date,price_yuan",
		h.Members[0].IDNumber+",赣A12345,K,2024-01-01,150000.00",
		h.Members[1].IDNumber+",赣A54321,D,2024-01-01,30000.00"))
	f.mustImport("funeral", "", "2026-11-01", f.csv("id_number,death_date", h.Members[1].IDNumber+",2026-10-20"))

	req := verify.RequestInput{HouseholdID: hid, Purpose: "review"}
	_, err := f.svc.Request(ctx, u, req)
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != "authorisation_missing" {
		t.Fatalf("request without authorisations: %v", err)
	}
	persons := map[string]int64{}
	rows, _ := f.d.QueryContext(ctx, `SELECT id, name, birth_date FROM persons WHERE household_id = $1 ORDER BY id`, hid)
	var adults []int64
	for rows.Next() {
		var id int64
		var name, birth string
		rows.Scan(&id, &name, &birth)
		persons[name] = id
		if birth < "2008-11-02" {
			adults = append(adults, id)
		}
	}
	rows.Close()
	sign := func(pid int64) {
		if _, err := f.svc.RecordAuthorisation(ctx, u, verify.AuthorisationInput{HouseholdID: hid, PersonID: pid, Programme: "dibao",
			SignedOn: "2026-11-01", Fingerprint: true, Pledge: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.RecordAuthorisation(ctx, u, verify.AuthorisationInput{HouseholdID: hid, PersonID: adults[0], Programme: "dibao", SignedOn: "2026-11-01", Pledge: true}); err == nil {
		t.Error("an authorisation without fingerprint was recorded")
	}
	sign(adults[0])
	if _, err := f.svc.Request(ctx, u, req); !errors.As(err, &ae) || ae.Code != "authorisation_missing" {
		t.Fatalf("request with one of %d adults signed: %v", len(adults), err)
	}
	for _, pid := range adults[1:] {
		sign(pid)
	}
	sum, err := f.svc.Request(ctx, u, req)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.Report(ctx, u, sum.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, fd := range rep.Findings {
		kinds[fd.Kind] = true
	}
	if !kinds[verify.FindVehicle] || !kinds[verify.FindDeath] || len(rep.Findings) != 2 {
		t.Errorf("findings %+v, want the undeclared car and the death (the disability vehicle is exempt)", rep.Findings)
	}
	hitVehicle := false
	for _, c := range rep.Checks {
		if c.Rule == "vehicle_value" && c.Hit {
			hitVehicle = true
		}
	}
	if !hitVehicle || len(rep.Authorisations) != len(adults) || rep.No == "" {
		t.Errorf("report: checks %+v authorisations %v no %q", rep.Checks, rep.Authorisations, rep.No)
	}
	var plate bool
	for _, m := range rep.Members {
		for _, it := range m.Items {
			if it.Detail["号牌号码"] == "赣A12345" {
				plate = true
			}
		}
	}
	if !plate {
		t.Error("the report does not show the vehicle's plate")
	}
	var reads int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE action = 'verify.report.read' AND object_id = $1`, fmt.Sprint(sum.ID)).Scan(&reads)
	if reads != 1 {
		t.Errorf("%d audited reads, want 1", reads)
	}
	// outside the region: not found; a department officer: forbidden
	for tw, other := range f.worker {
		if tw[:9] != h.Region[:9] {
			if _, err := f.svc.Report(ctx, other, sum.ID); err == nil {
				t.Error("a caseworker of another township read the report")
			}
			break
		}
	}
	if _, err := f.svc.Report(ctx, f.dept, sum.ID); err == nil {
		t.Error("a department officer read a report")
	}

	// objection: the car was sold; the evidence sets that finding aside
	vi := slices.IndexFunc(rep.Findings, func(fd verify.Finding) bool { return fd.Kind == verify.FindVehicle })
	re, err := f.svc.Object(ctx, u, sum.ID, verify.ObjectionInput{Evidence: "车辆已于2026年9月转让，附转让登记证明", SetAside: map[int]string{vi: "车辆转让登记证明"}})
	if err != nil {
		t.Fatal(err)
	}
	if re.Findings != 1 {
		t.Errorf("re-check: %d open findings, want 1", re.Findings)
	}
	rep2, err := f.svc.Report(ctx, u, re.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Parent != rep.No || rep2.Purpose != "objection" || !strings.Contains(rep2.Evidence, "转让") {
		t.Errorf("re-check report: parent %q purpose %q evidence %q", rep2.Parent, rep2.Purpose, rep2.Evidence)
	}

	// a member joins: every authorisation must be signed again
	if _, err := f.d.ExecContext(ctx, `INSERT INTO registry_history (at, username, household_id, person_id, region_code, op, reason, before_json, after_json)
		VALUES ($1, 'x', $2, NULL, $3, 'member.add', '新生儿', '', '')`, time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC), hid, h.Region); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Request(ctx, u, req); !errors.As(err, &ae) || ae.Code != "authorisation_missing" {
		t.Errorf("request after a membership change: %v", err)
	}
	auths, err := f.svc.Authorisations(ctx, u, hid)
	if err != nil || len(auths) != len(adults) || auths[0].Valid || !strings.Contains(auths[0].Why, "重新签署") {
		t.Errorf("authorisations after the change: %v %+v", err, auths)
	}
}

func TestPeerRequestIsAnsweredFromTheExtracts(t *testing.T) {
	f := newFixture(t, jinxian)
	p := f.households[3].Members[0]
	f.mustImport("vehicle", "", "2026-11-01", f.csv("id_number,plate,vehicle_type,register_date,price_yuan", p.IDNumber+",赣A99999,K,2024-01-01,88000.00"))
	county := &auth.User{ID: f.centre.ID, Username: "hedui", Role: auth.VerificationOfficer, Region: jinxian}
	if _, err := f.svc.ReceivePeer(ctx, county, verify.PeerInput{Peer: "湖南省长沙市民政局", PeerRef: "长民核〔2026〕12号", IDNumber: "123", Name: p.Name, Purpose: "低保申请", Authorisation: "SQ-1"}); err == nil {
		t.Error("a bad ID number was accepted")
	}
	pr, err := f.svc.ReceivePeer(ctx, county, verify.PeerInput{Peer: "湖南省长沙市民政局", PeerRef: "长民核〔2026〕12号", IDNumber: p.IDNumber, Name: p.Name, Purpose: "低保申请", Authorisation: "SQ-1"})
	if err != nil {
		t.Fatal(err)
	}
	if pr.DueOn <= "2026-11-02" || pr.SubjectMasked != idcard.Mask(p.IDNumber) {
		t.Errorf("peer request: %+v", pr)
	}
	ans, err := f.svc.AnswerPeer(ctx, county, pr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != "answered" || !strings.Contains(ans.Answer, "88,000.00") {
		t.Errorf("answer: %+v", ans)
	}
	if _, err := f.svc.AnswerPeer(ctx, county, pr.ID); err == nil {
		t.Error("answered twice")
	}
}

func TestFetchOverHTTPTakesTheImportPath(t *testing.T) {
	f := newFixture(t, donghu)
	p := f.households[0].Members[0]
	body := f.csv("id_number,death_date", p.IDNumber+",2026-10-01")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/undated.csv" {
			w.Write(body)
			return
		}
		w.Header().Set("X-Data-Date", "2026-11-01")
		w.Header().Set("Content-Disposition", `attachment; filename="funeral-202611.csv"`)
		w.Write(body)
	}))
	defer srv.Close()
	src := verify.HTTPSource{Source: "funeral", URL: srv.URL + "/extract", Token: "s3cret"}
	res, err := f.svc.ImportFrom(ctx, f.dept, src)
	if err != nil || res.Rows != 1 {
		t.Fatalf("fetch: %v %+v", err, res)
	}
	var name, date string
	f.d.QueryRowContext(ctx, `SELECT file_name, data_date FROM verify_extracts WHERE id = $1`, res.ExtractID).Scan(&name, &date)
	if name != "funeral-202611.csv" || date != "2026-11-01" {
		t.Errorf("stored as %q of %s", name, date)
	}
	for _, bad := range []verify.HTTPSource{
		{Source: "funeral", URL: srv.URL + "/extract", Token: "wrong"},
		{Source: "funeral", URL: srv.URL + "/undated.csv", Token: "s3cret"},
	} {
		if _, err := f.svc.ImportFrom(ctx, f.dept, bad); err == nil {
			t.Errorf("%s with token %q was imported", bad.URL, bad.Token)
		}
	}
}
