package institution

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
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// DefaultRecipientsPerWorker is the staffing ratio used until a province
// records its own: recipient households per civil-affairs worker. Where it
// comes from: the province's 2019 report (二(三)五) says the joint opinion on
// purchased services requires counties to staff "按低保对象数量配备相应工作人员"
// — by the number of recipients — but neither the report nor the parameters
// in policy/*.yaml give the number, and we know of no national figure. 300 is
// therefore a demonstration value, shown as 演示值 with this explanation
// until a province-level user records the province's figure and its document
// (SetRatio); it is never presented as a rule.
const DefaultRecipientsPerWorker = 300

// PurchasedServicesCapPercent is the cap on the share of assistance funds
// spent on purchased services (2019 report 二(三)五: 不超过2%; payroll
// enforces it on allocations).
const PurchasedServicesCapPercent = 2

// Staffing is one dated record of an office's staff.
type Staffing struct {
	ID               int64     `json:"id"`
	Region           string    `json:"region"`
	AsOf             string    `json:"as_of"`
	CivilServants    int       `json:"civil_servants"`    // 行政编制
	CareerStaff      int       `json:"career_staff"`      // 事业编制
	PurchasedWorkers int       `json:"purchased_workers"` // 政府购买服务人员
	Note             string    `json:"note,omitempty"`
	RecordedBy       string    `json:"recorded_by"`
	RecordedAt       time.Time `json:"recorded_at"`
}

// Total is everyone who works on assistance in the office.
func (s Staffing) Total() int { return s.CivilServants + s.CareerStaff + s.PurchasedWorkers }

// StaffInput records an office's staff from a date.
type StaffInput struct {
	Region           string `json:"region"`
	AsOf             string `json:"as_of"`
	CivilServants    int    `json:"civil_servants"`
	CareerStaff      int    `json:"career_staff"`
	PurchasedWorkers int    `json:"purchased_workers"`
	Note             string `json:"note"`
}

// RecordStaff records the staff of a county's civil-affairs bureau or a
// township's civil-affairs office from a date. Earlier records stay as history.
func (s *Service) RecordStaff(ctx context.Context, u *auth.User, in StaffInput) (*Staffing, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	in.Note = strings.TrimSpace(in.Note)
	r, ok := s.Tree.Get(in.Region)
	if !ok {
		return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
	}
	if r.Level != region.County && r.Level != region.Township {
		return nil, apperr.Invalid("region", "region_level", "请选择县（市、区）民政局或乡镇（街道）民政办")
	}
	if !region.Within(u.Region, r.Code) {
		return nil, apperr.Forbidden("该区划不在您的管辖范围内")
	}
	if err := s.checkDate("as_of", "统计日期", in.AsOf); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name  string
		v     int
		label string
	}{{"civil_servants", in.CivilServants, "行政编制人数"}, {"career_staff", in.CareerStaff, "事业编制人数"}, {"purchased_workers", in.PurchasedWorkers, "政府购买服务人员数"}} {
		if f.v < 0 || f.v > 10000 {
			return nil, apperr.Invalid(f.name, "invalid_count", f.label+"应为0或正整数")
		}
	}
	if utf8.RuneCountInString(in.Note) > 500 {
		return nil, apperr.Invalid("note", "note_too_long", "说明不能超过500字")
	}
	st := &Staffing{Region: r.Code, AsOf: in.AsOf, CivilServants: in.CivilServants, CareerStaff: in.CareerStaff, PurchasedWorkers: in.PurchasedWorkers,
		Note: in.Note, RecordedBy: u.Username, RecordedAt: s.now()}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO office_staff (region_code, as_of, civil_servants, career_staff, purchased_workers, note, recorded_by, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`, st.Region, st.AsOf, st.CivilServants, st.CareerStaff, st.PurchasedWorkers, st.Note, st.RecordedBy, st.RecordedAt).Scan(&st.ID); err != nil {
			return fmt.Errorf("institution: record staff: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "capacity.staff", "region", r.Code, r.Code, in)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// StaffHistory lists an office's staffing records, newest first.
func (s *Service) StaffHistory(ctx context.Context, u *auth.User, code string) ([]Staffing, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	if code == "" {
		code = u.Region
	}
	if !region.Within(u.Region, code) {
		return nil, apperr.Forbidden("该区划不在您的管辖范围内")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, region_code, as_of, civil_servants, career_staff, purchased_workers, note, recorded_by, recorded_at
		FROM office_staff WHERE region_code = $1 AND region_code LIKE $2 || '%' ORDER BY as_of DESC, id DESC`, region.Pad(code), u.Scope())
	if err != nil {
		return nil, fmt.Errorf("institution: staff history: %w", err)
	}
	defer rows.Close()
	out := []Staffing{}
	for rows.Next() {
		var st Staffing
		if err := rows.Scan(&st.ID, &st.Region, &st.AsOf, &st.CivilServants, &st.CareerStaff, &st.PurchasedWorkers, &st.Note, &st.RecordedBy, &st.RecordedAt); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Ratio is the staffing ratio in force for a province.
type Ratio struct {
	Province            string `json:"province"`
	RecipientsPerWorker int    `json:"recipients_per_worker"`
	StartOn             string `json:"start_on,omitempty"`
	Reference           string `json:"reference"`
	RecordedBy          string `json:"recorded_by,omitempty"`
	// Default: no value recorded, DefaultRecipientsPerWorker applies (a
	// demonstration value, see there).
	Default bool `json:"default"`
}

// DefaultReference explains the default ratio where it is shown.
const DefaultReference = "省级尚未设定。2019年省报告要求“县（市、区）按低保对象数量配备相应工作人员”，但未规定比例；本系统暂按每名工作人员服务300户救助对象测算，请省级按本省文件设定。"

// RatioInput sets a province's staffing ratio from a date.
type RatioInput struct {
	RecipientsPerWorker int    `json:"recipients_per_worker"`
	StartOn             string `json:"start_on"`
	Reference           string `json:"reference"` // the province's document
}

// ratioAt returns the province's ratio in force on a date.
func (s *Service) ratioAt(ctx context.Context, province, on string) (Ratio, error) {
	r := Ratio{Province: province}
	err := s.DB.QueryRowContext(ctx, `SELECT recipients_per_worker, start_on, reference, recorded_by FROM capacity_settings
		WHERE province_code = $1 AND start_on <= $2 ORDER BY start_on DESC, id DESC LIMIT 1`, province, on).
		Scan(&r.RecipientsPerWorker, &r.StartOn, &r.Reference, &r.RecordedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return Ratio{Province: province, RecipientsPerWorker: DefaultRecipientsPerWorker, Reference: DefaultReference, Default: true}, nil
	}
	if err != nil {
		return r, fmt.Errorf("institution: ratio: %w", err)
	}
	return r, nil
}

// SetRatio records the province's staffing ratio (a province-level user).
func (s *Service) SetRatio(ctx context.Context, u *auth.User, in RatioInput) (*Ratio, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	if region.LevelOf(u.Region) != region.Province {
		return nil, apperr.Forbidden("配备比例由省级设定")
	}
	in.Reference = strings.TrimSpace(in.Reference)
	if in.RecipientsPerWorker < 1 || in.RecipientsPerWorker > 100000 {
		return nil, apperr.Invalid("recipients_per_worker", "invalid_ratio", "请填写每名工作人员服务的救助对象户数（正整数）")
	}
	if _, err := time.Parse(time.DateOnly, in.StartOn); err != nil {
		return nil, apperr.Invalid("start_on", "invalid_date", "起始日期格式不正确，应为 YYYY-MM-DD")
	}
	if in.Reference == "" || utf8.RuneCountInString(in.Reference) > 500 {
		return nil, apperr.Invalid("reference", "reference_required", "请填写设定依据（文件名称和文号）")
	}
	province := region.Pad(u.Region[:2])
	r := &Ratio{Province: province, RecipientsPerWorker: in.RecipientsPerWorker, StartOn: in.StartOn, Reference: in.Reference, RecordedBy: u.Username}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO capacity_settings (province_code, recipients_per_worker, start_on, reference, recorded_by, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6)`, province, in.RecipientsPerWorker, in.StartOn, in.Reference, u.Username, s.now()); err != nil {
			return fmt.Errorf("institution: set ratio: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "capacity.ratio", "region", province, province, in)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// CapacityRow is one office's (or area's) capacity.
type CapacityRow struct {
	Region string `json:"region"`
	Level  int    `json:"level"`
	// Office is the latest staffing record of this node's own office (county
	// and township nodes), nil when none is recorded.
	Office *Staffing `json:"office,omitempty"`
	// Staff at and under the node: its own office and every office below.
	Offices          int `json:"offices"` // offices with a staffing record
	CivilServants    int `json:"civil_servants"`
	CareerStaff      int `json:"career_staff"`
	PurchasedWorkers int `json:"purchased_workers"`
	Workers          int `json:"workers"`
	// Recipients are households with an approved, current case under the node.
	Recipients int `json:"recipients"`
	// PerWorker is Recipients ÷ Workers (0 without workers).
	PerWorker float64 `json:"per_worker"`
	// OverRatio: more recipients per worker than the ratio, or recipients and
	// no recorded worker.
	OverRatio bool `json:"over_ratio"`
	// Funds of the year (county and above): spending on purchased services
	// and on assistance (every other programme), and the share in percent.
	HasFunds      bool    `json:"has_funds"`
	PurchasedFen  int64   `json:"purchased_fen"`
	AssistanceFen int64   `json:"assistance_fen"`
	SharePercent  float64 `json:"share_percent"`
	OverCap       bool    `json:"over_cap"` // share above 2%
}

// Capacity is the capacity page of a node: its own row and one per child
// (down to townships).
type Capacity struct {
	Node  CapacityRow   `json:"node"`
	Rows  []CapacityRow `json:"rows"`
	Ratio Ratio         `json:"ratio"`
	Year  int           `json:"year"`
	On    string        `json:"on"`
}

// Capacity computes staffing and recipients per worker for node (default the
// caller's region) and its children as of today, and the purchased-services
// share of the year's assistance spending per county.
func (s *Service) Capacity(ctx context.Context, u *auth.User, node string, year int) (*Capacity, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	if node == "" {
		node = u.Region
	}
	n, ok := s.Tree.Get(node)
	if !ok {
		return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
	}
	if !region.Within(u.Region, n.Code) {
		return nil, apperr.Forbidden("该区划不在您的管辖范围内")
	}
	if n.Level > region.Township {
		return nil, apperr.Invalid("region", "region_level", "服务能力按县（市、区）和乡镇（街道）统计")
	}
	today := s.today()
	if year == 0 {
		year, _ = strconv.Atoi(today[:4])
	}
	if year < 2000 || year > 2100 {
		return nil, apperr.Invalid("year", "invalid_year", "请填写年度")
	}
	c := &Capacity{Year: year, On: today}
	var err error
	if c.Ratio, err = s.ratioAt(ctx, region.Pad(n.Prefix[:2]), today); err != nil {
		return nil, err
	}
	prefix := n.Prefix
	var children []*region.Region
	if n.Level < region.Township {
		children = s.Tree.Children(n.Code)
	}
	childLen := 0
	if len(children) > 0 {
		childLen = len(children[0].Prefix)
	}
	c.Node = CapacityRow{Region: n.Code, Level: n.Level}
	rows := map[string]*CapacityRow{}
	for _, ch := range children {
		c.Rows = append(c.Rows, CapacityRow{Region: ch.Code, Level: ch.Level})
	}
	for k := range c.Rows {
		rows[s.prefixOf(c.Rows[k].Region)] = &c.Rows[k]
	}
	child := func(code string) *CapacityRow {
		if childLen == 0 || len(code) < childLen {
			return nil
		}
		return rows[code[:childLen]]
	}

	// staff: each office's latest record on or before today
	srows, err := s.DB.QueryContext(ctx, `SELECT s.id, s.region_code, s.as_of, s.civil_servants, s.career_staff, s.purchased_workers, s.note, s.recorded_by, s.recorded_at
		FROM office_staff s WHERE s.region_code LIKE $1 || '%' AND s.as_of <= $2
			AND NOT EXISTS (SELECT 1 FROM office_staff t WHERE t.region_code = s.region_code AND t.as_of <= $2 AND (t.as_of > s.as_of OR (t.as_of = s.as_of AND t.id > s.id)))`,
		prefix, today)
	if err != nil {
		return nil, fmt.Errorf("institution: capacity staff: %w", err)
	}
	for srows.Next() {
		var st Staffing
		if err := srows.Scan(&st.ID, &st.Region, &st.AsOf, &st.CivilServants, &st.CareerStaff, &st.PurchasedWorkers, &st.Note, &st.RecordedBy, &st.RecordedAt); err != nil {
			srows.Close()
			return nil, err
		}
		for _, r := range []*CapacityRow{&c.Node, child(st.Region)} {
			if r == nil {
				continue
			}
			if st.Region == r.Region {
				o := st
				r.Office = &o
			}
			r.Offices++
			r.CivilServants += st.CivilServants
			r.CareerStaff += st.CareerStaff
			r.PurchasedWorkers += st.PurchasedWorkers
			r.Workers += st.Total()
		}
	}
	srows.Close()
	if err := srows.Err(); err != nil {
		return nil, err
	}

	// recipients: households with an approved current case
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(DISTINCT household_id) FROM cases WHERE state = 'approved' AND decision = 'approved' AND region_code LIKE $1 || '%'`,
		prefix).Scan(&c.Node.Recipients); err != nil {
		return nil, fmt.Errorf("institution: capacity recipients: %w", err)
	}
	if childLen > 0 {
		rr, err := s.DB.QueryContext(ctx, `SELECT SUBSTR(region_code, 1, $2), COUNT(DISTINCT household_id) FROM cases
			WHERE state = 'approved' AND decision = 'approved' AND region_code LIKE $1 || '%' GROUP BY 1`, prefix, childLen)
		if err != nil {
			return nil, fmt.Errorf("institution: capacity recipients: %w", err)
		}
		for rr.Next() {
			var k string
			var n int
			if err := rr.Scan(&k, &n); err != nil {
				rr.Close()
				return nil, err
			}
			if r := child(k); r != nil {
				r.Recipients += n
			}
		}
		rr.Close()
		if err := rr.Err(); err != nil {
			return nil, err
		}
	}

	// funds of the year per county (counties and above)
	if n.Level <= region.County {
		fr, err := s.DB.QueryContext(ctx, `SELECT county_code, COALESCE(SUM(CASE WHEN programme = $3 THEN amount_fen ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN programme <> $3 THEN amount_fen ELSE 0 END), 0)
			FROM fund_spending WHERE county_code LIKE $1 || '%' AND year = $2 GROUP BY county_code`, prefix, year, payroll.PurchasedServices)
		if err != nil {
			return nil, fmt.Errorf("institution: capacity funds: %w", err)
		}
		for fr.Next() {
			var county string
			var p, a int64
			if err := fr.Scan(&county, &p, &a); err != nil {
				fr.Close()
				return nil, err
			}
			for _, r := range []*CapacityRow{&c.Node, child(county)} {
				if r != nil && r.Level <= region.County {
					r.PurchasedFen += p
					r.AssistanceFen += a
				}
			}
		}
		fr.Close()
		if err := fr.Err(); err != nil {
			return nil, err
		}
	}
	finish := func(r *CapacityRow) {
		if r.Workers > 0 {
			r.PerWorker = float64(r.Recipients) / float64(r.Workers)
		}
		r.OverRatio = r.Recipients > r.Workers*c.Ratio.RecipientsPerWorker
		if r.Level <= region.County {
			r.HasFunds = true
			if r.AssistanceFen > 0 {
				r.SharePercent = float64(r.PurchasedFen) * 100 / float64(r.AssistanceFen)
			}
			r.OverCap = r.PurchasedFen*100 > r.AssistanceFen*PurchasedServicesCapPercent
		}
	}
	finish(&c.Node)
	for k := range c.Rows {
		finish(&c.Rows[k])
	}
	return c, nil
}

func (s *Service) prefixOf(code string) string {
	if r, ok := s.Tree.Get(code); ok {
		return r.Prefix
	}
	return region.ScopePrefix(code)
}
