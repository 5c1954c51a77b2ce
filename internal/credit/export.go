package credit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/xlsx"
)

var exportHeader = []string{"记录编号", "姓名", "身份证号码", "所在地", "失信行为", "金额（元）", "决定文号", "决定日期", "有效期至", "状态"}

// Export writes the exportable records in the user's scope (not overturned,
// not expired) as "csv" or "xlsx" for the credit platform. ID numbers are
// masked: the platform matches people through Feed. The export is audited.
func (s *Service) Export(ctx context.Context, u *auth.User, format string, w io.Writer) (int, error) {
	if format != "csv" && format != "xlsx" {
		return 0, apperr.Invalid("format", "invalid_format", "导出格式应为 csv 或 xlsx")
	}
	list, err := s.List(ctx, u, Filter{Exportable: true})
	if err != nil {
		return 0, err
	}
	slices.Reverse(list)
	row := func(r *Record) []string {
		return []string{fmt.Sprint(r.ID), r.Name, r.IDMasked, s.Tree.FullName(r.Region), r.What, fmt.Sprintf("%.2f", float64(r.AmountFen)/100),
			r.DecisionRef, r.DecidedOn, r.ExpiresOn, StateLabel(r.State)}
	}
	if err := audit.Record(ctx, s.DB, u.Actor(), "credit.export", "credit_record", format, u.Region, map[string]any{"records": len(list)}); err != nil {
		return 0, err
	}
	if format == "csv" {
		cw := csv.NewWriter(w)
		cw.Write(exportHeader)
		for _, r := range list {
			cw.Write(row(r))
		}
		cw.Flush()
		return len(list), cw.Error()
	}
	err = xlsx.Write(w, xlsx.Sheet{Name: "失信记录", Title: "社会救助失信记录（报送信用平台）", Lines: []string{"范围：" + s.Tree.FullName(u.Region) + "；已撤销和已到期的记录不报送"},
		Header: exportHeader, Widths: []float64{10, 10, 22, 30, 40, 12, 22, 12, 12, 10},
		Rows: func(yield func([]any) bool) {
			for _, r := range list {
				v := row(r)
				out := make([]any, len(v))
				for i := range v {
					out[i] = v[i]
				}
				out[5] = xlsx.Yuan(r.AmountFen)
				if !yield(out) {
					return
				}
			}
		},
		Notes: []string{"依据：《社会救助暂行办法》第六十八条；申诉成立的记录已撤销，不再报送。"}})
	return len(list), err
}
