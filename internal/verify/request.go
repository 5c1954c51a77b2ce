package verify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/money"
	"jiuzhu/internal/region"
)

// Purposes of a verification request.
var Purposes = map[string]string{
	"application": "救助申请审核", "review": "定期复核", "objection": "异议复查", "other": "其他",
}

// RequestInput asks for a household's verification.
type RequestInput struct {
	HouseholdID int64  `json:"household_id"`
	CaseID      int64  `json:"case_id"`
	Purpose     string `json:"purpose"`
}

// Report is the one report of a household and request (HD-08).
type Report struct {
	No             string            `json:"no"`
	HouseholdID    int64             `json:"household_id"`
	HouseholdNo    string            `json:"household_no"`
	Region         string            `json:"region"`
	RegionName     string            `json:"region_name"`
	CaseID         int64             `json:"case_id,omitempty"`
	Purpose        string            `json:"purpose"`
	RequestedBy    string            `json:"requested_by"`
	RequestedAt    time.Time         `json:"requested_at"`
	Authorisations []int64           `json:"authorisations"`
	Parent         string            `json:"parent,omitempty"`
	Evidence       string            `json:"evidence,omitempty"`
	Extracts       []ExtractUsed     `json:"extracts"`
	Members        []MemberReport    `json:"members"`
	Checks         []Check           `json:"checks"`
	Findings       []Finding         `json:"findings"`
	Excluded       map[string]string `json:"-"`
}

// ExtractUsed is a source consulted, with its data date.
type ExtractUsed struct {
	Label    string `json:"label"`
	Source   string `json:"source"`
	Provider string `json:"provider,omitempty"`
	DataDate string `json:"data_date"`
	Matched  int    `json:"matched"`
}

// MemberReport lists what each source holds about one member.
type MemberReport struct {
	PersonID int64        `json:"person_id"`
	Name     string       `json:"name"`
	IDMasked string       `json:"id_masked"`
	Relation string       `json:"relation"`
	Items    []ReportItem `json:"items"`
}

// ReportItem is one matched department item.
type ReportItem struct {
	Source   string            `json:"source"`
	DataDate string            `json:"data_date"`
	Kind     string            `json:"kind"`
	Label    string            `json:"label"`
	Amount   string            `json:"amount,omitempty"`
	Date     string            `json:"date"`
	Detail   map[string]string `json:"detail,omitempty"`
}

// RequestSummary is a request in a list.
type RequestSummary struct {
	ID          int64     `json:"id"`
	No          string    `json:"no"`
	HouseholdID int64     `json:"household_id"`
	CaseID      int64     `json:"case_id,omitempty"`
	Purpose     string    `json:"purpose"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	Findings    int       `json:"findings"`
}

// Request runs a household's verification against the extracts in force and
// files its report. Every adult member must have a valid authorisation.
func (s *Service) Request(ctx context.Context, u *auth.User, in RequestInput) (*RequestSummary, error) {
	if Purposes[in.Purpose] == "" || in.Purpose == "objection" {
		return nil, apperr.Invalid("purpose", "bad_purpose", "请选择核对事由")
	}
	return s.run(ctx, u, in, nil, "", nil)
}

// ObjectionInput is the applicant's objection to a report (HD-07): the
// evidence brought and the findings the township sets aside on it, by index
// in the report's findings with the reason.
type ObjectionInput struct {
	Evidence string         `json:"evidence"`
	SetAside map[int]string `json:"set_aside"`
}

// Object re-checks a household after an objection: a new request against
// the extracts in force, with the evidence recorded and the findings the
// evidence answers marked as set aside.
func (s *Service) Object(ctx context.Context, u *auth.User, requestID int64, in ObjectionInput) (*RequestSummary, error) {
	if strings.TrimSpace(in.Evidence) == "" {
		return nil, apperr.Invalid("evidence", "evidence_required", "请记录申请人提交的证明材料")
	}
	parent, id, err := s.report(ctx, u, requestID, false)
	if err != nil {
		return nil, err
	}
	excluded := map[string]string{}
	for i, reason := range in.SetAside {
		if i < 0 || i >= len(parent.Findings) {
			return nil, apperr.Invalid("set_aside", "bad_finding", "所选核对发现不存在")
		}
		if strings.TrimSpace(reason) == "" {
			return nil, apperr.Invalid("set_aside", "reason_required", "排除核对发现须写明依据")
		}
		f := parent.Findings[i]
		excluded[f.Kind+"\x00"+f.Member] = reason
	}
	return s.run(ctx, u, RequestInput{HouseholdID: parent.HouseholdID, CaseID: parent.CaseID, Purpose: "objection"},
		&id, in.Evidence, excluded)
}

func (s *Service) run(ctx context.Context, u *auth.User, in RequestInput, parentID *int64, evidence string, excluded map[string]string) (*RequestSummary, error) {
	if !u.Can(auth.VerifyRequest) {
		return nil, apperr.Forbidden("无权发起家庭经济状况核对")
	}
	code, err := s.householdRegion(ctx, s.DB, u, in.HouseholdID)
	if err != nil {
		return nil, err
	}
	if in.CaseID != 0 {
		hh, err := scalar[int64](ctx, s.DB, `SELECT household_id FROM cases WHERE id = $1`, in.CaseID)
		if err != nil {
			return nil, err
		}
		if hh != in.HouseholdID {
			return nil, apperr.Invalid("case_id", "case_mismatch", "案件不属于该家庭")
		}
	}
	today := s.now()
	h, err := s.loadHousehold(ctx, in.HouseholdID, today.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	auths, err := s.authorised(ctx, s.DB, h, today)
	if err != nil {
		return nil, err
	}
	extracts, err := s.current(ctx, s.DB, nil)
	if err != nil {
		return nil, err
	}
	if len(extracts) == 0 {
		return nil, apperr.Conflict("no_extracts", "还没有任何部门数据，无法核对")
	}
	rep := &Report{HouseholdID: h.ID, HouseholdNo: h.No, Region: code, CaseID: in.CaseID, Purpose: in.Purpose,
		RequestedBy: u.Username, RequestedAt: today, Authorisations: auths, Evidence: evidence}
	rep.RegionName = s.Tree.FullName(code)
	hashes := make([]string, len(h.Members))
	index := map[string]int{}
	for i, m := range h.Members {
		hashes[i] = m.Hash
		index[m.Hash] = i
		rep.Members = append(rep.Members, MemberReport{PersonID: m.PersonID, Name: m.Name, IDMasked: m.IDMasked, Relation: m.Relation})
	}
	var items []found
	for ei := range extracts {
		e := &extracts[ei]
		got, err := s.files().lookup(e.Stored, hashes)
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", e.Label(), err)
		}
		used := ExtractUsed{Label: e.Label(), Source: e.Source, Provider: e.Provider, DataDate: e.DataDate}
		for hash, its := range got {
			mi := index[hash]
			for _, it := range its {
				if it.sealed != "" {
					plain, err := s.Keys.Open(it.sealed)
					if err != nil {
						return nil, fmt.Errorf("verify: open details: %w", err)
					}
					json.Unmarshal([]byte(plain), &it.Detail)
				}
				items = append(items, found{Item: it, Member: mi, Ref: e})
				ri := ReportItem{Source: e.Label(), DataDate: e.DataDate, Kind: it.Kind, Label: KindLabels[it.Kind], Date: it.Date, Detail: it.Detail}
				if it.AmountFen != 0 {
					ri.Amount = money.Fen(it.AmountFen).String()
				}
				rep.Members[mi].Items = append(rep.Members[mi].Items, ri)
				used.Matched++
			}
		}
		rep.Extracts = append(rep.Extracts, used)
	}
	lim, err := s.newLimits(today).get(ctx, h.Region, h.Hukou)
	if err != nil {
		return nil, err
	}
	rep.Checks, rep.Findings = evaluate(h, items, lim)
	open := 0
	for i := range rep.Findings {
		f := &rep.Findings[i]
		if reason, ok := excluded[f.Kind+"\x00"+f.Member]; ok {
			f.Excluded, f.Reason = true, reason
		} else {
			open++
		}
	}
	plain, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	sum := &RequestSummary{HouseholdID: h.ID, CaseID: in.CaseID, Purpose: in.Purpose, RequestedBy: u.Username, RequestedAt: today, Findings: open}
	var caseID any
	if in.CaseID != 0 {
		caseID = in.CaseID
	}
	tmp := make([]byte, 8)
	rand.Read(tmp)
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO verify_requests (request_no, household_id, case_id, region_code, purpose, parent_id, evidence, requested_by, requested_at, findings, report_enc)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '') RETURNING id`,
			"tmp-"+hex.EncodeToString(tmp), h.ID, caseID, code, in.Purpose, parentID, evidence, u.Username, today, open).Scan(&sum.ID); err != nil {
			return err
		}
		sum.No = fmt.Sprintf("HC%s%s%06d", code[:6], today.In(time.FixedZone("CST", 8*3600)).Format("20060102"), sum.ID)
		rep.No = sum.No
		plain, _ = json.Marshal(rep)
		if _, err := tx.ExecContext(ctx, `UPDATE verify_requests SET request_no = $1, report_enc = $2 WHERE id = $3`,
			sum.No, s.Keys.Seal(string(plain)), sum.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.request", "verify_request", strconv.FormatInt(sum.ID, 10), code,
			map[string]any{"household_id": h.ID, "purpose": in.Purpose, "authorisations": auths, "findings": open})
	})
	if err != nil {
		return nil, fmt.Errorf("verify: request: %w", err)
	}
	return sum, nil
}

// Report returns a filed report; every read is audited.
func (s *Service) Report(ctx context.Context, u *auth.User, id int64) (*Report, error) {
	rep, _, err := s.report(ctx, u, id, true)
	return rep, err
}

func (s *Service) report(ctx context.Context, u *auth.User, id int64, audited bool) (*Report, int64, error) {
	if !u.Can(auth.VerifyRequest) {
		return nil, 0, apperr.Forbidden("无权查看核对报告")
	}
	var code, enc string
	var parent sql.NullInt64
	err := s.DB.QueryRowContext(ctx, `SELECT region_code, report_enc, parent_id FROM verify_requests WHERE id = $1`, id).Scan(&code, &enc, &parent)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, code) {
		return nil, 0, apperr.NotFound("核对报告不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, 0, err
	}
	plain, err := s.Keys.Open(enc)
	if err != nil {
		return nil, 0, fmt.Errorf("verify: open report %d: %w", id, err)
	}
	var rep Report
	if err := json.Unmarshal([]byte(plain), &rep); err != nil {
		return nil, 0, fmt.Errorf("verify: report %d: %w", id, err)
	}
	if parent.Valid {
		rep.Parent, _ = scalar[string](ctx, s.DB, `SELECT request_no FROM verify_requests WHERE id = $1`, parent.Int64)
	}
	if audited {
		if err := audit.Record(ctx, s.DB, u.Actor(), "verify.report.read", "verify_request", strconv.FormatInt(id, 10), code, map[string]any{"no": rep.No}); err != nil {
			return nil, 0, err
		}
	}
	return &rep, id, nil
}

// Requests lists a household's requests, newest first.
func (s *Service) Requests(ctx context.Context, u *auth.User, hhID int64) ([]RequestSummary, error) {
	if !u.Can(auth.VerifyRequest) {
		return nil, apperr.Forbidden("无权查看核对记录")
	}
	if _, err := s.householdRegion(ctx, s.DB, u, hhID); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, request_no, household_id, COALESCE(case_id, 0), purpose, requested_by, requested_at, findings
		FROM verify_requests WHERE household_id = $1 ORDER BY id DESC`, hhID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RequestSummary
	for rows.Next() {
		var r RequestSummary
		if err := rows.Scan(&r.ID, &r.No, &r.HouseholdID, &r.CaseID, &r.Purpose, &r.RequestedBy, &r.RequestedAt, &r.Findings); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
