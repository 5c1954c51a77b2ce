package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/registry"
)

// Registry import pages (登记导入): upload a spreadsheet, see the preview
// with every problem, confirm, see what was registered.
func (s *Server) importRoutes(mux *http.ServeMux) {
	mux.Handle("GET /registry/imports", s.auth(auth.RegistryWrite, s.importPage))
	mux.Handle("POST /registry/imports", s.importBodyLimit(s.auth(auth.RegistryWrite, s.importUpload)))
	mux.Handle("GET /registry/imports/template.xlsx", s.auth(auth.RegistryWrite, s.importTemplate))
	mux.Handle("GET /registry/imports/{token}", s.auth(auth.RegistryWrite, s.importView))
	mux.Handle("POST /registry/imports/{token}/commit", s.auth(auth.RegistryWrite, s.importCommit))
}

// importBodyLimit refuses an oversized upload before the form is read.
func (s *Server) importBodyLimit(h http.Handler) http.Handler {
	const limit = registry.MaxImportBytes + 1<<20 // the form around the file
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			s.render(w, r, http.StatusRequestEntityTooLarge, "error", "文件过大", nil, &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Message: fmt.Sprintf("上传的文件超过 %d MB。请按乡镇（街道）或村（社区）拆分后分别导入。", registry.MaxImportBytes>>20)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

type importPageData struct {
	Recent  []registry.ImportListItem
	Columns []registry.ImportColumn
	MaxMB   int
	MaxRows int
}

func (s *Server) importPageRender(w http.ResponseWriter, r *http.Request, err error) {
	d := importPageData{Columns: registry.ImportColumns, MaxMB: registry.MaxImportBytes >> 20, MaxRows: registry.MaxImportPersons}
	var lerr error
	d.Recent, lerr = s.Registry.Imports(r.Context(), currentUser(r), 20)
	if err == nil {
		err = lerr
	}
	s.render(w, r, http.StatusOK, "registry_import", "登记导入", d, err)
}

func (s *Server) importPage(w http.ResponseWriter, r *http.Request) {
	s.importPageRender(w, r, nil)
}

func (s *Server) importUpload(w http.ResponseWriter, r *http.Request) {
	file, hdr, err := r.FormFile("file")
	if err != nil {
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			err = &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Field: "file",
				Message: fmt.Sprintf("上传的文件超过 %d MB。请按乡镇（街道）或村（社区）拆分后分别导入。", registry.MaxImportBytes>>20)}
		case errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart):
			err = apperr.Invalid("file", "file_required", "请选择要导入的文件（Excel .xlsx 或 CSV）")
		default:
			err = apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件上传")
		}
		s.importPageRender(w, r, err)
		return
	}
	defer file.Close()
	body, err := io.ReadAll(file)
	if err != nil {
		s.importPageRender(w, r, apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件上传"))
		return
	}
	rep, err := s.Registry.Preview(r.Context(), currentUser(r), hdr.Filename, body)
	if err != nil {
		s.importPageRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/registry/imports/"+url.PathEscape(rep.Token), http.StatusSeeOther)
}

type importViewData struct {
	R *registry.ImportReport
}

func (s *Server) importView(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Registry.Import(r.Context(), currentUser(r), r.PathValue("token"))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "登记导入", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "registry_import_view", "登记导入预览", importViewData{R: rep}, nil)
}

func (s *Server) importCommit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	token := r.PathValue("token")
	rep, err := s.Registry.CommitImport(r.Context(), u, token)
	if err != nil {
		if rep == nil {
			var lerr error
			if rep, lerr = s.Registry.Import(r.Context(), u, token); lerr != nil {
				s.render(w, r, http.StatusOK, "error", "登记导入", nil, err)
				return
			}
		}
		s.render(w, r, http.StatusOK, "registry_import_view", "登记导入预览", importViewData{R: rep}, err)
		return
	}
	http.Redirect(w, r, "/registry/imports/"+url.PathEscape(rep.Token), http.StatusSeeOther)
}

func (s *Server) importTemplate(w http.ResponseWriter, r *http.Request) {
	b, err := s.Registry.ImportTemplate(currentUser(r))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "导入模板", nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "户籍登记导入模板.xlsx"}))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
