// Package discovery turns department events (deaths, births, hospital
// costs, disability certificates, unemployment, prison releases, purchases,
// business registrations) into two worklists per township: people who
// should be helped and recipients who should be reviewed or stopped.
package discovery

import (
	"log/slog"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the discovery_* tables.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Calendar *calendar.Calendar
	Log      *slog.Logger
}
