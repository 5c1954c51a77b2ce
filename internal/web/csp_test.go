package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The server sends "default-src 'self'; style-src 'self'", under which a
// browser ignores inline style attributes, <style> blocks, inline event
// handlers and inline scripts. Every page must therefore get its looks from
// /static/app.css and its behaviour from scripts under /static/.
var cspViolations = []struct {
	what string
	re   *regexp.Regexp
}{
	{"inline style attribute", regexp.MustCompile(`(?i)\sstyle\s*=`)},
	{"<style> block", regexp.MustCompile(`(?i)<style[\s>/]`)},
	{"inline event handler", regexp.MustCompile(`(?i)\son[a-z]+\s*=`)},
	{"javascript: URL", regexp.MustCompile(`(?i)javascript:`)},
}

// scriptTag matches a <script ...> start tag with its attributes.
var scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>`)

// srcAttr matches a src attribute inside a start tag.
var srcAttr = regexp.MustCompile(`(?i)\ssrc\s*=`)

func TestTemplatesAreCSPClean(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no embedded templates found")
	}
	for _, name := range names {
		b, err := fs.ReadFile(templateFS, name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, v := range cspViolations {
			for _, loc := range v.re.FindAllStringIndex(text, -1) {
				t.Errorf("%s:%d: %s (blocked by the Content-Security-Policy): %s",
					name, lineAt(text, loc[0]), v.what, excerpt(text, loc[0]))
			}
		}
		for _, m := range scriptTag.FindAllStringSubmatchIndex(text, -1) {
			if !srcAttr.MatchString(text[m[2]:m[3]]) {
				t.Errorf("%s:%d: inline <script> (blocked by the Content-Security-Policy; load a file from /static/ instead): %s",
					name, lineAt(text, m[0]), excerpt(text, m[0]))
			}
		}
	}
}

// TestCSPCheckCatches keeps the checks above honest: each sample must be flagged.
func TestCSPCheckCatches(t *testing.T) {
	bad := []string{
		`<p style="text-align:right">`,
		`<style>.x{}</style>`,
		`<button onclick="window.print()">`,
		`<body ONLOAD='x()'>`,
		`<a href="javascript:void(0)">`,
		`<script>alert(1)</script>`,
	}
	for _, s := range bad {
		hit := false
		for _, v := range cspViolations {
			hit = hit || v.re.MatchString(s)
		}
		for _, m := range scriptTag.FindAllStringSubmatch(s, -1) {
			hit = hit || !srcAttr.MatchString(m[1])
		}
		if !hit {
			t.Errorf("not flagged: %s", s)
		}
	}
	good := []string{
		`<p class="right">`,
		`<script src="/static/print.js" defer></script>`,
		`<meta name="viewport" content="width=device-width">`,
		`<button type="button" data-print>`,
	}
	for _, s := range good {
		for _, v := range cspViolations {
			if v.re.MatchString(s) {
				t.Errorf("wrongly flagged as %s: %s", v.what, s)
			}
		}
		for _, m := range scriptTag.FindAllStringSubmatch(s, -1) {
			if !srcAttr.MatchString(m[1]) {
				t.Errorf("wrongly flagged as inline script: %s", s)
			}
		}
	}
}

func lineAt(text string, at int) int { return strings.Count(text[:at], "\n") + 1 }

func excerpt(text string, at int) string {
	end := min(at+60, len(text))
	if i := strings.IndexByte(text[at:end], '\n'); i >= 0 {
		end = at + i
	}
	return strings.TrimSpace(text[at:end])
}
