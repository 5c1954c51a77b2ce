package calc

import (
	"sync"
	"time"

	"jiuzhu/internal/policy"
)

// paramID indexes the parameters the calculators read. Resolving them by
// index from a pre-resolved bundle keeps map lookups off the hot path.
type paramID uint8

const (
	pDibaoStdUrban paramID = iota
	pDibaoStdRural
	pExclBasicPension
	pExclOldAge
	pDeductRigid
	pIncElderly
	pIncElderlyAge
	pIncMinor
	pIncSevereDisability
	pIncSeriousIllness
	pAssetFinancial
	pAssetVehicle
	pAssetHouses
	pAssetBusiness
	pDibaoTownship
	pMarginalInForce
	pMarginalMultiple
	pDispUrban
	pDispRural
	pTkUrban
	pTkRuralCentral
	pTkRuralDispersed
	pTkMultiple
	pTkCareFull
	pTkCarePartial
	pTkCareSelf
	pTkMinorAge
	pTmpEmergencyCap
	pTmpExpenditureCap
	pTmpTownship
	pTmpCaseCeiling
	pTmpSpecialMin
	pTmpSpecialMax
	pOrphanInstitution
	pOrphanScattered
	pChildAgeLimit
	pUnattendedInForce
	pDisInForce
	pDisLiving
	pDisCare
	pDisLivingMarginal
	pDisCareIM34
	pPriceCPI
	pPriceFood
	pPriceMultiplier
	pPriceMinimum
	pPriceCoversChildren
	pPriceCoversMarginal
	numParams
)

var paramNames = [numParams]string{
	pDibaoStdUrban:       "dibao.standard.urban",
	pDibaoStdRural:       "dibao.standard.rural",
	pExclBasicPension:    "dibao.income.exclude_basic_pension",
	pExclOldAge:          "dibao.income.exclude_old_age_allowance",
	pDeductRigid:         "dibao.income.deduct_rigid_expenses",
	pIncElderly:          "dibao.increment.elderly",
	pIncElderlyAge:       "dibao.increment.elderly_age",
	pIncMinor:            "dibao.increment.minor",
	pIncSevereDisability: "dibao.increment.severe_disability",
	pIncSeriousIllness:   "dibao.increment.serious_illness",
	pAssetFinancial:      "dibao.assets.financial_multiple",
	pAssetVehicle:        "dibao.assets.vehicle_multiple",
	pAssetHouses:         "dibao.assets.max_houses",
	pAssetBusiness:       "dibao.assets.business_capital_limit",
	pDibaoTownship:       "dibao.approval.township_delegated",
	pMarginalInForce:     "marginal.in_force",
	pMarginalMultiple:    "marginal.income_multiple",
	pDispUrban:           "region.disposable_income.urban",
	pDispRural:           "region.disposable_income.rural",
	pTkUrban:             "tekun.basic.urban",
	pTkRuralCentral:      "tekun.basic.rural.centralised",
	pTkRuralDispersed:    "tekun.basic.rural.dispersed",
	pTkMultiple:          "tekun.basic.dibao_multiple",
	pTkCareFull:          "tekun.care.full",
	pTkCarePartial:       "tekun.care.partial",
	pTkCareSelf:          "tekun.care.self",
	pTkMinorAge:          "tekun.minor_age",
	pTmpEmergencyCap:     "temporary.emergency.cap_multiple",
	pTmpExpenditureCap:   "temporary.expenditure.cap_multiple",
	pTmpTownship:         "temporary.township_limit",
	pTmpCaseCeiling:      "temporary.case_by_case.ceiling",
	pTmpSpecialMin:       "temporary.special.min",
	pTmpSpecialMax:       "temporary.special.max",
	pOrphanInstitution:   "orphan.standard.institution",
	pOrphanScattered:     "orphan.standard.scattered",
	pChildAgeLimit:       "children.age_limit",
	pUnattendedInForce:   "unattended_child.in_force",
	pDisInForce:          "disability.subsidies.in_force",
	pDisLiving:           "disability.living.standard",
	pDisCare:             "disability.care.standard",
	pDisLivingMarginal:   "disability.living.include_marginal",
	pDisCareIM34:         "disability.care.include_intellectual_mental_3_4",
	pPriceCPI:            "price.threshold.cpi",
	pPriceFood:           "price.threshold.food",
	pPriceMultiplier:     "price.multiplier",
	pPriceMinimum:        "price.minimum",
	pPriceCoversChildren: "price.covers.children",
	pPriceCoversMarginal: "price.covers.marginal",
}

// ParameterNames lists the parameters the calculators read.
func ParameterNames() []string { return append([]string(nil), paramNames[:]...) }

// bundle holds every parameter resolved for one region key and date. A
// parameter without a value keeps its error, raised only if a calculation
// actually needs it: marginal.income_multiple, say, has no value before 2021,
// when no calculation reads it.
type bundle struct {
	vals [numParams]policy.Value
	errs [numParams]error
}

func resolveBundle(set *policy.Set, region string, date time.Time) *bundle {
	b := new(bundle)
	for id, name := range paramNames {
		b.vals[id], b.errs[id] = set.Resolve(name, region, date)
	}
	return b
}

type bundleKey struct {
	region string
	day    civil
}

// bundleCache memoises bundles per (region key, date). It is bounded because
// a long batch may touch many dates; when full it starts over, which only
// costs re-resolving.
type bundleCache struct {
	mu sync.RWMutex
	m  map[bundleKey]*bundle
}

const maxBundles = 4096

func (c *bundleCache) get(set *policy.Set, region string, day civil) *bundle {
	key := bundleKey{set.RegionKey(region), day}
	c.mu.RLock()
	b := c.m[key]
	c.mu.RUnlock()
	if b != nil {
		return b
	}
	b = resolveBundle(set, region, day.time())
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxBundles {
		c.m = make(map[bundleKey]*bundle)
	}
	c.m[key] = b
	c.mu.Unlock()
	return b
}

// The trace de-duplicates parameters with a 64-bit set.
var _ [64 - numParams]struct{}
