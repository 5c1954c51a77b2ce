package dci_test

import (
	"net/http"
	"testing"
	"time"

	"jiuzhu/internal/share"
)

// TestAsyncSearchAndTxnStatus: the registry acknowledges an asynchronous
// search, posts a signed on-search to the sender's callback, and answers the
// transaction's status synchronously and asynchronously from what it stored.
func TestAsyncSearchAndTxnStatus(t *testing.T) {
	f := newFx(t)
	k := f.newClient(county, []string{share.ScopeDCISearch}, true)
	msg := searchMsg(byID(f.headID), predicate(map[string]any{"expression1": expr("poverty_score", "lt", "5")}))
	code, out := k.send("/registry/search", "search", msg, opts{async: true})
	ack := out["message"].(map[string]any)
	if code != http.StatusOK || ack["ack_status"] != "ACK" || ack["correlation_id"] == "" {
		t.Fatalf("async search: %d %v", code, out)
	}
	cb := f.callback("/registry/on-search")
	if h := cb["header"].(map[string]any); h["action"] != "on-search" || h["receiver_id"] != k.c.ClientID || h["sender_id"] != "jiuzhu-sr" {
		t.Fatalf("on-search header %v", h)
	}
	m := cb["message"].(map[string]any)
	if m["transaction_id"] != msg["transaction_id"] || m["correlation_id"] != ack["correlation_id"] {
		t.Fatalf("on-search ids %v", m)
	}
	items := results(t, cb)
	if recs := records(t, items[0]); len(recs) != 1 || identifier(recs[0]) == f.headID {
		t.Fatalf("async by ID: %v", recs)
	}
	if items[1]["status"] != "rjct" || items[1]["status_reason_code"] != "rjct.filter.invalid" {
		t.Fatalf("attribute outside the whitelist: %v", items[1])
	}
	f.svc.Wait()

	// sync status by transaction id: counts and codes, no records
	st := map[string]any{"transaction_id": "txn-status-1", "txnstatus_request": map[string]any{"reference_id": "s1", "txn_type": "search",
		"attribute_type": "transaction_id", "attribute_value": msg["transaction_id"]}}
	code, out = k.send("/registry/sync/txn/status", "txn-status", st, opts{})
	if code != http.StatusOK {
		t.Fatalf("txn status %d %v", code, out)
	}
	ts := out["message"].(map[string]any)["txnstatus_response"].(map[string]any)["txn_status"].(map[string]any)
	sr := ts["search_response"].([]any)
	first, second := sr[0].(map[string]any), sr[1].(map[string]any)
	if ts["correlation_id"] != ack["correlation_id"] || first["status"] != "succ" || first["pagination"].(map[string]any)["total_count"].(float64) != 1 ||
		second["status_reason_code"] != "rjct.filter.invalid" || first["data"] != nil {
		t.Fatalf("txn status: %v", ts)
	}
	// another sender cannot see it
	other := f.newClient(county, []string{share.ScopeDCISearch}, false)
	_, out = other.send("/registry/sync/txn/status", "txn-status", st, opts{})
	if h := out["header"].(map[string]any); h["status"] != "rjct" {
		t.Fatalf("another key sees the transaction: %v", out)
	}

	// asynchronous status by correlation id
	st["txnstatus_request"].(map[string]any)["attribute_type"] = "correlation_id"
	st["txnstatus_request"].(map[string]any)["attribute_value"] = ack["correlation_id"]
	code, out = k.send("/registry/txn/status", "txn-status", st, opts{async: true})
	if code != http.StatusOK || out["message"].(map[string]any)["ack_status"] != "ACK" {
		t.Fatalf("async txn status %d %v", code, out)
	}
	cb = f.callback("/registry/txn/on-status")
	if cb["header"].(map[string]any)["status"] != "succ" {
		t.Fatalf("txn/on-status %v", cb)
	}
}

// TestSubscribeNotify: a subscription on entitlements that start in the
// key's region is told, signed and masked, when casework approves one; after
// unsubscribing it hears nothing more.
func TestSubscribeNotify(t *testing.T) {
	f := newFx(t)
	k := f.newClient(county, []string{share.ScopeDCISearch, share.ScopeDCISubscribe}, true)
	sub := map[string]any{"transaction_id": "sub-txn-1", "subscribe_request": []any{
		map[string]any{"reference_id": "r1", "timestamp": time.Now().UTC().Format(time.RFC3339), "subscribe_criteria": map[string]any{
			"reg_type": "ns:org:RegistryType:Social", "reg_event_type": "spdci-social:RegistryEventType:EntitlementStarted", "filter_type": "predicate",
			"filter":             []any{map[string]any{"seq_num": 1, "expression1": expr("region_code", "eq", township), "condition": "and", "expression2": expr("age", "ge", "60")}},
			"notify_record_type": "Member"}},
		map[string]any{"reference_id": "r2", "timestamp": time.Now().UTC().Format(time.RFC3339), "subscribe_criteria": map[string]any{
			"reg_event_type": "LiveBirth", "filter": []any{map[string]any{"expression1": expr("sex", "eq", "female")}}, "notify_record_type": "Member"}},
		map[string]any{"reference_id": "r3", "timestamp": time.Now().UTC().Format(time.RFC3339), "subscribe_criteria": map[string]any{
			"reg_event_type": "EntitlementEnded", "filter": []any{map[string]any{"expression1": expr("income", "lt", "100")}}, "notify_record_type": "Member"}},
	}}
	code, out := k.send("/registry/subscribe", "subscribe", sub, opts{async: true})
	if code != http.StatusOK || out["message"].(map[string]any)["ack_status"] != "ACK" {
		t.Fatalf("subscribe %d %v", code, out)
	}
	cb := f.callback("/registry/on-subscribe")
	resp := cb["message"].(map[string]any)["subscribe_response"].([]any)
	ok := resp[0].(map[string]any)
	if ok["status"] != "succ" || resp[1].(map[string]any)["status_reason_code"] != "rjct.notify_types.invalid" ||
		resp[2].(map[string]any)["status_reason_code"] != "rjct.notify_details.invalid" {
		t.Fatalf("on-subscribe %v", resp)
	}
	subCode := ok["subscriptions"].([]any)[0].(map[string]any)["code"].(string)
	if f.count("dci_subscriptions") != 1 {
		t.Fatal("refused subscriptions were stored")
	}
	f.svc.Wait()

	// nothing has happened yet
	if n, err := f.svc.Notify(f.ctx); err != nil || n != 0 {
		t.Fatalf("notify before any change: %d %v", n, err)
	}
	f.approveTekun(f.elderHH, f.elderPerson, "2025-12-01")
	n, err := f.svc.Notify(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("notify after the approval: %d %v", n, err)
	}
	cb = f.callback("/registry/notify")
	ev := cb["message"].(map[string]any)["notify_event"].([]any)[0].(map[string]any)
	rec := ev["data"].(map[string]any)["reg_records"].(map[string]any)
	if identifier(rec) == f.elderID || len(attr(rec, "event")) != 1 || attr(rec, "event")[0] != "EntitlementStarted" {
		t.Fatalf("notified record %v", rec)
	}
	if n, _ := f.svc.Notify(f.ctx); n != 0 {
		t.Fatal("the same change notified twice")
	}

	// unsubscribe, then a second approval is not notified
	un := map[string]any{"transaction_id": "unsub-1", "timestamp": time.Now().UTC().Format(time.RFC3339), "subscription_codes": []any{subCode}}
	code, out = k.send("/registry/unsubscribe", "unsubscribe", un, opts{async: true})
	if code != http.StatusOK || out["message"].(map[string]any)["ack_status"] != "ACK" {
		t.Fatalf("unsubscribe %d %v", code, out)
	}
	cb = f.callback("/registry/on-unsubscribe")
	if m := cb["message"].(map[string]any); m["status"] != "succ" || m["subscription_status"].([]any)[0].(map[string]any)["status"] != "unsubscribe" {
		t.Fatalf("on-unsubscribe %v", m)
	}
	code, _ = k.send("/registry/unsubscribe", "unsubscribe", un, opts{async: true})
	cb = f.callback("/registry/on-unsubscribe")
	if m := cb["message"].(map[string]any); code != http.StatusOK || m["status"] != "rjct" || m["status_reason_code"] != "rjct.event.already_unsubscribed" {
		t.Fatalf("second unsubscribe %v", m)
	}
	other := f.newClient(county, []string{share.ScopeDCISubscribe}, false)
	other.send("/registry/unsubscribe", "unsubscribe", map[string]any{"transaction_id": "u2", "timestamp": time.Now().UTC().Format(time.RFC3339), "subscription_codes": []any{"sub-test-001"}}, opts{async: true})
	if m := f.callback("/registry/on-unsubscribe")["message"].(map[string]any); m["status_reason_code"] != "rjct.subscription_code.invalid" {
		t.Fatalf("unknown code %v", m)
	}
	f.svc.Wait()

	elder2, err := f.reg.CreateHousehold(f.ctx, f.caseworker, registryElder(t, 52))
	if err != nil {
		t.Fatal(err)
	}
	f.approveTekun(elder2.ID, elder2.Members[0].ID, "2025-12-01")
	if n, err := f.svc.Notify(f.ctx); err != nil || n != 0 {
		t.Fatalf("notified after unsubscribing: %d %v", n, err)
	}
	f.cb.none(t)
}
