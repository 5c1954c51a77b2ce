package cli

import (
	"context"
	"errors"
	"io"
)

func shareCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("share: not written yet")
}
