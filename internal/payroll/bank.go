package payroll

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
)

// BankFile is one bank's file of one run (so one per bank and county).
type BankFile struct {
	ID        int64     `json:"id"`
	RunID     int64     `json:"run_id"`
	Bank      string    `json:"bank"`
	FileName  string    `json:"file_name"`
	Lines     int64     `json:"lines"`
	TotalFen  int64     `json:"total_fen"`
	SHA256    string    `json:"sha256"`
	State     string    `json:"state"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// fileLine is a line as the bank sees it.
type fileLine struct {
	id        int64
	bank      string
	accEnc    string
	name      string
	net       int64
	programme string
	region    string
}

// writeLines formats lines in the layout into w and returns the ids of lines
// whose account fails the layout's check (left out of the file). Decryption
// and formatting run on every core in chunks; the chunks are written in order.
func (s *Service) writeLines(w io.Writer, l *Layout, month, county string, lines func(func(fileLine) error) error) (n, total int64, invalid []int64, err error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	if l.Header && l.Format == "csv" {
		var buf []byte
		for i, f := range l.Fields {
			buf = l.appendField(buf, f, []byte(f.Name), i == 0)
		}
		bw.Write(append(buf, '\r', '\n'))
	}
	type chunk struct {
		lines   []fileLine
		out     []byte
		invalid []int64
		n, tot  int64
		err     error
		done    chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	queue := make(chan *chunk, workers*2)
	work := make(chan *chunk, workers*2)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			f := lineFormatter{s: s, l: l, enc: encoder{gbk: l.Encoding == "gbk"}, month: []byte(month), county: []byte(county), progs: map[string][]byte{}}
			for c := range work {
				c.out, c.invalid, c.n, c.tot, c.err = f.format(c.lines, c.out[:0])
				close(c.done)
			}
		})
	}
	// the writer: chunks in the order they were cut
	werr := make(chan error, 1)
	go func() {
		var err error
		for c := range queue {
			<-c.done
			if err == nil {
				err = c.err
			}
			if err == nil {
				_, err = bw.Write(c.out)
				n += c.n
				total += c.tot
				invalid = append(invalid, c.invalid...)
			}
		}
		werr <- err
	}()
	const size = 2048
	cur := &chunk{done: make(chan struct{})}
	send := func() {
		queue <- cur
		work <- cur
		cur = &chunk{done: make(chan struct{}), lines: make([]fileLine, 0, size)}
	}
	err = lines(func(fl fileLine) error {
		cur.lines = append(cur.lines, fl)
		if len(cur.lines) == size {
			send()
		}
		return nil
	})
	if len(cur.lines) > 0 {
		send()
	}
	close(work)
	close(queue)
	wg.Wait()
	if e := <-werr; err == nil {
		err = e
	}
	if err == nil {
		err = bw.Flush()
	}
	return n, total, invalid, err
}

// lineFormatter turns lines into the bytes of a layout; one per worker.
type lineFormatter struct {
	s             *Service
	l             *Layout
	enc           encoder
	month, county []byte
	progs         map[string][]byte
}

func (f *lineFormatter) format(lines []fileLine, buf []byte) ([]byte, []int64, int64, int64, error) {
	var invalid []int64
	var n, total int64
	var num [24]byte
	var acct []byte
	for _, fl := range lines {
		var err error
		acct, err = f.s.Keys.AppendOpen(acct[:0], fl.accEnc)
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("payroll: account of line %d: %w", fl.id, err)
		}
		if !f.l.ValidAccount(acct) {
			invalid = append(invalid, fl.id)
			continue
		}
		for i, fd := range f.l.Fields {
			var v []byte
			switch fd.Name {
			case "ref":
				v = strconv.AppendInt(num[:0], fl.id, 10)
			case "account":
				v = acct
			case "name":
				v = f.enc.bytes(fl.name)
			case "amount":
				v = append(strconv.AppendInt(num[:0], fl.net/100, 10), '.', byte('0'+fl.net%100/10), byte('0'+fl.net%10))
			case "amount_fen":
				v = strconv.AppendInt(num[:0], fl.net, 10)
			case "programme":
				p, ok := f.progs[fl.programme]
				if !ok {
					p = f.enc.bytes(ProgrammeLabel(fl.programme))
					f.progs[fl.programme] = p
				}
				v = p
			case "month":
				v = f.month
			case "county":
				v = f.county
			}
			buf = f.l.appendField(buf, fd, v, i == 0)
		}
		buf = append(buf, '\r', '\n')
		n++
		total += fl.net
	}
	return buf, invalid, n, total, nil
}

// queryLines streams the lines selected by where (on l, with args) in id
// order. Account and name are looked up per line by primary key, so a file of
// a few thousand lines never scans the registry.
func (s *Service) queryLines(ctx context.Context, where string, args ...any) func(func(fileLine) error) error {
	return func(yield func(fileLine) error) error {
		rows, err := s.DB.QueryContext(ctx, `SELECT l.id, (SELECT b.bank_code FROM bank_accounts b WHERE b.id = l.bank_account_id),
			(SELECT b.account_enc FROM bank_accounts b WHERE b.id = l.bank_account_id), (SELECT p.name FROM persons p WHERE p.id = l.person_id),
			l.amount_fen - l.offset_fen, l.programme, l.region_code
			FROM payment_lines l WHERE l.bank_account_id IS NOT NULL AND `+where+` ORDER BY l.id`, args...)
		if err != nil {
			return fmt.Errorf("payroll: lines: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var fl fileLine
			if err := rows.Scan(&fl.id, &fl.bank, &fl.accEnc, &fl.name, &fl.net, &fl.programme, &fl.region); err != nil {
				return err
			}
			if err := yield(fl); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

func sliceLines(ls []fileLine) func(func(fileLine) error) error {
	return func(yield func(fileLine) error) error {
		for _, fl := range ls {
			if err := yield(fl); err != nil {
				return err
			}
		}
		return nil
	}
}

// PrepareBankFiles makes one file per bank of an approved run: each pending
// line's account is checked against the bank's layout (failures are held as
// invalid_account), the rest are marked sent in that bank's file, whose hash
// is kept so a later download can be proven the same.
func (s *Service) PrepareBankFiles(ctx context.Context, u *auth.User, runID int64) ([]BankFile, error) {
	if !u.Can(auth.PayrollRun) {
		return nil, apperr.Forbidden("您的角色不能生成银行文件")
	}
	r, err := s.Get(ctx, u, runID)
	if err != nil {
		return nil, err
	}
	if r.State != StateApproved {
		return nil, apperr.Conflict("run_state", "批次复核批准后才能生成银行文件")
	}
	// the run's pending lines, grouped by bank (a county's month fits in memory)
	byBank := map[string][]fileLine{}
	var banks []string
	if err := s.queryLines(ctx, `l.run_id = $1 AND l.status = 'pending'`, runID)(func(fl fileLine) error {
		if _, ok := byBank[fl.bank]; !ok {
			banks = append(banks, fl.bank)
		}
		byBank[fl.bank] = append(byBank[fl.bank], fl)
		return nil
	}); err != nil {
		return nil, err
	}
	slices.Sort(banks)
	for _, bank := range banks {
		l, err := s.LayoutOf(ctx, bank)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, total, invalid, err := s.writeLines(h, &l, r.Month, r.County, sliceLines(byBank[bank]))
		if err != nil {
			return nil, err
		}
		ids := make([]int64, 0, len(byBank[bank]))
		for _, fl := range byBank[bank] {
			ids = append(ids, fl.id)
		}
		err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := s.lockRun(ctx, tx, runID); err != nil {
				return err
			}
			for len(invalid) > 0 {
				chunk := invalid[:min(len(invalid), 500)]
				invalid = invalid[len(chunk):]
				if _, err := tx.ExecContext(ctx, `UPDATE payment_lines SET status = 'invalid_account', note = '账号未通过校验' WHERE status = 'pending' AND id IN (`+joinIDs(chunk)+`)`); err != nil {
					return err
				}
			}
			var fid int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO bank_files (run_id, bank_code, file_name, lines, total_fen, sha256, state, created_by, created_at)
				VALUES ($1,$2,'',$3,$4,$5,'sent',$6,$7) RETURNING id`, runID, bank, n, total, hex.EncodeToString(h.Sum(nil)), u.Username, s.now()).Scan(&fid); err != nil {
				if isUnique(err) {
					return apperr.Conflict("bank_file_exists", "该批次 "+bank+" 的银行文件已生成")
				}
				return err
			}
			name := fmt.Sprintf("JZ%d_%s_%s_%s.txt", fid, bank, r.County[:6], strings.ReplaceAll(r.Month, "-", ""))
			if l.Format == "csv" && l.Separator == "," {
				name = strings.TrimSuffix(name, ".txt") + ".csv"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE bank_files SET file_name = $1 WHERE id = $2`, name, fid); err != nil {
				return err
			}
			var got int64
			for len(ids) > 0 {
				chunk := ids[:min(len(ids), 1000)]
				ids = ids[len(chunk):]
				res, err := tx.ExecContext(ctx, `UPDATE payment_lines SET status = 'sent', bank_file_id = $1 WHERE run_id = $2 AND status = 'pending' AND id IN (`+joinIDs(chunk)+`)`, fid, runID)
				if err != nil {
					return err
				}
				k, _ := res.RowsAffected()
				got += k
			}
			if got != n {
				return apperr.Conflict("lines_changed", "生成银行文件期间明细发生变化，请重试")
			}
			return audit.Append(ctx, tx, u.Actor(), "payroll.bank_file", "bank_file", fmt.Sprint(fid), r.County, map[string]any{"bank": bank, "lines": n, "total_fen": total})
		})
		if err != nil {
			return nil, err
		}
	}
	return s.BankFiles(ctx, u, runID)
}

func joinIDs(xs []int64) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(x, 10))
	}
	return b.String()
}

func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "23505"))
}

// BankFiles lists a run's bank files.
func (s *Service) BankFiles(ctx context.Context, u *auth.User, runID int64) ([]BankFile, error) {
	if _, err := s.Get(ctx, u, runID); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, run_id, bank_code, file_name, lines, total_fen, sha256, state, created_by, created_at FROM bank_files WHERE run_id = $1 ORDER BY bank_code`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BankFile
	for rows.Next() {
		var f BankFile
		if err := rows.Scan(&f.ID, &f.RunID, &f.Bank, &f.FileName, &f.Lines, &f.TotalFen, &f.SHA256, &f.State, &f.CreatedBy, &f.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *Service) bankFile(ctx context.Context, u *auth.User, id int64) (*BankFile, *Run, error) {
	var f BankFile
	err := s.DB.QueryRowContext(ctx, `SELECT f.id, f.run_id, f.bank_code, f.file_name, f.lines, f.total_fen, f.sha256, f.state, f.created_by, f.created_at
		FROM bank_files f JOIN payroll_runs r ON r.id = f.run_id WHERE f.id = $1 AND r.county_code LIKE $2 || '%'`, id, u.Scope()).
		Scan(&f.ID, &f.RunID, &f.Bank, &f.FileName, &f.Lines, &f.TotalFen, &f.SHA256, &f.State, &f.CreatedBy, &f.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, apperr.NotFound("该银行文件不存在或不在您的管辖范围内")
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := s.Get(ctx, u, f.RunID)
	return &f, r, err
}

// WriteBankFile writes a bank file's content (account numbers decrypted, so
// the read is audited) and checks it is the file that was prepared.
func (s *Service) WriteBankFile(ctx context.Context, u *auth.User, id int64, w io.Writer) (*BankFile, error) {
	if !u.Can(auth.PayrollRun) {
		return nil, apperr.Forbidden("您的角色不能下载银行文件")
	}
	f, r, err := s.bankFile(ctx, u, id)
	if err != nil {
		return nil, err
	}
	l, err := s.LayoutOf(ctx, f.Bank)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, _, _, err := s.writeLines(io.MultiWriter(w, h), &l, r.Month, r.County, s.queryLines(ctx, `l.bank_file_id = $1`, id)); err != nil {
		return nil, err
	}
	if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return nil, fmt.Errorf("payroll: bank file %d no longer matches what was prepared (layout or data changed)", id)
	}
	return f, audit.Append(ctx, s.DB, u.Actor(), "payroll.bank_file_read", "bank_file", fmt.Sprint(id), r.County, map[string]any{"lines": f.Lines})
}

// LineProblem is one refused line of a return file.
type LineProblem struct {
	Line    int    `json:"line"`
	Ref     string `json:"ref,omitempty"`
	Problem string `json:"problem"`
}

// ReturnReport is the outcome of a return file.
type ReturnReport struct {
	BankFileID int64         `json:"bank_file_id"`
	Lines      int           `json:"lines"`
	Paid       int           `json:"paid"`
	Failed     int           `json:"failed"`
	Unchanged  int           `json:"unchanged"`
	Unknown    int64         `json:"unanswered"` // lines of the bank file the return does not mention
	Rejected   bool          `json:"rejected"`
	Problems   []LineProblem `json:"problems,omitempty"`
}

// BankFileIDFromName finds the bank file a return file answers, from the
// JZ<id>_ prefix our file names carry (banks return them with a suffix).
func BankFileIDFromName(name string) int64 {
	i := strings.Index(name, "JZ")
	if i < 0 {
		return 0
	}
	j := i + 2
	for j < len(name) && name[j] >= '0' && name[j] <= '9' {
		j++
	}
	n, _ := strconv.ParseInt(name[i+2:j], 10, 64)
	return n
}

type ourLine struct {
	account string
	net     int64
	status  string
	reason  string
}

// ImportReturn reads a bank's return file for one bank file. Every line must
// name a line of that file once, with its account and amount, and a result;
// a file with any unknown, duplicate or malformed line is refused whole with a
// report per line, and nothing changes. Lines already reconciled must come
// back with the same result.
func (s *Service) ImportReturn(ctx context.Context, u *auth.User, fileID int64, name string, content []byte) (*ReturnReport, error) {
	if !u.Can(auth.PayrollRun) {
		return nil, apperr.Forbidden("您的角色不能导入银行回盘文件")
	}
	f, r, err := s.bankFile(ctx, u, fileID)
	if err != nil {
		return nil, err
	}
	l, err := s.LayoutOf(ctx, f.Bank)
	if err != nil {
		return nil, err
	}
	ours := map[int64]*ourLine{}
	rows, err := s.DB.QueryContext(ctx, `SELECT l.id, b.account_enc, l.amount_fen - l.offset_fen, l.status, l.fail_reason FROM payment_lines l
		JOIN bank_accounts b ON b.id = l.bank_account_id WHERE l.bank_file_id = $1`, fileID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var enc string
		o := &ourLine{}
		if err := rows.Scan(&id, &enc, &o.net, &o.status, &o.reason); err != nil {
			rows.Close()
			return nil, err
		}
		if o.account, err = s.Keys.Open(enc); err != nil {
			rows.Close()
			return nil, err
		}
		ours[id] = o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rep := &ReturnReport{BankFileID: fileID}
	problem := func(line int, ref, msg string) { rep.Problems = append(rep.Problems, LineProblem{line, ref, msg}) }
	text := content
	if l.Encoding == "gbk" {
		if text, err = simplifiedchinese.GBK.NewDecoder().Bytes(content); err != nil {
			return nil, apperr.Invalid("file", "bad_encoding", "回盘文件不是GBK编码")
		}
	}
	type answer struct {
		id     int64
		paid   bool
		reason string
	}
	var answers []answer
	seen := map[int64]int{}
	paidCodes := map[string]bool{}
	for _, c := range l.PaidCodes {
		paidCodes[c] = true
	}
	lines := strings.Split(strings.TrimRight(string(text), "\r\n"), "\n")
	for i, raw := range lines {
		no := i + 1
		raw = strings.TrimRight(raw, "\r")
		if strings.TrimSpace(raw) == "" {
			continue
		}
		vals, err := splitReturn(&l, raw, l.Encoding == "gbk")
		if err != nil {
			problem(no, "", err.Error())
			continue
		}
		if l.Header && l.Format == "csv" && no == 1 && vals["ref"] == "ref" {
			continue
		}
		rep.Lines++
		ref := strings.TrimSpace(vals["ref"])
		id, err := strconv.ParseInt(strings.TrimLeft(ref, "0"), 10, 64)
		if err != nil || id <= 0 {
			problem(no, ref, "流水号格式不正确")
			continue
		}
		o, ok := ours[id]
		if !ok {
			problem(no, ref, "流水号不属于本银行文件（未知明细）")
			continue
		}
		if prev, dup := seen[id]; dup {
			problem(no, ref, fmt.Sprintf("与第 %d 行重复", prev))
			continue
		}
		seen[id] = no
		if a, ok := vals["account"]; ok && strings.TrimSpace(a) != o.account {
			problem(no, ref, "账号与发放明细不一致")
			continue
		}
		amt, has := int64(0), false
		if v, ok := vals["amount"]; ok {
			if amt, err = parseYuan(v); err != nil {
				problem(no, ref, "金额格式不正确")
				continue
			}
			has = true
		}
		if v, ok := vals["amount_fen"]; ok {
			if amt, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
				problem(no, ref, "金额格式不正确")
				continue
			}
			has = true
		}
		if has && amt != o.net {
			problem(no, ref, fmt.Sprintf("金额 %s 与发放金额 %s 不一致", yuan(amt), yuan(o.net)))
			continue
		}
		code := strings.TrimSpace(vals["result"])
		if code == "" {
			problem(no, ref, "缺少处理结果")
			continue
		}
		a := answer{id: id, paid: paidCodes[code], reason: strings.TrimSpace(vals["reason"])}
		if !a.paid && a.reason == "" {
			a.reason = "银行返回码 " + code
		}
		switch {
		case o.status == LineSent:
		case o.status == LinePaid && a.paid, o.status == LineFailed && !a.paid:
			rep.Unchanged++
			continue
		default:
			problem(no, ref, "该明细已对账为“"+statusLabel(o.status)+"”，回盘结果不一致")
			continue
		}
		answers = append(answers, a)
	}
	if len(rep.Problems) > 0 {
		rep.Rejected = true
		return rep, apperr.Invalid("file", "return_rejected", fmt.Sprintf("回盘文件有 %d 行不能识别或与发放明细不符，整份文件未导入，请银行更正后重新提供", len(rep.Problems)))
	}
	sum := sha256.Sum256(content)
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		for _, a := range answers {
			st, reason := LinePaid, ""
			if !a.paid {
				st, reason = LineFailed, a.reason
			}
			res, err := tx.ExecContext(ctx, `UPDATE payment_lines SET status = $1, fail_reason = $2 WHERE id = $3 AND bank_file_id = $4 AND status = 'sent'`, st, reason, a.id, fileID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return apperr.Conflict("lines_changed", "导入期间明细状态已变化，请重新导入")
			}
			if a.paid {
				rep.Paid++
			} else {
				rep.Failed++
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO bank_returns (bank_file_id, file_name, sha256, paid, failed, username, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			fileID, name, hex.EncodeToString(sum[:]), rep.Paid, rep.Failed, u.Username, s.now()); err != nil {
			return err
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.bank_return", "bank_file", fmt.Sprint(fileID), r.County, map[string]any{"file": name, "paid": rep.Paid, "failed": rep.Failed})
	})
	if err != nil {
		return nil, err
	}
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines WHERE bank_file_id = $1 AND status = 'sent'`, fileID).Scan(&rep.Unknown); err != nil {
		return nil, err
	}
	return rep, nil
}

// splitReturn cuts one return line into its named fields.
func splitReturn(l *Layout, raw string, gbk bool) (map[string]string, error) {
	vals := map[string]string{}
	if l.Format == "csv" {
		cr := csv.NewReader(strings.NewReader(raw))
		cr.Comma = rune(l.Separator[0])
		cr.LazyQuotes = true
		rec, err := cr.Read()
		if err != nil || len(rec) != len(l.Return) {
			return nil, fmt.Errorf("字段个数应为 %d", len(l.Return))
		}
		for i, f := range l.Return {
			vals[f.Name] = rec[i]
		}
		return vals, nil
	}
	b := []byte(raw)
	if gbk {
		b, _ = simplifiedchinese.GBK.NewEncoder().Bytes(b)
	}
	want, minLen := 0, 0
	for i, f := range l.Return {
		want += f.Width
		if i < len(l.Return)-1 {
			minLen += f.Width
		}
	}
	if len(b) > want || len(b) <= minLen {
		return nil, fmt.Errorf("定长记录长度应为 %d 字节，实际 %d", want, len(b))
	}
	pos := 0
	for _, f := range l.Return {
		end := min(pos+f.Width, len(b))
		v := b[pos:end]
		if gbk {
			v, _ = simplifiedchinese.GBK.NewDecoder().Bytes(v)
		}
		vals[f.Name] = strings.TrimSpace(string(v))
		pos = end
	}
	return vals, nil
}

func statusLabel(st string) string {
	return map[string]string{LinePending: "待发放", LineNoAccount: "无银行账户（暂停发放）", LineInvalid: "账号校验未通过（暂停发放）", LineOffset: "全额抵扣追缴款",
		LineSent: "已送银行，待回盘", LinePaid: "已到账", LineFailed: "发放失败", LineByHand: "已另行支付"}[st]
}

// StatusLabel names a line status in Chinese.
func StatusLabel(st string) string { return statusLabel(st) }

// Reconciliation counts a run's lines by status, and the reasons of failures.
type Reconciliation struct {
	Status   map[string]int64 `json:"status"`
	Amounts  map[string]int64 `json:"amounts"`
	Failures map[string]int64 `json:"failures"`
	Reissued int64            `json:"reissued"`
}

// Reconcile summarises every line of a run: paid, failed with reason,
// unknown (sent, no answer), held.
func (s *Service) Reconcile(ctx context.Context, u *auth.User, runID int64) (*Reconciliation, error) {
	if _, err := s.Get(ctx, u, runID); err != nil {
		return nil, err
	}
	rec := &Reconciliation{Status: map[string]int64{}, Amounts: map[string]int64{}, Failures: map[string]int64{}}
	rows, err := s.DB.QueryContext(ctx, `SELECT status, fail_reason, COUNT(*), SUM(amount_fen - offset_fen) FROM payment_lines WHERE run_id = $1 GROUP BY status, fail_reason`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st, reason string
		var n, amt int64
		if err := rows.Scan(&st, &reason, &n, &amt); err != nil {
			return nil, err
		}
		rec.Status[st] += n
		rec.Amounts[st] += amt
		if st == LineFailed {
			rec.Failures[reason] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines x JOIN payment_lines o ON o.id = x.reissue_of WHERE o.run_id = $1`, runID).Scan(&rec.Reissued)
	return rec, err
}

// SettleByHand records that a failed or held line was paid another way (cash
// at the township, a corrected transfer), so it is not re-issued.
func (s *Service) SettleByHand(ctx context.Context, u *auth.User, lineID int64, reference string) error {
	if !u.Can(auth.PayrollRun) {
		return apperr.Forbidden("您的角色不能登记另行支付")
	}
	if strings.TrimSpace(reference) == "" {
		return apperr.Invalid("reference", "reference_required", "请填写支付凭证号")
	}
	var runID int64
	var st, reg string
	err := s.DB.QueryRowContext(ctx, `SELECT l.run_id, l.status, l.region_code FROM payment_lines l JOIN payroll_runs r ON r.id = l.run_id
		WHERE l.id = $1 AND r.county_code LIKE $2 || '%'`, lineID, u.Scope()).Scan(&runID, &st, &reg)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.NotFound("该发放明细不存在或不在您的管辖范围内")
	}
	if err != nil {
		return err
	}
	if st != LineFailed && st != LineNoAccount && st != LineInvalid {
		return apperr.Conflict("line_state", "只有发放失败或暂停发放的明细可以登记另行支付")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_lines WHERE reissue_of = $1`, lineID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apperr.Conflict("already_reissued", "该明细已在后续批次中补发，不能再登记另行支付")
		}
		res, err := tx.ExecContext(ctx, `UPDATE payment_lines SET status = $1, note = $2 WHERE id = $3 AND status = $4`, LineByHand, "另行支付："+reference, lineID, st)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Stale()
		}
		return audit.Append(ctx, tx, u.Actor(), "payroll.line_by_hand", "payment_line", fmt.Sprint(lineID), reg, map[string]any{"reference": reference})
	})
}
