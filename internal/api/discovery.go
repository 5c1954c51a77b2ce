package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/linkage"
)

// maxEventBatch bounds a JSON batch of department events (discovery.MaxBatch events).
const maxEventBatch = 16 << 20

func (a *API) discoveryRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/discovery/events", a.auth(auth.DiscoveryImport, a.discoveryEvents))
	mux.Handle("POST /api/v1/discovery/files", a.auth(auth.DiscoveryImport, a.discoveryFile))
	mux.Handle("GET /api/v1/discovery/imports/{id}", a.auth(auth.DiscoveryImport, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		logs, err := a.Discovery.Imports(r.Context(), user(r), id, 1)
		if err == nil && len(logs) == 0 {
			err = apperr.NotFound("导入记录不存在或不在您的管辖范围内")
		}
		if err != nil {
			return nil, err
		}
		return logs[0], nil
	})))
	type runIn struct {
		Since string `json:"since"`
	}
	mux.Handle("POST /api/v1/discovery/runs", a.auth(auth.DiscoveryImport, withBody(a, http.StatusOK, func(r *http.Request, _ int64, in *runIn) (any, error) {
		return a.Discovery.Run(r.Context(), user(r), in.Since)
	})))
	mux.Handle("GET /api/v1/discovery/items", a.auth(auth.DiscoveryRead, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		a.answer(w, r, http.StatusOK, func() (any, error) {
			items, err := a.Discovery.Items(r.Context(), user(r), discovery.Query{List: q.Get("list"), Rule: q.Get("rule"), Status: q.Get("status"), Township: q.Get("township"), Limit: limit})
			if items == nil {
				items = []discovery.Item{}
			}
			return map[string]any{"items": items}, err
		})
	}))
	mux.Handle("GET /api/v1/discovery/items/{id}", a.auth(auth.DiscoveryRead, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Discovery.Item(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/discovery/items/{id}/review", a.auth(auth.DiscoveryRead, a.withID(http.StatusCreated, func(r *http.Request, id int64) (any, error) {
		rv, err := a.Discovery.StartReview(r.Context(), user(r), a.Casework, id)
		if err != nil {
			return nil, err
		}
		return map[string]any{"review_case_id": rv.ID, "case_no": rv.No}, nil
	})))
	type startedIn struct {
		CaseNo string `json:"case_no"`
	}
	mux.Handle("POST /api/v1/discovery/items/{id}/started", a.auth(auth.DiscoveryRead, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *startedIn) (any, error) {
		c, err := a.Discovery.Started(r.Context(), user(r), id, in.CaseNo)
		return map[string]any{"case_id": c}, err
	})))
	type dismissIn struct {
		Reason string `json:"reason"`
	}
	mux.Handle("POST /api/v1/discovery/items/{id}/dismiss", a.auth(auth.DiscoveryRead, withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *dismissIn) (any, error) {
		return nil, a.Discovery.Dismiss(r.Context(), user(r), id, in.Reason)
	})))
	mux.Handle("GET /api/v1/discovery/measures", a.auth(auth.DiscoveryRead, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			ms, err := a.Discovery.Measures(r.Context(), user(r))
			if ms == nil {
				ms = []discovery.Measure{}
			}
			return map[string]any{"counties": ms, "definitions": discovery.Definitions}, err
		})
	}))
	mux.Handle("GET /api/v1/discovery/layouts", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"layouts": discovery.Layouts, "rules": discovery.Rules})
	}))

	// other registries
	mux.Handle("POST /api/v1/linkage/{registry}", a.auth(auth.DiscoveryImport, func(w http.ResponseWriter, r *http.Request) {
		name, body, err := uploaded(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		res, err := a.Linkage.Import(r.Context(), user(r), r.PathValue("registry"), name, body)
		a.report(w, r, http.StatusCreated, res, err)
	}))
	// the people on the lists are for the verifying workers; importers get the counts
	mux.Handle("GET /api/v1/linkage/{registry}/{list}", a.auth(auth.DiscoveryRead, func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		a.answer(w, r, http.StatusOK, func() (any, error) {
			es, err := a.Linkage.List(r.Context(), user(r), r.PathValue("registry"), r.PathValue("list"), limit)
			if es == nil {
				es = []linkage.Entry{}
			}
			return map[string]any{"entries": es}, err
		})
	}))
	mux.Handle("GET /api/v1/linkage", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			cs, err := a.Linkage.Counts(r.Context(), user(r))
			if cs == nil {
				cs = []linkage.Count{}
			}
			return map[string]any{"counties": cs}, err
		})
	}))
}

// report answers an import: the result, or the refusal with its row report.
func (a *API) report(w http.ResponseWriter, r *http.Request, status int, res any, err error) {
	var e *apperr.Error
	if err != nil && errors.As(err, &e) && res != nil {
		var b errorBody
		b.Error.Code, b.Error.Message, b.Error.Field = e.Code, e.Message, e.Field
		writeJSON(w, e.Status, map[string]any{"error": b.Error, "report": res})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, res)
}

func (a *API) discoveryEvents(w http.ResponseWriter, r *http.Request) {
	var in discovery.BatchInput
	dec := json.NewDecoder(io.LimitReader(r.Body, maxEventBatch))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		a.fail(w, r, &apperr.Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "请求内容不是有效的事件批次（JSON）：" + err.Error()})
		return
	}
	res, err := a.Discovery.ImportBatch(r.Context(), user(r), in)
	a.report(w, r, http.StatusCreated, res, err)
}

// discoveryFile takes an event file as multipart (fields kind, source, file).
func (a *API) discoveryFile(w http.ResponseWriter, r *http.Request) {
	name, body, err := uploaded(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.Discovery.Import(r.Context(), user(r), discovery.ImportInput{Kind: r.FormValue("kind"), Source: r.FormValue("source"), FileName: name, Body: body})
	a.report(w, r, http.StatusCreated, res, err)
}

func uploaded(r *http.Request) (string, []byte, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxExtractBody)
	file, hdr, err := r.FormFile("file")
	if err != nil {
		return "", nil, apperr.Invalid("file", "file_required", "请以 multipart/form-data 上传文件（字段 file）")
	}
	defer file.Close()
	body, err := io.ReadAll(file)
	if err != nil {
		return "", nil, apperr.Invalid("file", "upload_failed", "文件上传不完整，请重新上传")
	}
	return hdr.Filename, body, nil
}
