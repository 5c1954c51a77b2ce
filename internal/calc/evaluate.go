package calc

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
)

// Options control an evaluation.
type Options struct {
	// Trace records every input, parameter and intermediate result.
	Trace bool
	// KnownRegion, if set, must accept the situation's region code; the region
	// tree lives in another package.
	KnownRegion func(code string) bool
	// AllowParameters accepts a situation's what-if parameter values (the
	// calculate API and `jiuzhu calc`); decisions and batch work leave it off.
	AllowParameters bool
}

// Rule versions (domain.md §1): the 2012 dibao rules (S3) and 2016
// extreme-poverty rules apply to events before 2021-07-01, S2 and S4 from then.
const (
	Rules2012 = "2012"
	Rules2021 = "2021"
)

var rules2021From = civil{2021, 7, 1}

// Evaluator evaluates situations against one parameter set, caching the
// parameters resolved per region and date. It is safe for concurrent use.
type Evaluator struct {
	params *policy.Set
	opts   Options
	cache  bundleCache
}

// NewEvaluator returns an Evaluator for params.
func NewEvaluator(params *policy.Set, opts Options) *Evaluator {
	return &Evaluator{params: params, opts: opts}
}

// Evaluate validates sit if needed and evaluates the requested programmes.
func Evaluate(sit Situation, params *policy.Set, opts Options) (Result, error) {
	return NewEvaluator(params, opts).Evaluate(&sit)
}

// Evaluate evaluates one situation, validating it first if Validate has not
// run on it.
func (e *Evaluator) Evaluate(sit *Situation) (Result, error) {
	var r Result
	err := e.EvaluateInto(sit, &r)
	return r, err
}

// EvaluateInto is Evaluate writing into r and reusing r's storage, for batch
// work: a Result reused this way makes evaluation allocation-free. Earlier
// contents of r are overwritten.
func (e *Evaluator) EvaluateInto(sit *Situation, r *Result) error {
	if !sit.valid {
		if err := sit.Validate(); err != nil {
			return err
		}
	}
	if e.opts.KnownRegion != nil && !e.opts.KnownRegion(sit.Region) {
		return inputErr("region", "unknown region code %q", sit.Region)
	}
	if len(sit.Parameters) > 0 {
		return e.evaluateWhatIf(sit, r)
	}
	r.Parameters = nil
	x := evaluation{
		sit:   sit,
		h:     &sit.Household,
		b:     e.cache.get(e.params, sit.Region, sit.day),
		r:     r,
		trace: e.opts.Trace,
		v2021: !sit.day.before(rules2021From),
	}
	x.run()
	if x.err != nil {
		return fmt.Errorf("calc: %w", x.err)
	}
	return nil
}

// evaluation is the state of one Evaluate call. Errors are sticky: the first
// missing parameter is kept and returned, and calculations carry on with
// zero values that are never reported.
type evaluation struct {
	sit   *Situation
	h     *Household
	b     *bundle
	r     *Result
	trace bool
	v2021 bool
	err   error

	cur         *ProgrammeResult
	traced      uint64 // parameters already in the current programme's trace
	reasonStart int
	memberStart int

	mf       []memberFacts
	std      money.Fen // dibao standard for the household's hukou
	n        int64     // counted members
	income   money.Fen // counted household income
	assetBad Reason    // first failed household asset test, if any

	dibaoHH    bool // household eligible for dibao
	marginalHH int8 // 0 unknown, 1 yes, -1 no
}

type memberFacts struct {
	age         int
	counted     bool
	income      money.Fen // own income as counted for dibao
	tekunIncome money.Fen // own income as counted for extreme poverty (TK-03)
	working     bool      // has wage or business income
	severe      bool      // level 1–2, or level 3 intellectual or mental
	unemp       bool      // receives unemployment insurance (PL-01)
	prefCare    bool      // receives preferential-care payments (PL-01)
	individual  bool      // included in dibao alone (DB-06)
	tekun       bool
	child       bool // orphan or de-facto-unattended child
	childFull   bool // receives the full unattended-child allowance (CJ-04)
}

// needs lists, per programme, the programmes whose outcome it reads.
var needs = [numProgrammes]uint16{
	Marginal:         1 << Dibao,
	UnattendedChild:  1 << Orphan,
	DisabilityLiving: 1<<Dibao | 1<<Marginal | 1<<Orphan | 1<<UnattendedChild,
	PriceSubsidy:     1<<Dibao | 1<<Marginal | 1<<Tekun | 1<<Orphan | 1<<UnattendedChild,
}

func (x *evaluation) run() {
	r, s := x.r, x.sit
	r.Date = s.Date
	r.RuleVersion = Rules2012
	if x.v2021 {
		r.RuleVersion = Rules2021
	}
	r.Programmes = Programmes{requested: s.progs}
	if r.reasonArena == nil {
		r.reasonArena = make([]Reason, 0, 24)
	}
	r.reasonArena = r.reasonArena[:0]
	r.memberArena = r.memberArena[:0]

	todo := s.progs
	for p := numProgrammes - 1; ; p-- {
		if todo&(1<<p) != 0 {
			todo |= needs[p]
		}
		if p == 0 {
			break
		}
	}
	x.prepare()
	// Dependencies come first in this order.
	order := [numProgrammes]Programme{Dibao, Marginal, Tekun, Orphan, UnattendedChild, DisabilityLiving, DisabilityCare, Temporary, PriceSubsidy}
	for _, p := range order {
		if todo&(1<<p) == 0 {
			continue
		}
		x.begin(&r.Programmes.res[p])
		x.programme(p)
		x.end()
		if x.err != nil {
			return
		}
	}
}

// programme dispatches with a switch rather than a table of functions, which
// would make the evaluation state escape to the heap.
func (x *evaluation) programme(p Programme) {
	switch p {
	case Dibao:
		x.dibao()
	case Marginal:
		x.marginal()
	case Tekun:
		x.tekun()
	case Orphan:
		x.children(isOrphan, rOrphanYes, rOrphanNone)
	case UnattendedChild:
		x.unattended()
	case DisabilityLiving:
		x.disabilityLiving()
	case DisabilityCare:
		x.disabilityCare()
	case Temporary:
		x.temporary()
	case PriceSubsidy:
		x.priceSubsidy()
	}
}

func (x *evaluation) begin(pr *ProgrammeResult) {
	*pr = ProgrammeResult{}
	x.cur = pr
	x.traced = 0
	x.reasonStart = len(x.r.reasonArena)
	x.memberStart = len(x.r.memberArena)
}

func (x *evaluation) end() {
	ra := x.r.reasonArena
	x.cur.Reasons = ra[x.reasonStart:len(ra):len(ra)]
	if ma := x.r.memberArena; len(ma) > x.memberStart {
		x.cur.Members = ma[x.memberStart:len(ma):len(ma)]
	}
	x.cur = nil
}

func (x *evaluation) say(code reasonCode, member, text string, a, b, c, d int64) {
	x.r.reasonArena = append(x.r.reasonArena, Reason{code: code, member: member, text: text, v: [4]int64{a, b, c, d}})
}

func (x *evaluation) addMember(m MemberResult) {
	x.r.memberArena = append(x.r.memberArena, m)
}

// param returns a resolved parameter, recording it in the trace; a missing
// value becomes the evaluation's error.
func (x *evaluation) param(p paramID) *policy.Value {
	if err := x.b.errs[p]; err != nil {
		if x.err == nil {
			x.err = err
		}
		return &zeroValue
	}
	v := &x.b.vals[p]
	if x.trace && x.traced&(1<<p) == 0 {
		x.traced |= 1 << p
		x.cur.Trace = append(x.cur.Trace, TraceStep{
			Step: "参数", Parameter: v.Name, ParameterValue: v.String(), Start: v.Start.Format(time.DateOnly),
			Region: v.Region, Reference: v.Reference, Demo: v.Demo,
		})
	}
	return v
}

var zeroValue = policy.Value{Ratio: policy.Ratio{Num: 0, Den: 1}}

func (x *evaluation) fen(p paramID) money.Fen      { return x.param(p).Fen() }
func (x *evaluation) ratio(p paramID) policy.Ratio { return x.param(p).Ratio }
func (x *evaluation) flag(p paramID) bool          { return x.param(p).Bool }
func (x *evaluation) count(p paramID) int64        { return x.param(p).Int }

func (x *evaluation) step(step, member, value string) {
	x.cur.Trace = append(x.cur.Trace, TraceStep{Step: step, Member: member, Value: value})
}

func (x *evaluation) stepFen(step, member string, f money.Fen) {
	x.cur.Trace = append(x.cur.Trace, TraceStep{Step: step, Member: member, Value: f.Yuan(), AmountFen: &f})
}

// prepare computes the facts every programme shares: ages, who counts as a
// household member (DB-02), counted incomes (DB-14..16) and the asset test.
func (x *evaluation) prepare() {
	h := x.h
	if cap(x.r.facts) < len(h.Members) {
		x.r.facts = make([]memberFacts, len(h.Members), max(len(h.Members), 8))
	}
	x.mf = x.r.facts[:len(h.Members)]
	clear(x.mf)
	// The household's dibao standard is traced in the dibao programme; here it
	// is read without a programme to attach the trace to.
	p := x.stdParam()
	if err := x.b.errs[p]; err != nil {
		x.err = err
		return
	}
	x.std = x.b.vals[p].Fen()
	x.n, x.income = 0, 0
	for i := range h.Members {
		m, f := &h.Members[i], &x.mf[i]
		f.age = m.birth.age(x.sit.day)
		f.counted = x.counted(m, f.age)
		f.severe = severe(m.Disability)
		x.memberIncome(m, f)
		if f.counted {
			x.n++
			x.income += f.income
		}
	}
	if x.income < 0 {
		x.income = 0
	}
	x.assetBad = x.assetTest(-1, x.n)
}

// counted applies DB-02 (2021) or S3 §5 (2012).
func (x *evaluation) counted(m *Member, age int) bool {
	switch m.abs {
	case absClergy, absPrison, absLabourCamp:
		return false
	case absDrugRehab, absMissing:
		if x.v2021 {
			return false
		}
	}
	switch m.rel {
	case relHead, relSpouse:
		return true
	case relChild:
		// Minor children, and adult children who cannot live independently
		// (including students up to bachelor level), count wherever they
		// live; other adult children count when living with the household.
		return age < 18 || m.coResident || !m.able || m.stud != studNone && m.stud != studGraduate || severe(m.Disability)
	case relParent:
		return !x.v2021 || m.coResident
	case relGrandchild, relSibling:
		return m.coResident
	}
	return false
}

func severe(d *Disability) bool {
	if d == nil {
		return false
	}
	return d.Level <= 2 || d.Level == 3 && (d.kind == disIntellectual || d.kind == disMental)
}

func (x *evaluation) memberIncome(m *Member, f *memberFacts) {
	for _, in := range m.Incomes {
		k := &incomeKinds[in.kind]
		amt := in.MonthlyFen
		counted := false
		switch k.class {
		case incCounted:
			counted = true
		case incAssistance:
			counted = !x.v2021
		case incBasicPension:
			counted = !x.b.vals[pExclBasicPension].Bool
			if x.b.errs[pExclBasicPension] != nil && x.err == nil {
				x.err = x.b.errs[pExclBasicPension]
			}
		case incOldAge:
			counted = !x.b.vals[pExclOldAge].Bool
			if x.b.errs[pExclOldAge] != nil && x.err == nil {
				x.err = x.b.errs[pExclOldAge]
			}
		case incDeduction:
			f.income -= amt
			f.tekunIncome -= amt
		case incRigid:
			if x.v2021 {
				if x.b.errs[pDeductRigid] != nil && x.err == nil {
					x.err = x.b.errs[pDeductRigid]
				}
				if x.b.vals[pDeductRigid].Bool {
					f.income -= amt
					f.tekunIncome -= amt
				}
			}
		}
		if counted {
			f.income += amt
			if !k.tekunExcluded {
				f.tekunIncome += amt
			}
		}
		if amt > 0 {
			switch k.Name {
			case "wage", "business":
				f.working = true
			case "unemployment_benefit":
				f.unemp = true
			case "preferential_care":
				f.prefCare = true
			}
		}
	}
	if f.tekunIncome < 0 {
		f.tekunIncome = 0
	}
}

// assetTest checks the assets of the counted members (member < 0) or of one
// member against the dated asset parameters (DB-19..DB-23) and returns the
// first failure, or a zero Reason.
func (x *evaluation) assetTest(member int, n int64) Reason {
	var fin, business, vehicle money.Fen
	var houses int64
	for i := range x.h.Members {
		if member >= 0 && i != member || member < 0 && !x.mf[i].counted {
			continue
		}
		for _, a := range x.h.Members[i].Assets {
			switch assetKinds[a.kind].class {
			case assetFinancial:
				fin += a.ValueFen
			case assetVehicle:
				vehicle = max(vehicle, a.ValueFen)
			case assetHouse:
				houses++
			case assetBusiness:
				business += a.ValueFen
			}
		}
	}
	get := func(p paramID) *policy.Value {
		if err := x.b.errs[p]; err != nil {
			if x.err == nil {
				x.err = err
			}
			return &zeroValue
		}
		return &x.b.vals[p]
	}
	if fin > 0 {
		limit := get(pAssetFinancial).Ratio.MulFen(x.std) * money.Fen(n)
		if fin > limit {
			return Reason{code: rAssetFinancial, v: [4]int64{int64(fin), int64(limit)}}
		}
	}
	if vehicle > 0 {
		urban := get(pDibaoStdUrban).Fen()
		limit := get(pAssetVehicle).Ratio.MulFen(urban)
		if vehicle > limit {
			return Reason{code: rAssetVehicle, v: [4]int64{int64(vehicle), int64(limit)}}
		}
	}
	if houses > 0 {
		if limit := get(pAssetHouses).Int; houses > limit {
			return Reason{code: rAssetHouses, v: [4]int64{houses, limit}}
		}
	}
	if business > 0 {
		if limit := get(pAssetBusiness).Fen(); business >= limit {
			return Reason{code: rAssetBusiness, v: [4]int64{int64(business), int64(limit)}}
		}
	}
	return Reason{}
}

func (x *evaluation) hukouCategory() string {
	if x.h.urban {
		return "urban"
	}
	return "rural"
}

func (x *evaluation) hukouText() string {
	if x.h.urban {
		return "城市"
	}
	return "农村"
}

// traceHousehold records the inputs of the household means test.
func (x *evaluation) traceHousehold() {
	for i := range x.h.Members {
		m, f := &x.h.Members[i], &x.mf[i]
		v := "不计入（DB-02）"
		if f.counted {
			v = "计入家庭成员，年龄 " + strconv.Itoa(f.age) + " 岁，计算收入 " + f.income.Yuan()
		}
		x.step("共同生活家庭成员", m.ID, v)
	}
	x.step("家庭人数", "", strconv.FormatInt(x.n, 10))
	x.stepFen("家庭月收入合计", "", x.income)
}

func perCapita(total money.Fen, n int64, roundUp bool) int64 {
	if n == 0 {
		return 0
	}
	if roundUp {
		return (int64(total) + n - 1) / n
	}
	return int64(total) / n
}

// dibao applies DB-01 (strictly below the standard, assets within the rules),
// DB-34 (S×n − I on totals, in fen), DB-35 (分类施保) and DB-06 (单人保).
func (x *evaluation) dibao() {
	pr := x.cur
	pr.Category = x.hukouCategory()
	pr.Unit = "household"
	std := x.fen(x.stdParam())
	if x.trace {
		x.traceHousehold()
	}
	if x.n == 0 {
		x.say(rNoMembers, "", "", 0, 0, 0, 0)
		return
	}
	need := std * money.Fen(x.n)
	if x.income >= need {
		x.say(rDibaoNotBelow, "", x.hukouText(), perCapita(x.income, x.n, true), int64(std), 0, 0)
		x.individual(std)
		if pr.Eligible {
			x.setDibaoApprover()
		}
		return
	}
	if x.assetBad.code != 0 {
		x.r.reasonArena = append(x.r.reasonArena, x.assetBad)
		return
	}
	x.dibaoHH = true
	pr.Eligible = true
	x.say(rDibaoBelow, "", x.hukouText(), perCapita(x.income, x.n, false), int64(std), 0, 0)
	amount := need - x.income
	x.say(rDibaoAmount, "", "", int64(std), x.n, int64(x.income), int64(amount))
	if x.trace {
		x.stepFen("标准 × 人数", "", need)
		x.stepFen("保障金额（补差）", "", amount)
	}
	var extra money.Fen
	for i := range x.h.Members {
		if x.mf[i].counted {
			extra += x.increment(i)
		}
	}
	if extra > 0 {
		x.say(rIncrement, "", "", int64(extra), 0, 0, 0)
		amount += extra
	}
	pr.MonthlyFen = amount
	x.setDibaoApprover()
}

// stdParam is the dibao standard for the household's hukou (DB-03).
func (x *evaluation) stdParam() paramID {
	if x.h.urban {
		return pDibaoStdUrban
	}
	return pDibaoStdRural
}

func (x *evaluation) setDibaoApprover() {
	x.cur.Approver = "county"
	if x.flag(pDibaoTownship) {
		x.cur.Approver = "township"
	}
}

// increment is the highest 分类施保 amount that applies to member i (DB-35).
func (x *evaluation) increment(i int) money.Fen {
	m, f := &x.h.Members[i], &x.mf[i]
	var best money.Fen
	if f.age >= int(x.count(pIncElderlyAge)) {
		best = max(best, x.fen(pIncElderly))
	}
	if f.age < 18 {
		best = max(best, x.fen(pIncMinor))
	}
	if f.severe {
		best = max(best, x.fen(pIncSevereDisability))
	}
	if m.SeriousIllness {
		best = max(best, x.fen(pIncSeriousIllness))
	}
	return best
}

// individual applies DB-06: members who may be included alone when their
// household is not eligible.
func (x *evaluation) individual(std money.Fen) {
	pr := x.cur
	for i := range x.h.Members {
		m, f := &x.h.Members[i], &x.mf[i]
		var why string
		if x.v2021 {
			switch {
			case (f.severe || m.SeriousIllness) && x.householdMarginal():
				why = "低保边缘家庭中的重度残疾人或重病患者"
			case f.age >= 18 && f.severe && !f.working:
				why = "成年无业重度残疾人"
			}
		} else if f.age >= 18 && m.Disability != nil && m.Disability.Level <= 2 && !m.able && m.SeparateHukou {
			why = "丧失劳动能力且单独立户的成年重度残疾人"
		}
		if why == "" {
			continue
		}
		if f.income >= std {
			x.say(rIndividualIncome, m.ID, why, int64(f.income), int64(std), 0, 0)
			continue
		}
		if bad := x.assetTest(i, 1); bad.code != 0 {
			bad.member = m.ID
			x.r.reasonArena = append(x.r.reasonArena, bad)
			continue
		}
		f.individual = true
		amount := std - f.income + x.increment(i)
		x.say(rIndividual, m.ID, why, int64(std), int64(f.income), int64(amount), 0)
		x.addMember(MemberResult{ID: m.ID, Eligible: true, MonthlyFen: amount, Category: pr.Category})
		pr.Eligible = true
		pr.Unit = "individual"
		pr.MonthlyFen += amount
	}
}

// householdMarginal is the DB-47 test, 2·I < 3·S·n with the multiple as an
// exact ratio, for a household not eligible for dibao.
func (x *evaluation) householdMarginal() bool {
	if x.marginalHH != 0 {
		return x.marginalHH > 0
	}
	x.marginalHH = -1
	if !x.flag(pMarginalInForce) || x.n == 0 || x.assetBad.code != 0 {
		return false
	}
	r := x.ratio(pMarginalMultiple)
	if int64(x.income)*r.Den < r.Num*int64(x.std)*x.n {
		x.marginalHH = 1
	}
	return x.marginalHH > 0
}

func (x *evaluation) marginal() {
	pr := x.cur
	pr.Category = x.hukouCategory()
	if !x.flag(pMarginalInForce) {
		x.say(rNotInForce, "", "低保边缘家庭认定", 0, 0, 0, 0)
		return
	}
	if x.dibaoHH {
		x.say(rMarginalIsDibao, "", "", 0, 0, 0, 0)
		return
	}
	if x.n == 0 {
		x.say(rNoMembers, "", "", 0, 0, 0, 0)
		return
	}
	limit := x.ratio(pMarginalMultiple).MulFen(x.std)
	if x.assetBad.code != 0 {
		x.r.reasonArena = append(x.r.reasonArena, x.assetBad)
		return
	}
	if !x.householdMarginal() {
		x.say(rMarginalNotBelow, "", "", perCapita(x.income, x.n, true), int64(limit), 0, 0)
		return
	}
	pr.Eligible = true
	pr.Approver = "county"
	x.say(rMarginalBelow, "", "", perCapita(x.income, x.n, false), int64(limit), 0, 0)
}

// evaluateWhatIf evaluates sit under its own parameter values, with a
// one-off evaluator: what-if sets are not worth caching.
func (e *Evaluator) evaluateWhatIf(sit *Situation, r *Result) error {
	if !e.opts.AllowParameters {
		return inputErr("parameters", "what-if parameter values are not accepted here")
	}
	names := make([]string, 0, len(sit.Parameters))
	for name := range sit.Parameters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := e.params.Parameter(name); !ok {
			return inputErr("parameters."+name, "unknown parameter %q (see GET /api/v1/policy/parameters)", name)
		}
		if _, err := e.params.Override(map[string]string{name: sit.Parameters[name]}); err != nil {
			return inputErr("parameters."+name, "%v", err)
		}
	}
	set, err := e.params.Override(sit.Parameters)
	if err != nil {
		return inputErr("parameters", "%v", err)
	}
	opts := e.opts
	opts.KnownRegion = nil
	whatIf := &Evaluator{params: set, opts: opts}
	plain := *sit // shares the validated members; only the copy loses its what-if values
	plain.Parameters = nil
	err = whatIf.EvaluateInto(&plain, r)
	r.Parameters = sit.Parameters
	return err
}
