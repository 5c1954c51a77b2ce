package api

import (
	"net/http"
	"strings"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/xlsx"
)

func (a *API) statsRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/stats", a.auth(auth.StatsRead, a.statsTable))
	mux.Handle("GET /api/v1/stats/export.xlsx", a.auth(auth.StatsRead, a.statsExport))
}

// figuresView is a region's figures with the derived values computed, in fen.
type figuresView struct {
	*stats.Figures
	// recipient-weighted average dibao standard a person and month [urban, rural]
	AvgStandardFen [2]int64 `json:"avg_standard_fen"`
	// the rural average standard a person and year (× 12)
	RuralAvgStandardYearFen int64 `json:"rural_avg_standard_year_fen"`
	// monthly payment per recipient (月人均补助水平) [urban, rural]
	PaymentLevelFen [2]int64 `json:"payment_level_fen"`
	// temporary assistance per case
	TemporaryAverageFen int64 `json:"temporary_average_fen"`
}

func viewOf(f *stats.Figures) figuresView {
	return figuresView{Figures: f, AvgStandardFen: [2]int64{f.AvgStandard(0), f.AvgStandard(1)}, RuralAvgStandardYearFen: f.AvgStandard(1) * 12,
		PaymentLevelFen: [2]int64{f.PaymentLevel(0), f.PaymentLevel(1)}, TemporaryAverageFen: f.TempAverage()}
}

// statsQuery reads region (default: the caller's) and period (default: the
// last closed month).
func (a *API) statsQuery(r *http.Request) (string, string) {
	q := r.URL.Query()
	period := strings.TrimSpace(q.Get("period"))
	if period == "" {
		period = a.Stats.LastClosedMonth()
	}
	return strings.TrimSpace(q.Get("region")), period
}

func (a *API) statsTable(w http.ResponseWriter, r *http.Request) {
	code, period := a.statsQuery(r)
	a.answer(w, r, http.StatusOK, func() (any, error) {
		t, err := a.Stats.Table(r.Context(), user(r), code, period)
		if err != nil {
			return nil, err
		}
		children := make([]figuresView, 0, len(t.Children))
		for _, c := range t.Children {
			children = append(children, viewOf(c))
		}
		return map[string]any{"period": t.Period, "months": t.Months, "region": viewOf(t.Region), "children": children, "method": t.Method}, nil
	})
}

// statsExport is the same workbook as the page's: small counts suppressed,
// the export audited.
func (a *API) statsExport(w http.ResponseWriter, r *http.Request) {
	code, period := a.statsQuery(r)
	b, name, err := a.Stats.Export(r.Context(), a.Tree, user(r), code, period)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	xlsx.Serve(w, name, b)
}
