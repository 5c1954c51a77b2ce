package casework

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
)

// CalcAssessor assesses a case with the production calculators on the
// household as registered, under the parameters in force.
type CalcAssessor struct {
	Registry *registry.Service
	Tree     *region.Tree
	Params   func(ctx context.Context) (*policy.Set, error)
}

// Assess evaluates one programme for the household on a date, with the full trace.
func (a *CalcAssessor) Assess(ctx context.Context, c Caller, householdID int64, programme, kind string, requestedFen int64, on time.Time) (Assessment, error) {
	return a.assess(ctx, c, householdID, programme, kind, requestedFen, on, nil)
}

// AssessAdjusted assesses the household with a change applied to its
// registered situation first (a self-care re-assessment, TK-10).
func (a *CalcAssessor) AssessAdjusted(ctx context.Context, c Caller, householdID int64, programme string, on time.Time, adjust func(*calc.Situation)) (Assessment, error) {
	return a.assess(ctx, c, householdID, programme, "", 0, on, adjust)
}

func (a *CalcAssessor) assess(ctx context.Context, c Caller, householdID int64, programme, kind string, requestedFen int64, on time.Time, adjust func(*calc.Situation)) (Assessment, error) {
	sit, err := a.Registry.Situation(ctx, c, householdID, on.Format(time.DateOnly))
	if err != nil {
		return Assessment{}, err
	}
	if adjust != nil {
		adjust(&sit)
	}
	sit.Programmes = []string{programme}
	if programme == "temporary" {
		sit.Request = &calc.Request{Kind: kind, NeedFen: money.Fen(requestedFen)}
	}
	if err := sit.Validate(); err != nil {
		return Assessment{}, apperr.Invalid("household", "assessment_failed", "户籍信息不完整，无法测算："+err.Error())
	}
	params, err := a.Params(ctx)
	if err != nil {
		return Assessment{}, err
	}
	res, err := calc.Evaluate(sit, params, calc.Options{Trace: true, KnownRegion: func(code string) bool { _, ok := a.Tree.Get(code); return ok }})
	if err != nil {
		return Assessment{}, apperr.Invalid("household", "assessment_failed", "无法测算："+err.Error())
	}
	pr, ok := res.Programmes.Get(programme)
	if !ok {
		return Assessment{}, fmt.Errorf("casework: calculator returned no %s result", programme)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return Assessment{}, err
	}
	as := Assessment{Eligible: pr.Eligible, MonthlyFen: int64(pr.MonthlyFen), AmountFen: int64(pr.AmountFen), AdvanceFen: int64(pr.AdvanceFen),
		Approver: pr.Approver, Category: pr.Category, Result: raw}
	for _, r := range pr.Reasons {
		as.Reasons = append(as.Reasons, r.String())
	}
	return as, nil
}
