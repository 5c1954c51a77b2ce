// Package verify is the household economic verification platform
// (家庭经济状况核对, domain.md §4): department extracts imported into
// hashed form, signed authorisations that gate every query, one report per
// household and request, and batch re-checks of every current recipient.
//
// Department data never stays in plaintext: on import each row's ID number
// becomes its HMAC-SM3 hash (the key persons.id_hmac uses) and the
// identifying details (plates, account and certificate numbers, addresses)
// are sealed with SM4. Matching and lookups use only the hash.
package verify

import (
	"jiuzhu/internal/tabular"
)

// Item kinds: what a department row says about a person. Amounts are fen.
const (
	KindDeath    = "death"     // police deregistration or a funeral record
	KindMovedOut = "moved_out" // hukou moved out of the province
	KindVehicle  = "vehicle"   // amount: purchase price
	// KindDisabilityVehicle is exempt from the asset test (DB-20): shown in
	// reports, never a finding.
	KindDisabilityVehicle = "disability_vehicle"
	KindHouse             = "house"         // amount: 0 (area in the details)
	KindBusiness          = "business"      // amount: subscribed capital
	KindPension           = "pension"       // amount: monthly
	KindBasicPension      = "basic_pension" // amount: monthly
	KindUnemployment      = "unemployment_benefit"
	KindEmployed          = "employed"       // social-insurance contributions; amount: monthly wage base
	KindTaxable           = "taxable_income" // amount: yearly
	KindProvident         = "provident_fund" // amount: monthly deposit
	KindDeposit           = "deposit"        // amount: balance
	KindSecurities        = "securities"     // amount: market value
	KindInsurance         = "commercial_insurance"
	KindMarriage          = "marriage"
	KindDivorce           = "divorce"
)

// ColumnType says how a cell is read and checked.
type ColumnType = tabular.Cell

const (
	ColID     = tabular.ID     // an 18-digit ID number (15-digit accepted and upgraded)
	ColText   = tabular.Text   // free text, kept sealed in the details
	ColCode   = tabular.Code   // one of the column's codes
	ColDate   = tabular.Date   // YYYY-MM-DD or YYYYMMDD, not after the data date
	ColYuan   = tabular.Yuan   // yuan with up to two decimals, not negative
	ColNumber = tabular.Number // a decimal number, not negative (areas)
	ColYear   = tabular.Year   // a four-digit year
)

// Column is one column of a source layout.
type Column struct {
	Name     string // header in the extract (English, stable)
	Label    string // Chinese header, accepted as well
	Type     ColumnType
	Required bool
	Codes    map[string]string // code → meaning, for ColCode
	// Detail keeps the cell (sealed) in the stored item for the report.
	Detail bool
	Doc    string
}

// Source is one department's extract layout. Rows become items of one kind
// each (Kind picks it from the row).
type Source struct {
	Name       string
	Label      string // Chinese name shown to users
	Department string
	// PerProvider sources come from many institutions (banks, brokers,
	// insurers): each provider's extract stands alone and supersedes only its
	// own previous one.
	PerProvider bool
	Columns     []Column
	// Key names the columns that identify a row; two rows with the same key
	// are duplicates.
	Key []string
	// Kind, Amount and Date map a validated row to the stored item.
	Kind   func(r Row) string
	Amount string // column giving the amount in fen ("" = 0)
	Date   string // column giving the item's date
	Doc    string
}

// Row is a validated extract row by column name: ID numbers as 18 digits,
// dates as YYYY-MM-DD, yuan as fen in decimal.
type Row map[string]string

func fixed(kind string) func(Row) string { return func(Row) string { return kind } }

var (
	idColumn = Column{Name: "id_number", Label: "身份证号", Type: ColID, Required: true, Doc: "公民身份号码，18 位（15 位自动升位）"}
	asOf     = Column{Name: "as_of", Label: "余额日期", Type: ColDate, Required: true, Doc: "余额或市值的日期"}
)

// Sources are the department extracts the platform accepts (HD-01..HD-04).
// docs/verification-sources.md documents them; a test keeps the two in step.
var Sources = []*Source{
	{
		Name: "hukou", Label: "公安户籍", Department: "公安",
		Columns: []Column{idColumn,
			{Name: "event", Label: "变动类型", Type: ColCode, Required: true, Codes: map[string]string{"1": "死亡注销", "2": "迁出本省"}},
			{Name: "event_date", Label: "变动日期", Type: ColDate, Required: true},
			{Name: "destination", Label: "迁往地", Type: ColText, Detail: true, Doc: "迁出时填写"},
		},
		Key:  []string{"id_number", "event"},
		Kind: func(r Row) string { return map[string]string{"1": KindDeath, "2": KindMovedOut}[r["event"]] },
		Date: "event_date",
		Doc:  "户籍变动：死亡注销和迁出本省。",
	},
	{
		Name: "vehicle", Label: "公安车辆", Department: "公安",
		Columns: []Column{idColumn,
			{Name: "plate", Label: "号牌号码", Type: ColText, Required: true, Detail: true},
			{Name: "vehicle_type", Label: "车辆类型", Type: ColCode, Required: true, Detail: true,
				Codes: map[string]string{"K": "载客汽车", "H": "载货汽车", "M": "摩托车", "D": "残疾人专用车", "N": "农用车"}},
			{Name: "register_date", Label: "登记日期", Type: ColDate, Required: true},
			{Name: "price_yuan", Label: "购置价（元）", Type: ColYuan, Required: true},
		},
		Key: []string{"plate"},
		Kind: func(r Row) string {
			if r["vehicle_type"] == "D" {
				return KindDisabilityVehicle
			}
			return KindVehicle
		}, Amount: "price_yuan", Date: "register_date",
		Doc: "在册机动车，一车一行，按所有人。",
	},
	{
		Name: "social_insurance", Label: "人社社会保险", Department: "人力资源和社会保障",
		Columns: []Column{idColumn,
			{Name: "item", Label: "项目", Type: ColCode, Required: true, Detail: true,
				Codes: map[string]string{"11": "职工基本养老金", "12": "城乡居民基本养老金", "21": "失业保险金", "31": "在职参保缴费"}},
			{Name: "monthly_yuan", Label: "月金额（元）", Type: ColYuan, Required: true, Doc: "待遇按月金额；在职缴费为月缴费基数"},
			{Name: "start_date", Label: "起始日期", Type: ColDate, Required: true},
			{Name: "employer", Label: "参保单位", Type: ColText, Detail: true},
		},
		Key: []string{"id_number", "item"},
		Kind: func(r Row) string {
			return map[string]string{"11": KindPension, "12": KindBasicPension, "21": KindUnemployment, "31": KindEmployed}[r["item"]]
		},
		Amount: "monthly_yuan", Date: "start_date",
		Doc: "养老金、失业保险金待遇和在职参保缴费，每人每项一行。",
	},
	{
		Name: "real_estate", Label: "不动产登记", Department: "自然资源（不动产登记）",
		Columns: []Column{idColumn,
			{Name: "cert_no", Label: "不动产权证号", Type: ColText, Required: true, Detail: true},
			{Name: "address", Label: "坐落", Type: ColText, Required: true, Detail: true},
			{Name: "area_m2", Label: "建筑面积（平方米）", Type: ColNumber, Required: true, Detail: true},
			{Name: "register_date", Label: "登记日期", Type: ColDate, Required: true},
		},
		Key: []string{"id_number", "cert_no"}, Kind: fixed(KindHouse), Date: "register_date",
		Doc: "住宅类不动产权利人，一证一人一行（共有人各占一行）。",
	},
	{
		Name: "market", Label: "市场主体登记", Department: "市场监管",
		Columns: []Column{idColumn,
			{Name: "credit_code", Label: "统一社会信用代码", Type: ColText, Required: true, Detail: true},
			{Name: "entity_name", Label: "主体名称", Type: ColText, Required: true, Detail: true},
			{Name: "role", Label: "身份", Type: ColCode, Required: true, Detail: true,
				Codes: map[string]string{"1": "法定代表人", "2": "股东（出资人）", "3": "个体工商户经营者"}},
			{Name: "capital_yuan", Label: "认缴出资额（元）", Type: ColYuan, Required: true},
			{Name: "register_date", Label: "成立日期", Type: ColDate, Required: true},
		},
		Key: []string{"id_number", "credit_code", "role"}, Kind: fixed(KindBusiness), Amount: "capital_yuan", Date: "register_date",
		Doc: "存续的市场主体中本人的身份和认缴出资。",
	},
	{
		Name: "tax", Label: "税务收入", Department: "税务",
		Columns: []Column{idColumn,
			{Name: "year", Label: "所属年度", Type: ColYear, Required: true},
			{Name: "income_yuan", Label: "年度综合所得收入额（元）", Type: ColYuan, Required: true},
			{Name: "tax_yuan", Label: "已缴税额（元）", Type: ColYuan, Detail: true},
		},
		Key: []string{"id_number", "year"}, Kind: fixed(KindTaxable), Amount: "income_yuan", Date: "year",
		Doc: "个人所得税年度汇算的收入额，每人每年一行。",
	},
	{
		Name: "provident_fund", Label: "住房公积金", Department: "住房公积金管理中心",
		Columns: []Column{idColumn,
			{Name: "employer", Label: "缴存单位", Type: ColText, Required: true, Detail: true},
			{Name: "monthly_yuan", Label: "月缴存额（元）", Type: ColYuan, Required: true},
			{Name: "balance_yuan", Label: "账户余额（元）", Type: ColYuan, Detail: true},
			{Name: "last_paid", Label: "最近缴存日期", Type: ColDate, Required: true},
		},
		Key: []string{"id_number", "employer"}, Kind: fixed(KindProvident), Amount: "monthly_yuan", Date: "last_paid",
		Doc: "正常缴存的公积金账户。",
	},
	{
		Name: "bank", Label: "银行存款", Department: "银行业金融机构", PerProvider: true,
		Columns: []Column{idColumn,
			{Name: "account_no", Label: "账号", Type: ColText, Required: true, Detail: true},
			{Name: "balance_yuan", Label: "余额（元）", Type: ColYuan, Required: true}, asOf,
		},
		Key: []string{"account_no"}, Kind: fixed(KindDeposit), Amount: "balance_yuan", Date: "as_of",
		Doc: "本行全部个人存款账户（活期、定期、理财），每户一行；每家银行单独报送。",
	},
	{
		Name: "securities", Label: "证券资产", Department: "证券公司", PerProvider: true,
		Columns: []Column{idColumn,
			{Name: "account_no", Label: "资金账号", Type: ColText, Required: true, Detail: true},
			{Name: "value_yuan", Label: "证券市值及资金余额（元）", Type: ColYuan, Required: true}, asOf,
		},
		Key: []string{"account_no"}, Kind: fixed(KindSecurities), Amount: "value_yuan", Date: "as_of",
		Doc: "证券账户市值和资金余额，每账户一行；每家证券公司单独报送。",
	},
	{
		Name: "insurance", Label: "商业保险", Department: "保险公司", PerProvider: true,
		Columns: []Column{idColumn,
			{Name: "policy_no", Label: "保单号", Type: ColText, Required: true, Detail: true},
			{Name: "product", Label: "险种", Type: ColText, Detail: true},
			{Name: "cash_value_yuan", Label: "现金价值（元）", Type: ColYuan, Required: true}, asOf,
		},
		Key: []string{"policy_no"}, Kind: fixed(KindInsurance), Amount: "cash_value_yuan", Date: "as_of",
		Doc: "投保人名下有现金价值的人身保险保单；每家保险公司单独报送。",
	},
	{
		Name: "marriage", Label: "民政婚姻登记", Department: "民政",
		Columns: []Column{idColumn,
			{Name: "event", Label: "登记类型", Type: ColCode, Required: true, Codes: map[string]string{"1": "结婚登记", "2": "离婚登记"}},
			{Name: "event_date", Label: "登记日期", Type: ColDate, Required: true},
			{Name: "spouse_name", Label: "对方姓名", Type: ColText, Detail: true},
		},
		Key:  []string{"id_number", "event", "event_date"},
		Kind: func(r Row) string { return map[string]string{"1": KindMarriage, "2": KindDivorce}[r["event"]] },
		Date: "event_date",
		Doc:  "婚姻登记，每次登记双方各一行。",
	},
	{
		Name: "funeral", Label: "民政殡葬", Department: "民政",
		Columns: []Column{idColumn,
			{Name: "death_date", Label: "死亡日期", Type: ColDate, Required: true},
			{Name: "cremation_date", Label: "火化日期", Type: ColDate, Detail: true},
			{Name: "home", Label: "殡仪馆", Type: ColText, Detail: true},
		},
		Key: []string{"id_number"}, Kind: fixed(KindDeath), Date: "death_date",
		Doc: "殡仪馆火化和遗体处理记录。",
	},
}

// SourceByName finds a source.
func SourceByName(name string) (*Source, bool) {
	for _, s := range Sources {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// KindLabels are the Chinese names of item kinds.
var KindLabels = map[string]string{
	KindDeath: "死亡", KindMovedOut: "户籍迁出", KindVehicle: "机动车", KindHouse: "房产", KindBusiness: "市场主体",
	KindPension: "职工养老金", KindBasicPension: "城乡居民养老金", KindUnemployment: "失业保险金", KindEmployed: "在职参保",
	KindTaxable: "纳税收入", KindProvident: "公积金缴存", KindDeposit: "存款", KindSecurities: "证券", KindInsurance: "商业保险",
	KindMarriage: "结婚登记", KindDivorce: "离婚登记", KindDisabilityVehicle: "残疾人专用车",
}
