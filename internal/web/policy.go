package web

import "net/http"

// policyRoutes registers the pages of the rules and standards.
func (s *Server) policyRoutes(mux *http.ServeMux) {}
