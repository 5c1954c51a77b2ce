package api

import "net/http"

func (a *API) discoveryRoutes(mux *http.ServeMux) {}
