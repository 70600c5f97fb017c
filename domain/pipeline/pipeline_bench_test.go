package pipeline_test

import (
	"context"
	"fmt"
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
)

type nopAgent struct{}

func (nopAgent) Call(context.Context, ports.AgentRequest) (ports.AgentResponse, error) {
	return ports.AgentResponse{Success: true}, nil
}

type nopAudit struct{}

func (nopAudit) Record(context.Context, hook.Ref, ports.AuditRecord) {}

type nopStatus struct{}

func (nopStatus) WriteActiveEvents(context.Context, hook.Ref, []ports.ActiveEvent) error { return nil }
func (nopStatus) WriteConditions(context.Context, hook.Ref, int64, []ports.Condition) error {
	return nil
}

func benchPipeline(b *testing.B) *pipeline.Pipeline {
	clk := clocktesting.NewFakeClock(t0)
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: nopAgent{}, Audit: nopAudit{}, Status: nopStatus{}, Clock: clk,
	}, pipeline.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		p.UpsertHook(context.Background(), newHook(fmt.Sprintf("ns-%d", i), "h", onRestart(agentA, "{{.ResourceName}}: {{.Message}}")))
	}
	return p
}

// BenchmarkHandleDuplicate is the event-storm path: match, dedup, audit, no agent call.
func BenchmarkHandleDuplicate(b *testing.B) {
	p := benchPipeline(b)
	e := event.Event{Type: event.PodRestart, Namespace: "ns-42", ResourceName: "web-1", Message: "Back-off"}
	p.Handle(context.Background(), e)
	p.Wait()
	b.ReportAllocs()
	for b.Loop() {
		p.Handle(context.Background(), e)
	}
}

// BenchmarkHandleNewFiring is new trouble every time: match, dedup, render and an agent call
// that returns at once, dispatched asynchronously.
func BenchmarkHandleNewFiring(b *testing.B) {
	p := benchPipeline(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Handle(context.Background(), event.Event{Type: event.PodRestart, Namespace: "ns-42", ResourceName: fmt.Sprintf("web-%d", i)})
		i++
	}
	p.Wait()
}
