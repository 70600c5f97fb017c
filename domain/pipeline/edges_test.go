package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// The edges issue: each test here is a promise that was false in a case a user meets.

const alertFiring event.Type = "alert-firing"

func onAlert(agent hook.AgentRef, prompt string) hook.Configuration {
	return hook.Configuration{EventType: alertFiring, Agent: agent, Prompt: prompt}
}

// anAlert fires at startsAt, as Alertmanager's webhook reports it.
func anAlert(startsAt time.Time) event.Event {
	return event.Event{Type: alertFiring, ResourceKind: "Alert", Namespace: "apps", ResourceName: "HighLatency", Reason: "HighLatency",
		Message: "latency is high", Timestamp: startsAt, Source: "alertmanager", Fingerprint: "3f2a", SourceType: "HighLatency"}
}

func resolvedAt(e event.Event, at time.Time) event.Event {
	e.Resolution, e.Timestamp = event.Recovered, at
	return e
}

func TestAnAlertThatResolvesAndFiresAgainIsInvestigatedAgain(t *testing.T) {
	tests := []struct {
		name string
		// resolve is the resolution the source sends, received a minute after the alert's end.
		resolve func(first, again event.Event) event.Event
	}{
		{"resolved with its end time (send_resolved: true)", func(first, _ event.Event) event.Event {
			return resolvedAt(first, first.Timestamp.Add(30*time.Second))
		}},
		{"resolved by the source because it started again (a new startsAt, send_resolved: false)", func(_, again event.Event) event.Event {
			return resolvedAt(again, again.Timestamp)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{KnownEventTypes: []event.Type{alertFiring}}, newHook("apps", "alerts", onAlert(agentA, "{{.Message}}")))
			first := anAlert(t0.Add(-time.Minute))
			f.handle(first)
			again := anAlert(t0.Add(time.Minute)) // starts before khook hears of the end
			f.clock.Step(2 * time.Minute)
			f.handle(tt.resolve(first, again))
			f.clock.Step(time.Minute)
			f.handle(again)
			if got := len(f.agent.Calls("send", agentA)); got != 2 {
				t.Fatalf("the agent was told %d times, want 2 (once per firing)", got)
			}
		})
	}
}

func TestTroubleOlderThanTheResolutionItsSourceSentIsIgnored(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	f.handle(restart)
	f.clock.Step(time.Minute)
	f.handle(resolvedAt(restart, f.clock.Now()))
	stale := restart // a pod listed again shows the restart it recovered from
	f.clock.Step(time.Minute)
	f.handle(stale)
	if got := len(f.agent.Calls("send", agentA)); got != 1 {
		t.Fatalf("the agent was told %d times, want 1: the stale report is history", got)
	}
}

// A Hook edited while an event it matched is on its way: the event matched the old
// configuration, the edit reconciled before the firing reached the ledger.
func TestAHookEditRacingANewFiringTellsTheAgentTheHookNowNames(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}")))
	edited := newHook("apps", "one", onRestart(agentB, "B {{.ResourceName}}"))
	edited.Generation = 2
	edit := func(_ hook.Ref, rec ports.AuditRecord) {
		if rec.Kind == ports.AuditFiring {
			f.audit.OnRecord = nil
			f.p.UpsertHook(context.Background(), edited)
		}
	}
	f.audit.OnRecord = edit
	f.handle(restart)
	f.after(time.Second)
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[b: B web-1]" {
		t.Fatalf("prompts = %q, want the agent the Hook now names, told once", got)
	}
	f.flush(t, false)
	if got := deliveriesOf(f.inv.All(edited.Ref)); got != "kagent/b=completed" {
		t.Fatalf("the ledger says %q, want the agent the Hook now names, told", got)
	}
}

// The same race in every interleaving the scheduler produces: whatever the order, the agent the
// Hook finally names is told of the firing, exactly once, and the ledger says so.
func TestAHookEditRacingNewFiringsTellsTheAgentTheHookNowNamesWhateverTheInterleaving(t *testing.T) {
	for i := range 200 {
		f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}")))
		edited := newHook("apps", "one", onRestart(agentB, "B {{.ResourceName}}"))
		edited.Generation = 2
		e := restart
		e.ResourceName = fmt.Sprintf("web-%d", i)
		done := make(chan struct{})
		go func() { f.p.UpsertHook(context.Background(), edited); close(done) }()
		f.p.Handle(context.Background(), e)
		<-done
		f.after(time.Second)
		if got := len(f.agent.Calls("send", agentB)); got != 1 {
			t.Fatalf("iteration %d: agent b was told %d times, want once (sends: %q)", i, got, prompts(f.agent.Calls("send", hook.AgentRef{})))
		}
	}
}

func TestAPromptTypoLeavesTheLedgerAloneAndItsFixTellsNobodyAgain(t *testing.T) {
	good := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}"), onRestart(agentB, "B {{.ResourceName}}"))
	typo := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName"), onRestart(agentB, "B {{.ResourceName}}"))
	typo.Generation = 2
	fixed := good
	fixed.Generation = 3
	ref := good.Ref
	f := newFixture(t, pipeline.Options{}, good)
	f.handle(restart)
	f.flush(t, false)
	if c := f.p.UpsertHook(context.Background(), typo); c.Status {
		t.Fatal("the typo was accepted")
	}
	f.after(time.Second)
	f.flush(t, false)
	if got := deliveriesOf(f.inv.All(ref)); got != "kagent/a=completed kagent/b=completed" {
		t.Fatalf("with the typo the ledger says %q, want both agents' records kept", got)
	}
	f.p.UpsertHook(context.Background(), fixed)
	f.after(time.Minute)
	if got := len(f.agent.Calls("send", hook.AgentRef{})); got != 2 {
		t.Fatalf("%d sends, want 2: fixing the typo tells nobody again", got)
	}
}

func TestARestartWithAPromptTypoKeepsTheRestoredLedger(t *testing.T) {
	typo := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName"))
	f := newFixture(t, pipeline.Options{})
	saved := []ports.ActiveEvent{{EventType: string(event.PodRestart), Namespace: "apps", ResourceName: "web-1", Status: string(dedup.Firing),
		FirstSeen: t0, LastSeen: t0, Occurrences: 1, Event: &ports.EventSnapshot{ResourceKind: "Pod", Reason: "BackOff", Message: "crashing", Timestamp: t0},
		Deliveries: []ports.Delivery{{Agent: agentA.String(), MessageID: "m-1", TaskID: "task-1", State: "completed", Attempts: 1, SentAt: t0}}}}
	f.p.RestoreHook(typo, saved, nil)
	f.p.UpsertHook(context.Background(), typo)
	f.after(time.Second)
	f.flush(t, false)
	if got := deliveriesOf(f.inv.All(typo.Ref)); got != "kagent/a=completed" {
		t.Fatalf("after a restart with the typo the ledger says %q, want the restored record", got)
	}
	fixed := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}"))
	fixed.Generation = 2
	f.p.UpsertHook(context.Background(), fixed)
	f.after(time.Minute)
	if got := len(f.agent.Calls("send", agentA)); got != 0 {
		t.Fatalf("%d sends, want none: the restored ledger says the agent was told", got)
	}
}

// At most once, a send waits for its intent to be written to its investigation. A Hook whose
// writes fail must not keep its agent's slots from other Hooks.
func TestAnUnwritableStatusDoesNotBlockTheAgentForOtherHooks(t *testing.T) {
	opts := pipeline.Options{Delivery: delivery.Options{Guarantee: delivery.AtMostOnce, MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1}}
	x, y := newHook("apps", "x", onRestart(agentA, "x")), newHook("apps", "y", onRestart(agentA, "y"))
	f := newFixture(t, opts, x, y)
	refused := func(ref hook.Ref) error {
		if ref == x.Ref {
			return errors.New("admission webhook refused the write")
		}
		return nil
	}
	f.status.Fail = func(ref hook.Ref, _ ports.HookActivity) error { return refused(ref) }
	f.inv.Fail = func(inv ports.Investigation) error { return refused(inv.Hook) }
	f.p.Handle(context.Background(), restart)
	for range 5 {
		_ = f.p.FlushStatus(context.Background(), false)
		f.after(time.Minute)
	}
	if got := prompts(f.agent.Calls("send", agentA)); fmt.Sprint(got) != "[a: y]" {
		t.Fatalf("sends = %q, want hook y's firing sent and x's not (its intent is never written)", got)
	}
}

// After a restart the status may have kept a pending delivery without its event (the byte
// budget dropped it). Its prompt must not be rendered from nothing.
func TestARestoredDeliveryWithoutItsEventWaitsForTheNextSightOfIt(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}: {{.Reason}} {{.Message}}"))
	f := newFixture(t, pipeline.Options{})
	saved := []ports.ActiveEvent{{EventType: string(event.PodRestart), Namespace: "apps", ResourceName: "web-1", Status: string(dedup.Firing),
		FirstSeen: t0.Add(-time.Minute), LastSeen: t0, Occurrences: 3,
		Deliveries: []ports.Delivery{{Agent: agentA.String(), MessageID: "m-1", State: "pending", Attempts: 1}}}}
	f.p.RestoreHook(h, saved, nil)
	f.p.UpsertHook(context.Background(), h)
	f.after(time.Second)
	for _, c := range f.agent.Calls("send", agentA) {
		t.Fatalf("sent %q, rendered without the event", c.Request.Prompt)
	}
	f.clock.Step(time.Minute)
	f.handle(restart) // the source reports it again
	f.after(10 * time.Minute)
	got := prompts(f.agent.Calls("send", agentA))
	if want := "[a: web-1: BackOff Back-off restarting failed container]"; fmt.Sprint(got) != want {
		t.Fatalf("prompts = %q, want %s", got, want)
	}
}

func TestAFiringThatResolvedDuringItsLastSendIsNotUndeliverable(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	sending, release := make(chan struct{}), make(chan struct{})
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		close(sending)
		<-release
		return ports.Task{}, errors.New("connection refused")
	}
	f.p.Handle(context.Background(), restart)
	<-sending // the prompt is rendered, the request on its way
	f.clock.Step(time.Second)
	f.p.Handle(context.Background(), resolvedAt(restart, f.clock.Now()))
	close(release)
	f.p.Wait()
	f.flush(t, false)
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	if c, _ := f.status.Condition(ref, status.ConditionDelivering); !c.Status {
		t.Fatalf("Delivering = %+v, want true: a firing that is over is not undeliverable", c)
	}
}

func TestAnInvestigationTheAgentRanAndFailedIsAnOutcomeNotResent(t *testing.T) {
	tests := []struct {
		name      string
		poll      func(id string) (ports.Task, error)
		wantState delivery.State
	}{
		{"a failed task", func(id string) (ports.Task, error) {
			return ports.Task{ID: id, State: ports.TaskFailed, Summary: "the model timed out"}, nil
		}, delivery.Failed},
		{"a rejected task", func(id string) (ports.Task, error) { return ports.Task{ID: id, State: ports.TaskRejected}, nil }, delivery.Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
			f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
				return ports.Task{ID: "task-" + req.MessageID, State: ports.TaskWorking}, nil
			}
			f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, _ int) (ports.Task, error) { return tt.poll(id) }
			f.handle(restart)
			for range 20 {
				f.after(5 * time.Minute)
			}
			if got := len(f.agent.Calls("send", agentA)); got != 1 {
				t.Fatalf("%d sends, want 1: each would be a new LLM run", got)
			}
			f.flush(t, false)
			ref := hook.Ref{Namespace: "apps", Name: "one"}
			if got := deliveriesOf(f.inv.All(ref)); got != "kagent/a="+string(tt.wantState) {
				t.Fatalf("ledger %q, want state %s", got, tt.wantState)
			}
			if f.audit.Count(ports.AuditUndeliverable) != 0 || f.audit.Count(ports.AuditInvestigationEnded) != 1 {
				t.Fatalf("audit %v: want one InvestigationEnded and no DeliveryAbandoned (the agent was told)", f.audit.Kinds())
			}
		})
	}
}

// deliveriesOf renders the ledgers of investigations as "agent=state …".
func deliveriesOf(investigations []ports.Investigation) string {
	var out []string
	for _, inv := range investigations {
		for _, d := range inv.Deliveries {
			out = append(out, d.Agent+"="+d.State)
		}
	}
	return strings.Join(out, " ")
}
