package verify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
)

// Finding kinds: what a re-check asks the township to look into. Verification
// tests whether the declaration is true and complete (HD-03), so a finding is
// department data the registry does not show: an event not reported, an item
// not declared, an amount above the declared one.
const (
	FindDeath       = "death"
	FindMovedOut    = "moved_out"
	FindVehicle     = "vehicle"
	FindHouse       = "house"
	FindBusiness    = "business"
	FindFinancial   = "financial"
	FindIncome      = "income"
	FindEmployment  = "employment"
	FindComposition = "composition"
)

// FindingLabels are the Chinese names of finding kinds.
var FindingLabels = map[string]string{
	FindDeath: "死亡未报告", FindMovedOut: "户籍迁出", FindVehicle: "未申报车辆", FindHouse: "未申报房产",
	FindBusiness: "未申报市场主体", FindFinancial: "金融资产超出申报", FindIncome: "收入高于申报",
	FindEmployment: "未申报就业", FindComposition: "婚姻状况变化",
}

// Limits are the rule parameters for a household's region on the data date.
type Limits struct {
	StandardFen      int64 // the household's dibao standard (urban or rural)
	UrbanStandardFen int64
	FinancialMonths  policy.Ratio
	VehicleMultiple  policy.Ratio
	MaxHouses        int64
	BusinessCapital  int64
}

// household is what the rules need to know of a household.
type household struct {
	ID        int64
	No        string
	Region    string
	Hukou     string
	CreatedOn string
	CaseID    int64
	Members   []member
	// declared in the registry
	Vehicles, Houses int
	FinancialFen     int64
}

type member struct {
	PersonID int64
	Hash     string
	Name     string
	IDMasked string
	Relation string
	Birth    string
	Incomes  declaredIncomes
}

// declaredKinds are the incomes the rules compare with department data.
var declaredKinds = [...]string{KindPension, KindBasicPension, KindUnemployment, "wage", "business"}

// declaredIncomes holds a member's latest declared monthly income per
// declaredKinds entry, -1 where none is declared.
type declaredIncomes [len(declaredKinds)]int64

func noIncomes() declaredIncomes {
	var d declaredIncomes
	for i := range d {
		d[i] = -1
	}
	return d
}

// get returns the declared amount (0 when none) and whether one is declared.
func (d *declaredIncomes) get(kind string) (int64, bool) {
	for i, k := range declaredKinds {
		if k == kind {
			return max(d[i], 0), d[i] >= 0
		}
	}
	return 0, false
}

func (d *declaredIncomes) set(kind string, fen int64) {
	for i, k := range declaredKinds {
		if k == kind {
			d[i] = fen
		}
	}
}

// found is a department item with where it came from.
type found struct {
	Item
	Member int // index in household.Members
	Ref    *extractRef
}

// Check is one threshold test of the rules (HD-08 "each threshold hit").
type Check struct {
	Rule     string `json:"rule"`
	Label    string `json:"label"`
	Value    string `json:"value"`
	Limit    string `json:"limit"`
	Hit      bool   `json:"hit"`
	Param    string `json:"param"`
	Member   string `json:"member,omitempty"`
	Relevant bool   `json:"-"`
}

// Finding is one discrepancy between department data and the declaration.
type Finding struct {
	Kind     string   `json:"kind"`
	Member   string   `json:"member,omitempty"` // name, or "" for the household
	PersonID int64    `json:"person_id,omitempty"`
	Sources  []string `json:"sources"`
	Text     string   `json:"text"`
	Excluded bool     `json:"excluded,omitempty"`
	Reason   string   `json:"reason,omitempty"` // why it was set aside after an objection
}

// Tolerances below which a found amount above the declared one is rounding
// or timing, not a discrepancy.
const (
	incomeToleranceFen    = 1000   // 10 yuan a month
	financialToleranceFen = 100000 // 1,000 yuan
)

func tolerance(declared, floor int64) int64 { return max(floor, declared/20) }

// evaluate applies the rules to a household's department items.
func evaluate(h *household, items []found, lim Limits) ([]Check, []Finding) {
	var checks []Check
	var findings []Finding
	byKind := map[string][]found{}
	for _, it := range items {
		byKind[it.Kind] = append(byKind[it.Kind], it)
	}
	yuan := func(f int64) string { return money.Fen(f).String() + " 元" }
	sources := func(fs []found) []string {
		var out []string
		for _, f := range fs {
			if l := f.Ref.Label(); !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
		return out
	}
	perMember := func(kind string) map[int][]found {
		if len(byKind[kind]) == 0 {
			return nil // most households hold few kinds: no map for the rest
		}
		m := map[int][]found{}
		for _, f := range byKind[kind] {
			m[f.Member] = append(m[f.Member], f)
		}
		return m
	}

	// events
	for kind, fk := range map[string]string{KindDeath: FindDeath, KindMovedOut: FindMovedOut} {
		for mi, fs := range perMember(kind) {
			m := h.Members[mi]
			findings = append(findings, Finding{Kind: fk, Member: m.Name, PersonID: m.PersonID, Sources: sources(fs),
				Text: fmt.Sprintf("%s：%s记录日期 %s，家庭未报告", m.Name, KindLabels[kind], fs[0].Date)})
		}
	}

	// vehicles: each against the value limit; more than declared is a finding
	vehicleLimit := lim.VehicleMultiple.MulFen(money.Fen(lim.UrbanStandardFen))
	for _, f := range byKind[KindVehicle] {
		checks = append(checks, Check{Rule: "vehicle_value", Label: "非经营性车辆价值", Member: h.Members[f.Member].Name,
			Value: yuan(f.AmountFen), Limit: yuan(int64(vehicleLimit)), Hit: f.AmountFen > int64(vehicleLimit), Param: "dibao.assets.vehicle_multiple"})
	}
	if n := len(byKind[KindVehicle]); n > h.Vehicles {
		findings = append(findings, Finding{Kind: FindVehicle, Sources: sources(byKind[KindVehicle]),
			Text: fmt.Sprintf("登记机动车 %d 辆（不含残疾人专用车），申报 %d 辆", n, h.Vehicles)})
	}

	// houses
	if n := len(byKind[KindHouse]); n > 0 {
		checks = append(checks, Check{Rule: "houses", Label: "住房套数", Value: fmt.Sprint(n), Limit: fmt.Sprint(lim.MaxHouses),
			Hit: int64(n) > lim.MaxHouses, Param: "dibao.assets.max_houses"})
		if n > h.Houses {
			findings = append(findings, Finding{Kind: FindHouse, Sources: sources(byKind[KindHouse]),
				Text: fmt.Sprintf("不动产登记住房 %d 套，申报 %d 套", n, h.Houses)})
		}
	}

	// businesses: capital against the limit; any registration without
	// declared business income is a finding
	for mi, fs := range perMember(KindBusiness) {
		m := h.Members[mi]
		var capital int64
		for _, f := range fs {
			capital += f.AmountFen
		}
		checks = append(checks, Check{Rule: "business_capital", Label: "认缴出资", Member: m.Name, Value: yuan(capital),
			Limit: yuan(lim.BusinessCapital), Hit: capital >= lim.BusinessCapital, Param: "dibao.assets.business_capital_limit"})
		if _, declared := m.Incomes.get("business"); !declared {
			findings = append(findings, Finding{Kind: FindBusiness, Member: m.Name, PersonID: m.PersonID, Sources: sources(fs),
				Text: fmt.Sprintf("%s：登记市场主体 %d 户、认缴出资 %s，未申报经营收入", m.Name, len(fs), yuan(capital))})
		}
	}

	// financial assets of the household against the limit and the declaration
	var fin []found
	var total int64
	for _, k := range []string{KindDeposit, KindSecurities, KindInsurance} {
		for _, f := range byKind[k] {
			fin = append(fin, f)
			total += f.AmountFen
		}
	}
	if len(fin) > 0 {
		limit := int64(lim.FinancialMonths.MulFen(money.Fen(lim.StandardFen))) * int64(max(len(h.Members), 1))
		checks = append(checks, Check{Rule: "financial", Label: "家庭金融资产", Value: yuan(total), Limit: yuan(limit),
			Hit: total > limit, Param: "dibao.assets.financial_multiple"})
		if total > limit && total > h.FinancialFen+tolerance(h.FinancialFen, financialToleranceFen) {
			findings = append(findings, Finding{Kind: FindFinancial, Sources: sources(fin),
				Text: fmt.Sprintf("金融资产合计 %s，超过上限 %s，申报 %s", yuan(total), yuan(limit), yuan(h.FinancialFen))})
		}
	}

	// incomes paid by social insurance, above the declared amount
	for _, kind := range []string{KindPension, KindBasicPension, KindUnemployment} {
		for mi, fs := range perMember(kind) {
			m := h.Members[mi]
			var monthly int64
			for _, f := range fs {
				monthly += f.AmountFen
			}
			declared, _ := m.Incomes.get(kind)
			if monthly > declared+tolerance(declared, incomeToleranceFen) {
				findings = append(findings, Finding{Kind: FindIncome, Member: m.Name, PersonID: m.PersonID, Sources: sources(fs),
					Text: fmt.Sprintf("%s：%s每月 %s，申报 %s", m.Name, KindLabels[kind], yuan(monthly), yuan(declared))})
			}
		}
	}
	for mi, fs := range perMember(KindTaxable) {
		m := h.Members[mi]
		var yearly int64
		for _, f := range fs {
			yearly = max(yearly, f.AmountFen)
		}
		wage, _ := m.Incomes.get("wage")
		business, _ := m.Incomes.get("business")
		declared := wage + business
		if yearly/12 > declared*3/2+50000 {
			findings = append(findings, Finding{Kind: FindIncome, Member: m.Name, PersonID: m.PersonID, Sources: sources(fs),
				Text: fmt.Sprintf("%s：年度综合所得 %s，申报工资和经营收入每月 %s", m.Name, yuan(yearly), yuan(declared))})
		}
	}

	// employment: contributions or provident-fund deposits without a declared wage
	employed := perMember(KindEmployed)
	for mi, fs := range perMember(KindProvident) {
		if employed == nil {
			employed = map[int][]found{}
		}
		employed[mi] = append(employed[mi], fs...)
	}
	for mi, fs := range employed {
		m := h.Members[mi]
		if _, ok := m.Incomes.get("wage"); !ok {
			findings = append(findings, Finding{Kind: FindEmployment, Member: m.Name, PersonID: m.PersonID, Sources: sources(fs),
				Text: fmt.Sprintf("%s：有在职参保或公积金缴存记录，未申报工资收入", m.Name)})
		}
	}

	// marriages and divorces after the household was registered
	for _, kind := range []string{KindMarriage, KindDivorce} {
		for mi, fs := range perMember(kind) {
			m := h.Members[mi]
			for _, f := range fs {
				if f.Date > h.CreatedOn {
					findings = append(findings, Finding{Kind: FindComposition, Member: m.Name, PersonID: m.PersonID, Sources: sources(fs),
						Text: fmt.Sprintf("%s：%s于 %s，家庭成员可能变化", m.Name, KindLabels[kind], f.Date)})
					break
				}
			}
		}
	}
	sortFindings(findings)
	return checks, findings
}

// sortFindings orders findings by kind and member so reports are stable.
func sortFindings(fs []Finding) {
	order := []string{FindDeath, FindMovedOut, FindIncome, FindEmployment, FindFinancial, FindVehicle, FindHouse, FindBusiness, FindComposition}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(slices.Index(order, a.Kind), slices.Index(order, b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.Member, b.Member)
	})
}
