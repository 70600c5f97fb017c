package ports

import (
	"context"

	"github.com/khook-dev/khook/domain/hook"
)

// AuditKind is what happened, for the audit trail: one record per state change.
type AuditKind string

const (
	// AuditFiring: trouble started firing for the Hook.
	AuditFiring AuditKind = "EventFiring"
	// AuditResolved: the trouble ended (recovered, deleted or quiet).
	AuditResolved AuditKind = "EventResolved"
	// AuditDelivered: an agent accepted the firing (a task, or a final answer).
	AuditDelivered AuditKind = "AgentAccepted"
	// AuditDeliveryFailed: a send failed or the agent's task failed; it will be retried.
	AuditDeliveryFailed AuditKind = "DeliveryFailed"
	// AuditUndeliverable: khook stopped trying: a permanent failure, or retries used up.
	AuditUndeliverable AuditKind = "DeliveryAbandoned"
	// AuditDeliveryUncertain: a send may or may not have reached the agent (at-most-once).
	AuditDeliveryUncertain AuditKind = "DeliveryUncertain"
	// AuditInvestigationCompleted: the agent's task completed.
	AuditInvestigationCompleted AuditKind = "InvestigationCompleted"
	// AuditInvestigationEnded: the task ended otherwise (canceled, timed out).
	AuditInvestigationEnded AuditKind = "InvestigationEnded"
	// AuditInputRequired: the agent needs a person (input or authorisation).
	AuditInputRequired AuditKind = "InvestigationNeedsInput"
	// AuditTemplateFailed: a prompt could not be rendered.
	AuditTemplateFailed AuditKind = "PromptRenderFailed"
	// AuditHookNotAccepted: a configuration of the Hook is refused.
	AuditHookNotAccepted AuditKind = "HookNotAccepted"
	// AuditSuppressed: an incident started no investigation (the backlog, and to come a silence,
	// a budget, a cooldown, an inhibition); once per incident, not per repeat.
	AuditSuppressed AuditKind = "InvestigationSuppressed"
)

// ResourceRef names the resource an audit record is about, such as the Pod that crashed.
type ResourceRef struct {
	Kind      string // e.g. "Pod"; empty when the resource is not a Kubernetes object
	Namespace string
	Name      string
}

// AuditRecord is one entry of the audit trail of a hook.
type AuditRecord struct {
	Kind    AuditKind
	Warning bool
	Message string
	// Resource is the affected resource (the event's), zero when the record is about the Hook
	// alone. Records about different resources are never merged.
	Resource ResourceRef
	// HookUID, when known, is the UID of the Hook the record is about: a record about a deleted
	// Hook never lands on a new Hook of the same name.
	HookUID string
}

// AuditRecorder keeps the audit trail, e.g. as Kubernetes Events on the Hook. Record must not
// block: the pipeline calls it on its way.
type AuditRecorder interface {
	Record(ctx context.Context, ref hook.Ref, rec AuditRecord)
}
