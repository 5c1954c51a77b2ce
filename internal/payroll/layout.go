package payroll

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/bankcard"
)

// Field is one column of a bank file. Names: ref (our line number), account,
// name, amount (yuan with two decimals), amount_fen, programme, month, county;
// in return files also result and reason.
type Field struct {
	Name  string `json:"name"`
	Width int    `json:"width,omitempty"` // fixed width in bytes of the file's encoding
	Right bool   `json:"right,omitempty"` // right-align (numbers)
	Zero  bool   `json:"zero,omitempty"`  // pad with zeros instead of spaces
}

// Layout is a bank's file format for payments and returns.
type Layout struct {
	Bank      string   `json:"bank"`
	Format    string   `json:"format"`   // csv | fixed
	Encoding  string   `json:"encoding"` // utf-8 | gbk
	Separator string   `json:"separator,omitempty"`
	Header    bool     `json:"header,omitempty"`
	Fields    []Field  `json:"fields"`
	Return    []Field  `json:"return"`
	PaidCodes []string `json:"paid_codes"`
	// Account numbers: digits only, between these lengths, with a Luhn check
	// digit when Luhn is set (bank cards).
	AccountMin int  `json:"account_min"`
	AccountMax int  `json:"account_max"`
	Luhn       bool `json:"luhn"`
}

var fieldNames = map[string]bool{"ref": true, "account": true, "name": true, "amount": true, "amount_fen": true, "programme": true, "month": true, "county": true}
var returnNames = map[string]bool{"ref": true, "account": true, "amount": true, "amount_fen": true, "result": true, "reason": true, "name": true}

// Validate checks a layout.
func (l *Layout) Validate() error {
	bad := func(msg string) error {
		return apperr.Invalid("spec", "invalid_layout", "银行文件格式配置有误："+msg)
	}
	if l.Bank == "" {
		return bad("缺少银行代码")
	}
	if l.Format != "csv" && l.Format != "fixed" {
		return bad("format 应为 csv 或 fixed")
	}
	if l.Encoding != "utf-8" && l.Encoding != "gbk" {
		return bad("encoding 应为 utf-8 或 gbk")
	}
	if l.Format == "csv" && l.Separator == "" {
		l.Separator = ","
	}
	if len(l.Separator) > 1 {
		return bad("分隔符只能是一个字符")
	}
	check := func(fs []Field, names map[string]bool, need ...string) error {
		seen := map[string]bool{}
		for _, f := range fs {
			if !names[f.Name] {
				return bad("未知字段 " + f.Name)
			}
			if l.Format == "fixed" && f.Width <= 0 {
				return bad("定长格式的字段 " + f.Name + " 须有宽度")
			}
			seen[f.Name] = true
		}
		for _, n := range need {
			if !seen[n] {
				return bad("缺少字段 " + n)
			}
		}
		return nil
	}
	if err := check(l.Fields, fieldNames, "ref", "account"); err != nil {
		return err
	}
	if err := check(l.Return, returnNames, "ref", "result"); err != nil {
		return err
	}
	if len(l.PaidCodes) == 0 {
		return bad("须列出表示成功的返回码")
	}
	if l.AccountMin <= 0 || l.AccountMax < l.AccountMin || l.AccountMax > 32 {
		return bad("账号长度范围不正确")
	}
	return nil
}

// builtinLayouts are the layouts used until an administrator stores another.
var builtinLayouts = map[string]Layout{
	// 江西农商银行: fixed width, GBK, amounts in fen with leading zeros
	"JXRCB": {Format: "fixed", Encoding: "gbk",
		Fields: []Field{{Name: "ref", Width: 12, Right: true, Zero: true}, {Name: "account", Width: 19}, {Name: "name", Width: 20},
			{Name: "amount_fen", Width: 12, Right: true, Zero: true}, {Name: "programme", Width: 20}},
		Return: []Field{{Name: "ref", Width: 12, Right: true, Zero: true}, {Name: "account", Width: 19}, {Name: "amount_fen", Width: 12, Right: true, Zero: true},
			{Name: "result", Width: 4}, {Name: "reason", Width: 40}},
		PaidCodes: []string{"0000"}, AccountMin: 16, AccountMax: 19, Luhn: true},
	// 邮储银行: GBK text separated by |
	"PSBC": {Format: "csv", Encoding: "gbk", Separator: "|",
		Fields:    []Field{{Name: "ref"}, {Name: "account"}, {Name: "name"}, {Name: "amount"}, {Name: "month"}},
		Return:    []Field{{Name: "ref"}, {Name: "account"}, {Name: "amount"}, {Name: "result"}, {Name: "reason"}},
		PaidCodes: []string{"S"}, AccountMin: 16, AccountMax: 19, Luhn: true},
}

// defaultLayout is a UTF-8 CSV with a header, for banks without their own.
func defaultLayout(bank string) Layout {
	return Layout{Bank: bank, Format: "csv", Encoding: "utf-8", Separator: ",", Header: true,
		Fields:    []Field{{Name: "ref"}, {Name: "account"}, {Name: "name"}, {Name: "amount"}, {Name: "programme"}, {Name: "month"}},
		Return:    []Field{{Name: "ref"}, {Name: "account"}, {Name: "amount"}, {Name: "result"}, {Name: "reason"}},
		PaidCodes: []string{"0000", "S", "成功"}, AccountMin: 16, AccountMax: 19, Luhn: true}
}

// LayoutOf returns the layout of a bank: the stored one, else the built-in.
func (s *Service) LayoutOf(ctx context.Context, bank string) (Layout, error) {
	var spec string
	err := s.DB.QueryRowContext(ctx, `SELECT spec FROM bank_layouts WHERE bank_code = $1`, bank).Scan(&spec)
	if err == nil {
		var l Layout
		if err := json.Unmarshal([]byte(spec), &l); err != nil {
			return l, fmt.Errorf("payroll: stored layout of %s: %w", bank, err)
		}
		return l, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Layout{}, fmt.Errorf("payroll: layout: %w", err)
	}
	if l, ok := builtinLayouts[bank]; ok {
		l.Bank = bank
		return l, nil
	}
	return defaultLayout(bank), nil
}

// SetLayout stores a bank's layout (county payroll makers and up).
func (s *Service) SetLayout(ctx context.Context, u *auth.User, l Layout) error {
	if !u.Can(auth.PayrollRun) && !u.Can(auth.PayrollLedger) {
		return apperr.Forbidden("您的角色不能配置银行文件格式")
	}
	if err := l.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(l)
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO bank_layouts (bank_code, spec, updated_by, updated_at) VALUES ($1,$2,$3,$4)
			ON CONFLICT (bank_code) DO UPDATE SET spec = excluded.spec, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			l.Bank, string(b), u.Username, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.layout_set", "bank_layout", l.Bank, u.Region, l)
	})
}

// ValidAccount checks an account number against the layout.
func (l *Layout) ValidAccount(acct []byte) bool {
	if len(acct) < l.AccountMin || len(acct) > l.AccountMax {
		return false
	}
	for i := 0; i < len(acct); i++ {
		if acct[i] < '0' || acct[i] > '9' {
			return false
		}
	}
	return !l.Luhn || bankcard.Valid(acct)
}

// encoder turns field values into the file's bytes.
type encoder struct {
	gbk bool
}

func (e encoder) bytes(s string) []byte {
	if !e.gbk || isASCII(s) {
		return []byte(s)
	}
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		// a character GBK lacks: replaced, the file stays valid
		var out []byte
		enc := simplifiedchinese.GBK.NewEncoder()
		for _, r := range s {
			if c, err := enc.Bytes([]byte(string(r))); err == nil {
				out = append(out, c...)
			} else {
				out = append(out, '?')
			}
		}
		return out
	}
	return b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendField appends one value in the layout's format.
func (l *Layout) appendField(buf []byte, f Field, val []byte, first bool) []byte {
	if l.Format == "csv" {
		if !first {
			buf = append(buf, l.Separator[0])
		}
		if bytes.IndexByte(val, l.Separator[0]) >= 0 || bytes.IndexByte(val, '"') >= 0 || bytes.IndexByte(val, '\n') >= 0 {
			buf = append(buf, '"')
			buf = append(buf, bytes.ReplaceAll(val, []byte(`"`), []byte(`""`))...)
			return append(buf, '"')
		}
		return append(buf, val...)
	}
	if len(val) > f.Width {
		val = truncate(val, f.Width, l.Encoding == "gbk")
	}
	pad := byte(' ')
	if f.Zero {
		pad = '0'
	}
	if f.Right {
		for i := len(val); i < f.Width; i++ {
			buf = append(buf, pad)
		}
		return append(buf, val...)
	}
	buf = append(buf, val...)
	for i := len(val); i < f.Width; i++ {
		buf = append(buf, pad)
	}
	return buf
}

// truncate cuts to n bytes without splitting a character.
func truncate(b []byte, n int, gbk bool) []byte {
	if gbk {
		i := 0
		for i < len(b) {
			w := 1
			if b[i] >= 0x80 {
				w = 2
			}
			if i+w > n {
				break
			}
			i += w
		}
		return b[:i]
	}
	i := n
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return b[:i]
}

func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// parseYuan reads "123.45" (or "123") as fen.
func parseYuan(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 {
		return 0, errors.New("amount")
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return 0, errors.New("amount")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || f < 0 {
		return 0, errors.New("amount")
	}
	return w*100 + f, nil
}
