package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/volume"
	"github.com/khook-dev/khook/ports"
)

// heldCounts is a ports.SilenceCounter in memory.
type heldCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (h *heldCounts) AddHeldIncidents(_ context.Context, namespace, name, _ string, held int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int64{}
	}
	h.n[namespace+"/"+name] += held
	return nil
}

func (h *heldCounts) of(name string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[name]
}

// labelled is web-1's restart with the Pod's labels.
func labelled(pod string, labels map[string]string) event.Event {
	e := restart
	e.ResourceName, e.Labels = pod, labels
	return e
}

func TestASelectorTakesOnlyTheResourcesWhoseLabelsItMatches(t *testing.T) {
	c := onRestart(agentA, "{{.ResourceName}}")
	c.Selector = hook.Selector{MatchLabels: map[string]string{"tier": "critical"}}
	h := newHook("apps", "critical", c)
	f := newFixture(t, pipeline.Options{}, h)
	f.handle(labelled("batch-1", map[string]string{"tier": "batch"}))
	f.handle(labelled("nolabels-1", nil))
	f.handle(labelled("api-1", map[string]string{"tier": "critical", "app": "api"}))
	f.flush(t, true)
	if got := prompts(f.agent.Calls("send", agentA)); fmt.Sprint(got) != "[a: api-1]" {
		t.Fatalf("the agent was told %v, want only api-1", got)
	}
	if all := f.inv.All(h.Ref); len(all) != 1 {
		t.Fatalf("%d investigations, want 1: an excluded resource is not recorded at all", len(all))
	}
	if a := f.status.Activity(h.Ref); a.Firing != 1 {
		t.Fatalf("the Hook's status counts %d firing, want 1", a.Firing)
	}

	// api-1's labels change so the selector no longer takes it; its recovery still ends it.
	end := labelled("api-1", map[string]string{"tier": "batch"})
	end.Resolution, end.Timestamp = event.Recovered, t0.Add(time.Minute)
	f.clock.Step(time.Minute)
	f.handle(end)
	f.flush(t, true)
	if a := f.status.Activity(h.Ref); a.Firing != 0 {
		t.Fatalf("after the recovery the status counts %d firing, want 0", a.Firing)
	}
}

func TestASelectorKhookCannotUseOrThatDisagreesIsRefusedNamingTheField(t *testing.T) {
	tests := []struct {
		name    string
		configs func() []hook.Configuration
		field   string
	}{
		{"a selector Kubernetes would refuse", func() []hook.Configuration {
			c := onRestart(agentA, "x")
			c.SelectorError = &hook.InvalidSelectorError{Field: "matchExpressions[0].operator", Value: "Near", Why: "is not In, NotIn, Exists or DoesNotExist"}
			return []hook.Configuration{c}
		}, "spec.eventConfigurations[0].selector.matchExpressions[0].operator"},
		{"two configurations of one type selecting differently", func() []hook.Configuration {
			a, b := onRestart(agentA, "x"), onRestart(agentB, "y")
			a.Selector = hook.Selector{MatchLabels: map[string]string{"tier": "critical"}}
			return []hook.Configuration{a, b}
		}, "spec.eventConfigurations[1].selector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{})
			cond := f.p.UpsertHook(context.Background(), newHook("apps", "h", tt.configs()...))
			if cond.Status || cond.Reason != status.ReasonInvalidSelector || !strings.Contains(cond.Message, tt.field) {
				t.Fatalf("Accepted = %v %s: %s; want False InvalidSelector naming %s", cond.Status, cond.Reason, cond.Message, tt.field)
			}
		})
	}
}

// crashOf is the restart of Pod pod of Deployment workload.
func crashOf(workload, pod string) event.Event {
	e := restart
	e.ResourceName, e.Workload = pod, event.Workload{Kind: "Deployment", Name: workload}
	return e
}

func TestAHooksBudgetLetsItsInvestigationsThroughAndRecordsTheRestAsRateLimited(t *testing.T) {
	h := newHook("apps", "budget", onRestart(agentA, "{{.ResourceName}}"))
	h.Limits.MaxInvestigationsPerHour = 2
	f := newFixture(t, pipeline.Options{}, h)
	for i := range 5 {
		f.handle(crashOf(fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d-x", i)))
	}
	f.flush(t, true)
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("%d investigations started, want 2 of 5", n)
	}
	a := f.status.Activity(h.Ref)
	if a.Investigations.SuppressedBy["rate-limited"] != 3 {
		t.Fatalf("suppressed %v, want 3 rate-limited", a.Investigations.SuppressedBy)
	}
	var limited int
	for _, inv := range f.inv.All(h.Ref) {
		if inv.Phase == "suppressed" && inv.Reason == "rate-limited" && strings.Contains(inv.Message, "hook apps/budget: 2 an hour") {
			limited++
		}
	}
	if limited != 3 {
		t.Fatalf("%d investigations say rate-limited by the Hook's budget, want 3: %+v", limited, f.inv.All(h.Ref))
	}
	f.clock.Step(30 * time.Minute) // one token back
	f.handle(crashOf("later", "later-x"))
	if n := f.agent.Count("send", agentA); n != 3 {
		t.Fatalf("%d investigations after half an hour, want a third", n)
	}
}

func TestAnAgentsBudgetHoldsAcrossHooks(t *testing.T) {
	one, two := newHook("apps", "one", onRestart(agentA, "x")), newHook("other", "two", onRestart(agentA, "y"))
	f := newFixture(t, pipeline.Options{Volume: pipeline.Volume{MaxInvestigationsPerAgentPerHour: 1}}, one, two)
	f.handle(restart)
	e := restart
	e.Namespace = "other"
	f.handle(e)
	f.flush(t, true)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("agent told %d times, want once within its budget of 1 an hour", n)
	}
	if inv := f.investigation(t, two.Ref, "web-1"); inv.Reason != "rate-limited" || !strings.Contains(inv.Message, "agent kagent/a: 1 an hour") {
		t.Fatalf("the second Hook's investigation says %s: %s, want rate-limited by the agent's budget", inv.Reason, inv.Message)
	}
}

func TestACooldownStopsAFlappingSubjectsSecondInvestigation(t *testing.T) {
	h := newHook("apps", "cool", onRestart(agentA, "x"))
	h.Limits.Cooldown = time.Hour
	f := newFixture(t, pipeline.Options{}, h)
	flap := func() {
		crash := crashOf("web", "web-1")
		crash.Timestamp = f.clock.Now()
		f.handle(crash)
		f.flush(t, true) // the investigation ends (the agent completes at once) and is written
		f.clock.Step(time.Minute)
		end := crashOf("web", "web-1")
		end.Resolution, end.Timestamp = event.Recovered, f.clock.Now()
		f.handle(end)
		f.flush(t, true)
		f.clock.Step(time.Minute)
	}
	flap()
	flap()
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("the flapping workload was investigated %d times within the cooldown, want once", n)
	}
	if n := f.status.Activity(h.Ref).Investigations.SuppressedBy["cooldown"]; n != 1 {
		t.Fatalf("%d incidents held by the cooldown, want 1", n)
	}
	f.clock.Step(time.Hour)
	flap()
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("after the cooldown the workload was investigated %d times in all, want 2", n)
	}
}

// silenceFor is a Silence in namespace ns of pod-restart trouble, from now on for d.
func silenceFor(ns, name string, now time.Time, d time.Duration) volume.Silence {
	return volume.Silence{Namespace: ns, Name: name, UID: "uid-" + name, Matchers: volume.Matchers{EventType: "pod-restart"}, StartsAt: now, EndsAt: now.Add(d)}
}

func TestASilenceHoldsAnIncidentAndReleasesItWhenItEndsWhileTheTroubleHolds(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}"))
	other := newHook("team-b", "theirs", onRestart(agentA, "{{.ResourceName}}"))
	f := newFixture(t, pipeline.Options{}, h, other)
	if err := f.p.UpsertSilence(silenceFor("apps", "maintenance", t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.handle(restart)
	theirs := restart
	theirs.Namespace, theirs.ResourceName = "team-b", "db-1"
	f.handle(theirs)
	f.flush(t, true)
	if got := prompts(f.agent.Calls("send", agentA)); fmt.Sprint(got) != "[a: db-1]" {
		t.Fatalf("told %v; want only the other namespace's trouble: a Silence holds its own namespace's Hooks", got)
	}
	if inv := f.investigation(t, h.Ref, "web-1"); inv.Phase != "suppressed" || inv.Reason != "silenced" || !strings.Contains(inv.Message, "apps/maintenance") {
		t.Fatalf("the held investigation says %s %s: %s", inv.Phase, inv.Reason, inv.Message)
	}
	if n := f.counted.of("apps/maintenance"); n != 1 {
		t.Fatalf("the Silence counts %d held incidents, want 1", n)
	}
	f.clock.Step(30 * time.Minute)
	f.handle(restart) // still firing: a repeat
	f.after(31 * time.Minute)
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("after the Silence ended the agent was told %d times in all, want the held incident too", n)
	}
	f.flush(t, true)
	if inv := f.investigation(t, h.Ref, "web-1"); inv.Phase == "suppressed" {
		t.Fatalf("the released investigation still says %s: %s", inv.Reason, inv.Message)
	}
}

func TestAnIncidentThatResolvesWhileSilencedNeverStarts(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{}, h)
	if err := f.p.UpsertSilence(silenceFor("apps", "maintenance", t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.handle(restart)
	f.clock.Step(10 * time.Minute)
	end := restart
	end.Resolution, end.Timestamp = event.Recovered, f.clock.Now()
	f.handle(end)
	f.p.RemoveSilence("apps", "maintenance")
	f.after(time.Second)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("the agent was told %d times of trouble that ended under the Silence", n)
	}
}

func TestDeletingASilenceReleasesWhatItHeld(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "x"))
	f := newFixture(t, pipeline.Options{}, h)
	if err := f.p.UpsertSilence(silenceFor("apps", "maintenance", t0, 24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.handle(restart)
	f.after(time.Second)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("told %d times under the Silence", n)
	}
	f.p.RemoveSilence("apps", "maintenance")
	f.after(time.Second)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("told %d times once the Silence was deleted, want once", n)
	}
	f.after(time.Hour)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("told %d times an hour later, want still once", n)
	}
}

var _ ports.SilenceCounter = (*heldCounts)(nil)

// khook restarts while a Silence holds an incident, and the Silence ends while it is down: the
// new process reads the incident back as silenced and starts its investigation, once.
func TestAnIncidentHeldByASilenceThatEndedWhileKhookWasDownStartsAfterTheRestart(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}"))
	first := newFixture(t, pipeline.Options{}, h)
	if err := first.p.UpsertSilence(silenceFor("apps", "maintenance", t0, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	first.handle(restart)
	first.flush(t, true)

	second := newFixtureOn(t, first.inv, t0.Add(20*time.Minute)) // the Silence is over
	if !second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, first.inv.All(h.Ref)) {
		t.Fatal("nothing restored")
	}
	second.p.UpsertHook(context.Background(), h)
	e := restart
	e.Timestamp = second.clock.Now()
	second.handle(e) // still firing
	second.after(time.Second)
	if n := second.agent.Count("send", agentA); n != 1 {
		t.Fatalf("after the restart the agent was told %d times, want once: the Silence that held it is over", n)
	}
	second.after(time.Hour)
	if n := second.agent.Count("send", agentA); n != 1 {
		t.Fatalf("told %d times an hour later, want once", n)
	}
}
