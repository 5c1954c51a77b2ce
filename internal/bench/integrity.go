package bench

import (
	"context"
	"errors"
	"io"
)

// Integrity measures every anomaly list over a synthetic province with
// planted anomalies against one SQL query per list.
func Integrity(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	return errors.New("bench integrity: not written yet")
}
