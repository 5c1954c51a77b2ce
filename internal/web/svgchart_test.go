package web

import (
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"

	"jiuzhu/internal/stats"
)

// wellFormed parses the SVG as XML and returns its text content and the
// attribute values, failing the test on any error.
func wellFormed(t *testing.T, svg string) (texts []string, attrs []xml.Attr) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	d.Strict = true
	depth, root := 0, ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = x.Name.Space + " " + x.Name.Local
			}
			depth++
			attrs = append(attrs, x.Attr...)
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(x)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if root != "http://www.w3.org/2000/svg svg" || depth != 0 {
		t.Fatalf("root %q, depth %d", root, depth)
	}
	return texts, attrs
}

func containsText(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// nasty is a label that would break out of text or an attribute if not escaped.
const nasty = `<script>alert("x")</script> & 'q' ]]> 南昌市`

func TestLineChartSVG(t *testing.T) {
	c := LineChart{Title: "低保人数 " + nasty, Labels: []string{"2025-11", "2025-12", "2026-01", "2026-02"}, Unit: "人",
		Series: []Series{{Name: "城市低保人数", Values: []float64{120, 130, math.NaN(), 128}}, {Name: nasty, Values: []float64{900, 880, 870, 860}, Dashed: true}}}
	svg := string(c.SVG())
	texts, attrs := wellFormed(t, svg)
	if strings.Contains(svg, "<script") || !strings.Contains(svg, "&lt;script&gt;") {
		t.Fatalf("label not escaped:\n%s", svg)
	}
	for _, want := range []string{"城市低保人数", nasty, "2025-11", "2026-02", "（人）"} {
		if !containsText(texts, want) {
			t.Errorf("text %q missing; have %q", want, texts)
		}
	}
	for _, a := range attrs {
		if strings.EqualFold(a.Name.Local, "style") || strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
			t.Errorf("attribute %s would break the CSP", a.Name.Local)
		}
		if a.Name.Local == "aria-label" && a.Value != "低保人数 "+nasty {
			t.Errorf("aria-label %q", a.Value)
		}
	}
	// the gap: the urban series is drawn as one polyline of two points, and a point per value
	if n := strings.Count(svg, "<polyline"); n != 2 {
		t.Errorf("%d polylines, want 2 (the NaN splits the first series into a lone point and a pair)", n)
	}
	if n := strings.Count(svg, "<circle"); n != 7 {
		t.Errorf("%d points, want 7", n)
	}
	if svg != string(c.SVG()) {
		t.Error("the same chart drew differently twice")
	}
}

func TestBarChartSVG(t *testing.T) {
	c := BarChart{Title: "农村低保平均标准", Unit: "元/人·月", Format: yuanLabel, Ref: &Reference{Label: "南昌市平均", Value: 385},
		Bars: []Bar{{Label: "东湖区", Value: 400, Href: "/dashboard?region=360102000000&measure=persons"},
			{Label: nasty, Value: 385.5, Href: "javascript:alert(1)"},
			{Label: "进贤县", Value: 0, Href: "//evil.example/"}}}
	svg := string(c.SVG())
	texts, attrs := wellFormed(t, svg)
	for _, want := range []string{"东湖区", nasty, "400.00", "385.50", "南昌市平均 385.00", "（元/人·月）"} {
		if !containsText(texts, want) {
			t.Errorf("text %q missing; have %q", want, texts)
		}
	}
	var hrefs []string
	for _, a := range attrs {
		if a.Name.Local == "href" {
			hrefs = append(hrefs, a.Value)
		}
	}
	if len(hrefs) != 1 || hrefs[0] != "/dashboard?region=360102000000&measure=persons" {
		t.Errorf("links %q: only the site path may be a link", hrefs)
	}
	if n := strings.Count(svg, "<rect"); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
	if strings.Contains(svg, "javascript") || strings.Contains(svg, "evil.example") {
		t.Error("unsafe link kept")
	}
	if svg != string(c.SVG()) {
		t.Error("the same chart drew differently twice")
	}
	// no data still draws a valid chart
	empty := string(BarChart{Title: "空"}.SVG())
	if texts, _ := wellFormed(t, empty); !containsText(texts, "无数据") {
		t.Errorf("empty chart: %q", texts)
	}
	wellFormed(t, string(LineChart{Title: "空"}.SVG()))
}

func TestChartNumbers(t *testing.T) {
	for _, c := range []struct {
		lo, hi           float64
		wantHi, wantStep float64
	}{{0, 1234, 1250, 250}, {0, 7, 8, 2}, {0, 0, 1, 0.2}, {0, 385, 400, 100}, {0, 1e6, 1e6, 2e5}} {
		lo, hi, step := niceAxis(c.lo, c.hi, 5)
		if lo != 0 || hi != c.wantHi || step != c.wantStep {
			t.Errorf("niceAxis(%v, %v) = %v, %v, %v; want 0, %v, %v", c.lo, c.hi, lo, hi, step, c.wantHi, c.wantStep)
		}
	}
	if got := plainNumber(1234567); got != "1,234,567" {
		t.Errorf("plainNumber: %q", got)
	}
	if got := svgNum(-0.01); got != "0" {
		t.Errorf("svgNum(-0.01) = %q", got)
	}
	// coordinates are short decimals: no exponent, no long fractions
	svg := string(LineChart{Labels: []string{"a", "b", "c"}, Series: []Series{{Name: "s", Values: []float64{1.0 / 3, 2.0 / 3, 1}}}}.SVG())
	if m := regexp.MustCompile(`="-?[0-9.]+[eE]|="-?[0-9]+\.[0-9]{2,}"`).FindString(svg); m != "" {
		t.Errorf("long number %q in %s", m, svg)
	}
}

// TestStatsDisplay: the page shows figures whole (the export's suppression
// is tested in internal/stats), with "—" for an average over nobody.
func TestStatsDisplay(t *testing.T) {
	var orphans, level stats.Column
	for _, col := range stats.Columns {
		switch col.Key {
		case "orphans":
			orphans = col
		case "dibao_level_rural":
			level = col
		}
	}
	if got := statsDisplay(orphans, &stats.Figures{Orphans: 3}); got != "3" {
		t.Errorf("orphans 3 shown as %q", got)
	}
	if got := statsDisplay(orphans, &stats.Figures{Orphans: 1234567}); got != "1,234,567" {
		t.Errorf("orphans 1234567 shown as %q", got)
	}
	few := &stats.Figures{DibaoPersons: [2]int64{0, 3}, DibaoFen: [2]int64{0, 90000}}
	if got := statsDisplay(level, few); got != "300.00" {
		t.Errorf("level over 3 persons shown as %q", got)
	}
	if got := statsDisplay(level, &stats.Figures{}); got != "—" {
		t.Errorf("level over nobody shown as %q", got)
	}
}
