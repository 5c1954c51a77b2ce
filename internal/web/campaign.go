package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/integrity"
)

func (s *Server) campaignRoutes(mux *http.ServeMux) {
	mux.Handle("GET /campaigns", s.auth("", s.campaignList))
	mux.Handle("POST /campaigns", s.auth(auth.CampaignRun, s.campaignOpen))
	mux.Handle("GET /campaigns/{id}", s.auth("", s.campaignView))
	mux.Handle("POST /campaigns/{id}/checks/{cid}", s.auth(auth.CaseAct, s.campaignCheck))
	mux.Handle("POST /campaigns/{id}/close", s.auth(auth.CampaignRun, s.campaignClose))
}

type campaignListData struct {
	Campaigns  []*integrity.Campaign
	CanOpen    bool
	Programmes any
	Lists      any
	Today      string
}

func (s *Server) campaignList(w http.ResponseWriter, r *http.Request) {
	s.campaignListRender(w, r, nil)
}

func (s *Server) campaignListRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	d := campaignListData{CanOpen: u.Can(auth.CampaignRun), Programmes: casework.Programmes, Lists: integrity.Lists, Today: todayCST().Format(time.DateOnly)}
	var lerr error
	d.Campaigns, lerr = s.Integrity.Campaigns(r.Context(), u)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "专项治理", nil, lerr)
		return
	}
	s.render(w, r, http.StatusOK, "campaign_list", "专项治理", d, err)
}

func (s *Server) campaignOpen(w http.ResponseWriter, r *http.Request) {
	seed := formID(r, "seed")
	in := integrity.CampaignInput{Name: r.PostFormValue("name"), Region: strings.TrimSpace(r.PostFormValue("region")), From: r.PostFormValue("period_from"),
		To: r.PostFormValue("period_to"), Programme: r.PostFormValue("programme"), List: r.PostFormValue("sample_list"), Percent: formInt(r, "percent"), Seed: seed}
	c, err := s.Integrity.OpenCampaign(r.Context(), currentUser(r), in)
	if err != nil {
		s.campaignListRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/campaigns/"+strconv.FormatInt(c.ID, 10)+"?ok=created", http.StatusSeeOther)
}

type campaignData struct {
	C        *integrity.Campaign
	Progress []integrity.Progress
	Cases    []integrity.Sampled
	Results  any
	Labels   map[string]string
	CanCheck bool
	CanClose bool
}

func (s *Server) campaignView(w http.ResponseWriter, r *http.Request) { s.campaignRender(w, r, nil) }

func (s *Server) campaignRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	id := pathID(r, "id")
	c, lerr := s.Integrity.Campaign(r.Context(), u, id)
	d := campaignData{C: c, Results: integrity.Results, Labels: map[string]string{}}
	if lerr == nil {
		d.Progress, lerr = s.Integrity.Progress(r.Context(), u, id)
	}
	if lerr == nil {
		d.Cases, lerr = s.Integrity.Cases(r.Context(), u, id)
	}
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "专项治理", nil, lerr)
		return
	}
	for _, x := range integrity.Results {
		d.Labels[x.Value] = x.Label
	}
	d.CanCheck = c.State == "open" && u.Can(auth.CaseAct)
	d.CanClose = c.State == "open" && u.Can(auth.CampaignRun) && strings.HasPrefix(c.Region, u.Scope())
	s.render(w, r, http.StatusOK, "campaign", c.Name, d, err)
}

func (s *Server) campaignCheck(w http.ResponseWriter, r *http.Request) {
	err := s.Integrity.RecordCheck(r.Context(), currentUser(r), pathID(r, "cid"), formInt(r, "version"), r.PostFormValue("result"), r.PostFormValue("note"))
	if err != nil {
		s.campaignRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/campaigns/"+r.PathValue("id")+"?ok=saved", http.StatusSeeOther)
}

func (s *Server) campaignClose(w http.ResponseWriter, r *http.Request) {
	if err := s.Integrity.CloseCampaign(r.Context(), currentUser(r), pathID(r, "id"), r.PostFormValue("note")); err != nil {
		s.campaignRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/campaigns/"+r.PathValue("id")+"?ok=saved", http.StatusSeeOther)
}
