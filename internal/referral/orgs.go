package referral

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Org is one organisation on a county's list.
type Org struct {
	ID           int64     `json:"id"`
	County       string    `json:"county"`
	CountyName   string    `json:"county_name"`
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`
	Department   string    `json:"department,omitempty"`
	Areas        []string  `json:"areas"`
	ContactName  string    `json:"contact_name"`
	ContactPhone string    `json:"contact_phone"`
	AnswerDays   int       `json:"answer_days"`
	Active       bool      `json:"active"`
	CreatedBy    string    `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int       `json:"version"`
	Users        []Member  `json:"users,omitempty"`
}

// Member is a partner officer bound to an organisation.
type Member struct {
	UserID      int64     `json:"user_id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	BoundBy     string    `json:"bound_by"`
	BoundAt     time.Time `json:"bound_at"`
}

// KindLabel names the organisation's kind.
func (o *Org) KindLabel() string { return OrgKindLabel(o.Kind) }

// AreaLabels names the areas the organisation serves.
func (o *Org) AreaLabels() string {
	ls := make([]string, len(o.Areas))
	for i, a := range o.Areas {
		ls[i] = AreaLabel(a)
	}
	return strings.Join(ls, "、")
}

// ServesArea reports whether the organisation serves an area.
func (o *Org) ServesArea(a string) bool {
	for _, x := range o.Areas {
		if x == a {
			return true
		}
	}
	return false
}

// OrgInput is what a county keeps about an organisation.
type OrgInput struct {
	County       string   `json:"county"`
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Department   string   `json:"department"`
	Areas        []string `json:"areas"`
	ContactName  string   `json:"contact_name"`
	ContactPhone string   `json:"contact_phone"`
	AnswerDays   int      `json:"answer_days"`
	Active       bool     `json:"active"`  // update only: a new organisation is active
	Version      int      `json:"version"` // update only
}

func (s *Service) checkOrg(in *OrgInput) error {
	in.Name, in.ContactName, in.ContactPhone = strings.TrimSpace(in.Name), strings.TrimSpace(in.ContactName), strings.TrimSpace(in.ContactPhone)
	in.County = region.Pad(strings.TrimSpace(in.County))
	if c, ok := s.Tree.Get(in.County); !ok || c.Level != region.County {
		return apperr.Invalid("county", "not_county", "请选择一个县（市、区）：协同单位名单按县设立")
	}
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 60 {
		return apperr.Invalid("name", "required", "请填写单位名称（不超过60字）")
	}
	if !known(OrgKinds, in.Kind) {
		return apperr.Invalid("kind", "invalid_kind", "单位类别应为：成员单位、慈善组织或社会工作服务机构")
	}
	if in.Kind == "department" {
		if !known(Departments, in.Department) {
			return apperr.Invalid("department", "invalid_department", "请选择成员单位所属部门")
		}
	} else {
		in.Department = ""
	}
	seen := map[string]bool{}
	var areas []string
	for _, a := range in.Areas {
		if !known(Areas, a) {
			return apperr.Invalid("areas", "invalid_area", "未知的救助帮扶领域："+a)
		}
		if !seen[a] {
			seen[a] = true
			areas = append(areas, a)
		}
	}
	if len(areas) == 0 {
		return apperr.Invalid("areas", "required", "请至少选择一个该单位承办的救助帮扶领域")
	}
	sort.Slice(areas, func(i, j int) bool { return areaIndex(areas[i]) < areaIndex(areas[j]) })
	in.Areas = areas
	if in.ContactName == "" {
		return apperr.Invalid("contact_name", "required", "请填写联系人")
	}
	if !validPhone(in.ContactPhone) {
		return apperr.Invalid("contact_phone", "invalid_phone", "联系电话应为7-20位数字（可含“-”）")
	}
	if in.AnswerDays < 1 || in.AnswerDays > 60 {
		return apperr.Invalid("answer_days", "invalid_days", "答复期限应为1-60个工作日")
	}
	return nil
}

func areaIndex(a string) int {
	for i, o := range Areas {
		if o.Value == a {
			return i
		}
	}
	return len(Areas)
}

func validPhone(p string) bool {
	n := 0
	for _, c := range p {
		switch {
		case c >= '0' && c <= '9':
			n++
		case c == '-':
		default:
			return false
		}
	}
	return n >= 7 && n <= 20
}

// mayKeep reports whether u keeps the list of county: ReferralOrgs and the
// county inside u's region.
func mayKeep(u *auth.User, county string) error {
	if !u.Can(auth.ReferralOrgs) {
		return apperr.Forbidden("您没有维护协同单位名单的权限")
	}
	if !region.Within(u.Region, county) {
		return apperr.Forbidden("只能维护本辖区县（市、区）的协同单位名单")
	}
	return nil
}

// CreateOrg adds an organisation to a county's list.
func (s *Service) CreateOrg(ctx context.Context, u *auth.User, in OrgInput) (*Org, error) {
	if err := s.checkOrg(&in); err != nil {
		return nil, err
	}
	if err := mayKeep(u, in.County); err != nil {
		return nil, err
	}
	var id int64
	now := s.now()
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO referral_orgs (county_code, name, kind, department, contact_name, contact_phone, answer_days, active, created_by, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,TRUE,$8,$9,$9) RETURNING id`,
			in.County, in.Name, in.Kind, in.Department, in.ContactName, in.ContactPhone, in.AnswerDays, u.Username, now).Scan(&id)
		if db.IsUniqueViolation(err) {
			return apperr.Invalid("name", "duplicate_name", "本县已有同名协同单位")
		}
		if err != nil {
			return fmt.Errorf("referral: create organisation: %w", err)
		}
		if err := setAreas(ctx, tx, id, in.Areas); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "referral.org.create", "referral_org", fmt.Sprint(id), in.County,
			map[string]any{"name": in.Name, "kind": in.Kind, "areas": in.Areas, "answer_days": in.AnswerDays})
	})
	if err != nil {
		return nil, err
	}
	return s.Org(ctx, u, id)
}

func setAreas(ctx context.Context, tx *sql.Tx, id int64, areas []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM referral_org_areas WHERE org_id = $1`, id); err != nil {
		return fmt.Errorf("referral: organisation areas: %w", err)
	}
	for _, a := range areas {
		if _, err := tx.ExecContext(ctx, `INSERT INTO referral_org_areas (org_id, area) VALUES ($1,$2)`, id, a); err != nil {
			return fmt.Errorf("referral: organisation areas: %w", err)
		}
	}
	return nil
}

// UpdateOrg changes an organisation (areas, contact, deadline, active) at the
// version the caller saw.
func (s *Service) UpdateOrg(ctx context.Context, u *auth.User, id int64, in OrgInput) (*Org, error) {
	old, err := s.Org(ctx, u, id)
	if err != nil {
		return nil, err
	}
	in.County = old.County // an organisation does not move between counties
	if err := s.checkOrg(&in); err != nil {
		return nil, err
	}
	if err := mayKeep(u, old.County); err != nil {
		return nil, err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE referral_orgs SET name = $1, kind = $2, department = $3, contact_name = $4, contact_phone = $5, answer_days = $6,
			active = $7, updated_at = $8, version = version + 1 WHERE id = $9 AND version = $10`,
			in.Name, in.Kind, in.Department, in.ContactName, in.ContactPhone, in.AnswerDays, in.Active, s.now(), id, in.Version)
		if db.IsUniqueViolation(err) {
			return apperr.Invalid("name", "duplicate_name", "本县已有同名协同单位")
		}
		if err != nil {
			return fmt.Errorf("referral: update organisation: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Stale()
		}
		if err := setAreas(ctx, tx, id, in.Areas); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "referral.org.update", "referral_org", fmt.Sprint(id), old.County,
			map[string]any{"before": map[string]any{"name": old.Name, "areas": old.Areas, "answer_days": old.AnswerDays, "active": old.Active},
				"after": map[string]any{"name": in.Name, "areas": in.Areas, "answer_days": in.AnswerDays, "active": in.Active}})
	})
	if err != nil {
		return nil, err
	}
	return s.Org(ctx, u, id)
}

const orgCols = `o.id, o.county_code, o.name, o.kind, o.department, o.contact_name, o.contact_phone, o.answer_days, o.active, o.created_by, o.created_at, o.updated_at, o.version`

func (s *Service) scanOrg(row interface{ Scan(...any) error }) (*Org, error) {
	var o Org
	if err := row.Scan(&o.ID, &o.County, &o.Name, &o.Kind, &o.Department, &o.ContactName, &o.ContactPhone, &o.AnswerDays, &o.Active,
		&o.CreatedBy, &o.CreatedAt, &o.UpdatedAt, &o.Version); err != nil {
		return nil, err
	}
	o.CountyName = s.Tree.FullName(o.County)
	return &o, nil
}

// visibleCounty reports whether u may see the list of county: the county lies
// in u's region, or u works below it (a township, a partner of that county).
func visibleCounty(u *auth.User, county string) bool {
	return region.Within(u.Region, county) || region.Within(county, u.Region)
}

var errOrgNotFound = apperr.NotFound("该协同单位不存在或不在您的辖区内")

// Org loads one organisation the caller may see, with its areas and users.
func (s *Service) Org(ctx context.Context, u *auth.User, id int64) (*Org, error) {
	return s.org(ctx, s.DB, u, id)
}

func (s *Service) org(ctx context.Context, q db.Querier, u *auth.User, id int64) (*Org, error) {
	o, err := s.scanOrg(q.QueryRowContext(ctx, `SELECT `+orgCols+` FROM referral_orgs o WHERE o.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("referral: load organisation: %w", err)
	}
	if !visibleCounty(u, o.County) {
		return nil, errOrgNotFound
	}
	if err := s.fillAreas(ctx, q, []*Org{o}); err != nil {
		return nil, err
	}
	err = db.Each(ctx, q, `SELECT b.user_id, us.username, us.display_name, b.bound_by, b.bound_at FROM referral_org_users b JOIN users us ON us.id = b.user_id
		WHERE b.org_id = $1 ORDER BY us.username`, []any{id}, func(scan func(...any) error) error {
		var m Member
		if err := scan(&m.UserID, &m.Username, &m.DisplayName, &m.BoundBy, &m.BoundAt); err != nil {
			return err
		}
		o.Users = append(o.Users, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referral: organisation users: %w", err)
	}
	return o, nil
}

func (s *Service) fillAreas(ctx context.Context, q db.Querier, orgs []*Org) error {
	if len(orgs) == 0 {
		return nil
	}
	byID := map[int64]*Org{}
	ph := make([]string, len(orgs))
	args := make([]any, len(orgs))
	for i, o := range orgs {
		byID[o.ID] = o
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = o.ID
	}
	err := db.Each(ctx, q, `SELECT org_id, area FROM referral_org_areas WHERE org_id IN (`+strings.Join(ph, ",")+`)`, args, func(scan func(...any) error) error {
		var id int64
		var a string
		if err := scan(&id, &a); err != nil {
			return err
		}
		byID[id].Areas = append(byID[id].Areas, a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("referral: organisation areas: %w", err)
	}
	for _, o := range orgs {
		sort.Slice(o.Areas, func(i, j int) bool { return areaIndex(o.Areas[i]) < areaIndex(o.Areas[j]) })
	}
	return nil
}

// OrgFilter narrows a list of organisations.
type OrgFilter struct {
	County     string // a county code; "" = every county in the caller's region
	Area       string // serving this area
	ActiveOnly bool
}

// Orgs lists organisations the caller may see: those of the counties in the
// caller's region, or of the county the caller works in.
func (s *Service) Orgs(ctx context.Context, u *auth.User, f OrgFilter) ([]*Org, error) {
	q := `SELECT ` + orgCols + ` FROM referral_orgs o WHERE `
	var args []any
	if f.County != "" {
		c := region.Pad(f.County)
		if !visibleCounty(u, c) {
			return nil, apperr.Forbidden("只能查看本辖区的协同单位名单")
		}
		args = append(args, c)
		q += `o.county_code = $1`
	} else if region.LevelOf(u.Region) > region.County {
		args = append(args, countyOf(u.Region))
		q += `o.county_code = $1`
	} else {
		args = append(args, u.Scope())
		q += `o.county_code LIKE $1 || '%'`
	}
	if f.ActiveOnly {
		q += ` AND o.active`
	}
	if f.Area != "" {
		args = append(args, f.Area)
		q += fmt.Sprintf(` AND EXISTS (SELECT 1 FROM referral_org_areas a WHERE a.org_id = o.id AND a.area = $%d)`, len(args))
	}
	q += ` ORDER BY o.county_code, o.id`
	out := []*Org{}
	err := db.Each(ctx, s.DB, q, args, func(scan func(...any) error) error {
		o, err := s.scanOrg(rowScanner(scan))
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referral: list organisations: %w", err)
	}
	return out, s.fillAreas(ctx, s.DB, out)
}

type rowScanner func(...any) error

func (r rowScanner) Scan(dest ...any) error { return r(dest...) }

// Candidate is a partner officer of a county not yet bound to an organisation.
type Candidate struct {
	UserID      int64  `json:"user_id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
}

// Candidates lists the county's partner officers bound to no organisation.
func (s *Service) Candidates(ctx context.Context, u *auth.User, orgID int64) ([]Candidate, error) {
	o, err := s.Org(ctx, u, orgID)
	if err != nil {
		return nil, err
	}
	var out []Candidate
	err = db.Each(ctx, s.DB, `SELECT us.id, us.username, us.display_name FROM users us WHERE us.role = $1 AND us.region_code = $2 AND us.active
		AND NOT EXISTS (SELECT 1 FROM referral_org_users b WHERE b.user_id = us.id) ORDER BY us.username`,
		[]any{string(auth.PartnerOfficer), o.County}, func(scan func(...any) error) error {
			var c Candidate
			if err := scan(&c.UserID, &c.Username, &c.DisplayName); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("referral: candidates: %w", err)
	}
	return out, nil
}

// Bind attaches an existing partner officer of the organisation's county to
// it; a user belongs to one organisation only.
func (s *Service) Bind(ctx context.Context, u *auth.User, orgID int64, username string) (*Org, error) {
	o, err := s.Org(ctx, u, orgID)
	if err != nil {
		return nil, err
	}
	if err := mayKeep(u, o.County); err != nil {
		return nil, err
	}
	username = strings.TrimSpace(username)
	var uid int64
	var role, code string
	var active bool
	err = s.DB.QueryRowContext(ctx, `SELECT id, role, region_code, active FROM users WHERE username = $1`, username).Scan(&uid, &role, &code, &active)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !region.Within(u.Region, code) {
		return nil, apperr.Invalid("username", "unknown_user", "用户不存在或不在您的辖区内；请先在“用户管理”中创建该账号")
	}
	if err != nil {
		return nil, fmt.Errorf("referral: bind: %w", err)
	}
	if auth.Role(role) != auth.PartnerOfficer {
		return nil, apperr.Invalid("username", "not_partner", "只能绑定角色为“协同部门/社会组织经办人”的用户")
	}
	if code != o.County {
		return nil, apperr.Invalid("username", "other_county", "该用户不属于本单位所在县（市、区）")
	}
	if !active {
		return nil, apperr.Invalid("username", "inactive", "该用户已停用")
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT o.name FROM referral_org_users b JOIN referral_orgs o ON o.id = b.org_id WHERE b.user_id = $1`, uid).Scan(&other)
		if err == nil {
			return apperr.Conflict("already_bound", "该用户已属于“"+other+"”，一个账号只能属于一个协同单位；请先在该单位解除绑定")
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("referral: bind: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO referral_org_users (user_id, org_id, bound_by, bound_at) VALUES ($1,$2,$3,$4)`, uid, orgID, u.Username, s.now())
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("already_bound", "该用户已属于其他协同单位")
		}
		if err != nil {
			return fmt.Errorf("referral: bind: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "referral.org.bind", "referral_org", fmt.Sprint(orgID), o.County, map[string]any{"user": username})
	})
	if err != nil {
		return nil, err
	}
	return s.Org(ctx, u, orgID)
}

// Unbind detaches a user from the organisation.
func (s *Service) Unbind(ctx context.Context, u *auth.User, orgID, userID int64) (*Org, error) {
	o, err := s.Org(ctx, u, orgID)
	if err != nil {
		return nil, err
	}
	if err := mayKeep(u, o.County); err != nil {
		return nil, err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM referral_org_users WHERE user_id = $1 AND org_id = $2`, userID, orgID)
		if err != nil {
			return fmt.Errorf("referral: unbind: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.NotFound("该用户不属于本单位")
		}
		return audit.Append(ctx, tx, u.Actor(), "referral.org.unbind", "referral_org", fmt.Sprint(orgID), o.County, map[string]any{"user_id": userID})
	})
	if err != nil {
		return nil, err
	}
	return s.Org(ctx, u, orgID)
}

// OrgOf is the organisation a partner officer is bound to; a NotFound error
// with a plain instruction when there is none.
func (s *Service) OrgOf(ctx context.Context, u *auth.User) (*Org, error) {
	var id int64
	err := s.DB.QueryRowContext(ctx, `SELECT org_id FROM referral_org_users WHERE user_id = $1`, u.ID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Forbidden("您的账号尚未绑定协同单位，请联系县级民政部门在“协同单位”中绑定")
	}
	if err != nil {
		return nil, fmt.Errorf("referral: organisation of user: %w", err)
	}
	return s.Org(ctx, u, id)
}
