package pipeline_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

func TestAFiringIsOneInvestigationThatSaysWhatBecameOfIt(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}"), onRestart(agentB, "B {{.ResourceName}}"))
	f := newFixture(t, pipeline.Options{}, h)
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		if req.Agent == agentA {
			return ports.Task{ID: "t-a", State: ports.TaskCompleted, Summary: "the memory limit is too low"}, nil
		}
		return ports.Task{ID: "t-b", State: ports.TaskWorking}, nil
	}
	f.handle(restart)
	f.flush(t, false)
	all := f.inv.All(h.Ref)
	if len(all) != 1 {
		t.Fatalf("%d investigations, want one", len(all))
	}
	inv := all[0]
	key := incident.KeyOf(restart, hook.Grouping{By: hook.ByResource})
	if inv.Name != incident.InvestigationName(h.Ref.Name, h.UID, key, t0) || inv.HookUID != h.UID || inv.EventType != "pod-restart" ||
		inv.Subject != (ports.Subject{Kind: "Pod", Namespace: "apps", Name: "web-1"}) || !inv.StartedAt.Equal(t0) {
		t.Fatalf("investigation %+v", inv)
	}
	if inv.Event == nil || inv.Event.Message != restart.Message || fmt.Sprint(inv.Members) != "[apps/web-1]" || inv.MemberCount != 1 {
		t.Fatalf("investigation's event %+v and members %v", inv.Event, inv.Members)
	}
	if inv.Phase != "working" || len(inv.Deliveries) != 2 || inv.Deliveries[0].State != "completed" || inv.Deliveries[0].Prompt != "A web-1" ||
		inv.Deliveries[0].PromptSHA256 == "" || inv.Deliveries[1].State != "working" {
		t.Fatalf("investigation status %+v", inv)
	}
	if a := f.status.Activity(h.Ref); len(a.Events) != 1 || a.Events[0].Investigation != inv.Name || a.Investigations.Working != 1 || a.Firing != 1 {
		t.Fatalf("the Hook's status %+v does not summarise the investigation", a)
	}
}

// The name of an investigation comes from the Hook's UID, the incident and its start: a retry,
// a restart or a new leader computes the same one and writes the same object.
func TestARestartOrANewLeaderNeverMakesASecondInvestigation(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	first := newFixture(t, pipeline.Options{}, h)
	first.handle(restart)
	first.flush(t, false)
	written := first.inv.All(h.Ref)

	second := newFixtureOn(t, first.inv, t0.Add(time.Minute)) // the same API server
	if !second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, written) {
		t.Fatal("nothing restored")
	}
	second.p.UpsertHook(context.Background(), h)
	second.handle(restart) // still firing
	second.after(time.Minute)
	second.flush(t, true)
	if all := first.inv.All(h.Ref); len(all) != 1 || all[0].Name != written[0].Name {
		t.Fatalf("investigations after the restart: %+v, want the one of before", all)
	}
	if n := second.agent.Count("send", agentA); n != 0 {
		t.Fatalf("the agent was told %d times again", n)
	}
}

// A deposed leader's last write lands after the new leader read the investigations back: the new
// leader's next write conflicts, it reads the object again and takes over what the other knew
// (the agent accepted), instead of overwriting it, and tells the agent no more.
func TestADeposedLeadersLateWriteIsTakenOverNotOverwritten(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixtureOn(t, nil, t0)
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		return ports.Task{}, fmt.Errorf("HTTP 503")
	}
	key := incident.KeyOf(restart, hook.Grouping{By: hook.ByResource})
	name := incident.InvestigationName(h.Ref.Name, h.UID, key, t0)
	before := f.inv.Put(ports.Investigation{Name: name, Hook: h.Ref, HookUID: h.UID, EventType: "pod-restart",
		Subject: ports.Subject{Kind: "Pod", Namespace: "apps", Name: "web-1"}, StartedAt: t0, Members: []string{"apps/web-1"}, MemberCount: 1,
		Event:      &ports.EventSnapshot{ResourceKind: "Pod", Reason: "BackOff", Message: "crashing"},
		Phase:      "pending",
		Deliveries: []ports.InvestigationDelivery{{Delivery: ports.Delivery{Agent: agentA.String(), MessageID: "m-1", State: "pending", Attempts: 1, NextAttemptAt: t0.Add(time.Hour)}}}})
	f.p.RestoreHook(h, nil, []ports.Investigation{before})
	f.p.UpsertHook(context.Background(), h)
	late := before // the old leader's final write: the agent had accepted
	late.Deliveries = []ports.InvestigationDelivery{{Delivery: ports.Delivery{Agent: agentA.String(), MessageID: "m-1", TaskID: "t-old", State: "working", Attempts: 1, SentAt: t0.Add(55 * time.Minute)}}}
	f.inv.Put(late)
	f.after(time.Hour) // the new leader's retry fails: a change to write, which conflicts
	_ = f.p.FlushStatus(context.Background(), false)
	sent := f.agent.Count("send", agentA)
	for range 5 {
		f.after(5 * time.Minute)
	}
	f.flush(t, false)
	if n := f.agent.Count("send", agentA) - sent; n != 0 {
		t.Fatalf("the agent was told %d times more once the old leader's write was read", n)
	}
	if got := f.investigation(t, h.Ref, "web-1").Deliveries[0]; got.TaskID != "t-old" || got.State != "working" {
		t.Fatalf("the investigation says %+v, want the old leader's task followed", got)
	}
	if n := f.agent.Count("get", agentA); n == 0 {
		t.Fatal("the task the old leader started is not followed")
	}
}

func TestFinishedInvestigationsAreRemovedAfterTheRetentionAndBeyondTheNewestKept(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{Investigations: pipeline.InvestigationLimits{Retention: 24 * time.Hour, Kept: 3}}, h)
	for i := range 5 {
		e := restart
		e.ResourceName = fmt.Sprintf("web-%d", i)
		f.handle(e)
		f.clock.Step(time.Minute)
		f.handle(resolvedAt(e, f.clock.Now()))
	}
	e := restart
	e.ResourceName = "still-firing"
	f.handle(e)
	f.flush(t, false)
	if n := len(f.inv.All(h.Ref)); n != 6 {
		t.Fatalf("%d investigations written, want 6", n)
	}
	f.p.Sweep(context.Background())
	if got := names(f.inv.All(h.Ref)); got != "still-firing web-2 web-3 web-4" {
		t.Fatalf("after the sweep: %s, want the 3 newest finished ones and the one still firing", got)
	}
	f.clock.Step(25 * time.Hour)
	f.p.Sweep(context.Background())
	if got := names(f.inv.All(h.Ref)); got != "still-firing" {
		t.Fatalf("a day later: %s, want only the one still firing", got)
	}
}

func TestAStormOfDistinctTroublePastTheBacklogIsSuppressedAndCountedNotQueued(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{Investigations: pipeline.InvestigationLimits{MaxOpenPerHook: 10, SuppressedPerMinute: 5},
		Delivery: delivery.Options{MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1}}, h)
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		return ports.Task{ID: "t-" + req.MessageID, State: ports.TaskWorking}, nil
	}
	for i := range 1000 {
		e := restart
		e.ResourceName = fmt.Sprintf("web-%04d", i)
		f.handle(e)
	}
	f.flush(t, false)
	a := f.status.Activity(h.Ref)
	if a.Investigations.Suppressed != 990 || a.Investigations.SuppressedBy["backlog"] != 990 || a.Investigations.Pending+a.Investigations.Working != 10 || a.Firing != 1000 {
		t.Fatalf("status counts %+v, %d firing; want 10 investigations and 990 suppressed for the backlog", a.Investigations, a.Firing)
	}
	written := 0
	for _, inv := range f.inv.All(h.Ref) {
		if inv.Phase == "suppressed" {
			written++
			if inv.Reason != "backlog" || !strings.Contains(inv.Message, "10 investigations open") {
				t.Fatalf("suppressed investigation %+v", inv)
			}
		}
	}
	if written != 5 || f.audit.Count(ports.AuditSuppressed) != 5 {
		t.Fatalf("%d suppressed investigations written and %d audited, want 5 of each: a storm's writes are bounded", written, f.audit.Count(ports.AuditSuppressed))
	}
	if q := f.p.Delivery().QueueDepth(agentA); q > 10 {
		t.Fatalf("%d deliveries queued for the agent, want at most the 10 open investigations'", q)
	}
}

// Upgrading from the previous release: its status kept each firing's ledger on the Hook. The
// first load writes each firing as an investigation, once, and tells nobody again; the next
// load reads the investigations.
func TestAStatusOfThePreviousReleaseBecomesInvestigationsOnceAndTellsNobodyAgain(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}"), onRestart(agentB, "B {{.ResourceName}}"))
	legacy := []ports.ActiveEvent{{EventType: "pod-restart", Namespace: "apps", ResourceName: "web-1", Status: string(dedup.Firing),
		FirstSeen: t0, LastSeen: t0, Occurrences: 4, Event: &ports.EventSnapshot{ResourceKind: "Pod", Reason: "BackOff", Message: "crashing", Timestamp: t0},
		Deliveries: []ports.Delivery{
			{Agent: agentA.String(), MessageID: "m-a", TaskID: "t-a", State: "completed", Attempts: 1, SentAt: t0, Summary: "found it"},
			{Agent: agentB.String(), MessageID: "m-b", TaskID: "t-b", State: "working", Attempts: 1, SentAt: t0},
		}}}
	f := newFixtureOn(t, nil, t0.Add(time.Minute))
	if !f.p.RestoreHook(h, legacy, nil) {
		t.Fatal("nothing restored")
	}
	f.p.UpsertHook(context.Background(), h)
	f.after(time.Second)
	f.handle(restart) // still firing
	f.flush(t, false)
	all := f.inv.All(h.Ref)
	if len(all) != 1 || deliveriesOf(all) != "kagent/a=completed kagent/b=working" || all[0].Deliveries[1].MessageID != "m-b" {
		t.Fatalf("investigations after the upgrade: %+v", all)
	}
	if n := f.agent.Count("send", hook.AgentRef{}); n != 0 {
		t.Fatalf("%d sends after the upgrade, want none", n)
	}
	if a := f.status.Activity(h.Ref); len(a.Events) != 1 || a.Events[0].Investigation != all[0].Name || len(a.Events[0].Deliveries) != 0 {
		t.Fatalf("the Hook's status after the upgrade: %+v, want a summary naming the investigation", a.Events)
	}

	again := newFixtureOn(t, f.inv, t0.Add(2*time.Minute)) // the next restart reads the investigations
	again.p.RestoreHook(h, f.status.Activity(h.Ref).Events, f.inv.All(h.Ref))
	again.p.UpsertHook(context.Background(), h)
	again.after(time.Second)
	again.flush(t, false)
	if n, all := again.agent.Count("send", hook.AgentRef{}), f.inv.All(h.Ref); n != 0 || len(all) != 1 {
		t.Fatalf("after the next restart: %d sends, %d investigations; want none and one", n, len(all))
	}
}

// newFixtureOn is newFixture whose investigations are inv (a fresh store when nil) and whose
// clock reads now.
func newFixtureOn(t *testing.T, inv *portstest.Investigations, now time.Time) *fixture {
	t.Helper()
	if inv == nil {
		inv = &portstest.Investigations{}
	}
	f := newFixtureWith(t, pipeline.Options{}, inv)
	f.clock.SetTime(now)
	return f
}

// names lists the subjects of investigations, sorted.
func names(all []ports.Investigation) string {
	var out []string
	for _, inv := range all {
		out = append(out, inv.Subject.Name)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// A create the API server carried out but whose answer was lost (the request was cancelled, as at
// shutdown) leaves an Investigation this process does not know it wrote: the next write conflicts,
// reads it back and completes it in the same flush, the shutdown's only one.
func TestAnInvestigationWhoseCreateAnswerWasLostIsCompletedInTheSameWrite(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{}, h)
	key := incident.KeyOf(restart, hook.Grouping{By: hook.ByResource})
	name := incident.InvestigationName(h.Ref.Name, h.UID, key, t0)
	f.inv.Put(ports.Investigation{Name: name, Hook: h.Ref, HookUID: h.UID, EventType: "pod-restart",
		Subject: ports.Subject{Kind: "Pod", Namespace: "apps", Name: "web-1"}, StartedAt: t0}) // its spec, no status
	f.handle(restart)
	f.flush(t, false)
	got := f.investigation(t, h.Ref, "web-1")
	if len(got.Deliveries) != 1 || got.Deliveries[0].State != "completed" {
		t.Fatalf("after one write the investigation says %+v, want the agent's completed delivery", got.Deliveries)
	}
}
