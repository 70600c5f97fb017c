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
	// AgentUsed says that a Hook now names agent and none did before: its deliveries may be
	// counted under its own name. Agents are named by tenants, so an implementation bounds
	// how many it counts apart.
	AgentUsed(agent hook.AgentRef)
	// AgentUnused says that no Hook names agent any more: what was counted under its name can
	// go, and what is still reported of it (a task followed to its end) is counted with the
	// agents not counted apart.
	AgentUnused(agent hook.AgentRef)
	DeliveryMetrics
}

// The moments at which khook cannot know whether an agent was told, as DeliveryUncertain
// counts them.
const (
	// UncertainRestart: khook stopped (a crash, a kill, a failover) while a send was under
	// way; the ledger says "sending" when it is restored.
	UncertainRestart = "restart"
	// UncertainTimeout: a send timed out, or its connection broke, after the request went out.
	UncertainTimeout = "timeout"
)

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
