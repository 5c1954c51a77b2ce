package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
)

// Registry import (issue #7): households and members from the spreadsheets
// offices already keep. An upload is read and checked without writing
// anything (Preview) and kept, sealed, in registry_imports with its report;
// the uploader then commits it (CommitImport), which checks the file again
// against the registry as it is then and writes every household and person
// in one transaction, or nothing.
//
// Layouts (see ImportColumns for the header map):
//   - two sheets, 户 (one row per household) and 成员 (one row per person),
//     linked by 户编号;
//   - one sheet (the first sheet of a workbook, or a CSV file in UTF-8 or
//     GBK): one row per person, grouped into households by 户编号, the
//     household's columns on every row or only on the head's.

// Limits of one import.
const (
	MaxImportBytes    = 20 << 20
	MaxImportPersons  = 20000
	ImportValidFor    = 24 * time.Hour
	maxImportProblems = 500 // problems kept in the report (all are counted)
	maxPreviewRows    = 300 // rows shown in the preview besides the bad ones
)

// TemplateExampleID is the example row's ID number in the template: the
// published example of GB 11643, refused on import so an unedited template
// never registers anyone.
const TemplateExampleID = "34052419800101001X"

// Import statuses.
const (
	ImportPreviewed = "previewed"
	ImportCommitted = "committed"
	ImportRefused   = "refused"
	ImportExpired   = "expired"
)

// ImportProblem is one problem of the file: the sheet, the row as the
// spreadsheet numbers it (0 for the file as a whole), the column's header as
// written and its cell.
type ImportProblem struct {
	Sheet   string `json:"sheet"`
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Cell    string `json:"cell,omitempty"`
	Message string `json:"message"`
	order   int
	col     int
}

// ImportSummary is what the file holds (or, once committed, what it added).
type ImportSummary struct {
	Households int            `json:"households"`
	Persons    int            `json:"persons"`
	Villages   []VillageCount `json:"villages"`
}

// VillageCount is one village's share of an import.
type VillageCount struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	Households int    `json:"households"`
	Persons    int    `json:"persons"`
}

// PreviewRow is one row of the file as the preview shows it; ID numbers are masked.
type PreviewRow struct {
	Sheet       string   `json:"sheet"`
	Row         int      `json:"row"`
	Kind        string   `json:"kind"` // household (a 户 row) | person
	HouseholdNo string   `json:"household_no"`
	Name        string   `json:"name"`
	IDMasked    string   `json:"id_number_masked,omitempty"`
	Relation    string   `json:"relation,omitempty"`
	Village     string   `json:"village,omitempty"`
	Problems    []string `json:"problems,omitempty"`
}

// ImportedHousehold is one household an import created.
type ImportedHousehold struct {
	FileNo  string `json:"file_household_no"`
	ID      int64  `json:"household_id"`
	No      string `json:"household_no"`
	Region  string `json:"region"`
	Head    string `json:"head"`
	Persons int    `json:"persons"`
}

// ImportReport is an import as its uploader sees it.
type ImportReport struct {
	Token          string              `json:"token"`
	FileName       string              `json:"file_name"`
	SHA256         string              `json:"sha256"`
	Layout         string              `json:"layout"`
	Status         string              `json:"status"`
	Message        string              `json:"message"`
	Rows           int                 `json:"rows"`
	BadRows        int                 `json:"bad_rows"`
	ProblemCount   int                 `json:"problem_count"`
	Problems       []ImportProblem     `json:"problems"`
	Summary        ImportSummary       `json:"summary"`
	Preview        []PreviewRow        `json:"preview,omitempty"`
	PreviewOmitted int                 `json:"preview_omitted,omitempty"`
	Households     []ImportedHousehold `json:"households,omitempty"`
	Uploader       string              `json:"uploader"`
	CreatedAt      time.Time           `json:"created_at"`
	ExpiresAt      time.Time           `json:"expires_at"`
	CommittedAt    *time.Time          `json:"committed_at,omitempty"`
}

// CanCommit reports whether the import waits for its uploader's confirmation.
func (r *ImportReport) CanCommit() bool { return r.Status == ImportPreviewed }

// reportBody is what the report column keeps.
type reportBody struct {
	ProblemCount   int                 `json:"problem_count"`
	Problems       []ImportProblem     `json:"problems"`
	Summary        ImportSummary       `json:"summary"`
	Preview        []PreviewRow        `json:"preview,omitempty"`
	PreviewOmitted int                 `json:"preview_omitted,omitempty"`
	Households     []ImportedHousehold `json:"households,omitempty"`
}

var cst = time.FixedZone("CST", 8*3600)

// fill copies what a check found into the report.
func (k *importCheck) fill(r *ImportReport) {
	r.Layout, r.Rows, r.BadRows, r.ProblemCount = k.layout, k.rows(), k.badRows, len(k.problems)
	r.Problems = k.problems[:min(len(k.problems), maxImportProblems)]
	r.Summary = k.summary()
	r.Preview, r.PreviewOmitted = k.preview()
	switch {
	case len(k.problems) == 0:
		r.Status = ImportPreviewed
		r.Message = fmt.Sprintf("校验通过：共 %d 户、%d 人。请核对汇总，确认无误后点击“确认导入”；预览在 24 小时内有效。", r.Summary.Households, r.Summary.Persons)
	case k.layoutBad:
		r.Status = ImportRefused
		r.Message = "文件的格式不符合导入要求（见问题清单），没有逐行校验，登记信息没有任何改变。请对照导入模板修改后重新上传。"
	default:
		r.Status = ImportRefused
		r.Message = fmt.Sprintf("发现 %d 处问题（涉及 %d 行），整个文件不能导入，登记信息没有任何改变。请按问题清单修改后重新上传。", len(k.problems), k.badRows)
	}
}

func (r *ImportReport) body() string {
	b, _ := json.Marshal(reportBody{ProblemCount: r.ProblemCount, Problems: r.Problems, Summary: r.Summary, Preview: r.Preview,
		PreviewOmitted: r.PreviewOmitted, Households: r.Households})
	return string(b)
}

// Preview reads and checks an uploaded file without changing the registry,
// keeps it (sealed) with its report, and returns the report with the token
// that commits it. A file with problems is kept as refused: its report says
// what to fix. The error is for what is not a file's content: no file, too
// large, a failing database.
func (s *Service) Preview(ctx context.Context, c Caller, fileName string, body []byte) (*ImportReport, error) {
	fileName = strings.TrimSpace(fileName)
	switch {
	case len(body) == 0:
		return nil, apperr.Invalid("file", "file_required", "请选择要导入的文件（Excel .xlsx 或 CSV）")
	case len(body) > MaxImportBytes:
		return nil, &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Field: "file",
			Message: fmt.Sprintf("文件超过 %d MB；请按乡镇（街道）或村（社区）拆分后分别导入", MaxImportBytes>>20)}
	}
	if fileName == "" {
		fileName = "未命名文件"
	}
	k, err := s.checkImport(ctx, s.DB, c, fileName, body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	tok := make([]byte, 16)
	rand.Read(tok)
	a := c.Actor()
	now := s.now()
	r := &ImportReport{Token: hex.EncodeToString(tok), FileName: fileName, SHA256: hex.EncodeToString(sum[:]), Uploader: a.Username,
		CreatedAt: now, ExpiresAt: now.Add(ImportValidFor)}
	k.fill(r)
	var uid any
	if a.UserID != 0 {
		uid = a.UserID
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO registry_imports (token, file_name, sha256, body_enc, layout, uploader_id, uploader, region_code,
			status, rows, bad_rows, households, persons, message, report, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING id`,
			r.Token, r.FileName, r.SHA256, s.Keys.Seal(string(body)), r.Layout, uid, a.Username, a.Region,
			r.Status, r.Rows, r.BadRows, r.Summary.Households, r.Summary.Persons, r.Message, r.body(), now).Scan(&id); err != nil {
			return fmt.Errorf("registry: keep import: %w", err)
		}
		return audit.Append(ctx, tx, a, "registry.import.preview", "registry_import", strconv.FormatInt(id, 10), a.Region,
			map[string]any{"file_name": r.FileName, "sha256": r.SHA256, "status": r.Status, "rows": r.Rows, "bad_rows": r.BadRows,
				"households": r.Summary.Households, "persons": r.Summary.Persons})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// storedImport is a registry_imports row.
type storedImport struct {
	id         int64
	uploaderID int64
	bodyEnc    string
	overdue    bool // previewed more than 24 hours ago
	r          ImportReport
}

var errImportNotFound = apperr.NotFound("导入记录不存在，或不是您上传的文件")

func (s *Service) loadImport(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, token string, withBody bool) (*storedImport, error) {
	var st storedImport
	var uid sql.NullInt64
	var committed sql.NullTime
	var report string
	bodyCol := `''`
	if withBody {
		bodyCol = `body_enc`
	}
	err := q.QueryRowContext(ctx, `SELECT id, token, file_name, sha256, `+bodyCol+`, layout, uploader_id, uploader, status, rows, bad_rows, message, report, created_at, committed_at
		FROM registry_imports WHERE token = $1`, strings.TrimSpace(token)).Scan(&st.id, &st.r.Token, &st.r.FileName, &st.r.SHA256, &st.bodyEnc, &st.r.Layout,
		&uid, &st.r.Uploader, &st.r.Status, &st.r.Rows, &st.r.BadRows, &st.r.Message, &report, &st.r.CreatedAt, &committed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errImportNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("registry: load import: %w", err)
	}
	st.uploaderID = uid.Int64
	var b reportBody
	if err := json.Unmarshal([]byte(report), &b); err != nil {
		return nil, fmt.Errorf("registry: import %d report: %w", st.id, err)
	}
	st.r.ProblemCount, st.r.Problems, st.r.Summary, st.r.Preview, st.r.PreviewOmitted, st.r.Households =
		b.ProblemCount, b.Problems, b.Summary, b.Preview, b.PreviewOmitted, b.Households
	st.r.ExpiresAt = st.r.CreatedAt.Add(ImportValidFor)
	if committed.Valid {
		t := committed.Time
		st.r.CommittedAt = &t
	}
	if st.r.Status == ImportPreviewed && !s.now().Before(st.r.ExpiresAt) {
		st.r.Status, st.overdue = ImportExpired, true
		st.r.Message = "预览已超过 24 小时，已经失效；如需导入，请重新上传文件。"
	}
	return &st, nil
}

func isUploader(c Caller, st *storedImport) bool {
	a := c.Actor()
	return a.Username == st.r.Uploader && a.UserID == st.uploaderID
}

// Import returns one of the caller's imports by its token.
func (s *Service) Import(ctx context.Context, c Caller, token string) (*ImportReport, error) {
	st, err := s.loadImport(ctx, s.DB, token, false)
	if err != nil {
		return nil, err
	}
	if !isUploader(c, st) {
		return nil, errImportNotFound
	}
	return &st.r, nil
}

// ImportListItem is one line of the caller's recent imports.
type ImportListItem struct {
	Token      string    `json:"token"`
	FileName   string    `json:"file_name"`
	Status     string    `json:"status"`
	Rows       int       `json:"rows"`
	BadRows    int       `json:"bad_rows"`
	Households int       `json:"households"`
	Persons    int       `json:"persons"`
	CreatedAt  time.Time `json:"created_at"`
}

// Imports lists the caller's own imports, newest first.
func (s *Service) Imports(ctx context.Context, c Caller, limit int) ([]ImportListItem, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT token, file_name, status, rows, bad_rows, households, persons, created_at
		FROM registry_imports WHERE uploader = $1 ORDER BY id DESC LIMIT $2`, c.Actor().Username, limit)
	if err != nil {
		return nil, fmt.Errorf("registry: list imports: %w", err)
	}
	defer rows.Close()
	var out []ImportListItem
	for rows.Next() {
		var it ImportListItem
		if err := rows.Scan(&it.Token, &it.FileName, &it.Status, &it.Rows, &it.BadRows, &it.Households, &it.Persons, &it.CreatedAt); err != nil {
			return nil, err
		}
		if it.Status == ImportPreviewed && !s.now().Before(it.CreatedAt.Add(ImportValidFor)) {
			it.Status = ImportExpired
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// errRecheckFailed rolls the commit back when the second check finds problems.
var errRecheckFailed = errors.New("registry: import re-check found problems")

// refusedErr is the error of a commit whose re-check failed; the report says why.
func refusedErr(msg string) *apperr.Error {
	return &apperr.Error{Status: http.StatusUnprocessableEntity, Code: "import_refused", Message: msg}
}

// CommitImport writes a previewed import: only its uploader may, once,
// within 24 hours of the upload. The file is checked again against the
// registry as it is now, inside the transaction that writes every household
// and person with their history rows and one audit entry for the whole file;
// any problem writes nothing, and the import is then refused with the new
// report (returned with the error).
func (s *Service) CommitImport(ctx context.Context, c Caller, token string) (*ImportReport, error) {
	st, err := s.loadImport(ctx, s.DB, token, true)
	if err != nil {
		return nil, err
	}
	if !isUploader(c, st) {
		return nil, apperr.Forbidden("只有上传该文件的人可以确认导入")
	}
	if err := s.importStatusErr(ctx, st); err != nil {
		return nil, err
	}
	plain, err := s.Keys.Open(st.bodyEnc)
	if err != nil {
		return nil, fmt.Errorf("registry: open import %d: %w", st.id, err)
	}
	body := []byte(plain)
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != st.r.SHA256 {
		return nil, fmt.Errorf("registry: import %d: stored file does not match its sha256", st.id)
	}
	r := st.r
	var recheck *importCheck
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		// claim the import first: a second commit waits here, then finds it taken
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE registry_imports SET status = 'committed', committed_at = $1 WHERE id = $2 AND status = 'previewed'`, now, st.id)
		if err != nil {
			return fmt.Errorf("registry: claim import: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			cur, err := s.loadImport(ctx, tx, token, false)
			if err != nil {
				return err
			}
			if err := s.importStatusErr(ctx, cur); err != nil {
				return err
			}
			return apperr.Conflict("import_taken", "该文件正在被导入或已导入，请刷新页面查看结果")
		}
		k, err := s.checkImport(ctx, tx, c, st.r.FileName, body)
		if err != nil {
			return err
		}
		if len(k.problems) > 0 {
			recheck = k
			return errRecheckFailed
		}
		created, err := s.writeImport(ctx, tx, c, k, st)
		if err != nil {
			return err
		}
		k.fill(&r)
		r.Status, r.Households, r.CommittedAt = ImportCommitted, created, &now
		r.Message = fmt.Sprintf("已导入 %d 户、%d 人。", len(created), r.Summary.Persons)
		if _, err := tx.ExecContext(ctx, `UPDATE registry_imports SET rows = $1, households = $2, persons = $3, message = $4, report = $5 WHERE id = $6`,
			r.Rows, len(created), r.Summary.Persons, r.Message, r.body(), st.id); err != nil {
			return fmt.Errorf("registry: record import: %w", err)
		}
		villages := make([]string, 0, len(r.Summary.Villages))
		for _, v := range r.Summary.Villages {
			villages = append(villages, v.Code)
		}
		a := c.Actor()
		return audit.Append(ctx, tx, a, "registry.import.commit", "registry_import", strconv.FormatInt(st.id, 10), a.Region,
			map[string]any{"file_name": r.FileName, "sha256": r.SHA256, "households": len(created), "persons": r.Summary.Persons, "villages": villages})
	})
	if errors.Is(err, errRecheckFailed) {
		return s.refuseOnCommit(ctx, c, st, recheck)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// importStatusErr says why an import cannot be committed any more, marking
// an overdue preview expired.
func (s *Service) importStatusErr(ctx context.Context, st *storedImport) error {
	switch st.r.Status {
	case ImportPreviewed:
		return nil
	case ImportCommitted:
		at := ""
		if st.r.CommittedAt != nil {
			at = "于 " + st.r.CommittedAt.In(cst).Format("2006-01-02 15:04") + " "
		}
		return apperr.Conflict("import_committed", "该文件已"+at+"导入，不能重复导入")
	case ImportExpired:
		if !st.overdue {
			return apperr.Conflict("import_expired", "预览已超过 24 小时，已经失效；请重新上传文件")
		}
		if _, err := s.DB.ExecContext(ctx, `UPDATE registry_imports SET status = 'expired', message = $1 WHERE id = $2 AND status = 'previewed'`, st.r.Message, st.id); err != nil {
			return fmt.Errorf("registry: expire import: %w", err)
		}
		return apperr.Conflict("import_expired", "预览已超过 24 小时，已经失效；请重新上传文件")
	}
	return refusedErr("该文件校验未通过，不能导入；请按问题清单修改后重新上传")
}

// refuseOnCommit records that the second check failed: the import is
// refused for good with the new report.
func (s *Service) refuseOnCommit(ctx context.Context, c Caller, st *storedImport, k *importCheck) (*ImportReport, error) {
	r := st.r
	k.fill(&r)
	r.Status = ImportRefused
	r.Message = fmt.Sprintf("确认导入时重新校验，发现 %d 处问题（涉及 %d 行；登记信息在预览后有了变化），整个文件没有导入。请按问题清单修改后重新上传。", r.ProblemCount, r.BadRows)
	a := c.Actor()
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE registry_imports SET status = 'refused', rows = $1, bad_rows = $2, message = $3, report = $4 WHERE id = $5 AND status = 'previewed'`,
			r.Rows, r.BadRows, r.Message, r.body(), st.id); err != nil {
			return fmt.Errorf("registry: refuse import: %w", err)
		}
		return audit.Append(ctx, tx, a, "registry.import.refuse", "registry_import", strconv.FormatInt(st.id, 10), a.Region,
			map[string]any{"file_name": r.FileName, "sha256": r.SHA256, "bad_rows": r.BadRows, "problems": r.ProblemCount})
	})
	if err != nil {
		return nil, err
	}
	return &r, refusedErr(r.Message)
}

// writeImport inserts the checked households and their members with the
// registry's own helpers; each change gets its history row, the caller
// audits the file once.
func (s *Service) writeImport(ctx context.Context, tx *sql.Tx, c Caller, k *importCheck, st *storedImport) ([]ImportedHousehold, error) {
	// household numbers per village, the villages' locks taken in code order
	next := map[string]int{}
	for _, h := range k.households {
		next[h.vals.region.Code] = 0
	}
	codes := make([]string, 0, len(next))
	for code := range next {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		no, err := s.nextHouseholdNo(ctx, tx, code)
		if err != nil {
			return nil, err
		}
		next[code], _ = strconv.Atoi(no[len(code):])
	}
	now := s.now()
	out := make([]ImportedHousehold, 0, len(k.households))
	for _, ih := range k.households {
		code := ih.vals.region.Code
		h := &Household{No: fmt.Sprintf("%s%05d", code, next[code]), Region: code, RegionName: s.Tree.FullName(code), Hukou: ih.vals.hukou,
			Address: ih.vals.address, Phone: ih.vals.phone, Status: "active", Version: 1, CreatedAt: now, UpdatedAt: now}
		next[code]++
		if err := insertHousehold(ctx, tx, h); err != nil {
			return nil, fmt.Errorf("registry: import household %s: %w", ih.no, err)
		}
		reason := fmt.Sprintf("登记导入：文件“%s”户编号 %s", st.r.FileName, ih.no)
		if err := s.history(ctx, tx, c, h.ID, 0, h.Region, "household.create", reason, nil, h); err != nil {
			return nil, err
		}
		members := append([]*impPerson{ih.head}, slices.DeleteFunc(slices.Clone(ih.members), func(m *impPerson) bool { return m == ih.head })...)
		for _, m := range members {
			if _, err := s.attachPerson(ctx, tx, c, h, m.in, m.id, reason, s.history); err != nil {
				return nil, err
			}
		}
		out = append(out, ImportedHousehold{FileNo: ih.no, ID: h.ID, No: h.No, Region: code, Head: ih.head.in.Name, Persons: len(members)})
	}
	return out, nil
}
