package dci

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/casework"
	"jiuzhu/internal/db"
	"jiuzhu/internal/share"
)

type searchMessage struct {
	TransactionID string       `json:"transaction_id"`
	SearchRequest []searchItem `json:"search_request"`
}

type searchItem struct {
	ReferenceID    string `json:"reference_id"`
	Timestamp      string `json:"timestamp"`
	Locale         string `json:"locale"`
	SearchCriteria struct {
		RegRecordType  string          `json:"reg_record_type"`
		QueryType      string          `json:"query_type"`
		ResponseEntity string          `json:"response_entity"`
		Query          json.RawMessage `json:"query"`
		Sort           []sortSpec      `json:"sort"`
		Pagination     *struct {
			PageSize   *float64 `json:"page_size"`
			PageNumber *float64 `json:"page_number"`
		} `json:"pagination"`
	} `json:"search_criteria"`
}

// outcome is what a transaction keeps of one request: never personal data.
type outcome struct {
	ref, status, reason         string
	pageSize, pageNumber, total int
	records                     int
}

// search answers every request of a search message for a client.
func (s *Service) search(ctx context.Context, c *share.Client, msg searchMessage) ([]any, []outcome, int) {
	var items []any
	var outs []outcome
	seen := map[string]bool{}
	records := 0
	for _, it := range msg.SearchRequest {
		var item map[string]any
		var o outcome
		if seen[it.ReferenceID] {
			item, o = s.rejected(it.ReferenceID, it.Locale, reason(rjctRefDup, "reference_id 在本消息中重复"))
		} else {
			seen[it.ReferenceID] = true
			item, o = s.searchOne(ctx, c, it)
		}
		records += o.records
		items = append(items, item)
		outs = append(outs, o)
	}
	return items, outs, records
}

func (s *Service) rejected(ref, locale string, r *reasonError) (map[string]any, outcome) {
	item := map[string]any{"reference_id": ref, "timestamp": s.ts(), "status": "rjct", "status_reason_code": r.code, "status_reason_message": r.msg}
	if locale != "" {
		item["locale"] = locale
	}
	return item, outcome{ref: ref, status: "rjct", reason: r.code}
}

// searchOne runs one request of a batch inside the client's region.
func (s *Service) searchOne(ctx context.Context, c *share.Client, it searchItem) (map[string]any, outcome) {
	sc := it.SearchCriteria
	group := sc.ResponseEntity == "Group" || sc.ResponseEntity == "" && strings.Contains(sc.RegRecordType, "Group")
	pageSize, pageNumber, paged := defaultPage, 1, sc.Pagination != nil
	if paged {
		p := sc.Pagination
		if p.PageSize == nil || *p.PageSize < 1 || *p.PageSize > maxPageSize || *p.PageSize != math.Trunc(*p.PageSize) {
			return s.rejected(it.ReferenceID, it.Locale, reason(rjctPagination, "page_size 应为 1 到 %d 的整数", maxPageSize))
		}
		pageSize = int(*p.PageSize)
		if p.PageNumber != nil {
			if *p.PageNumber < 1 || *p.PageNumber != math.Trunc(*p.PageNumber) || *p.PageNumber > 1e6 {
				return s.rejected(it.ReferenceID, it.Locale, reason(rjctPagination, "page_number 应为从 1 开始的整数"))
			}
			pageNumber = int(*p.PageNumber)
		}
	}
	exact := c.Allows(share.ScopePersonID)
	comp := &compiler{tree: s.Tree, hash: s.Keys.Hash, today: s.today(), args: []any{c.Scope()}, exactBirth: exact}
	where, rerr := comp.compile(sc.QueryType, sc.Query)
	if rerr != nil {
		return s.rejected(it.ReferenceID, it.Locale, rerr)
	}
	order, rerr := orderBy(sc.Sort, group, exact)
	if rerr != nil {
		return s.rejected(it.ReferenceID, it.Locale, rerr)
	}
	var recs []any
	var total int
	var err error
	if group {
		recs, total, err = s.searchGroups(ctx, c, where, order, comp.args, pageSize, pageNumber, paged)
	} else {
		recs, total, err = s.searchMembers(ctx, c, where, order, comp.args, pageSize, pageNumber, paged, sc.QueryType == "idtype-value")
	}
	if r, ok := err.(*reasonError); ok {
		return s.rejected(it.ReferenceID, it.Locale, r)
	}
	if err != nil {
		s.log().Error("dci: search", "err", err)
		return s.rejected(it.ReferenceID, it.Locale, reason(rjctCriteria, "查询执行失败，请稍后重试"))
	}
	rt := "Member"
	if group {
		rt = "Group"
	}
	if recs == nil {
		recs = []any{}
	}
	item := map[string]any{"reference_id": it.ReferenceID, "timestamp": s.ts(), "status": "succ",
		"data":       map[string]any{"version": protocolVer, "reg_type": regType, "reg_record_type": rt, "reg_records": recs},
		"pagination": map[string]any{"page_size": pageSize, "page_number": pageNumber, "total_count": total}}
	if it.Locale != "" {
		item["locale"] = it.Locale
	}
	return item, outcome{ref: it.ReferenceID, status: "succ", pageSize: pageSize, pageNumber: pageNumber, total: total, records: len(recs)}
}

const personCols = `p.id, COALESCE(p.household_id, 0), p.region_code, p.id_masked, p.id_enc, p.name, p.sex, p.birth_date, p.relation,
	p.disability_kind, p.disability_level, p.status, p.created_at, COALESCE(h.hh_no, ''), COALESCE(h.hukou, '')`

type personRow struct {
	id, household                          int64
	region, masked, enc, name, sex, birth  string
	relation, disKind, status, hhNo, hukou string
	disLevel                               int
	created                                time.Time
}

func scanPersonRow(scan func(...any) error) (personRow, error) {
	var p personRow
	err := scan(&p.id, &p.household, &p.region, &p.masked, &p.enc, &p.name, &p.sex, &p.birth, &p.relation, &p.disKind, &p.disLevel, &p.status, &p.created, &p.hhNo, &p.hukou)
	return p, err
}

// searchMembers pages through matching persons. An unpaginated query may
// return at most maxPageSize records; more must be paged.
func (s *Service) searchMembers(ctx context.Context, c *share.Client, where, order string, args []any, size, page int, paged, byID bool) ([]any, int, error) {
	from := ` FROM persons p LEFT JOIN households h ON h.id = p.household_id WHERE p.region_code LIKE $1 || '%' AND (` + where + `)`
	total := -1
	if !byID {
		if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("dci: count persons: %w", err)
		}
		if !paged && total > maxPageSize {
			return nil, 0, reason(rjctTooMany, "符合条件的记录有 %d 条，请使用 pagination 分页查询", total)
		}
	}
	n := len(args)
	q := `SELECT ` + personCols + from + ` ORDER BY ` + order + ` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
	var rows []personRow
	err := db.Each(ctx, s.DB, q, append(args, size, (page-1)*size), func(scan func(...any) error) error {
		p, err := scanPersonRow(scan)
		rows = append(rows, p)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("dci: search persons: %w", err)
	}
	if total < 0 {
		total = len(rows)
		if page > 1 {
			total = 0
			if n, err := s.countByID(ctx, from, args); err == nil {
				total = n
			}
		}
	}
	progs, err := s.programmes(ctx, householdsOf(rows))
	if err != nil {
		return nil, 0, err
	}
	out := make([]any, 0, len(rows))
	for _, p := range rows {
		out = append(out, s.member(c, p, progs[p.household]))
	}
	return out, total, nil
}

func (s *Service) countByID(ctx context.Context, from string, args []any) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*)`+from, args...).Scan(&n)
	return n, err
}

// searchGroups pages through households with at least one matching member.
func (s *Service) searchGroups(ctx context.Context, c *share.Client, where, order string, args []any, size, page int, paged bool) ([]any, int, error) {
	from := ` FROM households h WHERE h.region_code LIKE $1 || '%' AND EXISTS (SELECT 1 FROM persons p WHERE p.household_id = h.id AND (` + where + `))`
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("dci: count households: %w", err)
	}
	if !paged && total > maxPageSize {
		return nil, 0, reason(rjctTooMany, "符合条件的家庭有 %d 户，请使用 pagination 分页查询", total)
	}
	n := len(args)
	q := `SELECT h.id, h.hh_no, h.region_code, h.hukou, h.status, h.created_at,
		(SELECT COUNT(*) FROM persons m WHERE m.household_id = h.id AND m.status = 'active') AS hsize` + from +
		` ORDER BY ` + order + ` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
	type hh struct {
		id                        int64
		no, region, hukou, status string
		created                   time.Time
		size                      int
	}
	var hs []hh
	err := db.Each(ctx, s.DB, q, append(args, size, (page-1)*size), func(scan func(...any) error) error {
		var h hh
		err := scan(&h.id, &h.no, &h.region, &h.hukou, &h.status, &h.created, &h.size)
		hs = append(hs, h)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("dci: search households: %w", err)
	}
	if len(hs) == 0 {
		return nil, total, nil
	}
	ids := make([]int64, len(hs))
	for i, h := range hs {
		ids[i] = h.id
	}
	members := map[int64][]personRow{}
	margs := []any{c.Scope()}
	q = `SELECT ` + personCols + ` FROM persons p LEFT JOIN households h ON h.id = p.household_id
		WHERE p.region_code LIKE $1 || '%' AND p.status = 'active' AND p.household_id IN (` + placeholders(&margs, ids) + `) ORDER BY p.household_id, p.id`
	err = db.Each(ctx, s.DB, q, margs, func(scan func(...any) error) error {
		p, err := scanPersonRow(scan)
		members[p.household] = append(members[p.household], p)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("dci: household members: %w", err)
	}
	progs, err := s.programmes(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	showHH := c.Allows(share.ScopeHousehold)
	out := make([]any, 0, len(hs))
	for _, h := range hs {
		var list []any
		var head any
		for _, p := range members[h.id] {
			m := s.member(c, p, progs[h.id])
			list = append(list, m)
			if p.relation == "head" {
				head = m
			}
		}
		if list == nil {
			list = []any{}
		}
		g := map[string]any{"@type": "Group", "group_type": "household", "group_size": h.size, "member_list": list,
			"place":             map[string]any{"@type": "Place", "address": s.Tree.FullName(h.region), "region_code": h.region},
			"registration_date": h.created.UTC().Format(time.RFC3339),
			"additional_attributes": append([]any{
				map[string]any{"name": "hukou", "value": h.hukou},
				map[string]any{"name": "household_status", "value": h.status}}, programmeAttrs(progs[h.id])...)}
		if showHH {
			g["group_identifier"] = []any{map[string]any{"@type": "Identifier", "identifier_type": "HouseholdNo", "identifier_value": h.no}}
		}
		if head != nil {
			g["group_head_info"] = head
		}
		out = append(out, g)
	}
	return out, total, nil
}

// placeholders adds the ids as arguments and returns their $n list.
func placeholders(args *[]any, ids []int64) string {
	ph := make([]string, len(ids))
	for i, id := range ids {
		*args = append(*args, id)
		ph[i] = "$" + strconv.Itoa(len(*args))
	}
	return strings.Join(ph, ",")
}

func householdsOf(rows []personRow) []int64 {
	seen := map[int64]bool{}
	var ids []int64
	for _, p := range rows {
		if p.household != 0 && !seen[p.household] {
			seen[p.household] = true
			ids = append(ids, p.household)
		}
	}
	return ids
}

type entitlement struct{ programme, since string }

// programmes lists the entitlements each household is receiving this month.
func (s *Service) programmes(ctx context.Context, households []int64) (map[int64][]entitlement, error) {
	out := map[int64][]entitlement{}
	if len(households) == 0 {
		return out, nil
	}
	args := []any{s.today().Format("2006-01")}
	q := `SELECT c.household_id, c.programme, c.pay_from FROM cases c WHERE c.household_id IN (` + placeholders(&args, households) + `)
		AND c.programme <> 'temporary' AND ` + currentEntitlement("$1") + ` ORDER BY c.household_id, c.programme`
	err := db.Each(ctx, s.DB, q, args, func(scan func(...any) error) error {
		var id int64
		var e entitlement
		if err := scan(&id, &e.programme, &e.since); err != nil {
			return err
		}
		out[id] = append(out[id], e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dci: entitlements: %w", err)
	}
	return out, nil
}

func programmeAttrs(es []entitlement) []any {
	var out []any
	for _, e := range es {
		out = append(out, map[string]any{"name": "programme", "value": e.programme, "label": casework.ProgrammeLabel(e.programme), "since": e.since})
	}
	return out
}

// member maps a person to the standard's Member record, masked as the key's
// scopes say: the full ID number and birth date only with person.id, the name
// only with person.name, the household number only with household.
func (s *Service) member(c *share.Client, p personRow, progs []entitlement) map[string]any {
	idv := s.Share.ShowID(c, p.masked, p.enc)
	ident := []any{map[string]any{"@type": "Identifier", "identifier_type": "NationalID", "identifier_value": idv}}
	demo := map[string]any{"@type": "SRPerson", "identifier": ident,
		"sex":     map[string]string{"M": "male", "F": "female"}[p.sex],
		"address": map[string]any{"@type": "Address", "region_code": p.region, "region_name": s.Tree.FullName(p.region)}}
	if c.Allows(share.ScopePersonID) {
		demo["birth_date"] = p.birth
	}
	if c.Allows(share.ScopePersonName) {
		r := []rune(p.name)
		if len(r) > 1 {
			demo["name"] = map[string]any{"@type": "Name", "surname": string(r[:1]), "given_name": string(r[1:])}
		} else {
			demo["name"] = map[string]any{"@type": "Name", "surname": p.name}
		}
	}
	attrs := []any{map[string]any{"name": "person_status", "value": p.status}}
	if len(p.birth) >= 4 {
		attrs = append(attrs, map[string]any{"name": "birth_year", "value": p.birth[:4]})
	}
	if p.hukou != "" {
		attrs = append(attrs, map[string]any{"name": "hukou", "value": p.hukou})
	}
	if p.hhNo != "" && c.Allows(share.ScopeHousehold) {
		attrs = append(attrs, map[string]any{"name": "household_no", "value": p.hhNo})
	}
	m := map[string]any{"@type": "Member", "member_identifier": ident, "demographic_info": demo,
		"is_disabled": p.disKind != "", "relationship_head": p.relation, "registration_date": p.created.UTC().Format(time.RFC3339),
		"additional_attributes": append(attrs, programmeAttrs(progs)...)}
	if p.disKind != "" {
		m["disability_info"] = []any{map[string]any{"@type": "DisabilityInfo", "disability_type": p.disKind, "functional_severity": p.disLevel}}
	}
	return m
}

// ---- transactions: what happened to each message, for txn/status ----

func (s *Service) beginTxn(ctx context.Context, c *share.Client, txnID, action, mode, status string, requests int) (int64, string, error) {
	return s.beginTxnOn(ctx, s.DB, c, txnID, action, mode, status, requests)
}

// beginTxnOn is beginTxn on q, so that a caller's transaction can hold it.
func (s *Service) beginTxnOn(ctx context.Context, q db.Querier, c *share.Client, txnID, action, mode, status string, requests int) (int64, string, error) {
	corr := newID("corr")
	now := s.now().UTC()
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO dci_transactions (sender_id, transaction_id, correlation_id, action, mode, status, requests, records, callback, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,0,'',$8,$8) RETURNING id`, c.ClientID, txnID, corr, action, mode, status, requests, now).Scan(&id)
	if err != nil {
		return 0, "", fmt.Errorf("dci: store transaction: %w", err)
	}
	return id, corr, nil
}

// storeTxn records a finished transaction and its requests' outcomes at once.
func (s *Service) storeTxn(ctx context.Context, tx *sql.Tx, c *share.Client, txnID, corr, action, mode string, outs []outcome, records int) error {
	now := s.now().UTC()
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO dci_transactions (sender_id, transaction_id, correlation_id, action, mode, status, requests, records, callback, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'',$9,$9) RETURNING id`, c.ClientID, txnID, corr, action, mode, overall(outs), len(outs), records, now).Scan(&id); err != nil {
		return fmt.Errorf("dci: store transaction: %w", err)
	}
	for _, o := range outs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dci_txn_requests (txn_id, reference_id, status, reason_code, page_size, page_number, total_count, records)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, id, o.ref, o.status, o.reason, o.pageSize, o.pageNumber, o.total, o.records); err != nil {
			return fmt.Errorf("dci: store request outcome: %w", err)
		}
	}
	return nil
}

func (s *Service) finishTxn(ctx context.Context, id int64, outs []outcome, records int, callback string) error {
	status := "succ"
	if len(outs) > 0 {
		status = "rjct"
		for _, o := range outs {
			if o.status == "succ" {
				status = "succ"
			}
		}
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error { return s.finishTxnTx(ctx, tx, id, status, outs, records, callback) })
}

// finishTxnTx stores the outcomes and the final status inside tx.
func (s *Service) finishTxnTx(ctx context.Context, tx *sql.Tx, id int64, status string, outs []outcome, records int, callback string) error {
	for _, o := range outs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dci_txn_requests (txn_id, reference_id, status, reason_code, page_size, page_number, total_count, records)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, id, o.ref, o.status, o.reason, o.pageSize, o.pageNumber, o.total, o.records); err != nil {
			return fmt.Errorf("dci: store request outcome: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE dci_transactions SET status = $1, records = $2, callback = $3, updated_at = $4 WHERE id = $5`, status, records, callback, s.now().UTC(), id); err != nil {
		return fmt.Errorf("dci: finish transaction: %w", err)
	}
	return nil
}

func overall(outs []outcome) string {
	for _, o := range outs {
		if o.status == "succ" {
			return "succ"
		}
	}
	if len(outs) == 0 {
		return "succ"
	}
	return "rjct"
}

func (s *Service) parseSearch(req *request) (searchMessage, *dciError) {
	var msg searchMessage
	if err := json.Unmarshal(req.message, &msg); err != nil {
		return msg, refuse(http.StatusBadRequest, "err.request.bad", "", "message 不是合法的 SearchRequest")
	}
	if len(msg.SearchRequest) > maxRequests {
		return msg, refuse(http.StatusBadRequest, "err.request.bad", "rjct.total_count.limit_exceeded", fmt.Sprintf("一条消息最多 %d 个查询请求", maxRequests))
	}
	return msg, nil
}

// syncTxn is a synchronous search's transaction record.
type syncTxn struct {
	client      share.Client
	txnID, corr string
	outs        []outcome
	records     int
}

// txnLog holds synchronous searches' transaction records until they are
// written, in batches after the answers: they serve only transaction-status
// questions (which flush first), so the answer need not wait for them, and a
// crash loses at most the records of the last moment's read-only searches.
type txnLog struct {
	mu      sync.Mutex // guards queue and running
	queue   []syncTxn
	running bool
	write   sync.Mutex // one batch at a time: a flush returns after every earlier record is stored
}

func (s *Service) logSyncTxn(t syncTxn) {
	l := &s.txns
	l.mu.Lock()
	l.queue = append(l.queue, t)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for s.flushTxns(context.Background()) {
			}
		}()
	}
}

// flushTxns stores the queued records in one transaction; false when there
// were none.
func (s *Service) flushTxns(ctx context.Context) bool {
	l := &s.txns
	l.write.Lock()
	defer l.write.Unlock()
	l.mu.Lock()
	batch := l.queue
	l.queue = nil
	if len(batch) == 0 {
		l.running = false
	}
	l.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if s.DB.Dialect == db.Postgres {
			// bookkeeping of read-only searches: no need to wait for the disk
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
				return err
			}
		}
		for _, t := range batch {
			if err := s.storeTxn(ctx, tx, &t.client, t.txnID, t.corr, "search", "sync", t.outs, t.records); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log().Error("dci: store synchronous transactions", "n", len(batch), "err", err)
	}
	return true
}

// syncSearch answers in the response: the on-search envelope, signed.
func (s *Service) syncSearch(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	msg, derr := s.parseSearch(req)
	if derr != nil {
		s.logCall(ctx, req.client, req.ep.path, derr.header, 0)
		s.reject(w, req.ep, derr)
		return
	}
	items, outs, records := s.search(ctx, req.client, msg)
	corr := newID("corr")
	if replay := s.remember(ctx, s.DB, req.client.ClientID, req.header.MessageID); replay != nil {
		s.logCall(ctx, req.client, req.ep.path, replay.code+" "+replay.header, 0)
		s.reject(w, req.ep, replay)
		return
	}
	s.logSyncTxn(syncTxn{client: *req.client, txnID: msg.TransactionID, corr: corr, outs: outs, records: records})
	s.logCall(ctx, req.client, req.ep.path, overall(outs), records)
	body, err := s.sealed(s.answerHeader("on-search", req.client.ClientID, overall(outs), len(items), len(items)),
		map[string]any{"transaction_id": msg.TransactionID, "correlation_id": corr, "search_response": items})
	if err != nil {
		s.fail(w, req, err)
		return
	}
	writeRaw(w, http.StatusOK, body)
}

// asyncSearch acknowledges, then searches and posts on-search to the sender.
func (s *Service) asyncSearch(w http.ResponseWriter, r *http.Request, req *request) {
	ctx := r.Context()
	msg, derr := s.parseSearch(req)
	if derr != nil {
		s.logCall(ctx, req.client, req.ep.path, derr.header, 0)
		s.reject(w, req.ep, derr)
		return
	}
	id, corr, err := s.beginTxn(ctx, req.client, msg.TransactionID, "search", "async", "pdng", len(msg.SearchRequest))
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.logCall(ctx, req.client, req.ep.path, "ACK", 0)
	s.ack(w, corr)
	s.background(func(ctx context.Context) {
		items, outs, records := s.search(ctx, req.client, msg)
		body, err := s.sealed(s.answerHeader("on-search", req.client.ClientID, overall(outs), len(items), len(items)),
			map[string]any{"transaction_id": msg.TransactionID, "correlation_id": corr, "search_response": items})
		delivered := "delivered"
		if err == nil {
			err = s.post(ctx, req.callback, "on-search", body)
		}
		if err != nil {
			delivered = "failed"
			s.log().Warn("dci: on-search not delivered", "client", req.client.ClientID, "err", err)
		}
		if err := s.finishTxn(ctx, id, outs, records, delivered); err != nil {
			s.log().Error("dci: finish transaction", "err", err)
		}
		s.logCall(ctx, req.client, "/registry/on-search", delivered, records)
	})
}

// background runs an asynchronous answer detached from the request.
func (s *Service) background(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		fn(ctx)
	}()
}

func (s *Service) fail(w http.ResponseWriter, req *request, err error) {
	s.log().Error("dci: request failed", "endpoint", req.ep.path, "err", err)
	s.logCall(context.WithoutCancel(context.Background()), req.client, req.ep.path, "err.service.unavailable", 0)
	writeHTTPError(w, http.StatusInternalServerError, "err.service.unavailable", "服务暂不可用，请稍后重试")
}
