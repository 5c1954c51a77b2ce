package calc

// Kind is one allowed value of an enumerated field, with its Chinese label,
// as served by GET /api/v1/policy/kinds.
type Kind struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Note  string `json:"note,omitempty"`
}

// incomeClass says how an income kind enters the means test.
type incomeClass uint8

const (
	incCounted      incomeClass = iota + 1
	incExcluded                 // never counted (DB-15)
	incAssistance               // relief money: counted under the 2012 rules (DB-16), excluded under 2021 (DB-15)
	incBasicPension             // excluded when dibao.income.exclude_basic_pension holds (DB-15, 2021–2025)
	incOldAge                   // excluded when dibao.income.exclude_old_age_allowance holds; always excluded for tekun (TK-03)
	incDeduction                // subtracted: taxes, own contributions, support paid (DB-14, DB-16)
	incRigid                    // subtracted under the 2021 rules when dibao.income.deduct_rigid_expenses holds (DB-15)
)

type incomeKind struct {
	Kind
	class incomeClass
	// tekunExcluded marks items TK-03 leaves out of an extreme-poverty means test
	// on top of the dibao exclusions.
	tekunExcluded bool
}

// incomeKinds is the closed list of income kinds; a situation naming any other
// kind is refused.
var incomeKinds = []incomeKind{
	{Kind{"wage", "工资性收入（扣除必要就业成本后）", "DB-14"}, incCounted, false},
	{Kind{"business", "家庭经营净收入（含种植、养殖等农业生产）", "DB-14"}, incCounted, false},
	{Kind{"property", "财产净收入（利息、股息、租金、土地经营权流转）", "DB-14"}, incCounted, false},
	{Kind{"support_received", "赡养费、扶养费、抚养费", "DB-14"}, incCounted, false},
	{Kind{"pension", "离退休金、职工基本养老金", "DB-14"}, incCounted, false},
	{Kind{"basic_pension", "城乡居民基本养老保险基础养老金", "DB-15：2021—2025 年不计入；TK-03 不计入"}, incBasicPension, true},
	{Kind{"unemployment_benefit", "失业保险金", "DB-14"}, incCounted, false},
	{Kind{"survivor_benefit", "遗属补助金", "DB-14"}, incCounted, false},
	{Kind{"compensation", "赔偿收入", "DB-14"}, incCounted, false},
	{Kind{"gift", "接受赠与、遗产收入", "DB-14"}, incCounted, false},
	{Kind{"social_assistance", "政府发放的社会救助款物（社会救济金）", "DB-15/DB-16：2012 规则计入，2021 规则不计入"}, incAssistance, false},
	{Kind{"disability_subsidy", "残疾人两项补贴", "按政府救助款物处理（DB-15/DB-16）"}, incAssistance, false},
	{Kind{"preferential_care", "优待抚恤金", "DB-15；TK-03"}, incExcluded, true},
	{Kind{"family_planning_reward", "计划生育奖励与扶助金", "DB-15"}, incExcluded, false},
	{Kind{"scholarship", "奖学金、助学金", "DB-15"}, incExcluded, false},
	{Kind{"bravery_reward", "见义勇为奖励", "DB-15"}, incExcluded, false},
	{Kind{"child_allowance", "孤儿、事实无人抚养儿童基本生活费", "ER-04：不计入低保家庭收入"}, incExcluded, false},
	{Kind{"old_age_allowance", "高龄津贴", "TK-03 不计入；低保按地方参数"}, incOldAge, true},
	{Kind{"medical_insurance", "医疗保险等社会保险待遇", "TK-03 不计入特困人员收入"}, incCounted, true},
	{Kind{"other", "其他收入", "DB-14"}, incCounted, false},
	{Kind{"income_tax", "个人所得税（扣减）", "DB-14/DB-16"}, incDeduction, false},
	{Kind{"social_insurance_contribution", "个人缴纳的社会保险费（扣减）", "DB-14/DB-16"}, incDeduction, false},
	{Kind{"support_paid", "支付的赡养费、扶养费、抚养费（扣减）", "DB-14"}, incDeduction, false},
	{Kind{"rigid_expense", "因残、因病产生的刚性支出（扣减）", "DB-15：2021 规则可扣减"}, incRigid, false},
}

// assetClass says which asset test an asset kind enters (DB-19..DB-23).
type assetClass uint8

const (
	assetFinancial assetClass = iota + 1
	assetVehicle
	assetHouse
	assetBusiness
	assetExempt
	assetRecorded // recorded for the caseworker, no numeric test is configured
)

type assetKind struct {
	Kind
	class assetClass
}

var assetKinds = []assetKind{
	{Kind{"deposit", "银行存款", "DB-19"}, assetFinancial},
	{Kind{"cash", "现金", "DB-19"}, assetFinancial},
	{Kind{"securities", "有价证券", "DB-19"}, assetFinancial},
	{Kind{"fund", "基金", "DB-19"}, assetFinancial},
	{Kind{"commercial_insurance", "商业保险（现金价值）", "DB-19"}, assetFinancial},
	{Kind{"claim", "债权", "DB-19"}, assetFinancial},
	{Kind{"internet_finance", "互联网金融资产", "DB-19"}, assetFinancial},
	{Kind{"vehicle", "机动车辆", "DB-19/DB-20"}, assetVehicle},
	{Kind{"ship", "船舶", "DB-20"}, assetVehicle},
	{Kind{"disability_vehicle", "残疾人功能性补偿代步机动车辆", "DB-20：不计入"}, assetExempt},
	{Kind{"production_asset", "生产经营必需的生产资料", "DB-19：可豁免"}, assetExempt},
	{Kind{"house", "房屋（每套一项）", "DB-19/DB-23"}, assetHouse},
	{Kind{"business_capital", "企业出资（认缴）", "DB-22/DB-23"}, assetBusiness},
	{Kind{"forest", "林木等定着物", "DB-19"}, assetRecorded},
	{Kind{"other", "其他财产", "DB-20"}, assetRecorded},
}

// IncomeKinds lists the income kinds a situation may use.
func IncomeKinds() []Kind { return kindsOf(incomeKinds, func(k incomeKind) Kind { return k.Kind }) }

// AssetKinds lists the asset kinds a situation may use.
func AssetKinds() []Kind { return kindsOf(assetKinds, func(k assetKind) Kind { return k.Kind }) }

func kindsOf[T any](src []T, f func(T) Kind) []Kind {
	out := make([]Kind, len(src))
	for i, k := range src {
		out[i] = f(k)
	}
	return out
}

// enum is a closed list of names for one JSON field.
type enum []Kind

func (e enum) index(name string) int {
	for i, k := range e {
		if k.Name == name {
			return i
		}
	}
	return -1
}

func (e enum) names() string {
	s := ""
	for i, k := range e {
		if i > 0 {
			s += ", "
		}
		s += k.Name
	}
	return s
}

// Programme identifies one of the calculators.
type Programme uint8

const (
	Dibao Programme = iota
	Marginal
	Tekun
	Temporary
	Orphan
	UnattendedChild
	DisabilityLiving
	DisabilityCare
	PriceSubsidy
	numProgrammes
)

var programmes = enum{
	{"dibao", "最低生活保障", "DB-01..DB-47"},
	{"marginal", "低保边缘家庭", "DB-47"},
	{"tekun", "特困人员救助供养", "TK-01..TK-12"},
	{"temporary", "临时救助", "LS-01..LS-07"},
	{"orphan", "孤儿基本生活费", "ER-01"},
	{"unattended_child", "事实无人抚养儿童基本生活费", "ER-02..ER-04"},
	{"disability_living", "困难残疾人生活补贴", "CJ-01..CJ-04"},
	{"disability_care", "重度残疾人护理补贴", "CJ-01..CJ-03"},
	{"price_subsidy", "价格临时补贴", "PL-01..PL-06"},
}

func (p Programme) String() string { return programmes[p].Name }

// ProgrammeKinds lists the programme names and labels.
func ProgrammeKinds() []Kind { return append([]Kind(nil), programmes...) }

type relation uint8

const (
	relHead relation = iota
	relSpouse
	relChild
	relParent
	relGrandchild
	relSibling
	relOther
)

var relations = enum{
	{"head", "户主/申请人", ""}, {"spouse", "配偶", ""}, {"child", "子女", ""}, {"parent", "父母", ""},
	{"grandchild", "孙子女、外孙子女", ""}, {"sibling", "兄弟姐妹", ""}, {"other", "其他", ""},
}

type disabilityKind uint8

const (
	disPhysical disabilityKind = iota
	disIntellectual
	disMental
	disVisual
	disHearing
	disSpeech
	disMultiple
)

var disabilityKinds = enum{
	{"physical", "肢体残疾", ""}, {"intellectual", "智力残疾", ""}, {"mental", "精神残疾", ""},
	{"visual", "视力残疾", ""}, {"hearing", "听力残疾", ""}, {"speech", "言语残疾", ""}, {"multiple", "多重残疾", ""},
}

type student uint8

const (
	studNone student = iota
	studCompulsory
	studSeniorHigh
	studVocational
	studBachelor
	studGraduate
)

var students = enum{
	{"none", "非在校生", ""}, {"compulsory", "义务教育", ""}, {"senior_high", "普通高中", ""},
	{"vocational", "中等职业学校", ""}, {"bachelor", "本科及以下高等教育", ""}, {"graduate", "研究生", ""},
}

// absence marks members who are not counted in the household (DB-02).
type absence uint8

const (
	absNone absence = iota
	absClergy
	absPrison
	absDrugRehab
	absMissing
	absLabourCamp
)

var absences = enum{
	{"none", "无", ""}, {"clergy", "脱离家庭三年以上的宗教教职人员", "DB-02"}, {"prison", "服刑人员", "DB-02"},
	{"drug_rehab", "强制隔离戒毒人员", "DB-02（2021）"}, {"missing", "宣告失踪人员", "DB-02（2021）"},
	{"labour_camp", "劳动教养人员", "DB-02（2012）"},
}

type living uint8

const (
	livingHome living = iota
	livingInstitution
)

var livings = enum{{"home", "居家（分散供养、社会散居）", ""}, {"institution", "机构（集中供养、机构养育）", ""}}

// parentStatus describes one parent of a child for ER-01 and ER-02.
type parentStatus uint8

const (
	parAlive parentStatus = iota
	parDead
	parDeclaredDead
	parMissing
	parUnknown
	parSevereDisability
	parSeriousIllness
	parPrison
	parDrugRehab
	parRestricted
	parOutOfContact
)

var parentStatuses = enum{
	{"alive", "在世且能履行抚养义务", ""}, {"dead", "死亡", ""}, {"declared_dead", "宣告死亡", ""},
	{"missing", "宣告失踪", ""}, {"unknown", "查找不到生父母", ""},
	{"severe_disability", "重残（一、二级或三、四级智力、精神残疾）", ""}, {"serious_illness", "重病", ""},
	{"prison", "服刑在押、强制隔离戒毒以外的羁押（六个月以上）", ""}, {"drug_rehab", "强制隔离戒毒", ""},
	{"restricted", "被执行其他限制人身自由的措施", ""}, {"out_of_contact", "失联（六个月以上）", ""},
}

type supporterStatus uint8

const (
	supNone supporterStatus = iota
	supNoCapacity
	supMissing
	supPrison
)

var supporterStatuses = enum{
	{"none", "无", ""}, {"no_legal_capacity", "无民事行为能力", "TK-04"}, {"missing", "宣告失踪", "TK-04"},
	{"prison", "在监狱服刑", "TK-04"},
}

var benefitProgrammes = enum{
	{"dibao", "低保金（本人份额）", ""}, {"tekun", "特困供养金", ""}, {"disability_living", "困难残疾人生活补贴", ""},
}

var hukous = enum{{"urban", "城镇户籍", ""}, {"rural", "农村户籍", ""}}

var requestKinds = enum{{"emergency", "急难型", "LS-02"}, {"expenditure", "支出型", "LS-02"}}
