package api

import (
	"net/http"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
)

func (a *API) caseRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/cases", a.auth(auth.CaseRead, a.caseWorklist))
	mux.Handle("POST /api/v1/cases", a.auth(auth.CaseAct, a.caseOpen))
	mux.Handle("GET /api/v1/cases/{id}", a.auth(auth.CaseRead, a.caseGet))
	mux.Handle("GET /api/v1/cases/{id}/events", a.auth(auth.CaseRead, a.caseEvents))
	mux.Handle("POST /api/v1/cases/{id}/actions", a.auth(auth.CaseAct, a.caseAct))
	mux.HandleFunc("GET /api/v1/public/notices", a.publicNotices)
	// dynamic management and appeals (objections, re-checks and court
	// outcomes are actions on /actions)
	mux.Handle("GET /api/v1/cases/{id}/dynamic", a.auth(auth.CaseRead, a.caseDynamic))
	mux.Handle("POST /api/v1/cases/{id}/reviews", a.auth(auth.CaseAct, a.caseStartReview))
	mux.Handle("POST /api/v1/cases/{id}/changes", a.auth(auth.CaseAct, a.caseReportChange))
	mux.Handle("POST /api/v1/cases/{id}/job-offers", a.auth(auth.CaseAct, a.caseJobOffer))
}

func (a *API) caseDynamic(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.Casework.Dynamic(r.Context(), user(r), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) caseStartReview(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	var in struct {
		Reason string `json:"reason"`
	}
	if err == nil && r.ContentLength > 0 {
		err = decode(r, &in)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rv, err := a.Casework.StartReview(r.Context(), user(r), id, in.Reason)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rv)
}

func (a *API) caseReportChange(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	var in casework.ChangeReport
	if err == nil {
		err = decode(r, &in)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rep, rv, err := a.Casework.ReportChange(r.Context(), user(r), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"change_report": rep, "review": rv})
}

func (a *API) caseJobOffer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	var in casework.JobOffer
	if err == nil {
		err = decode(r, &in)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	streak, err := a.Casework.RecordJobOffer(r.Context(), user(r), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"refusal_streak": streak, "share_reduced_at_review": streak >= 3})
}

func (a *API) caseWorklist(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	items, err := a.Casework.Worklist(r.Context(), user(r), casework.WorklistQuery{OverdueOnly: q.Get("overdue") == "true", Programme: q.Get("programme")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type item struct {
		*casework.Case
		Step    string `json:"step"`
		Overdue bool   `json:"overdue"`
	}
	out := []item{}
	for _, it := range items {
		out = append(out, item{it.Case, it.Label, it.Overdue})
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out})
}

func (a *API) caseOpen(w http.ResponseWriter, r *http.Request) {
	var in casework.Intake
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.Casework.Open(r.Context(), user(r), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, cs)
}

func (a *API) caseGet(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.Casework.Get(r.Context(), user(r), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (a *API) caseEvents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ev, err := a.Casework.Events(r.Context(), user(r), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": ev})
}

func (a *API) caseAct(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	var in casework.Action
	if err == nil {
		err = decode(r, &in)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.Casework.Act(r.Context(), user(r), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

// publicNotices is the public notice board (DB-28): no login, masked names.
func (a *API) publicNotices(w http.ResponseWriter, r *http.Request) {
	lines, err := a.Casework.Notices(r.Context(), r.URL.Query().Get("region"))
	if err != nil {
		writeError(w, apperr.Invalid("region", "unknown_region", "请指定有效的村（社区）或乡镇代码"))
		return
	}
	type line struct {
		Programme string `json:"programme"`
		Name      string `json:"name"`
		Members   int    `json:"members"`
		AmountFen int64  `json:"amount_fen"`
		Village   string `json:"village"`
		From      string `json:"from"`
		To        string `json:"to"`
	}
	out := []line{}
	for _, l := range lines {
		out = append(out, line{l.Programme, l.Name, l.Members, l.AmountFen, l.Village, l.From, l.To})
	}
	writeJSON(w, http.StatusOK, map[string]any{"notices": out})
}
