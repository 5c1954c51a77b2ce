package institution

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
)

// Rating is one star rating (敬老院星级评定: one to three stars, 2019 report
// 二(三)). Ratings are never changed; the latest by date is current.
type Rating struct {
	ID         int64     `json:"id"`
	Stars      int       `json:"stars"`
	RatedOn    string    `json:"rated_on"`
	Assessor   string    `json:"assessor"`
	Note       string    `json:"note"`
	RecordedBy string    `json:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at"`
}

// Label names the rating.
func (r Rating) Label() string { return StarsLabel(r.Stars) }

// StarsLabel writes the rating as 一星级, 二星级, 三星级.
func StarsLabel(n int) string {
	switch n {
	case 1:
		return "一星级"
	case 2:
		return "二星级"
	case 3:
		return "三星级"
	}
	return "未评定"
}

// RatingInput is a new rating.
type RatingInput struct {
	Stars    int    `json:"stars"`
	RatedOn  string `json:"rated_on"`
	Assessor string `json:"assessor"` // the assessing body or panel
	Note     string `json:"note"`
}

// Rate records a star rating of a support institution.
func (s *Service) Rate(ctx context.Context, u *auth.User, id int64, in RatingInput) (*Rating, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	in.Assessor, in.Note = strings.TrimSpace(in.Assessor), strings.TrimSpace(in.Note)
	if in.Stars < 1 || in.Stars > 3 {
		return nil, apperr.Invalid("stars", "invalid_stars", "星级应为一星级至三星级")
	}
	if err := s.checkDate("rated_on", "评定日期", in.RatedOn); err != nil {
		return nil, err
	}
	if in.Assessor == "" || utf8.RuneCountInString(in.Assessor) > 100 {
		return nil, apperr.Invalid("assessor", "assessor_required", "请填写评定机关或评定组（100字以内）")
	}
	if utf8.RuneCountInString(in.Note) > 1000 {
		return nil, apperr.Invalid("note", "note_too_long", "说明不能超过1000字")
	}
	r := &Rating{Stars: in.Stars, RatedOn: in.RatedOn, Assessor: in.Assessor, Note: in.Note, RecordedBy: u.Username, RecordedAt: s.now()}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if !SupportKind(i.Kind) {
			return apperr.Invalid("stars", "not_rated_kind", "星级评定适用于特困人员供养服务机构（敬老院、县级供养服务机构）")
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO institution_ratings (institution_id, stars, rated_on, assessor, note, recorded_by, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`, id, r.Stars, r.RatedOn, r.Assessor, r.Note, r.RecordedBy, r.RecordedAt).Scan(&r.ID); err != nil {
			return fmt.Errorf("institution: rate: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.rate", "institution", fmt.Sprint(id), i.Region, in)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Ratings lists an institution's ratings, the current one first (latest
// rating date; of two on one day, the later entry).
func (s *Service) Ratings(ctx context.Context, u *auth.User, id int64) ([]Rating, error) {
	if _, err := s.Get(ctx, u, id); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, stars, rated_on, assessor, note, recorded_by, recorded_at FROM institution_ratings
		WHERE institution_id = $1 ORDER BY rated_on DESC, id DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("institution: ratings: %w", err)
	}
	defer rows.Close()
	out := []Rating{}
	for rows.Next() {
		var r Rating
		if err := rows.Scan(&r.ID, &r.Stars, &r.RatedOn, &r.Assessor, &r.Note, &r.RecordedBy, &r.RecordedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Inspection results.
const (
	ResultPass    = "pass"    // 合格
	ResultRectify = "rectify" // 限期整改
	ResultFail    = "fail"    // 不合格
)

// Results lists the inspection results.
var Results = []Option{{ResultPass, "合格"}, {ResultRectify, "限期整改"}, {ResultFail, "不合格"}}

// Inspection is one inspection with its rectification.
type Inspection struct {
	ID          int64     `json:"id"`
	InspectedOn string    `json:"inspected_on"`
	Inspector   string    `json:"inspector"`
	Findings    string    `json:"findings"`
	Result      string    `json:"result"`
	Deadline    string    `json:"deadline,omitempty"` // rectification deadline
	ClosedOn    string    `json:"closed_on,omitempty"`
	ClosureNote string    `json:"closure_note,omitempty"`
	ClosedBy    string    `json:"closed_by,omitempty"`
	RecordedBy  string    `json:"recorded_by"`
	RecordedAt  time.Time `json:"recorded_at"`
	Version     int       `json:"version"`
	// Overdue: rectification required, not closed, deadline passed.
	Overdue bool `json:"overdue"`
}

// ResultLabel names the result.
func (x *Inspection) ResultLabel() string { return Label(Results, x.Result) }

// Open reports whether rectification is required and not yet closed.
func (x *Inspection) Open() bool { return x.Result != ResultPass && x.ClosedOn == "" }

// InspectionInput is a new inspection.
type InspectionInput struct {
	InspectedOn string `json:"inspected_on"`
	Inspector   string `json:"inspector"`
	Findings    string `json:"findings"`
	Result      string `json:"result"`
	Deadline    string `json:"deadline"` // required unless the result is pass
}

// Inspect records an inspection. A result other than pass needs a
// rectification deadline after the inspection date.
func (s *Service) Inspect(ctx context.Context, u *auth.User, id int64, in InspectionInput) (*Inspection, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	in.Inspector, in.Findings, in.Deadline = strings.TrimSpace(in.Inspector), strings.TrimSpace(in.Findings), strings.TrimSpace(in.Deadline)
	if err := s.checkDate("inspected_on", "检查日期", in.InspectedOn); err != nil {
		return nil, err
	}
	if in.Inspector == "" || utf8.RuneCountInString(in.Inspector) > 100 {
		return nil, apperr.Invalid("inspector", "inspector_required", "请填写检查人员或检查单位（100字以内）")
	}
	if in.Findings == "" || utf8.RuneCountInString(in.Findings) > 4000 {
		return nil, apperr.Invalid("findings", "findings_required", "请填写检查发现的情况（4000字以内）")
	}
	if !valid(Results, in.Result) {
		return nil, apperr.Invalid("result", "invalid_result", "请选择检查结果：合格、限期整改或不合格")
	}
	if in.Result == ResultPass {
		in.Deadline = ""
	} else {
		if _, err := time.Parse(time.DateOnly, in.Deadline); err != nil {
			return nil, apperr.Invalid("deadline", "deadline_required", "限期整改或不合格须填写整改期限（YYYY-MM-DD）")
		}
		if in.Deadline <= in.InspectedOn {
			return nil, apperr.Invalid("deadline", "deadline_before", "整改期限应晚于检查日期")
		}
	}
	x := &Inspection{InspectedOn: in.InspectedOn, Inspector: in.Inspector, Findings: in.Findings, Result: in.Result, Deadline: in.Deadline,
		RecordedBy: u.Username, RecordedAt: s.now(), Version: 1}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO institution_inspections (institution_id, inspected_on, inspector, findings, result, deadline, recorded_by, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`, id, x.InspectedOn, x.Inspector, x.Findings, x.Result, x.Deadline, x.RecordedBy, x.RecordedAt).Scan(&x.ID); err != nil {
			return fmt.Errorf("institution: inspect: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.inspect", "institution", fmt.Sprint(id), i.Region, in)
	})
	if err != nil {
		return nil, err
	}
	x.Overdue = x.Open() && x.Deadline < s.today()
	return x, nil
}

// Closure closes a rectification: the date it was verified and how.
type Closure struct {
	Version  int    `json:"version"`
	ClosedOn string `json:"closed_on"`
	Note     string `json:"note"`
}

// CloseRectification records that the rectification an inspection required
// has been done and verified.
func (s *Service) CloseRectification(ctx context.Context, u *auth.User, id, inspectionID int64, c Closure) (*Inspection, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	c.Note = strings.TrimSpace(c.Note)
	if err := s.checkDate("closed_on", "整改验收日期", c.ClosedOn); err != nil {
		return nil, err
	}
	if c.Note == "" || utf8.RuneCountInString(c.Note) > 2000 {
		return nil, apperr.Invalid("note", "note_required", "请填写整改落实和复查情况（2000字以内）")
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		x, err := s.inspection(ctx, tx, id, inspectionID)
		if err != nil {
			return err
		}
		if x.Version != c.Version {
			return apperr.Stale()
		}
		if !x.Open() {
			return apperr.Conflict("not_open", "该次检查没有待办结的整改")
		}
		if c.ClosedOn < x.InspectedOn {
			return apperr.Invalid("closed_on", "closed_before", "整改验收日期不能早于检查日期")
		}
		res, err := tx.ExecContext(ctx, `UPDATE institution_inspections SET closed_on = $1, closure_note = $2, closed_by = $3, version = version + 1
			WHERE id = $4 AND version = $5 AND closed_on = ''`, c.ClosedOn, c.Note, u.Username, inspectionID, c.Version)
		if err != nil {
			return fmt.Errorf("institution: close rectification: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Stale()
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.rectification_close", "institution", fmt.Sprint(id), i.Region,
			map[string]any{"inspection": inspectionID, "closed_on": c.ClosedOn, "note": c.Note, "late": c.ClosedOn > x.Deadline})
	})
	if err != nil {
		return nil, err
	}
	return s.inspection(ctx, s.DB, id, inspectionID)
}

const inspCols = `id, inspected_on, inspector, findings, result, deadline, closed_on, closure_note, closed_by, recorded_by, recorded_at, version`

func (s *Service) scanInspection(row interface{ Scan(...any) error }) (*Inspection, error) {
	var x Inspection
	if err := row.Scan(&x.ID, &x.InspectedOn, &x.Inspector, &x.Findings, &x.Result, &x.Deadline, &x.ClosedOn, &x.ClosureNote, &x.ClosedBy,
		&x.RecordedBy, &x.RecordedAt, &x.Version); err != nil {
		return nil, err
	}
	x.Overdue = x.Open() && x.Deadline < s.today()
	return &x, nil
}

func (s *Service) inspection(ctx context.Context, q db.Querier, id, inspectionID int64) (*Inspection, error) {
	x, err := s.scanInspection(q.QueryRowContext(ctx, `SELECT `+inspCols+` FROM institution_inspections WHERE id = $1 AND institution_id = $2`, inspectionID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("该机构没有这次检查记录")
	}
	return x, err
}

// Inspections lists an institution's inspections, newest first.
func (s *Service) Inspections(ctx context.Context, u *auth.User, id int64) ([]*Inspection, error) {
	if _, err := s.Get(ctx, u, id); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+inspCols+` FROM institution_inspections WHERE institution_id = $1 ORDER BY inspected_on DESC, id DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("institution: inspections: %w", err)
	}
	defer rows.Close()
	out := []*Inspection{}
	for rows.Next() {
		x, err := s.scanInspection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
