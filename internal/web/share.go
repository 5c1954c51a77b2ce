package web

import "net/http"

func (s *Server) shareRoutes(mux *http.ServeMux) {}
