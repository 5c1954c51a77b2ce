package online

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/region"
)

// Caller is the acting staff member.
type Caller interface {
	Scope() string
	Actor() audit.Actor
}

// Application is an online application as the township sees it.
type Application struct {
	ID         int64      `json:"id"`
	No         string     `json:"application_no"`
	Region     string     `json:"region"`
	RegionName string     `json:"region_name"`
	Programme  string     `json:"programme"`
	Kind       string     `json:"kind,omitempty"`
	Name       string     `json:"name"`
	IDMasked   string     `json:"id_masked"`
	Phone      string     `json:"phone"`
	Members    int        `json:"members"`
	Statement  string     `json:"statement"`
	Pledge     bool       `json:"pledge"`
	Consent    bool       `json:"consent"`
	Status     string     `json:"status"`
	Missing    []string   `json:"missing,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	CaseID     int64      `json:"case_id,omitempty"`
	CaseNo     string     `json:"case_no,omitempty"`
	HandledBy  string     `json:"handled_by,omitempty"`
	HandledAt  *time.Time `json:"handled_at,omitempty"`
	Version    int        `json:"version"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	DocCount   int        `json:"document_count"`
	// HouseholdID is the applicant's household when the applicant is
	// registered in the caller's scope (filled by Get).
	HouseholdID int64      `json:"household_id,omitempty"`
	Documents   []Document `json:"documents,omitempty"`
	idHash      string
}

// StatusLabel names the application's status.
func (a *Application) StatusLabel() string { return StatusLabel(a.Status) }

// Document is an uploaded file; Data is filled only when it is read.
type Document struct {
	ID          int64     `json:"id"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	AddedAt     time.Time `json:"added_at"`
	Data        []byte    `json:"-"`
}

// Ext is the file extension of the document's type.
func (d *Document) Ext() string {
	return map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}[d.ContentType]
}

// IsImage reports whether the document can be shown inline as a picture.
func (d *Document) IsImage() bool { return strings.HasPrefix(d.ContentType, "image/") }

const appCols = `a.id, a.app_no, a.region_code, a.programme, a.kind, a.name, a.id_masked, a.phone, a.members, a.statement, a.pledge, a.consent,
	a.status, a.missing, a.reason, COALESCE(a.case_id, 0), COALESCE(c.case_no, ''), a.handled_by, a.handled_at, a.version, a.created_at, a.updated_at,
	a.id_hmac, (SELECT COUNT(*) FROM online_documents d WHERE d.application_id = a.id)`

const appFrom = ` FROM online_applications a LEFT JOIN cases c ON c.id = a.case_id `

func (s *Service) scan(row interface{ Scan(...any) error }) (*Application, error) {
	var a Application
	var missing string
	var handled sql.NullTime
	if err := row.Scan(&a.ID, &a.No, &a.Region, &a.Programme, &a.Kind, &a.Name, &a.IDMasked, &a.Phone, &a.Members, &a.Statement, &a.Pledge, &a.Consent,
		&a.Status, &missing, &a.Reason, &a.CaseID, &a.CaseNo, &a.HandledBy, &handled, &a.Version, &a.CreatedAt, &a.UpdatedAt, &a.idHash, &a.DocCount); err != nil {
		return nil, err
	}
	if handled.Valid {
		a.HandledAt = &handled.Time
	}
	if missing != "" {
		json.Unmarshal([]byte(missing), &a.Missing)
	}
	a.RegionName = s.Tree.FullName(a.Region)
	return &a, nil
}

// List lists the applications of the villages in the caller's scope with a
// status ("" = every status), newest first.
func (s *Service) List(ctx context.Context, c Caller, status string, limit int) ([]*Application, error) {
	if limit <= 0 || limit > 500 {
		limit = 200
	}
	if status != "" && StatusLabel(status) == "" {
		return nil, apperr.Invalid("status", "invalid_status", "状态只能是 submitted、accepted、returned 或 rejected")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+appCols+appFrom+`WHERE a.region_code LIKE $1 || '%' AND ($2 = '' OR a.status = $2) ORDER BY a.id DESC LIMIT $3`,
		c.Scope(), status, limit)
	if err != nil {
		return nil, fmt.Errorf("online: list: %w", err)
	}
	defer rows.Close()
	var out []*Application
	for rows.Next() {
		a, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Pending counts the applications in scope that wait for the township.
func (s *Service) Pending(ctx context.Context, c Caller) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM online_applications WHERE region_code LIKE $1 || '%' AND status = $2`, c.Scope(), StatusSubmitted).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("online: count: %w", err)
	}
	return n, nil
}

var errNotFound = apperr.NotFound("该网上申请不存在或不在您的管辖范围内")

func (s *Service) load(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, c Caller, id int64) (*Application, error) {
	a, err := s.scan(q.QueryRowContext(ctx, `SELECT `+appCols+appFrom+`WHERE a.id = $1 AND a.region_code LIKE $2 || '%'`, id, c.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("online: load: %w", err)
	}
	return a, nil
}

// Get returns an application in scope with its documents' list. The read is
// audited: the page shows personal data.
func (s *Service) Get(ctx context.Context, c Caller, id int64) (*Application, error) {
	a, err := s.load(ctx, s.DB, c, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, content_type, size, added_at FROM online_documents WHERE application_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("online: documents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Document
		if err := rows.Scan(&d.ID, &d.ContentType, &d.Size, &d.AddedAt); err != nil {
			return nil, err
		}
		a.Documents = append(a.Documents, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, a.HouseholdID, err = s.applicant(ctx, c, a.idHash); err != nil && !errors.Is(err, ErrNotRegistered) {
		return nil, err
	}
	if err := audit.Record(ctx, s.DB, c.Actor(), "online.view", "online_application", fmt.Sprint(a.ID), a.Region, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// Document decrypts one document of an application in scope; every read is audited.
func (s *Service) Document(ctx context.Context, c Caller, appID, docID int64) (*Application, *Document, error) {
	a, err := s.load(ctx, s.DB, c, appID)
	if err != nil {
		return nil, nil, err
	}
	var d Document
	var sealed []byte
	err = s.DB.QueryRowContext(ctx, `SELECT id, content_type, size, added_at, sealed FROM online_documents WHERE id = $1 AND application_id = $2`, docID, appID).
		Scan(&d.ID, &d.ContentType, &d.Size, &d.AddedAt, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, apperr.NotFound("该材料不存在")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("online: document: %w", err)
	}
	plain, err := s.Keys.Open(base64.RawStdEncoding.EncodeToString(sealed))
	if err != nil {
		return nil, nil, fmt.Errorf("online: document %d: %w", docID, err)
	}
	d.Data = []byte(plain)
	if err := audit.Record(ctx, s.DB, c.Actor(), "online.document.read", "online_document", fmt.Sprint(d.ID), a.Region,
		map[string]any{"application_id": a.ID, "application_no": a.No}); err != nil {
		return nil, nil, err
	}
	return a, &d, nil
}

// ErrNotRegistered is the answer to an acceptance whose applicant is not in
// the registry within the caller's scope.
var ErrNotRegistered = apperr.Conflict("not_registered", "申请人尚未在本辖区户籍信息中登记：请先办理户籍登记（身份证号码与网上申请一致），再受理此申请")

// applicant finds the registered person with the application's ID hash in
// the caller's scope.
func (s *Service) applicant(ctx context.Context, c Caller, idHash string) (personID, householdID int64, err error) {
	err = s.DB.QueryRowContext(ctx, `SELECT p.id, p.household_id FROM persons p JOIN households h ON h.id = p.household_id
		WHERE p.id_hmac = $1 AND p.status = 'active' AND h.status = 'active' AND h.region_code LIKE $2 || '%'`, idHash, c.Scope()).Scan(&personID, &householdID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, ErrNotRegistered
	}
	if err != nil {
		return 0, 0, fmt.Errorf("online: find applicant: %w", err)
	}
	return personID, householdID, nil
}

// Decision is the township's answer to an application.
type Decision struct {
	Version int `json:"version"`
	// accept: the documents of the programme's list found among the uploads,
	// and whether the applicant's pledge counts as signed
	Documents []string `json:"documents"`
	Pledge    bool     `json:"pledge"`
	// return: every missing item, in one notice
	Missing []string `json:"missing"`
	// reject: why
	Reason string `json:"reason"`
}

func (s *Service) open(ctx context.Context, c Caller, id int64, version int, levels ...int) (*Application, error) {
	a, err := s.load(ctx, s.DB, c, id)
	if err != nil {
		return nil, err
	}
	ok := false
	for _, l := range levels {
		ok = ok || region.LevelOf(c.Actor().Region) == l
	}
	if !ok {
		return nil, apperr.Forbidden("网上申请由户籍所在地乡镇（街道）办理")
	}
	if a.Status != StatusSubmitted {
		return nil, apperr.Conflict("already_handled", "该网上申请已处理（"+a.StatusLabel()+"），不能重复办理")
	}
	if version != a.Version {
		return nil, apperr.Stale()
	}
	return a, nil
}

// Accept finds the applicant in the registry by the ID hash and opens a
// casework case with channel "online" for their household; the application
// follows the case from then on.
func (s *Service) Accept(ctx context.Context, c Caller, id int64, d Decision) (*casework.Case, error) {
	a, err := s.open(ctx, c, id, d.Version, region.Township, region.Village)
	if err != nil {
		return nil, err
	}
	personID, hhID, err := s.applicant(ctx, c, a.idHash)
	if err != nil {
		return nil, err
	}
	cs, err := s.Casework.Open(ctx, c, casework.Intake{HouseholdID: hhID, ApplicantID: personID, Programme: a.Programme, Kind: a.Kind,
		Channel: "online", Documents: d.Documents, Pledge: d.Pledge, Reason: "网上申请 " + a.No})
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE online_applications SET status = $1, case_id = $2, handled_by = $3, handled_at = $4, version = version + 1, updated_at = $4
			WHERE id = $5 AND version = $6 AND status = $7`, StatusAccepted, cs.ID, c.Actor().Username, now, a.ID, a.Version, StatusSubmitted)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("already_handled", "该网上申请刚被其他人处理；本次已登记的案件为 "+cs.No+"，请核对后处理重复案件")
		}
		return audit.Append(ctx, tx, c.Actor(), "online.accept", "online_application", fmt.Sprint(a.ID), a.Region,
			map[string]any{"application_no": a.No, "case_id": cs.ID, "case_no": cs.No})
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// Return sends the application back with every missing item in one notice (DB-08).
func (s *Service) Return(ctx context.Context, c Caller, id int64, d Decision) error {
	var items []string
	seen := map[string]bool{}
	for _, m := range d.Missing {
		m = strings.TrimSpace(m)
		if m == "" || seen[m] {
			continue
		}
		if utf8.RuneCountInString(m) > 200 {
			return apperr.Invalid("missing", "item_too_long", "每项缺少的材料请不超过200字")
		}
		seen[m] = true
		items = append(items, m)
	}
	if len(items) == 0 {
		return apperr.Invalid("missing", "missing_required", "请一次性列出需要补正的全部材料")
	}
	if len(items) > 30 {
		return apperr.Invalid("missing", "too_many_items", "需要补正的材料最多列30项")
	}
	return s.decide(ctx, c, id, d.Version, StatusReturned, items, "")
}

// Reject refuses the application (不予受理) with a reason.
func (s *Service) Reject(ctx context.Context, c Caller, id int64, d Decision) error {
	reason := strings.TrimSpace(d.Reason)
	if reason == "" {
		return apperr.Invalid("reason", "reason_required", "不予受理须说明理由（将告知申请人）")
	}
	if utf8.RuneCountInString(reason) > 500 {
		return apperr.Invalid("reason", "reason_too_long", "理由请不超过500字")
	}
	return s.decide(ctx, c, id, d.Version, StatusRejected, nil, reason)
}

func (s *Service) decide(ctx context.Context, c Caller, id int64, version int, status string, missing []string, reason string) error {
	a, err := s.open(ctx, c, id, version, region.Township)
	if err != nil {
		return err
	}
	mj := ""
	if len(missing) > 0 {
		b, _ := json.Marshal(missing)
		mj = string(b)
	}
	now := s.now()
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE online_applications SET status = $1, missing = $2, reason = $3, handled_by = $4, handled_at = $5, version = version + 1, updated_at = $5
			WHERE id = $6 AND version = $7 AND status = $8`, status, mj, reason, c.Actor().Username, now, a.ID, a.Version, StatusSubmitted)
		if err != nil {
			return fmt.Errorf("online: %s: %w", status, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		action := map[string]string{StatusReturned: "online.return", StatusRejected: "online.reject"}[status]
		return audit.Append(ctx, tx, c.Actor(), action, "online_application", fmt.Sprint(a.ID), a.Region,
			map[string]any{"application_no": a.No, "missing": len(missing)})
	})
}
