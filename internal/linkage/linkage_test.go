package linkage_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

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
