package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/mocks"
	"github.com/khook-dev/khook/ports/portstest"
)

// The tests with mocks (go.uber.org/mock) are those that must count the calls at a port: an
// agent told exactly once, a status written once. A mock fails the test at once on a call it was
// not told to expect, and at the end on an expected call that did not come. Everything else uses
// the in-memory fakes of ports/portstest.

// mocked is a pipeline on a fake clock whose agent caller and status writer are given: a mock
// where the test counts the calls, a fake of portstest where it does not.
type mocked struct {
	p     *pipeline.Pipeline
	clock *clocktesting.FakeClock
}

func newMocked(t *testing.T, clk *clocktesting.FakeClock, agent ports.AgentCaller, status ports.HookStatusWriter, hooks ...hook.Hook) *mocked {
	t.Helper()
	p, err := pipeline.New(pipeline.Dependencies{
		Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute), Renderer: templating.NewRenderer(),
		Agent: agent, Audit: &portstest.AuditLog{}, Status: status, Investigations: &portstest.Investigations{}, Clock: clk,
	}, pipeline.Options{KnownEventTypes: event.KubernetesTypes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) }) // before the mocks' controller checks the calls
	m := &mocked{p: p, clock: clk}
	for _, h := range hooks {
		m.upsert(t, h)
	}
	return m
}

func (m *mocked) upsert(t *testing.T, h hook.Hook) {
	t.Helper()
	m.p.UpsertHook(context.Background(), h)
	m.p.Wait()
}

// handle handles e, runs what is due and waits for the sends.
func (m *mocked) handle(e event.Event) {
	m.p.Handle(context.Background(), e)
	m.p.RunDue(context.Background())
	m.p.Wait()
}

// after moves the clock, runs what is due and waits for it.
func (m *mocked) after(d time.Duration) {
	m.clock.Step(d)
	m.p.RunDue(context.Background())
	m.p.Wait()
}

// told matches the request telling agent of the firing of hook h's event e that began at
// firstSeen: its agent and its message id.
func told(h hook.Hook, e event.Event, firstSeen time.Time, agent hook.AgentRef) gomock.Matcher {
	f := delivery.Firing{Hook: h.Ref, HookUID: h.UID, Key: incident.KeyOf(e, hook.Grouping{By: hook.ByResource}), FirstSeen: firstSeen}
	return message{agent: agent, id: delivery.MessageID(f, agent), firing: firstSeen}
}

type message struct {
	agent  hook.AgentRef
	id     string
	firing time.Time
}

func (m message) Matches(x any) bool {
	req, ok := x.(ports.AgentRequest)
	return ok && req.Agent == m.agent && req.MessageID == m.id
}

func (m message) String() string {
	return fmt.Sprintf("message %s to agent %s, about the firing that began at %s", m.id, m.agent, m.firing.Format(time.TimeOnly))
}

func TestAnAgentIsToldExactlyOncePerFiringAcrossHookEdits(t *testing.T) {
	v1 := newHook("apps", "one", onRestart(agentA, "A {{.ResourceName}}"))
	edit := func(gen int64, configs ...hook.Configuration) hook.Hook {
		h := newHook("apps", "one", configs...)
		h.Generation = gen
		return h
	}
	tests := []struct {
		name  string
		edits []hook.Hook // applied one after the other while the event fires
		told  []hook.AgentRef
	}{
		{"the prompt edited", []hook.Hook{edit(2, onRestart(agentA, "A, again: {{.ResourceName}}"))}, []hook.AgentRef{agentA}},
		{"an agent added: the added agent is told, the other not again",
			[]hook.Hook{edit(2, onRestart(agentA, "A {{.ResourceName}}"), onRestart(agentB, "B {{.ResourceName}}"))}, []hook.AgentRef{agentA, agentB}},
		{"a prompt typo, then its fix", []hook.Hook{edit(2, onRestart(agentA, "A {{.ResourceName")), edit(3, onRestart(agentA, "A {{.ResourceName}}"))},
			[]hook.AgentRef{agentA}},
		{"the same generation loaded again, as a resync does", []hook.Hook{v1, v1}, []hook.AgentRef{agentA}},
		{"another event type added", []hook.Hook{edit(2, onRestart(agentA, "A {{.ResourceName}}"),
			hook.Configuration{EventType: event.OOMKill, Agent: agentA, Prompt: "OOM {{.ResourceName}}"})}, []hook.AgentRef{agentA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctrl := gomock.NewController(t)
			agent := mocks.NewMockAgentCaller(ctrl)
			first, second := t0, t0.Add(30*time.Minute) // the two firings
			for _, a := range tt.told {
				// The mock refuses any other message, and a second send of either.
				agent.EXPECT().Send(gomock.Any(), told(v1, restart, first, a)).Return(ports.Task{ID: "t1", State: ports.TaskCompleted}, nil).Times(1)
				agent.EXPECT().Send(gomock.Any(), told(v1, restart, second, a)).Return(ports.Task{ID: "t2", State: ports.TaskCompleted}, nil).Times(1)
			}
			m := newMocked(t, clocktesting.NewFakeClock(t0), agent, &portstest.StatusWriter{}, v1)

			m.handle(restart)
			for _, h := range tt.edits {
				m.after(time.Minute)
				m.handle(restart) // a repeat between edits
				m.upsert(t, h)
			}
			m.after(time.Hour / 4) // every retry and revival the edits could have started is due
			recovered := restart
			recovered.Resolution = event.Recovered
			m.handle(recovered)

			m.clock.SetTime(second)
			again := restart
			again.Timestamp = second
			m.handle(again) // the next firing: a new message to each agent, once
			for range 3 {
				m.after(time.Minute)
				m.handle(again)
			}
		})
	}
}

// showing matches the activity of a Hook whose events are want: "resource=status ..." in the
// order the status lists them.
type showing string

func (s showing) Matches(x any) bool {
	a, ok := x.(ports.HookActivity)
	return ok && eventsOf(a) == string(s)
}

func (s showing) String() string { return fmt.Sprintf("an activity showing %q", string(s)) }

func eventsOf(a ports.HookActivity) string {
	var out []string
	for _, e := range a.Events {
		out = append(out, e.ResourceName+"="+e.Status)
	}
	return strings.Join(out, " ")
}

// Changes between two flushes are coalesced: each Hook they touched is written once, with all of
// them, however many there were; a flush with nothing new writes nothing.
func TestSeveralChangesBetweenTwoFlushesAreOneStatusWritePerHook(t *testing.T) {
	x, y := newHook("apps", "x", onRestart(agentA, "x {{.ResourceName}}")), newHook("shop", "y", onRestart(agentB, "y {{.ResourceName}}"))
	in := func(ns, name string) event.Event {
		e := restart
		e.Namespace, e.ResourceName = ns, name
		return e
	}
	tests := []struct {
		name    string
		changes func(m *mocked)
		want    map[hook.Ref]showing // each Hook's one write
	}{
		{"the Hooks loaded and three pods firing, each agent told",
			func(m *mocked) {
				for _, pod := range []string{"web-1", "web-2", "web-3"} {
					m.handle(in("apps", pod))
				}
			},
			map[hook.Ref]showing{x.Ref: "web-1=firing web-2=firing web-3=firing", y.Ref: ""}},
		{"a firing, a hundred repeats and its resolution",
			func(m *mocked) {
				m.handle(in("apps", "web-1"))
				for range 100 {
					m.after(time.Second)
					m.handle(in("apps", "web-1"))
				}
				recovered := in("apps", "web-1")
				recovered.Resolution = event.Recovered
				m.handle(recovered)
			},
			map[hook.Ref]showing{x.Ref: "web-1=resolved", y.Ref: ""}},
		{"a Hook edited twice while its pod fires",
			func(m *mocked) {
				m.handle(in("apps", "web-1"))
				for gen := int64(2); gen <= 3; gen++ {
					edited := newHook("apps", "x", onRestart(agentA, fmt.Sprintf("x%d {{.ResourceName}}", gen)))
					edited.Generation = gen
					m.upsert(t, edited)
				}
			},
			map[hook.Ref]showing{x.Ref: "web-1=firing", y.Ref: ""}},
		{"changes of two Hooks",
			func(m *mocked) {
				m.handle(in("apps", "web-1"))
				m.handle(in("shop", "cart-1"))
				m.handle(in("shop", "cart-2"))
			},
			map[hook.Ref]showing{x.Ref: "web-1=firing", y.Ref: "cart-1=firing cart-2=firing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctrl := gomock.NewController(t)
			status := mocks.NewMockHookStatusWriter(ctrl)
			for ref, want := range tt.want {
				status.EXPECT().WriteActivity(gomock.Any(), ref, want).Return(nil).Times(1)
				status.EXPECT().WriteConditions(gomock.Any(), ref, gomock.Any(), gomock.Any()).Return(nil).Times(1)
			}
			clk := clocktesting.NewFakeClock(t0)
			agent := &portstest.Agent{Clock: clk, OnSend: func(context.Context, ports.AgentRequest, int) (ports.Task, error) {
				return ports.Task{ID: "t", State: ports.TaskCompleted}, nil
			}}
			m := newMocked(t, clk, agent, status, x, y)
			tt.changes(m)
			for range 3 { // one flush writes; the next ones have nothing new to write
				if err := m.p.FlushStatus(context.Background(), false); err != nil {
					t.Fatal(err)
				}
				m.after(time.Second)
			}
		})
	}
}
