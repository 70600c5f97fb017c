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

func benchPipeline(b *testing.B) *pipeline.Pipeline {
	clk := clocktesting.NewFakeClock(t0)
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: instantAgent{}, Audit: nopAudit{}, Status: nopStatus{}, Clock: clk,
	}, pipeline.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		p.UpsertHook(context.Background(), newHook(fmt.Sprintf("ns-%d", i), "h", onRestart(agentA, "{{.ResourceName}}: {{.Message}}")))
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// BenchmarkHandleDuplicate is the event-storm path: match, dedup, nothing else.
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

// BenchmarkHandleNewFiring is new trouble every time: match, dedup, hand over to delivery, which
// renders and sends to an agent that accepts at once, in the background.
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
