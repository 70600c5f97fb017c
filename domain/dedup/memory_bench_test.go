package dedup_test

import (
	"fmt"
	"runtime"
	"testing"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// BenchmarkMemory holds 100,000 firing entries across 1,000 Hooks (each in its own namespace
// with 100 crash-looping pods, as the Kubernetes source reports them) and reports the live heap
// per entry after a GC, then what is left once the window has passed twice (resolved, then
// forgotten) on a fake clock.
func BenchmarkMemory(b *testing.B) {
	const hooks, pods = 1000, 100
	var perEntry, left float64
	for b.Loop() {
		clk := clocktesting.NewFakeClock(start)
		base := liveHeap()
		s := dedup.NewStore(clk, window)
		for h := range hooks {
			ns := fmt.Sprintf("team-%04d", h)
			ref := hook.Ref{Namespace: ns, Name: "pod-trouble"}
			for p := range pods {
				// What the Kubernetes source makes of a kubelet BackOff Event: everything the
				// store keeps of it is counted.
				name := fmt.Sprintf("checkout-7d9f8c6b5-%05d", p)
				s.Observe(ref, event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: ns, ResourceName: name,
					Reason: "BackOff", Message: "Back-off restarting failed container app in pod " + name, Timestamp: start,
					Source: "kubernetes", Metadata: map[string]string{"container": "app", "restartCount": fmt.Sprint(p % 7)}})
			}
		}
		perEntry = float64(liveHeap()-base) / float64(hooks*pods)
		clk.Step(window)
		s.Sweep() // resolved as quiet
		clk.Step(window)
		s.Sweep() // forgotten
		left = float64(liveHeap() - base)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perEntry, "live-B/entry")
	b.ReportMetric(left, "live-B-after-window")
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
