package api

import (
	"net/http"
	"strconv"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/online"
)

func (a *API) onlineRoutes(mux *http.ServeMux) {
	// public: no token; the query code travels as ?code= (never logged)
	mux.HandleFunc("POST /api/v1/public/applications", a.publicApply)
	mux.HandleFunc("GET /api/v1/public/applications/{no}", a.publicStatus)
	mux.HandleFunc("POST /api/v1/public/applications/{no}/documents", a.publicSupplement)
	// the township's side, region-scoped
	mux.Handle("GET /api/v1/online-applications", a.auth(auth.CaseRead, a.onlineList))
	mux.Handle("GET /api/v1/online-applications/{id}", a.auth(auth.CaseRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Online.Get(r.Context(), user(r), id)
	})))
	mux.Handle("GET /api/v1/online-applications/{id}/documents/{doc}", a.auth(auth.CaseRead, a.onlineDocument))
	mux.Handle("POST /api/v1/online-applications/{id}/accept", a.auth(auth.CaseAct, withBody(a, http.StatusCreated, func(r *http.Request, id int64, in *online.Decision) (any, error) {
		return a.Online.Accept(r.Context(), user(r), id, *in)
	})))
	mux.Handle("POST /api/v1/online-applications/{id}/return", a.auth(auth.CaseAct, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *online.Decision) (any, error) {
		if err := a.Online.Return(r.Context(), user(r), id, *in); err != nil {
			return nil, err
		}
		return a.Online.Get(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/online-applications/{id}/reject", a.auth(auth.CaseAct, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *online.Decision) (any, error) {
		if err := a.Online.Reject(r.Context(), user(r), id, *in); err != nil {
			return nil, err
		}
		return a.Online.Get(r.Context(), user(r), id)
	})))
}

// publicApply takes the form of the apply page as multipart/form-data: region
// (village code), programme, kind, name, id_number, phone, members, statement,
// pledge, consent and up to five files in "files".
func (a *API) publicApply(w http.ResponseWriter, r *http.Request) {
	vals, files, err := online.ReadForm(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rc, err := a.Online.Submit(r.Context(), online.FromValues(vals, files), clientIP(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rc)
}

func (a *API) publicStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.Online.Status(r.Context(), r.PathValue("no"), r.URL.Query().Get("code"), clientIP(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// publicSupplement adds documents to a returned application: multipart with
// "code" and "files".
func (a *API) publicSupplement(w http.ResponseWriter, r *http.Request) {
	vals, files, err := online.ReadForm(w, r)
	if err == nil {
		err = a.Online.Supplement(r.Context(), r.PathValue("no"), vals.Get("code"), clientIP(r), files)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.Online.Status(r.Context(), r.PathValue("no"), vals.Get("code"), clientIP(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) onlineList(w http.ResponseWriter, r *http.Request) {
	apps, err := a.Online.List(r.Context(), user(r), r.URL.Query().Get("status"), 200)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if apps == nil {
		apps = []*online.Application{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"applications": apps})
}

func (a *API) onlineDocument(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	var doc int64
	if err == nil {
		doc, err = pathID(r, "doc")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, d, err := a.Online.Document(r.Context(), user(r), id, doc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(d.Data)))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(d.Data)
}
