package verify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/region"
)

// BatchOptions choose what a batch re-check covers.
type BatchOptions struct {
	Sources []string // empty: every source
	// AfterCounty, when set, is called after each county's tasks are
	// committed; an error stops the batch there (tests inject crashes).
	AfterCounty func(county string) error
}

// BatchSummary is what a batch re-check found, by source and by county.
type BatchSummary struct {
	ID         int64         `json:"id"`
	Status     string        `json:"status"`
	Scope      string        `json:"scope"`
	Resumed    bool          `json:"resumed"`
	Households int           `json:"households"`
	Persons    int           `json:"persons"`
	Scanned    int64         `json:"scanned"`
	Matched    int64         `json:"matched"`
	Tasks      int64         `json:"tasks"`
	Carried    int           `json:"carried"` // findings with a task still open from an earlier batch
	Sources    []SourceCount `json:"sources"`
	Counties   []CountyCount `json:"counties"`
	StartedAt  time.Time     `json:"started_at"`
	Elapsed    string        `json:"elapsed,omitempty"`
	// seconds spent loading the recipients, streaming the extracts, and
	// evaluating and writing tasks
	LoadSeconds float64 `json:"load_seconds"`
	ScanSeconds float64 `json:"scan_seconds"`
	TaskSeconds float64 `json:"task_seconds"`
}

// SourceCount is one extract's part in a batch.
type SourceCount struct {
	Label    string `json:"label"`
	DataDate string `json:"data_date"`
	Scanned  int64  `json:"scanned"`
	Matched  int64  `json:"matched"`
	Findings int    `json:"findings"`
}

// CountyCount is a county's findings by kind.
type CountyCount struct {
	Code   string         `json:"code"`
	Name   string         `json:"name"`
	Tasks  int            `json:"tasks"`
	ByKind map[string]int `json:"by_kind"`
}

// Batch re-checks every current recipient household in the caller's scope
// against the extracts in force: the households' ID hashes go into a hash
// table, the extracts are streamed once, and each finding becomes a task for
// the household's township. An interrupted batch of the same scope and
// sources resumes with the same extracts and skips the counties whose tasks
// were committed.
func (s *Service) Batch(ctx context.Context, u *auth.User, opts BatchOptions) (*BatchSummary, error) {
	if !u.Can(auth.VerifyBatch) {
		return nil, apperr.Forbidden("无权发起批量复核")
	}
	for _, src := range opts.Sources {
		if _, ok := SourceByName(src); !ok {
			return nil, apperr.Invalid("source", "unknown_source", "未知的数据来源："+src)
		}
	}
	srcs := slices.Clone(opts.Sources)
	slices.Sort(srcs)
	srcKey := strings.Join(srcs, ",")
	scope := u.Scope()
	start := time.Now()
	sum := &BatchSummary{Scope: scope, Status: "running"}
	var extracts []extractRef
	var checkpoint string
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, "verify.batch"); err != nil {
			return err
		}
		var ids string
		err := tx.QueryRowContext(ctx, `SELECT id, extracts, checkpoint, started_at FROM verify_batches WHERE status = 'running' AND scope = $1 AND sources = $2 ORDER BY id DESC LIMIT 1`,
			scope, srcKey).Scan(&sum.ID, &ids, &checkpoint, &sum.StartedAt)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if sum.ID != 0 {
			sum.Resumed = true
			extracts, err = s.extractsByID(ctx, tx, ids)
			return err
		}
		all, err := s.current(ctx, tx, nil)
		if err != nil {
			return err
		}
		for _, e := range all {
			if len(srcs) == 0 || slices.Contains(srcs, e.Source) {
				extracts = append(extracts, e)
			}
		}
		if len(extracts) == 0 {
			return apperr.Conflict("no_extracts", "所选来源还没有现行的部门数据")
		}
		idList := make([]string, len(extracts))
		for i, e := range extracts {
			idList[i] = strconv.FormatInt(e.ID, 10)
		}
		sum.StartedAt = s.now()
		if err := tx.QueryRowContext(ctx, `INSERT INTO verify_batches (sources, extracts, status, scope, started_by, started_at) VALUES ($1, $2, 'running', $3, $4, $5) RETURNING id`,
			srcKey, strings.Join(idList, ","), scope, u.Username, sum.StartedAt).Scan(&sum.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.batch.start", "verify_batch", strconv.FormatInt(sum.ID, 10), u.Region,
			map[string]any{"sources": srcKey, "extracts": idList})
	})
	if err != nil {
		return nil, err
	}

	// the recipients
	ix := newRecipientIndex(1 << 16)
	today := s.now()
	rs, err := s.loadRecipients(ctx, scope, today.Format(time.DateOnly), ix)
	if err != nil {
		return nil, err
	}
	ix.finish()
	sum.Households, sum.Persons = len(rs.hh), len(ix.refs)
	sum.LoadSeconds = time.Since(start).Seconds()
	scanStart := time.Now()

	// one pass over the extracts
	paths := make([]string, len(extracts))
	for i, e := range extracts {
		paths[i] = s.files().path(e.Stored)
	}
	res, err := ix.scan(ctx, paths)
	if err != nil {
		return nil, fmt.Errorf("verify: batch %d: %w", sum.ID, err)
	}
	sum.ScanSeconds = time.Since(scanStart).Seconds()
	taskStart := time.Now()
	for i, e := range extracts {
		sum.Scanned += res.scanned[i]
		sum.Matched += res.matched[i]
		sum.Sources = append(sum.Sources, SourceCount{Label: e.Label(), DataDate: e.DataDate, Scanned: res.scanned[i], Matched: res.matched[i]})
	}
	perCounty, err := s.findings(ctx, today, rs, ix, res.hits, extracts, sum)
	if err != nil {
		return nil, err
	}
	counties := make([]string, 0, len(perCounty))
	for c := range perCounty {
		counties = append(counties, c)
	}
	slices.Sort(counties)
	for _, county := range counties {
		cc := CountyCount{Code: county, Name: s.Tree.FullName(county), ByKind: map[string]int{}}
		for _, t := range perCounty[county] {
			cc.ByKind[t.f.Kind]++
		}
		cc.Tasks = len(perCounty[county])
		sum.Counties = append(sum.Counties, cc)
		if county <= checkpoint {
			continue // committed before an interruption
		}
		carried, err := s.writeTasks(ctx, sum.ID, county, perCounty[county])
		if err != nil {
			return nil, fmt.Errorf("verify: batch %d county %s: %w", sum.ID, county, err)
		}
		sum.Carried += carried
		if opts.AfterCounty != nil {
			if err := opts.AfterCounty(county); err != nil {
				return nil, err
			}
		}
	}
	sum.Tasks, err = scalar[int64](ctx, s.DB, `SELECT COUNT(*) FROM verify_tasks WHERE batch_id = $1`, sum.ID)
	if err != nil {
		return nil, err
	}
	sum.Status = "done"
	sum.TaskSeconds = time.Since(taskStart).Seconds()
	sum.Elapsed = time.Since(start).Round(time.Millisecond).String()
	summary, _ := json.Marshal(sum)
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE verify_batches SET status = 'done', recipients = $1, scanned = $2, matched = $3, tasks = $4, summary = $5, finished_at = $6 WHERE id = $7`,
			sum.Persons, sum.Scanned, sum.Matched, sum.Tasks, string(summary), s.now(), sum.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.batch.done", "verify_batch", strconv.FormatInt(sum.ID, 10), u.Region,
			map[string]any{"scanned": sum.Scanned, "matched": sum.Matched, "tasks": sum.Tasks})
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// findings groups the hits by household (a counting sort on the household
// index) and applies the rules on every core; households with findings are
// evaluated again with their members' names, and returned by county.
func (s *Service) findings(ctx context.Context, today time.Time, rs *recipients, ix *recipientIndex, hits []hit, extracts []extractRef, sum *BatchSummary) (map[string][]pendingTask, error) {
	start := make([]int32, len(rs.hh)+1)
	for _, h := range hits {
		start[ix.refs[h.ref].hh+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	grouped := make([]found, len(hits))
	next := slices.Clone(start[:len(rs.hh)])
	for _, h := range hits {
		ref := ix.refs[h.ref]
		grouped[next[ref.hh]] = found{Item: h.item, Member: int(ref.member), Ref: &extracts[h.extract]}
		next[ref.hh]++
	}
	// the rule parameters, resolved once per county and hukou
	limits := s.newLimits(today)
	limitsOf := func(h *household) Limits { return limits.m[region.Pad(h.Region[:6])+h.Hukou] }
	for hi := range rs.hh {
		if start[hi] == start[hi+1] {
			continue
		}
		if _, err := limits.get(ctx, region.Pad(rs.hh[hi].region[:6]), rs.hh[hi].hukou); err != nil {
			return nil, err
		}
	}
	workers := runtime.GOMAXPROCS(0)
	flagged := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for hi := w; hi < len(rs.hh); hi += workers {
				items := grouped[start[hi]:start[hi+1]]
				if len(items) == 0 {
					continue
				}
				h := rs.household(hi, nil)
				if _, fs := evaluate(h, items, limitsOf(h)); len(fs) > 0 {
					flagged[w] = append(flagged[w], hi)
				}
			}
		})
	}
	wg.Wait()
	var with []int
	for _, f := range flagged {
		with = append(with, f...)
	}
	slices.Sort(with)
	ids := make([]int64, len(with))
	for i, hi := range with {
		ids[i] = rs.hh[hi].id
	}
	names, err := s.memberNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(extracts))
	for i, e := range extracts {
		labels[i] = e.Label()
	}
	perCounty := map[string][]pendingTask{}
	for _, hi := range with {
		items := grouped[start[hi]:start[hi+1]]
		h := rs.household(hi, names)
		_, fs := evaluate(h, items, limitsOf(h))
		county := region.Pad(h.Region[:6])
		for _, f := range fs {
			perCounty[county] = append(perCounty[county], pendingTask{h: h, f: f, items: items})
			for i, l := range labels {
				if slices.Contains(f.Sources, l) {
					sum.Sources[i].Findings++
				}
			}
		}
	}
	return perCounty, nil
}

type pendingTask struct {
	h     *household
	f     Finding
	items []found
}

// taskEvidence is what a township sees of a finding: the finding and the
// department items behind it, with their data dates (details stay sealed in
// the extracts; a household request shows them).
type taskEvidence struct {
	Finding Finding        `json:"finding"`
	Items   []evidenceItem `json:"items"`
}

type evidenceItem struct {
	Member   string `json:"member"`
	Source   string `json:"source"`
	DataDate string `json:"data_date"`
	Kind     string `json:"kind"`
	Amount   int64  `json:"amount_fen"`
	Date     string `json:"date"`
}

// writeTasks commits one county's tasks with the checkpoint, skipping
// findings whose task from an earlier batch is still open.
func (s *Service) writeTasks(ctx context.Context, batchID int64, county string, tasks []pendingTask) (int, error) {
	carried := 0
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		carried = 0
		rows, err := tx.QueryContext(ctx, `SELECT household_id, kind FROM verify_tasks WHERE county_code = $1 AND status <> 'closed' AND batch_id <> $2`, county, batchID)
		if err != nil {
			return err
		}
		open := map[string]bool{}
		for rows.Next() {
			var hh int64
			var kind string
			if err := rows.Scan(&hh, &kind); err != nil {
				rows.Close()
				return err
			}
			open[strconv.FormatInt(hh, 10)+kind] = true
		}
		rows.Close()
		now := s.now()
		const cols = 9
		var args []any
		flush := func() error {
			if len(args) == 0 {
				return nil
			}
			var q strings.Builder
			q.WriteString(`INSERT INTO verify_tasks (batch_id, household_id, region_code, county_code, case_id, kind, sources, evidence_enc, created_at) VALUES `)
			for r := range len(args) / cols {
				if r > 0 {
					q.WriteByte(',')
				}
				q.WriteByte('(')
				for c := range cols {
					if c > 0 {
						q.WriteByte(',')
					}
					fmt.Fprintf(&q, "$%d", r*cols+c+1)
				}
				q.WriteByte(')')
			}
			q.WriteString(` ON CONFLICT (batch_id, household_id, kind) DO NOTHING`)
			_, err := tx.ExecContext(ctx, q.String(), args...)
			args = args[:0]
			return err
		}
		for _, t := range tasks {
			if open[strconv.FormatInt(t.h.ID, 10)+t.f.Kind] {
				carried++
				continue
			}
			ev := taskEvidence{Finding: t.f}
			for _, it := range t.items {
				if slices.Contains(t.f.Sources, it.Ref.Label()) {
					ev.Items = append(ev.Items, evidenceItem{Member: t.h.Members[it.Member].Name, Source: it.Ref.Label(), DataDate: it.Ref.DataDate,
						Kind: it.Kind, Amount: it.AmountFen, Date: it.Date})
				}
			}
			b, _ := json.Marshal(ev)
			var caseID any
			if t.h.CaseID != 0 {
				caseID = t.h.CaseID
			}
			args = append(args, batchID, t.h.ID, t.h.Region, county, caseID, t.f.Kind, strings.Join(t.f.Sources, "、"), s.Keys.Seal(string(b)), now)
			if len(args) == 200*cols {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE verify_batches SET checkpoint = $1 WHERE id = $2`, county, batchID)
		return err
	})
	return carried, err
}

func (s *Service) extractsByID(ctx context.Context, tx *sql.Tx, ids string) ([]extractRef, error) {
	var out []extractRef
	for _, id := range strings.Split(ids, ",") {
		var e extractRef
		if err := tx.QueryRowContext(ctx, `SELECT id, source, provider, data_date, stored, rows, imported_at FROM verify_extracts WHERE id = $1`, id).
			Scan(&e.ID, &e.Source, &e.Provider, &e.DataDate, &e.Stored, &e.Rows, &e.Imported); err != nil {
			return nil, fmt.Errorf("verify: extract %s of the interrupted batch: %w", id, err)
		}
		out = append(out, e)
	}
	return out, nil
}
