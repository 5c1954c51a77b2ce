package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/registry"
)

// Registry import: POST a spreadsheet (multipart, field "file") for a
// preview report; POST .../{id}/commit, {id} being the preview's token, to
// register everything it holds. A refused file or commit answers 422 with
// {"error": {...}, "result": <report>}.
func (a *API) importRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/registry/imports", a.auth(auth.RegistryWrite, a.importPreview))
	mux.Handle("GET /api/v1/registry/imports", a.auth(auth.RegistryWrite, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) {
			list, err := a.Registry.Imports(r.Context(), user(r), 50)
			return map[string]any{"imports": list}, err
		})
	}))
	mux.Handle("GET /api/v1/registry/imports/{id}", a.auth(auth.RegistryWrite, func(w http.ResponseWriter, r *http.Request) {
		a.answer(w, r, http.StatusOK, func() (any, error) { return a.Registry.Import(r.Context(), user(r), r.PathValue("id")) })
	}))
	mux.Handle("POST /api/v1/registry/imports/{id}/commit", a.auth(auth.RegistryWrite, func(w http.ResponseWriter, r *http.Request) {
		rep, err := a.Registry.CommitImport(r.Context(), user(r), r.PathValue("id"))
		a.importAnswer(w, r, http.StatusOK, rep, err)
	}))
}

func tooLarge() *apperr.Error {
	return &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Field: "file",
		Message: fmt.Sprintf("上传的文件超过 %d MB，请按乡镇（街道）或村（社区）拆分后分别导入", registry.MaxImportBytes>>20)}
}

func (a *API) importPreview(w http.ResponseWriter, r *http.Request) {
	const limit = registry.MaxImportBytes + 1<<20
	if r.ContentLength > limit {
		writeError(w, tooLarge())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			writeError(w, tooLarge())
		case errors.Is(err, http.ErrNotMultipart):
			writeError(w, apperr.Invalid("file", "not_multipart", "请以 multipart/form-data 提交，文件放在字段 file 中"))
		default:
			writeError(w, apperr.Invalid("file", "malformed_form", "提交的内容不完整（可能网络中断），请重新提交"))
		}
		return
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeError(w, apperr.Invalid("file", "file_required", "缺少要导入的文件（字段 file，Excel .xlsx 或 CSV）"))
		return
	}
	defer file.Close()
	body, err := io.ReadAll(file)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rep, err := a.Registry.Preview(r.Context(), user(r), hdr.Filename, body)
	if err == nil && rep.Status == registry.ImportRefused {
		err = &apperr.Error{Status: http.StatusUnprocessableEntity, Code: "import_refused", Message: rep.Message}
	}
	a.importAnswer(w, r, http.StatusCreated, rep, err)
}

// importAnswer writes a report, or an error with the report when there is one.
func (a *API) importAnswer(w http.ResponseWriter, r *http.Request, status int, rep *registry.ImportReport, err error) {
	if e, ok := apperr.As(err); ok && rep != nil {
		writeJSON(w, e.Status, map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message}, "result": rep})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, rep)
}
