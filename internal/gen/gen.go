// Package gen builds a synthetic province: households, persons, legal
// supporters and bank accounts spread over the real villages, calibrated to the
// Jiangxi 2019 report (see calibration.go). It is deterministic for a seed and
// streams: a county is generated at a time, so a province of millions never
// sits in memory. Load writes the stream into the database with bulk loading;
// WriteCSV writes it as plaintext test files.
package gen

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"runtime"
	"strings"
	"time"

	"jiuzhu/internal/crypt"
	"jiuzhu/internal/region"
)

// Options say what to generate.
type Options struct {
	// Scale multiplies the 2019 figures: 1 is the whole province (about 4.1 M
	// persons), 0.002 a few thousand.
	Scale float64
	// Seed makes the output: the same seed, scale and regions give the same
	// households, persons and ID numbers.
	Seed int64
	// Regions limits the output to the counties under these codes: counties,
	// cities or the province (for a demo, one or two counties). Empty means the
	// whole province. A county gets the same households whichever regions are
	// chosen.
	Regions []string
	// Now is the reference date for ages and the created_at of every row.
	Now time.Time
	// Progress, when set, is called now and then with the rows written so far
	// and the rows to write in all.
	Progress func(done, total int64)
}

// Programme is the set of programmes a person receives. The generator records
// it so that later work can build entitlements; it is not a registry column.
type Programme uint8

// The programmes; a person may hold several (a disabled dibao recipient also
// gets the living subsidy, and the care subsidy when the disability is severe).
const (
	DibaoUrban Programme = 1 << iota
	DibaoRural
	TekunCentralised
	TekunDispersed
	Orphan
	DisabilityLiving
	DisabilityCare
)

// Programmes lists every single programme in a stable order.
var Programmes = []Programme{DibaoUrban, DibaoRural, TekunCentralised, TekunDispersed, Orphan, DisabilityLiving, DisabilityCare}

var programmeNames = map[Programme]string{
	DibaoUrban: "dibao_urban", DibaoRural: "dibao_rural", TekunCentralised: "tekun_centralised",
	TekunDispersed: "tekun_dispersed", Orphan: "orphan", DisabilityLiving: "disability_living", DisabilityCare: "disability_care",
}

// String names the programmes joined by "+", or "none".
func (p Programme) String() string {
	if p == 0 {
		return "none"
	}
	var parts []string
	for _, q := range Programmes {
		if p&q != 0 {
			parts = append(parts, programmeNames[q])
		}
	}
	return strings.Join(parts, "+")
}

// Household is one generated household with its members and supporters.
type Household struct {
	No         string // 12-digit village code + 5-digit sequence in the village
	Region     string // the village
	Hukou      string // urban | rural
	Address    string
	Phone      string
	Members    []*Person // the head first
	Supporters []*Supporter
	Assets     []Asset
}

// Person is one household member. SelfCareItems is the registry's 6-bit mask of
// failed self-care items.
type Person struct {
	IDNumber        string
	Name            string
	Sex             string // M | F
	BirthDate       string // YYYY-MM-DD
	Phone           string
	Relation        string
	CoResident      bool
	DisabilityKind  string
	DisabilityLevel int
	SelfCareItems   int
	Student         string
	SeriousIllness  bool
	AbleToWork      bool
	Programmes      Programme
	Account         *BankAccount // where payments go; nil for non-recipients
	Incomes         []Income     // oldest first per kind

	age    int
	sealed sealed
}

// Supporter is a legal supporter living elsewhere; Relation and Duty are stored
// as "relation/duty" in the registry.
type Supporter struct {
	Name              string
	IDNumber          string
	Relation          string
	Duty              string
	BirthDate         string
	Address           string
	OnDibao           bool
	OnTekun           bool
	DisabilityKind    string
	DisabilityLevel   int
	MonthlyIncomeFen  int64
	AssetsWithinRules bool

	sealed sealed
}

// BankAccount is a payment account; Number has 19 digits.
type BankAccount struct {
	BankCode string
	BankName string
	Number   string

	sealed sealed
}

// sealed holds the protected forms of an identifier, computed by the workers
// when the output goes to a database.
type sealed struct{ hmac, enc string }

// Stats counts what a generator produces.
type Stats struct {
	Households   int64
	Persons      int64
	Supporters   int64
	BankAccounts int64
	// Incomes and Assets are the rows of person_incomes and household_assets.
	// They are drawn with the people, so the plan (New, Generator.Stats) does
	// not know them and leaves them 0; Load and WriteCSV count what they wrote.
	Incomes int64
	Assets  int64
	// Recipients counts persons per single programme.
	Recipients map[Programme]int64
}

// Rows is the number of table rows.
func (s Stats) Rows() int64 {
	return s.Households + s.Persons + s.Supporters + s.BankAccounts + s.Incomes + s.Assets
}

// Generator produces the households of a province, county by county.
type Generator struct {
	opts  Options
	tree  *region.Tree
	units []*county // the selected counties, in code order
	stats Stats
}

// New plans the province: it checks the options, weighs every village and
// counts what will be generated, without drawing anyone yet.
func New(opts Options, tree *region.Tree) (*Generator, error) {
	if opts.Scale <= 0 || math.IsNaN(opts.Scale) || math.IsInf(opts.Scale, 0) {
		return nil, fmt.Errorf("gen: scale must be a positive number, got %v", opts.Scale)
	}
	if opts.Now.IsZero() {
		return nil, errors.New("gen: Now must be set")
	}
	opts.Now = opts.Now.UTC()
	g := &Generator{opts: opts, tree: tree}
	var err error
	g.units, err = selectCounties(tree, planCounties(tree, opts.Seed, opts.Scale), opts.Regions)
	if err != nil {
		return nil, err
	}
	g.stats.Recipients = map[Programme]int64{}
	for _, c := range g.units {
		c.count(&g.stats, opts.Seed)
	}
	return g, nil
}

// Stats returns the exact counts of what the generator produces.
func (g *Generator) Stats() Stats { return g.stats }

// All yields the households in household number order.
func (g *Generator) All(ctx context.Context) iter.Seq2[*Household, error] {
	return g.households(ctx, nil, drawFinances)
}

// What the workers seal besides generating.
const (
	sealPersons = 1 << iota
	sealSupporters
	sealAccounts
	// drawFinances draws incomes and assets too (from a stream of their own,
	// so the people are the same either way).
	drawFinances
)

// households runs the counties on all cores and yields their households in
// order. With keys, the workers also compute the hashed and encrypted forms
// named by seal, so the consumer (one COPY stream) only encodes rows.
func (g *Generator) households(ctx context.Context, keys *crypt.Keys, seal int) iter.Seq2[*Household, error] {
	return func(yield func(*Household, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		workers := runtime.GOMAXPROCS(0)
		// Each county gets a result slot; slots are queued in county order and
		// at most `workers` of them wait, which bounds the memory in flight.
		pending := make(chan chan countyResult, workers)
		sem := make(chan struct{}, workers)
		go func() {
			defer close(pending)
			for _, unit := range g.units {
				slot := make(chan countyResult, 1)
				select {
				case pending <- slot:
				case <-ctx.Done():
					return
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				go func() {
					defer func() { <-sem }()
					hh, err := g.county(unit, keys, seal)
					slot <- countyResult{hh, err}
				}()
			}
		}()
		for slot := range pending {
			var res countyResult
			select {
			case res = <-slot:
			case <-ctx.Done():
				yield(nil, fmt.Errorf("gen: %w", ctx.Err()))
				return
			}
			if res.err != nil {
				yield(nil, res.err)
				return
			}
			for _, h := range res.households {
				if !yield(h, nil) {
					return
				}
			}
		}
		if err := ctx.Err(); err != nil {
			yield(nil, fmt.Errorf("gen: %w", err))
		}
	}
}

type countyResult struct {
	households []*Household
	err        error
}

// county generates one county's households, sealing them if asked.
func (g *Generator) county(c *county, keys *crypt.Keys, seal int) ([]*Household, error) {
	out, err := c.generate(g.tree, g.opts, seal&drawFinances != 0)
	if err != nil {
		return nil, err
	}
	if keys != nil && seal&^drawFinances != 0 {
		for _, h := range out {
			sealHousehold(h, keys, seal)
		}
	}
	return out, nil
}

func sealHousehold(h *Household, keys *crypt.Keys, seal int) {
	for _, p := range h.Members {
		if seal&sealPersons != 0 {
			p.sealed = sealed{keys.Hash(p.IDNumber), keys.Seal(p.IDNumber)}
		}
		if seal&sealAccounts != 0 && p.Account != nil {
			// the hash lets integrity match one account paid for several households
			p.Account.sealed = sealed{keys.Hash(p.Account.Number), keys.Seal(p.Account.Number)}
		}
	}
	if seal&sealSupporters != 0 {
		for _, s := range h.Supporters {
			s.sealed = sealed{keys.Hash(s.IDNumber), keys.Seal(s.IDNumber)}
		}
	}
}
