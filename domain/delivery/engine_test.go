package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

var (
	t0     = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	agentA = hook.AgentRef{Namespace: "kagent", Name: "a"}
	agentB = hook.AgentRef{Namespace: "kagent", Name: "b"}
	hookX  = hook.Ref{Namespace: "apps", Name: "x"}
	hookY  = hook.Ref{Namespace: "apps", Name: "y"}
)

func firing(ref hook.Ref, pod string) delivery.Firing {
	return delivery.Firing{Hook: ref, Key: incident.Key{Type: event.PodRestart, Subject: incident.Subject{Kind: "Pod", Namespace: "apps", Name: pod}},
		FirstSeen: t0, Resource: ports.ResourceRef{Kind: "Pod", Namespace: "apps", Name: pod}}
}

// preparer renders "prompt for <agent>" unless told otherwise, and counts what it rendered.
type preparer struct {
	mu       sync.Mutex
	fail     map[hook.AgentRef]error
	failHook map[hook.Ref]error
	calls    map[hook.Ref]int
}

func (p *preparer) Prepare(r delivery.Record, _ hook.Configuration) (ports.AgentRequest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[hook.Ref]int{}
	}
	p.calls[r.Hook]++
	if err := p.fail[r.Agent]; err != nil {
		return ports.AgentRequest{}, err
	}
	if err := p.failHook[r.Hook]; err != nil {
		return ports.AgentRequest{}, err
	}
	return ports.AgentRequest{Hook: r.Hook, Agent: r.Agent, Prompt: "prompt for " + r.Agent.String(), MessageID: r.MessageID, ContextID: r.ContextID}, nil
}

// prepared counts the records of ref the preparer was asked to render.
func (p *preparer) prepared(ref hook.Ref) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[ref]
}

// ensure configures Hook f.Hook to tell exactly agents of f's event type, then hands firing f
// over: what the pipeline does when a Hook changes and when a firing starts.
func ensure(e *delivery.Engine, f delivery.Firing, agents ...hook.AgentRef) {
	var cs []hook.Configuration
	for _, a := range agents {
		cs = append(cs, hook.Configuration{EventType: f.Key.Type, Agent: a, Prompt: "prompt for " + a.String()})
	}
	e.Configure(f.Hook, delivery.Assignment{Active: cs})
	e.Ensure(f, false)
}

type fixture struct {
	engine  *delivery.Engine
	clock   *clocktesting.FakeClock
	agent   *portstest.Agent
	prepare *preparer
	audit   *portstest.AuditLog
}

func newFixture(t *testing.T, opts delivery.Options) *fixture {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	f := &fixture{clock: clk, agent: &portstest.Agent{Clock: clk}, prepare: &preparer{fail: map[hook.AgentRef]error{}}, audit: &portstest.AuditLog{}}
	e, err := delivery.New(delivery.Dependencies{Agent: f.agent, Prepare: f.prepare, Audit: f.audit, Clock: clk,
		Rand: func() float64 { return 0.5 }}, opts) // no jitter: a factor of exactly 1
	if err != nil {
		t.Fatal(err)
	}
	f.engine = e
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return f
}

// after moves the clock, runs what is due and waits for it.
func (f *fixture) after(d time.Duration) {
	f.clock.Step(d)
	f.engine.RunDue()
	f.engine.Wait()
}

func (f *fixture) record(t *testing.T, ref hook.Ref, agent hook.AgentRef) delivery.Record {
	t.Helper()
	records := f.engine.Records(ref)
	for _, r := range records {
		if r.Agent == agent {
			return r
		}
	}
	t.Fatalf("no record for %s in %s: %+v", agent, ref, records)
	return delivery.Record{}
}

// times lists when calls happened.
func times(calls []portstest.Call) []time.Time {
	var out []time.Time
	for _, c := range calls {
		out = append(out, c.At)
	}
	return out
}

func completed(id string) (ports.Task, error) {
	return ports.Task{ID: id, State: ports.TaskCompleted, Summary: "root cause: memory limit"}, nil
}

func TestATaskIsFollowedUntilItEndsAndItsStateAndSummaryAreKept(t *testing.T) {
	tests := []struct {
		name        string
		answer      ports.Task
		wantState   delivery.State
		wantAudit   ports.AuditKind
		wantWarning bool
	}{
		{"a completed task is a success", ports.Task{State: ports.TaskCompleted, Summary: "root cause: memory limit"}, delivery.Completed, ports.AuditInvestigationCompleted, false},
		{"a canceled task ends without a retry", ports.Task{State: ports.TaskCanceled}, delivery.Canceled, ports.AuditInvestigationEnded, false},
		{"input required asks for a person and is not retried", ports.Task{State: ports.TaskInputRequired, Summary: "which namespace?"}, delivery.InputRequired, ports.AuditInputRequired, true},
		{"auth required asks for a person and is not retried", ports.Task{State: ports.TaskAuthRequired}, delivery.AuthRequired, ports.AuditInputRequired, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{})
			f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, n int) (ports.Task, error) {
				if n < 2 {
					return ports.Task{ID: id, State: ports.TaskWorking}, nil
				}
				a := tt.answer
				a.ID = id
				return a, nil
			}
			ensure(f.engine, firing(hookX, "web-1"), agentA)
			f.engine.Wait()
			if r := f.record(t, hookX, agentA); r.State != delivery.Working || r.TaskID == "" || r.SentAt != t0 {
				t.Fatalf("after the send: %+v", r)
			}
			for range 10 {
				f.after(time.Minute)
			}
			r := f.record(t, hookX, agentA)
			if r.State != tt.wantState || r.Summary != tt.answer.Summary {
				t.Fatalf("record = %+v, want state %s with summary %q", r, tt.wantState, tt.answer.Summary)
			}
			if n := f.agent.Count("send", agentA); n != 1 {
				t.Fatalf("the agent got %d messages, want exactly 1", n)
			}
			if n := f.agent.Count("get", agentA); n != 3 {
				t.Fatalf("the task was polled %d times, want 3 (two while working, one with the end)", n)
			}
			recs := f.audit.Records(tt.wantAudit)
			if len(recs) != 1 || recs[0].Warning != tt.wantWarning || recs[0].Resource.Name != "web-1" {
				t.Fatalf("want one %s (warning %v) about web-1, have %+v", tt.wantAudit, tt.wantWarning, f.audit.Records(""))
			}
		})
	}
}

func TestPollsBackOffAndATaskOutlivingTheDeadlineIsTimedOut(t *testing.T) {
	f := newFixture(t, delivery.Options{PollInitial: 2 * time.Second, PollMax: 8 * time.Second, InvestigationTimeout: time.Minute})
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	f.engine.Wait()
	for range 70 {
		f.after(time.Second)
	}
	got := times(f.agent.Calls("get", agentA))
	var gaps []time.Duration
	for i := 1; i < len(got); i++ {
		gaps = append(gaps, got[i].Sub(got[i-1]))
	}
	want := []time.Duration{4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if i >= len(gaps) || gaps[i] != w {
			t.Fatalf("gaps between polls = %v, want them to start %v", gaps, want)
		}
	}
	if r := f.record(t, hookX, agentA); r.State != delivery.TimedOut {
		t.Fatalf("after the investigation deadline the record is %s, want timed-out", r.State)
	}
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("a timed-out investigation was sent again: %d sends", n)
	}
}

func TestAFailedInvestigationIsAnOutcomeAndIsAskedAgainOnlyAsOftenAsAllowed(t *testing.T) {
	tests := []struct {
		name      string
		reruns    int
		wantGaps  []time.Duration // between sends
		wantEnded int             // InvestigationEnded records
	}{
		{"by default the outcome is recorded and nothing is sent again", 0, nil, 1},
		{"with three reruns the agent is asked again after growing delays", 3, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{RetryInitial: 30 * time.Second, RetryMax: 2 * time.Minute, RetryFailedInvestigations: tt.reruns})
			f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
				return ports.Task{ID: fmt.Sprintf("task-%d", n), State: ports.TaskFailed, Summary: "the model is overloaded"}, nil
			}
			ensure(f.engine, firing(hookX, "web-1"), agentA)
			f.engine.Wait()
			for range 60 {
				f.after(10 * time.Second)
			}
			calls := f.agent.Calls("send", agentA)
			sends := times(calls)
			var gaps []time.Duration
			ids := map[string]bool{}
			for i := range sends {
				ids[calls[i].Request.MessageID] = true
				if i > 0 {
					gaps = append(gaps, sends[i].Sub(sends[i-1]).Round(10*time.Second))
				}
			}
			if fmt.Sprint(gaps) != fmt.Sprint(tt.wantGaps) {
				t.Fatalf("gaps between sends = %v, want %v", gaps, tt.wantGaps)
			}
			if len(ids) != len(sends) {
				t.Fatalf("message ids %v: each rerun is a new message", ids)
			}
			r := f.record(t, hookX, agentA)
			if r.State != delivery.Failed || r.Reruns != tt.reruns || !strings.Contains(r.LastError, "overloaded") {
				t.Fatalf("record %+v, want failed after %d reruns", r, tt.reruns)
			}
			if f.audit.Count(ports.AuditInvestigationEnded) != tt.wantEnded || f.audit.Count(ports.AuditUndeliverable) != 0 || f.audit.Count(ports.AuditDeliveryFailed) != 0 {
				t.Fatalf("audit trail %v: want %d InvestigationEnded and no delivery failure (the agent was told)", f.audit.Kinds(), tt.wantEnded)
			}
		})
	}
}

func TestARepeatedErrorBacksOffAndJitterSpreadsTheRetries(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	agent := &portstest.Agent{Clock: clk, OnSend: func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		return ports.Task{}, errors.New("503")
	}}
	rnd := 0.0
	e, err := delivery.New(delivery.Dependencies{Agent: agent, Prepare: &preparer{}, Audit: &portstest.AuditLog{}, Clock: clk,
		Rand: func() float64 { return rnd }}, delivery.Options{RetryInitial: 100 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ensure(e, firing(hookX, "web-1"), agentA)
	e.Wait()
	records := e.Records(hookX)
	if got, want := records[0].NextAt.Sub(t0), 80*time.Second; got != want {
		t.Fatalf("with the lowest jitter the next attempt is in %v, want %v", got, want)
	}
}

func TestAPermanentFailureStopsUntilTheHookOrTheAgentChanges(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	down := true
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		if down {
			return ports.Task{}, fmt.Errorf("agent card: HTTP 404: %w", ports.ErrPermanent)
		}
		return completed("t")
	}
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	f.engine.Wait()
	for range 20 {
		f.after(10 * time.Minute)
	}
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("a refused agent got %d sends, want no retry storm (1)", n)
	}
	if r := f.record(t, hookX, agentA); r.State != delivery.Undeliverable || !strings.Contains(r.LastError, "404") {
		t.Fatalf("record = %+v", r)
	}

	f.engine.Revive(hookX) // the Hook changed
	f.engine.Wait()
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("a changed Hook did not try again: %d sends", n)
	}

	down = false // the agent appears; another firing gets through and revives the first
	ensure(f.engine, firing(hookY, "web-2"), agentA)
	f.engine.Wait()
	if r := f.record(t, hookX, agentA); r.State != delivery.Completed {
		t.Fatalf("after the agent accepted another firing, the refused one is %s, want completed", r.State)
	}
}

func TestAPromptThatCannotBeRenderedIsUndeliverableAndNothingIsSent(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	f.prepare.fail[agentA] = errors.New(`prompt:1:5: step budget of 10000 exceeded`)
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	f.engine.Wait()
	f.after(time.Hour)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("the agent got %d sends", n)
	}
	if r := f.record(t, hookX, agentA); r.State != delivery.Undeliverable || r.Cause != delivery.CausePrompt {
		t.Fatalf("record = %+v", r)
	}
}

func TestASlowAgentNeverDelaysAnotherAgent(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxSendsPerAgent: 2, MaxInvestigationsPerAgent: 4})
	for i := range 10 {
		ensure(f.engine, firing(hookX, fmt.Sprintf("web-%d", i)), agentA) // tasks stay working
	}
	ensure(f.engine, firing(hookY, "db-0"), agentB)
	f.engine.Wait()
	if n := f.agent.Count("send", agentB); n != 1 {
		t.Fatalf("the other agent got %d sends, want its firing at once", n)
	}
	if n := f.agent.Count("send", agentA); n != 4 {
		t.Fatalf("the slow agent got %d sends, want its 4 investigations in progress", n)
	}
	if d := f.engine.QueueDepth(agentA); d != 6 {
		t.Fatalf("queue depth of the slow agent = %d, want 6 waiting", d)
	}
	records := f.engine.Records(hookX)
	waiting := 0
	for _, r := range records {
		if r.State == delivery.Pending {
			waiting++
		}
	}
	if waiting != 6 {
		t.Fatalf("%d records wait as pending, want 6 (never dropped)", waiting)
	}
}

func TestAFinishedInvestigationLetsTheNextFiringOfItsAgentGo(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1})
	var mu sync.Mutex
	done := map[string]bool{}
	f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, _ int) (ports.Task, error) {
		mu.Lock()
		defer mu.Unlock()
		if done[id] {
			return completed(id)
		}
		return ports.Task{ID: id, State: ports.TaskWorking}, nil
	}
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	ensure(f.engine, firing(hookX, "web-2"), agentA)
	f.engine.Wait()
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("%d sends, want 1 while the first investigation runs", n)
	}
	first := f.record(t, hookX, agentA)
	mu.Lock()
	done[first.TaskID] = true
	mu.Unlock()
	f.after(time.Minute)
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("%d sends after the first investigation ended, want 2", n)
	}
}

func TestHooksTakeTurnsInAnAgentsQueue(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1})
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		return ports.Task{ID: req.MessageID, State: ports.TaskWorking}, nil
	}
	f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, _ int) (ports.Task, error) { return completed(id) }
	var storm []delivery.Firing
	for i := range 3 {
		storm = append(storm, firing(hookX, fmt.Sprintf("web-%d", i)))
		ensure(f.engine, storm[i], agentA)
	}
	calm := firing(hookY, "db-0")
	ensure(f.engine, calm, agentA)
	f.engine.Wait()
	for range 4 {
		f.after(time.Minute) // the task at work ends; the next goes
	}
	var sent []string
	for _, c := range f.agent.Calls("send", hook.AgentRef{}) {
		sent = append(sent, c.Request.MessageID)
	}
	id := func(fi delivery.Firing) string { return delivery.MessageID(fi, agentA) }
	want := []string{id(storm[0]), id(storm[1]), id(calm), id(storm[2])}
	if fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Fatalf("sends %v, want %v: hook y's firing waits one turn of hook x's storm, not all of it", sent, want)
	}
}

func TestALostTaskIsAnOutcomeAskedAgainOnlyIfAllowed(t *testing.T) {
	tests := []struct {
		name      string
		reruns    int
		wantSends int
		wantState delivery.State
	}{
		{"by default it is recorded as lost", 0, 1, delivery.Lost},
		{"with a rerun allowed the agent is asked again", 1, 2, delivery.Working},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{RetryInitial: time.Minute, RetryFailedInvestigations: tt.reruns})
			f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, _ int) (ports.Task, error) {
				if strings.HasSuffix(id, "-r1") {
					return ports.Task{ID: id, State: ports.TaskWorking}, nil
				}
				return ports.Task{}, fmt.Errorf("tasks/get: %w", ports.ErrTaskNotFound)
			}
			ensure(f.engine, firing(hookX, "web-1"), agentA)
			f.engine.Wait()
			f.after(5 * time.Second) // poll: lost
			f.after(2 * time.Minute) // a rerun, if allowed
			if n := f.agent.Count("send", agentA); n != tt.wantSends {
				t.Fatalf("a task the agent lost was sent %d times, want %d", n, tt.wantSends)
			}
			if r := f.record(t, hookX, agentA); r.State != tt.wantState {
				t.Fatalf("record %+v, want %s", r, tt.wantState)
			}
		})
	}
}

func TestTheSameMessageIDIsUsedForEveryAttemptOfAFiring(t *testing.T) {
	f := newFixture(t, delivery.Options{RetryInitial: time.Second})
	var ids []string
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
		ids = append(ids, req.MessageID)
		if n == 0 {
			return ports.Task{}, errors.New("connection refused")
		}
		return completed("t")
	}
	fi := firing(hookX, "web-1")
	ensure(f.engine, fi, agentA)
	f.engine.Wait()
	f.after(time.Minute)
	next := fi
	next.FirstSeen = t0.Add(time.Hour)
	if len(ids) != 2 || ids[0] != ids[1] || ids[0] != delivery.MessageID(fi, agentA) || delivery.MessageID(next, agentA) == ids[0] {
		t.Fatalf("message ids %v: want one id for both attempts, and another for the next firing", ids)
	}
}

func TestAnUncertainSendFollowsTheGuarantee(t *testing.T) {
	tests := []struct {
		guarantee delivery.Guarantee
		wantSends int
		wantState delivery.State
	}{
		{delivery.AtLeastOnce, 2, delivery.Completed},
		{delivery.AtMostOnce, 1, delivery.Unknown},
	}
	for _, tt := range tests {
		t.Run(string(tt.guarantee)+" sends "+fmt.Sprint(tt.wantSends)+" times", func(t *testing.T) {
			f := newFixture(t, delivery.Options{Guarantee: tt.guarantee, RetryInitial: time.Second})
			f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
				if n == 0 {
					return ports.Task{}, fmt.Errorf("timeout awaiting the answer: %w", ports.ErrUncertain)
				}
				return completed("t")
			}
			ensure(f.engine, firing(hookX, "web-1"), agentA)
			releaseIntents(f, hookX)
			f.after(time.Minute)
			releaseIntents(f, hookX)
			if n := f.agent.Count("send", agentA); n != tt.wantSends {
				t.Fatalf("%d sends, want %d", n, tt.wantSends)
			}
			if r := f.record(t, hookX, agentA); r.State != tt.wantState {
				t.Fatalf("record %s, want %s", r.State, tt.wantState)
			}
		})
	}
}

// releaseIntents plays the investigation writer: it writes each of ref's investigations and
// says so.
func releaseIntents(f *fixture, ref hook.Ref) {
	f.engine.Wait()
	written := map[incident.Key]bool{}
	for _, r := range f.engine.Records(ref) {
		if !written[r.Key] {
			written[r.Key] = true
			_, intents := f.engine.Snapshot(ref, r.Key)
			intents.Written()
		}
	}
	f.engine.Wait()
}

func TestAtMostOnceSendsOnlyOnceTheIntentIsWritten(t *testing.T) {
	f := newFixture(t, delivery.Options{Guarantee: delivery.AtMostOnce})
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	f.engine.Wait()
	records, written := f.engine.Snapshot(hookX, firing(hookX, "web-1").Key)
	if n := f.agent.Count("send", agentA); n != 0 || records[0].State != delivery.Sending {
		t.Fatalf("before the intent is written: %d sends, ledger says %s; want 0 and sending", n, records[0].State)
	}
	written.Written()
	f.engine.Wait()
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("after the intent is written: %d sends, want 1", n)
	}
}

func TestARestoredLedgerIsFollowedNotResent(t *testing.T) {
	fi := firing(hookX, "web-1")
	base := delivery.Record{Firing: fi, Agent: agentA, MessageID: delivery.MessageID(fi, agentA), SentAt: t0, Attempts: 1}
	with := func(state delivery.State, taskID string) []delivery.Record {
		r := base
		r.State, r.TaskID = state, taskID
		return []delivery.Record{r}
	}
	tests := []struct {
		name      string
		guarantee delivery.Guarantee
		ledger    []delivery.Record
		wantSends int
		wantPolls int
		wantState delivery.State
	}{
		{"a task still working is followed, not re-sent", delivery.AtLeastOnce, with(delivery.Working, "task-7"), 0, 1, delivery.Completed},
		{"a pending delivery is sent", delivery.AtLeastOnce, with(delivery.Pending, ""), 1, 0, delivery.Completed},
		{"at least once, a send the last process did not see through is sent again", delivery.AtLeastOnce, with(delivery.Sending, ""), 1, 0, delivery.Completed},
		{"at most once, a send the last process did not see through is unknown and not sent", delivery.AtMostOnce, with(delivery.Sending, ""), 0, 0, delivery.Unknown},
		{"a completed delivery stays completed", delivery.AtLeastOnce, with(delivery.Completed, "task-7"), 0, 0, delivery.Completed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{Guarantee: tt.guarantee})
			f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) { return completed("t") }
			f.agent.OnGet = func(_ context.Context, _ hook.AgentRef, id string, _ int) (ports.Task, error) { return completed(id) }
			f.clock.Step(time.Minute)
			if !f.engine.Restore(hookX, tt.ledger) {
				t.Fatal("Restore loaded nothing")
			}
			ensure(f.engine, fi, agentA) // the pipeline reconciles after restoring: no change
			f.after(time.Second)
			releaseIntents(f, hookX)
			f.after(time.Second)
			if s, p := f.agent.Count("send", agentA), f.agent.Count("get", agentA); s != tt.wantSends || p != tt.wantPolls {
				t.Fatalf("%d sends and %d polls, want %d and %d", s, p, tt.wantSends, tt.wantPolls)
			}
			if r := f.record(t, hookX, agentA); r.State != tt.wantState {
				t.Fatalf("record %s, want %s", r.State, tt.wantState)
			}
		})
	}
}

func TestOnlyTheAgentsNotYetToldAreCalledAfterARestart(t *testing.T) {
	fi := firing(hookX, "web-1")
	told := delivery.Record{Firing: fi, Agent: agentA, MessageID: delivery.MessageID(fi, agentA), State: delivery.Completed, SentAt: t0, Attempts: 1}
	failed := delivery.Record{Firing: fi, Agent: agentB, MessageID: delivery.MessageID(fi, agentB), State: delivery.Pending, Attempts: 1,
		LastError: "503", NextAt: t0.Add(30 * time.Second)}
	f := newFixture(t, delivery.Options{})
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) { return completed("t") }
	f.engine.Restore(hookX, []delivery.Record{told, failed})
	ensure(f.engine, fi, agentA, agentB)
	f.after(time.Minute)
	if a, b := f.agent.Count("send", agentA), f.agent.Count("send", agentB); a != 0 || b != 1 {
		t.Fatalf("sends to A %d, to B %d; want only B called again", a, b)
	}
}

func TestAResolvedFiringAbandonsWhatWaitsButFollowsWhatRuns(t *testing.T) {
	f := newFixture(t, delivery.Options{RetryInitial: time.Minute})
	f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
		if req.Agent == agentB {
			return ports.Task{}, errors.New("503")
		}
		return ports.Task{ID: "t", State: ports.TaskWorking}, nil
	}
	fi := firing(hookX, "web-1")
	ensure(f.engine, fi, agentA, agentB)
	f.engine.Wait()
	f.engine.End(hookX, fi.Key)
	for range 10 {
		f.after(time.Minute)
	}
	if b := f.agent.Count("send", agentB); b != 1 {
		t.Fatalf("agent B was tried %d times after the firing resolved, want no retry", b)
	}
	if r := f.record(t, hookX, agentB); r.State != delivery.Abandoned {
		t.Fatalf("B's record is %s, want abandoned", r.State)
	}
	if p := f.agent.Count("get", agentA); p == 0 {
		t.Fatal("A's task was not followed after the firing resolved")
	}
}

func TestANewFiringReplacesTheLedgerOfTheOldOne(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	old := firing(hookX, "web-1")
	ensure(f.engine, old, agentA)
	next := old
	next.FirstSeen = t0.Add(time.Hour)
	ensure(f.engine, next, agentA)
	f.engine.Wait()
	records := f.engine.Records(hookX)
	if len(records) != 1 || !records[0].FirstSeen.Equal(next.FirstSeen) {
		t.Fatalf("ledger = %+v, want only the new firing", records)
	}
	if n := f.agent.Count("send", agentA); n != 2 {
		t.Fatalf("%d sends, want one per firing", n)
	}
}

func TestAnAgentRemovedFromTheHookIsNotToldButAnAddedOneIs(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1})
	busy := firing(hookY, "db-0")
	ensure(f.engine, busy, agentA) // takes A's only slot
	fi := firing(hookX, "web-1")
	ensure(f.engine, fi, agentA) // waits for A
	ensure(f.engine, fi, agentB) // the Hook now names B instead
	f.engine.Wait()
	records := f.engine.Records(hookX)
	if len(records) != 1 || records[0].Agent != agentB {
		t.Fatalf("ledger = %+v, want only B", records)
	}
	if a, b := f.agent.Count("send", agentA), f.agent.Count("send", agentB); a != 1 || b != 1 {
		t.Fatalf("sends: A %d, B %d; want A only for the other Hook's firing", a, b)
	}
	if d := f.engine.QueueDepth(agentA); d != 0 {
		t.Fatalf("A's queue still holds %d", d)
	}
}

func TestADroppedHookIsNeitherSentNorFollowed(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	f.engine.Wait()
	f.engine.Drop(hookX)
	f.after(time.Hour)
	if n := f.agent.Count("get", agentA); n != 0 {
		t.Fatalf("a deleted Hook's task was polled %d times", n)
	}
	if records := f.engine.Records(hookX); len(records) != 0 {
		t.Fatalf("ledger of a dropped hook = %+v", records)
	}
}

func TestShutdownLetsSendsUnderWayFinishAndStartsNothingNew(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxSendsPerAgent: 1})
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // a failed test leaves no send hanging
	started := make(chan struct{}, 3)
	f.agent.OnSend = func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		return completed("t")
	}
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	ensure(f.engine, firing(hookX, "web-2"), agentA)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first send never started")
	}
	f.engine.Stop()
	ensure(f.engine, firing(hookX, "web-3"), agentB) // a firing after the stop, for an idle agent
	releaseOnce.Do(func() { close(release) })
	if err := f.engine.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.after(time.Hour) // whatever was due by now would have started
	if n := f.agent.Count("send", hook.AgentRef{}); n != 1 {
		t.Fatalf("%d sends, want the one under way and nothing new", n)
	}
	records := f.engine.Records(hookX)
	if len(records) != 3 || records[0].State != delivery.Completed || records[1].State != delivery.Pending || records[2].State != delivery.Pending {
		t.Fatalf("ledger after shutdown: %+v, want completed, then pending twice (due for the next leader)", records)
	}
}

func TestShutdownCancelsSendsThatOutliveItsDeadlineAndKeepsThemDue(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	started := make(chan struct{})
	f.agent.OnSend = func(ctx context.Context, _ ports.AgentRequest, _ int) (ports.Task, error) {
		close(started)
		select { // an agent that never answers (within the test's time)
		case <-ctx.Done():
			return ports.Task{}, fmt.Errorf("%w: %w", ctx.Err(), ports.ErrUncertain)
		case <-time.After(time.Minute):
			return ports.Task{}, fmt.Errorf("the send was never cancelled: %w", ports.ErrUncertain)
		}
	}
	ensure(f.engine, firing(hookX, "web-1"), agentA)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the send never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.engine.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline named", err)
	}
	if r := f.record(t, hookX, agentA); r.State != delivery.Pending {
		t.Fatalf("a cancelled send left the record %s, want pending for the next leader (at least once)", r.State)
	}
}

func TestOptionsAreValidatedWithTheFieldNamed(t *testing.T) {
	tests := []struct {
		name string
		opts delivery.Options
		want string
	}{
		{"an unknown guarantee is refused", delivery.Options{Guarantee: "exactly-once"}, `Guarantee "exactly-once"`},
		{"more sends than investigations is refused", delivery.Options{MaxSendsPerAgent: 5, MaxInvestigationsPerAgent: 2}, "MaxSendsPerAgent (5)"},
		{"a first retry longer than the longest is refused", delivery.Options{RetryInitial: time.Hour, RetryMax: time.Minute}, "RetryInitial (1h0m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestTheNextAttemptContinuesTheSessionOfAFailedOne(t *testing.T) {
	tests := []struct {
		name  string
		first func(req ports.AgentRequest) (ports.Task, error)
	}{
		{"an agent that was unavailable", func(ports.AgentRequest) (ports.Task, error) {
			return ports.Task{ContextID: "session-1"}, errors.New("HTTP 503")
		}},
		{"a send whose answer never came (at least once)", func(ports.AgentRequest) (ports.Task, error) {
			return ports.Task{ContextID: "session-1"}, fmt.Errorf("timeout awaiting the answer: %w", ports.ErrUncertain)
		}},
		{"a task that failed, asked again (rerun)", func(ports.AgentRequest) (ports.Task, error) {
			return ports.Task{ID: "t-1", ContextID: "session-1", State: ports.TaskFailed}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{RetryInitial: time.Second, RetryFailedInvestigations: 1})
			f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, n int) (ports.Task, error) {
				if n == 0 {
					return tt.first(req)
				}
				return completed("t-2")
			}
			ensure(f.engine, firing(hookX, "web-1"), agentA)
			f.engine.Wait()
			if r := f.record(t, hookX, agentA); r.ContextID != "session-1" {
				t.Fatalf("after the failed attempt the ledger keeps context %q, want the session the agent named", r.ContextID)
			}
			f.after(time.Minute)
			sends := f.agent.Calls("send", agentA)
			if len(sends) != 2 || sends[0].Request.ContextID != "" || sends[1].Request.ContextID != "session-1" {
				t.Fatalf("sends %+v: want the second attempt to continue session-1", sends)
			}
		})
	}
}
