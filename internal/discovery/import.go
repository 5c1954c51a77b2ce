package discovery

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// ImportInput is one event file as a department delivers it.
type ImportInput struct {
	Kind     string
	Source   string // the sending department; the layout's usual sender when empty
	FileName string
	Body     []byte
}

// ImportResult is the report of an import attempt (file or API batch).
type ImportResult struct {
	ImportID   int64  `json:"import_id"`
	Outcome    string `json:"outcome"` // loaded | refused
	Message    string `json:"message"`
	Rows       int    `json:"rows"`
	BadRows    int    `json:"bad_rows"`
	Stored     int    `json:"stored"`     // new events kept
	Duplicates int    `json:"duplicates"` // already received before
	Unmatched  int    `json:"unmatched"`  // kept, the person is not in the registry
	Ignored    int    `json:"ignored"`    // not kept: not in the registry and of no use for anyone served, or registered outside the importer's region
	// Errors say, by line, only what is wrong with a row's format: whether
	// the person of a row is registered is not for the importing department
	// to learn (it lacks RegistryRead), so the kept, duplicate and ignored
	// rows are given as counts only.
	Errors []RowError `json:"errors,omitempty"`
	Items  int        `json:"items"` // worklist items the rules found in this import's events
}

// event is a validated event on its way into the store.
type event struct {
	line   int
	kind   string
	id     string
	key    string
	date   string
	amount int64
	attr   string
	region string
	detail map[string]string
}

func (s *Service) table(u *auth.User, l *Layout) *Table {
	return &Table{Label: l.Label, Columns: l.Columns, Key: l.Key, Today: s.today(),
		Valid: func(code string) bool {
			_, ok := s.Tree.Get(code)
			return ok && region.Within(u.Region, code)
		},
		Check: func(row Row) (string, string) {
			id, err := idcard.Parse(row[l.ID], s.today())
			if err != nil {
				return "", err.Error()
			}
			date := row[l.Date]
			if date < id.BirthDate.Format(time.DateOnly) {
				return colLabel(l, l.Date), "日期早于当事人的出生日期"
			}
			if l.Kind == KindBirth {
				child, err := idcard.Parse(row["child_id_number"], s.today())
				if err != nil {
					return colLabel(l, "child_id_number"), err.Error()
				}
				if child.BirthDate.Format(time.DateOnly) != date {
					return colLabel(l, "birth_date"), "出生日期与新生儿身份证号中的出生日期不一致"
				}
				if child.Number == id.Number {
					return colLabel(l, "child_id_number"), "新生儿与父（母）身份证号相同"
				}
			}
			return "", ""
		}}
}

func colLabel(l *Layout, name string) string {
	for _, c := range l.Columns {
		if c.Name == name {
			return c.Label
		}
	}
	return name
}

func toEvent(l *Layout, row Row, line int, fallbackRegion string) event {
	e := event{line: line, kind: l.Kind, id: row[l.ID], date: row[l.Date], attr: row[l.Attr], region: row["region_code"]}
	if e.region == "" {
		e.region = fallbackRegion
	}
	if l.Amount != "" && row[l.Amount] != "" {
		e.amount, _ = strconv.ParseInt(row[l.Amount], 10, 64)
	}
	key := []string{l.Kind}
	for _, k := range l.Key {
		key = append(key, row[k])
	}
	e.key = strings.Join(key, "\x00")
	for _, c := range l.Columns {
		if c.Type == ColID || row[c.Name] == "" {
			continue
		}
		if e.detail == nil {
			e.detail = map[string]string{}
		}
		v := row[c.Name]
		switch c.Type {
		case ColCode:
			v = c.Codes[v]
		case ColYuan:
			n, _ := strconv.ParseInt(v, 10, 64)
			v = fmt.Sprintf("%d.%02d", n/100, n%100)
		}
		e.detail[c.Label] = v
	}
	return e
}

func checkSource(source, fallback string) (string, error) {
	source = strings.TrimSpace(source)
	if source == "" {
		source = fallback
	}
	if len(source) > 100 || !strings.ContainsFunc(source, func(r rune) bool { return r > ' ' }) {
		return "", apperr.Invalid("source", "bad_source", "请填写报送部门（不超过 100 个字符）")
	}
	return source, nil
}

// Import validates an event file and, when every row is valid, keeps its
// events and runs the rules over them. A file with any bad row, a wrong
// layout or an unknown kind is refused whole with its row report and
// changes nothing but the import log.
func (s *Service) Import(ctx context.Context, u *auth.User, in ImportInput) (*ImportResult, error) {
	if !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权导入部门事件")
	}
	l, ok := LayoutOf(in.Kind)
	if !ok {
		return nil, apperr.Invalid("kind", "unknown_kind", "未知的事件类型："+in.Kind)
	}
	source, err := checkSource(in.Source, l.Department)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in.Body)
	res := &ImportResult{Outcome: "refused"}
	tr, err := s.table(u, l).Read(in.FileName, in.Body)
	res.Rows, res.BadRows, res.Errors = tr.Count, tr.BadRows, tr.Errors
	var events []event
	switch {
	case err != nil:
		res.Message = err.Error()
	case tr.BadRows > 0:
		res.Message = fmt.Sprintf("共 %d 行，其中 %d 行有错误，整个文件未导入", tr.Count, tr.BadRows)
	default:
		for i, row := range tr.Rows {
			events = append(events, toEvent(l, row, tr.Lines[i], u.Region))
		}
	}
	meta := importMeta{kind: l.Kind, source: source, via: "file", file: in.FileName, sha: hex.EncodeToString(sum[:])}
	return s.store(ctx, u, meta, events, res)
}

// BatchInput is an API batch: events of any kinds, each an object with
// "kind" and the columns of its layout by their English names.
type BatchInput struct {
	Source string           `json:"source"`
	Events []map[string]any `json:"events"`
}

// MaxBatch bounds an API batch; larger deliveries go by file.
const MaxBatch = 10000

// ImportBatch takes an API batch all-or-nothing, like a file.
func (s *Service) ImportBatch(ctx context.Context, u *auth.User, in BatchInput) (*ImportResult, error) {
	if !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权导入部门事件")
	}
	if len(in.Events) == 0 {
		return nil, apperr.Invalid("events", "no_events", "请求中没有事件")
	}
	if len(in.Events) > MaxBatch {
		return nil, apperr.Invalid("events", "too_many", fmt.Sprintf("一次最多 %d 个事件，请分批或改用文件导入", MaxBatch))
	}
	source, err := checkSource(in.Source, "")
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Outcome: "refused", Rows: len(in.Events)}
	tables := map[string]*Table{}
	seen := map[string]map[string]int{}
	tr := &TableResult{}
	kinds := map[string]bool{}
	var events []event
	for i, ev := range in.Events {
		line := i + 1
		kind, _ := ev["kind"].(string)
		l, ok := LayoutOf(kind)
		if !ok {
			tr.Count++
			tr.BadRows++
			if len(tr.Errors) < MaxReported {
				tr.Errors = append(tr.Errors, RowError{Line: line, Column: "kind", Message: "未知的事件类型：" + kind})
			}
			continue
		}
		kinds[kind] = true
		if tables[kind] == nil {
			tables[kind], seen[kind] = s.table(u, l), map[string]int{}
		}
		cells := make([]string, len(l.Columns))
		var unknown []string
		for _, k := range slices.Sorted(maps.Keys(ev)) {
			if k == "kind" {
				continue
			}
			j := slices.IndexFunc(l.Columns, func(c Column) bool { return c.Name == k })
			if j < 0 {
				unknown = append(unknown, k)
				continue
			}
			switch v := ev[k].(type) {
			case string:
				cells[j] = v
			case float64:
				cells[j] = strconv.FormatFloat(v, 'f', -1, 64)
			case nil:
			default:
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			tr.Count++
			tr.BadRows++
			if len(tr.Errors) < MaxReported {
				tr.Errors = append(tr.Errors, RowError{Line: line, Message: "无法识别或类型不对的字段：" + strings.Join(unknown, "、")})
			}
			continue
		}
		before := len(tr.Rows)
		tables[kind].Row(tr, seen[kind], line, l.Columns, cells)
		if len(tr.Rows) > before {
			events = append(events, toEvent(l, tr.Rows[before], line, u.Region))
		}
	}
	res.BadRows, res.Errors = tr.BadRows, tr.Errors
	if tr.BadRows > 0 {
		res.Message = fmt.Sprintf("共 %d 个事件，其中 %d 个有错误，整批未导入", res.Rows, tr.BadRows)
		events = nil
	}
	b, _ := json.Marshal(in.Events)
	sum := sha256.Sum256(b)
	meta := importMeta{kind: strings.Join(slices.Sorted(maps.Keys(kinds)), ","), source: source, via: "api", file: "", sha: hex.EncodeToString(sum[:])}
	return s.store(ctx, u, meta, events, res)
}

type importMeta struct{ kind, source, via, file, sha string }

type match struct {
	person, household int64
	region            string
}

// store keeps the validated events (or logs the refusal) and runs the rules.
func (s *Service) store(ctx context.Context, u *auth.User, m importMeta, events []event, res *ImportResult) (*ImportResult, error) {
	if res.Message != "" {
		err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			if err := s.logImport(ctx, tx, u, m, res); err != nil {
				return err
			}
			return audit.Append(ctx, tx, u.Actor(), "discovery.import.refuse", "discovery_import", strconv.FormatInt(res.ImportID, 10), u.Region,
				map[string]any{"kind": m.kind, "via": m.via, "rows": res.Rows, "bad_rows": res.BadRows})
		})
		if err != nil {
			return nil, fmt.Errorf("discovery: import: %w", err)
		}
		return res, &apperr.Error{Status: 422, Code: "events_refused", Message: res.Message}
	}
	hashes := make([]string, len(events))
	for i := range events {
		hashes[i] = s.Keys.Hash(events[i].id)
	}
	found, err := s.lookup(ctx, hashes)
	if err != nil {
		return nil, err
	}
	since := ""
	now := s.now()
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.logImport(ctx, tx, u, m, res); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO discovery_events (kind, event_key, id_hmac, id_enc, id_masked, event_date, source, amount_fen, attr, detail_enc,
			person_id, household_id, region_code, import_id, received_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT (event_key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, e := range events {
			l, _ := LayoutOf(e.kind)
			mt, ok := found[hashes[i]]
			if ok && !region.Within(u.Region, mt.region) {
				// registered elsewhere: a county's department may not put
				// items on another county's lists, nor learn from the
				// outcome that the person is registered there
				res.Ignored++
				continue
			}
			if !ok && !l.KeepUnmatched(e.attr) {
				res.Ignored++
				continue
			}
			var person, household any
			reg := region.Pad(e.region)
			if ok {
				person, household, reg = mt.person, mt.household, mt.region
			}
			detail := ""
			if e.detail != nil {
				b, _ := json.Marshal(e.detail)
				detail = s.Keys.Seal(string(b))
			}
			r, err := stmt.ExecContext(ctx, e.kind, s.Keys.Hash(e.key), hashes[i], s.Keys.Seal(e.id), idcard.Mask(e.id), e.date, m.source, e.amount, e.attr, detail,
				person, household, reg, res.ImportID, now)
			if err != nil {
				return fmt.Errorf("insert event: %w", err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				res.Duplicates++
				continue
			}
			res.Stored++
			if !ok {
				res.Unmatched++
			}
			if since == "" || e.date < since {
				since = e.date
			}
		}
		res.Outcome = "loaded"
		res.Message = fmt.Sprintf("共 %d 行：新接收 %d 个事件（其中 %d 个当事人不在救助登记中），%d 个此前已接收，%d 个与本地区救助无关未保存",
			res.Rows, res.Stored, res.Unmatched, res.Duplicates, res.Ignored)
		if err := s.updateImport(ctx, tx, res); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "discovery.import", "discovery_import", strconv.FormatInt(res.ImportID, 10), u.Region,
			map[string]any{"kind": m.kind, "via": m.via, "rows": res.Rows, "stored": res.Stored, "duplicates": res.Duplicates, "ignored": res.Ignored, "sha256": m.sha})
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: import: %w", err)
	}
	if since != "" {
		run, err := s.Run(ctx, u, since)
		if err != nil {
			return res, fmt.Errorf("discovery: rules after import %d: %w", res.ImportID, err)
		}
		res.Items = int(run.Found)
		res.Message += fmt.Sprintf("；规则比对新发现 %d 条待办", run.Found)
		if _, err := s.DB.ExecContext(ctx, `UPDATE discovery_imports SET message = $1 WHERE id = $2`, res.Message, res.ImportID); err != nil {
			return res, fmt.Errorf("discovery: import: %w", err)
		}
	}
	return res, nil
}

func (s *Service) logImport(ctx context.Context, tx *sql.Tx, u *auth.User, m importMeta, res *ImportResult) error {
	report, _ := json.Marshal(map[string]any{"errors": res.Errors})
	return tx.QueryRowContext(ctx, `INSERT INTO discovery_imports (kind, source, via, file_name, sha256, rows, bad_rows, stored, duplicates, ignored, unmatched,
		outcome, message, report, region_code, imported_by, at) VALUES ($1,$2,$3,$4,$5,$6,$7,0,0,0,0,$8,$9,$10,$11,$12,$13) RETURNING id`,
		m.kind, m.source, m.via, m.file, m.sha, res.Rows, res.BadRows, res.Outcome, res.Message, string(report), u.Region, u.Username, s.now()).Scan(&res.ImportID)
}

func (s *Service) updateImport(ctx context.Context, tx *sql.Tx, res *ImportResult) error {
	report, _ := json.Marshal(map[string]any{"errors": res.Errors})
	_, err := tx.ExecContext(ctx, `UPDATE discovery_imports SET stored = $1, duplicates = $2, ignored = $3, unmatched = $4, outcome = $5, message = $6, report = $7 WHERE id = $8`,
		res.Stored, res.Duplicates, res.Ignored, res.Unmatched, res.Outcome, res.Message, string(report), res.ImportID)
	return err
}

// lookup finds the registry persons of ID hashes, a few hundred at a time.
func (s *Service) lookup(ctx context.Context, hashes []string) (map[string]match, error) {
	out := map[string]match{}
	uniq := slices.Compact(slices.Sorted(slices.Values(hashes)))
	for lo := 0; lo < len(uniq); lo += 500 {
		chunk := uniq[lo:min(lo+500, len(uniq))]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, h := range chunk {
			ph[i], args[i] = "$"+strconv.Itoa(i+1), h
		}
		rows, err := s.DB.QueryContext(ctx, `SELECT p.id_hmac, p.id, COALESCE(p.household_id, 0), COALESCE(h.region_code, p.region_code) FROM persons p
			LEFT JOIN households h ON h.id = p.household_id WHERE p.id_hmac IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("discovery: match persons: %w", err)
		}
		for rows.Next() {
			var h string
			var m match
			if err := rows.Scan(&h, &m.person, &m.household, &m.region); err != nil {
				rows.Close()
				return nil, err
			}
			if m.household != 0 {
				out[h] = m
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ImportLog is one import attempt as the events page shows it.
type ImportLog struct {
	ImportResult
	Kind       string    `json:"kind"`
	Source     string    `json:"source"`
	Via        string    `json:"via"`
	FileName   string    `json:"file_name"`
	ImportedBy string    `json:"imported_by"`
	At         time.Time `json:"at"`
}

// Imports lists the import attempts in the caller's scope, newest first, or
// one of them (id > 0) with its report.
func (s *Service) Imports(ctx context.Context, u *auth.User, id int64, limit int) ([]ImportLog, error) {
	if !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权查看部门事件导入记录")
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, kind, source, via, file_name, rows, bad_rows, stored, duplicates, ignored, unmatched, outcome, message, report, imported_by, at
		FROM discovery_imports WHERE region_code LIKE $1 || '%' AND ($2 = 0 OR id = $2) ORDER BY id DESC LIMIT $3`, u.Scope(), id, limit)
	if err != nil {
		return nil, fmt.Errorf("discovery: imports: %w", err)
	}
	defer rows.Close()
	var out []ImportLog
	for rows.Next() {
		var l ImportLog
		var report string
		if err := rows.Scan(&l.ImportID, &l.Kind, &l.Source, &l.Via, &l.FileName, &l.Rows, &l.BadRows, &l.Stored, &l.Duplicates, &l.Ignored, &l.Unmatched,
			&l.Outcome, &l.Message, &report, &l.ImportedBy, &l.At); err != nil {
			return nil, err
		}
		if id > 0 {
			// reports stored before the fix also hold per-line notes on
			// registration; only the format errors are read back
			var r struct{ Errors []RowError }
			json.Unmarshal([]byte(report), &r)
			l.Errors = r.Errors
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
