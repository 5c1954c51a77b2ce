package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/linkage"
)

func (s *Server) linkageRoutes(mux *http.ServeMux) {
	// the page serves two jobs: the departments' clerks upload lists and see
	// their runs and the counts; the verifying workers (DiscoveryRead) also
	// see the people on the review lists
	mux.Handle("GET /linkage", s.auth("", s.linkagePage))
	mux.Handle("POST /linkage", s.limitBody(maxExtractBody, s.auth(auth.DiscoveryImport, s.linkageUpload)))
}

type linkageData struct {
	Registries []*linkage.Registry
	Runs       []linkage.Run
	Counts     []linkage.Count
	Registry   string
	List       string
	Entries    []linkage.Entry
	Result     *linkage.ImportResult
	CanImport  bool
	CanList    bool
}

func (s *Server) linkageRender(w http.ResponseWriter, r *http.Request, res *linkage.ImportResult, err error) {
	u := currentUser(r)
	q := r.URL.Query()
	d := linkageData{Registries: linkage.Registries, Registry: q.Get("registry"), List: q.Get("list"), Result: res,
		CanImport: u.Can(auth.DiscoveryImport), CanList: linkage.CanList(u)}
	if !d.CanImport && !d.CanList {
		s.render(w, r, http.StatusForbidden, "error", "无权访问", nil, apperr.Forbidden("您的角色没有此项操作权限。"))
		return
	}
	if d.Registry == "" {
		d.Registry = "poverty"
	}
	if d.List == "" {
		d.List = linkage.NotReceiving
	}
	var lerr error
	if d.CanImport {
		d.Runs, lerr = s.Linkage.Runs(r.Context(), u)
	}
	if lerr == nil {
		d.Counts, lerr = s.Linkage.Counts(r.Context(), u)
	}
	if lerr == nil && d.CanList {
		d.Entries, lerr = s.Linkage.List(r.Context(), u, d.Registry, d.List, 200)
	}
	if err == nil {
		err = lerr
	}
	s.render(w, r, http.StatusOK, "linkage_page", "名单比对", d, err)
}

func (s *Server) linkagePage(w http.ResponseWriter, r *http.Request) { s.linkageRender(w, r, nil, nil) }

func (s *Server) linkageUpload(w http.ResponseWriter, r *http.Request) {
	file, hdr, err := r.FormFile("file")
	if err != nil {
		if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
			err = apperr.Invalid("file", "file_required", "请选择要导入的名单文件（CSV 或 Excel）")
		} else {
			err = apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件导入")
		}
		s.linkageRender(w, r, nil, err)
		return
	}
	defer file.Close()
	body, err := io.ReadAll(file)
	if err != nil {
		s.linkageRender(w, r, nil, apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件导入"))
		return
	}
	reg := r.PostFormValue("registry")
	res, err := s.Linkage.Import(r.Context(), currentUser(r), reg, hdr.Filename, body)
	if err != nil {
		s.linkageRender(w, r, res, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/linkage?registry=%s&ok=linkage_imported", reg), http.StatusSeeOther)
}
