// Package reform answers "what if parameter X became V from date D in region
// R?" over the registry: every household of the region is evaluated with the
// current and with the reformed parameters, by the production calculators,
// and the differences are summed by county and township. Households are read
// in batches, streamed when the source can (registry.Service.StreamSituations:
// two reading connections on PostgreSQL) or keyset-paginated otherwise, while
// the workers evaluate the batches already read; a whole province never sits
// in memory.
package reform

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"jiuzhu/internal/calc"
	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
	"jiuzhu/internal/region"
	"jiuzhu/internal/registry"
)

// ErrOutOfScope is a change for a region the caller cannot see.
var ErrOutOfScope = errors.New("region outside the caller's scope")

// Change is the reform: one parameter gets a new value from a date in a region.
type Change struct {
	Name   string
	Value  string // as written in policy/*.yaml
	From   time.Time
	Region string // region code (any level, prefix or 12 digits)
}

// Source reads registry households as situations, in id order after afterID.
type Source interface {
	SituationBatch(ctx context.Context, scope string, afterID int64, limit int, date string) ([]registry.HouseholdSituation, int64, error)
}

// Streamer is a Source that can also stream all households of a scope at once
// (registry.Service does, with a fast path on PostgreSQL); Simulate prefers it.
type Streamer interface {
	StreamSituations(ctx context.Context, scope, date string, opts registry.StreamOptions, fn func([]registry.HouseholdSituation) error) error
}

// Options tune a run.
type Options struct {
	Date      time.Time // evaluation date; default the reform's start
	Scope     string    // region prefix the caller may read; "" = the change's region
	Workers   int       // default 2
	BatchSize int       // households per read; default 2000
	// Readers is the number of batches a Streamer reads at once (default 2).
	Readers  int
	Progress func(households int)
}

// Delta counts the differences in one programme or area.
type Delta struct {
	Households    int       `json:"households"`     // households evaluated
	EligibleNow   int       `json:"eligible_now"`   // households eligible under current parameters
	EligibleAfter int       `json:"eligible_after"` // ... under the reform
	NewlyEligible int       `json:"newly_eligible"`
	Exiting       int       `json:"exiting"`
	Changed       int       `json:"changed"` // eligible both times with a different amount
	MonthlyNow    money.Fen `json:"monthly_now_fen"`
	MonthlyAfter  money.Fen `json:"monthly_after_fen"`
}

// MonthlyDiff is the change of the monthly cost.
func (d Delta) MonthlyDiff() money.Fen { return d.MonthlyAfter - d.MonthlyNow }

// YearlyDiff is twelve months of the change at the evaluation date's figures.
func (d Delta) YearlyDiff() money.Fen { return 12 * d.MonthlyDiff() }

func (d *Delta) add(o Delta) {
	d.Households += o.Households
	d.EligibleNow += o.EligibleNow
	d.EligibleAfter += o.EligibleAfter
	d.NewlyEligible += o.NewlyEligible
	d.Exiting += o.Exiting
	d.Changed += o.Changed
	d.MonthlyNow += o.MonthlyNow
	d.MonthlyAfter += o.MonthlyAfter
}

// ProgrammeDelta is the outcome for one programme.
type ProgrammeDelta struct {
	Programme string `json:"programme"`
	Label     string `json:"label"`
	Delta
}

// AreaDelta is the outcome in one county or township, over all monthly
// programmes: a household counts as newly eligible when it gains any
// programme, exiting when it loses any.
type AreaDelta struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level int    `json:"level"`
	Delta
}

// Report is the result of a simulation.
type Report struct {
	Parameter   string           `json:"parameter"`
	Description string           `json:"description"`
	Region      string           `json:"region"`
	RegionName  string           `json:"region_name"`
	From        string           `json:"from"`
	Date        string           `json:"date"`
	ValueNow    string           `json:"value_now"` // the value that holds for the region on the date today
	ValueAfter  string           `json:"value_after"`
	Households  int              `json:"households"`
	Skipped     int              `json:"skipped"` // registry data that do not make a valid situation
	Programmes  []ProgrammeDelta `json:"programmes"`
	Counties    []AreaDelta      `json:"counties"`
	Townships   []AreaDelta      `json:"townships"`
	Total       Delta            `json:"total"`
	Seconds     float64          `json:"seconds"`
}

// monthly programmes: temporary assistance is a one-off grant and needs a request.
var monthly = []calc.Programme{calc.Dibao, calc.Marginal, calc.Tekun, calc.Orphan, calc.UnattendedChild,
	calc.DisabilityLiving, calc.DisabilityCare, calc.PriceSubsidy}

// Reformed returns current with the change applied: the new value for the
// region from its start, replacing a value of the same region and start.
func Reformed(current *policy.Set, tree *region.Tree, ch Change) (*policy.Set, policy.Value, error) {
	p, ok := current.Parameter(ch.Name)
	if !ok {
		return nil, policy.Value{}, fmt.Errorf("reform: parameter %s: %w", ch.Name, policy.ErrUnknownParameter)
	}
	node, ok := tree.Get(ch.Region)
	if !ok {
		return nil, policy.Value{}, fmt.Errorf("reform: unknown region %q", ch.Region)
	}
	p.Values = nil // a simulation may start in the past: no history check
	v, err := policy.ScheduleValue(p, policy.Proposal{Region: node.Prefix, Start: ch.From, Value: ch.Value,
		Reference: "模拟测算", Demo: true, Note: "reform simulation"}, time.Time{})
	if err != nil {
		return nil, policy.Value{}, err
	}
	set, err := current.WithValues([]policy.Value{v})
	return set, v, err
}

// Simulate runs the change over the households of its region inside opts.Scope.
func Simulate(ctx context.Context, src Source, tree *region.Tree, current *policy.Set, ch Change, opts Options) (*Report, error) {
	began := time.Now()
	reformed, v, err := Reformed(current, tree, ch)
	if err != nil {
		return nil, err
	}
	if opts.Date.IsZero() {
		opts.Date = ch.From
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	scope := v.Region
	if opts.Scope != "" {
		switch {
		case strings.HasPrefix(opts.Scope, scope):
			scope = opts.Scope // the caller sees part of the region
		case !strings.HasPrefix(scope, opts.Scope):
			return nil, fmt.Errorf("reform: region %s, scope %s: %w", v.Region, opts.Scope, ErrOutOfScope)
		}
	}
	p, _ := current.Parameter(ch.Name)
	rep := &Report{Parameter: ch.Name, Description: p.Description, Region: v.Region, RegionName: tree.FullName(region.Pad(v.Region)),
		From: ch.From.Format(time.DateOnly), Date: opts.Date.Format(time.DateOnly), ValueAfter: v.String()}
	if now, err := current.Resolve(ch.Name, region.Pad(v.Region), opts.Date); err == nil {
		rep.ValueNow = now.String()
	}
	date := opts.Date.Format(time.DateOnly)

	// One reader pages through the registry; the workers evaluate each batch
	// twice and keep their own sums, merged at the end.
	evNow, evAfter := calc.NewEvaluator(current, calc.Options{}), calc.NewEvaluator(reformed, calc.Options{})
	batches := make(chan []registry.HouseholdSituation, opts.Workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readErr error
	send := func(b []registry.HouseholdSituation) error {
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() {
		defer close(batches)
		if st, ok := src.(Streamer); ok {
			var mu sync.Mutex
			read := 0
			readErr = st.StreamSituations(ctx, scope, date, registry.StreamOptions{Batch: opts.BatchSize, Readers: opts.Readers},
				func(b []registry.HouseholdSituation) error {
					if err := send(b); err != nil {
						return err
					}
					if opts.Progress != nil {
						mu.Lock()
						defer mu.Unlock()
						read += len(b)
						opts.Progress(read)
					}
					return nil
				})
			return
		}
		var after int64
		read := 0
		for {
			b, last, err := src.SituationBatch(ctx, scope, after, opts.BatchSize, date)
			if err != nil {
				readErr = err
				return
			}
			if len(b) == 0 {
				return
			}
			if err := send(b); err != nil {
				readErr = err
				return
			}
			read += len(b)
			if opts.Progress != nil {
				opts.Progress(read)
			}
			after = last
		}
	}()
	sums := make([]*partial, opts.Workers)
	errs := make([]error, opts.Workers)
	var wg sync.WaitGroup
	for w := range opts.Workers {
		sums[w] = newPartial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rNow, rAfter calc.Result
			for b := range batches {
				for i := range b {
					if err := sums[w].household(&b[i], evNow, evAfter, &rNow, &rAfter); err != nil && errs[w] == nil {
						errs[w] = err
						cancel()
					}
				}
			}
		}()
	}
	wg.Wait()
	// A worker's failure first: it cancelled the reader.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if readErr != nil {
		return nil, readErr
	}
	total := newPartial()
	for _, s := range sums {
		total.merge(s)
	}
	total.report(rep, tree)
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// partial is one worker's sums.
type partial struct {
	households, skipped int
	progs               [calc.PriceSubsidy + 1]Delta // one per programme
	townships           map[string]*Delta
}

func newPartial() *partial { return &partial{townships: map[string]*Delta{}} }

func (p *partial) household(h *registry.HouseholdSituation, evNow, evAfter *calc.Evaluator, rNow, rAfter *calc.Result) error {
	if h.Err != nil {
		p.skipped++
		return nil
	}
	if err := evNow.EvaluateInto(&h.Situation, rNow); err != nil {
		return fmt.Errorf("reform: household %d: %w", h.ID, err)
	}
	if err := evAfter.EvaluateInto(&h.Situation, rAfter); err != nil {
		return fmt.Errorf("reform: household %d: %w", h.ID, err)
	}
	p.households++
	var area Delta
	area.Households = 1
	gained, lost, changed := false, false, false
	for _, prog := range monthly {
		a, _ := rNow.Programmes.Get(prog.String())
		b, _ := rAfter.Programmes.Get(prog.String())
		if a == nil || b == nil {
			continue
		}
		d := &p.progs[prog]
		d.Households++
		if a.Eligible {
			d.EligibleNow++
			d.MonthlyNow += a.MonthlyFen
		}
		if b.Eligible {
			d.EligibleAfter++
			d.MonthlyAfter += b.MonthlyFen
		}
		switch {
		case !a.Eligible && b.Eligible:
			d.NewlyEligible++
			gained = true
		case a.Eligible && !b.Eligible:
			d.Exiting++
			lost = true
		case a.Eligible && b.Eligible && a.MonthlyFen != b.MonthlyFen:
			d.Changed++
			changed = true
		}
		if a.Eligible {
			area.MonthlyNow += a.MonthlyFen
		}
		if b.Eligible {
			area.MonthlyAfter += b.MonthlyFen
		}
	}
	if area.MonthlyNow > 0 {
		area.EligibleNow = 1
	}
	if area.MonthlyAfter > 0 {
		area.EligibleAfter = 1
	}
	if gained {
		area.NewlyEligible = 1
	}
	if lost {
		area.Exiting = 1
	}
	if changed && !gained && !lost {
		area.Changed = 1
	}
	key := h.Region[:9]
	t := p.townships[key]
	if t == nil {
		t = new(Delta)
		p.townships[key] = t
	}
	t.add(area)
	return nil
}

func (p *partial) merge(o *partial) {
	p.households += o.households
	p.skipped += o.skipped
	for i := range p.progs {
		p.progs[i].add(o.progs[i])
	}
	for k, d := range o.townships {
		t := p.townships[k]
		if t == nil {
			t = new(Delta)
			p.townships[k] = t
		}
		t.add(*d)
	}
}

func (p *partial) report(rep *Report, tree *region.Tree) {
	rep.Households, rep.Skipped = p.households, p.skipped
	labels := map[string]string{}
	for _, k := range calc.ProgrammeKinds() {
		labels[k.Name] = k.Label
	}
	for _, prog := range monthly {
		d := p.progs[prog]
		if d.EligibleNow == 0 && d.EligibleAfter == 0 {
			continue
		}
		rep.Programmes = append(rep.Programmes, ProgrammeDelta{Programme: prog.String(), Label: labels[prog.String()], Delta: d})
	}
	counties := map[string]*Delta{}
	for code, d := range p.townships {
		name := code
		if r, ok := tree.Get(code); ok {
			name = r.Name
		}
		rep.Townships = append(rep.Townships, AreaDelta{Code: code, Name: name, Level: region.Township, Delta: *d})
		c := counties[code[:6]]
		if c == nil {
			c = new(Delta)
			counties[code[:6]] = c
		}
		c.add(*d)
		rep.Total.add(*d)
	}
	for code, d := range counties {
		name := code
		if r, ok := tree.Get(code); ok {
			name = tree.FullName(r.Code)
		}
		rep.Counties = append(rep.Counties, AreaDelta{Code: code, Name: name, Level: region.County, Delta: *d})
	}
	sort.Slice(rep.Townships, func(i, j int) bool { return rep.Townships[i].Code < rep.Townships[j].Code })
	sort.Slice(rep.Counties, func(i, j int) bool { return rep.Counties[i].Code < rep.Counties[j].Code })
}
