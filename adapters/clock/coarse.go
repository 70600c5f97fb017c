package clock

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// Coarse is a clock that reads the time once per resolution and answers Now from that reading,
// for the hot path of an event storm: the dedup store reads the clock on every event, and on
// some virtual machines reading the time costs about 50 ns and does not scale across cores (all
// cores wait for one time source; docs/benchmarks.md). Until Run runs, and after it returns, Now
// reads the time itself.
type Coarse struct {
	resolution time.Duration
	running    atomic.Bool
	now        atomic.Int64 // Unix nanoseconds, refreshed every resolution while running
}

var _ clock.PassiveClock = (*Coarse)(nil)

// NewCoarse returns a coarse clock of the given resolution; it is exact until Run runs.
func NewCoarse(resolution time.Duration) *Coarse { return &Coarse{resolution: resolution} }

// Run refreshes the reading every resolution until ctx is done.
func (c *Coarse) Run(ctx context.Context) {
	t := time.NewTicker(c.resolution)
	defer t.Stop()
	c.now.Store(time.Now().UnixNano())
	c.running.Store(true)
	defer c.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.now.Store(now.UnixNano())
		}
	}
}

// Now returns the latest reading: at most one resolution old while Run runs, exact otherwise.
func (c *Coarse) Now() time.Time {
	if c.running.Load() {
		return time.Unix(0, c.now.Load())
	}
	return time.Now()
}

// Since returns the time elapsed since t, by Now.
func (c *Coarse) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
