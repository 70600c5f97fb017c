package pipeline_test

import (
	"context"
	"slices"
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
	"github.com/khook-dev/khook/ports/portstest"
)

// agentUse records what the pipeline says of agents coming into and going out of use.
type agentUse struct {
	noMetrics
	mu    sync.Mutex
	calls []string
}

func (a *agentUse) AgentUsed(x hook.AgentRef) { a.record("used " + x.String()) }
func (a *agentUse) AgentUnused(x hook.AgentRef) {
	a.record("unused " + x.String())
}

func (a *agentUse) record(call string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, call)
}

func (a *agentUse) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.calls
	a.calls = nil
	return out
}

// The metrics keep series per agent only while some Hook names it: the pipeline tells them when
// an agent comes into use and when no Hook names it any more.
func TestTheMetricsAreToldWhichAgentsTheHooksName(t *testing.T) {
	agentC := hook.AgentRef{Namespace: "kagent", Name: "c"}
	refused := onRestart(agentC, "{{.NoSuchField}}")
	tests := []struct {
		name  string
		steps func(ctx context.Context, p *pipeline.Pipeline)
		want  []string
	}{
		{"a Hook naming agents nobody named brings each into use once",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a"), hook.Configuration{EventType: event.OOMKill, Agent: agentA, Prompt: "a"}, onRestart(agentB, "b")))
			},
			[]string{"used kagent/a", "used kagent/b"}},
		{"a second Hook naming the same agent changes nothing",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a")))
				p.UpsertHook(ctx, newHook("web", "y", onRestart(agentA, "a")))
			},
			[]string{"used kagent/a"}},
		{"removing one of two Hooks naming an agent keeps it in use",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a")))
				p.UpsertHook(ctx, newHook("web", "y", onRestart(agentA, "a")))
				p.RemoveHook(hook.Ref{Namespace: "apps", Name: "x"})
			},
			[]string{"used kagent/a"}},
		{"removing the last Hook naming an agent takes it out of use",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a")))
				p.UpsertHook(ctx, newHook("web", "y", onRestart(agentA, "a")))
				p.RemoveHook(hook.Ref{Namespace: "apps", Name: "x"})
				p.RemoveHook(hook.Ref{Namespace: "web", Name: "y"})
			},
			[]string{"used kagent/a", "unused kagent/a"}},
		{"a Hook edited to name another agent swaps them",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a")))
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentB, "b")))
			},
			[]string{"used kagent/a", "used kagent/b", "unused kagent/a"}},
		{"an agent of a refused configuration is not in use",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a"), refused))
			},
			[]string{"used kagent/a"}},
		{"a Hook recreated under its name with other agents lets the old ones go",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a")))
				again := newHook("apps", "x", onRestart(agentB, "b"))
				again.UID = "uid-x-again"
				p.UpsertHook(ctx, again)
			},
			[]string{"used kagent/a", "unused kagent/a", "used kagent/b"}},
		{"removing a Hook twice, or one never seen, says nothing more",
			func(ctx context.Context, p *pipeline.Pipeline) {
				p.UpsertHook(ctx, newHook("apps", "x", onRestart(agentA, "a")))
				p.RemoveHook(hook.Ref{Namespace: "apps", Name: "x"})
				p.RemoveHook(hook.Ref{Namespace: "apps", Name: "x"})
				p.RemoveHook(hook.Ref{Namespace: "apps", Name: "never"})
			},
			[]string{"used kagent/a", "unused kagent/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			use := &agentUse{}
			clk := clocktesting.NewFakeClock(t0)
			p, err := pipeline.New(pipeline.Dependencies{
				Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute), Renderer: templating.NewRenderer(),
				Agent: &portstest.Agent{Clock: clk}, Audit: &portstest.AuditLog{}, Status: &portstest.StatusWriter{}, Investigations: &portstest.Investigations{}, Clock: clk, Metrics: use,
			}, pipeline.Options{KnownEventTypes: event.KubernetesTypes})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
			tt.steps(context.Background(), p)
			if got := use.take(); !slices.Equal(got, tt.want) {
				t.Fatalf("the metrics were told %q, want %q", got, tt.want)
			}
		})
	}
}
