package verify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/money"
	"jiuzhu/internal/region"
)

// Task is a batch finding for a township to look into.
type Task struct {
	ID          int64         `json:"id"`
	BatchID     int64         `json:"batch_id"`
	HouseholdID int64         `json:"household_id"`
	HouseholdNo string        `json:"household_no"`
	Region      string        `json:"region"`
	CaseID      int64         `json:"case_id,omitempty"`
	Kind        string        `json:"kind"`
	Sources     string        `json:"sources"`
	Status      string        `json:"status"`
	Outcome     string        `json:"outcome,omitempty"`
	Note        string        `json:"note,omitempty"`
	ClosedBy    string        `json:"closed_by,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	Evidence    *taskEvidence `json:"evidence,omitempty"`
}

// TaskOutcomes are how a township closes a task.
var TaskOutcomes = map[string]string{
	"confirmed": "情况属实，已启动复核或停发",
	"explained": "经核实已申报或有合理解释",
}

// Tasks lists the tasks in the caller's scope, open ones first.
func (s *Service) Tasks(ctx context.Context, u *auth.User, status string, limit int) ([]Task, error) {
	if !u.Can(auth.VerifyTasks) {
		return nil, apperr.Forbidden("无权查看核对任务")
	}
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	q := `SELECT t.id, t.batch_id, t.household_id, h.hh_no, t.region_code, COALESCE(t.case_id, 0), t.kind, t.sources, t.status, t.outcome, t.note, t.closed_by, t.created_at
		FROM verify_tasks t JOIN households h ON h.id = t.household_id WHERE t.region_code LIKE $1`
	args := []any{u.Scope() + "%"}
	if status != "" {
		q += ` AND t.status = $2`
		args = append(args, status)
	}
	rows, err := s.DB.QueryContext(ctx, q+` ORDER BY t.status DESC, t.id LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("verify: tasks: %w", err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		var t Task
		if err := rows.Scan(&t.ID, &t.BatchID, &t.HouseholdID, &t.HouseholdNo, &t.Region, &t.CaseID, &t.Kind, &t.Sources, &t.Status, &t.Outcome, &t.Note, &t.ClosedBy, &t.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Task returns one task with its evidence; the read is audited.
func (s *Service) Task(ctx context.Context, u *auth.User, id int64) (*Task, error) {
	if !u.Can(auth.VerifyTasks) {
		return nil, apperr.Forbidden("无权查看核对任务")
	}
	var t Task
	var enc string
	err := s.DB.QueryRowContext(ctx, `SELECT t.id, t.batch_id, t.household_id, h.hh_no, t.region_code, COALESCE(t.case_id, 0), t.kind, t.sources, t.status, t.outcome, t.note, t.closed_by, t.created_at, t.evidence_enc
		FROM verify_tasks t JOIN households h ON h.id = t.household_id WHERE t.id = $1`, id).
		Scan(&t.ID, &t.BatchID, &t.HouseholdID, &t.HouseholdNo, &t.Region, &t.CaseID, &t.Kind, &t.Sources, &t.Status, &t.Outcome, &t.Note, &t.ClosedBy, &t.CreatedAt, &enc)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, t.Region) {
		return nil, apperr.NotFound("核对任务不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, err
	}
	plain, err := s.Keys.Open(enc)
	if err != nil {
		return nil, fmt.Errorf("verify: task %d evidence: %w", id, err)
	}
	t.Evidence = &taskEvidence{}
	if err := json.Unmarshal([]byte(plain), t.Evidence); err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "verify.task.read", "verify_task", strconv.FormatInt(id, 10), t.Region, nil); err != nil {
		return nil, err
	}
	return &t, nil
}

// CloseTask records what the township found.
func (s *Service) CloseTask(ctx context.Context, u *auth.User, id int64, outcome, note string) error {
	if !u.Can(auth.VerifyTasks) || !u.Can(auth.CaseAct) {
		return apperr.Forbidden("无权办理核对任务")
	}
	if TaskOutcomes[outcome] == "" {
		return apperr.Invalid("outcome", "bad_outcome", "请选择办理结果")
	}
	if strings.TrimSpace(note) == "" {
		return apperr.Invalid("note", "note_required", "请填写核实情况")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var code, status string
		err := tx.QueryRowContext(ctx, `SELECT region_code, status FROM verify_tasks WHERE id = $1`, id).Scan(&code, &status)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, code) {
			return apperr.NotFound("核对任务不存在或不在您的管辖范围内")
		}
		if err != nil {
			return err
		}
		if status == "closed" {
			return apperr.Conflict("task_closed", "该任务已办结")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE verify_tasks SET status = 'closed', outcome = $1, note = $2, closed_by = $3, closed_at = $4 WHERE id = $5 AND status <> 'closed'`,
			outcome, note, u.Username, s.now(), id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.task.close", "verify_task", strconv.FormatInt(id, 10), code, map[string]any{"outcome": outcome})
	})
}

// Batches lists the batch re-checks in the caller's scope, newest first.
func (s *Service) Batches(ctx context.Context, u *auth.User) ([]BatchSummary, error) {
	if !u.Can(auth.VerifyBatch) && !u.Can(auth.VerifyImport) {
		return nil, apperr.Forbidden("无权查看批量复核")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, status, scope, started_at, summary, recipients, scanned, matched, tasks FROM verify_batches
		WHERE scope LIKE $1 ORDER BY id DESC LIMIT 50`, u.Scope()+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BatchSummary
	for rows.Next() {
		var b BatchSummary
		var summary string
		if err := rows.Scan(&b.ID, &b.Status, &b.Scope, &b.StartedAt, &summary, &b.Persons, &b.Scanned, &b.Matched, &b.Tasks); err != nil {
			return nil, err
		}
		if summary != "" {
			json.Unmarshal([]byte(summary), &b)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ExtractInfo is an extract in force with counts only: what department data
// officers and the centre see (never who matched).
type ExtractInfo struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`
	Label      string    `json:"label"`
	Department string    `json:"department"`
	Provider   string    `json:"provider,omitempty"`
	DataDate   string    `json:"data_date"`
	Rows       int64     `json:"rows"`
	Persons    int64     `json:"persons"`
	ImportedBy string    `json:"imported_by"`
	ImportedAt time.Time `json:"imported_at"`
}

// Extracts lists the extracts in force.
func (s *Service) Extracts(ctx context.Context, u *auth.User) ([]ExtractInfo, error) {
	if !u.Can(auth.VerifyImport) && !u.Can(auth.VerifyBatch) {
		return nil, apperr.Forbidden("无权查看部门数据")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, source, provider, data_date, rows, persons, imported_by, imported_at FROM verify_extracts WHERE status = 'current' ORDER BY source, provider`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ExtractInfo
	for rows.Next() {
		var e ExtractInfo
		if err := rows.Scan(&e.ID, &e.Source, &e.Provider, &e.DataDate, &e.Rows, &e.Persons, &e.ImportedBy, &e.ImportedAt); err != nil {
			return nil, err
		}
		if src, ok := SourceByName(e.Source); ok {
			e.Label, e.Department = src.Label, src.Department
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ImportLog is one import attempt with its row report.
type ImportLog struct {
	ID         int64      `json:"id"`
	Source     string     `json:"source"`
	Provider   string     `json:"provider,omitempty"`
	DataDate   string     `json:"data_date"`
	FileName   string     `json:"file_name"`
	Rows       int64      `json:"rows"`
	BadRows    int64      `json:"bad_rows"`
	Outcome    string     `json:"outcome"`
	Message    string     `json:"message"`
	Errors     []RowError `json:"errors,omitempty"`
	ImportedBy string     `json:"imported_by"`
	At         time.Time  `json:"at"`
}

// Imports lists recent import attempts; with id, that one with its report.
func (s *Service) Imports(ctx context.Context, u *auth.User, id int64) ([]ImportLog, error) {
	if !u.Can(auth.VerifyImport) {
		return nil, apperr.Forbidden("无权查看部门数据导入记录")
	}
	q := `SELECT id, source, provider, data_date, file_name, rows, bad_rows, outcome, message, report, imported_by, at FROM verify_imports`
	var args []any
	if id != 0 {
		q += ` WHERE id = $1`
		args = append(args, id)
	}
	rows, err := s.DB.QueryContext(ctx, q+` ORDER BY id DESC LIMIT 50`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ImportLog
	for rows.Next() {
		var l ImportLog
		var report string
		if err := rows.Scan(&l.ID, &l.Source, &l.Provider, &l.DataDate, &l.FileName, &l.Rows, &l.BadRows, &l.Outcome, &l.Message, &report, &l.ImportedBy, &l.At); err != nil {
			return nil, err
		}
		if id != 0 {
			json.Unmarshal([]byte(report), &l.Errors)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// PeerRequest is a request from another county or province to check a
// person registered here (HD-04: answer promptly).
type PeerRequest struct {
	ID            int64     `json:"id"`
	Region        string    `json:"region"`
	Peer          string    `json:"peer"`
	PeerRef       string    `json:"peer_ref"`
	SubjectMasked string    `json:"subject_masked"`
	SubjectName   string    `json:"subject_name"`
	Purpose       string    `json:"purpose"`
	Authorisation string    `json:"authorisation"`
	ReceivedAt    time.Time `json:"received_at"`
	DueOn         string    `json:"due_on"`
	Status        string    `json:"status"`
	Answer        string    `json:"answer,omitempty"`
	AnsweredBy    string    `json:"answered_by,omitempty"`
}

// PeerInput is a request as received.
type PeerInput struct {
	Peer          string `json:"peer"`     // the requesting office
	PeerRef       string `json:"peer_ref"` // its file number
	IDNumber      string `json:"id_number"`
	Name          string `json:"name"`
	Purpose       string `json:"purpose"`
	Authorisation string `json:"authorisation"` // the reference of the authorisation the requester holds
}

// peerDays is the time limit for answering (HD-08: typically 5–10 working days).
const peerDays = 5

// ReceivePeer records a request from another office, due in peerDays working days.
func (s *Service) ReceivePeer(ctx context.Context, u *auth.User, in PeerInput) (*PeerRequest, error) {
	if !u.Can(auth.VerifyBatch) {
		return nil, apperr.Forbidden("无权登记协查请求")
	}
	for field, v := range map[string]string{"peer": in.Peer, "peer_ref": in.PeerRef, "name": in.Name, "purpose": in.Purpose, "authorisation": in.Authorisation} {
		if strings.TrimSpace(v) == "" {
			return nil, apperr.Invalid(field, "required", "请填写完整的协查请求（请求单位、文号、姓名、事由和授权书编号）")
		}
	}
	now := s.now()
	id, err := idcard.Parse(in.IDNumber, now)
	if err != nil {
		return nil, apperr.Invalid("id_number", "bad_id", err.Error())
	}
	due, err := s.Calendar.AddWorkingDays(now, peerDays)
	if err != nil {
		return nil, err
	}
	p := &PeerRequest{Region: u.Region, Peer: in.Peer, PeerRef: in.PeerRef, SubjectMasked: idcard.Mask(id.Number), SubjectName: in.Name,
		Purpose: in.Purpose, Authorisation: in.Authorisation, ReceivedAt: now, DueOn: due.Format(time.DateOnly), Status: "open"}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO verify_peer_requests (region_code, peer, peer_ref, subject_hmac, subject_masked, subject_name, purpose, authorisation, received_at, due_on)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			p.Region, p.Peer, p.PeerRef, s.Keys.Hash(id.Number), p.SubjectMasked, p.SubjectName, p.Purpose, p.Authorisation, now, p.DueOn).Scan(&p.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.peer.receive", "verify_peer_request", strconv.FormatInt(p.ID, 10), u.Region, map[string]any{"peer": p.Peer, "peer_ref": p.PeerRef})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// PeerRequests lists the requests addressed to the caller's scope.
func (s *Service) PeerRequests(ctx context.Context, u *auth.User) ([]PeerRequest, error) {
	if !u.Can(auth.VerifyBatch) {
		return nil, apperr.Forbidden("无权查看协查请求")
	}
	var out []PeerRequest
	err := db.Each(ctx, s.DB, `SELECT `+peerCols+` FROM verify_peer_requests WHERE region_code LIKE $1 ORDER BY status DESC, due_on, id`,
		[]any{u.Scope() + "%"}, func(scan func(...any) error) error {
			p, err := scanPeer(scan)
			out = append(out, p)
			return err
		})
	return out, err
}

const peerCols = `id, region_code, peer, peer_ref, subject_masked, subject_name, purpose, authorisation, received_at, due_on, status, answer, answered_by`

func scanPeer(scan func(...any) error) (PeerRequest, error) {
	var p PeerRequest
	err := scan(&p.ID, &p.Region, &p.Peer, &p.PeerRef, &p.SubjectMasked, &p.SubjectName, &p.Purpose, &p.Authorisation, &p.ReceivedAt, &p.DueOn, &p.Status, &p.Answer, &p.AnsweredBy)
	return p, err
}

// AnswerPeer looks the subject up in the extracts in force and files the
// answer: per source the items found, with amounts and data dates.
func (s *Service) AnswerPeer(ctx context.Context, u *auth.User, id int64) (*PeerRequest, error) {
	if !u.Can(auth.VerifyBatch) {
		return nil, apperr.Forbidden("无权答复协查请求")
	}
	var code, hash, status string
	err := s.DB.QueryRowContext(ctx, `SELECT region_code, subject_hmac, status FROM verify_peer_requests WHERE id = $1`, id).Scan(&code, &hash, &status)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, code) {
		return nil, apperr.NotFound("协查请求不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, err
	}
	if status != "open" {
		return nil, apperr.Conflict("answered", "该协查请求已答复")
	}
	extracts, err := s.current(ctx, s.DB, nil)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, e := range extracts {
		got, err := s.files().lookup(e.Stored, []string{hash})
		if err != nil {
			return nil, err
		}
		for _, it := range got[hash] {
			line := fmt.Sprintf("%s（数据日期 %s）：%s", e.Label(), e.DataDate, KindLabels[it.Kind])
			if it.AmountFen != 0 {
				line += " " + money.Fen(it.AmountFen).String() + " 元"
			}
			lines = append(lines, line+"，日期 "+it.Date)
		}
	}
	answer := "经核对，未发现该人员的相关记录。"
	if len(lines) > 0 {
		answer = "经核对，发现以下记录：\n" + strings.Join(lines, "\n")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE verify_peer_requests SET status = 'answered', answer = $1, answered_by = $2, answered_at = $3 WHERE id = $4 AND status = 'open'`,
			answer, u.Username, s.now(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Conflict("answered", "该协查请求已答复")
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.peer.answer", "verify_peer_request", strconv.FormatInt(id, 10), code, map[string]any{"records": len(lines)})
	})
	if err != nil {
		return nil, err
	}
	p, err := scanPeer(s.DB.QueryRowContext(ctx, `SELECT `+peerCols+` FROM verify_peer_requests WHERE id = $1`, id).Scan)
	if err != nil {
		return nil, err
	}
	return &p, nil
}
