package matching_test

import (
	"fmt"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/matching"
)

// BenchmarkMatch looks up one event among 10,000 hooks in 1,000 namespaces: the index makes the
// cost depend on the hooks of the event's namespace and type, not on all hooks.
func BenchmarkMatch(b *testing.B) {
	x := matching.NewIndex()
	for ns := 0; ns < 1000; ns++ {
		for h := 0; h < 10; h++ {
			x.Upsert(newHook(fmt.Sprintf("ns-%d", ns), fmt.Sprintf("hook-%d", h), event.PodRestart, event.OOMKill))
		}
	}
	e := event.Event{Type: event.OOMKill, Namespace: "ns-500", ResourceName: "web-1"}
	b.ReportAllocs()
	for b.Loop() {
		if len(x.Match(e).Targets) != 10 {
			b.Fatal("wrong match count")
		}
	}
}
