package web

import (
	"net/http"
	"strconv"

	"jiuzhu/internal/calendar/calendardb"
)

type calendarData struct {
	Years []int
	Next  int
}

func (s *Server) calendarPage(w http.ResponseWriter, r *http.Request) { s.calendarRender(w, r, nil) }

func (s *Server) calendarRender(w http.ResponseWriter, r *http.Request, err error) {
	ys := s.Calendar.Years()
	d := calendarData{Years: ys}
	if len(ys) > 0 {
		d.Next = ys[len(ys)-1] + 1
	}
	s.render(w, r, http.StatusOK, "calendar", "节假日安排", d, err)
}

func (s *Server) calendarAdd(w http.ResponseWriter, r *http.Request) {
	year, _ := strconv.Atoi(r.PostFormValue("year"))
	if err := calendardb.AddYear(r.Context(), s.Auth.DB, s.Calendar, currentUser(r), year, r.PostFormValue("rows")); err != nil {
		s.calendarRender(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/calendar?ok=calendar", http.StatusSeeOther)
}
