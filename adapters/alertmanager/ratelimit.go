package alertmanager

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket of alerts: it holds up to a minute's worth (perMinute) and refills at
// perMinute a minute. Time is given by the caller, so tests drive it with a fake clock.
type bucket struct {
	mu        sync.Mutex
	capacity  float64
	perSecond float64
	tokens    float64
	last      time.Time
}

// newBucket returns a full bucket of perMinute alerts.
func newBucket(perMinute int, now time.Time) *bucket {
	return &bucket{capacity: float64(perMinute), perSecond: float64(perMinute) / 60, tokens: float64(perMinute), last: now}
}

func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.capacity, b.tokens+now.Sub(b.last).Seconds()*b.perSecond)
		b.last = now
	}
}

// take takes n alerts' tokens if the bucket has them; otherwise it takes nothing and says how
// long until it will have them. n must not exceed the capacity.
func (b *bucket) take(n int, now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= float64(n) {
		b.tokens -= float64(n)
		return true, 0
	}
	return false, b.waitFor(float64(n))
}

// empty reports whether not even one alert would be taken now, and how long until one would.
func (b *bucket) empty(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, b.waitFor(1)
}

// give returns n tokens taken for alerts khook then could not take.
func (b *bucket) give(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(b.capacity, b.tokens+float64(n))
}

func (b *bucket) waitFor(n float64) time.Duration {
	return time.Duration((n - b.tokens) / b.perSecond * float64(time.Second))
}
