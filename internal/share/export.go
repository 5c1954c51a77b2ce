package share

import (
	"context"
	"net/url"

	"jiuzhu/internal/xlsx"
)

// exportXLSX writes the dataset as a workbook. The rows are pulled from the
// database as the writer asks for them (a province's list continues on new
// sheets past Excel's row limit).
func (s *Service) exportXLSX(ctx context.Context, w *countingWriter, c *Client, programme string) (int, error) {
	n := 0
	var rowErr error
	rows := func(yield func([]any) bool) {
		stopped := false
		rowErr = s.exportRows(ctx, c, programme, func(row []string) error {
			if stopped {
				return errStopped
			}
			vals := make([]any, len(row))
			for i, v := range row {
				vals[i] = v
			}
			n++
			if !yield(vals) {
				stopped = true
				return errStopped
			}
			return nil
		})
		if rowErr == errStopped {
			rowErr = nil
		}
	}
	title := "社会救助共享数据集（" + s.Tree.FullName(c.RegionCode) + "）"
	if programme != "" {
		title += " " + ProgrammeLabel(programme)
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape("救助共享数据.xlsx"))
	w.Header().Set("Cache-Control", "no-store")
	err := xlsx.Write(w, xlsx.Sheet{Name: "共享数据", Title: title, Lines: []string{"截至 " + s.thisMonth() + "，姓名和身份证号码已脱敏"},
		Header: exportHeader(c), Rows: rows, Notes: []string{"来源：江西省社会救助综合信息平台；仅限授权用途使用，不得转提供。"}})
	if err == nil {
		err = rowErr
	}
	return n, err
}

type stopErr struct{}

func (stopErr) Error() string { return "stopped" }

var errStopped error = stopErr{}
