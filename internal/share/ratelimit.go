package share

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
)

// bucket is a token bucket: it holds at most a minute's allowance and
// refills continuously at its rate.
type bucket struct {
	tokens   float64
	capacity float64
	last     time.Time
}

func (b *bucket) refill(now time.Time) {
	if now.Before(b.last) { // a clock set back refills nothing
		b.last = now
		return
	}
	b.tokens = min(b.capacity, b.tokens+now.Sub(b.last).Minutes()*b.capacity)
	b.last = now
}

// limiter is a set of named token buckets.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// maxBuckets bounds a limiter's memory against a flood of names (addresses).
const maxBuckets = 100000

// allow takes one request from the bucket named key with a per-minute rate.
func (l *limiter) allow(key string, perMinute int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(perMinute), capacity: float64(perMinute), last: now}
		l.buckets[key] = b
		if len(l.buckets) > maxBuckets {
			// full buckets hold no state worth keeping
			for k, o := range l.buckets {
				if k != key && o.tokens+now.Sub(o.last).Minutes()*o.capacity >= o.capacity {
					delete(l.buckets, k)
				}
			}
		}
	}
	b.capacity = float64(perMinute)
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Allow takes one request from the client's rate limit. Only authenticated
// calls take from it (a valid token, or the key's own secret at the token
// endpoint): a caller who merely knows a client_id cannot drain it.
//
// The buckets live in this process: each server instance limits on its own,
// so behind a load balancer with N instances a key may make up to N times its
// rate. That is deliberate — a shared counter in the database would put a
// write on every call — and the audit log still records every call.
func (s *Service) Allow(c *Client) bool {
	if c == nil {
		return false
	}
	rate := c.RatePerMinute
	if rate <= 0 {
		rate = DefaultRate
	}
	return s.keys.allow(fmt.Sprintf("key:%d", c.ID), rate, s.now())
}

// DefaultFailureRate is how many failed authentications an address may make
// per minute (see Service.FailuresPerMinute).
const DefaultFailureRate = 30

// ErrTooManyFailures answers an address that failed to authenticate more
// often than FailuresPerMinute.
var ErrTooManyFailures = &apperr.Error{Status: http.StatusTooManyRequests, Code: "too_many_failures", Message: "认证失败次数过多，请稍后再试"}

// suppressed counts the refusals of one address at one endpoint beyond its
// failure allowance that are not yet in the audit log.
type suppressed struct {
	addr, endpoint string
	n              int
	reported       time.Time // when the last aggregate entry was written
}

// failures limits failed authentications by remote address, apart from the
// keys' buckets.
type failures struct {
	limiter
	smu     sync.Mutex
	pending map[string]*suppressed
}

// Failed notes a failed authentication (unknown client, wrong secret, missing
// or unknown token, unreadable token request) from r's address and reports
// whether it is within the address's allowance.
//
// Within it, the caller audits the refusal individually, against the key
// when the client_id named one, and answers it. Beyond it the caller answers
// 429 at once and writes nothing: individual entries would let anyone fill
// the audit log (each append serialises on the chain's head), so those
// refusals are counted per address and endpoint and written as one
// aggregate entry ("auth_failures_limited", with the address and the count):
// at once for the first refusal of a burst, then at most once a minute,
// and Run (FlushFailures) writes what is left, so every refusal is accounted for.
func (s *Service) Failed(r *http.Request, endpoint string) bool {
	rate := s.FailuresPerMinute
	if rate <= 0 {
		rate = DefaultFailureRate
	}
	addr := remoteAddr(r)
	now := s.now()
	if s.fails.allow(addr, rate, now) {
		return true
	}
	f := &s.fails
	f.smu.Lock()
	if f.pending == nil {
		f.pending = map[string]*suppressed{}
	}
	k := addr + " " + endpoint
	p := f.pending[k]
	if p == nil {
		if len(f.pending) >= maxBuckets {
			// past this many addresses they are counted together
			k, addr = "* "+endpoint, "*"
			p = f.pending[k]
		}
		if p == nil {
			p = &suppressed{addr: addr, endpoint: endpoint}
			f.pending[k] = p
		}
	}
	p.n++
	var flush suppressed
	if now.Sub(p.reported) >= time.Minute {
		flush = *p
		p.n, p.reported = 0, now
	}
	f.smu.Unlock()
	if flush.n > 0 {
		s.logSuppressed(context.WithoutCancel(r.Context()), flush)
	}
	return false
}

// FlushFailures writes the aggregate entries of refusals left uncounted for
// a minute or more and forgets addresses that have been quiet as long; Run
// calls it on every pass.
func (s *Service) FlushFailures(ctx context.Context) {
	now := s.now()
	f := &s.fails
	var due []suppressed
	f.smu.Lock()
	for k, p := range f.pending {
		if now.Sub(p.reported) < time.Minute {
			continue
		}
		if p.n == 0 {
			delete(f.pending, k)
			continue
		}
		due = append(due, *p)
		p.n, p.reported = 0, now
	}
	f.smu.Unlock()
	for _, p := range due {
		s.logSuppressed(ctx, p)
	}
}

// logSuppressed writes one aggregate entry; a failure to write is logged,
// not returned: the caller's answer (429) does not depend on it.
func (s *Service) logSuppressed(ctx context.Context, p suppressed) {
	a := audit.Actor{Username: "share:unknown", Role: "share_client", Region: "360000000000"}
	reg := a.Region
	if s.Tree != nil && s.Tree.Root != nil {
		a.Region, reg = s.Tree.Root.Code, s.Tree.Root.Code
	}
	err := audit.Record(ctx, s.DB, a, "share.call", "share_client", "", reg,
		map[string]any{"endpoint": p.endpoint, "outcome": "auth_failures_limited", "records": 0, "refused": p.n, "address": p.addr})
	if err != nil && s.Log != nil {
		s.Log.Error("share: audit of limited authentication failures", "err", err, "refused", p.n)
	}
}
