// Package credit keeps the social-credit records of confirmed assistance
// fraud: who, what, how much, which decision and when, with appeal and
// expiry, exported to or fetched by the credit platform.
//
// A record is exportable while it is not overturned on appeal and not past
// its expiry date. Every change (creation, appeal, outcome, expiry) takes a
// new feed_seq, so the credit platform fetching "everything after N" learns
// of records that stopped being exportable as well as of new ones. A record
// that merely reaches its expiry date changes nothing in its row, so Feed
// first re-sequences the records that expired since they took their
// position (seq_day): the platform then fetches them as not exportable.
package credit

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
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the credit_* tables.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// DefaultYears is how long a record stays exportable unless shortened: the
// credit platforms publish serious dishonesty for three years [B: Jiangxi's
// period for assistance fraud was not found].
const DefaultYears = 3

// Record states.
const (
	StateActive     = "active"
	StateAppealed   = "appealed"   // an appeal is filed and not yet decided; still exported, marked
	StateOverturned = "overturned" // the appeal succeeded: never exported again
)

// Record is one credit record.
type Record struct {
	ID            int64  `json:"id"`
	Seq           int64  `json:"seq"`
	Region        string `json:"region"`
	County        string `json:"county"`
	PersonID      int64  `json:"-"`
	Name          string `json:"name_masked"`
	IDMasked      string `json:"id_masked"`
	IDNumber      string `json:"id_number,omitempty"` // only in the platform's feed
	What          string `json:"what"`
	AmountFen     int64  `json:"amount_fen"`
	DecisionRef   string `json:"decision_ref"`
	DecidedOn     string `json:"decided_on"`
	ExpiresOn     string `json:"expires_on"`
	State         string `json:"state"`
	AppealFiledOn string `json:"appeal_filed_on,omitempty"`
	AppealGrounds string `json:"appeal_grounds,omitempty"`
	AppealOutcome string `json:"appeal_outcome,omitempty"`
	AppealNote    string `json:"appeal_note,omitempty"`
	Exportable    bool   `json:"exportable"`
	CreatedBy     string `json:"created_by"`
	Version       int    `json:"version"`
	idEnc         string
}

// New is what a confirmed fraud decision records.
type New struct {
	PersonID    int64
	What        string
	AmountFen   int64
	DecisionRef string
	DecidedOn   string // YYYY-MM-DD
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) today() string {
	return s.now().In(calendar.China).Format(time.DateOnly)
}

// StateLabel names a state in Chinese.
func StateLabel(st string) string {
	return map[string]string{StateActive: "有效", StateAppealed: "申诉中", StateOverturned: "申诉成立已撤销"}[st]
}

// CreateTx records a credit record inside the caller's transaction (the
// decision that produces it commits with it). The person's sealed ID is
// copied, never opened.
func (s *Service) CreateTx(ctx context.Context, tx *sql.Tx, a audit.Actor, in New) (int64, error) {
	if strings.TrimSpace(in.What) == "" || strings.TrimSpace(in.DecisionRef) == "" {
		return 0, apperr.Invalid("what", "what_required", "失信记录须写明失信行为和决定文号")
	}
	if in.AmountFen < 0 {
		return 0, apperr.Invalid("amount_fen", "invalid_amount", "金额不能为负数")
	}
	decided, err := time.Parse(time.DateOnly, in.DecidedOn)
	if err != nil {
		return 0, apperr.Invalid("decided_on", "invalid_date", "决定日期格式应为 YYYY-MM-DD")
	}
	var reg, name, masked, enc string
	err = tx.QueryRowContext(ctx, `SELECT region_code, name, id_masked, id_enc FROM persons WHERE id = $1`, in.PersonID).Scan(&reg, &name, &masked, &enc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.NotFound("人员不存在")
	}
	if err != nil {
		return 0, err
	}
	seq, err := s.nextSeq(ctx, tx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO credit_records (person_id, region_code, county_code, name_masked, id_masked, id_enc, what, amount_fen, decision_ref,
			decided_on, expires_on, state, feed_seq, seq_day, created_by, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$16) RETURNING id`,
		in.PersonID, reg, region.Pad(reg[:6]), casework.MaskName(name), masked, enc, in.What, in.AmountFen, in.DecisionRef,
		in.DecidedOn, decided.AddDate(DefaultYears, 0, 0).Format(time.DateOnly), StateActive, seq, s.today(), a.Username, now).Scan(&id)
	if db.IsUniqueViolation(err) {
		return 0, apperr.Conflict("duplicate_decision", "该决定已记入失信记录")
	}
	if err != nil {
		return 0, fmt.Errorf("credit: create: %w", err)
	}
	return id, audit.Append(ctx, tx, a, "credit.create", "credit_record", strconv.FormatInt(id, 10), reg,
		map[string]any{"decision_ref": in.DecisionRef, "amount_fen": in.AmountFen})
}

// nextSeq takes the next feed position; the lock keeps two writers from
// taking the same one on PostgreSQL (SQLite writers are serialised anyway).
func (s *Service) nextSeq(ctx context.Context, tx *sql.Tx) (int64, error) {
	if err := s.DB.LockKey(ctx, tx, "credit_feed"); err != nil {
		return 0, err
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(feed_seq), 0) + 1 FROM credit_records`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("credit: feed position: %w", err)
	}
	return seq, nil
}

const cols = `id, feed_seq, region_code, county_code, person_id, name_masked, id_masked, id_enc, what, amount_fen, decision_ref, decided_on, expires_on, state,
	appeal_filed_on, appeal_grounds, appeal_outcome, appeal_note, created_by, version`

func (s *Service) scan(scan func(...any) error) (*Record, error) {
	var r Record
	if err := scan(&r.ID, &r.Seq, &r.Region, &r.County, &r.PersonID, &r.Name, &r.IDMasked, &r.idEnc, &r.What, &r.AmountFen, &r.DecisionRef, &r.DecidedOn,
		&r.ExpiresOn, &r.State, &r.AppealFiledOn, &r.AppealGrounds, &r.AppealOutcome, &r.AppealNote, &r.CreatedBy, &r.Version); err != nil {
		return nil, err
	}
	r.Exportable = r.State != StateOverturned && r.ExpiresOn > s.today()
	return &r, nil
}

// Filter narrows a list.
type Filter struct {
	State      string // "", a state, or "exportable"
	Limit      int
	Exportable bool
}

// List returns the records in the user's scope, newest first.
func (s *Service) List(ctx context.Context, u *auth.User, f Filter) ([]*Record, error) {
	if !u.Can(auth.CreditRead) {
		return nil, apperr.Forbidden("您的角色不能查看失信记录")
	}
	return s.list(ctx, u.Scope(), f)
}

func (s *Service) list(ctx context.Context, prefix string, f Filter) ([]*Record, error) {
	q := `SELECT ` + cols + ` FROM credit_records WHERE region_code LIKE $1 || '%'`
	args := []any{prefix}
	if f.Exportable {
		q += ` AND state <> 'overturned' AND expires_on > $2`
		args = append(args, s.today())
	} else if f.State != "" {
		q += ` AND state = $2`
		args = append(args, f.State)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	var out []*Record
	err := db.Each(ctx, s.DB, q, args, func(scan func(...any) error) error {
		r, err := s.scan(scan)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// Get loads one record in scope.
func (s *Service) Get(ctx context.Context, u *auth.User, id int64) (*Record, error) {
	if !u.Can(auth.CreditRead) {
		return nil, apperr.Forbidden("您的角色不能查看失信记录")
	}
	var out *Record
	err := db.Each(ctx, s.DB, `SELECT `+cols+` FROM credit_records WHERE id = $1 AND region_code LIKE $2 || '%'`, []any{id, u.Scope()}, func(scan func(...any) error) error {
		var err error
		out, err = s.scan(scan)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, apperr.NotFound("失信记录不存在或不在您的管辖范围内")
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "credit.read", "credit_record", strconv.FormatInt(id, 10), out.Region, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// change applies an update to one record in scope with its version check and
// a new feed position, audited.
func (s *Service) change(ctx context.Context, u *auth.User, id int64, version int, check func(*Record) error, set string, args []any, action string, detail any) (*Record, error) {
	if !u.Can(auth.CreditManage) {
		return nil, apperr.Forbidden("您的角色不能办理失信记录的申诉或期限")
	}
	r, err := s.Get(ctx, u, id)
	if err != nil {
		return nil, err
	}
	// a missing version would skip the check and overwrite a change the
	// caller never saw
	if version <= 0 {
		return nil, apperr.Invalid("version", "version_required", "缺少版本号，请刷新页面后重新提交")
	}
	if version != r.Version {
		return nil, apperr.Stale()
	}
	if err := check(r); err != nil {
		return nil, err
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		seq, err := s.nextSeq(ctx, tx)
		if err != nil {
			return err
		}
		n := len(args)
		all := append(append([]any{}, args...), seq, s.today(), s.now(), id, r.Version)
		res, err := tx.ExecContext(ctx, `UPDATE credit_records SET `+set+fmt.Sprintf(`, feed_seq = $%d, seq_day = $%d, updated_at = $%d, version = version + 1 WHERE id = $%d AND version = $%d`,
			n+1, n+2, n+3, n+4, n+5), all...)
		if err != nil {
			return fmt.Errorf("credit: %s: %w", action, err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return apperr.Stale()
		}
		return audit.Append(ctx, tx, u.Actor(), action, "credit_record", strconv.FormatInt(id, 10), r.Region, detail)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, u, id)
}

// FileAppeal records the person's appeal against a record.
func (s *Service) FileAppeal(ctx context.Context, u *auth.User, id int64, version int, filedOn, grounds string) (*Record, error) {
	return s.change(ctx, u, id, version, func(r *Record) error {
		if r.State != StateActive {
			return apperr.Conflict("credit_state", "该记录正在申诉中或已撤销，不能再次申诉")
		}
		if _, err := time.Parse(time.DateOnly, filedOn); err != nil || filedOn > s.today() {
			return apperr.Invalid("filed_on", "invalid_date", "请填写申诉日期（YYYY-MM-DD，不能晚于今天）")
		}
		if strings.TrimSpace(grounds) == "" {
			return apperr.Invalid("grounds", "grounds_required", "请填写申诉理由")
		}
		return nil
	}, `state = $1, appeal_filed_on = $2, appeal_grounds = $3`, []any{StateAppealed, filedOn, strings.TrimSpace(grounds)}, "credit.appeal", map[string]any{"filed_on": filedOn})
}

// DecideAppeal records the appeal's outcome: upheld keeps the record,
// overturned removes it from every export.
func (s *Service) DecideAppeal(ctx context.Context, u *auth.User, id int64, version int, outcome, note string) (*Record, error) {
	state := map[string]string{"upheld": StateActive, "overturned": StateOverturned}[outcome]
	return s.change(ctx, u, id, version, func(r *Record) error {
		if r.State != StateAppealed {
			return apperr.Conflict("credit_state", "该记录没有待处理的申诉")
		}
		if state == "" {
			return apperr.Invalid("outcome", "invalid_outcome", "请选择申诉结果：维持或撤销")
		}
		if strings.TrimSpace(note) == "" {
			return apperr.Invalid("note", "note_required", "请写明申诉处理意见")
		}
		return nil
	}, `state = $1, appeal_outcome = $2, appeal_note = $3, appeal_by = $4`, []any{state, outcome, strings.TrimSpace(note), u.Username}, "credit.appeal_decide", map[string]any{"outcome": outcome})
}

// SetExpiry moves a record's expiry date, for example when the credit repair
// rules end it early. It cannot be before the decision.
func (s *Service) SetExpiry(ctx context.Context, u *auth.User, id int64, version int, expiresOn, reason string) (*Record, error) {
	return s.change(ctx, u, id, version, func(r *Record) error {
		if _, err := time.Parse(time.DateOnly, expiresOn); err != nil || expiresOn < r.DecidedOn {
			return apperr.Invalid("expires_on", "invalid_date", "到期日期格式应为 YYYY-MM-DD，且不能早于决定日期")
		}
		if strings.TrimSpace(reason) == "" {
			return apperr.Invalid("reason", "reason_required", "请写明调整期限的理由")
		}
		return nil
	}, `expires_on = $1`, []any{expiresOn}, "credit.expiry", map[string]any{"expires_on": expiresOn, "reason_len": utf8.RuneCountInString(strings.TrimSpace(reason))})
}

// Feed returns the records changed after position after (at most limit, in
// order) under regionPrefix, with the full ID number for the credit
// platform's matching, and the position to continue from. A record that is
// no longer exportable (overturned, expired) comes with Exportable false so
// the platform withdraws it. The caller (the sharing API) authenticates and
// audits the platform's call.
func (s *Service) Feed(ctx context.Context, after int64, limit int, regionPrefix string) ([]Record, int64, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if err := s.WithdrawExpired(ctx); err != nil {
		return nil, 0, err
	}
	var out []Record
	next := after
	err := db.Each(ctx, s.DB, `SELECT `+cols+` FROM credit_records WHERE feed_seq > $1 AND region_code LIKE $2 || '%' ORDER BY feed_seq LIMIT `+strconv.Itoa(limit),
		[]any{after, regionPrefix}, func(scan func(...any) error) error {
			r, err := s.scan(scan)
			if err != nil {
				return err
			}
			if r.IDNumber, err = s.Keys.Open(r.idEnc); err != nil {
				return fmt.Errorf("credit: feed record %d: %w", r.ID, err)
			}
			out = append(out, *r)
			next = r.Seq
			return nil
		})
	return out, next, err
}

// WithdrawExpired gives every record that reached its expiry date after it
// took its feed position a new position, so the platform's next fetch brings
// it with Exportable false. A record overturned on appeal already took a
// position when it stopped being exportable. It is idempotent (the new
// seq_day is on or after the expiry date) and safe with concurrent callers:
// the candidates are re-read under the feed lock. Feed runs it first.
func (s *Service) WithdrawExpired(ctx context.Context) error {
	today := s.today()
	const due = `FROM credit_records WHERE state <> 'overturned' AND expires_on <= $1 AND seq_day < expires_on`
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) `+due, today).Scan(&n); err != nil {
		return fmt.Errorf("credit: expired records: %w", err)
	}
	if n == 0 {
		return nil
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		seq, err := s.nextSeq(ctx, tx)
		if err != nil {
			return err
		}
		var ids []int64
		err = db.Each(ctx, tx, `SELECT id `+due+` ORDER BY id`, []any{today}, func(scan func(...any) error) error {
			var id int64
			err := scan(&id)
			ids = append(ids, id)
			return err
		})
		if err != nil {
			return fmt.Errorf("credit: expired records: %w", err)
		}
		if len(ids) == 0 { // a concurrent caller withdrew them first
			return nil
		}
		now := s.now()
		for _, id := range ids {
			// the version stays: nobody edited the record, and a form open on
			// it must still save
			if _, err := tx.ExecContext(ctx, `UPDATE credit_records SET feed_seq = $1, seq_day = $2, updated_at = $3 WHERE id = $4`, seq, today, now, id); err != nil {
				return fmt.Errorf("credit: withdraw expired record %d: %w", id, err)
			}
			seq++
		}
		return audit.Append(ctx, tx, audit.Actor{Username: "system", Role: "system", Region: region.Pad("36")}, "credit.expired", "credit_record", "", region.Pad("36"),
			map[string]any{"records": ids})
	})
}
