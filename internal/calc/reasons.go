package calc

import (
	"strconv"

	"jiuzhu/internal/money"
)

// Reason is one explanation of a programme outcome. It is stored as a code
// with its figures and rendered in Chinese only when read (String, JSON),
// so that evaluating without output formatting costs no allocations.
type Reason struct {
	code   reasonCode
	member string
	text   string
	text2  string
	v      [4]int64
}

type reasonCode uint8

const (
	rNone reasonCode = iota
	rNoMembers
	rDibaoBelow
	rDibaoNotBelow
	rDibaoAmount
	rIncrement
	rAssetFinancial
	rAssetVehicle
	rAssetHouses
	rAssetBusiness
	rIndividual
	rIndividualIncome
	rNotInForce
	rMarginalIsDibao
	rMarginalBelow
	rMarginalNotBelow
	rTkElderly
	rTkMinor
	rTkStudent
	rTkDisability
	rTkIncome
	rTkSupporter
	rTkEligible
	rTkNoCandidate
	rTmpNoRequest
	rTmpNotPoor
	rTmpOrdinary
	rTmpSpecial
	rTmpCaseByCase
	rTmpTownship
	rTmpCounty
	rTmpAdvance
	rOrphanYes
	rOrphanNone
	rUnattendedYes
	rUnattendedNone
	rChildTopUp
	rDisNotDibao
	rDisFullUnattended
	rDisLivingYes
	rDisNotSevere
	rDisNoCareNeed
	rDisCareYes
	rDisNone
	rPriceNoIndex
	rPriceNotTriggered
	rPriceTriggered
	rPriceMultiplied
	rPriceNobody
	rPriceAmount
)

// String renders the reason in Simplified Chinese.
func (r Reason) String() string { return string(r.AppendText(nil)) }

// MarshalText makes a Reason a JSON string.
func (r Reason) MarshalText() ([]byte, error) { return r.AppendText(nil), nil }

// AppendText appends the Chinese text of the reason to b.
func (r Reason) AppendText(b []byte) []byte {
	yuan := func(i int) { b = append(money.Fen(r.v[i]).Append(b, true), " 元"...) }
	num := func(i int) { b = strconv.AppendInt(b, r.v[i], 10) }
	pct := func(i int) { b = appendPercent(b, r.v[i]) }
	s := func(parts ...string) {
		for _, p := range parts {
			b = append(b, p...)
		}
	}
	if r.member != "" {
		s("成员 ", r.member, "：")
	}
	switch r.code {
	case rNoMembers:
		s("没有计入的共同生活家庭成员（DB-02）")
	case rDibaoBelow:
		s("家庭月人均收入 ")
		yuan(0)
		s("低于", r.text, "低保标准 ")
		yuan(1)
	case rDibaoNotBelow:
		s("家庭月人均收入 ")
		yuan(0)
		s("不低于", r.text, "低保标准 ")
		yuan(1)
		s("（等于标准也不符合，DB-01）")
	case rDibaoAmount:
		s("保障金额 = 标准 ")
		yuan(0)
		s(" × ")
		num(1)
		s(" 人 − 家庭月收入 ")
		yuan(2)
		s(" = ")
		yuan(3)
	case rIncrement:
		s("分类施保增发 ")
		yuan(0)
	case rAssetFinancial:
		s("金融资产 ")
		yuan(0)
		s("超过上限 ")
		yuan(1)
	case rAssetVehicle:
		s("机动车辆或船舶价值 ")
		yuan(0)
		s("超过上限 ")
		yuan(1)
	case rAssetHouses:
		s("拥有房屋 ")
		num(0)
		s(" 套，超过 ")
		num(1)
		s(" 套的上限")
	case rAssetBusiness:
		s("企业出资 ")
		yuan(0)
		s("达到或超过 ")
		yuan(1)
	case rIndividual:
		s(r.text, "，单独纳入低保（单人保）：标准 ")
		yuan(0)
		s(" − 本人收入 ")
		yuan(1)
		s(" = ")
		yuan(2)
	case rIndividualIncome:
		s(r.text, "，但本人月收入 ")
		yuan(0)
		s("不低于低保标准 ")
		yuan(1)
	case rNotInForce:
		s("该日期", r.text, "尚未施行")
	case rMarginalIsDibao:
		s("家庭符合低保条件，不属于低保边缘家庭")
	case rMarginalBelow:
		s("家庭月人均收入 ")
		yuan(0)
		s("低于低保边缘标准 ")
		yuan(1)
	case rMarginalNotBelow:
		s("家庭月人均收入 ")
		yuan(0)
		s("不低于低保边缘标准 ")
		yuan(1)
	case rTkElderly:
		s("年满 60 周岁（")
		num(0)
		s(" 岁），属于无劳动能力")
	case rTkMinor:
		s("未满 ")
		num(1)
		s(" 周岁（")
		num(0)
		s(" 岁）")
	case rTkStudent:
		s("已满 ")
		num(1)
		s(" 周岁但仍在义务教育、普通高中或中等职业学校就读，继续认定（TK-05）")
	case rTkDisability:
		s("残疾类别和等级属于无劳动能力（TK-02）")
	case rTkIncome:
		s("本人月收入 ")
		yuan(0)
		s("不低于", r.text, "低保标准 ")
		yuan(1)
	case rTkSupporter:
		if r.text2 != "" {
			s("有具备赡养、抚养或扶养能力的义务人（同户", r.text, " ", r.text2, "），不属于特困人员（TK-04）")
		} else {
			s("有具备赡养、抚养或扶养能力的义务人（", r.text, "），不属于特困人员（TK-04）")
		}
	case rTkEligible:
		s("认定为特困人员：基本生活 ")
		yuan(0)
		s(" + 照料护理 ")
		yuan(1)
		s("（", r.text, "，")
		num(3)
		s(" 项不能达到）= ")
		yuan(2)
	case rTkNoCandidate:
		s("家庭成员均不属于无劳动能力的老年人、残疾人或未成年人（TK-02）")
	case rTmpNoRequest:
		s("未提出临时救助申请")
	case rTmpNotPoor:
		s("家庭月人均收入 ")
		yuan(0)
		s("不低于上年度人均可支配收入 ")
		yuan(1)
		s("（支出型，LS-02）")
	case rTmpOrdinary:
		s("救助需求 ")
		yuan(0)
		s("未超过一般上限 ")
		yuan(1)
	case rTmpSpecial:
		s("救助需求 ")
		yuan(0)
		s("超过一般上限 ")
		yuan(1)
		s("，按特别救助核定 ")
		yuan(2)
	case rTmpCaseByCase:
		s("救助需求 ")
		yuan(0)
		s("超过一般上限 ")
		yuan(1)
		s("，一事一议核定 ")
		yuan(2)
	case rTmpTownship:
		s("金额 ")
		yuan(0)
		s("不超过乡镇审批限额 ")
		yuan(1)
		s("，由乡镇（街道）审批")
	case rTmpCounty:
		s("金额 ")
		yuan(0)
		s("超过乡镇审批限额 ")
		yuan(1)
		s("，报县级民政部门审批")
	case rTmpAdvance:
		s("乡镇可先行从备用金救助 ")
		yuan(0)
		s("，其余 ")
		yuan(1)
		s("由县级在同一案件中审批")
	case rOrphanYes:
		s("认定为孤儿（", r.text, "），基本生活费标准 ")
		yuan(0)
	case rOrphanNone:
		s("家庭中没有未满 ")
		num(0)
		s(" 周岁且父母双亡或查找不到生父母的儿童（ER-01）")
	case rUnattendedYes:
		s("认定为事实无人抚养儿童（", r.text, "），参照孤儿标准 ")
		yuan(0)
	case rUnattendedNone:
		s("家庭中没有符合事实无人抚养条件的未满 ")
		num(0)
		s(" 周岁儿童（ER-02）")
	case rChildTopUp:
		s("已领取低保、特困或残疾人生活补贴 ")
		yuan(0)
		s("，补差发放 ")
		yuan(1)
		s("（ER-04）")
	case rDisNotDibao:
		s("残疾人不在低保家庭中（CJ-01）")
	case rDisFullUnattended:
		s("已领取全额事实无人抚养儿童基本生活费，不再享受困难残疾人生活补贴（CJ-04）")
	case rDisLivingYes:
		s("低保家庭残疾人，困难残疾人生活补贴 ")
		yuan(0)
	case rDisNotSevere:
		s("残疾等级 ")
		num(0)
		s(" 级，不属于重度残疾（CJ-01）")
	case rDisNoCareNeed:
		s("未确认需要长期照护（6 个月以上，CJ-01）")
	case rDisCareYes:
		s("残疾等级 ")
		num(0)
		s(" 级且需长期照护，重度残疾人护理补贴 ")
		yuan(1)
	case rDisNone:
		s("家庭中没有持证残疾人")
	case rPriceNoIndex:
		s("未提供当月价格指数")
	case rPriceNotTriggered:
		s("居民消费价格指数同比上涨 ")
		pct(0)
		s("%、食品价格同比上涨 ")
		pct(2)
		s("%，均未达到启动条件 ")
		pct(1)
		s("%、")
		pct(3)
		s("%")
	case rPriceTriggered:
		s(r.text, "同比上涨 ")
		pct(0)
		s("%，达到启动条件 ")
		pct(1)
		s("%，每人 ")
		yuan(2)
	case rPriceMultiplied:
		s("本月补贴标准 × ", r.text, "，每人 ")
		yuan(0)
	case rPriceNobody:
		s("家庭中没有价格临时补贴保障范围内的人员（PL-01）")
	case rPriceAmount:
		s("每人 ")
		yuan(0)
		s(" × ")
		num(1)
		s(" 人 = ")
		yuan(2)
	}
	return b
}

// appendPercent writes hundredths of a percent with at least one decimal:
// 360 → "3.6", 300 → "3.0", 365 → "3.65".
func appendPercent(b []byte, bp int64) []byte {
	if bp < 0 {
		b = append(b, '-')
		bp = -bp
	}
	b = strconv.AppendInt(b, bp/100, 10)
	b = append(b, '.', byte('0'+bp%100/10))
	if bp%10 != 0 {
		b = append(b, byte('0'+bp%10))
	}
	return b
}
