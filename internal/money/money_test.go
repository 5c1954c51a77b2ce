package money

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Fen
	}{
		{"1,100.00", 110000},
		{"1100.00", 110000},
		{"1100", 110000},
		{"1100.5", 110050},
		{"0.01", 1},
		{"-3.20", -320},
		{" 640元 ", 64000},
		{"1,234,567.89", 123456789},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "abc", "1.234", "1.", ".5", "11,00.00", "1,1000", ",100", "1e3", "--1", "1 000", "99999999999999999"} {
		if _, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error = %v; want ErrSyntax", in, err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		f           Fen
		str, plain  string
		yuanRounded Fen
	}{
		{110000, "1,100.00", "1100.00", 110000},
		{33333, "333.33", "333.33", 33300},
		{5, "0.05", "0.05", 0},
		{2520, "25.20", "25.20", 2500},
		{1872, "18.72", "18.72", 1900},
		{4480, "44.80", "44.80", 4500},
		{-123456789, "-1,234,567.89", "-1234567.89", -123456800},
		{100000000, "1,000,000.00", "1000000.00", 100000000},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.str {
			t.Errorf("%d.String() = %q; want %q", tt.f, got, tt.str)
		}
		if got := tt.f.Plain(); got != tt.plain {
			t.Errorf("%d.Plain() = %q; want %q", tt.f, got, tt.plain)
		}
		if got := tt.f.RoundYuan(); got != tt.yuanRounded {
			t.Errorf("%d.RoundYuan() = %d; want %d", tt.f, got, tt.yuanRounded)
		}
		if back, err := Parse(tt.str); err != nil || back != tt.f {
			t.Errorf("Parse(%q) = %d, %v; want round trip to %d", tt.str, back, err, tt.f)
		}
	}
	if got := Yuan(640).Yuan(); got != "640.00元" {
		t.Errorf("Yuan(640).Yuan() = %q", got)
	}
}
