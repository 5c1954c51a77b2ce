// Package idcard validates resident ID numbers (GB 11643-1999): the check
// character, the birth date, the sex digit, and the conversion of old 15-digit
// numbers. The address code is the one at issue, so a retired code is valid
// (domain.md ID-03); only the province part is checked.
package idcard

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ID is a validated, normalised 18-character ID number and what it encodes.
type ID struct {
	Number      string // 18 characters, upper-case X
	AddressCode string
	BirthDate   time.Time
	Male        bool
}

// Sex returns "M" or "F".
func (id ID) Sex() string {
	if id.Male {
		return "M"
	}
	return "F"
}

// Error is a validation failure with a Chinese message for people and a code for the API.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

var (
	ErrLength    = &Error{"id_length", "身份证号码应为18位（或旧版15位）"}
	ErrChars     = &Error{"id_chars", "身份证号码只能包含数字，第18位可以是X"}
	ErrProvince  = &Error{"id_province", "身份证号码前两位不是有效的省级行政区划代码"}
	ErrBirthDate = &Error{"id_birth_date", "身份证号码中的出生日期无效"}
	ErrCheck     = &Error{"id_check_digit", "身份证号码校验位错误，请核对是否录入有误"}
)

var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkChars = "10X98765432"

// CheckChar computes the 18th character for the first 17 digits.
func CheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * weights[i]
	}
	return checkChars[sum%11]
}

var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true,
}

// Parse validates s (spaces trimmed, x accepted for X) and converts a 15-digit
// number to 18 digits. today bounds the birth date.
func Parse(s string, today time.Time) (ID, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	switch len(s) {
	case 15:
		if !allDigits(s) {
			return ID{}, ErrChars
		}
		body := s[:6] + "19" + s[6:]
		s = body + string(CheckChar(body))
	case 18:
		if !allDigits(s[:17]) || !(s[17] == 'X' || s[17] >= '0' && s[17] <= '9') {
			return ID{}, ErrChars
		}
	default:
		return ID{}, ErrLength
	}
	if !provinces[s[:2]] {
		return ID{}, ErrProvince
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil || birth.After(today) || birth.Year() < 1880 {
		return ID{}, ErrBirthDate
	}
	if CheckChar(s) != s[17] {
		return ID{}, ErrCheck
	}
	return ID{Number: s, AddressCode: s[:6], BirthDate: birth, Male: (s[16]-'0')%2 == 1}, nil
}

// Mask shows the first 6 and last 4 characters only, for lists and public use.
func Mask(number string) string {
	if len(number) < 10 {
		return strings.Repeat("*", len(number))
	}
	return number[:6] + strings.Repeat("*", len(number)-10) + number[len(number)-4:]
}

// AsError reports whether err is a validation Error.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Build assembles a valid 18-digit number; the synthetic province uses it.
func Build(address string, birth time.Time, seq int, male bool) string {
	if male != (seq%2 == 1) {
		seq++
	}
	body := fmt.Sprintf("%s%s%03d", address, birth.Format("20060102"), seq%1000)
	return body + string(CheckChar(body))
}
