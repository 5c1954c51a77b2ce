package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/verify"
)

// maxExtractBody bounds an uploaded department extract with its form fields.
const maxExtractBody = 512 << 20

func (a *API) verifyRoutes(mux *http.ServeMux) {
	// authorisations and requests of one household
	mux.Handle("POST /api/v1/verify/authorisations", a.auth(auth.VerifyRequest, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *verify.AuthorisationInput) (any, error) {
		return a.Verify.RecordAuthorisation(r.Context(), user(r), *in)
	})))
	type endIn struct {
		Reason string `json:"reason"`
	}
	mux.Handle("POST /api/v1/verify/authorisations/{id}/end", a.auth(auth.VerifyRequest, withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *endIn) (any, error) {
		return nil, a.Verify.EndAuthorisation(r.Context(), user(r), id, in.Reason)
	})))
	mux.Handle("GET /api/v1/verify/households/{id}/authorisations", a.auth(auth.VerifyRequest, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		list, err := a.Verify.Authorisations(r.Context(), user(r), id)
		if list == nil {
			list = []verify.Authorisation{}
		}
		return map[string]any{"authorisations": list}, err
	})))
	mux.Handle("POST /api/v1/verify/requests", a.auth(auth.VerifyRequest, withBody(a, http.StatusOK, func(r *http.Request, _ int64, in *verify.RequestInput) (any, error) {
		return a.Verify.Request(r.Context(), user(r), *in)
	})))
	mux.Handle("GET /api/v1/verify/requests/{id}", a.auth(auth.VerifyRequest, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Verify.Report(r.Context(), user(r), id)
	})))
	mux.Handle("POST /api/v1/verify/requests/{id}/objection", a.auth(auth.VerifyRequest, withBody(a, http.StatusOK, func(r *http.Request, id int64, in *verify.ObjectionInput) (any, error) {
		return a.Verify.Object(r.Context(), user(r), id, *in)
	})))
	mux.Handle("GET /api/v1/verify/households/{id}/requests", a.auth(auth.VerifyRequest, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		list, err := a.Verify.Requests(r.Context(), user(r), id)
		if list == nil {
			list = []verify.RequestSummary{}
		}
		return map[string]any{"requests": list}, err
	})))

	// the townships' tasks
	mux.Handle("GET /api/v1/verify/tasks", a.auth(auth.VerifyTasks, func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Verify.Tasks(r.Context(), user(r), r.URL.Query().Get("status"), limit)
			if list == nil {
				list = []verify.Task{}
			}
			return map[string]any{"tasks": list}, err
		})
	}))
	mux.Handle("GET /api/v1/verify/tasks/{id}", a.auth(auth.VerifyTasks, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Verify.Task(r.Context(), user(r), id)
	})))
	type closeIn struct {
		Outcome string `json:"outcome"`
		Note    string `json:"note"`
	}
	mux.Handle("POST /api/v1/verify/tasks/{id}/close", a.auth(auth.VerifyTasks, withBody(a, http.StatusNoContent, func(r *http.Request, id int64, in *closeIn) (any, error) {
		return nil, a.Verify.CloseTask(r.Context(), user(r), id, in.Outcome, in.Note)
	})))

	// the verification centre: extracts (counts only), imports, batches
	mux.Handle("GET /api/v1/verify/extracts", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Verify.Extracts(r.Context(), user(r))
			if list == nil {
				list = []verify.ExtractInfo{}
			}
			return map[string]any{"extracts": list}, err
		})
	}))
	mux.Handle("POST /api/v1/verify/extracts", a.auth(auth.VerifyImport, a.extractImport))
	mux.Handle("GET /api/v1/verify/imports", a.auth(auth.VerifyImport, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Verify.Imports(r.Context(), user(r), 0)
			if list == nil {
				list = []verify.ImportLog{}
			}
			return map[string]any{"imports": list}, err
		})
	}))
	mux.Handle("GET /api/v1/verify/imports/{id}", a.auth(auth.VerifyImport, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		list, err := a.Verify.Imports(r.Context(), user(r), id)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, apperr.NotFound("导入记录不存在")
		}
		return list[0], nil
	})))
	type batchIn struct {
		Sources []string `json:"sources"`
	}
	// synchronous here: the caller waits for the summary
	mux.Handle("POST /api/v1/verify/batches", a.auth(auth.VerifyBatch, withBody(a, http.StatusOK, func(r *http.Request, _ int64, in *batchIn) (any, error) {
		return a.Verify.Batch(r.Context(), user(r), verify.BatchOptions{Sources: in.Sources})
	})))
	mux.Handle("GET /api/v1/verify/batches", a.auth("", func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Verify.Batches(r.Context(), user(r))
			if list == nil {
				list = []verify.BatchSummary{}
			}
			return map[string]any{"batches": list}, err
		})
	}))

	// requests of other offices
	mux.Handle("GET /api/v1/verify/peers", a.auth(auth.VerifyBatch, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Verify.PeerRequests(r.Context(), user(r))
			if list == nil {
				list = []verify.PeerRequest{}
			}
			return map[string]any{"peers": list}, err
		})
	}))
	mux.Handle("POST /api/v1/verify/peers", a.auth(auth.VerifyBatch, withBody(a, http.StatusCreated, func(r *http.Request, _ int64, in *verify.PeerInput) (any, error) {
		return a.Verify.ReceivePeer(r.Context(), user(r), *in)
	})))
	mux.Handle("POST /api/v1/verify/peers/{id}/answer", a.auth(auth.VerifyBatch, a.withID(http.StatusOK, func(r *http.Request, id int64) (any, error) {
		return a.Verify.AnswerPeer(r.Context(), user(r), id)
	})))
}

// extractImport takes a multipart form: source, provider, data_date and the
// file. A refused extract answers 422 with the validation report.
func (a *API) extractImport(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > maxExtractBody {
		writeError(w, &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "上传的文件超过 512MB，请拆分后分别导入"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxExtractBody)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			writeError(w, &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "上传的文件超过 512MB，请拆分后分别导入"})
		case errors.Is(err, http.ErrNotMultipart):
			writeError(w, apperr.Invalid("file", "not_multipart", "请以 multipart/form-data 提交：source、provider、data_date 和文件 file"))
		default:
			writeError(w, apperr.Invalid("file", "malformed_form", "提交的内容不完整（可能网络中断），请重新提交"))
		}
		return
	}
	in := verify.ImportInput{Source: r.FormValue("source"), Provider: r.FormValue("provider"), DataDate: strings.TrimSpace(r.FormValue("data_date"))}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, apperr.Invalid("file", "file_required", "缺少数据文件（字段 file）"))
		return
	}
	defer file.Close()
	in.FileName = hdr.Filename
	if in.Body, err = io.ReadAll(file); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.Verify.Import(r.Context(), user(r), in)
	if e, ok := apperr.As(err); ok && res != nil {
		writeJSON(w, e.Status, map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message}, "result": res})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
