package api

import (
	"net/http"
	"strconv"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/integrity"
)

func (a *API) integrityRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/integrity/counts", a.auth(auth.IntegrityRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			c, err := a.Integrity.Counts(r.Context(), user(r), r.URL.Query().Get("region"))
			return map[string]any{"lists": c}, err
		})
	}))
	mux.Handle("GET /api/v1/integrity/entries", a.auth(auth.IntegrityRead, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Integrity.Entries(r.Context(), user(r), integrity.Query{List: q.Get("list"), Status: q.Get("status"), Region: q.Get("region"), All: q.Get("all") == "1", Limit: limit})
			if list == nil {
				list = []*integrity.Entry{}
			}
			return map[string]any{"entries": list}, err
		})
	}))
	mux.Handle("GET /api/v1/integrity/entries/{id}", a.auth(auth.IntegrityRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Integrity.Get(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/integrity/entries/{id}/decision", a.auth(auth.IntegrityDecide, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *integrity.DecisionInput) (any, error) {
		return a.Integrity.Decide(r.Context(), user(r), id, *in)
	})))
	mux.Handle("POST /api/v1/integrity/run", a.auth(auth.IntegrityDecide, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) { return a.Integrity.RunFor(r.Context(), user(r)) })
	}))

	// special campaigns
	mux.Handle("GET /api/v1/campaigns", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Integrity.Campaigns(r.Context(), user(r))
			if list == nil {
				list = []*integrity.Campaign{}
			}
			return map[string]any{"campaigns": list}, err
		})
	}))
	mux.Handle("POST /api/v1/campaigns", a.auth(auth.CampaignRun, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *integrity.CampaignInput) (any, error) {
		return a.Integrity.OpenCampaign(r.Context(), user(r), *in)
	})))
	mux.Handle("GET /api/v1/campaigns/{id}", a.auth("", a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		c, err := a.Integrity.Campaign(r.Context(), user(r), id)
		if err != nil {
			return nil, err
		}
		prog, err := a.Integrity.Progress(r.Context(), user(r), id)
		if err != nil {
			return nil, err
		}
		cases, err := a.Integrity.Cases(r.Context(), user(r), id)
		return map[string]any{"campaign": c, "progress": prog, "cases": cases}, err
	})))
	type checkIn struct {
		Version int    `json:"version"`
		Result  string `json:"result"`
		Note    string `json:"note"`
	}
	mux.Handle("POST /api/v1/campaign-cases/{id}/check", a.auth(auth.CaseAct, withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *checkIn) (any, error) {
		return nil, a.Integrity.RecordCheck(r.Context(), user(r), id, in.Version, in.Result, in.Note)
	})))
	type closeIn struct {
		Note string `json:"note"`
	}
	mux.Handle("POST /api/v1/campaigns/{id}/close", a.auth(auth.CampaignRun, withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *closeIn) (any, error) {
		return nil, a.Integrity.CloseCampaign(r.Context(), user(r), id, in.Note)
	})))

	// credit records
	mux.Handle("GET /api/v1/credit", a.auth(auth.CreditRead, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Credit.List(r.Context(), user(r), credit.Filter{State: q.Get("state"), Exportable: q.Get("exportable") == "1", Limit: limit})
			if list == nil {
				list = []*credit.Record{}
			}
			return map[string]any{"records": list}, err
		})
	}))
	mux.Handle("GET /api/v1/credit/{id}", a.auth(auth.CreditRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Credit.Get(r.Context(), user(r), id)
	})))
	type appealIn struct {
		Version int    `json:"version"`
		FiledOn string `json:"filed_on"`
		Grounds string `json:"grounds"`
	}
	mux.Handle("POST /api/v1/credit/{id}/appeal", a.auth(auth.CreditManage, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *appealIn) (any, error) {
		return a.Credit.FileAppeal(r.Context(), user(r), id, in.Version, in.FiledOn, in.Grounds)
	})))
	type outcomeIn struct {
		Version int    `json:"version"`
		Outcome string `json:"outcome"`
		Note    string `json:"note"`
	}
	mux.Handle("POST /api/v1/credit/{id}/appeal-outcome", a.auth(auth.CreditManage, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *outcomeIn) (any, error) {
		return a.Credit.DecideAppeal(r.Context(), user(r), id, in.Version, in.Outcome, in.Note)
	})))
	type expiryIn struct {
		Version   int    `json:"version"`
		ExpiresOn string `json:"expires_on"`
		Reason    string `json:"reason"`
	}
	mux.Handle("POST /api/v1/credit/{id}/expiry", a.auth(auth.CreditManage, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *expiryIn) (any, error) {
		return a.Credit.SetExpiry(r.Context(), user(r), id, in.Version, in.ExpiresOn, in.Reason)
	})))
}
