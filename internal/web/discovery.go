package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/discovery"
)

func (s *Server) discoveryRoutes(mux *http.ServeMux) {
	mux.Handle("GET /discovery", s.auth(auth.DiscoveryRead, s.discoveryList))
	mux.Handle("GET /discovery/summary", s.auth(auth.DiscoveryRead, s.discoverySummary))
	mux.Handle("GET /discovery/items/{id}", s.auth(auth.DiscoveryRead, s.discoveryItem))
	mux.Handle("POST /discovery/items/{id}/review", s.auth(auth.DiscoveryRead, s.discoveryReview))
	mux.Handle("POST /discovery/items/{id}/started", s.auth(auth.DiscoveryRead, s.discoveryStarted))
	mux.Handle("POST /discovery/items/{id}/dismiss", s.auth(auth.DiscoveryRead, s.discoveryDismiss))
	mux.Handle("GET /discovery/events", s.auth(auth.DiscoveryImport, s.discoveryEvents))
	mux.Handle("POST /discovery/events", s.limitBody(maxExtractBody, s.auth(auth.DiscoveryImport, s.discoveryUpload)))
	mux.Handle("GET /discovery/imports/{id}", s.auth(auth.DiscoveryImport, s.discoveryImport))
	mux.Handle("POST /discovery/runs", s.auth(auth.DiscoveryImport, s.discoveryRun))
	s.linkageRoutes(mux)
}

type discoveryListData struct {
	Items  []discovery.Item
	Q      discovery.Query
	Rules  []discovery.Rule
	CanAct bool
}

func (s *Server) discoveryList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := discoveryListData{Q: discovery.Query{List: q.Get("list"), Rule: q.Get("rule"), Status: q.Get("status"), Township: q.Get("township")}, Rules: discovery.Rules}
	if d.Q.Status == "" && q.Get("all") == "" {
		d.Q.Status = discovery.StatusOpen
	}
	u := currentUser(r)
	d.CanAct = u.Role == auth.TownshipCaseworker || u.Role == auth.TownshipReviewer
	items, err := s.Discovery.Items(r.Context(), u, d.Q)
	d.Items = items
	s.render(w, r, http.StatusOK, "discovery_list", "主动发现", d, err)
}

type discoverySummaryData struct {
	Measures    []discovery.Measure
	Definitions any
	Runs        []discovery.RunSummary
}

func (s *Server) discoverySummary(w http.ResponseWriter, r *http.Request) {
	d := discoverySummaryData{Definitions: discovery.Definitions}
	ms, err := s.Discovery.Measures(r.Context(), currentUser(r))
	d.Measures = ms
	if err == nil {
		d.Runs, err = s.Discovery.Runs(r.Context(), 10)
	}
	s.render(w, r, http.StatusOK, "discovery_summary", "主动发现：县级汇总", d, err)
}

type discoveryItemData struct {
	I      *discovery.Item
	CanAct bool
}

func (s *Server) discoveryItemRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	it, gerr := s.Discovery.Item(r.Context(), u, pathID(r, "id"))
	if gerr != nil {
		s.render(w, r, http.StatusOK, "error", "主动发现", nil, gerr)
		return
	}
	d := discoveryItemData{I: it, CanAct: it.Status == discovery.StatusOpen && (u.Role == auth.TownshipCaseworker || u.Role == auth.TownshipReviewer)}
	s.render(w, r, http.StatusOK, "discovery_item", "主动发现条目 "+strconv.FormatInt(it.ID, 10), d, err)
}

func (s *Server) discoveryItem(w http.ResponseWriter, r *http.Request) {
	s.discoveryItemRender(w, r, nil)
}

// discoveryReview starts the review a should-stop item calls for and opens it.
func (s *Server) discoveryReview(w http.ResponseWriter, r *http.Request) {
	rv, err := s.Discovery.StartReview(r.Context(), currentUser(r), s.Casework, pathID(r, "id"))
	if err != nil {
		s.discoveryItemRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/cases/%d?ok=discovery_review", rv.ID), http.StatusSeeOther)
}

func (s *Server) discoveryStarted(w http.ResponseWriter, r *http.Request) {
	_, err := s.Discovery.Started(r.Context(), currentUser(r), pathID(r, "id"), r.PostFormValue("case_no"))
	if err != nil {
		s.discoveryItemRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/discovery/items/"+r.PathValue("id")+"?ok=discovery_worked", http.StatusSeeOther)
}

func (s *Server) discoveryDismiss(w http.ResponseWriter, r *http.Request) {
	if err := s.Discovery.Dismiss(r.Context(), currentUser(r), pathID(r, "id"), r.PostFormValue("reason")); err != nil {
		s.discoveryItemRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/discovery/items/"+r.PathValue("id")+"?ok=discovery_worked", http.StatusSeeOther)
}

type discoveryEventsData struct {
	Layouts []*discovery.Layout
	Imports []discovery.ImportLog
	Runs    []discovery.RunSummary
	Result  *discovery.ImportResult
}

func (s *Server) discoveryEventsRender(w http.ResponseWriter, r *http.Request, res *discovery.ImportResult, err error) {
	d := discoveryEventsData{Layouts: discovery.Layouts, Result: res}
	var lerr error
	d.Imports, lerr = s.Discovery.Imports(r.Context(), currentUser(r), 0, 30)
	if lerr == nil {
		d.Runs, lerr = s.Discovery.Runs(r.Context(), 10)
	}
	if err == nil {
		err = lerr
	}
	s.render(w, r, http.StatusOK, "discovery_events", "部门事件", d, err)
}

func (s *Server) discoveryEvents(w http.ResponseWriter, r *http.Request) {
	s.discoveryEventsRender(w, r, nil, nil)
}

func (s *Server) discoveryUpload(w http.ResponseWriter, r *http.Request) {
	in := discovery.ImportInput{Kind: r.PostFormValue("kind"), Source: r.PostFormValue("source")}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
			err = apperr.Invalid("file", "file_required", "请选择要导入的事件文件（CSV 或 Excel）")
		} else {
			err = apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件导入")
		}
		s.discoveryEventsRender(w, r, nil, err)
		return
	}
	defer file.Close()
	in.FileName = hdr.Filename
	if in.Body, err = io.ReadAll(file); err != nil {
		s.discoveryEventsRender(w, r, nil, apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件导入"))
		return
	}
	res, err := s.Discovery.Import(r.Context(), currentUser(r), in)
	if res != nil && res.ImportID != 0 {
		ok := "discovery_imported"
		if err != nil {
			ok = "discovery_refused"
		}
		http.Redirect(w, r, fmt.Sprintf("/discovery/imports/%d?ok=%s", res.ImportID, ok), http.StatusSeeOther)
		return
	}
	s.discoveryEventsRender(w, r, res, err)
}

func (s *Server) discoveryImport(w http.ResponseWriter, r *http.Request) {
	logs, err := s.Discovery.Imports(r.Context(), currentUser(r), pathID(r, "id"), 1)
	if err == nil && len(logs) == 0 {
		err = apperr.NotFound("导入记录不存在或不在您的管辖范围内")
	}
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "导入记录", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "discovery_import", "事件导入记录", logs[0], nil)
}

func (s *Server) discoveryRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.Discovery.Run(r.Context(), currentUser(r), strings.TrimSpace(r.PostFormValue("since")))
	if err != nil {
		s.discoveryEventsRender(w, r, nil, err)
		return
	}
	_ = run
	http.Redirect(w, r, "/discovery/events?ok=discovery_run", http.StatusSeeOther)
}
