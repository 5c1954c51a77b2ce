// Package calc holds the pure eligibility and benefit calculators of
// DESIGN.md §4: dibao, marginal, tekun, temporary, orphan, unattended_child,
// disability_living, disability_care and price_subsidy, following the rules of
// shared/domain.md (rule ids such as DB-34 are cited in comments and reasons).
//
// A Situation (the JSON body of POST /api/v1/calculate) is parsed strictly by
// ParseSituation and evaluated against a policy.Set by Evaluate or an
// Evaluator. The rule version is chosen by the situation's date: the 2012
// dibao and 2016 extreme-poverty rules before 2021-07-01, the 2021 rules from
// then. Amounts are integer fen computed on household totals; every parameter
// used can be traced with its value, start date and legal reference. There is
// no I/O.
//
// Rule tests live as data in cases/*.yaml (embedded; see Cases).
package calc
