package verify

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
)

// Params resolves dated regional rule parameters (policydb.Store).
type Params interface {
	Resolve(ctx context.Context, name, regionCode string, date time.Time) (policy.Value, error)
}

// Service is the verification platform.
type Service struct {
	DB       *db.DB
	Tree     *region.Tree
	Keys     *crypt.Keys
	Params   Params
	Calendar *calendar.Calendar
	// StoreDir holds the imported extracts (hashed, sealed). With several
	// application servers it must be a shared folder.
	StoreDir string
	Now      func() time.Time

	once sync.Once
	st   *store
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

// today is the date in China, where offices' dates are.
func (s *Service) today() string { return s.now().In(calendar.China).Format(time.DateOnly) }

func (s *Service) files() *store {
	s.once.Do(func() { s.st = newStore(s.StoreDir) })
	return s.st
}

// current lists the extracts in force, optionally only of some sources.
func (s *Service) current(ctx context.Context, q db.Querier, sources []string) ([]extractRef, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, source, provider, data_date, stored, rows, imported_at FROM verify_extracts
		WHERE status = 'current' ORDER BY source, provider`)
	if err != nil {
		return nil, fmt.Errorf("verify: extracts: %w", err)
	}
	defer rows.Close()
	var out []extractRef
	for rows.Next() {
		var e extractRef
		if err := rows.Scan(&e.ID, &e.Source, &e.Provider, &e.DataDate, &e.Stored, &e.Rows, &e.Imported); err != nil {
			return nil, err
		}
		if len(sources) == 0 || slices.Contains(sources, e.Source) {
			out = append(out, e)
		}
	}
	return out, rows.Err()
}

// ExtractFiles are the paths of the extracts in force.
func (s *Service) ExtractFiles(ctx context.Context) ([]string, error) {
	refs, err := s.current(ctx, s.DB, nil)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(refs))
	for i, e := range refs {
		paths[i] = s.files().path(e.Stored)
	}
	return paths, nil
}

// limitsCache resolves Limits once per village, hukou and date.
type limitsCache struct {
	s    *Service
	date time.Time
	m    map[string]Limits
}

func (s *Service) newLimits(date time.Time) *limitsCache {
	return &limitsCache{s: s, date: date, m: map[string]Limits{}}
}

func (c *limitsCache) get(ctx context.Context, regionCode, hukou string) (Limits, error) {
	key := regionCode + hukou
	if l, ok := c.m[key]; ok {
		return l, nil
	}
	val := func(name string) (policy.Value, error) { return c.s.Params.Resolve(ctx, name, regionCode, c.date) }
	var l Limits
	for _, p := range []struct {
		name string
		set  func(policy.Value)
	}{
		{"dibao.standard.urban", func(v policy.Value) { l.UrbanStandardFen = v.Int }},
		{"dibao.standard." + hukou, func(v policy.Value) { l.StandardFen = v.Int }},
		{"dibao.assets.financial_multiple", func(v policy.Value) { l.FinancialMonths = v.Ratio }},
		{"dibao.assets.vehicle_multiple", func(v policy.Value) { l.VehicleMultiple = v.Ratio }},
		{"dibao.assets.max_houses", func(v policy.Value) { l.MaxHouses = v.Int }},
		{"dibao.assets.business_capital_limit", func(v policy.Value) { l.BusinessCapital = v.Int }},
	} {
		v, err := val(p.name)
		if err != nil {
			return l, fmt.Errorf("verify: parameter %s for %s: %w", p.name, regionCode, err)
		}
		p.set(v)
	}
	c.m[key] = l
	return l, nil
}

// scalar runs a one-value query.
func scalar[T any](ctx context.Context, q db.Querier, query string, args ...any) (T, error) {
	var v T
	err := q.QueryRowContext(ctx, query, args...).Scan(&v)
	if err == sql.ErrNoRows {
		return v, nil
	}
	return v, err
}
