package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/verify"
)

// Verify measures a batch re-check of every recipient of a synthetic province
// at scale against its department extracts, and the same matching done by
// PostgreSQL (COPY the extracts into a table, join on the ID hash).
func Verify(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	tmp, err := os.MkdirTemp("", "jiuzhu-bench-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	keys, err := crypt.LoadOrCreate(tmp)
	if err != nil {
		return err
	}
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	p, err := newProvince(ctx, "verify", dbURL, scale, keys, now)
	if err != nil {
		return err
	}
	defer p.Close()
	d, tree, opts := p.DB, p.Tree, p.Opts
	fmt.Fprintf(w, "registry: %d households, %d persons, entitlements seeded in %.1f s\n", p.Registry.Households, p.Registry.Persons, time.Since(t0).Seconds())
	t0 = time.Now()
	raw := filepath.Join(tmp, "raw")
	xs, err := gen.WriteExtracts(ctx, raw, tree, opts, gen.ExtractOptions{})
	if err != nil {
		return err
	}
	truth, err := readTruth(raw)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "extracts: %d files, %d rows (%d about registry persons, %d planted discrepancies) written in %.1f s\n",
		len(xs.Files), xs.Rows(), xs.Registry, len(truth), time.Since(t0).Seconds())

	base, err := policy.Default()
	if err != nil {
		return err
	}
	pol := &policydb.Store{DB: d, Tree: tree, Base: base}
	if _, err := pol.Sync(ctx); err != nil {
		return err
	}
	svc := &verify.Service{DB: d, Tree: tree, Keys: keys, Params: pol, Calendar: calendar.Default(), StoreDir: filepath.Join(tmp, "store"),
		Now: func() time.Time { return now.Add(10 * time.Hour) }}
	u := &auth.User{Username: "bench", Role: auth.VerificationOfficer, Region: tree.Root.Code, Active: true}
	t0 = time.Now()
	for _, f := range xs.Files {
		body, err := os.ReadFile(filepath.Join(raw, f.Name))
		if err != nil {
			return err
		}
		if _, err := svc.Import(ctx, u, verify.ImportInput{Source: f.Source, Provider: f.Provider, DataDate: xs.DataDate, FileName: f.Name, Body: body}); err != nil {
			return fmt.Errorf("bench verify: import %s: %w", f.Name, err)
		}
	}
	fmt.Fprintf(w, "import (validate, hash, seal, sort): %.1f s\n", time.Since(t0).Seconds())
	os.RemoveAll(raw)
	paths, err := svc.ExtractFiles(ctx)
	if err != nil {
		return err
	}
	var bytesTotal int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			bytesTotal += fi.Size()
		}
	}

	// yardstick: reading the files and counting their lines
	t0 = time.Now()
	lines, err := verify.CountLines(ctx, paths)
	if err != nil {
		return err
	}
	read := time.Since(t0)
	fmt.Fprintf(w, "read only: %d lines, %.0f MB in %.2f s = %.0f lines/s\n", lines, float64(bytesTotal)/1e6, read.Seconds(), float64(lines)/read.Seconds())

	// ours: the whole batch, with memory sampled
	var peak atomic.Uint64
	stop := sampleMemory(&peak)
	if path := os.Getenv("JIUZHU_BENCH_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	t0 = time.Now()
	sum, err := svc.Batch(ctx, u, verify.BatchOptions{})
	ours := time.Since(t0)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "ours: %d recipients (%d households), %d lines scanned, %d matched, %d tasks in %.2f s (load %.2f, scan %.2f, findings and tasks %.2f) = %.0f lines/s; peak Go memory %.0f MB\n",
		sum.Persons, sum.Households, sum.Scanned, sum.Matched, sum.Tasks, ours.Seconds(), sum.LoadSeconds, sum.ScanSeconds, sum.TaskSeconds,
		float64(sum.Scanned)/sum.ScanSeconds, float64(peak.Load())/1e6)
	fmt.Fprintf(w, "scan against read only: %.2f (target ≤ 2)\n", sum.ScanSeconds/read.Seconds())

	// every planted discrepancy found, no false hit
	missed, falseHits, err := compareTruth(ctx, d, sum.ID, truth)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "planted %d: missed %d, false hits %d\n", len(truth), missed, falseHits)

	// baseline: COPY the extracts into PostgreSQL and join on the ID hash
	if _, err := d.ExecContext(ctx, `CREATE UNLOGGED TABLE bench_items (id_hash TEXT, kind TEXT, amount_fen BIGINT, day TEXT, detail TEXT)`); err != nil {
		return err
	}
	t0 = time.Now()
	for _, p := range paths {
		if err := copyFile(ctx, d, p); err != nil {
			return err
		}
	}
	copied := time.Since(t0)
	var joined int64
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM bench_items i JOIN persons p ON p.id_hmac = i.id_hash AND p.status = 'active'
		JOIN (`+verify.RecipientCases+`) c ON c.household_id = p.household_id`).Scan(&joined); err != nil {
		return err
	}
	baseline := time.Since(t0)
	fmt.Fprintf(w, "baseline (COPY %.2f s, then join): %d matched lines in %.2f s\n", copied.Seconds(), joined, baseline.Seconds())
	if joined != sum.Matched {
		return fmt.Errorf("bench verify: PostgreSQL matched %d lines, ours %d", joined, sum.Matched)
	}
	if missed != 0 || falseHits != 0 {
		return fmt.Errorf("bench verify: %d planted discrepancies missed, %d false hits", missed, falseHits)
	}
	fmt.Fprintf(w, "RESULT verify ours=%.3f baseline=%.3f ratio=%.3f\n", ours.Seconds(), baseline.Seconds(), ours.Seconds()/baseline.Seconds())
	return nil
}

// sampleMemory records the peak of the Go runtime's memory (mapped minus
// returned to the OS) until stop is called.
func sampleMemory(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64() - samples[1].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// copyFile COPYs a stored extract into bench_items.
func copyFile(ctx context.Context, d *db.DB, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	_, err = d.CopyFrom(ctx, "bench_items", []string{"id_hash", "kind", "amount_fen", "day", "detail"}, func() ([]any, bool, error) {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, false, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		fs := bytes.SplitN(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\t'}, 5)
		if len(fs) != 5 {
			return nil, false, fmt.Errorf("bad line in %s", path)
		}
		amount, _ := strconv.ParseInt(string(fs[2]), 10, 64)
		return []any{string(fs[0]), string(fs[1]), amount, string(fs[3]), string(fs[4])}, true, nil
	})
	return err
}

// compareTruth compares a batch's tasks with the planted discrepancies.
func compareTruth(ctx context.Context, d *db.DB, batchID int64, truth map[string]bool) (missed, falseHits int, err error) {
	rows, err := d.QueryContext(ctx, `SELECT h.hh_no, t.kind FROM verify_tasks t JOIN households h ON h.id = t.household_id WHERE t.batch_id = $1`, batchID)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var no, kind string
		if err := rows.Scan(&no, &kind); err != nil {
			return 0, 0, err
		}
		got[no+"/"+kind] = true
		if !truth[no+"/"+kind] {
			falseHits++
		}
	}
	for k := range truth {
		if !got[k] {
			missed++
		}
	}
	return missed, falseHits, rows.Err()
}

// readTruth reads truth.csv (hh_no,id_number,kind,source) as hh_no/kind.
func readTruth(dir string) (map[string]bool, error) {
	f, err := os.Open(filepath.Join(dir, "truth.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range rows[1:] {
		out[r[0]+"/"+r[2]] = true
	}
	return out, nil
}
