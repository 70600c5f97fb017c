package kubernetes

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/investigation"
	"github.com/khook-dev/khook/ports"
)

// Labels every Investigation carries: its Hook's name (cut to a label value) and UID, so that a
// Hook's investigations are listed by label.
const (
	LabelHook    = "kagent.dev/hook"
	LabelHookUID = "kagent.dev/hook-uid"
)

// InvestigationStore keeps investigations as Investigation resources in their Hook's namespace,
// owned by the Hook (deleting the Hook deletes them). Writes go to the API server with the
// version they were read as: a conflict is ports.ErrConflict. Reads go to the API server itself,
// not to a cache that may not hold the last leader's writes yet.
type InvestigationStore struct {
	// Client writes through the API server and reads Hooks from the manager's cache.
	Client client.Client
	// Reader reads from the API server itself.
	Reader client.Reader
	// Metrics is optional.
	Metrics StatusMetrics
}

var _ ports.InvestigationStore = (*InvestigationStore)(nil)

// Save implements ports.InvestigationStore: it creates the Investigation (its spec, then its
// status: the API server drops a status given on create) when inv.Version is empty, or writes
// its status over inv.Version. An Investigation deleted meanwhile is created again; one that
// exists where it was to be created, or changed since inv.Version, is ports.ErrConflict.
func (s *InvestigationStore) Save(ctx context.Context, inv ports.Investigation) (string, error) {
	obj := toInvestigation(inv)
	if inv.Version != "" {
		obj.ResourceVersion = inv.Version
		err := s.Client.Status().Update(ctx, obj)
		switch {
		case err == nil:
			s.count("written")
			return obj.ResourceVersion, nil
		case apierrors.IsConflict(err):
			s.count("conflict")
			return "", fmt.Errorf("writing investigation %s/%s: %w: %w", inv.Hook.Namespace, inv.Name, ports.ErrConflict, err)
		case !apierrors.IsNotFound(err):
			s.count("error")
			return "", fmt.Errorf("writing investigation %s/%s: %w", inv.Hook.Namespace, inv.Name, err)
		}
		obj = toInvestigation(inv) // deleted meanwhile (by hand): create it again
	}
	var h v1alpha2.Hook
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: inv.Hook.Namespace, Name: inv.Hook.Name}, &h); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("creating investigation %s/%s: %w", inv.Hook.Namespace, inv.Name, ports.ErrHookGone)
		}
		return "", fmt.Errorf("reading hook %s for investigation %s: %w", inv.Hook, inv.Name, err)
	}
	if inv.HookUID != "" && string(h.UID) != inv.HookUID {
		return "", fmt.Errorf("creating investigation %s/%s: %w (another Hook of the same name)", inv.Hook.Namespace, inv.Name, ports.ErrHookGone)
	}
	obj.OwnerReferences = []metav1.OwnerReference{{APIVersion: v1alpha2.GroupVersion.String(), Kind: "Hook", Name: h.Name, UID: h.UID,
		BlockOwnerDeletion: ptr.To(false)}}
	status := obj.Status
	if err := s.Client.Create(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			s.count("conflict")
			return "", fmt.Errorf("creating investigation %s/%s: %w: %w", inv.Hook.Namespace, inv.Name, ports.ErrConflict, err)
		}
		s.count("error")
		return "", fmt.Errorf("creating investigation %s/%s: %w", inv.Hook.Namespace, inv.Name, err)
	}
	obj.Status = status
	if err := s.Client.Status().Update(ctx, obj); err != nil {
		if apierrors.IsConflict(err) {
			s.count("conflict")
			return "", fmt.Errorf("writing investigation %s/%s: %w: %w", inv.Hook.Namespace, inv.Name, ports.ErrConflict, err)
		}
		s.count("error")
		return "", fmt.Errorf("writing the status of new investigation %s/%s: %w", inv.Hook.Namespace, inv.Name, err)
	}
	s.count("written")
	return obj.ResourceVersion, nil
}

// Get implements ports.InvestigationStore.
func (s *InvestigationStore) Get(ctx context.Context, ref hook.Ref, name string) (ports.Investigation, bool, error) {
	var obj v1alpha2.Investigation
	if err := s.Reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: name}, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			return ports.Investigation{}, false, nil
		}
		return ports.Investigation{}, false, fmt.Errorf("reading investigation %s/%s: %w", ref.Namespace, name, err)
	}
	return fromInvestigation(&obj), true, nil
}

// List implements ports.InvestigationStore: the Investigations labelled with the Hook's UID (or,
// without one, its name), from the API server.
func (s *InvestigationStore) List(ctx context.Context, ref hook.Ref, hookUID string) ([]ports.Investigation, error) {
	selector := client.MatchingLabels{LabelHook: labelValue(ref.Name)}
	if hookUID != "" {
		selector = client.MatchingLabels{LabelHookUID: hookUID}
	}
	var list v1alpha2.InvestigationList
	if err := s.Reader.List(ctx, &list, client.InNamespace(ref.Namespace), selector); err != nil {
		return nil, fmt.Errorf("listing the investigations of hook %s: %w", ref, err)
	}
	out := make([]ports.Investigation, 0, len(list.Items))
	for i := range list.Items {
		if obj := &list.Items[i]; obj.Spec.Hook.Name == ref.Name {
			out = append(out, fromInvestigation(obj))
		}
	}
	return out, nil
}

// Delete implements ports.InvestigationStore.
func (s *InvestigationStore) Delete(ctx context.Context, ref hook.Ref, name string) error {
	obj := &v1alpha2.Investigation{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: name}}
	if err := s.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting investigation %s/%s: %w", ref.Namespace, name, err)
	}
	return nil
}

func (s *InvestigationStore) count(result string) {
	if s.Metrics != nil {
		s.Metrics.StatusWrite(result)
	}
}

// labelValue fits a Hook's name into a label value (63 characters): a longer name is cut; the
// UID label tells such Hooks apart.
func labelValue(name string) string {
	if len(name) <= 63 {
		return name
	}
	v := name[:63]
	for len(v) > 0 && (v[len(v)-1] == '-' || v[len(v)-1] == '.') {
		v = v[:len(v)-1]
	}
	return v
}

func toInvestigation(inv ports.Investigation) *v1alpha2.Investigation {
	obj := &v1alpha2.Investigation{
		ObjectMeta: metav1.ObjectMeta{Namespace: inv.Hook.Namespace, Name: inv.Name,
			Labels: map[string]string{LabelHook: labelValue(inv.Hook.Name)}},
		Spec: v1alpha2.InvestigationSpec{
			Hook: v1alpha2.HookReference{Name: inv.Hook.Name, UID: inv.HookUID}, EventType: inv.EventType,
			Subject: v1alpha2.Subject{Kind: inv.Subject.Kind, Namespace: inv.Subject.Namespace, Name: inv.Subject.Name, Fingerprint: inv.Subject.Fingerprint},
			GroupBy: inv.GroupBy, StartedAt: metav1.NewTime(inv.StartedAt), Event: toAPISnapshot(inv.Event),
		},
		Status: v1alpha2.InvestigationStatus{
			Phase: v1alpha2.InvestigationPhase(inv.Phase), Reason: inv.Reason, Message: inv.Message, Members: inv.Members,
			MemberCount: int32(inv.MemberCount), Agents: investigation.Agents(inv), Summary: investigation.Summary(inv),
			LastSeen: metaTimeOf(inv.LastSeen), ResolvedAt: metaTimeOf(inv.ResolvedAt), ResolvedReason: v1alpha2.ResolvedReason(inv.ResolvedReason),
		},
	}
	if inv.HookUID != "" {
		obj.Labels[LabelHookUID] = inv.HookUID
	}
	for _, d := range inv.Deliveries {
		obj.Status.Deliveries = append(obj.Status.Deliveries, v1alpha2.InvestigationDelivery{Delivery: toAPIDelivery(d.Delivery),
			Prompt: d.Prompt, PromptSHA256: d.PromptSHA256})
	}
	return obj
}

func fromInvestigation(obj *v1alpha2.Investigation) ports.Investigation {
	inv := ports.Investigation{
		Name: obj.Name, Hook: hook.Ref{Namespace: obj.Namespace, Name: obj.Spec.Hook.Name}, HookUID: obj.Spec.Hook.UID,
		EventType: obj.Spec.EventType, GroupBy: obj.Spec.GroupBy, StartedAt: obj.Spec.StartedAt.UTC(), Event: fromAPISnapshot(obj.Spec.Event),
		Subject: ports.Subject{Kind: obj.Spec.Subject.Kind, Namespace: obj.Spec.Subject.Namespace, Name: obj.Spec.Subject.Name, Fingerprint: obj.Spec.Subject.Fingerprint},
		Phase:   string(obj.Status.Phase), Reason: obj.Status.Reason, Message: obj.Status.Message, Members: obj.Status.Members,
		MemberCount: int(obj.Status.MemberCount), LastSeen: timeOf(obj.Status.LastSeen), ResolvedAt: timeOf(obj.Status.ResolvedAt),
		ResolvedReason: string(obj.Status.ResolvedReason), Version: obj.ResourceVersion,
	}
	for _, d := range obj.Status.Deliveries {
		inv.Deliveries = append(inv.Deliveries, ports.InvestigationDelivery{Delivery: fromAPIDelivery(d.Delivery), Prompt: d.Prompt, PromptSHA256: d.PromptSHA256})
	}
	return inv
}
