package calc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"jiuzhu/internal/money"
	"jiuzhu/internal/policy"
)

// ruleCase is one file of testdata/cases: a situation in the JSON shape of
// DESIGN.md §4 written as YAML, optional parameter overrides applied on top
// of the seeded parameters, and the expected outputs per programme.
type ruleCase struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Parameters  map[string]string `yaml:"parameters"`
	Situation   yaml.Node         `yaml:"situation"`
	Expect      struct {
		RuleVersion string                     `yaml:"rule_version"`
		Programmes  map[string]expectProgramme `yaml:"programmes"`
	} `yaml:"expect"`
}

type expectProgramme struct {
	Eligible       *bool                `yaml:"eligible"`
	MonthlyFen     *money.Fen           `yaml:"monthly_fen"`
	AmountFen      *money.Fen           `yaml:"amount_fen"`
	AdvanceFen     *money.Fen           `yaml:"advance_fen"`
	Category       *string              `yaml:"category"`
	Approver       *string              `yaml:"approver"`
	Unit           *string              `yaml:"unit"`
	Members        map[string]money.Fen `yaml:"members"` // eligible member id → monthly fen
	ReasonsContain []string             `yaml:"reasons_contain"`
}

func TestRuleCases(t *testing.T) {
	seeded, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/cases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule cases found: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c ruleCase
			dec := yaml.NewDecoder(bytes.NewReader(raw))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if c.Name == "" || len(c.Expect.Programmes) == 0 {
				t.Fatalf("%s: a case needs a name and expected programmes", file)
			}
			params := seeded
			if len(c.Parameters) > 0 {
				if params, err = seeded.Override(c.Parameters); err != nil {
					t.Fatal(err)
				}
			}
			js, err := nodeJSON(&c.Situation)
			if err != nil {
				t.Fatalf("situation: %v", err)
			}
			sit, err := ParseSituation(js)
			if err != nil {
				t.Fatalf("ParseSituation: %v", err)
			}
			for _, trace := range []bool{false, true} {
				res, err := Evaluate(sit, params, Options{Trace: trace})
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				checkCase(t, &c, &res)
			}
		})
	}
}

func checkCase(t *testing.T, c *ruleCase, res *Result) {
	t.Helper()
	if c.Expect.RuleVersion != "" && res.RuleVersion != c.Expect.RuleVersion {
		t.Errorf("rule_version = %s; want %s", res.RuleVersion, c.Expect.RuleVersion)
	}
	for name, want := range c.Expect.Programmes {
		got, ok := res.Programmes.Get(name)
		if !ok {
			t.Errorf("%s: not in result", name)
			continue
		}
		why := func() string { return fmt.Sprintf("reasons %q", reasonStrings(got.Reasons)) }
		if want.Eligible != nil && got.Eligible != *want.Eligible {
			t.Errorf("%s: eligible = %v; want %v; %s", name, got.Eligible, *want.Eligible, why())
		}
		if want.MonthlyFen != nil && got.MonthlyFen != *want.MonthlyFen {
			t.Errorf("%s: monthly_fen = %d; want %d; %s", name, got.MonthlyFen, *want.MonthlyFen, why())
		}
		if want.AmountFen != nil && got.AmountFen != *want.AmountFen {
			t.Errorf("%s: amount_fen = %d; want %d; %s", name, got.AmountFen, *want.AmountFen, why())
		}
		if want.AdvanceFen != nil && got.AdvanceFen != *want.AdvanceFen {
			t.Errorf("%s: advance_fen = %d; want %d", name, got.AdvanceFen, *want.AdvanceFen)
		}
		if want.Category != nil && got.Category != *want.Category {
			t.Errorf("%s: category = %q; want %q", name, got.Category, *want.Category)
		}
		if want.Approver != nil && got.Approver != *want.Approver {
			t.Errorf("%s: approver = %q; want %q", name, got.Approver, *want.Approver)
		}
		if want.Unit != nil && got.Unit != *want.Unit {
			t.Errorf("%s: unit = %q; want %q", name, got.Unit, *want.Unit)
		}
		if want.Members != nil {
			gotMembers := map[string]money.Fen{}
			for _, m := range got.Members {
				if m.Eligible {
					gotMembers[m.ID] = m.MonthlyFen
				}
			}
			if fmt.Sprint(gotMembers) != fmt.Sprint(want.Members) {
				t.Errorf("%s: members = %v; want %v", name, gotMembers, want.Members)
			}
		}
		all := strings.Join(reasonStrings(got.Reasons), "\n")
		for _, frag := range want.ReasonsContain {
			if !strings.Contains(all, frag) {
				t.Errorf("%s: reasons do not contain %q:\n%s", name, frag, all)
			}
		}
	}
}

func reasonStrings(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
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
