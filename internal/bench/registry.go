// Package bench measures the platform against a baseline taken in the same run
// on the same server (DESIGN.md §10): the registry load against plain
// PostgreSQL COPY, and the registry's lookups and household page under load.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
)

// Sizes of the query benchmarks.
const (
	lookups       = 10_000
	pageUsers     = 20
	pagesPerUser  = 50
	lookupTarget  = 5 * time.Millisecond
	pageTarget    = 50 * time.Millisecond
	loadRatioGoal = 1.5
)

// registryTables are loaded in foreign-key order.
// registryTables are the tables gen.Load fills, in foreign-key order: the
// baseline copies exactly these.
var registryTables = []string{"households", "persons", "supporters", "bank_accounts", "person_incomes", "household_assets"}

// Registry loads a synthetic province at scale into a fresh schema with
// gen.Load and compares it with plain COPY of the same rows from CSV files
// into a second fresh schema; then it times ID-number lookups and the
// household page under 20 concurrent users on the loaded registry. It prints
// each figure and ends with one line
//
//	RESULT registry ours=<seconds> baseline=<seconds> ratio=<ours/baseline>
//
// The schemas are dropped at the end.
func Registry(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return errors.New("bench registry: needs a PostgreSQL database (-db postgres://...): it compares against PostgreSQL's own COPY")
	}
	tree, err := region.Load()
	if err != nil {
		return err
	}
	keys, err := randomKeys()
	if err != nil {
		return err
	}
	admin, err := db.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("bench registry: %w", err)
	}
	defer admin.Close()
	ours, dropOurs, err := db.Scratch(ctx, dbURL, "bench_registry_ours")
	if err != nil {
		return err
	}
	defer dropOurs()
	baseline, dropBaseline, err := db.Scratch(ctx, dbURL, "bench_registry_copy")
	if err != nil {
		return err
	}
	defer dropBaseline()

	// (a) our load path
	d, err := openSchema(ctx, ours, tree)
	if err != nil {
		return err
	}
	defer d.Close()
	opts := gen.Options{Scale: scale, Seed: 1, Now: time.Now().UTC(), Progress: progressPrinter(w)}
	checkpoint(ctx, admin)
	start := time.Now()
	st, err := gen.Load(ctx, d, tree, keys, opts)
	if err != nil {
		return fmt.Errorf("bench registry: %w", err)
	}
	oursTime := time.Since(start)
	fmt.Fprintf(w, "province at scale %g: %d households, %d persons, %d supporters, %d bank accounts\n",
		scale, st.Households, st.Persons, st.Supporters, st.BankAccounts)
	fmt.Fprintf(w, "load, ours (gen.Load: generate, hash, encrypt, COPY): %d rows in %.2f s = %.0f rows/s\n",
		st.Rows(), oursTime.Seconds(), float64(st.Rows())/oursTime.Seconds())

	// (b) baseline: the same rows as CSV, loaded with plain COPY
	baseTime, err := copyBaseline(ctx, d, baseline, tree)
	if err != nil {
		return err
	}
	ratio := oursTime.Seconds() / baseTime.Seconds()
	fmt.Fprintf(w, "load, baseline (COPY ... FROM STDIN WITH (FORMAT csv) of the same rows): %d rows in %.2f s = %.0f rows/s\n",
		st.Rows(), baseTime.Seconds(), float64(st.Rows())/baseTime.Seconds())
	fmt.Fprintf(w, "load ratio ours/baseline: %.2f (target ≤ %.1f)\n", ratio, loadRatioGoal)

	if _, err := d.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("bench registry: analyze: %w", err)
	}
	// (c) lookups by ID number
	sample, err := samplePersons(ctx, tree, opts)
	if err != nil {
		return err
	}
	p50, p99, err := timeLookups(ctx, d, keys, sample)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "lookup by ID number (HMAC + indexed query), %d lookups: p50 %s, p99 %s (target p99 < %s)\n",
		lookups, ms(p50), ms(p99), ms(lookupTarget))

	// (d) household page under concurrent users
	p50, p99, err = timePages(ctx, d, keys, tree)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "household page (registry.Service.Household), %d users × %d: p50 %s, p99 %s (target p99 < %s)\n",
		pageUsers, pagesPerUser, ms(p50), ms(p99), ms(pageTarget))

	fmt.Fprintf(w, "RESULT registry ours=%.3f baseline=%.3f ratio=%.2f\n", oursTime.Seconds(), baseTime.Seconds(), ratio)
	return nil
}

func randomKeys() (*crypt.Keys, error) {
	sk, mk := make([]byte, 16), make([]byte, 32)
	rand.Read(sk)
	rand.Read(mk)
	return crypt.New(hex.EncodeToString(sk), hex.EncodeToString(mk))
}

// openSchema opens a scratch schema (db.Scratch) and creates the tables and
// the region tree in it.
func openSchema(ctx context.Context, url string, tree *region.Tree) (*db.DB, error) {
	d, err := db.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if _, err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("bench: migrate: %w", err)
	}
	if _, err := tree.Store(ctx, d); err != nil {
		d.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return d, nil
}

// checkpoint flushes dirty pages so that a timed load does not pay for the
// writes before it; it needs superuser rights and is skipped without.
func checkpoint(ctx context.Context, d *db.DB) {
	_, _ = d.ExecContext(ctx, `CHECKPOINT`)
}

// copyBaseline writes the loaded tables to CSV files and times plain COPY of
// those files into a fresh schema with the same tables and indexes. Only the
// COPY is timed.
func copyBaseline(ctx context.Context, loaded *db.DB, url string, tree *region.Tree) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "jiuzhu-bench-")
	if err != nil {
		return 0, fmt.Errorf("bench registry: %w", err)
	}
	defer os.RemoveAll(dir)
	src, err := loaded.Pool().Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench registry: %w", err)
	}
	for _, t := range registryTables {
		err := withFile(filepath.Join(dir, t+".csv"), os.Create, func(f *os.File) error {
			_, err := src.Conn().PgConn().CopyTo(ctx, f, `COPY `+t+` TO STDOUT WITH (FORMAT csv)`)
			return err
		})
		if err != nil {
			src.Release()
			return 0, fmt.Errorf("bench registry: write %s.csv: %w", t, err)
		}
	}
	src.Release()

	d, err := openSchema(ctx, url, tree)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	conn, err := d.Pool().Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench registry: %w", err)
	}
	defer conn.Release()
	checkpoint(ctx, d)
	start := time.Now()
	for _, t := range registryTables {
		err := withFile(filepath.Join(dir, t+".csv"), os.Open, func(f *os.File) error {
			_, err := conn.Conn().PgConn().CopyFrom(ctx, f, `COPY `+t+` FROM STDIN WITH (FORMAT csv)`)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("bench registry: copy %s: %w", t, err)
		}
	}
	// gen.Load ends with fresh statistics; so does the baseline, to be ready to query alike
	if _, err := d.ExecContext(ctx, `ANALYZE `+strings.Join(registryTables, ", ")); err != nil {
		return 0, fmt.Errorf("bench registry: analyze: %w", err)
	}
	return time.Since(start), nil
}

func withFile(path string, open func(string) (*os.File, error), fn func(*os.File) error) error {
	f, err := open(path)
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// person is a lookup target: an ID number and the county a caseworker there
// would search in.
type person struct{ id, scope string }

// samplePersons runs the generator again (it is deterministic) and keeps a
// uniform sample of the loaded persons' ID numbers.
func samplePersons(ctx context.Context, tree *region.Tree, opts gen.Options) ([]person, error) {
	opts.Progress = nil
	g, err := gen.New(opts, tree)
	if err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	var sample []person
	seen := 0
	for h, err := range g.All(ctx) {
		if err != nil {
			return nil, err
		}
		for _, p := range h.Members {
			seen++
			// Reservoir sampling: every person has the same chance to be kept.
			if len(sample) < lookups {
				sample = append(sample, person{p.IDNumber, h.Region[:6]})
			} else if i := rng.IntN(seen); i < lookups {
				sample[i] = person{p.IDNumber, h.Region[:6]}
			}
		}
	}
	if len(sample) == 0 {
		return nil, errors.New("bench registry: the province is empty; raise the scale")
	}
	return sample, nil
}

// timeLookups finds persons by ID number as the registry does: hash, then an
// indexed query limited to the caller's scope.
func timeLookups(ctx context.Context, d *db.DB, keys *crypt.Keys, sample []person) (p50, p99 time.Duration, err error) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	times := make([]time.Duration, lookups)
	for i := range times {
		p := sample[rng.IntN(len(sample))]
		start := time.Now()
		var id int64
		var name string
		if err := d.QueryRowContext(ctx, `SELECT id, name FROM persons WHERE id_hmac = $1 AND region_code LIKE $2 || '%'`,
			keys.Hash(p.id), p.scope).Scan(&id, &name); err != nil {
			return 0, 0, fmt.Errorf("bench registry: lookup: %w", err)
		}
		times[i] = time.Since(start)
	}
	p50, p99 = percentiles(times)
	return p50, p99, nil
}

// caller is a province-level user for the household page.
type caller struct{}

func (caller) Scope() string { return "36" }
func (caller) Actor() audit.Actor {
	return audit.Actor{Username: "bench", Role: "province_supervisor", Region: "360000000000"}
}

// timePages loads random households through the registry service, as the
// household page does, from concurrent users.
func timePages(ctx context.Context, d *db.DB, keys *crypt.Keys, tree *region.Tree) (p50, p99 time.Duration, err error) {
	var lo, hi int64
	if err := d.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM households`).Scan(&lo, &hi); err != nil {
		return 0, 0, fmt.Errorf("bench registry: household ids: %w", err)
	}
	svc := &registry.Service{DB: d, Keys: keys, Tree: tree}
	// A first, untimed round opens the users' connections: the figures are
	// for a running server, not for its first requests.
	for _, n := range []int{1, pagesPerUser} {
		times := make([]time.Duration, pageUsers*n)
		errs := make([]error, pageUsers)
		var wg sync.WaitGroup
		for u := range pageUsers {
			wg.Go(func() {
				rng := mrand.New(mrand.NewPCG(uint64(n), uint64(u)))
				for i := range n {
					id := lo + rng.Int64N(hi-lo+1)
					start := time.Now()
					if _, err := svc.Household(ctx, caller{}, id); err != nil {
						errs[u] = fmt.Errorf("bench registry: household %d: %w", id, err)
						return
					}
					times[u*n+i] = time.Since(start)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return 0, 0, err
		}
		p50, p99 = percentiles(times)
	}
	return p50, p99, nil
}

func percentiles(times []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	return at(0.50), at(0.99)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// progressPrinter prints the load's progress every 20%.
func progressPrinter(w io.Writer) func(done, total int64) {
	next := int64(20)
	return func(done, total int64) {
		if total > 0 && done*100/total >= next {
			fmt.Fprintf(w, "  loading: %d%% (%d of %d rows)\n", done*100/total, done, total)
			next = done*100/total/20*20 + 20
		}
	}
}
