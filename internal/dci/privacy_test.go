package dci_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/share"
)

// TestBirthDateNeedsPersonID: the masked ID number hides exactly the birth
// date, so a key without person.id may neither filter nor sort on birth_date,
// and its age filters count in calendar years: two people born on the first
// and the last day of the same year are never told apart by any age
// filter. A key with person.id keeps the exact forms.
func TestBirthDateNeedsPersonID(t *testing.T) {
	f := newFx(t)
	plain := f.newClient(county, []string{share.ScopeDCISearch, share.ScopePersonName, share.ScopeHousehold}, false)
	full := f.newClient(county, []string{share.ScopeDCISearch, share.ScopePersonID}, false)

	refused := func(k *client, crit map[string]any, code string) {
		t.Helper()
		st, out := k.send("/registry/sync/search", "search", searchMsg(crit), opts{})
		it := results(t, out)[0]
		if st != http.StatusOK || it["status"] != "rjct" || it["status_reason_code"] != code || it["data"] != nil {
			t.Fatalf("want %s, got %d %v", code, st, it)
		}
	}
	inVillage := func(e map[string]any) map[string]any {
		return predicate(map[string]any{"expression1": expr("region_code", "eq", village), "condition": "and", "expression2": e})
	}
	// the attack: every person of a village born on a given day
	for _, op := range []string{"eq", "gt", "lt", "ge", "le"} {
		refused(plain, inVillage(expr("birth_date", op, "1955-06-01")), "rjct.filter.invalid")
	}
	refused(plain, predicate(map[string]any{"expression1": expr("birth_date", "in", "1955-06-01")}), "rjct.filter.invalid")
	refused(plain, map[string]any{"query_type": "expression", "query": map[string]any{"type": "ns:org:QueryType:expression",
		"value": map[string]any{"expression": map[string]any{"birth_date": map[string]any{"$gte": "1955-06-01", "$lte": "1955-06-01"}}}}}, "rjct.filter.invalid")
	sorted := inVillage(expr("sex", "eq", "female"))
	sorted["sort"] = []any{map[string]any{"attribute_name": "birth_date", "sort_order": "asc"}}
	refused(plain, sorted, "rjct.sort.invalid")

	// with person.id the same filter and sort are answered
	st, out := full.send("/registry/sync/search", "search", searchMsg(inVillage(expr("birth_date", "eq", "1955-06-01")), sorted), opts{})
	items := results(t, out)
	if recs := records(t, items[0]); st != http.StatusOK || len(recs) != 1 || identifier(recs[0]) != f.elderID {
		t.Fatalf("birth_date with person.id: %d %v", st, recs)
	}
	if recs := records(t, items[1]); len(recs) != 2 || identifier(recs[0]) != f.elderID || identifier(recs[1]) != f.spouseID {
		t.Fatalf("sort by birth_date with person.id: %v", recs)
	}

	// two people born on the first and on the last day of the year 40 years ago
	today := time.Now().In(calendar.China)
	y := today.Year() - 40
	born := func(s string, seq int) string {
		d, _ := time.Parse(time.DateOnly, s)
		id := idcard.Build("360102", d, seq, seq%2 == 1)
		if _, err := f.reg.CreateHousehold(f.ctx, f.caseworker, registry.HouseholdInput{Region: village, Hukou: "urban", Address: "民巷" + strconv.Itoa(seq) + "号",
			Head: registry.PersonInput{IDNumber: id, Name: map[int]string{61: "赵明", 62: "赵芳"}[seq], Relation: "head", CoResident: true}}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	jan := born(fmt.Sprintf("%d-01-01", y), 61)
	dec := born(fmt.Sprintf("%d-12-31", y), 62)

	type probe struct {
		op string
		n  int
	}
	var probes []probe
	var crits []map[string]any
	for _, op := range []string{"eq", "gt", "lt", "ge", "le"} {
		for n := 38; n <= 42; n++ {
			probes = append(probes, probe{op, n})
			crits = append(crits, inVillage(expr("age", op, strconv.Itoa(n))))
		}
	}
	found := func(k *client) []map[string]bool {
		t.Helper()
		st, out := k.send("/registry/sync/search", "search", searchMsg(crits...), opts{})
		if st != http.StatusOK {
			t.Fatalf("age probes: %d %v", st, out)
		}
		var got []map[string]bool
		for _, it := range results(t, out) {
			m := map[string]bool{}
			for _, r := range records(t, it) {
				m[identifier(r)], m[fullName(r)] = true, true // full ID numbers for person.id, names for the others
			}
			got = append(got, m)
		}
		return got
	}
	janM, decM := "赵明", "赵芳"
	for i, m := range found(plain) {
		if m[janM] != m[decM] {
			t.Fatalf("age %s %d tells two people of the same birth year apart: %v", probes[i].op, probes[i].n, m)
		}
		// the age is this year minus the birth year: 40 for both
		want := map[string]bool{"eq": probes[i].n == 40, "gt": 40 > probes[i].n, "lt": 40 < probes[i].n, "ge": 40 >= probes[i].n, "le": 40 <= probes[i].n}[probes[i].op]
		if m[janM] != want {
			t.Fatalf("age %s %d: found %v, want %v", probes[i].op, probes[i].n, m[janM], want)
		}
	}
	// a key with person.id still gets the exact age (unless today is the
	// first or last day of the year, when the two agree)
	if md := today.Format("01-02"); md != "01-01" && md != "12-31" {
		got := found(full)
		i := slices.Index(probes, probe{"eq", 40})
		if !got[i][jan] || got[i][dec] || !got[i-1][dec] {
			t.Fatalf("exact age with person.id: 39 %v, 40 %v", got[i-1], got[i])
		}
	}

	// sorting by age without person.id is by birth year, then by record:
	// the two of the same year come in registration order either way
	for _, dir := range []string{"asc", "desc"} {
		c := inVillage(expr("age", "eq", "40"))
		c["sort"] = []any{map[string]any{"attribute_name": "age", "sort_order": dir}}
		_, out := plain.send("/registry/sync/search", "search", searchMsg(c), opts{})
		recs := records(t, results(t, out)[0])
		if len(recs) != 2 || fullName(recs[0]) != janM || fullName(recs[1]) != decM {
			t.Fatalf("sort by age %s without person.id: %v", dir, recs)
		}
	}
	c := inVillage(expr("sex", "eq", "female"))
	c["sort"] = []any{map[string]any{"attribute_name": "age", "sort_order": "desc"}}
	_, out = plain.send("/registry/sync/search", "search", searchMsg(c), opts{})
	if recs := records(t, results(t, out)[0]); len(recs) < 2 || fullName(recs[0]) != "刘桂英" {
		t.Fatalf("oldest first without person.id: %v", recs)
	}
}

// TestSubscribeAllOrNothing: a database failure on the second subscription
// of a message leaves neither the first nor the transaction behind, so the
// same message sent again creates both instead of being told that the first
// already exists.
func TestSubscribeAllOrNothing(t *testing.T) {
	f := newFx(t)
	k := f.newClient(county, []string{share.ScopeDCISubscribe}, false)
	// a real failure of the second insert, from the database itself
	ddl := []string{`CREATE TRIGGER dci_sub_fail BEFORE INSERT ON dci_subscriptions WHEN NEW.reference_id = 'r2' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`}
	if f.d.Dialect == db.Postgres {
		ddl = []string{`CREATE FUNCTION dci_sub_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.reference_id = 'r2' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`,
			`CREATE TRIGGER dci_sub_fail BEFORE INSERT ON dci_subscriptions FOR EACH ROW EXECUTE FUNCTION dci_sub_fail()`}
	}
	for _, q := range ddl {
		if _, err := f.d.ExecContext(f.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	item := func(ref, ev string, e map[string]any) map[string]any {
		return map[string]any{"reference_id": ref, "timestamp": time.Now().UTC().Format(time.RFC3339), "subscribe_criteria": map[string]any{
			"reg_type": "ns:org:RegistryType:Social", "reg_event_type": ev, "filter_type": "predicate",
			"filter": []any{map[string]any{"seq_num": 1, "expression1": e}}, "notify_record_type": "Member"}}
	}
	msg := map[string]any{"transaction_id": "sub-txn-atomic", "subscribe_request": []any{
		item("r1", "EntitlementStarted", expr("region_code", "eq", township)),
		item("r2", "EntitlementEnded", expr("sex", "eq", "female")),
	}}
	txnsBefore := f.count("dci_transactions")
	st, out := k.send("/registry/subscribe", "subscribe", msg, opts{async: true})
	if st != http.StatusInternalServerError {
		t.Fatalf("subscribe with a failing insert: %d %v", st, out)
	}
	if n := f.count("dci_subscriptions"); n != 0 {
		t.Fatalf("%d subscriptions left by a failed message", n)
	}
	if n := f.count("dci_transactions"); n != txnsBefore {
		t.Fatalf("transactions %d, want %d", n, txnsBefore)
	}
	f.svc.Wait()
	f.cb.none(t)

	if _, err := f.d.ExecContext(f.ctx, `DROP TRIGGER dci_sub_fail`+map[bool]string{true: ` ON dci_subscriptions`}[f.d.Dialect == db.Postgres]); err != nil {
		t.Fatal(err)
	}
	st, out = k.send("/registry/subscribe", "subscribe", msg, opts{async: true})
	if st != http.StatusOK || out["message"].(map[string]any)["ack_status"] != "ACK" {
		t.Fatalf("subscribe again: %d %v", st, out)
	}
	resp := f.callback("/registry/on-subscribe")["message"].(map[string]any)["subscribe_response"].([]any)
	if len(resp) != 2 || resp[0].(map[string]any)["status"] != "succ" || resp[1].(map[string]any)["status"] != "succ" {
		t.Fatalf("on-subscribe after the failure: %v", resp)
	}
	if n := f.count("dci_subscriptions"); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}
	// the duplicate check runs inside the same transaction
	st, _ = k.send("/registry/subscribe", "subscribe", msg, opts{async: true})
	resp = f.callback("/registry/on-subscribe")["message"].(map[string]any)["subscribe_response"].([]any)
	if st != http.StatusOK || resp[0].(map[string]any)["status_reason_code"] != "rjct.event.already_subscribed" ||
		resp[1].(map[string]any)["status_reason_code"] != "rjct.event.already_subscribed" || f.count("dci_subscriptions") != 2 {
		t.Fatalf("third subscribe: %v", resp)
	}
}

// fullName is a record's name as the key sees it ("" without person.name).
func fullName(rec map[string]any) string {
	n, _ := rec["demographic_info"].(map[string]any)["name"].(map[string]any)
	sur, _ := n["surname"].(string)
	given, _ := n["given_name"].(string)
	return sur + given
}
