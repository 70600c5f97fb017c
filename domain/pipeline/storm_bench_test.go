package pipeline_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	clockadapter "github.com/khook-dev/khook/adapters/clock"
	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
)

// The storm workload, the same for khook and the original khook so that anyone can compare
// (docs/benchmarks.md): every Hook has 4 configurations (one per Kubernetes event type, all
// for one agent) with a 5-field prompt; "N matching" means N Hooks in the event's namespace.
const stormPrompt = "{{.EventType}} on {{.Namespace}}/{{.ResourceName}}: {{.Reason}}: {{.Message}}"

const stormNamespace = "storm"

var stormAgent = hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}

func stormHook(ns, name string) hook.Hook {
	h := hook.Hook{Ref: hook.Ref{Namespace: ns, Name: name}, UID: "uid-" + ns + "-" + name, Generation: 1}
	for _, t := range event.KubernetesTypes {
		h.Configurations = append(h.Configurations, hook.Configuration{EventType: t, Agent: stormAgent, Prompt: stormPrompt})
	}
	return h
}

// stormEvent is a crash loop of Pod name. It carries the Pod's labels, four as a Deployment's Pod
// has, in a map of its own as the informer's Pod does: the source shares the informer's map,
// so what the pipeline holds of them is what it adds to the informer's cache.
func stormEvent(name string) event.Event {
	return event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: stormNamespace, ResourceName: name,
		Reason: "BackOff", Message: "Back-off restarting failed container app in pod " + name, Timestamp: t0, Source: "kubernetes",
		Labels: map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod",
			"pod-template-hash": "7d9f8b6c5d", "team": "payments"}}
}

// stormPipeline holds total Hooks, matching of them in the storm namespace and the rest in
// namespaces of ten Hooks each, with the no-op agent and the clocks of production: the dedup
// store reads app's coarse clock, the rest the real one. (A FakeClock takes a lock on every
// reading, which all cores would share.)
func stormPipeline(b *testing.B, total, matches int) *pipeline.Pipeline {
	b.Helper()
	coarse := clockadapter.NewCoarse(10 * time.Millisecond) // app.StoreClockResolution
	ctx, stop := context.WithCancel(context.Background())
	go coarse.Run(ctx)
	b.Cleanup(stop)
	return stormPipelineWithClocks(b, total, matches, coarse, clock.RealClock{})
}

func stormPipelineWithClocks(b *testing.B, total, matches int, storeClock, clk clock.PassiveClock) *pipeline.Pipeline {
	b.Helper()
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(storeClock, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: instantAgent{}, Audit: nopAudit{}, Status: nopStatus{}, Investigations: nopInvestigations{}, Clock: clk,
	}, pipeline.Options{KnownEventTypes: event.KubernetesTypes})
	if err != nil {
		b.Fatal(err)
	}
	for i := range total {
		ns := stormNamespace
		if i >= matches {
			ns = fmt.Sprintf("other-%d", (i-matches)/10)
		}
		if c := p.UpsertHook(context.Background(), stormHook(ns, fmt.Sprintf("hook-%05d", i))); !c.Status {
			b.Fatalf("hook not accepted: %s", c.Message)
		}
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// BenchmarkStorm is the event-storm workload: an event no Hook matches, a duplicate of firing
// trouble with 1 and with 100 matching Hooks, and new trouble with 100 matching Hooks (render
// and hand to the no-op agent, the background work included in the time).
func BenchmarkStorm(b *testing.B) {
	b.Run("no-hook-matches", func(b *testing.B) {
		p := stormPipeline(b, 100, 100)
		e := stormEvent("web-1")
		e.Namespace = "quiet"
		b.ReportAllocs()
		for b.Loop() {
			p.Handle(context.Background(), e)
		}
	})
	for _, matches := range []int{1, 100} {
		b.Run(fmt.Sprintf("duplicate/%d-matching", matches), func(b *testing.B) {
			p := stormPipeline(b, 100, matches)
			e := stormEvent("web-1")
			p.Handle(context.Background(), e)
			p.Wait()
			b.ReportAllocs()
			for b.Loop() {
				p.Handle(context.Background(), e)
			}
		})
	}
	b.Run("duplicate/100-matching-with-selectors", func(b *testing.B) {
		// Every Hook selects by label: half take the Pod (team=payments), half leave it out.
		p := stormPipeline(b, 0, 0)
		for i := range 100 {
			h := stormHook(stormNamespace, fmt.Sprintf("hook-%05d", i))
			team := "payments"
			if i%2 == 1 {
				team = "search"
			}
			for j := range h.Configurations {
				h.Configurations[j].Selector = hook.Selector{MatchLabels: map[string]string{"team": team}}
			}
			if c := p.UpsertHook(context.Background(), h); !c.Status {
				b.Fatalf("hook not accepted: %s", c.Message)
			}
		}
		e := stormEvent("web-1")
		p.Handle(context.Background(), e)
		p.Wait()
		b.ReportAllocs()
		for b.Loop() {
			p.Handle(context.Background(), e)
		}
	})
	b.Run("new-firing/100-matching", func(b *testing.B) {
		clk := clocktesting.NewFakeClock(t0) // moved past the window between rounds
		p := stormPipelineWithClocks(b, 100, 100, clk, clk)
		// A thousand pods take turns; a round later the window has passed, so each sight is a
		// new firing again and the state stays the size of a thousand firings.
		const pods = 1000
		events := make([]event.Event, pods)
		for i := range events {
			events[i] = stormEvent(fmt.Sprintf("web-%d", i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i > 0 && i%pods == 0 {
				p.Wait()
				clk.Step(11 * time.Minute)
			}
			p.Handle(context.Background(), events[i%pods])
		}
		p.Wait()
	})
}

// BenchmarkStormHookCount is a duplicate matching 10 Hooks among 10 and among 10,000: the cost
// follows the Hooks that match, not the Hooks that exist.
func BenchmarkStormHookCount(b *testing.B) {
	for _, total := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("%d-hooks", total), func(b *testing.B) {
			p := stormPipeline(b, total, 10)
			e := stormEvent("web-1")
			p.Handle(context.Background(), e)
			p.Wait()
			b.ReportAllocs()
			for b.Loop() {
				p.Handle(context.Background(), e)
			}
		})
	}
}

// BenchmarkStormParallel repeats 10,000 distinct firing keys from every core at once: the
// duplicate path takes no lock that all keys share.
func BenchmarkStormParallel(b *testing.B) {
	p := stormPipeline(b, 100, 1)
	const keys = 10_000
	events := make([]event.Event, keys)
	for i := range events {
		events[i] = stormEvent(fmt.Sprintf("web-%d", i))
		p.Handle(context.Background(), events[i])
	}
	p.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	var started atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(started.Add(1)) * (keys / 3) // each core starts elsewhere
		for pb.Next() {
			p.Handle(context.Background(), events[i%keys])
			i += 7919 // a prime: the cores walk the keys in different orders
		}
	})
}

// instantAgent accepts every message as a completed task.
type instantAgent struct{}

func (instantAgent) Send(context.Context, ports.AgentRequest) (ports.Task, error) {
	return ports.Task{ID: "t", State: ports.TaskCompleted}, nil
}
func (instantAgent) GetTask(context.Context, hook.AgentRef, string) (ports.Task, error) {
	return ports.Task{ID: "t", State: ports.TaskCompleted}, nil
}

type nopAudit struct{}

func (nopAudit) Record(context.Context, hook.Ref, ports.AuditRecord) {}

type nopStatus struct{}

func (nopStatus) WriteActivity(context.Context, hook.Ref, ports.HookActivity) error { return nil }
func (nopStatus) WriteConditions(context.Context, hook.Ref, int64, []ports.Condition) error {
	return nil
}

// nopInvestigations writes nothing, as fast as it can: the storm measures khook, not a store.
type nopInvestigations struct{}

func (nopInvestigations) Save(context.Context, ports.Investigation) (string, error) { return "1", nil }
func (nopInvestigations) Get(context.Context, hook.Ref, string) (ports.Investigation, bool, error) {
	return ports.Investigation{}, false, nil
}
func (nopInvestigations) List(context.Context, hook.Ref, string) ([]ports.Investigation, error) {
	return nil, nil
}
func (nopInvestigations) Delete(context.Context, hook.Ref, string) error { return nil }
