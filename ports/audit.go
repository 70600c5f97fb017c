package ports

import (
	"context"

	"github.com/khook-dev/khook/domain/hook"
)

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
}

// AuditRecorder keeps the audit trail, e.g. as Kubernetes Events on the Hook.
type AuditRecorder interface {
	Record(ctx context.Context, ref hook.Ref, rec AuditRecord)
}
