package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/server"
	"jiuzhu/internal/verify"
)

const verifyUsage = `usage:
  jiuzhu verify import -source NAME [-provider CODE] -date YYYY-MM-DD FILE   import one department extract (CSV or XLSX)
  jiuzhu verify import -dir DIR                                            import every extract a manifest.csv lists (jiuzhu gen -extracts)
  jiuzhu verify fetch -source NAME [-provider CODE] -url URL [-token T]     fetch an extract over HTTP and import it
  jiuzhu verify batch [-source NAME ...]                                   re-check every current recipient in scope (resumes an interrupted batch)
  jiuzhu verify layouts                                                    print the extract layouts (docs/verification-sources.md)
-as USER acts as that account (default: the system, at province level).`

// sources collects repeated -source flags.
type sources []string

func (s *sources) String() string     { return strings.Join(*s, ",") }
func (s *sources) Set(v string) error { *s = append(*s, strings.Split(v, ",")...); return nil }

func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(verifyUsage)
	}
	sub := args[0]
	if sub == "layouts" {
		_, err := io.WriteString(stdout, verify.LayoutDoc())
		return err
	}
	fs := flag.NewFlagSet("verify "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	as := fs.String("as", "", "username acting (default: the system)")
	var srcs sources
	fs.Var(&srcs, "source", "source name (repeatable for batch)")
	provider := fs.String("provider", "", "bank, broker or insurer code for per-provider sources")
	date := fs.String("date", "", "the extract's data date")
	dir := fs.String("dir", "", "folder with manifest.csv and the extracts")
	url := fs.String("url", "", "the source's extract URL")
	token := fs.String("token", "", "bearer token for the source")
	app, u, err := openAs(ctx, fs, args[1:], stderr, *as, auth.VerificationOfficer)
	if err != nil {
		return err
	}
	defer app.Close()
	svc := app.Verify
	switch sub {
	case "import":
		if *dir != "" {
			return importDir(ctx, svc, u, *dir, stdout)
		}
		if len(srcs) != 1 || fs.NArg() != 1 {
			return errors.New(verifyUsage)
		}
		body, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		res, err := svc.Import(ctx, u, verify.ImportInput{Source: srcs[0], Provider: *provider, DataDate: *date, FileName: filepath.Base(fs.Arg(0)), Body: body})
		printImport(stdout, fs.Arg(0), res)
		return err
	case "fetch":
		if len(srcs) != 1 || *url == "" {
			return errors.New(verifyUsage)
		}
		res, err := svc.ImportFrom(ctx, u, verify.HTTPSource{Source: srcs[0], Provider: *provider, URL: *url, Token: *token})
		printImport(stdout, *url, res)
		return err
	case "batch":
		sum, err := svc.Batch(ctx, u, verify.BatchOptions{Sources: srcs})
		if err != nil {
			return err
		}
		printBatch(stdout, sum)
		return nil
	}
	return errors.New(verifyUsage)
}

func printImport(w io.Writer, name string, res *verify.ImportResult) {
	if res == nil {
		return
	}
	fmt.Fprintf(w, "%s: %s — %s\n", name, res.Outcome, res.Message)
	for _, e := range res.Errors {
		fmt.Fprintf(w, "  第 %d 行 %s：%s\n", e.Line, e.Column, e.Message)
	}
}

// importDir imports the extracts a manifest lists (file,source,provider,data_date,rows).
func importDir(ctx context.Context, svc *verify.Service, u *auth.User, dir string, w io.Writer) error {
	f, err := os.Open(filepath.Join(dir, "manifest.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("verify: manifest: %w", err)
	}
	for _, r := range rows[1:] {
		if len(r) < 4 {
			return fmt.Errorf("verify: manifest: short row %v", r)
		}
		body, err := os.ReadFile(filepath.Join(dir, r[0]))
		if err != nil {
			return err
		}
		res, err := svc.Import(ctx, u, verify.ImportInput{Source: r[1], Provider: r[2], DataDate: r[3], FileName: r[0], Body: body})
		printImport(w, r[0], res)
		if err != nil {
			return err
		}
	}
	return nil
}

func printBatch(w io.Writer, s *verify.BatchSummary) {
	resumed := ""
	if s.Resumed {
		resumed = "（续跑）"
	}
	fmt.Fprintf(w, "批量复核 %d%s：%d 户 %d 人，扫描 %d 行，匹配 %d 行，新建任务 %d 个，仍有未办结任务的发现 %d 个，用时 %s\n",
		s.ID, resumed, s.Households, s.Persons, s.Scanned, s.Matched, s.Tasks, s.Carried, s.Elapsed)
	fmt.Fprintln(w, "按来源：")
	for _, c := range s.Sources {
		fmt.Fprintf(w, "  %-20s 数据日期 %s  扫描 %9d  匹配 %7d  发现 %5d\n", c.Label, c.DataDate, c.Scanned, c.Matched, c.Findings)
	}
	fmt.Fprintln(w, "按县（市、区）：")
	for _, c := range s.Counties {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(c.ByKind)) {
			kinds = append(kinds, fmt.Sprintf("%s %d", verify.FindingLabels[k], c.ByKind[k]))
		}
		fmt.Fprintf(w, "  %s %s  任务 %d（%s）\n", c.Code[:6], c.Name, c.Tasks, strings.Join(kinds, "，"))
	}
}

// system is the platform acting on its own at province level in a role,
// for commands run without -as and for the demo's set-up.
func system(app *server.App, role auth.Role) *auth.User {
	return &auth.User{Username: "system", DisplayName: "系统", Role: role, Region: app.Tree.Root.Code, Active: true}
}

// openAs parses the common settings, opens the platform and returns the
// account to act as: the one named by as, or the system in role.
func openAs(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer, as string, role auth.Role) (*server.App, *auth.User, error) {
	cfg, err := settings(fs)(args)
	if err != nil {
		return nil, nil, err
	}
	app, err := server.Open(ctx, cfg, logger(cfg, stderr))
	if err != nil {
		return nil, nil, err
	}
	if as == "" {
		return app, system(app, role), nil
	}
	u, err := userByName(ctx, app, as)
	if err != nil {
		app.Close()
		return nil, nil, err
	}
	return app, u, nil
}

// userByName finds an active account to act as.
func userByName(ctx context.Context, app *server.App, name string) (*auth.User, error) {
	var uid int64
	if err := app.DB.QueryRowContext(ctx, `SELECT id FROM users WHERE username = $1 AND active`, name).Scan(&uid); err != nil {
		return nil, fmt.Errorf("no active user %q", name)
	}
	return app.Auth.ByID(ctx, uid)
}

// seedVerifyDemo writes the demo counties' department extracts (with planted
// discrepancies) and imports them, and records the signed authorisations of
// the households with open applications, so a caseworker can request a
// verification and the centre can run a batch at once.
func seedVerifyDemo(ctx context.Context, app *server.App, opts gen.Options, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "jiuzhu-demo-extracts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	xs, err := gen.WriteExtracts(ctx, dir, app.Tree, opts, gen.ExtractOptions{Background: 2})
	if err != nil {
		return fmt.Errorf("demo extracts: %w", err)
	}
	if err := importDir(ctx, app.Verify, system(app, auth.VerificationOfficer), dir, io.Discard); err != nil {
		return fmt.Errorf("demo extracts: %w", err)
	}
	fmt.Fprintf(stdout, "演示核对数据：%d 个部门文件，%d 行\n", len(xs.Files), xs.Rows())
	return nil
}

// signDemoAuthorisations records the authorisation of every member of the
// households with open applications, signed on the day the case was accepted.
func signDemoAuthorisations(ctx context.Context, app *server.App) error {
	rows, err := app.DB.QueryContext(ctx, `SELECT DISTINCT c.household_id, p.id, c.accepted_on, c.programme FROM cases c
		JOIN persons p ON p.household_id = c.household_id AND p.status = 'active' WHERE c.state NOT IN ('approved', 'closed', 'refused')`)
	if err != nil {
		return err
	}
	type sig struct {
		hh, person int64
		on, prog   string
	}
	var sigs []sig
	for rows.Next() {
		var s sig
		if err := rows.Scan(&s.hh, &s.person, &s.on, &s.prog); err != nil {
			rows.Close()
			return err
		}
		sigs = append(sigs, s)
	}
	rows.Close()
	sys := system(app, auth.VerificationOfficer)
	for _, s := range sigs {
		prog := "dibao"
		if s.prog == "tekun" || s.prog == "temporary" {
			prog = s.prog
		}
		if _, err := app.Verify.RecordAuthorisation(ctx, sys, verify.AuthorisationInput{HouseholdID: s.hh, PersonID: s.person, Programme: prog,
			SignedOn: s.on, Fingerprint: true, Pledge: true}); err != nil {
			return err
		}
	}
	return nil
}
