package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/dci"
	"jiuzhu/internal/share"
)

// dciSearchLoad measures DCI synchronous search by ID number on the province
// under concurrent callers and prints p50, p99 and requests per second. The
// whole path runs: bearer token, envelope checks against the spec, the
// replay guard, the keyed-hash lookup, the signed answer, the audit entry.
func dciSearchLoad(ctx context.Context, w io.Writer, p *province, keys *crypt.Keys, callers, requests int) error {
	if callers <= 0 || requests < callers {
		return errors.New("bench share: DCI load needs callers > 0 and at least one request per caller")
	}
	as := &auth.Service{DB: p.DB, Tree: p.Tree}
	admin, err := as.Create(ctx, nil, auth.NewUser{Username: "bench_dci_admin", DisplayName: "压测管理员", Role: auth.Admin, Region: p.Tree.Root.Code, Password: "bench-pass-2026"})
	if err != nil {
		return fmt.Errorf("bench share: admin: %w", err)
	}
	sh := &share.Service{DB: p.DB, Tree: p.Tree, Keys: keys}
	key, secret, err := sh.CreateClient(ctx, admin, share.NewClient{Name: "压测", Department: "压测", RegionCode: p.Tree.Root.Code,
		Scopes: []string{share.ScopeDCISearch}, RatePerMinute: 100000})
	if err != nil {
		return fmt.Errorf("bench share: key: %w", err)
	}
	svc := &dci.Service{DB: p.DB, Tree: p.Tree, Keys: keys, Share: sh}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: callers * 2, MaxIdleConnsPerHost: callers * 2}}

	// real persons of the province: their ID numbers opened from the registry
	var ids []string
	rows, err := p.DB.QueryContext(ctx, `SELECT id_enc FROM persons ORDER BY id_hmac LIMIT 5000`)
	if err != nil {
		return fmt.Errorf("bench share: sample persons: %w", err)
	}
	for rows.Next() {
		var enc string
		if err := rows.Scan(&enc); err != nil {
			rows.Close()
			return err
		}
		n, err := keys.Open(enc)
		if err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, n)
	}
	rows.Close()
	if len(ids) == 0 {
		return errors.New("bench share: the province has no persons")
	}

	resp, err := hc.PostForm(srv.URL+"/oauth2/client/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {key.ClientID}, "client_secret": {secret}})
	if err != nil {
		return fmt.Errorf("bench share: token: %w", err)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	if tk.AccessToken == "" {
		return fmt.Errorf("bench share: token refused (HTTP %d)", resp.StatusCode)
	}

	var next, misses, failures atomic.Int64
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(requests) || ctx.Err() != nil {
					return
				}
				body := searchEnvelope(key.ClientID, i, ids[int(i)%len(ids)])
				t0 := time.Now()
				found, err := dciPost(ctx, hc, srv.URL+"/registry/sync/search", tk.AccessToken, body)
				lat[c] = append(lat[c], time.Since(t0))
				if err != nil {
					failures.Add(1)
					errOnce.Do(func() { firstErr = err })
				} else if !found {
					misses.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	svc.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	fmt.Fprintf(w, "dci sync search by ID: %d requests, %d callers, p50 %.1f ms, p99 %.1f ms, %.0f requests/s, %d not found, %d failed\n",
		len(all), callers, float64(pct(0.50).Microseconds())/1000, float64(pct(0.99).Microseconds())/1000, float64(len(all))/elapsed.Seconds(), misses.Load(), failures.Load())
	if firstErr != nil {
		return fmt.Errorf("bench share: %d DCI searches failed, first: %w", failures.Load(), firstErr)
	}
	if misses.Load() > 0 {
		return fmt.Errorf("bench share: %d persons of the registry not found by DCI search", misses.Load())
	}
	return nil
}

func searchEnvelope(sender string, i int64, id string) []byte {
	now := time.Now().UTC().Format(time.RFC3339)
	b, _ := json.Marshal(map[string]any{
		"header": map[string]any{"version": "1.0.0", "message_id": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), "message_ts": now, "action": "search",
			"sender_id": sender, "receiver_id": "jiuzhu-sr", "total_count": 1, "is_msg_encrypted": false},
		"message": map[string]any{"transaction_id": fmt.Sprintf("bench-%d", i), "search_request": []any{map[string]any{"reference_id": "r1", "timestamp": now,
			"search_criteria": map[string]any{"query_type": "idtype-value", "query": map[string]any{"type": "NationalID", "value": id}}}}}})
	return b
}

// dciPost sends one search and reports whether the person was found.
func dciPost(ctx context.Context, hc *http.Client, url, token string, body []byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var out struct {
		Message struct {
			SearchResponse []struct {
				Status string `json:"status"`
				Data   struct {
					RegRecords []json.RawMessage `json:"reg_records"`
				} `json:"data"`
			} `json:"search_response"`
		} `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
	}
	if len(out.Message.SearchResponse) != 1 || out.Message.SearchResponse[0].Status != "succ" {
		return false, errors.New("search refused")
	}
	return len(out.Message.SearchResponse[0].Data.RegRecords) == 1, nil
}
