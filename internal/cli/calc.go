package cli

import (
	"context"
	"errors"
	"io"
)

func calcCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("calc: not yet available")
}

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("simulate: not yet available")
}

func benchCalc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench calc: not yet available")
}
