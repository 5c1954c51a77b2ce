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
	return Value{}, &NoValueError{Name: name, Region: region, Date: date}
}

// NoValueError is a parameter without a value for a region and date. It
// wraps ErrNoValue and keeps the parameter's name, so that callers can name
// it in their own messages (an API error field, a page).
type NoValueError struct {
	Name   string
	Region string
	Date   time.Time
}

func (e *NoValueError) Error() string {
	return fmt.Sprintf("policy: %s: %v for region %s on %s", e.Name, ErrNoValue, e.Region, e.Date.Format(time.DateOnly))
}

func (e *NoValueError) Unwrap() error { return ErrNoValue }

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

// ScheduleError is a refused proposal. Field names the proposal field at
// fault (region, start, value, reference); Message says why in Chinese, for
// the person who typed it; Error gives the English text for logs and tests.
type ScheduleError struct {
	Name    string // parameter
	Field   string
	Message string
	detail  string
}

func (e *ScheduleError) Error() string {
	return fmt.Sprintf("policy: %s: schedule value: %s", e.Name, e.detail)
}

// ScheduleValue checks a proposed new value against a parameter's current
// schedule (from the YAML files or a database, including values still waiting
// for approval) and returns it parsed. History is never rewritten: the value
// must start after today and after the last start already scheduled for the
// same region. A refusal is a *ScheduleError.
func ScheduleValue(p Parameter, prop Proposal, today time.Time) (Value, error) {
	v := Value{Name: p.Name, Unit: p.Unit, Region: prop.Region, Start: prop.Start,
		Reference: strings.TrimSpace(prop.Reference), Demo: prop.Demo, Note: strings.TrimSpace(prop.Note)}
	fail := func(field, msg, format string, args ...any) (Value, error) {
		return Value{}, &ScheduleError{Name: p.Name, Field: field, Message: msg, detail: fmt.Sprintf(format, args...)}
	}
	if !validRegionPrefix(v.Region) {
		return fail("region", "适用地区须为 2、4、6、9 或 12 位行政区划代码",
			"invalid region %q: want a 2-, 4-, 6-, 9- or 12-digit code", v.Region)
	}
	if !v.Start.After(today) {
		return fail("start", fmt.Sprintf("起始日期 %s 必须晚于今天（%s）：已生效的历史不能改写", v.Start.Format(time.DateOnly), today.Format(time.DateOnly)),
			"start %s must be after today (%s)", v.Start.Format(time.DateOnly), today.Format(time.DateOnly))
	}
	for _, old := range p.Values {
		if old.Region == v.Region && !v.Start.After(old.Start) {
			msg := fmt.Sprintf("起始日期 %s 必须晚于该地区已有（或待审批）的最后起始日期 %s", v.Start.Format(time.DateOnly), old.Start.Format(time.DateOnly))
			if v.Start.Equal(old.Start) {
				msg = fmt.Sprintf("该地区在 %s 已有（或待审批）一个值，起始日期重叠", old.Start.Format(time.DateOnly))
			}
			return fail("start", msg, "start %s must be after the last start %s for region %s",
				v.Start.Format(time.DateOnly), old.Start.Format(time.DateOnly), v.Region)
		}
	}
	if v.Reference == "" {
		return fail("reference", "请填写政策依据（文件名称、文号或条款）", "a legal reference is required")
	}
	if v.Demo && v.Note == "" {
		return fail("note", "演示值须在备注中说明为何未经核实", "a demo value needs a note saying why it is not verified")
	}
	if err := v.parseValue(prop.Value); err != nil {
		return fail("value", "取值格式不正确："+unitHint[p.Unit], "%v", err)
	}
	return v, nil
}

// unitHint says in Chinese how a value of each unit is written.
var unitHint = map[Unit]string{
	UnitFen:    "金额以元填写，如 720.00",
	UnitRatio:  "比例或倍数，如 1.5、0.035 或 1/3",
	UnitCount:  "非负整数",
	UnitMonths: "月数（非负整数）",
	UnitBool:   "true 或 false",
	UnitExpr:   "表达式不能为空",
}

// WithValues returns a copy of s with further dated values added to their
// parameters' schedules: the approved values kept in a database on top of the
// YAML files. A value for a region and start the set already holds replaces
// it, so a value approved in production wins over a file shipped later. Each
// value must name a parameter of the set and carry its unit.
func (s *Set) WithValues(vals []Value) (*Set, error) {
	add := map[string][]Value{}
	for _, v := range vals {
		p, ok := s.params[v.Name]
		if !ok {
			return nil, fmt.Errorf("policy: %s: %w", v.Name, ErrUnknownParameter)
		}
		if v.Unit != p.Unit {
			return nil, fmt.Errorf("policy: %s: value in unit %s, parameter in %s", v.Name, v.Unit, p.Unit)
		}
		if !validRegionPrefix(v.Region) {
			return nil, fmt.Errorf("policy: %s: invalid region %q", v.Name, v.Region)
		}
		add[v.Name] = append(add[v.Name], v)
	}
	params := make([]Parameter, 0, len(s.params))
	for _, name := range s.Names() {
		p := s.params[name].Parameter
		if extra := add[name]; len(extra) > 0 {
			var kept []Value
			for _, old := range p.Values {
				replaced := false
				for _, v := range extra {
					if v.Region == old.Region && v.Start.Equal(old.Start) {
						replaced = true
					}
				}
				if !replaced {
					kept = append(kept, old)
				}
			}
			seen := map[string]bool{}
			for _, v := range extra {
				k := v.Region + "@" + v.Start.Format(time.DateOnly)
				if seen[k] {
					return nil, fmt.Errorf("policy: %s: region %s has two values starting %s", name, v.Region, v.Start.Format(time.DateOnly))
				}
				seen[k] = true
			}
			p.Values = append(kept, extra...)
			sort.SliceStable(p.Values, func(i, j int) bool {
				a, b := p.Values[i], p.Values[j]
				if len(a.Region) != len(b.Region) || a.Region != b.Region {
					return len(a.Region) < len(b.Region) || len(a.Region) == len(b.Region) && a.Region < b.Region
				}
				return a.Start.Before(b.Start)
			})
		}
		params = append(params, p)
	}
	return newSet(params), nil
}
