// Package referral carries the township's one door to the member
// departments and social organisations: a household's needs in the eight
// areas of help, each referred to an organisation on the county's list,
// accepted, acted on and closed with an outcome.
package referral

import (
	"log/slog"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the referral_* tables.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Calendar *calendar.Calendar
	Log      *slog.Logger
}
