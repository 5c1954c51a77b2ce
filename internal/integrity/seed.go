package integrity

import (
	"context"
	"fmt"
	"strconv"
)

// SeedDemo plants one anomaly of every kind (with decoys) in each demo
// county and computes the lists, so an inspector finds work on the demo.
// It does nothing when the demo anomalies are already there.
func (s *Service) SeedDemo(ctx context.Context, counties []string) error {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM households WHERE hh_no LIKE 'PLdemo%'`).Scan(&n); err != nil {
		return fmt.Errorf("integrity: seed demo: %w", err)
	}
	if n > 0 {
		return nil
	}
	for i, c := range counties {
		if _, err := Plant(ctx, s.DB, s.Keys, s.Tree, s.Calendar, c, s.now(), uint64(100+i), "demo"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	_, err := s.Run(ctx, "", "system")
	return err
}
