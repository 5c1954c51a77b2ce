package integrity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/casework"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Ref links evidence to a household or a case.
type Ref struct {
	ID    int64  `json:"id"`
	Label string `json:"label"`
}

// Evidence is what an entry shows: plain Chinese lines and the households and
// cases they speak about.
type Evidence struct {
	Lines      []string `json:"lines"`
	Households []Ref    `json:"households,omitempty"`
	Cases      []Ref    `json:"cases,omitempty"`
}

// Found is one anomaly as a list computes it.
type Found struct {
	List      string
	Key       string
	Region    string
	Household int64
	Case      int64
	Person    int64
	AmountFen int64
	Evidence  Evidence
}

// RunSummary counts what one run found per list, with the time each took.
type RunSummary struct {
	ID      int64               `json:"id"`
	Scope   string              `json:"scope"`
	Lists   map[string]int      `json:"lists"`
	Seconds map[string]float64  `json:"seconds"`
	Found   map[string][]string `json:"-"` // keys per list, for the benchmark's ground-truth check
	Stored  int                 `json:"stored"`
	Gone    int                 `json:"gone"`
}

type lister func(ctx context.Context, scope string, r Rules) ([]Found, error)

// listers in display order.
func (s *Service) listers() []struct {
	names []string
	fn    lister
} {
	return []struct {
		names []string
		fn    lister
	}{
		{[]string{ListSharedAccount}, s.sharedAccounts},
		{[]string{ListRelative}, s.relatives},
		{[]string{ListAfterDeath}, s.afterDeath},
		{[]string{ListAfterStop}, s.afterStop},
		{[]string{ListVerifyIgnored}, s.verifyIgnored},
		{[]string{ListNoVisit}, s.noVisit},
		{[]string{ListSameHand}, s.sameHand},
		{[]string{ListFast}, s.fastApprovals},
		{[]string{ListMany}, s.manyApprovals},
		{[]string{ListTemporary}, s.temporaryRepeats},
	}
}

// Run computes every list for the region scope (a region code; "" is the
// province) and stores the entries. username names who ran it.
func (s *Service) Run(ctx context.Context, scope, username string) (*RunSummary, error) {
	if scope == "" {
		scope = s.Tree.Root.Code
	}
	prefix := region.ScopePrefix(scope)
	r := s.rules()
	if _, err := s.BackfillAccountHashes(ctx); err != nil {
		return nil, err
	}
	if err := s.refreshWorkdays(ctx); err != nil {
		return nil, err
	}
	sum := &RunSummary{Scope: region.Pad(prefix), Lists: map[string]int{}, Seconds: map[string]float64{}, Found: map[string][]string{}}
	if err := s.DB.QueryRowContext(ctx, `INSERT INTO integrity_runs (scope, username, started_at) VALUES ($1,$2,$3) RETURNING id`,
		sum.Scope, username, s.now()).Scan(&sum.ID); err != nil {
		return nil, fmt.Errorf("integrity: start run: %w", err)
	}
	for _, l := range s.listers() {
		t0 := time.Now()
		found, err := l.fn(ctx, prefix, r)
		if err != nil {
			return nil, fmt.Errorf("integrity: list %s: %w", l.names[0], err)
		}
		stored, gone, err := s.store(ctx, prefix, l.names[0], found)
		if err != nil {
			return nil, fmt.Errorf("integrity: store %s: %w", l.names[0], err)
		}
		sum.Stored += stored
		sum.Gone += gone
		sum.Lists[l.names[0]] = len(found)
		sum.Seconds[l.names[0]] = time.Since(t0).Seconds()
		for _, f := range found {
			sum.Found[l.names[0]] = append(sum.Found[l.names[0]], f.Key)
		}
	}
	b, _ := json.Marshal(map[string]any{"lists": sum.Lists, "stored": sum.Stored, "gone": sum.Gone})
	if _, err := s.DB.ExecContext(ctx, `UPDATE integrity_runs SET finished_at = $1, summary = $2 WHERE id = $3`, s.now(), string(b), sum.ID); err != nil {
		return nil, err
	}
	if s.Log != nil {
		s.Log.Info("integrity run", "scope", sum.Scope, "entries", sum.Stored, "no_longer_found", sum.Gone)
	}
	return sum, nil
}

// store upserts a list's entries by key and marks the entries of that list in
// scope it did not find again as no longer present. Decisions are never touched.
func (s *Service) store(ctx context.Context, prefix, list string, found []Found) (int, int, error) {
	now := s.now()
	var gone int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE integrity_entries SET present = FALSE WHERE list = $1 AND region_code LIKE $2 || '%' AND present`, list, prefix)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO integrity_entries (list, entry_key, region_code, county_code, household_id, case_id, person_id, amount_fen, evidence, present, first_seen, last_seen)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,TRUE,$10,$10)
			ON CONFLICT (entry_key) DO UPDATE SET region_code = excluded.region_code, county_code = excluded.county_code, household_id = excluded.household_id,
				case_id = excluded.case_id, person_id = excluded.person_id, amount_fen = excluded.amount_fen, evidence = excluded.evidence, present = TRUE, last_seen = excluded.last_seen`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, f := range found {
			ev, _ := json.Marshal(f.Evidence)
			reg := region.Pad(f.Region)
			if _, err := stmt.ExecContext(ctx, list, f.Key, reg, region.Pad(reg[:6]), nullID(f.Household), nullID(f.Case), nullID(f.Person), f.AmountFen, string(ev), now); err != nil {
				return err
			}
		}
		var still int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM integrity_entries WHERE list = $1 AND region_code LIKE $2 || '%' AND NOT present`, list, prefix).Scan(&still); err != nil {
			return err
		}
		_ = res
		gone = still
		return nil
	})
	return len(found), int(gone), err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// fromMonth is the first month examined (YYYY-MM) and fromDay its first day.
func (s *Service) fromMonth(r Rules) string {
	t := s.today()
	return time.Date(t.Year(), t.Month()-time.Month(r.LookbackMonths), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
}

// paidStatuses are lines that were or will be paid out.
const paidStatuses = `('pending', 'sent', 'paid', 'paid_by_hand')`

// 1. One bank account paid for several households that are not related. Two
// households are related when a member of one is a registered supporter (赡养、
// 抚养、扶养义务人) of the other: an elderly parent's separate household paid into
// a child's account is allowed. The entry's person is the holder in the
// household whose account row is the newest (the one that "joined" the
// account); its amount is what that household received into the account.
func (s *Service) sharedAccounts(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	// one pass over the lines: every household paid into an account that
	// paid more than one household, with what it received
	type part struct {
		hh, bid, pid, amount, n int64
		no, reg, masked, bank   string
	}
	parts := map[string][]part{}
	var accts []string
	err := db.Each(ctx, s.DB, `WITH paid AS (
			SELECT b.account_hmac AS acct, l.household_id AS hh, b.id AS bid, b.person_id AS pid, b.account_masked AS masked, b.bank_name AS bank,
				SUM(l.amount_fen - l.offset_fen) AS amount, COUNT(*) AS n
			FROM payment_lines l JOIN bank_accounts b ON b.id = l.bank_account_id
			WHERE l.month >= $2 AND l.region_code LIKE $1 || '%' AND b.account_hmac <> '' AND l.status IN `+paidStatuses+`
			GROUP BY b.account_hmac, l.household_id, b.id, b.person_id, b.account_masked, b.bank_name),
		shared AS (SELECT acct FROM paid GROUP BY acct HAVING COUNT(DISTINCT hh) > 1)
		SELECT p.acct, p.hh, h.hh_no, h.region_code, p.bid, p.pid, p.masked, p.bank, p.amount, p.n
		FROM paid p JOIN households h ON h.id = p.hh WHERE p.acct IN (SELECT acct FROM shared) ORDER BY p.acct, p.hh, p.bid`,
		[]any{prefix, s.fromMonth(r)}, func(scan func(...any) error) error {
			var acct string
			var x part
			if err := scan(&acct, &x.hh, &x.no, &x.reg, &x.bid, &x.pid, &x.masked, &x.bank, &x.amount, &x.n); err != nil {
				return err
			}
			if parts[acct] == nil {
				accts = append(accts, acct)
			}
			parts[acct] = append(parts[acct], x)
			return nil
		})
	if err != nil || len(accts) == 0 {
		return nil, err
	}
	var hhs []int64
	for _, ps := range parts {
		for _, x := range ps {
			hhs = append(hhs, x.hh)
		}
	}
	related, err := s.supportLinks(ctx, hhs)
	if err != nil {
		return nil, err
	}
	var out []Found
	for _, acct := range accts {
		// households of the account that are not all tied to each other by
		// a registered duty of support
		flagged := map[int64]bool{}
		ps := parts[acct]
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				a, b := ps[i].hh, ps[j].hh
				if a != b && !related[[2]int64{a, b}] && !related[[2]int64{b, a}] {
					flagged[a], flagged[b] = true, true
				}
			}
		}
		if len(flagged) == 0 {
			continue
		}
		f := Found{List: ListSharedAccount, Key: "account:" + acct}
		var total, newest int64
		var masked, bank string
		for _, x := range ps {
			if !flagged[x.hh] {
				continue
			}
			masked, bank = x.masked, x.bank
			total += x.amount
			f.Evidence.Households = append(f.Evidence.Households, Ref{x.hh, x.no})
			f.Evidence.Lines = append(f.Evidence.Lines, fmt.Sprintf("户 %s（%s）：%d 笔，%.2f 元", x.no, s.Tree.FullName(x.reg), x.n, float64(x.amount)/100))
			if x.bid > newest {
				newest, f.Household, f.Person, f.Region, f.AmountFen = x.bid, x.hh, x.pid, x.reg, x.amount
			}
		}
		f.Evidence.Lines = append([]string{fmt.Sprintf("账户 %s（%s）自 %s 起为 %d 户无赡养扶养关系的家庭领取救助金，合计 %.2f 元",
			masked, bank, s.fromMonth(r), len(flagged), float64(total)/100)}, f.Evidence.Lines...)
		out = append(out, f)
	}
	return out, nil
}

// supportLinks finds, among the given households, the pairs (a, b) where
// household a registered a member of household b as a supporter.
func (s *Service) supportLinks(ctx context.Context, hhs []int64) (map[[2]int64]bool, error) {
	slices.Sort(hhs)
	hhs = slices.Compact(hhs)
	links := map[[2]int64]bool{}
	for chunk := range slices.Chunk(hhs, 500) {
		marks := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			marks[i], args[i] = "$"+strconv.Itoa(i+1), id
		}
		err := db.Each(ctx, s.DB, `SELECT s.household_id, q.household_id FROM supporters s JOIN persons q ON q.id_hmac = s.id_hmac
			WHERE s.active AND s.id_hmac <> '' AND q.household_id IS NOT NULL AND s.household_id IN (`+strings.Join(marks, ",")+`)`, args, func(scan func(...any) error) error {
			var a, b int64
			if err := scan(&a, &b); err != nil {
				return err
			}
			links[[2]int64{a, b}] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return links, nil
}

// 2. Current recipients whose household has a registered close relative of
// staff or cadres (DB-09), with who investigated, gave the township opinion
// and approved, and whether the county made its own visit.
func (s *Service) relatives(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	err := db.Each(ctx, s.DB, `SELECT c.id, c.case_no, c.programme, c.household_id, h.hh_no, c.region_code, p.id, p.name, sr.id, sr.staff_name, sr.staff_post, sr.relation,
			COALESCE((SELECT MAX(e.username) FROM case_events e WHERE e.case_id = c.id AND e.action = 'home_visit'), ''),
			COALESCE((SELECT MAX(e.username) FROM case_events e WHERE e.case_id = c.id AND e.action = 'township_opinion'), ''),
			COALESCE((SELECT MAX(e.username) FROM case_events e WHERE e.case_id = c.id AND e.action = 'decide'), ''),
			(SELECT COUNT(*) FROM case_events e WHERE e.case_id = c.id AND e.action = 'county_visit'),
			COALESCE((SELECT SUM(l.amount_fen - l.offset_fen) FROM payment_lines l WHERE l.case_id = c.id AND l.month >= $2 AND l.status IN `+paidStatuses+`), 0)
		FROM staff_relatives sr
		JOIN persons p ON p.id_hmac = sr.relative_hmac
		JOIN cases c ON c.household_id = p.household_id AND c.decision = 'approved' AND c.purpose = 'application' AND c.state = 'approved'
		JOIN households h ON h.id = c.household_id
		WHERE c.region_code LIKE $1 || '%' ORDER BY c.id, sr.id`, []any{prefix, s.fromMonth(r)}, func(scan func(...any) error) error {
		var f Found
		var caseNo, prog, hhNo, name, staff, post, rel, visit, opinion, decide string
		var srID, countyVisits int64
		if err := scan(&f.Case, &caseNo, &prog, &f.Household, &hhNo, &f.Region, &f.Person, &name, &srID, &staff, &post, &rel, &visit, &opinion, &decide, &countyVisits, &f.AmountFen); err != nil {
			return err
		}
		f.List, f.Key = ListRelative, fmt.Sprintf("relative:%d:%d", f.Case, srID)
		cv := "无县级入户核查记录"
		if countyVisits > 0 {
			cv = "已有县级入户核查记录"
		}
		f.Evidence = Evidence{Lines: []string{
			fmt.Sprintf("%s 是 %s（%s）的%s，享受%s（案件 %s）", casework.MaskName(name), staff, post, rel, casework.ProgrammeLabel(prog), caseNo),
			fmt.Sprintf("入户调查：%s；乡镇审核：%s；审批：%s；%s", orDash(visit), orDash(opinion), orDash(decide), cv),
			fmt.Sprintf("自 %s 起已发放 %.2f 元", s.fromMonth(r), float64(f.AmountFen)/100),
		}, Households: []Ref{{f.Household, hhNo}}, Cases: []Ref{{f.Case, caseNo}}}
		out = append(out, f)
		return nil
	})
	return out, err
}

func orDash(s string) string {
	if s == "" {
		return "（无记录）"
	}
	return s
}

// 3a. Payments to a beneficiary in a month after the month of their recorded
// death (a death reported as a change, else the day they were removed from
// the household as deceased). The month of death itself is paid in full.
func (s *Service) afterDeath(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	err := db.Each(ctx, s.DB, `WITH dead AS (
			SELECT p.id AS person_id, p.name AS name, COALESCE(
				(SELECT MIN(cr.changed_on) FROM change_reports cr WHERE cr.person_id = p.id AND cr.kind = 'death'),
				(SELECT MIN(SUBSTR(CAST(rh.at AS TEXT), 1, 10)) FROM registry_history rh WHERE rh.person_id = p.id AND rh.op = 'member.remove')) AS died_on
			FROM persons p WHERE p.status = 'deceased' AND p.region_code LIKE $1 || '%')
		SELECT d.person_id, d.name, d.died_on, l.case_id, c.case_no, l.household_id, h.hh_no, MAX(l.region_code), COUNT(*), SUM(l.amount_fen - l.offset_fen), MIN(l.month), MAX(l.month)
		FROM dead d JOIN payment_lines l ON l.person_id = d.person_id
		JOIN cases c ON c.id = l.case_id JOIN households h ON h.id = l.household_id
		WHERE d.died_on IS NOT NULL AND l.month > SUBSTR(d.died_on, 1, 7) AND l.status IN `+paidStatuses+`
		GROUP BY d.person_id, d.name, d.died_on, l.case_id, c.case_no, l.household_id, h.hh_no ORDER BY d.person_id, l.case_id`,
		[]any{prefix}, func(scan func(...any) error) error {
			var f Found
			var name, died, caseNo, hhNo, first, last string
			var n int64
			if err := scan(&f.Person, &name, &died, &f.Case, &caseNo, &f.Household, &hhNo, &f.Region, &n, &f.AmountFen, &first, &last); err != nil {
				return err
			}
			f.List, f.Key = ListAfterDeath, fmt.Sprintf("death:%d:%d", f.Person, f.Case)
			f.Evidence = Evidence{Lines: []string{
				fmt.Sprintf("%s 于 %s 死亡，%s 至 %s 仍发放 %d 笔，合计 %.2f 元（案件 %s）", casework.MaskName(name), died[:min(10, len(died))], first, last, n, float64(f.AmountFen)/100, caseNo),
			}, Households: []Ref{{f.Household, hhNo}}, Cases: []Ref{{f.Case, caseNo}}}
			out = append(out, f)
			return nil
		})
	return out, err
}

// 3b. Regular payments of an entitlement in or after the month its stop
// decision takes effect (stop_from); a gradual exit pays until then.
func (s *Service) afterStop(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	err := db.Each(ctx, s.DB, `SELECT c.id, c.case_no, c.household_id, h.hh_no, c.region_code, c.applicant_id, c.stop_from, COUNT(*), SUM(l.amount_fen - l.offset_fen), MIN(l.month), MAX(l.month)
		FROM cases c JOIN payment_lines l ON l.case_id = c.id AND l.kind = 'regular' AND l.month >= c.stop_from AND l.status IN `+paidStatuses+`
		JOIN households h ON h.id = c.household_id
		WHERE c.stop_from <> '' AND c.state = 'closed' AND c.region_code LIKE $1 || '%'
		GROUP BY c.id, c.case_no, c.household_id, h.hh_no, c.region_code, c.applicant_id, c.stop_from ORDER BY c.id`,
		[]any{prefix}, func(scan func(...any) error) error {
			var f Found
			var caseNo, hhNo, stop, first, last string
			var n int64
			if err := scan(&f.Case, &caseNo, &f.Household, &hhNo, &f.Region, &f.Person, &stop, &n, &f.AmountFen, &first, &last); err != nil {
				return err
			}
			f.List, f.Key = ListAfterStop, fmt.Sprintf("stop:%d", f.Case)
			f.Evidence = Evidence{Lines: []string{
				fmt.Sprintf("案件 %s 自 %s 起停发，%s 至 %s 仍发放 %d 笔，合计 %.2f 元", caseNo, stop, first, last, n, float64(f.AmountFen)/100),
			}, Households: []Ref{{f.Household, hhNo}}, Cases: []Ref{{f.Case, caseNo}}}
			out = append(out, f)
			return nil
		})
	return out, err
}

// overdueBefore is the instant before which a task created is overdue today:
// the start (China time) of the earliest day from which today is no more
// than wd working days away.
func (s *Service) overdueBefore(wd int) (time.Time, error) {
	today := s.today()
	d := today
	for {
		prev := d.AddDate(0, 0, -1)
		n, err := s.Calendar.WorkingDaysBetween(prev, today)
		if err != nil {
			return time.Time{}, fmt.Errorf("integrity: verification deadline: %w", err)
		}
		if n > wd {
			break
		}
		d = prev
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.FixedZone("CST", 8*3600)).UTC(), nil
}

// 4. Verification hits (batch re-check tasks) still open after VerifyWD
// working days.
func (s *Service) verifyIgnored(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	cutoff, err := s.overdueBefore(r.VerifyWD)
	if err != nil {
		return nil, err
	}
	var out []Found
	err = db.Each(ctx, s.DB, `SELECT t.id, t.household_id, h.hh_no, t.region_code, COALESCE(t.case_id, 0), COALESCE(c.case_no, ''), COALESCE(c.applicant_id, 0), t.kind, t.sources, t.created_at
		FROM verify_tasks t JOIN households h ON h.id = t.household_id LEFT JOIN cases c ON c.id = t.case_id
		WHERE t.status = 'open' AND t.created_at < $2 AND t.region_code LIKE $1 || '%' ORDER BY t.id`,
		[]any{prefix, cutoff}, func(scan func(...any) error) error {
			var f Found
			var id int64
			var hhNo, caseNo, kind, sources string
			var created time.Time
			if err := scan(&id, &f.Household, &hhNo, &f.Region, &f.Case, &caseNo, &f.Person, &kind, &sources, &created); err != nil {
				return err
			}
			f.List, f.Key = ListVerifyIgnored, fmt.Sprintf("verify:%d", id)
			f.Evidence = Evidence{Lines: []string{
				fmt.Sprintf("核对任务 %d（%s，来源：%s）于 %s 生成，超过 %d 个工作日仍未办理", id, kind, sources, created.In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly), r.VerifyWD),
			}, Households: []Ref{{f.Household, hhNo}}}
			if f.Case != 0 {
				f.Evidence.Cases = []Ref{{f.Case, caseNo}}
			}
			out = append(out, f)
			return nil
		})
	return out, err
}

// visitProgrammes are the applications whose procedure has a home visit.
const visitProgrammes = `(c.programme IN ('dibao', 'tekun') OR (c.programme = 'temporary' AND c.kind <> 'emergency'))`

// decided: applications approved through the procedure in the system. Stock
// entitlements imported without their file (only a "seed" event) are not
// judged: there is nothing to judge them by.
const decided = `cases c JOIN case_events d ON d.case_id = c.id AND d.action = 'decide' AND d.to_state = 'approved'
	JOIN households h ON h.id = c.household_id
	WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.region_code LIKE $1 || '%' AND c.decided_on >= $2`

// 5a. Approved without a home visit (neither the township's nor the county's).
func (s *Service) noVisit(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	err := db.Each(ctx, s.DB, `SELECT c.id, c.case_no, c.programme, c.household_id, h.hh_no, c.region_code, c.applicant_id, c.decided_on, d.username
		FROM `+decided+` AND `+visitProgrammes+`
			AND NOT EXISTS (SELECT 1 FROM case_events v WHERE v.case_id = c.id AND v.action IN ('home_visit', 'county_visit'))
		ORDER BY c.id`, []any{prefix, s.fromMonth(r) + "-01"}, func(scan func(...any) error) error {
		var f Found
		var caseNo, prog, hhNo, on, by string
		if err := scan(&f.Case, &caseNo, &prog, &f.Household, &hhNo, &f.Region, &f.Person, &on, &by); err != nil {
			return err
		}
		f.List, f.Key = ListNoVisit, fmt.Sprintf("novisit:%d", f.Case)
		f.Evidence = Evidence{Lines: []string{fmt.Sprintf("%s 案件 %s 于 %s 由 %s 批准，案卷中没有入户调查记录", casework.ProgrammeLabel(prog), caseNo, on, by)},
			Households: []Ref{{f.Household, hhNo}}, Cases: []Ref{{f.Case, caseNo}}}
		out = append(out, f)
		return nil
	})
	return out, err
}

// 5b. The user who recorded the home visit also gave the township opinion or
// the approval of the same case.
func (s *Service) sameHand(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	err := db.Each(ctx, s.DB, `SELECT c.id, c.case_no, c.programme, c.household_id, h.hh_no, c.region_code, c.applicant_id, v.username, MIN(o.action), MAX(o.action)
		FROM cases c JOIN households h ON h.id = c.household_id
		JOIN case_events v ON v.case_id = c.id AND v.action = 'home_visit'
		JOIN case_events o ON o.case_id = c.id AND o.action IN ('township_opinion', 'decide') AND o.username = v.username
		WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.region_code LIKE $1 || '%' AND c.decided_on >= $2
		GROUP BY c.id, c.case_no, c.programme, c.household_id, h.hh_no, c.region_code, c.applicant_id, v.username ORDER BY c.id`,
		[]any{prefix, s.fromMonth(r) + "-01"}, func(scan func(...any) error) error {
			var f Found
			var caseNo, prog, hhNo, user, a1, a2 string
			if err := scan(&f.Case, &caseNo, &prog, &f.Household, &hhNo, &f.Region, &f.Person, &user, &a1, &a2); err != nil {
				return err
			}
			f.List, f.Key = ListSameHand, fmt.Sprintf("samehand:%d", f.Case)
			what := casework.ActionLabel(a1)
			if a2 != a1 {
				what += "和" + casework.ActionLabel(a2)
			}
			f.Evidence = Evidence{Lines: []string{fmt.Sprintf("%s 案件 %s：入户调查与%s均由 %s 办理", casework.ProgrammeLabel(prog), caseNo, what, user)},
				Households: []Ref{{f.Household, hhNo}}, Cases: []Ref{{f.Case, caseNo}}}
			out = append(out, f)
			return nil
		})
	return out, err
}

// 6a. Approved in fewer than FastWD working days from acceptance.
func (s *Service) fastApprovals(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	// the working-day ordinals join in as two lookups of the calendar table
	q := `SELECT c.id, c.case_no, c.programme, c.household_id, h.hh_no, c.region_code, c.applicant_id, c.accepted_on, c.decided_on, wd.n - wa.n, d.username
		FROM cases c JOIN case_events d ON d.case_id = c.id AND d.action = 'decide' AND d.to_state = 'approved'
		JOIN households h ON h.id = c.household_id
		JOIN integrity_workdays wa ON wa.day = c.accepted_on
		JOIN integrity_workdays wd ON wd.day = c.decided_on
		WHERE c.decision = 'approved' AND c.purpose = 'application' AND c.region_code LIKE $1 || '%' AND c.decided_on >= $2
			AND ` + visitProgrammes + ` AND wd.n - wa.n < $3 ORDER BY c.id`
	err := db.Each(ctx, s.DB, q, []any{prefix, s.fromMonth(r) + "-01", r.FastWD}, func(scan func(...any) error) error {
		var f Found
		var caseNo, prog, hhNo, acc, dec, by string
		var wd int
		if err := scan(&f.Case, &caseNo, &prog, &f.Household, &hhNo, &f.Region, &f.Person, &acc, &dec, &wd, &by); err != nil {
			return err
		}
		f.List, f.Key = ListFast, fmt.Sprintf("fast:%d", f.Case)
		f.Evidence = Evidence{Lines: []string{fmt.Sprintf("%s 案件 %s %s 受理，%s 由 %s 批准，仅用 %d 个工作日（含7天公示的程序通常不少于 %d 个工作日）",
			casework.ProgrammeLabel(prog), caseNo, acc, dec, by, wd, r.FastWD)},
			Households: []Ref{{f.Household, hhNo}}, Cases: []Ref{{f.Case, caseNo}}}
		out = append(out, f)
		return nil
	})
	return out, err
}

// 6b. Unusually many approvals by one user in a month: compared with the
// other deciding users of the same city in that month (leave-one-out mean m
// and standard deviation σ), x > m + 3σ, x ≥ 2m, x ≥ ManyMin, with at least
// ManyPeers others. In integers, with n' others summing S' with squares Q':
// (x·n' − S')² > 9·(n'·Q' − S'²) and x·n' > 2·S'.
func (s *Service) manyApprovals(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	err := db.Each(ctx, s.DB, `WITH per AS (
			SELECT SUBSTR(c.region_code, 1, 4) AS city, d.username AS username, SUBSTR(d.on_date, 1, 7) AS month, COUNT(*) AS x, MIN(SUBSTR(c.region_code, 1, 6)) AS county
			FROM case_events d JOIN cases c ON c.id = d.case_id
			WHERE d.action = 'decide' AND d.to_state = 'approved' AND d.on_date >= $2
			GROUP BY SUBSTR(c.region_code, 1, 4), d.username, SUBSTR(d.on_date, 1, 7)),
		grp AS (SELECT city, month, COUNT(*) AS n, SUM(x) AS s, SUM(x * x) AS q FROM per GROUP BY city, month)
		SELECT p.username, p.month, p.county, p.x, g.n - 1, g.s - p.x
		FROM per p JOIN grp g ON g.city = p.city AND g.month = p.month
		WHERE p.county LIKE SUBSTR($1, 1, 6) || '%' AND (LENGTH($1) <= 6 OR p.county = $1)
			AND g.n - 1 >= $3 AND p.x >= $4 AND p.x * (g.n - 1) >= 2 * (g.s - p.x)
			AND (p.x * (g.n - 1) - (g.s - p.x)) * (p.x * (g.n - 1) - (g.s - p.x)) > 9 * ((g.n - 1) * (g.q - p.x * p.x) - (g.s - p.x) * (g.s - p.x))
		ORDER BY p.county, p.username, p.month`,
		[]any{prefix, s.fromMonth(r) + "-01", r.ManyPeers, r.ManyMin}, func(scan func(...any) error) error {
			var f Found
			var user, month, county string
			var x, n, others int64
			if err := scan(&user, &month, &county, &x, &n, &others); err != nil {
				return err
			}
			f.List, f.Key, f.Region = ListMany, "many:"+user+":"+month, region.Pad(county)
			f.Evidence = Evidence{Lines: []string{fmt.Sprintf("%s 在 %s 批准 %d 件；同市其他 %d 名审批人员当月平均 %.1f 件", user, month, x, n, float64(others)/float64(n))}}
			out = append(out, f)
			return nil
		})
	return out, err
}

// 7. More than TemporaryPerYear temporary-assistance grants of one type to
// one person in a calendar year. The amount is what exceeds the first grant.
func (s *Service) temporaryRepeats(ctx context.Context, prefix string, r Rules) ([]Found, error) {
	var out []Found
	year := strconv.Itoa(s.today().Year() - r.LookbackMonths/12)
	err := db.Each(ctx, s.DB, `SELECT c.applicant_id, p.name, SUBSTR(c.decided_on, 1, 4), c.kind, COUNT(*), SUM(c.amount_fen), MIN(c.household_id), MAX(c.region_code), MAX(c.id)
		FROM cases c JOIN persons p ON p.id = c.applicant_id
		WHERE c.programme = 'temporary' AND c.decision = 'approved' AND c.purpose = 'application' AND c.region_code LIKE $1 || '%' AND c.decided_on >= $2
		GROUP BY c.applicant_id, p.name, SUBSTR(c.decided_on, 1, 4), c.kind HAVING COUNT(*) > $3 ORDER BY c.applicant_id`,
		[]any{prefix, year + "-01-01", r.TemporaryPerYear}, func(scan func(...any) error) error {
			var f Found
			var name, yr, kind string
			var n, total, lastCase int64
			if err := scan(&f.Person, &name, &yr, &kind, &n, &total, &f.Household, &f.Region, &lastCase); err != nil {
				return err
			}
			f.List, f.Key, f.Case, f.AmountFen = ListTemporary, fmt.Sprintf("temporary:%d:%s:%s", f.Person, yr, kind), lastCase, total
			kl := map[string]string{"emergency": "急难型", "expenditure": "支出型"}[kind]
			f.Evidence = Evidence{Lines: []string{fmt.Sprintf("%s %s 年获%s临时救助 %d 次，合计 %.2f 元（每人每年同类救助以 %d 次为限）", casework.MaskName(name), yr, kl, n, float64(total)/100, r.TemporaryPerYear)}}
			out = append(out, f)
			return nil
		})
	if err != nil {
		return nil, err
	}
	// link every grant of each entry; what exceeds the first grant is the amount
	for i := range out {
		f := &out[i]
		parts := strings.Split(f.Key, ":")
		err := db.Each(ctx, s.DB, `SELECT c.id, c.case_no, c.household_id, h.hh_no, c.amount_fen FROM cases c JOIN households h ON h.id = c.household_id
			WHERE c.applicant_id = $1 AND c.programme = 'temporary' AND c.decision = 'approved' AND c.purpose = 'application' AND SUBSTR(c.decided_on, 1, 4) = $2 AND c.kind = $3 ORDER BY c.id`,
			[]any{f.Person, parts[2], parts[3]}, func(scan func(...any) error) error {
				var id, hh, amount int64
				var no, hhNo string
				if err := scan(&id, &no, &hh, &hhNo, &amount); err != nil {
					return err
				}
				if len(f.Evidence.Cases) == 0 {
					f.AmountFen -= amount
				}
				f.Evidence.Cases = append(f.Evidence.Cases, Ref{id, no})
				if len(f.Evidence.Households) == 0 || f.Evidence.Households[len(f.Evidence.Households)-1].ID != hh {
					f.Evidence.Households = append(f.Evidence.Households, Ref{hh, hhNo})
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// refreshWorkdays rewrites the working-day ordinals when the calendar's years
// changed (a new year's arrangement was entered).
func (s *Service) refreshWorkdays(ctx context.Context) error {
	years := s.Calendar.Years()
	if len(years) == 0 {
		return nil
	}
	first := time.Date(years[0], 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(years[len(years)-1], 12, 31, 0, 0, 0, 0, time.UTC)
	var n int
	var lo, hi sql.NullString
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), MIN(day), MAX(day) FROM integrity_workdays`).Scan(&n, &lo, &hi); err != nil {
		return fmt.Errorf("integrity: workdays: %w", err)
	}
	want := int(last.Sub(first).Hours()/24) + 1
	if n == want && lo.String == first.Format(time.DateOnly) && hi.String == last.Format(time.DateOnly) {
		return nil
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM integrity_workdays`); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO integrity_workdays (day, n) VALUES ($1, $2)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		ord := 0
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			ok, err := s.Calendar.IsWorkingDay(d)
			if err != nil {
				// a gap between loaded years: those days cannot be counted
				continue
			}
			if ok {
				ord++
			}
			if _, err := stmt.ExecContext(ctx, d.Format(time.DateOnly), ord); err != nil {
				return err
			}
		}
		return nil
	})
}

// backfillBatch is how many accounts one backfill transaction hashes.
const backfillBatch = 500

// BackfillAccountHashes computes account_hmac for the bank accounts created
// before migration 0019 added it (their hash is empty), the way registry hashes a
// new account: the shared-account list matches on the hash, so without this
// it would miss every older account. Run calls it first; it is batched,
// idempotent and, once done, one index probe. An account whose sealed number
// does not open is logged by id and left for the next run.
func (s *Service) BackfillAccountHashes(ctx context.Context) (int, error) {
	var last int64
	done, failed := 0, 0
	for {
		type acct struct {
			id  int64
			enc string
		}
		var batch []acct
		err := db.Each(ctx, s.DB, `SELECT id, account_enc FROM bank_accounts WHERE account_hmac = '' AND id > $1 ORDER BY id LIMIT `+strconv.Itoa(backfillBatch),
			[]any{last}, func(scan func(...any) error) error {
				var a acct
				err := scan(&a.id, &a.enc)
				batch = append(batch, a)
				return err
			})
		if err != nil {
			return done, fmt.Errorf("integrity: accounts to hash: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		last = batch[len(batch)-1].id
		err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx, `UPDATE bank_accounts SET account_hmac = $1 WHERE id = $2 AND account_hmac = ''`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, a := range batch {
				number, err := s.Keys.Open(a.enc)
				if err != nil || number == "" {
					failed++
					if s.Log != nil {
						s.Log.Warn("integrity: bank account number does not open; not hashed", "bank_account", a.id)
					}
					continue
				}
				if _, err := stmt.ExecContext(ctx, s.Keys.Hash(number), a.id); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("integrity: hash bank accounts: %w", err)
		}
	}
	if done > 0 && s.Log != nil {
		s.Log.Info("integrity: hashed older bank accounts", "accounts", done, "failed", failed)
	}
	return done, nil
}
