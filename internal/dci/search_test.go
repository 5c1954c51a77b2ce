package dci_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"jiuzhu/internal/share"
)

// TestSyncSearchByID: a key gets a token and finds a person by ID number,
// masked without person.id / person.name and in full with them; a person
// outside the key's region is not found; every call is audited.
func TestSyncSearchByID(t *testing.T) {
	f := newFx(t)
	masked := f.newClient(county, []string{share.ScopeDCISearch}, false)
	full := f.newClient(county, []string{share.ScopeDCISearch, share.ScopePersonID, share.ScopePersonName}, true)
	auditBefore := f.count("audit_log")

	code, out := masked.send("/registry/sync/search", "search", searchMsg(byID(f.elderID)), opts{})
	if code != http.StatusOK {
		t.Fatalf("sync search: %d %v", code, out)
	}
	recs := records(t, results(t, out)[0])
	if len(recs) != 1 || identifier(recs[0]) != share.RegionOnly(f.elderID) {
		t.Fatalf("masked search: %v", recs)
	}
	demo := recs[0]["demographic_info"].(map[string]any)
	if demo["name"] != nil || demo["birth_date"] != nil || demo["sex"] != "female" {
		t.Fatalf("masked record shows %v", demo)
	}
	if strings.Contains(string(mustJSON(out)), f.elderID) || strings.Contains(string(mustJSON(out)), "刘桂英") {
		t.Fatal("masked answer holds the full ID number or the name")
	}

	code, out = full.send("/registry/sync/search", "search", searchMsg(byID(f.elderID)), opts{})
	recs = records(t, results(t, out)[0])
	if code != http.StatusOK || len(recs) != 1 || identifier(recs[0]) != f.elderID {
		t.Fatalf("full search: %d %v", code, recs)
	}
	name := recs[0]["demographic_info"].(map[string]any)["name"].(map[string]any)
	if name["surname"] != "刘" || name["given_name"] != "桂英" || recs[0]["demographic_info"].(map[string]any)["birth_date"] != "1955-06-01" {
		t.Fatalf("full record: %v", recs[0]["demographic_info"])
	}

	// outside the key's region: found nowhere, exactly like an unknown number
	code, out = full.send("/registry/sync/search", "search", searchMsg(byID(f.outsideID)), opts{})
	item := results(t, out)[0]
	if code != http.StatusOK || len(records(t, item)) != 0 || item["pagination"].(map[string]any)["total_count"].(float64) != 0 {
		t.Fatalf("outside region: %d %v", code, item)
	}
	if n := f.count("audit_log"); n < auditBefore+3 {
		t.Fatalf("calls not audited: %d entries after %d", n, auditBefore)
	}
	var logged int
	f.d.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM audit_log WHERE action = 'share.call' AND object_id = $1 AND detail LIKE '%sync/search%'`, full.c.ClientID).Scan(&logged)
	if logged != 2 {
		t.Fatalf("full key's searches audited %d times, want 2", logged)
	}
	var holds int
	f.d.QueryRowContext(f.ctx, `SELECT COUNT(*) FROM audit_log WHERE detail LIKE $1`, "%"+f.elderID[6:14]+"%").Scan(&holds)
	if holds != 0 {
		t.Fatal("the audit log holds the ID number")
	}
}

// TestSearchByPredicateAndExpression: whitelisted predicates compile to SQL
// on both databases; expressions in the documented subset; groups, sort and
// pagination as in the spec.
func TestSearchByPredicateAndExpression(t *testing.T) {
	f := newFx(t)
	f.approveTekun(f.elderHH, f.elderPerson, "2025-12-01")
	k := f.newClient(county, []string{share.ScopeDCISearch, share.ScopePersonID}, false)

	code, out := k.send("/registry/sync/search", "search", searchMsg(
		predicate(map[string]any{"expression1": expr("sex", "eq", "female"), "condition": "and", "expression2": expr("age", "ge", "60")}),
		predicate(map[string]any{"expression1": expr("programme", "eq", "tekun")}),
		predicate(map[string]any{"expression1": expr("is_disabled", "eq", true)}, map[string]any{"expression1": expr("disability_level", "le", "2")}),
		predicate(map[string]any{"expression1": expr("region_code", "in", "360102,360124"), "condition": "not", "expression2": expr("household_size", "ge", "2")}),
	), opts{})
	if code != http.StatusOK {
		t.Fatalf("predicate search: %d %v", code, out)
	}
	items := results(t, out)
	ids := func(i int) []string {
		var s []string
		for _, r := range records(t, items[i]) {
			s = append(s, identifier(r))
		}
		return s
	}
	if got := ids(0); len(got) != 1 || got[0] != f.elderID {
		t.Fatalf("women of 60 or more: %v", got)
	}
	if got := ids(1); len(got) != 1 || got[0] != f.elderID {
		t.Fatalf("tekun recipients: %v", got)
	}
	rec := records(t, items[1])[0]
	if p := attr(rec, "programme"); len(p) != 1 || p[0] != "tekun" {
		t.Fatalf("programme attribute %v", p)
	}
	if got := ids(2); len(got) != 1 || got[0] != f.spouseID {
		t.Fatalf("disabled level ≤ 2: %v", got)
	}
	if got := ids(3); len(got) != 1 || got[0] != f.elderID { // the 进贤 person is outside the key's region
		t.Fatalf("single-person households in region: %v", got)
	}

	// expression: households (Group) of at least 3 urban members, largest first
	q := map[string]any{"query_type": "expression", "response_entity": "Group",
		"query": map[string]any{"type": "ns:org:QueryType:expression", "value": map[string]any{"expression": map[string]any{"collection": "Group",
			"query": map[string]any{"$and": []any{map[string]any{"hukou": "urban"}, map[string]any{"group_size": map[string]any{"$gte": 3}}}}}}},
		"sort": []any{map[string]any{"attribute_name": "group_size", "sort_order": "desc"}}}
	code, out = k.send("/registry/sync/search", "search", searchMsg(q), opts{})
	item := results(t, out)[0]
	groups := records(t, item)
	if code != http.StatusOK || len(groups) != 1 || groups[0]["group_size"].(float64) != 3 || len(groups[0]["member_list"].([]any)) != 3 {
		t.Fatalf("group expression: %d %v", code, groups)
	}
	if groups[0]["group_identifier"] != nil {
		t.Fatal("household number shown without the household scope")
	}
	if identifier(groups[0]["group_head_info"].(map[string]any)) != f.headID {
		t.Fatal("group head")
	}

	// pagination: the three active persons of the village by birth date, one per page
	page := func(n int) (string, float64) {
		c := predicate(map[string]any{"expression1": expr("region_code", "eq", village), "condition": "and", "expression2": expr("age", "lt", "60")})
		c["pagination"] = map[string]any{"page_size": 1, "page_number": n}
		c["sort"] = []any{map[string]any{"attribute_name": "birth_date", "sort_order": "asc"}}
		_, out := k.send("/registry/sync/search", "search", searchMsg(c), opts{})
		it := results(t, out)[0]
		rs := records(t, it)
		total := it["pagination"].(map[string]any)["total_count"].(float64)
		if len(rs) == 0 {
			return "", total
		}
		return identifier(rs[0]), total
	}
	p1, total := page(1)
	p2, _ := page(2)
	p4, _ := page(4)
	if total != 3 || p1 != f.headID || p2 != f.spouseID || p4 != "" {
		t.Fatalf("pages: total %v, %s, %s, %q", total, p1, p2, p4)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
