// Package auth owns users, roles, region scope, passwords and sessions. A user
// is bound to one region node; everything the user reads or writes is limited
// to the codes under that node.
package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Lockout policy.
const (
	MaxFailedLogins = 5
	LockoutFor      = 15 * time.Minute
	SessionFor      = 8 * time.Hour
)

// User is an account.
type User struct {
	ID           int64
	Username     string
	DisplayName  string
	Role         Role
	Region       string // 12-digit code of the node the user is bound to
	MustChangePW bool
	// Demo accounts have well-known passwords: outside demo mode they must be
	// changed before anything else.
	Demo         bool
	FailedLogins int
	LockedUntil  *time.Time
	Active       bool
	CreatedAt    time.Time
	Version      int
}

// Scope is the region prefix every query of this user is limited to.
func (u *User) Scope() string { return region.ScopePrefix(u.Region) }

// Can reports whether the user's role holds p.
func (u *User) Can(p Permission) bool { return u.Role.Has(p) }

// Actor is the user as the audit log records it.
func (u *User) Actor() audit.Actor {
	return audit.Actor{UserID: u.ID, Username: u.Username, Role: string(u.Role), Region: u.Region}
}

// Service is the auth store.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Now  func() time.Time
	Demo bool // demo mode: demo accounts need no password change
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

const userCols = `id, username, display_name, role, region_code, must_change_pw, demo, failed_logins, locked_until, active, created_at, version`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var locked sql.NullTime
	if err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &u.Region, &u.MustChangePW, &u.Demo, &u.FailedLogins, &locked, &u.Active, &u.CreatedAt, &u.Version); err != nil {
		return nil, err
	}
	if locked.Valid {
		t := locked.Time
		u.LockedUntil = &t
	}
	return &u, nil
}

// NewUser is what an administrator enters.
type NewUser struct {
	Username    string
	DisplayName string
	Role        Role
	Region      string
	Password    string
	// MustChange forces a new password at first login (always, except demo seeding).
	MustChange bool
	Demo       bool
}

// Create adds a user inside the creator's region. creator nil means the system
// (first start, demo seeding).
func (s *Service) Create(ctx context.Context, creator *User, nu NewUser) (*User, error) {
	nu.Username = strings.TrimSpace(nu.Username)
	nu.DisplayName = strings.TrimSpace(nu.DisplayName)
	if !validUsername(nu.Username) {
		return nil, apperr.Invalid("username", "invalid_username", "用户名需为3-32位字母、数字、下划线或点")
	}
	if nu.DisplayName == "" {
		return nil, apperr.Invalid("display_name", "required", "请填写姓名")
	}
	ri, ok := Info(nu.Role)
	if !ok {
		return nil, apperr.Invalid("role", "invalid_role", "未知角色")
	}
	r, ok := s.Tree.Get(nu.Region)
	if !ok || len(nu.Region) != 12 && len(nu.Region) != len(r.Prefix) {
		return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在")
	}
	if !nu.Role.AllowedAt(r.Level) {
		return nil, apperr.Invalid("region", "role_level", fmt.Sprintf("“%s”不能设在%s一级", ri.Label, levelName(r.Level)))
	}
	actor := audit.System
	if creator != nil {
		if !creator.Can(UserAdmin) {
			return nil, apperr.Forbidden("您没有管理用户的权限")
		}
		if !region.Within(creator.Region, r.Code) {
			return nil, apperr.Forbidden("只能在本级及下级行政区划内创建用户")
		}
		actor = creator.Actor()
	}
	if p := PasswordProblem(nu.Password); p != "" {
		return nil, apperr.Invalid("password", "weak_password", p)
	}
	hash := HashPassword(nu.Password)
	now := s.now()
	var createdBy any
	if creator != nil {
		createdBy = creator.ID
	}
	var u *User
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (username, display_name, role, region_code, password_hash, must_change_pw, demo, created_at, created_by)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`, nu.Username, nu.DisplayName, string(nu.Role), r.Code, hash, nu.MustChange, nu.Demo, now, createdBy).Scan(&id)
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("duplicate_username", "用户名已被使用")
		}
		if err != nil {
			return fmt.Errorf("auth: create user: %w", err)
		}
		u = &User{ID: id, Username: nu.Username, DisplayName: nu.DisplayName, Role: nu.Role, Region: r.Code, MustChangePW: nu.MustChange, Demo: nu.Demo, Active: true, CreatedAt: now, Version: 1}
		return audit.Append(ctx, tx, actor, "user.create", "user", fmt.Sprint(id), r.Code,
			map[string]any{"username": nu.Username, "role": nu.Role, "region": r.Code})
	})
	return u, err
}

func levelName(l int) string {
	return [...]string{"", "省", "市", "县（区）", "乡镇（街道）", "村（社区）"}[l]
}

func validUsername(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ByID loads a user without scope (internal use: sessions).
func (s *Service) ByID(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("用户不存在")
	}
	return u, err
}

// Get loads a user that lies inside the viewer's scope.
func (s *Service) Get(ctx context.Context, viewer *User, id int64) (*User, error) {
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1 AND region_code LIKE $2 || '%'`, id, viewer.Scope()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("用户不存在或不在您的管辖范围内")
	}
	return u, err
}

// List returns users inside the viewer's scope, optionally filtered by a
// username/display-name fragment.
func (s *Service) List(ctx context.Context, viewer *User, q string) ([]*User, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE region_code LIKE $1 || '%'
		AND ($2 = '' OR username LIKE '%' || $2 || '%' OR display_name LIKE '%' || $2 || '%') ORDER BY region_code, username LIMIT 500`, viewer.Scope(), q)
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ErrLogin is the one message for every failed login, so it never tells which
// usernames exist.
var ErrLogin = &apperr.Error{Status: 401, Code: "login_failed", Message: "用户名或密码错误"}

// Login checks a password, applies the lockout policy and opens a session.
func (s *Service) Login(ctx context.Context, username, password, ip, ua string) (*Session, *User, error) {
	now := s.now()
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, strings.TrimSpace(username)))
	if errors.Is(err, sql.ErrNoRows) {
		CheckPassword(dummyHash, password) // same work as a real check, so timing does not reveal the username
		return nil, nil, ErrLogin
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: login: %w", err)
	}
	if !u.Active {
		return nil, nil, &apperr.Error{Status: 403, Code: "account_disabled", Message: "该账号已停用，请联系管理员"}
	}
	if u.LockedUntil != nil && u.LockedUntil.After(now) {
		return nil, nil, &apperr.Error{Status: 423, Code: "account_locked",
			Message: fmt.Sprintf("密码错误次数过多，账号已锁定至 %s，请稍后再试或联系管理员解锁", u.LockedUntil.In(cst).Format("15:04"))}
	}
	var hash string
	if err := s.DB.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
		return nil, nil, fmt.Errorf("auth: login: %w", err)
	}
	if !CheckPassword(hash, password) {
		failed := u.FailedLogins + 1
		var lock any
		if failed >= MaxFailedLogins {
			lock, failed = now.Add(LockoutFor), 0
		}
		err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3`, failed, lock, u.ID); err != nil {
				return err
			}
			return audit.Append(ctx, tx, u.Actor(), "auth.login_failed", "user", fmt.Sprint(u.ID), u.Region, map[string]any{"ip": ip, "locked": lock != nil})
		})
		if err != nil {
			return nil, nil, fmt.Errorf("auth: record failed login: %w", err)
		}
		return nil, nil, ErrLogin
	}
	s.forceDemoChange(u)
	sess, err := s.openSession(ctx, u, ip, ua)
	if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

var dummyHash = HashPassword("dummy-password-0")

// cst is China Standard Time for messages shown to people.
var cst = calendar.China

// Session is an open login.
type Session struct {
	Token     string // only ever in the cookie; the database keeps its hash
	CSRF      string
	UserID    int64
	ExpiresAt time.Time
}

func tokenHash(token string) string {
	sum := sm3.Sum([]byte(token))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) openSession(ctx context.Context, u *User, ip, ua string) (*Session, error) {
	now := s.now()
	sess := &Session{Token: randomToken(), CSRF: randomToken(), UserID: u.ID, ExpiresAt: now.Add(SessionFor)}
	if len(ua) > 200 {
		ua = ua[:200]
	}
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, ip, user_agent) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			tokenHash(sess.Token), u.ID, sess.CSRF, now, sess.ExpiresAt, ip, ua); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "auth.login", "user", fmt.Sprint(u.ID), u.Region, map[string]any{"ip": ip})
	})
	if err != nil {
		return nil, fmt.Errorf("auth: open session: %w", err)
	}
	return sess, nil
}

// ErrSessionExpired tells the UI to send the person back to the login page.
var ErrSessionExpired = &apperr.Error{Status: 401, Code: "session_expired", Message: "登录已过期，请重新登录"}

// Authenticate resolves a session token to its session and user.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, *User, error) {
	if token == "" {
		return nil, nil, ErrSessionExpired
	}
	var sess Session
	sess.Token = token
	err := s.DB.QueryRowContext(ctx, `SELECT user_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1`, tokenHash(token)).
		Scan(&sess.UserID, &sess.CSRF, &sess.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !sess.ExpiresAt.After(s.now()) {
		return nil, nil, ErrSessionExpired
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: session: %w", err)
	}
	u, err := s.ByID(ctx, sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	if !u.Active {
		return nil, nil, ErrSessionExpired
	}
	s.forceDemoChange(u)
	return &sess, u, nil
}

func (s *Service) forceDemoChange(u *User) {
	if u.Demo && !s.Demo {
		u.MustChangePW = true
	}
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, token string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash(token))
	return err
}

// ChangePassword sets a user's own new password after checking the old one.
func (s *Service) ChangePassword(ctx context.Context, u *User, old, new string) error {
	var hash string
	if err := s.DB.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
		return fmt.Errorf("auth: change password: %w", err)
	}
	if !CheckPassword(hash, old) {
		return apperr.Invalid("old_password", "wrong_password", "原密码不正确")
	}
	if p := PasswordProblem(new); p != "" {
		return apperr.Invalid("new_password", "weak_password", p)
	}
	if old == new {
		return apperr.Invalid("new_password", "same_password", "新密码不能与原密码相同")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		// A demo account that gets its own password stops being a demo account.
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, must_change_pw = FALSE, demo = FALSE, version = version + 1 WHERE id = $2`, HashPassword(new), u.ID); err != nil {
			return fmt.Errorf("auth: change password: %w", err)
		}
		return audit.Append(ctx, tx, u.Actor(), "user.password_change", "user", fmt.Sprint(u.ID), u.Region, nil)
	})
}

// AdminUpdate is what an administrator may change on a user inside their scope.
type AdminUpdate struct {
	Version     int
	Active      *bool
	Unlock      bool
	NewPassword string // reset: the user must change it at next login
}

// Update applies an administrator's change with optimistic locking.
func (s *Service) Update(ctx context.Context, admin *User, id int64, up AdminUpdate) error {
	if !admin.Can(UserAdmin) {
		return apperr.Forbidden("您没有管理用户的权限")
	}
	target, err := s.Get(ctx, admin, id)
	if err != nil {
		return err
	}
	if target.ID == admin.ID && up.Active != nil && !*up.Active {
		return apperr.Invalid("active", "self_disable", "不能停用自己的账号")
	}
	sets, args := []string{"version = version + 1"}, []any{}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	detail := map[string]any{}
	if up.Active != nil {
		add("active", *up.Active)
		detail["active"] = *up.Active
	}
	if up.Unlock {
		add("failed_logins", 0)
		add("locked_until", nil)
		detail["unlock"] = true
	}
	if up.NewPassword != "" {
		if p := PasswordProblem(up.NewPassword); p != "" {
			return apperr.Invalid("new_password", "weak_password", p)
		}
		add("password_hash", HashPassword(up.NewPassword))
		add("must_change_pw", true)
		detail["password_reset"] = true
	}
	args = append(args, id, up.Version)
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE users SET %s WHERE id = $%d AND version = $%d`, strings.Join(sets, ", "), len(args)-1, len(args)), args...)
		if err != nil {
			return fmt.Errorf("auth: update user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		if up.Active != nil && !*up.Active || up.NewPassword != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, admin.Actor(), "user.update", "user", fmt.Sprint(id), target.Region, detail)
	})
}
