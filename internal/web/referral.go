package web

import (
	"context"
	"net/http"

	"jiuzhu/internal/auth"
)

func (s *Server) referralRoutes(mux *http.ServeMux) {}

// householdHelp is the household page's section on needs, referrals and help received.
type householdHelp struct{}

func (s *Server) householdHelp(ctx context.Context, u *auth.User, householdID int64) (*householdHelp, error) {
	return nil, nil
}
