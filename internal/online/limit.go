package online

import (
	"sync"
	"time"
)

// Limiter counts events per key (a client IP) in a sliding window, in memory.
// It is per process: behind several instances each one limits on its own.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu    sync.Mutex
	hits  map[string][]time.Time
	calls int
}

// NewLimiter allows max events per window and key.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// live drops the key's expired events; the caller holds mu.
func (l *Limiter) live(key string, now time.Time) []time.Time {
	if l.hits == nil {
		l.hits = map[string][]time.Time{}
	}
	// now and then sweep every key, so the map does not grow without bound
	if l.calls++; l.calls%1024 == 0 {
		for k, ts := range l.hits {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= l.Window {
				delete(l.hits, k)
			}
		}
	}
	ts := l.hits[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.Window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.hits, key)
	} else {
		l.hits[key] = ts
	}
	return ts
}

// Full reports whether the key has used up its window.
func (l *Limiter) Full(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live(key, l.now())) >= l.Max
}

// Add counts one event.
func (l *Limiter) Add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.hits[key] = append(l.live(key, now), now)
}

// Take reserves one event if the key has room; undo gives it back (the
// reserved attempt failed).
func (l *Limiter) Take(key string) (undo func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ts := l.live(key, now)
	if len(ts) >= l.Max {
		return nil, false
	}
	l.hits[key] = append(ts, now)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		ts := l.hits[key]
		for i := len(ts) - 1; i >= 0; i-- {
			if ts[i].Equal(now) {
				l.hits[key] = append(ts[:i:i], ts[i+1:]...)
				break
			}
		}
		if len(l.hits[key]) == 0 {
			delete(l.hits, key)
		}
	}, true
}
