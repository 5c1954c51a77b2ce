package web

import (
	"net/http"
	"net/url"
	"strings"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/online"
	"jiuzhu/internal/region"
)

// The citizen's pages (只跑一次): apply online, follow the application. No
// login; the standard library's cross-origin protection guards the forms.

type regionGroup struct {
	Label   string
	Options []regionOption
}

type applyData struct {
	Counties   []regionGroup
	County     string // the chosen county's code
	CountyName string
	Villages   []regionGroup // townships with their villages
	Programmes any
	MaxFiles   int
	Receipt    *online.Receipt
	Status     *online.PublicStatus
	No         string
}

func (s *Server) applyData(county string) applyData {
	d := applyData{Programmes: casework.Programmes, MaxFiles: online.MaxFiles}
	for _, city := range s.Tree.Children(s.Tree.Root.Code) {
		g := regionGroup{Label: city.Name}
		for _, c := range s.Tree.Children(city.Code) {
			g.Options = append(g.Options, regionOption{c.Code, c.Name})
		}
		d.Counties = append(d.Counties, g)
	}
	if c, ok := s.Tree.Get(county); ok && c.Level == region.County {
		d.County, d.CountyName = c.Code, s.Tree.FullName(c.Code)
		for _, t := range s.Tree.Children(c.Code) {
			g := regionGroup{Label: t.Name}
			for _, v := range s.Tree.Children(t.Code) {
				g.Options = append(g.Options, regionOption{v.Code, t.Name + " " + v.Name})
			}
			d.Villages = append(d.Villages, g)
		}
	}
	return d
}

func (s *Server) applyForm(w http.ResponseWriter, r *http.Request) {
	county := r.URL.Query().Get("county")
	r.Form = url.Values{"county": {county}}
	s.render(w, r, http.StatusOK, "apply", "网上申请社会救助", s.applyData(county), nil)
}

func (s *Server) applySubmit(w http.ResponseWriter, r *http.Request) {
	vals, files, err := online.ReadForm(w, r)
	var rc *online.Receipt
	if err == nil {
		rc, err = s.Online.Submit(r.Context(), online.FromValues(vals, files), clientIP(r))
	}
	if err == nil {
		r.Form = nil
		s.render(w, r, http.StatusOK, "apply_done", "申请已提交", applyData{Receipt: rc}, nil)
		return
	}
	// keep what was typed, except the ID number (never shown back) and the files
	vals.Del("id_number")
	county := vals.Get("county")
	if reg := vals.Get("region"); county == "" && len(reg) >= 6 {
		county = region.Pad(reg[:6])
	}
	r.Form = vals
	s.render(w, r, http.StatusOK, "apply", "网上申请社会救助", s.applyData(county), err)
}

func (s *Server) applyStatusForm(w http.ResponseWriter, r *http.Request) {
	r.Form = url.Values{"no": {r.URL.Query().Get("no")}}
	s.render(w, r, http.StatusOK, "apply_status", "查询申请进度", applyData{}, nil)
}

// applyStatus looks an application up by number and code. The code travels in
// a POST body, never in an address.
func (s *Server) applyStatus(w http.ResponseWriter, r *http.Request) {
	no := strings.TrimSpace(r.PostFormValue("no"))
	st, err := s.Online.Status(r.Context(), no, r.PostFormValue("code"), clientIP(r))
	d := applyData{Status: st, No: no}
	r.Form = url.Values{"no": {no}}
	if err == nil {
		r.Form.Set("code", r.PostFormValue("code"))
	}
	s.render(w, r, http.StatusOK, "apply_status", "查询申请进度", d, err)
}

func (s *Server) applySupplement(w http.ResponseWriter, r *http.Request) {
	vals, files, err := online.ReadForm(w, r)
	no, code := strings.TrimSpace(vals.Get("no")), vals.Get("code")
	if err == nil {
		err = s.Online.Supplement(r.Context(), no, code, clientIP(r), files)
	}
	var st *online.PublicStatus
	if e, ok := apperr.As(err); err == nil || ok && e.Code != "not_found" && e.Code != "rate_limited" {
		st, _ = s.Online.Status(r.Context(), no, code, clientIP(r))
	}
	r.Form = url.Values{"no": {no}}
	if st != nil {
		r.Form.Set("code", code)
	}
	if err == nil {
		r.URL.RawQuery = "ok=online_supplemented"
	}
	s.render(w, r, http.StatusOK, "apply_status", "查询申请进度", applyData{Status: st, No: no}, err)
}
