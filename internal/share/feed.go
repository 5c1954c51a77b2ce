package share

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"jiuzhu/internal/db"
)

// The change feed reads casework's own history of entitlement amounts,
// entitlement_changes: every approval of a regular entitlement (0 → amount),
// every review or appeal that changes the amount, and every stop, exit or
// revocation (amount → 0) is written there in the transaction that decides
// it, so the feed never disagrees with the payroll that reads the same rows.
// Its id is the feed's sequence number. Temporary assistance is a one-off
// grant, not an entitlement, and is left out.

// MaxChanges is the most entries one read of the feed returns.
const MaxChanges = 1000

func (s *Service) settle() time.Duration {
	switch {
	case s.Settle < 0:
		return 0
	case s.Settle > 0:
		return s.Settle
	case s.DB.Dialect == db.Postgres:
		return DefaultSettle
	}
	return 0
}

// Changes returns the feed after a cursor inside a region prefix, and the
// cursor to ask from next (which may pass entries the caller may not see).
func (s *Service) Changes(ctx context.Context, after int64, limit int, regionPrefix string) ([]Change, int64, error) {
	return s.changes(ctx, after, limit, regionPrefix, "")
}

// Head is the newest sequence number of the feed the caller may start after.
func (s *Service) Head(ctx context.Context) (int64, error) {
	var head sql.NullInt64
	// the head of a settled feed: a subscription starting there must not pass
	// an entry still to commit
	cond, args := "", []any{}
	if st := s.settle(); st > 0 {
		cond, args = " WHERE created_at <= $1", []any{s.now().Add(-st)}
	}
	if err := s.DB.QueryRowContext(ctx, `SELECT MAX(id) FROM entitlement_changes`+cond, args...).Scan(&head); err != nil {
		return 0, fmt.Errorf("share: feed head: %w", err)
	}
	return head.Int64, nil
}

func (s *Service) changes(ctx context.Context, after int64, limit int, prefix, programme string) ([]Change, int64, error) {
	if limit <= 0 || limit > MaxChanges {
		limit = MaxChanges
	}
	if after < 0 {
		after = 0
	}
	settle := s.settle()
	horizon := s.now().Add(-settle)
	var out []Change
	next := after
	young := false
	// prev_after is the amount the previous row of the same entitlement left:
	// a row after a stop (0) that pays again is a new start, whatever its
	// amount_before says (a stop keeps the last amount on the case).
	err := db.Each(ctx, s.DB, `SELECT ec.id, ec.created_at, ec.effective_from, ec.amount_before, ec.amount_after,
			COALESCE((SELECT p.amount_after FROM entitlement_changes p WHERE p.case_id = ec.case_id AND p.id < ec.id ORDER BY p.id DESC LIMIT 1), -1),
			c.id, c.programme, c.region_code, c.applicant_id, pe.id_masked, pe.name, pe.id_enc
		FROM entitlement_changes ec
		JOIN cases c ON c.id = ec.case_id
		JOIN persons pe ON pe.id = c.applicant_id
		WHERE ec.id > $1 AND c.region_code LIKE $2 || '%' AND c.programme <> 'temporary' AND ($3 = '' OR c.programme = $3)
		ORDER BY ec.id LIMIT $4`, []any{after, prefix, programme, limit},
		func(scan func(...any) error) error {
			if young {
				return nil
			}
			var ch Change
			var before, afterAmt, prev int64
			if err := scan(&ch.Seq, &ch.At, &ch.Effective, &before, &afterAmt, &prev, &ch.CaseID, &ch.Programme, &ch.RegionCode, &ch.PersonID,
				&ch.IDMasked, &ch.Name, &ch.idEnc); err != nil {
				return err
			}
			if settle > 0 && ch.At.After(horizon) {
				// not yet settled: stop here so nothing before it can be passed
				young = true
				return nil
			}
			next = ch.Seq
			switch {
			case afterAmt == 0 && (prev == 0 || prev == -1 && before == 0):
				return nil // ended already, or never paid
			case afterAmt == 0:
				ch.Kind = "ended"
			case before == 0 || prev == 0:
				ch.Kind = "started"
			case before != afterAmt:
				ch.Kind = "changed"
			default:
				return nil // nothing a consumer would notice
			}
			ch.AmountFen = afterAmt
			if len(ch.Effective) == 7 {
				ch.Effective += "-01"
			}
			out = append(out, ch)
			return nil
		})
	if err != nil {
		return nil, after, fmt.Errorf("share: changes: %w", err)
	}
	return out, next, nil
}
