package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/test/echoagent"
)

// BenchmarkEventToAgent measures one event end to end on real parts: an Event written to the
// API server, seen by the informer, matched, deduplicated, rendered, a Kagent session created and
// the A2A message delivered to the echo agent. ns/op is the latency of that whole path.
func BenchmarkEventToAgent(b *testing.B) {
	ns := newNamespace(b)
	agent := startAgent(b, echoagent.Options{})
	arrived := make(chan string, 16)
	agent.OnCall(func(r echoagent.Received) { arrived <- r.Text })
	startKhook(b, fastOptions(agent.URL))
	create(b, newHook(ns, "bench", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(b, ns, "bench")

	b.ResetTimer()
	for i := range b.N {
		pod := fmt.Sprintf("pod-%d", i)
		create(b, backOffEvent(ns, pod))
		select {
		case txt := <-arrived:
			if !strings.Contains(txt, "Pod "+pod+" ") {
				b.Fatalf("agent received %q for %s", txt, pod)
			}
		case <-time.After(30 * time.Second):
			b.Fatalf("%s never reached the agent", pod)
		}
	}
}
