// Package region holds Jiangxi's five-level division tree (province, city,
// county, township, village) from the national statistics bureau's 2023 codes,
// the kind of each unit derived from its code (domain.md ID-05), and scope
// checks by code prefix: a user bound to a node sees that node and below.
package region

import (
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"

	"jiuzhu/internal/db"
)

//go:embed data/*.csv
var dataFS embed.FS

// Levels of the tree.
const (
	Province = 1
	City     = 2
	County   = 3
	Township = 4
	Village  = 5
)

var prefixLen = [...]int{0, 2, 4, 6, 9, 12}

// Region is one node.
type Region struct {
	Code   string // 12 digits, zero-padded
	Prefix string // the significant digits; a scope is this prefix
	Level  int
	Name   string
	Parent string
	Kind   string
}

// Tree is the whole division tree, immutable after Load.
type Tree struct {
	byCode   map[string]*Region
	children map[string][]*Region
	Root     *Region
}

// Load reads the embedded CSV files.
func Load() (*Tree, error) {
	t := &Tree{byCode: map[string]*Region{}, children: map[string][]*Region{}}
	files := []struct {
		name   string
		level  int
		parent int // column of the parent's code, -1 for the root
	}{
		{"provinces.csv", Province, -1},
		{"cities.csv", City, 2},
		{"areas.csv", County, 2},
		{"streets.csv", Township, 2},
		{"villages.csv", Village, 2},
	}
	for _, f := range files {
		rows, err := readCSV(f.name)
		if err != nil {
			return nil, err
		}
		for i, row := range rows {
			prefix := row[0]
			if len(prefix) != prefixLen[f.level] {
				return nil, fmt.Errorf("region: %s row %d: code %q has %d digits, want %d", f.name, i+2, prefix, len(prefix), prefixLen[f.level])
			}
			r := &Region{Code: Pad(prefix), Prefix: prefix, Level: f.level, Name: row[1]}
			if f.parent >= 0 {
				parent, ok := t.byCode[Pad(row[f.parent])]
				if !ok {
					return nil, fmt.Errorf("region: %s row %d: unknown parent %s", f.name, i+2, row[f.parent])
				}
				r.Parent = parent.Code
				t.children[parent.Code] = append(t.children[parent.Code], r)
			} else {
				t.Root = r
			}
			r.Kind = kindOf(r)
			t.byCode[r.Code] = r
		}
	}
	for _, c := range t.children {
		sort.Slice(c, func(i, j int) bool { return c[i].Code < c[j].Code })
	}
	return t, nil
}

func readCSV(name string) ([][]string, error) {
	f, err := dataFS.Open("data/" + name)
	if err != nil {
		return nil, fmt.Errorf("region: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil {
		return nil, fmt.Errorf("region: %s header: %w", name, err)
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("region: %s: %w", name, err)
		}
		rows = append(rows, rec)
	}
}

// kindOf names the unit type from its code digits (domain.md ID-05).
func kindOf(r *Region) string {
	switch r.Level {
	case Province:
		return "省"
	case City:
		return "地级市"
	case County:
		switch d := r.Prefix[4:6]; {
		case d <= "20":
			return "市辖区"
		case d <= "80":
			return "县"
		default:
			return "县级市"
		}
	case Township:
		switch r.Prefix[6] {
		case '0':
			return "街道"
		case '1':
			return "镇"
		case '2', '3':
			return "乡"
		default:
			return "乡级单位"
		}
	default:
		switch r.Prefix[9] {
		case '0', '1':
			return "居委会"
		case '2', '3':
			return "村委会"
		case '4':
			return "类似居委会"
		default:
			return "类似村委会"
		}
	}
}

// Pad makes a significant prefix into a 12-digit code.
func Pad(prefix string) string {
	if len(prefix) >= 12 {
		return prefix
	}
	return prefix + strings.Repeat("0", 12-len(prefix))
}

// Get returns the node with a 12-digit code or a significant prefix.
func (t *Tree) Get(code string) (*Region, bool) {
	r, ok := t.byCode[Pad(code)]
	return r, ok
}

// Children lists a node's direct children in code order.
func (t *Tree) Children(code string) []*Region { return t.children[Pad(code)] }

// Path returns the chain from the province down to code.
func (t *Tree) Path(code string) []*Region {
	var path []*Region
	for r, ok := t.Get(code); ok; r, ok = t.byCode[r.Parent] {
		path = append([]*Region{r}, path...)
		if r.Parent == "" {
			break
		}
	}
	return path
}

// FullName joins the names from the city down, as an address is written; the
// province alone is named as itself.
func (t *Tree) FullName(code string) string {
	path := t.Path(code)
	if len(path) == 1 {
		return path[0].Name
	}
	var b strings.Builder
	for _, r := range path {
		if r.Level > Province {
			b.WriteString(r.Name)
		}
	}
	return b.String()
}

// Count returns how many nodes each level has.
func (t *Tree) Count() [6]int {
	var n [6]int
	for _, r := range t.byCode {
		n[r.Level]++
	}
	return n
}

// Villages returns every village under code, in code order.
func (t *Tree) Villages(code string) []*Region {
	var out []*Region
	var walk func(c string)
	walk = func(c string) {
		for _, ch := range t.children[c] {
			if ch.Level == Village {
				out = append(out, ch)
			} else {
				walk(ch.Code)
			}
		}
	}
	if r, ok := t.Get(code); ok && r.Level == Village {
		return []*Region{r}
	}
	walk(Pad(code))
	return out
}

// Within reports whether code lies in the scope rooted at scopeCode.
func Within(scopeCode, code string) bool {
	return strings.HasPrefix(Pad(code), ScopePrefix(scopeCode))
}

// ScopePrefix is the prefix that every code under scopeCode starts with; it is
// the parameter store queries take as `region_code LIKE prefix || '%'`.
func ScopePrefix(scopeCode string) string {
	c := Pad(scopeCode)
	for _, n := range []int{2, 4, 6, 9} {
		if strings.Trim(c[n:], "0") == "" {
			return c[:n]
		}
	}
	return c
}

// LevelOf returns the level a 12-digit code stands for.
func LevelOf(code string) int {
	switch len(ScopePrefix(code)) {
	case 2:
		return Province
	case 4:
		return City
	case 6:
		return County
	case 9:
		return Township
	}
	return Village
}

// Store writes the tree into the regions table when it is empty.
func (t *Tree) Store(ctx context.Context, d *db.DB) (bool, error) {
	var n int
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM regions`).Scan(&n); err != nil {
		return false, fmt.Errorf("region: count: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	var order []*Region
	var walk func(r *Region)
	walk = func(r *Region) {
		order = append(order, r)
		for _, c := range t.children[r.Code] {
			walk(c)
		}
	}
	walk(t.Root)
	i := 0
	_, err := d.CopyFrom(ctx, "regions", []string{"code", "prefix", "level", "name", "parent_code", "kind"}, func() ([]any, bool, error) {
		if i == len(order) {
			return nil, false, nil
		}
		r := order[i]
		i++
		var parent any
		if r.Parent != "" {
			parent = r.Parent
		}
		return []any{r.Code, r.Prefix, r.Level, r.Name, parent, r.Kind}, true, nil
	})
	if err != nil {
		return false, fmt.Errorf("region: store: %w", err)
	}
	return true, nil
}
