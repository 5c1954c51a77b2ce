package integrity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Truth is what Plant planted: the keys every list must find (per list), and
// the decoys (a description each) that no list may flag.
type Truth struct {
	Expected map[string][]string `json:"expected"`
	Decoys   []string            `json:"decoys"`
}

// Count is the number of expected entries.
func (t *Truth) Count() int {
	n := 0
	for _, ks := range t.Expected {
		n += len(ks)
	}
	return n
}

// Plant writes one anomaly of every kind, with decoys that look alike but
// break no rule, into households of its own in the county's villages, dated
// relative to now with cal's working days. It is the ground truth of the
// tests, the benchmark, `jiuzhu integrity plant` and the demo. seed varies
// the people; tag (short, unique per call on one database) names them.
//
// It writes approved cases, payroll runs and paid payment lines like real
// ones, so it belongs on synthetic databases only; one audit entry
// (integrity.plant) records what it wrote, also when it stops part-way.
func Plant(ctx context.Context, d *db.DB, keys *crypt.Keys, tree *region.Tree, cal *calendar.Calendar, county string, now time.Time, seed uint64, tag string) (*Truth, error) {
	villages := tree.Villages(county)
	if len(villages) == 0 {
		return nil, fmt.Errorf("integrity: plant: no villages under %s", county)
	}
	p := &planter{d: d, keys: keys, cal: cal, now: now.UTC(), rng: rand.New(rand.NewPCG(seed, 7)), villages: villages, tag: tag,
		truth: &Truth{Expected: map[string][]string{}}, runs: map[string]int64{}, counts: map[string]int{}}
	p.today = calendar.Day(now.In(calendar.China))
	err := p.all(ctx)
	detail := map[string]any{"tag": tag, "seed": seed, "rows": p.counts, "expected": p.truth.Count(), "decoys": len(p.truth.Decoys), "complete": err == nil}
	// a cancelled context must not keep the partial plant from being audited
	if aerr := audit.Record(context.WithoutCancel(ctx), d, audit.Actor{Username: "plant", Role: "system", Region: region.Pad(county)}, "integrity.plant", "region",
		region.Pad(county), region.Pad(county), detail); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return nil, fmt.Errorf("integrity: plant: %w", err)
	}
	return p.truth, nil
}

type planter struct {
	d        *db.DB
	keys     *crypt.Keys
	cal      *calendar.Calendar
	now      time.Time
	today    time.Time
	rng      *rand.Rand
	villages []*region.Region
	tag      string
	n        int
	truth    *Truth
	runs     map[string]int64
	counts   map[string]int // rows written per table, for the audit entry
}

func (p *planter) expect(list, key string) {
	p.truth.Expected[list] = append(p.truth.Expected[list], key)
}
func (p *planter) decoy(what string) { p.truth.Decoys = append(p.truth.Decoys, what) }

// month is the month k months before today, YYYY-MM.
func (p *planter) month(k int) string {
	return time.Date(p.today.Year(), p.today.Month()-time.Month(k), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
}

// workday is a working day in month k months back, and the date wd working
// days after it.
func (p *planter) workday(k, day int) time.Time {
	d := time.Date(p.today.Year(), p.today.Month()-time.Month(k), day, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		if ok, err := p.cal.IsWorkingDay(d); err == nil && ok {
			return d
		}
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func (p *planter) after(d time.Time, wd int) time.Time {
	t, err := p.cal.AddWorkingDays(d, wd)
	if err != nil {
		return d.AddDate(0, 0, wd*7/5+1)
	}
	return t
}

type hh struct {
	id      int64
	no      string
	region  string
	persons []int64
	hashes  []string
}

var names = []string{"赵", "钱", "孙", "李", "周", "吴", "郑", "王", "冯", "陈", "褚", "卫", "蒋", "沈", "韩", "杨"}
var given = []string{"建国", "秀英", "桂兰", "志强", "玉梅", "国华", "春生", "冬梅", "海波", "小红", "德明", "淑珍"}

// household registers a household of size members in a random village.
func (p *planter) household(ctx context.Context, size int) (*hh, error) {
	v := p.villages[p.rng.IntN(len(p.villages))]
	p.n++
	h := &hh{no: fmt.Sprintf("PL%s%s%04d", p.tag, v.Code[:9], p.n), region: v.Code}
	if err := p.d.QueryRowContext(ctx, `INSERT INTO households (hh_no, region_code, hukou, address, status, version, created_at, updated_at)
		VALUES ($1,$2,'rural',$3,'active',1,$4,$4) RETURNING id`, h.no, v.Code, v.Name+"（演示线索）", p.now).Scan(&h.id); err != nil {
		return nil, err
	}
	p.counts["households"]++
	for i := 0; i < size; i++ {
		rel := "head"
		if i > 0 {
			rel = "spouse"
		}
		for try := 0; ; try++ {
			birth := time.Date(1940+p.rng.IntN(50), time.Month(1+p.rng.IntN(12)), 1+p.rng.IntN(28), 0, 0, 0, 0, time.UTC)
			male := p.rng.IntN(2) == 0
			num := idcard.Build(v.Code[:6], birth, p.rng.IntN(1000), male)
			hash := p.keys.Hash(num)
			var exists int
			if err := p.d.QueryRowContext(ctx, `SELECT COUNT(*) FROM persons WHERE id_hmac = $1`, hash).Scan(&exists); err != nil {
				return nil, err
			}
			if exists > 0 && try < 20 {
				continue
			}
			sex := "F"
			if male {
				sex = "M"
			}
			name := names[p.rng.IntN(len(names))] + given[p.rng.IntN(len(given))]
			var id int64
			if err := p.d.QueryRowContext(ctx, `INSERT INTO persons (household_id, region_code, id_hmac, id_enc, id_masked, name, sex, birth_date, relation, status, version, created_at, updated_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'active',1,$10,$10) RETURNING id`, h.id, v.Code, hash, p.keys.Seal(num), idcard.Mask(num), name, sex,
				birth.Format(time.DateOnly), rel, p.now).Scan(&id); err != nil {
				return nil, err
			}
			p.counts["persons"]++
			h.persons = append(h.persons, id)
			h.hashes = append(h.hashes, hash)
			break
		}
	}
	return h, nil
}

// account gives a person an account with the number; returns its row id.
func (p *planter) account(ctx context.Context, person int64, number string) (int64, error) {
	var id int64
	err := p.d.QueryRowContext(ctx, `INSERT INTO bank_accounts (person_id, bank_code, bank_name, account_enc, account_hmac, account_masked, active, created_at)
		VALUES ($1,'JXRCB','江西农商银行',$2,$3,$4,TRUE,$5) RETURNING id`, person, p.keys.Seal(number), p.keys.Hash(number), idcard.Mask(number), p.now).Scan(&id)
	if err == nil {
		p.counts["bank_accounts"]++
	}
	return id, err
}

func (p *planter) accountNumber() string {
	return "6231" + strconv.FormatUint(1e14+p.rng.Uint64N(9e14), 10)
}

type plantCase struct {
	programme, kind, state, decision string
	accepted, decided                time.Time
	amount                           int64
	stopFrom                         string
}

func (p *planter) openCase(ctx context.Context, h *hh, person int64, c plantCase) (int64, error) {
	p.n++
	dec := ""
	if !c.decided.IsZero() {
		dec = c.decided.Format(time.DateOnly)
	}
	payFrom := ""
	if dec != "" {
		payFrom = c.decided.Format("2006-01")
	}
	var id int64
	err := p.d.QueryRowContext(ctx, `INSERT INTO cases (case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state, accepted_on,
			amount_fen, decision, decided_on, pay_from, stop_from, version, created_at, updated_at)
		VALUES ($1,$2,'2021',$3,$4,$5,$6,'door',$7,$8,$9,$10,$11,$12,$13,1,$14,$14) RETURNING id`,
		fmt.Sprintf("PL%s-%s-%05d", p.tag, h.region[:9], p.n), c.programme, c.kind, h.id, person, h.region, c.state, c.accepted.Format(time.DateOnly),
		c.amount, c.decision, dec, payFrom, c.stopFrom, p.now).Scan(&id)
	if err == nil {
		p.counts["cases"]++
	}
	return id, err
}

func (p *planter) event(ctx context.Context, caseID int64, action, user string, on time.Time, to string) error {
	_, err := p.d.ExecContext(ctx, `INSERT INTO case_events (case_id, at, on_date, username, role, action, from_state, to_state, late, reason, data)
		VALUES ($1,$2,$3,$4,'',$5,'',$6,FALSE,'','{}')`, caseID, p.now, on.Format(time.DateOnly), user, action, to)
	if err == nil {
		p.counts["case_events"]++
	}
	return err
}

// procedure records a complete, clean procedure: visit, opinion, approval by
// three different users, the approval wd working days after acceptance.
func (p *planter) procedure(ctx context.Context, h *hh, programme, kind string, k, wd int, amount int64) (int64, time.Time, error) {
	acc := p.workday(k, 3)
	dec := p.after(acc, wd)
	id, err := p.openCase(ctx, h, h.persons[0], plantCase{programme: programme, kind: kind, state: "approved", decision: "approved", accepted: acc, decided: dec, amount: amount})
	if err != nil {
		return 0, dec, err
	}
	for _, e := range []struct {
		action, user string
		on           time.Time
		to           string
	}{{"home_visit", "plant.visit", p.after(acc, 2), "visited"}, {"township_opinion", "plant.reviewer", p.after(acc, 4), "notice"}, {"decide", "plant.approver", dec, "approved"}} {
		if err := p.event(ctx, id, e.action, e.user, e.on, e.to); err != nil {
			return 0, dec, err
		}
	}
	return id, dec, nil
}

// run is the county's payroll run of a month (created approved if missing).
func (p *planter) run(ctx context.Context, county, month string) (int64, error) {
	if id, ok := p.runs[county+month]; ok {
		return id, nil
	}
	var id int64
	err := p.d.QueryRowContext(ctx, `SELECT id FROM payroll_runs WHERE month = $1 AND county_code = $2`, month, county).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = p.d.QueryRowContext(ctx, `INSERT INTO payroll_runs (month, county_code, state, made_by, started_at) VALUES ($1,$2,'approved','plant',$3) RETURNING id`,
			month, county, p.now).Scan(&id)
		if err == nil {
			p.counts["payroll_runs"]++
		}
	}
	if err != nil {
		return 0, err
	}
	p.runs[county+month] = id
	return id, nil
}

func (p *planter) line(ctx context.Context, h *hh, person, caseID int64, programme, month string, amount int64, account int64) error {
	county := region.Pad(h.region[:6])
	run, err := p.run(ctx, county, month)
	if err != nil {
		return err
	}
	kind, slot := "regular", int64(0)
	if programme == "temporary" {
		kind, slot = "oneoff", caseID
	}
	var acc any
	if account != 0 {
		acc = account
	}
	_, err = p.d.ExecContext(ctx, `INSERT INTO payment_lines (run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot, amount_fen, bank_account_id, status)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'paid')`, run, month, h.region, person, h.id, caseID, programme, kind, slot, amount, acc)
	if err == nil {
		p.counts["payment_lines"]++
	}
	return err
}

// recipient is a household with a clean approved dibao case paid for the
// given months (k months back each) into the account number (new if "").
func (p *planter) recipient(ctx context.Context, size int, number string, months ...int) (*hh, int64, int64, error) {
	h, err := p.household(ctx, size)
	if err != nil {
		return nil, 0, 0, err
	}
	caseID, _, err := p.procedure(ctx, h, "dibao", "", 9, 12, 82000)
	if err != nil {
		return nil, 0, 0, err
	}
	if number == "" {
		number = p.accountNumber()
	}
	acc, err := p.account(ctx, h.persons[0], number)
	if err != nil {
		return nil, 0, 0, err
	}
	for _, k := range months {
		if err := p.line(ctx, h, h.persons[0], caseID, "dibao", p.month(k), 82000, acc); err != nil {
			return nil, 0, 0, err
		}
	}
	return h, caseID, acc, nil
}

func (p *planter) all(ctx context.Context) error {
	// 1. one account, two unrelated households
	shared := p.accountNumber()
	if _, _, _, err := p.recipient(ctx, 2, shared, 2, 1); err != nil {
		return err
	}
	if _, _, _, err := p.recipient(ctx, 1, shared, 2, 1); err != nil {
		return err
	}
	p.expect(ListSharedAccount, "account:"+p.keys.Hash(shared))
	// decoy: a parent's household paid into the account of a son, its registered supporter
	family := p.accountNumber()
	parent, _, _, err := p.recipient(ctx, 1, family, 1)
	if err != nil {
		return err
	}
	son, _, _, err := p.recipient(ctx, 2, family, 1)
	if err != nil {
		return err
	}
	if _, err := p.d.ExecContext(ctx, `INSERT INTO supporters (household_id, name, id_hmac, relation, birth_date, active, created_at) VALUES ($1,'赡养人',$2,'child/support','1970-01-01',TRUE,$3)`,
		parent.id, son.hashes[0], p.now); err != nil {
		return err
	}
	p.decoy("一个账户领取父亲（另立户）与登记为其赡养人的儿子家庭的救助金")

	// 2. a registered relative of a cadre on dibao; decoy: a relative refused
	rel, relCase, _, err := p.recipient(ctx, 2, "", 1)
	if err != nil {
		return err
	}
	var srID int64
	if err := p.d.QueryRowContext(ctx, `INSERT INTO staff_relatives (region_code, relative_hmac, relative_name, staff_name, staff_post, relation, registered_at, registered_by)
		VALUES ($1,$2,'近亲属','村干部甲','村委会主任','配偶',$3,'plant') RETURNING id`, rel.region, rel.hashes[1], p.now).Scan(&srID); err != nil {
		return err
	}
	p.expect(ListRelative, fmt.Sprintf("relative:%d:%d", relCase, srID))
	ref, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	if _, err := p.openCase(ctx, ref, ref.persons[0], plantCase{programme: "dibao", state: "closed", decision: "refused", accepted: p.workday(3, 3), decided: p.workday(2, 3)}); err != nil {
		return err
	}
	if _, err := p.d.ExecContext(ctx, `INSERT INTO staff_relatives (region_code, relative_hmac, relative_name, staff_name, staff_post, relation, registered_at, registered_by)
		VALUES ($1,$2,'近亲属','乡镇干部乙','民政所经办','子女',$3,'plant')`, ref.region, ref.hashes[0], p.now); err != nil {
		return err
	}
	p.decoy("已登记的干部近亲属申请被拒绝（未享受救助）")

	// 3a. paid after death; decoy: paid only in the month of death
	dead, deadCase, acc, err := p.recipient(ctx, 1, "", 3, 2)
	if err != nil {
		return err
	}
	if err := p.line(ctx, dead, dead.persons[0], deadCase, "dibao", p.month(1), 82000, acc); err != nil {
		return err
	}
	if err := p.died(ctx, dead, deadCase, p.month(2)+"-15"); err != nil {
		return err
	}
	p.expect(ListAfterDeath, fmt.Sprintf("death:%d:%d", dead.persons[0], deadCase))
	dead2, deadCase2, _, err := p.recipient(ctx, 1, "", 3, 2)
	if err != nil {
		return err
	}
	if err := p.died(ctx, dead2, deadCase2, p.month(2)+"-20"); err != nil {
		return err
	}
	p.decoy("死亡当月仍发放当月救助金")

	// 3b. paid in the month a stop took effect; decoy: paid only before it
	stop, stopCase, _, err := p.recipient(ctx, 1, "", 2, 1)
	if err != nil {
		return err
	}
	if _, err := p.d.ExecContext(ctx, `UPDATE cases SET state = 'closed', stop_from = $1 WHERE id = $2`, p.month(1), stopCase); err != nil {
		return err
	}
	p.expect(ListAfterStop, fmt.Sprintf("stop:%d", stopCase))
	_ = stop
	_, stopCase2, _, err := p.recipient(ctx, 1, "", 2)
	if err != nil {
		return err
	}
	if _, err := p.d.ExecContext(ctx, `UPDATE cases SET state = 'closed', stop_from = $1 WHERE id = $2`, p.month(1), stopCase2); err != nil {
		return err
	}
	p.decoy("渐退期内停发前一个月的发放")

	// 4. verification hits: one open for 20 WD; decoys open 1 WD, closed late
	var batch int64
	if err := p.d.QueryRowContext(ctx, `INSERT INTO verify_batches (sources, extracts, status, scope, started_by, started_at) VALUES ('bank','[]','done',$1,'plant',$2) RETURNING id`,
		region.Pad(p.villages[0].Code[:6]), p.now).Scan(&batch); err != nil {
		return err
	}
	for i, tc := range []struct {
		wd     int
		status string
	}{{20, "open"}, {1, "open"}, {20, "closed"}} {
		h, c, _, err := p.recipient(ctx, 1, "", 1)
		if err != nil {
			return err
		}
		created := p.today
		for j := 0; j < tc.wd; j++ {
			created = created.AddDate(0, 0, -1)
			for {
				ok, err := p.cal.IsWorkingDay(created)
				if err != nil || ok {
					break
				}
				created = created.AddDate(0, 0, -1)
			}
		}
		at := time.Date(created.Year(), created.Month(), created.Day(), 10, 0, 0, 0, calendar.China).UTC()
		var id int64
		if err := p.d.QueryRowContext(ctx, `INSERT INTO verify_tasks (batch_id, household_id, region_code, county_code, case_id, kind, sources, evidence_enc, status, created_at)
			VALUES ($1,$2,$3,$4,$5,'deposits','bank',$6,$7,$8) RETURNING id`, batch, h.id, h.region, region.Pad(h.region[:6]), c, p.keys.Seal("{}"), tc.status, at).Scan(&id); err != nil {
			return err
		}
		if i == 0 {
			p.expect(ListVerifyIgnored, fmt.Sprintf("verify:%d", id))
		}
	}
	p.decoy("核对任务生成仅1个工作日尚未办理")
	p.decoy("逾期但已办结的核对任务")

	// 5a. approved without a home visit; decoy: emergency aid (assist first)
	nv, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	acc5 := p.workday(4, 3)
	nvCase, err := p.openCase(ctx, nv, nv.persons[0], plantCase{programme: "dibao", state: "approved", decision: "approved", accepted: acc5, decided: p.after(acc5, 15), amount: 60000})
	if err != nil {
		return err
	}
	if err := p.event(ctx, nvCase, "township_opinion", "plant.reviewer", p.after(acc5, 8), "notice"); err != nil {
		return err
	}
	if err := p.event(ctx, nvCase, "decide", "plant.approver", p.after(acc5, 15), "approved"); err != nil {
		return err
	}
	p.expect(ListNoVisit, fmt.Sprintf("novisit:%d", nvCase))
	em, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	emCase, err := p.openCase(ctx, em, em.persons[0], plantCase{programme: "temporary", kind: "emergency", state: "approved", decision: "approved", accepted: acc5, decided: acc5, amount: 200000})
	if err != nil {
		return err
	}
	if err := p.event(ctx, emCase, "decide", "plant.reviewer", acc5, "approved"); err != nil {
		return err
	}
	p.decoy("急难型临时救助先行救助，未入户即批准")

	// 5b. the visitor also gave the township opinion; decoy: every clean procedure above
	sh, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	shCase, err := p.openCase(ctx, sh, sh.persons[0], plantCase{programme: "dibao", state: "approved", decision: "approved", accepted: acc5, decided: p.after(acc5, 15), amount: 60000})
	if err != nil {
		return err
	}
	for _, e := range []struct{ a, u, to string }{{"home_visit", "plant.samehand", "visited"}, {"township_opinion", "plant.samehand", "notice"}, {"decide", "plant.approver", "approved"}} {
		if err := p.event(ctx, shCase, e.a, e.u, p.after(acc5, 10), e.to); err != nil {
			return err
		}
	}
	p.expect(ListSameHand, fmt.Sprintf("samehand:%d", shCase))
	p.decoy("调查、审核、审批分别由不同人员办理")

	// 6a. approved 2 WD after acceptance; decoy: exactly FastWD
	fast, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	fastCase, _, err := p.procedure(ctx, fast, "dibao", "", 5, 2, 60000)
	if err != nil {
		return err
	}
	p.expect(ListFast, fmt.Sprintf("fast:%d", fastCase))
	edge, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	if _, _, err := p.procedure(ctx, edge, "dibao", "", 5, DefaultRules.FastWD, 60000); err != nil {
		return err
	}
	p.decoy(fmt.Sprintf("恰好 %d 个工作日批准", DefaultRules.FastWD))

	// 6b. in one month: six approvers with 5 each, a steady one with 9, a busy one with 40
	// (disability subsidies: no home visit or notice in their procedure)
	busyMonth := 6
	users := []struct {
		name string
		n    int
	}{{"plant.a1", 5}, {"plant.a2", 5}, {"plant.a3", 4}, {"plant.a4", 6}, {"plant.a5", 5}, {"plant.a6", 5}, {"plant.steady", 9}, {"plant.busy", 40}}
	for _, u := range users {
		for i := 0; i < u.n; i++ {
			h, err := p.household(ctx, 1)
			if err != nil {
				return err
			}
			acc := p.workday(busyMonth, 2)
			dec := p.after(acc, 5+i%5)
			c, err := p.openCase(ctx, h, h.persons[0], plantCase{programme: "disability_living", state: "approved", decision: "approved", accepted: acc, decided: dec, amount: 9000})
			if err != nil {
				return err
			}
			if err := p.event(ctx, c, "decide", u.name+p.tag, dec, "approved"); err != nil {
				return err
			}
		}
	}
	// the decisions fall in the month of the sixth working day after the second working day
	bm := p.after(p.workday(busyMonth, 2), 5).Format("2006-01")
	p.expect(ListMany, "many:plant.busy"+p.tag+":"+bm)
	p.decoy("同月审批9件（高于平均但不到两倍）")

	// 7. two emergency grants to one person in a year; decoy: one of each type
	rep, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	// both in one month, so always in one calendar year
	d1, d2 := p.workday(2, 5), p.workday(2, 20)
	for _, acc := range []time.Time{d1, d2} {
		c, err := p.openCase(ctx, rep, rep.persons[0], plantCase{programme: "temporary", kind: "emergency", state: "approved", decision: "approved", accepted: acc, decided: acc, amount: 150000})
		if err != nil {
			return err
		}
		if err := p.event(ctx, c, "decide", "plant.reviewer", acc, "approved"); err != nil {
			return err
		}
	}
	p.expect(ListTemporary, fmt.Sprintf("temporary:%d:%d:emergency", rep.persons[0], d1.Year()))
	two, err := p.household(ctx, 1)
	if err != nil {
		return err
	}
	acc7 := p.workday(2, 5)
	c7, err := p.openCase(ctx, two, two.persons[0], plantCase{programme: "temporary", kind: "emergency", state: "approved", decision: "approved", accepted: acc7, decided: acc7, amount: 150000})
	if err != nil {
		return err
	}
	if err := p.event(ctx, c7, "decide", "plant.reviewer", acc7, "approved"); err != nil {
		return err
	}
	if _, _, err := p.procedure(ctx, two, "temporary", "expenditure", 2, 12, 300000); err != nil {
		return err
	}
	p.decoy("同一人同年急难型、支出型临时救助各一次")
	return nil
}

// died records a member's death as a reported change and takes them out of
// the household, as registry and casework do.
func (p *planter) died(ctx context.Context, h *hh, caseID int64, on string) error {
	if _, err := p.d.ExecContext(ctx, `INSERT INTO change_reports (case_id, household_id, region_code, person_id, kind, reported_by, changed_on, reported_on, details, username, created_at)
		VALUES ($1,$2,$3,$4,'death','village',$5,$5,'死亡','plant',$6)`, caseID, h.id, h.region, h.persons[0], on, p.now); err != nil {
		return err
	}
	_, err := p.d.ExecContext(ctx, `UPDATE persons SET status = 'deceased', household_id = NULL WHERE id = $1`, h.persons[0])
	return err
}
