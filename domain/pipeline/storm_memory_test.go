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

// distinctStormPods is the storm of the investigations issue: 50,000 distinct crash-looping Pods
// on one Hook.
const distinctStormPods = 50_000

// distinctStormHeapBound is what such a storm may make khook's domain hold, 1.3 KiB a firing:
// the dedup store's row of each (BenchmarkMemory in domain/dedup), the open investigations (the
// default 1,000, with their deliveries and prompts), and the incidents suppressed for the
// backlog (about 600 bytes each: held so that a repeat is not weighed again, but without their
// event or words). It was 89 MiB when each incident kept a set of its firing members.
const distinctStormHeapBound = 64 << 20

// distinctStorm hands one Hook pods distinct crash-looping Pods, with the default limits and an
// agent whose investigations never end, writes what there is to write, and returns how much
// more heap the pipeline holds afterwards and the pipeline.
func distinctStorm(tb testing.TB, pods int) (held int, p *pipeline.Pipeline) {
	tb.Helper()
	clk := clocktesting.NewFakeClock(t0)
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: workingAgent{}, Audit: nopAudit{}, Status: nopStatus{}, Investigations: nopInvestigations{}, Clock: clk,
	}, pipeline.Options{KnownEventTypes: event.KubernetesTypes})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	if c := p.UpsertHook(context.Background(), stormHook(stormNamespace, "storm")); !c.Status {
		tb.Fatalf("hook not accepted: %s", c.Message)
	}
	events := make([]event.Event, pods)
	for i := range events {
		events[i] = stormEvent(fmt.Sprintf("web-%05d", i))
	}
	before := heapAfterGC()
	for _, e := range events {
		p.Handle(context.Background(), e)
	}
	p.Wait()
	if err := p.FlushStatus(context.Background(), true); err != nil {
		tb.Fatal(err)
	}
	return heapAfterGC() - before, p
}

func TestAStormOfDistinctTroubleHoldsABoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("handles 50,000 distinct firings")
	}
	held, p := distinctStorm(t, distinctStormPods)
	t.Logf("%d distinct firings on one Hook hold %.1f MiB (%d B each); %d deliveries wait for the agent", distinctStormPods, float64(held)/(1<<20),
		held/distinctStormPods, p.Delivery().QueueDepth(stormAgent))
	if held > distinctStormHeapBound {
		t.Errorf("the heap grew by %.1f MiB, more than %d MiB", float64(held)/(1<<20), distinctStormHeapBound>>20)
	}
	if q := p.Delivery().QueueDepth(stormAgent); q > pipeline.DefaultMaxWaitingPerAgent {
		t.Errorf("%d deliveries wait for the agent, more than %d", q, pipeline.DefaultMaxWaitingPerAgent)
	}
}

// BenchmarkStormOfDistinctTrouble reports the heap 50,000 distinct firings on one Hook hold
// (make bench records it in docs/benchmarks.md).
func BenchmarkStormOfDistinctTrouble(b *testing.B) {
	for b.Loop() {
		held, _ := distinctStorm(b, distinctStormPods)
		b.ReportMetric(float64(held)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(held)/distinctStormPods, "heap-B/firing")
	}
}

// workingAgent accepts every message; the tasks it starts never end.
type workingAgent struct{}

func (workingAgent) Send(context.Context, ports.AgentRequest) (ports.Task, error) {
	return ports.Task{ID: "t", State: ports.TaskWorking}, nil
}
func (workingAgent) GetTask(context.Context, hook.AgentRef, string) (ports.Task, error) {
	return ports.Task{ID: "t", State: ports.TaskWorking}, nil
}
