package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/region"
)

// Item statuses.
const (
	StatusOpen      = "open"
	StatusStarted   = "started"
	StatusDismissed = "dismissed"
	// StatusClaimed holds a should-stop item while its review is being
	// started, so that two workers clicking at once report the change once.
	StatusClaimed = "claimed"
)

// staleClaim is how long a claim may stand before the next rule run treats
// it as abandoned (the process died between reporting the change and
// recording it on the item) and links the item to its review.
const staleClaim = time.Hour

// Item is one entry of a township's worklist.
type Item struct {
	ID            int64      `json:"id"`
	List          string     `json:"list"`
	Rule          string     `json:"rule"`
	RuleLabel     string     `json:"rule_label"`
	Reason        string     `json:"reason"`
	Programme     string     `json:"programme"`
	EventID       int64      `json:"event_id"`
	EventKind     string     `json:"event_kind"`
	EventDate     string     `json:"event_date"`
	Source        string     `json:"source"`
	HouseholdID   int64      `json:"household_id"`
	HouseholdNo   string     `json:"household_no"`
	PersonID      int64      `json:"person_id"`
	PersonName    string     `json:"person_name"` // masked
	IDMasked      string     `json:"id_masked"`
	EntitlementID int64      `json:"entitlement_id,omitempty"`
	Region        string     `json:"region"`
	Township      string     `json:"township"`
	AmountFen     int64      `json:"amount_fen"`
	RefFen        int64      `json:"ref_fen"`
	Status        string     `json:"status"`
	CaseID        int64      `json:"case_id,omitempty"`
	Note          string     `json:"note,omitempty"`
	WorkedBy      string     `json:"worked_by,omitempty"`
	WorkedAt      *time.Time `json:"worked_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// Query filters a worklist.
type Query struct {
	List     string // help | stop | "" both
	Rule     string
	Status   string
	Township string // a township code within the caller's scope
	Limit    int
}

const itemSelect = `SELECT i.id, i.list, i.rule, i.programme, i.event_id, e.kind, i.event_date, e.source, i.household_id, h.hh_no, i.person_id, p.name, p.id_masked,
	COALESCE(i.entitlement_id, 0), i.region_code, i.township_code, i.amount_fen, i.ref_fen, i.status, COALESCE(i.case_id, 0), i.note, i.worked_by, i.worked_at, i.created_at
	FROM discovery_items i JOIN discovery_events e ON e.id = i.event_id JOIN households h ON h.id = i.household_id JOIN persons p ON p.id = i.person_id `

func scanItem(scan func(...any) error) (*Item, error) {
	var it Item
	var worked sql.NullTime
	if err := scan(&it.ID, &it.List, &it.Rule, &it.Programme, &it.EventID, &it.EventKind, &it.EventDate, &it.Source, &it.HouseholdID, &it.HouseholdNo,
		&it.PersonID, &it.PersonName, &it.IDMasked, &it.EntitlementID, &it.Region, &it.Township, &it.AmountFen, &it.RefFen, &it.Status, &it.CaseID,
		&it.Note, &it.WorkedBy, &worked, &it.CreatedAt); err != nil {
		return nil, err
	}
	if worked.Valid {
		it.WorkedAt = &worked.Time
	}
	it.PersonName = casework.MaskName(it.PersonName)
	if r, ok := RuleOf(it.Rule); ok {
		it.RuleLabel, it.Reason = r.Label, r.Reason
	}
	return &it, nil
}

func canRead(u *auth.User) error {
	if !u.Can(auth.DiscoveryRead) {
		return apperr.Forbidden("无权查看主动发现名单")
	}
	return nil
}

// Items lists a worklist in the caller's scope, open items first, oldest event first.
func (s *Service) Items(ctx context.Context, u *auth.User, q Query) ([]Item, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	if q.List != "" && q.List != ListHelp && q.List != ListStop {
		return nil, apperr.Invalid("list", "bad_list", "名单只能是“应助未助”或“应退未退”")
	}
	if q.Rule != "" {
		if _, ok := RuleOf(q.Rule); !ok {
			return nil, apperr.Invalid("rule", "bad_rule", "未知的发现规则："+q.Rule)
		}
	}
	if q.Status != "" && q.Status != StatusOpen && q.Status != StatusStarted && q.Status != StatusDismissed {
		return nil, apperr.Invalid("status", "bad_status", "状态只能是待处理、已启动或已排除")
	}
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 200
	}
	township := ""
	if q.Township != "" {
		if _, ok := s.Tree.Get(q.Township); !ok {
			return nil, apperr.Invalid("township", "unknown_region", "区划代码不存在")
		}
		township = region.ScopePrefix(q.Township)
	}
	var out []Item
	err := s.eachItem(ctx, `WHERE i.region_code LIKE $1 || '%' AND i.township_code LIKE $2 || '%' AND ($3 = '' OR i.list = $3) AND ($4 = '' OR i.rule = $4)
		AND ($5 = '' OR i.status = $5)
		ORDER BY CASE WHEN i.status = 'open' THEN 0 ELSE 1 END, i.event_date, i.id LIMIT $6`,
		[]any{u.Scope(), township, q.List, q.Rule, q.Status, q.Limit}, func(it *Item) { out = append(out, *it) })
	if err != nil {
		return nil, err
	}
	// the lists name people with their circumstances: the read is audited
	if err := audit.Record(ctx, s.DB, u.Actor(), "discovery.items.read", "discovery_items", "", u.Region,
		map[string]any{"list": q.List, "rule": q.Rule, "status": q.Status, "township": q.Township, "count": len(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) eachItem(ctx context.Context, where string, args []any, fn func(*Item)) error {
	rows, err := s.DB.QueryContext(ctx, itemSelect+where, args...)
	if err != nil {
		return fmt.Errorf("discovery: items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows.Scan)
		if err != nil {
			return err
		}
		fn(it)
	}
	return rows.Err()
}

// Item returns one item in the caller's scope.
func (s *Service) Item(ctx context.Context, u *auth.User, id int64) (*Item, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	var found *Item
	if err := s.eachItem(ctx, `WHERE i.id = $1 AND i.region_code LIKE $2 || '%'`, []any{id, u.Scope()}, func(it *Item) { found = it }); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, apperr.NotFound("名单条目不存在或不在您的管辖范围内")
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "discovery.item.read", "discovery_item", strconv.FormatInt(id, 10), found.Region, nil); err != nil {
		return nil, err
	}
	return found, nil
}

// worker checks that the caller may work a township's items: its own
// township's caseworkers and reviewers.
func worker(u *auth.User, it *Item) error {
	if (u.Role != auth.TownshipCaseworker && u.Role != auth.TownshipReviewer) || !strings.HasPrefix(it.Region, u.Scope()) {
		return apperr.Forbidden("名单条目由所在乡镇（街道）经办人员或审核人员办理")
	}
	if it.Status != StatusOpen {
		return apperr.Conflict("item_worked", "该条目已办理（"+StatusLabel(it.Status)+"），不能重复办理")
	}
	return nil
}

// StatusLabel names a status in Chinese.
func StatusLabel(st string) string {
	return map[string]string{StatusOpen: "待处理", StatusStarted: "已启动", StatusDismissed: "已排除", StatusClaimed: "正在启动复核"}[st]
}

// Dismiss closes an item without a case, with the reason.
func (s *Service) Dismiss(ctx context.Context, u *auth.User, id int64, reason string) error {
	it, err := s.Item(ctx, u, id)
	if err != nil {
		return err
	}
	if err := worker(u, it); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 1000 {
		return apperr.Invalid("reason", "reason_required", "请填写排除的理由（已核实的情况）")
	}
	return s.finish(ctx, u, it, StatusOpen, StatusDismissed, 0, reason)
}

// finish records how an item was worked, if it is still in the state from
// (open, or claimed by this worker's review start). The note stays in the
// table: a dismissal reason is free text that may name people, so the audit
// detail has only ids, codes and the note's length.
func (s *Service) finish(ctx context.Context, u *auth.User, it *Item, from, status string, caseID int64, note string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var c any
		if caseID != 0 {
			c = caseID
		}
		res, err := tx.ExecContext(ctx, `UPDATE discovery_items SET status = $1, case_id = $2, note = $3, worked_by = $4, worked_at = $5
			WHERE id = $6 AND status = $7 AND ($7 = 'open' OR worked_by = $4)`,
			status, c, note, u.Username, time.Now().UTC(), it.ID, from)
		if err != nil {
			return fmt.Errorf("discovery: work item: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("item_worked", "该条目刚被其他人办理，请刷新")
		}
		return audit.Append(ctx, tx, u.Actor(), "discovery.item."+status, "discovery_item", strconv.FormatInt(it.ID, 10), it.Region,
			map[string]any{"rule": it.Rule, "case_id": caseID, "note_len": utf8.RuneCountInString(note)})
	})
}

// claim takes an open item for the caller (status open → claimed) in its own
// transaction; an item someone else took first is a conflict.
func (s *Service) claim(ctx context.Context, u *auth.User, it *Item) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE discovery_items SET status = 'claimed', worked_by = $1, worked_at = $2 WHERE id = $3 AND status = 'open'`,
		u.Username, time.Now().UTC(), it.ID)
	if err != nil {
		return fmt.Errorf("discovery: claim item: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Conflict("item_worked", "该条目刚被其他人办理，请刷新")
	}
	return nil
}

// release puts a claimed item back on the list when its review could not be
// started. It runs on a fresh context: the request's may be what failed.
func (s *Service) release(u *auth.User, it *Item) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.DB.ExecContext(ctx, `UPDATE discovery_items SET status = 'open', worked_by = '', worked_at = NULL WHERE id = $1 AND status = 'claimed' AND worked_by = $2`,
		it.ID, u.Username); err != nil {
		s.log().Error("discovery: release claimed item", "item", it.ID, "err", err)
	}
}

// changeKinds say how a stop item is reported to casework.
var changeKinds = map[string]string{"death": "death", "vehicle": "assets", "property": "assets", "business": "income", "birth": "members"}

// StartReview works a stop item: the change is reported to the entitlement
// as found by data matching (casework.ReportChange), which opens its review
// (due within 3 months of a death, DB-41) or adds to the open one; the item
// is marked started with the review case.
func (s *Service) StartReview(ctx context.Context, u *auth.User, cw *casework.Service, id int64) (*casework.Case, error) {
	it, err := s.Item(ctx, u, id)
	if err != nil {
		return nil, err
	}
	if err := worker(u, it); err != nil {
		return nil, err
	}
	if it.List != ListStop {
		return nil, apperr.Invalid("list", "not_stop", "应助未助名单的条目请受理救助申请后登记案件编号")
	}
	r, _ := RuleOf(it.Rule)
	details := fmt.Sprintf("主动发现（%s，%s报送，日期 %s）：%s", r.Label, it.Source, it.EventDate, r.Reason)
	// casework.ReportChange commits on its own, so the item is claimed first:
	// of two workers clicking at once only one reports the change
	if err := s.claim(ctx, u, it); err != nil {
		return nil, err
	}
	_, rv, err := cw.ReportChange(ctx, u, it.EntitlementID, casework.ChangeReport{Kind: changeKinds[it.Rule], ReportedBy: "data", PersonID: it.PersonID,
		ChangedOn: it.EventDate, Details: details})
	if err != nil {
		s.release(u, it)
		return nil, err
	}
	// the change is reported; should recording it fail, the next rule run
	// links the stale claim to this review (see link)
	if err := s.finish(ctx, u, it, StatusClaimed, StatusStarted, rv.ID, "已启动复核 "+rv.No); err != nil {
		return nil, err
	}
	return rv, nil
}

// Started works a help item: the application accepted for the household
// (by its case number) is recorded with it.
func (s *Service) Started(ctx context.Context, u *auth.User, id int64, caseNo string) (int64, error) {
	it, err := s.Item(ctx, u, id)
	if err != nil {
		return 0, err
	}
	if err := worker(u, it); err != nil {
		return 0, err
	}
	if it.List != ListHelp {
		return 0, apperr.Invalid("list", "not_help", "应退未退名单的条目请直接启动复核")
	}
	var caseID int64
	err = s.DB.QueryRowContext(ctx, `SELECT id FROM cases WHERE case_no = $1 AND household_id = $2 AND purpose = 'application'`, strings.TrimSpace(caseNo), it.HouseholdID).Scan(&caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.Invalid("case_no", "no_such_case", "没有该户的这个申请案件，请核对案件编号（先在“受理申请”中为该户受理）")
	}
	if err != nil {
		return 0, fmt.Errorf("discovery: started: %w", err)
	}
	return caseID, s.finish(ctx, u, it, StatusOpen, StatusStarted, caseID, "已受理申请")
}
