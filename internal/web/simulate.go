package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/reform"
	"jiuzhu/internal/region"
)

type simulateData struct {
	Names  []string
	Report *reform.Report
}

func (s *Server) simulateForm(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	next := today().AddDate(0, 1, 0)
	r.Form = url.Values{"param": {"dibao.standard.urban"}, "region": {s.scheduleRegion(u)},
		"from": {time.Date(next.Year(), next.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)}}
	s.render(w, r, http.StatusOK, "simulate", "调标测算", simulateData{Names: s.Policy.Base.Names()}, nil)
}

// simulateSubmit runs a reform simulation over the households the user may
// see. The run reads personal data in bulk, so it is audited as one entry.
func (s *Server) simulateSubmit(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	d := simulateData{Names: s.Policy.Base.Names()}
	rep, err := s.simulate(r, u.Region, u.Scope())
	if err == nil {
		d.Report = rep
		err = audit.Record(r.Context(), s.Policy.DB, u.Actor(), "policy.simulate", "policy", rep.Parameter, region.Pad(rep.Region),
			map[string]any{"value": rep.ValueAfter, "from": rep.From, "date": rep.Date, "households": rep.Households})
	}
	s.render(w, r, http.StatusOK, "simulate", "调标测算", d, err)
}

func (s *Server) simulate(r *http.Request, userRegion, scope string) (*reform.Report, error) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	from, err := time.Parse(time.DateOnly, f("from"))
	if err != nil {
		return nil, apperr.Invalid("from", "invalid_date", "起始日期格式不正确，应为 YYYY-MM-DD")
	}
	var date time.Time
	if f("date") != "" {
		if date, err = time.Parse(time.DateOnly, f("date")); err != nil {
			return nil, apperr.Invalid("date", "invalid_date", "测算日期格式不正确，应为 YYYY-MM-DD")
		}
	}
	node, ok := s.Tree.Get(f("region"))
	if !ok {
		return nil, apperr.Invalid("region", "unknown_region", "行政区划代码不存在："+f("region"))
	}
	if !region.Within(userRegion, node.Code) && !region.Within(node.Code, userRegion) {
		return nil, apperr.Forbidden("所选地区不在您的管辖范围内")
	}
	current, err := s.Policy.Effective(r.Context())
	if err != nil {
		return nil, err
	}
	rep, err := reform.Simulate(r.Context(), s.Registry, s.Tree, current,
		reform.Change{Name: f("param"), Value: f("value"), From: from, Region: node.Code}, reform.Options{Date: date, Scope: scope})
	var se *policy.ScheduleError
	switch {
	case errors.As(err, &se):
		return nil, apperr.Invalid(se.Field, "invalid_value", se.Message)
	case errors.Is(err, policy.ErrUnknownParameter):
		return nil, apperr.Invalid("param", "unknown_parameter", "参数不存在："+f("param"))
	case errors.Is(err, reform.ErrOutOfScope):
		return nil, apperr.Forbidden("所选地区不在您的管辖范围内")
	}
	return rep, err
}
