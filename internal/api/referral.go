package api

import "net/http"

func (a *API) referralRoutes(mux *http.ServeMux) {}
