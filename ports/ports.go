package ports

import (
	"context"
	"time"

	"k8s.io/utils/clock"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

//go:generate go tool mockgen -typed -destination=mocks/mocks.go -package=mocks . AgentCaller,AuditRecorder,HookStatusWriter

// Clock is where the domain gets the time; tests use k8s.io/utils/clock/testing.FakeClock.
type Clock = clock.PassiveClock

// EventSink receives events from a source. Handle must not block for long: the pipeline
// dispatches agent calls asynchronously.
type EventSink interface {
	Handle(ctx context.Context, e event.Event)
}

// EventSource produces events.
type EventSource interface {
	// Name identifies the source in logs and in event.Event.Source.
	Name() string
	// EventTypes lists the event types the source can produce.
	EventTypes() []event.Type
	// Start begins delivering events to sink and returns once it is delivering (or failed to
	// start); delivery stops when ctx is done.
	Start(ctx context.Context, sink EventSink) error
}

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

// ActiveEvent is one entry of a Hook's status.activeEvents.
type ActiveEvent struct {
	EventType      string
	Namespace      string
	ResourceName   string
	FirstSeen      time.Time
	LastSeen       time.Time
	Status         string // "firing" or "resolved"
	NotifiedAt     time.Time
	LastNotifiedAt time.Time
}

// Condition is a status condition in the Kubernetes style.
type Condition struct {
	Type    string
	Status  bool
	Reason  string
	Message string
}

// HookStatusWriter writes parts of a Hook's status. Each call replaces only the part it names.
type HookStatusWriter interface {
	WriteActiveEvents(ctx context.Context, ref hook.Ref, events []ActiveEvent) error
	WriteConditions(ctx context.Context, ref hook.Ref, observedGeneration int64, conditions []Condition) error
}

// AuditKind is what happened, for the audit trail.
type AuditKind string

const (
	AuditFiring          AuditKind = "EventFiring"
	AuditAgentCalled     AuditKind = "AgentCallSucceeded"
	AuditAgentFailed     AuditKind = "AgentCallFailed"
	AuditDuplicate       AuditKind = "DuplicateEventIgnored"
	AuditResolved        AuditKind = "EventResolved"
	AuditTemplateFailed  AuditKind = "PromptRenderFailed"
	AuditHookNotAccepted AuditKind = "HookNotAccepted"
)

// AuditRecord is one entry of the audit trail of a hook.
type AuditRecord struct {
	Kind    AuditKind
	Warning bool
	Message string
}

// AuditRecorder keeps the audit trail, e.g. as Kubernetes Events on the Hook.
type AuditRecorder interface {
	Record(ctx context.Context, ref hook.Ref, rec AuditRecord)
}

// Metrics counts what the pipeline does.
type Metrics interface {
	EventObserved(t event.Type, outcome string)
	AgentCallFinished(agent hook.AgentRef, result string, took time.Duration)
	CallsInFlight(delta int)
}
