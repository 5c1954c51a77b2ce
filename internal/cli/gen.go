package cli

import (
	"context"
	"errors"
	"io"

	"jiuzhu/internal/server"
)

// Filled in when the generator lands.
func gen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("gen: not yet available")
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not yet available")
}

func loadDemoData(ctx context.Context, app *server.App, stdout io.Writer) error { return nil }
