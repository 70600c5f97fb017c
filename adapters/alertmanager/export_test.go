package alertmanager

import "time"

// SetEnqueueTimeout shortens how long a request waits for the sink (tests).
func (s *Source) SetEnqueueTimeout(d time.Duration) { s.enqueueTimeout = d }
