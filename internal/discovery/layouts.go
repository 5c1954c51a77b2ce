package discovery

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"jiuzhu/internal/tabular"
)

// Event kinds a department may report.
const (
	KindDeath        = "death"
	KindBirth        = "birth"
	KindHospital     = "hospital"
	KindDisability   = "disability"
	KindUnemployment = "unemployment"
	KindPrison       = "prison"
	KindVehicle      = "vehicle"
	KindProperty     = "property"
	KindBusiness     = "business"
)

// ColType says how a cell is read and checked.
type ColType = tabular.Cell

const (
	ColID     = tabular.ID     // an ID number (15 digits upgraded), stored hashed, sealed and masked
	ColDate   = tabular.Date   // YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD; not in the future, not before the person's birth
	ColCode   = tabular.Code   // one of Codes
	ColYuan   = tabular.Yuan   // yuan with up to two decimals, not negative
	ColText   = tabular.Text   // free text, kept sealed
	ColRegion = tabular.Region // a 12-digit region code of the province
	ColNumber = tabular.Number // a non-negative decimal (areas)
)

// Column is one column of an event layout.
type Column struct {
	Name     string
	Label    string
	Type     ColType
	Required bool
	Codes    map[string]string
	Doc      string
}

// Layout is the file layout of one event kind.
type Layout struct {
	Kind       string
	Label      string
	Department string // the usual sender, the default source
	Columns    []Column
	// ID is the column naming the person the event is about (matched with
	// the registry); Date the event's date; Amount (optional) its amount;
	// Attr (optional) a code the rules read; Key the columns that identify
	// one event, so the same event sent twice is stored once.
	ID, Date, Amount, Attr string
	Key                    []string
	// KeepUnmatched: an event about someone not in the registry is kept (and
	// counted) because it may point to a person in need; otherwise it is not
	// stored, since it tells nothing about anyone the platform serves.
	KeepUnmatched func(attr string) bool
	Doc           string
}

var (
	idCol     = Column{Name: "id_number", Label: "身份证号", Type: ColID, Required: true, Doc: "当事人公民身份号码，18 位（15 位自动升位）"}
	regionCol = Column{Name: "region_code", Label: "居住地区划代码", Type: ColRegion, Doc: "12 位区划代码；当事人不在救助登记中时用于统计到县"}
	always    = func(string) bool { return true }
	never     = func(string) bool { return false }
)

// DisabilityKinds map the certificate's category codes to the registry's kinds.
var DisabilityKinds = map[string]string{"1": "visual", "2": "hearing", "3": "speech", "4": "physical", "5": "intellectual", "6": "mental", "7": "multiple"}

// Layouts are the accepted event files, one per kind (documented by LayoutDoc: `jiuzhu discovery layouts`, the events page and GET /api/v1/discovery/layouts).
var Layouts = []*Layout{
	{Kind: KindDeath, Label: "死亡", Department: "公安/卫生健康/殡葬",
		Columns: []Column{idCol, {Name: "death_date", Label: "死亡日期", Type: ColDate, Required: true}},
		ID:      "id_number", Date: "death_date", Key: []string{"id_number"}, KeepUnmatched: never,
		Doc: "死亡注销、死亡医学证明或火化记录，每人一行。"},
	{Kind: KindBirth, Label: "出生", Department: "公安（出生登记）",
		Columns: []Column{{Name: "id_number", Label: "父（母）身份证号", Type: ColID, Required: true, Doc: "登记出生的父亲或母亲"},
			{Name: "child_id_number", Label: "新生儿身份证号", Type: ColID, Required: true},
			{Name: "birth_date", Label: "出生日期", Type: ColDate, Required: true}},
		ID: "id_number", Date: "birth_date", Key: []string{"child_id_number"}, KeepUnmatched: never,
		Doc: "出生登记，每个新生儿一行，填父亲或母亲之一的身份证号。"},
	{Kind: KindHospital, Label: "住院高额自付", Department: "医疗保障",
		Columns: []Column{idCol, {Name: "discharge_date", Label: "出院日期", Type: ColDate, Required: true},
			{Name: "total_yuan", Label: "医疗总费用（元）", Type: ColYuan},
			{Name: "self_paid_yuan", Label: "个人自付（元）", Type: ColYuan, Required: true, Doc: "医保报销和大病保险后个人负担的部分"},
			{Name: "hospital", Label: "医疗机构", Type: ColText}, regionCol},
		ID: "id_number", Date: "discharge_date", Amount: "self_paid_yuan", Key: []string{"id_number", "discharge_date"}, KeepUnmatched: always,
		Doc: "出院结算时个人自付费用较高的住院，每次住院一行。"},
	{Kind: KindDisability, Label: "新办残疾证", Department: "残联",
		Columns: []Column{idCol, {Name: "issue_date", Label: "发证日期", Type: ColDate, Required: true},
			{Name: "category", Label: "残疾类别", Type: ColCode, Required: true, Codes: map[string]string{"1": "视力", "2": "听力", "3": "言语", "4": "肢体", "5": "智力", "6": "精神", "7": "多重"}},
			{Name: "level", Label: "残疾等级", Type: ColCode, Required: true, Codes: map[string]string{"1": "一级", "2": "二级", "3": "三级", "4": "四级"}}, regionCol},
		ID: "id_number", Date: "issue_date", Attr: "level", Key: []string{"id_number", "issue_date"}, KeepUnmatched: always,
		Doc: "新办或换发的第二代残疾人证，每证一行。"},
	{Kind: KindUnemployment, Label: "失业登记", Department: "人力资源和社会保障",
		Columns: []Column{idCol, {Name: "register_date", Label: "登记日期", Type: ColDate, Required: true}, regionCol},
		ID:      "id_number", Date: "register_date", Key: []string{"id_number", "register_date"}, KeepUnmatched: always,
		Doc: "城乡失业登记，每次登记一行。"},
	{Kind: KindPrison, Label: "服刑人员收监/刑满释放", Department: "司法行政",
		Columns: []Column{idCol, {Name: "movement", Label: "类型", Type: ColCode, Required: true, Codes: map[string]string{"1": "收监", "2": "刑满释放"}},
			{Name: "move_date", Label: "日期", Type: ColDate, Required: true}, regionCol},
		ID: "id_number", Date: "move_date", Attr: "movement", Key: []string{"id_number", "movement", "move_date"},
		KeepUnmatched: func(attr string) bool { return attr == "2" },
		Doc:           "监狱收监和刑满释放，每次一行；释放人员不在救助登记中的也保留并统计。"},
	{Kind: KindVehicle, Label: "购买机动车", Department: "公安交管",
		Columns: []Column{idCol, {Name: "plate", Label: "号牌号码", Type: ColText, Required: true},
			{Name: "vehicle_type", Label: "车辆类型", Type: ColCode, Required: true, Codes: map[string]string{"K": "载客汽车", "H": "载货汽车", "M": "摩托车", "D": "残疾人专用车", "N": "农用车"}},
			{Name: "register_date", Label: "登记日期", Type: ColDate, Required: true},
			{Name: "price_yuan", Label: "购置价（元）", Type: ColYuan}},
		ID: "id_number", Date: "register_date", Amount: "price_yuan", Attr: "vehicle_type", Key: []string{"id_number", "plate"}, KeepUnmatched: never,
		Doc: "新注册登记或转入的机动车，每车一行，按所有人。"},
	{Kind: KindProperty, Label: "购买房产", Department: "自然资源（不动产登记）",
		Columns: []Column{idCol, {Name: "cert_no", Label: "不动产权证号", Type: ColText, Required: true},
			{Name: "register_date", Label: "登记日期", Type: ColDate, Required: true},
			{Name: "price_yuan", Label: "成交价（元）", Type: ColYuan},
			{Name: "area_m2", Label: "建筑面积（平方米）", Type: ColNumber}},
		ID: "id_number", Date: "register_date", Amount: "price_yuan", Key: []string{"id_number", "cert_no"}, KeepUnmatched: never,
		Doc: "住宅类不动产的转移登记（买受人），每证每人一行。"},
	{Kind: KindBusiness, Label: "市场主体登记", Department: "市场监管",
		Columns: []Column{idCol, {Name: "credit_code", Label: "统一社会信用代码", Type: ColText, Required: true},
			{Name: "entity_name", Label: "主体名称", Type: ColText, Required: true},
			{Name: "register_date", Label: "成立日期", Type: ColDate, Required: true},
			{Name: "capital_yuan", Label: "注册资本（元）", Type: ColYuan}},
		ID: "id_number", Date: "register_date", Amount: "capital_yuan", Key: []string{"id_number", "credit_code"}, KeepUnmatched: never,
		Doc: "新设立的企业或个体工商户，法定代表人、股东或经营者各一行。"},
}

// LayoutOf finds the layout of a kind.
func LayoutOf(kind string) (*Layout, bool) {
	i := slices.IndexFunc(Layouts, func(l *Layout) bool { return l.Kind == kind })
	if i < 0 {
		return nil, false
	}
	return Layouts[i], true
}

// KindLabel is the Chinese name of an event kind.
func KindLabel(kind string) string {
	if l, ok := LayoutOf(kind); ok {
		return l.Label
	}
	return kind
}

// RowError is one problem of one row; Line counts a file's header as line 1
// (an API batch counts its events from 1).
type RowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// Row is a validated row by column name: ID numbers 18 characters, dates
// YYYY-MM-DD, yuan as fen in decimal.
type Row map[string]string

func (c Column) header() tabular.Header {
	return tabular.Header{Name: c.Name, Label: c.Label, Required: c.Required}
}

// Table reads a file against a set of columns: the header is mapped, every
// row checked cell by cell. check adds row-level checks (it may return a
// problem). Layout errors end the reading; row errors are collected.
type Table struct {
	Label   string
	Columns []Column
	Key     []string // duplicate rows within the file are errors
	Today   time.Time
	Valid   func(region string) bool
	Check   func(row Row) (column, msg string)
}

// TableResult is what Read found.
type TableResult struct {
	Rows    []Row
	Lines   []int
	Count   int
	BadRows int
	Errors  []RowError
}

// MaxReported bounds the row problems kept in a report.
const MaxReported = 500

func (t *Table) bad(res *TableResult, line int, col, msg string) {
	if len(res.Errors) < MaxReported {
		res.Errors = append(res.Errors, RowError{Line: line, Column: col, Message: msg})
	}
}

// Row validates one row of cells already in column order.
func (t *Table) Row(res *TableResult, seen map[string]int, line int, cols []Column, cells []string) {
	res.Count++
	row, rowBad := Row{}, false
	for j, col := range cols {
		v := ""
		if j < len(cells) {
			v = strings.TrimSpace(cells[j])
		}
		if v == "" {
			if col.Required {
				t.bad(res, line, col.Label, "必填项为空")
				rowBad = true
			}
			continue
		}
		norm, msg := tabular.Check(col.Type, col.Codes, v, tabular.Limits{Latest: t.Today, LatestName: "今天", Region: t.Valid})
		if msg != "" {
			t.bad(res, line, col.Label, msg)
			rowBad = true
			continue
		}
		row[col.Name] = norm
	}
	if len(cells) > len(cols) && strings.TrimSpace(strings.Join(cells[len(cols):], "")) != "" {
		t.bad(res, line, "", "本行的列数多于表头")
		rowBad = true
	}
	if !rowBad && t.Check != nil {
		if col, msg := t.Check(row); msg != "" {
			t.bad(res, line, col, msg)
			rowBad = true
		}
	}
	if !rowBad && len(t.Key) > 0 {
		key := make([]string, len(t.Key))
		for k, name := range t.Key {
			key[k] = row[name]
		}
		k := strings.Join(key, "\x00")
		if first, dup := seen[k]; dup {
			t.bad(res, line, "", fmt.Sprintf("与第 %d 行重复", first))
			rowBad = true
		} else {
			seen[k] = line
		}
	}
	if rowBad {
		res.BadRows++
		return
	}
	res.Rows = append(res.Rows, row)
	res.Lines = append(res.Lines, line)
}

// Read reads a whole file.
func (t *Table) Read(name string, body []byte) (*TableResult, error) {
	res := &TableResult{}
	var cols []Column
	header := true
	seen := map[string]int{}
	err := tabular.EachRow(name, body, func(line int, cells []string) error {
		if header {
			header = false
			var err error
			cols, err = tabular.MapHeader(t.Label, t.Columns, Column.header, cells)
			return err
		}
		t.Row(res, seen, line, cols, cells)
		return nil
	})
	switch {
	case err != nil:
		return res, err
	case header:
		return res, errors.New("文件是空的")
	case res.Count == 0:
		return res, errors.New("文件只有表头，没有数据行")
	}
	return res, nil
}

// LayoutDoc documents the event layouts in Markdown.
func LayoutDoc() string {
	var b strings.Builder
	b.WriteString("# 部门事件文件格式（主动发现）\n\n")
	b.WriteString("每类事件一个文件，CSV（UTF-8 或 GBK）或 Excel（.xlsx，第一个工作表）；第一行为表头，列名可用英文名或中文名，列的顺序不限。\n")
	b.WriteString("整个文件逐行校验，任何一行有错误则整个文件不导入，并给出逐行报告。同一事件重复报送只记一次。\n")
	b.WriteString("当事人不在救助登记中的：住院、新办残疾证、失业登记和刑满释放保留为“未匹配”并统计到县（可能需要救助的人）；")
	b.WriteString("死亡、出生、购车、购房、市场主体登记和收监与平台服务对象无关，不保存，在报告中列出。\n\n")
	for _, l := range Layouts {
		fmt.Fprintf(&b, "## %s（kind=%s，通常由%s报送）\n\n%s\n\n| 列名 | 中文列名 | 必填 | 说明 |\n|---|---|---|---|\n", l.Label, l.Kind, l.Department, l.Doc)
		for _, c := range l.Columns {
			req := ""
			if c.Required {
				req = "是"
			}
			doc := c.Doc
			if c.Type == ColCode {
				var codes []string
				for _, k := range slices.Sorted(maps.Keys(c.Codes)) {
					codes = append(codes, k+"="+c.Codes[k])
				}
				doc = strings.TrimSpace(doc + " " + strings.Join(codes, "，"))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Label, req, doc)
		}
		b.WriteString("\n")
	}
	return b.String()
}
