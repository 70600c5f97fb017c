package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// StatusMetrics counts status writes by result: written, unchanged, conflict, too-large, error.
type StatusMetrics interface {
	StatusWrite(result string)
}

// StatusWriter writes Hook status through the status subresource.
type StatusWriter struct {
	// Client reads Hooks from the manager's cache and writes through the API server.
	Client client.Client
	// Reader reads from the API server itself, for a retry after a conflict (the cache may lag).
	Reader client.Reader
	Clock  clock.PassiveClock
	// Metrics is optional.
	Metrics StatusMetrics
}

var _ ports.HookStatusWriter = (*StatusWriter)(nil)

// WriteActivity replaces status.activeEvents, omittedEvents, firingEvents and investigations,
// unless they are unchanged (a status the previous release wrote, with its ledger, is replaced
// by the summary once RestoreHook has moved the ledger to investigations). khook owns these
// fields, so it merge-patches them without a resource version: no conflict with whoever writes
// the rest of the status (or the spec), no read-modify-write loop.
func (w *StatusWriter) WriteActivity(ctx context.Context, ref hook.Ref, activity ports.HookActivity) error {
	var h v1alpha2.Hook
	if err := w.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &h); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		w.count("error")
		return fmt.Errorf("reading hook %s: %w", ref, err)
	}
	if activity.HookUID != "" && string(h.UID) != activity.HookUID {
		w.count("unchanged")
		return nil // the Hook was deleted and created again: this activity is the old one's
	}
	events := toAPIActiveEvents(activity.Events)
	firing := int32(activity.Firing)
	counts := toAPICounts(activity.Investigations)
	if equality.Semantic.DeepEqual(h.Status.ActiveEvents, events) && h.Status.FiringEvents == firing && h.Status.OmittedEvents == int32(activity.Omitted) &&
		equality.Semantic.DeepEqual(h.Status.Investigations, counts) {
		w.count("unchanged")
		return nil
	}
	original := h.DeepCopy()
	h.Status.ActiveEvents, h.Status.FiringEvents, h.Status.OmittedEvents, h.Status.Investigations = events, firing, int32(activity.Omitted), counts
	now := metav1.NewTime(w.Clock.Now())
	h.Status.LastUpdated = &now
	err := w.Client.Status().Patch(ctx, &h, client.MergeFrom(original))
	switch {
	case err == nil:
		w.count("written")
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case tooLarge(err):
		w.count("too-large")
		return fmt.Errorf("writing the status of hook %s (%d events): %w: %w", ref, len(events), ports.ErrStatusTooLarge, err)
	default:
		w.count("error")
		return fmt.Errorf("writing the status of hook %s: %w", ref, err)
	}
}

// tooLarge recognises the API server's and etcd's refusals of an object that is too large.
func tooLarge(err error) bool {
	if apierrors.IsRequestEntityTooLargeError(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "request is too large") || strings.Contains(msg, "Request entity too large") ||
		(apierrors.IsInvalid(err) && strings.Contains(msg, "Too many"))
}

// WriteConditions sets the given conditions and observedGeneration, unless they are unchanged.
// Conditions are a list other writers may share, so it reads, changes and updates, retrying
// conflicts with a fresh read.
func (w *StatusWriter) WriteConditions(ctx context.Context, ref hook.Ref, observedGeneration int64, conditions []ports.Condition) error {
	reader := client.Reader(w.Client)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var h v1alpha2.Hook
		if err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &h); err != nil {
			return err
		}
		changed := h.Status.ObservedGeneration < observedGeneration
		if changed {
			h.Status.ObservedGeneration = observedGeneration
		}
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
		if !changed {
			w.count("unchanged")
			return nil
		}
		now := metav1.NewTime(w.Clock.Now())
		h.Status.LastUpdated = &now
		err := w.Client.Status().Update(ctx, &h)
		if err == nil {
			w.count("written")
		}
		if apierrors.IsConflict(err) {
			w.count("conflict")
			if w.Reader != nil {
				reader = w.Reader
			}
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case errors.Is(err, context.Canceled):
		return err
	default:
		w.count("error")
		return fmt.Errorf("updating the conditions of hook %s: %w", ref, err)
	}
}

func (w *StatusWriter) count(result string) {
	if w.Metrics != nil {
		w.Metrics.StatusWrite(result)
	}
}
