//go:build ignore

// This benchmark runs the storm workload of domain/pipeline/storm_bench_test.go against the
// original khook (github.com/kagent-dev/khook at c8abacf), so that both are measured on one
// machine in one run. It is not part of this module: hack/bench-original.sh copies it into
// internal/pipeline of a checkout of the original and runs it there.

package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kagent-dev/khook/api/v1alpha2"
	"github.com/kagent-dev/khook/internal/deduplication"
	"github.com/kagent-dev/khook/internal/interfaces"
)

// The same workload as khook's BenchmarkStorm: 4 configurations per Hook (one per Kubernetes
// event type, one agent) with a 5-field prompt; "N matching" means N Hooks in the namespace.
const stormPrompt = "{{.EventType}} on {{.Namespace}}/{{.ResourceName}}: {{.Reason}}: {{.Message}}"

type noopAgent struct{}

func (noopAgent) CallAgent(context.Context, interfaces.AgentRequest) (*interfaces.AgentResponse, error) {
	return &interfaces.AgentResponse{Success: true, RequestId: "t"}, nil
}
func (noopAgent) Authenticate() error { return nil }

type noopStatus struct{}

func (noopStatus) UpdateHookStatus(context.Context, *v1alpha2.Hook, []interfaces.ActiveEvent) error {
	return nil
}
func (noopStatus) RecordEventFiring(context.Context, *v1alpha2.Hook, interfaces.Event, types.NamespacedName) error {
	return nil
}
func (noopStatus) RecordEventResolved(context.Context, *v1alpha2.Hook, string, string) error {
	return nil
}
func (noopStatus) RecordError(context.Context, *v1alpha2.Hook, interfaces.Event, error, types.NamespacedName) error {
	return nil
}
func (noopStatus) RecordAgentCallSuccess(context.Context, *v1alpha2.Hook, interfaces.Event, types.NamespacedName, string) error {
	return nil
}
func (noopStatus) RecordAgentCallFailure(context.Context, *v1alpha2.Hook, interfaces.Event, types.NamespacedName, error) error {
	return nil
}
func (noopStatus) RecordDuplicateEvent(context.Context, *v1alpha2.Hook, interfaces.Event) error {
	return nil
}
func (noopStatus) GetHookStatus(context.Context, types.NamespacedName) (*v1alpha2.HookStatus, error) {
	return nil, nil
}
func (noopStatus) LogControllerStartup(context.Context, string, map[string]interface{}) {}
func (noopStatus) LogControllerShutdown(context.Context, string)                        {}

func stormHooks(n int) []*v1alpha2.Hook {
	agentNS := "kagent"
	hooks := make([]*v1alpha2.Hook, n)
	for i := range hooks {
		h := &v1alpha2.Hook{}
		h.Namespace, h.Name = "storm", fmt.Sprintf("hook-%05d", i)
		for _, t := range []string{"pod-restart", "oom-kill", "pod-pending", "probe-failed"} {
			h.Spec.EventConfigurations = append(h.Spec.EventConfigurations, v1alpha2.EventConfiguration{
				EventType: t, AgentRef: v1alpha2.ObjectReference{Name: "k8s-agent", Namespace: &agentNS}, Prompt: stormPrompt})
		}
		hooks[i] = h
	}
	return hooks
}

func stormEvent(name string) interfaces.Event {
	return interfaces.Event{Type: "pod-restart", Namespace: "storm", ResourceName: name, Reason: "BackOff",
		Message: "Back-off restarting failed container app in pod " + name, Timestamp: time.Now(), UID: "u"}
}

func newProcessor() *Processor {
	log.SetLogger(logr.Discard())
	return NewProcessor(nil, deduplication.NewManager(), noopAgent{}, noopStatus{})
}

func BenchmarkOriginalStorm(b *testing.B) {
	ctx := context.Background()
	b.Run("no-hook-matches", func(b *testing.B) {
		p, hooks := newProcessor(), stormHooks(100)
		e := stormEvent("web-1")
		e.Type = "unknown-type"
		b.ReportAllocs()
		for b.Loop() {
			_ = p.ProcessEvent(ctx, e, hooks)
		}
	})
	for _, matches := range []int{1, 100} {
		b.Run(fmt.Sprintf("duplicate/%d-matching", matches), func(b *testing.B) {
			p, hooks := newProcessor(), stormHooks(matches)
			e := stormEvent("web-1")
			_ = p.ProcessEvent(ctx, e, hooks)
			b.ReportAllocs()
			for b.Loop() {
				_ = p.ProcessEvent(ctx, e, hooks)
			}
		})
	}
	b.Run("new-firing/100-matching", func(b *testing.B) {
		p, hooks := newProcessor(), stormHooks(100)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = p.ProcessEvent(ctx, stormEvent(fmt.Sprintf("web-%d", i)), hooks)
			i++
		}
	})
}
