package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/institution"
	"jiuzhu/internal/region"
)

// Support institutions (供养机构) and the offices' service capacity (服务能力).

func (s *Server) institutionRoutes(mux *http.ServeMux) {
	mux.Handle("GET /institutions", s.auth(auth.InstitutionRead, s.institutionList))
	mux.Handle("POST /institutions", s.auth(auth.InstitutionWrite, s.institutionCreate))
	mux.Handle("GET /institutions/{id}", s.auth(auth.InstitutionRead, s.institutionView))
	mux.Handle("POST /institutions/{id}", s.auth(auth.InstitutionWrite, s.institutionUpdate))
	mux.Handle("POST /institutions/{id}/delete", s.auth(auth.InstitutionWrite, s.institutionDelete))
	mux.Handle("POST /institutions/{id}/beds", s.auth(auth.InstitutionWrite, s.institutionBedsAdd))
	mux.Handle("POST /institutions/{id}/beds/{bid}/remove", s.auth(auth.InstitutionWrite, s.institutionBedRemove))
	mux.Handle("POST /institutions/{id}/ratings", s.auth(auth.InstitutionWrite, s.institutionRate))
	mux.Handle("POST /institutions/{id}/inspections", s.auth(auth.InstitutionWrite, s.institutionInspect))
	mux.Handle("POST /institutions/{id}/inspections/{xid}/close", s.auth(auth.InstitutionWrite, s.institutionRectified))
	mux.Handle("POST /institutions/{id}/placements", s.auth(auth.InstitutionWrite, s.institutionAdmit))
	mux.Handle("POST /institutions/{id}/placements/{pid}/transfer", s.auth(auth.InstitutionWrite, s.institutionTransfer))
	mux.Handle("POST /institutions/{id}/placements/{pid}/discharge", s.auth(auth.InstitutionWrite, s.institutionDischarge))
	mux.Handle("GET /capacity", s.auth(auth.InstitutionRead, s.capacityPage))
	mux.Handle("POST /capacity/staff", s.auth(auth.InstitutionWrite, s.capacityStaff))
	mux.Handle("POST /capacity/ratio", s.auth(auth.InstitutionWrite, s.capacityRatio))
}

// institutionOptions are the code lists the forms offer.
type institutionOptions struct {
	Kinds, Operators, Statuses, Results []institution.Option
}

var instOptions = institutionOptions{institution.Kinds, institution.Operators, institution.Statuses, institution.Results}

type institutionListData struct {
	List     []*institution.Institution
	Kind     string
	Region   string
	Options  institutionOptions
	Regions  []*region.Region // where the caller may register one
	CanWrite bool
}

func (s *Server) institutionList(w http.ResponseWriter, r *http.Request) {
	s.institutionListRender(w, r, nil)
}

func (s *Server) institutionListRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	q := r.URL.Query()
	d := institutionListData{Kind: q.Get("kind"), Region: strings.TrimSpace(q.Get("region")), Options: instOptions, CanWrite: u.Can(auth.InstitutionWrite)}
	list, lerr := s.Institutions.List(r.Context(), u, institution.Filter{Kind: d.Kind, Region: d.Region})
	if err == nil {
		err = lerr
	}
	d.List = list
	if d.CanWrite {
		d.Regions = s.officeRegions(u.Region)
	}
	s.render(w, r, http.StatusOK, "institutions", "供养机构", d, err)
}

// officeRegions lists the counties and townships at or under code (for a
// province or city user, the counties only: a township is typed as a code).
func (s *Server) officeRegions(code string) []*region.Region {
	n, ok := s.Tree.Get(code)
	if !ok {
		return nil
	}
	var out []*region.Region
	switch n.Level {
	case region.Township:
		out = append(out, n)
	case region.County:
		out = append(out, n)
		out = append(out, s.Tree.Children(n.Code)...)
	case region.City:
		out = append(out, s.Tree.Children(n.Code)...)
	case region.Province:
		for _, c := range s.Tree.Children(n.Code) {
			out = append(out, s.Tree.Children(c.Code)...)
		}
	}
	return out
}

func institutionInput(r *http.Request) (institution.Input, error) {
	in := institution.Input{Kind: r.PostFormValue("kind"), Name: r.PostFormValue("name"), Region: strings.TrimSpace(r.PostFormValue("region")),
		Address: r.PostFormValue("address"), Operator: r.PostFormValue("operator"), Capacity: formInt(r, "capacity"), Carers: formInt(r, "carers"),
		Medical: formInt(r, "medical"), OtherStaff: formInt(r, "other_staff"), OpenedOn: strings.TrimSpace(r.PostFormValue("opened_on")),
		Status: r.PostFormValue("status"), Version: formInt(r, "version")}
	if b := strings.TrimSpace(r.PostFormValue("beds")); b != "" {
		beds, err := institution.ParseBeds(b)
		if err != nil {
			return in, err
		}
		in.Beds = beds
	}
	return in, nil
}

func (s *Server) institutionCreate(w http.ResponseWriter, r *http.Request) {
	in, err := institutionInput(r)
	if err == nil {
		var i *institution.Institution
		if i, err = s.Institutions.Create(r.Context(), currentUser(r), in); err == nil {
			http.Redirect(w, r, fmt.Sprintf("/institutions/%d?ok=created", i.ID), http.StatusSeeOther)
			return
		}
	}
	s.institutionListRender(w, r, err)
}

type institutionData struct {
	*institution.Detail
	Options    institutionOptions
	Candidates []institution.Candidate
	FreeBeds   []institution.Bed
	Others     []*institution.Institution // transfer targets
	Regions    []*region.Region
	Today      string
	CanWrite   bool
}

// Current lists the current residents' placements.
func (d institutionData) Current() []institution.Placement {
	var out []institution.Placement
	for _, p := range d.Placements {
		if p.Current() {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) institutionView(w http.ResponseWriter, r *http.Request) {
	s.institutionRender(w, r, nil)
}

func (s *Server) institutionRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	svc := s.Institutions
	id := pathID(r, "id")
	det, lerr := svc.Details(r.Context(), u, id)
	if lerr != nil {
		s.render(w, r, http.StatusOK, "error", "供养机构", nil, lerr)
		return
	}
	d := institutionData{Detail: det, Options: instOptions, Today: todayCST().Format("2006-01-02"), CanWrite: u.Can(auth.InstitutionWrite)}
	for _, b := range det.Beds {
		if !b.Occupied() {
			d.FreeBeds = append(d.FreeBeds, b)
		}
	}
	if d.CanWrite {
		if d.Candidates, lerr = svc.Candidates(r.Context(), u, id, 300); lerr != nil && err == nil {
			err = lerr
		}
		others, lerr := svc.List(r.Context(), u, institution.Filter{})
		if lerr != nil && err == nil {
			err = lerr
		}
		for _, o := range others {
			if o.Status == "open" {
				d.Others = append(d.Others, o)
			}
		}
		d.Regions = s.officeRegions(u.Region)
		found := false
		for _, reg := range d.Regions {
			found = found || reg.Code == det.Institution.Region
		}
		if reg, ok := s.Tree.Get(det.Institution.Region); ok && !found {
			d.Regions = append([]*region.Region{reg}, d.Regions...)
		}
	}
	if r.Method == http.MethodGet || r.PostFormValue("form") != "edit" {
		// the edit form starts from the stored values, unless it is what failed
		i := det.Institution
		r.Form = map[string][]string{"kind": {i.Kind}, "name": {i.Name}, "region": {i.Region}, "address": {i.Address}, "operator": {i.Operator},
			"capacity": {strconv.Itoa(i.Capacity)}, "carers": {strconv.Itoa(i.Carers)}, "medical": {strconv.Itoa(i.Medical)},
			"other_staff": {strconv.Itoa(i.OtherStaff)}, "opened_on": {i.OpenedOn}, "status": {i.Status}}
	}
	s.render(w, r, http.StatusOK, "institution", det.Institution.Name, d, err)
}

// institutionDone redirects back to the institution page, or shows it with
// the error.
func (s *Server) institutionDone(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.institutionRender(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/institutions/%d?ok=saved", pathID(r, "id")), http.StatusSeeOther)
}

func (s *Server) institutionUpdate(w http.ResponseWriter, r *http.Request) {
	in, err := institutionInput(r)
	if err == nil {
		_, err = s.Institutions.Update(r.Context(), currentUser(r), pathID(r, "id"), in)
	}
	s.institutionDone(w, r, err)
}

func (s *Server) institutionDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.Institutions.Delete(r.Context(), currentUser(r), pathID(r, "id"), formInt(r, "version")); err != nil {
		s.institutionRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/institutions?ok=saved", http.StatusSeeOther)
}

func (s *Server) institutionBedsAdd(w http.ResponseWriter, r *http.Request) {
	beds, err := institution.ParseBeds(r.PostFormValue("beds"))
	if err == nil {
		_, err = s.Institutions.AddBeds(r.Context(), currentUser(r), pathID(r, "id"), beds)
	}
	s.institutionDone(w, r, err)
}

func (s *Server) institutionBedRemove(w http.ResponseWriter, r *http.Request) {
	s.institutionDone(w, r, s.Institutions.RemoveBed(r.Context(), currentUser(r), pathID(r, "id"), pathID(r, "bid")))
}

func (s *Server) institutionRate(w http.ResponseWriter, r *http.Request) {
	_, err := s.Institutions.Rate(r.Context(), currentUser(r), pathID(r, "id"), institution.RatingInput{Stars: formInt(r, "stars"),
		RatedOn: strings.TrimSpace(r.PostFormValue("rated_on")), Assessor: r.PostFormValue("assessor"), Note: r.PostFormValue("note")})
	s.institutionDone(w, r, err)
}

func (s *Server) institutionInspect(w http.ResponseWriter, r *http.Request) {
	_, err := s.Institutions.Inspect(r.Context(), currentUser(r), pathID(r, "id"), institution.InspectionInput{
		InspectedOn: strings.TrimSpace(r.PostFormValue("inspected_on")), Inspector: r.PostFormValue("inspector"), Findings: r.PostFormValue("findings"),
		Result: r.PostFormValue("result"), Deadline: r.PostFormValue("deadline")})
	s.institutionDone(w, r, err)
}

func (s *Server) institutionRectified(w http.ResponseWriter, r *http.Request) {
	_, err := s.Institutions.CloseRectification(r.Context(), currentUser(r), pathID(r, "id"), pathID(r, "xid"), institution.Closure{
		Version: formInt(r, "version"), ClosedOn: strings.TrimSpace(r.PostFormValue("closed_on")), Note: r.PostFormValue("note")})
	s.institutionDone(w, r, err)
}

func (s *Server) institutionAdmit(w http.ResponseWriter, r *http.Request) {
	// a person number typed in wins over the list of people waiting
	person, _ := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("person_id")), 10, 64)
	if person == 0 {
		person, _ = strconv.ParseInt(r.PostFormValue("candidate"), 10, 64)
	}
	bed, _ := strconv.ParseInt(r.PostFormValue("bed_id"), 10, 64)
	_, err := s.Institutions.Admit(r.Context(), currentUser(r), pathID(r, "id"), institution.AdmitInput{PersonID: person, BedID: bed,
		AdmittedOn: strings.TrimSpace(r.PostFormValue("admitted_on")), Note: r.PostFormValue("note")})
	s.institutionDone(w, r, err)
}

func (s *Server) institutionTransfer(w http.ResponseWriter, r *http.Request) {
	to, _ := strconv.ParseInt(r.PostFormValue("to_institution"), 10, 64)
	_, err := s.Institutions.Transfer(r.Context(), currentUser(r), pathID(r, "id"), pathID(r, "pid"), institution.TransferInput{ToInstitution: to,
		ToBedNo: r.PostFormValue("to_bed_no"), On: strings.TrimSpace(r.PostFormValue("on")), Reason: r.PostFormValue("reason")})
	s.institutionDone(w, r, err)
}

func (s *Server) institutionDischarge(w http.ResponseWriter, r *http.Request) {
	_, err := s.Institutions.Discharge(r.Context(), currentUser(r), pathID(r, "id"), pathID(r, "pid"), institution.DischargeInput{
		On: strings.TrimSpace(r.PostFormValue("on")), Reason: r.PostFormValue("reason")})
	s.institutionDone(w, r, err)
}

// capacityRow is a capacity row ready to show.
type capacityRow struct {
	institution.CapacityRow
	Drill bool // has rows below
}

// PerWorkerText, ShareText format the figures.
func (c capacityRow) PerWorkerText() string {
	if c.Workers == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", c.PerWorker)
}

func (c capacityRow) ShareText() string {
	if !c.HasFunds || c.AssistanceFen == 0 && c.PurchasedFen == 0 {
		return "—"
	}
	if c.AssistanceFen == 0 {
		return "无救助支出"
	}
	return fmt.Sprintf("%.2f%%", c.SharePercent)
}

type capacityData struct {
	Node        capacityRow
	Rows        []capacityRow
	Ratio       institution.Ratio
	Year        int
	On          string
	Cap         int
	Offices     []*region.Region // where the caller may record staff
	History     []institution.Staffing
	CanWrite    bool
	CanSetRatio bool
	Up          string // the parent node, when inside the caller's region
}

func (s *Server) capacityPage(w http.ResponseWriter, r *http.Request) { s.capacityRender(w, r, nil) }

func (s *Server) capacityRender(w http.ResponseWriter, r *http.Request, err error) {
	u := currentUser(r)
	q := r.URL.Query()
	year, _ := strconv.Atoi(q.Get("year"))
	node := strings.TrimSpace(q.Get("region"))
	svc := s.Institutions
	c, lerr := svc.Capacity(r.Context(), u, node, year)
	if lerr != nil {
		if err == nil {
			err = lerr
		}
		c, lerr = svc.Capacity(r.Context(), u, "", 0)
		if lerr != nil {
			s.render(w, r, http.StatusOK, "error", "服务能力", nil, lerr)
			return
		}
	}
	d := capacityData{Node: capacityRow{c.Node, false}, Ratio: c.Ratio, Year: c.Year, On: c.On, Cap: institution.PurchasedServicesCapPercent,
		CanWrite: u.Can(auth.InstitutionWrite), CanSetRatio: u.Can(auth.InstitutionWrite) && region.LevelOf(u.Region) == region.Province}
	for _, row := range c.Rows {
		d.Rows = append(d.Rows, capacityRow{row, row.Level < region.Township})
	}
	if n, ok := s.Tree.Get(c.Node.Region); ok && n.Parent != "" && region.Within(u.Region, n.Parent) {
		d.Up = n.Parent
	}
	if d.CanWrite {
		for _, o := range s.officeRegions(c.Node.Region) {
			if region.Within(u.Region, o.Code) {
				d.Offices = append(d.Offices, o)
			}
		}
	}
	if lvl := region.LevelOf(c.Node.Region); lvl == region.County || lvl == region.Township {
		if d.History, lerr = svc.StaffHistory(r.Context(), u, c.Node.Region); lerr != nil && err == nil {
			err = lerr
		}
	}
	s.render(w, r, http.StatusOK, "capacity", "服务能力", d, err)
}

func (s *Server) capacityDone(w http.ResponseWriter, r *http.Request, err error) {
	back := url.QueryEscape(r.PostFormValue("back"))
	if err != nil {
		if back != "" {
			r.URL.RawQuery = "region=" + back
		}
		s.capacityRender(w, r, err)
		return
	}
	target := "/capacity?ok=saved"
	if back != "" {
		target += "&region=" + back
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) capacityStaff(w http.ResponseWriter, r *http.Request) {
	_, err := s.Institutions.RecordStaff(r.Context(), currentUser(r), institution.StaffInput{Region: strings.TrimSpace(r.PostFormValue("region")),
		AsOf: strings.TrimSpace(r.PostFormValue("as_of")), CivilServants: formInt(r, "civil_servants"), CareerStaff: formInt(r, "career_staff"),
		PurchasedWorkers: formInt(r, "purchased_workers"), Note: r.PostFormValue("note")})
	s.capacityDone(w, r, err)
}

func (s *Server) capacityRatio(w http.ResponseWriter, r *http.Request) {
	_, err := s.Institutions.SetRatio(r.Context(), currentUser(r), institution.RatioInput{RecipientsPerWorker: formInt(r, "recipients_per_worker"),
		StartOn: strings.TrimSpace(r.PostFormValue("start_on")), Reference: r.PostFormValue("reference")})
	s.capacityDone(w, r, err)
}
