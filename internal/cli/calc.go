package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/calc"
	"jiuzhu/internal/db"
	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/policy/reform"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
)

// dbFlags binds -db and -data: without either, a command that can work from
// the embedded YAML parameters does so and needs no database at all.
func dbFlags(fs *flag.FlagSet) func() string {
	url := fs.String("db", "", "PostgreSQL URL or SQLite file whose approved parameters to use")
	data := fs.String("data", "", "data folder of the embedded database (its jiuzhu.db)")
	return func() string {
		if *url != "" {
			return *url
		}
		if *data != "" {
			return filepath.Join(*data, "jiuzhu.db")
		}
		return ""
	}
}

// openStore opens a database read-only in spirit: no migration and no
// parameter load, so a calculation never changes the database it reads.
func openStore(ctx context.Context, url string, tree *region.Tree) (*policydb.Store, error) {
	if !strings.HasPrefix(url, "postgres") {
		if _, err := os.Stat(strings.TrimPrefix(url, "sqlite://")); err != nil {
			return nil, fmt.Errorf("database %s: %w", url, err)
		}
	}
	d, err := db.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if ok, err := d.SchemaCurrent(ctx); err != nil || !ok {
		d.Close()
		return nil, fmt.Errorf("database %s is not at the current schema: run jiuzhu migrate first", d.URL)
	}
	base, err := policy.Default()
	if err != nil {
		d.Close()
		return nil, err
	}
	return &policydb.Store{DB: d, Tree: tree, Base: base}, nil
}

// calcCmd is the calculation contract on the command line: one JSON
// situation from FILE or stdin, one JSON result on stdout. A refused
// situation exits 1 with the field path on stderr.
func calcCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("calc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := dbFlags(fs)
	trace := fs.Bool("trace", true, "include the explanation trace")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jiuzhu calc [-db URL | -data DIR] [-trace=false] [FILE|-]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return errors.New("calc: give one situation file, or - for standard input")
	}
	var in []byte
	var err error
	if fs.NArg() == 0 || fs.Arg(0) == "-" {
		in, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		in, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		return fmt.Errorf("calc: %w", err)
	}
	tree, err := region.Load()
	if err != nil {
		return err
	}
	sit, err := calc.ParseSituation(in)
	if err != nil {
		return describeCalcError(err)
	}
	var ev *calc.Evaluator
	if url := dbURL(); url != "" {
		store, err := openStore(ctx, url, tree)
		if err != nil {
			return err
		}
		defer store.DB.Close()
		if ev, err = store.Evaluator(ctx, *trace, true); err != nil {
			return err
		}
	} else {
		set, err := policy.Default()
		if err != nil {
			return err
		}
		known := func(code string) bool { r, ok := tree.Get(code); return ok && r.Code == code }
		ev = calc.NewEvaluator(set, calc.Options{Trace: *trace, KnownRegion: known, AllowParameters: true})
	}
	res, err := ev.Evaluate(&sit)
	if err != nil {
		return describeCalcError(err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// describeCalcError names the field or parameter at fault.
func describeCalcError(err error) error {
	var ie *calc.InputError
	if errors.As(err, &ie) {
		if ie.Path == "" {
			return fmt.Errorf("calc: invalid situation: %s", ie.Msg)
		}
		return fmt.Errorf("calc: invalid situation: field %s: %s", ie.Path, ie.Msg)
	}
	var nv *policy.NoValueError
	if errors.As(err, &nv) {
		return fmt.Errorf("calc: parameter %s has no value for region %s on %s", nv.Name, nv.Region, nv.Date.Format(time.DateOnly))
	}
	return err
}

// simulateCmd runs a reform simulation over the registry of a database and
// prints the differences by programme, county and township.
func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := dbFlags(fs)
	name := fs.String("param", "", "parameter to change, e.g. dibao.standard.urban")
	value := fs.String("value", "", "new value as written in policy/*.yaml, e.g. 700.00")
	from := fs.String("from", "", "first day of the new value, YYYY-MM-DD")
	reg := fs.String("region", "36", "region code the new value applies to (36, 3607, 360702, ...)")
	date := fs.String("date", "", "evaluation date, YYYY-MM-DD (default: -from)")
	workers := fs.Int("workers", 2, "evaluating goroutines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *value == "" || *from == "" {
		return errors.New("usage: jiuzhu simulate -param NAME -value V -from YYYY-MM-DD [-region CODE] [-date YYYY-MM-DD] [-db URL | -data DIR]")
	}
	start, err := time.Parse(time.DateOnly, *from)
	if err != nil {
		return fmt.Errorf("simulate: -from: want YYYY-MM-DD, got %q", *from)
	}
	var on time.Time
	if *date != "" {
		if on, err = time.Parse(time.DateOnly, *date); err != nil {
			return fmt.Errorf("simulate: -date: want YYYY-MM-DD, got %q", *date)
		}
	}
	url := dbURL()
	if url == "" {
		url = filepath.Join("jiuzhu-data", "jiuzhu.db")
	}
	tree, err := region.Load()
	if err != nil {
		return err
	}
	store, err := openStore(ctx, url, tree)
	if err != nil {
		return err
	}
	defer store.DB.Close()
	current, err := store.Effective(ctx)
	if err != nil {
		return err
	}
	src := &registry.Service{DB: store.DB, Tree: tree}
	rep, err := reform.Simulate(ctx, src, tree, current, reform.Change{Name: *name, Value: *value, From: start, Region: *reg},
		reform.Options{Date: on, Workers: *workers, Progress: func(n int) {
			if n%100000 < 2000 {
				fmt.Fprintf(stderr, "read %d households...\n", n)
			}
		}})
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if err := audit.Record(ctx, store.DB, audit.System, "policy.simulate", "policy", rep.Parameter, region.Pad(rep.Region),
		map[string]any{"value": rep.ValueAfter, "from": rep.From, "date": rep.Date, "households": rep.Households, "via": "cli"}); err != nil {
		return err
	}
	printReport(stdout, rep)
	return nil
}

func printReport(w io.Writer, rep *reform.Report) {
	fmt.Fprintf(w, "%s (%s): %s from %s: %s -> %s; evaluated on %s\n", rep.Description, rep.Parameter, rep.RegionName, rep.From, rep.ValueNow, rep.ValueAfter, rep.Date)
	fmt.Fprintf(w, "households: %d evaluated, %d skipped (incomplete registry data); %.2f s\n\n", rep.Households, rep.Skipped, rep.Seconds)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "programme\teligible now\tafter\tnew\texiting\tchanged\tmonthly now\tmonthly after\tmonthly diff\tyearly diff\t")
	for _, p := range rep.Programmes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", p.Programme, p.EligibleNow, p.EligibleAfter, p.NewlyEligible, p.Exiting, p.Changed,
			p.MonthlyNow, p.MonthlyAfter, p.MonthlyDiff(), p.YearlyDiff())
	}
	tw.Flush()
	area := func(title string, rows []reform.AreaDelta) {
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "code\tname\thouseholds\tnew\texiting\tchanged\tmonthly now\tmonthly after\tmonthly diff\tyearly diff\t")
		for _, a := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", a.Code, a.Name, a.Households, a.NewlyEligible, a.Exiting, a.Changed,
				a.MonthlyNow, a.MonthlyAfter, a.MonthlyDiff(), a.YearlyDiff())
		}
		t := rep.Total
		fmt.Fprintf(tw, "\ttotal\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", t.Households, t.NewlyEligible, t.Exiting, t.Changed, t.MonthlyNow, t.MonthlyAfter, t.MonthlyDiff(), t.YearlyDiff())
		tw.Flush()
	}
	area("by county", rep.Counties)
	area("by township", rep.Townships)
}

// benchCalc measures the calculators: evaluations per second on one core
// without and with trace, then, on a PostgreSQL database, the reform
// simulation over every registered household (2 cores) against one plain SQL
// query computing the same dibao aggregate with the same rules in the same
// run (registryBaseline). Both give the number of eligible households and
// their monthly amount under the current parameters; the bench fails when
// they differ. The simulation does more: every monthly programme, twice.
func benchCalc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench calc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("db", "", "PostgreSQL URL holding a loaded province (jiuzhu gen)")
	scale := fs.Float64("scale", 1, "scale of the work (evaluations, synthetic households)")
	runs := fs.Int("runs", 2, "runs of the simulation and of the SQL baseline, alternating; the best of each is reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return errors.New("bench calc: -runs must be at least 1")
	}
	n := max(1000, int(200000**scale))
	plain, err := calc.BenchEvaluations(n, false)
	if err != nil {
		return err
	}
	traced, err := calc.BenchEvaluations(n/4, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "calculators: %d households on 1 core (GOMAXPROCS %d)\n", n, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "  without trace: %10.0f evaluations/s/core\n", plain)
	fmt.Fprintf(stdout, "  with trace:    %10.0f evaluations/s/core\n", traced)
	if *url == "" || !strings.HasPrefix(*url, "postgres") {
		fmt.Fprintln(stdout, "no -db postgres://... given: the simulation-versus-SQL comparison needs a PostgreSQL database")
		return nil
	}
	d, err := db.Open(ctx, *url)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		return err
	}
	tree, err := region.Load()
	if err != nil {
		return err
	}
	if _, err := tree.Store(ctx, d); err != nil {
		return err
	}
	store := &policydb.Store{DB: d, Tree: tree}
	if store.Base, err = policy.Default(); err != nil {
		return err
	}
	set, err := store.Effective(ctx)
	if err != nil {
		return err
	}
	var households int64
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM households WHERE status = 'active'`).Scan(&households); err != nil {
		return err
	}
	date := time.Now().UTC().Truncate(24 * time.Hour)
	urban, err1 := set.Resolve("dibao.standard.urban", tree.Root.Code, date)
	rural, err2 := set.Resolve("dibao.standard.rural", tree.Root.Code, date)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if households == 0 {
		m := max(1000, int(100000**scale))
		fmt.Fprintf(stdout, "the database holds no households: a loaded province is needed (jiuzhu gen); measuring %d synthetic households in a scratch table instead\n", m)
		ours, baseline, oursN, oursFen, sqlN, sqlFen, err := syntheticBaseline(ctx, d, set, m, urban.Fen(), rural.Fen())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  ours:     %8.3f s  dibao households %d, monthly %s yuan (full rules)\n", ours.Seconds(), oursN, oursFen)
		fmt.Fprintf(stdout, "  baseline: %8.3f s  dibao households %d, monthly %s yuan (SQL: income below S×n only)\n", baseline.Seconds(), sqlN, sqlFen)
		fmt.Fprintf(stdout, "RESULT calc ours=%.3f baseline=%.3f ratio=%.2f\n", ours.Seconds(), baseline.Seconds(), ours.Seconds()/baseline.Seconds())
		return nil
	}
	// Ours: the reform simulation (+10% urban standard) over every household,
	// each evaluated twice with every monthly programme, streamed from the
	// registry on 2 reading connections and evaluated on 2 goroutines. The
	// runs alternate with the SQL baseline, so neither has the cache to itself.
	fmt.Fprintf(stdout, "simulation over %d registered households, 2 workers...\n", households)
	var ours, baseline []time.Duration
	var rep *reform.Report
	var want baselineCounts
	for range *runs {
		runtime.GC()
		began := time.Now()
		rep, err = reform.Simulate(ctx, &registry.Service{DB: d, Tree: tree}, tree, set, reform.Change{Name: "dibao.standard.urban",
			Value: (urban.Fen() * 11 / 10).Plain(), From: date, Region: "36"}, reform.Options{Workers: 2, Readers: 2, BatchSize: 4096})
		if err != nil {
			return err
		}
		ours = append(ours, time.Since(began))
		began = time.Now()
		if want, err = registryBaseline(ctx, d, tree, set, tree.Root.Code[:2], date); err != nil {
			return err
		}
		baseline = append(baseline, time.Since(began))
	}
	var got baselineCounts
	for _, p := range rep.Programmes {
		if p.Programme == "dibao" {
			got.households, got.fen = int64(p.EligibleNow), p.MonthlyNow
		}
	}
	fmt.Fprintf(stdout, "  %d households evaluated twice (current and +10%% urban standard), %d skipped; %.0f households/s\n",
		rep.Households, rep.Skipped, float64(rep.Households)/best(ours).Seconds())
	fmt.Fprintf(stdout, "  ours:     %8.3f s  dibao households %d, monthly %s yuan (calculators, every programme, twice)\n", best(ours).Seconds(), got.households, got.fen)
	fmt.Fprintf(stdout, "  baseline: %8.3f s  dibao households %d, monthly %s yuan in %d counties (one SQL query, the same dibao rules)\n",
		best(baseline).Seconds(), want.households, want.fen, want.counties)
	fmt.Fprintf(stdout, "  runs: ours %v, baseline %v (best of each reported)\n", seconds(ours), seconds(baseline))
	if got.households != want.households || got.fen != want.fen {
		return fmt.Errorf("bench calc: the simulation and the SQL baseline disagree: %d households %s yuan against %d households %s yuan",
			got.households, got.fen, want.households, want.fen)
	}
	o, b := best(ours), best(baseline)
	fmt.Fprintf(stdout, "RESULT calc ours=%.3f baseline=%.3f ratio=%.2f\n", o.Seconds(), b.Seconds(), o.Seconds()/b.Seconds())
	return nil
}

func best(ds []time.Duration) time.Duration { return slices.Min(ds) }

func seconds(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2fs", d.Seconds())
	}
	return strings.Join(parts, " ")
}

// registryBaseline is the SQL baseline over the registry: the same dibao
// aggregate as the simulation's current side (eligible households and their
// monthly amount, per county), computed by PostgreSQL alone in one query with
// the same rules as the calculators under the 2021 rules (dates from
// 2021-07-01):
//
//   - members count in the household by DB-02 (head and spouse; children under
//     18, living at home, unable to work, studying up to bachelor level or
//     severely disabled; parents, grandchildren and siblings living at home);
//   - incomes are the latest record per person and kind started by the date
//     (a record of 0 ends one); the kinds counted, excluded and deducted are
//     those of calc (kinds.go, see baselineIncomeKinds): relief money is left
//     out, the basic pension and old-age allowance by the dated parameters,
//     taxes, contributions and support paid are deducted, rigid expenses when
//     the parameter allows; a negative household total counts as 0;
//   - the asset tests of DB-19..23 on the household's assets (financial total
//     against multiple × standard × members, one vehicle against multiple ×
//     urban standard, houses, business capital);
//   - eligible when income < standard × members and the assets pass; the
//     amount is S×n − I plus the 分类施保 increments; otherwise a member may be
//     included alone (DB-06: severely disabled or seriously ill in a marginal
//     household, or a severely disabled adult without work) with own income
//     below the standard, for S − own income plus the increment.
//
// Every parameter (standards, flags, multiples, increments) is resolved per
// county on the date, as the calculators resolve them for the county's
// villages; values set below county level would differ.
func registryBaseline(ctx context.Context, d *db.DB, tree *region.Tree, set *policy.Set, scope string, date time.Time) (baselineCounts, error) {
	var out baselineCounts
	if date.Before(time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)) {
		return out, errors.New("bench calc: the SQL baseline applies the 2021 rules only")
	}
	type col struct {
		name string
		get  func(v policy.Value) any
	}
	fen := func(v policy.Value) any { return v.Int }
	flag := func(v policy.Value) any { return v.Bool }
	cols := []col{{"dibao.standard.urban", fen}, {"dibao.standard.rural", fen}, {"dibao.income.exclude_basic_pension", flag},
		{"dibao.income.exclude_old_age_allowance", flag}, {"dibao.income.deduct_rigid_expenses", flag},
		{"dibao.assets.financial_multiple", func(v policy.Value) any { return v.Ratio.Num }}, {"dibao.assets.financial_multiple", func(v policy.Value) any { return v.Ratio.Den }},
		{"dibao.assets.vehicle_multiple", func(v policy.Value) any { return v.Ratio.Num }}, {"dibao.assets.vehicle_multiple", func(v policy.Value) any { return v.Ratio.Den }},
		{"dibao.assets.max_houses", fen}, {"dibao.assets.business_capital_limit", fen},
		{"marginal.in_force", flag}, {"marginal.income_multiple", func(v policy.Value) any { return v.Ratio.Num }},
		{"marginal.income_multiple", func(v policy.Value) any { return v.Ratio.Den }},
		{"dibao.increment.elderly", fen}, {"dibao.increment.elderly_age", fen}, {"dibao.increment.minor", fen},
		{"dibao.increment.severe_disability", fen}, {"dibao.increment.serious_illness", fen}}
	var counties []string
	for _, r := range tree.Villages(tree.Root.Code) {
		if c := r.Code[:6]; (len(counties) == 0 || counties[len(counties)-1] != c) && strings.HasPrefix(r.Code, scope) {
			counties = append(counties, c)
		}
	}
	args := make([]any, 0, len(cols)+3)
	args = append(args, counties)
	for _, c := range cols {
		var vals []any
		for _, county := range counties {
			v, err := set.Resolve(c.name, region.Pad(county), date)
			if err != nil {
				return out, err
			}
			vals = append(vals, c.get(v))
		}
		switch vals[0].(type) {
		case bool:
			a := make([]bool, len(vals))
			for i, v := range vals {
				a[i] = v.(bool)
			}
			args = append(args, a)
		default:
			a := make([]int64, len(vals))
			for i, v := range vals {
				a[i] = v.(int64)
			}
			args = append(args, a)
		}
	}
	args = append(args, scope, date.Format(time.DateOnly))
	k := baselineIncomeKinds
	rows, err := d.QueryContext(ctx, `
		WITH par AS (
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bool[], $5::bool[], $6::bool[], $7::bigint[], $8::bigint[],
				$9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bool[], $14::bigint[], $15::bigint[], $16::bigint[],
				$17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[])
			AS t(county, std_u, std_r, excl_bp, excl_oa, rigid, fin_num, fin_den, veh_num, veh_den, max_houses, biz_limit,
				marg_on, marg_num, marg_den, inc_eld, eld_age, inc_minor, inc_severe, inc_ill)),
		hh AS (
			SELECT h.id, par.*, CASE WHEN h.hukou = 'urban' THEN par.std_u ELSE par.std_r END AS std
			FROM households h JOIN par ON par.county = substr(h.region_code, 1, 6)
			WHERE h.status = 'active' AND h.region_code LIKE $21 || '%'),
		latest AS (
			SELECT DISTINCT ON (person_id, kind) person_id, kind, monthly_fen FROM person_incomes
			WHERE since <= $22 ORDER BY person_id, kind, since DESC, id DESC),
		pinc AS (
			SELECT person_id,
				SUM(monthly_fen) FILTER (WHERE kind IN (`+sqlList(k.counted)+`)) AS counted,
				SUM(monthly_fen) FILTER (WHERE kind = 'basic_pension') AS bp,
				SUM(monthly_fen) FILTER (WHERE kind = 'old_age_allowance') AS oa,
				SUM(monthly_fen) FILTER (WHERE kind IN (`+sqlList(k.deducted)+`)) AS ded,
				SUM(monthly_fen) FILTER (WHERE kind = 'rigid_expense') AS rig,
				bool_or(kind IN ('wage', 'business')) AS working
			FROM latest WHERE monthly_fen > 0 GROUP BY person_id),
		pm AS (
			SELECT hh.id AS hid, p.id, p.relation = 'head' AS head, p.serious_illness AS ill, a.age, a.severe,
				COALESCE(i.working, false) AS working,
				CASE p.relation WHEN 'head' THEN true WHEN 'spouse' THEN true
					WHEN 'child' THEN a.age < 18 OR p.co_resident OR NOT p.able_to_work OR p.student NOT IN ('none', 'graduate') OR a.severe
					WHEN 'parent' THEN p.co_resident WHEN 'grandchild' THEN p.co_resident WHEN 'sibling' THEN p.co_resident
					ELSE false END AS counted,
				COALESCE(i.counted, 0) + CASE WHEN hh.excl_bp THEN 0 ELSE COALESCE(i.bp, 0) END
					+ CASE WHEN hh.excl_oa THEN 0 ELSE COALESCE(i.oa, 0) END - COALESCE(i.ded, 0)
					- CASE WHEN hh.rigid THEN COALESCE(i.rig, 0) ELSE 0 END AS fen,
				GREATEST(CASE WHEN a.age >= hh.eld_age THEN hh.inc_eld ELSE 0 END, CASE WHEN a.age < 18 THEN hh.inc_minor ELSE 0 END,
					CASE WHEN a.severe THEN hh.inc_severe ELSE 0 END, CASE WHEN p.serious_illness THEN hh.inc_ill ELSE 0 END) AS incr
			FROM hh JOIN persons p ON p.household_id = hh.id
			CROSS JOIN LATERAL (SELECT extract(year FROM age($22::date, p.birth_date::date))::int AS age,
				p.disability_kind <> '' AND (p.disability_level <= 2 OR p.disability_level = 3 AND p.disability_kind IN ('intellectual', 'mental')) AS severe) a
			LEFT JOIN pinc i ON i.person_id = p.id),
		hs AS (
			SELECT hid, COUNT(*) FILTER (WHERE counted) AS n, GREATEST(COALESCE(SUM(fen) FILTER (WHERE counted), 0), 0) AS fen,
				COALESCE(SUM(incr) FILTER (WHERE counted), 0) AS incr
			FROM pm GROUP BY hid),
		asum AS (
			SELECT household_id AS hid,
				SUM(value_fen) FILTER (WHERE kind IN ('deposit', 'cash', 'securities', 'fund', 'commercial_insurance', 'claim', 'internet_finance')) AS fin,
				MAX(value_fen) FILTER (WHERE kind IN ('vehicle', 'ship')) AS veh,
				COUNT(*) FILTER (WHERE kind = 'house') AS houses,
				SUM(value_fen) FILTER (WHERE kind = 'business_capital') AS biz
			FROM household_assets GROUP BY household_id),
		hsum AS (
			SELECT hh.id, substr(hh.county, 1, 6) AS county, hh.std, hs.n, hs.fen, hs.incr, hh.marg_on, hh.marg_num, hh.marg_den,
				a.fin, a.veh, a.houses, a.biz, hh.fin_num, hh.fin_den, hh.veh_num, hh.veh_den, hh.std_u, hh.max_houses, hh.biz_limit,
				COALESCE(a.fin > 0 AND a.fin > (hh.std * hh.fin_num + hh.fin_den / 2) / hh.fin_den * hs.n
					OR a.veh > 0 AND a.veh > (hh.std_u * hh.veh_num + hh.veh_den / 2) / hh.veh_den
					OR a.houses > hh.max_houses OR a.biz > 0 AND a.biz >= hh.biz_limit, false) AS asset_bad
			FROM hh JOIN hs ON hs.hid = hh.id LEFT JOIN asum a ON a.hid = hh.id),
		household AS (
			SELECT county, std * n - fen + incr AS amount FROM hsum
			WHERE n > 0 AND fen < std * n AND NOT asset_bad),
		alone AS (
			SELECT s.county, SUM(s.std - m.fen + m.incr) AS amount FROM hsum s JOIN pm m ON m.hid = s.id
			WHERE s.n > 0 AND s.fen >= s.std * s.n AND m.fen < s.std
				AND ((m.severe OR m.ill) AND s.marg_on AND NOT s.asset_bad AND s.fen * s.marg_den < s.marg_num * s.std * s.n
					OR m.age >= 18 AND m.severe AND NOT m.working)
				AND NOT (m.head AND COALESCE(s.fin > 0 AND s.fin > (s.std * s.fin_num + s.fin_den / 2) / s.fin_den
					OR s.veh > 0 AND s.veh > (s.std_u * s.veh_num + s.veh_den / 2) / s.veh_den
					OR s.houses > s.max_houses OR s.biz > 0 AND s.biz >= s.biz_limit, false))
			GROUP BY s.id, s.county)
		SELECT county, COUNT(*), SUM(amount) FROM (SELECT * FROM household UNION ALL SELECT * FROM alone) e GROUP BY county`, args...)
	if err != nil {
		return out, fmt.Errorf("bench calc: baseline query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var county string
		var c, f int64
		if err := rows.Scan(&county, &c, &f); err != nil {
			return out, err
		}
		out.counties++
		out.households += c
		out.fen += money.Fen(f)
	}
	return out, rows.Err()
}

// baselineCounts is the dibao aggregate: eligible households and their
// monthly amount, and the number of counties with any.
type baselineCounts struct {
	households, counties int64
	fen                  money.Fen
}

// baselineIncomeKinds classifies calc's income kinds for the SQL baseline
// under the 2021 rules (calc/kinds.go): counted; deducted; the basic pension,
// old-age allowance and rigid expenses are handled by their parameters; the
// rest (relief money, subsidies, allowances, rewards) is not counted. A test
// checks that every calculator kind is classified.
var baselineIncomeKinds = struct{ counted, deducted, byParameter, excluded []string }{
	counted: []string{"wage", "business", "property", "support_received", "pension", "unemployment_benefit", "survivor_benefit",
		"compensation", "gift", "medical_insurance", "other"},
	deducted:    []string{"income_tax", "social_insurance_contribution", "support_paid"},
	byParameter: []string{"basic_pension", "old_age_allowance", "rigid_expense"},
	excluded: []string{"social_assistance", "disability_subsidy", "preferential_care", "family_planning_reward", "scholarship",
		"bravery_reward", "child_allowance"},
}

func sqlList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// syntheticBaseline compares, for m synthetic households, our evaluation with
// the per-county aggregate on 2 goroutines (in memory) against the same core
// means test in SQL over a scratch table holding each household's county,
// hukou, member count and total income (see registryBaseline for what the SQL
// leaves out). The scratch table is dropped afterwards.
func syntheticBaseline(ctx context.Context, d *db.DB, set *policy.Set, m int, urban, rural money.Fen) (ours, baseline time.Duration, oursN int64, oursFen money.Fen, sqlN int64, sqlFen money.Fen, err error) {
	sits, err := calc.SyntheticSituations(m)
	if err != nil {
		return
	}
	// The SQL side judges at the province standards of today; so does ours.
	date := time.Now().UTC().Format(time.DateOnly)
	for i := range sits {
		sits[i].Date = date
		sits[i].Programmes = []string{"dibao"}
		sits[i].Request = nil
		if err = sits[i].Validate(); err != nil {
			return
		}
	}
	const table = "jz_bench_calc_households"
	if _, err = d.ExecContext(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
		return
	}
	if _, err = d.ExecContext(ctx, `CREATE TABLE `+table+` (id BIGINT, county TEXT, hukou TEXT, members BIGINT, income_fen BIGINT)`); err != nil {
		return
	}
	defer d.ExecContext(context.Background(), `DROP TABLE IF EXISTS `+table)
	i := 0
	if _, err = d.CopyFrom(ctx, table, []string{"id", "county", "hukou", "members", "income_fen"}, func() ([]any, bool, error) {
		if i == len(sits) {
			return nil, false, nil
		}
		s := &sits[i]
		var inc money.Fen
		for _, mb := range s.Household.Members {
			for _, in := range mb.Incomes {
				inc += in.MonthlyFen
			}
		}
		i++
		return []any{int64(i), s.Region[:6], s.Household.Hukou, int64(len(s.Household.Members)), int64(inc)}, true, nil
	}); err != nil {
		return
	}
	if _, err = d.ExecContext(ctx, `ANALYZE `+table); err != nil {
		return
	}
	ev := calc.NewEvaluator(set, calc.Options{})
	began := time.Now()
	type sum struct {
		n   int64
		fen money.Fen
	}
	parts := make([]map[string]sum, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for w := range 2 {
		parts[w] = map[string]sum{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r calc.Result
			for j := w; j < len(sits); j += 2 {
				if err := ev.EvaluateInto(&sits[j], &r); err != nil {
					errs[w] = err
					return
				}
				if p, _ := r.Programmes.Get("dibao"); p.Eligible {
					s := parts[w][sits[j].Region[:6]]
					s.n++
					s.fen += p.MonthlyFen
					parts[w][sits[j].Region[:6]] = s
				}
			}
		}()
	}
	wg.Wait()
	ours = time.Since(began)
	if err = errors.Join(errs...); err != nil {
		return
	}
	for _, p := range parts {
		for _, s := range p {
			oursN, oursFen = oursN+s.n, oursFen+s.fen
		}
	}
	began = time.Now()
	rows, err := d.QueryContext(ctx, `SELECT county, COUNT(*), SUM(std * members - income_fen) FROM (
		SELECT county, members, income_fen, CASE WHEN hukou = 'urban' THEN $1::bigint ELSE $2::bigint END AS std FROM `+table+`) t
		WHERE income_fen < std * members GROUP BY county`, int64(urban), int64(rural))
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var county string
		var c, f int64
		if err = rows.Scan(&county, &c, &f); err != nil {
			return
		}
		sqlN, sqlFen = sqlN+c, sqlFen+money.Fen(f)
	}
	err = rows.Err()
	baseline = time.Since(began)
	return
}
