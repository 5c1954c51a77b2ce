// Package institution keeps the province's support institutions (供养服务机构
// and the other welfare institutions of the 2019 report: child welfare,
// relief stations, minors' protection centres, mental-health welfare
// institutions, community rehabilitation sites), their beds, star ratings and
// inspections; the centralised placement of people in their beds (集中供养:
// admission, transfer, discharge, with history); and the service capacity of
// the civil-affairs offices: staff and purchased-service workers per office,
// recipient households per worker against the province's ratio, and the share
// of assistance funds spent on purchased services against the 2% cap.
//
// Every institution carries the county or township code it belongs to, and
// every query is limited to the caller's region in SQL.
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
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service is the institution store.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Now  func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// today is the date in China as a YYYY-MM-DD string.
func (s *Service) today() string {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	return now.In(calendar.China).Format(time.DateOnly)
}

// Option is a code with its Chinese label.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Kinds of institution (2019 report, 三(三) and 二(三)).
const (
	KindElderHome       = "elder_home"         // 特困人员供养服务机构（敬老院）
	KindCareCentre      = "county_care_centre" // 县级供养服务机构（失能半失能照护中心）
	KindChildWelfare    = "child_welfare"
	KindReliefStation   = "relief_station"
	KindMinorProtection = "minor_protection"
	KindMentalHealth    = "mental_health"
	KindCommunityRehab  = "community_rehab"
)

// Kinds lists the kinds in the order the UI offers them.
var Kinds = []Option{
	{KindElderHome, "特困人员供养服务机构（敬老院）"},
	{KindCareCentre, "县级供养服务机构（失能半失能照护中心）"},
	{KindChildWelfare, "儿童福利机构"},
	{KindReliefStation, "救助管理站"},
	{KindMinorProtection, "未成年人救助保护中心"},
	{KindMentalHealth, "精神卫生福利机构"},
	{KindCommunityRehab, "社区康复站点"},
}

// Operators: who runs the institution (公建民营 is encouraged by the report).
var Operators = []Option{
	{"public", "公办公营"},
	{"public_private", "公建民营"},
	{"private", "民办"},
}

// Statuses of an institution.
var Statuses = []Option{
	{"open", "运营中"},
	{"suspended", "停业整顿"},
	{"closed", "已撤销"},
}

// Label finds the label of a code in a list, or returns the code.
func Label(list []Option, v string) string {
	for _, o := range list {
		if o.Value == v {
			return o.Label
		}
	}
	return v
}

func valid(list []Option, v string) bool {
	for _, o := range list {
		if o.Value == v {
			return true
		}
	}
	return false
}

// SupportKind reports whether a kind is an extreme-poverty support
// institution: placements there are the centralised support of a tekun case,
// and they take star ratings (敬老院星级评定).
func SupportKind(kind string) bool { return kind == KindElderHome || kind == KindCareCentre }

// Institution is one registered institution with its current figures.
type Institution struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	Region     string    `json:"region"`
	Address    string    `json:"address"`
	Operator   string    `json:"operator"`
	Capacity   int       `json:"capacity"`
	Carers     int       `json:"carers"`
	Medical    int       `json:"medical"`
	OtherStaff int       `json:"other_staff"`
	OpenedOn   string    `json:"opened_on"`
	Status     string    `json:"status"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Version    int       `json:"version"`
	// derived
	Beds     int `json:"beds"`     // active beds
	Occupied int `json:"occupied"` // beds with a current resident
	Stars    int `json:"stars"`    // the latest rating, 0 when never rated
	// OpenRectifications counts inspections that required rectification and
	// are not closed yet.
	OpenRectifications int `json:"open_rectifications"`
}

// KindLabel, OperatorLabel and StatusLabel name the codes in Chinese.
func (i *Institution) KindLabel() string     { return Label(Kinds, i.Kind) }
func (i *Institution) OperatorLabel() string { return Label(Operators, i.Operator) }
func (i *Institution) StatusLabel() string   { return Label(Statuses, i.Status) }

// StarsLabel names the current rating.
func (i *Institution) StarsLabel() string { return StarsLabel(i.Stars) }

// Staff is the institution's total staff.
func (i *Institution) Staff() int { return i.Carers + i.Medical + i.OtherStaff }

// Free is the number of free active beds.
func (i *Institution) Free() int { return i.Beds - i.Occupied }

// Input is what is entered to register or edit an institution.
type Input struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Region     string `json:"region"`
	Address    string `json:"address"`
	Operator   string `json:"operator"`
	Capacity   int    `json:"capacity"`
	Carers     int    `json:"carers"`
	Medical    int    `json:"medical"`
	OtherStaff int    `json:"other_staff"`
	OpenedOn   string `json:"opened_on"`
	Status     string `json:"status"` // default open
	// Beds are the bed numbers to create with a new institution; empty means
	// beds numbered 1..Capacity. Ignored on edit (beds are added and removed
	// one by one).
	Beds []string `json:"beds,omitempty"`
	// Version is the version the editor saw (edit only).
	Version int `json:"version"`
}

const instCols = `i.id, i.kind, i.name, i.region_code, i.address, i.operator, i.capacity, i.carers, i.medical, i.other_staff, i.opened_on, i.status,
	i.created_by, i.created_at, i.updated_at, i.version,
	(SELECT COUNT(*) FROM institution_beds b WHERE b.institution_id = i.id AND b.active),
	(SELECT COUNT(*) FROM placements p WHERE p.institution_id = i.id AND p.ended_on = ''),
	COALESCE((SELECT r.stars FROM institution_ratings r WHERE r.institution_id = i.id ORDER BY r.rated_on DESC, r.id DESC LIMIT 1), 0),
	(SELECT COUNT(*) FROM institution_inspections x WHERE x.institution_id = i.id AND x.result <> 'pass' AND x.closed_on = '')`

func scanInst(row interface{ Scan(...any) error }) (*Institution, error) {
	var i Institution
	err := row.Scan(&i.ID, &i.Kind, &i.Name, &i.Region, &i.Address, &i.Operator, &i.Capacity, &i.Carers, &i.Medical, &i.OtherStaff, &i.OpenedOn, &i.Status,
		&i.CreatedBy, &i.CreatedAt, &i.UpdatedAt, &i.Version, &i.Beds, &i.Occupied, &i.Stars, &i.OpenRectifications)
	if err != nil {
		return nil, err
	}
	return &i, nil
}

// MaxBeds bounds one institution's bed list and one request's new beds.
const MaxBeds = 2000

func (s *Service) validate(u *auth.User, in *Input) error {
	in.Name = strings.TrimSpace(in.Name)
	in.Address = strings.TrimSpace(in.Address)
	in.Region = strings.TrimSpace(in.Region)
	in.OpenedOn = strings.TrimSpace(in.OpenedOn)
	if !valid(Kinds, in.Kind) {
		return apperr.Invalid("kind", "invalid_kind", "请选择机构类型")
	}
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		return apperr.Invalid("name", "name_required", "请填写机构名称（100字以内）")
	}
	if utf8.RuneCountInString(in.Address) > 200 {
		return apperr.Invalid("address", "address_too_long", "地址不能超过200字")
	}
	r, ok := s.Tree.Get(in.Region)
	if !ok || len(in.Region) != 12 && in.Region != r.Prefix {
		return apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
	}
	if r.Level != region.County && r.Level != region.Township {
		return apperr.Invalid("region", "region_level", "机构所属区划应为县（市、区）或乡镇（街道）")
	}
	in.Region = r.Code
	if !region.Within(u.Region, in.Region) {
		return apperr.Forbidden("该区划不在您的管辖范围内")
	}
	if !valid(Operators, in.Operator) {
		return apperr.Invalid("operator", "invalid_operator", "请选择运营方式：公办公营、公建民营或民办")
	}
	if in.Status == "" {
		in.Status = "open"
	}
	if !valid(Statuses, in.Status) {
		return apperr.Invalid("status", "invalid_status", "请选择机构状态")
	}
	for _, f := range []struct {
		name  string
		v     int
		label string
	}{{"capacity", in.Capacity, "床位数"}, {"carers", in.Carers, "护理人员数"}, {"medical", in.Medical, "医护人员数"}, {"other_staff", in.OtherStaff, "其他工作人员数"}} {
		if f.v < 0 || f.v > 100000 {
			return apperr.Invalid(f.name, "invalid_count", f.label+"应为0或正整数")
		}
	}
	if in.Capacity > MaxBeds {
		return apperr.Invalid("capacity", "invalid_count", fmt.Sprintf("床位数不能超过%d张", MaxBeds))
	}
	if in.OpenedOn != "" {
		if err := s.checkDate("opened_on", "开办日期", in.OpenedOn); err != nil {
			return err
		}
	}
	return nil
}

// checkDate refuses a malformed date and a date after today.
func (s *Service) checkDate(field, label, v string) error {
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return apperr.Invalid(field, "invalid_date", label+"格式不正确，应为 YYYY-MM-DD")
	}
	if v > s.today() {
		return apperr.Invalid(field, "future_date", label+"不能晚于今天")
	}
	return nil
}

func canWrite(u *auth.User) error {
	if !u.Can(auth.InstitutionWrite) {
		return apperr.Forbidden("您的角色不能登记或修改供养机构信息")
	}
	return nil
}

func canRead(u *auth.User) error {
	if !u.Can(auth.InstitutionRead) {
		return apperr.Forbidden("您的角色不能查看供养机构信息")
	}
	return nil
}

// Filter narrows a list of institutions.
type Filter struct {
	Kind   string `json:"kind"`
	Region string `json:"region"` // a node inside the caller's region; empty: all of it
}

// List returns the institutions in the caller's region (and the filter's).
func (s *Service) List(ctx context.Context, u *auth.User, f Filter) ([]*Institution, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	scope := u.Scope()
	if f.Region != "" {
		if _, ok := s.Tree.Get(f.Region); !ok {
			return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
		}
		switch {
		case region.Within(u.Region, f.Region):
			scope = region.ScopePrefix(f.Region)
		case !region.Within(f.Region, u.Region):
			return nil, apperr.Forbidden("该区划不在您的管辖范围内")
		}
	}
	if f.Kind != "" && !valid(Kinds, f.Kind) {
		return nil, apperr.Invalid("kind", "invalid_kind", "机构类型不正确")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+instCols+` FROM institutions i
		WHERE i.region_code LIKE $1 || '%' AND ($2 = '' OR i.kind = $2) ORDER BY i.region_code, i.kind, i.name, i.id LIMIT 5000`, scope, f.Kind)
	if err != nil {
		return nil, fmt.Errorf("institution: list: %w", err)
	}
	defer rows.Close()
	out := []*Institution{}
	for rows.Next() {
		i, err := scanInst(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// Get loads one institution in the caller's region; one outside it is "not
// found", like one that does not exist.
func (s *Service) Get(ctx context.Context, u *auth.User, id int64) (*Institution, error) {
	if err := canRead(u); err != nil {
		return nil, err
	}
	return s.get(ctx, s.DB, u, id)
}

func (s *Service) get(ctx context.Context, q db.Querier, u *auth.User, id int64) (*Institution, error) {
	i, err := scanInst(q.QueryRowContext(ctx, `SELECT `+instCols+` FROM institutions i WHERE i.id = $1 AND i.region_code LIKE $2 || '%'`, id, u.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("机构不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, fmt.Errorf("institution: get: %w", err)
	}
	return i, nil
}

// Create registers an institution and its beds.
func (s *Service) Create(ctx context.Context, u *auth.User, in Input) (*Institution, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	if err := s.validate(u, &in); err != nil {
		return nil, err
	}
	beds := in.Beds
	if len(beds) == 0 {
		for n := 1; n <= in.Capacity; n++ {
			beds = append(beds, strconv.Itoa(n))
		}
	}
	beds, err := cleanBeds(beds)
	if err != nil {
		return nil, err
	}
	var id int64
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO institutions (kind, name, region_code, address, operator, capacity, carers, medical, other_staff, opened_on, status,
			created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$13) RETURNING id`,
			in.Kind, in.Name, in.Region, in.Address, in.Operator, in.Capacity, in.Carers, in.Medical, in.OtherStaff, in.OpenedOn, in.Status, u.Username, now).Scan(&id)
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("duplicate_name", "该区划内已有同名机构")
		}
		if err != nil {
			return fmt.Errorf("institution: create: %w", err)
		}
		if err := insertBeds(ctx, tx, id, beds); err != nil {
			return err
		}
		in.Beds = nil
		return audit.Append(ctx, tx, u.Actor(), "institution.create", "institution", fmt.Sprint(id), in.Region, map[string]any{"input": in, "beds": len(beds)})
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.DB, u, id)
}

// Update edits an institution the caller saw at in.Version; a stale version
// is refused. Closing an institution that still has residents is refused.
func (s *Service) Update(ctx context.Context, u *auth.User, id int64, in Input) (*Institution, error) {
	if err := canWrite(u); err != nil {
		return nil, err
	}
	if err := s.validate(u, &in); err != nil {
		return nil, err
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		old, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if old.Version != in.Version {
			return apperr.Stale()
		}
		if in.Status == "closed" && old.Occupied > 0 {
			return apperr.Invalid("status", "has_residents", fmt.Sprintf("机构内仍有%d名在院人员，请先办理出院或转院，再撤销机构", old.Occupied))
		}
		if old.Occupied > 0 && in.Region[:6] != old.Region[:6] {
			return apperr.Invalid("region", "has_residents", "有在院人员的机构不能改到其他县（市、区）")
		}
		if old.Occupied > 0 && SupportKind(old.Kind) != SupportKind(in.Kind) {
			return apperr.Invalid("kind", "has_residents", "有在院人员的机构不能在特困供养机构与其他机构类型之间变更")
		}
		res, err := tx.ExecContext(ctx, `UPDATE institutions SET kind = $1, name = $2, region_code = $3, address = $4, operator = $5, capacity = $6, carers = $7,
			medical = $8, other_staff = $9, opened_on = $10, status = $11, updated_at = $12, version = version + 1 WHERE id = $13 AND version = $14`,
			in.Kind, in.Name, in.Region, in.Address, in.Operator, in.Capacity, in.Carers, in.Medical, in.OtherStaff, in.OpenedOn, in.Status, s.now(), id, in.Version)
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("duplicate_name", "该区划内已有同名机构")
		}
		if err != nil {
			return fmt.Errorf("institution: update: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Stale()
		}
		in.Beds = nil
		return audit.Append(ctx, tx, u.Actor(), "institution.update", "institution", fmt.Sprint(id), in.Region, map[string]any{"before": old, "after": in})
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.DB, u, id)
}

// Delete removes an institution registered by mistake: only one that never
// had a resident (otherwise its status is set to closed, keeping its history).
func (s *Service) Delete(ctx context.Context, u *auth.User, id int64, version int) error {
	if err := canWrite(u); err != nil {
		return err
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		old, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if old.Version != version {
			return apperr.Stale()
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM placements WHERE institution_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apperr.Conflict("has_history", "该机构已有入住记录，不能删除；如已撤销，请将状态改为“已撤销”")
		}
		for _, q := range []string{`DELETE FROM institution_ratings WHERE institution_id = $1`, `DELETE FROM institution_inspections WHERE institution_id = $1`,
			`DELETE FROM institution_beds WHERE institution_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("institution: delete: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM institutions WHERE id = $1 AND version = $2`, id, version)
		if err != nil {
			return fmt.Errorf("institution: delete: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Stale()
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.delete", "institution", fmt.Sprint(id), old.Region, map[string]any{"before": old})
	})
}

// Bed is one bed with its current resident, if any.
type Bed struct {
	ID          int64  `json:"id"`
	No          string `json:"bed_no"`
	Active      bool   `json:"active"`
	PlacementID int64  `json:"placement_id,omitempty"`
	PersonID    int64  `json:"person_id,omitempty"`
	Name        string `json:"name,omitempty"`
	IDMasked    string `json:"id_masked,omitempty"`
	AdmittedOn  string `json:"admitted_on,omitempty"`
}

// Occupied reports whether someone is in the bed.
func (b Bed) Occupied() bool { return b.PlacementID != 0 }

// Beds lists an institution's active beds with their residents, in bed
// number order (numbers of equal length sort numerically).
func (s *Service) Beds(ctx context.Context, u *auth.User, id int64) ([]Bed, error) {
	if _, err := s.Get(ctx, u, id); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT b.id, b.bed_no, b.active, COALESCE(p.id, 0), COALESCE(p.person_id, 0), COALESCE(pe.name, ''), COALESCE(pe.id_masked, ''),
			COALESCE(p.admitted_on, '')
		FROM institution_beds b
		LEFT JOIN placements p ON p.bed_id = b.id AND p.ended_on = ''
		LEFT JOIN persons pe ON pe.id = p.person_id
		WHERE b.institution_id = $1 AND b.active ORDER BY LENGTH(b.bed_no), b.bed_no`, id)
	if err != nil {
		return nil, fmt.Errorf("institution: beds: %w", err)
	}
	defer rows.Close()
	out := []Bed{}
	for rows.Next() {
		var b Bed
		if err := rows.Scan(&b.ID, &b.No, &b.Active, &b.PlacementID, &b.PersonID, &b.Name, &b.IDMasked, &b.AdmittedOn); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ParseBeds reads bed numbers as typed in a form: numbers or names separated
// by commas, 、 or spaces, and ranges like 1-20 or A01-A20 (same prefix, the
// width of the first number kept).
func ParseBeds(s string) ([]string, error) {
	var out []string
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == '，' || r == '、' || r == ';' || r == '；' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	}) {
		from, to, isRange := strings.Cut(tok, "-")
		if !isRange || from == "" || to == "" {
			out = append(out, tok)
			continue
		}
		pa, na := splitNum(from)
		pb, nb := splitNum(to)
		a, errA := strconv.Atoi(na)
		b, errB := strconv.Atoi(nb)
		if pa != pb || errA != nil || errB != nil || b < a {
			return nil, apperr.Invalid("beds", "invalid_bed_range", "床位号范围“"+tok+"”不正确，应如 1-20 或 A01-A20")
		}
		if b-a >= MaxBeds {
			return nil, apperr.Invalid("beds", "too_many_beds", fmt.Sprintf("一次最多增加%d张床位", MaxBeds))
		}
		for n := a; n <= b; n++ {
			out = append(out, fmt.Sprintf("%s%0*d", pa, len(na), n))
		}
	}
	return out, nil
}

// splitNum splits "A012" into "A" and "012".
func splitNum(s string) (string, string) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[:i], s[i:]
}

func cleanBeds(beds []string) ([]string, error) {
	if len(beds) > MaxBeds {
		return nil, apperr.Invalid("beds", "too_many_beds", fmt.Sprintf("一次最多增加%d张床位", MaxBeds))
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(beds))
	for _, b := range beds {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if utf8.RuneCountInString(b) > 20 {
			return nil, apperr.Invalid("beds", "invalid_bed_no", "床位号不能超过20个字")
		}
		if seen[b] {
			return nil, apperr.Invalid("beds", "duplicate_bed", "床位号“"+b+"”重复")
		}
		seen[b] = true
		out = append(out, b)
	}
	return out, nil
}

func insertBeds(ctx context.Context, tx *sql.Tx, instID int64, beds []string) error {
	for _, b := range beds {
		// a bed removed earlier comes back under its number
		res, err := tx.ExecContext(ctx, `UPDATE institution_beds SET active = TRUE WHERE institution_id = $1 AND bed_no = $2 AND NOT active`, instID, b)
		if err != nil {
			return fmt.Errorf("institution: beds: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			continue
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO institution_beds (institution_id, bed_no) VALUES ($1, $2)`, instID, b)
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("duplicate_bed", "床位号“"+b+"”已存在")
		}
		if err != nil {
			return fmt.Errorf("institution: beds: %w", err)
		}
	}
	return nil
}

// AddBeds adds beds to an institution.
func (s *Service) AddBeds(ctx context.Context, u *auth.User, id int64, beds []string) (int, error) {
	if err := canWrite(u); err != nil {
		return 0, err
	}
	beds, err := cleanBeds(beds)
	if err != nil {
		return 0, err
	}
	if len(beds) == 0 {
		return 0, apperr.Invalid("beds", "beds_required", "请填写要增加的床位号，如 1-20 或 A01、A02")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if i.Beds+len(beds) > MaxBeds {
			return apperr.Invalid("beds", "too_many_beds", fmt.Sprintf("一个机构最多%d张床位", MaxBeds))
		}
		if err := insertBeds(ctx, tx, id, beds); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.beds_add", "institution", fmt.Sprint(id), i.Region, map[string]any{"beds": beds})
	})
	return len(beds), err
}

// RemoveBed takes a free bed out of use (it keeps its history).
func (s *Service) RemoveBed(ctx context.Context, u *auth.User, id, bedID int64) error {
	if err := canWrite(u); err != nil {
		return err
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		i, err := s.get(ctx, tx, u, id)
		if err != nil {
			return err
		}
		var no string
		var busy int
		err = tx.QueryRowContext(ctx, `SELECT b.bed_no, (SELECT COUNT(*) FROM placements p WHERE p.bed_id = b.id AND p.ended_on = '')
			FROM institution_beds b WHERE b.id = $1 AND b.institution_id = $2 AND b.active`, bedID, id).Scan(&no, &busy)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.NotFound("该机构没有这张床位")
		}
		if err != nil {
			return err
		}
		if busy > 0 {
			return apperr.Conflict("bed_occupied", "床位“"+no+"”有人入住，不能撤除")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE institution_beds SET active = FALSE WHERE id = $1`, bedID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "institution.bed_remove", "institution", fmt.Sprint(id), i.Region, map[string]any{"bed": no})
	})
}

// Detail is everything the institution page shows.
type Detail struct {
	Institution *Institution  `json:"institution"`
	Beds        []Bed         `json:"beds"`
	Ratings     []Rating      `json:"ratings"`
	Inspections []*Inspection `json:"inspections"`
	Placements  []Placement   `json:"placements"` // history, newest first
}

// Details loads an institution with its beds, ratings, inspections and
// placement history.
func (s *Service) Details(ctx context.Context, u *auth.User, id int64) (*Detail, error) {
	i, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, err
	}
	d := &Detail{Institution: i}
	if d.Beds, err = s.Beds(ctx, u, id); err != nil {
		return nil, err
	}
	if d.Ratings, err = s.Ratings(ctx, u, id); err != nil {
		return nil, err
	}
	if d.Inspections, err = s.Inspections(ctx, u, id); err != nil {
		return nil, err
	}
	if d.Placements, err = s.Placements(ctx, u, id, true); err != nil {
		return nil, err
	}
	return d, nil
}
