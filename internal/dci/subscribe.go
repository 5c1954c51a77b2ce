package dci

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"jiuzhu/internal/db"
	"jiuzhu/internal/share"
)

// Event types a subscription may name (reg_event_type), each a kind of the
// share change feed; an optional namespace before the last ':' is ignored.
var eventKinds = map[string][]string{
	"EntitlementStarted": {"started"},
	"EntitlementChanged": {"changed"},
	"EntitlementEnded":   {"ended"},
	"EntitlementAny":     {"started", "changed", "ended"},
}

var eventNames = map[string]string{"started": "EntitlementStarted", "changed": "EntitlementChanged", "ended": "EntitlementEnded"}

type subscribeMessage struct {
	TransactionID    string `json:"transaction_id"`
	SubscribeRequest []struct {
		ReferenceID       string `json:"reference_id"`
		Timestamp         string `json:"timestamp"`
		Locale            string `json:"locale"`
		SubscribeCriteria struct {
			RegType          string          `json:"reg_type"`
			RegEventType     string          `json:"reg_event_type"`
			FilterType       string          `json:"filter_type"`
			Filter           json.RawMessage `json:"filter"`
			NotifyRecordType string          `json:"notify_record_type"`
		} `json:"subscribe_criteria"`
	} `json:"subscribe_request"`
}

// subscribe records the subscriptions at once (so they count from now), then
// answers on-subscribe to the sender.
func (s *Service) subscribe(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	var msg subscribeMessage
	if err := json.Unmarshal(req.message, &msg); err != nil || len(msg.SubscribeRequest) > maxRequests {
		derr := refuse(http.StatusBadRequest, "err.request.bad", "", "message 不是合法的 SubscribeRequest，或请求超过 100 个")
		s.logCall(ctx, req.client, req.ep.path, derr.code, 0)
		s.reject(w, req.ep, derr)
		return
	}
	head, err := s.Share.Head(ctx)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	// The transaction row, every subscription and the outcomes are written
	// at once: a failure half-way leaves nothing, so a sender that retries
	// is never told "already subscribed" for a subscription it was never
	// given a code for. The per-sender lock keeps two concurrent messages
	// from both passing the duplicate check.
	exact := req.client.Allows(share.ScopePersonID)
	var (
		id    int64
		corr  string
		items []any
		outs  []outcome
	)
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		items, outs = nil, nil
		if err := s.DB.LockKey(ctx, tx, "dci.subscribe:"+req.client.ClientID); err != nil {
			return err
		}
		var err error
		if id, corr, err = s.beginTxnOn(ctx, tx, req.client, msg.TransactionID, "subscribe", "async", "pdng", len(msg.SubscribeRequest)); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, it := range msg.SubscribeRequest {
			sc := it.SubscribeCriteria
			fail := func(code, m string) {
				item := map[string]any{"reference_id": it.ReferenceID, "timestamp": s.ts(), "status": "rjct", "status_reason_code": code, "status_reason_message": m}
				items = append(items, item)
				outs = append(outs, outcome{ref: it.ReferenceID, status: "rjct", reason: code})
			}
			if seen[it.ReferenceID] {
				fail("rjct.reference_id.duplicate", "reference_id 在本消息中重复")
				continue
			}
			seen[it.ReferenceID] = true
			ev := sc.RegEventType
			if i := strings.LastIndex(ev, ":"); i >= 0 {
				ev = ev[i+1:]
			}
			if _, ok := eventKinds[ev]; !ok {
				fail("rjct.notify_types.invalid", "reg_event_type 应为 EntitlementStarted、EntitlementChanged、EntitlementEnded 或 EntitlementAny")
				continue
			}
			ft := sc.FilterType
			if ft == "" {
				ft = "predicate"
			}
			comp := &compiler{tree: s.Tree, hash: s.Keys.Hash, today: s.today(), args: []any{req.client.Scope()}, exactBirth: exact}
			if _, rerr := comp.compile(ft, sc.Filter); rerr != nil {
				fail("rjct.notify_details.invalid", rerr.code+"："+rerr.msg)
				continue
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dci_subscriptions WHERE sender_id = $1 AND status = 'subscribe' AND events = $2 AND filter = $3`,
				req.client.ClientID, ev, ft+" "+string(sc.Filter)).Scan(&n); err != nil {
				return fmt.Errorf("dci: check subscription: %w", err)
			}
			if n > 0 {
				fail("rjct.event.already_subscribed", "已有相同事件和条件的订阅")
				continue
			}
			code := newID("sub")
			now := s.now().UTC()
			if _, err := tx.ExecContext(ctx, `INSERT INTO dci_subscriptions (code, sender_id, txn_id, reference_id, sender_uri, events, filter, notify_record_type, region_prefix, cursor_seq, status, notified, created_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'subscribe',0,$11)`, code, req.client.ClientID, id, it.ReferenceID, req.callback, ev, ft+" "+string(sc.Filter),
				sc.NotifyRecordType, req.client.Scope(), head, now); err != nil {
				return fmt.Errorf("dci: store subscription: %w", err)
			}
			info := map[string]any{"version": protocolVer, "code": code, "status": "subscribe", "timestamp": now.Format(time.RFC3339),
				"reg_type": regType, "reg_event_type": sc.RegEventType, "filter_type": ft, "filter": json.RawMessage(sc.Filter)}
			if sc.NotifyRecordType != "" {
				info["notify_record_type"] = sc.NotifyRecordType
			}
			items = append(items, map[string]any{"reference_id": it.ReferenceID, "timestamp": s.ts(), "status": "succ", "subscriptions": []any{info}})
			outs = append(outs, outcome{ref: it.ReferenceID, status: "succ"})
		}
		return s.finishTxnTx(ctx, tx, id, overall(outs), outs, 0, "pending")
	})
	if err != nil {
		s.fail(w, req, err)
		return
	}
	if items == nil {
		items = []any{}
	}
	body, err := s.sealed(s.answerHeader("on-subscribe", req.client.ClientID, overall(outs), len(items), len(items)),
		map[string]any{"transaction_id": msg.TransactionID, "correlation_id": corr, "subscribe_response": items})
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.logCall(ctx, req.client, req.ep.path, "ACK "+overall(outs), 0)
	s.ack(w, corr)
	s.deliver(req.client, req.callback, "on-subscribe", body, id)
}

// deliver posts an answer in the background and records how it went.
func (s *Service) deliver(c *share.Client, base, path string, body []byte, txn int64) {
	s.background(func(ctx context.Context) {
		outcome := "delivered"
		if err := s.post(ctx, base, path, body); err != nil {
			outcome = "failed"
			s.log().Warn("dci: callback not delivered", "path", path, "client", c.ClientID, "err", err)
		}
		if txn != 0 {
			if _, err := s.DB.ExecContext(ctx, `UPDATE dci_transactions SET callback = $1 WHERE id = $2`, outcome, txn); err != nil {
				s.log().Error("dci: record delivery", "err", err)
			}
		}
		s.logCall(ctx, c, "/registry/"+path, outcome, 0)
	})
}

type unsubscribeMessage struct {
	TransactionID     string   `json:"transaction_id"`
	Timestamp         string   `json:"timestamp"`
	SubscriptionCodes []string `json:"subscription_codes"`
}

// unsubscribe ends the sender's own subscriptions, all or none: an unknown
// code, someone else's, or one already ended refuses the whole request.
func (s *Service) unsubscribe(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	var msg unsubscribeMessage
	if err := json.Unmarshal(req.message, &msg); err != nil || len(msg.SubscriptionCodes) > maxRequests {
		derr := refuse(http.StatusBadRequest, "err.request.bad", "", "message 不是合法的 UnSubscribeRequest")
		s.logCall(ctx, req.client, req.ep.path, derr.code, 0)
		s.reject(w, req.ep, derr)
		return
	}
	id, corr, err := s.beginTxn(ctx, req.client, msg.TransactionID, "unsubscribe", "async", "pdng", len(msg.SubscriptionCodes))
	if err != nil {
		s.fail(w, req, err)
		return
	}
	status, code, message := "succ", "", ""
	var list []any
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		for _, sc := range msg.SubscriptionCodes {
			var st string
			err := tx.QueryRowContext(ctx, `SELECT status FROM dci_subscriptions WHERE code = $1 AND sender_id = $2`, sc, req.client.ClientID).Scan(&st)
			if errors.Is(err, sql.ErrNoRows) {
				status, code, message = "rjct", "rjct.subscription_code.invalid", "订阅编号不存在或不属于该发送方"
				return nil
			}
			if err != nil {
				return err
			}
			if st != "subscribe" {
				status, code, message = "rjct", "rjct.event.already_unsubscribed", "订阅已经取消"
				return nil
			}
		}
		for _, sc := range msg.SubscriptionCodes {
			if _, err := tx.ExecContext(ctx, `UPDATE dci_subscriptions SET status = 'unsubscribe', ended_at = $1 WHERE code = $2 AND sender_id = $3`, s.now().UTC(), sc, req.client.ClientID); err != nil {
				return err
			}
			list = append(list, map[string]any{"code": sc, "status": "unsubscribe"})
		}
		return nil
	})
	if err != nil {
		s.fail(w, req, fmt.Errorf("dci: unsubscribe: %w", err))
		return
	}
	if status != "succ" {
		list = nil
	}
	if err := s.finishTxn(ctx, id, []outcome{{ref: msg.TransactionID, status: status, reason: code}}, 0, "pending"); err != nil {
		s.fail(w, req, err)
		return
	}
	answer := map[string]any{"transaction_id": msg.TransactionID, "correlation_id": corr, "timestamp": s.ts(), "status": status}
	if code != "" {
		answer["status_reason_code"], answer["status_reason_message"] = code, message
	}
	if list != nil {
		answer["subscription_status"] = list
	}
	body, err := s.sealed(s.answerHeader("on-unsubscribe", req.client.ClientID, status, len(msg.SubscriptionCodes), len(msg.SubscriptionCodes)), answer)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.logCall(ctx, req.client, req.ep.path, "ACK "+status+" "+code, 0)
	s.ack(w, corr)
	s.deliver(req.client, req.callback, "on-unsubscribe", body, id)
}

// ---- notifications ----

type subscription struct {
	id                                    int64
	code, sender, uri, events, filter, rt string
	prefix                                string
	cursor                                int64
}

// Notify runs one pass: for every live subscription, the share change feed
// after its cursor, filtered by its events and its whitelisted filter, is
// posted to the subscriber as /registry/notify; the cursor moves only once
// the subscriber has taken the batch (at-least-once delivery). It returns
// how many events were delivered.
func (s *Service) Notify(ctx context.Context) (int, error) {
	var subs []subscription
	err := db.Each(ctx, s.DB, `SELECT id, code, sender_id, sender_uri, events, filter, notify_record_type, region_prefix, cursor_seq
		FROM dci_subscriptions WHERE status = 'subscribe' ORDER BY id`, nil, func(scan func(...any) error) error {
		var sub subscription
		err := scan(&sub.id, &sub.code, &sub.sender, &sub.uri, &sub.events, &sub.filter, &sub.rt, &sub.prefix, &sub.cursor)
		subs = append(subs, sub)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dci: subscriptions: %w", err)
	}
	total := 0
	for _, sub := range subs {
		n, err := s.notifyOne(ctx, sub)
		total += n
		if err != nil {
			s.log().Warn("dci: notify", "subscription", sub.code, "err", err)
		}
	}
	return total, nil
}

// subscriber is the key behind a subscription as it stands now: a revoked
// key, or one whose region or scopes no longer cover the subscription,
// receives nothing.
func (s *Service) subscriber(ctx context.Context, sub subscription) (*share.Client, error) {
	c, err := s.Share.ClientByClientID(ctx, sub.sender)
	if err != nil {
		return nil, fmt.Errorf("dci: subscriber: %w", err)
	}
	return c, nil
}

func (s *Service) notifyOne(ctx context.Context, sub subscription) (int, error) {
	c, err := s.subscriber(ctx, sub)
	if err != nil {
		return 0, err
	}
	if c.Revoked() || !c.Allows(share.ScopeDCISubscribe) || c.Scope() != sub.prefix && !strings.HasPrefix(sub.prefix, c.Scope()) {
		return 0, nil
	}
	changes, next, err := s.Share.Changes(ctx, sub.cursor, 200, sub.prefix)
	if err != nil || next == sub.cursor {
		return 0, err
	}
	ft, filter, _ := strings.Cut(sub.filter, " ")
	kinds := eventKinds[sub.events]
	var events []any
	for _, ch := range changes {
		if !contains(kinds, ch.Kind) {
			continue
		}
		// the key's scopes as they stand now: one that has lost person.id
		// can no longer run a birth_date filter it subscribed with
		comp := &compiler{tree: s.Tree, hash: s.Keys.Hash, today: s.today(), args: []any{sub.prefix}, exactBirth: c.Allows(share.ScopePersonID)}
		where, rerr := comp.compile(ft, json.RawMessage(filter))
		if rerr != nil {
			return 0, rerr
		}
		args := append(comp.args, ch.PersonID)
		var rows []personRow
		err := db.Each(ctx, s.DB, `SELECT `+personCols+` FROM persons p LEFT JOIN households h ON h.id = p.household_id
			WHERE p.region_code LIKE $1 || '%' AND p.id = $`+fmt.Sprint(len(args))+` AND (`+where+`)`, args, func(scan func(...any) error) error {
			p, err := scanPersonRow(scan)
			rows = append(rows, p)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("dci: notify filter: %w", err)
		}
		if len(rows) == 0 {
			continue
		}
		progs, err := s.programmes(ctx, householdsOf(rows))
		if err != nil {
			return 0, err
		}
		rec := s.member(c, rows[0], progs[rows[0].household])
		rec["additional_attributes"] = append(rec["additional_attributes"].([]any), map[string]any{
			"name": "event", "value": eventNames[ch.Kind], "programme": ch.Programme, "effective": ch.Effective, "seq": ch.Seq})
		events = append(events, map[string]any{"reference_id": fmt.Sprintf("%s-%d", sub.code, ch.Seq), "timestamp": ch.At.UTC().Format(time.RFC3339),
			"data": map[string]any{"version": protocolVer, "reg_type": regType, "reg_record_type": "Member", "reg_records": rec}})
	}
	if len(events) > 0 {
		body, err := s.sealed(s.answerHeader("notify", sub.sender, "succ", len(events), len(events)),
			map[string]any{"transaction_id": sub.code, "notify_event": events})
		if err != nil {
			return 0, err
		}
		if err := s.post(ctx, sub.uri, "notify", body); err != nil {
			s.logCall(ctx, c, "/registry/notify", "failed", 0)
			return 0, err
		}
		s.logCall(ctx, c, "/registry/notify", "delivered", len(events))
	}
	// compare-and-set: a second server running the same pass moves the
	// cursor once; the subscriber may see a batch twice, never miss one
	if _, err := s.DB.ExecContext(ctx, `UPDATE dci_subscriptions SET cursor_seq = $1, notified = notified + $2 WHERE id = $3 AND cursor_seq = $4 AND status = 'subscribe'`,
		next, len(events), sub.id, sub.cursor); err != nil {
		return len(events), fmt.Errorf("dci: move cursor: %w", err)
	}
	return len(events), nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Run notifies subscribers every interval (a minute when zero) and forgets
// old message ids, until ctx ends. The lead starts it in serve.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Notify(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("dci: notify pass", "err", err)
		}
		if err := s.pruneMessages(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("dci: prune message ids", "err", err)
		}
		select {
		case <-ctx.Done():
			s.Wait()
			return
		case <-t.C:
		}
	}
}
