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

// Placement is one stay of a person in a bed. A transfer ends one placement
// and opens the next, so the rows are the person's history.
type Placement struct {
	ID              int64     `json:"id"`
	InstitutionID   int64     `json:"institution_id"`
	InstitutionName string    `json:"institution_name"`
	BedID           int64     `json:"bed_id"`
	BedNo           string    `json:"bed_no"`
	PersonID        int64     `json:"person_id"`
	Name            string    `json:"name"`
	IDMasked        string    `json:"id_masked"`
	CaseID          int64     `json:"case_id,omitempty"` // the tekun case it carries out
	AdmittedOn      string    `json:"admitted_on"`
	AdmittedBy      string    `json:"admitted_by"`
	Note            string    `json:"note,omitempty"`
	TransferredFrom int64     `json:"transferred_from,omitempty"`
	EndedOn         string    `json:"ended_on,omitempty"`
	EndKind         string    `json:"end_kind,omitempty"` // transfer | discharge
	EndReason       string    `json:"end_reason,omitempty"`
	EndedBy         string    `json:"ended_by,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// Current reports whether the person is still in this bed.
func (p *Placement) Current() bool { return p.EndedOn == "" }

// EndLabel names how the placement ended.
func (p *Placement) EndLabel() string {
	return map[string]string{"transfer": "转床/转院", "discharge": "出院", "": "在院"}[p.EndKind]
}

// AdmitInput admits a person to a bed.
type AdmitInput struct {
	PersonID   int64  `json:"person_id"`
	BedID      int64  `json:"bed_id"`
	BedNo      string `json:"bed_no,omitempty"` // instead of bed_id
	AdmittedOn string `json:"admitted_on"`
	Note       string `json:"note"`
}

// TransferInput moves a resident to another bed, in the same institution
// (ToInstitution 0) or another one in the caller's region.
type TransferInput struct {
	ToInstitution int64  `json:"to_institution"`
	ToBedID       int64  `json:"to_bed_id"`
	ToBedNo       string `json:"to_bed_no,omitempty"` // instead of to_bed_id
	On            string `json:"on"`
	Reason        string `json:"reason"`
}

// DischargeInput ends a stay.
type DischargeInput struct {
	On     string `json:"on"`
	Reason string `json:"reason"`
}

const placementCols = `p.id, p.institution_id, i.name, p.bed_id, b.bed_no, p.person_id, pe.name, pe.id_masked, COALESCE(p.case_id, 0), p.admitted_on, p.admitted_by,
	p.admit_note, COALESCE(p.transferred_from, 0), p.ended_on, p.end_kind, p.end_reason, p.ended_by, p.created_at`

const placementFrom = ` FROM placements p JOIN institutions i ON i.id = p.institution_id JOIN institution_beds b ON b.id = p.bed_id JOIN persons pe ON pe.id = p.person_id`

func scanPlacement(row interface{ Scan(...any) error }) (Placement, error) {
	var p Placement
	err := row.Scan(&p.ID, &p.InstitutionID, &p.InstitutionName, &p.BedID, &p.BedNo, &p.PersonID, &p.Name, &p.IDMasked, &p.CaseID, &p.AdmittedOn, &p.AdmittedBy,
		&p.Note, &p.TransferredFrom, &p.EndedOn, &p.EndKind, &p.EndReason, &p.EndedBy, &p.CreatedAt)
	return p, err
}

func (s *Service) placements(ctx context.Context, q db.Querier, where string, args ...any) ([]Placement, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+placementCols+placementFrom+` WHERE `+where+` ORDER BY p.admitted_on DESC, p.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("institution: placements: %w", err)
	}
	defer rows.Close()
	out := []Placement{}
	for rows.Next() {
		p, err := scanPlacement(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Placements lists an institution's residents (all: with its history),
// newest first.
func (s *Service) Placements(ctx context.Context, u *auth.User, id int64, all bool) ([]Placement, error) {
	if _, err := s.Get(ctx, u, id); err != nil {
		return nil, err
	}
	where := `p.institution_id = $1`
	if !all {
		where += ` AND p.ended_on = ''`
	}
	return s.placements(ctx, s.DB, where, id)
}

// PersonPlacements is a person's placement history, for a person in the
// caller's region, in the caller's region's institutions.
func (s *Service) PersonPlacements(ctx context.Context, u *auth.User, personID int64) ([]Placement, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	return s.placements(ctx, s.DB, `p.person_id = $1 AND pe.region_code LIKE $2 || '%' AND i.region_code LIKE $2 || '%'`, personID, u.Scope())
}

// person is what admission checks of the person.
type person struct {
	region, status, name string
}

// checkPerson finds an active person in the caller's region.
func checkPerson(ctx context.Context, q db.Querier, u *auth.User, personID int64) (*person, error) {
	var p person
	err := q.QueryRowContext(ctx, `SELECT region_code, status, name FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, personID, u.Scope()).
		Scan(&p.region, &p.status, &p.name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Invalid("person_id", "person_not_found", "人员不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, fmt.Errorf("institution: person: %w", err)
	}
	if p.status != "active" {
		return nil, apperr.Invalid("person_id", "person_inactive", "该人员在户籍登记中已不是正常状态（已死亡、迁出或注销），不能入住")
	}
	return &p, nil
}

// supportCase returns the approved tekun case that a centralised placement in
// a support institution carries out. Casework keeps the form of support the
// home visit chose in the case's kind (centralised or dispersed): a case of
// dispersed support cannot be placed before its form is changed. A case with
// no recorded form (kept before casework recorded it) is accepted.
func supportCase(ctx context.Context, q db.Querier, personID int64) (int64, error) {
	var caseID int64
	var kind string
	err := q.QueryRowContext(ctx, `SELECT id, kind FROM cases WHERE applicant_id = $1 AND programme = 'tekun' AND state = 'approved' AND decision = 'approved'
		ORDER BY CASE kind WHEN 'centralised' THEN 0 WHEN '' THEN 1 ELSE 2 END, id DESC LIMIT 1`, personID).Scan(&caseID, &kind)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.Invalid("person_id", "no_tekun_case", "该人员没有已批准的特困人员救助供养待遇，不能安排到特困人员供养服务机构集中供养")
	}
	if err != nil {
		return 0, fmt.Errorf("institution: tekun case: %w", err)
	}
	if kind == "dispersed" {
		return 0, apperr.Invalid("person_id", "dispersed_support", "该特困人员的供养方式为分散供养，不能直接安排集中供养；请先经入户调查和审批变更供养方式")
	}
	return caseID, nil
}

// checkBed finds an active bed of an institution and refuses an occupied one.
func checkBed(ctx context.Context, q db.Querier, instID, bedID int64) (string, error) {
	var no string
	var busy int
	err := q.QueryRowContext(ctx, `SELECT b.bed_no, (SELECT COUNT(*) FROM placements p WHERE p.bed_id = b.id AND p.ended_on = '')
		FROM institution_beds b WHERE b.id = $1 AND b.institution_id = $2 AND b.active`, bedID, instID).Scan(&no, &busy)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.Invalid("bed_id", "bed_not_found", "请选择该机构的床位")
	}
	if err != nil {
		return "", fmt.Errorf("institution: bed: %w", err)
	}
	if busy > 0 {
		return "", apperr.Conflict("bed_occupied", "床位“"+no+"”已有人入住，请选择空闲床位")
	}
	return no, nil
}

// bedByNo finds an active bed by its number when no id is given.
func bedByNo(ctx context.Context, q db.Querier, instID, bedID int64, no string) (int64, error) {
	if bedID > 0 {
		return bedID, nil
	}
	no = strings.TrimSpace(no)
	err := q.QueryRowContext(ctx, `SELECT id FROM institution_beds WHERE institution_id = $1 AND bed_no = $2 AND active`, instID, no).Scan(&bedID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.Invalid("bed_id", "bed_not_found", "该机构没有床位“"+no+"”")
	}
	return bedID, err
}

// placed refuses a person who is already in a bed somewhere.
func placed(ctx context.Context, q db.Querier, personID int64) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM placements WHERE person_id = $1 AND ended_on = ''`, personID).Scan(&n); err != nil {
		return fmt.Errorf("institution: placed: %w", err)
	}
	if n > 0 {
		return apperr.Conflict("already_placed", "该人员已在机构集中供养，不能重复入住；如需调整，请办理转床/转院")
	}
	return nil
}

// raced turns a unique-index failure on the current placements into the same
// refusal the checks give (two people admitting at once).
func raced(err error) error {
	if db.IsUniqueViolation(err) {
		return apperr.Conflict("placement_conflict", "该床位或该人员刚刚已被安排入住，请刷新页面后重新选择")
	}
	return fmt.Errorf("institution: placement: %w", err)
}

func (s *Service) openForAdmission(i *Institution) error {
	if i.Status != "open" {
		return apperr.Invalid("institution", "not_open", "该机构当前状态为“"+i.StatusLabel()+"”，不能安排入住")
	}
	return nil
}

// Admit places a person in a free bed. The person must be active in the
// caller's region and not in a bed already; in a support institution the
// person must hold an approved tekun case not recorded as dispersed support.
func (s *Service) Admit(ctx context.Context, u *auth.User, id int64, in AdmitInput) (*Placement, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	in.Note = strings.TrimSpace(in.Note)
	if in.PersonID <= 0 {
		return nil, apperr.Invalid("person_id", "person_required", "请选择入住人员")
	}
	if in.BedID <= 0 && strings.TrimSpace(in.BedNo) == "" {
		return nil, apperr.Invalid("bed_id", "bed_required", "请选择床位")
	}
	if err := s.checkDate("admitted_on", "入住日期", in.AdmittedOn); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(in.Note) > 1000 {
		return nil, apperr.Invalid("note", "note_too_long", "说明不能超过1000字")
	}
	var pid int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if err := s.openForAdmission(i); err != nil {
			return err
		}
		if _, err := checkPerson(ctx, tx, u, in.PersonID); err != nil {
			return err
		}
		var caseID any
		if SupportKind(i.Kind) {
			c, err := supportCase(ctx, tx, in.PersonID)
			if err != nil {
				return err
			}
			caseID = c
		}
		if in.BedID, err = bedByNo(ctx, tx, id, in.BedID, in.BedNo); err != nil {
			return err
		}
		bedNo, err := checkBed(ctx, tx, id, in.BedID)
		if err != nil {
			return err
		}
		if err := placed(ctx, tx, in.PersonID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO placements (institution_id, bed_id, person_id, case_id, region_code, admitted_on, admitted_by, admit_note, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`, id, in.BedID, in.PersonID, caseID, i.Region, in.AdmittedOn, u.Username, in.Note, s.now()).Scan(&pid); err != nil {
			return raced(err)
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.admit", "person", fmt.Sprint(in.PersonID), i.Region,
			map[string]any{"institution": id, "bed": bedNo, "placement": pid, "case": caseID, "admitted_on": in.AdmittedOn})
	})
	if err != nil {
		return nil, err
	}
	return s.placement(ctx, s.DB, id, pid)
}

func (s *Service) placement(ctx context.Context, q db.Querier, id, placementID int64) (*Placement, error) {
	p, err := scanPlacement(q.QueryRowContext(ctx, `SELECT `+placementCols+placementFrom+` WHERE p.id = $1 AND p.institution_id = $2`, placementID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("该机构没有这条入住记录")
	}
	if err != nil {
		return nil, fmt.Errorf("institution: placement: %w", err)
	}
	return &p, nil
}

// current loads a current placement of an institution in the caller's region.
func (s *Service) current(ctx context.Context, tx *sql.Tx, u *auth.User, id, placementID int64) (*Institution, *Placement, error) {
	i, err := s.get(ctx, tx, u, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.placement(ctx, tx, id, placementID)
	if err != nil {
		return nil, nil, err
	}
	if !p.Current() {
		return nil, nil, apperr.Conflict("already_ended", "该人员已于"+p.EndedOn+"离开该床位")
	}
	return i, p, nil
}

func (s *Service) checkEnd(field, label, on string, p *Placement, reason string) error {
	if err := s.checkDate(field, label, on); err != nil {
		return err
	}
	if on < p.AdmittedOn {
		return apperr.Invalid(field, "before_admission", label+"不能早于入住日期（"+p.AdmittedOn+"）")
	}
	if reason == "" || utf8.RuneCountInString(reason) > 1000 {
		return apperr.Invalid("reason", "reason_required", "请填写原因（1000字以内）")
	}
	return nil
}

// end closes a current placement; a concurrent end is a stale write.
func end(ctx context.Context, tx *sql.Tx, placementID int64, on, kind, reason, by string) error {
	res, err := tx.ExecContext(ctx, `UPDATE placements SET ended_on = $1, end_kind = $2, end_reason = $3, ended_by = $4 WHERE id = $5 AND ended_on = ''`,
		on, kind, reason, by, placementID)
	if err != nil {
		return fmt.Errorf("institution: end placement: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return apperr.Stale()
	}
	return nil
}

// Transfer moves a resident to another free bed, in the same institution or
// another one in the caller's region; the old stay ends on the day and the
// new one starts on it.
func (s *Service) Transfer(ctx context.Context, u *auth.User, id, placementID int64, in TransferInput) (*Placement, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.ToInstitution == 0 {
		in.ToInstitution = id
	}
	if in.ToBedID <= 0 && strings.TrimSpace(in.ToBedNo) == "" {
		return nil, apperr.Invalid("to_bed_id", "bed_required", "请选择转入的床位")
	}
	var newID int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		from, p, err := s.current(ctx, tx, u, id, placementID)
		if err != nil {
			return err
		}
		if err := s.checkEnd("on", "转床/转院日期", in.On, p, in.Reason); err != nil {
			return err
		}
		to := from
		if in.ToInstitution != id {
			if to, err = s.get(ctx, tx, u, in.ToInstitution); err != nil {
				return err
			}
		}
		if in.ToBedID, err = bedByNo(ctx, tx, to.ID, in.ToBedID, in.ToBedNo); err != nil {
			return err
		}
		if in.ToBedID == p.BedID {
			return apperr.Invalid("to_bed_id", "same_bed", "转入床位与现床位相同")
		}
		if err := s.openForAdmission(to); err != nil {
			return err
		}
		caseID := any(nil)
		if p.CaseID != 0 {
			caseID = p.CaseID
		}
		if SupportKind(to.Kind) {
			c, err := supportCase(ctx, tx, p.PersonID)
			if err != nil {
				return err
			}
			caseID = c
		}
		bedNo, err := checkBed(ctx, tx, to.ID, in.ToBedID)
		if err != nil {
			return err
		}
		if err := end(ctx, tx, placementID, in.On, "transfer", in.Reason, u.Username); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO placements (institution_id, bed_id, person_id, case_id, region_code, admitted_on, admitted_by, admit_note,
			transferred_from, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id`,
			to.ID, in.ToBedID, p.PersonID, caseID, to.Region, in.On, u.Username, in.Reason, placementID, s.now()).Scan(&newID); err != nil {
			return raced(err)
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.transfer", "person", fmt.Sprint(p.PersonID), to.Region,
			map[string]any{"from_institution": id, "from_bed": p.BedNo, "to_institution": to.ID, "to_bed": bedNo, "on": in.On, "reason": in.Reason,
				"placement": newID, "from_placement": placementID})
	})
	if err != nil {
		return nil, err
	}
	return s.placement(ctx, s.DB, in.ToInstitution, newID)
}

// Discharge ends a resident's stay (death, return home, end of support, at
// their request …: the reason says which).
func (s *Service) Discharge(ctx context.Context, u *auth.User, id, placementID int64, in DischargeInput) (*Placement, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, p, err := s.current(ctx, tx, u, id, placementID)
		if err != nil {
			return err
		}
		if err := s.checkEnd("on", "出院日期", in.On, p, in.Reason); err != nil {
			return err
		}
		if err := end(ctx, tx, placementID, in.On, "discharge", in.Reason, u.Username); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.discharge", "person", fmt.Sprint(p.PersonID), i.Region,
			map[string]any{"institution": id, "bed": p.BedNo, "placement": placementID, "on": in.On, "reason": in.Reason})
	})
	if err != nil {
		return nil, err
	}
	return s.placement(ctx, s.DB, id, placementID)
}

// Candidate is a person who could be admitted to a support institution: an
// approved tekun case, not of dispersed support, not in a bed.
type Candidate struct {
	PersonID int64  `json:"person_id"`
	Name     string `json:"name"`
	IDMasked string `json:"id_masked"`
	Region   string `json:"region"`
	CaseID   int64  `json:"case_id"`
}

// Candidates lists up to limit people waiting for a bed in the county of a
// support institution (and in the caller's region); other kinds have none.
func (s *Service) Candidates(ctx context.Context, u *auth.User, id int64, limit int) ([]Candidate, error) {
	i, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, err
	}
	out := []Candidate{}
	if !SupportKind(i.Kind) || !u.Can(auth.InstitutionWrite) {
		return out, nil
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT p.id, p.name, p.id_masked, p.region_code, MAX(c.id)
		FROM cases c JOIN persons p ON p.id = c.applicant_id
		WHERE c.programme = 'tekun' AND c.state = 'approved' AND c.decision = 'approved'
			AND c.region_code LIKE $1 || '%' AND p.region_code LIKE $2 || '%' AND p.status = 'active'
			AND NOT EXISTS (SELECT 1 FROM placements pl WHERE pl.person_id = p.id AND pl.ended_on = '')
			AND c.kind <> 'dispersed'
		GROUP BY p.id, p.name, p.id_masked, p.region_code ORDER BY p.region_code, p.id LIMIT $3`, i.Region[:6], u.Scope(), limit)
	if err != nil {
		return nil, fmt.Errorf("institution: candidates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Candidate
		if err := rows.Scan(&c.PersonID, &c.Name, &c.IDMasked, &c.Region, &c.CaseID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
