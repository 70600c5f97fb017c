package portstest

import (
	"context"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Call is one request an Agent received.
type Call struct {
	Kind    string // "send" or "get"
	Agent   hook.AgentRef
	Request ports.AgentRequest // for a send
	TaskID  string             // for a get
	At      time.Time
}

// Agent is an in-memory ports.AgentCaller. Set OnSend and OnGet before use to script answers;
// without them a send starts a working task named after the message and a poll finds it working.
type Agent struct {
	// Clock stamps calls; nil leaves them unstamped.
	Clock ports.Clock
	// OnSend answers the n-th send to the request's agent (counting from 0).
	OnSend func(ctx context.Context, req ports.AgentRequest, n int) (ports.Task, error)
	// OnGet answers the n-th poll of agent (counting from 0).
	OnGet func(ctx context.Context, agent hook.AgentRef, taskID string, n int) (ports.Task, error)

	mu    sync.Mutex
	calls []Call
}

var _ ports.AgentCaller = (*Agent)(nil)

// Send implements ports.AgentCaller.
func (a *Agent) Send(ctx context.Context, req ports.AgentRequest) (ports.Task, error) {
	n := a.note(Call{Kind: "send", Agent: req.Agent, Request: req})
	if a.OnSend != nil {
		return a.OnSend(ctx, req, n)
	}
	return ports.Task{ID: "task-" + req.MessageID, State: ports.TaskWorking}, nil
}

// GetTask implements ports.AgentCaller.
func (a *Agent) GetTask(ctx context.Context, agent hook.AgentRef, taskID string) (ports.Task, error) {
	n := a.note(Call{Kind: "get", Agent: agent, TaskID: taskID})
	if a.OnGet != nil {
		return a.OnGet(ctx, agent, taskID, n)
	}
	return ports.Task{ID: taskID, State: ports.TaskWorking}, nil
}

// note records c and returns how many calls of its kind its agent had before.
func (a *Agent) note(c Call) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Clock != nil {
		c.At = a.Clock.Now()
	}
	n := 0
	for _, x := range a.calls {
		if x.Kind == c.Kind && x.Agent == c.Agent {
			n++
		}
	}
	a.calls = append(a.calls, c)
	return n
}

// Calls returns the calls of kind ("send" or "get") to agent, in order; a zero agent means any.
func (a *Agent) Calls(kind string, agent hook.AgentRef) []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Call
	for _, c := range a.calls {
		if c.Kind == kind && (agent == hook.AgentRef{} || c.Agent == agent) {
			out = append(out, c)
		}
	}
	return out
}

// Count is len(Calls(kind, agent)).
func (a *Agent) Count(kind string, agent hook.AgentRef) int { return len(a.Calls(kind, agent)) }
