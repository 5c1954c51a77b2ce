// Package tabular reads the files departments and offices send: the first
// sheet of an XLSX workbook or a CSV in UTF-8 or GBK (which many
// departments' systems still write), with a header row matched to a
// layout's columns by English name or Chinese label.
package tabular

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"jiuzhu/internal/idcard"
	"jiuzhu/internal/money"
)

// EachRow calls fn with every non-blank row and its line number, reading a
// CSV as a stream. cells is only valid during the call (the CSV reader
// reuses it). An error of fn ends the reading.
func EachRow(name string, body []byte, fn func(line int, cells []string) error) error {
	blank := func(cells []string) bool { return strings.TrimSpace(strings.Join(cells, "")) == "" }
	if bytes.HasPrefix(body, []byte("PK\x03\x04")) || strings.HasSuffix(strings.ToLower(name), ".xlsx") {
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			return errors.New("无法读取 Excel 文件：" + err.Error())
		}
		defer f.Close()
		sheets := f.GetSheetList()
		if len(sheets) == 0 {
			return errors.New("Excel 文件没有工作表")
		}
		rows, err := f.GetRows(sheets[0])
		if err != nil {
			return errors.New("无法读取 Excel 工作表：" + err.Error())
		}
		for i, cells := range rows {
			if !blank(cells) {
				if err := fn(i+1, cells); err != nil {
					return err
				}
			}
		}
		return nil
	}
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	if !utf8.Valid(body) {
		dec, err := simplifiedchinese.GBK.NewDecoder().Bytes(body)
		if err != nil {
			return errors.New("文件编码既不是 UTF-8 也不是 GBK")
		}
		body = dec
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		cells, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errors.New("CSV 格式错误：" + err.Error())
		}
		if blank(cells) {
			continue
		}
		line, _ := r.FieldPos(0)
		if err := fn(line, cells); err != nil {
			return err
		}
	}
}

// Header is what MapHeader needs of a layout's column.
type Header struct {
	Name     string // English, stable
	Label    string // Chinese, accepted as well
	Required bool
}

// MapHeader matches the header cells to a layout's columns (head says
// what each column is called) and returns the column of each cell. A
// repeated, missing required or unknown column is a layout error naming the
// layout.
func MapHeader[C any](layout string, columns []C, head func(C) Header, header []string) ([]C, error) {
	var cols []C
	var unknown, missing []string
	have := map[string]bool{}
	for _, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		i := slices.IndexFunc(columns, func(c C) bool { ch := head(c); return ch.Name == h || ch.Label == h })
		if i < 0 {
			unknown = append(unknown, h)
			continue
		}
		name := head(columns[i]).Name
		if have[name] {
			return nil, fmt.Errorf("表头列“%s”重复", h)
		}
		have[name] = true
		cols = append(cols, columns[i])
	}
	for _, c := range columns {
		if ch := head(c); ch.Required && !have[ch.Name] {
			missing = append(missing, ch.Label+"（"+ch.Name+"）")
		}
	}
	var msgs []string
	if len(missing) > 0 {
		msgs = append(msgs, "缺少必需的列："+strings.Join(missing, "、"))
	}
	if len(unknown) > 0 {
		msgs = append(msgs, "不属于“"+layout+"”格式的列："+strings.Join(unknown, "、"))
	}
	if len(msgs) > 0 {
		return nil, errors.New("文件格式不符合“" + layout + "”的数据格式：" + strings.Join(msgs, "；"))
	}
	return cols, nil
}

// ParseDate reads a date as offices write it: YYYY-MM-DD, YYYY/MM/DD or
// YYYYMMDD, with or without leading zeros.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.DateOnly, "2006/01/02", "20060102", "2006/1/2", "2006-1-2"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("日期格式不正确或日期不存在（应为 YYYY-MM-DD）")
}

// Cell says how a cell is read and checked.
type Cell int

const (
	ID     Cell = iota // an ID number (15 digits upgraded to 18)
	Text               // free text, at most 400 bytes
	Code               // one of the column's codes
	Date               // a date as ParseDate reads it, from 1900 up to Limits.Latest
	Yuan               // yuan with up to two decimals, not negative; normalised to fen
	Number             // a non-negative decimal (areas)
	Year               // a four-digit year from 1990 up to the year of Limits.Latest
	Region             // a 12-digit region code that Limits.Region accepts
)

// Limits are what one file's cells are checked against.
type Limits struct {
	Latest     time.Time // no date after it: today, or an extract's data date
	LatestName string    // how messages call Latest: "今天", "数据日期"
	Region     func(code string) bool
}

// Check validates and normalises one non-empty cell: ID numbers as 18
// characters, dates as YYYY-MM-DD, yuan as fen in decimal. msg is the
// problem in Chinese, "" when the cell is good.
func Check(c Cell, codes map[string]string, v string, l Limits) (norm, msg string) {
	switch c {
	case ID:
		id, err := idcard.Parse(v, l.Latest)
		if err != nil {
			return "", err.Error()
		}
		return id.Number, ""
	case Code:
		if _, ok := codes[v]; !ok {
			return "", "代码不在取值范围内：" + v
		}
	case Date:
		t, err := ParseDate(v)
		if err != nil {
			return "", err.Error()
		}
		if t.After(l.Latest) {
			return "", "日期晚于" + l.LatestName
		}
		if t.Year() < 1900 {
			return "", "日期不合理"
		}
		return t.Format(time.DateOnly), ""
	case Yuan:
		fen, err := money.Parse(v)
		if err != nil || fen < 0 {
			return "", "金额格式不正确"
		}
		return strconv.FormatInt(int64(fen), 10), ""
	case Number:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e7 {
			return "", "数值格式不正确"
		}
	case Year:
		y, err := strconv.Atoi(v)
		if err != nil || len(v) != 4 || y < 1990 || y > l.Latest.Year() {
			return "", "年度不正确"
		}
	case Region:
		if len(v) != 12 || l.Region == nil || !l.Region(v) {
			return "", "区划代码不存在：" + v
		}
	case Text:
		if !utf8.ValidString(v) || len(v) > 400 {
			return "", "文字过长或含无效字符"
		}
	}
	return v, ""
}
