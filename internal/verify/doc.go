package verify

import (
	"fmt"
	"slices"
	"strings"
)

var typeNames = map[ColumnType]string{
	ColID: "身份证号", ColText: "文字", ColCode: "代码", ColDate: "日期", ColYuan: "金额（元）", ColNumber: "数值", ColYear: "年度",
}

// LayoutDoc renders the extract layouts as Markdown: docs/verification-sources.md
// is this text (a test keeps them equal; `jiuzhu verify layouts` prints it).
func LayoutDoc() string {
	var b strings.Builder
	b.WriteString(`# Department extract layouts (部门核对数据格式)

Generated from internal/verify/sources.go by ` + "`jiuzhu verify layouts`" + `; a test keeps this file equal to it.

Every extract is one table: a CSV file (UTF-8, with or without BOM, or GBK) or an XLSX workbook
(first sheet). The first row is the header; a column may be named by its English name or its
Chinese label, in any order. The data date (the day the data describes) is given with the upload,
not in the file, and may not be older than the data date of the extract in force for the same
source (and provider). Dates are YYYY-MM-DD (YYYYMMDD and YYYY/MM/DD are accepted) and may not be
after the data date; amounts are yuan with at most two decimals, never negative; ID numbers are
checked (length, birth date, check digit; 15-digit numbers are upgraded).

An import is all-or-nothing: one bad row (or a wrong header, a duplicate key, an unknown code)
refuses the whole file with a report of every bad row, and the extract in force stays. A loaded
extract is kept only in hashed form: the ID number becomes its HMAC-SM3 hash, the columns marked
"sealed" are encrypted with SM4, and the plaintext file is not kept.

`)
	for _, s := range Sources {
		fmt.Fprintf(&b, "## %s — %s（%s）\n\n%s\n\n", s.Name, s.Label, s.Department, s.Doc)
		if s.PerProvider {
			b.WriteString("Each institution sends its own extract, named by its provider code at upload; it supersedes only that institution's previous extract.\n\n")
		}
		fmt.Fprintf(&b, "A row is identified by: %s.\n\n", strings.Join(s.Key, " + "))
		b.WriteString("| column | 表头 | type | required | codes | stored |\n|---|---|---|---|---|---|\n")
		for _, c := range s.Columns {
			req, stored := "", "used"
			if c.Required {
				req = "yes"
			}
			if c.Detail {
				stored = "sealed"
			}
			if c.Type == ColID {
				stored = "hashed"
			}
			var codes []string
			for k, v := range c.Codes {
				codes = append(codes, k+" "+v)
			}
			slices.Sort(codes)
			label := c.Label
			if c.Doc != "" {
				label += "（" + c.Doc + "）"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.Name, label, typeNames[c.Type], req, strings.Join(codes, "; "), stored)
		}
		b.WriteString("\n")
	}
	return b.String()
}
