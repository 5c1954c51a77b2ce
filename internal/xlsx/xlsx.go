// Package xlsx writes titled lists as Excel workbooks for download: a title
// and note lines above a (grouped) header, the rows streamed so that a long
// list never sits in memory, and notes below.
package xlsx

import (
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"jiuzhu/internal/money"
)

// maxRows is the most rows a worksheet holds (Excel's limit); a longer list
// continues on a new sheet with its title and header repeated. A variable so
// that tests can split a list without writing a million rows.
var maxRows = 1048576

// Yuan is an amount in fen written as a number of yuan with two decimals.
type Yuan int64

// Group is a header cell spanning Span columns above the header row; a
// group with an empty label leaves its columns' header spanning both rows.
type Group struct {
	Label string
	Span  int
}

// Sheet is a titled list to export. Row values may be strings, integers,
// floats, Yuan or money.Fen.
type Sheet struct {
	Name   string   // sheet name; long lists add (2), (3)...
	Title  string   // first row, bold
	Lines  []string // under the title: period, units
	Groups []Group
	Header []string
	Widths []float64
	Rows   iter.Seq[[]any]
	Bold   int      // how many first data rows are bold (a total row)
	Notes  []string // after the rows: method, sources
}

// Serve sends a finished workbook as a download.
func Serve(w http.ResponseWriter, name string, b []byte) {
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

type styles struct {
	title, line, header, text, count, yuan, flag, note int
	textB, countB, yuanB, flagB                        int
}

func newStyles(f *excelize.File) (*styles, error) {
	border := []excelize.Border{{Type: "left", Color: "9AA5B1", Style: 1}, {Type: "right", Color: "9AA5B1", Style: 1},
		{Type: "top", Color: "9AA5B1", Style: 1}, {Type: "bottom", Color: "9AA5B1", Style: 1}}
	var st styles
	for _, s := range []struct {
		id    *int
		style excelize.Style
	}{
		{&st.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}, Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center"}}},
		{&st.line, excelize.Style{Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "center"}}},
		{&st.header, excelize.Style{Font: &excelize.Font{Bold: true}, Border: border, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"EEF2F6"}},
			Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true}}},
		{&st.text, excelize.Style{Border: border}},
		{&st.count, excelize.Style{Border: border, NumFmt: 1}},
		{&st.yuan, excelize.Style{Border: border, NumFmt: 2}},
		{&st.flag, excelize.Style{Border: border, Alignment: &excelize.Alignment{Horizontal: "right"}}},
		{&st.note, excelize.Style{Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "top", WrapText: true}}},
		{&st.textB, excelize.Style{Border: border, Font: &excelize.Font{Bold: true}}},
		{&st.countB, excelize.Style{Border: border, NumFmt: 1, Font: &excelize.Font{Bold: true}}},
		{&st.yuanB, excelize.Style{Border: border, NumFmt: 2, Font: &excelize.Font{Bold: true}}},
		{&st.flagB, excelize.Style{Border: border, Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{Horizontal: "right"}}},
	} {
		id, err := f.NewStyle(&s.style)
		if err != nil {
			return nil, err
		}
		*s.id = id
	}
	return &st, nil
}

// Write writes sheets as one workbook, streaming the rows.
func Write(out io.Writer, sheets ...Sheet) error {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return err
	}
	first := true
	for _, sh := range sheets {
		if err := writeSheet(f, st, &first, sh); err != nil {
			return err
		}
	}
	_, err = f.WriteTo(out)
	return err
}

// sheetName keeps a name within Excel's rules (31 characters, no []:*?/\).
func sheetName(name string, part int) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "" {
		name = "Sheet"
	}
	suffix := ""
	if part > 1 {
		suffix = fmt.Sprintf("(%d)", part)
	}
	if r := []rune(name); len(r)+len(suffix) > 31 {
		name = string(r[:31-len(suffix)])
	}
	return name + suffix
}

func writeSheet(f *excelize.File, st *styles, first *bool, sh Sheet) error {
	ncols := max(len(sh.Header), 1)
	lastCol, _ := excelize.ColumnNumberToName(ncols)
	totalWidth := 0.0
	for i := range ncols {
		if i < len(sh.Widths) {
			totalWidth += sh.Widths[i]
		} else {
			totalWidth += 10
		}
	}
	headRows := len(sh.Lines) + 1
	if sh.Title != "" {
		headRows++
	}
	if len(sh.Groups) > 0 {
		headRows++
	}
	capacity := maxRows - headRows - len(sh.Notes)
	if capacity <= 0 {
		return fmt.Errorf("xlsx: %d header and note rows leave no room in a sheet of %d rows", headRows+len(sh.Notes), maxRows)
	}
	var sw *excelize.StreamWriter
	row, part, used := 1, 0, 0
	cell := func(col, r int) string {
		c, _ := excelize.CoordinatesToCellName(col, r)
		return c
	}
	merged := func(text string, style int, height float64) error {
		vals := make([]any, ncols)
		vals[0] = excelize.Cell{StyleID: style, Value: text}
		for i := 1; i < ncols; i++ {
			vals[i] = excelize.Cell{StyleID: style}
		}
		var opts []excelize.RowOpts
		if height > 0 {
			opts = append(opts, excelize.RowOpts{Height: height})
		}
		if err := sw.SetRow(cell(1, row), vals, opts...); err != nil {
			return err
		}
		if ncols > 1 {
			if err := sw.MergeCell(cell(1, row), lastCol+strconv.Itoa(row)); err != nil {
				return err
			}
		}
		row++
		return nil
	}
	start := func() error {
		if sw != nil {
			if err := sw.Flush(); err != nil {
				return err
			}
		}
		part++
		name := sheetName(sh.Name, part)
		if *first {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
			*first = false
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		var err error
		if sw, err = f.NewStreamWriter(name); err != nil {
			return err
		}
		for i := range ncols {
			w := 10.0
			if i < len(sh.Widths) {
				w = sh.Widths[i]
			}
			if err := sw.SetColWidth(i+1, i+1, w); err != nil {
				return err
			}
		}
		row, used = 1, 0
		if sh.Title != "" {
			if err := merged(sh.Title, st.title, 26); err != nil {
				return err
			}
		}
		for _, l := range sh.Lines {
			if err := merged(l, st.line, 0); err != nil {
				return err
			}
		}
		header := make([]any, ncols)
		for i := range ncols {
			h := ""
			if i < len(sh.Header) {
				h = sh.Header[i]
			}
			header[i] = excelize.Cell{StyleID: st.header, Value: h}
		}
		if len(sh.Groups) > 0 {
			groups := make([]any, ncols)
			col := 0
			for _, g := range sh.Groups {
				for j := range g.Span {
					if col+j >= ncols {
						break
					}
					v := excelize.Cell{StyleID: st.header}
					if j == 0 {
						v.Value = g.Label
						if g.Label == "" { // the header spans both rows
							v.Value = header[col].(excelize.Cell).Value
						}
					}
					groups[col+j] = v
				}
				if g.Label == "" {
					for j := range g.Span {
						if err := sw.MergeCell(cell(col+j+1, row), cell(col+j+1, row+1)); err != nil {
							return err
						}
					}
				} else if g.Span > 1 {
					if err := sw.MergeCell(cell(col+1, row), cell(min(col+g.Span, ncols), row)); err != nil {
						return err
					}
				}
				col += g.Span
			}
			for ; col < ncols; col++ {
				groups[col] = excelize.Cell{StyleID: st.header}
			}
			if err := sw.SetRow(cell(1, row), groups, excelize.RowOpts{Height: 20}); err != nil {
				return err
			}
			row++
		}
		if err := sw.SetRow(cell(1, row), header, excelize.RowOpts{Height: 32}); err != nil {
			return err
		}
		row++
		return nil
	}
	if err := start(); err != nil {
		return err
	}
	n := 0
	if sh.Rows != nil {
		for vals := range sh.Rows {
			if used == capacity {
				if err := start(); err != nil {
					return err
				}
			}
			bold := n < sh.Bold
			cells := make([]any, len(vals))
			for i, v := range vals {
				cells[i] = cellOf(st, v, bold)
			}
			if err := sw.SetRow(cell(1, row), cells); err != nil {
				return err
			}
			row++
			used++
			n++
		}
	}
	// notes wrap across the merged row; about two columns of width per Chinese character
	perLine := math.Max(totalWidth/2.1, 10)
	for _, note := range sh.Notes {
		lines := math.Ceil(float64(utf8.RuneCountInString(note)) / perLine)
		if err := merged(note, st.note, math.Max(lines, 1)*15+4); err != nil {
			return err
		}
	}
	return sw.Flush()
}

func cellOf(st *styles, v any, bold bool) excelize.Cell {
	pick := func(normal, b int) int {
		if bold {
			return b
		}
		return normal
	}
	switch x := v.(type) {
	case Yuan:
		return excelize.Cell{StyleID: pick(st.yuan, st.yuanB), Value: float64(x) / 100}
	case money.Fen:
		return excelize.Cell{StyleID: pick(st.yuan, st.yuanB), Value: float64(x) / 100}
	case int:
		return excelize.Cell{StyleID: pick(st.count, st.countB), Value: x}
	case int64:
		return excelize.Cell{StyleID: pick(st.count, st.countB), Value: x}
	case float64:
		return excelize.Cell{StyleID: pick(st.text, st.textB), Value: x}
	case string:
		// "<5", "*" and "—" stand in the place of numbers: aligned like them
		if x == "—" || x == "*" || strings.HasPrefix(x, "<") {
			return excelize.Cell{StyleID: pick(st.flag, st.flagB), Value: x}
		}
		return excelize.Cell{StyleID: pick(st.text, st.textB), Value: x}
	case nil:
		return excelize.Cell{StyleID: pick(st.text, st.textB)}
	default:
		return excelize.Cell{StyleID: pick(st.text, st.textB), Value: fmt.Sprint(x)}
	}
}
