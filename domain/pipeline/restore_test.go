package pipeline_test

import (
	"context"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

// slowGauge widens the window between restoring a Hook's entries and its ledger: when RestoreHook
// moves the firing gauge, it waits a little for a send — which only a racing UpsertHook could
// start, building fresh records before the ledger is restored.
type slowGauge struct {
	noMetrics
	told <-chan struct{}
}

func (g slowGauge) FiringEntries(delta int) {
	if delta > 0 {
		select {
		case <-g.told:
		case <-time.After(20 * time.Millisecond): // the correct pipeline sends nothing: don't wait long
		}
	}
}

type noMetrics struct{}

func (noMetrics) EventHandled(string, event.Type, int, int, int)             {}
func (noMetrics) FiringEntries(int)                                          {}
func (noMetrics) TemplateRefused(string)                                     {}
func (noMetrics) IncidentSuppressed(string)                                  {}
func (noMetrics) Investigations(ports.InvestigationCounts)                   {}
func (noMetrics) SendFinished(hook.AgentRef, string, time.Duration)          {}
func (noMetrics) InvestigationFinished(hook.AgentRef, string, time.Duration) {}
func (noMetrics) RetryScheduled(hook.AgentRef)                               {}
func (noMetrics) QueueDepth(hook.AgentRef, int)                              {}
func (noMetrics) DeliveryUncertain(hook.AgentRef, string)                    {}
func (noMetrics) AgentUsed(hook.AgentRef)                                    {}
func (noMetrics) AgentUnused(hook.AgentRef)                                  {}

// The reconciler and the start-up LoadAll may load the same Hook at once, each restoring it from
// its status and then upserting it. Whatever the interleaving, the saved ledger must win: an
// agent it says was told, or is at work, is not told again.
func TestRestoringAndUpsertingAHookTwiceAtOnceTellsNoAgentAgain(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	saved := func(state string) []ports.ActiveEvent {
		return []ports.ActiveEvent{{EventType: string(event.PodRestart), Namespace: "apps", ResourceName: "web-1", Status: string(dedup.Firing),
			FirstSeen: t0, LastSeen: t0, Occurrences: 1, Event: &ports.EventSnapshot{ResourceKind: "Pod", Reason: "BackOff", Message: "crashing", Timestamp: t0},
			Deliveries: []ports.Delivery{{Agent: agentA.String(), MessageID: "m-1", TaskID: "task-1", State: state, Attempts: 1, SentAt: t0}}}}
	}
	investigation := func(state string) []ports.Investigation {
		return []ports.Investigation{{Name: "one-inv", Hook: h.Ref, HookUID: h.UID, EventType: string(event.PodRestart),
			Subject: ports.Subject{Kind: "Pod", Namespace: "apps", Name: "web-1"}, StartedAt: t0, LastSeen: t0, Members: []string{"apps/web-1"}, MemberCount: 1,
			Event:      &ports.EventSnapshot{ResourceKind: "Pod", Reason: "BackOff", Message: "crashing", Timestamp: t0},
			Deliveries: []ports.InvestigationDelivery{{Delivery: ports.Delivery{Agent: agentA.String(), MessageID: "m-1", TaskID: "task-1", State: state, Attempts: 1, SentAt: t0}}},
			Version:    "7"}}
	}
	tests := []struct {
		name           string
		status         []ports.ActiveEvent
		investigations []ports.Investigation
	}{
		{"an agent the previous release's ledger says was told", saved("completed"), nil},
		{"an agent the previous release's ledger says is at work on the firing", saved("working"), nil},
		{"an agent the investigation says was told", nil, investigation("completed")},
		{"an agent the investigation says is at work on the firing", nil, investigation("working")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				clk := clocktesting.NewFakeClock(t0.Add(time.Minute))
				told := make(chan struct{})
				var toldOnce sync.Once
				agent := &portstest.Agent{Clock: clk, OnSend: func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
					toldOnce.Do(func() { close(told) })
					return ports.Task{ID: "task-2", State: ports.TaskWorking}, nil
				}}
				p, err := pipeline.New(pipeline.Dependencies{Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute),
					Renderer: templating.NewRenderer(), Agent: agent, Audit: &portstest.AuditLog{}, Status: &portstest.StatusWriter{}, Investigations: &portstest.Investigations{},
					Clock: clk, Metrics: slowGauge{told: told}}, pipeline.Options{})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range 2 { // the reconciler and LoadAll
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						p.RestoreHook(h, tt.status, tt.investigations)
						p.UpsertHook(context.Background(), h)
					}()
				}
				close(start)
				wg.Wait()
				p.Wait()
				_ = p.Shutdown(context.Background())
				if n := agent.Count("send", agentA); n != 0 {
					t.Fatalf("agent A was told again (%d sends): the saved ledger was discarded", n)
				}
			}
		})
	}
}
