// Package calendar answers "is this a working day" and does deadline
// arithmetic in Chinese working days (工作日), following the State Council's
// yearly holiday notices (data/SOURCES.md). Dates outside the years whose
// notices are loaded are refused with ErrOutOfRange rather than guessed: a
// deadline computed from weekdays alone is wrong around every holiday.
package calendar

import (
	"bytes"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed data/cn-holidays-2019-2026.csv data/SOURCES.md
var dataFS embed.FS

const embeddedCSV = "data/cn-holidays-2019-2026.csv"

// China is China Standard Time: offices' dates and the times shown to people.
var China = time.FixedZone("CST", 8*3600)

// ErrOutOfRange is wrapped by every error about a date whose year has no
// loaded holiday notice.
var ErrOutOfRange = errors.New("calendar: date outside the known holiday arrangements")

// Kind says what a row of a holiday notice does to a date.
type Kind uint8

const (
	// Off is a rest day of a holiday period (weekend days inside it included).
	Off Kind = iota + 1
	// Work is a Saturday or Sunday made a working day (调休上班).
	Work
)

func (k Kind) String() string {
	switch k {
	case Off:
		return "off"
	case Work:
		return "work"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Row is one dated line of a holiday notice.
type Row struct {
	Date time.Time
	Kind Kind
	Name string // the holiday, e.g. 春节; for Work rows the holiday it makes up for
}

// Calendar holds the holiday arrangements of a set of years. It is safe for
// concurrent use: an administrator may add next year's notice while deadlines
// are being computed.
type Calendar struct {
	mu    sync.RWMutex
	years map[int]bool
	rows  map[int32]Row // keyed by days since 1970-01-01
}

var defaultRows = sync.OnceValues(func() ([]Row, error) {
	b, err := dataFS.ReadFile(embeddedCSV)
	if err != nil {
		return nil, err
	}
	return ReadRows(bytes.NewReader(b))
})

// Default returns a new Calendar holding the embedded 2019–2026 notices. Each
// call returns an independent copy, so AddYear on one does not affect others.
func Default() *Calendar {
	rows, err := defaultRows()
	if err != nil {
		panic(fmt.Sprintf("calendar: embedded %s: %v", embeddedCSV, err))
	}
	c := &Calendar{years: map[int]bool{}, rows: map[int32]Row{}}
	byYear := map[int][]Row{}
	for _, r := range rows {
		y := noticeYear(r)
		byYear[y] = append(byYear[y], r)
	}
	for y, rs := range byYear {
		if err := c.AddYear(y, rs); err != nil {
			panic(fmt.Sprintf("calendar: embedded %s: %v", embeddedCSV, err))
		}
	}
	return c
}

// Sources returns the embedded provenance notes for the holiday data.
func Sources() []byte {
	b, _ := dataFS.ReadFile("data/SOURCES.md")
	return b
}

// noticeYear is the year whose notice a row belongs to: the New Year (元旦)
// period of a notice may start in the last days of the previous December.
func noticeYear(r Row) int {
	if r.Date.Month() == time.December && r.Name == "元旦" {
		return r.Date.Year() + 1
	}
	return r.Date.Year()
}

// ReadRows parses rows in the embedded file's layout: a header
// "date,kind,name", then one YYYY-MM-DD,off|work,name line per date.
func ReadRows(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("calendar: read rows: %w", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "date,kind,name" {
		return nil, errors.New(`calendar: read rows: header must be "date,kind,name"`)
	}
	rows := make([]Row, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		line := i + 2
		d, err := time.Parse(time.DateOnly, rec[0])
		if err != nil {
			return nil, fmt.Errorf("calendar: line %d: date %q: %w", line, rec[0], err)
		}
		var k Kind
		switch rec[1] {
		case "off":
			k = Off
		case "work":
			k = Work
		default:
			return nil, fmt.Errorf("calendar: line %d: kind %q is neither off nor work", line, rec[1])
		}
		rows = append(rows, Row{Date: d, Kind: k, Name: rec[2]})
	}
	return rows, nil
}

// AddYear loads one year's official arrangement. Rows may include the end of
// the previous December and the start of the next January, as notices do for
// the New Year period. Nothing is changed unless every row is valid: work rows
// must fall on a weekend, off rows must name a holiday, and no date may appear
// twice, in rows or already loaded.
func (c *Calendar) AddYear(year int, rows []Row) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.years[year] {
		return fmt.Errorf("calendar: add year %d: already loaded", year)
	}
	if len(rows) == 0 {
		return fmt.Errorf("calendar: add year %d: no rows", year)
	}
	seen := make(map[int32]bool, len(rows))
	for i, r := range rows {
		d := Day(r.Date)
		where := fmt.Sprintf("calendar: add year %d: row %d (%s)", year, i+1, d.Format(time.DateOnly))
		first := time.Date(year-1, time.December, 1, 0, 0, 0, 0, time.UTC)
		last := time.Date(year+1, time.January, 31, 0, 0, 0, 0, time.UTC)
		if d.Before(first) || d.After(last) {
			return fmt.Errorf("%s: date is not within the year %d", where, year)
		}
		if r.Kind != Off && r.Kind != Work {
			return fmt.Errorf("%s: unknown kind %v", where, r.Kind)
		}
		if strings.TrimSpace(r.Name) == "" {
			return fmt.Errorf("%s: missing holiday name", where)
		}
		if r.Kind == Work && !isWeekend(d) {
			return fmt.Errorf("%s: a make-up working day must be a Saturday or Sunday, not %s", where, d.Weekday())
		}
		n := dayNum(d)
		if seen[n] {
			return fmt.Errorf("%s: date listed twice", where)
		}
		if _, dup := c.rows[n]; dup {
			return fmt.Errorf("%s: date already loaded from another year's notice", where)
		}
		seen[n] = true
	}
	for _, r := range rows {
		r.Date = Day(r.Date)
		c.rows[dayNum(r.Date)] = r
	}
	c.years[year] = true
	return nil
}

// Years lists the loaded years in order.
func (c *Calendar) Years() []int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.knownYears()
}

func (c *Calendar) knownYears() []int {
	ys := make([]int, 0, len(c.years))
	for y := range c.years {
		ys = append(ys, y)
	}
	slices.Sort(ys)
	return ys
}

// Lookup returns the notice row for d, if any (for showing holiday names).
func (c *Calendar) Lookup(d time.Time) (Row, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.rows[dayNum(Day(d))]
	return r, ok
}

// IsWorkingDay reports whether d is a working day. Only the calendar date of d
// (in its own location) matters.
func (c *Calendar) IsWorkingDay(d time.Time) (bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d = Day(d)
	if err := c.check(d); err != nil {
		return false, err
	}
	return c.working(d), nil
}

func (c *Calendar) working(d time.Time) bool {
	if r, ok := c.rows[dayNum(d)]; ok {
		return r.Kind == Work
	}
	return !isWeekend(d)
}

// AddWorkingDays returns the nth working day after start; start itself is not
// counted, so a 3-WD deadline from Monday 2021-11-01 is Thursday 11-04. n = 0
// returns start.
func (c *Calendar) AddWorkingDays(start time.Time, n int) (time.Time, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := Day(start)
	if n < 0 {
		return time.Time{}, fmt.Errorf("calendar: add %d working days: count must not be negative", n)
	}
	if err := c.check(d); err != nil {
		return time.Time{}, err
	}
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if err := c.check(d); err != nil {
			return time.Time{}, fmt.Errorf("calendar: %d working days after %s: %w", n, Day(start).Format(time.DateOnly), err)
		}
		if c.working(d) {
			n--
		}
	}
	return d, nil
}

// WorkingDaysBetween counts the working days d with a < d ≤ b, so that
// WorkingDaysBetween(a, AddWorkingDays(a, n)) == n. It is negative when b is
// before a.
func (c *Calendar) WorkingDaysBetween(a, b time.Time) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, b = Day(a), Day(b)
	if err := c.check(a); err != nil {
		return 0, err
	}
	if err := c.check(b); err != nil {
		return 0, err
	}
	sign := 1
	if b.Before(a) {
		a, b, sign = b, a, -1
	}
	n := 0
	for d := a.AddDate(0, 0, 1); !d.After(b); d = d.AddDate(0, 0, 1) {
		if c.working(d) {
			n++
		}
	}
	return sign * n, nil
}

func (c *Calendar) check(d time.Time) error {
	if !c.years[d.Year()] {
		ys := c.knownYears()
		if len(ys) == 0 {
			return fmt.Errorf("%w: %s (no years loaded)", ErrOutOfRange, d.Format(time.DateOnly))
		}
		return fmt.Errorf("%w: %s (loaded years: %s)", ErrOutOfRange, d.Format(time.DateOnly), yearList(ys))
	}
	return nil
}

func yearList(ys []int) string {
	var b strings.Builder
	for i, y := range ys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, y)
	}
	return b.String()
}

// Day returns the calendar date of t (in t's own location) as midnight UTC,
// the form every function of this package works with.
func Day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func dayNum(d time.Time) int32 { return int32(d.Unix() / 86400) }

func isWeekend(d time.Time) bool {
	wd := d.Weekday()
	return wd == time.Saturday || wd == time.Sunday
}
