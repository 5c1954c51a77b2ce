package calc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/money"
)

// Situation is the input of one calculation: a household at a date in a region,
// optionally with a temporary-assistance request and price indices. It is the
// JSON body of POST /api/v1/calculate (DESIGN.md §4). Build it with
// ParseSituation, or fill it in Go and call Validate.
type Situation struct {
	Date       string    `json:"date"`
	Region     string    `json:"region"`
	Programmes []string  `json:"programmes,omitempty"`
	Household  Household `json:"household"`
	Request    *Request  `json:"request,omitempty"`
	Prices     *Prices   `json:"prices,omitempty"`

	// Parameters is an extension of the contract for what-if questions and
	// the worked examples: values that replace a parameter's whole schedule
	// for this calculation only (written as in policy/*.yaml). They are
	// refused unless Options.AllowParameters is set, echoed in the result and
	// marked in the trace (reference "override", demo), so an answer given
	// under them can never pass for one under the real standards.
	Parameters map[string]string `json:"parameters,omitempty"`

	day   civil
	progs uint16 // bit per Programme
	valid bool
}

// Household is the applying household.
type Household struct {
	Hukou      string      `json:"hukou"`
	Members    []Member    `json:"members"`
	Supporters []Supporter `json:"supporters,omitempty"`
	Current    *Current    `json:"current,omitempty"`

	urban   bool
	headIdx int
}

// Member is one person registered in the household.
type Member struct {
	ID                  string      `json:"id"`
	BirthDate           string      `json:"birth_date"`
	Relation            string      `json:"relation"`
	CoResident          *bool       `json:"co_resident,omitempty"` // default true
	Disability          *Disability `json:"disability,omitempty"`
	SelfCareFailedItems int         `json:"self_care_failed_items"`
	Student             string      `json:"student,omitempty"` // default none
	SeriousIllness      bool        `json:"serious_illness"`
	AbleToWork          *bool       `json:"able_to_work,omitempty"` // default true
	Incomes             []Income    `json:"incomes,omitempty"`
	Assets              []Asset     `json:"assets,omitempty"`

	// Extensions of the DESIGN.md contract.
	Absence       string    `json:"absence,omitempty"`        // DB-02 exclusions: clergy|prison|drug_rehab|missing|labour_camp
	Living        string    `json:"living,omitempty"`         // home (default) | institution
	Parents       []string  `json:"parents,omitempty"`        // both parents' status, for orphan / unattended_child
	Benefits      []Benefit `json:"benefits,omitempty"`       // the child's own current benefits (ER-04 top-up)
	LongTermCare  bool      `json:"long_term_care,omitempty"` // care needs of 6 months or more (CJ-01)
	SeparateHukou bool      `json:"separate_hukou,omitempty"` // own household registration (S3 §10, 2012 rules)

	birth      civil
	rel        relation
	stud       student
	abs        absence
	inst       bool
	coResident bool
	able       bool
	parents    [2]parentStatus
	hasParents bool
}

// Disability is a disability certificate (第二代残疾人证).
type Disability struct {
	Kind  string `json:"kind"`
	Level int    `json:"level"`

	kind disabilityKind
}

// Income is a monthly income item of a member.
type Income struct {
	Kind       string    `json:"kind"`
	MonthlyFen money.Fen `json:"monthly_fen"`

	kind int // index into incomeKinds
}

// Asset is an asset item of a member.
type Asset struct {
	Kind     string    `json:"kind"`
	ValueFen money.Fen `json:"value_fen"`

	kind int // index into assetKinds
}

// Benefit is a benefit a child already receives personally.
type Benefit struct {
	Programme  string    `json:"programme"`
	MonthlyFen money.Fen `json:"monthly_fen"`
}

// Supporter is a person with a legal duty to support a member (赡养、扶养、
// 抚养义务人) who lives outside the household.
type Supporter struct {
	Relation          string      `json:"relation"`
	BirthDate         string      `json:"birth_date"`
	OnDibao           bool        `json:"on_dibao"`
	OnTekun           bool        `json:"on_tekun"`
	Disability        *Disability `json:"disability,omitempty"`
	MonthlyIncomeFen  money.Fen   `json:"monthly_income_fen"`
	AssetsWithinRules bool        `json:"assets_within_rules"`

	// Extensions.
	Of     string `json:"of,omitempty"`     // member id supported; default the head
	Status string `json:"status,omitempty"` // none|no_legal_capacity|missing|prison

	birth  civil
	status supporterStatus
	of     int
}

// Current is the benefit the household receives now.
type Current struct {
	Programme  string    `json:"programme"`
	MonthlyFen money.Fen `json:"monthly_fen"`
	Since      string    `json:"since"`

	prog Programme
}

// Request is a temporary-assistance request.
type Request struct {
	Kind    string    `json:"kind"`
	NeedFen money.Fen `json:"need_fen"`

	emergency bool
}

// Prices are the month's year-on-year index changes, in percent.
type Prices struct {
	CPIYoY  *float64 `json:"cpi_yoy"`
	FoodYoY *float64 `json:"food_yoy"`

	cpiBP, foodBP int64 // hundredths of a percent
}

// InputError is a refused situation; Path names the JSON field, such as
// household.members[1].incomes[0].kind.
type InputError struct {
	Path string
	Msg  string
}

func (e *InputError) Error() string {
	if e.Path == "" {
		return "calc: " + e.Msg
	}
	return "calc: " + e.Path + ": " + e.Msg
}

func inputErr(path, format string, args ...any) error {
	return &InputError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// ParseSituation decodes and validates one JSON situation. Unknown fields,
// unknown kinds, impossible dates, negative amounts and duplicate member ids
// are refused with an *InputError naming the field.
func ParseSituation(data []byte) (Situation, error) {
	var s Situation
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Situation{}, explainDecodeError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Situation{}, inputErr("", "unexpected data after the situation object")
	}
	if err := s.Validate(); err != nil {
		return Situation{}, err
	}
	return s, nil
}

// explainDecodeError turns encoding/json's errors, which lack array indices
// (and, for unknown fields, any path), into an InputError with the full path.
func explainDecodeError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return inputErr("", "invalid JSON at byte %d: %v", syn.Offset, syn)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return inputErr("", "empty or truncated JSON")
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&tree) == nil {
		if e := findShapeError(tree, reflect.TypeFor[Situation](), ""); e != nil {
			return e
		}
	}
	return inputErr("", "%v", err)
}

// findShapeError walks a generic JSON tree along the Go type and reports the
// first unknown field or wrong JSON type.
func findShapeError(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		if v == nil {
			return nil
		}
		t = t.Elem()
	}
	if t == reflect.TypeFor[money.Fen]() {
		t = reflect.TypeFor[int64]()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return inputErr(path, "want an object")
		}
		for key, val := range obj {
			f, ok := fieldByJSONName(t, key)
			if !ok {
				return inputErr(path, "unknown field %q", key)
			}
			if err := findShapeError(val, f.Type, joinPath(path, key)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if v == nil {
			return nil
		}
		arr, ok := v.([]any)
		if !ok {
			return inputErr(path, "want an array")
		}
		for i, el := range arr {
			if err := findShapeError(el, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok && v != nil {
			return inputErr(path, "want a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok && v != nil {
			return inputErr(path, "want true or false")
		}
	case reflect.Int, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok && v != nil {
			return inputErr(path, "want an integer")
		}
		if _, err := n.Int64(); ok && err != nil {
			return inputErr(path, "want an integer, got %s", n)
		}
	case reflect.Float64:
		if _, ok := v.(json.Number); !ok && v != nil {
			return inputErr(path, "want a number")
		}
	}
	return nil
}

func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate checks a situation built in Go and prepares it for evaluation.
// ParseSituation calls it; Evaluate calls it when it has not run.
func (s *Situation) Validate() error {
	s.valid = false
	var err error
	if s.day, err = parseCivil(s.Date); err != nil {
		return inputErr("date", "%v", err)
	}
	if len(s.Region) != 12 || !allDigits(s.Region) {
		return inputErr("region", "want a 12-digit region code, got %q", s.Region)
	}
	s.progs = 0
	for i, name := range s.Programmes {
		p := programmes.index(name)
		if p < 0 {
			return inputErr(fmt.Sprintf("programmes[%d]", i), "unknown programme %q (want one of %s)", name, programmes.names())
		}
		if s.progs&(1<<p) != 0 {
			return inputErr(fmt.Sprintf("programmes[%d]", i), "programme %q listed twice", name)
		}
		s.progs |= 1 << p
	}
	if len(s.Programmes) == 0 {
		s.progs = 1<<numProgrammes - 1
	}
	if err := s.Household.validate(s.day); err != nil {
		return err
	}
	if r := s.Request; r != nil {
		switch requestKinds.index(r.Kind) {
		case 0:
			r.emergency = true
		case 1:
			r.emergency = false
		default:
			return inputErr("request.kind", "unknown request kind %q (want one of %s)", r.Kind, requestKinds.names())
		}
		if r.NeedFen <= 0 {
			return inputErr("request.need_fen", "must be greater than 0, got %d", r.NeedFen)
		}
	}
	if p := s.Prices; p != nil {
		if p.cpiBP, err = percentBP(p.CPIYoY); err != nil {
			return inputErr("prices.cpi_yoy", "%v", err)
		}
		if p.foodBP, err = percentBP(p.FoodYoY); err != nil {
			return inputErr("prices.food_yoy", "%v", err)
		}
	}
	s.valid = true
	return nil
}

func percentBP(p *float64) (int64, error) {
	if p == nil {
		return 0, errors.New("required")
	}
	if math.IsNaN(*p) || *p < -100 || *p > 1000 {
		return 0, fmt.Errorf("%v is not a plausible year-on-year change in percent", *p)
	}
	return int64(math.Round(*p * 100)), nil
}

func (h *Household) validate(day civil) error {
	switch hukous.index(h.Hukou) {
	case 0:
		h.urban = true
	case 1:
		h.urban = false
	default:
		return inputErr("household.hukou", "unknown hukou %q (want urban or rural)", h.Hukou)
	}
	if len(h.Members) == 0 {
		return inputErr("household.members", "at least one member is required")
	}
	h.headIdx = -1
	for i := range h.Members {
		m := &h.Members[i]
		path := indexPath("household.members", i)
		if m.ID == "" {
			return inputErr(path+".id", "required")
		}
		// households are small: a linear search beats a map built per household
		if j := h.memberIndex(m.ID); j < i {
			return inputErr(path+".id", "member id %q listed twice (also members[%d])", m.ID, j)
		}
		if err := m.validate(path, day); err != nil {
			return err
		}
		if m.rel == relHead {
			if h.headIdx >= 0 {
				return inputErr(path+".relation", "a second head (members[%d] is already the head)", h.headIdx)
			}
			h.headIdx = i
		}
	}
	if h.headIdx < 0 {
		return inputErr("household.members", `one member must have relation "head"`)
	}
	for i := range h.Supporters {
		sp := &h.Supporters[i]
		path := indexPath("household.supporters", i)
		if relations.index(sp.Relation) < 0 {
			return inputErr(path+".relation", "unknown relation %q (want one of %s)", sp.Relation, relations.names())
		}
		var err error
		if sp.birth, err = parseCivil(sp.BirthDate); err != nil {
			return inputErr(path+".birth_date", "%v", err)
		}
		if day.before(sp.birth) {
			return inputErr(path+".birth_date", "%s is after the situation date %s", sp.BirthDate, day)
		}
		if err := sp.Disability.validate(path + ".disability"); err != nil {
			return err
		}
		if sp.MonthlyIncomeFen < 0 {
			return inputErr(path+".monthly_income_fen", "must not be negative")
		}
		if sp.status, err = enumValue[supporterStatus](supporterStatuses, sp.Status, "none", path+".status", "supporter status"); err != nil {
			return err
		}
		sp.of = h.headIdx
		if sp.Of != "" {
			j := h.memberIndex(sp.Of)
			if j < 0 {
				return inputErr(path+".of", "no member with id %q", sp.Of)
			}
			sp.of = j
		}
	}
	if c := h.Current; c != nil {
		p := programmes.index(c.Programme)
		if p < 0 {
			return inputErr("household.current.programme", "unknown programme %q (want one of %s)", c.Programme, programmes.names())
		}
		c.prog = Programme(p)
		if c.MonthlyFen < 0 {
			return inputErr("household.current.monthly_fen", "must not be negative")
		}
		since, err := time.Parse("2006-01", c.Since)
		if err != nil {
			return inputErr("household.current.since", "want YYYY-MM, got %q", c.Since)
		}
		if since.Year() > day.y || (since.Year() == day.y && int(since.Month()) > day.m) {
			return inputErr("household.current.since", "%s is after the situation date %s", c.Since, day)
		}
	}
	return nil
}

func (m *Member) validate(path string, day civil) error {
	var err error
	if m.birth, err = parseCivil(m.BirthDate); err != nil {
		return inputErr(path+".birth_date", "%v", err)
	}
	if day.before(m.birth) {
		return inputErr(path+".birth_date", "%s is after the situation date %s", m.BirthDate, day)
	}
	r := relations.index(m.Relation)
	if r < 0 {
		return inputErr(path+".relation", "unknown relation %q (want one of %s)", m.Relation, relations.names())
	}
	m.rel = relation(r)
	m.coResident = m.CoResident == nil || *m.CoResident
	m.able = m.AbleToWork == nil || *m.AbleToWork
	if err := m.Disability.validate(path + ".disability"); err != nil {
		return err
	}
	if m.SelfCareFailedItems < 0 || m.SelfCareFailedItems > 6 {
		return inputErr(path+".self_care_failed_items", "must be between 0 and 6 (TK-10 assesses 6 items), got %d", m.SelfCareFailedItems)
	}
	if m.stud, err = enumValue[student](students, m.Student, "none", path+".student", "student level"); err != nil {
		return err
	}
	if m.abs, err = enumValue[absence](absences, m.Absence, "none", path+".absence", "absence"); err != nil {
		return err
	}
	lv, err := enumValue[living](livings, m.Living, "home", path+".living", "living arrangement")
	if err != nil {
		return err
	}
	m.inst = lv == livingInstitution
	for j := range m.Incomes {
		in := &m.Incomes[j]
		p := fmt.Sprintf("%s.incomes[%d]", path, j)
		in.kind = -1
		for k := range incomeKinds {
			if incomeKinds[k].Name == in.Kind {
				in.kind = k
			}
		}
		if in.kind < 0 {
			return inputErr(p+".kind", "unknown income kind %q (see GET /api/v1/policy/kinds)", in.Kind)
		}
		if in.MonthlyFen < 0 {
			return inputErr(p+".monthly_fen", "must not be negative, got %d", in.MonthlyFen)
		}
	}
	for j := range m.Assets {
		a := &m.Assets[j]
		p := fmt.Sprintf("%s.assets[%d]", path, j)
		a.kind = -1
		for k := range assetKinds {
			if assetKinds[k].Name == a.Kind {
				a.kind = k
			}
		}
		if a.kind < 0 {
			return inputErr(p+".kind", "unknown asset kind %q (see GET /api/v1/policy/kinds)", a.Kind)
		}
		if a.ValueFen < 0 {
			return inputErr(p+".value_fen", "must not be negative, got %d", a.ValueFen)
		}
	}
	m.hasParents = len(m.Parents) > 0
	if m.hasParents && len(m.Parents) != 2 {
		return inputErr(path+".parents", "give the status of both parents (2 entries), got %d", len(m.Parents))
	}
	for j, ps := range m.Parents {
		if m.parents[j], err = enumValue[parentStatus](parentStatuses, ps, "", fmt.Sprintf("%s.parents[%d]", path, j), "parent status"); err != nil {
			return err
		}
	}
	for j, b := range m.Benefits {
		p := fmt.Sprintf("%s.benefits[%d]", path, j)
		if benefitProgrammes.index(b.Programme) < 0 {
			return inputErr(p+".programme", "unknown benefit programme %q (want one of %s)", b.Programme, benefitProgrammes.names())
		}
		if b.MonthlyFen < 0 {
			return inputErr(p+".monthly_fen", "must not be negative, got %d", b.MonthlyFen)
		}
	}
	return nil
}

func (d *Disability) validate(path string) error {
	if d == nil {
		return nil
	}
	k := disabilityKinds.index(d.Kind)
	if k < 0 {
		return inputErr(path+".kind", "unknown disability kind %q (want one of %s)", d.Kind, disabilityKinds.names())
	}
	d.kind = disabilityKind(k)
	if d.Level < 1 || d.Level > 4 {
		return inputErr(path+".level", "must be between 1 and 4, got %d", d.Level)
	}
	return nil
}

// enumValue maps name (or def when name is empty) to its index in e.
func enumValue[T ~uint8](e enum, name, def, path, what string) (T, error) {
	if name == "" {
		name = def
	}
	i := e.index(name)
	if i < 0 {
		return 0, inputErr(path, "unknown %s %q (want one of %s)", what, name, e.names())
	}
	return T(i), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// civil is a calendar date without time zone.
type civil struct{ y, m, d int }

// parseCivil reads YYYY-MM-DD. It runs for every member of every household
// of a simulation, so it avoids time.Parse.
func parseCivil(s string) (civil, error) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, ok1 := digits(s[0:4])
		m, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		if ok1 && ok2 && ok3 && y > 0 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m) {
			return civil{y, m, d}, nil
		}
	}
	return civil{}, fmt.Errorf("want a real date as YYYY-MM-DD, got %q", s)
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// memberIndex is the index of the member with an id, or -1.
func (h *Household) memberIndex(id string) int {
	for i := range h.Members {
		if h.Members[i].ID == id {
			return i
		}
	}
	return -1
}

var pathCache = map[string][]string{}

func init() {
	for _, base := range []string{"household.members", "household.supporters"} {
		for i := 0; i < 32; i++ {
			pathCache[base] = append(pathCache[base], fmt.Sprintf("%s[%d]", base, i))
		}
	}
}

// indexPath is "base[i]", precomputed for the common sizes: validating a
// province formats no strings unless something is wrong.
func indexPath(base string, i int) string {
	if ps := pathCache[base]; i < len(ps) {
		return ps[i]
	}
	return fmt.Sprintf("%s[%d]", base, i)
}

func (c civil) before(o civil) bool {
	if c.y != o.y {
		return c.y < o.y
	}
	if c.m != o.m {
		return c.m < o.m
	}
	return c.d < o.d
}

func (c civil) time() time.Time { return time.Date(c.y, time.Month(c.m), c.d, 0, 0, 0, 0, time.UTC) }

func (c civil) String() string { return c.time().Format(time.DateOnly) }

// age is the age in whole years on date; the birthday itself counts, and a
// 29 February birthday is reached on 1 March in common years.
func (c civil) age(on civil) int {
	a := on.y - c.y
	if on.m < c.m || (on.m == c.m && on.d < c.d) {
		a--
	}
	return a
}
