package web

import "net/http"

func (s *Server) discoveryRoutes(mux *http.ServeMux) {}
