package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/volume"
)

// SilenceRegistry is what the SilenceReconciler keeps current; *volume.Silences is one.
type SilenceRegistry interface {
	// UpsertSilence adds or replaces a silence; it refuses one it cannot hold, saying why (an
	// error that is volume.ErrInvalidSilence or volume.ErrTooManySilences).
	UpsertSilence(volume.Silence) error
	RemoveSilence(namespace, name string)
}

var _ SilenceRegistry = (*volume.Silences)(nil)

// The Silence's condition, and its reasons.
const (
	SilenceActive = "Active"

	// SilenceReasonActive: it holds the incidents it matches, until endsAt.
	SilenceReasonActive = "Active"
	// SilenceReasonPending: it has not started yet.
	SilenceReasonPending = "Pending"
	// SilenceReasonExpired: it has ended; it holds nothing any more.
	SilenceReasonExpired = "Expired"
	// SilenceReasonInvalid: khook cannot apply its spec (the message names the field).
	SilenceReasonInvalid = "Invalid"
	// SilenceReasonTooManySilences: its namespace has volume.MaxSilencesPerNamespace Silences
	// that have not ended; it is tried again every RefusedRetry.
	SilenceReasonTooManySilences = "TooManySilences"
)

// DefaultRefusedRetry is how often a Silence refused for want of room is tried again: a
// Silence of its namespace may have ended or been deleted since.
const DefaultRefusedRetry = time.Minute

// SilenceReconciler keeps the registry in step with the Silences in the cluster, and says on
// each Silence's Active condition whether it holds incidents now, and if not why not. A Silence
// that has ended is removed from the registry (it would hold nothing), so that the namespace's
// bound counts only Silences that can still hold something.
type SilenceReconciler struct {
	// Client reads Silences from the manager's cache and writes their status.
	Client   client.Client
	Silences SilenceRegistry
	Clock    clock.PassiveClock
	// Reader, optional, reads from the API server itself after a conflict (the cache may lag).
	Reader client.Reader
	// RefusedRetry, optional, is how often a Silence refused for want of room is tried again;
	// 0 means DefaultRefusedRetry.
	RefusedRetry time.Duration
}

// SetupWithManager registers the reconciler; it rejects missing dependencies. Like every
// controller of the manager it runs on the leader only.
func (r *SilenceReconciler) SetupWithManager(mgr ctrl.Manager, name string) error {
	if r.Client == nil || r.Silences == nil || r.Clock == nil {
		return errors.New("silence reconciler: Client, Silences and Clock are required")
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes (ours, and heldIncidents) change no generation and need no reconcile;
		// a Silence's start and end come back as requeues.
		For(&v1alpha2.Silence{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named(name).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}

// Reconcile loads one Silence into the registry, or removes it when it is gone or has ended, and
// writes its Active condition. It asks to be called again when the Silence starts or ends.
func (r *SilenceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s v1alpha2.Silence
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.Silences.RemoveSilence(req.Namespace, req.Name)
			ctrl.LoggerFrom(ctx).Info("silence deleted; it holds nothing any more")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading silence %s: %w", req.NamespacedName, err)
	}
	if !s.DeletionTimestamp.IsZero() {
		r.Silences.RemoveSilence(s.Namespace, s.Name)
		return ctrl.Result{}, nil
	}
	return r.load(ctx, &s)
}

// LoadAll loads every Silence, so that the pipeline holds what they hold from its first event
// on (the caller runs it before the event sources start, as HookReconciler.LoadAll). It fails
// only if the Silences cannot be listed; a condition it could not write is logged and left to
// the reconciler.
func (r *SilenceReconciler) LoadAll(ctx context.Context) error {
	var list v1alpha2.SilenceList
	if err := r.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing silences: %w", err)
	}
	for i := range list.Items {
		s := &list.Items[i]
		if !s.DeletionTimestamp.IsZero() {
			continue
		}
		if _, err := r.load(ctx, s); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "loading silence; the reconciler will try again", "silence", client.ObjectKeyFromObject(s).String())
		}
	}
	return nil
}

func (r *SilenceReconciler) load(ctx context.Context, s *v1alpha2.Silence) (ctrl.Result, error) {
	now := r.Clock.Now()
	sil := SilenceToDomain(s)
	var (
		cond   metav1.Condition
		result ctrl.Result
	)
	switch {
	case !now.Before(sil.EndsAt):
		r.Silences.RemoveSilence(s.Namespace, s.Name)
		cond = metav1.Condition{Status: metav1.ConditionFalse, Reason: SilenceReasonExpired,
			Message: "ended at " + sil.EndsAt.UTC().Format(time.RFC3339) + "; it holds nothing any more"}
	default:
		err := r.Silences.UpsertSilence(sil)
		var invalid *volume.InvalidSilenceError
		switch {
		case errors.As(err, &invalid):
			r.Silences.RemoveSilence(s.Namespace, s.Name)
			cond = metav1.Condition{Status: metav1.ConditionFalse, Reason: SilenceReasonInvalid, Message: "spec." + invalid.Error()}
		case errors.Is(err, volume.ErrTooManySilences):
			r.Silences.RemoveSilence(s.Namespace, s.Name)
			cond = metav1.Condition{Status: metav1.ConditionFalse, Reason: SilenceReasonTooManySilences,
				Message: fmt.Sprintf("namespace %s has %d Silences that have not ended, the most khook applies; delete one, or wait for one to end", s.Namespace, volume.MaxSilencesPerNamespace)}
			result.RequeueAfter = cmp.Or(r.RefusedRetry, DefaultRefusedRetry)
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("loading silence %s/%s: %w", s.Namespace, s.Name, err)
		case now.Before(sil.StartsAt):
			cond = metav1.Condition{Status: metav1.ConditionFalse, Reason: SilenceReasonPending,
				Message: "starts at " + sil.StartsAt.UTC().Format(time.RFC3339)}
			result.RequeueAfter = sil.StartsAt.Sub(now)
		default:
			cond = metav1.Condition{Status: metav1.ConditionTrue, Reason: SilenceReasonActive,
				Message: "holds the incidents it matches until " + sil.EndsAt.UTC().Format(time.RFC3339)}
			result.RequeueAfter = sil.EndsAt.Sub(now)
		}
	}
	if cond.Reason != SilenceReasonActive && cond.Reason != SilenceReasonPending {
		ctrl.LoggerFrom(ctx).Info("silence not applied", "silence", sil.String(), "reason", cond.Reason, "message", cond.Message)
	}
	cond.Type, cond.ObservedGeneration = SilenceActive, s.Generation
	if err := r.writeCondition(ctx, client.ObjectKeyFromObject(s), s.UID, cond); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// writeCondition sets cond and observedGeneration on the Silence, unless they are unchanged,
// retrying conflicts with a fresh read.
func (r *SilenceReconciler) writeCondition(ctx context.Context, key types.NamespacedName, uid types.UID, cond metav1.Condition) error {
	reader := client.Reader(r.Client)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var s v1alpha2.Silence
		if err := reader.Get(ctx, key, &s); err != nil {
			return err
		}
		if s.UID != uid {
			return nil // deleted and created again: the new one has its own reconcile
		}
		changed := meta.SetStatusCondition(&s.Status.Conditions, cond)
		if s.Status.ObservedGeneration != cond.ObservedGeneration {
			s.Status.ObservedGeneration, changed = cond.ObservedGeneration, true
		}
		if !changed {
			return nil
		}
		err := r.Client.Status().Update(ctx, &s)
		if apierrors.IsConflict(err) && r.Reader != nil {
			reader = r.Reader
		}
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing the Active condition of silence %s: %w", key, err)
	}
	return nil
}

// SilenceToDomain converts a Silence resource. A selector that does not convert is left for
// volume.Silence.Validate (and so the registry) to refuse, naming its field.
func SilenceToDomain(s *v1alpha2.Silence) volume.Silence {
	selector, _ := SelectorToDomain(s.Spec.Matchers.Selector)
	m := s.Spec.Matchers
	return volume.Silence{
		Namespace: s.Namespace, Name: s.Name, UID: string(s.UID),
		Matchers: volume.Matchers{EventType: m.EventType, Hook: m.Hook, SubjectKind: m.SubjectKind, SubjectName: m.SubjectName, Selector: selector},
		StartsAt: s.Spec.StartsAt.UTC(), EndsAt: s.Spec.EndsAt.UTC(), Comment: s.Spec.Comment,
	}
}

// counterBackoff spaces the retries of a count that conflicted with another writer's: the
// jitter keeps writers that conflicted once from conflicting again.
var counterBackoff = wait.Backoff{Steps: 8, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 1}

// SilenceStatusWriter counts, on status.heldIncidents, the incidents each Silence held.
type SilenceStatusWriter struct {
	// Client reads Silences from the manager's cache and writes through the API server.
	Client client.Client
	// Reader, optional, reads from the API server itself after a conflict (the cache may lag).
	Reader client.Reader
}

// AddHeldIncidents adds held to the count of incidents the Silence namespace/name held. uid,
// when given, is the Silence's the incidents were held by: a Silence deleted and created again
// under the same name does not inherit them. The count is read, increased and written with the
// resource version read (a conflict is retried with a fresh read), so that writers never lose
// each other's counts and a new leader goes on from the old one's. A Silence that is gone is
// not an error.
func (w *SilenceStatusWriter) AddHeldIncidents(ctx context.Context, namespace, name, uid string, held int64) error {
	if held == 0 {
		return nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	reader := client.Reader(w.Client)
	err := retry.RetryOnConflict(counterBackoff, func() error {
		var s v1alpha2.Silence
		if err := reader.Get(ctx, key, &s); err != nil {
			return err
		}
		if uid != "" && string(s.UID) != uid {
			return nil
		}
		original := s.DeepCopy()
		s.Status.HeldIncidents = max(s.Status.HeldIncidents+held, 0)
		err := w.Client.Status().Patch(ctx, &s, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) && w.Reader != nil {
			reader = w.Reader
		}
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("counting the incidents silence %s held: %w", key, err)
	}
	return nil
}
