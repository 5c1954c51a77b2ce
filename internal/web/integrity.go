package web

import "net/http"

func (s *Server) integrityRoutes(mux *http.ServeMux) {}
