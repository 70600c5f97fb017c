package kubernetes

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// StatusWriter writes Hook status through the status subresource.
type StatusWriter struct {
	Client client.Client
	Clock  clock.PassiveClock
}

var _ ports.HookStatusWriter = (*StatusWriter)(nil)

// WriteActiveEvents replaces status.activeEvents, unless they are unchanged.
func (w *StatusWriter) WriteActiveEvents(ctx context.Context, ref hook.Ref, events []ports.ActiveEvent) error {
	firing := int32(0)
	for _, e := range events {
		if e.Status == string(v1alpha2.EventFiring) {
			firing++
		}
	}
	return w.update(ctx, ref, func(h *v1alpha2.Hook) bool {
		if status.EqualActiveEvents(ActiveEventsOf(h.Status), events) && h.Status.FiringEvents == firing {
			return false
		}
		h.Status.ActiveEvents = toAPIActiveEvents(events)
		h.Status.FiringEvents = firing
		return true
	})
}

// WriteConditions sets the given conditions and observedGeneration, unless they are unchanged.
func (w *StatusWriter) WriteConditions(ctx context.Context, ref hook.Ref, observedGeneration int64, conditions []ports.Condition) error {
	return w.update(ctx, ref, func(h *v1alpha2.Hook) bool {
		changed := h.Status.ObservedGeneration != observedGeneration
		h.Status.ObservedGeneration = observedGeneration
		for _, c := range conditions {
			st := metav1.ConditionFalse
			if c.Status {
				st = metav1.ConditionTrue
			}
			if meta.SetStatusCondition(&h.Status.Conditions, metav1.Condition{
				Type: c.Type, Status: st, Reason: c.Reason, Message: c.Message, ObservedGeneration: observedGeneration,
			}) {
				changed = true
			}
		}
		return changed
	})
}

// update reads the Hook, lets change modify it, and writes the status if change says so,
// retrying on conflicts. A Hook that no longer exists is not an error.
func (w *StatusWriter) update(ctx context.Context, ref hook.Ref, change func(*v1alpha2.Hook) bool) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var h v1alpha2.Hook
		if err := w.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &h); err != nil {
			return err
		}
		if !change(&h) {
			return nil
		}
		now := metav1.NewTime(w.Clock.Now())
		h.Status.LastUpdated = &now
		return w.Client.Status().Update(ctx, &h)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("updating status of hook %s: %w", ref, err)
	}
	return nil
}
