package delivery_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

// uncertainCount counts DeliveryUncertain by agent and moment.
type uncertainCount struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *uncertainCount) SendFinished(hook.AgentRef, string, time.Duration) {}
func (m *uncertainCount) InvestigationFinished(agent hook.AgentRef, outcome string, _ time.Duration) {
	m.DeliveryUncertain(agent, "investigation "+outcome)
}
func (m *uncertainCount) RetryScheduled(hook.AgentRef)  {}
func (m *uncertainCount) QueueDepth(hook.AgentRef, int) {}
func (m *uncertainCount) DeliveryUncertain(agent hook.AgentRef, moment string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	m.counts[agent.String()+" "+moment]++
}

func (m *uncertainCount) of(agent hook.AgentRef, moment string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[agent.String()+" "+moment]
}

func newFixtureWithMetrics(t *testing.T, opts delivery.Options, m ports.DeliveryMetrics) *fixture {
	t.Helper()
	f := newFixture(t, opts)
	e, err := delivery.New(delivery.Dependencies{Agent: f.agent, Prepare: f.prepare, Audit: f.audit, Clock: f.clock, Metrics: m,
		Rand: func() float64 { return 0.5 }}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.engine = e
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return f
}

func TestFiringsForAMissingAgentCostOneCallUntilItAppearsThenAreToldTogether(t *testing.T) {
	f := newFixture(t, delivery.Options{RetryInitial: time.Minute, RetryMax: 4 * time.Minute})
	var mu sync.Mutex
	present := false
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		mu.Lock()
		defer mu.Unlock()
		if !present {
			return ports.Task{}, fmt.Errorf("agent card: HTTP 404: %w: %w", ports.ErrPermanent, ports.ErrAgentNotFound)
		}
		return ports.Task{ID: "task-" + req.MessageID, State: ports.TaskWorking}, nil
	}
	const firings = 500
	for i := range firings {
		ensure(f.engine, firing(hookX, fmt.Sprintf("web-%d", i)), agentA)
	}
	f.engine.Wait()
	if n := f.agent.Count("send", agentA); n > delivery.DefaultMaxSendsPerAgent {
		t.Fatalf("%d calls to the missing agent for %d firings, want at most %d (the sends already under way)", n, firings, delivery.DefaultMaxSendsPerAgent)
	}
	records := f.engine.Records(hookX)
	for _, r := range records {
		if r.State != delivery.Undeliverable || r.Cause != delivery.CauseAgentNotFound {
			t.Fatalf("record %+v, want undeliverable for lack of the agent", r)
		}
	}
	calls := f.agent.Count("send", agentA)
	f.after(30 * time.Second)
	if n := f.agent.Count("send", agentA); n != calls {
		t.Fatalf("%d calls before the absence's backoff is over, want none", n-calls)
	}
	f.after(31 * time.Second) // the backoff is over: one record asks again, and is told no again
	if n := f.agent.Count("send", agentA) - calls; n != 1 {
		t.Fatalf("%d calls after the backoff, want one probe", n)
	}
	mu.Lock()
	present = true // the agent is deployed
	mu.Unlock()
	for range 4 {
		f.after(2 * time.Minute) // the next probe (after a doubled backoff) is accepted, and everything goes
	}
	records = f.engine.Records(hookX)
	working := 0
	for _, r := range records {
		if r.State == delivery.Working {
			working++
		}
	}
	if working < delivery.DefaultMaxInvestigationsPerAgent || working+f.engine.QueueDepth(agentA) != firings {
		t.Fatalf("%d at work and %d queued once the agent appeared, want all %d firings told or waiting their turn",
			working, f.engine.QueueDepth(agentA), firings)
	}
}

func TestASendThatTimedOutIsTheSecondUncertainMoment(t *testing.T) {
	tests := []struct {
		name      string
		guarantee delivery.Guarantee
		wantSends int
		wantState delivery.State
	}{
		{"at least once it is sent again with the same message id", delivery.AtLeastOnce, 2, delivery.Working},
		{"at most once it is not sent again", delivery.AtMostOnce, 1, delivery.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &uncertainCount{}
			f := newFixtureWithMetrics(t, delivery.Options{Guarantee: tt.guarantee, RetryInitial: time.Second}, m)
			f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
				if n == 0 {
					return ports.Task{}, fmt.Errorf("context deadline exceeded awaiting the answer: %w", ports.ErrUncertain)
				}
				return ports.Task{ID: "task", State: ports.TaskWorking}, nil
			}
			fi := firing(hookX, "web-1")
			ensure(f.engine, fi, agentA)
			if tt.guarantee == delivery.AtMostOnce {
				_, intents := f.engine.Snapshot(hookX, fi.Key)
				intents.Written()
			}
			f.engine.Wait()
			f.after(time.Minute)
			if tt.guarantee == delivery.AtMostOnce {
				_, intents := f.engine.Snapshot(hookX, fi.Key)
				intents.Written()
				f.engine.Wait()
			}
			sends := f.agent.Calls("send", agentA)
			if len(sends) != tt.wantSends || sends[len(sends)-1].Request.MessageID != delivery.MessageID(fi, agentA) {
				t.Fatalf("%d sends, want %d with the firing's message id", len(sends), tt.wantSends)
			}
			if r := f.record(t, hookX, agentA); r.State != tt.wantState {
				t.Fatalf("record %+v, want %s", r, tt.wantState)
			}
			if n := m.of(agentA, ports.UncertainTimeout); n != 1 {
				t.Fatalf("khook_deliveries_uncertain_total{moment=timeout} = %d, want 1", n)
			}
		})
	}
}

func TestASendUnderWayAtARestartIsCountedAsUncertain(t *testing.T) {
	m := &uncertainCount{}
	f := newFixtureWithMetrics(t, delivery.Options{}, m)
	fi := firing(hookX, "web-1")
	f.engine.Restore(hookX, []delivery.Record{{Firing: fi, Agent: agentA, MessageID: delivery.MessageID(fi, agentA), State: delivery.Sending, Attempts: 1}})
	if n := m.of(agentA, ports.UncertainRestart); n != 1 {
		t.Fatalf("khook_deliveries_uncertain_total{moment=restart} = %d, want 1", n)
	}
}

func TestAFailedStatusWriteGivesTheSlotsOfItsIntentsBackAtOnce(t *testing.T) {
	f := newFixture(t, delivery.Options{Guarantee: delivery.AtMostOnce, MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1})
	x, y := firing(hookX, "web-1"), firing(hookY, "db-1")
	ensure(f.engine, x, agentA) // takes A's only slot, waiting for hook x's write
	ensure(f.engine, y, agentA)
	_, intents := f.engine.Snapshot(hookX, x.Key)
	intents.Failed(t0.Add(time.Hour)) // hook x's investigation cannot be written
	_, intents = f.engine.Snapshot(hookY, y.Key)
	intents.Written()
	f.engine.Wait()
	if got := prompts(f.agent.Calls("send", agentA)); len(got) != 1 || f.agent.Calls("send", agentA)[0].Request.Hook != hookY {
		t.Fatalf("sends %v: want hook y's firing sent while hook x's write fails", got)
	}
	if r := f.record(t, hookX, agentA); r.State != delivery.Pending || !r.NextAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("hook x's record %+v, want pending until its Hook's next write", r)
	}
}

func TestARecordWhoseConfigurationIsHeldIsKeptAndSentOnceItIsFixed(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1})
	f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, _ int) (ports.Task, error) { return completed(id) }
	cfg := hook.Configuration{EventType: event.PodRestart, Agent: agentA, Prompt: "x"}
	busy, waiting := firing(hookY, "db-1"), firing(hookX, "web-1")
	ensure(f.engine, busy, agentA) // A works on hook y's firing: hook x's waits
	f.engine.Wait()
	f.engine.Configure(hookX, delivery.Assignment{Active: []hook.Configuration{cfg}})
	f.engine.Ensure(waiting, false)
	f.engine.Configure(hookX, delivery.Assignment{Held: []hook.Configuration{cfg}}) // a typo
	f.engine.Ensure(waiting, false)
	ensure(f.engine, firing(hookY, "db-2"), agentA)
	for range 3 {
		f.after(time.Minute) // the tasks end; A is free
	}
	if r := f.record(t, hookX, agentA); r.State != delivery.Pending || r.Cause != delivery.CauseConfigurationRefused {
		t.Fatalf("hook x's record %+v, want pending, kept while its configuration is refused", r)
	}
	for _, c := range f.agent.Calls("send", agentA) {
		if c.Request.Hook == hookX {
			t.Fatal("hook x's firing was sent while its configuration is refused")
		}
	}
	f.engine.Configure(hookX, delivery.Assignment{Active: []hook.Configuration{cfg}}) // fixed
	for range 3 {
		f.after(time.Minute)
	}
	n := 0
	for _, c := range f.agent.Calls("send", agentA) {
		if c.Request.Hook == hookX {
			n++
		}
	}
	if r := f.record(t, hookX, agentA); n != 1 || r.Cause != "" {
		t.Fatalf("hook x's firing sent %d times once fixed (record %+v), want once", n, r)
	}
}

func TestAFiringThatEndsIsNoLongerUndeliverable(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		return ports.Task{}, fmt.Errorf("HTTP 401: %w", ports.ErrPermanent)
	}
	fi := firing(hookX, "web-1")
	ensure(f.engine, fi, agentA)
	f.engine.Wait()
	if r := f.record(t, hookX, agentA); r.State != delivery.Undeliverable {
		t.Fatalf("record %+v, want undeliverable", r)
	}
	f.engine.End(hookX, fi.Key)
	if r := f.record(t, hookX, agentA); r.State != delivery.Abandoned || r.Cause != delivery.CauseAgentRefused {
		t.Fatalf("record %+v, want abandoned, its cause kept", r)
	}
}

func prompts(calls []portstest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Request.Hook.String()+": "+c.Request.Prompt)
	}
	return out
}

func TestATaskThatHadEndedWhenTheAgentAnsweredIsCountedAsAnInvestigation(t *testing.T) {
	m := &uncertainCount{}
	f := newFixtureWithMetrics(t, delivery.Options{}, m)
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) { return completed("t") }
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	f.engine.Wait()
	if n := m.of(agentA, "investigation completed"); n != 1 {
		t.Fatalf("%d investigations counted as completed, want 1", n)
	}
}
