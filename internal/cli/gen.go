package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"jiuzhu/internal/bench"
	"jiuzhu/internal/demo"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/institution"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/referral"
	"jiuzhu/internal/region"
	"jiuzhu/internal/server"
	"jiuzhu/internal/share"
)

// progress prints a line at every tenth of the work.
func progress(w io.Writer, what string) func(done, total int64) {
	next := int64(0)
	return func(done, total int64) {
		if total > 0 && done >= next {
			fmt.Fprintf(w, "%s: %d / %d rows (%d%%)\n", what, done, total, done*100/total)
			next = done + total/10
		}
	}
}

func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scale := fs.Float64("scale", 0.01, "size: 1 = the whole province as in the 2019 report")
	seed := fs.Int64("seed", 1, "seed: the same seed gives the same data")
	out := fs.String("out", "", "write CSV files into this folder instead of a database")
	regions := fs.String("regions", "", "comma-separated county or city codes to limit the data to")
	extracts := fs.String("extracts", "", "also write department extracts (CSV with plaintext ID numbers, planted discrepancies, truth.csv) into this folder")
	background := fs.Float64("background", 7, "with -extracts: extract rows about people outside the registry per registry person (0 = none)")
	plant := fs.Float64("plant", 0.004, "with -extracts: probability per recipient household and discrepancy kind (0 = none)")
	parse := settings(fs)
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	if *scale <= 0 || *scale > 5 {
		return errors.New("gen: -scale must be above 0 and at most 5")
	}
	if *background < 0 || *plant < 0 || *plant > 1 {
		return errors.New("gen: -background must not be negative, -plant must be between 0 and 1")
	}
	opts := gen.Options{Scale: *scale, Seed: *seed, Now: time.Now().UTC(), Progress: progress(stdout, "gen")}
	if *regions != "" {
		opts.Regions = strings.Split(*regions, ",")
	}
	start := time.Now()
	var st gen.Stats
	if *out != "" {
		tree, err := region.Load()
		if err != nil {
			return err
		}
		st, err = gen.WriteCSV(ctx, *out, tree, opts)
		if err != nil {
			return err
		}
	} else {
		app, err := server.Open(ctx, cfg, logger(cfg, stderr))
		if err != nil {
			return err
		}
		defer app.Close()
		if st, err = gen.Load(ctx, app.DB, app.Tree, app.Keys, opts); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "generated %+v in %s\n", st, time.Since(start).Round(time.Millisecond))
	if *extracts != "" {
		tree, err := region.Load()
		if err != nil {
			return err
		}
		// 0 means none here; in ExtractOptions it means the default.
		xo := gen.ExtractOptions{Background: *background, Plant: *plant}
		if xo.Background == 0 {
			xo.Background = -1
		}
		if xo.Plant == 0 {
			xo.Plant = -1
		}
		opts.Progress = progress(stdout, "extracts")
		start := time.Now()
		xs, err := gen.WriteExtracts(ctx, *extracts, tree, opts, xo)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "extracts for %s: %d files, %d rows about registry persons (%d traps), planted %v, %d background rows in %s\n",
			xs.DataDate, len(xs.Files), xs.Registry, xs.Traps, xs.Planted, xs.Background, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: jiuzhu bench registry|calc|casework|payroll|verify|stats|share|integrity [-db postgres://...] [-scale F]")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "registry":
		fs := flag.NewFlagSet("bench registry", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dbURL := fs.String("db", "", "PostgreSQL URL (the bench works in its own schemas and drops them)")
		scale := fs.Float64("scale", 0.01, "size of the synthetic province: 1 = full province")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return bench.Registry(ctx, stdout, *dbURL, *scale)
	case "calc":
		return benchCalc(ctx, rest, stdout, stderr)
	case "casework":
		fs := flag.NewFlagSet("bench casework", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dbURL := fs.String("db", "", "PostgreSQL URL (the bench works in its own schema and drops it)")
		cases := fs.Int("cases", 100000, "open cases in the county")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return bench.Casework(ctx, stdout, *dbURL, *cases)
	case "payroll":
		fs := flag.NewFlagSet("bench payroll", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dbURL := fs.String("db", "", "PostgreSQL URL (the bench works in its own schema and drops it)")
		scale := fs.Float64("scale", 0.02, "size: 1 = about 3 M entitlements (the province)")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return payroll.Bench(ctx, stdout, *dbURL, *scale)
	case "verify":
		fs := flag.NewFlagSet("bench verify", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dbURL := fs.String("db", "", "PostgreSQL URL (the bench works in its own schema and drops it)")
		scale := fs.Float64("scale", 0.02, "size: 1 = the province, about 3 M recipients and 30 M extract rows")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return bench.Verify(ctx, stdout, *dbURL, *scale)
	case "stats":
		fs := flag.NewFlagSet("bench stats", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dbURL := fs.String("db", "", "PostgreSQL URL (the bench works in its own schema and drops it)")
		scale := fs.Float64("scale", 0.02, "size: 1 = the province as in the 2019 report")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return bench.Stats(ctx, stdout, *dbURL, *scale)
	case "share", "integrity":
		fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		dbURL := fs.String("db", "", "PostgreSQL URL (the bench works in its own schema and drops it)")
		scale := fs.Float64("scale", 0.02, "size: 1 = the province")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if name == "share" {
			return bench.Share(ctx, stdout, *dbURL, *scale)
		}
		return bench.Integrity(ctx, stdout, *dbURL, *scale)
	}
	return fmt.Errorf("bench: unknown benchmark %q (registry, calc, casework, payroll, verify, stats, share, integrity)", name)
}

// loadDemoData fills the two demo counties once, on an empty registry.
func loadDemoData(ctx context.Context, app *server.App, stdout io.Writer) error {
	var n int
	if err := app.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM households`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	fmt.Fprintln(stdout, "正在生成演示数据（东湖区、进贤县）……")
	opts := gen.Options{Scale: 0.3, Seed: 2019, Regions: demo.Counties, Now: time.Now().UTC()}
	st, err := gen.Load(ctx, app.DB, app.Tree, app.Keys, opts)
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	fmt.Fprintf(stdout, "演示数据：%d 户，%d 人\n", st.Households, st.Persons)
	if err := seedPayrollDemo(ctx, app, st, stdout); err != nil {
		return err
	}
	if err := seedVerifyDemo(ctx, app, opts, stdout); err != nil {
		return err
	}
	if err := institution.SeedDemo(ctx, app.DB, app.Tree, demo.Counties); err != nil {
		return fmt.Errorf("demo institutions: %w", err)
	}
	if err := referral.SeedDemo(ctx, app.DB, app.Tree, demo.Counties); err != nil {
		return fmt.Errorf("demo referrals: %w", err)
	}
	if err := app.Integrity.SeedDemo(ctx, demo.Counties); err != nil {
		return fmt.Errorf("demo integrity: %w", err)
	}
	if id, secret, err := share.SeedDemo(ctx, app.Share, demo.Counties[1]); err != nil {
		return fmt.Errorf("demo share key: %w", err)
	} else {
		fmt.Fprintf(stdout, "演示数据共享与 DCI 密钥（进贤县，只显示这一次，用法见 docs/dci.md）：client_id %s  client_secret %s，回调地址 %s\n", id, secret, share.DemoCallback)
	}
	// open applications are a nicety: a date the calendar cannot count from
	// (a year whose holidays are not entered yet) must not stop the start
	cases, err := demo.SeedCases(ctx, app.DB, app.Auth, app.Casework, app.Tree)
	if err != nil {
		fmt.Fprintf(stdout, "演示在办案件只生成了 %d 件：%v\n", cases, err)
		return nil
	}
	fmt.Fprintf(stdout, "演示在办案件：%d 件（民和镇）\n", cases)
	if n, err := discovery.SeedDemo(ctx, app.Discovery, demo.Counties); err != nil {
		return fmt.Errorf("demo discovery: %w", err)
	} else {
		fmt.Fprintf(stdout, "演示主动发现：%d 条\n", n)
	}
	return signDemoAuthorisations(ctx, app)
}
