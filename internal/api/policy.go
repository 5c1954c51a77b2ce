package api

import "net/http"

// policyRoutes registers the calculation and parameter endpoints.
func (a *API) policyRoutes(mux *http.ServeMux) {}
