package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/money"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// The price-linkage subsidy (价格临时补贴): the province enters each month's
// price indices here; each payroll run records the rates it drew from them
// (shown on the run page, payrollRunRender).

type priceData struct {
	Indices  []priceIndexRow
	CanEnter bool
}

type priceIndexRow struct {
	Month, CPI, Food, ReleasedOn, EnteredBy string
	PaysIn                                  string // the payroll month that uses this index
	EnteredAt                               time.Time
}

// priceRateRow is one of a run's rates, ready to show.
type priceRateRow struct {
	Hukou, Programme, IndexMonth, PerPerson, Basis string
}

// canSeePrices: the payroll offices read the indices, the policy offices
// (who may enter them at province level) too.
func canSeePrices(u *auth.User) bool { return u.Can(auth.PayrollRead) || u.Can(auth.PolicySchedule) }

// canEnterPrices mirrors payroll.EnterPriceIndex, which decides.
func canEnterPrices(u *auth.User) bool {
	return u.Can(auth.PolicySchedule) && region.LevelOf(u.Region) == region.Province
}

func (s *Server) payrollPrices(w http.ResponseWriter, r *http.Request) {
	s.payrollPricesRender(w, r, nil)
}

func (s *Server) payrollPricesRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	if !canSeePrices(u) {
		s.render(w, r, http.StatusForbidden, "error", "无权访问", nil, apperr.Forbidden("您的角色没有此项操作权限。"))
		return
	}
	d := priceData{CanEnter: canEnterPrices(u)}
	list, lerr := s.Payroll.PriceIndices(r.Context())
	if err == nil {
		err = lerr
	}
	for _, p := range list {
		d.Indices = append(d.Indices, priceIndexRow{Month: p.Month, CPI: payroll.Percent(p.CPIBP), Food: payroll.Percent(p.FoodBP), ReleasedOn: p.ReleasedOn,
			EnteredBy: p.EnteredBy, EnteredAt: p.EnteredAt, PaysIn: p.PaysIn()})
	}
	if r.Method == http.MethodGet {
		today := todayCST()
		r.Form = url.Values{"month": {today.AddDate(0, 0, 1-today.Day()).AddDate(0, -1, 0).Format("2006-01")}, "released_on": {today.Format(time.DateOnly)}}
	}
	s.render(w, r, http.StatusOK, "payroll_prices", "物价指数与价格临时补贴", d, err)
}

func (s *Server) payrollPriceEnter(w http.ResponseWriter, r *http.Request) {
	cpi, err := pctField(r, "cpi", "CPI 同比涨幅")
	var food float64
	if err == nil {
		food, err = pctField(r, "food", "食品价格同比涨幅")
	}
	if err == nil {
		_, err = s.Payroll.EnterPriceIndex(r.Context(), currentUser(r), strings.TrimSpace(r.PostFormValue("month")), cpi, food,
			strings.TrimSpace(r.PostFormValue("released_on")))
	}
	if err != nil {
		s.payrollPricesRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/payroll/prices?ok=saved", http.StatusSeeOther)
}

// pctField reads a percentage as typed ("3.6", "-0.5", "3.6%").
func pctField(r *http.Request, name, label string) (float64, error) {
	v := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(r.PostFormValue(name)), "%"))
	if v == "" {
		return 0, apperr.Invalid(name, "required", "请填写"+label+"（百分数，例如 3.6）")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, apperr.Invalid(name, "bad_number", label+"应为数字（百分数，例如 3.6 或 -0.5）")
	}
	return f, nil
}

// priceRates are a run's rates for its page.
func (s *Server) priceRates(r *http.Request, runID int64) ([]priceRateRow, error) {
	rates, err := s.Payroll.PriceRates(r.Context(), currentUser(r), runID)
	if err != nil {
		return nil, err
	}
	var out []priceRateRow
	for _, p := range rates {
		out = append(out, priceRateRow{Hukou: map[string]string{"urban": "城市", "rural": "农村"}[p.Hukou], Programme: payroll.ProgrammeLabel(p.Programme),
			IndexMonth: p.IndexMonth, PerPerson: money.Fen(p.PerPersonFen).String(), Basis: p.Basis})
	}
	return out, nil
}
