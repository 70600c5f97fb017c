package ports

import (
	"context"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

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
