package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// recordFunc writes what one change leaves behind in its transaction: record
// (history row and audit entry) for a single change, history alone for the
// changes of an import, which audits the whole file once.
type recordFunc func(ctx context.Context, tx *sql.Tx, c Caller, hhID, personID int64, reg, op, reason string, before, after any) error

// record writes the history row and the audit entry of one change, in the
// change's transaction.
func (s *Service) record(ctx context.Context, tx *sql.Tx, c Caller, hhID, personID int64, reg, op, reason string, before, after any) error {
	if err := s.history(ctx, tx, c, hhID, personID, reg, op, reason, before, after); err != nil {
		return err
	}
	obj, id := "household", fmt.Sprint(hhID)
	if personID != 0 {
		obj, id = "person", fmt.Sprint(personID)
	}
	return audit.Append(ctx, tx, c.Actor(), "registry."+op, obj, id, reg, map[string]any{"household": hhID, "reason": reason, "before": before, "after": after})
}

// history writes the dated history row of one change, in its transaction.
func (s *Service) history(ctx context.Context, tx *sql.Tx, c Caller, hhID, personID int64, reg, op, reason string, before, after any) error {
	a := c.Actor()
	var pid any
	if personID != 0 {
		pid = personID
	}
	var hid any
	if hhID != 0 {
		hid = hhID
	}
	var uid any
	if a.UserID != 0 {
		uid = a.UserID
	}
	b, af := snapshot(before), snapshot(after)
	if _, err := tx.ExecContext(ctx, `INSERT INTO registry_history (at, user_id, username, household_id, person_id, region_code, op, reason, before_json, after_json)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, s.now(), uid, a.Username, hid, pid, reg, op, reason, b, af); err != nil {
		return fmt.Errorf("registry: history: %w", err)
	}
	return nil
}

func needReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", apperr.Invalid("reason", "reason_required", "请填写变更原因")
	}
	return reason, nil
}

// HouseholdInput is what is entered to register a new household.
type HouseholdInput struct {
	Region  string      `json:"region"`
	Hukou   string      `json:"hukou"`
	Address string      `json:"address"`
	Phone   string      `json:"phone"`
	Head    PersonInput `json:"head"`
	Reason  string      `json:"reason"`
}

func (s *Service) checkVillage(c Caller, code string) (*region.Region, error) {
	r, ok := s.Tree.Get(code)
	if !ok || len(code) != 12 && len(code) != len(r.Prefix) {
		return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在："+code)
	}
	if r.Level != region.Village {
		return nil, apperr.Invalid("region", "not_village", "户籍地须选择到村（社区）一级")
	}
	if !region.Within(c.Actor().Region, r.Code) {
		return nil, apperr.Forbidden("所选村（社区）不在您的管辖范围内")
	}
	return r, nil
}

func validHukou(h string) error {
	if h != "urban" && h != "rural" {
		return apperr.Invalid("hukou", "invalid_hukou", "请选择户籍性质（城镇或农村）")
	}
	return nil
}

// CreateHousehold registers a household with its head.
func (s *Service) CreateHousehold(ctx context.Context, c Caller, in HouseholdInput) (*Household, error) {
	r, err := s.checkVillage(c, in.Region)
	if err != nil {
		return nil, err
	}
	if err := validHukou(in.Hukou); err != nil {
		return nil, err
	}
	in.Address = strings.TrimSpace(in.Address)
	if in.Address == "" {
		return nil, apperr.Invalid("address", "address_required", "请填写家庭住址")
	}
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Phone != "" && !phoneRe.MatchString(in.Phone) {
		return nil, apperr.Invalid("phone", "invalid_phone", "联系电话格式不正确（手机号11位，或区号-座机号）")
	}
	in.Head.Relation = "head"
	id, err := in.Head.validate(s.now())
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		reason = "新建户籍登记"
	}
	var h *Household
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		no, err := s.nextHouseholdNo(ctx, tx, r.Code)
		if err != nil {
			return err
		}
		h = &Household{No: no, Region: r.Code, RegionName: s.Tree.FullName(r.Code), Hukou: in.Hukou,
			Address: in.Address, Phone: in.Phone, Status: "active", Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := insertHousehold(ctx, tx, h); err != nil {
			return fmt.Errorf("registry: create household: %w", err)
		}
		if err := s.record(ctx, tx, c, h.ID, 0, h.Region, "household.create", reason, nil, h); err != nil {
			return err
		}
		p, err := s.attachPerson(ctx, tx, c, h, in.Head, id, reason, s.record)
		if err != nil {
			return err
		}
		h.Members = []*Person{p}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// insertHousehold inserts a new active household at version 1 and sets its id.
func insertHousehold(ctx context.Context, tx *sql.Tx, h *Household) error {
	return tx.QueryRowContext(ctx, `INSERT INTO households (hh_no, region_code, hukou, address, phone, status, version, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,'active',1,$6,$6) RETURNING id`, h.No, h.Region, h.Hukou, h.Address, h.Phone, h.CreatedAt).Scan(&h.ID)
}

// nextHouseholdNo numbers households per village: the village code and a
// five-digit sequence. The number stays with the household when it moves, so the
// next one follows the highest ever issued with this village's prefix. The
// village lock makes two offices registering at once take turns.
func (s *Service) nextHouseholdNo(ctx context.Context, tx *sql.Tx, village string) (string, error) {
	if err := s.DB.LockKey(ctx, tx, "hh_no:"+village); err != nil {
		return "", err
	}
	var last string
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(hh_no), '') FROM households WHERE hh_no LIKE $1 || '%'`, village).Scan(&last); err != nil {
		return "", fmt.Errorf("registry: household number: %w", err)
	}
	seq := 0
	if len(last) == len(village)+5 {
		seq, _ = strconv.Atoi(last[len(village):])
	}
	return fmt.Sprintf("%s%05d", village, seq+1), nil
}

// attachPerson inserts a person into a household, or re-attaches a registered
// person who belongs to no household. A person can be in one household only.
// rec leaves the change's trace (s.record, or s.history inside an import).
func (s *Service) attachPerson(ctx context.Context, tx *sql.Tx, c Caller, h *Household, in PersonInput, id idcard.ID, reason string, rec recordFunc) (*Person, error) {
	hash := s.Keys.Hash(id.Number)
	mask, _ := selfCareMask(in.SelfCareFailed)
	var existingID, existingHH sql.NullInt64
	var existingRegion string
	var existingVersion int
	err := tx.QueryRowContext(ctx, `SELECT id, household_id, region_code, version FROM persons WHERE id_hmac = $1`, hash).Scan(&existingID, &existingHH, &existingRegion, &existingVersion)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("registry: check duplicate: %w", err)
	case existingHH.Valid:
		if region.Within(c.Actor().Region, existingRegion) {
			var no string
			_ = tx.QueryRowContext(ctx, `SELECT hh_no FROM households WHERE id = $1`, existingHH.Int64).Scan(&no)
			return nil, apperr.Conflict("duplicate_person", fmt.Sprintf("该人员已登记在户 %s（%s），一人只能属于一户。如需迁移，请先从原户移出或办理分户/合户。", no, s.Tree.FullName(existingRegion)))
		}
		return nil, apperr.Conflict("duplicate_person", "该人员已在其他地区登记，一人只能属于一户。请联系其现登记地办理迁出后再登记。")
	}
	now := s.now()
	p := &Person{HouseholdID: h.ID, Region: h.Region, IDMasked: idcard.Mask(id.Number), Name: in.Name, Sex: id.Sex(),
		BirthDate: id.BirthDate.Format(time.DateOnly), Phone: in.Phone, Relation: in.Relation, CoResident: in.CoResident,
		DisabilityKind: in.DisabilityKind, DisabilityLevel: in.DisabilityLevel, SelfCareItems: selfCareItems(mask), Student: in.Student,
		SeriousIllness: in.SeriousIllness, AbleToWork: in.AbleToWork, Status: "active", Version: 1}
	op := "member.add"
	if existingID.Valid {
		p.ID, p.Version = existingID.Int64, existingVersion+1
		op = "member.rejoin"
		_, err = tx.ExecContext(ctx, `UPDATE persons SET household_id=$1, region_code=$2, name=$3, phone=$4, relation=$5, co_resident=$6, disability_kind=$7,
			disability_level=$8, self_care_items=$9, student=$10, serious_illness=$11, able_to_work=$12, status='active', version=version+1, updated_at=$13 WHERE id=$14`,
			h.ID, h.Region, p.Name, p.Phone, p.Relation, p.CoResident, p.DisabilityKind, p.DisabilityLevel, mask, p.Student, p.SeriousIllness, p.AbleToWork, now, p.ID)
	} else {
		err = tx.QueryRowContext(ctx, `INSERT INTO persons (household_id, region_code, id_hmac, id_enc, id_masked, name, sex, birth_date, phone, relation, co_resident,
			disability_kind, disability_level, self_care_items, student, serious_illness, able_to_work, status, version, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,'active',1,$18,$18) RETURNING id`,
			h.ID, h.Region, hash, s.Keys.Seal(id.Number), p.IDMasked, p.Name, p.Sex, p.BirthDate, p.Phone, p.Relation, p.CoResident,
			p.DisabilityKind, p.DisabilityLevel, mask, p.Student, p.SeriousIllness, p.AbleToWork, now).Scan(&p.ID)
	}
	if db.IsUniqueViolation(err) {
		return nil, apperr.Conflict("duplicate_person", "该人员刚被其他人登记，请重新查询后再操作")
	}
	if err != nil {
		return nil, fmt.Errorf("registry: insert person: %w", err)
	}
	if err := rec(ctx, tx, c, h.ID, p.ID, h.Region, op, reason, nil, p); err != nil {
		return nil, err
	}
	return p, nil
}

// bumpHousehold takes the household's version: a composition change made from a
// stale page is refused, not merged.
func (s *Service) bumpHousehold(ctx context.Context, tx *sql.Tx, c Caller, id int64, version int) (*Household, error) {
	h, err := s.household(ctx, tx, c.Scope(), id)
	if err != nil {
		return nil, err
	}
	if h.Status != "active" {
		return nil, apperr.Conflict("household_closed", "该户已注销（已合并或迁出），不能再修改")
	}
	res, err := tx.ExecContext(ctx, `UPDATE households SET version = version + 1, updated_at = $1 WHERE id = $2 AND version = $3`, s.now(), id, version)
	if err != nil {
		return nil, fmt.Errorf("registry: lock household: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, apperr.Stale()
	}
	h.Version = version + 1
	return h, nil
}

// HouseholdUpdate changes a household's own fields.
type HouseholdUpdate struct {
	Version int    `json:"version"`
	Hukou   string `json:"hukou"`
	Address string `json:"address"`
	Phone   string `json:"phone"`
	Reason  string `json:"reason"`
}

// UpdateHousehold edits address, phone and hukou type.
func (s *Service) UpdateHousehold(ctx context.Context, c Caller, id int64, up HouseholdUpdate) (*Household, error) {
	reason, err := needReason(up.Reason)
	if err != nil {
		return nil, err
	}
	if err := validHukou(up.Hukou); err != nil {
		return nil, err
	}
	up.Address, up.Phone = strings.TrimSpace(up.Address), strings.TrimSpace(up.Phone)
	if up.Address == "" {
		return nil, apperr.Invalid("address", "address_required", "请填写家庭住址")
	}
	if up.Phone != "" && !phoneRe.MatchString(up.Phone) {
		return nil, apperr.Invalid("phone", "invalid_phone", "联系电话格式不正确（手机号11位，或区号-座机号）")
	}
	var h *Household
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		before, err := s.bumpHousehold(ctx, tx, c, id, up.Version)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE households SET hukou=$1, address=$2, phone=$3 WHERE id=$4`, up.Hukou, up.Address, up.Phone, id); err != nil {
			return fmt.Errorf("registry: update household: %w", err)
		}
		after := *before
		after.Hukou, after.Address, after.Phone = up.Hukou, up.Address, up.Phone
		h = &after
		return s.record(ctx, tx, c, id, 0, before.Region, "household.update", reason,
			map[string]any{"hukou": before.Hukou, "address": before.Address, "phone": before.Phone},
			map[string]any{"hukou": up.Hukou, "address": up.Address, "phone": up.Phone})
	})
	return h, err
}

// AddMember adds a person to a household.
func (s *Service) AddMember(ctx context.Context, c Caller, hhID int64, hhVersion int, in PersonInput, reason string) (*Person, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	if in.Relation == "head" {
		return nil, apperr.Invalid("relation", "second_head", "一户只能有一位户主；请先变更原户主的关系")
	}
	id, err := in.validate(s.now())
	if err != nil {
		return nil, err
	}
	var p *Person
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.bumpHousehold(ctx, tx, c, hhID, hhVersion)
		if err != nil {
			return err
		}
		p, err = s.attachPerson(ctx, tx, c, h, in, id, reason, s.record)
		return err
	})
	return p, err
}

// UpdatePerson edits a person's details with optimistic locking. The ID number
// itself cannot change: a wrong ID is corrected by removing and re-adding.
func (s *Service) UpdatePerson(ctx context.Context, c Caller, personID int64, version int, in PersonInput, reason string) (*Person, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	var p *Person
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var enc string
		before, err := scanPerson(tx.QueryRowContext(ctx, `SELECT `+personCols+` FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, personID, c.Scope()))
		if errors.Is(err, sql.ErrNoRows) {
			return errPersonNotFound
		}
		if err != nil {
			return fmt.Errorf("registry: load person: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT id_enc FROM persons WHERE id = $1`, personID).Scan(&enc); err != nil {
			return err
		}
		number, err := s.Keys.Open(enc)
		if err != nil {
			return fmt.Errorf("registry: person %d: %w", personID, err)
		}
		if in.IDNumber == "" {
			in.IDNumber = number
		}
		id, err := in.validate(s.now())
		if err != nil {
			return err
		}
		if id.Number != number {
			return apperr.Invalid("id_number", "id_immutable", "身份证号码不能直接修改；如录入错误，请将该成员移出后重新登记")
		}
		if in.Relation == "head" && before.Relation != "head" {
			var heads int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM persons WHERE household_id = $1 AND relation = 'head' AND id <> $2`, before.HouseholdID, personID).Scan(&heads); err != nil {
				return err
			}
			if heads > 0 {
				return apperr.Invalid("relation", "second_head", "一户只能有一位户主；请先变更原户主的关系")
			}
		}
		mask, _ := selfCareMask(in.SelfCareFailed)
		res, err := tx.ExecContext(ctx, `UPDATE persons SET name=$1, phone=$2, relation=$3, co_resident=$4, disability_kind=$5, disability_level=$6,
			self_care_items=$7, student=$8, serious_illness=$9, able_to_work=$10, version=version+1, updated_at=$11 WHERE id=$12 AND version=$13`,
			in.Name, in.Phone, in.Relation, in.CoResident, in.DisabilityKind, in.DisabilityLevel, mask, in.Student, in.SeriousIllness, in.AbleToWork, s.now(), personID, version)
		if err != nil {
			return fmt.Errorf("registry: update person: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		after := *before
		after.Name, after.Phone, after.Relation, after.CoResident = in.Name, in.Phone, in.Relation, in.CoResident
		after.DisabilityKind, after.DisabilityLevel, after.SelfCareItems = in.DisabilityKind, in.DisabilityLevel, selfCareItems(mask)
		after.Student, after.SeriousIllness, after.AbleToWork, after.Version = in.Student, in.SeriousIllness, in.AbleToWork, version+1
		p = &after
		return s.record(ctx, tx, c, before.HouseholdID, personID, before.Region, "person.update", reason, before, after)
	})
	return p, err
}

// RemoveMember takes a person out of a household (death, moving out, ...). The
// person stays registered without a household, so history is kept and the same
// ID can later join another household.
func (s *Service) RemoveMember(ctx context.Context, c Caller, hhID int64, hhVersion int, personID int64, why, reason string) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	if !inOptions(RemovalReasons, why) {
		return apperr.Invalid("why", "invalid_removal_reason", "请选择移出原因")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.bumpHousehold(ctx, tx, c, hhID, hhVersion)
		if err != nil {
			return err
		}
		p, err := scanPerson(tx.QueryRowContext(ctx, `SELECT `+personCols+` FROM persons WHERE id = $1 AND household_id = $2`, personID, hhID))
		if errors.Is(err, sql.ErrNoRows) {
			return errPersonNotFound
		}
		if err != nil {
			return err
		}
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM persons WHERE household_id = $1 AND id <> $2`, hhID, personID).Scan(&others); err != nil {
			return err
		}
		if p.Relation == "head" && others > 0 {
			return apperr.Invalid("person", "remove_head", "移出户主前，请先将另一位成员变更为户主")
		}
		status := "left"
		if why == "deceased" {
			status = "deceased"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE persons SET household_id = NULL, status = $1, version = version + 1, updated_at = $2 WHERE id = $3`, status, s.now(), personID); err != nil {
			return fmt.Errorf("registry: remove member: %w", err)
		}
		if others == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE households SET status = 'closed' WHERE id = $1`, hhID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, c, hhID, personID, h.Region, "member.remove", Label(RemovalReasons, why)+"："+reason, p, map[string]any{"status": status})
	})
}

// Split moves some members into a new household in the same village.
func (s *Service) Split(ctx context.Context, c Caller, hhID int64, hhVersion int, personIDs []int64, newHead int64, address, reason string) (*Household, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	if len(personIDs) == 0 {
		return nil, apperr.Invalid("persons", "no_members", "请选择要分出的成员")
	}
	var nh *Household
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.bumpHousehold(ctx, tx, c, hhID, hhVersion)
		if err != nil {
			return err
		}
		members, err := s.members(ctx, tx, hhID)
		if err != nil {
			return err
		}
		moving := map[int64]bool{}
		for _, id := range personIDs {
			moving[id] = true
		}
		found, headStays := 0, false
		for _, m := range members {
			if moving[m.ID] {
				found++
			} else if m.Relation == "head" {
				headStays = true
			}
		}
		if found != len(moving) {
			return apperr.Invalid("persons", "not_member", "所选人员不是本户成员")
		}
		if found == len(members) {
			return apperr.Invalid("persons", "all_members", "不能把全部成员分出；如需迁移整户，请使用“迁移”")
		}
		if !headStays {
			return apperr.Invalid("persons", "head_leaves", "原户主不能分出；请先变更户主")
		}
		if !moving[newHead] {
			return apperr.Invalid("new_head", "new_head", "请在分出的成员中指定新户户主")
		}
		if strings.TrimSpace(address) == "" {
			address = h.Address
		}
		now := s.now()
		no, err := s.nextHouseholdNo(ctx, tx, h.Region)
		if err != nil {
			return err
		}
		nh = &Household{No: no, Region: h.Region, RegionName: h.RegionName, Hukou: h.Hukou, Address: strings.TrimSpace(address),
			Phone: h.Phone, Status: "active", Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := insertHousehold(ctx, tx, nh); err != nil {
			return fmt.Errorf("registry: split: %w", err)
		}
		for id := range moving {
			rel := "other"
			if id == newHead {
				rel = "head"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE persons SET household_id = $1, relation = CASE WHEN $2 = 'head' THEN 'head' ELSE relation END, version = version + 1, updated_at = $3 WHERE id = $4`, nh.ID, rel, now, id); err != nil {
				return err
			}
		}
		if err := s.record(ctx, tx, c, hhID, 0, h.Region, "household.split", reason, map[string]any{"household": h.No}, map[string]any{"new_household": nh.No, "persons": personIDs}); err != nil {
			return err
		}
		return s.record(ctx, tx, c, nh.ID, 0, h.Region, "household.create", "由户 "+h.No+" 分户："+reason, nil, nh)
	})
	return nh, err
}

// Merge moves every member of the source household into the target and closes
// the source. Both must be in the same village and in scope.
func (s *Service) Merge(ctx context.Context, c Caller, targetID int64, targetVersion int, sourceID int64, sourceVersion int, reason string) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	if targetID == sourceID {
		return apperr.Invalid("source", "same_household", "不能与本户合并")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		t, err := s.bumpHousehold(ctx, tx, c, targetID, targetVersion)
		if err != nil {
			return err
		}
		src, err := s.bumpHousehold(ctx, tx, c, sourceID, sourceVersion)
		if err != nil {
			return err
		}
		if src.Region != t.Region {
			return apperr.Invalid("source", "different_village", "只能合并同一村（社区）的两户；请先办理迁移")
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE persons SET household_id = $1, relation = CASE relation WHEN 'head' THEN 'other' ELSE relation END, version = version + 1, updated_at = $2 WHERE household_id = $3`, targetID, now, sourceID); err != nil {
			return fmt.Errorf("registry: merge: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE supporters SET household_id = $1 WHERE household_id = $2`, targetID, sourceID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE households SET status = 'merged' WHERE id = $1`, sourceID); err != nil {
			return err
		}
		if err := s.record(ctx, tx, c, sourceID, 0, src.Region, "household.merged_away", reason, map[string]any{"household": src.No}, map[string]any{"into": t.No}); err != nil {
			return err
		}
		return s.record(ctx, tx, c, targetID, 0, t.Region, "household.merge", reason, nil, map[string]any{"from": src.No})
	})
}

// Move transfers a whole household to another village inside the caller's scope.
func (s *Service) Move(ctx context.Context, c Caller, hhID int64, version int, toVillage, address, reason string) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	r, err := s.checkVillage(c, toVillage)
	if err != nil {
		return err
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.bumpHousehold(ctx, tx, c, hhID, version)
		if err != nil {
			return err
		}
		if h.Region == r.Code {
			return apperr.Invalid("region", "same_village", "迁入地与现居住地相同")
		}
		if strings.TrimSpace(address) == "" {
			return apperr.Invalid("address", "address_required", "请填写迁入后的家庭住址")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE households SET region_code = $1, address = $2 WHERE id = $3`, r.Code, strings.TrimSpace(address), hhID); err != nil {
			return fmt.Errorf("registry: move: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE persons SET region_code = $1, version = version + 1 WHERE household_id = $2`, r.Code, hhID); err != nil {
			return err
		}
		return s.record(ctx, tx, c, hhID, 0, r.Code, "household.move", reason,
			map[string]any{"region": h.Region, "address": h.Address}, map[string]any{"region": r.Code, "address": address})
	})
}

// SupporterInput is a legal supporter living elsewhere.
type SupporterInput struct {
	Name              string `json:"name"`
	IDNumber          string `json:"id_number"`
	Relation          string `json:"relation"`
	Duty              string `json:"duty"`
	Address           string `json:"address"`
	OnDibao           bool   `json:"on_dibao"`
	OnTekun           bool   `json:"on_tekun"`
	DisabilityKind    string `json:"disability_kind"`
	DisabilityLevel   int    `json:"disability_level"`
	MonthlyIncomeFen  int64  `json:"monthly_income_fen"`
	AssetsWithinRules bool   `json:"assets_within_rules"`
}

// AddSupporter records a legal supporter of the household.
func (s *Service) AddSupporter(ctx context.Context, c Caller, hhID int64, hhVersion int, in SupporterInput, reason string) (*Supporter, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	pi := PersonInput{IDNumber: in.IDNumber, Name: in.Name, Relation: in.Relation, DisabilityKind: in.DisabilityKind, DisabilityLevel: in.DisabilityLevel}
	id, err := pi.validate(s.now())
	if err != nil {
		return nil, err
	}
	if !inOptions(SupportDuties, in.Duty) {
		return nil, apperr.Invalid("duty", "invalid_duty", "请选择义务类型（赡养、抚养或扶养）")
	}
	if in.MonthlyIncomeFen < 0 {
		return nil, apperr.Invalid("monthly_income_fen", "negative_income", "月收入不能为负数")
	}
	sp := &Supporter{HouseholdID: hhID, Name: pi.Name, IDMasked: idcard.Mask(id.Number), Relation: in.Relation, Duty: in.Duty,
		BirthDate: id.BirthDate.Format(time.DateOnly), Address: strings.TrimSpace(in.Address), OnDibao: in.OnDibao, OnTekun: in.OnTekun,
		DisabilityKind: in.DisabilityKind, DisabilityLevel: in.DisabilityLevel, MonthlyIncomeFen: in.MonthlyIncomeFen, AssetsWithinRules: in.AssetsWithinRules}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.bumpHousehold(ctx, tx, c, hhID, hhVersion)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO supporters (household_id, name, id_hmac, id_enc, id_masked, relation, birth_date, address, on_dibao, on_tekun,
			disability_kind, disability_level, monthly_income_fen, assets_within_rules, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING id`,
			hhID, sp.Name, s.Keys.Hash(id.Number), s.Keys.Seal(id.Number), sp.IDMasked, sp.Relation+"/"+sp.Duty, sp.BirthDate, sp.Address, sp.OnDibao, sp.OnTekun,
			sp.DisabilityKind, sp.DisabilityLevel, sp.MonthlyIncomeFen, sp.AssetsWithinRules, s.now()).Scan(&sp.ID); err != nil {
			return fmt.Errorf("registry: add supporter: %w", err)
		}
		return s.record(ctx, tx, c, hhID, 0, h.Region, "supporter.add", reason, nil, sp)
	})
	return sp, err
}

// RemoveSupporter ends a supporter record (kept for history).
func (s *Service) RemoveSupporter(ctx context.Context, c Caller, hhID int64, hhVersion int, supporterID int64, reason string) error {
	reason, err := needReason(reason)
	if err != nil {
		return err
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		h, err := s.bumpHousehold(ctx, tx, c, hhID, hhVersion)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE supporters SET active = FALSE WHERE id = $1 AND household_id = $2 AND active`, supporterID, hhID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.NotFound("该赡养（抚养、扶养）义务人记录不存在")
		}
		return s.record(ctx, tx, c, hhID, 0, h.Region, "supporter.remove", reason, map[string]any{"supporter": supporterID}, nil)
	})
}

var accountRe = regexp.MustCompile(`^\d{10,30}$`)

// BankAccountInput is a payment account of a member.
type BankAccountInput struct {
	BankCode string `json:"bank_code"`
	BankName string `json:"bank_name"`
	Number   string `json:"number"`
}

// AddBankAccount records an account for a member; it becomes the active one.
func (s *Service) AddBankAccount(ctx context.Context, c Caller, personID int64, version int, in BankAccountInput, reason string) (*BankAccount, error) {
	reason, err := needReason(reason)
	if err != nil {
		return nil, err
	}
	in.Number = strings.ReplaceAll(strings.TrimSpace(in.Number), " ", "")
	if !accountRe.MatchString(in.Number) {
		return nil, apperr.Invalid("number", "invalid_account", "银行账号应为10-30位数字")
	}
	in.BankName, in.BankCode = strings.TrimSpace(in.BankName), strings.TrimSpace(in.BankCode)
	if in.BankName == "" || in.BankCode == "" {
		return nil, apperr.Invalid("bank_name", "bank_required", "请填写开户银行名称和代码")
	}
	b := &BankAccount{PersonID: personID, BankCode: in.BankCode, BankName: in.BankName, Masked: idcard.Mask(in.Number), Active: true}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var hhID int64
		var reg string
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(household_id,0), region_code FROM persons WHERE id = $1 AND region_code LIKE $2 || '%'`, personID, c.Scope()).Scan(&hhID, &reg)
		if errors.Is(err, sql.ErrNoRows) {
			return errPersonNotFound
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE persons SET version = version + 1 WHERE id = $1 AND version = $2`, personID, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bank_accounts SET active = FALSE WHERE person_id = $1`, personID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO bank_accounts (person_id, bank_code, bank_name, account_enc, account_hmac, account_masked, active, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,TRUE,$7) RETURNING id`, personID, b.BankCode, b.BankName, s.Keys.Seal(in.Number), s.Keys.Hash(in.Number), b.Masked, s.now()).Scan(&b.ID); err != nil {
			return fmt.Errorf("registry: add bank account: %w", err)
		}
		return s.record(ctx, tx, c, hhID, personID, reg, "bank_account.add", reason, nil, b)
	})
	return b, err
}
