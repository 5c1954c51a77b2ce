package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Charts are drawn on the server as SVG, so the pages need no script and pass
// the Content-Security-Policy: colours are presentation attributes (which the
// policy does not govern), never style attributes. Every text is escaped, and
// the same data always gives the same bytes (no maps, fixed number formats).

// chartPalette colours series and bars in order.
var chartPalette = []string{"#b71c1c", "#1565c0", "#2f7d32", "#b26a00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#37474f", "#827717", "#283593", "#5d4037"}

const chartFont = 12 // px

// Series is one line of a line chart. A NaN value leaves a gap.
type Series struct {
	Name   string
	Values []float64
	Dashed bool
}

// LineChart plots series over a row of x labels (months, dates).
type LineChart struct {
	Title  string // read by screen readers (<title>)
	Labels []string
	Series []Series
	Unit   string               // y axis unit, written above the axis
	Format func(float64) string // tick and value labels; whole numbers by default
	Width  int                  // default 720
	Height int                  // default 300 (more when the legend takes several rows)
	// Fit spans the y axis over the values instead of from zero, so small
	// changes of large values (standards) show.
	Fit bool
}

// Bar is one bar of a bar chart; Href, if set, makes it a link (a path on this site).
type Bar struct {
	Label string
	Value float64
	Href  string
}

// Reference is a vertical line across a bar chart (an average to compare with).
type Reference struct {
	Label string
	Value float64
}

// BarChart draws horizontal bars, one row per label, so long Chinese region
// names stay readable however many there are.
type BarChart struct {
	Title  string
	Bars   []Bar
	Unit   string
	Format func(float64) string
	Ref    *Reference
	Width  int // default 720
}

// svgText escapes text for an XML text node or a double-quoted attribute.
var svgEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func svgText(s string) string {
	// drop what XML cannot hold at all (control characters other than tab/newline, invalid UTF-8)
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 && r != '\t' && r != '\n' || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, s)
	return svgEscaper.Replace(s)
}

// num formats a coordinate: one decimal, no "-0.0".
func svgNum(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// textWidth estimates the drawn width of a label: CJK characters are square,
// others about half as wide.
func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x2E80 {
			w += size
		} else {
			w += size * 0.6
		}
	}
	return w
}

// niceAxis returns a rounded range and step covering lo..hi with about n ticks.
func niceAxis(lo, hi float64, n int) (float64, float64, float64) {
	return chartAxis(lo, hi, n, true)
}

// chartAxis is niceAxis, with zero inside the range only when withZero.
func chartAxis(lo, hi float64, n int, withZero bool) (float64, float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = 0, 1
	}
	if withZero {
		lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	}
	if hi-lo <= 0 {
		if withZero || lo == 0 {
			hi = lo + 1
		} else {
			lo, hi = lo-math.Abs(lo)*0.05, hi+math.Abs(hi)*0.05
		}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

// plainNumber is the default label format: whole numbers with separators,
// otherwise up to two decimals.
func plainNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return groupDigits(strconv.FormatInt(int64(v), 10))
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// groupDigits puts thousands separators into an integer: 1234567 → 1,234,567.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

type svgBuf struct{ strings.Builder }

func (b *svgBuf) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func (b *svgBuf) open(w, h int, title string) {
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" font-size="%d">`,
		w, h, w, h, svgText(title), chartFont)
	b.f(`<title>%s</title>`, svgText(title))
}

func (b *svgBuf) text(x, y float64, anchor, class, s string) {
	b.f(`<text x="%s" y="%s" text-anchor="%s" class="%s" fill="#1f2933">%s</text>`, svgNum(x), svgNum(y), anchor, class, svgText(s))
}

// safeHref accepts only a path on this site, so no data can turn a bar into a
// link elsewhere (or into script).
func safeHref(h string) string {
	if !strings.HasPrefix(h, "/") || strings.HasPrefix(h, "//") || strings.ContainsAny(h, "\\\x00") {
		return ""
	}
	return h
}

func (c LineChart) format(v float64) string {
	if c.Format != nil {
		return c.Format(v)
	}
	return plainNumber(v)
}

// SVG draws the chart.
func (c LineChart) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 720
	}
	if h <= 0 {
		h = 300
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	yLo, yHi, step := chartAxis(lo, hi, 5, !c.Fit)
	if c.Format == nil && step < 1 { // counts: whole-number ticks
		yLo, yHi, step = math.Floor(yLo), math.Max(math.Ceil(yHi), yLo+1), 1
	}
	var ticks []float64
	for k := 0; yLo+float64(k)*step <= yHi+step/2; k++ {
		ticks = append(ticks, yLo+float64(k)*step)
	}
	left := 0.0
	for _, t := range ticks {
		left = math.Max(left, textWidth(c.format(t), chartFont))
	}
	left += 14
	// the legend wraps into rows across the width
	type legendItem struct{ x, y float64 }
	var legend []legendItem
	lx, ly := 8.0, 12.0
	for _, s := range c.Series {
		iw := 22 + textWidth(s.Name, chartFont) + 18
		if lx > 8 && lx+iw > float64(w)-8 {
			lx, ly = 8, ly+18
		}
		legend = append(legend, legendItem{lx, ly})
		lx += iw
	}
	extra := ly - 12
	h += int(extra)
	top, bottom := 40.0+extra, 34.0
	right := 16.0
	if n := len(c.Labels); n > 0 { // the first and last x labels are centred on the plot's edges
		left = math.Max(left, textWidth(c.Labels[0], chartFont)/2+4)
		right = math.Max(right, textWidth(c.Labels[n-1], chartFont)/2+4)
	}
	pw, ph := float64(w)-left-right, float64(h)-top-bottom
	y := func(v float64) float64 { return top + ph - (v-yLo)/(yHi-yLo)*ph }
	n := len(c.Labels)
	x := func(i int) float64 {
		if n <= 1 {
			return left + pw/2
		}
		return left + float64(i)*pw/float64(n-1)
	}

	var b svgBuf
	b.open(w, h, c.Title)
	for i, s := range c.Series {
		col := chartPalette[i%len(chartPalette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		it := legend[i]
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"%s/>`, svgNum(it.x), svgNum(it.y), svgNum(it.x+18), svgNum(it.y), col, dash)
		b.text(it.x+22, it.y+4, "start", "legend", s.Name)
	}
	if c.Unit != "" {
		b.text(4, top-10, "start", "unit", "（"+c.Unit+"）")
	}
	// grid and y ticks
	for _, t := range ticks {
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#d9e2ec" stroke-width="1"/>`, svgNum(left), svgNum(y(t)), svgNum(left+pw), svgNum(y(t)))
		b.text(left-6, y(t)+4, "end", "tick", c.format(t))
	}
	b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#616e7c" stroke-width="1"/>`, svgNum(left), svgNum(top), svgNum(left), svgNum(top+ph))
	b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#616e7c" stroke-width="1"/>`, svgNum(left), svgNum(y(math.Max(yLo, 0))), svgNum(left+pw), svgNum(y(math.Max(yLo, 0))))
	// x labels, thinned so they do not overlap
	every := 1
	if n > 1 {
		widest := 0.0
		for _, l := range c.Labels {
			widest = math.Max(widest, textWidth(l, chartFont))
		}
		every = int(math.Ceil((widest + 8) / (pw / float64(n-1))))
		every = max(every, 1)
	}
	for i, l := range c.Labels {
		if (n-1-i)%every == 0 { // counted from the last (latest) label, which is always shown
			b.text(x(i), top+ph+18, "middle", "tick", l)
		}
	}
	// lines and points
	for si, s := range c.Series {
		col := chartPalette[si%len(chartPalette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				b.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.Join(pts, " "), col, dash)
			}
			pts = pts[:0]
		}
		for i, v := range s.Values {
			if i >= n || math.IsNaN(v) {
				flush()
				continue
			}
			pts = append(pts, svgNum(x(i))+","+svgNum(y(v)))
		}
		flush()
		for i, v := range s.Values {
			if i >= n || math.IsNaN(v) {
				continue
			}
			b.f(`<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s</title></circle>`, svgNum(x(i)), svgNum(y(v)), col,
				svgText(s.Name+" "+c.Labels[i]+"："+c.format(v)+c.Unit))
		}
	}
	b.f(`</svg>`)
	return template.HTML(b.String())
}

func (c BarChart) format(v float64) string {
	if c.Format != nil {
		return c.Format(v)
	}
	return plainNumber(v)
}

// SVG draws the chart.
func (c BarChart) SVG() template.HTML {
	w := c.Width
	if w <= 0 {
		w = 720
	}
	const rowH, barH, top, bottom, right = 26.0, 16.0, 40.0, 28.0, 16.0
	hi := 0.0
	lo := 0.0
	for _, bar := range c.Bars {
		if !math.IsNaN(bar.Value) {
			hi, lo = math.Max(hi, bar.Value), math.Min(lo, bar.Value)
		}
	}
	if c.Ref != nil && !math.IsNaN(c.Ref.Value) {
		hi, lo = math.Max(hi, c.Ref.Value), math.Min(lo, c.Ref.Value)
	}
	xLo, xHi, step := niceAxis(lo, hi, 5)
	if c.Format == nil && step < 1 { // counts: whole-number ticks
		xLo, xHi, step = math.Floor(xLo), math.Max(math.Ceil(xHi), xLo+1), 1
	}
	left := 0.0
	for _, bar := range c.Bars {
		left = math.Max(left, textWidth(bar.Label, chartFont))
	}
	left = math.Min(left, 220) + 12
	// room for the value written after the longest bar
	valW := 0.0
	for _, bar := range c.Bars {
		valW = math.Max(valW, textWidth(c.format(bar.Value), chartFont))
	}
	pw := float64(w) - left - right - valW - 6
	h := int(top + rowH*float64(max(len(c.Bars), 1)) + bottom)
	x := func(v float64) float64 { return left + (v-xLo)/(xHi-xLo)*pw }

	var b svgBuf
	b.open(w, h, c.Title)
	if c.Unit != "" {
		b.text(4, 14, "start", "unit", "（"+c.Unit+"）")
	}
	plotBottom := top + rowH*float64(max(len(c.Bars), 1))
	for k := 0; xLo+float64(k)*step <= xHi+step/2; k++ {
		v := xLo + float64(k)*step
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#d9e2ec" stroke-width="1"/>`, svgNum(x(v)), svgNum(top), svgNum(x(v)), svgNum(plotBottom))
		b.text(x(v), plotBottom+16, "middle", "tick", c.format(v))
	}
	b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#616e7c" stroke-width="1"/>`, svgNum(x(0)), svgNum(top), svgNum(x(0)), svgNum(plotBottom))
	if len(c.Bars) == 0 {
		b.text(left+pw/2, top+rowH/2+4, "middle", "empty", "无数据")
	}
	for i, bar := range c.Bars {
		yTop := top + float64(i)*rowH + (rowH-barH)/2
		mid := yTop + barH/2 + 4
		v := bar.Value
		if math.IsNaN(v) {
			v = 0
		}
		x0, x1 := x(0), x(v)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		href := safeHref(bar.Href)
		if href != "" {
			b.f(`<a href="%s">`, svgText(href))
		}
		label := bar.Label
		if utf8.RuneCountInString(label) > 16 {
			label = string([]rune(label)[:15]) + "…"
		}
		b.text(left-8, mid, "end", "label", label)
		b.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`, svgNum(x0), svgNum(yTop), svgNum(x1-x0), svgNum(barH),
			chartPalette[1], svgText(bar.Label+"："+c.format(bar.Value)+c.Unit))
		if href != "" {
			b.f(`</a>`)
		}
		b.text(x(math.Max(v, 0))+4, mid, "start", "value", c.format(bar.Value))
	}
	if c.Ref != nil && !math.IsNaN(c.Ref.Value) {
		rx := x(c.Ref.Value)
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" stroke-dasharray="6 4"/>`, svgNum(rx), svgNum(top-4), svgNum(rx), svgNum(plotBottom), chartPalette[0])
		anchor := "middle"
		if rx+textWidth(c.Ref.Label, chartFont)/2 > float64(w) {
			anchor = "end"
		} else if rx-textWidth(c.Ref.Label, chartFont)/2 < 0 {
			anchor = "start"
		}
		b.f(`<text x="%s" y="%s" text-anchor="%s" class="ref" fill="%s">%s</text>`, svgNum(rx), svgNum(top-8), anchor, chartPalette[0], svgText(c.Ref.Label+" "+c.format(c.Ref.Value)))
	}
	b.f(`</svg>`)
	return template.HTML(b.String())
}
