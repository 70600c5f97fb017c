package sources

import "time"

// SetStartGrace shortens StartGrace for r, so that a test of a source that hangs need not wait
// half a minute. Call it before Run.
func SetStartGrace(r *Router, d time.Duration) { r.startGrace = d }
