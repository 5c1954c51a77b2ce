package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/testdb"
)

type caller struct{ region string }

func (c caller) Scope() string { return region.ScopePrefix(c.region) }
func (c caller) Actor() audit.Actor {
	return audit.Actor{UserID: 0, Username: "tester", Role: "township_caseworker", Region: c.region}
}

const (
	village1 = "360102002001" // 南昌 东湖区 滕王阁街道 民巷社区
	village2 = "360102002002"
	ganzhou  = "360704100001" // a village of 赣县区 (赣州)
)

func newService(t *testing.T) *registry.Service {
	keys, err := crypt.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &registry.Service{DB: testdb.Open(t), Keys: keys, Tree: testdb.Tree(t)}
}

func id(birth string, seq int, male bool) string {
	b, _ := time.Parse(time.DateOnly, birth)
	return idcard.Build("360102", b, seq, male)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

func TestHouseholdLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	town := caller{"360102002000"}
	head := registry.PersonInput{IDNumber: id("1970-05-01", 11, true), Name: "张建国", Relation: "head", CoResident: true, AbleToWork: true}
	h, err := s.CreateHousehold(ctx, town, registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "民巷1号", Head: head})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.No, village1) || h.Version != 1 {
		t.Fatalf("household %+v", h)
	}
	// the same ID cannot be registered twice; inside scope the refusal says where
	_, err = s.CreateHousehold(ctx, town, registry.HouseholdInput{Region: village2, Hukou: "urban", Address: "x", Head: head})
	wantCode(t, err, "duplicate_person")
	if !strings.Contains(err.Error(), h.No) {
		t.Fatalf("in-scope refusal should name the household: %v", err)
	}
	// outside scope it only says the person exists elsewhere
	other := caller{"360704000000"}
	_, err = s.CreateHousehold(ctx, other, registry.HouseholdInput{Region: ganzhou, Hukou: "rural", Address: "x", Head: head})
	wantCode(t, err, "duplicate_person")
	if strings.Contains(err.Error(), h.No) || strings.Contains(err.Error(), "南昌") {
		t.Fatalf("out-of-scope refusal leaks where the person is: %v", err)
	}

	spouse := registry.PersonInput{IDNumber: id("1972-03-04", 22, false), Name: "李秀英", Relation: "spouse", CoResident: true}
	p, err := s.AddMember(ctx, town, h.ID, h.Version, spouse, "结婚迁入")
	if err != nil {
		t.Fatal(err)
	}
	// a second change from the same stale page is refused
	child := registry.PersonInput{IDNumber: id("2010-09-09", 33, true), Name: "张小明", Relation: "child", CoResident: true, Student: "compulsory"}
	_, err = s.AddMember(ctx, town, h.ID, h.Version, child, "出生")
	wantCode(t, err, "version_conflict")
	if _, err := s.AddMember(ctx, town, h.ID, h.Version+1, child, "出生"); err != nil {
		t.Fatal(err)
	}
	// person edits are optimistic too
	spouse.DisabilityKind, spouse.DisabilityLevel = "physical", 2
	spouse.SelfCareFailed = []string{"bathing", "dressing"}
	if _, err := s.UpdatePerson(ctx, town, p.ID, p.Version, spouse, "办理残疾证"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdatePerson(ctx, town, p.ID, p.Version, spouse, "again")
	wantCode(t, err, "version_conflict")
	// a reason is required
	_, err = s.UpdatePerson(ctx, town, p.ID, p.Version+1, spouse, " ")
	wantCode(t, err, "reason_required")

	full, err := s.Household(ctx, town, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Members) != 3 || full.Members[0].Relation != "head" {
		t.Fatalf("members %+v", full.Members)
	}
	for _, m := range full.Members {
		if m.ID == p.ID && (m.DisabilityLevel != 2 || len(m.SelfCareItems) != 2) {
			t.Fatalf("edit not stored: %+v", m)
		}
	}
	// outside scope the household does not exist
	if _, err := s.Household(ctx, other, h.ID); err == nil {
		t.Fatal("other county read the household")
	}
	_, err = s.AddMember(ctx, other, h.ID, full.Version, registry.PersonInput{IDNumber: id("1990-01-01", 44, true), Name: "王五", Relation: "other"}, "x")
	wantCode(t, err, "not_found")

	// lookups
	f, err := s.ByIDNumber(ctx, town, spouse.IDNumber)
	if err != nil || f.Person.ID != p.ID || f.Household.ID != h.ID {
		t.Fatalf("lookup: %+v %v", f, err)
	}
	if _, err := s.ByIDNumber(ctx, other, spouse.IDNumber); err == nil {
		t.Fatal("lookup crossed scope")
	}
	hits, _, err := s.SearchByName(ctx, town, "", "张建", 10)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search: %v %v", hits, err)
	}
	if hits, _, _ := s.SearchByName(ctx, other, "", "张建", 10); len(hits) != 0 {
		t.Fatal("search crossed scope")
	}
	_, _, err = s.SearchByName(ctx, other, village1, "张建", 10)
	wantCode(t, err, "forbidden")
	if n, err := s.RevealIDNumber(ctx, town, p.ID); err != nil || n != spouse.IDNumber {
		t.Fatalf("reveal %q %v", n, err)
	}

	// split the child off, merge back, move the household
	full, _ = s.Household(ctx, town, h.ID)
	var childID int64
	for _, m := range full.Members {
		if m.Relation == "child" {
			childID = m.ID
		}
	}
	nh, err := s.Split(ctx, town, h.ID, full.Version, []int64{childID}, childID, "", "成年分户")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Merge(ctx, town, h.ID, full.Version+1, nh.ID, nh.Version, "合户"); err != nil {
		t.Fatal(err)
	}
	full, _ = s.Household(ctx, town, h.ID)
	if len(full.Members) != 3 {
		t.Fatalf("after merge %d members", len(full.Members))
	}
	err = s.Move(ctx, town, h.ID, full.Version, ganzhou, "某地", "搬迁")
	wantCode(t, err, "forbidden")
	if err := s.Move(ctx, town, h.ID, full.Version, village2, "章江路2号", "搬迁"); err != nil {
		t.Fatal(err)
	}
	full, _ = s.Household(ctx, town, h.ID)
	for _, m := range full.Members {
		if m.Region != village2 {
			t.Fatalf("member region not moved: %s", m.Region)
		}
	}
	// removal keeps the person registered without a household; they may join another
	if err := s.RemoveMember(ctx, town, h.ID, full.Version, p.ID, "moved_out", "户籍迁出"); err != nil {
		t.Fatal(err)
	}
	h2, err := s.CreateHousehold(ctx, town, registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "新址", Head: spouse})
	if err != nil || h2.Members[0].ID != p.ID {
		t.Fatalf("rejoin: %+v %v", h2, err)
	}
	hist, err := s.History(ctx, town, h.ID)
	if err != nil || len(hist) < 8 {
		t.Fatalf("history %d %v", len(hist), err)
	}
	// every one of those writes and reads is in an intact audit chain
	res, err := audit.Verify(ctx, s.DB, nil)
	if err != nil || res.FirstBroken != 0 || res.Checked < 15 {
		t.Fatalf("audit %+v %v", res, err)
	}
	// the database never holds the plaintext ID number
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM persons WHERE id_enc LIKE '%' || $1 || '%' OR id_hmac = $1`, spouse.IDNumber).Scan(&n); err != nil || n != 0 {
		t.Fatalf("plaintext ID stored: %d %v", n, err)
	}
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%' || $1 || '%'`, spouse.IDNumber).Scan(&n); err != nil || n != 0 {
		t.Fatalf("plaintext ID in the audit log: %d %v", n, err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	town := caller{"360102002000"}
	good := registry.PersonInput{IDNumber: id("1980-01-01", 1, true), Name: "赵六", Relation: "head"}
	cases := []struct {
		name string
		in   registry.HouseholdInput
		code string
	}{
		{"check digit", registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "a", Head: registry.PersonInput{IDNumber: "340524198001010013", Name: "赵六"}}, "id_check_digit"},
		{"unknown region", registry.HouseholdInput{Region: "360102002999", Hukou: "urban", Address: "a", Head: good}, "unknown_region"},
		{"not a village", registry.HouseholdInput{Region: "360102002000", Hukou: "urban", Address: "a", Head: good}, "not_village"},
		{"out of scope", registry.HouseholdInput{Region: ganzhou, Hukou: "urban", Address: "a", Head: good}, "forbidden"},
		{"sex", registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "a", Head: registry.PersonInput{IDNumber: good.IDNumber, Name: "赵六", Sex: "F"}}, "sex_mismatch"},
		{"birth", registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "a", Head: registry.PersonInput{IDNumber: good.IDNumber, Name: "赵六", BirthDate: "1980-01-02"}}, "birth_date_mismatch"},
		{"hukou", registry.HouseholdInput{Region: village1, Hukou: "city", Address: "a", Head: good}, "invalid_hukou"},
		{"disability", registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "a", Head: registry.PersonInput{IDNumber: good.IDNumber, Name: "赵六", DisabilityKind: "visual", DisabilityLevel: 5}}, "invalid_disability_level"},
	}
	for _, c := range cases {
		_, err := s.CreateHousehold(ctx, town, c.in)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != c.code || e.Message == "" {
			t.Errorf("%s: error %v, want %s", c.name, err, c.code)
		}
	}
	var n int
	s.DB.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM households) + (SELECT COUNT(*) FROM persons) + (SELECT COUNT(*) FROM registry_history)`).Scan(&n)
	if n != 0 {
		t.Fatalf("refused input left %d rows behind", n)
	}
}

func TestAuditTamperDetected(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	town := caller{"360102002000"}
	for i := 0; i < 3; i++ {
		_, err := s.CreateHousehold(ctx, town, registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "a",
			Head: registry.PersonInput{IDNumber: id("1980-01-01", 10+i*2, true), Name: "测试", Relation: "head"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB.ExecContext(ctx, `UPDATE audit_log SET detail = '{}' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(ctx, s.DB, nil)
	if err != nil || res.FirstBroken != 3 {
		t.Fatalf("tampered entry 3 not named: %+v %v", res, err)
	}
	s.DB.ExecContext(ctx, `DELETE FROM audit_log WHERE seq >= 3`)
	res, _ = audit.Verify(ctx, s.DB, nil)
	if res.FirstBroken != 3 {
		t.Fatalf("truncated log not detected: %+v", res)
	}
}

// TestConcurrentRegistrations: several offices register households in one
// village at the same moment; every registration succeeds with its own number.
func TestConcurrentRegistrations(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	town := caller{"360102002000"}
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, err := s.CreateHousehold(ctx, town, registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "并发",
				Head: registry.PersonInput{IDNumber: id("1975-06-06", 100+2*i, true), Name: "并发测试", Relation: "head"}})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var distinct int
	s.DB.QueryRowContext(ctx, `SELECT COUNT(DISTINCT hh_no) FROM households`).Scan(&distinct)
	if distinct != n {
		t.Fatalf("%d distinct household numbers for %d households", distinct, n)
	}
	// two people editing the same household at once: exactly one wins
	h, _ := s.ByHouseholdNo(ctx, town, village1+"00001")
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func(i int) {
			_, err := s.UpdateHousehold(ctx, town, h.ID, registry.HouseholdUpdate{Version: h.Version, Hukou: "urban", Address: fmt.Sprint("地址", i), Reason: "同时修改"})
			results <- err
		}(i)
	}
	var ok, stale int
	for i := 0; i < 2; i++ {
		err := <-results
		if err == nil {
			ok++
		} else if e, isApp := apperr.As(err); isApp && e.Code == "version_conflict" {
			stale++
		} else {
			t.Fatal(err)
		}
	}
	if ok != 1 || stale != 1 {
		t.Fatalf("concurrent edits: %d succeeded, %d refused as stale", ok, stale)
	}
}
