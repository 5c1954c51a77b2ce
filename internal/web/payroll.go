package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

func (s *Server) payrollRoutes(mux *http.ServeMux) {
	mux.Handle("GET /payroll", s.auth(auth.PayrollRead, s.payrollHome))
	mux.Handle("POST /payroll/runs", s.auth(auth.PayrollRun, s.payrollStart))
	mux.Handle("GET /payroll/runs/{id}", s.auth(auth.PayrollRead, s.payrollRun))
	mux.Handle("POST /payroll/runs/{id}/resume", s.auth(auth.PayrollRun, s.payrollResume))
	mux.Handle("POST /payroll/runs/{id}/check", s.auth(auth.PayrollApprove, s.payrollCheck))
	mux.Handle("POST /payroll/runs/{id}/rebuild", s.auth(auth.PayrollRun, s.payrollRebuild))
	mux.Handle("POST /payroll/runs/{id}/bank-files", s.auth(auth.PayrollRun, s.payrollBankFiles))
	mux.Handle("GET /payroll/runs/{id}/export", s.auth(auth.PayrollRead, s.payrollExport))
	mux.Handle("GET /payroll/bank-files/{id}", s.auth(auth.PayrollRun, s.payrollBankFile))
	mux.Handle("POST /payroll/bank-files/{id}/return", s.auth(auth.PayrollRun, s.payrollReturn))
	mux.Handle("GET /payroll/prices", s.auth("", s.payrollPrices)) // PayrollRead or PolicySchedule, checked there
	mux.Handle("POST /payroll/prices", s.auth(auth.PolicySchedule, s.payrollPriceEnter))
	s.ledgerRoutes(mux) // funds, reserve funds and recoveries: ledger.go
}

type payrollHomeData struct {
	Runs   []*payroll.Run
	Month  string
	County string
}

func (s *Server) payrollHome(w http.ResponseWriter, r *http.Request) { s.payrollHomeRender(w, r, nil) }

func (s *Server) payrollHomeRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	d := payrollHomeData{Month: todayCST().Format("2006-01")}
	if region.LevelOf(u.Region) == region.County {
		d.County = u.Region
	}
	runs, lerr := s.Payroll.Runs(r.Context(), u, 60)
	if err == nil {
		err = lerr
	}
	d.Runs = runs
	s.render(w, r, http.StatusOK, "payroll", "资金发放", d, err)
}

func (s *Server) payrollStart(w http.ResponseWriter, r *http.Request) {
	run, err := s.Payroll.Start(r.Context(), currentUser(r), strings.TrimSpace(r.PostFormValue("month")), strings.TrimSpace(r.PostFormValue("county")))
	if err != nil {
		s.payrollHomeRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/payroll/runs/%d", run.ID), http.StatusSeeOther)
}

type payrollRunData struct {
	Review    *payroll.Review
	Files     []payroll.BankFile
	Recon     *payroll.Reconciliation
	ReconRows []reconRow
	Report    *payroll.ReturnReport
	Townships []*region.Region
	Prices    []priceRateRow
	CanCheck  bool
	CanRun    bool
}

// Programme names a payroll programme, the price subsidy included.
func (payrollRunData) Programme(p string) string { return payroll.ProgrammeLabel(p) }

func (s *Server) payrollRun(w http.ResponseWriter, r *http.Request) {
	s.payrollRunRender(w, r, nil, nil)
}

func (s *Server) payrollRunRender(w http.ResponseWriter, r *http.Request, rep *payroll.ReturnReport, err error) {
	u := currentUser(r)
	id := pathID(r, "id")
	rv, lerr := s.Payroll.ReviewOf(r.Context(), u, id)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "资金发放", nil, lerr)
		return
	}
	d := payrollRunData{Review: rv, Report: rep, Townships: s.Tree.Children(rv.Run.County)}
	d.CanCheck = u.Can(auth.PayrollApprove) && rv.Run.State == payroll.StateBuilt && rv.Run.MadeByID != u.ID
	d.CanRun = u.Can(auth.PayrollRun)
	if d.Files, lerr = s.Payroll.BankFiles(r.Context(), u, id); lerr != nil && err == nil {
		err = lerr
	}
	if d.Recon, lerr = s.Payroll.Reconcile(r.Context(), u, id); lerr != nil && err == nil {
		err = lerr
	}
	if d.Prices, lerr = s.priceRates(r, id); lerr != nil && err == nil {
		err = lerr
	}
	if d.Recon != nil {
		for _, st := range []string{payroll.LinePending, payroll.LineSent, payroll.LinePaid, payroll.LineFailed, payroll.LineByHand,
			payroll.LineNoAccount, payroll.LineInvalid, payroll.LineOffset} {
			if n := d.Recon.Status[st]; n > 0 {
				d.ReconRows = append(d.ReconRows, reconRow{payroll.StatusLabel(st), n, d.Recon.Amounts[st]})
			}
		}
	}
	s.render(w, r, http.StatusOK, "payroll_run", rv.Run.Month+" 发放批次", d, err)
}

func (s *Server) payrollResume(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Payroll.Build(r.Context(), currentUser(r), pathID(r, "id")); err != nil {
		s.payrollRunRender(w, r, nil, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/payroll/runs/%d", pathID(r, "id")), http.StatusSeeOther)
}

func (s *Server) payrollCheck(w http.ResponseWriter, r *http.Request) {
	d := payroll.Decision{Version: formInt(r, "version"), Approve: r.PostFormValue("approve") == "yes", Note: r.PostFormValue("note"), Override: r.PostFormValue("override")}
	if _, err := s.Payroll.Check(r.Context(), currentUser(r), pathID(r, "id"), d); err != nil {
		s.payrollRunRender(w, r, nil, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/payroll/runs/%d?ok=saved", pathID(r, "id")), http.StatusSeeOther)
}

func (s *Server) payrollRebuild(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Payroll.Rebuild(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version")); err != nil {
		s.payrollRunRender(w, r, nil, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/payroll/runs/%d", pathID(r, "id")), http.StatusSeeOther)
}

func (s *Server) payrollBankFiles(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Payroll.PrepareBankFiles(r.Context(), currentUser(r), pathID(r, "id")); err != nil {
		s.payrollRunRender(w, r, nil, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/payroll/runs/%d?ok=saved", pathID(r, "id")), http.StatusSeeOther)
}

func (s *Server) payrollBankFile(w http.ResponseWriter, r *http.Request) {
	// written to memory first, so a failure is an error page, not half a file
	var buf strings.Builder
	f, err := s.Payroll.WriteBankFile(r.Context(), currentUser(r), pathID(r, "id"), &buf)
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "银行文件", nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+f.FileName)
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, buf.String())
}

func (s *Server) payrollReturn(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	fileID := pathID(r, "id")
	var runID int64
	redirect := func(err error, rep *payroll.ReturnReport) {
		if runID == 0 {
			s.render(w, r, http.StatusOK, "error", "银行回盘", nil, err)
			return
		}
		r.SetPathValue("id", strconv.FormatInt(runID, 10))
		s.payrollRunRender(w, r, rep, err)
	}
	runID, _ = strconv.ParseInt(r.PostFormValue("run"), 10, 64)
	file, hdr, err := r.FormFile("file")
	if err != nil {
		redirect(fmt.Errorf("请选择回盘文件"), nil)
		return
	}
	defer file.Close()
	content, err := io.ReadAll(io.LimitReader(file, 512<<20))
	if err != nil {
		redirect(err, nil)
		return
	}
	rep, err := s.Payroll.ImportReturn(r.Context(), u, fileID, hdr.Filename, content)
	redirect(err, rep)
}

func (s *Server) payrollExport(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	id := pathID(r, "id")
	q := r.URL.Query()
	kind := q.Get("kind")
	var buf strings.Builder
	var err error
	name := fmt.Sprintf("发放汇总_%d.xlsx", id)
	if kind == "summary" {
		err = s.Payroll.ExportSummary(r.Context(), u, id, &buf)
	} else {
		name = fmt.Sprintf("%s_%s_%d.xlsx", map[string]string{payroll.ExportPayroll: "发放花名册", payroll.ExportSignature: "签领表"}[kind], q.Get("township"), id)
		err = s.Payroll.ExportTownship(r.Context(), u, id, q.Get("township"), kind, &buf)
	}
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "导出", nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	io.WriteString(w, buf.String())
}

type reconRow struct {
	Label string
	N     int64
	Fen   int64
}
