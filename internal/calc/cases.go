package calc

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"jiuzhu/internal/money"
)

// caseFS holds the rule tests as data: one YAML file per worked example of
// domain.md or boundary case. They are embedded so that the go tests, the
// HTTP tests and the caseworkers' page (/policy/cases) read the same files.
//
//go:embed cases/*.yaml
var caseFS embed.FS

// Case is one rule test: a situation in the JSON shape of DESIGN.md §4
// written as YAML, optional parameter values that replace the seeded ones
// (the fixture standards of domain.md's examples), and the expected outputs.
type Case struct {
	File        string            `yaml:"-" json:"file"`
	Name        string            `yaml:"name" json:"name"`
	Description string            `yaml:"description" json:"description"`
	Parameters  map[string]string `yaml:"parameters" json:"parameters,omitempty"`
	Expect      CaseExpect        `yaml:"expect" json:"expect"`

	// SituationJSON is the situation as POST /api/v1/calculate and
	// `jiuzhu calc` take it, with Parameters folded in as its "parameters".
	SituationJSON json.RawMessage `yaml:"-" json:"situation"`

	Situation yaml.Node `yaml:"situation" json:"-"`
}

// CaseExpect is what a case requires of the result; fields left out are not checked.
type CaseExpect struct {
	RuleVersion string                     `yaml:"rule_version" json:"rule_version,omitempty"`
	Programmes  map[string]ExpectProgramme `yaml:"programmes" json:"programmes"`
}

// ExpectProgramme is the expected outcome of one programme.
type ExpectProgramme struct {
	Eligible       *bool                `yaml:"eligible" json:"eligible,omitempty"`
	MonthlyFen     *money.Fen           `yaml:"monthly_fen" json:"monthly_fen,omitempty"`
	AmountFen      *money.Fen           `yaml:"amount_fen" json:"amount_fen,omitempty"`
	AdvanceFen     *money.Fen           `yaml:"advance_fen" json:"advance_fen,omitempty"`
	Category       *string              `yaml:"category" json:"category,omitempty"`
	Approver       *string              `yaml:"approver" json:"approver,omitempty"`
	Unit           *string              `yaml:"unit" json:"unit,omitempty"`
	Members        map[string]money.Fen `yaml:"members" json:"members,omitempty"` // eligible member id → monthly fen
	ReasonsContain []string             `yaml:"reasons_contain" json:"reasons_contain,omitempty"`
}

// Cases reads every embedded rule case, in file name order.
func Cases() ([]Case, error) {
	files, err := fs.Glob(caseFS, "cases/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	out := make([]Case, 0, len(files))
	for _, f := range files {
		raw, err := fs.ReadFile(caseFS, f)
		if err != nil {
			return nil, err
		}
		c, err := parseCase(raw)
		if err != nil {
			return nil, fmt.Errorf("calc: case %s: %w", f, err)
		}
		c.File = strings.TrimSuffix(path.Base(f), ".yaml")
		out = append(out, c)
	}
	return out, nil
}

func parseCase(raw []byte) (Case, error) {
	var c Case
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	if c.Name == "" || len(c.Expect.Programmes) == 0 {
		return c, fmt.Errorf("a case needs a name and expected programmes")
	}
	js, err := nodeJSON(&c.Situation)
	if err != nil {
		return c, fmt.Errorf("situation: %w", err)
	}
	if len(c.Parameters) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(js, &obj); err != nil {
			return c, fmt.Errorf("situation: %w", err)
		}
		if _, ok := obj["parameters"]; ok {
			return c, fmt.Errorf("give parameters at the top of the case, not inside the situation")
		}
		obj["parameters"], _ = json.Marshal(c.Parameters)
		if js, err = json.Marshal(obj); err != nil {
			return c, err
		}
	}
	c.SituationJSON = js
	return c, nil
}

// Check compares a result, as JSON (the output of the API or `jiuzhu calc`),
// with the case's expectations and lists every difference; none means the
// case passes.
func (c *Case) Check(resultJSON []byte) []string {
	var res struct {
		RuleVersion string `json:"rule_version"`
		Programmes  map[string]struct {
			Eligible   bool      `json:"eligible"`
			MonthlyFen money.Fen `json:"monthly_fen"`
			AmountFen  money.Fen `json:"amount_fen"`
			AdvanceFen money.Fen `json:"advance_fen"`
			Category   string    `json:"category"`
			Approver   string    `json:"approver"`
			Unit       string    `json:"unit"`
			Members    []struct {
				ID         string    `json:"id"`
				Eligible   bool      `json:"eligible"`
				MonthlyFen money.Fen `json:"monthly_fen"`
			} `json:"members"`
			Reasons []string `json:"reasons"`
		} `json:"programmes"`
	}
	if err := json.Unmarshal(resultJSON, &res); err != nil {
		return []string{fmt.Sprintf("result is not valid JSON: %v", err)}
	}
	var diffs []string
	bad := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if c.Expect.RuleVersion != "" && res.RuleVersion != c.Expect.RuleVersion {
		bad("rule_version = %s; want %s", res.RuleVersion, c.Expect.RuleVersion)
	}
	names := make([]string, 0, len(c.Expect.Programmes))
	for name := range c.Expect.Programmes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := c.Expect.Programmes[name]
		got, ok := res.Programmes[name]
		if !ok {
			bad("%s: not in result", name)
			continue
		}
		why := fmt.Sprintf("reasons %q", got.Reasons)
		if want.Eligible != nil && got.Eligible != *want.Eligible {
			bad("%s: eligible = %v; want %v; %s", name, got.Eligible, *want.Eligible, why)
		}
		if want.MonthlyFen != nil && got.MonthlyFen != *want.MonthlyFen {
			bad("%s: monthly_fen = %d; want %d; %s", name, got.MonthlyFen, *want.MonthlyFen, why)
		}
		if want.AmountFen != nil && got.AmountFen != *want.AmountFen {
			bad("%s: amount_fen = %d; want %d; %s", name, got.AmountFen, *want.AmountFen, why)
		}
		if want.AdvanceFen != nil && got.AdvanceFen != *want.AdvanceFen {
			bad("%s: advance_fen = %d; want %d", name, got.AdvanceFen, *want.AdvanceFen)
		}
		if want.Category != nil && got.Category != *want.Category {
			bad("%s: category = %q; want %q", name, got.Category, *want.Category)
		}
		if want.Approver != nil && got.Approver != *want.Approver {
			bad("%s: approver = %q; want %q", name, got.Approver, *want.Approver)
		}
		if want.Unit != nil && got.Unit != *want.Unit {
			bad("%s: unit = %q; want %q", name, got.Unit, *want.Unit)
		}
		if want.Members != nil {
			gotMembers := map[string]money.Fen{}
			for _, m := range got.Members {
				if m.Eligible {
					gotMembers[m.ID] = m.MonthlyFen
				}
			}
			if fmt.Sprint(gotMembers) != fmt.Sprint(want.Members) {
				bad("%s: members = %v; want %v", name, gotMembers, want.Members)
			}
		}
		all := strings.Join(got.Reasons, "\n")
		for _, frag := range want.ReasonsContain {
			if !strings.Contains(all, frag) {
				bad("%s: reasons do not contain %q:\n%s", name, frag, all)
			}
		}
	}
	return diffs
}

// nodeJSON converts a YAML node to JSON by hand so that dates stay strings
// exactly as written, whatever YAML's timestamp resolution would make of them.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		switch n.Kind {
		case yaml.DocumentNode:
			return walk(n.Content[0])
		case yaml.AliasNode:
			return walk(n.Alias)
		case yaml.MappingNode:
			buf.WriteByte('{')
			for i := 0; i < len(n.Content); i += 2 {
				if i > 0 {
					buf.WriteByte(',')
				}
				k, _ := json.Marshal(n.Content[i].Value)
				buf.Write(k)
				buf.WriteByte(':')
				if err := walk(n.Content[i+1]); err != nil {
					return err
				}
			}
			buf.WriteByte('}')
		case yaml.SequenceNode:
			buf.WriteByte('[')
			for i, c := range n.Content {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := walk(c); err != nil {
					return err
				}
			}
			buf.WriteByte(']')
		case yaml.ScalarNode:
			switch n.Tag {
			case "!!int", "!!float":
				if _, err := strconv.ParseFloat(n.Value, 64); err != nil {
					return fmt.Errorf("line %d: number %q", n.Line, n.Value)
				}
				buf.WriteString(n.Value)
			case "!!bool":
				buf.WriteString(strings.ToLower(n.Value))
			case "!!null":
				buf.WriteString("null")
			default:
				s, _ := json.Marshal(n.Value)
				buf.Write(s)
			}
		default:
			return fmt.Errorf("line %d: unsupported YAML node", n.Line)
		}
		return nil
	}
	if n.Kind == 0 {
		return nil, fmt.Errorf("missing situation")
	}
	err := walk(n)
	return buf.Bytes(), err
}
