package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	policyfiles "jiuzhu/policy"
)

// fileDoc is the layout of a policy/*.yaml file.
type fileDoc struct {
	Parameters []paramDoc `yaml:"parameters"`
}

type paramDoc struct {
	Name        string     `yaml:"name"`
	Unit        string     `yaml:"unit"`
	Description string     `yaml:"description"`
	Values      []valueDoc `yaml:"values"`
}

type valueDoc struct {
	Region    string    `yaml:"region"`
	Start     string    `yaml:"start"`
	Value     yaml.Node `yaml:"value"`
	Reference string    `yaml:"reference"`
	Demo      *bool     `yaml:"demo"`
	Note      string    `yaml:"note"`
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// Default loads the parameter files embedded from the repository's policy/
// folder.
func Default() (*Set, error) { return Load(policyfiles.FS) }

// Load reads every *.yaml file at the top of fsys and validates the whole set.
// A parameter may be defined in one file only.
func Load(fsys fs.FS) (*Set, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("policy: list files: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("policy: no *.yaml parameter files")
	}
	var all []Parameter
	defined := map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		params, err := parseFile(path.Base(f), b)
		if err != nil {
			return nil, err
		}
		for _, p := range params {
			if prev, dup := defined[p.Name]; dup {
				return nil, fmt.Errorf("policy: %s: %s defined again (first in %s)", f, p.Name, prev)
			}
			defined[p.Name] = f
		}
		all = append(all, params...)
	}
	return newSet(all), nil
}

func parseFile(file string, b []byte) ([]Parameter, error) {
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("policy: %s: %w", file, err)
	}
	params := make([]Parameter, 0, len(doc.Parameters))
	for i, pd := range doc.Parameters {
		p, err := pd.parameter()
		if err != nil {
			name := pd.Name
			if name == "" {
				name = fmt.Sprintf("parameters[%d]", i)
			}
			return nil, fmt.Errorf("policy: %s: %s: %w", file, name, err)
		}
		params = append(params, p)
	}
	return params, nil
}

func (pd paramDoc) parameter() (Parameter, error) {
	if !nameRE.MatchString(pd.Name) {
		return Parameter{}, fmt.Errorf("invalid name %q: want dotted lower-case words such as dibao.standard.urban", pd.Name)
	}
	u := Unit(pd.Unit)
	if !slices.Contains(units, u) {
		return Parameter{}, fmt.Errorf("unknown unit %q (want one of %s)", pd.Unit, unitList())
	}
	if len(pd.Values) == 0 {
		return Parameter{}, errors.New("no values")
	}
	p := Parameter{Name: pd.Name, Unit: u, Description: pd.Description}
	last := map[string]time.Time{}
	for i, vd := range pd.Values {
		v, err := vd.value(p.Name, u)
		if err != nil {
			return Parameter{}, fmt.Errorf("values[%d]: %w", i, err)
		}
		if prev, ok := last[v.Region]; ok {
			switch {
			case v.Start.Equal(prev):
				return Parameter{}, fmt.Errorf("values[%d]: region %s has two values starting %s", i, v.Region, vd.Start)
			case v.Start.Before(prev):
				return Parameter{}, fmt.Errorf("values[%d]: region %s: start %s goes back before the previous start %s; list values in date order",
					i, v.Region, vd.Start, prev.Format(time.DateOnly))
			}
		}
		last[v.Region] = v.Start
		p.Values = append(p.Values, v)
	}
	return p, nil
}

func (vd valueDoc) value(name string, u Unit) (Value, error) {
	v := Value{Name: name, Unit: u, Region: vd.Region, Reference: strings.TrimSpace(vd.Reference), Note: strings.TrimSpace(vd.Note)}
	if !validRegionPrefix(vd.Region) {
		return Value{}, fmt.Errorf("invalid region %q: want a quoted 2-, 4-, 6-, 9- or 12-digit code", vd.Region)
	}
	start, err := time.Parse(time.DateOnly, vd.Start)
	if err != nil {
		return Value{}, fmt.Errorf("invalid start %q: want YYYY-MM-DD", vd.Start)
	}
	v.Start = start
	if v.Reference == "" {
		return Value{}, errors.New("missing reference (every value needs its legal source)")
	}
	if vd.Demo == nil {
		return Value{}, errors.New("missing demo: say true or false explicitly")
	}
	v.Demo = *vd.Demo
	if v.Demo && v.Note == "" {
		return Value{}, errors.New("a demo value needs a note saying why it is not verified")
	}
	if vd.Value.Kind != yaml.ScalarNode {
		return Value{}, errors.New("missing or non-scalar value")
	}
	if err := v.parseValue(vd.Value.Value); err != nil {
		return Value{}, fmt.Errorf("value: %w", err)
	}
	return v, nil
}

func unitList() string {
	s := make([]string, len(units))
	for i, u := range units {
		s[i] = string(u)
	}
	return strings.Join(s, ", ")
}
