package policy

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"jiuzhu/internal/money"
)

// Ratio is an exact fraction such as 1.5 (the marginal multiple) or 0.035
// (a price threshold). Floats are avoided so that 1.3 × 520.00 is exactly
// 676.00 and boundary tests ("exactly 1.5×") cannot flip on rounding.
type Ratio struct {
	Num, Den int64 // Den > 0
}

// ParseRatio reads "1.5", "0.035", "6" or "1/3".
func ParseRatio(s string) (Ratio, error) {
	s = strings.TrimSpace(s)
	if n, d, ok := strings.Cut(s, "/"); ok {
		num, err1 := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		den, err2 := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
		if err1 != nil || err2 != nil || den <= 0 {
			return Ratio{}, fmt.Errorf("invalid ratio %q", s)
		}
		return Ratio{num, den}.reduced(), nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "eE") || !r.Num().IsInt64() || !r.Denom().IsInt64() {
		return Ratio{}, fmt.Errorf("invalid ratio %q", s)
	}
	return Ratio{r.Num().Int64(), r.Denom().Int64()}, nil
}

func (r Ratio) reduced() Ratio {
	a, b := r.Num, r.Den
	if a < 0 {
		a = -a
	}
	for b != 0 {
		a, b = b, a%b
	}
	if a <= 1 {
		return r
	}
	return Ratio{r.Num / a, r.Den / a}
}

// MulFen returns f × r rounded half away from zero to the fen.
func (r Ratio) MulFen(f money.Fen) money.Fen {
	p := int64(f) * r.Num
	half := r.Den / 2
	if p < 0 {
		return money.Fen((p - half) / r.Den)
	}
	return money.Fen((p + half) / r.Den)
}

// String gives a decimal where the denominator allows ("1.5", "0.035"),
// otherwise "1/3".
func (r Ratio) String() string {
	if r.Den == 0 {
		return "0"
	}
	d, scale := r.Den, 0
	for d%10 == 0 {
		d, scale = d/10, scale+1
	}
	for d%2 == 0 || d%5 == 0 {
		if d%2 == 0 {
			d /= 2
		} else {
			d /= 5
		}
		scale++
	}
	if d != 1 {
		return strconv.FormatInt(r.Num, 10) + "/" + strconv.FormatInt(r.Den, 10)
	}
	return new(big.Rat).SetFrac64(r.Num, r.Den).FloatString(scale)
}
