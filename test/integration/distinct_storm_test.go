package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/test/echoagent"
)

// TestAStormOfDistinctCrashLoopingPodsKeepsTheHookBoundedAndEveryWriteSucceeds hands one Hook
// 50,000 distinct crash-looping Pods at once, with the default limits and an agent whose
// investigations do not end. khook opens as many investigations as a Hook may, suppresses and
// counts the rest (writing a bounded number of them), queues no more than an agent may wait for,
// keeps the Hook's status under 64 KiB, and the API server refuses none of its writes.
func TestAStormOfDistinctCrashLoopingPodsKeepsTheHookBoundedAndEveryWriteSucceeds(t *testing.T) {
	const pods = 50_000
	limits := pipeline.InvestigationLimits{}.WithDefaults()
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	agent.SetBehavior("kagent/storm-agent", echoagent.Behavior{Hold: hold}) // no investigation ends
	cfg, requests := counting(restConfig)
	opts := fastOptions(agent.URL)
	opts.Investigations = pipeline.InvestigationLimits{} // the defaults
	opts.Logger = ptr.To(logr.Discard())                 // a line per firing would bury the figures
	ctrl := startManagerWithConfig(t, cfg, opts, nil)
	ctrl.waitReady(t)
	create(t, newHook(ns, "storm", "storm-agent", "{{.ResourceName}}: {{.Message}}", "pod-restart"))
	waitAccepted(t, ns, "storm")

	var largest sizes
	stop := largest.watch(t, ns, "storm")
	began := time.Now()
	for i := range pods {
		ctrl.khook.Pipeline.Handle(context.Background(), event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: ns,
			ResourceName: fmt.Sprintf("web-%05d", i), Reason: "BackOff", Message: "Back-off restarting failed container app",
			Timestamp: time.Now(), Source: "kubernetes"})
	}
	handled := time.Since(began)
	eventually(t, 120*time.Second, func() error {
		c := hookStatus(t, ns, "storm").Investigations
		if c == nil || int(c.Pending+c.Working) != limits.MaxOpenPerHook || int(c.SuppressedBy["backlog"]) != pods-limits.MaxOpenPerHook {
			return fmt.Errorf("the Hook counts %+v, want %d open and %d suppressed (backlog)", c, limits.MaxOpenPerHook, pods-limits.MaxOpenPerHook)
		}
		return nil
	})
	var list v1alpha2.InvestigationList
	suppressed := 0
	eventually(t, 120*time.Second, func() error { // and each open one, and as many suppressed as allowed, is written
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		suppressed = 0
		for _, inv := range list.Items {
			if inv.Status.Phase == "suppressed" {
				suppressed++
			}
		}
		if open := len(list.Items) - suppressed; open != limits.MaxOpenPerHook || suppressed < limits.SuppressedPerMinute {
			return fmt.Errorf("%d open and %d suppressed Investigations written, want %d open and at least %d suppressed (a minute's burst)",
				open, suppressed, limits.MaxOpenPerHook, limits.SuppressedPerMinute)
		}
		return nil
	})
	settled := time.Since(began)
	stop()

	if refused := requests.refusedWrites(); len(refused) > 0 {
		t.Fatalf("the API server refused %d writes, the first: %s", len(refused), refused[0])
	}
	if largest.max() >= 64<<10 {
		t.Fatalf("the Hook's status grew to %d bytes, want under 64 KiB", largest.max())
	}
	// A burst of a minute's worth, then the rate.
	if most := limits.SuppressedPerMinute + int(settled.Minutes()*float64(limits.SuppressedPerMinute)) + 1; suppressed > most {
		t.Fatalf("%d suppressed Investigations written in %s, want at most %d (%d a minute)", suppressed, settled, most, limits.SuppressedPerMinute)
	}
	storm := hook.AgentRef{Namespace: "kagent", Name: "storm-agent"}
	if q := ctrl.khook.Pipeline.Delivery().QueueDepth(storm); q > limits.MaxWaitingPerAgent {
		t.Fatalf("%d deliveries wait for the agent, want at most %d", q, limits.MaxWaitingPerAgent)
	}
	if n := len(agent.ReceivedBy("kagent/storm-agent")); n > opts.Delivery.WithDefaults().MaxInvestigationsPerAgent {
		t.Fatalf("the agent got %d messages, want at most the %d investigations it may run at once", n, opts.Delivery.WithDefaults().MaxInvestigationsPerAgent)
	}
	t.Logf("%d distinct pods handled in %s, settled in %s: %d Investigations written (%d suppressed), largest Hook status %d bytes, %d writes",
		pods, handled.Round(time.Millisecond), settled.Round(time.Millisecond), len(list.Items), suppressed, largest.max(), requests.writes())
}

// sizes remembers the largest encoding of a Hook's status seen while it watches.
type sizes struct {
	mu      sync.Mutex
	largest int
}

// watch reads the Hook's status every 100 ms until the returned stop is called.
func (s *sizes) watch(t *testing.T, ns, name string) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			var h v1alpha2.Hook
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &h); err == nil {
				b, _ := json.Marshal(h.Status)
				s.mu.Lock()
				s.largest = max(s.largest, len(b))
				s.mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); <-stopped }) }
	t.Cleanup(stop)
	return stop
}

func (s *sizes) max() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.largest
}
