package gen

import (
	"math"
	"math/rand/v2"
	"strconv"

	"jiuzhu/internal/region"
)

// village is one village with its share of the province. Quotas are handed out
// by cumulative weight: village i gets round(Q·C_i/W) − round(Q·C_{i−1}/W),
// so the villages of a type add up to exactly round(Q) and each village's
// quota depends only on its own position, whichever regions are selected.
type village struct {
	r      *region.Region
	urban  bool
	before float64 // cumulative weight of the villages of its type before it
	after  float64 // ... including it
	total  float64 // weight of all villages of its type in the province
	scale  float64
}

func (v *village) county() string { return v.r.Code[:6] }

// code is the village code as a number, to seed its random streams.
func (v *village) code() uint64 {
	n, _ := strconv.ParseUint(v.r.Code, 10, 64)
	return n
}

// rng is the village's own random stream: the same for a seed wherever the
// village is generated.
func (v *village) rng(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), v.code()*0x9e3779b97f4a7c15))
}

// planVillages weighs every village of the province: urban (residents'
// committees) and rural (village committees) separately.
func planVillages(tree *region.Tree, seed int64, scale float64) map[string]*village {
	all := map[string]*village{}
	var cum [2]float64
	var order []*village
	for _, r := range tree.Villages(tree.Root.Code) {
		v := &village{r: r, urban: r.Kind == "居委会" || r.Kind == "类似居委会", scale: scale}
		w := rand.New(rand.NewPCG(uint64(seed)^0x5bd1e9955bd1e995, v.code()))
		// Villages differ in size: a log-normal spread around the city's level.
		weight := cityWeight[r.Code[:4]] * math.Exp(0.5*w.NormFloat64())
		t := typeIndex(v.urban)
		v.before = cum[t]
		cum[t] += weight
		v.after = cum[t]
		all[r.Code] = v
		order = append(order, v)
	}
	for _, v := range order {
		v.total = cum[typeIndex(v.urban)]
	}
	return all
}

func typeIndex(urban bool) int {
	if urban {
		return 1
	}
	return 0
}

// cumulative is the rounded running quota up to the village's start and end.
func (v *village) cumulative(q float64) (before, after int) {
	q *= v.scale
	return int(math.Round(q * v.before / v.total)), int(math.Round(q * v.after / v.total))
}

// nested splits a share of a quota the same way, so the nested count never
// exceeds the village's part of the outer one.
func nested(share float64, before, after int) int {
	return int(math.Round(share*float64(after))) - int(math.Round(share*float64(before)))
}

// quotas are what one village must hold.
type quotas struct {
	dibao, living, severe int // persons
	tekunDispersed        int // persons
	tekunCentralised      int // persons
	orphans               int // persons
	care, applicants      int // households
}

func (v *village) quotas() quotas {
	pick := func(q, urbanShare float64) int {
		share := 1 - urbanShare
		if v.urban {
			share = urbanShare
		}
		b, a := v.cumulative(q * share)
		return a - b
	}
	dibao := float64(ruralDibaoPersons)
	if v.urban {
		dibao = urbanDibaoPersons
	}
	db, da := v.cumulative(dibao)
	lb, la := int(math.Round(livingShareOfDibao*float64(db))), int(math.Round(livingShareOfDibao*float64(da)))
	return quotas{
		dibao:            da - db,
		living:           la - lb,
		severe:           nested(severeShareOfLiving, lb, la),
		tekunDispersed:   pick(tekunPersons*(1-tekunCentralisedShare), tekunUrbanShare),
		tekunCentralised: pick(tekunPersons*tekunCentralisedShare, tekunUrbanShare),
		orphans:          pick(orphanPersons, orphanUrbanShare),
		care:             pick(careOnlyHouseholds, careUrbanShare),
		applicants:       pick(applicantHouseholds, applicantUrbanShare),
	}
}

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
	size       int
	covered    int // recipients of the household's programme
	supporters int
}

// shapes draws the village's households in their final order. It uses the
// village stream first, so counting (count) and generating see the same shapes.
func (v *village) shapes(rng *rand.Rand, q quotas) []shape {
	var out []shape
	// Dibao: all members of small households are covered; in larger ones some
	// working-age members are not (按人施保).
	sizes := ruralDibaoSizes
	if v.urban {
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
		guardians := 1 + pick(rng, []float64{0.35, 0.45, 0.12, 0.08})
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
	// Household numbers follow registration, not programme.
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
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

// count adds the village's households, rows and recipients to st.
func (v *village) count(st *Stats, seed int64) {
	q := v.quotas()
	for _, s := range v.shapes(v.rng(seed), q) {
		st.Households++
		st.Persons += int64(s.size)
		st.Supporters += int64(s.supporters)
		if s.kind != kindApplicant {
			st.BankAccounts++
		}
	}
	dibao := DibaoRural
	if v.urban {
		dibao = DibaoUrban
	}
	st.Recipients[dibao] += int64(q.dibao)
	st.Recipients[DisabilityLiving] += int64(q.living)
	st.Recipients[DisabilityCare] += int64(q.severe + q.care)
	st.Recipients[TekunDispersed] += int64(q.tekunDispersed)
	st.Recipients[TekunCentralised] += int64(q.tekunCentralised)
	st.Recipients[Orphan] += int64(q.orphans)
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
