package calc

import (
	"bytes"
	"encoding/json"

	"jiuzhu/internal/money"
)

// Result is the output of one calculation (DESIGN.md §4).
type Result struct {
	Date        string     `json:"date"`
	RuleVersion string     `json:"rule_version"`
	Programmes  Programmes `json:"programmes"`
	// Parameters echoes the situation's what-if values, when it had any.
	Parameters map[string]string `json:"parameters,omitempty"`

	// Backing storage reused by EvaluateInto, so that evaluating many
	// households allocates nothing once warm.
	reasonArena []Reason
	memberArena []MemberResult
	facts       []memberFacts
}

// Programmes holds one result per requested programme; it marshals as a JSON
// object keyed by programme name.
type Programmes struct {
	requested uint16
	res       [numProgrammes]ProgrammeResult
}

// Get returns the result of a programme by name, if it was requested.
func (p *Programmes) Get(name string) (*ProgrammeResult, bool) {
	i := programmes.index(name)
	if i < 0 || p.requested&(1<<i) == 0 {
		return nil, false
	}
	return &p.res[i], true
}

// Names lists the requested programmes in their fixed order.
func (p *Programmes) Names() []string {
	var names []string
	for i := Programme(0); i < numProgrammes; i++ {
		if p.requested&(1<<i) != 0 {
			names = append(names, i.String())
		}
	}
	return names
}

// MarshalJSON writes the requested programmes as an object in a fixed order.
func (p Programmes) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for i := Programme(0); i < numProgrammes; i++ {
		if p.requested&(1<<i) == 0 {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.WriteString(`"` + i.String() + `":`)
		b, err := json.Marshal(&p.res[i])
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// ProgrammeResult is the outcome for one programme.
type ProgrammeResult struct {
	Eligible bool `json:"eligible"`
	// MonthlyFen is the monthly amount for the household (sum over members for
	// individual programmes); 0 for one-off grants.
	MonthlyFen money.Fen `json:"monthly_fen"`
	// AmountFen is a one-off grant (temporary assistance).
	AmountFen money.Fen `json:"amount_fen,omitempty"`
	// AdvanceFen is what the township may pay at once from its reserve fund
	// before county approval (LS-03, "assist first, file later").
	AdvanceFen money.Fen `json:"advance_fen,omitempty"`
	Category   string    `json:"category"`
	Approver   string    `json:"approver,omitempty"` // township | county
	// Unit is "household" or "individual" (单人保, DB-06) for dibao.
	Unit    string         `json:"unit,omitempty"`
	Members []MemberResult `json:"members,omitempty"`
	Reasons []Reason       `json:"reasons"`
	Trace   []TraceStep    `json:"trace,omitempty"`
}

// MemberResult is the outcome for one member in programmes assessed per person.
type MemberResult struct {
	ID         string    `json:"id"`
	Eligible   bool      `json:"eligible"`
	MonthlyFen money.Fen `json:"monthly_fen"`
	Category   string    `json:"category,omitempty"`
	CareTier   string    `json:"care_tier,omitempty"` // self | partial | full (TK-10)
}

// TraceStep is one line of the explanation kept with a decision: an input, a
// parameter used (with its start date and legal reference) or an
// intermediate result.
type TraceStep struct {
	Step           string     `json:"step"`
	Member         string     `json:"member,omitempty"`
	Value          string     `json:"value,omitempty"`
	AmountFen      *money.Fen `json:"amount_fen,omitempty"`
	Parameter      string     `json:"parameter,omitempty"`
	ParameterValue string     `json:"parameter_value,omitempty"`
	Start          string     `json:"start,omitempty"`
	Region         string     `json:"region,omitempty"`
	Reference      string     `json:"reference,omitempty"`
	Demo           bool       `json:"demo,omitempty"`
}
