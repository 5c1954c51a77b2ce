// Package linkage imports other registries of people in difficulty (the
// poverty-alleviation registry, the trade union's list of workers in
// difficulty), matches them with the assistance registry and lists the
// people found in one but not the other for review.
//
// Each registry is delivered whole for the uploader's region: an import is
// all-or-nothing and, when valid, becomes that registry's current list for
// that region, replacing only the lists of the same region or of places
// within it (a county's upload leaves the other counties' lists alone).
// Entries keep the ID number only hashed, sealed and masked; matching joins
// on the hash.
package linkage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Service owns the linkage_* tables.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
}

// Registry is one other registry's layout.
type Registry struct {
	Name    string
	Label   string
	Owner   string
	Columns []discovery.Column
	// Category names the column kept as the entry's category.
	Category string
	// Expected, when set, describes the recipients expected to be on this
	// registry (SQL condition on h, the household, and c, its entitlement);
	// those who are not are listed for review.
	Expected      string
	ExpectedLabel string
	Doc           string
}

var (
	idCol     = discovery.Column{Name: "id_number", Label: "身份证号", Type: discovery.ColID, Required: true}
	nameCol   = discovery.Column{Name: "name", Label: "姓名", Type: discovery.ColText, Required: true}
	regionCol = discovery.Column{Name: "region_code", Label: "区划代码", Type: discovery.ColRegion, Required: true, Doc: "户籍或居住地的 12 位区划代码（村或社区）"}
)

// Registries are the other registries accepted (docs: LayoutDoc).
var Registries = []*Registry{
	{Name: "poverty", Label: "建档立卡（防返贫监测）", Owner: "乡村振兴部门",
		Columns: []discovery.Column{idCol, nameCol, regionCol,
			{Name: "category", Label: "类别", Type: discovery.ColCode, Required: true, Codes: map[string]string{"1": "脱贫户", "2": "脱贫不稳定户", "3": "边缘易致贫户", "4": "突发严重困难户"}},
			{Name: "family_no", Label: "户编号", Type: discovery.ColText}},
		Category: "category",
		Expected: "h.hukou = 'rural'", ExpectedLabel: "享受低保或特困供养的农村家庭，按政策应纳入防返贫监测（或为脱贫户），但本户无人在建档立卡名单中",
		Doc: "建档立卡脱贫人口和防返贫监测对象，每人一行。"},
	{Name: "union", Label: "工会困难职工", Owner: "总工会",
		Columns: []discovery.Column{idCol, nameCol, regionCol,
			{Name: "difficulty", Label: "困难类型", Type: discovery.ColCode, Required: true, Codes: map[string]string{"1": "深度困难", "2": "相对困难", "3": "意外致困"}},
			{Name: "employer", Label: "工作单位", Type: discovery.ColText}},
		Category: "difficulty",
		Doc:      "工会建档的困难职工，每人一行。享受救助不意味着应为工会会员，故只列“在困难职工名单中但未享受救助”的人。"},
}

// RegistryOf finds a registry.
func RegistryOf(name string) (*Registry, bool) {
	for _, r := range Registries {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// ImportResult is the report of an import.
type ImportResult struct {
	RunID   int64                `json:"run_id"`
	Outcome string               `json:"outcome"`
	Message string               `json:"message"`
	Rows    int                  `json:"rows"`
	BadRows int                  `json:"bad_rows"`
	Matched int                  `json:"matched"`
	Errors  []discovery.RowError `json:"errors,omitempty"`
}

func today() time.Time {
	y, m, d := time.Now().In(calendar.China).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Import validates a registry file and, when every row is valid, makes it
// the registry's current list, matched with the assistance registry.
func (s *Service) Import(ctx context.Context, u *auth.User, registry, fileName string, body []byte) (*ImportResult, error) {
	if !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权导入其他部门名单")
	}
	reg, ok := RegistryOf(registry)
	if !ok {
		return nil, apperr.Invalid("registry", "unknown_registry", "未知的名单："+registry)
	}
	t := &discovery.Table{Label: reg.Label, Columns: reg.Columns, Key: []string{"id_number"}, Today: today(),
		Valid: func(code string) bool { _, ok := s.Tree.Get(code); return ok && region.Within(u.Region, code) }}
	tr, err := t.Read(fileName, body)
	res := &ImportResult{Outcome: "refused", Rows: tr.Count, BadRows: tr.BadRows, Errors: tr.Errors}
	switch {
	case err != nil:
		res.Message = err.Error()
	case tr.BadRows > 0:
		res.Message = fmt.Sprintf("共 %d 行，其中 %d 行有错误，整个文件未导入，现行名单不变", tr.Count, tr.BadRows)
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	report := func() string { b, _ := json.Marshal(res.Errors); return string(b) }
	now := time.Now().UTC()
	scope := region.ScopePrefix(u.Region)
	if res.Message != "" {
		err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `INSERT INTO linkage_runs (registry, file_name, sha256, rows, bad_rows, matched, outcome, message, report, imported_by, region_code, scope, at)
				VALUES ($1,$2,$3,$4,$5,0,'refused',$6,$7,$8,$9,$10,$11) RETURNING id`, registry, fileName, digest, res.Rows, res.BadRows, res.Message, report(), u.Username, u.Region, scope, now).Scan(&res.RunID); err != nil {
				return err
			}
			return audit.Append(ctx, tx, u.Actor(), "linkage.import.refuse", "linkage_run", strconv.FormatInt(res.RunID, 10), u.Region, map[string]any{"registry": registry, "bad_rows": res.BadRows})
		})
		if err != nil {
			return nil, fmt.Errorf("linkage: import: %w", err)
		}
		return res, &apperr.Error{Status: 422, Code: "list_refused", Message: res.Message}
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.DB.LockKey(ctx, tx, "linkage."+registry); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO linkage_runs (registry, file_name, sha256, rows, bad_rows, matched, outcome, message, report, imported_by, region_code, scope, at)
			VALUES ($1,$2,$3,$4,0,0,'loaded','',$5,$6,$7,$8,$9) RETURNING id`, registry, fileName, digest, res.Rows, "[]", u.Username, u.Region, scope, now).Scan(&res.RunID); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO linkage_entries (run_id, id_hmac, id_enc, id_masked, name, region_code, category, detail_enc) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, row := range tr.Rows {
			detail := ""
			for _, c := range reg.Columns {
				if c.Type == discovery.ColText && c.Name != "name" && row[c.Name] != "" {
					b, _ := json.Marshal(map[string]string{c.Label: row[c.Name]})
					detail = s.Keys.Seal(string(b))
				}
			}
			if _, err := stmt.ExecContext(ctx, res.RunID, s.Keys.Hash(row["id_number"]), s.Keys.Seal(row["id_number"]), idcard.Mask(row["id_number"]),
				casework.MaskName(row["name"]), row["region_code"], row[reg.Category], detail); err != nil {
				return fmt.Errorf("insert entry: %w", err)
			}
		}
		// match by the hash in one statement
		r, err := tx.ExecContext(ctx, `UPDATE linkage_entries SET
			person_id = (SELECT p.id FROM persons p WHERE p.id_hmac = linkage_entries.id_hmac),
			household_id = (SELECT p.household_id FROM persons p WHERE p.id_hmac = linkage_entries.id_hmac)
			WHERE run_id = $1 AND EXISTS (SELECT 1 FROM persons p WHERE p.id_hmac = linkage_entries.id_hmac AND p.household_id IS NOT NULL)`, res.RunID)
		if err != nil {
			return fmt.Errorf("match: %w", err)
		}
		n, _ := r.RowsAffected()
		res.Matched = int(n)
		// every row lies in the uploader's region, so the file replaces the
		// lists of that region and of the places within it, and only those
		if _, err := tx.ExecContext(ctx, `UPDATE linkage_runs SET is_current = FALSE WHERE registry = $1 AND is_current AND scope LIKE $2 || '%' AND id <> $3`,
			registry, scope, res.RunID); err != nil {
			return err
		}
		res.Outcome = "loaded"
		res.Message = fmt.Sprintf("已导入 %d 人，其中 %d 人在救助登记中；现为%s%s的现行名单", res.Rows, res.Matched, s.Tree.FullName(u.Region), reg.Label)
		if _, err := tx.ExecContext(ctx, `UPDATE linkage_runs SET is_current = TRUE, matched = $1, message = $2 WHERE id = $3`, res.Matched, res.Message, res.RunID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "linkage.import", "linkage_run", strconv.FormatInt(res.RunID, 10), u.Region,
			map[string]any{"registry": registry, "rows": res.Rows, "matched": res.Matched, "sha256": digest})
	})
	if err != nil {
		return nil, fmt.Errorf("linkage: import: %w", err)
	}
	return res, nil
}

// Run is one import as the page lists it.
type Run struct {
	ID         int64     `json:"id"`
	Registry   string    `json:"registry"`
	FileName   string    `json:"file_name"`
	Rows       int       `json:"rows"`
	BadRows    int       `json:"bad_rows"`
	Matched    int       `json:"matched"`
	Outcome    string    `json:"outcome"`
	Message    string    `json:"message"`
	Current    bool      `json:"current"`
	ImportedBy string    `json:"imported_by"`
	At         time.Time `json:"at"`
	Errors     []discovery.RowError
}

// Runs lists the imports made in the caller's scope, newest first.
func (s *Service) Runs(ctx context.Context, u *auth.User) ([]Run, error) {
	if !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权查看名单导入记录")
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, registry, file_name, rows, bad_rows, matched, outcome, message, is_current, imported_by, at, report
		FROM linkage_runs WHERE region_code LIKE $1 || '%' ORDER BY id DESC LIMIT 50`, u.Scope())
	if err != nil {
		return nil, fmt.Errorf("linkage: runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var report string
		if err := rows.Scan(&r.ID, &r.Registry, &r.FileName, &r.Rows, &r.BadRows, &r.Matched, &r.Outcome, &r.Message, &r.Current, &r.ImportedBy, &r.At, &report); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(report), &r.Errors)
		out = append(out, r)
	}
	return out, rows.Err()
}

// The two lists.
const (
	NotReceiving = "not_receiving" // in the other registry, not receiving assistance
	NotListed    = "not_listed"    // receiving assistance, not in the other registry where expected
)

// Entry is one person or household to review.
type Entry struct {
	Registry    string `json:"registry"`
	List        string `json:"list"`
	Name        string `json:"name"` // masked
	IDMasked    string `json:"id_masked"`
	Region      string `json:"region"`
	Category    string `json:"category,omitempty"`
	PersonID    int64  `json:"person_id,omitempty"`
	HouseholdID int64  `json:"household_id,omitempty"`
	HouseholdNo string `json:"household_no,omitempty"`
	Programme   string `json:"programme,omitempty"`
}

const inForce = `c.purpose = 'application' AND c.state = 'approved' AND c.decision = 'approved' AND c.programme <> 'temporary'`

// inForceRun joins an entry (le) to its run (r) when the entry belongs to the
// list in force for its place ($1 the registry): the run is current and no
// later current run of the registry covers the entry's region. A province's
// list stays current next to a county's newer one, which governs its county.
const inForceRun = `JOIN linkage_runs r ON r.id = le.run_id AND r.registry = $1 AND r.is_current
	AND NOT EXISTS (SELECT 1 FROM linkage_runs r2 WHERE r2.registry = r.registry AND r2.is_current AND r2.id > r.id AND le.region_code LIKE r2.scope || '%')`

// notListedFrom selects the recipient households expected on the registry
// and not on the list in force for their place ($1 registry, $2 scope); a
// household where no current list reaches is not judged at all.
func notListedFrom(reg *Registry) string {
	return `FROM households h JOIN cases c ON c.id = (SELECT MAX(c2.id) FROM cases c2 WHERE c2.household_id = h.id AND c2.purpose = 'application'
				AND c2.state = 'approved' AND c2.decision = 'approved' AND c2.programme IN ('dibao', 'tekun'))
			JOIN persons p ON p.id = c.applicant_id
			WHERE h.region_code LIKE $2 || '%' AND h.status = 'active' AND ` + reg.Expected + `
				AND EXISTS (SELECT 1 FROM linkage_runs rc WHERE rc.registry = $1 AND rc.is_current AND h.region_code LIKE rc.scope || '%')
				AND NOT EXISTS (SELECT 1 FROM linkage_entries le ` + inForceRun + `
					WHERE le.household_id = h.id)`
}

func listSQL(reg *Registry, list string) (string, bool) {
	switch list {
	case NotReceiving:
		// everyone on the other list whose household (if registered) has no entitlement in force
		return `SELECT le.name, le.id_masked, COALESCE(h.region_code, le.region_code), le.category, COALESCE(le.person_id, 0), COALESCE(le.household_id, 0), COALESCE(h.hh_no, ''), ''
			FROM linkage_entries le ` + inForceRun + `
			LEFT JOIN households h ON h.id = le.household_id
			WHERE COALESCE(h.region_code, le.region_code) LIKE $2 || '%'
				AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = le.household_id AND ` + inForce + `)
			ORDER BY 3, le.id`, true
	case NotListed:
		if reg.Expected == "" {
			return "", false
		}
		return `SELECT p.name, p.id_masked, h.region_code, '', p.id, h.id, h.hh_no, c.programme ` + notListedFrom(reg) + ` ORDER BY 3, h.id`, true
	}
	return "", false
}

// List gives one list of a registry in the caller's scope (at most limit
// entries); the read is audited. The lists name people, so they are for the
// workers who verify them (DiscoveryRead); the departments' data clerks who
// upload the files see the counts only.
func (s *Service) List(ctx context.Context, u *auth.User, registry, list string, limit int) ([]Entry, error) {
	if !CanList(u) {
		return nil, apperr.Forbidden("比对出的人员名单仅供核实人员查看，导入人员只能查看各县汇总数")
	}
	reg, ok := RegistryOf(registry)
	if !ok {
		return nil, apperr.Invalid("registry", "unknown_registry", "未知的名单："+registry)
	}
	q, ok := listSQL(reg, list)
	if !ok {
		return nil, apperr.Invalid("list", "bad_list", "该名单没有这种比对结果")
	}
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	var out []Entry
	err := db.Each(ctx, s.DB, q+` LIMIT $3`, []any{registry, u.Scope(), limit}, func(scan func(...any) error) error {
		e := Entry{Registry: registry, List: list}
		if err := scan(&e.Name, &e.IDMasked, &e.Region, &e.Category, &e.PersonID, &e.HouseholdID, &e.HouseholdNo, &e.Programme); err != nil {
			return err
		}
		e.Name = casework.MaskName(e.Name)
		if c, ok := reg.Columns[3].Codes[e.Category]; ok {
			e.Category = c
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage: list: %w", err)
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "linkage.list.read", "linkage_list", registry+"/"+list, u.Region, map[string]any{"count": len(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// CanList reports whether u may see the people on the review lists.
func CanList(u *auth.User) bool { return u.Can(auth.DiscoveryRead) }

// Count is one county's figures of one registry.
type Count struct {
	Registry     string `json:"registry"`
	County       string `json:"county"`
	Entries      int64  `json:"entries"`
	Matched      int64  `json:"matched"`
	NotReceiving int64  `json:"not_receiving"`
	NotListed    int64  `json:"not_listed"`
}

// Counts gives per county the size of each current list, how many are in
// the assistance registry and the two review lists' lengths.
func (s *Service) Counts(ctx context.Context, u *auth.User) ([]Count, error) {
	if !u.Can(auth.DiscoveryRead) && !u.Can(auth.DiscoveryImport) {
		return nil, apperr.Forbidden("无权查看名单比对结果")
	}
	by := map[[2]string]*Count{}
	get := func(reg, county string) *Count {
		k := [2]string{reg, region.Pad(county)}
		if by[k] == nil {
			by[k] = &Count{Registry: reg, County: k[1]}
		}
		return by[k]
	}
	for _, reg := range Registries {
		err := db.Each(ctx, s.DB, `SELECT SUBSTR(COALESCE(h.region_code, le.region_code), 1, 6), COUNT(*), SUM(CASE WHEN le.household_id IS NOT NULL THEN 1 ELSE 0 END),
				SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = le.household_id AND `+inForce+`) THEN 1 ELSE 0 END)
			FROM linkage_entries le `+inForceRun+`
			LEFT JOIN households h ON h.id = le.household_id
			WHERE COALESCE(h.region_code, le.region_code) LIKE $2 || '%' GROUP BY SUBSTR(COALESCE(h.region_code, le.region_code), 1, 6)`,
			[]any{reg.Name, u.Scope()}, func(scan func(...any) error) error {
				var county string
				var c Count
				if err := scan(&county, &c.Entries, &c.Matched, &c.NotReceiving); err != nil {
					return err
				}
				x := get(reg.Name, county)
				x.Entries, x.Matched, x.NotReceiving = c.Entries, c.Matched, c.NotReceiving
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("linkage: counts: %w", err)
		}
		if reg.Expected == "" {
			continue
		}
		err = db.Each(ctx, s.DB, `SELECT SUBSTR(h.region_code, 1, 6), COUNT(*) `+notListedFrom(reg)+` GROUP BY SUBSTR(h.region_code, 1, 6)`,
			[]any{reg.Name, u.Scope()}, func(scan func(...any) error) error {
				var county string
				var n int64
				if err := scan(&county, &n); err != nil {
					return err
				}
				get(reg.Name, county).NotListed = n
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("linkage: counts: %w", err)
		}
	}
	out := make([]Count, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Registry+out[i].County < out[j].Registry+out[j].County })
	return out, nil
}
