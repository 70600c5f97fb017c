package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/domain/volume"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

var (
	t0      = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	agentA  = hook.AgentRef{Namespace: "kagent", Name: "a"}
	agentB  = hook.AgentRef{Namespace: "kagent", Name: "b"}
	restart = event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: "apps", ResourceName: "web-1", Reason: "BackOff",
		Message: "Back-off restarting failed container", Timestamp: t0, Source: "kubernetes"}
)

type fixture struct {
	p      *pipeline.Pipeline
	clock  *clocktesting.FakeClock
	agent  *portstest.Agent
	audit  *portstest.AuditLog
	status *portstest.StatusWriter
	inv    *portstest.Investigations
	nodes  *fakeNodes
	// silences hold incidents (none unless a test adds some); counted records what they held.
	silences *volume.Silences
	counted  *heldCounts
}

func newFixture(t *testing.T, opts pipeline.Options, hooks ...hook.Hook) *fixture {
	t.Helper()
	return newFixtureWith(t, opts, &portstest.Investigations{}, hooks...)
}

// newFixtureWith is newFixture on a given store of investigations: a second fixture on the same
// store plays khook restarted, or a new leader, on the same API server.
func newFixtureWith(t *testing.T, opts pipeline.Options, inv *portstest.Investigations, hooks ...hook.Hook) *fixture {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	f := &fixture{clock: clk, audit: &portstest.AuditLog{}, status: &portstest.StatusWriter{}, inv: inv, nodes: &fakeNodes{},
		silences: volume.NewSilences([]string{"khook"}), counted: &heldCounts{}, agent: &portstest.Agent{Clock: clk,
			OnSend: func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
				return ports.Task{ID: "task-" + req.Agent.Name, State: ports.TaskCompleted, Summary: "done"}, nil
			}}}
	if opts.KnownEventTypes == nil {
		opts.KnownEventTypes = event.KubernetesTypes
	}
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(f.clock, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: f.agent, Audit: f.audit, Status: f.status, Investigations: f.inv, Nodes: f.nodes, Clock: f.clock,
		Silences: f.silences, SilenceCounter: f.counted,
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	for _, h := range hooks {
		if c := p.UpsertHook(context.Background(), h); !c.Status {
			t.Fatalf("hook %s not accepted: %s", h.Ref, c.Message)
		}
	}
	return f
}

func newHook(ns, name string, configs ...hook.Configuration) hook.Hook {
	return hook.Hook{Ref: hook.Ref{Namespace: ns, Name: name}, UID: "uid-" + name, Generation: 1, Configurations: configs}
}

func onRestart(agent hook.AgentRef, prompt string) hook.Configuration {
	return hook.Configuration{EventType: event.PodRestart, Agent: agent, Prompt: prompt}
}

// handle handles e and waits for the sends it started.
func (f *fixture) handle(e event.Event) {
	f.p.Handle(context.Background(), e)
	f.p.Wait()
}

// after moves the clock, runs what is due and waits for it.
func (f *fixture) after(d time.Duration) {
	f.clock.Step(d)
	f.p.RunDue(context.Background())
	f.p.Wait()
}

func (f *fixture) flush(t *testing.T, full bool) {
	t.Helper()
	if err := f.p.FlushStatus(context.Background(), full); err != nil {
		t.Fatal(err)
	}
}

// investigation returns ref's investigation about resource name (written by the last flush).
func (f *fixture) investigation(t *testing.T, ref hook.Ref, name string) ports.Investigation {
	t.Helper()
	for _, inv := range f.inv.All(ref) {
		if inv.Subject.Name == name {
			return inv
		}
	}
	t.Fatalf("no investigation of %s about %s among %+v", ref, name, f.inv.All(ref))
	return ports.Investigation{}
}

func prompts(calls []portstest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Agent.Name+": "+c.Request.Prompt)
	}
	sort.Strings(out)
	return out
}

func TestAMatchingEventTellsEachConfiguredAgentOnceWithTheRenderedPrompt(t *testing.T) {
	f := newFixture(t, pipeline.Options{},
		newHook("apps", "one", onRestart(agentA, "{{.ResourceName}} restarted: {{.Message}}"), onRestart(agentB, "B {{.Reason}}")),
		newHook("apps", "two", onRestart(agentA, "two {{.EventType}}")),
		newHook("other", "elsewhere", onRestart(agentA, "never")),
	)
	f.handle(restart)
	want := []string{"a: two pod-restart", "a: web-1 restarted: Back-off restarting failed container", "b: B BackOff"}
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("prompts = %q\nwant      %q", got, want)
	}
	req := f.agent.Calls("send", agentB)[0].Request
	if req.EventType != "pod-restart" || req.ResourceName != "web-1" || req.Metadata["namespace"] != "apps" || req.Metadata["hook"] != "apps/one" ||
		req.MessageID == "" {
		t.Fatalf("request lacks the event context: %+v", req)
	}
	if f.audit.Count(ports.AuditFiring) != 2 || f.audit.Count(ports.AuditDelivered) != 3 {
		t.Fatalf("audit trail: %v", f.audit.Kinds())
	}
	if got := f.audit.Records(ports.AuditFiring)[0].Resource; got != (ports.ResourceRef{Kind: "Pod", Namespace: "apps", Name: "web-1"}) {
		t.Fatalf("the firing is not about the pod: %+v", got)
	}
}

func TestARepeatIsCountedButNothingElseHappens(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.handle(restart)
	f.flush(t, false)
	before, audits := f.status.Writes(ref), len(f.audit.Kinds())
	f.clock.Step(5 * time.Minute)
	for range 100 {
		f.handle(restart)
	}
	f.flush(t, false)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("the agent was told %d times, want once", n)
	}
	if got := f.status.Writes(ref); got != before {
		t.Fatalf("repeats alone caused %d status writes on a state flush, want none", got-before)
	}
	if got := len(f.audit.Kinds()); got != audits {
		t.Fatalf("repeats wrote %d audit records, want none", got-audits)
	}
	f.flush(t, true)
	a := f.status.Activity(ref)
	if f.status.Writes(ref) != before+1 || a.Events[0].Occurrences != 101 || !a.Events[0].LastSeen.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("a full flush wrote %+v (%d writes), want 101 occurrences last seen at +5m", a.Events[0], f.status.Writes(ref)-before)
	}
}

func TestTheSourceSayingTroubleEndedResolvesItAndAbandonsWaitingDeliveries(t *testing.T) {
	f := newFixture(t, pipeline.Options{Delivery: delivery.Options{RetryInitial: time.Minute}},
		newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		return ports.Task{}, errors.New("503")
	}
	f.handle(restart)
	recovered := restart
	recovered.Resolution = event.Recovered
	f.handle(recovered)
	f.after(time.Hour)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("the agent was tried %d times after the trouble ended, want no retry", n)
	}
	f.flush(t, false)
	e := f.status.Activity(ref).Events[0]
	inv := f.investigation(t, ref, "web-1")
	if e.Status != "resolved" || e.ResolvedReason != "recovered" || inv.Deliveries[0].State != string(delivery.Abandoned) ||
		inv.ResolvedReason != "recovered" || inv.Phase != "resolved" {
		t.Fatalf("status entry = %+v, investigation %+v", e, inv)
	}
	if r := f.audit.Records(ports.AuditResolved); len(r) != 1 || !strings.Contains(r[0].Message, "the resource recovered") {
		t.Fatalf("resolved audit = %+v", r)
	}
}

func TestSweepResolvesQuietEventsAndTheNextSightFiresAgain(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.handle(restart)
	f.clock.Step(10 * time.Minute)
	f.p.Sweep(context.Background())
	f.flush(t, false)
	if e := f.status.Activity(ref).Events[0]; e.Status != "resolved" || e.ResolvedReason != "quiet" {
		t.Fatalf("status entry = %+v", e)
	}
	f.handle(restart)
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("%d sends, want a second one for the new firing", n)
	}
}

func TestUpsertHookReportsUnusableConfigurationsAndUsesTheRest(t *testing.T) {
	f := newFixture(t, pipeline.Options{})
	h := newHook("apps", "mixed",
		onRestart(agentA, "{{.Secret}}"),
		hook.Configuration{EventType: "alert-firing", Agent: agentA, Prompt: "x"},
		hook.Configuration{EventType: event.PodRestart, Prompt: "no agent"},
		onRestart(agentB, "fine {{.ResourceName}}"),
		onRestart(agentB, "B again"),
	)
	c := f.p.UpsertHook(context.Background(), h)
	for _, want := range []string{
		`spec.eventConfigurations[0].prompt: template refused`,
		`spec.eventConfigurations[1].eventType: no event source provides "alert-firing"`,
		`spec.eventConfigurations[2].agentRef.namespace: agent namespace is required`,
		`spec.eventConfigurations[4]: agent kagent/b is already told of pod-restart by spec.eventConfigurations[3]`,
	} {
		if c.Status || !strings.Contains(c.Message, want) {
			t.Fatalf("Accepted = %+v\nwant it to contain %q", c, want)
		}
	}
	f.handle(restart)
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[b: fine web-1]" {
		t.Fatalf("prompts sent = %q, want only the usable configuration", got)
	}
	if f.audit.Count(ports.AuditHookNotAccepted) != 1 {
		t.Fatalf("audit trail: %v", f.audit.Kinds())
	}
	f.p.UpsertHook(context.Background(), h)
	if f.audit.Count(ports.AuditHookNotAccepted) != 1 {
		t.Fatal("the same problems were audited twice")
	}
}

func TestEditingAHookWhileItsEventFiresTellsAddedAgentsAndUsesTheNewPrompt(t *testing.T) {
	f := newFixture(t, pipeline.Options{Delivery: delivery.Options{RetryInitial: time.Minute}},
		newHook("apps", "one", onRestart(agentA, "old prompt")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
		if req.Agent == agentA && n == 0 {
			return ports.Task{}, errors.New("503")
		}
		return ports.Task{State: ports.TaskCompleted}, nil
	}
	f.handle(restart) // A fails once and waits for its retry
	edited := newHook("apps", "one", onRestart(agentA, "new prompt"), onRestart(agentB, "for B"))
	edited.Generation = 2
	f.p.UpsertHook(context.Background(), edited)
	f.p.Wait()
	f.after(2 * time.Minute)
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[a: new prompt a: old prompt b: for B]" {
		t.Fatalf("prompts sent = %q", got)
	}
	f.p.UpsertHook(context.Background(), newHook("apps", "one", onRestart(agentB, "for B")))
	f.flush(t, false)
	if d := f.investigation(t, ref, "web-1").Deliveries; len(d) != 1 || d[0].Agent != "kagent/b" {
		t.Fatalf("after A was removed from the Hook the ledger shows %+v", d)
	}
}

func TestARestartedPipelineTellsOnlyTheAgentsItStillOwesAMessage(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}: {{.Message}}"), onRestart(agentB, "B {{.ResourceName}}: {{.Message}} ({{.Metadata.container}})"))
	first := newFixture(t, pipeline.Options{Delivery: delivery.Options{RetryInitial: time.Minute}}, h)
	first.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		if req.Agent == agentB {
			return ports.Task{}, errors.New("503")
		}
		return ports.Task{ID: "t-a", State: ports.TaskWorking}, nil
	}
	crash := restart
	crash.Metadata = map[string]string{"container": "app"}
	first.handle(crash)
	first.flush(t, false)
	saved, investigations := first.status.Activity(h.Ref).Events, first.inv.All(h.Ref)

	second := newFixture(t, pipeline.Options{})
	second.clock.SetTime(t0.Add(2 * time.Minute))
	if !second.p.RestoreHook(h, saved, investigations) {
		t.Fatal("nothing restored")
	}
	second.p.UpsertHook(context.Background(), h)
	second.after(time.Second)
	second.handle(crash) // the trouble is still there
	if n := second.agent.Count("send", agentA); n != 0 {
		t.Fatalf("agent A, already told, was told again %d times", n)
	}
	if n := second.agent.Count("get", agentA); n == 0 {
		t.Fatal("agent A's task was not followed after the restart")
	}
	got := second.agent.Calls("send", agentB)
	if len(got) != 1 || got[0].Request.Prompt != "B web-1: Back-off restarting failed container (app)" {
		t.Fatalf("agent B got %+v, want one message with the full prompt", got)
	}
	if want := investigations[0].Deliveries[1].MessageID; got[0].Request.MessageID != want {
		t.Fatalf("B's message id changed across the restart: %s vs %s", got[0].Request.MessageID, want)
	}
}

func TestAStatusWrittenBeforeTheLedgerExistedTellsNobodyAgain(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{})
	f.p.RestoreHook(h, []ports.ActiveEvent{{EventType: "pod-restart", Namespace: "apps", ResourceName: "web-1", Status: "firing",
		FirstSeen: t0, LastSeen: t0, NotifiedAt: t0}}, nil)
	f.p.UpsertHook(context.Background(), h)
	f.p.Wait()
	f.handle(restart)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends for a firing the old status said was notified", n)
	}
}

func TestAPromptThatCannotBeRenderedIsShownOnTheDeliveringCondition(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, `{{index .Metadata "x" | printf "%s"}} {{slice .Message 5 2}}`)))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.handle(restart)
	f.flush(t, false)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends with a prompt that cannot be rendered", n)
	}
	c, ok := f.status.Condition(ref, status.ConditionDelivering)
	if !ok || c.Status || c.Reason != status.ReasonPromptFailed || !strings.Contains(c.Message, "agent kagent/a (1 firing): rendering the prompt") {
		t.Fatalf("Delivering = %+v", c)
	}
	if f.audit.Count(ports.AuditTemplateFailed) != 1 {
		t.Fatalf("audit trail: %v", f.audit.Kinds())
	}
}

func TestARemovedHookIsNotToldAndItsFiringsAreForgotten(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{}, h)
	f.p.RemoveHook(h.Ref)
	f.handle(restart)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends for a removed hook", n)
	}
}

func TestAHookRecreatedWhileASendIsUnderWayKeepsItsOwnLedger(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{}, h)
	release, arrived := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // a failed test leaves no send hanging
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
		if n == 0 {
			close(arrived)
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
			return ports.Task{ID: "old-task", State: ports.TaskCompleted}, nil
		}
		return ports.Task{ID: "new-task", State: ports.TaskWorking}, nil
	}
	f.p.Handle(context.Background(), restart)
	select { // the send is under way, held by the agent
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first send never reached the agent")
	}
	f.p.RemoveHook(h.Ref)
	recreated := h
	recreated.UID = "uid-two"
	f.p.UpsertHook(context.Background(), recreated)
	f.p.Handle(context.Background(), restart)
	releaseOnce.Do(func() { close(release) })
	f.p.Wait()
	f.flush(t, false)
	var d []ports.InvestigationDelivery
	for _, inv := range f.inv.All(h.Ref) {
		if inv.HookUID == "uid-two" {
			d = append(d, inv.Deliveries...)
		}
	}
	if len(d) != 1 || d[0].TaskID != "new-task" || d[0].State != string(delivery.Working) {
		t.Fatalf("the recreated hook's ledger = %+v; the old send's outcome must not land on it", d)
	}
	sends := f.agent.Calls("send", agentA)
	if len(sends) != 2 || sends[0].Request.MessageID == sends[1].Request.MessageID {
		t.Fatalf("the recreated Hook reused the deleted one's message id: %+v", sends)
	}
}

func TestAfterShutdownAFiringIsRecordedForTheNextLeaderButNobodyIsTold(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	release, started := make(chan struct{}), make(chan struct{}, 2)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		return ports.Task{ID: "t", State: ports.TaskCompleted}, nil
	}
	f.p.Handle(context.Background(), restart)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the send never started")
	}

	f.p.Stop() // khook stops, or loses its leadership, while the send is under way
	late := restart
	late.ResourceName = "late"
	f.p.Handle(context.Background(), late)
	releaseOnce.Do(func() { close(release) })
	if err := f.p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.after(time.Hour) // whatever was due by now would have started
	if got := f.agent.Calls("send", agentA); len(got) != 1 || got[0].Request.ResourceName != "web-1" {
		t.Fatalf("sends after the stop: %+v, want only web-1's, which was under way", got)
	}
	f.flush(t, false) // the final status write
	states := map[string]string{}
	for _, inv := range f.inv.All(ref) {
		states[inv.Subject.Name] = inv.Deliveries[0].State
	}
	if states["web-1"] != string(delivery.Completed) || states["late"] != string(delivery.Pending) {
		t.Fatalf("the status written at shutdown says %v, want web-1 completed and late pending for the next leader", states)
	}
}

func TestNewRejectsMissingDependenciesAndWrongOptions(t *testing.T) {
	if _, err := pipeline.New(pipeline.Dependencies{}, pipeline.Options{}); err == nil || !strings.Contains(err.Error(), "is nil") {
		t.Fatalf("New with no dependencies = %v", err)
	}
	clk := clocktesting.NewFakeClock(t0)
	_, err := pipeline.New(pipeline.Dependencies{Index: matching.NewIndex(), Store: dedup.NewStore(clk, 0), Renderer: templating.NewRenderer(),
		Agent: &portstest.Agent{}, Audit: &portstest.AuditLog{}, Status: &portstest.StatusWriter{}, Investigations: &portstest.Investigations{}, Clock: clk},
		pipeline.Options{Delivery: delivery.Options{Guarantee: "twice"}})
	if err == nil || !strings.Contains(err.Error(), `Guarantee "twice"`) {
		t.Fatalf("New with a wrong guarantee = %v", err)
	}
}

func TestAHookRecreatedUnseenUnderTheSameNameStartsFromItsOwnStatus(t *testing.T) {
	old := newHook("apps", "one", onRestart(agentA, "v1: {{.ResourceName}}"))
	f := newFixture(t, pipeline.Options{}, old)
	f.handle(restart) // the old Hook fires and tells A
	recreated := newHook("apps", "one", onRestart(agentA, "v2: {{.ResourceName}}"))
	recreated.UID = "uid-recreated" // same name and generation, another Hook

	f.p.RestoreHook(recreated, nil, nil) // the new Hook's status is empty
	f.p.UpsertHook(context.Background(), recreated)
	f.handle(restart) // the trouble goes on: for the new Hook it is news

	got := prompts(f.agent.Calls("send", agentA))
	if fmt.Sprint(got) != "[a: v1: web-1 a: v2: web-1]" {
		t.Fatalf("prompts sent = %q: the recreated Hook must start afresh with its own prompt", got)
	}
	if recs := f.audit.Records(ports.AuditFiring); len(recs) != 2 || recs[0].HookUID != "uid-one" || recs[1].HookUID != "uid-recreated" {
		t.Fatalf("firing audit records name the Hooks %+v", recs)
	}
}
