package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/demo"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/region"
	"jiuzhu/internal/server"
)

const payrollUsage = `usage:
  jiuzhu payroll run -as USER -month YYYY-MM [-county CODE]     build (or resume) a county's monthly run
  jiuzhu payroll check -as USER -run ID [-reject] [-note T] [-override T]   the second person's approval
  jiuzhu payroll bankfiles -as USER -run ID -out DIR              prepare and write one file per bank
  jiuzhu payroll reconcile -as USER -file F [-bankfile ID]        import a bank's return file
  jiuzhu payroll status -as USER -run ID                          totals and reconciliation
  jiuzhu payroll prices -as USER [-month YYYY-MM -cpi PCT -food PCT -released YYYY-MM-DD]
                                                                  list the price indices; with -cpi, enter (or correct)
                                                                  a month's CPI and food year-on-year rises in percent,
                                                                  e.g. -cpi 3.6 -food 2.0 (province PolicySchedule users);
                                                                  they decide the price subsidy of the next month's runs
USER is an existing account whose role and region allow the step (maker and checker must differ).`

func payrollCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(payrollUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("payroll "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	as := fs.String("as", "", "username acting")
	month := fs.String("month", "", "month YYYY-MM")
	county := fs.String("county", "", "county code (default: the user's county)")
	runID := fs.Int64("run", 0, "run id")
	reject := fs.Bool("reject", false, "send the run back instead of approving it")
	note := fs.String("note", "", "checker's note")
	override := fs.String("override", "", "approval beyond the funds: the reference")
	out := fs.String("out", ".", "folder for bank files")
	file := fs.String("file", "", "return file")
	bankFile := fs.Int64("bankfile", 0, "bank file id (default: from the JZ<id> in the file name)")
	cpi := fs.Float64("cpi", 0, "prices: CPI year-on-year rise in percent (e.g. 3.6); given, the index is entered")
	food := fs.Float64("food", 0, "prices: food price year-on-year rise in percent (e.g. 2.0)")
	released := fs.String("released", "", "prices: release date of the index, YYYY-MM-DD")
	cfg, err := settings(fs)(args[1:])
	if err != nil {
		return err
	}
	app, err := server.Open(ctx, cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	if *as == "" {
		return errors.New("payroll: -as USERNAME is required (the acting user is recorded in the audit log)")
	}
	u, err := userByName(ctx, app, *as)
	if err != nil {
		return fmt.Errorf("payroll: %w", err)
	}
	svc := app.Payroll
	switch sub {
	case "run":
		c := *county
		if c == "" && region.LevelOf(u.Region) == region.County {
			c = u.Region
		}
		svc.AfterBatch = func(_ int64, batch int) error {
			if batch%20 == 0 {
				fmt.Fprintf(stdout, "  %d batches written\n", batch)
			}
			return nil
		}
		r, err := svc.Start(ctx, u, *month, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "run %d %s %s: %s, %d lines, %s yuan\n", r.ID, app.Tree.FullName(r.County), r.Month, r.StateLabel(), r.Lines, yuanS(r.TotalFen))
		return printReview(ctx, stdout, svc, u, r.ID)
	case "check":
		r, err := svc.Get(ctx, u, *runID)
		if err != nil {
			return err
		}
		r, err = svc.Check(ctx, u, r.ID, payroll.Decision{Version: r.Version, Approve: !*reject, Note: *note, Override: *override})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "run %d: %s\n", r.ID, r.StateLabel())
		return nil
	case "bankfiles":
		files, err := svc.PrepareBankFiles(ctx, u, *runID)
		if err != nil {
			return err
		}
		for _, f := range files {
			path := filepath.Join(*out, f.FileName)
			fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = svc.WriteBankFile(ctx, u, f.ID, fh)
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(path)
				return err
			}
			fmt.Fprintf(stdout, "%s: %d lines, %s yuan, sha256 %s\n", path, f.Lines, yuanS(f.TotalFen), f.SHA256[:16])
		}
		return nil
	case "reconcile":
		if *file == "" {
			return errors.New("payroll reconcile: -file is required")
		}
		id := *bankFile
		if id == 0 {
			id = payroll.BankFileIDFromName(filepath.Base(*file))
		}
		if id == 0 {
			return errors.New("payroll reconcile: the file name carries no JZ<id>; give -bankfile ID")
		}
		content, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		rep, err := svc.ImportReturn(ctx, u, id, filepath.Base(*file), content)
		if rep != nil && rep.Rejected {
			for _, p := range rep.Problems {
				fmt.Fprintf(stdout, "line %d %s: %s\n", p.Line, p.Ref, p.Problem)
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bank file %d: %d paid, %d failed, %d unchanged, %d not yet answered\n", id, rep.Paid, rep.Failed, rep.Unchanged, rep.Unknown)
		return nil
	case "status":
		return printReview(ctx, stdout, svc, u, *runID)
	case "prices":
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if given["cpi"] || given["food"] || given["released"] {
			var missing []string
			for _, n := range []string{"month", "cpi", "food", "released"} {
				if !given[n] {
					missing = append(missing, "-"+n)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("payroll prices: entering an index needs %s", strings.Join(missing, ", "))
			}
			p, err := svc.EnterPriceIndex(ctx, u, *month, *cpi, *food, *released)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "price index %s entered: CPI %s, food %s, released %s; used by the %s runs\n", p.Month, payroll.Percent(p.CPIBP), payroll.Percent(p.FoodBP), p.ReleasedOn, p.PaysIn())
		}
		list, err := svc.PriceIndices(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no price indices entered: runs pay no price subsidy")
			return nil
		}
		fmt.Fprintf(stdout, "%-8s %8s %8s  %-10s  %-7s  %s\n", "month", "CPI", "food", "released", "runs", "entered by")
		for _, p := range list {
			fmt.Fprintf(stdout, "%-8s %8s %8s  %-10s  %-7s  %s %s\n", p.Month, payroll.Percent(p.CPIBP), payroll.Percent(p.FoodBP), p.ReleasedOn, p.PaysIn(), p.EnteredBy,
				p.EnteredAt.In(calendar.China).Format("2006-01-02 15:04"))
		}
		return nil
	}
	return errors.New(payrollUsage)
}

func printReview(ctx context.Context, w io.Writer, svc *payroll.Service, u *auth.User, id int64) error {
	rv, err := svc.ReviewOf(ctx, u, id)
	if err != nil {
		return err
	}
	for _, t := range rv.ByProgramme {
		fmt.Fprintf(w, "  %-12s %8d lines %14s yuan  held %d\n", payroll.ProgrammeLabel(t.Programme), t.Lines, yuanS(t.AmountFen), t.Held)
	}
	kinds := map[string]int{}
	for _, d := range rv.Differences {
		kinds[d.KindLabel()]++
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ks)
	fmt.Fprintf(w, "  differences from last month: %d (%s), unexplained %d; beyond funds: %v\n", rv.DiffTotal, strings.Join(ks, ", "), rv.Unexplained, rv.Short)
	rec, err := svc.Reconcile(ctx, u, id)
	if err != nil {
		return err
	}
	for st, n := range rec.Status {
		fmt.Fprintf(w, "  %s: %d\n", payroll.StatusLabel(st), n)
	}
	return nil
}

func yuanS(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

// seedPayrollDemo turns the demo registry's programme tags into approved
// entitlements paying from this month, with a year of funds and township
// reserve funds, so the payroll screens have something to pay.
func seedPayrollDemo(ctx context.Context, app *server.App, _ gen.Stats, stdout io.Writer) error {
	now := time.Now().UTC()
	st, err := payroll.SeedEntitlements(ctx, app.DB, app.Tree, gen.Options{Scale: 0.3, Seed: 2019, Regions: demo.Counties, Now: now}, now.Format("2006-01"))
	if err != nil {
		return fmt.Errorf("demo entitlements: %w", err)
	}
	if err := demo.SpreadHistory(ctx, app.DB, now); err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	if err := payroll.SeedDemo(ctx, app.DB, app.Tree, demo.Counties, now.Year()); err != nil {
		return fmt.Errorf("demo funds: %w", err)
	}
	fmt.Fprintf(stdout, "演示待遇：%d 个已批准案件，月发放 %s 元\n", st.Cases, yuanS(st.MonthFen))
	return nil
}
