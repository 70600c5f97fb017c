package ports

import (
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Metrics counts what the domain does. EventHandled is on the event-storm path: an
// implementation must not allocate or contend there.
type Metrics interface {
	// EventHandled counts one event from source of type t: the Hooks it matched, and of those
	// sightings how many started a firing and how many were duplicates of firing trouble.
	EventHandled(source string, t event.Type, matched, firing, duplicates int)
	// FiringEntries moves the gauge of firing entries by delta.
	FiringEntries(delta int)
	// TemplateRefused counts a prompt refused at check time ("refused") or stopped while
	// rendering ("budget", "error").
	TemplateRefused(reason string)
	// IncidentSuppressed counts an incident that started no investigation, by reason (backlog,
	// silenced, rate-limited, cooldown, inhibited).
	IncidentSuppressed(reason string)
	// Investigations reports how many investigations khook holds, by phase, over every Hook.
	Investigations(c InvestigationCounts)
	DeliveryMetrics
}

// DeliveryMetrics counts what happens to deliveries.
type DeliveryMetrics interface {
	// SendFinished counts one send and how long the exchange took; result is accepted,
	// failed, permanent or uncertain.
	SendFinished(agent hook.AgentRef, result string, took time.Duration)
	// InvestigationFinished counts a followed task's end and how long it took since it was
	// accepted; outcome is a task state, timed-out or lost.
	InvestigationFinished(agent hook.AgentRef, outcome string, took time.Duration)
	// RetryScheduled counts a failed delivery scheduled for another attempt.
	RetryScheduled(agent hook.AgentRef)
	// QueueDepth reports how many deliveries wait for a slot of agent.
	QueueDepth(agent hook.AgentRef, depth int)
	// DeliveryUncertain counts a send that may or may not have reached agent, at moment
	// UncertainRestart or UncertainTimeout (see docs/delivery.md).
	DeliveryUncertain(agent hook.AgentRef, moment string)
}

// The moments a send's outcome is uncertain, as DeliveryUncertain names them.
const (
	// UncertainRestart: khook stopped during the send (its intent or attempt was recorded, its
	// outcome not).
	UncertainRestart = "restart"
	// UncertainTimeout: the send timed out, or its connection broke, after the request went out.
	UncertainTimeout = "timeout"
)
