// Package discovery turns department events (deaths, births, hospital
// costs, disability certificates, unemployment, prison releases, purchases,
// business registrations) into two worklists per township: people who
// should be helped and recipients who should be reviewed or stopped.
//
// Events arrive by file (one layout per kind, layouts.go) or as a JSON batch,
// all-or-nothing with a per-row report. ID numbers are kept only as the
// registry's HMAC-SM3 hash, sealed with SM4 and masked. A rule run (rules.go)
// is a few set-based statements per rule; an item is keyed by its rule and
// source event, so re-sent events and re-runs never duplicate it.
package discovery

import (
	"context"
	"log/slog"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
)

// Params resolves dated regional rule parameters (policydb.Store); the
// low-income line of the unemployment rule comes from it.
type Params interface {
	Resolve(ctx context.Context, name, regionCode string, date time.Time) (policy.Value, error)
}

// Service owns the discovery_* tables.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Calendar *calendar.Calendar
	Log      *slog.Logger
	// Params gives the dibao standards and the marginal multiple; without it
	// the province's 2019 rural standard and 1.5 are used.
	Params Params
	Now    func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// today is the office's date in China.
func (s *Service) today() time.Time {
	y, m, d := s.now().In(calendar.China).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
