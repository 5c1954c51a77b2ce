package payroll

import (
	"context"
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/region"
)

// SheetRows is the most rows a worksheet holds (Excel's limit); longer lists
// continue on a new sheet with the header repeated.
var SheetRows = 1048576

// ExportKinds are the township exports.
const (
	ExportPayroll   = "payroll"   // 发放花名册
	ExportSignature = "signature" // 签领表
)

// sheetWriter streams rows into sheets, starting a new sheet at SheetRows.
type sheetWriter struct {
	f      *excelize.File
	sw     *excelize.StreamWriter
	title  string
	header []any
	sheets int
	row    int
	widths []float64
}

func newSheetWriter(title string, header []any, widths []float64) (*sheetWriter, error) {
	w := &sheetWriter{f: excelize.NewFile(), title: title, header: header, widths: widths}
	if err := w.next(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *sheetWriter) next() error {
	if w.sw != nil {
		if err := w.sw.Flush(); err != nil {
			return err
		}
	}
	w.sheets++
	name := w.title
	if w.sheets > 1 {
		name = fmt.Sprintf("%s(%d)", w.title, w.sheets)
	}
	if w.sheets == 1 {
		if err := w.f.SetSheetName("Sheet1", name); err != nil {
			return err
		}
	} else if _, err := w.f.NewSheet(name); err != nil {
		return err
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	for i, wd := range w.widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	w.sw, w.row = sw, 1
	return w.add(w.header)
}

func (w *sheetWriter) add(vals []any) error {
	if w.row > SheetRows {
		if err := w.next(); err != nil {
			return err
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, w.row)
	w.row++
	return w.sw.SetRow(cell, vals)
}

func (w *sheetWriter) finish(out io.Writer) error {
	if err := w.sw.Flush(); err != nil {
		return err
	}
	_, err := w.f.WriteTo(out)
	w.f.Close()
	return err
}

// ExportTownship writes a township's lines of a run as an Excel workbook: the
// payroll list (发放花名册) or the signature list (签领表) with a column to sign.
func (s *Service) ExportTownship(ctx context.Context, u *auth.User, runID int64, township, kind string, out io.Writer) error {
	r, err := s.Get(ctx, u, runID)
	if err != nil {
		return err
	}
	if region.LevelOf(township) != region.Township || !region.Within(r.County, township) || !region.Within(u.Region, township) && !region.Within(township, u.Region) {
		return apperr.Invalid("township", "not_township", "请选择本县的乡镇（街道）")
	}
	var header []any
	var widths []float64
	switch kind {
	case ExportPayroll:
		header = []any{"序号", "村（社区）", "姓名", "身份证号", "救助项目", "类型", "发放金额（元）", "抵扣（元）", "实发（元）", "开户银行", "账号", "状态"}
		widths = []float64{8, 24, 10, 22, 20, 8, 14, 10, 12, 18, 24, 18}
	case ExportSignature:
		header = []any{"序号", "村（社区）", "姓名", "身份证号", "救助项目", "实发金额（元）", "领取人签名", "日期"}
		widths = []float64{8, 24, 10, 22, 20, 14, 18, 14}
	default:
		return apperr.Invalid("kind", "invalid_kind", "导出类型应为 payroll（花名册）或 signature（签领表）")
	}
	name := map[string]string{ExportPayroll: "发放花名册", ExportSignature: "签领表"}[kind]
	w, err := newSheetWriter(name, header, widths)
	if err != nil {
		return err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT l.region_code, p.name, p.id_masked, l.programme, l.kind, l.amount_fen, l.offset_fen, l.status,
		COALESCE(b.bank_name, ''), COALESCE(b.account_masked, '')
		FROM payment_lines l JOIN persons p ON p.id = l.person_id LEFT JOIN bank_accounts b ON b.id = l.bank_account_id
		WHERE l.run_id = $1 AND SUBSTR(l.region_code, 1, 9) = $2 ORDER BY l.region_code, l.id`, runID, region.ScopePrefix(township)[:9])
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	villages := map[string]string{}
	for rows.Next() {
		var reg, nm, idm, prog, k, st, bank, acct string
		var amt, off int64
		if err := rows.Scan(&reg, &nm, &idm, &prog, &k, &amt, &off, &st, &bank, &acct); err != nil {
			return err
		}
		v, ok := villages[reg]
		if !ok {
			v = reg
			if rg, ok := s.Tree.Get(reg); ok {
				v = rg.Name
			}
			villages[reg] = v
		}
		n++
		var vals []any
		if kind == ExportPayroll {
			vals = []any{n, v, nm, idm, ProgrammeLabel(prog), map[string]string{"regular": "按月", "oneoff": "一次性", "reissue": "补发"}[k],
				yuanF(amt), yuanF(off), yuanF(amt - off), bank, acct, statusLabel(st)}
		} else {
			vals = []any{n, v, nm, idm, ProgrammeLabel(prog), yuanF(amt - off), "", ""}
		}
		if err := w.add(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := w.finish(out); err != nil {
		return err
	}
	return audit.Append(ctx, s.DB, u.Actor(), "payroll.export_"+kind, "payroll_run", fmt.Sprint(runID), township, map[string]any{"rows": n})
}

func yuanF(fen int64) float64 { return float64(fen) / 100 }

// ExportSummary writes the monthly payment summary of a run: lines and
// amounts per township and programme, with the reconciliation by status.
func (s *Service) ExportSummary(ctx context.Context, u *auth.User, runID int64, out io.Writer) error {
	r, err := s.Get(ctx, u, runID)
	if err != nil {
		return err
	}
	_, byTownship, err := s.Totals(ctx, u, runID)
	if err != nil {
		return err
	}
	w, err := newSheetWriter("发放汇总", []any{"乡镇（街道）", "救助项目", "人次", "发放金额（元）", "抵扣（元）", "暂停发放人次"}, []float64{24, 22, 10, 16, 12, 14})
	if err != nil {
		return err
	}
	var lines, amt, off, held int64
	for _, t := range byTownship {
		if err := w.add([]any{s.Tree.FullName(t.Township), ProgrammeLabel(t.Programme), t.Lines, yuanF(t.AmountFen), yuanF(t.OffsetFen), t.Held}); err != nil {
			return err
		}
		lines, amt, off, held = lines+t.Lines, amt+t.AmountFen, off+t.OffsetFen, held+t.Held
	}
	if err := w.add([]any{"合计", "", lines, yuanF(amt), yuanF(off), held}); err != nil {
		return err
	}
	rec, err := s.Reconcile(ctx, u, runID)
	if err != nil {
		return err
	}
	w.add([]any{})
	w.add([]any{"对账状态", "", "人次", "金额（元）"})
	for st, n := range rec.Status {
		w.add([]any{statusLabel(st), "", n, yuanF(rec.Amounts[st])})
	}
	w.add([]any{fmt.Sprintf("%s %s 发放汇总；生成：%s；复核：%s", s.Tree.FullName(r.County), r.Month, r.MadeBy, r.CheckedBy)})
	return w.finish(out)
}
