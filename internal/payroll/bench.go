package payroll

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/bankcard"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Bench measures a province's monthly payroll: about 3 M entitlements at
// scale 1 spread over every village of Jiangxi, paid by county runs in keyset
// batches with their checkpoints (ours), against one INSERT … SELECT that
// computes the same lines in a single statement (the baseline, run in the
// same schema just before); and the rate of writing bank files. The last
// line is RESULT payroll ours=<s> baseline=<s> ratio=<ours/baseline>.
func Bench(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return errors.New("bench payroll: -db must be a postgres:// URL")
	}
	if scale <= 0 || scale > 2 {
		return errors.New("bench payroll: -scale must be above 0 and at most 2")
	}
	n := int(3_000_000 * scale)
	tree, err := region.Load()
	if err != nil {
		return err
	}
	sk, mk := make([]byte, 16), make([]byte, 32)
	rand.Read(sk)
	rand.Read(mk)
	keys, err := crypt.New(hex.EncodeToString(sk), hex.EncodeToString(mk))
	if err != nil {
		return err
	}
	url, drop, err := db.Scratch(ctx, dbURL, "bench_payroll")
	if err != nil {
		return err
	}
	defer drop()
	d, err := db.Open(ctx, url)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		return err
	}
	if _, err := tree.Store(ctx, d); err != nil {
		return err
	}
	start := time.Now()
	if err := benchFixture(ctx, d, tree, keys, n); err != nil {
		return err
	}
	fmt.Fprintf(w, "fixture: %d entitlements (persons, households, encrypted bank accounts, cases) in %.1f s\n", n, time.Since(start).Seconds())

	// warm the cache for both sides alike
	var cnt, fen int64
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*), SUM(e.amount_fen) FROM (`+EntitlementsSQL("'2026-03'", "SUBSTR(c.region_code, 1, 6)", "")+`) e`).Scan(&cnt, &fen); err != nil {
		return fmt.Errorf("bench payroll: warm-up: %w", err)
	}
	if os.Getenv("JIUZHU_BENCH_EXPLAIN") != "" {
		rows, err := d.QueryContext(ctx, `EXPLAIN ANALYZE SELECT * FROM (`+EntitlementsSQL("'2026-03'", "SUBSTR(c.region_code, 1, 6)", "")+`) e`)
		if err == nil {
			for rows.Next() {
				var l string
				rows.Scan(&l)
				fmt.Fprintln(w, l)
			}
			rows.Close()
		}
	}
	// baseline: the same lines in one statement
	if _, err := d.ExecContext(ctx, `CREATE TABLE payment_lines_base (LIKE payment_lines INCLUDING DEFAULTS INCLUDING INDEXES)`); err != nil {
		return err
	}
	start = time.Now()
	if _, err := d.ExecContext(ctx, `INSERT INTO payment_lines_base (id, run_id, month, region_code, person_id, household_id, case_id, programme, kind, slot, amount_fen, bank_account_id, status)
		SELECT ROW_NUMBER() OVER (), 0, '2026-03', e.region_code, e.person_id, e.household_id, e.case_id, e.programme, e.kind, e.slot, e.amount_fen, e.bank_account_id,
			CASE WHEN e.bank_account_id IS NULL THEN 'no_account' ELSE 'pending' END
		FROM (`+EntitlementsSQL("'2026-03'", "SUBSTR(c.region_code, 1, 6)", "")+`) e`); err != nil {
		return fmt.Errorf("bench payroll: baseline: %w", err)
	}
	base := time.Since(start)
	var bn, bfen int64
	d.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payment_lines_base`).Scan(&bn, &bfen)
	fmt.Fprintf(w, "baseline (one INSERT … SELECT): %d lines, %.2f yuan in %.2f s = %.0f lines/s\n", bn, float64(bfen)/100, base.Seconds(), float64(bn)/base.Seconds())

	// ours: one run per county, keyset batches, checkpoint in each batch's transaction
	rows, err := d.QueryContext(ctx, `SELECT DISTINCT SUBSTR(region_code, 1, 6) FROM cases ORDER BY 1`)
	if err != nil {
		return err
	}
	var counties []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		counties = append(counties, region.Pad(c))
	}
	rows.Close()
	svc := &Service{DB: d, Tree: tree, Keys: keys}
	start = time.Now()
	var runs []*Run
	for i, c := range counties {
		u := &auth.User{ID: int64(i + 1), Username: "bench", Role: auth.CountyApprover, Region: c}
		r, err := svc.Start(ctx, u, "2026-03", c)
		if err != nil {
			return fmt.Errorf("bench payroll: run %s: %w", c, err)
		}
		runs = append(runs, r)
	}
	ours := time.Since(start)
	var on, ofen int64
	d.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payment_lines`).Scan(&on, &ofen)
	fmt.Fprintf(w, "ours (%d county runs, batches of %d with checkpoints): %d lines, %.2f yuan in %.2f s = %.0f lines/s\n",
		len(runs), svc.batchSize(), on, float64(ofen)/100, ours.Seconds(), float64(on)/ours.Seconds())
	if on != bn || ofen != bfen || on != cnt {
		return fmt.Errorf("bench payroll: ours %d lines %d fen, baseline %d lines %d fen, entitlements %d", on, ofen, bn, bfen, cnt)
	}
	ratio := ours.Seconds() / base.Seconds()
	fmt.Fprintf(w, "payroll ratio ours/baseline: %.2f (target ≤ 1.5)\n", ratio)

	// bank files: approve and prepare every run, then time writing them all
	if _, err := d.ExecContext(ctx, `UPDATE payroll_runs SET state = 'approved'`); err != nil {
		return err
	}
	start = time.Now()
	var files []BankFile
	for _, r := range runs {
		u := &auth.User{ID: 1, Username: "bench", Role: auth.CountyApprover, Region: r.County}
		fs, err := svc.PrepareBankFiles(ctx, u, r.ID)
		if err != nil {
			return err
		}
		files = append(files, fs...)
	}
	prep := time.Since(start)
	if _, err := d.ExecContext(ctx, `ANALYZE payment_lines`); err != nil {
		return err
	}
	start = time.Now()
	var lines int64
	var bytes countWriter
	for _, f := range files {
		u := &auth.User{ID: 1, Username: "bench", Role: auth.CountyApprover, Region: "360000000000"}
		if _, err := svc.WriteBankFile(ctx, u, f.ID, &bytes); err != nil {
			return err
		}
		lines += f.Lines
	}
	write := time.Since(start)
	fmt.Fprintf(w, "bank files: %d files (one per bank and county); prepare (check accounts, hash) %.2f s\n", len(files), prep.Seconds())
	fmt.Fprintf(w, "bank files written from the database (query, SM4 decrypt, format, GBK/UTF-8): %d lines, %d MB in %.2f s = %.0f lines/s\n",
		lines, bytes.n>>20, write.Seconds(), float64(lines)/write.Seconds())
	// formatting alone, lines already in memory with their sealed accounts
	sample, err := benchLines(ctx, d, min(n, 500_000))
	if err != nil {
		return err
	}
	for _, bank := range []string{"JXRCB", "PSBC", "CCB"} {
		l, _ := svc.LayoutOf(ctx, bank)
		var cw countWriter
		start = time.Now()
		if _, _, _, err := svc.writeLines(&cw, &l, "2026-03", "360124000000", func(yield func(fileLine) error) error {
			for _, fl := range sample {
				if err := yield(fl); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		el := time.Since(start)
		fmt.Fprintf(w, "bank file formatting, %s layout (%s, %s), %d lines in memory (decrypt + format): %.0f lines/s (target ≥ 1,000,000)\n",
			bank, l.Format, l.Encoding, len(sample), float64(len(sample))/el.Seconds())
	}
	fmt.Fprintf(w, "RESULT payroll ours=%.3f baseline=%.3f ratio=%.2f\n", ours.Seconds(), base.Seconds(), ratio)
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func benchLines(ctx context.Context, d *db.DB, n int) ([]fileLine, error) {
	rows, err := d.QueryContext(ctx, `SELECT l.id, b.account_enc, p.name, l.amount_fen, l.programme, l.region_code FROM payment_lines l
		JOIN bank_accounts b ON b.id = l.bank_account_id JOIN persons p ON p.id = l.person_id ORDER BY l.id LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fileLine
	for rows.Next() {
		var fl fileLine
		if err := rows.Scan(&fl.id, &fl.accEnc, &fl.name, &fl.net, &fl.programme, &fl.region); err != nil {
			return nil, err
		}
		out = append(out, fl)
	}
	return out, rows.Err()
}

// benchFixture writes n beneficiaries over the province's villages: a
// household and a person each (in SQL), an encrypted bank account (sealed in
// Go, loaded with COPY) and an approved case with the programme mix of the
// 2019 report; a few percent stopped, changed, one-off or without account.
func benchFixture(ctx context.Context, d *db.DB, tree *region.Tree, keys *crypt.Keys, n int) error {
	var villages []string
	for _, c := range tree.Children(tree.Root.Code) {
		villages = append(villages, regionCodes(tree.Villages(c.Code))...)
	}
	if _, err := d.ExecContext(ctx, `CREATE TABLE bench_villages (n INTEGER PRIMARY KEY, code TEXT NOT NULL)`); err != nil {
		return err
	}
	i := 0
	if _, err := d.CopyFrom(ctx, "bench_villages", []string{"n", "code"}, func() ([]any, bool, error) {
		if i == len(villages) {
			return nil, false, nil
		}
		i++
		return []any{i - 1, villages[i-1]}, true, nil
	}); err != nil {
		return err
	}
	nv := len(villages)
	steps := []string{
		fmt.Sprintf(`INSERT INTO households (id, hh_no, region_code, hukou, address, created_at, updated_at)
			SELECT g, 'BH' || g, v.code, CASE WHEN g %% 3 = 0 THEN 'urban' ELSE 'rural' END, '', now(), now()
			FROM generate_series(1, %d) g JOIN bench_villages v ON v.n = g %% %d`, n, nv),
		fmt.Sprintf(`INSERT INTO persons (id, household_id, region_code, id_hmac, id_enc, id_masked, name, sex, birth_date, relation, created_at, updated_at)
			SELECT g, g, h.region_code, md5(g::text), '', '3601**********' || lpad((g %% 10000)::text, 4, '0'),
				(ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周'])[1 + g %% 10] || (ARRAY['建华','秀英','桂兰','国强','丽','伟','芳','敏','静','军'])[1 + (g / 10) %% 10],
				CASE WHEN g %% 2 = 0 THEN 'M' ELSE 'F' END, '1960-01-01', 'head', now(), now()
			FROM generate_series(1, %d) g JOIN households h ON h.id = g`, n),
	}
	for _, q := range steps {
		if _, err := d.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("bench payroll: fixture: %w", err)
		}
	}
	// bank accounts: 98% of beneficiaries, numbers with a Luhn digit, sealed
	banks := []struct{ code, name, prefix string }{{"JXRCB", "江西农商银行", "622361"}, {"PSBC", "中国邮政储蓄银行", "621799"},
		{"CCB", "中国建设银行", "621700"}, {"ABC", "中国农业银行", "622848"}}
	rng := mrand.New(mrand.NewPCG(1, 2))
	now := time.Now().UTC()
	p := 0
	if _, err := d.CopyFrom(ctx, "bank_accounts", []string{"person_id", "bank_code", "bank_name", "account_enc", "account_masked", "active", "created_at"},
		func() ([]any, bool, error) {
			for {
				p++
				if p > n {
					return nil, false, nil
				}
				if p%50 != 7 {
					break
				}
			}
			b := banks[rng.IntN(len(banks))]
			body := fmt.Sprintf("%s%012d", b.prefix, p)
			acct := body + string(bankcard.CheckDigit(body))
			return []any{p, b.code, b.name, keys.Seal(acct), acct[:6] + "*********" + acct[15:], true, now}, true, nil
		}); err != nil {
		return err
	}
	// cases: the mix of programmes; 2% stopped in a gradual exit, 1% one-off
	// grants with a township advance, 1% with an amount change taking effect
	if _, err := d.ExecContext(ctx, fmt.Sprintf(`INSERT INTO cases (id, case_no, programme, rule_version, kind, household_id, applicant_id, region_code, channel, state,
			accepted_on, amount_fen, advance_fen, decision, decided_on, pay_from, stop_from, created_at, updated_at)
		SELECT g, 'BC' || g, pr.p, '2021', CASE WHEN pr.p = 'temporary' THEN 'emergency' ELSE '' END, g, g, h.region_code, 'door',
			CASE WHEN g %% 50 = 3 THEN 'closed' ELSE 'approved' END, '2025-06-01',
			pr.amt + (g %% 7) * 1000, CASE WHEN pr.p = 'temporary' THEN 20000 ELSE 0 END, 'approved', '2025-06-20',
			CASE WHEN pr.p = 'temporary' THEN '2026-03' ELSE '2025-07' END,
			CASE WHEN g %% 50 = 3 THEN CASE WHEN g %% 100 = 3 THEN '2026-05' ELSE '2026-02' END ELSE '' END, now(), now()
		FROM generate_series(1, %d) g JOIN households h ON h.id = g
		JOIN (VALUES (0, 'dibao', 45000), (1, 'dibao', 45000), (2, 'dibao', 45000), (3, 'dibao', 45000), (4, 'dibao', 45000),
			(5, 'tekun', 90000), (6, 'disability_living', 9000), (7, 'disability_care', 9000), (8, 'disability_living', 9000), (9, 'orphan', 150000),
			(10, 'dibao', 60000), (11, 'temporary', 150000)) AS pr(k, p, amt)
			ON pr.k = CASE WHEN g %% 100 = 11 THEN 11 ELSE g %% 11 END`, n)); err != nil {
		return fmt.Errorf("bench payroll: cases: %w", err)
	}
	if _, err := d.ExecContext(ctx, fmt.Sprintf(`INSERT INTO entitlement_changes (case_id, effective_from, amount_before, amount_after, source, source_ref, decided_on, created_at)
		SELECT id, '2026-04', amount_fen - 3000, amount_fen, 'review', 'BR' || id, '2026-03-10', now() FROM cases WHERE id %% 100 = 41 AND id <= %d`, n)); err != nil {
		return err
	}
	for _, t := range []string{"households", "persons", "bank_accounts", "cases", "entitlement_changes"} {
		if _, err := d.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), (SELECT COALESCE(MAX(id), 1) FROM `+t+`))`); err != nil {
			return err
		}
	}
	_, err := d.ExecContext(ctx, `ANALYZE`)
	return err
}

func regionCodes(rs []*region.Region) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}
