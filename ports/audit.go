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
