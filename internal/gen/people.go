package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"jiuzhu/internal/region"
)

// builder draws the people of one county; v is the village of the household
// being drawn.
type builder struct {
	rng  *rand.Rand
	tree *region.Tree
	now  time.Time
	v    village
}

// age bands: [lo, hi] inclusive, with a probability.
type band struct {
	lo, hi int
	p      float64
}

var (
	elderlyAges        = []band{{60, 69, 0.30}, {70, 79, 0.40}, {80, 89, 0.25}, {90, 99, 0.05}}
	ruralDibaoHeadAges = []band{{25, 39, 0.07}, {40, 59, 0.28}, {60, 69, 0.25}, {70, 79, 0.26}, {80, 92, 0.14}}
	urbanDibaoHeadAges = []band{{25, 39, 0.20}, {40, 59, 0.45}, {60, 69, 0.18}, {70, 79, 0.12}, {80, 92, 0.05}}
	aloneHeadAges      = []band{{25, 44, 0.10}, {45, 59, 0.15}, {60, 69, 0.25}, {70, 79, 0.30}, {80, 95, 0.20}}
	familyHeadAges     = []band{{22, 39, 0.25}, {40, 59, 0.40}, {60, 69, 0.18}, {70, 79, 0.12}, {80, 90, 0.05}}
)

func (b *builder) age(bands []band) int {
	u := b.rng.Float64()
	for _, x := range bands {
		if u < x.p {
			return x.lo + b.rng.IntN(x.hi-x.lo+1)
		}
		u -= x.p
	}
	last := bands[len(bands)-1]
	return last.lo + b.rng.IntN(last.hi-last.lo+1)
}

func (b *builder) chance(p float64) bool { return b.rng.Float64() < p }

// person makes a member; the name fits the birth year.
func (b *builder) person(relation string, age int, male bool, family string) *Person {
	p := &Person{Relation: relation, age: age, Sex: "F", CoResident: true, Student: "none"}
	if male {
		p.Sex = "M"
	}
	p.Name = family + givenName(b.rng, b.now.Year()-age, male)
	return p
}

func clamp(x, lo, hi int) int { return max(lo, min(hi, x)) }

// family draws an ordinary household of size members around a head of headAge:
// older heads live with a spouse, perhaps an adult child and grandchildren
// (left-behind children are common); younger ones with children and perhaps a
// parent.
func (b *builder) family(size, headAge int, maleHead float64) []*Person {
	male := b.chance(maleHead)
	headName := surname(b.rng)
	head := b.person("head", headAge, male, headName)
	out := []*Person{head}
	family := headName
	left := size - 1
	spouseP := 0.8
	if headAge >= 60 {
		spouseP = 0.6
	}
	if left > 0 && b.chance(spouseP) {
		age := headAge + 2 - b.rng.IntN(5)
		if male {
			age -= 2
		} else {
			age += 2
		}
		sp := surname(b.rng)
		if !male {
			family = sp
		}
		out = append(out, b.person("spouse", clamp(age, 18, 100), !male, sp))
		left--
	}
	if headAge >= 55 {
		if left > 0 && b.chance(0.6) {
			child := b.person("child", clamp(headAge-22-b.rng.IntN(12), 18, 80), b.chance(0.55), family)
			out = append(out, child)
			left--
			if left > 0 && b.chance(0.6) { // the child's spouse
				out = append(out, b.person("other", clamp(child.age-3+b.rng.IntN(7), 18, 80), child.Sex == "F", surname(b.rng)))
				left--
			}
		}
		for ; left > 0; left-- {
			out = append(out, b.person("grandchild", b.rng.IntN(18), b.chance(0.52), family))
		}
		return out
	}
	for parents := 0; left > 0 && parents < 2 && b.chance(0.4-0.2*float64(parents)); parents++ {
		parentMale := parents == 0 && b.chance(0.4)
		name := headName
		if !parentMale {
			name = surname(b.rng)
		}
		out = append(out, b.person("parent", clamp(headAge+24+b.rng.IntN(8), 45, 100), parentMale, name))
		left--
	}
	for ; left > 0; left-- {
		age := headAge - 20 - b.rng.IntN(16)
		if age < 0 {
			age = b.rng.IntN(3)
		}
		out = append(out, b.person("child", age, b.chance(0.52), family))
	}
	return out
}

// Disability kinds with their shares among certificate holders.
var (
	disabilityKinds  = []string{"physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple"}
	disabilityShares = []float64{0.45, 0.12, 0.10, 0.02, 0.10, 0.12, 0.09}
)

func (b *builder) disable(p *Person, severe bool) {
	p.DisabilityKind = disabilityKinds[pick(b.rng, disabilityShares)]
	switch {
	case severe && b.chance(0.4):
		p.DisabilityLevel = 1
	case severe:
		p.DisabilityLevel = 2
	case b.chance(0.45):
		p.DisabilityLevel = 3
	default:
		p.DisabilityLevel = 4
	}
}

// qualifyingDisability is one that alone means no capacity to work (TK-02):
// intellectual or mental 1–3, physical 1–2, visual 1.
func (b *builder) qualifyingDisability(p *Person) {
	switch pick(b.rng, []float64{0.35, 0.30, 0.25, 0.10}) {
	case 0:
		p.DisabilityKind, p.DisabilityLevel = "intellectual", 1+b.rng.IntN(3)
	case 1:
		p.DisabilityKind, p.DisabilityLevel = "mental", 1+b.rng.IntN(3)
	case 2:
		p.DisabilityKind, p.DisabilityLevel = "physical", 1+b.rng.IntN(2)
	default:
		p.DisabilityKind, p.DisabilityLevel = "visual", 1
	}
}

// severeDisability is level 1–2 or intellectual/mental 1–3 (TK-02).
func severeDisability(p *Person) bool {
	switch p.DisabilityKind {
	case "":
		return false
	case "intellectual", "mental":
		return p.DisabilityLevel <= 3
	default:
		return p.DisabilityLevel <= 2
	}
}

// Self-care items are lost in this order (bit index in the registry's mask):
// bathing, walking, dressing, toileting, getting in and out of bed, eating.
var selfCareLoss = []int{5, 4, 1, 3, 2, 0}

func selfCareMask(failed int) int {
	mask := 0
	for _, bit := range selfCareLoss[:failed] {
		mask |= 1 << bit
	}
	return mask
}

// tekun draws one extreme-poverty person (TK-01/02): elderly, severely disabled
// or a child under 16.
func (b *builder) tekun(centralised bool) *Person {
	elderly, disabled := 0.78, 0.19
	if centralised {
		elderly, disabled = 0.85, 0.15
	}
	switch pick(b.rng, []float64{elderly, disabled, 1 - elderly - disabled}) {
	case 0:
		return b.elderlyTekun("head", b.chance(0.68), centralised, surname(b.rng))
	case 1:
		p := b.person("head", 16+b.rng.IntN(44), b.chance(0.6), surname(b.rng))
		b.qualifyingDisability(p)
		if p.DisabilityKind == "physical" && p.DisabilityLevel == 1 {
			p.SelfCareItems = selfCareMask(2 + b.rng.IntN(4))
		}
		return p
	}
	return b.person("head", 2+b.rng.IntN(14), b.chance(0.55), surname(b.rng))
}

// elderlyTekun is an extreme-poverty person of 60 or over, with the self-care
// assessment (TK-10); people in institutions are frailer.
func (b *builder) elderlyTekun(relation string, male, centralised bool, family string) *Person {
	p := b.person(relation, b.age(elderlyAges), male, family)
	if b.chance(0.2) {
		b.disable(p, false)
	}
	failed := []float64{0.72, 0.20, 0.08} // none, 1–3, 4–6 items failed
	if centralised {
		failed = []float64{0.50, 0.28, 0.22}
	}
	switch pick(b.rng, failed) {
	case 1:
		p.SelfCareItems = selfCareMask(1 + b.rng.IntN(3))
	case 2:
		p.SelfCareItems = selfCareMask(4 + b.rng.IntN(3))
	}
	return p
}

// household draws the people of one shape.
func (b *builder) household(s shape) []*Person {
	switch s.kind {
	case kindDibao:
		bands, maleHead := ruralDibaoHeadAges, 0.75
		if b.v.urban {
			bands, maleHead = urbanDibaoHeadAges, 0.62
		}
		if s.size == 1 {
			bands, maleHead = aloneHeadAges, 0.5
		}
		members := b.family(s.size, b.age(bands), maleHead)
		b.cover(members, s.covered)
		return members
	case kindTekunDispersed, kindTekunCentralised:
		prog := TekunDispersed
		if s.kind == kindTekunCentralised {
			prog = TekunCentralised
		}
		var members []*Person
		if s.size == 2 { // an elderly couple living at home
			members = []*Person{b.elderlyTekun("head", true, false, surname(b.rng)), b.elderlyTekun("spouse", false, false, surname(b.rng))}
		} else {
			members = []*Person{b.tekun(prog == TekunCentralised)}
		}
		for _, p := range members {
			p.Programmes = prog
		}
		return members
	case kindOrphan:
		return b.orphans(s)
	case kindCare:
		members := b.family(s.size, b.age(familyHeadAges), 0.7)
		weights := make([]float64, len(members))
		for i, m := range members {
			weights[i] = ageWeight(m.age)
		}
		p := members[weightedPick(b.rng, weights)]
		b.disable(p, true)
		p.Programmes = DisabilityCare
		b.mildDisabilities(members)
		return members
	default:
		members := b.family(s.size, b.age(familyHeadAges), 0.7)
		b.mildDisabilities(members)
		// Illness is the commonest reason to apply.
		members[0].SeriousIllness = b.chance(0.25)
		return members
	}
}

// cover marks the dibao recipients of a household: all of a small one; in a
// larger one the working-age members go uncovered first, and some of them work
// away from home.
func (b *builder) cover(members []*Person, covered int) {
	prog := DibaoRural
	if b.v.urban {
		prog = DibaoUrban
	}
	order := make([]*Person, len(members))
	copy(order, members)
	// Uncovered first: working-age members, then the others; the head, who
	// applied, last.
	rank := func(p *Person) int {
		working := p.age >= 18 && p.age < 60
		switch {
		case working && p.Relation != "head":
			return 0
		case working:
			return 1
		case p.Relation != "head":
			return 2
		}
		return 3
	}
	sort.SliceStable(order, func(i, j int) bool { return rank(order[i]) < rank(order[j]) })
	away := 0.4
	if b.v.urban {
		away = 0.2
	}
	for i, p := range order {
		if i >= len(members)-covered {
			p.Programmes = prog
		} else if p.age >= 18 && p.age < 60 && b.chance(away) {
			p.CoResident = false
		}
	}
}

// orphans draws a household of orphans (ER-01, under 18) with their guardians:
// usually grandparents, otherwise an uncle's family.
func (b *builder) orphans(s shape) []*Person {
	n, guardians := s.covered, s.size-s.covered
	var members []*Person
	relation := "grandchild"
	if guardians <= 2 && b.chance(0.8) {
		members = b.family(guardians, 55+b.rng.IntN(25), 0.6)
	} else {
		relation = "other"
		members = b.family(guardians, 30+b.rng.IntN(21), 0.8)
	}
	family := familyName(members)
	first := 1 + b.rng.IntN(17)
	for i := range n {
		age := clamp(first-i*(1+b.rng.IntN(4)), 0, 17)
		p := b.person(relation, age, b.chance(0.55), family)
		p.Programmes = Orphan
		members = append(members, p)
	}
	return members
}

// familyName is the surname children of the household carry: the male head's,
// else the male spouse's, else the head's.
func familyName(members []*Person) string {
	for _, m := range members {
		if (m.Relation == "head" || m.Relation == "spouse") && m.Sex == "M" {
			return surnameOf(m.Name)
		}
	}
	return surnameOf(members[0].Name)
}

func surnameOf(name string) string {
	if strings.HasPrefix(name, "欧阳") {
		return "欧阳"
	}
	r := []rune(name)
	return string(r[0])
}

// mildDisabilities gives a few members of households not on dibao a level 3–4
// certificate; those bring no subsidy.
func (b *builder) mildDisabilities(members []*Person) {
	for _, m := range members {
		if m.DisabilityKind == "" && b.chance(0.03) {
			b.disable(m, false)
		}
	}
}

func ageWeight(age int) float64 {
	switch {
	case age < 16:
		return 0.25
	case age < 60:
		return 1
	}
	return 1.8
}

func weightedPick(rng *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	u := rng.Float64() * total
	for i, w := range weights {
		if u < w {
			return i
		}
		u -= w
	}
	return len(weights) - 1
}

// disabilities gives exactly living of the village's dibao recipients a
// certificate, older people more likely, and makes exactly severe of those
// level 1–2: they receive the living subsidy (CJ-01), the severe ones also the
// care subsidy.
func (b *builder) disabilities(recipients []*Person, living, severe int) {
	type cand struct {
		p   *Person
		key float64
	}
	cands := make([]cand, len(recipients))
	for i, p := range recipients {
		// Weighted sampling without replacement: the largest u^(1/w) win.
		cands[i] = cand{p, math.Pow(b.rng.Float64(), 1/ageWeight(p.age))}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].key > cands[j].key })
	chosen := cands[:min(living, len(cands))]
	b.rng.Shuffle(len(chosen), func(i, j int) { chosen[i], chosen[j] = chosen[j], chosen[i] })
	for i, c := range chosen {
		b.disable(c.p, i < severe)
		c.p.Programmes |= DisabilityLiving
		if i < severe {
			c.p.Programmes |= DisabilityCare
		}
	}
}

// finish sets what follows from age, disability and programme: schooling,
// illness, work capacity and a phone.
func (b *builder) finish(p *Person) {
	tekun := p.Programmes&(TekunCentralised|TekunDispersed) != 0
	switch a := p.age; {
	case a >= 6 && a <= 15:
		p.Student = "compulsory"
	case a >= 16 && a <= 18:
		p.Student = []string{"senior_high", "vocational", "none"}[pick(b.rng, []float64{0.5, 0.35, 0.15})]
	case a >= 19 && a <= 22 && b.chance(0.3):
		p.Student = "bachelor"
	case a >= 23 && a <= 25 && b.chance(0.03):
		p.Student = "graduate"
	}
	illness := 0.03
	if p.age >= 60 {
		illness = 0.10
	}
	if p.Programmes&(DibaoRural|DibaoUrban) != 0 {
		illness *= 2
	}
	p.SeriousIllness = p.SeriousIllness || b.chance(illness)
	p.AbleToWork = !tekun && p.age >= 16 && p.age < 60 && p.Student == "none" && !p.SeriousIllness && !severeDisability(p)
	phone := 0.85
	switch {
	case p.age < 18:
		phone = 0.1
	case tekun:
		phone = 0.35
	case p.age >= 60:
		phone = 0.5
	}
	if b.chance(phone) {
		p.Phone = mobile(b.rng)
	}
}

// supporters draws the household's legal supporters living elsewhere. Those of
// an extreme-poverty household are unable to support (TK-04): severely
// disabled, or old and on dibao themselves.
func (b *builder) supporters(members []*Person, n int, tekun bool, ids *idAllocator) ([]*Supporter, error) {
	head := members[0]
	hasAdultChild, hasSpouse, minorChildren, minorGrandchildren := false, false, false, false
	for _, m := range members {
		switch {
		case m.Relation == "spouse":
			hasSpouse = true
		case m.Relation == "child" && m.age >= 18:
			hasAdultChild = true
		case m.Relation == "child":
			minorChildren = true
		case m.Relation == "grandchild" && m.age < 18:
			minorGrandchildren = true
		}
	}
	family := familyName(members)
	var out []*Supporter
	for range n {
		s := &Supporter{AssetsWithinRules: b.chance(0.8)}
		var age int
		switch {
		case head.age >= 55 && !hasAdultChild:
			s.Relation, s.Duty = "child", "maintenance"
			age = clamp(head.age-22-b.rng.IntN(14), 18, 80)
		case minorGrandchildren: // the children's parent works away
			s.Relation, s.Duty = "parent", "upbringing"
			age = clamp(head.age-22-b.rng.IntN(14), 18, 60)
		case minorChildren && !hasSpouse: // a parent living apart
			s.Relation, s.Duty = "parent", "upbringing"
			age = clamp(head.age-5+b.rng.IntN(11), 18, 70)
		default:
			s.Relation, s.Duty = "sibling", "spousal"
			age = clamp(head.age-8+b.rng.IntN(17), 18, 90)
		}
		male := b.chance(0.55)
		s.Name = family + givenName(b.rng, b.now.Year()-age, male)
		s.Address = fmt.Sprintf("%s%s%d号", workPlaces[b.rng.IntN(len(workPlaces))], roads[b.rng.IntN(len(roads))], 1+b.rng.IntN(300))
		s.MonthlyIncomeFen = int64(2000+b.rng.IntN(51)*100) * 100
		switch {
		case tekun && age >= 60:
			s.OnDibao, s.MonthlyIncomeFen = true, int64(b.rng.IntN(8)*100)*100
		case tekun:
			s.DisabilityKind, s.DisabilityLevel = []string{"physical", "mental", "intellectual"}[b.rng.IntN(3)], 1+b.rng.IntN(2)
			s.MonthlyIncomeFen = int64(b.rng.IntN(8)*100) * 100
		default:
			s.OnDibao = b.chance(0.05)
		}
		birth, id, err := ids.assign(b.rng, b.now, age, male)
		if err != nil {
			return nil, err
		}
		s.BirthDate, s.IDNumber = birth, id
		out = append(out, s)
	}
	return out, nil
}

// address writes where the household lives: a group and number in a village, a
// flat in a community, or the institution of a centralised extreme-poverty
// person.
func (b *builder) address(k kind) string {
	place := b.tree.FullName(b.v.r.Code)
	for _, suffix := range []struct{ from, to string }{
		{"社区居民委员会", "社区"}, {"社区居委会", "社区"}, {"居民委员会", "社区"}, {"居委会", "社区"},
		{"村民委员会", "村"}, {"村委会", "村"},
	} {
		if strings.HasSuffix(place, suffix.from) {
			place = strings.TrimSuffix(place, suffix.from) + suffix.to
			break
		}
	}
	switch {
	case k == kindTekunCentralised && b.v.urban:
		return b.tree.FullName(b.v.r.Code[:6]) + "社会福利院"
	case k == kindTekunCentralised:
		return b.tree.FullName(b.v.r.Code[:9]) + "敬老院"
	case b.v.urban:
		return fmt.Sprintf("%s%d栋%d单元%d%02d室", place, 1+b.rng.IntN(30), 1+b.rng.IntN(4), 1+b.rng.IntN(18), 1+b.rng.IntN(4))
	}
	return fmt.Sprintf("%s%d组%d号", place, 1+b.rng.IntN(12), 1+b.rng.IntN(80))
}

// generate draws the county's households in order. ID and account numbers
// are numbered per county, which is what makes them unique.
func (c *county) generate(tree *region.Tree, opts Options, finances bool) ([]*Household, error) {
	rng := c.rng(opts.Seed)
	shapes := c.shapes(rng)
	ids := newIDAllocator(c.code)
	accounts := newAccountAllocator(c.code)
	b := &builder{rng: rng, tree: tree, now: opts.Now}
	fin := &financer{rng: c.financeRNG(opts.Seed), now: opts.Now}
	members := make([][]*Person, len(shapes))
	var dibao [2][]*Person
	for i, s := range shapes {
		b.v = s.village
		members[i] = b.household(s)
		for _, p := range members[i] {
			if p.Programmes&(DibaoRural|DibaoUrban) != 0 {
				t := typeOf(s.village)
				dibao[t] = append(dibao[t], p)
			}
		}
	}
	for t := range 2 {
		if len(c.villages[t]) > 0 {
			q := c.quotas(t)
			b.disabilities(dibao[t], q.living, q.severe)
		}
	}
	out := make([]*Household, len(shapes))
	seq := 0
	for i, s := range shapes {
		b.v = s.village
		if i == 0 || s.village.r.Code != shapes[i-1].village.r.Code {
			seq = 0
		}
		seq++
		h := &Household{No: fmt.Sprintf("%s%05d", s.village.r.Code, seq), Region: s.village.r.Code, Members: members[i]}
		h.Hukou = b.hukou(s.kind)
		h.Address = b.address(s.kind)
		for _, p := range h.Members {
			b.finish(p)
			birth, id, err := ids.assign(rng, opts.Now, p.age, p.Sex == "M")
			if err != nil {
				return nil, err
			}
			p.BirthDate, p.IDNumber = birth, id
			if h.Phone == "" {
				h.Phone = p.Phone
			}
		}
		var err error
		tekun := s.kind == kindTekunDispersed || s.kind == kindTekunCentralised
		if h.Supporters, err = b.supporters(h.Members, s.supporters, tekun, ids); err != nil {
			return nil, err
		}
		if s.kind != kindApplicant {
			// Payments go to the head: the recipient, or the guardian.
			if h.Members[0].Account, err = accounts.open(rng, h.Hukou == "urban"); err != nil {
				return nil, err
			}
		}
		if finances {
			fin.household(h, s.kind)
		}
		out[i] = h
	}
	return out, nil
}

func typeOf(v village) int {
	if v.urban {
		return urban
	}
	return rural
}

// hukou: recipients of urban and rural programmes hold that hukou; other
// households mostly match their village.
func (b *builder) hukou(k kind) string {
	urban := b.v.urban
	if k == kindCare || k == kindApplicant {
		if urban && b.chance(0.15) || !urban && b.chance(0.03) {
			urban = !urban
		}
	}
	if urban {
		return "urban"
	}
	return "rural"
}
