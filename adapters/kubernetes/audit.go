package kubernetes

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// AuditRecorder records the audit trail as events.k8s.io Events regarding the Hook. The Event's
// reason is the audit kind (EventFiring, AgentCallSucceeded, AgentCallFailed,
// DuplicateEventIgnored, EventResolved, PromptRenderFailed, HookNotAccepted).
type AuditRecorder struct {
	Recorder events.EventRecorder
	// Reader finds the Hook so the Event points at its UID; the manager's cached client is right.
	Reader client.Reader
}

var _ ports.AuditRecorder = (*AuditRecorder)(nil)

// Record emits one Event on the Hook ref.
func (a *AuditRecorder) Record(ctx context.Context, ref hook.Ref, rec ports.AuditRecord) {
	h := &v1alpha2.Hook{}
	if err := a.Reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, h); err != nil {
		h = &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name}}
	}
	h.SetGroupVersionKind(v1alpha2.GroupVersion.WithKind("Hook"))
	kind := corev1.EventTypeNormal
	if rec.Warning {
		kind = corev1.EventTypeWarning
	}
	a.Recorder.Eventf(h, nil, kind, string(rec.Kind), actionOf(rec.Kind), "%s", rec.Message)
}

func actionOf(k ports.AuditKind) string {
	switch k {
	case ports.AuditAgentCalled, ports.AuditAgentFailed, ports.AuditTemplateFailed:
		return "CallAgent"
	case ports.AuditHookNotAccepted:
		return "Validate"
	default:
		return "Deduplicate"
	}
}
