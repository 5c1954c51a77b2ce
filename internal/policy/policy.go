// Package policy holds the dated, region-scoped parameters of the assistance
// rules (standards, multiples, thresholds), in the manner of OpenFisca: a value
// holds from its start date until the next start for the same region, and a
// county's value overrides its city's, which overrides the province's. Every
// value carries its legal reference and a demo flag for figures that are not
// verified. A loaded Set is immutable and safe for concurrent use.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/money"
)

// Unit says how a parameter's values are written and read.
type Unit string

const (
	UnitFen    Unit = "fen"    // written in yuan ("640.00"), held in fen
	UnitRatio  Unit = "ratio"  // "1.5", "0.035", "1/3"
	UnitCount  Unit = "count"  // whole number
	UnitMonths Unit = "months" // whole number of months
	UnitBool   Unit = "bool"   // true | false
	UnitExpr   Unit = "expr"   // expression text, checked by its consumer
)

var units = []Unit{UnitFen, UnitRatio, UnitCount, UnitMonths, UnitBool, UnitExpr}

var (
	// ErrUnknownParameter is wrapped when a name is not in the set.
	ErrUnknownParameter = errors.New("unknown parameter")
	// ErrNoValue is wrapped when a parameter has no value for a region and date.
	ErrNoValue = errors.New("no value")
)

// Value is one dated value of a parameter, as resolved or as scheduled.
type Value struct {
	Name      string
	Unit      Unit
	Region    string    // code prefix the value applies to ("36", "3607", "360721"); "" for an override
	Start     time.Time // first day the value holds
	Reference string    // legal source
	Demo      bool      // not a verified figure; must be confirmed before real use
	Note      string

	Int   int64 // fen, count or months
	Ratio Ratio
	Bool  bool
	Text  string // expr
}

// Fen returns the value of a fen parameter.
func (v Value) Fen() money.Fen { return money.Fen(v.Int) }

// String renders the value as written in the YAML files.
func (v Value) String() string {
	switch v.Unit {
	case UnitFen:
		return money.Fen(v.Int).Plain()
	case UnitRatio:
		return v.Ratio.String()
	case UnitCount, UnitMonths:
		return strconv.FormatInt(v.Int, 10)
	case UnitBool:
		return strconv.FormatBool(v.Bool)
	}
	return v.Text
}

// MarshalJSON gives the API view of a value (GET /api/v1/policy/{name}):
// the value as written in the YAML files, plus fen as an integer for amounts.
func (v Value) MarshalJSON() ([]byte, error) {
	view := struct {
		Name      string     `json:"name"`
		Unit      Unit       `json:"unit"`
		Value     string     `json:"value"`
		Fen       *money.Fen `json:"value_fen,omitempty"`
		Region    string     `json:"region"`
		Start     string     `json:"start"`
		Reference string     `json:"reference"`
		Demo      bool       `json:"demo"`
		Note      string     `json:"note,omitempty"`
	}{Name: v.Name, Unit: v.Unit, Value: v.String(), Region: v.Region, Start: v.Start.Format(time.DateOnly),
		Reference: v.Reference, Demo: v.Demo, Note: v.Note}
	if v.Unit == UnitFen {
		f := v.Fen()
		view.Fen = &f
	}
	return json.Marshal(view)
}

// parseValue reads raw as a value of unit u into v.
func (v *Value) parseValue(raw string) error {
	raw = strings.TrimSpace(raw)
	switch v.Unit {
	case UnitFen:
		f, err := money.Parse(raw)
		if err != nil {
			return err
		}
		if f < 0 {
			return fmt.Errorf("negative amount %q", raw)
		}
		v.Int = int64(f)
	case UnitRatio:
		r, err := ParseRatio(raw)
		if err != nil {
			return err
		}
		if r.Num < 0 {
			return fmt.Errorf("negative ratio %q", raw)
		}
		v.Ratio = r
	case UnitCount, UnitMonths:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid %s %q: want a whole number ≥ 0", v.Unit, raw)
		}
		v.Int = n
	case UnitBool:
		b, err := strconv.ParseBool(raw)
		if err != nil || (raw != "true" && raw != "false") {
			return fmt.Errorf("invalid bool %q: want true or false", raw)
		}
		v.Bool = b
	case UnitExpr:
		if raw == "" {
			return errors.New("empty expression")
		}
		v.Text = raw
	default:
		return fmt.Errorf("unknown unit %q", v.Unit)
	}
	return nil
}

// Parameter is a named schedule of values.
type Parameter struct {
	Name        string
	Unit        Unit
	Description string
	Values      []Value // grouped by region, each region's values in start order
}

// Set is an immutable collection of parameters.
type Set struct {
	params  map[string]*param
	regions map[string]bool // every region code that holds a value
}

type param struct {
	Parameter
	byRegion map[string][]Value // sorted by Start
}

// Names lists the parameter names in order.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.params))
	for n := range s.params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parameter returns a copy of the named parameter's schedule.
func (s *Set) Parameter(name string) (Parameter, bool) {
	p, ok := s.params[name]
	if !ok {
		return Parameter{}, false
	}
	cp := p.Parameter
	cp.Values = append([]Value(nil), p.Values...)
	return cp, true
}

// Resolve returns the value of name that holds for region (a region code of
// any level, usually 12 digits) on date: the most specific region prefix that
// has a value started on or before date wins. A missing value is an error
// naming the parameter; it is never read as zero.
func (s *Set) Resolve(name, region string, date time.Time) (Value, error) {
	p, ok := s.params[name]
	if !ok {
		return Value{}, fmt.Errorf("policy: %s: %w", name, ErrUnknownParameter)
	}
	if !validRegionDigits(region) {
		return Value{}, fmt.Errorf("policy: %s: invalid region code %q", name, region)
	}
	for _, n := range prefixLengths {
		if n > len(region) {
			continue
		}
		vals := p.byRegion[region[:n]]
		// Index of the first value starting after date; the one before it holds.
		i := sort.Search(len(vals), func(i int) bool { return vals[i].Start.After(date) })
		if i > 0 {
			return vals[i-1], nil
		}
	}
	return Value{}, fmt.Errorf("policy: %s: %w for region %s on %s", name, ErrNoValue, region, date.Format(time.DateOnly))
}

// prefixLengths are the region levels from most to least specific: village,
// township, county, city, province, and the override level "".
var prefixLengths = []int{12, 9, 6, 4, 2, 0}

// RegionKey returns the longest prefix of region that holds a value of any
// parameter. Two regions with the same key resolve every parameter alike, so
// callers can cache resolved bundles per key.
func (s *Set) RegionKey(region string) string {
	for _, n := range prefixLengths {
		if n <= len(region) && s.regions[region[:n]] {
			return region[:n]
		}
	}
	return ""
}

func validRegionDigits(code string) bool {
	if len(code) < 2 || len(code) > 12 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

func validRegionPrefix(code string) bool {
	switch len(code) {
	case 2, 4, 6, 9, 12:
		return validRegionDigits(code)
	}
	return false
}

// newSet indexes parameters; they must already be validated.
func newSet(params []Parameter) *Set {
	s := &Set{params: make(map[string]*param, len(params)), regions: map[string]bool{}}
	for _, p := range params {
		ip := &param{Parameter: p, byRegion: map[string][]Value{}}
		for _, v := range p.Values {
			ip.byRegion[v.Region] = append(ip.byRegion[v.Region], v)
			s.regions[v.Region] = true
		}
		for _, vals := range ip.byRegion {
			sort.SliceStable(vals, func(i, j int) bool { return vals[i].Start.Before(vals[j].Start) })
		}
		s.params[p.Name] = ip
	}
	return s
}

// Override returns a copy of s in which each named parameter has the given
// value for every region and date, replacing its whole schedule. Rule tests
// use it to run domain.md's worked examples with their fixture standards.
func (s *Set) Override(values map[string]string) (*Set, error) {
	params := make([]Parameter, 0, len(s.params))
	for _, name := range s.Names() {
		p := s.params[name].Parameter
		if raw, ok := values[name]; ok {
			v := Value{Name: name, Unit: p.Unit, Reference: "override", Demo: true, Note: "test or what-if override"}
			if err := v.parseValue(raw); err != nil {
				return nil, fmt.Errorf("policy: override %s: %w", name, err)
			}
			p.Values = []Value{v}
		}
		params = append(params, p)
	}
	for name := range values {
		if _, ok := s.params[name]; !ok {
			return nil, fmt.Errorf("policy: override %s: %w", name, ErrUnknownParameter)
		}
	}
	return newSet(params), nil
}

// Proposal is a new value an administrator wants to schedule.
type Proposal struct {
	Region    string
	Start     time.Time
	Value     string // written as in the YAML files
	Reference string
	Demo      bool
	Note      string
}

// ScheduleValue checks a proposed new value against a parameter's current
// schedule (from the YAML files or a database) and returns it parsed. History
// is never rewritten: the value must start after today and after the last
// start already scheduled for the same region.
func ScheduleValue(p Parameter, prop Proposal, today time.Time) (Value, error) {
	v := Value{Name: p.Name, Unit: p.Unit, Region: prop.Region, Start: prop.Start,
		Reference: strings.TrimSpace(prop.Reference), Demo: prop.Demo, Note: prop.Note}
	fail := func(format string, args ...any) (Value, error) {
		return Value{}, fmt.Errorf("policy: %s: schedule value: %s", p.Name, fmt.Sprintf(format, args...))
	}
	if !validRegionPrefix(v.Region) {
		return fail("invalid region %q: want a 2-, 4-, 6-, 9- or 12-digit code", v.Region)
	}
	if !v.Start.After(today) {
		return fail("start %s must be after today (%s)", v.Start.Format(time.DateOnly), today.Format(time.DateOnly))
	}
	for _, old := range p.Values {
		if old.Region == v.Region && !v.Start.After(old.Start) {
			return fail("start %s must be after the last start %s for region %s",
				v.Start.Format(time.DateOnly), old.Start.Format(time.DateOnly), v.Region)
		}
	}
	if v.Reference == "" {
		return fail("a legal reference is required")
	}
	if err := v.parseValue(prop.Value); err != nil {
		return fail("%v", err)
	}
	return v, nil
}
