package volume

import (
	"fmt"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

func TestCooldownRecordsStayBoundedUnderPressure(t *testing.T) {
	const max = 500
	c := NewCooldowns(max)
	h := hook.Ref{Namespace: "apps", Name: "h"}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 * max {
		// Past the bound on every call, with a few subjects ending again and again.
		c.Ended(h, Subject{Kind: "Pod", Name: fmt.Sprintf("p%d", i%(3*max))}, at)
		at = at.Add(time.Millisecond)
		if live, kept := len(c.ended), cap(c.order); live > max || kept > 4*max+2*minCompact {
			t.Fatalf("after %d ends: %d entries and room for %d records; want at most %d and %d", i+1, live, kept, max, 4*max+2*minCompact)
		}
	}
}
