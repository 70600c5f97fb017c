package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/mock/gomock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/mocks"
)

var (
	t0      = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	agentA  = hook.AgentRef{Namespace: "kagent", Name: "a"}
	agentB  = hook.AgentRef{Namespace: "kagent", Name: "b"}
	restart = event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "web-1", Reason: "BackOff", Message: "Back-off restarting failed container", Timestamp: t0}
)

type fixture struct {
	p      *pipeline.Pipeline
	clock  *clocktesting.FakeClock
	agent  *mocks.MockAgentCaller
	audit  *auditLog
	status *mocks.MockHookStatusWriter
}

// auditLog is an in-memory AuditRecorder: tests read what was recorded.
type auditLog struct {
	mu    sync.Mutex
	kinds []ports.AuditKind
}

func (a *auditLog) Record(_ context.Context, _ hook.Ref, rec ports.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kinds = append(a.kinds, rec.Kind)
}

func (a *auditLog) count(k ports.AuditKind) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, x := range a.kinds {
		if x == k {
			n++
		}
	}
	return n
}

func newFixture(t *testing.T, hooks ...hook.Hook) *fixture {
	t.Helper()
	ctrl := gomock.NewController(t)
	f := &fixture{
		clock:  clocktesting.NewFakeClock(t0),
		agent:  mocks.NewMockAgentCaller(ctrl),
		audit:  &auditLog{},
		status: mocks.NewMockHookStatusWriter(ctrl),
	}
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(f.clock, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: f.agent, Audit: f.audit, Status: f.status, Clock: f.clock,
	}, pipeline.Options{MaxConcurrentCalls: 4, RetryAfter: time.Minute, KnownEventTypes: event.KubernetesTypes})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	for _, h := range hooks {
		if c := p.UpsertHook(context.Background(), h); !c.Status {
			t.Fatalf("hook %s not accepted: %s", h.Ref, c.Message)
		}
	}
	return f
}

func newHook(ns, name string, configs ...hook.Configuration) hook.Hook {
	return hook.Hook{Ref: hook.Ref{Namespace: ns, Name: name}, Configurations: configs}
}

func onRestart(agent hook.AgentRef, prompt string) hook.Configuration {
	return hook.Configuration{EventType: event.PodRestart, Agent: agent, Prompt: prompt}
}

func ok() (ports.AgentResponse, error) {
	return ports.AgentResponse{Success: true, RequestID: "task-1"}, nil
}

func TestAMatchingEventCallsEachConfiguredAgentOnceWithTheRenderedPrompt(t *testing.T) {
	f := newFixture(t,
		newHook("apps", "one", onRestart(agentA, "{{.ResourceName}} restarted: {{.Message}}"), onRestart(agentB, "B {{.Reason}}")),
		newHook("apps", "two", onRestart(agentA, "two {{.EventType}}")),
		newHook("other", "elsewhere", onRestart(agentA, "never")),
	)
	var mu sync.Mutex
	var prompts []string
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Times(3).DoAndReturn(func(_ context.Context, req ports.AgentRequest) (ports.AgentResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		prompts = append(prompts, req.Agent.Name+": "+req.Prompt)
		if req.ResourceName != "web-1" || req.EventName != "pod-restart" || req.Context["namespace"] != "apps" {
			t.Errorf("request lacks the event context: %+v", req)
		}
		return ok()
	})
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	want := map[string]bool{"a: web-1 restarted: Back-off restarting failed container": true, "b: B BackOff": true, "a: two pod-restart": true}
	for _, got := range prompts {
		if !want[got] {
			t.Errorf("unexpected prompt %q", got)
		}
	}
	if f.audit.count(ports.AuditFiring) != 2 || f.audit.count(ports.AuditAgentCalled) != 3 {
		t.Fatalf("audit trail: %v", f.audit.kinds)
	}
}

func TestARepeatWithinTheWindowDoesNotCallAgain(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Times(1).Return(ok())
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	f.clock.Step(5 * time.Minute)
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	if f.audit.count(ports.AuditDuplicate) != 1 {
		t.Fatalf("want one duplicate recorded, audit trail: %v", f.audit.kinds)
	}
}

func TestAFailedCallIsRetriedAndOnlyTheFailedAgentIsCalledAgain(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x"), onRestart(agentB, "y")))
	gomock.InOrder(
		f.agent.EXPECT().Call(gomock.Any(), gomock.Cond(func(r ports.AgentRequest) bool { return r.Agent == agentA })).Return(ok()),
		f.agent.EXPECT().Call(gomock.Any(), gomock.Cond(func(r ports.AgentRequest) bool { return r.Agent == agentB })).Return(ports.AgentResponse{}, errors.New("503")),
		f.agent.EXPECT().Call(gomock.Any(), gomock.Cond(func(r ports.AgentRequest) bool { return r.Agent == agentB })).Return(ok()),
	)
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	if n := f.p.RetryDue(context.Background()); n != 0 {
		t.Fatalf("retried %d entries before RetryAfter passed", n)
	}
	f.clock.Step(time.Minute)
	if n := f.p.RetryDue(context.Background()); n != 1 {
		t.Fatalf("RetryDue dispatched %d entries, want 1", n)
	}
	f.p.Wait()
	if n := f.p.RetryDue(context.Background()); n != 0 {
		t.Fatalf("a delivered entry was retried again (%d)", n)
	}
	if f.audit.count(ports.AuditAgentFailed) != 1 || f.audit.count(ports.AuditAgentCalled) != 2 {
		t.Fatalf("audit trail: %v", f.audit.kinds)
	}
}

func TestAnAgentThatAnswersFailureCountsAsFailed(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Times(2).Return(ports.AgentResponse{Success: false, Message: "task failed"}, nil)
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	f.p.Handle(context.Background(), restart) // still due: calls again
	f.p.Wait()
	if f.audit.count(ports.AuditAgentFailed) != 2 {
		t.Fatalf("audit trail: %v", f.audit.kinds)
	}
}

func TestASlowAgentDoesNotDelayOtherKeys(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}")))
	release := make(chan struct{})
	otherCalled := make(chan struct{})
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Times(2).DoAndReturn(func(ctx context.Context, req ports.AgentRequest) (ports.AgentResponse, error) {
		if req.ResourceName == "slow" {
			<-release
		} else {
			close(otherCalled)
		}
		return ok()
	})
	slow := restart
	slow.ResourceName = "slow"
	f.p.Handle(context.Background(), slow)
	f.p.Handle(context.Background(), slow) // a repeat while in flight: a duplicate, not a second call
	f.p.Handle(context.Background(), restart)
	<-otherCalled // would block forever if the slow call held up the other key
	close(release)
	f.p.Wait()
}

func TestFlushStatusWritesChangedHooksOnceAndRetriesFailedWrites(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Return(ok())
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	gomock.InOrder(
		f.status.EXPECT().WriteActiveEvents(gomock.Any(), ref, gomock.Any()).Return(errors.New("conflict")),
		f.status.EXPECT().WriteActiveEvents(gomock.Any(), ref, gomock.Any()).DoAndReturn(func(_ context.Context, _ hook.Ref, active []ports.ActiveEvent) error {
			if len(active) != 1 || active[0].Status != "firing" || active[0].NotifiedAt.IsZero() {
				t.Errorf("status = %+v, want one notified firing event", active)
			}
			return nil
		}),
	)
	if err := f.p.FlushStatus(context.Background()); err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("FlushStatus = %v, want the write error", err)
	}
	if err := f.p.FlushStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.p.FlushStatus(context.Background()); err != nil { // nothing changed: no write
		t.Fatal(err)
	}
}

func TestSweepResolvesQuietEventsAndANewOccurrenceFiresAgain(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Times(2).Return(ok())
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	f.clock.Step(10 * time.Minute)
	f.p.Sweep(context.Background())
	if f.audit.count(ports.AuditResolved) != 1 {
		t.Fatalf("audit trail: %v", f.audit.kinds)
	}
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
}

func TestUpsertHookReportsUnusableConfigurationsAndUsesTheRest(t *testing.T) {
	tests := []struct {
		name       string
		config     hook.Configuration
		wantReason string
		wantField  string
	}{
		{"a refused template", onRestart(agentA, `{{define "x"}}{{end}}`), status.ReasonTemplateRefused, "spec.eventConfigurations[1].prompt"},
		{"an event type no source provides", hook.Configuration{EventType: "alert-firing", Agent: agentA, Prompt: "x"}, status.ReasonUnknownEventType, "spec.eventConfigurations[1].eventType"},
		{"a malformed event type", hook.Configuration{EventType: "Bad_Type", Agent: agentA, Prompt: "x"}, status.ReasonUnknownEventType, "spec.eventConfigurations[1].eventType"},
		{"an agent without a name", hook.Configuration{EventType: event.OOMKill, Agent: hook.AgentRef{Namespace: "x"}, Prompt: "x"}, status.ReasonInvalidAgent, "spec.eventConfigurations[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := newHook("apps", "mixed", onRestart(agentA, "good"), tt.config)
			c := f.p.UpsertHook(context.Background(), h)
			if c.Status || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantField) {
				t.Fatalf("condition = %+v, want reason %s naming %s", c, tt.wantReason, tt.wantField)
			}
			f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Times(1).Return(ok()) // the good configuration still works
			f.p.Handle(context.Background(), restart)
			f.p.Wait()
		})
	}
}

func TestARestoredNotifiedEventIsNotSentAgain(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	restored := f.p.RestoreHook(ref, []ports.ActiveEvent{{EventType: "pod-restart", Namespace: "apps", ResourceName: "web-1",
		FirstSeen: t0, LastSeen: t0, Status: "firing", NotifiedAt: t0, LastNotifiedAt: t0}})
	if !restored {
		t.Fatal("nothing restored")
	}
	f.p.Handle(context.Background(), restart) // the mock fails the test on any call
	f.p.Wait()
}

func TestARemovedHookIsNotCalled(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	f.p.RemoveHook(hook.Ref{Namespace: "apps", Name: "one"})
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
}

func TestShutdownWaitsForCallsUnderWayThenCancelsThemAtTheDeadline(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	started := make(chan struct{})
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, _ ports.AgentRequest) (ports.AgentResponse, error) {
		close(started)
		<-ctx.Done()
		return ports.AgentResponse{}, ctx.Err()
	})
	f.p.Handle(context.Background(), restart)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has already passed
	if err := f.p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want the cancelled calls reported", err)
	}
	f.p.Handle(context.Background(), event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "late"}) // no call after shutdown
}

func TestNewRejectsMissingDependencies(t *testing.T) {
	if _, err := pipeline.New(pipeline.Dependencies{}, pipeline.Options{}); err == nil {
		t.Fatal("New accepted no dependencies")
	}
}

func TestAFailedEventWhoseConfigurationWasRemovedIsNotRetriedNorClaimedNotified(t *testing.T) {
	f := newFixture(t, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.agent.EXPECT().Call(gomock.Any(), gomock.Any()).Return(ports.AgentResponse{}, errors.New("503"))
	f.p.Handle(context.Background(), restart)
	f.p.Wait()
	f.p.UpsertHook(context.Background(), newHook("apps", "one", hook.Configuration{EventType: event.OOMKill, Agent: agentA, Prompt: "y"}))
	f.clock.Step(time.Minute)
	f.p.RetryDue(context.Background()) // the mock fails the test on any call
	f.p.Wait()
	f.status.EXPECT().WriteActiveEvents(gomock.Any(), ref, gomock.Any()).DoAndReturn(func(_ context.Context, _ hook.Ref, active []ports.ActiveEvent) error {
		if len(active) != 1 || !active[0].NotifiedAt.IsZero() {
			t.Errorf("status = %+v, want the event still not notified", active)
		}
		return nil
	})
	if err := f.p.FlushStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
}
