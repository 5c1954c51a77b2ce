package gen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"jiuzhu/internal/bankcard"
	"jiuzhu/internal/idcard"
)

// seqSlots is how many sequence numbers a sex has per address code and birth
// date: odd 001..997 for men, even 002..998 for women.
const seqSlots = 499

// idAllocator hands out the ID numbers of one county. An ID number is unique
// when its (address code, birth date, sequence) is, so counting the numbers
// used per address code, birth date and sex guarantees uniqueness; a full day
// moves the birth date to another day of the same year of age.
type idAllocator struct {
	county  string
	retired string    // the county's old address code, or ""
	until   time.Time // births from this date get the new code
	used    map[idKey]uint16
}

type idKey struct {
	addr string
	day  int64 // days since 1970-01-01
	male bool
}

func newIDAllocator(county string) *idAllocator {
	a := &idAllocator{county: county, used: map[idKey]uint16{}}
	if r, ok := retiredCodes[county]; ok {
		a.retired = r.code
		a.until, _ = time.Parse(time.DateOnly, r.until)
	}
	return a
}

// assign draws a birth date for someone aged age on now and returns it with a
// new ID number.
func (a *idAllocator) assign(rng *rand.Rand, now time.Time, age int, male bool) (string, string, error) {
	// Born after the day the person would be age+1 and before the birthday that
	// made them age; one day of margin each side keeps the age exact.
	first := days(now.AddDate(-age-1, 0, 0)) + 2
	last := days(now.AddDate(-age, 0, 0)) - 1
	span := last - first + 1
	start := rng.Int64N(span)
	keepOld := rng.Float64() < retiredCodeKeptShare
	for i := range span {
		day := first + (start+i)%span
		birth := time.Unix(day*86400, 0).UTC()
		addr := a.county
		if a.retired != "" && keepOld && birth.Before(a.until) {
			addr = a.retired
		}
		k := idKey{addr, day, male}
		n := a.used[k]
		if n == seqSlots {
			continue
		}
		a.used[k] = n + 1
		// A fixed permutation of the slots, so sequence numbers look issued
		// rather than counted from 001.
		p, _ := strconv.Atoi(addr)
		slot := (int(n)*193 + int(day%seqSlots) + p) % seqSlots
		seq := 2*slot + 2
		if male {
			seq = 2*slot + 1
		}
		return birth.Format(time.DateOnly), idcard.Build(addr, birth, seq, male), nil
	}
	return "", "", fmt.Errorf("gen: county %s has no ID numbers left for age %d: scale too large", a.county, age)
}

func days(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Banks that pay assistance in Jiangxi. Codes are our own short names; the
// prefixes are made-up UnionPay-style card prefixes.
type bank struct{ code, name, prefix string }

var (
	bankRCB   = bank{"JXRCB", "江西农商银行", "622361"}
	bankPSBC  = bank{"PSBC", "中国邮政储蓄银行", "621799"}
	bankCCB   = bank{"CCB", "中国建设银行", "621700"}
	bankICBC  = bank{"ICBC", "中国工商银行", "622202"}
	bankABC   = bank{"ABC", "中国农业银行", "622848"}
	bankBOC   = bank{"BOC", "中国银行", "621661"}
	bankJJ    = bank{"JJCCB", "九江银行", "621488"}
	bankGZ    = bank{"GZCCB", "赣州银行", "622478"}
	bankSR    = bank{"SRCCB", "上饶银行", "621523"}
	ruralBank = []float64{0.55, 0.22, 0.12, 0.04, 0.03, 0.02, 0.02}
	urbanBank = []float64{0.10, 0.12, 0.15, 0.20, 0.20, 0.10, 0.13}
)

// accountAllocator numbers the accounts of one county: prefix, the county's
// four digits, an 8-digit serial and a Luhn check digit make 19 digits.
type accountAllocator struct {
	county string
	next   int
}

func newAccountAllocator(county string) *accountAllocator {
	return &accountAllocator{county: county}
}

func (a *accountAllocator) open(rng *rand.Rand, urban bool) (*BankAccount, error) {
	local := bankJJ
	switch a.county[:4] {
	case "3607":
		local = bankGZ
	case "3611":
		local = bankSR
	}
	probs := ruralBank
	if urban {
		probs = urbanBank
	}
	b := []bank{bankRCB, bankPSBC, bankABC, bankCCB, bankICBC, bankBOC, local}[pick(rng, probs)]
	if a.next == 100_000_000 {
		return nil, fmt.Errorf("gen: county %s has no account numbers left", a.county)
	}
	// 7919 is prime to 10^8, so the serials are a permutation: all distinct.
	serial := (a.next*7919 + 31_415_926) % 100_000_000
	a.next++
	body := fmt.Sprintf("%s%s%08d", b.prefix, a.county[2:6], serial)
	return &BankAccount{BankCode: b.code, BankName: b.name, Number: body + string(bankcard.CheckDigit(body))}, nil
}
