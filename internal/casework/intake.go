package casework

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Document is an item of an application file.
type Document struct{ Key, Label string }

// requiredDocuments lists what a complete file holds (DB-08, HD-05, TK-07).
// The authorisation of every adult member and the pledge are checked separately.
func requiredDocuments(programme, kind string) []Document {
	base := []Document{{"application", "书面申请书"}, {"id_hukou", "居民身份证及户口簿"}}
	switch programme {
	case "dibao":
		return append(base, Document{"income", "家庭收入和财产状况申报材料"})
	case "tekun":
		return append(base, Document{"capacity", "劳动能力、生活来源、财产及赡养抚养扶养情况的书面声明"})
	case "temporary":
		if kind == "emergency" {
			return base[:1] // assist first: the rest is completed afterwards (LS-03)
		}
		return append(base, Document{"expenses", "医疗、教育等必需支出凭证"})
	case "orphan", "unattended_child":
		return append(base, Document{"parents", "父母死亡、失踪、服刑或重残重病等情况的证明"})
	case "disability_living", "disability_care":
		return append(base, Document{"disability_cert", "第二代残疾人证"})
	}
	return base
}

// DocumentLabels lists every document key with its label, for forms.
func DocumentLabels(programme, kind string) []Document { return requiredDocuments(programme, kind) }

// Intake is what the one door records when it accepts an application.
type Intake struct {
	HouseholdID int64  `json:"household_id"`
	ApplicantID int64  `json:"applicant_id"`
	Programme   string `json:"programme"`
	Kind        string `json:"kind"`    // temporary: emergency|expenditure
	Channel     string `json:"channel"` // door|online|agent
	AgentName   string `json:"agent_name"`
	// AcceptedOn defaults to today; a back-dated acceptance needs a reason.
	AcceptedOn     string   `json:"accepted_on"`
	Documents      []string `json:"documents"`
	Pledge         bool     `json:"pledge"`
	Authorisations []int64  `json:"authorisations"` // adult members who signed the verification authorisation
	RequestedFen   int64    `json:"requested_fen"`
	Special        bool     `json:"special"` // 45-WD special case (DB-30)
	SpecialReason  string   `json:"special_reason"`
	// Close relatives of staff or village cadres must be declared (DB-09).
	CloseRelative bool   `json:"close_relative"`
	StaffName     string `json:"staff_name"`
	StaffPost     string `json:"staff_post"`
	Relation      string `json:"relation"`
	Reason        string `json:"reason"`
}

// Open accepts an application at the township and starts its procedure. An
// incomplete file is registered as such with one notice that lists every
// missing item (一次性告知).
func (s *Service) Open(ctx context.Context, c Caller, in Intake) (*Case, error) {
	a := c.Actor()
	if region.LevelOf(a.Region) != region.Township && region.LevelOf(a.Region) != region.Village {
		return nil, apperr.Forbidden("申请由户籍所在地乡镇（街道）受理；请由乡镇经办人或村协理员录入")
	}
	if ProgrammeLabel(in.Programme) == in.Programme {
		return nil, apperr.Invalid("programme", "unknown_programme", "请选择救助项目")
	}
	if in.Programme == "temporary" && in.Kind != "emergency" && in.Kind != "expenditure" {
		return nil, apperr.Invalid("kind", "invalid_kind", "请选择临时救助类型：急难型或支出型")
	}
	if in.Programme != "temporary" {
		in.Kind = ""
	}
	switch in.Channel {
	case "door", "online":
	case "agent":
		if strings.TrimSpace(in.AgentName) == "" {
			return nil, apperr.Invalid("agent_name", "agent_required", "委托代办须填写受托人姓名，并留存委托书")
		}
	default:
		return nil, apperr.Invalid("channel", "invalid_channel", "请选择申请方式：窗口受理、网上申请或委托代办")
	}
	if in.RequestedFen < 0 {
		return nil, apperr.Invalid("requested_fen", "negative_amount", "申请金额不能为负数")
	}
	today := s.today()
	accepted := today
	if in.AcceptedOn != "" {
		d, err := time.Parse(time.DateOnly, in.AcceptedOn)
		if err != nil || d.After(today) {
			return nil, apperr.Invalid("accepted_on", "invalid_date", "受理日期无效（不能晚于今天）")
		}
		if d.Before(today) && strings.TrimSpace(in.Reason) == "" {
			return nil, apperr.Invalid("reason", "reason_required", "补录以前受理的申请，请说明原因")
		}
		accepted = d
	}
	if in.Special && strings.TrimSpace(in.SpecialReason) == "" {
		return nil, apperr.Invalid("special_reason", "reason_required", "特殊情况（45个工作日）须说明理由：有异议、人户分离、异地申请或调查核实难度大")
	}
	if in.CloseRelative && (strings.TrimSpace(in.StaffName) == "" || strings.TrimSpace(in.Relation) == "") {
		return nil, apperr.Invalid("staff_name", "relative_details", "近亲属备案须填写工作人员（或村干部）姓名和亲属关系")
	}

	var cs *Case
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		// the household and the applicant, in scope
		var hhRegion string
		err := tx.QueryRowContext(ctx, `SELECT region_code FROM households WHERE id = $1 AND status = 'active' AND region_code LIKE $2 || '%'`, in.HouseholdID, c.Scope()).Scan(&hhRegion)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.NotFound("该户不存在或不在您的管辖范围内")
		}
		if err != nil {
			return err
		}
		members, err := s.members(ctx, tx, in.HouseholdID)
		if err != nil {
			return err
		}
		applicant, ok := members[in.ApplicantID]
		if !ok {
			return apperr.Invalid("applicant_id", "not_member", "申请人须为本户成员")
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE household_id = $1 AND programme = $2 AND state NOT IN ('approved','closed')`, in.HouseholdID, in.Programme).Scan(&open); err != nil {
			return err
		}
		if open > 0 && in.Programme != "temporary" {
			return apperr.Conflict("case_open", "该户已有正在办理的同类申请，请在原案件中继续办理")
		}
		// completeness: every missing item at once
		missing, err := missingItems(in.Programme, in.Kind, in.Documents, in.Pledge, in.Authorisations, members, accepted)
		if err != nil {
			return err
		}
		// registered close relatives are flagged whatever was declared
		relative := in.CloseRelative
		for _, m := range members {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_relatives WHERE relative_hmac = $1`, m.hmac).Scan(&n); err != nil {
				return err
			}
			relative = relative || n > 0
		}
		rules := RuleVersion(accepted)
		delegated := false
		if in.Programme == "dibao" && s.Delegation != nil {
			if delegated, err = s.Delegation(ctx, hhRegion, accepted); err != nil {
				return err
			}
		}
		state, due := "accepted", ""
		if len(missing) > 0 {
			state = StateIncomplete
		} else if st := procedure(in.Programme, rules, in.Kind, delegated); len(st) > 0 {
			if due, err = s.due(st[0], accepted, accepted.Format(time.DateOnly)); err != nil {
				return err
			}
		}
		no, err := s.nextCaseNo(ctx, tx, in.Programme, hhRegion, accepted)
		if err != nil {
			return err
		}
		mj, _ := json.Marshal(missing)
		if len(missing) == 0 {
			mj = nil
		}
		now := time.Now().UTC()
		cs = &Case{No: no, Programme: in.Programme, RuleVersion: rules, Kind: in.Kind, HouseholdID: in.HouseholdID, ApplicantID: in.ApplicantID,
			Region: hhRegion, Channel: in.Channel, State: state, DueOn: due, AcceptedOn: accepted.Format(time.DateOnly), CloseRelative: relative,
			Special: in.Special, RequestedFen: in.RequestedFen, Missing: missing, Delegated: delegated, Version: 1, ApplicantName: applicant.name, Members: len(members)}
		if err := tx.QueryRowContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state, due_on,
			accepted_on, close_relative, special, requested_fen, missing, delegated, version, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,1,$17,$17) RETURNING id`,
			no, in.Programme, rules, in.Kind, in.HouseholdID, in.ApplicantID, hhRegion, in.Channel, state, due, cs.AcceptedOn, relative, in.Special,
			in.RequestedFen, string(mj), delegated, now).Scan(&cs.ID); err != nil {
			return fmt.Errorf("casework: open case: %w", err)
		}
		if in.CloseRelative {
			if _, err := tx.ExecContext(ctx, `INSERT INTO staff_relatives (region_code, relative_hmac, relative_name, staff_name, staff_post, relation, registered_at, registered_by)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, hhRegion, applicant.hmac, applicant.name, strings.TrimSpace(in.StaffName), strings.TrimSpace(in.StaffPost),
				strings.TrimSpace(in.Relation), now, c.Actor().Username); err != nil {
				return err
			}
		}
		return s.addEvent(ctx, tx, c, cs, "accept", "", state, false, in.Reason, map[string]any{
			"channel": in.Channel, "agent": in.AgentName, "documents": in.Documents, "pledge": in.Pledge, "authorisations": in.Authorisations,
			"missing": missing, "close_relative": relative, "special_reason": in.SpecialReason})
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

type member struct {
	name, birth, hmac string
}

// missingItems lists everything a file still lacks (DB-08, HD-05): the
// programme's documents, the pledge, and the verification authorisation of
// every adult member — all of it, so one notice can name it all.
func missingItems(programme, kind string, docs []string, pledge bool, signed []int64, members map[int64]member, accepted time.Time) ([]string, error) {
	provided := map[string]bool{}
	for _, d := range docs {
		provided[d] = true
	}
	var missing []string
	for _, d := range requiredDocuments(programme, kind) {
		if !provided[d.Key] {
			missing = append(missing, d.Label)
		}
	}
	if kind == "emergency" {
		return missing, nil // assist first: pledge and authorisations come with the paperwork
	}
	if !pledge {
		missing = append(missing, "申请人签字的承诺书（承诺所提供信息真实完整）")
	}
	didSign := map[int64]bool{}
	for _, id := range signed {
		if _, ok := members[id]; !ok {
			return nil, apperr.Invalid("authorisations", "not_member", "签署核对授权书的人员须为本户成员")
		}
		didSign[id] = true
	}
	ids := make([]int64, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if m := members[id]; isAdult(m.birth, accepted) && !didSign[id] {
			missing = append(missing, m.name+"签字（按手印）的家庭经济状况核对授权书")
		}
	}
	return missing, nil
}

func (s *Service) members(ctx context.Context, q db.Querier, hhID int64) (map[int64]member, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, birth_date, id_hmac FROM persons WHERE household_id = $1`, hhID)
	if err != nil {
		return nil, fmt.Errorf("casework: members: %w", err)
	}
	defer rows.Close()
	out := map[int64]member{}
	for rows.Next() {
		var id int64
		var m member
		if err := rows.Scan(&id, &m.name, &m.birth, &m.hmac); err != nil {
			return nil, err
		}
		out[id] = m
	}
	return out, rows.Err()
}

var programmeCodes = map[string]string{"dibao": "DB", "tekun": "TK", "temporary": "LS", "orphan": "GE", "unattended_child": "SW", "disability_living": "CS", "disability_care": "CH"}

// nextCaseNo numbers cases per programme, county and year: DB3601242026000001.
func (s *Service) nextCaseNo(ctx context.Context, tx *sql.Tx, programme, village string, on time.Time) (string, error) {
	prefix := programmeCodes[programme] + village[:6] + on.Format("2006")
	if err := s.DB.LockKey(ctx, tx, "case_no:"+prefix); err != nil {
		return "", err
	}
	var last string
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(case_no), '') FROM cases WHERE case_no LIKE $1 || '%'`, prefix).Scan(&last); err != nil {
		return "", fmt.Errorf("casework: case number: %w", err)
	}
	seq := 0
	if len(last) == len(prefix)+6 {
		fmt.Sscanf(last[len(prefix):], "%d", &seq)
	}
	return fmt.Sprintf("%s%06d", prefix, seq+1), nil
}
