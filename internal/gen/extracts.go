package gen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/bankcard"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
	"jiuzhu/internal/verify"
)

// Department extracts: what the police, human resources, land registry,
// market regulator, tax office, provident fund, banks, brokers, insurers and
// civil affairs would deliver for verification (verify.Sources), as raw CSV
// with PLAINTEXT ID numbers: test data only.
//
// Every registry household gets rows that agree with its declaration (its
// declared vehicles, houses, deposits, pensions, contributions, small
// businesses), and traps that look like discrepancies but are not (disability
// vehicles). Recipient households get planted discrepancies with a given
// probability per kind, written to truth.csv. People outside the registry
// fill the extracts to a realistic size; their ID numbers carry the address
// codes of other provinces, so they never match a registry person.
//
// The rows are drawn from streams of their own (per household, per source of
// background rows), so the registry the generator writes is unchanged.

// ExtractOptions say how much department data to write besides the registry's own.
type ExtractOptions struct {
	DataDate time.Time // the extracts' data date (default: opts.Now)
	// Background is the number of extract rows about people outside the
	// registry per registry person (default 7; at scale 1 with ~4.1M persons
	// this makes ≥30M rows in total). Negative: none.
	Background float64
	// Plant is the probability per recipient household and discrepancy kind
	// (default 0.004). Negative: no planted discrepancies.
	Plant float64
}

// ExtractStats count what WriteExtracts wrote.
type ExtractStats struct {
	DataDate   string // YYYY-MM-DD
	Households int64  // of the registry
	Persons    int64
	// Registry counts the rows about registry persons: the consistent ones,
	// the traps and the planted discrepancies.
	Registry int64
	// Traps are rows that look like discrepancies and are not (disability
	// vehicles); they are among Registry.
	Traps int64
	// Planted counts the truth rows per discrepancy kind.
	Planted    map[string]int64
	Background int64         // rows about people outside the registry
	Files      []ExtractFile // as in manifest.csv
}

// Rows is the number of extract rows in all files.
func (s ExtractStats) Rows() int64 { return s.Registry + s.Background }

// ExtractFile is one extract file: its name in the folder, the source, the
// provider (PerProvider sources only) and the rows below the header.
type ExtractFile struct {
	Name, Source, Provider string
	Rows                   int64
}

// Discrepancy kinds planted in recipient households (truth.csv kind column).
const (
	PlantVehicle   = "vehicle"
	PlantBusiness  = "business"
	PlantFinancial = "financial"
	PlantDeath     = "death"
	PlantIncome    = "income"
	PlantHouse     = "house"
)

// PlantKinds lists the planted kinds in the order they are drawn.
var PlantKinds = []string{PlantVehicle, PlantBusiness, PlantFinancial, PlantDeath, PlantIncome, PlantHouse}

// extractLayouts are the columns the row writers below produce, in order; a
// layout change in verify.Sources must be followed here (WriteExtracts checks).
var extractLayouts = map[string][]string{
	"hukou":            {"id_number", "event", "event_date", "destination"},
	"vehicle":          {"id_number", "plate", "vehicle_type", "register_date", "price_yuan"},
	"social_insurance": {"id_number", "item", "monthly_yuan", "start_date", "employer"},
	"real_estate":      {"id_number", "cert_no", "address", "area_m2", "register_date"},
	"market":           {"id_number", "credit_code", "entity_name", "role", "capital_yuan", "register_date"},
	"tax":              {"id_number", "year", "income_yuan", "tax_yuan"},
	"provident_fund":   {"id_number", "employer", "monthly_yuan", "balance_yuan", "last_paid"},
	"bank":             {"id_number", "account_no", "balance_yuan", "as_of"},
	"securities":       {"id_number", "account_no", "value_yuan", "as_of"},
	"insurance":        {"id_number", "policy_no", "product", "cash_value_yuan", "as_of"},
	"marriage":         {"id_number", "event", "event_date", "spouse_name"},
	"funeral":          {"id_number", "death_date", "cremation_date", "home"},
}

// Providers of the PerProvider sources: the banks of ids.go, and made-up
// brokers and insurers.
var extractProviders = map[string][]string{
	"bank":       {bankRCB.code, bankPSBC.code, bankABC.code, bankCCB.code, bankICBC.code, bankBOC.code, bankJJ.code, bankGZ.code, bankSR.code},
	"securities": {"HTSEC", "GFSEC", "CITICS"},
	"insurance":  {"PICC", "CPIC", "PINGAN", "CHINALIFE"},
}

var bankPrefixes = map[string]string{
	bankRCB.code: bankRCB.prefix, bankPSBC.code: bankPSBC.prefix, bankABC.code: bankABC.prefix, bankCCB.code: bankCCB.prefix,
	bankICBC.code: bankICBC.prefix, bankBOC.code: bankBOC.prefix, bankJJ.code: bankJJ.prefix, bankGZ.code: bankGZ.prefix, bankSR.code: bankSR.prefix,
}

// Shares of the background rows per source (they add up to 1).
var backgroundShares = []struct {
	source string
	share  float64
}{
	{"bank", 0.34}, {"social_insurance", 0.18}, {"vehicle", 0.10}, {"real_estate", 0.09}, {"tax", 0.08},
	{"provident_fund", 0.06}, {"market", 0.05}, {"securities", 0.04}, {"insurance", 0.03},
	{"marriage", 0.015}, {"funeral", 0.01}, {"hukou", 0.005},
}

// Seeds of the extract streams, apart from the people's and the finances'.
const (
	streamConsistent = 0x452821e638d01377
	streamPlant      = 0xbe5466cf34e90c6c
	streamBackground = 0xc0ac29b7c97c50dd
)

// WriteExtracts writes one CSV per source (and per provider for PerProvider
// sources: bank-<CODE>.csv, securities-<CODE>.csv, insurance-<CODE>.csv; other
// sources <name>.csv), manifest.csv and truth.csv into dir. The registry is
// the one New(opts, tree) generates: Load and WriteCSV with the same options
// (including the day of Now) write the households the extracts speak of.
func WriteExtracts(ctx context.Context, dir string, tree *region.Tree, opts Options, xo ExtractOptions) (ExtractStats, error) {
	g, err := New(opts, tree)
	if err != nil {
		return ExtractStats{}, err
	}
	opts = g.opts
	date := xo.DataDate
	if date.IsZero() {
		date = opts.Now
	}
	date = dayOf(date.UTC())
	switch {
	case xo.Background == 0:
		xo.Background = 7
	case xo.Background < 0:
		xo.Background = 0
	}
	switch {
	case xo.Plant == 0:
		xo.Plant = 0.004
	case xo.Plant < 0:
		xo.Plant = 0
	}
	if math.IsNaN(xo.Background) || math.IsInf(xo.Background, 0) || math.IsNaN(xo.Plant) || xo.Plant > 1 {
		return ExtractStats{}, fmt.Errorf("gen: extracts: background %v and plant %v must be finite, plant at most 1", xo.Background, xo.Plant)
	}
	plan := g.Stats()
	st := ExtractStats{DataDate: date.Format(time.DateOnly), Planted: map[string]int64{}}
	bgRows := int64(math.Round(xo.Background * float64(plan.Persons)))
	bg, err := newBackground(opts.Seed, date, bgRows)
	if err != nil {
		return st, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return st, fmt.Errorf("gen: extracts: %w", err)
	}
	w, err := openExtracts(dir)
	if err != nil {
		return st, err
	}
	prog := &progress{report: opts.Progress, total: bgRows + 2*plan.Households}
	prog.add(0)
	// The registry's rows and the background's are written side by side, to
	// files of their own; the registry's are appended at the end.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	bgDone := make(chan error, 1)
	go func() {
		err := bg.run(runCtx, w.main, prog)
		if err != nil {
			cancel()
		}
		bgDone <- err
	}()
	reg := &registryPass{x: w.reg, truths: w.truth, tree: tree, seed: opts.Seed, date: date, plant: xo.Plant, st: &st, prog: prog,
		plates: map[string]int64{}}
	regErr := reg.run(runCtx, g)
	if regErr != nil {
		cancel()
	}
	err = firstError(regErr, <-bgDone)
	prog.finish()
	err = errors.Join(err, w.close(err == nil))
	if err == nil {
		err = w.manifest(dir, date)
	}
	for _, f := range w.files {
		st.Files = append(st.Files, ExtractFile{Name: f.name, Source: f.source, Provider: f.provider, Rows: f.rows})
	}
	st.Background = bg.rows
	return st, err
}

// firstError is the first error that is not a cancellation caused by
// another, else the first.
func firstError(errs ...error) error {
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	return first
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// extracts are the open files: one per source or source and provider, each
// with a part file for the registry's rows, and truth.csv.
type extracts struct {
	files     []*xfile // header and background rows, in manifest order
	parts     []*xfile // the registry's rows for the file of the same index
	main, reg fileSet
	truth     *xfile
}

// fileSet finds a source's file, or a provider's.
type fileSet map[string]*xfile

func (s fileSet) get(source string) *xfile { return s[source] }

func (s fileSet) provider(source, provider string) *xfile { return s[source+"-"+provider] }

// openExtracts creates every file with its header from verify.Sources, after
// checking that the layouts are those the writers produce.
func openExtracts(dir string) (*extracts, error) {
	w := &extracts{main: fileSet{}, reg: fileSet{}}
	var err error
	for _, src := range verify.Sources {
		want, ok := extractLayouts[src.Name]
		if !ok {
			err = fmt.Errorf("gen: extracts: no rows are written for source %q: add it to extracts.go", src.Name)
			break
		}
		header := make([]string, len(src.Columns))
		for i, c := range src.Columns {
			header[i] = c.Name
		}
		if !slices.Equal(header, want) {
			err = fmt.Errorf("gen: extracts: the layout of %s is %v, the writers produce %v: update extracts.go", src.Name, header, want)
			break
		}
		names := []string{src.Name}
		providers := []string{""}
		if src.PerProvider {
			providers = extractProviders[src.Name]
			if len(providers) == 0 {
				err = fmt.Errorf("gen: extracts: no providers for source %q", src.Name)
				break
			}
			names = names[:0]
			for _, p := range providers {
				names = append(names, src.Name+"-"+p)
			}
		}
		for i, name := range names {
			var f, part *xfile
			if f, err = createX(filepath.Join(dir, name+".csv"), header); err != nil {
				break
			}
			f.name, f.source, f.provider = name+".csv", src.Name, providers[i]
			w.files = append(w.files, f)
			w.main[name] = f
			if part, err = createX(filepath.Join(dir, "."+name+".registry.part"), nil); err != nil {
				break
			}
			w.parts = append(w.parts, part)
			w.reg[name] = part
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		w.truth, err = createX(filepath.Join(dir, "truth.csv"), []string{"hh_no", "id_number", "kind", "source"})
	}
	if err != nil {
		w.close(false)
		return nil, err
	}
	return w, nil
}

// close completes the files: with complete, each file gets its registry
// rows appended. The part files are removed either way.
func (w *extracts) close(complete bool) error {
	var err error
	for i, f := range w.files {
		if i < len(w.parts) {
			part := w.parts[i]
			perr := part.close()
			if complete && perr == nil {
				perr = f.appendFile(part.f.Name())
				f.rows += part.rows
			}
			err = errors.Join(err, perr, os.Remove(part.f.Name()))
		}
		err = errors.Join(err, f.close())
	}
	if w.truth != nil {
		err = errors.Join(err, w.truth.close())
	}
	return err
}

func (w *extracts) manifest(dir string, date time.Time) error {
	m, err := createX(filepath.Join(dir, "manifest.csv"), []string{"file", "source", "provider", "data_date", "rows"})
	if err != nil {
		return err
	}
	for _, f := range w.files {
		m.s(f.name).s(f.source).s(f.provider).day(date).n(f.rows).end()
	}
	return m.close()
}

// xfile is a buffered CSV file written a field at a time, without the
// allocations of a []string per row: tens of millions of rows go through it.
type xfile struct {
	name, source, provider string
	f                      *os.File
	w                      *bufio.Writer
	line                   []byte
	rows                   int64
	err                    error
}

func createX(path string, header []string) (*xfile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gen: extracts: %w", err)
	}
	x := &xfile{f: f, w: bufio.NewWriterSize(f, 1<<18)}
	if header != nil {
		for _, h := range header {
			x.s(h)
		}
		x.end()
		x.rows = 0
	}
	return x, nil
}

// appendFile copies the file at path to the end of x.
func (x *xfile) appendFile(path string) error {
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gen: extracts: %w", err)
	}
	defer src.Close()
	if x.err == nil {
		_, x.err = io.Copy(x.w, src)
	}
	return nil
}

// s adds a text field, quoted when CSV needs it.
func (x *xfile) s(v string) *xfile {
	x.begin()
	if strings.ContainsAny(v, ",\"\r\n") || v != "" && (v[0] == ' ' || v[0] == '\t') {
		x.line = append(x.line, '"')
		x.line = append(x.line, strings.ReplaceAll(v, `"`, `""`)...)
		x.line = append(x.line, '"')
		return x
	}
	x.line = append(x.line, v...)
	return x
}

// begin starts a field: a comma, or at the start of a line a marker byte
// that end drops.
func (x *xfile) begin() {
	if len(x.line) > 0 {
		x.line = append(x.line, ',')
	} else {
		x.line = append(x.line, 0)
	}
}

// n adds an integer.
func (x *xfile) n(v int64) *xfile {
	x.begin()
	x.line = strconv.AppendInt(x.line, v, 10)
	return x
}

// yuan adds an amount of fen as yuan with two decimals.
func (x *xfile) yuan(fen int64) *xfile {
	x.begin()
	x.line = strconv.AppendInt(x.line, fen/100, 10)
	c := fen % 100
	x.line = append(x.line, '.', byte('0'+c/10), byte('0'+c%10))
	return x
}

// day adds a date as YYYY-MM-DD.
func (x *xfile) day(t time.Time) *xfile {
	x.begin()
	x.line = t.AppendFormat(x.line, time.DateOnly)
	return x
}

// end writes the line.
func (x *xfile) end() {
	x.line = append(x.line, '\n')
	if x.err == nil {
		_, x.err = x.w.Write(x.line[1:])
	}
	x.line = x.line[:0]
	x.rows++
}

func (x *xfile) close() error {
	err := x.err
	if err == nil {
		err = x.w.Flush()
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gen: extracts: %s: %w", x.f.Name(), err)
	}
	return nil
}

// Plates: the province's character and each city's letter.
var cityPlates = map[string]string{
	"3601": "赣A", "3602": "赣H", "3603": "赣J", "3604": "赣G", "3605": "赣K", "3606": "赣L",
	"3607": "赣B", "3608": "赣D", "3609": "赣C", "3610": "赣F", "3611": "赣E",
}

// plateChars are the characters of a plate number: digits and letters but I and O.
const plateChars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// plateBody turns the n-th plate of a prefix into its five characters (six,
// new-energy style, beyond 1,156,000): distinct n give distinct bodies.
func plateBody(n int64) (string, error) {
	const cap5 = 34 * 34 * 1000
	if n < cap5 {
		n = (n*7919 + 4242) % cap5 // a permutation: 7919 is prime to cap5
		return string([]byte{plateChars[n/34000], plateChars[n/1000%34], byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)}), nil
	}
	n -= cap5
	if n >= 34*34*34*34*34 {
		return "", errors.New("gen: extracts: too many plates for one prefix")
	}
	b := []byte{'D', 0, 0, 0, 0, 0}
	for i := 5; i >= 1; i-- {
		b[i] = plateChars[n%34]
		n /= 34
	}
	return string(b), nil
}

// accountNumber makes a 19-digit card number that cannot be a registry
// payment account (those have a county's digits after the prefix, never 9x):
// prefix, space (98 registry, 99 background), a 10-digit serial and a Luhn
// digit.
func accountNumber(bankCode, space string, n int64) string {
	body := bankPrefixes[bankCode] + space + fmt.Sprintf("%010d", (n*7919+2718281)%10_000_000_000)
	return body + string(bankcard.CheckDigit(body))
}

// creditChars are the characters of a unified social credit code (GB 32100).
const creditChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// creditCode makes an 18-character code: kind (91 company, 92 individual
// business), area code, the serial as nine digits and the check character.
func creditCode(kind, area string, n int64) string {
	body := kind + area + fmt.Sprintf("%09d", (n*7919+1618033)%1_000_000_000)
	sum := 0
	for i := range 17 {
		sum += strings.IndexByte(creditChars, body[i]) * creditWeights[i]
	}
	return body + string(creditChars[(31-sum%31)%31])
}

// Names of employers, shops and companies.
var (
	employerKinds = strings.Fields(`建筑工程有限公司 物流有限公司 食品有限公司 电子科技有限公司 人民医院 商贸有限公司
		物业服务有限公司 纺织有限公司 机械制造有限公司 中学 供电公司 自来水有限公司`)
	shopKinds    = strings.Fields("家庭农场 百货店 小吃店 农资店 养殖场 五金店 理发店 服装店 水果店 早餐店 修车铺 种植专业户")
	companyNames = strings.Fields("鑫源 恒达 宏发 兴旺 瑞丰 鸿运 金泰 华盛 永辉 众诚 天宇 锦程 润泽 嘉禾 盛世 安泰")
	companyKinds = strings.Fields("商贸有限公司 建材有限公司 实业有限公司 农业开发有限公司 餐饮管理有限公司 科技有限公司 贸易有限公司")
	products     = strings.Fields("终身寿险 年金保险 两全保险 增额终身寿险 少儿教育金保险 养老年金保险")
	policyMarks  = map[string]string{"PICC": "PICC", "CPIC": "CPIC", "PINGAN": "PA", "CHINALIFE": "CL"}
)

// registryPass writes the rows about registry persons: consistent, traps and
// planted discrepancies, household by household in household number order.
type registryPass struct {
	x      fileSet
	tree   *region.Tree
	seed   int64
	date   time.Time
	plant  float64
	truths *xfile
	st     *ExtractStats
	prog   *progress

	plates                                  map[string]int64
	accounts, certs, secs, policies, credit int64
	rows                                    int64
}

func (r *registryPass) run(ctx context.Context, g *Generator) error {
	var reported int64
	for h, err := range g.All(ctx) {
		if err != nil {
			return err
		}
		r.st.Households++
		r.st.Persons += int64(len(h.Members))
		if err := r.household(h); err != nil {
			return err
		}
		if r.rows-reported >= 10_000 {
			r.prog.add(r.rows - reported)
			reported = r.rows
		}
	}
	r.prog.add(r.rows - reported)
	r.st.Registry = r.rows
	return nil
}

func householdRNG(seed int64, hhNo string, stream uint64) *rand.Rand {
	n, _ := strconv.ParseUint(hhNo, 10, 64)
	return rand.New(rand.NewPCG(uint64(seed)^stream, n*0x9e3779b97f4a7c15+0x632be59bd9b4e019))
}

// hh is one household being written.
type hh struct {
	*Household
	rng    *rand.Rand
	births []time.Time
	urban  bool
}

// between draws a day in [lo, hi]; hi if lo is later.
func between(rng *rand.Rand, lo, hi time.Time) time.Time {
	if !lo.Before(hi) {
		return hi
	}
	n := int64(hi.Sub(lo).Hours()/24 + 0.5)
	return lo.AddDate(0, 0, int(rng.Int64N(n+1)))
}

// ago is a day between minDays and maxDays before the data date, not before
// the person turned minAge.
func (r *registryPass) ago(rng *rand.Rand, birth time.Time, minDays, maxDays, minAge int) time.Time {
	lo := r.date.AddDate(0, 0, -maxDays)
	hi := r.date.AddDate(0, 0, -minDays)
	if adult := birth.AddDate(minAge, 0, 0); lo.Before(adult) {
		lo = adult
	}
	if hi.Before(lo) {
		hi = lo
	}
	if hi.After(r.date) {
		hi = r.date
	}
	return between(rng, lo, hi)
}

// since clamps an income's start to the data date.
func (r *registryPass) since(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.After(r.date) {
		return r.date
	}
	return t
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func yuanRange(rng *rand.Rand, lo, hi, step int64) int64 {
	return (lo + step*rng.Int64N((hi-lo)/step+1)) * 100
}

func (r *registryPass) household(h0 *Household) error {
	h := &hh{Household: h0, rng: householdRNG(r.seed, h0.No, streamConsistent), urban: h0.Hukou == "urban"}
	h.births = make([]time.Time, len(h.Members))
	for i, p := range h.Members {
		h.births[i], _ = time.Parse(time.DateOnly, p.BirthDate)
	}
	rng := h.rng
	head := h.Members[0]
	if !h.births[0].After(r.date) {
		paymentUsed := false
		for _, a := range h.Assets {
			var err error
			switch a.Kind {
			case "vehicle":
				err = r.vehicle(h, head, "K", a.ValueFen, r.ago(rng, h.births[0], 30, 3650, 18))
			case "house":
				r.house(h, head, h.Address, r.ago(rng, h.births[0], 60, 7300, 0))
			case "deposit":
				r.deposit(h, head, a.ValueFen, &paymentUsed)
			case "securities", "fund":
				provider := extractProviders["securities"][rng.IntN(len(extractProviders["securities"]))]
				r.secs++
				r.write(r.x.provider("securities", provider).s(head.IDNumber).s(fmt.Sprintf("1%011d", (r.secs*7919+5772156)%100_000_000_000)).
					yuan(a.ValueFen).day(r.date))
			case "commercial_insurance":
				r.insurance(rng, head, a.ValueFen)
			}
			if err != nil {
				return err
			}
		}
	}
	recipient := false
	for i, p := range h.Members {
		recipient = recipient || p.Programmes != 0
		if h.births[i].After(r.date) {
			continue
		}
		last := map[string]Income{}
		for _, in := range p.Incomes {
			if l, ok := last[in.Kind]; !ok || in.Since >= l.Since {
				last[in.Kind] = in
			}
		}
		for _, k := range []struct {
			kind, item string
		}{{"pension", "11"}, {"basic_pension", "12"}, {"unemployment_benefit", "21"}} {
			if in, ok := last[k.kind]; ok {
				r.write(r.x.get("social_insurance").s(p.IDNumber).s(k.item).yuan(in.MonthlyFen).day(r.since(in.Since)).s(""))
			}
		}
		if in, ok := last["wage"]; ok && rng.Float64() < 0.5 {
			start := r.since(in.Since).AddDate(0, -rng.IntN(24), 0)
			if adult := h.births[i].AddDate(16, 0, 0); start.Before(adult) {
				start = earliest(adult, r.date)
			}
			r.write(r.x.get("social_insurance").s(p.IDNumber).s("31").yuan(in.MonthlyFen).day(start).s(r.employer(rng, h.Region)))
		}
		if in, ok := last["business"]; ok {
			start := r.since(in.Since).AddDate(0, -rng.IntN(36), 0)
			if adult := h.births[i].AddDate(16, 0, 0); start.Before(adult) {
				start = earliest(adult, r.date)
			}
			name := r.countyName(h.Region) + surnameOf(p.Name) + "记" + shopKinds[rng.IntN(len(shopKinds))]
			r.market(p, "92", h.Region[:6], name, "3", yuanRange(rng, 2000, 50000, 1000), start)
		}
		// A trap: a disability vehicle, exempt from the asset test.
		if p.Programmes != 0 && p.DisabilityKind != "" && p.age >= 18 && rng.Float64() < 0.2 {
			if err := r.vehicle(h, p, "D", yuanRange(rng, 8000, 40000, 500), r.ago(rng, h.births[i], 30, 2920, 18)); err != nil {
				return err
			}
			r.st.Traps++
		}
	}
	if recipient && r.plant > 0 {
		return r.plantIn(h)
	}
	return nil
}

func (r *registryPass) write(x *xfile) {
	x.end()
	r.rows++
}

func (r *registryPass) countyName(region string) string {
	if c, ok := r.tree.Get(region[:6]); ok {
		return c.Name
	}
	return ""
}

func (r *registryPass) cityName(region string) string {
	if c, ok := r.tree.Get(region[:4]); ok {
		return c.Name
	}
	return ""
}

func (r *registryPass) employer(rng *rand.Rand, region string) string {
	return r.countyName(region) + companyNames[rng.IntN(len(companyNames))] + employerKinds[rng.IntN(len(employerKinds))]
}

func (r *registryPass) vehicle(h *hh, p *Person, kind string, priceFen int64, registered time.Time) error {
	prefix := cityPlates[h.Region[:4]]
	if prefix == "" {
		prefix = "赣A"
	}
	body, err := plateBody(r.plates[prefix])
	if err != nil {
		return err
	}
	r.plates[prefix]++
	r.write(r.x.get("vehicle").s(p.IDNumber).s(prefix + body).s(kind).day(registered).yuan(priceFen))
	return nil
}

func (r *registryPass) house(h *hh, p *Person, address string, registered time.Time) {
	lo, hi := 80, 220
	if h.urban {
		lo, hi = 45, 140
	}
	area := int64(lo*100 + h.rng.IntN((hi-lo)*100))
	r.certs++
	cert := fmt.Sprintf("赣(%d)%s不动产权第%07d号", registered.Year(), r.cityName(h.Region), r.certs)
	x := r.x.get("real_estate").s(p.IDNumber).s(cert).s(address)
	x.begin()
	x.line = fmt.Appendf(x.line, "%d.%02d", area/100, area%100)
	r.write(x.day(registered))
}

// deposit spreads a declared deposit over one or two banks; the head's payment
// account, when there is one, holds the first part.
func (r *registryPass) deposit(h *hh, p *Person, fen int64, paymentUsed *bool) {
	rng := h.rng
	parts := []int64{fen}
	if fen >= 2 && rng.Float64() < 0.5 {
		first := fen * int64(20+rng.IntN(61)) / 100
		parts = []int64{first, fen - first}
	}
	var used string
	for _, part := range parts {
		var bankCode, number string
		if a := p.Account; a != nil && !*paymentUsed {
			*paymentUsed = true
			bankCode, number = a.BankCode, a.Number
		} else {
			for bankCode == "" || bankCode == used {
				bankCode = drawBank(rng, h.urban, h.Region[:6])
			}
			r.accounts++
			number = accountNumber(bankCode, "98", r.accounts)
		}
		used = bankCode
		r.write(r.x.provider("bank", bankCode).s(p.IDNumber).s(number).yuan(part).day(r.date))
	}
}

// drawBank picks a bank as the payment accounts are spread (ids.go).
func drawBank(rng *rand.Rand, urban bool, county string) string {
	local := bankJJ
	switch county[:4] {
	case "3607":
		local = bankGZ
	case "3611":
		local = bankSR
	}
	probs := ruralBank
	if urban {
		probs = urbanBank
	}
	return []bank{bankRCB, bankPSBC, bankABC, bankCCB, bankICBC, bankBOC, local}[pick(rng, probs)].code
}

func (r *registryPass) insurance(rng *rand.Rand, p *Person, fen int64) {
	providers := extractProviders["insurance"]
	provider := providers[rng.IntN(len(providers))]
	r.policies++
	number := fmt.Sprintf("%s1%013d", policyMarks[provider], (r.policies*7919+1414213)%10_000_000_000_000)
	r.write(r.x.provider("insurance", provider).s(p.IDNumber).s(number).s(products[rng.IntN(len(products))]).yuan(fen).day(r.date))
}

func (r *registryPass) market(p *Person, kind, area, name, role string, capitalFen int64, registered time.Time) {
	r.credit++
	r.write(r.x.get("market").s(p.IDNumber).s(creditCode(kind, area, r.credit)).s(name).s(role).yuan(capitalFen).day(registered))
}

func (r *registryPass) truth(h *hh, p *Person, kind, source string) {
	r.truths.s(h.No).s(p.IDNumber).s(kind).s(source).end()
	r.st.Planted[kind]++
}

// plantIn draws each discrepancy kind for a recipient household, from a
// stream of its own so that the consistent rows do not depend on Plant.
func (r *registryPass) plantIn(h *hh) error {
	rng := householdRNG(r.seed, h.No, streamPlant)
	var want [6]bool
	for i := range want {
		want[i] = rng.Float64() < r.plant
	}
	var adults []int
	for i, p := range h.Members {
		if p.age >= 18 && !h.births[i].After(r.date) {
			adults = append(adults, i)
		}
	}
	has := func(p *Person, kind string) bool {
		return slices.ContainsFunc(p.Incomes, func(in Income) bool { return in.Kind == kind })
	}
	declares := func(kind string) bool {
		return slices.ContainsFunc(h.Assets, func(a Asset) bool { return a.Kind == kind })
	}
	pickOf := func(idx []int) (*Person, time.Time) {
		i := idx[rng.IntN(len(idx))]
		return h.Members[i], h.births[i]
	}
	if want[0] && !declares("vehicle") && len(adults) > 0 {
		p, birth := pickOf(adults)
		prefix := cityPlates[h.Region[:4]]
		if prefix == "" {
			prefix = "赣A"
		}
		body, err := plateBody(r.plates[prefix])
		if err != nil {
			return err
		}
		r.plates[prefix]++
		r.write(r.x.get("vehicle").s(p.IDNumber).s(prefix + body).s("K").day(r.ago(rng, birth, 30, 1000, 18)).
			yuan(yuanRange(rng, 60000, 250000, 1000)))
		r.truth(h, p, PlantVehicle, "vehicle")
	}
	if want[1] {
		var idx []int
		for _, i := range adults {
			if !has(h.Members[i], "business") {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			p, birth := pickOf(idx)
			name := r.countyName(h.Region) + companyNames[rng.IntN(len(companyNames))] + companyKinds[rng.IntN(len(companyKinds))]
			r.market(p, "91", h.Region[:6], name, strconv.Itoa(1+rng.IntN(2)), yuanRange(rng, 100000, 2000000, 10000), r.ago(rng, birth, 60, 1800, 18))
			r.truth(h, p, PlantBusiness, "market")
		}
	}
	if want[2] && len(adults) > 0 {
		p, _ := pickOf(adults)
		banks := extractProviders["bank"]
		bankCode := banks[rng.IntN(len(banks))]
		r.accounts++
		balance := 200000*100*int64(len(h.Members)) + yuanRange(rng, 0, 100000, 1) + rng.Int64N(100)
		r.write(r.x.provider("bank", bankCode).s(p.IDNumber).s(accountNumber(bankCode, "98", r.accounts)).yuan(balance).day(r.date))
		r.truth(h, p, PlantFinancial, "bank")
	}
	if want[3] {
		oldest := -1
		for i := range h.Members {
			if !h.births[i].After(r.date) && (oldest < 0 || h.births[i].Before(h.births[oldest])) {
				oldest = i
			}
		}
		if oldest >= 0 {
			p := h.Members[oldest]
			died := r.ago(rng, h.births[oldest], 10, 80, 0)
			r.write(r.x.get("hukou").s(p.IDNumber).s("1").day(died).s(""))
			if rng.Float64() < 0.7 {
				cremated := earliest(died.AddDate(0, 0, 1+rng.IntN(4)), r.date)
				r.write(r.x.get("funeral").s(p.IDNumber).day(died).day(cremated).s(r.cityName(h.Region) + "殡仪馆"))
			}
			r.truth(h, p, PlantDeath, "hukou")
		}
	}
	if want[4] {
		var idx []int
		for i, p := range h.Members {
			if p.age >= 50 && !h.births[i].After(r.date) && !has(p, "pension") {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			p, birth := pickOf(idx)
			r.write(r.x.get("social_insurance").s(p.IDNumber).s("11").yuan(yuanRange(rng, 1500, 4000, 10)).
				day(r.ago(rng, birth, 60, 720, 50)).s(""))
			r.truth(h, p, PlantIncome, "social_insurance")
		}
	}
	if want[5] && declares("house") && !h.births[0].After(r.date) {
		head := h.Members[0]
		address := fmt.Sprintf("%s%s%d号%d栋%d室", r.tree.FullName(h.Region[:6]), roads[rng.IntN(len(roads))], 1+rng.IntN(300),
			1+rng.IntN(30), 101+rng.IntN(18)*100+rng.IntN(4))
		r.house(&hh{Household: h.Household, rng: rng, births: h.births, urban: true}, head, address, r.ago(rng, h.births[0], 60, 1800, 18))
		r.truth(h, head, PlantHouse, "real_estate")
	}
	return nil
}

// Background people live, or were born, in other provinces: their ID numbers
// carry these address codes, so none is a registry person's.
var bgAreas = []struct{ code, place, city, short, plate string }{
	{"110101", "北京市东城区", "北京市", "京", "京A"},
	{"310104", "上海市徐汇区", "上海市", "沪", "沪A"},
	{"440106", "广东省广州市天河区", "广州市", "粤", "粤A"},
	{"430102", "湖南省长沙市芙蓉区", "长沙市", "湘", "湘A"},
	{"350203", "福建省厦门市思明区", "厦门市", "闽", "闽D"},
	{"420106", "湖北省武汉市武昌区", "武汉市", "鄂", "鄂A"},
	{"330106", "浙江省杭州市西湖区", "杭州市", "浙", "浙A"},
	{"510107", "四川省成都市武侯区", "成都市", "川", "川A"},
}

// Banks of background people, with their shares.
var (
	bgBanks      = []string{bankICBC.code, bankCCB.code, bankABC.code, bankBOC.code, bankPSBC.code, bankRCB.code, bankJJ.code, bankGZ.code, bankSR.code}
	bgBankShares = []float64{0.22, 0.20, 0.17, 0.13, 0.12, 0.06, 0.04, 0.03, 0.03}
)

// background writes the rows about people outside the registry. Person k
// (0 ≤ k < persons) has an ID number from an affine permutation of the ID
// space (area × birth day × sequence number), so persons never share one;
// each source takes its people in an order of its own (another permutation),
// so that a person appears at most once per source and often in several.
type background struct {
	seed      int64
	date      time.Time
	total     int64 // rows to write
	persons   int64
	startDay  int64 // first birth day, days since 1970
	days      int64
	space     int64 // ID numbers available
	a, b      int64 // the permutation of the ID space
	rows      int64 // written
	placesOut []string
}

func newBackground(seed int64, date time.Time, rows int64) (*background, error) {
	b := &background{seed: seed, date: date, total: max(rows, 0)}
	b.persons = (b.total + 1) / 2
	first, last := date.AddDate(-90, 0, 0), date.AddDate(-23, 0, 0)
	b.startDay = first.Unix() / 86400
	b.days = last.Unix()/86400 - b.startDay + 1
	b.space = int64(len(bgAreas)) * b.days * 999
	if b.persons > b.space {
		return nil, fmt.Errorf("gen: extracts: %d background persons, only %d ID numbers: background too large", b.persons, b.space)
	}
	rng := rand.New(rand.NewPCG(uint64(seed)^streamBackground, 0))
	b.a, b.b = coprime(rng, b.space), rng.Int64N(b.space)
	for _, w := range workPlaces {
		if !strings.HasPrefix(w, "江西") {
			b.placesOut = append(b.placesOut, w)
		}
	}
	return b, nil
}

// coprime draws a multiplier prime to m, which makes k ↦ a·k+b mod m a
// permutation.
func coprime(rng *rand.Rand, m int64) int64 {
	if m <= 2 {
		return 1
	}
	a := m/3 + rng.Int64N(m/3)
	for gcd(a, m) != 1 {
		a++
	}
	return a
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type bgPerson struct {
	k     int64
	id    string
	area  int
	birth time.Time
	male  bool
}

func (b *background) person(k int64) bgPerson {
	m := (k*b.a + b.b) % b.space
	area := m % int64(len(bgAreas))
	r := m / int64(len(bgAreas))
	day, seq := r%b.days, r/b.days+1
	birth := time.Unix((b.startDay+day)*86400, 0).UTC()
	return bgPerson{k: k, id: buildID(bgAreas[area].code, birth, seq), area: int(area), birth: birth, male: seq%2 == 1}
}

// buildID is idcard.Build without fmt: tens of millions are built.
func buildID(area string, birth time.Time, seq int64) string {
	var b [18]byte
	copy(b[:6], area)
	y, m, d := birth.Date()
	for i, v := range []int{y / 1000, y / 100 % 10, y / 10 % 10, y % 10, int(m) / 10, int(m) % 10, d / 10, d % 10} {
		b[6+i] = byte('0' + v)
	}
	b[14], b[15], b[16] = byte('0'+seq/100%10), byte('0'+seq/10%10), byte('0'+seq%10)
	b[17] = idcard.CheckChar(string(b[:17]))
	return string(b[:])
}

// name draws a background person's name, the same wherever it is needed.
func (b *background) name(p bgPerson) string {
	rng := rand.New(rand.NewPCG(uint64(b.seed)^streamBackground^0x3f84d5b5b5470917, uint64(p.k)))
	return surname(rng) + givenName(rng, p.birth.Year(), p.male)
}

func ageAt(birth, date time.Time) int {
	age := date.Year() - birth.Year()
	if date.Month() < birth.Month() || date.Month() == birth.Month() && date.Day() < birth.Day() {
		age--
	}
	return age
}

// run writes the sources side by side, the largest first; each source's rows
// depend only on the seed, so the files are the same however they interleave.
func (b *background) run(ctx context.Context, w fileSet, prog *progress) error {
	if b.total == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	counts := make([]int64, len(backgroundShares))
	errs := make([]error, len(backgroundShares))
	for i, s := range backgroundShares {
		n := int64(math.Round(s.share * float64(b.total)))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			errs[i] = fmt.Errorf("gen: extracts: %w", ctx.Err())
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			counts[i], errs[i] = b.source(ctx, i, s.source, n, w, prog)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, c := range counts {
		b.rows += c
	}
	return firstError(errs...)
}

// source writes about n rows of one source.
func (b *background) source(ctx context.Context, idx int, name string, n int64, w fileSet, prog *progress) (int64, error) {
	rng := rand.New(rand.NewPCG(uint64(b.seed)^streamBackground, uint64(idx+1)))
	step, off := coprime(rng, b.persons), rng.Int64N(b.persons)
	date := b.date
	var written, reported int64
	emit := func(x *xfile) {
		x.end()
		written++
	}
	var plates [8]int64
	var serial int64
	next := func() int64 { serial++; return serial }
	f := w.get(name)
	for j := int64(0); j < b.persons && written < n; j++ {
		if j%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return written, fmt.Errorf("gen: extracts: %w", err)
			}
			prog.add(written - reported)
			reported = written
		}
		p := b.person((j*step + off) % b.persons)
		area := bgAreas[p.area]
		age := ageAt(p.birth, date)
		since := func(minAge, maxYears int) time.Time {
			return between(rng, latest(p.birth.AddDate(minAge, 0, 0), date.AddDate(-maxYears, 0, 0)), date)
		}
		switch name {
		case "bank":
			for range 1 + pick(rng, []float64{0.6, 0.3, 0.1}) {
				if written == n {
					break
				}
				code := bgBanks[pick(rng, bgBankShares)]
				emit(w.provider("bank", code).s(p.id).s(accountNumber(code, "99", next())).yuan(lognormalFen(rng, 20000, 1.6)).day(date))
			}
		case "social_insurance":
			switch {
			case age >= 60 && rng.Float64() < 0.45:
				emit(f.s(p.id).s("11").yuan(yuanRange(rng, 2500, 8000, 10)).day(since(60, 40)).s(""))
			case age >= 60:
				emit(f.s(p.id).s("12").yuan(yuanRange(rng, 150, 400, 5)).day(since(60, 40)).s(""))
			case rng.Float64() < 0.85:
				employer := area.city + companyNames[rng.IntN(len(companyNames))] + employerKinds[rng.IntN(len(employerKinds))]
				emit(f.s(p.id).s("31").yuan(yuanRange(rng, 3000, 25000, 100)).day(since(20, 15)).s(employer))
			default:
				emit(f.s(p.id).s("21").yuan(yuanRange(rng, 1500, 2200, 10)).day(since(20, 2)).s(""))
			}
		case "vehicle":
			for range 1 + pick(rng, []float64{0.9, 0.1}) {
				if written == n {
					break
				}
				body, err := plateBody(plates[p.area])
				if err != nil {
					return written, err
				}
				plates[p.area]++
				var kind string
				var price int64
				switch pick(rng, []float64{0.75, 0.10, 0.10, 0.05}) {
				case 0:
					kind, price = "K", yuanRange(rng, 40000, 400000, 1000)
				case 1:
					kind, price = "H", yuanRange(rng, 60000, 300000, 1000)
				case 2:
					kind, price = "M", yuanRange(rng, 3000, 20000, 100)
				default:
					kind, price = "N", yuanRange(rng, 10000, 60000, 500)
				}
				emit(f.s(p.id).s(area.plate + body).s(kind).day(since(18, 15)).yuan(price))
			}
		case "real_estate":
			for range 1 + pick(rng, []float64{0.8, 0.2}) {
				if written == n {
					break
				}
				registered := since(22, 25)
				cert := fmt.Sprintf("%s(%d)%s不动产权第%07d号", area.short, registered.Year(), area.city, next())
				address := fmt.Sprintf("%s%s%d号%d栋%d室", area.place, roads[rng.IntN(len(roads))], 1+rng.IntN(500),
					1+rng.IntN(40), 101+rng.IntN(30)*100+rng.IntN(4))
				sqm := int64(4000 + rng.IntN(16000))
				x := f.s(p.id).s(cert).s(address)
				x.begin()
				x.line = fmt.Appendf(x.line, "%d.%02d", sqm/100, sqm%100)
				emit(x.day(registered))
			}
		case "tax":
			years := 1 + pick(rng, []float64{0.5, 0.3, 0.2})
			income := lognormalFen(rng, 90000, 0.7)
			for y := range years {
				if written == n {
					break
				}
				emit(f.s(p.id).n(int64(date.Year() - 1 - y)).yuan(income).yuan(incomeTax(income)))
				income = income * int64(85+rng.IntN(20)) / 100
			}
		case "provident_fund":
			if age >= 60 {
				continue
			}
			monthly := yuanRange(rng, 200, 6000, 10)
			employer := area.city + companyNames[rng.IntN(len(companyNames))] + employerKinds[rng.IntN(len(employerKinds))]
			emit(f.s(p.id).s(employer).yuan(monthly).yuan(monthly * int64(6+rng.IntN(115))).day(date.AddDate(0, 0, -rng.IntN(45))))
		case "market":
			registered := since(18, 20)
			if rng.Float64() < 0.4 {
				shop := area.city + surname(rng) + "记" + shopKinds[rng.IntN(len(shopKinds))]
				emit(f.s(p.id).s(creditCode("92", area.code, next())).s(shop).s("3").yuan(yuanRange(rng, 10000, 300000, 1000)).day(registered))
			} else {
				company := area.city + companyNames[rng.IntN(len(companyNames))] + companyKinds[rng.IntN(len(companyKinds))]
				emit(f.s(p.id).s(creditCode("91", area.code, next())).s(company).s(strconv.Itoa(1 + rng.IntN(2))).
					yuan(yuanRange(rng, 100000, 5000000, 10000)).day(registered))
			}
		case "securities":
			providers := extractProviders["securities"]
			provider := providers[rng.IntN(len(providers))]
			emit(w.provider("securities", provider).s(p.id).s(fmt.Sprintf("2%011d", (next()*7919+5772156)%100_000_000_000)).
				yuan(lognormalFen(rng, 50000, 1.4)).day(date))
		case "insurance":
			providers := extractProviders["insurance"]
			for range 1 + pick(rng, []float64{0.85, 0.15}) {
				if written == n {
					break
				}
				provider := providers[rng.IntN(len(providers))]
				number := fmt.Sprintf("%s2%013d", policyMarks[provider], (next()*7919+1414213)%10_000_000_000_000)
				emit(w.provider("insurance", provider).s(p.id).s(number).s(products[rng.IntN(len(products))]).
					yuan(lognormalFen(rng, 30000, 1.2)).day(date))
			}
		case "marriage":
			// Both parties of a registration, each with the other's name.
			j++
			if j >= b.persons {
				break
			}
			q := b.person((j*step + off) % b.persons)
			event := "1"
			if rng.Float64() < 0.3 {
				event = "2"
			}
			when := date.AddDate(0, 0, -1-rng.IntN(1095))
			emit(f.s(p.id).s(event).day(when).s(b.name(q)))
			emit(f.s(q.id).s(event).day(when).s(b.name(p)))
		case "funeral":
			if age < 50 {
				continue
			}
			died := date.AddDate(0, 0, -1-rng.IntN(1095))
			emit(f.s(p.id).day(died).day(earliest(died.AddDate(0, 0, 1+rng.IntN(4)), date)).s(area.city + "殡仪馆"))
		case "hukou":
			when := date.AddDate(0, 0, -1-rng.IntN(730))
			if age >= 55 && rng.Float64() < 0.4 {
				emit(f.s(p.id).s("1").day(when).s(""))
			} else {
				emit(f.s(p.id).s("2").day(when).s(b.placesOut[rng.IntN(len(b.placesOut))]))
			}
		default:
			return written, fmt.Errorf("gen: extracts: no background rows for source %q", name)
		}
	}
	prog.add(written - reported)
	return written, nil
}

// lognormalFen draws an amount around median yuan, spread sigma, to the fen.
func lognormalFen(rng *rand.Rand, median, sigma float64) int64 {
	yuan := median * math.Exp(sigma*rng.NormFloat64())
	return int64(min(yuan, 50_000_000) * 100)
}

// incomeTax is the individual income tax on a year's comprehensive income
// (60,000 yuan deducted, the 2019 brackets), in fen.
func incomeTax(incomeFen int64) int64 {
	taxable := incomeFen - 6_000_000
	for _, b := range []struct{ upTo, rate, quick int64 }{
		{3_600_000, 3, 0}, {14_400_000, 10, 252_000}, {30_000_000, 20, 1_692_000}, {42_000_000, 25, 3_192_000},
		{66_000_000, 30, 5_292_000}, {96_000_000, 35, 8_592_000}, {math.MaxInt64, 45, 18_192_000},
	} {
		if taxable <= b.upTo {
			return max(taxable*b.rate/100-b.quick, 0)
		}
	}
	return 0
}
