package api

import (
	"io"
	"net/http"
	"strconv"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/payroll"
)

func (a *API) payrollRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/payroll/runs", a.auth(auth.PayrollRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			runs, err := a.Payroll.Runs(r.Context(), user(r), 100)
			return map[string]any{"runs": runs}, err
		})
	}))
	type startIn struct {
		Month  string `json:"month"`
		County string `json:"county"`
	}
	mux.Handle("POST /api/v1/payroll/runs", a.auth(auth.PayrollRun, withBody(a, http.StatusOK, func(r *http.Request, _ int64, in *startIn) (any, error) {
		return a.Payroll.Start(r.Context(), user(r), in.Month, in.County)
	})))
	mux.Handle("GET /api/v1/payroll/runs/{id}", a.auth(auth.PayrollRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Payroll.ReviewOf(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/payroll/runs/{id}/resume", a.auth(auth.PayrollRun, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Payroll.Build(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/payroll/runs/{id}/check", a.auth(auth.PayrollApprove, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *payroll.Decision) (any, error) {
		return a.Payroll.Check(r.Context(), user(r), id, *in)
	})))
	type versionIn struct {
		Version int `json:"version"`
	}
	mux.Handle("POST /api/v1/payroll/runs/{id}/rebuild", a.auth(auth.PayrollRun, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *versionIn) (any, error) {
		return a.Payroll.Rebuild(r.Context(), user(r), id, in.Version)
	})))
	mux.Handle("GET /api/v1/payroll/runs/{id}/reconciliation", a.auth(auth.PayrollRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Payroll.Reconcile(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/payroll/runs/{id}/bank-files", a.auth(auth.PayrollRun, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		files, err := a.Payroll.PrepareBankFiles(r.Context(), user(r), id)
		return map[string]any{"bank_files": files}, err
	})))
	mux.Handle("GET /api/v1/payroll/runs/{id}/price-rates", a.auth(auth.PayrollRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		rates, err := a.Payroll.PriceRates(r.Context(), user(r), id)
		if rates == nil {
			rates = []payroll.PriceRate{}
		}
		return map[string]any{"price_rates": rates}, err
	})))
	a.priceRoutes(mux)
	mux.Handle("GET /api/v1/payroll/bank-files/{id}", a.auth(auth.PayrollRun, func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "id")
		if err != nil {
			a.fail(w, r, err)
			return
		}
		var buf []byte
		bw := &byteWriter{&buf}
		f, err := a.Payroll.WriteBankFile(r.Context(), user(r), id, bw)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "attachment; filename="+f.FileName)
		w.Write(buf)
	}))
	// the return file is the request body, as the bank delivered it
	mux.Handle("POST /api/v1/payroll/bank-files/{id}/return", a.auth(auth.PayrollRun, func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "id")
		if err != nil {
			a.fail(w, r, err)
			return
		}
		content, err := io.ReadAll(io.LimitReader(r.Body, 512<<20))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		rep, err := a.Payroll.ImportReturn(r.Context(), user(r), id, r.URL.Query().Get("name"), content)
		if err != nil && rep != nil && rep.Rejected {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{"code": "return_rejected", "message": err.Error()}, "report": rep})
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	}))
	type byHandIn struct {
		Reference string `json:"reference"`
	}
	mux.Handle("POST /api/v1/payroll/lines/{id}/by-hand", a.auth(auth.PayrollRun, withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *byHandIn) (any, error) {
		return nil, a.Payroll.SettleByHand(r.Context(), user(r), id, in.Reference)
	})))
	mux.Handle("PUT /api/v1/payroll/layouts", a.auth(auth.PayrollRead, withBody(a, http.StatusNoContent, func(r *http.Request, _ int64, in *payroll.Layout) (any, error) {
		return nil, a.Payroll.SetLayout(r.Context(), user(r), *in)
	})))
	type fundIn struct {
		County    string `json:"county"`
		Programme string `json:"programme"`
		Year      int    `json:"year"`
		AmountFen int64  `json:"amount_fen"`
		Reference string `json:"reference"`
	}
	mux.Handle("POST /api/v1/payroll/funds", a.auth(auth.PayrollLedger, withBody(a, http.StatusNoContent, func(r *http.Request, _ int64, in *fundIn) (any, error) {
		return nil, a.Payroll.Allocate(r.Context(), user(r), in.County, in.Programme, in.Year, in.AmountFen, in.Reference)
	})))
	mux.Handle("GET /api/v1/payroll/funds", a.auth(auth.PayrollRead, func(w http.ResponseWriter, r *http.Request) {
		year, _ := strconv.Atoi(r.URL.Query().Get("year"))
		a.answer(w, r, http.StatusOK, func() (any, error) {
			f, err := a.Payroll.Funds(r.Context(), user(r), r.URL.Query().Get("county"), year)
			return map[string]any{"funds": f}, err
		})
	}))
	type reserveIn struct {
		Township  string `json:"township"`
		CaseID    int64  `json:"case_id"`
		AmountFen int64  `json:"amount_fen"`
		Reference string `json:"reference"`
	}
	mux.Handle("POST /api/v1/payroll/reserve/advances", a.auth(auth.PayrollReserve, withBody(a, http.StatusNoContent, func(r *http.Request, _ int64, in *reserveIn) (any, error) {
		return nil, a.Payroll.Advance(r.Context(), user(r), in.Township, in.CaseID, in.AmountFen, in.Reference)
	})))
	mux.Handle("POST /api/v1/payroll/reserve/replenishments", a.auth(auth.PayrollLedger, withBody(a, http.StatusNoContent, func(r *http.Request, _ int64, in *reserveIn) (any, error) {
		return nil, a.Payroll.Replenish(r.Context(), user(r), in.Township, in.AmountFen, in.Reference)
	})))
	mux.Handle("GET /api/v1/payroll/reserve/{township}", a.auth(auth.PayrollRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			bal, entries, err := a.Payroll.Reserve(r.Context(), user(r), r.PathValue("township"))
			return map[string]any{"balance_fen": bal, "entries": entries}, err
		})
	}))
	mux.Handle("GET /api/v1/payroll/recoveries", a.auth(auth.PayrollRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Payroll.Recoveries(r.Context(), user(r))
			if err != nil {
				return nil, err
			}
			tot, err := a.Payroll.RecoveryTotals(r.Context(), user(r))
			return map[string]any{"recoveries": list, "totals": tot}, err
		})
	}))
	mux.Handle("POST /api/v1/payroll/recoveries", a.auth(auth.PayrollLedger, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *payroll.NewRecovery) (any, error) {
		return a.Payroll.OpenRecovery(r.Context(), user(r), *in)
	})))
	type repayIn struct {
		AmountFen int64  `json:"amount_fen"`
		Reference string `json:"reference"`
	}
	mux.Handle("POST /api/v1/payroll/recoveries/{id}/repayments", a.auth(auth.PayrollLedger, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *repayIn) (any, error) {
		return a.Payroll.Repay(r.Context(), user(r), id, in.AmountFen, in.Reference)
	})))
	type woIn struct {
		Reason string `json:"reason"`
	}
	mux.Handle("POST /api/v1/payroll/recoveries/{id}/writeoff", a.auth(auth.PayrollLedger, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *woIn) (any, error) {
		return a.Payroll.RequestWriteOff(r.Context(), user(r), id, in.Reason)
	})))
	type decideIn struct {
		Approve bool `json:"approve"`
	}
	mux.Handle("POST /api/v1/payroll/recoveries/{id}/writeoff/decision", a.auth(auth.PayrollApprove, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *decideIn) (any, error) {
		return a.Payroll.DecideWriteOff(r.Context(), user(r), id, in.Approve)
	})))
}

// priceIndexView is an entered index with its rises also as percentages,
// the unit the index is entered in.
type priceIndexView struct {
	payroll.PriceIndex
	CPIPct  float64 `json:"cpi_pct"`
	FoodPct float64 `json:"food_pct"`
}

func viewPriceIndex(p payroll.PriceIndex) priceIndexView {
	return priceIndexView{p, float64(p.CPIBP) / 100, float64(p.FoodBP) / 100}
}

// priceRoutes: the province's monthly price indices, which decide the
// price-linkage subsidy of the following month's runs. The payroll offices
// read them, and so do the policy offices; payroll decides who enters them
// (PolicySchedule at province level).
func (a *API) priceRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/payroll/prices", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		if u := user(r); !u.Can(auth.PayrollRead) && !u.Can(auth.PolicySchedule) {
			writeError(w, apperr.Forbidden("您的角色没有此项操作权限"))
			return
		}
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Payroll.PriceIndices(r.Context())
			out := []priceIndexView{}
			for _, p := range list {
				out = append(out, viewPriceIndex(p))
			}
			return map[string]any{"indices": out}, err
		})
	}))
	type priceIn struct {
		Month      string   `json:"month"`
		CPIPct     *float64 `json:"cpi_pct"`
		FoodPct    *float64 `json:"food_pct"`
		ReleasedOn string   `json:"released_on"`
	}
	mux.Handle("POST /api/v1/payroll/prices", a.auth(auth.PolicySchedule, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *priceIn) (any, error) {
		if in.CPIPct == nil {
			return nil, apperr.Invalid("cpi_pct", "required", "请填写 CPI 同比涨幅（百分数，例如 3.6）")
		}
		if in.FoodPct == nil {
			return nil, apperr.Invalid("food_pct", "required", "请填写食品价格同比涨幅（百分数，例如 2.0）")
		}
		p, err := a.Payroll.EnterPriceIndex(r.Context(), user(r), in.Month, *in.CPIPct, *in.FoodPct, in.ReleasedOn)
		if e, ok := apperr.As(err); ok && (e.Field == "cpi" || e.Field == "food") {
			named := *e // the service names its inputs cpi and food; the body calls them cpi_pct and food_pct
			named.Field += "_pct"
			return nil, &named
		}
		if err != nil {
			return nil, err
		}
		return viewPriceIndex(*p), nil
	})))
}

type byteWriter struct{ b *[]byte }

func (w *byteWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}
