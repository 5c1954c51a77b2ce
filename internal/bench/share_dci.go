package bench

import (
	"context"
	"errors"
	"io"

	"jiuzhu/internal/crypt"
)

// dciSearchLoad measures DCI synchronous search by ID number on the province
// under concurrent callers and prints p50, p99 and requests per second.
func dciSearchLoad(ctx context.Context, w io.Writer, p *province, keys *crypt.Keys, callers, requests int) error {
	return errors.New("bench share: DCI load not written yet")
}
