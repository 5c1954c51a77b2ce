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
// simulation over every registered household (2 cores) against a plain SQL
// query computing the core dibao aggregate in the same run.
func benchCalc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench calc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("db", "", "PostgreSQL URL holding a loaded province (jiuzhu gen)")
	scale := fs.Float64("scale", 1, "scale of the work (evaluations, synthetic households)")
	if err := fs.Parse(args); err != nil {
		return err
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
	var ours, baseline time.Duration
	var oursN, sqlN int64
	var oursFen, sqlFen money.Fen
	if households > 0 {
		fmt.Fprintf(stdout, "simulation over %d registered households, 2 workers...\n", households)
		began := time.Now()
		rep, err := reform.Simulate(ctx, &registry.Service{DB: d, Tree: tree}, tree, set, reform.Change{Name: "dibao.standard.urban",
			Value: (urban.Fen() * 11 / 10).Plain(), From: date, Region: "36"}, reform.Options{Workers: 2, BatchSize: 5000})
		if err != nil {
			return err
		}
		ours = time.Since(began)
		for _, p := range rep.Programmes {
			if p.Programme == "dibao" {
				oursN, oursFen = int64(p.EligibleNow), p.MonthlyNow
			}
		}
		fmt.Fprintf(stdout, "  %d households evaluated twice (current and +10%% urban standard), %d skipped\n", rep.Households, rep.Skipped)
		began = time.Now()
		if sqlN, sqlFen, err = registryBaseline(ctx, d, urban.Fen(), rural.Fen(), date.Format(time.DateOnly)); err != nil {
			return err
		}
		baseline = time.Since(began)
	} else {
		m := max(1000, int(100000**scale))
		fmt.Fprintf(stdout, "the database holds no households: a loaded province is needed (jiuzhu gen); measuring %d synthetic households in a scratch table instead\n", m)
		if ours, baseline, oursN, oursFen, sqlN, sqlFen, err = syntheticBaseline(ctx, d, set, m, urban.Fen(), rural.Fen()); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "  ours:     %8.3f s  dibao households %d, monthly %s yuan (full rules)\n", ours.Seconds(), oursN, oursFen)
	fmt.Fprintf(stdout, "  baseline: %8.3f s  dibao households %d, monthly %s yuan (SQL: income below S×n only)\n", baseline.Seconds(), sqlN, sqlFen)
	fmt.Fprintf(stdout, "RESULT calc ours=%.3f baseline=%.3f ratio=%.2f\n", ours.Seconds(), baseline.Seconds(), ours.Seconds()/baseline.Seconds())
	return nil
}

// registryBaseline is the SQL baseline over the registry. Per county it counts
// the active households whose monthly income is below the dibao standard
// times the number of members, and sums S×n − I. Income is the latest record
// per person and kind started by the date, all kinds counted; the standard is
// the province's urban or rural one by hukou. It leaves out what the
// calculators do beyond that (exclusions and deductions, asset tests,
// individual inclusion, increments, county values), so it is a lower bound on
// the work rather than the same answer.
func registryBaseline(ctx context.Context, d *db.DB, urban, rural money.Fen, date string) (int64, money.Fen, error) {
	rows, err := d.QueryContext(ctx, `
		WITH inc AS (
			SELECT p.household_id, SUM(l.monthly_fen) AS fen
			FROM (SELECT DISTINCT ON (person_id, kind) person_id, monthly_fen FROM person_incomes
			      WHERE since <= $3 ORDER BY person_id, kind, since DESC, id DESC) l
			JOIN persons p ON p.id = l.person_id GROUP BY p.household_id),
		hh AS (
			SELECT h.id, substr(h.region_code, 1, 6) AS county, COUNT(p.id) AS n,
			       CASE WHEN h.hukou = 'urban' THEN $1::bigint ELSE $2::bigint END AS std
			FROM households h JOIN persons p ON p.household_id = h.id
			WHERE h.status = 'active' GROUP BY h.id)
		SELECT hh.county, COUNT(*), SUM(hh.std * hh.n - COALESCE(inc.fen, 0))
		FROM hh LEFT JOIN inc ON inc.household_id = hh.id
		WHERE COALESCE(inc.fen, 0) < hh.std * hh.n
		GROUP BY hh.county`, int64(urban), int64(rural), date)
	if err != nil {
		return 0, 0, fmt.Errorf("bench calc: baseline query: %w", err)
	}
	defer rows.Close()
	var n, fen int64
	for rows.Next() {
		var county string
		var c, f int64
		if err := rows.Scan(&county, &c, &f); err != nil {
			return 0, 0, err
		}
		n, fen = n+c, fen+f
	}
	return n, money.Fen(fen), rows.Err()
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
