package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"jiuzhu/internal/integrity"
	"jiuzhu/internal/region"
	"jiuzhu/internal/server"
)

const integrityUsage = `usage:
  jiuzhu integrity run [-region CODE]                   compute every anomaly list for the region (default: the province)
  jiuzhu integrity plant -synthetic -county CODE [-truth FILE]
                                                        plant one anomaly of every kind, with decoys, in a county; write the ground truth (JSON).
                                                        It writes fake households, approved cases, payroll runs and paid payment lines:
                                                        -synthetic states that the database holds synthetic data only; never use it on a live database`

func integrityCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(integrityUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("integrity "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	reg := fs.String("region", "", "region code")
	county := fs.String("county", "", "county code (plant)")
	truthFile := fs.String("truth", "", "where plant writes the ground truth (default: stdout)")
	seed := fs.Uint64("seed", 1, "seed of the planted people")
	synthetic := fs.Bool("synthetic", false, "plant: the database holds synthetic data only (plant writes fake approved cases and payments)")
	cfg, err := settings(fs)(args[1:])
	if err != nil {
		return err
	}
	// refused before the database is even opened: planting into a live
	// database would put fake approvals and payments beside real ones
	if sub == "plant" && !*synthetic {
		return errors.New("integrity plant writes fake approved cases, payroll runs and payment lines: run it only on a synthetic database, and say so with -synthetic\n" + integrityUsage)
	}
	app, err := server.Open(ctx, cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	switch sub {
	case "run":
		t0 := time.Now()
		sum, err := app.Integrity.Run(ctx, *reg, "system")
		if err != nil {
			return err
		}
		for _, l := range integrity.Lists {
			fmt.Fprintf(stdout, "%-18s %6d  %.2f s  %s\n", l.Value, sum.Lists[l.Value], sum.Seconds[l.Value], l.Label)
		}
		fmt.Fprintf(stdout, "%d entries in %s, %.1f s\n", sum.Stored, app.Tree.FullName(sum.Scope), time.Since(t0).Seconds())
		return nil
	case "plant":
		r, ok := app.Tree.Get(*county)
		if !ok || r.Level != region.County {
			return errors.New("integrity plant: -county must be a county code (12 digits)")
		}
		tag := fmt.Sprintf("%x", time.Now().Unix()%0xfffff)
		truth, err := integrity.Plant(ctx, app.DB, app.Keys, app.Tree, app.Calendar, r.Code, time.Now(), *seed, tag)
		if err != nil {
			return err
		}
		out := stdout
		if *truthFile != "" {
			f, err := os.Create(*truthFile)
			if err != nil {
				return err
			}
			defer f.Close()
			out = f
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(truth); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "planted %d anomalies and %d decoys in %s\n", truth.Count(), len(truth.Decoys), r.Name)
		return nil
	}
	return fmt.Errorf("integrity: unknown command %q\n%s", sub, integrityUsage)
}
