package dci

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"jiuzhu/internal/db"
	"jiuzhu/internal/share"
)

type txnStatusMessage struct {
	TransactionID    string `json:"transaction_id"`
	TxnstatusRequest struct {
		ReferenceID    string          `json:"reference_id"`
		TxnType        string          `json:"txn_type"`
		AttributeType  string          `json:"attribute_type"`
		AttributeValue json.RawMessage `json:"attribute_value"`
	} `json:"txnstatus_request"`
}

// txnStatus answers from the stored transactions of the same sender only:
// statuses, reason codes and counts, never the records themselves.
func (s *Service) txnStatus(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	var msg txnStatusMessage
	if err := json.Unmarshal(req.message, &msg); err != nil {
		derr := refuse(http.StatusBadRequest, "err.request.bad", "", "message 不是合法的 TxnStatusRequest")
		s.logCall(ctx, req.client, req.ep.path, derr.code, 0)
		s.reject(w, req.ep, derr)
		return
	}
	s.flushTxns(ctx) // this server's synchronous searches, answered but maybe not yet stored
	status, found, err := s.lookupTxn(ctx, req.client, msg)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	head := "succ"
	if !found {
		head = "rjct"
	}
	_, corr, err := s.beginTxn(ctx, req.client, msg.TransactionID, "txn-status", map[bool]string{true: "sync", false: "async"}[req.ep.sync], head, 1)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	answer := map[string]any{"transaction_id": msg.TransactionID, "correlation_id": corr,
		"txnstatus_response": map[string]any{"txn_type": msg.TxnstatusRequest.TxnType, "txn_status": status}}
	h := s.answerHeader("txn-on-status", req.client.ClientID, head, 1, 1)
	if !found {
		h["status_reason_message"] = "没有找到该发送方的这笔交易"
	}
	body, err := s.sealed(h, answer)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	if req.ep.sync {
		s.logCall(ctx, req.client, req.ep.path, head, 0)
		writeRaw(w, http.StatusOK, body)
		return
	}
	s.logCall(ctx, req.client, req.ep.path, "ACK", 0)
	s.ack(w, corr)
	s.background(func(ctx context.Context) {
		outcome := "delivered"
		if err := s.post(ctx, req.callback, "txn/on-status", body); err != nil {
			outcome = "failed"
			s.log().Warn("dci: txn/on-status not delivered", "client", req.client.ClientID, "err", err)
		}
		s.logCall(ctx, req.client, "/registry/txn/on-status", outcome, 0)
	})
}

// lookupTxn finds the transaction asked about and renders its status in the
// shape of a search response without data.
func (s *Service) lookupTxn(ctx context.Context, c *share.Client, msg txnStatusMessage) (map[string]any, bool, error) {
	q := msg.TxnstatusRequest
	notFound := map[string]any{"transaction_id": msg.TransactionID, "correlation_id": "", "search_response": []any{}}
	if q.TxnType != "search" && q.TxnType != "subscribe" {
		return notFound, false, nil
	}
	var id int64
	var txnID, corr string
	var err error
	row := func(cond string, v any) error {
		return s.DB.QueryRowContext(ctx, `SELECT id, transaction_id, correlation_id FROM dci_transactions
			WHERE sender_id = $1 AND action = $2 AND `+cond+` ORDER BY id DESC LIMIT 1`, c.ClientID, q.TxnType, v).Scan(&id, &txnID, &corr)
	}
	switch q.AttributeType {
	case "transaction_id", "correlation_id":
		var v string
		if json.Unmarshal(q.AttributeValue, &v) != nil {
			return notFound, false, nil
		}
		err = row(q.AttributeType+" = $3", v)
	case "reference_id_list":
		var refs []string
		if json.Unmarshal(q.AttributeValue, &refs) != nil || len(refs) == 0 {
			return notFound, false, nil
		}
		err = row(`id IN (SELECT txn_id FROM dci_txn_requests WHERE reference_id = $3)`, refs[0])
	default:
		return notFound, false, nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return notFound, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("dci: txn status: %w", err)
	}
	items := []any{}
	err = db.Each(ctx, s.DB, `SELECT reference_id, status, reason_code, page_size, page_number, total_count FROM dci_txn_requests WHERE txn_id = $1 ORDER BY id`,
		[]any{id}, func(scan func(...any) error) error {
			var ref, st, rc string
			var size, page, total int
			if err := scan(&ref, &st, &rc, &size, &page, &total); err != nil {
				return err
			}
			it := map[string]any{"reference_id": ref, "timestamp": s.now().UTC().Format(time.RFC3339), "status": st}
			if rc != "" && q.TxnType == "search" {
				it["status_reason_code"] = rc
			} else if rc != "" {
				it["status_reason_message"] = rc
			}
			if size > 0 {
				it["pagination"] = map[string]any{"page_size": size, "page_number": page, "total_count": total}
			}
			items = append(items, it)
			return nil
		})
	if err != nil {
		return nil, false, fmt.Errorf("dci: txn status requests: %w", err)
	}
	if len(items) == 0 {
		// still being processed: one pending entry
		var status string
		if err := s.DB.QueryRowContext(ctx, `SELECT status FROM dci_transactions WHERE id = $1`, id).Scan(&status); err != nil {
			return nil, false, fmt.Errorf("dci: txn status: %w", err)
		}
		items = append(items, map[string]any{"reference_id": txnID, "timestamp": s.now().UTC().Format(time.RFC3339), "status": status})
	}
	return map[string]any{"transaction_id": txnID, "correlation_id": corr, "search_response": items}, true, nil
}
