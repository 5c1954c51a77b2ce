package calc

import (
	"strconv"

	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
)

// tekun applies TK-01..TK-12 to each member: no capacity to work, no means of
// living, no supporter able to support; then basic living plus the care tier.
func (x *evaluation) tekun() {
	pr := x.cur
	pr.Category = x.hukouCategory()
	minorAge := int(x.count(pTkMinorAge))
	candidates := 0
	for i := range x.h.Members {
		m, f := &x.h.Members[i], &x.mf[i]
		// TK-02: no capacity to work.
		var why reasonCode
		switch d := m.Disability; {
		case f.age >= 60:
			why = rTkElderly
		case f.age < minorAge:
			why = rTkMinor
		case m.stud == studCompulsory || m.stud == studSeniorHigh || m.stud == studVocational:
			why = rTkStudent // TK-05: support continues past the age limit while enrolled
		case d != nil && (d.Level <= 3 && (d.kind == disIntellectual || d.kind == disMental) ||
			d.Level <= 2 && d.kind == disPhysical || d.Level == 1 && d.kind == disVisual):
			why = rTkDisability
		default:
			continue
		}
		candidates++
		x.say(why, m.ID, "", int64(f.age), int64(minorAge), 0, 0)
		// TK-03: no means of living.
		if x.trace {
			x.stepFen("特困收入（不计基础养老金、高龄津贴、优抚金等）", m.ID, f.tekunIncome)
		}
		if f.tekunIncome >= x.std {
			x.say(rTkIncome, m.ID, x.hukouText(), int64(f.tekunIncome), int64(x.std), 0, 0)
			continue
		}
		if bad := x.assetTest(i, 1); bad.code != 0 {
			bad.member = m.ID
			x.r.reasonArena = append(x.r.reasonArena, bad)
			continue
		}
		// TK-04: supporters.
		if label, id, found := x.ableSupporter(i); found {
			x.r.reasonArena = append(x.r.reasonArena, Reason{code: rTkSupporter, member: m.ID, text: label, text2: id})
			continue
		}
		x.tekunAmount(i)
	}
	if candidates == 0 {
		x.say(rTkNoCandidate, "", "", 0, 0, 0, 0)
	}
	if pr.Eligible {
		pr.Approver = "county"
	}
}

// tekunAmount sets the support of an eligible member: basic living by urban or
// rural rate and setting (TK-09, TK-11), at least the dibao multiple (TK-12),
// plus the care tier from the self-care assessment (TK-10).
func (x *evaluation) tekunAmount(i int) {
	pr, m, f := x.cur, &x.h.Members[i], &x.mf[i]
	var basic money.Fen
	category := "urban"
	switch {
	case x.h.urban:
		basic = x.fen(pTkUrban)
	case m.inst:
		basic, category = x.fen(pTkRuralCentral), "rural_centralised"
	default:
		basic, category = x.fen(pTkRuralDispersed), "rural_dispersed"
	}
	if floor := x.ratio(pTkMultiple).MulFen(x.std); floor > basic {
		basic = floor
	}
	var care money.Fen
	var tier, tierText string
	switch n := m.SelfCareFailedItems; {
	case n >= 4:
		care, tier, tierText = x.fen(pTkCareFull), "full", "完全丧失生活自理能力"
	case n >= 1:
		care, tier, tierText = x.fen(pTkCarePartial), "partial", "部分丧失生活自理能力"
	default:
		care, tier, tierText = x.fen(pTkCareSelf), "self", "具备生活自理能力"
	}
	amount := basic + care
	f.tekun = true
	pr.Eligible = true
	pr.Category = category
	pr.MonthlyFen += amount
	x.addMember(MemberResult{ID: m.ID, Eligible: true, MonthlyFen: amount, Category: category, CareTier: tier})
	x.say(rTkEligible, m.ID, tierText, int64(basic), int64(care), int64(amount), int64(m.SelfCareFailedItems))
	if x.trace {
		x.stepFen("基本生活标准", m.ID, basic)
		x.stepFen("照料护理标准（"+tierText+"）", m.ID, care)
	}
}

// ableSupporter finds the first supporter of member i who is able to support
// (TK-04): its relation label and, for a household member, its id. Household
// members with a support duty count as supporters too.
func (x *evaluation) ableSupporter(i int) (label, id string, found bool) {
	h := x.h
	for j := range h.Supporters {
		sp := &h.Supporters[j]
		if sp.of != i {
			continue
		}
		if !x.supporterUnable(sp.birth.age(x.sit.day), sp.OnDibao, sp.OnTekun, sp.Disability, sp.MonthlyIncomeFen, sp.AssetsWithinRules, sp.status) {
			return relations[relations.index(sp.Relation)].Label, "", true
		}
	}
	me := h.Members[i].rel
	for j := range h.Members {
		if j == i {
			continue
		}
		o, of := &h.Members[j], &x.mf[j]
		if !supportDuty(me, o.rel, of.age) {
			continue
		}
		var st supporterStatus
		switch o.abs {
		case absPrison:
			st = supPrison
		case absMissing:
			st = supMissing
		}
		onDibao := h.Current != nil && h.Current.prog == Dibao
		if !x.supporterUnable(of.age, onDibao, false, o.Disability, of.income, x.assetBad.code == 0, st) {
			return relations[o.rel].Label, o.ID, true
		}
	}
	return "", "", false
}

// supportDuty reports whether a household member with relation other (to the
// head) has a legal duty to support one with relation me: spouses, parents of
// children, adult children of parents, grandparents of grandchildren.
func supportDuty(me, other relation, otherAge int) bool {
	switch me {
	case relHead, relSpouse:
		return other == relHead || other == relSpouse || other == relChild && otherAge >= 18
	case relChild:
		return other == relHead || other == relSpouse
	case relParent:
		return other == relHead || other == relParent
	case relGrandchild:
		return other == relHead || other == relSpouse || other == relChild && otherAge >= 18
	}
	return false
}

// supporterUnable is TK-04.
func (x *evaluation) supporterUnable(age int, onDibao, onTekun bool, d *Disability, income money.Fen, assetsOK bool, st supporterStatus) bool {
	switch {
	case onTekun:
		return true
	case onDibao && age >= 60:
		return true
	case st != supNone:
		return assetsOK
	case age >= 70 || severe(d):
		return assetsOK && income < x.disposableIncome()
	}
	return false
}

func (x *evaluation) disposableIncome() money.Fen {
	if x.h.urban {
		return x.fen(pDispUrban)
	}
	return x.fen(pDispRural)
}

// temporary applies LS-01..LS-07: an ordinary grant capped at a multiple of
// the standard, above it special assistance (特别救助) for recipients and
// expenditure-type households or a case-by-case (一事一议) grant; the
// township approves up to its limit.
func (x *evaluation) temporary() {
	pr := x.cur
	req := x.sit.Request
	if req == nil {
		x.say(rTmpNoRequest, "", "", 0, 0, 0, 0)
		return
	}
	capParam := pTmpEmergencyCap
	if !req.emergency {
		capParam = pTmpExpenditureCap
		// LS-02: per-capita income below last year's local disposable income,
		// assets within the rules.
		disp := x.disposableIncome()
		if x.n == 0 || x.income >= disp*money.Fen(x.n) {
			x.say(rTmpNotPoor, "", "", perCapita(x.income, x.n, true), int64(disp), 0, 0)
			return
		}
		if x.assetBad.code != 0 {
			x.r.reasonArena = append(x.r.reasonArena, x.assetBad)
			return
		}
	}
	limit := x.ratio(capParam).MulFen(x.std)
	need := req.NeedFen
	if x.trace {
		x.stepFen("一般救助上限（倍数 × 低保标准）", "", limit)
		x.stepFen("救助需求", "", need)
	}
	amount := need
	pr.Category = "ordinary"
	if need <= limit {
		x.say(rTmpOrdinary, "", "", int64(need), int64(limit), 0, 0)
	} else {
		cur := x.h.Current
		recipient := cur != nil && (cur.prog == Dibao || cur.prog == Tekun || cur.prog == Orphan)
		if (recipient || !req.emergency) && need >= x.fen(pTmpSpecialMin) {
			amount = min(need, x.fen(pTmpSpecialMax))
			pr.Category = "special"
			x.say(rTmpSpecial, "", "", int64(need), int64(limit), int64(amount), 0)
		} else {
			amount = min(need, x.fen(pTmpCaseCeiling))
			pr.Category = "case_by_case"
			x.say(rTmpCaseByCase, "", "", int64(need), int64(limit), int64(amount), 0)
		}
	}
	pr.Eligible = true
	pr.AmountFen = amount
	township := x.fen(pTmpTownship)
	if amount <= township {
		pr.Approver = "township"
		x.say(rTmpTownship, "", "", int64(amount), int64(township), 0, 0)
		return
	}
	pr.Approver = "county"
	x.say(rTmpCounty, "", "", int64(amount), int64(township), 0, 0)
	if req.emergency {
		pr.AdvanceFen = township
		x.say(rTmpAdvance, "", "", int64(township), int64(amount-township), 0, 0)
	}
}

func isGone(p parentStatus) bool { return p == parDead || p == parDeclaredDead || p == parMissing }

func isUnableParent(p parentStatus) bool {
	switch p {
	case parSevereDisability, parSeriousIllness, parPrison, parDrugRehab, parRestricted, parOutOfContact:
		return true
	}
	return false
}

func isOrphan(m *Member) bool {
	lost := func(p parentStatus) bool { return p == parDead || p == parDeclaredDead || p == parUnknown }
	return m.hasParents && lost(m.parents[0]) && lost(m.parents[1])
}

func isUnattended(m *Member) bool {
	if !m.hasParents || isOrphan(m) {
		return false
	}
	a, b := m.parents[0], m.parents[1]
	return isUnableParent(a) && (isUnableParent(b) || isGone(b)) || isGone(a) && isUnableParent(b)
}

// unattended applies ER-02 and ER-04.
func (x *evaluation) unattended() {
	if !x.flag(pUnattendedInForce) {
		x.say(rNotInForce, "", "事实无人抚养儿童保障", 0, 0, 0, 0)
		return
	}
	x.children(isUnattended, rUnattendedYes, rUnattendedNone)
}

// children applies ER-01 (orphans) or ER-02 (de-facto-unattended children),
// with the ER-04 top-up against benefits the child already receives.
func (x *evaluation) children(qualifies func(*Member) bool, yes, none reasonCode) {
	pr := x.cur
	limit := int(x.count(pChildAgeLimit))
	for i := range x.h.Members {
		m, f := &x.h.Members[i], &x.mf[i]
		if f.age >= limit || !qualifies(m) {
			continue
		}
		std, category := x.fen(pOrphanScattered), "scattered"
		if m.inst {
			std, category = x.fen(pOrphanInstitution), "institution"
		}
		var other money.Fen
		for _, b := range m.Benefits {
			other += b.MonthlyFen
		}
		amount := max(std-other, 0)
		f.child = true
		f.childFull = other == 0
		pr.Eligible = true
		pr.Category = category
		pr.MonthlyFen += amount
		x.addMember(MemberResult{ID: m.ID, Eligible: true, MonthlyFen: amount, Category: category})
		x.say(yes, m.ID, categoryText(category), int64(std), 0, 0, 0)
		if other > 0 {
			x.say(rChildTopUp, m.ID, "", int64(other), int64(amount), 0, 0)
		}
	}
	if pr.Eligible {
		pr.Approver = "county"
	} else {
		x.say(none, "", "", int64(limit), 0, 0, 0)
	}
}

func categoryText(c string) string {
	if c == "institution" {
		return "机构养育"
	}
	return "社会散居"
}

// disabilityLiving applies CJ-01 and CJ-04: disabled members of dibao
// households (and, where the parameter extends it, marginal households).
func (x *evaluation) disabilityLiving() {
	pr := x.cur
	if !x.flag(pDisInForce) {
		x.say(rNotInForce, "", "残疾人两项补贴", 0, 0, 0, 0)
		return
	}
	cur := x.h.Current
	onDibao := x.dibaoHH || cur != nil && cur.prog == Dibao
	for i := range x.h.Members {
		m, f := &x.h.Members[i], &x.mf[i]
		if m.Disability == nil {
			continue
		}
		covered := onDibao && f.counted || f.individual
		if !covered && f.counted && x.householdMarginal() && x.flag(pDisLivingMarginal) {
			covered = true
		}
		if !covered {
			x.say(rDisNotDibao, m.ID, "", 0, 0, 0, 0)
			continue
		}
		if f.child && f.childFull && isUnattended(m) {
			x.say(rDisFullUnattended, m.ID, "", 0, 0, 0, 0)
			continue
		}
		amount := x.fen(pDisLiving)
		pr.Eligible = true
		pr.MonthlyFen += amount
		x.addMember(MemberResult{ID: m.ID, Eligible: true, MonthlyFen: amount})
		x.say(rDisLivingYes, m.ID, "", int64(amount), 0, 0, 0)
	}
	x.closeDisability()
}

// disabilityCare applies CJ-01: level 1–2 with long-term care needs,
// optionally extended to level 3–4 intellectual or mental disability.
func (x *evaluation) disabilityCare() {
	pr := x.cur
	if !x.flag(pDisInForce) {
		x.say(rNotInForce, "", "残疾人两项补贴", 0, 0, 0, 0)
		return
	}
	for i := range x.h.Members {
		m := &x.h.Members[i]
		d := m.Disability
		if d == nil {
			continue
		}
		ok := d.Level <= 2
		if !ok && (d.kind == disIntellectual || d.kind == disMental) {
			ok = x.flag(pDisCareIM34)
		}
		if !ok {
			x.say(rDisNotSevere, m.ID, "", int64(d.Level), 0, 0, 0)
			continue
		}
		if !m.LongTermCare {
			x.say(rDisNoCareNeed, m.ID, "", 0, 0, 0, 0)
			continue
		}
		amount := x.fen(pDisCare)
		pr.Eligible = true
		pr.MonthlyFen += amount
		x.addMember(MemberResult{ID: m.ID, Eligible: true, MonthlyFen: amount})
		x.say(rDisCareYes, m.ID, "", int64(d.Level), int64(amount), 0, 0)
	}
	x.closeDisability()
}

func (x *evaluation) closeDisability() {
	if x.cur.Eligible {
		x.cur.Approver = "county"
	} else if len(x.r.reasonArena) == x.reasonStart {
		x.say(rDisNone, "", "", 0, 0, 0, 0)
	}
}

// PriceRate is the price-linkage subsidy per person and month for one
// dibao standard (PL-02, PL-06).
type PriceRate struct {
	CPIOn, FoodOn   bool      // the index reached its threshold
	CPIFen, FoodFen money.Fen // standard × rise, rounded to whole yuan
	Index           string    // "cpi" or "food": the one paid; "" when neither triggers
	PerPersonFen    money.Fen // after the multiplier and the minimum; 0 when neither triggers
}

// PriceRateOf computes the rate from year-on-year index rises in hundredths
// of a percent: the higher triggering index times the standard, rounded to
// whole yuan, times the multiplier, at least the minimum.
func PriceRateOf(std money.Fen, cpiBP, foodBP int64, cpiT, foodT, mult policy.Ratio, minimum money.Fen) PriceRate {
	var r PriceRate
	r.CPIOn = cpiBP*cpiT.Den >= cpiT.Num*10000
	r.FoodOn = foodBP*foodT.Den >= foodT.Num*10000
	perPerson := func(bp int64) money.Fen { return money.Fen(int64(std) * bp / 10000).RoundYuan() }
	if r.CPIOn {
		r.CPIFen = perPerson(cpiBP)
		r.PerPersonFen, r.Index = r.CPIFen, "cpi"
	}
	if r.FoodOn {
		r.FoodFen = perPerson(foodBP)
		if r.FoodFen > r.PerPersonFen {
			r.PerPersonFen, r.Index = r.FoodFen, "food"
		}
	}
	if r.Index == "" {
		return r
	}
	if mult.Num != mult.Den {
		r.PerPersonFen = mult.MulFen(r.PerPersonFen)
	}
	r.PerPersonFen = max(r.PerPersonFen, minimum)
	return r
}

// priceSubsidy applies PL-01..PL-06: triggered by CPI or its food component
// reaching the thresholds; per person the standard × the index rise, rounded
// to whole yuan, the higher index when both trigger, times the multiplier.
func (x *evaluation) priceSubsidy() {
	pr := x.cur
	p := x.sit.Prices
	if p == nil {
		x.say(rPriceNoIndex, "", "", 0, 0, 0, 0)
		return
	}
	cpiT, foodT := x.ratio(pPriceCPI), x.ratio(pPriceFood)
	cpiTh, foodTh := cpiT.Num*10000/cpiT.Den, foodT.Num*10000/foodT.Den
	rate := PriceRateOf(x.std, p.cpiBP, p.foodBP, cpiT, foodT, x.ratio(pPriceMultiplier), x.fen(pPriceMinimum))
	if !rate.CPIOn && !rate.FoodOn {
		x.say(rPriceNotTriggered, "", "", p.cpiBP, cpiTh, p.foodBP, foodTh)
		return
	}
	if rate.CPIOn {
		x.say(rPriceTriggered, "", "居民消费价格指数", p.cpiBP, cpiTh, int64(rate.CPIFen), 0)
	}
	if rate.FoodOn {
		x.say(rPriceTriggered, "", "食品价格指数", p.foodBP, foodTh, int64(rate.FoodFen), 0)
	}
	pr.Category = rate.Index
	per := rate.PerPersonFen
	if mult := x.ratio(pPriceMultiplier); mult.Num != mult.Den {
		x.say(rPriceMultiplied, "", mult.String(), int64(per), 0, 0, 0)
	}
	if x.trace {
		x.stepFen("每人每月补贴", "", per)
	}
	cur := x.h.Current
	onDibao := x.dibaoHH || cur != nil && cur.prog == Dibao
	var covered int64
	for i := range x.h.Members {
		m, f := &x.h.Members[i], &x.mf[i]
		in := onDibao && f.counted || f.individual || f.tekun || f.unemp || f.prefCare
		if !in && f.child {
			in = x.flag(pPriceCoversChildren)
		}
		if !in && f.counted && x.householdMarginal() {
			in = x.flag(pPriceCoversMarginal)
		}
		if !in {
			continue
		}
		covered++
		x.addMember(MemberResult{ID: m.ID, Eligible: true, MonthlyFen: per})
	}
	if covered == 0 {
		x.say(rPriceNobody, "", "", 0, 0, 0, 0)
		return
	}
	pr.Eligible = true
	pr.Approver = "county"
	pr.MonthlyFen = per * money.Fen(covered)
	x.say(rPriceAmount, "", "", int64(per), covered, int64(pr.MonthlyFen), 0)
	if x.trace {
		x.step("保障范围人数", "", strconv.FormatInt(covered, 10))
	}
}
