package cli

import (
	"context"
	"errors"
	"io"
)

func discoveryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("discovery: not written yet")
}
