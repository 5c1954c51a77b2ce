package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/linkage"
)

const discoveryUsage = `usage:
  jiuzhu discovery import -kind KIND [-source DEPT] FILE     import one department event file (CSV or XLSX) and run the rules
  jiuzhu discovery rules [-since YYYY-MM-DD]                 run the discovery rules over the events dated since (default: 90 days ago)
  jiuzhu discovery measures                                  print the measures per county
  jiuzhu discovery layouts                                   print the event layouts (docs/discovery-events.md)
  jiuzhu discovery linkage -registry poverty|union FILE      import another registry's list and match it
-as USER acts as that account (default: the system, at province level).`

func discoveryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(discoveryUsage)
	}
	sub := args[0]
	if sub == "layouts" {
		_, err := io.WriteString(stdout, discovery.LayoutDoc())
		return err
	}
	fs := flag.NewFlagSet("discovery "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	as := fs.String("as", "", "username acting (default: the system)")
	kind := fs.String("kind", "", "event kind")
	source := fs.String("source", "", "sending department")
	since := fs.String("since", "", "first event date the rules look at")
	registry := fs.String("registry", "", "poverty or union")
	app, u, err := openAs(ctx, fs, args[1:], stderr, *as, auth.VerificationOfficer)
	if err != nil {
		return err
	}
	defer app.Close()
	switch sub {
	case "import":
		if fs.NArg() != 1 || *kind == "" {
			return errors.New(discoveryUsage)
		}
		body, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		res, err := app.Discovery.Import(ctx, u, discovery.ImportInput{Kind: *kind, Source: *source, FileName: filepath.Base(fs.Arg(0)), Body: body})
		if res != nil {
			fmt.Fprintf(stdout, "import %d: %s\n", res.ImportID, res.Message)
			for _, e := range res.Errors {
				fmt.Fprintf(stdout, "  line %d %s: %s\n", e.Line, e.Column, e.Message)
			}
		}
		return err
	case "rules":
		if *since == "" {
			*since = time.Now().In(calendar.China).AddDate(0, 0, -90).Format("2006-01-02")
		}
		run, err := app.Discovery.Run(ctx, u, *since)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "run %d since %s: %d new items, %d linked to cases\n", run.ID, run.Since, run.Found, run.Linked)
		for _, r := range discovery.Rules {
			fmt.Fprintf(stdout, "  %-11s %s: %d\n", r.Name, r.Label, run.ByRule[r.Name])
		}
		return nil
	case "measures":
		u.Role = auth.Supervisor
		ms, err := app.Discovery.Measures(ctx, u)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "county\thelp_found\thelp_open\thelp_opened\thelp_approved\tstop_found\tstop_open\tstop_started\tstop_stopped\twrongful\tdismissed\tunmatched")
		for _, m := range ms {
			fmt.Fprintf(stdout, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", m.County, m.HelpFound, m.HelpOpen, m.HelpOpened, m.HelpApproved,
				m.StopFound, m.StopOpen, m.StopStarted, m.StopStopped, m.Wrongful, m.Dismissed, m.Unmatched)
		}
		return nil
	case "linkage":
		if fs.NArg() != 1 {
			return errors.New(discoveryUsage)
		}
		if _, ok := linkage.RegistryOf(*registry); !ok {
			return errors.New("discovery linkage: -registry must be poverty or union")
		}
		body, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		res, err := app.Linkage.Import(ctx, u, *registry, filepath.Base(fs.Arg(0)), body)
		if res != nil {
			fmt.Fprintf(stdout, "linkage run %d: %s\n", res.RunID, res.Message)
			for _, e := range res.Errors {
				fmt.Fprintf(stdout, "  line %d %s: %s\n", e.Line, e.Column, e.Message)
			}
		}
		return err
	}
	return errors.New(discoveryUsage)
}
