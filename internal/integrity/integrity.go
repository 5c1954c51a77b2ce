// Package integrity computes the anomaly lists for discipline inspectors and
// county leaders, records the inspectors' decisions on them, and runs
// special campaigns that sample cases for re-checking.
package integrity

import (
	"log/slog"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// Service owns the integrity_* and campaign_* tables.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Calendar *calendar.Calendar
	Payroll  *payroll.Service
	Credit   *credit.Service
	Log      *slog.Logger
}
