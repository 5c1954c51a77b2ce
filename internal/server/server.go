// Package server assembles the platform: it opens and migrates the database,
// loads the region tree and keys, and serves the web pages, the API, the probes
// and the metrics from one handler.
package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"jiuzhu/internal/api"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/calendar/calendardb"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/config"
	"jiuzhu/internal/credit"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/dci"
	"jiuzhu/internal/discovery"
	"jiuzhu/internal/institution"
	"jiuzhu/internal/integrity"
	"jiuzhu/internal/linkage"
	"jiuzhu/internal/online"
	"jiuzhu/internal/payroll"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/policy/policydb"
	"jiuzhu/internal/referral"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
	"jiuzhu/internal/share"
	"jiuzhu/internal/stats"
	"jiuzhu/internal/verify"
	"jiuzhu/internal/web"
)

// App is the running platform's shared state; handlers are stateless beyond it.
type App struct {
	Cfg          config.Config
	DB           *db.DB
	Tree         *region.Tree
	Keys         *crypt.Keys
	Auth         *auth.Service
	Registry     *registry.Service
	Policy       *policydb.Store
	Casework     *casework.Service
	Payroll      *payroll.Service
	Online       *online.Service // the citizen's online channel
	Verify       *verify.Service
	Stats        *stats.Service
	Institutions *institution.Service
	Share        *share.Service // API keys and data sharing with departments
	DCI          *dci.Service   // DCI Social Registry endpoints
	Discovery    *discovery.Service
	Linkage      *linkage.Service
	Credit       *credit.Service
	Referrals    *referral.Service
	Integrity    *integrity.Service
	// Calendar is the live working-day calendar: the embedded notices plus the
	// years administrators entered.
	Calendar *calendar.Calendar
	Log      *slog.Logger
}

// Open connects to the configured database, applies migrations and stores the
// region tree on first start.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	var keys *crypt.Keys
	var err error
	if cfg.KeySM4 != "" {
		keys, err = crypt.New(cfg.KeySM4, cfg.KeyHMAC)
	} else {
		keys, err = crypt.LoadOrCreate(cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	tree, err := region.Load()
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, cfg.DatabaseURL())
	if err != nil {
		return nil, err
	}
	n, err := d.Migrate(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	if n > 0 {
		log.Info("database migrated", "applied", n, "db", d.URL)
	}
	if stored, err := tree.Store(ctx, d); err != nil {
		d.Close()
		return nil, err
	} else if stored {
		c := tree.Count()
		log.Info("region tree loaded", "cities", c[region.City], "counties", c[region.County], "townships", c[region.Township], "villages", c[region.Village])
	}
	a := &App{Cfg: cfg, DB: d, Tree: tree, Keys: keys, Log: log}
	a.Auth = &auth.Service{DB: d, Tree: tree, Demo: cfg.Demo}
	a.Registry = &registry.Service{DB: d, Keys: keys, Tree: tree}
	base, err := policy.Default()
	if err != nil {
		d.Close()
		return nil, err
	}
	a.Policy = &policydb.Store{DB: d, Tree: tree, Base: base}
	if n, err := a.Policy.Sync(ctx); err != nil {
		d.Close()
		return nil, err
	} else if n > 0 {
		log.Info("policy parameters loaded", "values_added", n)
	}
	a.Calendar = calendar.Default()
	if years, err := calendardb.Load(ctx, d, a.Calendar); err != nil {
		d.Close()
		return nil, err
	} else if len(years) > 0 {
		log.Info("holiday arrangements loaded", "years", years)
	}
	a.Casework = &casework.Service{DB: d, Tree: tree, Calendar: a.Calendar, Keys: keys,
		Assessor: &casework.CalcAssessor{Registry: a.Registry, Tree: tree, Params: a.Policy.Effective},
		Reserve: func(ctx context.Context, tx *sql.Tx, actor audit.Actor, township string, caseID, amountFen int64, ref string) error {
			return payroll.ReserveAdvance(ctx, d, tx, actor, township, caseID, amountFen, ref)
		},
		Delegation: func(ctx context.Context, region string, on time.Time) (bool, error) {
			v, err := a.Policy.Resolve(ctx, "dibao.approval.township_delegated", region, on)
			return v.Bool, err
		}}
	a.Payroll = &payroll.Service{DB: d, Tree: tree, Keys: keys, Params: a.Policy}
	a.Online = &online.Service{DB: d, Keys: keys, Tree: tree, Casework: a.Casework}
	a.Stats = &stats.Service{DB: d, Tree: tree, Params: a.Policy}
	a.Institutions = &institution.Service{DB: d, Tree: tree}
	a.Verify = &verify.Service{DB: d, Tree: tree, Keys: keys, Params: a.Policy, Calendar: a.Calendar, StoreDir: cfg.ExtractDir()}
	a.Credit = &credit.Service{DB: d, Tree: tree, Keys: keys}
	a.Share = &share.Service{DB: d, Tree: tree, Keys: keys, Log: log, Credit: a.Credit}
	a.DCI = &dci.Service{DB: d, Tree: tree, Keys: keys, Share: a.Share, Log: log, Client: &http.Client{Timeout: 10 * time.Second}}
	a.Discovery = &discovery.Service{DB: d, Tree: tree, Keys: keys, Calendar: a.Calendar, Log: log, Params: a.Policy}
	a.Linkage = &linkage.Service{DB: d, Tree: tree, Keys: keys}
	a.Referrals = &referral.Service{DB: d, Tree: tree, Keys: keys, Calendar: a.Calendar, Log: log}
	a.Integrity = &integrity.Service{DB: d, Tree: tree, Keys: keys, Calendar: a.Calendar, Payroll: a.Payroll, Credit: a.Credit, Log: log}
	return a, nil
}

// RunBackground runs the deliveries to other systems (sharing subscriptions, DCI notifications)
// until ctx ends; every server instance may run them, they claim work with leases.
func (a *App) RunBackground(ctx context.Context) {
	go a.Share.Run(ctx)
	go a.DCI.Run(ctx, time.Minute)
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }

// EnsureAdmin creates the first administrator when there are no users, with a
// random password that is printed once and must be changed at first login.
func (a *App) EnsureAdmin(ctx context.Context) (string, error) {
	var n int
	if err := a.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return "", fmt.Errorf("server: count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	b := make([]byte, 9)
	rand.Read(b)
	pw := "A1" + base64.RawURLEncoding.EncodeToString(b)
	_, err := a.Auth.Create(ctx, nil, auth.NewUser{Username: "admin", DisplayName: "省级系统管理员", Role: auth.Admin, Region: a.Tree.Root.Code, Password: pw, MustChange: true})
	if err != nil {
		return "", err
	}
	return pw, nil
}

// Handler returns the whole HTTP surface.
func (a *App) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	w, err := web.New(&web.Server{Auth: a.Auth, Registry: a.Registry, Policy: a.Policy, Casework: a.Casework, Payroll: a.Payroll, Online: a.Online, Verify: a.Verify, Stats: a.Stats, Institutions: a.Institutions,
		Share: a.Share, Discovery: a.Discovery, Linkage: a.Linkage, Credit: a.Credit, Referrals: a.Referrals, Integrity: a.Integrity,
		Calendar: a.Calendar, Tree: a.Tree, Secure: a.Cfg.SecureCookies, Demo: a.Cfg.Demo, Log: a.Log})
	if err != nil {
		return nil, err
	}
	w.Routes(mux)
	(&api.API{Auth: a.Auth, Registry: a.Registry, Policy: a.Policy, Casework: a.Casework, Payroll: a.Payroll, Online: a.Online, Verify: a.Verify, Stats: a.Stats, Institutions: a.Institutions,
		Discovery: a.Discovery, Linkage: a.Linkage, Credit: a.Credit, Referrals: a.Referrals, Integrity: a.Integrity,
		Tree: a.Tree, DB: a.DB, Log: a.Log}).Routes(mux)
	mux.Handle("/share/", a.Share.Handler())
	mux.Handle("/dci/", http.StripPrefix("/dci", a.DCI.Handler()))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jiuzhu_http_requests_total", Help: "HTTP requests by route pattern and status."}, []string{"route", "code"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jiuzhu_http_request_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"})
	reg.MustRegister(reqs, dur, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jiuzhu_db_open_connections", Help: "Open database connections."},
		func() float64 { return float64(a.DB.Stats().OpenConnections) }))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		ok, err := a.DB.SchemaCurrent(ctx)
		if err == nil {
			err = a.DB.PingContext(ctx)
		}
		if err != nil || !ok {
			http.Error(w, "database not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})

	var h http.Handler = mux
	h = http.NewCrossOriginProtection().Handler(h)
	h = a.observe(h, reqs, dur)
	h = securityHeaders(h)
	return h, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// observe logs and counts each request by its route pattern. The query string
// is never logged: it may carry an ID number.
func (a *App) observe(next http.Handler, reqs *prometheus.CounterVec, dur *prometheus.HistogramVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		reqs.WithLabelValues(route, fmt.Sprint(sw.status)).Inc()
		dur.WithLabelValues(route).Observe(elapsed.Seconds())
		a.Log.Info("http", "method", r.Method, "route", route, "status", sw.status, "ms", elapsed.Milliseconds())
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}
