// Package money holds amounts as integer fen (1 yuan = 100 fen) so that sums,
// payroll totals and benefit formulas are exact and identical on every database.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Fen is an amount in fen (分), the smallest unit of the renminbi.
type Fen int64

// Yuan converts whole yuan to fen.
func Yuan(y int64) Fen { return Fen(y * 100) }

// ErrSyntax is wrapped by every Parse failure.
var ErrSyntax = errors.New("invalid yuan amount")

// Parse reads a yuan amount written the way offices write it: "1100", "1100.5",
// "1,100.00", "-3.20", optionally followed by "元". Thousands separators must
// group exactly three digits, and at most two decimals are allowed, because
// anything else is more likely a typing error than a real amount.
func Parse(s string) (Fen, error) {
	orig := s
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "元"))
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, orig)
	}
	if strings.Contains(intPart, ",") {
		groups := strings.Split(intPart, ",")
		if len(groups[0]) == 0 || len(groups[0]) > 3 {
			return 0, fmt.Errorf("%w: %q: misplaced thousands separator", ErrSyntax, orig)
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return 0, fmt.Errorf("%w: %q: misplaced thousands separator", ErrSyntax, orig)
			}
		}
		intPart = strings.Join(groups, "")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	if !allDigits(intPart) || !allDigits(frac) || len(intPart) > 16 {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, orig)
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, orig)
	}
	cents, _ := strconv.ParseInt(frac, 10, 64)
	f := Fen(whole*100 + cents)
	if neg {
		f = -f
	}
	return f, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats with thousands separators and two decimals: "1,100.00".
func (f Fen) String() string { return string(f.Append(nil, true)) }

// Plain formats without thousands separators: "1100.00", the form used in
// bank files and spreadsheets.
func (f Fen) Plain() string { return string(f.Append(nil, false)) }

// Yuan formats as String followed by "元", for Chinese notices and reasons.
func (f Fen) Yuan() string { return string(append(f.Append(nil, true), "元"...)) }

// Append appends the formatted amount to dst without allocating when dst has
// room; the calculator formats reasons on demand with it.
func (f Fen) Append(dst []byte, grouped bool) []byte {
	u := uint64(f)
	if f < 0 {
		dst = append(dst, '-')
		u = uint64(-f)
	}
	whole, cents := u/100, u%100
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], whole, 10)
	for i, d := range digits {
		if grouped && i > 0 && (len(digits)-i)%3 == 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, d)
	}
	return append(dst, '.', byte('0'+cents/10), byte('0'+cents%10))
}

// RoundYuan rounds half away from zero to whole yuan; price subsidies are
// published in whole yuan (domain PL-06).
func (f Fen) RoundYuan() Fen {
	if f < 0 {
		return -((-f + 50) / 100 * 100)
	}
	return (f + 50) / 100 * 100
}
