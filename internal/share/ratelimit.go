package share

import (
	"fmt"
	"time"
)

// bucket is a token bucket: it holds at most a minute's allowance and
// refills continuously at the key's rate.
type bucket struct {
	tokens float64
	last   time.Time
}

// Allow takes one request from the client's rate limit.
//
// The buckets live in this process: each server instance limits on its own,
// so behind a load balancer with N instances a key may make up to N times its
// rate. That is deliberate — a shared counter in the database would put a
// write on every call — and the audit log still records every call.
func (s *Service) Allow(c *Client) bool {
	if c == nil {
		return false
	}
	return s.allowKey(fmt.Sprintf("key:%d", c.ID), c.RatePerMinute)
}

// allowKey takes one request from the bucket named key with a per-minute rate.
// Callers that could not be identified are limited by their address.
func (s *Service) allowKey(key string, perMinute int) bool {
	if perMinute <= 0 {
		perMinute = DefaultRate
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets == nil {
		s.buckets = map[string]*bucket{}
	}
	b, ok := s.buckets[key]
	capacity := float64(perMinute)
	if !ok {
		b = &bucket{tokens: capacity, last: now}
		s.buckets[key] = b
		if len(s.buckets) > 100000 {
			// a flood of addresses must not grow the map without bound:
			// drop full buckets, which hold no state worth keeping
			for k, o := range s.buckets {
				if o.tokens+now.Sub(o.last).Minutes()*capacity >= capacity && k != key {
					delete(s.buckets, k)
				}
			}
		}
	}
	b.tokens = min(capacity, b.tokens+now.Sub(b.last).Minutes()*capacity)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
