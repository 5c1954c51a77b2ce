package web

import "net/http"

func (s *Server) referralRoutes(mux *http.ServeMux) {}
