// Package cli parses the subcommands of the jiuzhu binary.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/config"
	"jiuzhu/internal/demo"
	"jiuzhu/internal/server"
)

const usage = `jiuzhu — 江西省社会救助综合信息平台

usage: jiuzhu <command> [flags]

commands:
  serve     run the platform (web pages, API, probes, metrics)
  migrate   create or upgrade the database schema and load the region tree
  gen       generate the synthetic province into a database or CSV files
  audit     audit verify: check the whole hash chain of the audit log
  calc      evaluate one JSON situation: jiuzhu calc [FILE|-]
  simulate  a reform simulation over the registry
  payroll   monthly payroll: run, check, bankfiles, reconcile, status, prices
  verify    economic verification: import extracts, fetch, batch re-check, layouts
  share     sharing keys for departments and portals: keys, issue, revoke
  discovery department events and other registries: import, rules, linkage
  integrity anomaly lists for discipline inspection: run, plant
  bench     run a benchmark: jiuzhu bench registry|calc|casework|payroll|verify|stats|share|integrity [-db URL] [-scale F]

Settings come from flags, JIUZHU_* environment variables or a file named by
-config / JIUZHU_CONFIG (KEY=VALUE lines). Run 'jiuzhu <command> -h' for flags.
`

// Run executes one command line and returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], stdout, stderr)
	case "gen":
		err = genCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		err = auditCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args[1:], stdout, stderr)
	case "calc":
		err = calcCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "simulate":
		err = simulateCmd(ctx, args[1:], stdout, stderr)
	case "payroll":
		err = payrollCmd(ctx, args[1:], stdout, stderr)
	case "verify":
		err = verifyCmd(ctx, args[1:], stdout, stderr)
	case "share":
		err = shareCmd(ctx, args[1:], stdout, stderr)
	case "discovery":
		err = discoveryCmd(ctx, args[1:], stdout, stderr)
	case "integrity":
		err = integrityCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "jiuzhu: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "jiuzhu:", err)
		return 1
	}
	return 0
}

// settings binds the common configuration flags on fs. Flags that were given
// override the file and the environment.
func settings(fs *flag.FlagSet) func(args []string) (config.Config, error) {
	file := fs.String("config", "", "configuration file of JIUZHU_*=value lines")
	names := map[string]string{
		"addr": "listen address (JIUZHU_ADDR)", "data": "data folder for the embedded database and keys (JIUZHU_DATA)",
		"db": "PostgreSQL URL postgres://...; empty = embedded SQLite in the data folder (JIUZHU_DB)", "key-sm4": "SM4 key, 32 hex digits (JIUZHU_KEY_SM4)",
		"key-hmac": "HMAC-SM3 key, 64 hex digits (JIUZHU_KEY_HMAC)", "log-format": "text or json (JIUZHU_LOG_FORMAT)",
		"secure-cookies": "mark cookies Secure: true/false; default: on unless listening on loopback (JIUZHU_SECURE_COOKIES)",
	}
	vals := map[string]*string{}
	for n, help := range names {
		vals[n] = fs.String(n, "", help)
	}
	demoFlag := fs.Bool("demo", false, "load demo data and one demo account per role (JIUZHU_DEMO)")
	return func(args []string) (config.Config, error) {
		if err := fs.Parse(args); err != nil {
			return config.Config{}, err
		}
		cfg, err := config.Load(*file, os.Environ())
		if err != nil {
			return cfg, err
		}
		var applyErr error
		fs.Visit(func(f *flag.Flag) {
			if v, ok := vals[f.Name]; ok {
				applyErr = errors.Join(applyErr, cfg.Apply(f.Name, *v))
			}
			if f.Name == "demo" {
				cfg.Demo = *demoFlag
			}
		})
		if applyErr != nil {
			return cfg, applyErr
		}
		if err := cfg.Validate(); err != nil {
			return cfg, fmt.Errorf("configuration:\n%w", err)
		}
		return cfg, nil
	}
}

func logger(cfg config.Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parse := settings(fs)
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	app, err := server.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	if cfg.Demo {
		if err := seedDemo(ctx, app, stdout); err != nil {
			return err
		}
	} else if pw, err := app.EnsureAdmin(ctx); err != nil {
		return err
	} else if pw != "" {
		fmt.Fprintf(stdout, "首次启动：已创建省级管理员账号 admin，初始密码 %s（仅显示这一次，首次登录须修改）\n", pw)
	}
	h, err := app.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Fprintf(stdout, "jiuzhu 已启动：http://%s/  （数据库：%s）\n", ln.Addr(), app.DB.URL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	app.RunBackground(ctx)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

func seedDemo(ctx context.Context, app *server.App, stdout io.Writer) error {
	accounts, err := demo.Seed(ctx, app.Auth, app.Tree)
	if err != nil {
		return err
	}
	if err := loadDemoData(ctx, app, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "演示账号（密码均为 %s）：\n", demo.Password)
	for _, a := range accounts {
		fmt.Fprintf(stdout, "  %-18s %-14s %s\n", a.Username, a.Role, a.Region)
	}
	return nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := settings(fs)(args)
	if err != nil {
		return err
	}
	app, err := server.Open(ctx, cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	fmt.Fprintln(stdout, "schema is current:", app.DB.URL)
	return nil
}

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: jiuzhu audit verify [-db URL | -data DIR]")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := settings(fs)(args[1:])
	if err != nil {
		return err
	}
	app, err := server.Open(ctx, cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	res, err := audit.Verify(ctx, app.DB, func(n int64) {
		if n%100000 == 0 && n > 0 {
			fmt.Fprintf(stdout, "checked %d entries...\n", n)
		}
	})
	if err != nil {
		return err
	}
	if res.FirstBroken != 0 {
		fmt.Fprintf(stdout, "BROKEN at entry %d: %s (%d entries before it are intact)\n", res.FirstBroken, res.Problem, res.Checked)
		return fmt.Errorf("audit chain broken at entry %d", res.FirstBroken)
	}
	fmt.Fprintf(stdout, "audit chain intact: %d entries\n", res.Checked)
	return nil
}
