package gen

// Calibration at scale 1. Figures marked "report" come from the Jiangxi
// government's 2019 report (shared/jiangxi-report-2019.txt); the others are
// assumptions, chosen so the registry lands at about 1.5 M households and
// 4.1 M persons, and can be changed here alone.
//
// The report's "近300万困难群众" is a sum over programmes rather than distinct
// people: 1.6 M rural dibao + 0.3 M urban dibao + 0.22 M extreme poverty +
// 0.474 M + 0.392 M disability subsidies + 0.186 M temporary-assistance cases
// ≈ 3.2 M. The distinct recipients generated here are about 2.3 M, because the
// living subsidy only goes to dibao households and half the care subsidy does.
const (
	// report (二): 160万名农村低保对象.
	ruralDibaoPersons = 1_600_000
	// Assumption: the report gives no urban figure. JX-01 counts 886,100 urban
	// poor across three groups (dibao, extreme poverty, spending-poor), so
	// 0.3 M urban dibao recipients sits inside it.
	urbanDibaoPersons = 300_000
	// report (三): 为22万名特困人员.
	tekunPersons = 220_000
	// Assumption: share of extreme-poverty people in institutions (集中供养);
	// the report counts 1,496 institutions but not their residents.
	tekunCentralisedShare = 0.28
	// Assumption: urban extreme-poverty people are few.
	tekunUrbanShare = 0.06
	// report (五): 7818名孤儿.
	orphanPersons    = 7_818
	orphanUrbanShare = 0.30
	// report (五): 47.4万名困难残疾人 (living subsidy, dibao households only,
	// CJ-01) and 39.2万名重度残疾人 (care subsidy, level 1-2).
	disabilityLivingPersons = 474_000
	disabilityCarePersons   = 392_000
	// Assumption: share of level 1-2 among disabled dibao recipients; they get
	// both subsidies, the rest of the care subsidy goes to households not on
	// dibao.
	severeShareOfLiving = 0.42
	careUrbanShare      = 0.30
	// Assumption: households registered for an application that was refused
	// or is pending; nobody in them receives anything.
	applicantHouseholds  = 230_000
	applicantUrbanShare  = 0.35
	livingShareOfDibao   = float64(disabilityLivingPersons) / (ruralDibaoPersons + urbanDibaoPersons)
	careOnlyHouseholds   = disabilityCarePersons - severeShareOfLiving*disabilityLivingPersons
	retiredCodeKeptShare = 0.97
)

// cityWeight makes villages of poorer cities carry more recipients (an
// assumption: heavier in the former central-soviet counties of the south).
var cityWeight = map[string]float64{
	"3601": 0.75, "3602": 0.90, "3603": 0.85, "3604": 1.00, "3605": 0.80, "3606": 0.90,
	"3607": 1.35, "3608": 1.15, "3609": 1.00, "3610": 1.10, "3611": 1.15,
}

// retiredCodes maps a county to the address code it had before a change of
// status; ID numbers issued before the change keep the old code (ID-03). The
// month of each change is approximate.
var retiredCodes = map[string]struct {
	code  string
	until string // first birth date that gets the new code
}{
	"360704": {"360721", "2016-10-01"}, // 赣县 → 赣县区
	"361104": {"361121", "2019-06-01"}, // 上饶县 → 广信区
	"360783": {"360727", "2020-06-01"}, // 龙南县 → 龙南市
}

// Household sizes 1..6 per kind of household (assumptions: rural dibao
// households are larger than urban ones; the others are ordinary families).
var (
	ruralDibaoSizes = []float64{0.22, 0.27, 0.18, 0.15, 0.10, 0.08}
	urbanDibaoSizes = []float64{0.36, 0.27, 0.22, 0.10, 0.04, 0.01}
	careSizes       = []float64{0.08, 0.20, 0.24, 0.23, 0.16, 0.09}
	applicantSizes  = []float64{0.10, 0.16, 0.24, 0.24, 0.15, 0.11}
)
