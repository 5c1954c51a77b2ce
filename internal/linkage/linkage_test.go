package linkage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/linkage"
	"jiuzhu/internal/testdb"
)

func init() { auth.Argon2Params.MemoryKiB, auth.Argon2Params.Threads = 1024, 1 }

// TestLinkageImportAndLists: a poverty-registry file is refused whole when a
// row is bad; the good one is matched by hash and gives both review lists,
// region-scoped; the trade-union list has only the one direction.
func TestLinkageImportAndLists(t *testing.T) {
	ctx := context.Background()
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, _ := crypt.LoadOrCreate(t.TempDir())
	svc := &linkage.Service{DB: d, Tree: tree, Keys: keys}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	dept := mk("dept", auth.DepartmentOfficer, "360000000000")
	workA := mk("jb_a", auth.TownshipCaseworker, "360124100000")
	workB := mk("jb_b", auth.TownshipCaseworker, "360124101000")
	now := time.Now().UTC()
	ids := map[string]string{}
	seq := 0
	// label → village, hukou, programme ("" none)
	add := func(label, village, hukou, programme string) {
		seq++
		id := idcard.Build("360124", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), seq*2+1, true)
		ids[label] = id
		var hid, pid int64
		d.QueryRowContext(ctx, `INSERT INTO households (hh_no, region_code, hukou, address, created_at, updated_at) VALUES ($1,$2,$3,'x',$4,$4) RETURNING id`,
			"H"+label, village, hukou, now).Scan(&hid)
		if err := d.QueryRowContext(ctx, `INSERT INTO persons (household_id, region_code, id_hmac, id_enc, id_masked, name, sex, birth_date, relation, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,'王小明','M','1970-01-01','head',$6,$6) RETURNING id`, hid, village, keys.Hash(id), keys.Seal(id), idcard.Mask(id), now).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if programme != "" {
			d.ExecContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, household_id, applicant_id, region_code, channel, state, accepted_on, decision, purpose, created_at, updated_at)
				VALUES ($1,$2,'2021',$3,$4,$5,'door','approved','2025-01-01','approved','application',$6,$6)`, "C"+label, programme, hid, pid, village, now)
		}
	}
	add("both", "360124100001", "rural", "dibao")      // in both: no list
	add("poorOnly", "360124100001", "rural", "")       // poor, not receiving
	add("dibaoOnly", "360124101001", "rural", "dibao") // receiving, not on the poverty list
	add("urban", "360124100001", "urban", "dibao")     // urban: not expected on it
	outsider := idcard.Build("360124", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 900, true)
	file := func(rows ...string) []byte {
		return []byte("身份证号,姓名,区划代码,类别\n" + strings.Join(rows, "\n") + "\n")
	}
	good := file(ids["both"]+",王小明,360124100001,1", ids["poorOnly"]+",王小明,360124100001,3", outsider+",李四,360124101001,2")
	if _, err := svc.Import(ctx, dept, "poverty", "p.csv", file(ids["both"]+",王小明,360124100001,1", "123,李四,360124100001,1")); err == nil {
		t.Fatal("bad ID accepted")
	}
	if _, err := svc.Import(ctx, dept, "poverty", "p.csv", []byte("身份证号,姓名\n"+ids["both"]+",王小明\n")); err == nil {
		t.Fatal("wrong layout accepted")
	}
	var n int
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM linkage_entries`).Scan(&n)
	if n != 0 {
		t.Fatal("a refused file left entries")
	}
	res, err := svc.Import(ctx, dept, "poverty", "p.csv", good)
	if err != nil || res.Matched != 2 || res.Rows != 3 {
		t.Fatalf("import: %v %+v", err, res)
	}
	names := func(es []linkage.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.HouseholdNo+"/"+e.IDMasked[:4])
		}
		slices.Sort(out)
		return out
	}
	prov := mk("sup", auth.Supervisor, "360000000000")
	nr, err := svc.List(ctx, prov, "poverty", linkage.NotReceiving, 0)
	if err != nil || !slices.Equal(names(nr), []string{"/3601", "HpoorOnly/3601"}) {
		t.Fatalf("not receiving: %v %v", err, names(nr))
	}
	nl, _ := svc.List(ctx, prov, "poverty", linkage.NotListed, 0)
	if !slices.Equal(names(nl), []string{"HdibaoOnly/3601"}) || nl[0].Name != "王**" {
		t.Fatalf("not listed: %v", nl)
	}
	// region scope: township A does not see township B's entries
	a, _ := svc.List(ctx, workA, "poverty", linkage.NotReceiving, 0)
	b, _ := svc.List(ctx, workB, "poverty", linkage.NotListed, 0)
	b2, _ := svc.List(ctx, workB, "poverty", linkage.NotReceiving, 0)
	if len(a) != 1 || a[0].HouseholdNo != "HpoorOnly" || len(b) != 1 || len(b2) != 1 || b2[0].HouseholdNo != "" {
		t.Fatalf("scope: A %v, B %v %v", a, b, b2)
	}
	if _, err := svc.List(ctx, prov, "union", linkage.NotListed, 0); err == nil {
		t.Fatal("the union list has no expected recipients")
	}
	cs, err := svc.Counts(ctx, prov)
	if err != nil || len(cs) != 1 || cs[0] != (linkage.Count{Registry: "poverty", County: "360124000000", Entries: 3, Matched: 2, NotReceiving: 2, NotListed: 1}) {
		t.Fatalf("counts: %v %+v", err, cs)
	}
	// the department's data clerk who uploaded it sees the counts and its
	// runs, never the people on the lists
	var ae *apperr.Error
	for _, list := range []string{linkage.NotReceiving, linkage.NotListed} {
		if es, err := svc.List(ctx, dept, "poverty", list, 0); !errors.As(err, &ae) || ae.Status != 403 || len(es) != 0 {
			t.Fatalf("the importer read the %s list: %v %v", list, err, es)
		}
	}
	if dc, err := svc.Counts(ctx, dept); err != nil || len(dc) != 1 || dc[0] != cs[0] {
		t.Fatalf("importer's counts: %v %+v", err, dc)
	}
	if runs, err := svc.Runs(ctx, dept); err != nil || len(runs) != 3 || !runs[0].Current {
		t.Fatalf("importer's runs: %v %+v", err, runs)
	}
	// a new list replaces the old one
	if _, err := svc.Import(ctx, dept, "poverty", "p2.csv", file(ids["dibaoOnly"]+",王小明,360124101001,1")); err != nil {
		t.Fatal(err)
	}
	nl, _ = svc.List(ctx, prov, "poverty", linkage.NotListed, 0)
	if !slices.Equal(names(nl), []string{"Hboth/3601"}) {
		t.Fatalf("after the new list: %v", names(nl))
	}
	union := []byte("身份证号,姓名,区划代码,困难类型\n" + ids["dibaoOnly"] + ",王小明,360124101001,1\n" + ids["poorOnly"] + ",王小明,360124100001,2\n")
	if res, err := svc.Import(ctx, dept, "union", "u.xlsx.csv", union); err != nil || res.Matched != 2 {
		t.Fatalf("union: %v %+v", err, res)
	}
	u, _ := svc.List(ctx, prov, "union", linkage.NotReceiving, 0)
	if len(u) != 1 || u[0].HouseholdNo != "HpoorOnly" || u[0].Category != "相对困难" {
		t.Fatalf("union not receiving: %+v", u)
	}
}

// TestLinkageListIsPerRegion: a county's upload replaces only the lists of
// that county; the other counties' entries stay current, recipients of a
// county no list reaches are not flagged as missing from it, a county's newer
// list governs its county next to an older province-wide one, and a new
// province-wide list replaces them all.
func TestLinkageListIsPerRegion(t *testing.T) {
	ctx := context.Background()
	d := testdb.Open(t)
	tree := testdb.Tree(t)
	keys, _ := crypt.LoadOrCreate(t.TempDir())
	svc := &linkage.Service{DB: d, Tree: tree, Keys: keys}
	as := &auth.Service{DB: d, Tree: tree}
	mk := func(name string, role auth.Role, region string) *auth.User {
		u, err := as.Create(ctx, nil, auth.NewUser{Username: name, DisplayName: name, Role: role, Region: region, Password: "test-pass-2026"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	province := mk("dept", auth.DepartmentOfficer, "360000000000")
	jinxian := mk("dept_jx", auth.DepartmentOfficer, "360124000000")  // 进贤县
	nanchang := mk("dept_nc", auth.DepartmentOfficer, "360121000000") // 南昌县
	sup := mk("sup", auth.Supervisor, "360000000000")
	now := time.Now().UTC()
	ids := map[string]string{}
	seq := 0
	add := func(label, village string) {
		seq++
		id := idcard.Build("360124", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), seq*2+1, true)
		ids[label] = id
		var hid, pid int64
		if err := d.QueryRowContext(ctx, `INSERT INTO households (hh_no, region_code, hukou, address, created_at, updated_at) VALUES ($1,$2,'rural','x',$3,$3) RETURNING id`,
			"H"+label, village, now).Scan(&hid); err != nil {
			t.Fatal(err)
		}
		if err := d.QueryRowContext(ctx, `INSERT INTO persons (household_id, region_code, id_hmac, id_enc, id_masked, name, sex, birth_date, relation, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,'王小明','M','1970-01-01','head',$6,$6) RETURNING id`, hid, village, keys.Hash(id), keys.Seal(id), idcard.Mask(id), now).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, household_id, applicant_id, region_code, channel, state, accepted_on, decision, purpose, created_at, updated_at)
			VALUES ($1,'dibao','2021',$2,$3,$4,'door','approved','2025-01-01','approved','application',$5,$5)`, "C"+label, hid, pid, village, now); err != nil {
			t.Fatal(err)
		}
	}
	// rural dibao households, each expected on the poverty list
	add("jx1", "360124100001")
	add("jx2", "360124100002")
	add("nc1", "360121100001")
	add("nc2", "360121100002")
	add("xj1", "360123100001") // 新建区: no list reaches it
	poorJX := idcard.Build("360124", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 901, true)
	poorNC := idcard.Build("360121", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 903, true)
	file := func(rows ...string) []byte {
		return []byte("身份证号,姓名,区划代码,类别\n" + strings.Join(rows, "\n") + "\n")
	}
	lists := func() (notReceiving, notListed []string) {
		t.Helper()
		nr, err := svc.List(ctx, sup, "poverty", linkage.NotReceiving, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range nr {
			notReceiving = append(notReceiving, e.Region[:6])
		}
		nl, err := svc.List(ctx, sup, "poverty", linkage.NotListed, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range nl {
			notListed = append(notListed, e.HouseholdNo)
		}
		slices.Sort(notReceiving)
		slices.Sort(notListed)
		return
	}
	load := func(u *auth.User, body []byte) {
		t.Helper()
		if _, err := svc.Import(ctx, u, "poverty", "p.csv", body); err != nil {
			t.Fatalf("%s: %v", u.Username, err)
		}
	}
	// a county's file must lie in its county
	if _, err := svc.Import(ctx, jinxian, "poverty", "p.csv", file(ids["nc1"]+",王小明,360121100001,1")); err == nil {
		t.Fatal("进贤县 loaded a list of 南昌县")
	}

	load(jinxian, file(ids["jx1"]+",王小明,360124100001,1", poorJX+",李四,360124100001,3"))
	load(nanchang, file(ids["nc1"]+",王小明,360121100001,1", poorNC+",张三,360121100001,3"))
	nr, nl := lists()
	if !slices.Equal(nr, []string{"360121", "360124"}) || !slices.Equal(nl, []string{"Hjx2", "Hnc2"}) {
		t.Fatalf("after both counties' lists: not receiving %v, not listed %v", nr, nl)
	}
	var current int
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM linkage_runs WHERE is_current`).Scan(&current)
	if current != 2 {
		t.Fatalf("%d current runs, want both counties'", current)
	}
	// 新建区, where no list reaches, has no figures at all
	cs, err := svc.Counts(ctx, sup)
	if err != nil || len(cs) != 2 || cs[0] != (linkage.Count{Registry: "poverty", County: "360121000000", Entries: 2, Matched: 1, NotReceiving: 1, NotListed: 1}) ||
		cs[1] != (linkage.Count{Registry: "poverty", County: "360124000000", Entries: 2, Matched: 1, NotReceiving: 1, NotListed: 1}) {
		t.Fatalf("counts: %v %+v", err, cs)
	}

	// a province-wide list replaces both; a newer county list then governs
	// its county while the province's still holds for the others
	load(province, file(ids["jx1"]+",王小明,360124100001,1", ids["jx2"]+",王小明,360124100002,1", ids["nc2"]+",王小明,360121100002,1",
		poorNC+",张三,360121100001,3"))
	d.QueryRowContext(ctx, `SELECT COUNT(*) FROM linkage_runs WHERE is_current`).Scan(&current)
	nr, nl = lists()
	if current != 1 || !slices.Equal(nr, []string{"360121"}) || !slices.Equal(nl, []string{"Hnc1", "Hxj1"}) {
		t.Fatalf("after the province's list: %d current, not receiving %v, not listed %v", current, nr, nl)
	}
	load(jinxian, file(ids["jx1"]+",王小明,360124100001,1", poorJX+",李四,360124100001,3"))
	nr, nl = lists()
	if !slices.Equal(nr, []string{"360121", "360124"}) || !slices.Equal(nl, []string{"Hjx2", "Hnc1", "Hxj1"}) {
		t.Fatalf("after 进贤县's newer list: not receiving %v, not listed %v", nr, nl)
	}
	cs, _ = svc.Counts(ctx, sup)
	for _, c := range cs {
		if c.County == "360124000000" && (c.Entries != 2 || c.Matched != 1) {
			t.Fatalf("进贤县 counts both lists' entries: %+v", c)
		}
	}
}
