package ports

import (
	"context"
	"errors"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// HookActivity is what a Hook's status says about its events and investigations: a bounded
// summary. The ledger of each investigation is on the investigation itself.
type HookActivity struct {
	// HookUID, when known, is the UID of the Hook the activity belongs to: it is not written to
	// a new Hook of the same name.
	HookUID string
	Events  []ActiveEvent
	// Omitted counts the events held but not shown (the least interesting beyond the cap).
	Omitted int
	// Firing counts the events firing, shown or not.
	Firing int
	// Investigations counts the Hook's investigations khook holds, by phase.
	Investigations InvestigationCounts
}

// InvestigationCounts counts investigations by phase, and the suppressed ones by reason.
type InvestigationCounts struct {
	Pending, Working, Completed, Failed, InputRequired, Lost, Resolved, Suppressed int
	// SuppressedBy counts the suppressed ones by reason (backlog, silenced, …).
	SuppressedBy map[string]int
}

// ActiveEvent is one entry of a Hook's status.activeEvents: an event key, its firing, and the
// delivery ledger of that firing.
type ActiveEvent struct {
	EventType    string
	Namespace    string
	ResourceName string
	Fingerprint  string
	FirstSeen    time.Time
	LastSeen     time.Time
	Status       string // "firing" or "resolved"
	// ResolvedReason says why a resolved event ended: recovered, deleted or quiet.
	ResolvedReason string
	// ResolvedAt is when a resolved event ended.
	ResolvedAt time.Time
	// Occurrences counts the sightings during this firing, the first included.
	Occurrences int64
	// NotifiedAt is when every configured agent had accepted the firing; zero until then.
	NotifiedAt time.Time
	// LastNotifiedAt is when an agent last accepted the firing.
	LastNotifiedAt time.Time
	// Investigation names the investigation of the incident the event belongs to.
	Investigation string
	// Event and Deliveries are what the previous release kept on the Hook (the event a retry
	// renders, the ledger): read once to move them to investigations, never written again.
	Event      *EventSnapshot
	Deliveries []Delivery
}

// EventSnapshot is the latest occurrence of an event, as a retry renders it.
type EventSnapshot struct {
	ResourceKind string
	Reason       string
	Message      string
	Timestamp    time.Time
	Source       string
	SourceType   string
	Severity     string
	Description  string
	Metadata     map[string]string
	Tags         map[string]string
	// Workload, Node and Labels: what runs the resource, where, and its labels (see event.Event).
	WorkloadKind, WorkloadName string
	Node                       string
	Labels                     map[string]string
}

// Delivery is one agent's line in the ledger of a firing.
type Delivery struct {
	Agent     string // namespace/name
	MessageID string
	ContextID string
	TaskID    string
	State     string
	Summary   string
	LastError string
	// Cause says why the delivery is undeliverable, abandoned or waiting (a delivery.Cause).
	Cause    string
	Attempts int
	// Reruns counts the times the agent was asked again after its task failed.
	Reruns int
	// SentAt is when the agent accepted the latest attempt; zero until one was accepted.
	SentAt time.Time
	// UpdatedAt is when State last changed.
	UpdatedAt time.Time
	// NextAttemptAt is when a pending delivery is tried again.
	NextAttemptAt time.Time
}

// Condition is a status condition in the Kubernetes style.
type Condition struct {
	Type    string
	Status  bool
	Reason  string
	Message string
}

// ErrStatusTooLarge is what a HookStatusWriter wraps when the API refuses a status as too large:
// the pipeline then shows fewer events for that Hook, and not at once.
var ErrStatusTooLarge = errors.New("status too large")

// HookStatusWriter writes parts of a Hook's status. Each call replaces only the part it names.
type HookStatusWriter interface {
	WriteActivity(ctx context.Context, ref hook.Ref, activity HookActivity) error
	WriteConditions(ctx context.Context, ref hook.Ref, observedGeneration int64, conditions []Condition) error
}
