// Package audit keeps the append-only, SM3 hash-chained log of every write and
// every read of sensitive personal data. Each entry's hash covers the previous
// entry's hash, so removing or altering any row breaks the chain from there on.
package audit

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm3"

	"jiuzhu/internal/db"
)

// Actor is who does something: a user, or the system itself.
type Actor struct {
	UserID   int64
	Username string
	Role     string
	Region   string
}

// System is the actor of start-up and batch work.
var System = Actor{Username: "system", Role: "system", Region: "360000000000"}

// Entry is one row of the log.
type Entry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	UserID     int64     `json:"user_id"`
	Username   string    `json:"username"`
	Role       string    `json:"role"`
	UserRegion string    `json:"user_region"`
	Action     string    `json:"action"`
	ObjectType string    `json:"object_type"`
	ObjectID   string    `json:"object_id"`
	Region     string    `json:"region"`
	Detail     string    `json:"detail"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
}

func (e *Entry) computeHash() string {
	h := sm3.New()
	for _, f := range []string{e.PrevHash, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano),
		strconv.FormatInt(e.UserID, 10), e.Username, e.Role, e.UserRegion, e.Action, e.ObjectType, e.ObjectID, e.Region, e.Detail} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Append records one entry. detail is marshalled to JSON (before/after, query, ...).
func Append(ctx context.Context, q db.Querier, a Actor, action, objectType, objectID, region string, detail any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("audit: marshal detail: %w", err)
	}
	e := Entry{At: time.Now().UTC().Truncate(time.Microsecond), UserID: a.UserID, Username: a.Username, Role: a.Role,
		UserRegion: a.Region, Action: action, ObjectType: objectType, ObjectID: objectID, Region: region, Detail: string(d)}
	// The head row is the serialisation point: its row lock orders concurrent appends.
	if err := q.QueryRowContext(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&e.Seq, &e.PrevHash); err != nil {
		return fmt.Errorf("audit: advance head: %w", err)
	}
	e.Hash = e.computeHash()
	if _, err := q.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, e.Hash); err != nil {
		return fmt.Errorf("audit: update head: %w", err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO audit_log (seq, at, user_id, username, role, user_region, action, object_type, object_id, region_code, detail, prev_hash, hash)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		e.Seq, e.At, e.UserID, e.Username, e.Role, e.UserRegion, e.Action, e.ObjectType, e.ObjectID, e.Region, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("audit: insert: %w", err)
	}
	return nil
}

// Record appends one entry for an audited read and returns once it is
// committed. Concurrent reads are group-committed: one transaction appends
// every entry waiting at that moment, so twenty people opening household pages
// do not queue one by one on the chain's head row.
func Record(ctx context.Context, d *db.DB, a Actor, action, objectType, objectID, region string, detail any) error {
	r := &pending{a: a, action: action, objectType: objectType, objectID: objectID, region: region, detail: detail, done: make(chan error, 1)}
	w, _ := writers.LoadOrStore(d, &groupWriter{})
	return w.(*groupWriter).submit(ctx, d, r)
}

var writers sync.Map // *db.DB → *groupWriter

const maxBatch = 1000

type pending struct {
	a                                    Actor
	action, objectType, objectID, region string
	detail                               any
	done                                 chan error
}

type groupWriter struct {
	mu      sync.Mutex
	queue   []*pending
	running bool
}

func (g *groupWriter) submit(ctx context.Context, d *db.DB, r *pending) error {
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if !g.running {
		g.running = true
		go g.run(d)
	}
	g.mu.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes batches until the queue is empty, then stops; the next submit
// starts it again.
func (g *groupWriter) run(d *db.DB) {
	for {
		g.mu.Lock()
		batch := g.queue
		if len(batch) > maxBatch { // PostgreSQL takes at most 65,535 parameters a statement
			batch = batch[:maxBatch]
		}
		g.queue = g.queue[len(batch):]
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := d.Tx(ctx, func(tx *sql.Tx) error { return appendBatch(ctx, tx, batch) })
		cancel()
		for _, r := range batch {
			r.done <- err
		}
	}
}

// appendBatch chains a batch of entries with one read and one write of the
// head row and one multi-row insert.
func appendBatch(ctx context.Context, tx *sql.Tx, batch []*pending) error {
	var seq int64
	var prev string
	if err := tx.QueryRowContext(ctx, `UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq - $1, hash`, len(batch)).Scan(&seq, &prev); err != nil {
		return fmt.Errorf("audit: advance head: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var sb strings.Builder
	sb.WriteString(`INSERT INTO audit_log (seq, at, user_id, username, role, user_region, action, object_type, object_id, region_code, detail, prev_hash, hash) VALUES `)
	args := make([]any, 0, 13*len(batch))
	for i, r := range batch {
		detail, err := json.Marshal(r.detail)
		if err != nil {
			return fmt.Errorf("audit: marshal detail: %w", err)
		}
		seq++
		e := Entry{Seq: seq, At: now, UserID: r.a.UserID, Username: r.a.Username, Role: r.a.Role, UserRegion: r.a.Region, Action: r.action,
			ObjectType: r.objectType, ObjectID: r.objectID, Region: r.region, Detail: string(detail), PrevHash: prev}
		e.Hash = e.computeHash()
		prev = e.Hash
		if i > 0 {
			sb.WriteString(",")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11, n+12, n+13)
		args = append(args, e.Seq, e.At, e.UserID, e.Username, e.Role, e.UserRegion, e.Action, e.ObjectType, e.ObjectID, e.Region, e.Detail, e.PrevHash, e.Hash)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, prev); err != nil {
		return fmt.Errorf("audit: update head: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("audit: insert batch: %w", err)
	}
	return nil
}

// VerifyResult is the outcome of a chain check.
type VerifyResult struct {
	Checked     int64
	FirstBroken int64 // 0 when the chain is whole
	Problem     string
}

// Verify walks the whole chain in sequence order, in batches, and names the
// first broken entry: a changed row, a missing row, or a head that does not match.
func Verify(ctx context.Context, d *db.DB, progress func(n int64)) (VerifyResult, error) {
	var res VerifyResult
	prev, last := "", int64(0)
	for {
		rows, err := d.QueryContext(ctx, `SELECT seq, at, COALESCE(user_id, 0), username, role, user_region, action, object_type, object_id, region_code, detail, prev_hash, hash
			FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000`, last)
		if err != nil {
			return res, fmt.Errorf("audit: verify: %w", err)
		}
		n := 0
		for rows.Next() {
			var e Entry
			if err := rows.Scan(&e.Seq, &e.At, &e.UserID, &e.Username, &e.Role, &e.UserRegion, &e.Action, &e.ObjectType, &e.ObjectID, &e.Region, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
				rows.Close()
				return res, fmt.Errorf("audit: verify: %w", err)
			}
			n++
			switch {
			case e.Seq != last+1:
				res.FirstBroken, res.Problem = last+1, fmt.Sprintf("entry %d is missing", last+1)
			case e.PrevHash != prev:
				res.FirstBroken, res.Problem = e.Seq, fmt.Sprintf("entry %d does not link to entry %d", e.Seq, last)
			case e.computeHash() != e.Hash:
				res.FirstBroken, res.Problem = e.Seq, fmt.Sprintf("entry %d was altered (hash mismatch)", e.Seq)
			}
			if res.FirstBroken != 0 {
				rows.Close()
				return res, nil
			}
			prev, last = e.Hash, e.Seq
			res.Checked++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, err
		}
		if progress != nil {
			progress(res.Checked)
		}
		if n == 0 {
			break
		}
	}
	var headSeq int64
	var headHash string
	if err := d.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return res, fmt.Errorf("audit: read head: %w", err)
	}
	if headSeq != last || headHash != prev {
		res.FirstBroken, res.Problem = last+1, fmt.Sprintf("the log ends at entry %d but the head says %d: entries were removed from the end", last, headSeq)
	}
	return res, nil
}

// Query filters the log for the auditor's search page. Scope is the searcher's
// region prefix: entries about objects outside it are not returned.
type Query struct {
	ScopePrefix string
	Username    string
	Action      string
	ObjectType  string
	ObjectID    string
	From, To    time.Time // To exclusive; zero = open
	BeforeSeq   int64     // keyset paging, 0 = newest
	Limit       int
}

// Search returns entries newest first.
func Search(ctx context.Context, d *db.DB, q Query) ([]Entry, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 100
	}
	var where []string
	args := []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("(region_code LIKE ? || '%' OR user_region LIKE ? || '%')", q.ScopePrefix)
	if q.Username != "" {
		add("username = ?", q.Username)
	}
	if q.Action != "" {
		add("action LIKE ? || '%'", q.Action)
	}
	if q.ObjectType != "" {
		add("object_type = ?", q.ObjectType)
	}
	if q.ObjectID != "" {
		add("object_id = ?", q.ObjectID)
	}
	if !q.From.IsZero() {
		add("at >= ?", q.From.UTC())
	}
	if !q.To.IsZero() {
		add("at < ?", q.To.UTC())
	}
	if q.BeforeSeq > 0 {
		add("seq < ?", q.BeforeSeq)
	}
	args = append(args, q.Limit)
	rows, err := d.QueryContext(ctx, `SELECT seq, at, COALESCE(user_id,0), username, role, user_region, action, object_type, object_id, region_code, detail, prev_hash, hash
		FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("audit: search: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.UserID, &e.Username, &e.Role, &e.UserRegion, &e.Action, &e.ObjectType, &e.ObjectID, &e.Region, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
