package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
)

// province is a synthetic province in a scratch PostgreSQL schema: the
// registry at a scale and an approved case for every programme tag, paying
// from January 2026.
type province struct {
	DB       *db.DB
	Tree     *region.Tree
	Opts     gen.Options
	Registry gen.Stats
	Seeded   payroll.SeedStats
	close    func()
}

func (p *province) Close() { p.close() }

// newProvince builds it; name prefixes the scratch schema and the errors.
func newProvince(ctx context.Context, name, dbURL string, scale float64, keys *crypt.Keys, now time.Time) (*province, error) {
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return nil, errors.New("bench " + name + ": needs a PostgreSQL database (-db postgres://...): the baseline runs on PostgreSQL")
	}
	url, drop, err := db.Scratch(ctx, dbURL, "bench_"+name)
	if err != nil {
		return nil, err
	}
	p := &province{close: drop}
	fail := func(err error) (*province, error) {
		p.Close()
		return nil, fmt.Errorf("bench %s: %w", name, err)
	}
	if p.DB, err = db.Open(ctx, url); err != nil {
		return fail(err)
	}
	p.close = func() { p.DB.Close(); drop() }
	if _, err := p.DB.Migrate(ctx); err != nil {
		return fail(err)
	}
	if p.Tree, err = region.Load(); err != nil {
		return fail(err)
	}
	if _, err := p.Tree.Store(ctx, p.DB); err != nil {
		return fail(err)
	}
	p.Opts = gen.Options{Scale: scale, Seed: 1, Now: now}
	if p.Registry, err = gen.Load(ctx, p.DB, p.Tree, keys, p.Opts); err != nil {
		return fail(err)
	}
	if p.Seeded, err = payroll.SeedEntitlements(ctx, p.DB, p.Tree, p.Opts, "2026-01"); err != nil {
		return fail(err)
	}
	// plans made before autovacuum catches up with the bulk load would
	// measure the planner's guesswork, not the work
	if _, err := p.DB.ExecContext(ctx, `ANALYZE`); err != nil {
		return fail(err)
	}
	return p, nil
}
