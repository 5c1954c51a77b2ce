package calendar

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestDefaultYears(t *testing.T) {
	c := Default()
	if got, want := c.Years(), []int{2019, 2020, 2021, 2022, 2023, 2024, 2025, 2026}; !slices.Equal(got, want) {
		t.Fatalf("Years() = %v; want %v", got, want)
	}
	if len(Sources()) == 0 {
		t.Error("Sources() is empty")
	}
}

func TestIsWorkingDay(t *testing.T) {
	c := Default()
	tests := []struct {
		date string
		want bool
	}{
		{"2021-11-01", true},  // ordinary Monday
		{"2021-11-06", false}, // ordinary Saturday
		{"2022-01-03", false}, // Monday inside the New Year holiday
		{"2019-02-02", true},  // Saturday made a working day for 春节
		{"2026-01-04", true},  // Sunday made a working day for 元旦
		{"2020-01-31", false}, // added by the 2020 COVID extension notice
		{"2020-02-03", true},  // ordinary Monday after the extension, no row
		{"2019-01-01", false},
		{"2026-12-31", true},
	}
	for _, tt := range tests {
		got, err := c.IsWorkingDay(day(tt.date))
		if err != nil || got != tt.want {
			t.Errorf("IsWorkingDay(%s) = %v, %v; want %v", tt.date, got, err, tt.want)
		}
	}
}

func TestIsWorkingDayUsesLocalDate(t *testing.T) {
	c := Default()
	// 2022-01-04 00:30 in Beijing is still 2022-01-03 in UTC; the local date counts.
	bj := time.FixedZone("CST", 8*3600)
	got, err := c.IsWorkingDay(time.Date(2022, 1, 4, 0, 30, 0, 0, bj))
	if err != nil || !got {
		t.Fatalf("IsWorkingDay(2022-01-04 00:30 CST) = %v, %v; want true", got, err)
	}
}

// Worked example 7 of domain.md plus the 30th/45th working-day boundaries
// around holidays.
func TestAddWorkingDays(t *testing.T) {
	c := Default()
	tests := []struct {
		name  string
		start string
		n     int
		want  string
	}{
		{"investigation starts (DB-10)", "2021-11-01", 3, "2021-11-04"},
		{"30-WD limit (DB-30)", "2021-11-01", 30, "2021-12-13"},
		{"45-WD limit across New Year (DB-30)", "2021-11-01", 45, "2022-01-04"},
		{"county decision 10 WD (DB-30)", "2021-11-22", 10, "2021-12-06"},
		{"refusal notice 3 WD", "2021-12-06", 3, "2021-12-09"},
		{"zero days", "2021-11-06", 0, "2021-11-06"},
		{"start on a holiday", "2022-01-01", 1, "2022-01-04"},
		{"across 国庆 2021", "2021-09-29", 2, "2021-10-08"}, // 09-30, then 10-01..07 off, 10-09 work
		{"make-up Saturday counts", "2021-10-08", 1, "2021-10-09"},
		{"across 春节 2023 with two make-up days (30 WD)", "2023-01-03", 30, "2023-02-17"},
		{"across year end 2024→2025 (45 WD)", "2024-11-01", 45, "2025-01-06"},
		{"last known day", "2026-12-30", 1, "2026-12-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.AddWorkingDays(day(tt.start), tt.n)
			if err != nil {
				t.Fatalf("AddWorkingDays(%s, %d): %v", tt.start, tt.n, err)
			}
			if got.Format(time.DateOnly) != tt.want {
				t.Fatalf("AddWorkingDays(%s, %d) = %s; want %s", tt.start, tt.n, got.Format(time.DateOnly), tt.want)
			}
			back, err := c.WorkingDaysBetween(day(tt.start), got)
			if err != nil || back != tt.n {
				t.Fatalf("WorkingDaysBetween(%s, %s) = %d, %v; want %d", tt.start, tt.want, back, err, tt.n)
			}
		})
	}
}

func TestWorkingDaysBetween(t *testing.T) {
	c := Default()
	tests := []struct {
		a, b string
		want int
	}{
		{"2021-11-01", "2021-11-01", 0},
		{"2021-11-01", "2021-11-08", 5},
		{"2021-11-08", "2021-11-01", -5},
		{"2021-12-31", "2022-01-03", 0}, // New Year holiday only
		{"2021-12-31", "2022-01-04", 1},
		{"2019-01-01", "2019-12-31", 250},
	}
	for _, tt := range tests {
		got, err := c.WorkingDaysBetween(day(tt.a), day(tt.b))
		if err != nil || got != tt.want {
			t.Errorf("WorkingDaysBetween(%s, %s) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestOutOfRange(t *testing.T) {
	c := Default()
	if _, err := c.IsWorkingDay(day("2018-12-29")); !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "2018-12-29") {
		t.Errorf("IsWorkingDay(2018-12-29) error = %v; want ErrOutOfRange naming the date", err)
	}
	if _, err := c.IsWorkingDay(day("2027-01-04")); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("IsWorkingDay(2027-01-04) error = %v; want ErrOutOfRange", err)
	}
	if _, err := c.AddWorkingDays(day("2026-12-30"), 2); !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "2027-01-01") {
		t.Errorf("AddWorkingDays past 2026 error = %v; want ErrOutOfRange naming 2027-01-01", err)
	}
	if _, err := c.WorkingDaysBetween(day("2021-01-01"), day("2030-01-01")); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("WorkingDaysBetween to 2030 error = %v; want ErrOutOfRange", err)
	}
	if _, err := c.AddWorkingDays(day("2021-01-04"), -1); err == nil {
		t.Error("AddWorkingDays with n = -1: want error")
	}
}

func TestAddYear(t *testing.T) {
	// Rows as a 2027 notice would plausibly give them; only the mechanics are tested.
	rows2027 := []Row{
		{Date: day("2027-01-01"), Kind: Off, Name: "元旦"},
		{Date: day("2027-01-02"), Kind: Off, Name: "元旦"},
		{Date: day("2027-01-03"), Kind: Off, Name: "元旦"},
		{Date: day("2027-02-20"), Kind: Work, Name: "春节"},
	}
	c := Default()
	if err := c.AddYear(2027, rows2027); err != nil {
		t.Fatalf("AddYear(2027): %v", err)
	}
	got, err := c.AddWorkingDays(day("2026-12-31"), 1)
	if err != nil || got.Format(time.DateOnly) != "2027-01-04" {
		t.Fatalf("AddWorkingDays(2026-12-31, 1) = %v, %v; want 2027-01-04", got, err)
	}
	if w, _ := c.IsWorkingDay(day("2027-02-20")); !w {
		t.Error("2027-02-20 should be a make-up working day")
	}
	if _, err := Default().IsWorkingDay(day("2027-01-04")); !errors.Is(err, ErrOutOfRange) {
		t.Error("AddYear on one Calendar leaked into Default()")
	}

	bad := []struct {
		name string
		year int
		rows []Row
		want string
	}{
		{"already loaded", 2021, rows2027, "already loaded"},
		{"empty", 2028, nil, "no rows"},
		{"work on weekday", 2028, []Row{{Date: day("2028-01-05"), Kind: Work, Name: "春节"}}, "Saturday or Sunday"},
		{"duplicate", 2028, []Row{{Date: day("2028-01-01"), Kind: Off, Name: "元旦"}, {Date: day("2028-01-01"), Kind: Off, Name: "元旦"}}, "twice"},
		{"clashes with loaded", 2027, []Row{{Date: day("2026-12-31"), Kind: Off, Name: "元旦"}, {Date: day("2026-12-31"), Kind: Off, Name: "x"}}, "twice"},
		{"wrong year", 2028, []Row{{Date: day("2030-05-01"), Kind: Off, Name: "劳动节"}}, "not within"},
		{"no name", 2028, []Row{{Date: day("2028-05-01"), Kind: Off}}, "missing holiday name"},
		{"bad kind", 2028, []Row{{Date: day("2028-05-01"), Kind: 9, Name: "劳动节"}}, "unknown kind"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := c.AddYear(tt.year, tt.rows)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddYear error = %v; want it to mention %q", err, tt.want)
			}
			if tt.year != 2021 && slices.Contains(c.Years(), tt.year) {
				t.Fatal("a rejected year was loaded")
			}
		})
	}

	// A notice may make a late-December weekend of the previous year a working day.
	c2 := Default()
	if err := c2.AddYear(2027, []Row{{Date: day("2026-12-26"), Kind: Work, Name: "元旦"}}); err != nil {
		t.Fatalf("AddYear(2027) with a December row: %v", err)
	}
	if w, _ := c2.IsWorkingDay(day("2026-12-26")); !w {
		t.Error("2026-12-26 should have become a working day")
	}
}

func TestReadRows(t *testing.T) {
	rows, err := ReadRows(strings.NewReader("date,kind,name\n2027-01-01,off,元旦\n"))
	if err != nil || len(rows) != 1 || rows[0].Kind != Off || rows[0].Name != "元旦" {
		t.Fatalf("ReadRows = %v, %v", rows, err)
	}
	for _, in := range []string{"", "d,k,n\n", "date,kind,name\n2027-02-30,off,x\n", "date,kind,name\n2027-01-01,rest,x\n", "date,kind,name\n2027-01-01,off\n"} {
		if _, err := ReadRows(strings.NewReader(in)); err == nil {
			t.Errorf("ReadRows(%q): want error", in)
		}
	}
}
