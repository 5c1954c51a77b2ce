package api

import (
	"net/http"
	"strconv"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/referral"
)

// Needs, referrals to member departments and charities, their answers, the
// county lists of organisations and the statistics (issue #9, items 1 and 2).
func (a *API) referralRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/referrals/vocabulary", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"areas": referral.Areas, "stages": referral.Stages, "org_kinds": referral.OrgKinds,
			"departments": referral.Departments, "outcomes": referral.Outcomes})
	}))
	mux.Handle("GET /api/v1/referrals", a.auth(auth.ReferralRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			q := r.URL.Query()
			list, err := a.Referrals.List(r.Context(), user(r), referral.Filter{Status: q.Get("status"), Area: q.Get("area"), Region: q.Get("region")})
			return map[string]any{"referrals": list, "by_area": referral.ByArea(list)}, err
		})
	}))
	mux.Handle("GET /api/v1/referrals/stats", a.auth(auth.ReferralRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			q := r.URL.Query()
			return a.Referrals.Stats(r.Context(), user(r), referral.StatsQuery{Region: q.Get("region"), From: q.Get("from"), To: q.Get("to")})
		})
	}))
	mux.Handle("GET /api/v1/referrals/inbox", a.auth(auth.ReferralAnswer, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			q := r.URL.Query()
			o, list, err := a.Referrals.Inbox(r.Context(), user(r), referral.Filter{Status: q.Get("status"), Area: q.Get("area")})
			return map[string]any{"organisation": o, "referrals": list}, err
		})
	}))
	// the service decides: the township in scope, or the addressed organisation
	mux.Handle("GET /api/v1/referrals/{id}", a.auth("", a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Referrals.Get(r.Context(), user(r), id)
	})))
	type versionIn struct {
		Version int    `json:"version"`
		Reason  string `json:"reason"`
	}
	mux.Handle("POST /api/v1/referrals/{id}/accept", a.auth(auth.ReferralAnswer, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *versionIn) (any, error) {
		return a.Referrals.Accept(r.Context(), user(r), id, in.Version)
	})))
	mux.Handle("POST /api/v1/referrals/{id}/decline", a.auth(auth.ReferralAnswer, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *versionIn) (any, error) {
		return a.Referrals.Decline(r.Context(), user(r), id, in.Version, in.Reason)
	})))
	mux.Handle("POST /api/v1/referrals/{id}/close", a.auth(auth.ReferralAnswer, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *referral.CloseInput) (any, error) {
		return a.Referrals.Close(r.Context(), user(r), id, *in)
	})))

	mux.Handle("GET /api/v1/referrals/needs", a.auth(auth.ReferralRead, func(w http.ResponseWriter, r *http.Request) {
		hh, err := strconv.ParseInt(r.URL.Query().Get("household_id"), 10, 64)
		if err != nil {
			a.fail(w, r, errHouseholdID)
			return
		}
		a.answer(w, r, http.StatusOK, func() (any, error) {
			needs, err := a.Referrals.Needs(r.Context(), user(r), hh)
			return map[string]any{"needs": needs}, err
		})
	}))
	mux.Handle("POST /api/v1/referrals/needs", a.auth(auth.ReferralWrite, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *referral.NeedInput) (any, error) {
		return a.Referrals.RecordNeed(r.Context(), user(r), *in)
	})))
	mux.Handle("POST /api/v1/referrals/needs/{id}/refer", a.auth(auth.ReferralWrite, withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *referral.ReferInput) (any, error) {
		return a.Referrals.Refer(r.Context(), user(r), id, *in)
	})))
	mux.Handle("GET /api/v1/households/{id}/help", a.auth(auth.ReferralRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		u := user(r)
		var cases []*casework.Case
		if u.Can(auth.CaseRead) {
			var err error
			if cases, err = a.Casework.ByHousehold(r.Context(), u, id); err != nil {
				return nil, err
			}
		}
		return a.Referrals.HouseholdHelp(r.Context(), u, id, cases)
	})))

	mux.Handle("GET /api/v1/referrals/orgs", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			u := user(r)
			if !u.Can(auth.ReferralRead) && !u.Can(auth.ReferralOrgs) {
				return nil, errNoReferralRead
			}
			q := r.URL.Query()
			list, err := a.Referrals.Orgs(r.Context(), u, referral.OrgFilter{County: q.Get("county"), Area: q.Get("area"), ActiveOnly: q.Get("active") == "true"})
			return map[string]any{"organisations": list}, err
		})
	}))
	mux.Handle("POST /api/v1/referrals/orgs", a.auth(auth.ReferralOrgs, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *referral.OrgInput) (any, error) {
		return a.Referrals.CreateOrg(r.Context(), user(r), *in)
	})))
	mux.Handle("GET /api/v1/referrals/orgs/{id}", a.auth("", a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		u := user(r)
		if !u.Can(auth.ReferralRead) && !u.Can(auth.ReferralOrgs) && !u.Can(auth.ReferralAnswer) {
			return nil, errNoReferralRead
		}
		return a.Referrals.Org(r.Context(), u, id)
	})))
	mux.Handle("PATCH /api/v1/referrals/orgs/{id}", a.auth(auth.ReferralOrgs, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *referral.OrgInput) (any, error) {
		return a.Referrals.UpdateOrg(r.Context(), user(r), id, *in)
	})))
	type bindIn struct {
		Username string `json:"username"`
	}
	mux.Handle("POST /api/v1/referrals/orgs/{id}/users", a.auth(auth.ReferralOrgs, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *bindIn) (any, error) {
		return a.Referrals.Bind(r.Context(), user(r), id, in.Username)
	})))
	mux.Handle("DELETE /api/v1/referrals/orgs/{id}/users/{uid}", a.auth(auth.ReferralOrgs, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		uid, err := pathID(r, "uid")
		if err != nil {
			return nil, err
		}
		return a.Referrals.Unbind(r.Context(), user(r), id, uid)
	})))
}

var (
	errHouseholdID    = apperr.Invalid("household_id", "invalid_id", "请提供户编号 household_id")
	errNoReferralRead = apperr.Forbidden("您的角色没有此项操作权限")
)
