package registry

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// ImportColumn is one column a registry import file may carry (the header
// map). A header cell names a column by its English Field, its Chinese Label
// (what the template uses) or one of its Aliases (what offices' own
// spreadsheets say). Headers are compared after removing spaces and line
// breaks, required-field marks (* ※) and notes such as “（必填）”, with
// full-width letters and brackets folded to half-width and letters in lower
// case: “身份证号码*”, “身份证 号码” and “ID_Number” all match.
type ImportColumn struct {
	Field    string   `json:"field"`
	Label    string   `json:"label"`
	Aliases  []string `json:"aliases,omitempty"`
	Level    string   `json:"level"` // key | household | person | ignored
	Required string   `json:"required,omitempty"`
	Help     string   `json:"help"`
}

// Column levels: where a column belongs in the two-sheet layout.
const (
	levelKey       = "key"       // both sheets: the household number links them
	levelHousehold = "household" // the 户 sheet (or the one sheet)
	levelPerson    = "person"    // the 成员 sheet (or the one sheet)
	levelIgnored   = "ignored"   // accepted and not read
)

// ImportColumns is the documented header map, in the template's order.
var ImportColumns = []ImportColumn{
	{Field: "household_no", Label: "户编号", Aliases: []string{"户号", "家庭编号", "户序号", "户籍编号", "户代码", "hh_no", "household"}, Level: levelKey, Required: "必填",
		Help: "把同一户的人连在一起的编号，文件内不重复即可（如 1、2、3 或村里原有的户号）；导入后系统按村（社区）统一编制户编号"},
	{Field: "village_code", Label: "所属村（社区）代码", Aliases: []string{"村（社区）代码", "村代码", "社区代码", "村居代码", "行政区划代码", "区划代码", "村级区划代码", "region", "region_code"}, Level: levelHousehold, Required: "与名称至少填一项",
		Help: "12位统计用区划代码，须是您管辖范围内的村（社区）一级"},
	{Field: "village_name", Label: "所属村（社区）", Aliases: []string{"所属村（社区）名称", "村（社区）名称", "村（社区）", "所属村", "所属社区", "村名", "村名称", "社区名称", "村居名称", "village"}, Level: levelHousehold, Required: "与代码至少填一项",
		Help: "村（社区）名称，如“岚湖社区”“岚湖社区居委会”；管辖范围内重名时写成“乡镇名+村名”或改填代码；与代码同时填写时须一致"},
	{Field: "hukou", Label: "户籍性质", Aliases: []string{"户口性质", "户籍类型", "户口类型", "户别", "城乡类别"}, Level: levelHousehold, Required: "必填",
		Help: "城镇 或 农村（也可写 非农业/农业、城市）"},
	{Field: "address", Label: "家庭住址", Aliases: []string{"住址", "家庭地址", "居住地址", "现住址", "详细地址", "地址"}, Level: levelHousehold, Required: "必填",
		Help: "家庭实际住址"},
	{Field: "household_phone", Label: "家庭联系电话", Aliases: []string{"户联系电话", "家庭电话"}, Level: levelHousehold,
		Help: "户的联系电话（手机号11位，或区号-座机号）；“户”工作表中的“联系电话”即为此项；单表不填时取户主的联系电话"},
	{Field: "head_name", Label: "户主姓名", Aliases: []string{"户主"}, Level: levelHousehold,
		Help: "可不填；填写时须与该户“与户主关系”为户主的成员姓名一致"},
	{Field: "head_id_number", Label: "户主身份证号", Aliases: []string{"户主身份证号码", "户主公民身份号码"}, Level: levelHousehold,
		Help: "可不填；填写时须与户主的身份证号码一致"},
	{Field: "name", Label: "姓名", Aliases: []string{"成员姓名", "家庭成员姓名", "人员姓名"}, Level: levelPerson, Required: "必填",
		Help: "汉字或字母，不超过30个字"},
	{Field: "id_number", Label: "身份证号", Aliases: []string{"身份证号码", "公民身份号码", "公民身份证号码", "身份证", "证件号码", "成员身份证号", "成员身份证号码"}, Level: levelPerson, Required: "必填",
		Help: "18位（旧版15位自动升为18位）；在 Excel 中请把该列设为“文本”格式，否则后几位会变成0"},
	{Field: "relation", Label: "与户主关系", Aliases: []string{"关系", "家庭关系", "与户主的关系"}, Level: levelPerson, Required: "必填",
		Help: "户主、配偶、子女、父母、孙子女/外孙子女、兄弟姐妹、其他（也可写 本人、妻子、丈夫、儿子、女儿、父亲、母亲、孙子、外孙女、哥哥、妹妹、儿媳、女婿 等）；每户有且只有一位户主"},
	{Field: "sex", Label: "性别", Level: levelPerson,
		Help: "男 或 女；可不填，填写时须与身份证号码一致"},
	{Field: "birth_date", Label: "出生日期", Aliases: []string{"出生年月日", "出生年月", "生日"}, Level: levelPerson,
		Help: "如 1980-01-02、1980/1/2、19800102 或 Excel 日期；可不填，填写时须与身份证号码一致"},
	{Field: "phone", Label: "联系电话", Aliases: []string{"电话", "手机", "手机号", "手机号码", "联系方式", "电话号码"}, Level: levelPerson,
		Help: "手机号11位，或区号-座机号"},
	{Field: "disability_kind", Label: "残疾类别", Aliases: []string{"残疾类型", "残疾种类"}, Level: levelPerson,
		Help: "无、肢体、智力、精神、视力、听力、言语、多重（可带“残疾”二字）；无残疾不填"},
	{Field: "disability_level", Label: "残疾等级", Aliases: []string{"残疾级别"}, Level: levelPerson,
		Help: "一级至四级（或 1 至 4）；无残疾不填"},
	{Field: "disability", Label: "残疾类别及等级", Aliases: []string{"残疾情况", "残疾类别等级", "残疾类别/等级", "残疾类别和等级"}, Level: levelPerson,
		Help: "一列写两项时用，如“肢体二级”“视力残疾一级”“无”；不要与“残疾类别”“残疾等级”两列同时使用"},
	{Field: "co_resident", Label: "是否共同生活", Aliases: []string{"共同生活", "是否共同居住"}, Level: levelPerson,
		Help: "是 或 否；不填为是"},
	{Field: "able_to_work", Label: "是否有劳动能力", Aliases: []string{"劳动能力", "有无劳动能力"}, Level: levelPerson,
		Help: "是 或 否（也可写 有/无）；不填为是"},
	{Field: "serious_illness", Label: "是否患重特大疾病", Aliases: []string{"重特大疾病", "是否重特大疾病", "是否重病"}, Level: levelPerson,
		Help: "是 或 否；不填为否"},
	{Field: "student", Label: "在校情况", Aliases: []string{"就学情况", "在校状况"}, Level: levelPerson,
		Help: "非在校、义务教育、普通高中、中职/高职、本科及以下全日制、研究生（也可写 小学、初中、高中、中专、大专、本科 等）；不填为非在校"},
	{Field: "self_care_failed", Label: "生活不能自理项目", Aliases: []string{"不能自理项目", "生活自理能力评估"}, Level: levelPerson,
		Help: "生活自理能力评估中不能完成的项目，用顿号或逗号分隔：自主吃饭、自主穿衣、自主上下床、自主如厕、室内自主行走、自主洗澡（“自主”可省略）；都能完成不填"},
	{Field: "-", Label: "序号", Aliases: []string{"备注", "说明", "no."}, Level: levelIgnored,
		Help: "不读取"},
}

// Sheet names of the two-sheet layout.
var (
	householdSheetNames = []string{"户", "户信息", "家庭", "家庭信息", "户表", "households"}
	memberSheetNames    = []string{"成员", "家庭成员", "成员信息", "人员", "人员信息", "成员表", "members", "persons"}
)

var headerIndex = func() map[string]*ImportColumn {
	m := map[string]*ImportColumn{}
	for i := range ImportColumns {
		c := &ImportColumns[i]
		for _, h := range append([]string{c.Field, c.Label}, c.Aliases...) {
			if c.Field == "-" && h == "-" {
				continue
			}
			m[normHeader(h)] = c
		}
	}
	return m
}()

func columnByField(f string) *ImportColumn {
	for i := range ImportColumns {
		if ImportColumns[i].Field == f {
			return &ImportColumns[i]
		}
	}
	return nil
}

// normHeader is the comparison form of a header cell.
func normHeader(h string) string {
	h = width.Fold.String(strings.TrimPrefix(h, "\ufeff"))
	h = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '*' || r == '※' {
			return -1
		}
		return unicode.ToLower(r)
	}, h)
	for _, note := range []string{"(必填)", "(选填)", "(可选)", "(可不填)"} {
		h = strings.ReplaceAll(h, note, "")
	}
	return h
}

// codeValue folds a code-like cell (ID number, phone, code, date, number):
// full-width digits and letters become half-width, spaces and the leading
// apostrophe Excel uses for text go.
func codeValue(v string) string {
	v = width.Fold.String(v)
	v = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, v)
	return strings.TrimPrefix(v, "'")
}

// looksLikeExcelNumber reports whether a long number went through Excel's
// number format (1.23E+17): its last digits are lost.
func looksLikeExcelNumber(v string) bool {
	if !strings.ContainsAny(v, "Ee") {
		return false
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// wholeNumber drops the ".0" a number cell sometimes carries (1.0 → 1).
func wholeNumber(v string) string {
	if i := strings.IndexByte(v, '.'); i > 0 && strings.Trim(v[i+1:], "0") == "" && isDigits(v[:i]) {
		return v[:i]
	}
	return v
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Value dictionaries: what offices write, mapped to the registry's codes.
var (
	relationWords = map[string]string{
		"户主": "head", "本人": "head", "户主本人": "head",
		"配偶": "spouse", "妻": "spouse", "妻子": "spouse", "夫": "spouse", "丈夫": "spouse", "之妻": "spouse", "之夫": "spouse", "夫妻": "spouse",
		"子女": "child", "子": "child", "女": "child", "儿子": "child", "女儿": "child", "长子": "child", "次子": "child", "三子": "child", "四子": "child",
		"长女": "child", "次女": "child", "三女": "child", "四女": "child", "独生子": "child", "独生女": "child", "养子": "child", "养女": "child",
		"继子": "child", "继女": "child", "之子": "child", "之女": "child",
		"父母": "parent", "父亲": "parent", "母亲": "parent", "父": "parent", "母": "parent",
		"孙子女": "grandchild", "孙子女/外孙子女": "grandchild", "孙子": "grandchild", "孙女": "grandchild", "外孙": "grandchild", "外孙子": "grandchild",
		"外孙女": "grandchild", "外孙子女": "grandchild", "孙": "grandchild",
		"兄弟姐妹": "sibling", "兄": "sibling", "弟": "sibling", "姐": "sibling", "妹": "sibling", "哥哥": "sibling", "弟弟": "sibling", "姐姐": "sibling", "妹妹": "sibling",
		"兄弟": "sibling", "姐妹": "sibling",
		"其他": "other", "其它": "other", "儿媳": "other", "女婿": "other", "祖父": "other", "祖母": "other", "外祖父": "other", "外祖母": "other",
		"侄子": "other", "侄女": "other", "公公": "other", "婆婆": "other", "岳父": "other", "岳母": "other",
	}
	hukouWords = map[string]string{
		"城镇": "urban", "城市": "urban", "非农业": "urban", "非农": "urban", "非农业户口": "urban", "城镇户口": "urban", "城镇居民": "urban",
		"农村": "rural", "农业": "rural", "农业户口": "rural", "农村户口": "rural", "农村居民": "rural",
	}
	studentWords = map[string]string{
		"非在校": "none", "不在校": "none", "否": "none", "无": "none", "未上学": "none", "学龄前": "none",
		"义务教育": "compulsory", "小学": "compulsory", "初中": "compulsory",
		"普通高中": "senior_high", "高中": "senior_high",
		"中职/高职": "vocational", "中职": "vocational", "高职": "vocational", "中专": "vocational", "职高": "vocational", "技校": "vocational",
		"本科及以下全日制": "bachelor", "本科": "bachelor", "大专": "bachelor", "专科": "bachelor", "大学": "bachelor",
		"研究生": "graduate", "硕士": "graduate", "博士": "graduate",
	}
	yesWords = map[string]bool{"是": true, "有": true, "y": true, "yes": true, "true": true, "1": true, "√": true, "✓": true,
		"否": false, "无": false, "没有": false, "n": false, "no": false, "false": false, "0": false, "×": false}
	levelWords = map[string]int{"一级": 1, "二级": 2, "三级": 3, "四级": 4, "一": 1, "二": 2, "三": 3, "四": 4,
		"1": 1, "2": 2, "3": 3, "4": 4, "1级": 1, "2级": 2, "3级": 3, "4级": 4}
)

// lookupOption maps a cell to a code: the English code itself, its label,
// or one of the extra words.
func lookupOption(opts []Option, words map[string]string, v string) (string, bool) {
	key := strings.ToLower(strings.ReplaceAll(width.Fold.String(v), " ", ""))
	for _, o := range opts {
		if o.Value != "" && (key == o.Value || key == o.Label) {
			return o.Value, true
		}
	}
	code, ok := words[key]
	return code, ok
}

func lookupDisabilityKind(v string) (string, bool) {
	key := strings.TrimSuffix(strings.ReplaceAll(v, " ", ""), "残疾")
	if key == "" || key == "无" || key == "否" || key == "非残疾" {
		return "", true
	}
	return lookupOption(DisabilityKinds, nil, key)
}

func lookupSelfCare(item string) (string, bool) {
	item = strings.ReplaceAll(item, " ", "")
	for _, o := range SelfCareItemList {
		if item == o.Value || item == o.Label || item == strings.TrimPrefix(o.Label, "自主") || item == strings.Replace(o.Label, "自主", "", 1) {
			return o.Value, true
		}
	}
	return "", false
}

// villageKey is the comparison form of a village name: the statistics
// bureau writes “岚湖社区居委会”, offices write “岚湖社区”.
func villageKey(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, width.Fold.String(name))
	for _, suf := range []string{"居民委员会", "村民委员会", "居委会", "村委会", "委员会"} {
		if n, ok := strings.CutSuffix(name, suf); ok && n != "" {
			return n
		}
	}
	return name
}
