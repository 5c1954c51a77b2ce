package share

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/db"
)

// Subscription pushes the change feed of a key's region to a callback URL.
// Its cursor is the last sequence number the callback acknowledged (2xx):
// a batch is re-sent until acknowledged, and never after.
type Subscription struct {
	ID              int64      `json:"id"`
	CallbackURL     string     `json:"callback_url"`
	Programme       string     `json:"programme"`
	Cursor          int64      `json:"cursor"`
	Status          string     `json:"status"`
	Attempts        int        `json:"attempts"`
	NextAttemptAt   time.Time  `json:"next_attempt_at"`
	LastError       string     `json:"last_error,omitempty"`
	Delivered       int64      `json:"delivered"`
	LastDeliveredAt *time.Time `json:"last_delivered_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	clientID        int64
}

const subCols = `id, client_id, callback_url, programme, feed_cursor, status, attempts, next_attempt_at, last_error, delivered, last_delivered_at, created_at`

func scanSub(row interface{ Scan(...any) error }) (*Subscription, error) {
	var sub Subscription
	var last sql.NullTime
	if err := row.Scan(&sub.ID, &sub.clientID, &sub.CallbackURL, &sub.Programme, &sub.Cursor, &sub.Status, &sub.Attempts, &sub.NextAttemptAt,
		&sub.LastError, &sub.Delivered, &last, &sub.CreatedAt); err != nil {
		return nil, err
	}
	if last.Valid {
		t := last.Time
		sub.LastDeliveredAt = &t
	}
	return &sub, nil
}

// MaxSubscriptions is how many active subscriptions one key may hold.
const MaxSubscriptions = 20

// errNoCallback refuses a subscription of a key the administrator registered
// no callback URL for.
var errNoCallback = &apperr.Error{Status: http.StatusForbidden, Code: "callback_not_registered", Field: "callback_url",
	Message: "该密钥未登记回调地址，不能订阅变动推送；请联系数据共享管理员为密钥登记回调地址"}

// UnderCallback checks a subscriber's callback URL against the one the
// administrator registered on the key: the same scheme and host (and port),
// and a path at or below the registered path, so that the key holder cannot
// make the platform post to any other host (an internal address, this
// server itself). Empty is the registered URL itself.
func UnderCallback(registered, raw string) (string, error) {
	if strings.TrimSpace(registered) == "" {
		return "", errNoCallback
	}
	reg, err := url.Parse(registered)
	if err != nil {
		return "", errNoCallback
	}
	if strings.TrimSpace(raw) == "" {
		return registered, nil
	}
	cb, err := ValidCallback(raw)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(cb)
	outside := apperr.Invalid("callback_url", "callback_outside", "回调地址必须是该密钥登记的回调地址（"+registered+"）或其下级路径")
	if u.Scheme != reg.Scheme || !strings.EqualFold(u.Host, reg.Host) || u.Fragment != "" {
		return "", outside
	}
	// "." and ".." (also percent-encoded: Path is decoded) would climb out of
	// the registered path once the receiving server resolves them
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "", outside
		}
	}
	base := strings.TrimRight(reg.Path, "/")
	if p := strings.TrimRight(u.Path, "/"); p != base && !strings.HasPrefix(p, base+"/") {
		return "", outside
	}
	return cb, nil
}

// Subscribe starts a subscription. The callback must lie under the key's
// registered callback URL ("" is that URL). after is where the feed starts:
// nil is its current head (only changes from now on).
func (s *Service) Subscribe(ctx context.Context, c *Client, callback, programme string, after *int64) (*Subscription, error) {
	if !c.Allows(ScopeChanges) {
		return nil, ScopeExceeded(ScopeChanges)
	}
	cb, err := UnderCallback(c.CallbackURL, callback)
	if err != nil {
		return nil, err
	}
	if err := CheckProgramme(programme); err != nil {
		return nil, err
	}
	var cursor int64
	if after != nil {
		if *after < 0 {
			return nil, apperr.Invalid("after", "invalid_after", "after 应为非负整数")
		}
		cursor = *after
	} else if cursor, err = s.Head(ctx); err != nil {
		return nil, err
	}
	now := s.now().Truncate(time.Microsecond)
	var id int64
	// the count and the insert under one per-key lock: parallel requests
	// cannot both see 19 and make 21
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, fmt.Sprintf("share.subscriptions:%d", c.ID)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM share_subscriptions WHERE client_id = $1 AND status = 'active'`, c.ID).Scan(&n); err != nil {
			return fmt.Errorf("share: count subscriptions: %w", err)
		}
		if n >= MaxSubscriptions {
			return apperr.Conflict("too_many_subscriptions", fmt.Sprintf("每个密钥最多 %d 个有效订阅", MaxSubscriptions))
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO share_subscriptions (client_id, callback_url, programme, feed_cursor, status, next_attempt_at, created_at)
			VALUES ($1,$2,$3,$4,'active',$5,$5) RETURNING id`, c.ID, cb, programme, cursor, now).Scan(&id); err != nil {
			return fmt.Errorf("share: subscribe: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.subscription(ctx, c, id)
}

func (s *Service) subscription(ctx context.Context, c *Client, id int64) (*Subscription, error) {
	sub, err := scanSub(s.DB.QueryRowContext(ctx, `SELECT `+subCols+` FROM share_subscriptions WHERE id = $1 AND client_id = $2`, id, c.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.NotFound("没有找到该订阅")
	}
	if err != nil {
		return nil, fmt.Errorf("share: subscription: %w", err)
	}
	return sub, nil
}

// Subscriptions lists a key's subscriptions, active first.
func (s *Service) Subscriptions(ctx context.Context, c *Client) ([]Subscription, error) {
	out := []Subscription{}
	err := db.Each(ctx, s.DB, `SELECT `+subCols+` FROM share_subscriptions WHERE client_id = $1 ORDER BY status, id`, []any{c.ID},
		func(scan func(...any) error) error {
			sub, err := scanSub(scanFunc(scan))
			if err != nil {
				return err
			}
			out = append(out, *sub)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("share: subscriptions: %w", err)
	}
	return out, nil
}

// Unsubscribe cancels one of the key's subscriptions.
func (s *Service) Unsubscribe(ctx context.Context, c *Client, id int64) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE share_subscriptions SET status = 'cancelled', cancelled_at = $1 WHERE id = $2 AND client_id = $3 AND status = 'active'`,
		s.now(), id, c.ID)
	if err != nil {
		return fmt.Errorf("share: unsubscribe: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.NotFound("没有找到该有效订阅")
	}
	return nil
}

func (s *Service) subscriptionCreate(r *http.Request, c *Client) (reply, error) {
	var in struct {
		CallbackURL string `json:"callback_url"`
		Programme   string `json:"programme"`
		After       *int64 `json:"after"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return reply{}, apperr.Invalid("", "bad_request", "请求体应为 JSON：{\"callback_url\": \"https://…\", \"programme\": \"\"}")
	}
	sub, err := s.Subscribe(r.Context(), c, in.CallbackURL, in.Programme, in.After)
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusCreated, body: sub}, nil
}

func (s *Service) subscriptionList(r *http.Request, c *Client) (reply, error) {
	subs, err := s.Subscriptions(r.Context(), c)
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: map[string]any{"subscriptions": subs}}, nil
}

func (s *Service) subscriptionDelete(r *http.Request, c *Client) (reply, error) {
	raw := r.PathValue("id")
	if raw == "" {
		raw = r.URL.Query().Get("id")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || id <= 0 {
		return reply{}, apperr.Invalid("id", "invalid_id", "请指明要取消的订阅编号")
	}
	if err := s.Unsubscribe(r.Context(), c, id); err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusNoContent}, nil
}

// DeliveryBatch is how many changes one callback request carries at most.
const DeliveryBatch = 200

// backoff is the wait after the n-th failure in a row: 30 s doubling, at most an hour.
func backoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Deliver makes one pass over the subscriptions that are due: each gets the
// next batch of its feed; a 2xx answer moves its cursor past the batch, any
// other outcome schedules a retry with backoff. It returns how many changes
// were acknowledged.
func (s *Service) Deliver(ctx context.Context) (int, error) {
	now := s.now().Truncate(time.Microsecond)
	var due []*Subscription
	err := db.Each(ctx, s.DB, `SELECT `+prefixCols("s.", subCols)+` FROM share_subscriptions s JOIN share_clients c ON c.id = s.client_id
		WHERE s.status = 'active' AND c.status = 'active' AND s.next_attempt_at <= $1 ORDER BY s.next_attempt_at, s.id LIMIT 500`, []any{now},
		func(scan func(...any) error) error {
			sub, err := scanSub(scanFunc(scan))
			if err != nil {
				return err
			}
			due = append(due, sub)
			return nil
		})
	if err != nil {
		return 0, fmt.Errorf("share: due subscriptions: %w", err)
	}
	total := 0
	for _, sub := range due {
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		n, err := s.deliverOne(ctx, sub, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// lease is how long a worker owns a subscription while it delivers: another
// server's worker skips it meanwhile.
const lease = 2 * time.Minute

func (s *Service) deliverOne(ctx context.Context, sub *Subscription, now time.Time) (int, error) {
	// claim the subscription: only the worker whose update matches delivers
	res, err := s.DB.ExecContext(ctx, `UPDATE share_subscriptions SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND status = 'active'`,
		now.Add(lease), sub.ID, sub.NextAttemptAt)
	if err != nil {
		return 0, fmt.Errorf("share: claim subscription: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil
	}
	c, err := scanClient(s.DB.QueryRowContext(ctx, `SELECT `+clientCols+` FROM share_clients WHERE id = $1`, sub.clientID))
	if err != nil {
		return 0, fmt.Errorf("share: subscription key: %w", err)
	}
	// checked again on every delivery: a subscription made before callbacks
	// had to lie under the registered URL must not post anywhere else
	if _, err := UnderCallback(c.CallbackURL, sub.CallbackURL); err != nil {
		if _, err := s.DB.ExecContext(ctx, `UPDATE share_subscriptions SET status = 'cancelled', cancelled_at = $1, last_error = $2 WHERE id = $3`,
			s.now(), "回调地址不在该密钥登记的回调地址之下，订阅已停止", sub.ID); err != nil {
			return 0, fmt.Errorf("share: stop subscription: %w", err)
		}
		if s.Log != nil {
			s.Log.Warn("share: subscription stopped, callback outside the registered URL", "subscription", sub.ID)
		}
		return 0, s.LogCall(ctx, c, "subscriptions.deliver", "callback_outside", 0)
	}
	chs, next, err := s.changes(ctx, sub.Cursor, DeliveryBatch, c.Scope(), sub.Programme)
	if err != nil {
		return 0, err
	}
	if len(chs) == 0 {
		// nothing to send; the cursor may still pass entries outside the filter
		_, err := s.DB.ExecContext(ctx, `UPDATE share_subscriptions SET feed_cursor = $1, next_attempt_at = $2 WHERE id = $3 AND feed_cursor = $4`,
			next, now, sub.ID, sub.Cursor)
		if err != nil {
			return 0, fmt.Errorf("share: advance subscription: %w", err)
		}
		return 0, nil
	}
	body := struct {
		SubscriptionID int64       `json:"subscription_id"`
		Cursor         int64       `json:"cursor"`
		Changes        []changeOut `json:"changes"`
	}{sub.ID, next, make([]changeOut, len(chs))}
	for i, ch := range chs {
		body.Changes[i] = s.changeView(c, ch)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	outcome := s.post(ctx, sub, b, next)
	if outcome == "" {
		_, err = s.DB.ExecContext(ctx, `UPDATE share_subscriptions SET feed_cursor = $1, attempts = 0, last_error = '', next_attempt_at = $2,
			delivered = delivered + $3, last_delivered_at = $2 WHERE id = $4 AND feed_cursor = $5`, next, s.now(), len(chs), sub.ID, sub.Cursor)
		if err != nil {
			return 0, fmt.Errorf("share: acknowledge delivery: %w", err)
		}
		if err := s.LogCall(ctx, c, "subscriptions.deliver", "ok", len(chs)); err != nil {
			return 0, err
		}
		return len(chs), nil
	}
	attempts := sub.Attempts + 1
	_, err = s.DB.ExecContext(ctx, `UPDATE share_subscriptions SET attempts = $1, last_error = $2, next_attempt_at = $3 WHERE id = $4`,
		attempts, outcome, s.now().Add(backoff(attempts)), sub.ID)
	if err != nil {
		return 0, fmt.Errorf("share: record failed delivery: %w", err)
	}
	if s.Log != nil {
		s.Log.Warn("share: delivery failed", "subscription", sub.ID, "attempts", attempts, "outcome", outcome)
	}
	return 0, s.LogCall(ctx, c, "subscriptions.deliver", "failed", 0)
}

// post sends one batch; "" means acknowledged.
func (s *Service) post(ctx context.Context, sub *Subscription, body []byte, cursor int64) string {
	client := s.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return "请求无法创建"
	}
	req.Header.Set("Content-Type", "application/json")
	// the same batch re-sent carries the same id, so a receiver can drop a
	// duplicate of a batch whose acknowledgement was lost
	req.Header.Set("X-Jiuzhu-Delivery", fmt.Sprintf("%d-%d-%d", sub.ID, sub.Cursor, cursor))
	resp, err := client.Do(req)
	if err != nil {
		return "无法连接回调地址"
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Sprintf("回调地址返回 HTTP %d", resp.StatusCode)
	}
	return ""
}

// Run delivers subscriptions until ctx ends, one pass every few seconds,
// and writes the aggregate audit entries of refused authentication failures.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if _, err := s.Deliver(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.Error("share: delivery pass failed", "err", err)
		}
		s.FlushFailures(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
