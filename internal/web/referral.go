package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/money"
	"jiuzhu/internal/referral"
	"jiuzhu/internal/region"
)

// Needs and referrals to member departments and charities (issue #9, items
// 1 and 2): the township's page, the partner's page, the county's list of
// organisations, the statistics, and the household page's section.

func (s *Server) referralRoutes(mux *http.ServeMux) {
	mux.Handle("GET /referrals", s.auth(auth.ReferralRead, s.referralList))
	mux.Handle("GET /referrals/stats", s.auth(auth.ReferralRead, s.referralStats))
	mux.Handle("GET /referrals/{id}", s.auth("", s.referralView))
	mux.Handle("POST /referrals/{id}/accept", s.auth(auth.ReferralAnswer, s.referralAnswer))
	mux.Handle("POST /referrals/{id}/decline", s.auth(auth.ReferralAnswer, s.referralAnswer))
	mux.Handle("POST /referrals/{id}/close", s.auth(auth.ReferralAnswer, s.referralAnswer))
	mux.Handle("POST /households/{id}/needs", s.auth(auth.ReferralWrite, s.needRecord))
	mux.Handle("POST /referrals/needs/{id}/refer", s.auth(auth.ReferralWrite, s.needRefer))
	mux.Handle("GET /partner", s.auth(auth.ReferralAnswer, s.partnerInbox))
	mux.Handle("GET /referrals/orgs", s.auth("", s.referralOrgs))
	mux.Handle("POST /referrals/orgs", s.auth(auth.ReferralOrgs, s.referralOrgCreate))
	mux.Handle("GET /referrals/orgs/{id}", s.auth("", s.referralOrgView))
	mux.Handle("POST /referrals/orgs/{id}/edit", s.auth(auth.ReferralOrgs, s.referralOrgUpdate))
	mux.Handle("POST /referrals/orgs/{id}/users", s.auth(auth.ReferralOrgs, s.referralOrgBind))
	mux.Handle("POST /referrals/orgs/{id}/users/{uid}/remove", s.auth(auth.ReferralOrgs, s.referralOrgUnbind))
}

// referralVocab are the code lists the pages offer.
type referralVocab struct {
	Areas, Stages, Kinds, Departments []referral.Option
	Outcomes                          []referral.Outcome
}

var refVocab = referralVocab{referral.Areas, referral.Stages, referral.OrgKinds, referral.Departments, referral.Outcomes}

// householdHelp is the household page's section on needs, referrals and help received.
type householdHelp struct {
	*referral.Help
	Orgs     []*referral.Org // the county's active organisations, to refer to
	Vocab    referralVocab
	CanWrite bool
}

// householdHelp takes the household's cases the page has already read (none
// for a user who may not read cases).
func (s *Server) householdHelp(ctx context.Context, u *auth.User, householdID int64, cases []*casework.Case) (*householdHelp, error) {
	if !u.Can(auth.ReferralRead) {
		return nil, nil
	}
	h, err := s.Referrals.HouseholdHelp(ctx, u, householdID, cases)
	if err != nil {
		return nil, err
	}
	d := &householdHelp{Help: h, Vocab: refVocab, CanWrite: u.Can(auth.ReferralWrite)}
	if d.CanWrite {
		if d.Orgs, err = s.Referrals.Orgs(ctx, u, referral.OrgFilter{ActiveOnly: true}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (s *Server) needRecord(w http.ResponseWriter, r *http.Request) {
	in := referral.NeedInput{HouseholdID: pathID(r, "id"), Area: r.PostFormValue("area"), Description: r.PostFormValue("description"),
		Stage: r.PostFormValue("stage"), PersonID: formID(r, "person_id"), CaseID: formID(r, "case_id"), OrgID: formID(r, "org_id"), Note: r.PostFormValue("note")}
	_, err := s.Referrals.RecordNeed(r.Context(), currentUser(r), in)
	if err != nil {
		s.householdPage(w, r, http.StatusOK, err, nil)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/households/%d?ok=created#help", in.HouseholdID), http.StatusSeeOther)
}

func (s *Server) needRefer(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	n, err := s.Referrals.Need(r.Context(), u, pathID(r, "id"))
	if err != nil {
		s.render(w, r, http.StatusOK, "error", "转介", nil, err)
		return
	}
	if _, err = s.Referrals.Refer(r.Context(), u, n.ID, referral.ReferInput{OrgID: formID(r, "org_id"), Note: r.PostFormValue("note")}); err != nil {
		// show the household page with the error; its path value is the household
		r.SetPathValue("id", strconv.FormatInt(n.HouseholdID, 10))
		s.householdPage(w, r, http.StatusOK, err, nil)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/households/%d?ok=saved#help", n.HouseholdID), http.StatusSeeOther)
}

type referralListData struct {
	List   []*referral.Referral
	ByArea []referral.AreaCount
	Status string
	Area   string
	Vocab  referralVocab
	Today  string
}

func (s *Server) referralList(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	q := r.URL.Query()
	d := referralListData{Status: q.Get("status"), Area: q.Get("area"), Vocab: refVocab, Today: s.Referrals.Today()}
	if _, set := q["status"]; !set {
		d.Status = "open"
	}
	// the summary always counts every open referral, whatever the filter
	open, err := s.Referrals.List(r.Context(), u, referral.Filter{Status: "open"})
	if err == nil {
		d.ByArea = referral.ByArea(open)
		d.List = open
		if d.Status != "open" || d.Area != "" {
			d.List, err = s.Referrals.List(r.Context(), u, referral.Filter{Status: d.Status, Area: d.Area})
		}
	}
	s.render(w, r, http.StatusOK, "referral_list", "协同转介", d, err)
}

type referralViewData struct {
	R         *referral.Referral
	Addressee bool // the user's organisation handles it
	Township  bool // the user may re-refer
}

func (s *Server) referralView(w http.ResponseWriter, r *http.Request) {
	s.referralViewRender(w, r, nil)
}

func (s *Server) referralViewRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	ref, lerr := s.Referrals.Get(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "转介", nil, lerr)
		return
	}
	d := referralViewData{R: ref, Addressee: u.Can(auth.ReferralAnswer), Township: u.Can(auth.ReferralWrite)}
	s.render(w, r, http.StatusOK, "referral_view", "转介 "+ref.No, d, err)
}

func (s *Server) referralAnswer(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	id, version := pathID(r, "id"), formInt(r, "version")
	var err error
	switch r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:] {
	case "accept":
		_, err = s.Referrals.Accept(r.Context(), u, id, version)
	case "decline":
		_, err = s.Referrals.Decline(r.Context(), u, id, version, r.PostFormValue("reason"))
	case "close":
		in := referral.CloseInput{Version: version, Outcome: r.PostFormValue("outcome"), Note: r.PostFormValue("note")}
		if a := strings.TrimSpace(r.PostFormValue("amount")); a != "" {
			f, perr := money.Parse(a)
			if perr != nil {
				err = apperr.Invalid("amount", "invalid_amount", "金额格式不正确，请填写元，例如 3200 或 3200.50")
			}
			in.AmountFen = int64(f)
		}
		if err == nil {
			_, err = s.Referrals.Close(r.Context(), u, id, in)
		}
	}
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Status == http.StatusForbidden {
			s.render(w, r, http.StatusOK, "error", "转介办理", nil, err)
			return
		}
		s.referralViewRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/referrals/%d?ok=saved", id), http.StatusSeeOther)
}

type partnerData struct {
	Org    *referral.Org
	List   []*referral.Referral
	Status string
}

func (s *Server) partnerInbox(w http.ResponseWriter, r *http.Request) {
	d := partnerData{Status: r.URL.Query().Get("status")}
	if _, set := r.URL.Query()["status"]; !set {
		d.Status = "open"
	}
	var err error
	d.Org, d.List, err = s.Referrals.Inbox(r.Context(), currentUser(r), referral.Filter{Status: d.Status})
	s.render(w, r, http.StatusOK, "partner_list", "转介办理", d, err)
}

type referralOrgsData struct {
	List     []*referral.Org
	Counties []*region.Region // where the user may add organisations
	County   string
	Vocab    referralVocab
	CanKeep  bool
}

func (s *Server) referralOrgs(w http.ResponseWriter, r *http.Request) {
	s.referralOrgsRender(w, r, nil)
}

func (s *Server) referralOrgsRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	if !u.Can(auth.ReferralOrgs) && !u.Can(auth.ReferralRead) {
		s.render(w, r, http.StatusForbidden, "error", "无权访问", nil, apperr.Forbidden("您的角色没有此项操作权限。"))
		return
	}
	d := referralOrgsData{County: r.URL.Query().Get("county"), Vocab: refVocab, CanKeep: u.Can(auth.ReferralOrgs)}
	list, lerr := s.Referrals.Orgs(r.Context(), u, referral.OrgFilter{County: d.County})
	if err == nil {
		err = lerr
	}
	d.List = list
	if d.CanKeep {
		d.Counties = s.countiesUnder(u.Region)
	}
	s.render(w, r, http.StatusOK, "referral_orgs", "协同单位", d, err)
}

// countiesUnder lists the counties at or under code.
func (s *Server) countiesUnder(code string) []*region.Region {
	n, ok := s.Tree.Get(code)
	if !ok {
		return nil
	}
	switch n.Level {
	case region.County:
		return []*region.Region{n}
	case region.City:
		return s.Tree.Children(n.Code)
	case region.Province:
		var out []*region.Region
		for _, c := range s.Tree.Children(n.Code) {
			out = append(out, s.Tree.Children(c.Code)...)
		}
		return out
	}
	return nil
}

func orgInput(r *http.Request) referral.OrgInput {
	return referral.OrgInput{County: r.PostFormValue("county"), Name: r.PostFormValue("name"), Kind: r.PostFormValue("kind"), Department: r.PostFormValue("department"),
		Areas: r.PostForm["areas"], ContactName: r.PostFormValue("contact_name"), ContactPhone: r.PostFormValue("contact_phone"),
		AnswerDays: formInt(r, "answer_days"), Active: r.PostFormValue("active") != "", Version: formInt(r, "version")}
}

func (s *Server) referralOrgCreate(w http.ResponseWriter, r *http.Request) {
	o, err := s.Referrals.CreateOrg(r.Context(), currentUser(r), orgInput(r))
	if err != nil {
		s.referralOrgsRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/referrals/orgs/%d?ok=created", o.ID), http.StatusSeeOther)
}

type referralOrgData struct {
	O          *referral.Org
	Candidates []referral.Candidate
	Vocab      referralVocab
	CanKeep    bool
}

func (s *Server) referralOrgView(w http.ResponseWriter, r *http.Request) {
	s.referralOrgRender(w, r, nil)
}

func (s *Server) referralOrgRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	if !u.Can(auth.ReferralOrgs) && !u.Can(auth.ReferralRead) {
		s.render(w, r, http.StatusForbidden, "error", "无权访问", nil, apperr.Forbidden("您的角色没有此项操作权限。"))
		return
	}
	o, lerr := s.Referrals.Org(r.Context(), u, pathID(r, "id"))
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "协同单位", nil, lerr)
		return
	}
	d := referralOrgData{O: o, Vocab: refVocab, CanKeep: u.Can(auth.ReferralOrgs) && region.Within(u.Region, o.County)}
	if d.CanKeep {
		if d.Candidates, lerr = s.Referrals.Candidates(r.Context(), u, o.ID); lerr != nil && err == nil {
			err = lerr
		}
	}
	s.render(w, r, http.StatusOK, "referral_org", o.Name, d, err)
}

func (s *Server) referralOrgUpdate(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "id")
	if _, err := s.Referrals.UpdateOrg(r.Context(), currentUser(r), id, orgInput(r)); err != nil {
		s.referralOrgRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/referrals/orgs/%d?ok=saved", id), http.StatusSeeOther)
}

func (s *Server) referralOrgBind(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "id")
	if _, err := s.Referrals.Bind(r.Context(), currentUser(r), id, r.PostFormValue("username")); err != nil {
		s.referralOrgRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/referrals/orgs/%d?ok=saved", id), http.StatusSeeOther)
}

func (s *Server) referralOrgUnbind(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "id")
	if _, err := s.Referrals.Unbind(r.Context(), currentUser(r), id, pathID(r, "uid")); err != nil {
		s.referralOrgRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/referrals/orgs/%d?ok=saved", id), http.StatusSeeOther)
}

func (s *Server) referralStats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, err := s.Referrals.Stats(r.Context(), currentUser(r), referral.StatsQuery{Region: strings.TrimSpace(q.Get("region")), From: q.Get("from"), To: q.Get("to")})
	s.render(w, r, http.StatusOK, "referral_stats", "转介统计", st, err)
}
