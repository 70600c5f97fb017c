package pipeline_test

// The edges of the volume controls: restarts and Hook loads around a Silence, the backlog when a
// Silence lets go, cooldowns of investigations under way or never taken up, racing starts.
// Each failed before its fix.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/ports"
)

// heldThenRestarted holds web-1's restart under a Silence of 10 minutes, and returns the process
// that held it and a new one on the same API server 20 minutes later.
func heldThenRestarted(t *testing.T, h hook.Hook) (*fixture, *fixture) {
	first := newFixture(t, pipeline.Options{}, h)
	if err := first.p.UpsertSilence(silenceFor("apps", "maintenance", t0, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	first.handle(restart)
	first.flush(t, true)
	return first, newFixtureOn(t, first.inv, t0.Add(20*time.Minute))
}

// The loops run while Hooks load: a look at the held incidents between RestoreHook and UpsertHook
// must not forget one whose Hook is not in the index yet.
func TestAHeldIncidentReadBackBeforeItsHookIsLoadedIsStillReleased(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}"))
	first, second := heldThenRestarted(t, h)
	second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, first.inv.All(h.Ref))
	second.p.RunDue(context.Background())
	second.p.UpsertHook(context.Background(), h)
	e := restart
	e.Timestamp = second.clock.Now()
	second.handle(e)
	for range 5 {
		second.after(time.Minute)
	}
	if n := second.agent.Count("send", agentA); n != 1 {
		t.Fatalf("told %d times, want 1", n)
	}
}

// After a restart, a held incident is not let go before anything says its trouble still holds
// (here its last sighting is older than the dedup window).
func TestAHeldIncidentReadBackStaysHeldUntilItsTroubleIsSeenAgain(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}"))
	first, second := heldThenRestarted(t, h)
	second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, first.inv.All(h.Ref))
	second.p.UpsertHook(context.Background(), h)
	second.after(time.Second)
	if n := second.agent.Count("send", agentA); n != 0 {
		t.Fatalf("told %d times of trouble not seen for 20m", n)
	}
}

// Restored events carry no labels: a restart within a Silence that selects by label must not
// let go what it held.
func TestARestartWithinASilenceThatSelectsByLabelReleasesNothing(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}"))
	first := newFixture(t, pipeline.Options{}, h)
	sil := silenceFor("apps", "maintenance", t0, time.Hour)
	sil.Matchers.Selector = hook.Selector{MatchLabels: map[string]string{"tier": "critical"}}
	if err := first.p.UpsertSilence(sil); err != nil {
		t.Fatal(err)
	}
	first.handle(labelled("web-1", map[string]string{"tier": "critical"}))
	first.flush(t, true)
	second := newFixtureOn(t, first.inv, t0.Add(5*time.Minute))
	if err := second.p.UpsertSilence(sil); err != nil {
		t.Fatal(err)
	}
	second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, first.inv.All(h.Ref))
	second.p.UpsertHook(context.Background(), h)
	second.after(time.Second)
	if n := second.agent.Count("send", agentA); n != 0 {
		t.Fatalf("after a restart within the Silence the agent was told %d times", n)
	}
}

// What a Silence held does not all start at once when it ends: past the Hook's backlog, the rest
// are recorded as backlog.
func TestWhatASilenceLetsGoIsBoundByTheHooksBacklog(t *testing.T) {
	h := newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}"))
	f := newFixture(t, pipeline.Options{Investigations: pipeline.InvestigationLimits{MaxOpenPerHook: 2}}, h)
	if err := f.p.UpsertSilence(silenceFor("apps", "maintenance", t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		f.handle(crashOf(fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d-x", i)))
	}
	f.p.RemoveSilence("apps", "maintenance")
	f.after(time.Second)
	if n := f.agent.Count("send", agentA); n > 2 {
		t.Fatalf("%d investigations open at once, the Hook may have 2", n)
	}
	f.flush(t, true)
	if by := f.status.Activity(h.Ref).Investigations.SuppressedBy; by["backlog"] != 8 || by["silenced"] != 0 {
		t.Fatalf("suppressed %v, want the 8 past the backlog recorded as backlog", by)
	}
}

// A flap faster than an investigation: the subject's second incident comes while its first
// investigation is still at work, and starts none.
func TestACooldownHoldsANewIncidentWhileTheSubjectsLastInvestigationIsUnderWay(t *testing.T) {
	h := newHook("apps", "cool", onRestart(agentA, "x"))
	h.Limits.Cooldown = time.Hour
	f := newFixture(t, pipeline.Options{}, h)
	f.agent.OnSend = nil // tasks stay working
	f.handle(crashOf("web", "web-1"))
	f.clock.Step(time.Minute)
	end := crashOf("web", "web-1")
	end.Resolution, end.Timestamp = event.Recovered, f.clock.Now()
	f.handle(end)
	f.clock.Step(time.Minute)
	again := crashOf("web", "web-2")
	again.Timestamp = f.clock.Now()
	f.handle(again)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("investigated %d times within the cooldown", n)
	}
}

// An investigation no agent ever took up (its sends failed, the trouble ended) investigated
// nothing: it starts no cooldown.
func TestAnInvestigationNoAgentTookUpStartsNoCooldown(t *testing.T) {
	h := newHook("apps", "cool", onRestart(agentA, "x"))
	h.Limits.Cooldown = time.Hour
	f := newFixture(t, pipeline.Options{}, h)
	down := true
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		if down {
			return ports.Task{}, errors.New("connection refused")
		}
		return ports.Task{ID: "t", State: ports.TaskCompleted, Summary: "done"}, nil
	}
	f.handle(crashOf("web", "web-1"))
	f.flush(t, true)
	f.clock.Step(time.Minute)
	end := crashOf("web", "web-1")
	end.Resolution, end.Timestamp = event.Recovered, f.clock.Now()
	f.handle(end)
	f.after(time.Second)
	f.flush(t, true)
	down = false
	f.clock.Step(5 * time.Minute)
	again := crashOf("web", "web-2")
	again.Timestamp = f.clock.Now()
	f.handle(again)
	f.after(time.Second)
	f.flush(t, true)
	if n := f.status.Activity(h.Ref).Investigations.SuppressedBy["cooldown"]; n != 0 {
		t.Fatal("held by a cooldown that an undelivered investigation started")
	}
}

// UpsertHook's reconcile races new firings to start their incidents: each starts once and takes
// one token (before Begin, two starts took two; this failed about one run in three).
func TestAnIncidentStartsOnceWhateverRacesToStartIt(t *testing.T) {
	const n = 200
	h := newHook("apps", "budget", onRestart(agentA, "{{.ResourceName}}"))
	h.Limits.MaxInvestigationsPerHour = n
	f := newFixture(t, pipeline.Options{}, h)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				f.p.UpsertHook(context.Background(), h)
			}
		}
	}()
	for i := range n {
		f.p.Handle(context.Background(), crashOf(fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d-x", i)))
	}
	close(stop)
	wg.Wait()
	f.p.Wait()
	f.flush(t, true)
	if r := f.status.Activity(h.Ref).Investigations.SuppressedBy["rate-limited"]; r != 0 {
		t.Fatalf("%d of %d incidents rate-limited under a budget of %d", r, n, n)
	}
}

// A Hook's budget is spent across a restart: the new process reads back the investigations
// started within the hour and takes their tokens, so a restart is not a way round the budget.
func TestARestartDoesNotRefillAHooksBudget(t *testing.T) {
	h := newHook("apps", "budget", onRestart(agentA, "{{.ResourceName}}"))
	h.Limits.MaxInvestigationsPerHour = 2
	first := newFixture(t, pipeline.Options{}, h)
	for i := range 2 {
		first.handle(crashOf(fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d-x", i)))
	}
	first.flush(t, true)

	second := newFixtureOn(t, first.inv, t0.Add(10*time.Minute))
	if !second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, first.inv.All(h.Ref)) {
		t.Fatal("nothing restored")
	}
	second.p.UpsertHook(context.Background(), h)
	e := crashOf("later", "later-x")
	e.Timestamp = second.clock.Now()
	second.handle(e)
	second.flush(t, true)
	if n := second.agent.Count("send", agentA); n != 0 {
		t.Fatalf("after the restart the agent was told %d times, want none: the Hook's 2 an hour were spent", n)
	}
	if n := second.status.Activity(h.Ref).Investigations.SuppressedBy["rate-limited"]; n != 1 {
		t.Fatalf("%d incidents rate-limited after the restart, want 1", n)
	}
	second.clock.Step(time.Hour)
	e2 := crashOf("much-later", "much-later-x")
	e2.Timestamp = second.clock.Now()
	second.handle(e2)
	if n := second.agent.Count("send", agentA); n != 1 {
		t.Fatalf("an hour later the agent was told %d times, want once: the budget refilled", n)
	}
}
