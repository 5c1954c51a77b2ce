package api

import (
	"net/http"
	"strconv"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/institution"
)

// Support institutions, placements and service capacity (issue #7, parts 4
// and 5).
func (a *API) institutionRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/institutions", a.auth(auth.InstitutionRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			q := r.URL.Query()
			list, err := a.Institutions.List(r.Context(), user(r), institution.Filter{Kind: q.Get("kind"), Region: q.Get("region")})
			return map[string]any{"institutions": list}, err
		})
	}))
	mux.Handle("GET /api/v1/institutions/kinds", a.auth(auth.InstitutionRead, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"kinds": institution.Kinds, "operators": institution.Operators, "statuses": institution.Statuses,
			"inspection_results": institution.Results})
	}))
	mux.Handle("POST /api/v1/institutions", a.auth(auth.InstitutionWrite, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *institution.Input) (any, error) {
		return a.Institutions.Create(r.Context(), user(r), *in)
	})))
	mux.Handle("GET /api/v1/institutions/{id}", a.auth(auth.InstitutionRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Institutions.Details(r.Context(), user(r), id)
	})))
	mux.Handle("PATCH /api/v1/institutions/{id}", a.auth(auth.InstitutionWrite, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *institution.Input) (any, error) {
		return a.Institutions.Update(r.Context(), user(r), id, *in)
	})))
	// DELETE takes the version seen as ?version=
	mux.Handle("DELETE /api/v1/institutions/{id}", a.auth(auth.InstitutionWrite, a.withID(http.StatusNoContent, func(r *http.Request, id int64) (any, error) {
		v, err := strconv.Atoi(r.URL.Query().Get("version"))
		if err != nil {
			return nil, apperr.Invalid("version", "version_required", "请提供所见版本号（version）")
		}
		return nil, a.Institutions.Delete(r.Context(), user(r), id, v)
	})))
	type bedsIn struct {
		Beds []string `json:"beds"`
	}
	mux.Handle("POST /api/v1/institutions/{id}/beds", a.auth(auth.InstitutionWrite, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *bedsIn) (any, error) {
		n, err := a.Institutions.AddBeds(r.Context(), user(r), id, in.Beds)
		if err != nil {
			return nil, err
		}
		beds, err := a.Institutions.Beds(r.Context(), user(r), id)
		return map[string]any{"added": n, "beds": beds}, err
	})))
	mux.Handle("DELETE /api/v1/institutions/{id}/beds/{bid}", a.auth(auth.InstitutionWrite, a.withID(http.StatusNoContent, func(r *http.Request, id int64) (any, error) {
		bid, err := pathID(r, "bid")
		if err != nil {
			return nil, err
		}
		return nil, a.Institutions.RemoveBed(r.Context(), user(r), id, bid)
	})))
	mux.Handle("GET /api/v1/institutions/{id}/ratings", a.auth(auth.InstitutionRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		rs, err := a.Institutions.Ratings(r.Context(), user(r), id)
		return map[string]any{"ratings": rs}, err
	})))
	mux.Handle("POST /api/v1/institutions/{id}/ratings", a.auth(auth.InstitutionWrite, withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *institution.RatingInput) (any, error) {
		return a.Institutions.Rate(r.Context(), user(r), id, *in)
	})))
	mux.Handle("GET /api/v1/institutions/{id}/inspections", a.auth(auth.InstitutionRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		xs, err := a.Institutions.Inspections(r.Context(), user(r), id)
		return map[string]any{"inspections": xs}, err
	})))
	mux.Handle("POST /api/v1/institutions/{id}/inspections", a.auth(auth.InstitutionWrite, withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *institution.InspectionInput) (any, error) {
		return a.Institutions.Inspect(r.Context(), user(r), id, *in)
	})))
	mux.Handle("POST /api/v1/institutions/{id}/inspections/{xid}/close", a.auth(auth.InstitutionWrite, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *institution.Closure) (any, error) {
		xid, err := pathID(r, "xid")
		if err != nil {
			return nil, err
		}
		return a.Institutions.CloseRectification(r.Context(), user(r), id, xid, *in)
	})))
	// ?all=1 includes the institution's past residents
	mux.Handle("GET /api/v1/institutions/{id}/placements", a.auth(auth.InstitutionRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		ps, err := a.Institutions.Placements(r.Context(), user(r), id, r.URL.Query().Get("all") == "1")
		return map[string]any{"placements": ps}, err
	})))
	mux.Handle("GET /api/v1/institutions/{id}/candidates", a.auth(auth.InstitutionWrite, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		cs, err := a.Institutions.Candidates(r.Context(), user(r), id, 500)
		return map[string]any{"candidates": cs}, err
	})))
	mux.Handle("POST /api/v1/institutions/{id}/placements", a.auth(auth.InstitutionWrite, withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *institution.AdmitInput) (any, error) {
		return a.Institutions.Admit(r.Context(), user(r), id, *in)
	})))
	mux.Handle("POST /api/v1/institutions/{id}/placements/{pid}/transfer", a.auth(auth.InstitutionWrite, withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *institution.TransferInput) (any, error) {
		pid, err := pathID(r, "pid")
		if err != nil {
			return nil, err
		}
		return a.Institutions.Transfer(r.Context(), user(r), id, pid, *in)
	})))
	mux.Handle("POST /api/v1/institutions/{id}/placements/{pid}/discharge", a.auth(auth.InstitutionWrite, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *institution.DischargeInput) (any, error) {
		pid, err := pathID(r, "pid")
		if err != nil {
			return nil, err
		}
		return a.Institutions.Discharge(r.Context(), user(r), id, pid, *in)
	})))
	// a person's placement history: GET /api/v1/institutions/placements?person_id=
	mux.Handle("GET /api/v1/institutions/placements", a.auth(auth.InstitutionRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			pid, err := strconv.ParseInt(r.URL.Query().Get("person_id"), 10, 64)
			if err != nil || pid <= 0 {
				return nil, apperr.Invalid("person_id", "person_required", "请提供人员编号（person_id）")
			}
			ps, err := a.Institutions.PersonPlacements(r.Context(), user(r), pid)
			return map[string]any{"placements": ps}, err
		})
	}))

	// service capacity: ?region= (default the caller's) and ?year=
	mux.Handle("GET /api/v1/capacity", a.auth(auth.InstitutionRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			q := r.URL.Query()
			year := 0
			if y := q.Get("year"); y != "" {
				var err error
				if year, err = strconv.Atoi(y); err != nil {
					return nil, apperr.Invalid("year", "invalid_year", "年度格式不正确")
				}
			}
			return a.Institutions.Capacity(r.Context(), user(r), q.Get("region"), year)
		})
	}))
	mux.Handle("GET /api/v1/capacity/staff", a.auth(auth.InstitutionRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			hs, err := a.Institutions.StaffHistory(r.Context(), user(r), r.URL.Query().Get("region"))
			return map[string]any{"staff": hs}, err
		})
	}))
	mux.Handle("POST /api/v1/capacity/staff", a.auth(auth.InstitutionWrite, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *institution.StaffInput) (any, error) {
		return a.Institutions.RecordStaff(r.Context(), user(r), *in)
	})))
	mux.Handle("PUT /api/v1/capacity/ratio", a.auth(auth.InstitutionWrite, withBody(a, http.StatusOK, func(r *http.Request, _ int64, in *institution.RatioInput) (any, error) {
		return a.Institutions.SetRatio(r.Context(), user(r), *in)
	})))
}
