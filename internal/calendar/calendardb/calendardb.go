// Package calendardb keeps the holiday arrangements that administrators enter
// for years after those the binary carries, and loads them into the live
// calendar at start and as they are entered.
package calendardb

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/calendar"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Load adds every stored year to cal and returns the years added.
func Load(ctx context.Context, d *db.DB, cal *calendar.Calendar) ([]int, error) {
	rows, err := d.QueryContext(ctx, `SELECT day, notice_year, kind, name FROM calendar_days ORDER BY day`)
	if err != nil {
		return nil, fmt.Errorf("calendardb: load: %w", err)
	}
	defer rows.Close()
	byYear := map[int][]calendar.Row{}
	for rows.Next() {
		var day, kind, name string
		var year int
		if err := rows.Scan(&day, &year, &kind, &name); err != nil {
			return nil, err
		}
		parsed, err := calendar.ReadRows(strings.NewReader("date,kind,name\n" + day + "," + kind + "," + name + "\n"))
		if err != nil {
			return nil, fmt.Errorf("calendardb: stored row %s: %w", day, err)
		}
		byYear[year] = append(byYear[year], parsed...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var added []int
	for y, rs := range byYear {
		if slices.Contains(cal.Years(), y) {
			continue
		}
		if err := cal.AddYear(y, rs); err != nil {
			return nil, fmt.Errorf("calendardb: year %d: %w", y, err)
		}
		added = append(added, y)
	}
	slices.Sort(added)
	return added, nil
}

// AddYear records a year's official arrangement, given as CSV lines
// "YYYY-MM-DD,off|work,name" (a "date,kind,name" header is optional), and adds
// it to the live calendar. Only a province administrator may do it; the whole
// year is checked first, and nothing is stored if any line is wrong.
func AddYear(ctx context.Context, d *db.DB, cal *calendar.Calendar, u *auth.User, year int, text string) error {
	if !u.Can(auth.UserAdmin) || region.LevelOf(u.Region) != region.Province {
		return apperr.Forbidden("节假日安排按国务院办公厅通知录入，须由省级系统管理员操作")
	}
	if year < 2019 || year > 2100 {
		return apperr.Invalid("year", "invalid_year", "年份不正确")
	}
	if slices.Contains(cal.Years(), year) {
		return apperr.Invalid("year", "year_loaded", fmt.Sprintf("%d 年的节假日安排已经录入，不能重复录入", year))
	}
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "date,kind,name") {
		text = "date,kind,name\n" + text
	}
	rows, err := calendar.ReadRows(strings.NewReader(text + "\n"))
	if err != nil {
		return apperr.Invalid("rows", "invalid_rows", "放假安排格式不正确（每行：日期,off或work,节日名称）："+strings.TrimPrefix(err.Error(), "calendar: read rows: "))
	}
	// check on a scratch copy first: the live calendar changes only after the rows are stored
	if err := calendar.Default().AddYear(year, rows); err != nil {
		return apperr.Invalid("rows", "invalid_rows", "放假安排有误："+strings.TrimPrefix(err.Error(), "calendar: "))
	}
	err = d.Tx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UTC()
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO calendar_days (day, notice_year, kind, name, entered_by, entered_at) VALUES ($1,$2,$3,$4,$5,$6)`,
				r.Date.Format(time.DateOnly), year, r.Kind.String(), r.Name, u.Username, now); err != nil {
				if db.IsUniqueViolation(err) {
					return apperr.Invalid("rows", "duplicate_day", r.Date.Format(time.DateOnly)+" 已在其他年度的安排中录入")
				}
				return fmt.Errorf("calendardb: store: %w", err)
			}
		}
		return audit.Append(ctx, tx, u.Actor(), "calendar.add_year", "calendar", fmt.Sprint(year), u.Region, map[string]any{"rows": len(rows)})
	})
	if err != nil {
		return err
	}
	if err := cal.AddYear(year, rows); err != nil {
		return fmt.Errorf("calendardb: stored year %d but the live calendar refused it: %w", year, err)
	}
	return nil
}
