package verify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/tabular"
)

// ImportInput is one extract as a department delivers it.
type ImportInput struct {
	Source   string
	Provider string // the bank, broker or insurer for per-provider sources
	DataDate string // YYYY-MM-DD: the day the data describes
	FileName string
	Body     []byte // CSV (UTF-8 or GBK) or XLSX
}

// RowError is one problem of one row; Line counts the header as line 1.
type RowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// ImportResult is the validation report of an import attempt.
type ImportResult struct {
	ImportID   int64      `json:"import_id"`
	ExtractID  int64      `json:"extract_id,omitempty"`
	Outcome    string     `json:"outcome"` // loaded | refused
	Message    string     `json:"message"`
	Rows       int        `json:"rows"`
	Persons    int        `json:"persons"`
	BadRows    int        `json:"bad_rows"`
	Errors     []RowError `json:"errors,omitempty"` // the first maxReported
	Supersedes int64      `json:"supersedes,omitempty"`
}

const maxReported = 500

// record is a validated row on its way into the store.
type record struct {
	id     string
	kind   string
	amount int64
	date   string
	detail map[string]string
}

// Import validates an extract and, when every row is valid, makes it the
// source's extract in force. A file with any bad row is refused whole with
// its row report, and the previous extract stays in force.
func (s *Service) Import(ctx context.Context, u *auth.User, in ImportInput) (*ImportResult, error) {
	if !u.Can(auth.VerifyImport) {
		return nil, apperr.Forbidden("无权导入部门数据")
	}
	src, ok := SourceByName(in.Source)
	if !ok {
		return nil, apperr.Invalid("source", "unknown_source", "未知的数据来源："+in.Source)
	}
	in.Provider = strings.ToUpper(strings.TrimSpace(in.Provider))
	switch {
	case src.PerProvider && in.Provider == "":
		return nil, apperr.Invalid("provider", "provider_required", src.Label+"须注明报送机构代码")
	case !src.PerProvider && in.Provider != "":
		return nil, apperr.Invalid("provider", "provider_not_allowed", src.Label+"不分报送机构")
	case len(in.Provider) > 20 || strings.ContainsAny(in.Provider, "/\\. "):
		return nil, apperr.Invalid("provider", "bad_provider", "报送机构代码格式不正确")
	}
	dataDate, err := tabular.ParseDate(in.DataDate)
	if err != nil {
		return nil, apperr.Invalid("data_date", "bad_data_date", "数据日期格式不正确（应为 YYYY-MM-DD）")
	}
	if dataDate.Format(time.DateOnly) > s.today() {
		return nil, apperr.Invalid("data_date", "future_data_date", "数据日期不能晚于今天")
	}
	in.DataDate = dataDate.Format(time.DateOnly)
	sum := sha256.Sum256(in.Body)
	digest := hex.EncodeToString(sum[:])

	var current struct {
		date, sha string
	}
	err = s.DB.QueryRowContext(ctx, `SELECT data_date, sha256 FROM verify_extracts WHERE source = $1 AND provider = $2 AND status = 'current'`,
		in.Source, in.Provider).Scan(&current.date, &current.sha)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("verify: import: %w", err)
	}
	res := &ImportResult{Outcome: "refused"}
	var recs []record
	switch {
	case current.sha == digest:
		res.Message = "该文件已导入，现行数据未改变"
	case current.date != "" && in.DataDate < current.date:
		res.Message = fmt.Sprintf("数据日期 %s 早于现行数据的日期 %s，未导入", in.DataDate, current.date)
	default:
		recs, err = parseExtract(src, in, dataDate, res)
		if err != nil {
			res.Message = err.Error()
		} else if res.BadRows > 0 {
			res.Message = fmt.Sprintf("共 %d 行，其中 %d 行有错误，整个文件未导入，现行数据不变", res.Rows, res.BadRows)
		}
	}
	if res.Message != "" {
		recs = nil
		if err := s.logImport(ctx, u, in, digest, res); err != nil {
			return nil, err
		}
		return res, &apperr.Error{Status: 422, Code: "extract_refused", Message: res.Message}
	}

	stored, persons, err := s.files().write(ctx, src, in, digest, recs, s.Keys)
	if err != nil {
		return nil, fmt.Errorf("verify: import %s: %w", in.Source, err)
	}
	res.Persons = persons
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		// one import of a source at a time, so one extract is in force
		if err := s.DB.LockKey(ctx, tx, "verify.import."+in.Source+"."+in.Provider); err != nil {
			return err
		}
		var old sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM verify_extracts WHERE source = $1 AND provider = $2 AND status = 'current'`,
			in.Source, in.Provider).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE verify_extracts SET status = 'superseded' WHERE source = $1 AND provider = $2 AND status = 'current'`,
			in.Source, in.Provider); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO verify_extracts (source, provider, data_date, file_name, sha256, stored, rows, persons, status, imported_by, imported_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'current', $9, $10) RETURNING id`,
			in.Source, in.Provider, in.DataDate, in.FileName, digest, filepath.Base(stored), res.Rows, persons, u.Username, s.now()).Scan(&res.ExtractID); err != nil {
			return err
		}
		res.Supersedes = old.Int64
		res.Outcome = "loaded"
		res.Message = fmt.Sprintf("已导入 %d 行（%d 人），数据日期 %s", res.Rows, persons, in.DataDate)
		if err := insertImport(ctx, tx, u, in, digest, res, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.extract.import", "verify_extract", strconv.FormatInt(res.ExtractID, 10), u.Region,
			map[string]any{"source": in.Source, "provider": in.Provider, "data_date": in.DataDate, "rows": res.Rows, "sha256": digest})
	})
	if err != nil {
		os.Remove(stored)
		return nil, fmt.Errorf("verify: import %s: %w", in.Source, err)
	}
	return res, nil
}

func (s *Service) logImport(ctx context.Context, u *auth.User, in ImportInput, digest string, res *ImportResult) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertImport(ctx, tx, u, in, digest, res, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "verify.extract.refuse", "verify_import", strconv.FormatInt(res.ImportID, 10), u.Region,
			map[string]any{"source": in.Source, "provider": in.Provider, "data_date": in.DataDate, "bad_rows": res.BadRows})
	})
}

func insertImport(ctx context.Context, tx *sql.Tx, u *auth.User, in ImportInput, digest string, res *ImportResult, at time.Time) error {
	report, _ := json.Marshal(res.Errors)
	var extract any
	if res.ExtractID != 0 {
		extract = res.ExtractID
	}
	return tx.QueryRowContext(ctx, `INSERT INTO verify_imports (source, provider, data_date, file_name, sha256, rows, bad_rows, outcome, message, report, extract_id, imported_by, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		in.Source, in.Provider, in.DataDate, in.FileName, digest, res.Rows, res.BadRows, res.Outcome, res.Message, string(report), extract, u.Username, at).Scan(&res.ImportID)
}

// parseExtract reads the table, checks the header against the layout and
// every row against its columns. Layout errors end the reading; row errors
// are collected into res.
func parseExtract(src *Source, in ImportInput, dataDate time.Time, res *ImportResult) ([]record, error) {
	var cols []Column
	var recs []record
	seen := map[string]int{}
	bad := func(line int, col, msg string) {
		if len(res.Errors) < maxReported {
			res.Errors = append(res.Errors, RowError{Line: line, Column: col, Message: msg})
		}
	}
	today := dataDate
	header := true
	err := tabular.EachRow(in.FileName, in.Body, func(line int, cells []string) error {
		if header {
			header = false
			var err error
			cols, err = tabular.MapHeader(src.Label, src.Columns, Column.header, cells)
			return err
		}
		res.Rows++
		row, rowBad := Row{}, false
		for j, col := range cols {
			v := ""
			if j < len(cells) {
				v = strings.TrimSpace(cells[j])
			}
			if v == "" {
				if col.Required {
					bad(line, col.Label, "必填项为空")
					rowBad = true
				}
				continue
			}
			norm, msg := tabular.Check(col.Type, col.Codes, v, tabular.Limits{Latest: today, LatestName: "数据日期"})
			if msg != "" {
				bad(line, col.Label, msg)
				rowBad = true
				continue
			}
			row[col.Name] = norm
		}
		if len(cells) > len(cols) && strings.TrimSpace(strings.Join(cells[len(cols):], "")) != "" {
			bad(line, "", "本行的列数多于表头")
			rowBad = true
		}
		if !rowBad {
			key := make([]string, len(src.Key))
			for k, name := range src.Key {
				key[k] = row[name]
			}
			k := strings.Join(key, "\x00")
			if first, dup := seen[k]; dup {
				bad(line, "", fmt.Sprintf("与第 %d 行重复", first))
				rowBad = true
			} else {
				seen[k] = line
			}
		}
		if rowBad {
			res.BadRows++
			return nil
		}
		rec := record{id: row["id_number"], kind: src.Kind(row), date: row[src.Date]}
		if src.Amount != "" {
			rec.amount, _ = strconv.ParseInt(row[src.Amount], 10, 64)
		}
		if len(rec.date) == 4 { // a tax year
			rec.date += "-12-31"
		}
		for _, col := range src.Columns {
			if col.Detail && row[col.Name] != "" {
				if rec.detail == nil {
					rec.detail = map[string]string{}
				}
				rec.detail[col.Label] = detailValue(col, row[col.Name])
			}
		}
		recs = append(recs, rec)
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case header:
		return nil, errors.New("文件是空的")
	case res.Rows == 0:
		return nil, errors.New("文件只有表头，没有数据行")
	}
	return recs, nil
}

func detailValue(col Column, v string) string {
	switch col.Type {
	case ColCode:
		return col.Codes[v]
	case ColYuan:
		n, _ := strconv.ParseInt(v, 10, 64)
		return fmt.Sprintf("%d.%02d", n/100, n%100)
	}
	return v
}

func (c Column) header() tabular.Header {
	return tabular.Header{Name: c.Name, Label: c.Label, Required: c.Required}
}

// sealRecords hashes the ID numbers and seals the details on every core.
func sealRecords(recs []record, keys interface {
	Hash(string) string
	Seal(string) string
}) []storedLine {
	out := make([]storedLine, len(recs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	chunk := (len(recs) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(recs))
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				r := recs[i]
				detail := ""
				if r.detail != nil {
					b, _ := json.Marshal(r.detail)
					detail = keys.Seal(string(b))
				}
				out[i] = storedLine{hash: keys.Hash(r.id), kind: r.kind, amount: r.amount, date: r.date, detail: detail}
			}
		})
	}
	wg.Wait()
	return out
}
