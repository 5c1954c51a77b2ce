package cli

import (
	"context"
	"errors"
	"io"
)

func integrityCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("integrity: not written yet")
}
