package api

import "net/http"

func (a *API) integrityRoutes(mux *http.ServeMux) {}
