package verify

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"time"

	"jiuzhu/internal/auth"
)

// A Fetcher brings an extract from a department's system instead of an
// upload; the extract then takes the one import path.
type Fetcher interface {
	Fetch(ctx context.Context) (ImportInput, error)
}

// HTTPSource fetches an extract over HTTP: a GET with a bearer token whose
// response carries the file and its data date in the X-Data-Date header.
type HTTPSource struct {
	Source, Provider string
	URL              string
	Token            string
	Client           *http.Client
	MaxBytes         int64 // default 4 GiB
}

// Fetch downloads the extract.
func (h HTTPSource) Fetch(ctx context.Context) (ImportInput, error) {
	in := ImportInput{Source: h.Source, Provider: h.Provider}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return in, fmt.Errorf("verify: fetch %s: %w", h.Source, err)
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return in, fmt.Errorf("verify: fetch %s: %w", h.Source, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return in, fmt.Errorf("verify: fetch %s: the source answered %s", h.Source, resp.Status)
	}
	in.DataDate = resp.Header.Get("X-Data-Date")
	if in.DataDate == "" {
		return in, fmt.Errorf("verify: fetch %s: the response has no X-Data-Date header", h.Source)
	}
	in.FileName = path.Base(req.URL.Path)
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		in.FileName = params["filename"]
	}
	limit := h.MaxBytes
	if limit <= 0 {
		limit = 4 << 30
	}
	in.Body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return in, fmt.Errorf("verify: fetch %s: %w", h.Source, err)
	}
	if int64(len(in.Body)) > limit {
		return in, fmt.Errorf("verify: fetch %s: the extract is larger than %d bytes", h.Source, limit)
	}
	return in, nil
}

// ImportFrom fetches an extract and imports it.
func (s *Service) ImportFrom(ctx context.Context, u *auth.User, f Fetcher) (*ImportResult, error) {
	in, err := f.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	return s.Import(ctx, u, in)
}
