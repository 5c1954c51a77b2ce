package api

import (
	"io"
	"net/http"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/policy/policydb"
)

// policyRoutes registers the calculation and parameter endpoints. Reading
// standards and calculating need only a login; scheduling and deciding need
// the policy permissions, checked again (with the region) by the store.
func (a *API) policyRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/policy/kinds", a.auth("", a.policyKinds))
	mux.Handle("GET /api/v1/policy/parameters", a.auth("", a.policyParameters))
	mux.Handle("GET /api/v1/policy/parameters/{name}", a.auth("", a.policyParameter))
	mux.Handle("GET /api/v1/policy/parameters/{name}/history", a.auth("", a.policyHistory))
	mux.Handle("GET /api/v1/policy/schedule", a.auth(auth.PolicyApprove, a.policyPending))
	mux.Handle("POST /api/v1/policy/schedule", a.auth(auth.PolicySchedule, a.policySchedule))
	mux.Handle("POST /api/v1/policy/schedule/{id}/approve", a.auth(auth.PolicyApprove, a.policyDecide(true)))
	mux.Handle("POST /api/v1/policy/schedule/{id}/reject", a.auth(auth.PolicyApprove, a.policyDecide(false)))
	mux.Handle("POST /api/v1/calculate", a.auth("", a.calculate))
}

func (a *API) policyKinds(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"income": calc.IncomeKinds(), "asset": calc.AssetKinds(), "programme": calc.ProgrammeKinds()})
}

func (a *API) policyParameters(w http.ResponseWriter, r *http.Request) {
	type param struct {
		Name        string `json:"name"`
		Unit        string `json:"unit"`
		Description string `json:"description"`
	}
	out := []param{}
	for _, name := range a.Policy.Base.Names() {
		p, _ := a.Policy.Base.Parameter(name)
		out = append(out, param{p.Name, string(p.Unit), p.Description})
	}
	writeJSON(w, http.StatusOK, map[string]any{"parameters": out})
}

// policyParameter resolves one parameter for ?region= (default the province)
// and ?date= (default today).
func (a *API) policyParameter(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reg := strings.TrimSpace(q.Get("region"))
	if reg == "" {
		reg = a.Tree.Root.Code
	}
	date := time.Now().In(cstZone)
	date = time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, time.UTC)
	if d := q.Get("date"); d != "" {
		var err error
		if date, err = time.Parse(time.DateOnly, d); err != nil {
			writeError(w, apperr.Invalid("date", "invalid_date", "日期格式不正确，应为 YYYY-MM-DD"))
			return
		}
	}
	if _, ok := a.Tree.Get(reg); !ok {
		writeError(w, apperr.Invalid("region", "unknown_region", "行政区划代码不存在："+reg))
		return
	}
	v, err := a.Policy.Resolve(r.Context(), r.PathValue("name"), reg, date)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

var cstZone = calendar.China

func (a *API) policyHistory(w http.ResponseWriter, r *http.Request) {
	rows, err := a.Policy.History(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if rows == nil {
		rows = []policydb.Row{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"values": rows})
}

func (a *API) policyPending(w http.ResponseWriter, r *http.Request) {
	rows, err := a.Policy.Pending(r.Context(), user(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if rows == nil {
		rows = []policydb.Row{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"values": rows})
}

func (a *API) policySchedule(w http.ResponseWriter, r *http.Request) {
	var in policydb.Proposal
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	row, err := a.Policy.Schedule(r.Context(), user(r), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, row)
}

func (a *API) policyDecide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "id")
		var in struct {
			Note string `json:"note"`
		}
		if err == nil && r.ContentLength != 0 {
			err = decode(r, &in)
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		decide := a.Policy.Reject
		if approve {
			decide = a.Policy.Approve
		}
		row, err := decide(r.Context(), user(r), id, in.Note)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, row)
	}
}

// calculate is the calculation contract of DESIGN.md §4: one JSON situation
// in, one JSON result out. Nothing is stored.
func (a *API) calculate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.Policy.Calculate(r.Context(), body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
