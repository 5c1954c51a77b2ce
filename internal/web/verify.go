package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/verify"
)

// Household economic verification (家庭经济状况核对): the authorisations and
// requests on the household page, the printable report with the objection
// form, the townships' tasks, the verification centre (extracts, imports,
// batch re-checks) and the requests of other offices.

func (s *Server) verifyRoutes(mux *http.ServeMux) {
	mux.Handle("POST /households/{id}/verify/authorisations", s.auth(auth.VerifyRequest, s.verifyAuthorise))
	mux.Handle("POST /households/{id}/verify/authorisations/{aid}/end", s.auth(auth.VerifyRequest, s.verifyAuthorisationEnd))
	mux.Handle("POST /households/{id}/verify/requests", s.auth(auth.VerifyRequest, s.verifyRequest))
	mux.Handle("GET /verify/requests/{id}", s.auth(auth.VerifyRequest, s.verifyReport))
	mux.Handle("POST /verify/requests/{id}/objection", s.auth(auth.VerifyRequest, s.verifyObject))
	mux.Handle("GET /verify/tasks", s.auth(auth.VerifyTasks, s.verifyTasks))
	mux.Handle("GET /verify/tasks/{id}", s.auth(auth.VerifyTasks, s.verifyTask))
	mux.Handle("POST /verify/tasks/{id}/close", s.auth(auth.VerifyTasks, s.verifyTaskClose))
	mux.Handle("GET /verify", s.auth("", s.centreOnly(s.verifyCentre)))
	mux.Handle("POST /verify/extracts", s.limitBody(maxExtractBody, s.auth(auth.VerifyImport, s.verifyImport)))
	mux.Handle("GET /verify/imports/{id}", s.auth(auth.VerifyImport, s.verifyImportView))
	mux.Handle("POST /verify/batches", s.auth(auth.VerifyBatch, s.verifyBatch))
	mux.Handle("GET /verify/peers", s.auth(auth.VerifyBatch, s.verifyPeers))
	mux.Handle("POST /verify/peers", s.auth(auth.VerifyBatch, s.verifyPeerReceive))
	mux.Handle("POST /verify/peers/{id}/answer", s.auth(auth.VerifyBatch, s.verifyPeerAnswer))
}

// maxExtractBody bounds an uploaded department extract (the form around it included).
const maxExtractBody = 512 << 20

// limitBody refuses a larger request before anything reads it, with a clear
// page rather than a broken form.
func (s *Server) limitBody(n int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			s.render(w, r, http.StatusRequestEntityTooLarge, "error", "文件过大", nil, &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Message: fmt.Sprintf("上传的文件过大（超过 %d MB）。请按数据来源或报送机构拆分后分别导入，或改用接口传输。", n>>20)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

// centreOnly lets in the verification centre's roles: importers and batch officers.
func (s *Server) centreOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u := currentUser(r); !u.Can(auth.VerifyImport) && !u.Can(auth.VerifyBatch) {
			s.render(w, r, http.StatusForbidden, "error", "无权访问", nil, apperr.Forbidden("您的角色没有此项操作权限。"))
			return
		}
		h(w, r)
	}
}

// optionLabels turns an option list into a value → label map for the templates.
func optionLabels(opts []registry.Option) map[string]string {
	m := make(map[string]string, len(opts))
	for _, o := range opts {
		m[o.Value] = o.Label
	}
	return m
}

// requestPurposes are the purposes a new request may give (an objection's
// re-check is started from its report).
func requestPurposes() []registry.Option {
	var out []registry.Option
	for _, k := range []string{"application", "review", "other"} {
		if l := verify.Purposes[k]; l != "" {
			out = append(out, registry.Option{Value: k, Label: l})
		}
	}
	return out
}

// sortedOptions lists a code → label map in code order.
func sortedOptions(m map[string]string) []registry.Option {
	out := make([]registry.Option, 0, len(m))
	for k, v := range m {
		out = append(out, registry.Option{Value: k, Label: v})
	}
	slices.SortFunc(out, func(a, b registry.Option) int { return strings.Compare(a.Value, b.Value) })
	return out
}

// lines splits a text typed or composed on several lines: the pages'
// content security policy allows no inline styles (white-space), so each line
// is its own element.
func lines(text string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// householdVerify is the household page's verification section.
type householdVerify struct {
	Auths         []verify.Authorisation
	Requests      []verify.RequestSummary
	Programmes    []registry.Option
	ProgLabels    map[string]string
	Purposes      []registry.Option
	PurposeLabels map[string]string
	Today         string
}

// verifyHousehold loads the section for users who request verifications.
func (s *Server) verifyHousehold(ctx context.Context, u *auth.User, hhID int64) (*householdVerify, error) {
	if s.Verify == nil || !u.Can(auth.VerifyRequest) {
		return nil, nil
	}
	auths, err := s.Verify.Authorisations(ctx, u, hhID)
	if err != nil {
		return nil, err
	}
	reqs, err := s.Verify.Requests(ctx, u, hhID)
	if err != nil {
		return nil, err
	}
	return &householdVerify{Auths: auths, Requests: reqs, Programmes: verify.AuthProgrammes, ProgLabels: optionLabels(verify.AuthProgrammes),
		Purposes: requestPurposes(), PurposeLabels: verify.Purposes, Today: todayCST().Format(time.DateOnly)}, nil
}

func (s *Server) verifyAuthorise(w http.ResponseWriter, r *http.Request) {
	in := verify.AuthorisationInput{HouseholdID: pathID(r, "id"), GuardianName: r.PostFormValue("guardian_name"), Programme: r.PostFormValue("programme"),
		SignedOn: strings.TrimSpace(r.PostFormValue("signed_on")), Fingerprint: r.PostFormValue("fingerprint") != "", Pledge: r.PostFormValue("pledge") != ""}
	in.PersonID, _ = strconv.ParseInt(r.PostFormValue("person_id"), 10, 64)
	_, err := s.Verify.RecordAuthorisation(r.Context(), currentUser(r), in)
	s.afterWrite(w, r, err, "verify_authorised")
}

func (s *Server) verifyAuthorisationEnd(w http.ResponseWriter, r *http.Request) {
	err := s.Verify.EndAuthorisation(r.Context(), currentUser(r), pathID(r, "aid"), strings.TrimSpace(r.PostFormValue("ended_reason")))
	s.afterWrite(w, r, err, "verify_ended")
}

func (s *Server) verifyRequest(w http.ResponseWriter, r *http.Request) {
	in := verify.RequestInput{HouseholdID: pathID(r, "id"), Purpose: r.PostFormValue("purpose")}
	in.CaseID, _ = strconv.ParseInt(strings.TrimSpace(r.PostFormValue("case_id")), 10, 64)
	sum, err := s.Verify.Request(r.Context(), currentUser(r), in)
	if err != nil {
		s.householdPage(w, r, http.StatusOK, err, nil)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/verify/requests/%d?ok=verify_requested", sum.ID), http.StatusSeeOther)
}

type verifyReportData struct {
	ID       int64
	R        *verify.Report
	Evidence []string
	Purposes map[string]string
	Findings map[string]string
	Today    string
}

func (s *Server) verifyReport(w http.ResponseWriter, r *http.Request) {
	s.verifyReportRender(w, r, nil)
}

func (s *Server) verifyReportRender(w http.ResponseWriter, r *http.Request, err error) {
	id := pathID(r, "id")
	rep, lerr := s.Verify.Report(r.Context(), currentUser(r), id)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "核对报告", nil, lerr)
		return
	}
	d := verifyReportData{ID: id, R: rep, Evidence: lines(rep.Evidence), Purposes: verify.Purposes, Findings: verify.FindingLabels, Today: todayCST().Format("2006年1月2日")}
	s.render(w, r, http.StatusOK, "verify_report", "核对报告 "+rep.No, d, err)
}

func (s *Server) verifyObject(w http.ResponseWriter, r *http.Request) {
	in := verify.ObjectionInput{Evidence: strings.TrimSpace(r.PostFormValue("evidence")), SetAside: map[int]string{}}
	for _, v := range r.PostForm["set_aside"] {
		i, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		in.SetAside[i] = strings.TrimSpace(r.PostFormValue("reason_" + v))
	}
	sum, err := s.Verify.Object(r.Context(), currentUser(r), pathID(r, "id"), in)
	if err != nil {
		s.verifyReportRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/verify/requests/%d?ok=verify_rechecked", sum.ID), http.StatusSeeOther)
}

type verifyTasksData struct {
	Tasks    []verify.Task
	Status   string
	Findings map[string]string
	Outcomes map[string]string
}

func (s *Server) verifyTasks(w http.ResponseWriter, r *http.Request) {
	d := verifyTasksData{Status: r.URL.Query().Get("status"), Findings: verify.FindingLabels, Outcomes: verify.TaskOutcomes}
	if d.Status != "open" && d.Status != "closed" {
		d.Status = ""
	}
	var err error
	d.Tasks, err = s.Verify.Tasks(r.Context(), currentUser(r), d.Status, 500)
	s.render(w, r, http.StatusOK, "verify_tasks", "核对任务", d, err)
}

type verifyTaskData struct {
	T        *verify.Task
	Note     []string
	Findings map[string]string
	Kinds    map[string]string
	Outcomes []registry.Option
	// OutcomeLabels names the outcome of a closed task.
	OutcomeLabels map[string]string
	CanClose      bool
	CanCase       bool
}

func (s *Server) verifyTask(w http.ResponseWriter, r *http.Request) { s.verifyTaskRender(w, r, nil) }

func (s *Server) verifyTaskRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	t, lerr := s.Verify.Task(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "核对任务", nil, lerr)
		return
	}
	d := verifyTaskData{T: t, Note: lines(t.Note), Findings: verify.FindingLabels, Kinds: verify.KindLabels, Outcomes: sortedOptions(verify.TaskOutcomes), OutcomeLabels: verify.TaskOutcomes,
		CanClose: u.Can(auth.CaseAct) && t.Status != "closed", CanCase: u.Can(auth.CaseRead)}
	s.render(w, r, http.StatusOK, "verify_task", "核对任务 "+t.HouseholdNo, d, err)
}

func (s *Server) verifyTaskClose(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "id")
	if err := s.Verify.CloseTask(r.Context(), currentUser(r), id, r.PostFormValue("outcome"), strings.TrimSpace(r.PostFormValue("note"))); err != nil {
		s.verifyTaskRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/verify/tasks/%d?ok=verify_closed", id), http.StatusSeeOther)
}

type verifyCentreData struct {
	Extracts     []verify.ExtractInfo
	Imports      []verify.ImportLog
	Batches      []verify.BatchSummary
	Sources      []*verify.Source
	SourceLabels map[string]string
	Findings     map[string]string
	Result       *verify.ImportResult
	CanImport    bool
	CanBatch     bool
	Today        string
}

func sourceLabels() map[string]string {
	m := make(map[string]string, len(verify.Sources))
	for _, src := range verify.Sources {
		m[src.Name] = src.Label
	}
	return m
}

func (s *Server) verifyCentre(w http.ResponseWriter, r *http.Request) {
	s.verifyCentreRender(w, r, nil, nil)
}

// verifyCentreRender shows the centre; res is the import just refused, if any.
func (s *Server) verifyCentreRender(w http.ResponseWriter, r *http.Request, res *verify.ImportResult, err error) {
	u := currentUser(r)
	d := verifyCentreData{Sources: verify.Sources, SourceLabels: sourceLabels(), Findings: verify.FindingLabels, Result: res,
		CanImport: u.Can(auth.VerifyImport), CanBatch: u.Can(auth.VerifyBatch), Today: todayCST().Format(time.DateOnly)}
	var lerr error
	d.Extracts, lerr = s.Verify.Extracts(r.Context(), u)
	if lerr == nil && d.CanImport {
		d.Imports, lerr = s.Verify.Imports(r.Context(), u, 0)
	}
	if lerr == nil && d.CanBatch {
		d.Batches, lerr = s.Verify.Batches(r.Context(), u)
	}
	if err == nil {
		err = lerr
	}
	s.render(w, r, http.StatusOK, "verify", "核对中心", d, err)
}

func (s *Server) verifyImport(w http.ResponseWriter, r *http.Request) {
	in := verify.ImportInput{Source: r.PostFormValue("source"), Provider: r.PostFormValue("provider"), DataDate: strings.TrimSpace(r.PostFormValue("data_date"))}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
			err = apperr.Invalid("file", "file_required", "请选择要导入的数据文件（CSV 或 Excel）")
		} else {
			err = apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件导入")
		}
		s.verifyCentreRender(w, r, nil, err)
		return
	}
	defer file.Close()
	in.FileName = hdr.Filename
	if in.Body, err = io.ReadAll(file); err != nil {
		s.verifyCentreRender(w, r, nil, apperr.Invalid("file", "upload_failed", "文件上传不完整（可能网络中断），请重新选择文件导入"))
		return
	}
	res, err := s.Verify.Import(r.Context(), currentUser(r), in)
	if err != nil {
		s.verifyCentreRender(w, r, res, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/verify/imports/%d?ok=verify_imported", res.ImportID), http.StatusSeeOther)
}

type verifyImportData struct {
	L            verify.ImportLog
	SourceLabels map[string]string
}

func (s *Server) verifyImportView(w http.ResponseWriter, r *http.Request) {
	logs, err := s.Verify.Imports(r.Context(), currentUser(r), pathID(r, "id"))
	if err == nil && len(logs) == 0 {
		err = apperr.NotFound("导入记录不存在")
	}
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "导入记录", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "verify_import", "导入记录", verifyImportData{L: logs[0], SourceLabels: sourceLabels()}, nil)
}

// runningBatches are the batch re-checks this server is running, by scope
// and sources: a second click does not start the same batch twice.
var runningBatches sync.Map

func (s *Server) verifyBatch(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	srcs := slices.Clone(r.PostForm["sources"])
	slices.Sort(srcs)
	for _, name := range srcs {
		if _, ok := verify.SourceByName(name); !ok {
			s.verifyCentreRender(w, r, nil, apperr.Invalid("sources", "unknown_source", "未知的数据来源："+name))
			return
		}
	}
	// what Batch refuses at its start, said now rather than in the log
	extracts, err := s.Verify.Extracts(r.Context(), u)
	if err != nil {
		s.verifyCentreRender(w, r, nil, err)
		return
	}
	if !slices.ContainsFunc(extracts, func(e verify.ExtractInfo) bool { return len(srcs) == 0 || slices.Contains(srcs, e.Source) }) {
		s.verifyCentreRender(w, r, nil, apperr.Conflict("no_extracts", "所选来源还没有现行的部门数据，请先导入"))
		return
	}
	key := u.Scope() + "|" + strings.Join(srcs, ",")
	if _, busy := runningBatches.LoadOrStore(key, true); busy {
		s.verifyCentreRender(w, r, nil, apperr.Conflict("batch_running", "同一范围、同一数据来源的批量复核正在进行，请稍后刷新查看结果"))
		return
	}
	// The batch outlives the request: it keeps the request's values (the
	// user) but not its cancellation.
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer runningBatches.Delete(key)
		start := time.Now()
		sum, err := s.Verify.Batch(ctx, u, verify.BatchOptions{Sources: srcs})
		if err != nil {
			s.Log.Error("verify batch failed", "user_id", u.ID, "scope", u.Scope(), "sources", strings.Join(srcs, ","), "err", err)
			return
		}
		s.Log.Info("verify batch done", "batch", sum.ID, "scope", sum.Scope, "households", sum.Households, "scanned", sum.Scanned,
			"matched", sum.Matched, "tasks", sum.Tasks, "elapsed", time.Since(start).Round(time.Millisecond).String())
	}()
	http.Redirect(w, r, "/verify?ok=verify_batch", http.StatusSeeOther)
}

type verifyPeersData struct {
	Peers []peerRow
}

// peerRow is a peer request with its answer split into lines.
type peerRow struct {
	verify.PeerRequest
	Lines []string
}

func (s *Server) verifyPeers(w http.ResponseWriter, r *http.Request) { s.verifyPeersRender(w, r, nil) }

func (s *Server) verifyPeersRender(w http.ResponseWriter, r *http.Request, err error) {
	peers, lerr := s.Verify.PeerRequests(r.Context(), currentUser(r))
	if err == nil {
		err = lerr
	}
	var d verifyPeersData
	for _, p := range peers {
		d.Peers = append(d.Peers, peerRow{PeerRequest: p, Lines: lines(p.Answer)})
	}
	s.render(w, r, http.StatusOK, "verify_peers", "协查请求", d, err)
}

func (s *Server) verifyPeerReceive(w http.ResponseWriter, r *http.Request) {
	in := verify.PeerInput{Peer: strings.TrimSpace(r.PostFormValue("peer")), PeerRef: strings.TrimSpace(r.PostFormValue("peer_ref")),
		IDNumber: strings.TrimSpace(r.PostFormValue("id_number")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Purpose: strings.TrimSpace(r.PostFormValue("purpose")), Authorisation: strings.TrimSpace(r.PostFormValue("authorisation"))}
	if _, err := s.Verify.ReceivePeer(r.Context(), currentUser(r), in); err != nil {
		s.verifyPeersRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/verify/peers?ok=verify_peer", http.StatusSeeOther)
}

func (s *Server) verifyPeerAnswer(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Verify.AnswerPeer(r.Context(), currentUser(r), pathID(r, "id")); err != nil {
		s.verifyPeersRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/verify/peers?ok=verify_answered", http.StatusSeeOther)
}
