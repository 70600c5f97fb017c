package clock

import (
	"k8s.io/utils/clock"

	"github.com/khook-dev/khook/ports"
)

// Real returns the wall clock.
func Real() ports.Clock { return clock.RealClock{} }
