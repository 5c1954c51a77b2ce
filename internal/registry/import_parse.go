package registry

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/width"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Reading and checking an import file. Nothing here writes: the same check
// runs at preview and again, against the registry as it is then, inside the
// commit's transaction.

type tableKind int

const (
	tableOne        tableKind = iota // one row per person, the household's columns on its rows
	tableHouseholds                  // the 户 sheet: one row per household
	tableMembers                     // the 成员 sheet: one row per person
)

// impTable is one sheet of the file; a CSV file is one sheet named "CSV".
type impTable struct {
	name    string
	kind    tableKind
	order   int
	rows    [][]string
	nums    []int // the spreadsheet's row number of rows[i]
	headers []string
	cols    map[string]int // field → column index
	data    []*impRow
}

// impRow is one data row with what the check found in it.
type impRow struct {
	t      *impTable
	num    int
	cells  []string
	msgs   []string
	person *impPerson
	hh     *impHousehold
}

func (r *impRow) raw(field string) string {
	j, ok := r.t.cols[field]
	if !ok || j >= len(r.cells) {
		return ""
	}
	return strings.TrimSpace(r.cells[j])
}

func (r *impRow) has(field string) bool {
	_, ok := r.t.cols[field]
	return ok
}

// impPerson is a person row read into the registry's input.
type impPerson struct {
	row   *impRow
	no    string // the file's household number
	in    PersonInput
	id    idcard.ID
	idOK  bool
	shown string // the ID number masked, for the preview
}

// hhVals are the household columns of one row.
type hhVals struct {
	region                                *region.Region
	hukou, address, phone, headName, head string
}

// impHousehold is one household of the file.
type impHousehold struct {
	no      string
	row     *impRow // the 户 row, or in one sheet the head's (else the first) row
	vals    hhVals
	members []*impPerson
	head    *impPerson
}

type villageHit struct {
	v   *region.Region
	msg string
}

// importCheck reads and checks one file for one caller.
type importCheck struct {
	s      *Service
	c      Caller
	today  time.Time
	layout string
	tables []*impTable

	problems   []ImportProblem
	badRows    int
	layoutBad  bool
	households []*impHousehold
	persons    int

	scopeVillages []*region.Region
	byName        map[string][]*region.Region
	nameCache     map[string]villageHit
}

// Import layouts.
const (
	LayoutTwoSheets = "two_sheets"
	LayoutOneSheet  = "one_sheet"
	LayoutCSV       = "csv"
)

// checkImport reads the file and checks every row, then every household,
// then the people against the registry as q sees it. The error is only for a
// failing database; everything wrong with the file is in the problems.
func (s *Service) checkImport(ctx context.Context, q db.Querier, c Caller, fileName string, body []byte) (*importCheck, error) {
	k := &importCheck{s: s, c: c, today: s.now(), nameCache: map[string]villageHit{}}
	layout, tables, err := readImportFile(fileName, body)
	k.layout, k.tables = layout, tables
	if err != nil {
		k.fileProblem(err.Error())
		return k, nil
	}
	for _, t := range tables {
		k.mapHeader(t)
	}
	if k.layoutBad {
		return k, nil
	}
	persons := 0
	for _, t := range tables {
		k.dataRows(t)
		if t.kind != tableHouseholds {
			persons += len(t.data)
		}
	}
	switch {
	case persons == 0:
		k.fileProblem("文件中没有人员数据（只有表头）")
		return k, nil
	case persons > MaxImportPersons:
		k.fileProblem(fmt.Sprintf("文件有 %d 行人员，超过单次导入上限 %d 行；请按乡镇（街道）或村（社区）拆分后分别导入", persons, MaxImportPersons))
		return k, nil
	}
	k.persons = persons
	if layout == LayoutTwoSheets {
		k.twoSheets(tables[0], tables[1])
	} else {
		k.oneSheet(tables[0])
	}
	k.duplicates()
	if err := k.registered(ctx, q); err != nil {
		return nil, err
	}
	sort.SliceStable(k.problems, func(i, j int) bool {
		a, b := k.problems[i], k.problems[j]
		if a.order != b.order {
			return a.order < b.order
		}
		if a.Row != b.Row {
			return a.Row < b.Row
		}
		return a.col < b.col
	})
	return k, nil
}

func (k *importCheck) fileProblem(msg string) {
	k.layoutBad = true
	k.problems = append(k.problems, ImportProblem{Message: msg, col: -1})
}

// layoutProblem is a problem of a sheet's structure (its header): rows are
// not checked when there is one.
func (k *importCheck) layoutProblem(t *impTable, row, col int, msg string) {
	k.layoutBad = true
	k.add(t, row, col, msg)
}

func (k *importCheck) add(t *impTable, row, col int, msg string) {
	p := ImportProblem{Sheet: t.name, Row: row, Message: msg, order: t.order, col: col}
	if col >= 0 {
		if col < len(t.headers) && strings.TrimSpace(t.headers[col]) != "" {
			p.Column = strings.Join(strings.Fields(t.headers[col]), "")
		}
		if row > 0 {
			p.Cell, _ = excelize.CoordinatesToCellName(col+1, row)
		} else {
			p.Cell, _ = excelize.ColumnNumberToName(col + 1)
		}
	}
	k.problems = append(k.problems, p)
}

// bad records a problem of one row's cell (field "" for the row as a whole).
func (k *importCheck) bad(r *impRow, field, msg string) {
	col := -1
	if j, ok := r.t.cols[field]; ok && field != "" {
		col = j
	}
	if len(r.msgs) == 0 {
		k.badRows++
	}
	shown := msg
	if col >= 0 && col < len(r.t.headers) {
		shown = strings.Join(strings.Fields(r.t.headers[col]), "") + "：" + msg
	}
	r.msgs = append(r.msgs, shown)
	k.add(r.t, r.num, col, msg)
}

// ---- reading ----

func readImportFile(name string, body []byte) (string, []*impTable, error) {
	switch {
	case bytes.HasPrefix(body, []byte("PK\x03\x04")):
		return readXLSX(body)
	case bytes.HasPrefix(body, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return "", nil, errors.New("不支持旧版 Excel 文件（.xls）或加了密码的工作簿：请在 Excel 中“另存为”.xlsx 工作簿或 CSV 文件后再上传")
	case strings.EqualFold(filepath.Ext(name), ".xlsx"):
		return "", nil, errors.New("无法读取 Excel 文件：文件已损坏或不是 .xlsx 工作簿")
	}
	t, err := readCSV(body)
	if err != nil {
		return LayoutCSV, nil, err
	}
	return LayoutCSV, []*impTable{t}, nil
}

func readCSV(body []byte) (*impTable, error) {
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	if !utf8.Valid(body) {
		dec, err := simplifiedchinese.GBK.NewDecoder().Bytes(body)
		if err != nil {
			return nil, errors.New("无法识别文件：请上传 Excel（.xlsx）工作簿，或 UTF-8 / GBK 编码的 CSV 文件")
		}
		body = dec
	}
	if bytes.IndexByte(body, 0) >= 0 {
		return nil, errors.New("无法识别文件：请上传 Excel（.xlsx）工作簿，或 UTF-8 / GBK 编码的 CSV 文件")
	}
	r := csv.NewReader(bytes.NewReader(body))
	first, _, _ := bytes.Cut(body, []byte("\n"))
	if bytes.Count(first, []byte("\t")) > bytes.Count(first, []byte(",")) {
		r.Comma = '\t'
	} else if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	t := &impTable{name: "CSV", kind: tableOne}
	for {
		cells, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("CSV 格式错误（第 %d 行）：%v", pe.Line, pe.Err)
			}
			return nil, errors.New("CSV 格式错误：" + err.Error())
		}
		line, _ := r.FieldPos(0)
		t.rows = append(t.rows, cells)
		t.nums = append(t.nums, line)
	}
	return t, nil
}

func sheetIs(name string, names []string) bool {
	n := normHeader(name)
	return slices.ContainsFunc(names, func(s string) bool { return normHeader(s) == n })
}

func readXLSX(body []byte) (string, []*impTable, error) {
	f, err := excelize.OpenReader(bytes.NewReader(body), excelize.Options{UnzipSizeLimit: 512 << 20, UnzipXMLSizeLimit: 64 << 20})
	if err != nil {
		return "", nil, errors.New("无法读取 Excel 文件：文件已损坏、加了密码，或不是 .xlsx 工作簿")
	}
	defer f.Close()
	var hh, mem string
	var others []string
	for _, name := range f.GetSheetList() {
		switch {
		case hh == "" && sheetIs(name, householdSheetNames):
			hh = name
		case mem == "" && sheetIs(name, memberSheetNames):
			mem = name
		case !strings.Contains(name, "说明"):
			others = append(others, name)
		}
	}
	switch {
	case hh != "" && mem != "":
		ht, err := readSheet(f, hh, tableHouseholds, 0)
		if err != nil {
			return "", nil, err
		}
		mt, err := readSheet(f, mem, tableMembers, 1)
		if err != nil {
			return "", nil, err
		}
		return LayoutTwoSheets, []*impTable{ht, mt}, nil
	case hh != "":
		return LayoutTwoSheets, nil, fmt.Errorf("工作簿有“%s”工作表，但没有“成员”工作表：两表格式须同时有“户”和“成员”两个工作表；单表格式请把工作表改为其他名称", hh)
	case mem != "":
		return LayoutTwoSheets, nil, fmt.Errorf("工作簿有“%s”工作表，但没有“户”工作表：两表格式须同时有“户”和“成员”两个工作表；单表格式请把工作表改为其他名称", mem)
	}
	for _, name := range others {
		t, err := readSheet(f, name, tableOne, 0)
		if err != nil {
			return "", nil, err
		}
		if slices.ContainsFunc(t.rows, func(c []string) bool { return !blankRow(c) }) {
			return LayoutOneSheet, []*impTable{t}, nil
		}
	}
	return LayoutOneSheet, nil, errors.New("Excel 文件中没有数据")
}

// readSheet reads a sheet's raw cell values (dates as Excel serial numbers,
// numbers unformatted) and copies the value of merged cells into every cell
// they cover: offices merge the household's cells over its members' rows.
func readSheet(f *excelize.File, name string, kind tableKind, order int) (*impTable, error) {
	rows, err := f.GetRows(name, excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, fmt.Errorf("无法读取工作表“%s”：%v", name, err)
	}
	merges, err := f.GetMergeCells(name, true)
	if err != nil {
		return nil, fmt.Errorf("无法读取工作表“%s”的合并单元格：%v", name, err)
	}
	for _, m := range merges {
		c0, r0, err1 := excelize.CellNameToCoordinates(m.GetStartAxis())
		c1, r1, err2 := excelize.CellNameToCoordinates(m.GetEndAxis())
		if err1 != nil || err2 != nil || r0 > len(rows) || c0 > len(rows[r0-1]) {
			continue
		}
		v := rows[r0-1][c0-1]
		for r := r0; r <= min(r1, len(rows)); r++ {
			for c := c0; c <= min(c1, 200); c++ {
				for len(rows[r-1]) < c {
					rows[r-1] = append(rows[r-1], "")
				}
				if rows[r-1][c-1] == "" {
					rows[r-1][c-1] = v
				}
			}
		}
	}
	t := &impTable{name: name, kind: kind, order: order, rows: rows, nums: make([]int, len(rows))}
	for i := range rows {
		t.nums[i] = i + 1
	}
	return t, nil
}

func blankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func knownHeaders(cells []string) int {
	n := 0
	for _, c := range cells {
		if headerIndex[normHeader(c)] != nil {
			n++
		}
	}
	return n
}

// ---- the header ----

var requiredFields = map[tableKind][]string{
	tableOne:        {"household_no", "name", "id_number", "relation", "hukou", "address"},
	tableHouseholds: {"household_no", "hukou", "address"},
	tableMembers:    {"household_no", "name", "id_number", "relation"},
}

// mapHeader finds the header row (the first of the first ten non-blank rows
// naming at least two known columns, so a title row above it is skipped)
// and maps its cells to fields. Unknown, misplaced, repeated and missing
// columns are layout problems naming them.
func (k *importCheck) mapHeader(t *impTable) {
	header, first, seen := -1, -1, 0
	for i, cells := range t.rows {
		if blankRow(cells) {
			continue
		}
		if first < 0 {
			first = i
		}
		if knownHeaders(cells) >= 2 {
			header = i
			break
		}
		if seen++; seen >= 10 {
			break
		}
	}
	if header < 0 {
		header = first
	}
	if header < 0 {
		k.layoutProblem(t, 0, -1, "工作表是空的")
		return
	}
	hdr := t.rows[header]
	num := t.nums[header]
	t.headers, t.cols = hdr, map[string]int{}
	t.rows, t.nums = t.rows[header+1:], t.nums[header+1:]
	for j, h := range hdr {
		if strings.TrimSpace(h) == "" {
			continue
		}
		shown := strings.Join(strings.Fields(h), "")
		c := headerIndex[normHeader(h)]
		if c == nil {
			k.layoutProblem(t, num, j, fmt.Sprintf("无法识别的表头“%s”：请改为导入格式中的列名（见登记导入页面或模板中的“填写说明”），不需要的列请删除", shown))
			continue
		}
		if c.Level == levelIgnored {
			continue
		}
		field, level := c.Field, c.Level
		if t.kind == tableHouseholds && field == "phone" {
			field, level = "household_phone", levelHousehold // on the 户 sheet the phone is the household's
		}
		switch {
		case t.kind == tableHouseholds && level == levelPerson:
			k.layoutProblem(t, num, j, fmt.Sprintf("“%s”是成员的信息，应填在“成员”工作表，不应出现在“%s”工作表（户主姓名请用“户主姓名”列）", shown, t.name))
			continue
		case t.kind == tableMembers && level == levelHousehold:
			k.layoutProblem(t, num, j, fmt.Sprintf("“%s”是户的信息，应填在“户”工作表，不应出现在“%s”工作表", shown, t.name))
			continue
		}
		if prev, dup := t.cols[field]; dup {
			col, _ := excelize.ColumnNumberToName(prev + 1)
			k.layoutProblem(t, num, j, fmt.Sprintf("表头“%s”与 %s 列的“%s”是同一项，重复了", shown, col, strings.TrimSpace(hdr[prev])))
			continue
		}
		t.cols[field] = j
	}
	var missing []string
	for _, f := range requiredFields[t.kind] {
		if _, ok := t.cols[f]; !ok {
			c := columnByField(f)
			missing = append(missing, c.Label+"（"+c.Field+"）")
		}
	}
	if t.kind != tableMembers {
		_, code := t.cols["village_code"]
		_, name := t.cols["village_name"]
		if !code && !name {
			missing = append(missing, "所属村（社区）代码（village_code）或 所属村（社区）（village_name）")
		}
	}
	if len(missing) > 0 {
		k.layoutProblem(t, num, -1, "缺少必需的列："+strings.Join(missing, "、"))
	}
	_, both := t.cols["disability"]
	_, kind := t.cols["disability_kind"]
	_, level := t.cols["disability_level"]
	if both && (kind || level) {
		k.layoutProblem(t, num, t.cols["disability"], "“残疾类别及等级”与“残疾类别”“残疾等级”两列不要同时使用")
	}
	// data in a column without a header would be silently lost
	reported := map[int]bool{}
	for i, cells := range t.rows {
		for j, v := range cells {
			if strings.TrimSpace(v) == "" || reported[j] || j < len(hdr) && strings.TrimSpace(hdr[j]) != "" {
				continue
			}
			reported[j] = true
			col, _ := excelize.ColumnNumberToName(j + 1)
			k.layoutProblem(t, t.nums[i], j, fmt.Sprintf("%s 列有数据但没有表头：请补上列名，或删除该列", col))
		}
	}
}

var footerWords = []string{"合计", "总计", "小计", "填表人", "制表人", "审核人", "负责人", "填报单位", "填报日期", "制表日期", "注：", "注:", "说明："}

// dataRows collects the non-blank rows under the header. Footer lines
// offices add (合计…, 填表人…) are skipped when they carry no ID number.
func (k *importCheck) dataRows(t *impTable) {
	for i, cells := range t.rows {
		if blankRow(cells) {
			continue
		}
		r := &impRow{t: t, num: t.nums[i], cells: cells}
		if r.raw("id_number") == "" {
			firstCell := ""
			for _, c := range cells {
				if c = strings.TrimSpace(c); c != "" {
					firstCell = c
					break
				}
			}
			if slices.ContainsFunc(footerWords, func(w string) bool { return strings.HasPrefix(firstCell, w) }) {
				continue
			}
		}
		t.data = append(t.data, r)
	}
}

// ---- cells ----

func householdNo(v string) string {
	return wholeNumber(codeValue(v))
}

var (
	dayLayouts   = []string{"2006-1-2", "2006/1/2", "2006.1.2", "2006年1月2日", "20060102"}
	monthLayouts = []string{"2006-1", "2006/1", "2006.1", "2006年1月", "200601"}
	dottedRe     = regexp.MustCompile(`^\d{4}\.\d{1,2}(\.\d{1,2})?$`)
)

// parseDateCell reads a date as offices write it, or an Excel date serial;
// byMonth is true for a year and month without a day.
func parseDateCell(v string) (t time.Time, byMonth, ok bool) {
	v = width.Fold.String(strings.TrimSpace(v))
	if i := strings.IndexAny(v, " T"); i > 0 {
		v = v[:i]
	}
	if strings.ContainsAny(v, "-/年") || dottedRe.MatchString(v) || len(v) == 8 && isDigits(v) || len(v) == 6 && isDigits(v) {
		for _, l := range dayLayouts {
			if t, err := time.Parse(l, v); err == nil {
				return t, false, true
			}
		}
		for _, l := range monthLayouts {
			if t, err := time.Parse(l, v); err == nil {
				return t, true, true
			}
		}
		return time.Time{}, false, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 1 && f < 2958466 {
		if t, err := excelize.ExcelDateToTime(f, false); err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), false, true
		}
	}
	return time.Time{}, false, false
}

func checkPhone(v string) (string, string) {
	v = codeValue(v)
	if looksLikeExcelNumber(v) {
		return "", "联系电话被 Excel 存成了科学计数法的数字（" + v + "）；请把该列设为“文本”格式后重新录入"
	}
	v = wholeNumber(v)
	if !phoneRe.MatchString(v) {
		return "", "联系电话格式不正确（手机号11位，或区号-座机号）：" + v
	}
	return v, ""
}

func parseLevel(v string) (int, bool) {
	v = strings.TrimSuffix(wholeNumber(codeValue(v)), "残疾")
	n, ok := levelWords[v]
	return n, ok
}

func parseDisability(v string) (kind string, level int, ok bool) {
	v = strings.TrimSpace(strings.ReplaceAll(v, " ", ""))
	if k, ok := lookupDisabilityKind(v); ok && k == "" {
		return "", 0, true
	}
	for _, o := range DisabilityKinds {
		if o.Label == "" || o.Value == "" {
			continue
		}
		if rest, found := strings.CutPrefix(v, o.Label); found {
			rest = strings.TrimPrefix(strings.TrimPrefix(rest, "残疾"), "、")
			if n, ok := parseLevel(rest); ok {
				return o.Value, n, true
			}
			return o.Value, 0, rest == ""
		}
	}
	return "", 0, false
}

var sexWords = map[string]string{"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F", "1": "M", "2": "F", "男性": "M", "女性": "F"}

var selfCareSep = regexp.MustCompile(`[、，,;；/\s]+`)

// person reads a person row; every problem of every cell is recorded.
func (k *importCheck) person(r *impRow) *impPerson {
	p := &impPerson{row: r, no: householdNo(r.raw("household_no"))}
	r.person = p
	before := len(r.msgs)
	if p.no == "" {
		k.bad(r, "household_no", "户编号为空：请填写该成员所在户的户编号")
	}
	in := &p.in
	in.CoResident, in.AbleToWork, in.Student = true, true, "none"

	raw := strings.ToUpper(codeValue(r.raw("id_number")))
	p.shown = idcard.Mask(raw)
	switch {
	case raw == "":
		k.bad(r, "id_number", "身份证号码为空")
	case looksLikeExcelNumber(raw):
		k.bad(r, "id_number", "身份证号码被 Excel 存成了数字（"+raw+"），后几位已经丢失；请把该列设为“文本”格式后重新录入")
	default:
		id, err := idcard.Parse(raw, k.today)
		switch {
		case err != nil:
			k.bad(r, "id_number", err.Error())
		case id.Number == TemplateExampleID:
			k.bad(r, "id_number", "这是导入模板中的示例行，请删除后再导入")
		default:
			p.id, p.idOK, in.IDNumber, p.shown = id, true, id.Number, idcard.Mask(id.Number)
		}
	}
	in.Name = strings.Join(strings.Fields(r.raw("name")), " ")
	if n := utf8.RuneCountInString(in.Name); n == 0 {
		k.bad(r, "name", "姓名为空")
	} else if n > 30 || !nameRe.MatchString(in.Name) {
		k.bad(r, "name", "姓名只能是汉字或字母（可含间隔号·），不超过30个字："+in.Name)
	}
	if v := r.raw("sex"); v != "" {
		sex, ok := sexWords[strings.ToLower(codeValue(v))]
		switch {
		case !ok:
			k.bad(r, "sex", "性别应填“男”或“女”："+v)
		case p.idOK && sex != p.id.Sex():
			k.bad(r, "sex", fmt.Sprintf("性别“%s”与身份证号码不符：身份证号码显示为%s", v, map[string]string{"M": "男", "F": "女"}[p.id.Sex()]))
		default:
			in.Sex = sex
		}
	}
	if v := r.raw("birth_date"); v != "" {
		d, byMonth, ok := parseDateCell(v)
		switch {
		case !ok:
			k.bad(r, "birth_date", "出生日期格式不正确（应为 1980-01-02 这样的日期）："+v)
		case !p.idOK:
		case byMonth && (d.Year() != p.id.BirthDate.Year() || d.Month() != p.id.BirthDate.Month()),
			!byMonth && !d.Equal(p.id.BirthDate):
			shown := d.Format(time.DateOnly)
			if byMonth {
				shown = d.Format("2006-01")
			}
			k.bad(r, "birth_date", fmt.Sprintf("出生日期 %s 与身份证号码不符：身份证号码显示为 %s", shown, p.id.BirthDate.Format(time.DateOnly)))
		case !byMonth:
			in.BirthDate = d.Format(time.DateOnly)
		}
	}
	if v := r.raw("phone"); v != "" {
		if phone, msg := checkPhone(v); msg != "" {
			k.bad(r, "phone", msg)
		} else {
			in.Phone = phone
		}
	}
	if v := r.raw("relation"); v == "" {
		k.bad(r, "relation", "与户主关系为空")
	} else if rel, ok := lookupOption(Relations, relationWords, v); !ok {
		k.bad(r, "relation", "与户主关系“"+v+"”无法识别，应为：户主、配偶、子女、父母、孙子女/外孙子女、兄弟姐妹、其他")
	} else {
		in.Relation = rel
	}
	if r.has("disability") {
		if v := r.raw("disability"); v != "" {
			kind, level, ok := parseDisability(v)
			switch {
			case !ok:
				k.bad(r, "disability", "残疾类别及等级“"+v+"”无法识别，应写成“肢体二级”“视力残疾一级”这样，无残疾写“无”或不填")
			case kind != "" && level == 0:
				k.bad(r, "disability", "有残疾时须写明残疾等级（一级至四级），如“肢体二级”")
			default:
				in.DisabilityKind, in.DisabilityLevel = kind, level
			}
		}
	} else {
		kindOK, levelOK := true, true
		if v := r.raw("disability_kind"); v != "" {
			kind, ok := lookupDisabilityKind(v)
			if !ok {
				kindOK = false
				k.bad(r, "disability_kind", "残疾类别“"+v+"”无法识别，应为：无、肢体、智力、精神、视力、听力、言语、多重")
			}
			in.DisabilityKind = kind
		}
		if v := r.raw("disability_level"); v != "" {
			level, ok := parseLevel(v)
			if !ok {
				levelOK = false
				k.bad(r, "disability_level", "残疾等级“"+v+"”无法识别，应为一级至四级（或 1 至 4）")
			}
			in.DisabilityLevel = level
		}
		switch {
		case !kindOK || !levelOK:
		case in.DisabilityKind == "" && in.DisabilityLevel != 0:
			k.bad(r, "disability_level", "填写了残疾等级但没有残疾类别；无残疾时不填等级")
		case in.DisabilityKind != "" && in.DisabilityLevel == 0:
			k.bad(r, "disability_level", "有残疾时须填写残疾等级（一级至四级）")
		}
	}
	for _, f := range []struct {
		field string
		to    *bool
	}{{"co_resident", &in.CoResident}, {"able_to_work", &in.AbleToWork}, {"serious_illness", &in.SeriousIllness}} {
		v := r.raw(f.field)
		if v == "" {
			continue
		}
		key := strings.ToLower(codeValue(v))
		key = strings.TrimSuffix(strings.TrimSuffix(key, "劳动能力"), "丧失")
		yes, ok := yesWords[key]
		if !ok && strings.Contains(v, "丧失") && !strings.Contains(v, "部分") {
			yes, ok = false, true
		}
		if !ok && strings.Contains(v, "部分") {
			k.bad(r, f.field, "“"+v+"”请按实际情况填“是”或“否”")
			continue
		}
		if !ok {
			k.bad(r, f.field, "应填“是”或“否”："+v)
			continue
		}
		*f.to = yes
	}
	if v := r.raw("student"); v != "" {
		if st, ok := lookupOption(StudentStatuses, studentWords, v); ok {
			in.Student = st
		} else {
			k.bad(r, "student", "在校情况“"+v+"”无法识别，应为：非在校、义务教育、普通高中、中职/高职、本科及以下全日制、研究生")
		}
	}
	if v := r.raw("self_care_failed"); v != "" && v != "无" && v != "否" {
		for _, item := range selfCareSep.Split(v, -1) {
			if item == "" {
				continue
			}
			if code, ok := lookupSelfCare(item); ok {
				if !slices.Contains(in.SelfCareFailed, code) {
					in.SelfCareFailed = append(in.SelfCareFailed, code)
				}
			} else {
				k.bad(r, "self_care_failed", "生活自理评估项目“"+item+"”无法识别，应为：自主吃饭、自主穿衣、自主上下床、自主如厕、室内自主行走、自主洗澡")
			}
		}
	}
	if len(r.msgs) == before && p.idOK {
		// the registry's own rules, as a guard: they agree with the checks above
		cp := *in
		if _, err := cp.validate(k.today); err != nil {
			e, _ := apperr.As(err)
			field, msg := "", err.Error()
			if e != nil {
				field, msg = e.Field, e.Message
			}
			k.bad(r, field, msg)
		}
	}
	return p
}

// household reads the household columns of a row.
func (k *importCheck) household(r *impRow) hhVals {
	var h hhVals
	h.region = k.village(r)
	if v := r.raw("hukou"); v != "" {
		if code, ok := lookupOption(Hukous, hukouWords, v); ok {
			h.hukou = code
		} else {
			k.bad(r, "hukou", "户籍性质“"+v+"”无法识别，应填“城镇”或“农村”")
		}
	}
	h.address = strings.Join(strings.Fields(r.raw("address")), " ")
	if utf8.RuneCountInString(h.address) > 200 {
		k.bad(r, "address", "家庭住址过长（不超过200字）")
		h.address = ""
	}
	if v := r.raw("household_phone"); v != "" {
		if phone, msg := checkPhone(v); msg != "" {
			k.bad(r, "household_phone", msg)
		} else {
			h.phone = phone
		}
	}
	h.headName = strings.Join(strings.Fields(r.raw("head_name")), " ")
	if v := strings.ToUpper(codeValue(r.raw("head_id_number"))); v != "" {
		if id, err := idcard.Parse(v, k.today); err != nil {
			k.bad(r, "head_id_number", "户主身份证号码："+err.Error())
		} else {
			h.head = id.Number
		}
	}
	return h
}

func villageGiven(r *impRow) bool { return r.raw("village_code") != "" || r.raw("village_name") != "" }

func villageField(r *impRow) string {
	if r.has("village_code") {
		return "village_code"
	}
	return "village_name"
}

// village resolves a row's village by code or by name, inside the caller's
// scope and at village level.
func (k *importCheck) village(r *impRow) *region.Region {
	code := wholeNumber(codeValue(r.raw("village_code")))
	name := r.raw("village_name")
	switch {
	case code != "":
		v := k.villageByCode(r, code)
		if v != nil && name != "" && !k.nameMatches(v, name) {
			k.bad(r, "village_name", fmt.Sprintf("村（社区）名称“%s”与代码 %s（%s）不一致", name, code, k.s.Tree.FullName(code)))
			return nil
		}
		return v
	case name != "":
		return k.villageByName(r, name)
	}
	return nil
}

var levelNames = map[int]string{region.Province: "省", region.City: "市", region.County: "县（区）", region.Township: "乡镇（街道）", region.Village: "村（社区）"}

func (k *importCheck) villageByCode(r *impRow, code string) *region.Region {
	if looksLikeExcelNumber(code) || len(code) != 12 || !isDigits(code) {
		k.bad(r, "village_code", "村（社区）代码应为12位数字（Excel 中请设为“文本”格式）："+code)
		return nil
	}
	v, ok := k.s.Tree.Get(code)
	switch {
	case !ok:
		k.bad(r, "village_code", "行政区划代码不存在："+code)
	case v.Level != region.Village:
		k.bad(r, "village_code", fmt.Sprintf("须填写村（社区）一级的代码；%s 是%s（%s）", code, levelNames[v.Level], k.s.Tree.FullName(code)))
	case !region.Within(k.c.Actor().Region, v.Code):
		k.bad(r, "village_code", fmt.Sprintf("%s（%s）不在您的管辖范围内", code, k.s.Tree.FullName(code)))
	default:
		return v
	}
	return nil
}

func (k *importCheck) villages() []*region.Region {
	if k.byName == nil {
		k.scopeVillages = k.s.Tree.Villages(k.c.Actor().Region)
		k.byName = map[string][]*region.Region{}
		for _, v := range k.scopeVillages {
			key := villageKey(v.Name)
			k.byName[key] = append(k.byName[key], v)
		}
	}
	return k.scopeVillages
}

// withPrefix lists the villages whose name, preceded by the names of their
// township (and county, city, province) as far up as written, is key.
func (k *importCheck) withPrefix(key string) []*region.Region {
	var out []*region.Region
	for _, v := range k.villages() {
		vk := villageKey(v.Name)
		if !strings.HasSuffix(key, vk) || key == vk {
			continue
		}
		prefix := strings.TrimSuffix(key, vk)
		path := k.s.Tree.Path(v.Code)
		acc := ""
		for i := len(path) - 2; i >= 0; i-- {
			acc = villageKey(path[i].Name) + acc
			if acc == prefix {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

func (k *importCheck) nameMatches(v *region.Region, name string) bool {
	key := villageKey(name)
	return key == villageKey(v.Name) || slices.Contains(k.withPrefix(key), v)
}

func (k *importCheck) villageByName(r *impRow, name string) *region.Region {
	key := villageKey(name)
	hit, ok := k.nameCache[key]
	if !ok {
		k.villages()
		found := k.byName[key]
		if len(found) == 0 {
			found = k.withPrefix(key)
		}
		switch len(found) {
		case 0:
			hit.msg = fmt.Sprintf("在您的管辖范围内找不到名为“%s”的村（社区）；请核对名称，或改填12位村（社区）代码", name)
		case 1:
			hit.v = found[0]
		default:
			var names []string
			for _, v := range found[:min(3, len(found))] {
				names = append(names, k.s.Tree.FullName(v.Code))
			}
			hit.msg = fmt.Sprintf("您的管辖范围内有 %d 个名为“%s”的村（社区）（%s 等）；请写成“乡镇名+村名”，或改填12位村（社区）代码", len(found), name, strings.Join(names, "、"))
		}
		k.nameCache[key] = hit
	}
	if hit.v == nil {
		k.bad(r, "village_name", hit.msg)
	}
	return hit.v
}

// ---- households ----

func heads(members []*impPerson) []*impPerson {
	var out []*impPerson
	for _, m := range members {
		if m.in.Relation == "head" {
			out = append(out, m)
		}
	}
	return out
}

func (k *importCheck) oneHead(h *impHousehold, where *impRow) {
	hs := heads(h.members)
	switch {
	case len(hs) == 1:
		h.head = hs[0]
	case len(hs) == 0 && where.t.kind == tableHouseholds:
		k.bad(where, "", "该户没有户主：请在“成员”工作表中把一位成员的与户主关系填为“户主”")
	case len(hs) == 0:
		k.bad(where, "relation", fmt.Sprintf("户编号 %s 的成员中没有户主：请把其中一位的与户主关系填为“户主”", h.no))
	default:
		for _, x := range hs[1:] {
			k.bad(x.row, "relation", fmt.Sprintf("户编号 %s 有不止一位户主（另见第 %d 行）：一户只能有一位户主", h.no, hs[0].row.num))
		}
	}
}

// crossCheck compares the household's 户主姓名 and 户主身份证号 with its head.
func (k *importCheck) crossCheck(h *impHousehold, where *impRow) {
	if h.head == nil {
		return
	}
	if h.vals.headName != "" && h.head.in.Name != "" && h.vals.headName != h.head.in.Name {
		k.bad(where, "head_name", fmt.Sprintf("户主姓名“%s”与户主（第 %d 行）的姓名“%s”不一致", h.vals.headName, h.head.row.num, h.head.in.Name))
	}
	if h.vals.head != "" && h.head.idOK && h.vals.head != h.head.id.Number {
		k.bad(where, "head_id_number", fmt.Sprintf("户主身份证号码与户主（第 %d 行）的身份证号码不一致", h.head.row.num))
	}
	if h.vals.phone == "" {
		h.vals.phone = h.head.in.Phone
	}
}

// twoSheets links the 成员 rows to the 户 rows by household number.
func (k *importCheck) twoSheets(ht, mt *impTable) {
	byNo := map[string]*impHousehold{}
	for _, r := range ht.data {
		no := householdNo(r.raw("household_no"))
		vals := k.household(r)
		if no == "" {
			k.bad(r, "household_no", "户编号为空")
			continue
		}
		if prev := byNo[no]; prev != nil {
			k.bad(r, "household_no", fmt.Sprintf("户编号 %s 与第 %d 行重复", no, prev.row.num))
			continue
		}
		if !villageGiven(r) {
			k.bad(r, villageField(r), "所属村（社区）为空：请填写村（社区）代码或名称")
		}
		if r.raw("hukou") == "" {
			k.bad(r, "hukou", "户籍性质为空")
		}
		if r.raw("address") == "" {
			k.bad(r, "address", "家庭住址为空")
		}
		h := &impHousehold{no: no, row: r, vals: vals}
		r.hh = h
		byNo[no] = h
		k.households = append(k.households, h)
	}
	for _, r := range mt.data {
		p := k.person(r)
		if p.no == "" {
			continue
		}
		h := byNo[p.no]
		if h == nil {
			k.bad(r, "household_no", fmt.Sprintf("户编号 %s 在“%s”工作表中找不到：该成员没有对应的户", p.no, ht.name))
			continue
		}
		r.hh = h
		h.members = append(h.members, p)
	}
	for _, h := range k.households {
		if len(h.members) == 0 {
			k.bad(h.row, "household_no", fmt.Sprintf("该户在“%s”工作表中没有成员", mt.name))
			continue
		}
		k.oneHead(h, h.row)
		k.crossCheck(h, h.row)
	}
}

// oneSheet groups the person rows by household number; the household's
// columns may be on every row (the same values) or only on the head's.
func (k *importCheck) oneSheet(t *impTable) {
	byNo := map[string]*impHousehold{}
	vals := map[*impRow]hhVals{}
	for _, r := range t.data {
		p := k.person(r)
		vals[r] = k.household(r)
		if p.no == "" {
			continue
		}
		h := byNo[p.no]
		if h == nil {
			h = &impHousehold{no: p.no}
			byNo[p.no] = h
			k.households = append(k.households, h)
		}
		r.hh = h
		h.members = append(h.members, p)
	}
	for _, h := range k.households {
		k.oneHead(h, h.members[0].row)
		ref := h.members[0].row
		if h.head != nil {
			ref = h.head.row
		}
		h.row = ref
		rows := []*impRow{ref}
		for _, m := range h.members {
			if m.row != ref {
				rows = append(rows, m.row)
			}
		}
		pick := func(field string, get func(hhVals) string) string {
			v, at := "", 0
			for _, r := range rows {
				if x := get(vals[r]); x != "" {
					v, at = x, r.num
					break
				}
			}
			for _, r := range rows {
				if x := get(vals[r]); x != "" && x != v {
					k.bad(r, field, fmt.Sprintf("与同户第 %d 行不一致：同一户的户信息须相同，或只在户主所在行填写", at))
				}
			}
			return v
		}
		code := pick(villageField(ref), func(v hhVals) string {
			if v.region == nil {
				return ""
			}
			return v.region.Code
		})
		h.vals.region, _ = k.s.Tree.Get(code)
		if code == "" {
			h.vals.region = nil
		}
		h.vals.hukou = pick("hukou", func(v hhVals) string { return v.hukou })
		h.vals.address = pick("address", func(v hhVals) string { return v.address })
		h.vals.phone = pick("household_phone", func(v hhVals) string { return v.phone })
		h.vals.headName = pick("head_name", func(v hhVals) string { return v.headName })
		h.vals.head = pick("head_id_number", func(v hhVals) string { return v.head })
		given := func(field string) bool {
			return slices.ContainsFunc(rows, func(r *impRow) bool { return r.raw(field) != "" })
		}
		if !slices.ContainsFunc(rows, villageGiven) {
			k.bad(ref, villageField(ref), fmt.Sprintf("户编号 %s 没有填写所属村（社区）", h.no))
		}
		if !given("hukou") {
			k.bad(ref, "hukou", fmt.Sprintf("户编号 %s 没有填写户籍性质", h.no))
		}
		if !given("address") {
			k.bad(ref, "address", fmt.Sprintf("户编号 %s 没有填写家庭住址", h.no))
		}
		k.crossCheck(h, ref)
	}
}

// duplicates refuses a person who appears twice in the file.
func (k *importCheck) duplicates() {
	seen := map[string]*impRow{}
	for _, t := range k.tables {
		for _, r := range t.data {
			p := r.person
			if p == nil || !p.idOK {
				continue
			}
			if first := seen[p.id.Number]; first != nil {
				k.bad(r, "id_number", fmt.Sprintf("与第 %d 行是同一人（身份证号码相同）：一人在文件中只能出现一次", first.num))
				continue
			}
			seen[p.id.Number] = r
		}
	}
}

// registered refuses people the registry already has in a household (one
// household per person) and people it records as deceased.
func (k *importCheck) registered(ctx context.Context, q db.Querier) error {
	byHash := map[string][]*impPerson{}
	var hashes []string
	for _, t := range k.tables {
		for _, r := range t.data {
			if p := r.person; p != nil && p.idOK {
				h := k.s.Keys.Hash(p.id.Number)
				if byHash[h] == nil {
					hashes = append(hashes, h)
				}
				byHash[h] = append(byHash[h], p)
			}
		}
	}
	scope := k.c.Actor().Region
	for start := 0; start < len(hashes); start += 500 {
		chunk := hashes[start:min(start+500, len(hashes))]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, h := range chunk {
			ph[i] = fmt.Sprintf("$%d", i+1)
			args[i] = h
		}
		rows, err := q.QueryContext(ctx, `SELECT p.id_hmac, p.household_id, p.region_code, p.status, COALESCE(h.hh_no, '')
			FROM persons p LEFT JOIN households h ON h.id = p.household_id WHERE p.id_hmac IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return fmt.Errorf("registry: import check: %w", err)
		}
		for rows.Next() {
			var hash, reg, status, no string
			var hh *int64
			if err := rows.Scan(&hash, &hh, &reg, &status, &no); err != nil {
				rows.Close()
				return err
			}
			var msg string
			switch {
			case hh != nil && region.Within(scope, reg):
				msg = fmt.Sprintf("该人员已登记在户 %s（%s），一人只能属于一户；如需调整，请在该户办理移出、分户或合户", no, k.s.Tree.FullName(reg))
			case hh != nil:
				msg = "该人员已在其他地区登记，一人只能属于一户；请联系其现登记地办理迁出后再登记"
			case status == "deceased":
				msg = "登记信息显示该人员已死亡，不能导入；如记录有误，请先核实"
			default:
				continue // registered without a household: the import re-attaches them
			}
			for _, p := range byHash[hash] {
				k.bad(p.row, "id_number", msg)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ---- what the check found ----

func (k *importCheck) rows() int {
	n := 0
	for _, t := range k.tables {
		n += len(t.data)
	}
	return n
}

func (k *importCheck) summary() ImportSummary {
	sum := ImportSummary{Households: len(k.households), Persons: k.persons}
	byCode := map[string]*VillageCount{}
	for _, h := range k.households {
		code, name := "", "（村（社区）未能识别）"
		if h.vals.region != nil {
			code, name = h.vals.region.Code, k.s.Tree.FullName(h.vals.region.Code)
		}
		vc := byCode[code]
		if vc == nil {
			vc = &VillageCount{Code: code, Name: name}
			byCode[code] = vc
		}
		vc.Households++
		vc.Persons += len(h.members)
	}
	for _, vc := range byCode {
		sum.Villages = append(sum.Villages, *vc)
	}
	sort.Slice(sum.Villages, func(i, j int) bool {
		a, b := sum.Villages[i].Code, sum.Villages[j].Code
		return a != "" && (b == "" || a < b)
	})
	return sum
}

func (k *importCheck) preview() ([]PreviewRow, int) {
	var out []PreviewRow
	total, bad := 0, 0
	for _, t := range k.tables {
		for _, r := range t.data {
			total++
			show := total <= maxPreviewRows
			if len(r.msgs) > 0 && bad < maxImportProblems {
				bad++
				show = true
			}
			if !show {
				continue
			}
			pr := PreviewRow{Sheet: t.name, Row: r.num, Problems: r.msgs}
			if r.hh != nil && r.hh.vals.region != nil {
				pr.Village = k.s.Tree.FullName(r.hh.vals.region.Code)
			}
			if p := r.person; p != nil {
				pr.Kind, pr.HouseholdNo, pr.Name, pr.IDMasked = "person", p.no, r.raw("name"), p.shown
				pr.Relation = Label(Relations, p.in.Relation)
				if p.in.Relation == "" {
					pr.Relation = r.raw("relation")
				}
			} else {
				pr.Kind, pr.HouseholdNo, pr.Name = "household", householdNo(r.raw("household_no")), r.raw("head_name")
				if pr.Village == "" {
					pr.Village = strings.TrimSpace(r.raw("village_name") + " " + r.raw("village_code"))
				}
			}
			out = append(out, pr)
		}
	}
	return out, total - len(out)
}
