package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"time"

	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/discovery"
)

// Share measures DCI search by ID under concurrent callers and the discovery
// rules over a month of department events against a SQL join.
//
// The month's events (1 M at scale 1) are loaded as the import would store
// them. Planted: deaths of recipients in households without children and
// cars bought by recipients (should-stop), hospital bills far above any
// income in non-recipient households (should-help). The rest are decoys
// that no rule may pick up: purchases, births and registrations of people
// receiving nothing, disability vehicles of recipients, and events about
// people the registry does not know. The lists must hold exactly the planted
// events; the baseline computes the same items with plain joins on the ID
// hash in the same run.
func Share(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	keys, err := randomKeys()
	if err != nil {
		return err
	}
	// the entitlements are approved by mid-January; the events are
	// February's, the rules run on 2 March
	now := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	start := time.Now()
	p, err := newProvince(ctx, "share", dbURL, scale, keys, time.Date(2026, 1, 15, 2, 0, 0, 0, time.UTC))
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(w, "province at scale %g: %d households, %d persons (%.1fs)\n", scale, p.Registry.Households, p.Registry.Persons, time.Since(start).Seconds())

	total := int(math.Max(10000, math.Round(1_000_000*scale)))
	planted, err := loadEvents(ctx, p.DB, total)
	if err != nil {
		return fmt.Errorf("bench share: events: %w", err)
	}
	fmt.Fprintf(w, "events for 2026-02: %d (planted: %d deaths of recipients, %d cars of recipients, %d hospital bills of non-recipients)\n",
		total, planted["death"], planted["vehicle"], planted["medical"])

	svc := &discovery.Service{DB: p.DB, Tree: p.Tree, Keys: keys, Calendar: calendar.Default(), Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	t0 := time.Now()
	run, err := svc.Run(ctx, nil, "2026-02-01")
	if err != nil {
		return fmt.Errorf("bench share: rules: %w", err)
	}
	ours := time.Since(t0)
	fmt.Fprintf(w, "ours: rule run %.3fs, %d items %v\n", ours.Seconds(), run.Found, run.ByRule)

	// every planted event found, nothing else
	var wrong, missed int64
	if err := p.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_items i JOIN discovery_events e ON e.id = i.event_id WHERE e.source <> 'planted'`).Scan(&wrong); err != nil {
		return err
	}
	if err := p.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM discovery_events e WHERE e.source = 'planted' AND NOT EXISTS (SELECT 1 FROM discovery_items i WHERE i.event_id = e.id)`).Scan(&missed); err != nil {
		return err
	}
	ok := wrong == 0 && missed == 0 && run.ByRule["death"] == planted["death"] && run.ByRule["vehicle"] == planted["vehicle"] && run.ByRule["medical"] == planted["medical"]
	fmt.Fprintf(w, "check: %d items on non-planted events, %d planted events missed: %s\n", wrong, missed, map[bool]string{true: "OK", false: "MISMATCH"}[ok])

	t0 = time.Now()
	base, err := baseline(ctx, p.DB)
	if err != nil {
		return fmt.Errorf("bench share: baseline: %w", err)
	}
	baseT := time.Since(t0)
	fmt.Fprintf(w, "baseline: plain joins on the ID hash %.3fs, %d items (%s)\n", baseT.Seconds(), base,
		map[bool]string{true: "same as ours", false: "DIFFERS from ours"}[base == run.Found])

	requests := int(math.Max(2000, math.Round(50000*scale)))
	if err := dciSearchLoad(ctx, w, p, keys, 50, requests); err != nil {
		fmt.Fprintf(w, "DCI search load: %v\n", err)
	}
	if !ok || base != run.Found {
		fmt.Fprintln(w, "WARNING: the lists do not match the planted events")
	}
	fmt.Fprintf(w, "RESULT share ours=%.3f baseline=%.3f ratio=%.2f\n", ours.Seconds(), baseT.Seconds(), ours.Seconds()/math.Max(baseT.Seconds(), 1e-9))
	return nil
}

// loadEvents COPYs total events of February 2026 and returns the planted counts.
func loadEvents(ctx context.Context, d *db.DB, total int) (map[string]int64, error) {
	type person struct {
		id, hh          int64
		hmac, enc, mask string
		region, since   string
	}
	read := func(q string) ([]person, error) {
		var out []person
		err := db.Each(ctx, d, q, nil, func(scan func(...any) error) error {
			var p person
			if err := scan(&p.id, &p.hh, &p.hmac, &p.enc, &p.mask, &p.region, &p.since); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
		return out, err
	}
	// the seeded entitlements carry today's date: date them before the month
	if _, err := d.ExecContext(ctx, `UPDATE cases SET accepted_on = '2026-01-15' WHERE accepted_on > '2026-01-15'`); err != nil {
		return nil, err
	}
	const ent = `SELECT household_id, MAX(accepted_on) AS since FROM cases WHERE purpose = 'application' AND state = 'approved' AND decision = 'approved'
		AND programme IN ('dibao', 'tekun') GROUP BY household_id`
	// recipients in households without minors (a death there is a stop item only)
	recipients, err := read(`SELECT p.id, p.household_id, p.id_hmac, p.id_enc, p.id_masked, h.region_code, e.since FROM persons p
		JOIN households h ON h.id = p.household_id JOIN (` + ent + `) e ON e.household_id = h.id
		WHERE p.status = 'active' AND h.status = 'active' AND e.since <= '2026-02-01'
			AND NOT EXISTS (SELECT 1 FROM persons m WHERE m.household_id = h.id AND m.birth_date > '2008-01-01') ORDER BY p.id`)
	if err != nil {
		return nil, err
	}
	others, err := read(`SELECT p.id, p.household_id, p.id_hmac, p.id_enc, p.id_masked, h.region_code, '' FROM persons p
		JOIN households h ON h.id = p.household_id
		WHERE p.status = 'active' AND h.status = 'active' AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id AND c.state = 'approved'
			AND c.decision = 'approved' AND c.purpose = 'application' AND c.programme IN ('dibao', 'tekun')) ORDER BY p.id`)
	if err != nil {
		return nil, err
	}
	if len(recipients) < 10 || len(others) < 10 {
		return nil, fmt.Errorf("too few people (%d recipients, %d others)", len(recipients), len(others))
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	planted := map[string]int64{}
	nPlant := max(total/200, 10) // 0.5 % of the events of each planted kind
	usedDeath := map[int64]bool{}
	usedMedical := map[int64]bool{}
	i := 0
	date := func() string { return fmt.Sprintf("2026-02-%02d", 1+rng.IntN(28)) }
	key := func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	received := time.Now().UTC()
	row := func(kind string, p *person, amount int64, attr, source, region string) []any {
		if p == nil {
			h := key() + key()
			return []any{kind, key(), h, "x", "3601**********0000", date(), source, amount, attr, "", nil, nil, region, nil, received}
		}
		return []any{kind, key(), p.hmac, p.enc, p.mask, date(), source, amount, attr, "", p.id, p.hh, p.region, nil, received}
	}
	kinds := []string{"vehicle", "property", "business", "birth"}
	_, err = d.CopyFrom(ctx, "discovery_events", []string{"kind", "event_key", "id_hmac", "id_enc", "id_masked", "event_date", "source", "amount_fen", "attr",
		"detail_enc", "person_id", "household_id", "region_code", "import_id", "received_at"}, func() ([]any, bool, error) {
		if i >= total {
			return nil, false, nil
		}
		i++
		switch {
		case planted["death"] < int64(nPlant):
			p := &recipients[rng.IntN(len(recipients))]
			if usedDeath[p.id] {
				return row("property", &others[rng.IntN(len(others))], 0, "", "bulk", ""), true, nil
			}
			usedDeath[p.id] = true
			planted["death"]++
			return row("death", p, 0, "", "planted", ""), true, nil
		case planted["vehicle"] < int64(nPlant):
			planted["vehicle"]++
			return row("vehicle", &recipients[rng.IntN(len(recipients))], 8000000, "K", "planted", ""), true, nil
		case planted["medical"] < int64(nPlant):
			p := &others[rng.IntN(len(others))]
			if usedMedical[p.hh] {
				return row("birth", p, 0, "", "bulk", ""), true, nil
			}
			usedMedical[p.hh] = true
			planted["medical"]++
			return row("hospital", p, 1_000_000_000, "", "planted", ""), true, nil
		}
		switch r := rng.IntN(10); {
		case r < 4: // people the registry does not know
			return row([]string{"hospital", "unemployment", "disability", "prison"}[rng.IntN(4)], nil, 100000, "2", "bulk", "360124000000"), true, nil
		case r < 5: // disability vehicles of recipients: exempt
			return row("vehicle", &recipients[rng.IntN(len(recipients))], 3000000, "D", "bulk", ""), true, nil
		default: // purchases, births, registrations of people receiving nothing
			return row(kinds[rng.IntN(len(kinds))], &others[rng.IntN(len(others))], 5000000, "K", "bulk", ""), true, nil
		}
	})
	if err != nil {
		return nil, err
	}
	if _, err := d.ExecContext(ctx, `ANALYZE discovery_events`); err != nil {
		return nil, err
	}
	return planted, nil
}

// baseline finds the same items with plain joins, matching events to people
// by the ID hash, into a scratch table; it returns how many.
func baseline(ctx context.Context, d *db.DB) (int64, error) {
	const inForce = `c.purpose = 'application' AND c.state = 'approved' AND c.decision = 'approved' AND c.programme IN ('dibao', 'tekun')`
	q := `CREATE TEMP TABLE baseline_items AS
	SELECT DISTINCT e.id AS event_id, 'stop' AS list FROM discovery_events e
		JOIN persons p ON p.id_hmac = e.id_hmac JOIN households h ON h.id = p.household_id AND h.status = 'active'
		JOIN cases c ON c.household_id = h.id AND ` + inForce + `
	WHERE e.event_date >= '2026-02-01' AND (e.kind = 'death' OR (e.kind IN ('vehicle', 'property', 'business', 'birth') AND e.attr <> 'D' AND e.event_date >= c.accepted_on))
	UNION ALL
	SELECT e.id, 'help' FROM discovery_events e
		JOIN persons p ON p.id_hmac = e.id_hmac JOIN households h ON h.id = p.household_id AND h.status = 'active'
		LEFT JOIN (SELECT pm.household_id, SUM(pi.monthly_fen) AS fen FROM person_incomes pi JOIN persons pm ON pm.id = pi.person_id
			WHERE pm.status = 'active' AND pi.since <= '2026-02-28' GROUP BY pm.household_id) inc ON inc.household_id = h.id
	WHERE e.event_date >= '2026-02-01' AND e.kind = 'hospital' AND e.amount_fen >= 500000 AND e.amount_fen > 12 * COALESCE(inc.fen, 0)
		AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = h.id AND ` + inForce + `)`
	if _, err := d.ExecContext(ctx, `DROP TABLE IF EXISTS baseline_items`); err != nil {
		return 0, err
	}
	if _, err := d.ExecContext(ctx, q); err != nil {
		return 0, err
	}
	var n int64
	err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM baseline_items`).Scan(&n)
	return n, err
}
