package alertmanager

import (
	"time"

	"k8s.io/utils/clock"
)

// SetEnqueueTimeout shortens how long a request waits for the sink (tests).
func (s *Source) SetEnqueueTimeout(d time.Duration) { s.enqueueTimeout = d }

// SetClock makes the per-minute cap read c; call it before Init.
func (s *Source) SetClock(c clock.PassiveClock) { s.clock = c }

// Connections says how many connections the latest listener holds open now, and the most it
// ever held at once.
func (s *Source) Connections() (open, peak int) {
	l := s.listener.Load()
	if l == nil {
		return 0, 0
	}
	return int(l.open.Load()), int(l.peak.Load())
}
