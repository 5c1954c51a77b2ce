package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/tabular"
)

// Authorisation is one member's signed consent to the queries (授权书, HD-05).
type Authorisation struct {
	ID           int64  `json:"id"`
	HouseholdID  int64  `json:"household_id"`
	PersonID     int64  `json:"person_id"`
	PersonName   string `json:"person_name"`
	GuardianName string `json:"guardian_name,omitempty"`
	Programme    string `json:"programme"`
	SignedOn     string `json:"signed_on"`
	Fingerprint  bool   `json:"fingerprint"`
	EndedOn      string `json:"ended_on,omitempty"`
	EndedReason  string `json:"ended_reason,omitempty"`
	RecordedBy   string `json:"recorded_by"`
	// Valid says whether it still authorises queries today, and Why not.
	Valid bool   `json:"valid"`
	Why   string `json:"why,omitempty"`
}

// AuthorisationInput is a signed form as the township records it.
type AuthorisationInput struct {
	HouseholdID  int64  `json:"household_id"`
	PersonID     int64  `json:"person_id"`
	GuardianName string `json:"guardian_name"` // for a member without full capacity
	Programme    string `json:"programme"`
	SignedOn     string `json:"signed_on"`
	Fingerprint  bool   `json:"fingerprint"`
	// Pledge confirms the form carries the pledge of truth and the consent to
	// queries at the listed departments and financial bodies.
	Pledge bool `json:"pledge"`
}

// AuthProgrammes are the assistance an authorisation can name, in the order
// forms offer them.
var AuthProgrammes = []registry.Option{
	{Value: "dibao", Label: "最低生活保障"}, {Value: "tekun", Label: "特困人员救助供养"}, {Value: "temporary", Label: "临时救助"},
	{Value: "marginal", Label: "低保边缘家庭"}, {Value: "other", Label: "其他社会救助"},
}

// membershipOps are the registry changes that make every member re-sign.
const membershipOps = `'member.add', 'member.rejoin', 'member.remove', 'household.split', 'household.merge'`

// householdRegion checks the caller may work on the household and returns its village.
func (s *Service) householdRegion(ctx context.Context, q db.Querier, u *auth.User, hhID int64) (string, error) {
	var code string
	err := q.QueryRowContext(ctx, `SELECT region_code FROM households WHERE id = $1`, hhID).Scan(&code)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, code) {
		return "", apperr.NotFound("家庭不存在或不在您的管辖范围内")
	}
	return code, err
}

// RecordAuthorisation records a signed authorisation form of one member.
func (s *Service) RecordAuthorisation(ctx context.Context, u *auth.User, in AuthorisationInput) (*Authorisation, error) {
	if !u.Can(auth.VerifyRequest) {
		return nil, apperr.Forbidden("无权登记核对授权书")
	}
	signed, err := tabular.ParseDate(in.SignedOn)
	switch {
	case err != nil:
		return nil, apperr.Invalid("signed_on", "bad_date", "签署日期格式不正确")
	case signed.Format(time.DateOnly) > s.today():
		return nil, apperr.Invalid("signed_on", "future_date", "签署日期不能晚于今天")
	case !slices.ContainsFunc(AuthProgrammes, func(o registry.Option) bool { return o.Value == in.Programme }):
		return nil, apperr.Invalid("programme", "bad_programme", "请选择申请的救助项目")
	case !in.Fingerprint:
		return nil, apperr.Invalid("fingerprint", "fingerprint_required", "授权书须有本人（或监护人）签名并按指印")
	case !in.Pledge:
		return nil, apperr.Invalid("pledge", "pledge_required", "授权书须载明如实申报承诺和同意向有关部门、金融机构查询的授权")
	}
	in.GuardianName = strings.TrimSpace(in.GuardianName)
	var a *Authorisation
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		code, err := s.householdRegion(ctx, tx, u, in.HouseholdID)
		if err != nil {
			return err
		}
		var name string
		err = tx.QueryRowContext(ctx, `SELECT name FROM persons WHERE id = $1 AND household_id = $2 AND status = 'active'`, in.PersonID, in.HouseholdID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.Invalid("person_id", "not_a_member", "签署人不是该户的在册成员")
		}
		if err != nil {
			return err
		}
		a = &Authorisation{HouseholdID: in.HouseholdID, PersonID: in.PersonID, PersonName: name, GuardianName: in.GuardianName,
			Programme: in.Programme, SignedOn: signed.Format(time.DateOnly), Fingerprint: true, RecordedBy: u.Username}
		if err := tx.QueryRowContext(ctx, `INSERT INTO verify_authorisations (household_id, person_id, guardian_name, programme, signed_on, fingerprint, recorded_by, recorded_at)
			VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7) RETURNING id`,
			a.HouseholdID, a.PersonID, a.GuardianName, a.Programme, a.SignedOn, u.Username, s.now()).Scan(&a.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.authorisation.record", "household", strconv.FormatInt(in.HouseholdID, 10), code,
			map[string]any{"authorisation": a.ID, "person_id": a.PersonID, "signed_on": a.SignedOn})
	})
	if err != nil {
		return nil, err
	}
	// a form signed before the last change of members is already void
	all, err := s.authorisations(ctx, s.DB, in.HouseholdID)
	if err != nil {
		return nil, err
	}
	for _, b := range all {
		if b.ID == a.ID {
			return &b, nil
		}
	}
	return a, nil
}

// EndAuthorisation ends a member's authorisation (withdrawn, or the
// household found ineligible).
func (s *Service) EndAuthorisation(ctx context.Context, u *auth.User, id int64, reason string) error {
	if !u.Can(auth.VerifyRequest) {
		return apperr.Forbidden("无权终止核对授权")
	}
	if strings.TrimSpace(reason) == "" {
		return apperr.Invalid("reason", "reason_required", "请填写终止原因")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var hh int64
		if err := tx.QueryRowContext(ctx, `SELECT household_id FROM verify_authorisations WHERE id = $1 AND ended_on = ''`, id).Scan(&hh); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.NotFound("授权书不存在或已终止")
			}
			return err
		}
		code, err := s.householdRegion(ctx, tx, u, hh)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE verify_authorisations SET ended_on = $1, ended_reason = $2 WHERE id = $3`,
			s.now().Format(time.DateOnly), reason, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.authorisation.end", "household", strconv.FormatInt(hh, 10), code, map[string]any{"authorisation": id, "reason": reason})
	})
}

// Authorisations lists a household's authorisation forms with their validity today.
func (s *Service) Authorisations(ctx context.Context, u *auth.User, hhID int64) ([]Authorisation, error) {
	if !u.Can(auth.VerifyRequest) {
		return nil, apperr.Forbidden("无权查看核对授权书")
	}
	if _, err := s.householdRegion(ctx, s.DB, u, hhID); err != nil {
		return nil, err
	}
	return s.authorisations(ctx, s.DB, hhID)
}

func (s *Service) authorisations(ctx context.Context, q db.Querier, hhID int64) ([]Authorisation, error) {
	rows, err := q.QueryContext(ctx, `SELECT a.id, a.household_id, a.person_id, p.name, a.guardian_name, a.programme, a.signed_on, a.fingerprint,
			a.ended_on, a.ended_reason, a.recorded_by, p.status, p.household_id
		FROM verify_authorisations a JOIN persons p ON p.id = a.person_id WHERE a.household_id = $1 ORDER BY a.signed_on DESC, a.id DESC`, hhID)
	if err != nil {
		return nil, fmt.Errorf("verify: authorisations: %w", err)
	}
	var out []Authorisation
	var status []string
	var home []int64
	for rows.Next() {
		var a Authorisation
		var st string
		var hh sql.NullInt64
		if err := rows.Scan(&a.ID, &a.HouseholdID, &a.PersonID, &a.PersonName, &a.GuardianName, &a.Programme, &a.SignedOn, &a.Fingerprint,
			&a.EndedOn, &a.EndedReason, &a.RecordedBy, &st, &hh); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, a)
		status = append(status, st)
		home = append(home, hh.Int64)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Members changed after signing: everyone re-signs (HD-05).
	var changed string
	var at time.Time
	err = q.QueryRowContext(ctx, `SELECT at FROM registry_history WHERE household_id = $1 AND op IN (`+membershipOps+`) ORDER BY at DESC LIMIT 1`, hhID).Scan(&at)
	switch {
	case err == nil:
		changed = at.Format(time.DateOnly)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	// Found ineligible after signing: a refused decision ends it.
	refused, err := scalar[string](ctx, q, `SELECT COALESCE(MAX(decided_on), '') FROM cases WHERE household_id = $1 AND decision = 'refused'`, hhID)
	if err != nil {
		return nil, err
	}
	for i := range out {
		a := &out[i]
		switch {
		case a.EndedOn != "":
			a.Why = "已终止：" + a.EndedReason
		case status[i] != "active" || home[i] != hhID:
			a.Why = "签署人已不是本户在册成员"
		case changed != "" && a.SignedOn < changed:
			a.Why = "签署后家庭成员发生变化（" + changed + "），须重新签署"
		case refused != "" && a.SignedOn <= refused:
			a.Why = "签署后已作出不予救助的决定（" + refused + "）"
		default:
			a.Valid = true
		}
	}
	return out, nil
}

// authorised returns the valid authorisations covering every adult member,
// or an error naming the members without one. No query runs without it.
func (s *Service) authorised(ctx context.Context, q db.Querier, h *household, today time.Time) ([]int64, error) {
	auths, err := s.authorisations(ctx, q, h.ID)
	if err != nil {
		return nil, err
	}
	valid := map[int64]int64{}
	for _, a := range auths {
		if a.Valid && valid[a.PersonID] == 0 {
			valid[a.PersonID] = a.ID
		}
	}
	var ids []int64
	var missing []string
	for _, m := range h.Members {
		if !adult(m.Birth, today) {
			continue
		}
		if id := valid[m.PersonID]; id != 0 {
			ids = append(ids, id)
		} else {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		return nil, &apperr.Error{Status: 422, Code: "authorisation_missing",
			Message: "以下成年家庭成员没有有效的核对授权书，不能发起核对：" + strings.Join(missing, "、")}
	}
	return ids, nil
}

func adult(birth string, today time.Time) bool {
	b, err := time.Parse(time.DateOnly, birth)
	if err != nil {
		return true // unknown age: ask for the signature
	}
	return !b.AddDate(18, 0, 0).After(today)
}
