package ports

import (
	"context"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// AgentRequest is one call to an agent.
type AgentRequest struct {
	Hook         hook.Ref
	Agent        hook.AgentRef
	Prompt       string
	EventName    string // the event type
	EventTime    time.Time
	ResourceName string
	// Context is passed to the agent as message metadata: namespace, reason, source, …
	Context map[string]string
	// IdempotencyKey is the same for every attempt to tell this agent of this firing, so an
	// agent (or a proxy) can recognise a retry; the A2A adapter uses it as the message id.
	IdempotencyKey string
}

// AgentResponse is the agent's answer.
type AgentResponse struct {
	Success   bool
	Message   string
	RequestID string // the A2A task or message id
}

// AgentCaller calls an agent and waits for its answer.
type AgentCaller interface {
	Call(ctx context.Context, req AgentRequest) (AgentResponse, error)
}
