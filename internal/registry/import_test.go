package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/registry"
)

// importer is a named uploader (the caller of registry_test is anonymous).
type importer struct {
	region string
	name   string
	id     int64
}

func (c importer) Scope() string { return caller{c.region}.Scope() }
func (c importer) Actor() audit.Actor {
	return audit.Actor{UserID: c.id, Username: c.name, Role: "township_caseworker", Region: c.region}
}

var (
	town  = importer{"360102002000", "town_a", 7}
	town2 = importer{"360102002000", "town_b", 8}
)

type sheet struct {
	name string
	rows [][]string
}

// workbook writes sheets of text cells.
func workbook(t *testing.T, sheets ...sheet) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, sh := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", sh.name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(sh.name); err != nil {
			t.Fatal(err)
		}
		for r, row := range sh.rows {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := f.SetCellStr(sh.name, cell, v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	hhHeader  = []string{"户编号", "户主姓名", "户籍性质", "家庭住址", "联系电话", "所属村（社区）代码", "所属村（社区）"}
	memHeader = []string{"户编号", "姓名", "身份证号", "与户主关系", "性别", "出生日期", "联系电话", "残疾类别", "残疾等级"}
)

// goodFile is three households, seven people, in two villages of the township.
func goodFile() (hh, mem [][]string) {
	hh = [][]string{hhHeader,
		{"1", "王建国", "城镇", "民巷12号", "13807910001", village1, ""},
		{"2", "李秀兰", "城镇", "章江路5号", "", "", "章江路社区"},
		{"3", "赵大明", "农村", "民巷30号", "0791-86001234", village1, "民巷社区居委会"},
	}
	mem = [][]string{memHeader,
		{"1", "王建国", id("1962-04-10", 11, true), "户主", "男", "1962-04-10", "", "", ""},
		{"1", "陈桂花", id("1964-09-02", 12, false), "妻子", "女", "", "", "", ""},
		{"1", "王小军", id("1990-01-15", 13, true), "儿子", "", "1990/1/15", "13807910002", "肢体", "二级"},
		{"2", "李秀兰", id("1950-12-30", 14, false), "户主", "", "", "", "视力残疾", "1"},
		{"2", "周婷", id("2012-06-01", 16, false), "孙女", "女", "", "", "", ""},
		{"3", "赵大明", id("1975-03-03", 17, true), "本人", "", "", "", "", ""},
		{"3", "赵小花", id("2001-07-07", 18, false), "女儿", "", "", "", "", ""},
	}
	return hh, mem
}

func twoSheets(t *testing.T, hh, mem [][]string) []byte {
	return workbook(t, sheet{"户", hh}, sheet{"成员", mem})
}

func counts(t *testing.T, s *registry.Service) [4]int {
	t.Helper()
	var n [4]int
	err := s.DB.QueryRowContext(context.Background(), `SELECT (SELECT COUNT(*) FROM households), (SELECT COUNT(*) FROM persons),
		(SELECT COUNT(*) FROM registry_history), (SELECT COUNT(*) FROM audit_log)`).Scan(&n[0], &n[1], &n[2], &n[3])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// problem finds the report's problem at a sheet and row whose message has text.
func problem(t *testing.T, r *registry.ImportReport, sheet string, row int, text string) registry.ImportProblem {
	t.Helper()
	for _, p := range r.Problems {
		if p.Sheet == sheet && p.Row == row && strings.Contains(p.Message, text) {
			return p
		}
	}
	t.Fatalf("no problem %q at %s row %d; report: %+v", text, sheet, row, r.Problems)
	return registry.ImportProblem{}
}

func TestImportTwoSheets(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	hh, mem := goodFile()
	file := twoSheets(t, hh, mem)
	before := counts(t, s)
	r, err := s.Preview(ctx, town, "民巷.xlsx", file)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportPreviewed || len(r.Problems) != 0 || r.Layout != registry.LayoutTwoSheets || r.Token == "" {
		t.Fatalf("preview: %s %s %+v", r.Status, r.Message, r.Problems)
	}
	if r.Summary.Households != 3 || r.Summary.Persons != 7 || len(r.Summary.Villages) != 2 ||
		r.Summary.Villages[0].Code != village1 || r.Summary.Villages[0].Households != 2 || r.Summary.Villages[0].Persons != 5 ||
		r.Summary.Villages[1].Code != village2 || r.Summary.Villages[1].Persons != 2 {
		t.Fatalf("summary %+v", r.Summary)
	}
	after := counts(t, s)
	if after[0] != before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Fatalf("preview wrote to the registry: %v → %v", before, after)
	}
	for _, p := range r.Preview {
		if strings.Contains(p.IDMasked, "19620410") {
			t.Fatalf("preview shows a full ID number: %+v", p)
		}
	}
	// only the uploader commits
	if _, err := s.CommitImport(ctx, town2, r.Token); err == nil {
		t.Fatal("someone else committed the import")
	} else {
		wantCode(t, err, "forbidden")
	}
	if _, err := s.Import(ctx, town2, r.Token); err == nil {
		t.Fatal("someone else read the import")
	}
	done, err := s.CommitImport(ctx, town, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != registry.ImportCommitted || len(done.Households) != 3 || done.Summary.Persons != 7 {
		t.Fatalf("commit: %+v", done)
	}
	n := counts(t, s)
	if n[0]-before[0] != 3 || n[1]-before[1] != 7 || n[2]-before[2] != 10 || n[3]-after[3] != 1 {
		t.Fatalf("commit wrote households/persons/history/audit %v → %v, want +3 +7 +10 +1", after, n)
	}
	var action string
	s.DB.QueryRowContext(ctx, `SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&action)
	if action != "registry.import.commit" {
		t.Fatalf("last audit entry %s", action)
	}
	// what was written is what the registry's own writes write
	f, err := s.ByIDNumber(ctx, caller{"360102002000"}, id("1990-01-15", 13, true))
	if err != nil {
		t.Fatal(err)
	}
	if f.Person.Name != "王小军" || f.Person.Relation != "child" || f.Person.DisabilityKind != "physical" || f.Person.DisabilityLevel != 2 ||
		f.Person.Phone != "13807910002" || !strings.HasPrefix(f.Person.IDMasked, "360102***") || !strings.HasPrefix(f.Household.No, village1) {
		t.Fatalf("imported person %+v in %+v", f.Person, f.Household)
	}
	h, err := s.Household(ctx, caller{"360102002000"}, done.Households[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Region != village2 || h.Hukou != "urban" || len(h.Members) != 2 || h.Members[0].Name != "李秀兰" || h.Members[0].Relation != "head" ||
		h.Members[0].DisabilityKind != "visual" || h.Members[1].Relation != "grandchild" {
		t.Fatalf("household 2: %+v %+v", h, h.Members)
	}
	hist, _ := s.History(ctx, caller{"360102002000"}, h.ID)
	if len(hist) != 3 || !strings.Contains(hist[0].Reason, "登记导入") {
		t.Fatalf("history %+v", hist)
	}
	// a second commit of the same token is refused and writes nothing
	n = counts(t, s)
	_, err = s.CommitImport(ctx, town, r.Token)
	wantCode(t, err, "import_committed")
	if again := counts(t, s); again != n {
		t.Fatalf("second commit wrote %v → %v", n, again)
	}
	got, err := s.Import(ctx, town, r.Token)
	if err != nil || got.Status != registry.ImportCommitted || len(got.Households) != 3 || got.CommittedAt == nil {
		t.Fatalf("stored import %+v %v", got, err)
	}
	list, err := s.Imports(ctx, town, 10)
	if err != nil || len(list) != 1 || list[0].Persons != 7 {
		t.Fatalf("list %+v %v", list, err)
	}
}

func TestImportBadRowRefusedWhole(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	hh, mem := goodFile()
	good := mem[5][2]
	last := "0"
	if good[17] == '0' {
		last = "1"
	}
	mem[5][2] = good[:17] + last // row 6 of 成员: a wrong check digit
	before := counts(t, s)
	r, err := s.Preview(ctx, town, "bad.xlsx", twoSheets(t, hh, mem))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportRefused || r.BadRows != 1 || len(r.Problems) != 1 {
		t.Fatalf("preview %s: %+v", r.Status, r.Problems)
	}
	p := problem(t, r, "成员", 6, "校验位")
	if p.Column != "身份证号" || p.Cell != "C6" {
		t.Fatalf("problem %+v", p)
	}
	if !strings.Contains(r.Message, "整个文件不能导入") {
		t.Fatalf("message %s", r.Message)
	}
	var badShown bool
	for _, row := range r.Preview {
		badShown = badShown || row.Sheet == "成员" && row.Row == 6 && len(row.Problems) == 1
	}
	if !badShown {
		t.Fatalf("preview rows %+v", r.Preview)
	}
	_, err = s.CommitImport(ctx, town, r.Token)
	wantCode(t, err, "import_refused")
	after := counts(t, s)
	if after[0] != before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Fatalf("a refused file wrote %v → %v", before, after)
	}
}

func TestImportWrongHeaders(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	rows := [][]string{
		{"户编号", "姓名", "身份证号", "籍贯", "户籍性质", "家庭住址", "所属村（社区）代码"},
		{"1", "王建国", id("1962-04-10", 11, true), "江西", "城镇", "民巷12号", village1},
	}
	r, err := s.Preview(ctx, town, "one.xlsx", workbook(t, sheet{"花名册", rows}))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportRefused || !strings.Contains(r.Message, "格式不符合") {
		t.Fatalf("%s %s", r.Status, r.Message)
	}
	p := problem(t, r, "花名册", 1, "无法识别的表头“籍贯”")
	if p.Cell != "D1" {
		t.Fatalf("unknown header at %s", p.Cell)
	}
	problem(t, r, "花名册", 1, "缺少必需的列：与户主关系（relation）")
	// a household column on the 成员 sheet is misplaced
	hh, mem := goodFile()
	mem[0] = append(mem[0], "家庭住址")
	r, _ = s.Preview(ctx, town, "two.xlsx", twoSheets(t, hh, mem))
	problem(t, r, "成员", 1, "应填在“户”工作表")
	// only one of the two sheets
	r, _ = s.Preview(ctx, town, "half.xlsx", workbook(t, sheet{"户", hh}))
	if r.Status != registry.ImportRefused || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Message, "没有“成员”工作表") {
		t.Fatalf("half a workbook: %+v", r.Problems)
	}
	// not a spreadsheet
	r, _ = s.Preview(ctx, town, "x.xls", []byte{0xD0, 0xCF, 0x11, 0xE0, 1, 2, 3})
	if r.Status != registry.ImportRefused || !strings.Contains(r.Problems[0].Message, ".xls") {
		t.Fatalf("xls: %+v", r.Problems)
	}
	if counts(t, s)[1] != 0 {
		t.Fatal("refused files wrote persons")
	}
}

func TestImportRowChecks(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	// someone already registered in the township
	existing, err := s.CreateHousehold(ctx, caller{"360102002000"}, registry.HouseholdInput{Region: village1, Hukou: "urban", Address: "民巷1号",
		Head: registry.PersonInput{IDNumber: id("1970-05-01", 51, true), Name: "张建国", Relation: "head"}})
	if err != nil {
		t.Fatal(err)
	}
	hh, mem := goodFile()
	hh = append(hh,
		[]string{"4", "", "城镇", "某地", "", "360704100001", ""}, // a village of 赣县区: out of scope
		[]string{"5", "", "城镇", "某地", "", "360102002000", ""}, // the township itself
		[]string{"6", "", "集体", "某地", "", village2, ""},       // unknown hukou
	)
	mem = append(mem,
		[]string{"1", "王建国二", mem[1][2], "子", "", "", "", "", ""},                  // row 9: the head again
		[]string{"9", "孤儿", id("2010-02-02", 61, true), "户主", "", "", "", "", ""},  // row 10: no such household
		[]string{"2", "张建国", id("1970-05-01", 51, true), "其他", "", "", "", "", ""}, // row 11: already registered
		[]string{"4", "外县人", id("1980-08-08", 63, true), "户主", "", "", "", "", ""},
		[]string{"5", "乡里人", id("1980-08-08", 65, true), "户主", "", "", "", "", ""},
		[]string{"6", "集体户", id("1980-08-08", 67, true), "户主", "", "", "", "", ""},
		[]string{"3", "赵二", id("2003-03-03", 69, true), "户主", "女", "2003-03-04", "123", "肢体", ""}, // row 15
		[]string{"3", "赵三", id("2005-05-05", 71, true), "表叔", "", "", "", "", ""},                 // row 16
	)
	r, err := s.Preview(ctx, town, "checks.xlsx", twoSheets(t, hh, mem))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportRefused {
		t.Fatalf("status %s", r.Status)
	}
	problem(t, r, "成员", 9, "与第 2 行是同一人")
	problem(t, r, "成员", 10, "户编号 9 在“户”工作表中找不到")
	problem(t, r, "成员", 11, "已登记在户 "+existing.No)
	problem(t, r, "户", 5, "不在您的管辖范围内")
	problem(t, r, "户", 6, "须填写村（社区）一级的代码")
	problem(t, r, "户", 7, "户籍性质“集体”无法识别")
	problem(t, r, "成员", 15, "户编号 3 有不止一位户主")
	problem(t, r, "成员", 15, "性别“女”与身份证号码不符")
	problem(t, r, "成员", 15, "出生日期 2003-03-04 与身份证号码不符")
	problem(t, r, "成员", 15, "联系电话格式不正确")
	problem(t, r, "成员", 15, "有残疾时须填写残疾等级")
	problem(t, r, "成员", 16, "与户主关系“表叔”无法识别")
	if counts(t, s)[1] != 1 {
		t.Fatal("a refused file wrote persons")
	}
	// one sheet: a household without a head, a household of names that do not resolve
	rows := [][]string{
		{"户号", "姓名", "公民身份号码", "与户主关系", "户口性质", "住址", "村（社区）名称"},
		{"1", "钱一", id("1960-01-01", 81, true), "配偶", "农村", "某地", "民巷社区"},
		{"2", "钱二", id("1960-01-01", 83, true), "户主", "农村", "某地", "没有这个村"},
	}
	r, _ = s.Preview(ctx, town, "one.xlsx", workbook(t, sheet{"Sheet1", rows}))
	problem(t, r, "Sheet1", 2, "户编号 1 的成员中没有户主")
	problem(t, r, "Sheet1", 3, "找不到名为“没有这个村”的村（社区）")
}

func TestImportOneSheetGBKCSV(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	csv := "户号,户主姓名,姓名,身份证号码,与户主关系,性别,出生日期,户籍性质,家庭住址,所属村（社区）名称,残疾类别及等级,是否有劳动能力\r\n" +
		"1,孙立新,孙立新," + id("1958-11-20", 31, true) + ",户主,男,1958年11月20日,农村,民巷8号,滕王阁街道民巷社区,无,否\r\n" +
		"1,孙立新,刘梅," + id("1960-02-29", 32, false) + ",配偶,女,1960-02-29,,,,精神二级,否\r\n" +
		"2,吴芳,吴芳," + id("1988-08-08", 34, false) + ",户主,女,,城镇,章江路9号,章江路社区居委会,,\r\n" +
		"合计,2户,3人\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(csv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Preview(ctx, town, "花名册.csv", []byte(gbk))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportPreviewed || r.Layout != registry.LayoutCSV || r.Summary.Households != 2 || r.Summary.Persons != 3 {
		t.Fatalf("preview %s %s %+v %+v", r.Status, r.Message, r.Problems, r.Summary)
	}
	done, err := s.CommitImport(ctx, town, r.Token)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Household(ctx, caller{"360102002000"}, done.Households[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Region != village1 || h.Hukou != "rural" || h.Address != "民巷8号" || len(h.Members) != 2 || h.Members[0].Name != "孙立新" ||
		h.Members[1].Name != "刘梅" || h.Members[1].DisabilityKind != "mental" || h.Members[1].DisabilityLevel != 2 || h.Members[1].AbleToWork {
		t.Fatalf("household %+v %+v", h, h.Members)
	}
	// the household's columns must agree within a household
	csv = "户编号,姓名,身份证号,与户主关系,户籍性质,家庭住址,所属村（社区）代码\n" +
		"1,甲," + id("1970-01-01", 41, true) + ",户主,城镇,民巷1号," + village1 + "\n" +
		"1,乙," + id("1972-01-01", 42, false) + ",配偶,城镇,民巷2号," + village1 + "\n"
	r, _ = s.Preview(ctx, town, "utf8.csv", []byte(csv))
	if p := problem(t, r, "CSV", 3, "与同户第 2 行不一致"); p.Column != "家庭住址" {
		t.Fatalf("problem %+v", p)
	}
}

func TestImportMergedCellsAndTitleRow(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	f := excelize.NewFile()
	rows := [][]any{
		{"民巷社区困难家庭花名册"},
		{"序号", "户编号", "姓名", "身份证号码", "与户主关系", "户籍性质", "家庭住址", "所属村（社区）代码", "出生日期"},
		{1, 1, "郑一", id("1966-06-06", 91, true), "户主", "城镇", "民巷66号", village1, time.Date(1966, 6, 6, 0, 0, 0, 0, time.UTC)},
		{2, nil, "郑二", id("1995-05-05", 93, true), "长子"},
		{3, 2, "冯三", id("1977-07-07", 95, false), "户主", "农村", "民巷77号", village1},
	}
	for r, row := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, r+1)
		if err := f.SetSheetRow("Sheet1", cell, &row); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{"A1", "I1"}, {"B3", "B4"}, {"F3", "F4"}, {"G3", "G4"}, {"H3", "H4"}} {
		if err := f.MergeCell("Sheet1", m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	buf, _ := f.WriteToBuffer()
	r, err := s.Preview(ctx, town, "merged.xlsx", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportPreviewed || r.Summary.Households != 2 || r.Summary.Persons != 3 {
		t.Fatalf("preview %s %+v %+v", r.Status, r.Problems, r.Summary)
	}
}

func TestImportRecheckAndExpiry(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	hh, mem := goodFile()
	file := twoSheets(t, hh, mem)
	r, err := s.Preview(ctx, town, "a.xlsx", file)
	if err != nil || r.Status != registry.ImportPreviewed {
		t.Fatalf("preview %v %+v", err, r)
	}
	// between preview and commit someone registers one of the file's people
	if _, err := s.CreateHousehold(ctx, caller{"360102002000"}, registry.HouseholdInput{Region: village2, Hukou: "urban", Address: "x",
		Head: registry.PersonInput{IDNumber: mem[5][2], Name: "周婷", Relation: "head"}}); err != nil {
		t.Fatal(err)
	}
	before := counts(t, s)
	got, err := s.CommitImport(ctx, town, r.Token)
	wantCode(t, err, "import_refused")
	if got == nil || got.Status != registry.ImportRefused {
		t.Fatalf("refused commit report %+v", got)
	}
	problem(t, got, "成员", 6, "已登记在户")
	if after := counts(t, s); after[0] != before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Fatalf("a refused commit wrote %v → %v", before, after)
	}
	_, err = s.CommitImport(ctx, town, r.Token)
	wantCode(t, err, "import_refused")

	// a preview older than 24 hours expires
	hh2, mem2 := goodFile()
	mem2 = mem2[:4]
	hh2 = hh2[:2]
	r, err = s.Preview(ctx, town, "b.xlsx", twoSheets(t, hh2, mem2))
	if err != nil || r.Status != registry.ImportPreviewed {
		t.Fatalf("preview %v %+v", err, r.Problems)
	}
	s.Now = func() time.Time { return time.Now().Add(registry.ImportValidFor + time.Minute) }
	_, err = s.CommitImport(ctx, town, r.Token)
	wantCode(t, err, "import_expired")
	s.Now = nil
	_, err = s.CommitImport(ctx, town, r.Token)
	wantCode(t, err, "import_expired")
}

func TestImportTemplate(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	tpl, err := s.ImportTemplate(town)
	if err != nil {
		t.Fatal(err)
	}
	// unchanged, the example row is refused
	r, err := s.Preview(ctx, town, "模板.xlsx", tpl)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.ImportRefused || len(r.Problems) != 1 {
		t.Fatalf("template as is: %s %+v", r.Status, r.Problems)
	}
	problem(t, r, "成员", 2, "示例行")
	// filled in, it imports
	f, err := excelize.OpenReader(strings.NewReader(string(tpl)))
	if err != nil {
		t.Fatal(err)
	}
	f.SetCellStr("成员", "C2", id("1980-01-01", 21, true))
	f.SetCellStr("成员", "F2", "1980-01-01")
	buf, _ := f.WriteToBuffer()
	r, err = s.Preview(ctx, town, "filled.xlsx", buf.Bytes())
	if err != nil || r.Status != registry.ImportPreviewed || r.Summary.Villages[0].Code != village1 {
		t.Fatalf("filled template: %v %+v %+v", err, r.Problems, r.Summary)
	}
}
