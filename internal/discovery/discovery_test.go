package discovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fmt"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

var ctx = context.Background()

const (
	villageA = "360124100001" // 进贤县 民和镇
	villageB = "360124101001"
)

type fx struct {
	t     *testing.T
	d     *db.DB
	keys  *crypt.Keys
	svc   *discovery.Service
	dept  *auth.User
	workA *auth.User
	workB *auth.User
	seq   int
	ids   map[string]string // label → ID number
	hh    map[string]int64  // label → household
}

func newFx(t *testing.T) *fx {
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	f := &fx{t: t, d: d, keys: keys, ids: map[string]string{}, hh: map[string]int64{},
		svc: &discovery.Service{DB: d, Tree: tree, Keys: keys, Calendar: calendar.Default(), Now: func() time.Time { return now }}}
	for _, v := range []string{villageA, villageB} {
		if _, ok := tree.Get(v); !ok {
			t.Fatalf("fixture village %s not in the tree", v)
		}
	}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.dept = mk("dept", auth.DepartmentOfficer, "360000000000")
	f.workA = mk("jb_a", auth.TownshipCaseworker, villageA[:9]+"000")
	f.workB = mk("jb_b", auth.TownshipCaseworker, villageB[:9]+"000")
	return f
}

func (f *fx) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.d.ExecContext(ctx, q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// household creates a household of members (label, birth date, monthly income in yuan).
func (f *fx) household(label, village, hukou string, members ...member) int64 {
	f.t.Helper()
	now := time.Now().UTC()
	var hid int64
	if err := f.d.QueryRowContext(ctx, `INSERT INTO households (hh_no, region_code, hukou, address, created_at, updated_at) VALUES ($1,$2,$3,'地址',$4,$4) RETURNING id`,
		"H"+label, village, hukou, now).Scan(&hid); err != nil {
		f.t.Fatal(err)
	}
	f.hh[label] = hid
	for i, m := range members {
		f.seq++
		b, _ := time.Parse(time.DateOnly, m.birth)
		id := idcard.Build("360124", b, f.seq, f.seq%2 == 1)
		f.ids[m.label] = id
		rel := "head"
		if i > 0 {
			rel = "child"
		}
		var pid int64
		if err := f.d.QueryRowContext(ctx, `INSERT INTO persons (household_id, region_code, id_hmac, id_enc, id_masked, name, sex, birth_date, relation, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,'M',$7,$8,$9,$9) RETURNING id`, hid, village, f.keys.Hash(id), f.keys.Seal(id), idcard.Mask(id), "测试"+m.label, m.birth, rel, now).Scan(&pid); err != nil {
			f.t.Fatal(err)
		}
		if m.income > 0 {
			f.exec(`INSERT INTO person_incomes (person_id, kind, monthly_fen, since, created_at) VALUES ($1,'wage',$2,'2024-01-01',$3)`, pid, m.income*100, now)
		}
		if m.programme != "" {
			f.exec(`INSERT INTO cases (case_no, programme, rule_version, household_id, applicant_id, region_code, channel, state, accepted_on, decision, decided_on,
				amount_fen, purpose, created_at, updated_at) VALUES ($1,$2,'2021',$3,$4,$5,'door','approved','2025-06-01','approved','2025-06-20',50000,'application',$6,$6)`,
				"C"+m.label, m.programme, hid, pid, village, now)
		}
	}
	return hid
}

type member struct {
	label, birth string
	income       int64
	programme    string
}

func m(label, birth string, income int64, programme string) member {
	return member{label, birth, income, programme}
}

func (f *fx) plant() {
	f.household("R1", villageA, "rural", m("r1", "1950-01-01", 0, "dibao"))
	f.household("R2", villageB, "rural", m("r2", "1970-01-01", 0, "dibao"))
	f.household("R3", villageA, "rural", m("r3", "1972-01-01", 0, "dibao"))
	f.household("N1", villageA, "rural", m("n1", "1960-05-05", 3000, ""))
	f.household("R4", villageA, "rural", m("r4", "1940-01-01", 0, "tekun"))
	f.household("R5", villageA, "urban", m("r5", "1990-01-01", 0, "dibao"))
	f.household("M1", villageA, "rural", m("m1", "1965-01-01", 1000, ""))
	f.household("M2", villageA, "rural", m("m2", "1966-01-01", 5000, ""))
	f.household("M3", villageA, "rural", m("m3", "1967-01-01", 100, "dibao"))
	f.household("D1", villageA, "rural", m("d1", "1980-01-01", 2000, ""))
	f.household("D2", villageA, "rural", m("d2", "1981-01-01", 2000, ""))
	f.household("D3", villageA, "rural", m("d3h", "1960-01-01", 0, "dibao"), m("d3", "1990-03-03", 0, ""))
	f.household("D4", villageA, "rural", m("d4", "1982-01-01", 0, "disability_care"))
	f.household("C1", villageA, "rural", m("c1", "1988-01-01", 1500, ""), m("c1k", "2016-06-06", 0, ""))
	f.household("C2", villageA, "rural", m("c2", "1986-01-01", 1500, ""), m("c2k", "2017-07-07", 0, ""), m("c2w", "1987-02-02", 1500, ""))
	f.household("U1", villageA, "rural", m("u1", "1975-01-01", 200, ""), m("u1k", "2005-01-01", 0, ""))
	f.household("U2", villageA, "rural", m("u2", "1976-01-01", 3000, ""))
	f.household("P1", villageA, "rural", m("p1", "1978-01-01", 0, ""))
	f.household("P2", villageA, "rural", m("p2", "1979-01-01", 0, "disability_living"))
}

var unknownID = idcard.Build("360124", time.Date(1970, 4, 4, 0, 0, 0, 0, time.UTC), 777, true)

func csv(header string, rows ...string) []byte {
	return []byte(header + "\n" + strings.Join(rows, "\n") + "\n")
}

func (f *fx) files() map[string][]byte {
	id := f.ids
	child := idcard.Build("360124", time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), 11, true)
	return map[string][]byte{
		"death": csv("身份证号,死亡日期", id["r1"]+",2026-02-01", id["n1"]+",2026-02-02", id["c1"]+",2026-02-03", id["c2"]+",2026-02-04",
			unknownID+",2026-02-05"),
		"vehicle": csv("id_number,plate,vehicle_type,register_date,price_yuan", id["r2"]+",赣A12345,K,2026-01-10,80000", id["r3"]+",赣A00001,D,2026-01-10,30000",
			id["n1"]+",赣A54321,K,2026-01-11,90000", unknownID+",赣A99999,K,2026-01-12,100000"),
		"property": csv("身份证号,不动产权证号,登记日期", id["r4"]+",赣(2025)进贤县不动产权第1号,2025-01-01"),
		"business": csv("身份证号,统一社会信用代码,主体名称,成立日期", id["r4"]+",92360124MA00000001,测试小卖部,2026-01-20"),
		"birth":    csv("父（母）身份证号,新生儿身份证号,出生日期", id["r5"]+","+child+",2026-01-15"),
		"hospital": csv("身份证号,出院日期,个人自付（元）,医疗机构", id["m1"]+",2026-01-05,20000,县医院", id["m2"]+",2026-01-06,20000,县医院",
			id["m3"]+",2026-01-07,20000,县医院", unknownID+",2026-01-08,30000,省医院"),
		"disability": csv("身份证号,发证日期,残疾类别,残疾等级", id["d1"]+",2026-01-09,4,1", id["d2"]+",2026-01-09,4,3", id["d3"]+",2026-01-09,5,3",
			id["d4"]+",2026-01-09,4,2"),
		"unemployment": csv("身份证号,登记日期", id["u1"]+",2026-02-10", id["u2"]+",2026-02-10"),
		"prison":       csv("身份证号,类型,日期", id["p1"]+",2,2026-02-11", id["p2"]+",2,2026-02-11"),
	}
}

func (f *fx) importAll() {
	f.t.Helper()
	for _, kind := range []string{"death", "vehicle", "property", "business", "birth", "hospital", "disability", "unemployment", "prison"} {
		if _, err := f.svc.Import(ctx, f.dept, discovery.ImportInput{Kind: kind, FileName: kind + ".csv", Body: f.files()[kind]}); err != nil {
			f.t.Fatalf("import %s: %v", kind, err)
		}
	}
}

// items are the items as "rule:household label".
func (f *fx) items() []string {
	f.t.Helper()
	byID := map[int64]string{}
	for l, id := range f.hh {
		byID[id] = l
	}
	var out []string
	rows, err := f.d.QueryContext(ctx, `SELECT rule, household_id FROM discovery_items`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		var h int64
		rows.Scan(&r, &h)
		out = append(out, r+":"+byID[h])
	}
	slices.Sort(out)
	return out
}

func (f *fx) count(table string) int {
	var n int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
	return n
}

var planted = []string{"birth:R5", "business:R4", "carer_lost:C1", "death:R1", "disability:D1", "disability:D3", "medical:M1", "released:P1", "unemployed:U1", "vehicle:R2"}

// TestRulesFindExactlyThePlantedSituations: every kind of event file goes in;
// the rules put exactly the planted situations on the lists and none of the
// decoys (a vehicle bought by a non-recipient, a disability vehicle, a death
// of someone receiving nothing, a purchase before the application, a
// household with enough income...). Re-importing adds nothing.
func TestRulesFindExactlyThePlantedSituations(t *testing.T) {
	f := newFx(t)
	f.plant()
	f.importAll()
	if got := f.items(); !slices.Equal(got, planted) {
		t.Fatalf("items:\n got %v\nwant %v", got, planted)
	}
	// the unknown person's hospital stay is kept unmatched; his death and car are not kept
	var unmatched, unknown int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_events WHERE person_id IS NULL`).Scan(&unmatched)
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_events WHERE id_hmac = $1`, f.keys.Hash(unknownID)).Scan(&unknown)
	if unmatched != 1 || unknown != 1 {
		t.Fatalf("unmatched events %d, events of the unknown person %d; want 1 and 1", unmatched, unknown)
	}
	// nothing is stored in plain text
	var plain int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_events WHERE id_enc LIKE '%' || $1 || '%' OR id_hmac = $1 OR event_key LIKE '%' || $1 || '%'`, f.ids["r1"]).Scan(&plain)
	if plain != 0 {
		t.Fatal("an ID number is stored in plain text")
	}
	events := f.count("discovery_events")
	res, err := f.svc.Import(ctx, f.dept, discovery.ImportInput{Kind: "death", FileName: "again.csv", Body: f.files()["death"]})
	if err != nil || res.Stored != 0 || res.Duplicates != 4 || res.Ignored != 1 {
		t.Fatalf("re-import: %v %+v", err, res)
	}
	if _, err := f.svc.Run(ctx, f.dept, "2020-01-01"); err != nil {
		t.Fatal(err)
	}
	if got := f.items(); !slices.Equal(got, planted) || f.count("discovery_events") != events {
		t.Fatalf("re-import or re-run changed the lists: %v", got)
	}

	// the same events by API are duplicates too; a new one is found
	child2 := idcard.Build("360124", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 13, false)
	res, err = f.svc.ImportBatch(ctx, f.dept, discovery.BatchInput{Source: "公安", Events: []map[string]any{
		{"kind": "death", "id_number": f.ids["r1"], "death_date": "2026-02-01"},
		{"kind": "birth", "id_number": f.ids["r5"], "child_id_number": child2, "birth_date": "2026-02-01"},
	}})
	if err != nil || res.Stored != 1 || res.Duplicates != 1 || res.Items != 1 {
		t.Fatalf("api batch: %v %+v", err, res)
	}
}

// TestBadFilesChangeNothing: every kind of bad input is refused whole with
// its report and leaves no event, item or run behind.
func TestBadFilesChangeNothing(t *testing.T) {
	f := newFx(t)
	f.plant()
	good := f.ids["r1"]
	bad := good[:17] + map[bool]string{true: "0", false: "1"}[good[17] != '0']
	cases := []struct {
		name, kind string
		body       []byte
		want       string
	}{
		{"wrong layout", "death", csv("身份证号,日期", good+",2026-02-01"), "缺少必需的列"},
		{"unknown column", "death", csv("身份证号,死亡日期,备注", good+",2026-02-01,x"), "不属于“死亡”格式的列"},
		{"bad ID number", "death", csv("身份证号,死亡日期", good+",2026-02-01", bad+",2026-02-01"), "有错误"},
		{"future date", "death", csv("身份证号,死亡日期", good+",2027-02-01"), "有错误"},
		{"impossible date", "death", csv("身份证号,死亡日期", good+",2026-02-30"), "有错误"},
		{"before birth", "death", csv("身份证号,死亡日期", good+",1949-02-01"), "有错误"},
		{"duplicate row", "death", csv("身份证号,死亡日期", good+",2026-02-01", good+",2026-02-01"), "有错误"},
		{"bad code", "disability", csv("身份证号,发证日期,残疾类别,残疾等级", good+",2026-01-09,4,5"), "有错误"},
		{"bad amount", "hospital", csv("身份证号,出院日期,个人自付（元）", good+",2026-01-05,-3"), "有错误"},
		{"empty", "death", []byte(""), "文件是空的"},
		{"header only", "death", csv("身份证号,死亡日期"), "没有数据行"},
	}
	for _, c := range cases {
		res, err := f.svc.Import(ctx, f.dept, discovery.ImportInput{Kind: c.kind, FileName: "x.csv", Body: c.body})
		var ae *apperr.Error
		if !errors.As(err, &ae) || res == nil || !strings.Contains(res.Message, c.want) {
			t.Errorf("%s: %v %+v", c.name, err, res)
		}
	}
	if _, err := f.svc.Import(ctx, f.dept, discovery.ImportInput{Kind: "lottery", FileName: "x.csv", Body: csv("身份证号", good)}); err == nil {
		t.Error("unknown kind accepted")
	}
	res, err := f.svc.ImportBatch(ctx, f.dept, discovery.BatchInput{Source: "公安", Events: []map[string]any{
		{"kind": "death", "id_number": good, "death_date": "2026-02-01"},
		{"kind": "death", "id_number": good, "death_date": "2026-02-01", "colour": "red"},
	}})
	if err == nil || res.BadRows != 1 {
		t.Errorf("batch with an unknown field: %v %+v", err, res)
	}
	if _, err := f.svc.Import(ctx, f.workA, discovery.ImportInput{Kind: "death", FileName: "x.csv", Body: csv("身份证号,死亡日期", good+",2026-02-01")}); err == nil {
		t.Error("a caseworker imported events")
	}
	if n := f.count("discovery_events") + f.count("discovery_items") + f.count("discovery_runs"); n != 0 {
		t.Fatalf("refused files left %d rows behind", n)
	}
	if f.count("discovery_imports") != len(cases)+1 {
		t.Fatalf("refusals not logged: %d", f.count("discovery_imports"))
	}
}

// TestWorklistScopeWorkAndMeasures: a township sees only its own items;
// items are dismissed with a reason or started with the application's case;
// the measures count them per county.
func TestWorklistScopeWorkAndMeasures(t *testing.T) {
	f := newFx(t)
	f.plant()
	f.importAll()
	a, err := f.svc.Items(ctx, f.workA, discovery.Query{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.Items(ctx, f.workB, discovery.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(planted)-1 || len(b) != 1 || b[0].Rule != "vehicle" {
		t.Fatalf("township A sees %d, B sees %d", len(a), len(b))
	}
	if _, err := f.svc.Item(ctx, f.workB, a[0].ID); err == nil {
		t.Fatal("township B read an item of township A")
	}
	help, _ := f.svc.Items(ctx, f.workA, discovery.Query{List: "help", Rule: "medical"})
	if len(help) != 1 || help[0].PersonName != "测***" || !strings.Contains(help[0].Reason, "家庭全年收入") || help[0].AmountFen != 2000000 || help[0].RefFen != 1200000 {
		t.Fatalf("medical item: %+v", help)
	}
	if err := f.svc.Dismiss(ctx, f.workB, help[0].ID, "x"); err == nil {
		t.Fatal("township B dismissed an item of township A")
	}
	if err := f.svc.Dismiss(ctx, f.workA, help[0].ID, " "); err == nil {
		t.Fatal("dismissed without a reason")
	}
	reason := "邻居王某某称其已获商业保险赔付"
	if err := f.svc.Dismiss(ctx, f.workA, help[0].ID, reason); err != nil {
		t.Fatal(err)
	}
	// the reason is kept with the item; the audit log has its length only
	var note, detail string
	f.d.QueryRowContext(ctx, `SELECT note FROM discovery_items WHERE id = $1`, help[0].ID).Scan(&note)
	f.d.QueryRowContext(ctx, `SELECT detail FROM audit_log WHERE action = 'discovery.item.dismissed' AND object_id = $1`, fmt.Sprint(help[0].ID)).Scan(&detail)
	var ad map[string]any
	json.Unmarshal([]byte(detail), &ad)
	if note != reason || strings.Contains(detail, "王某某") || strings.Contains(detail, "赔付") || ad["note_len"] != float64(len([]rune(reason))) || ad["rule"] != "medical" {
		t.Fatalf("dismissal: note %q, audit detail %s", note, detail)
	}
	if err := f.svc.Dismiss(ctx, f.workA, help[0].ID, "again"); err == nil {
		t.Fatal("an item was worked twice")
	}
	// an application accepted for the unemployed household starts its item
	un, _ := f.svc.Items(ctx, f.workA, discovery.Query{Rule: "unemployed"})
	if len(un) != 1 {
		t.Fatal("no unemployed item")
	}
	if _, err := f.svc.Started(ctx, f.workA, un[0].ID, "NOPE"); err == nil {
		t.Fatal("started with an unknown case")
	}
	now := time.Now().UTC()
	f.exec(`INSERT INTO cases (case_no, programme, rule_version, household_id, applicant_id, region_code, channel, state, accepted_on, decision, purpose, created_at, updated_at)
		VALUES ('APP1','dibao','2021',$1,$2,$3,'door','approved','2026-03-02','approved','application',$4,$4)`, un[0].HouseholdID, un[0].PersonID, villageA, now)
	if _, err := f.svc.Started(ctx, f.workA, un[0].ID, "APP1"); err != nil {
		t.Fatal(err)
	}
	// an application opened at the one door for the carer-lost household is linked by the next run
	cl, _ := f.svc.Items(ctx, f.workA, discovery.Query{Rule: "carer_lost"})
	f.exec(`INSERT INTO cases (case_no, programme, rule_version, household_id, applicant_id, region_code, channel, state, accepted_on, purpose, created_at, updated_at)
		VALUES ('APP2','orphan','2021',$1,$2,$3,'door','accepted','2026-03-02','application',$4,$4)`, cl[0].HouseholdID, cl[0].PersonID, villageA, time.Now().UTC().Add(time.Second))
	// a review start that died after claiming its item: the claim is
	// reopened by the next run once stale, a fresh one is left alone
	stop, _ := f.svc.Items(ctx, f.workA, discovery.Query{List: "stop"})
	if len(stop) < 2 {
		t.Fatalf("stop items: %d", len(stop))
	}
	f.exec(`UPDATE discovery_items SET status = 'claimed', worked_by = 'jb_a', worked_at = $1 WHERE id = $2`, time.Now().UTC().Add(-2*time.Hour), stop[0].ID)
	f.exec(`UPDATE discovery_items SET status = 'claimed', worked_by = 'jb_a', worked_at = $1 WHERE id = $2`, time.Now().UTC(), stop[1].ID)
	run, err := f.svc.Run(ctx, nil, "2026-01-01")
	if err != nil || run.Found != 0 || run.Linked != 1 {
		t.Fatalf("run: %v %+v", err, run)
	}
	var stale, fresh string
	f.d.QueryRowContext(ctx, `SELECT status FROM discovery_items WHERE id = $1`, stop[0].ID).Scan(&stale)
	f.d.QueryRowContext(ctx, `SELECT status FROM discovery_items WHERE id = $1`, stop[1].ID).Scan(&fresh)
	if stale != "open" || fresh != "claimed" {
		t.Fatalf("claims after the run: stale %s, fresh %s", stale, fresh)
	}
	ms, err := f.svc.Measures(ctx, f.workA)
	if err != nil || len(ms) != 1 {
		t.Fatalf("measures: %v %+v", err, ms)
	}
	got := ms[0]
	want := discovery.Measure{County: "360124000000", HelpFound: 6, HelpOpen: 3, HelpOpened: 2, HelpApproved: 1, StopFound: 3, StopOpen: 3, Dismissed: 1, Unmatched: 0}
	if got != want {
		t.Fatalf("measures of township A:\n got %+v\nwant %+v", got, want)
	}
	// the county's view counts both townships and the unmatched hospital stay
	prov, _ := (&auth.Service{DB: f.d, Tree: testdb.Tree(t)}).Create(ctx, nil, auth.NewUser{Username: "sup", DisplayName: "sup", Role: auth.Supervisor, Region: "360000000000", Password: "test-pass-2026"})
	ms, _ = f.svc.Measures(ctx, prov)
	if len(ms) != 1 || ms[0].StopFound != 4 || ms[0].Unmatched != 0 {
		t.Fatalf("province measures: %+v", ms)
	}
}

// TestImportMatchesOnlyInTheImportersRegion: a county department's events
// about people registered in another county are neither stored nor put on
// that county's lists, only counted; the report says per line only what is
// wrong with a row's format, never whether its person is registered.
func TestImportMatchesOnlyInTheImportersRegion(t *testing.T) {
	f := newFx(t)
	f.plant()
	as := &auth.Service{DB: f.d, Tree: testdb.Tree(t)}
	mk := func(name, region string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: auth.DepartmentOfficer, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	nanchang := mk("dept_nc", "360121000000") // the people planted live in 进贤县
	jinxian := mk("dept_jx", "360124000000")
	deaths := csv("身份证号,死亡日期", f.ids["r1"]+",2026-02-01", unknownID+",2026-02-05")
	res, err := f.svc.Import(ctx, nanchang, discovery.ImportInput{Kind: "death", FileName: "d.csv", Body: deaths})
	if err != nil || res.Stored != 0 || res.Ignored != 2 || res.Duplicates != 0 || res.Items != 0 || len(res.Errors) != 0 {
		t.Fatalf("南昌县's deaths: %v %+v", err, res)
	}
	// the hospital stay of someone unknown is kept (unmatched); that of
	// someone registered in 进贤县 is not
	hosp := csv("身份证号,出院日期,个人自付（元）,医疗机构", f.ids["m1"]+",2026-01-05,20000,县医院", unknownID+",2026-01-08,30000,省医院")
	res, err = f.svc.Import(ctx, nanchang, discovery.ImportInput{Kind: "hospital", FileName: "h.csv", Body: hosp})
	if err != nil || res.Stored != 1 || res.Unmatched != 1 || res.Ignored != 1 || res.Items != 0 {
		t.Fatalf("南昌县's hospital stays: %v %+v", err, res)
	}
	var mine int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_events WHERE id_hmac IN ($1, $2) OR person_id IS NOT NULL`, f.keys.Hash(f.ids["r1"]), f.keys.Hash(f.ids["m1"])).Scan(&mine)
	if mine != 0 || f.count("discovery_items") != 0 {
		t.Fatalf("another county's events reached 进贤县: %d events, %d items", mine, f.count("discovery_items"))
	}
	logs, err := f.svc.Imports(ctx, nanchang, 0, 10)
	if err != nil || len(logs) != 2 {
		t.Fatalf("imports: %v %d", err, len(logs))
	}
	for _, l := range logs {
		one, err := f.svc.Imports(ctx, nanchang, l.ImportID, 1)
		b, _ := json.Marshal(one)
		if err != nil || strings.Contains(string(b), `"line"`) || strings.Contains(string(b), "在册") {
			t.Fatalf("import %d reports rows one by one: %v %s", l.ImportID, err, b)
		}
	}
	var perLine int
	f.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_imports WHERE report LIKE '%line%' OR report LIKE '%在册%'`).Scan(&perLine)
	if perLine != 0 {
		t.Fatal("the stored report has per-line notes")
	}
	// 进贤县's own department puts the same death on its list
	res, err = f.svc.Import(ctx, jinxian, discovery.ImportInput{Kind: "death", FileName: "d.csv", Body: deaths})
	if err != nil || res.Stored != 1 || res.Ignored != 1 || res.Items != 1 {
		t.Fatalf("进贤县's deaths: %v %+v", err, res)
	}
	if got := f.items(); !slices.Equal(got, []string{"death:R1"}) {
		t.Fatalf("items: %v", got)
	}
}

// TestUnemployedIncomeIsFloorDividedOnBothDatabases: the household's
// per-head income of the unemployment rule is the same whole fen on SQLite
// and PostgreSQL (20000 fen among 3 people: 6666, not 6667).
func TestUnemployedIncomeIsFloorDividedOnBothDatabases(t *testing.T) {
	f := newFx(t)
	f.household("U3", villageA, "rural", m("u3", "1975-01-01", 200, ""), m("u3k", "2010-01-01", 0, ""), m("u3j", "2012-01-01", 0, ""))
	res, err := f.svc.Import(ctx, f.dept, discovery.ImportInput{Kind: "unemployment", FileName: "u.csv", Body: csv("身份证号,登记日期", f.ids["u3"]+",2026-02-10")})
	if err != nil || res.Items != 1 {
		t.Fatalf("import: %v %+v", err, res)
	}
	items, err := f.svc.Items(ctx, f.workA, discovery.Query{Rule: "unemployed"})
	if err != nil || len(items) != 1 || items[0].AmountFen != 6666 {
		t.Fatalf("unemployed item: %v %+v", err, items)
	}
}

// TestConcurrentRunsStoreTheLines: rule runs started at once (two imports
// finishing together) all succeed; the low-income lines they store do not
// collide.
func TestConcurrentRunsStoreTheLines(t *testing.T) {
	f := newFx(t)
	f.plant()
	f.importAll()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Run(ctx, nil, "2026-01-01")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent run: %v", err)
		}
	}
	if n := f.count("discovery_lines"); n != 1 {
		t.Fatalf("%d lines, want the one of 进贤县 rural", n)
	}
	if got := f.items(); !slices.Equal(got, planted) {
		t.Fatalf("items after concurrent runs: %v", got)
	}
}
