package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"jiuzhu/internal/region"
)

// village is where a household lives: urban villages are residents'
// committees, the others village committees.
type village struct {
	r     *region.Region
	urban bool
}

// county is the unit of generation. Quotas are handed out by cumulative
// weight: county i gets round(Q·C_i/W) − round(Q·C_{i−1}/W), so the counties
// add up to exactly round(Q) and each county's quota depends only on its own
// position, whichever counties are selected. Within the county, households
// are placed on villages in proportion to their weights.
type county struct {
	code     string
	villages [2][]village // rural, urban
	cum      [2][]float64 // cumulative village weights within the county
	before   [2]float64   // province-wide cumulative weight before the county
	after    [2]float64   // ... including it
	total    [2]float64   // province-wide weight
	scale    float64
}

const (
	rural = 0
	urban = 1
)

// rng is the county's own random stream: the same for a seed wherever the
// county is generated.
func (c *county) rng(seed int64) *rand.Rand {
	n, _ := strconv.ParseUint(c.code, 10, 64)
	return rand.New(rand.NewPCG(uint64(seed), n*0x9e3779b97f4a7c15))
}

// planCounties weighs every village of the province and sums the weights per
// county and type.
func planCounties(tree *region.Tree, seed int64, scale float64) map[string]*county {
	counties := map[string]*county{}
	var order []*county
	var cum [2]float64
	for _, r := range tree.Villages(tree.Root.Code) {
		c := counties[r.Code[:6]]
		if c == nil {
			if len(order) > 0 {
				prev := order[len(order)-1]
				prev.after = cum
			}
			c = &county{code: r.Code[:6], before: cum, scale: scale}
			counties[c.code] = c
			order = append(order, c)
		}
		t := rural
		if r.Kind == "居委会" || r.Kind == "类似居委会" {
			t = urban
		}
		code, _ := strconv.ParseUint(r.Code, 10, 64)
		w := rand.New(rand.NewPCG(uint64(seed)^0x5bd1e9955bd1e995, code))
		// Villages differ in size: a log-normal spread around the city's level.
		weight := cityWeight[r.Code[:4]] * math.Exp(0.5*w.NormFloat64())
		cum[t] += weight
		c.villages[t] = append(c.villages[t], village{r: r, urban: t == urban})
		c.cum[t] = append(c.cum[t], cum[t]-c.before[t])
	}
	order[len(order)-1].after = cum
	for _, c := range order {
		c.total = cum
	}
	return counties
}

// selectCounties keeps the counties under any of the codes, in code order.
func selectCounties(tree *region.Tree, all map[string]*county, codes []string) ([]*county, error) {
	if len(codes) == 0 {
		codes = []string{tree.Root.Code}
	}
	seen := map[string]bool{}
	var out []*county
	for _, code := range codes {
		r, ok := tree.Get(code)
		if !ok {
			return nil, fmt.Errorf("gen: unknown region %q", code)
		}
		if r.Level > region.County {
			return nil, fmt.Errorf("gen: region %s (%s) is below a county; choose counties, cities or the province", code, r.Name)
		}
		prefix := region.ScopePrefix(r.Code)
		for cc, c := range all {
			if len(prefix) <= 6 && cc[:len(prefix)] == prefix && !seen[cc] {
				seen[cc] = true
				out = append(out, c)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].code < out[j].code })
	return out, nil
}

// share is the county's part of a province-wide quota q of type t.
func (c *county) share(q float64, t int) (before, after int) {
	if c.total[t] == 0 {
		return 0, 0
	}
	q *= c.scale
	return int(math.Round(q * c.before[t] / c.total[t])), int(math.Round(q * c.after[t] / c.total[t]))
}

// quotas are what one type of village of a county must hold.
type quotas struct {
	dibao, living, severe int // persons
	tekunDispersed        int // persons
	tekunCentralised      int // persons
	orphans               int // persons
	care, applicants      int // households
}

func (c *county) quotas(t int) quotas {
	part := func(q, urbanShare float64) int {
		if t == rural {
			q *= 1 - urbanShare
		} else {
			q *= urbanShare
		}
		b, a := c.share(q, t)
		return a - b
	}
	dibao := float64(ruralDibaoPersons)
	if t == urban {
		dibao = urbanDibaoPersons
	}
	db, da := c.share(dibao, t)
	// The nested quotas split the rounded outer ones the same way, so a
	// county's disabled recipients never outnumber its recipients.
	lb, la := roundShare(livingShareOfDibao, db), roundShare(livingShareOfDibao, da)
	return quotas{
		dibao:            da - db,
		living:           la - lb,
		severe:           roundShare(severeShareOfLiving, la) - roundShare(severeShareOfLiving, lb),
		tekunDispersed:   part(tekunPersons*(1-tekunCentralisedShare), tekunUrbanShare),
		tekunCentralised: part(tekunPersons*tekunCentralisedShare, tekunUrbanShare),
		orphans:          part(orphanPersons, orphanUrbanShare),
		care:             part(careOnlyHouseholds, careUrbanShare),
		applicants:       part(applicantHouseholds, applicantUrbanShare),
	}
}

func roundShare(share float64, n int) int { return int(math.Round(share * float64(n))) }

// kind is what brought a household into the registry.
type kind uint8

const (
	kindDibao kind = iota
	kindTekunDispersed
	kindTekunCentralised
	kindOrphan
	kindCare      // a severely disabled member on the care subsidy only
	kindApplicant // applied, nobody receives anything
)

// shape is a household before its people are drawn: enough to count rows.
type shape struct {
	kind       kind
	village    village
	size       int
	covered    int // recipients of the household's programme
	supporters int
}

// shapes draws the county's households and their villages, in household
// number order. It uses the county stream first, so counting and generating
// see the same shapes.
func (c *county) shapes(rng *rand.Rand) []shape {
	var out []shape
	for t := range 2 {
		if len(c.villages[t]) == 0 {
			continue
		}
		n := len(out)
		out = c.typeShapes(rng, t, c.quotas(t), out)
		for i := n; i < len(out); i++ {
			// Place the household on a village in proportion to its weight.
			cum := c.cum[t]
			u := rng.Float64() * cum[len(cum)-1]
			out[i].village = c.villages[t][min(sort.SearchFloat64s(cum, u), len(cum)-1)]
		}
	}
	// Household numbers follow registration, not programme.
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	sort.SliceStable(out, func(i, j int) bool { return out[i].village.r.Code < out[j].village.r.Code })
	return out
}

func (c *county) typeShapes(rng *rand.Rand, t int, q quotas, out []shape) []shape {
	// Dibao: all members of small households are covered; in larger ones some
	// working-age members are not (按人施保).
	sizes := ruralDibaoSizes
	if t == urban {
		sizes = urbanDibaoSizes
	}
	for left := q.dibao; left > 0; {
		s := shape{kind: kindDibao, size: 1 + pick(rng, sizes)}
		s.covered = s.size
		if s.size >= 3 {
			s.covered -= min(pick(rng, []float64{0.30, 0.35, 0.25, 0.10}), s.size-1)
		}
		s.covered = min(s.covered, left)
		left -= s.covered
		s.supporters = dibaoSupporters(rng, s.size)
		out = append(out, s)
	}
	for left := q.tekunDispersed; left > 0; {
		s := shape{kind: kindTekunDispersed, size: 1}
		if left > 1 && rng.Float64() < 0.08 { // an elderly couple, both supported
			s.size = 2
		}
		s.covered = s.size
		left -= s.size
		if rng.Float64() < 0.12 {
			s.supporters = 1
		}
		out = append(out, s)
	}
	for range q.tekunCentralised {
		s := shape{kind: kindTekunCentralised, size: 1, covered: 1}
		if rng.Float64() < 0.05 {
			s.supporters = 1
		}
		out = append(out, s)
	}
	for left := q.orphans; left > 0; {
		orphans := min(1+pick(rng, []float64{0.75, 0.20, 0.05}), left)
		left -= orphans
		guardians := min(1+pick(rng, []float64{0.35, 0.45, 0.12, 0.08}), 6-orphans)
		out = append(out, shape{kind: kindOrphan, size: orphans + guardians, covered: orphans})
	}
	for range q.care {
		s := shape{kind: kindCare, size: 1 + pick(rng, careSizes), covered: 1}
		if rng.Float64() < 0.10 {
			s.supporters = 1
		}
		out = append(out, s)
	}
	for range q.applicants {
		s := shape{kind: kindApplicant, size: 1 + pick(rng, applicantSizes)}
		if rng.Float64() < 0.08 {
			s.supporters = 1
		}
		out = append(out, s)
	}
	return out
}

// dibaoSupporters: elderly people alone or in pairs often have children
// working elsewhere; larger households sometimes an absent parent.
func dibaoSupporters(rng *rand.Rand, size int) int {
	if size <= 2 {
		if rng.Float64() < 0.45 {
			return 1 + rng.IntN(3)
		}
		return 0
	}
	if rng.Float64() < 0.12 {
		return 1
	}
	return 0
}

// count adds the county's households, rows and recipients to st.
func (c *county) count(st *Stats, seed int64) {
	for _, s := range c.shapes(c.rng(seed)) {
		st.Households++
		st.Persons += int64(s.size)
		st.Supporters += int64(s.supporters)
		if s.kind != kindApplicant {
			st.BankAccounts++
		}
	}
	for t, dibao := range []Programme{DibaoRural, DibaoUrban} {
		if len(c.villages[t]) == 0 {
			continue
		}
		q := c.quotas(t)
		st.Recipients[dibao] += int64(q.dibao)
		st.Recipients[DisabilityLiving] += int64(q.living)
		st.Recipients[DisabilityCare] += int64(q.severe + q.care)
		st.Recipients[TekunDispersed] += int64(q.tekunDispersed)
		st.Recipients[TekunCentralised] += int64(q.tekunCentralised)
		st.Recipients[Orphan] += int64(q.orphans)
	}
}

// pick draws an index with the given probabilities (which sum to 1).
func pick(rng *rand.Rand, probs []float64) int {
	u := rng.Float64()
	for i, p := range probs {
		if u < p {
			return i
		}
		u -= p
	}
	return len(probs) - 1
}
