package bench

import (
	"context"
	"errors"
	"io"
)

// Share measures DCI search by ID under concurrent callers and the discovery
// rules over a month of department events against a SQL join.
func Share(ctx context.Context, w io.Writer, dbURL string, scale float64) error {
	return errors.New("bench share: not written yet")
}
