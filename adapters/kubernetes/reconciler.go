package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// HookRegistry is what the reconciler keeps current; *pipeline.Pipeline is one.
type HookRegistry interface {
	UpsertHook(ctx context.Context, h hook.Hook) ports.Condition
	RestoreHook(h hook.Hook, active []ports.ActiveEvent, investigations []ports.Investigation) bool
	RemoveHook(ref hook.Ref)
}

// HookReconciler keeps the registry in step with the Hooks in the cluster.
type HookReconciler struct {
	Client client.Client
	Hooks  HookRegistry
	Status ports.HookStatusWriter
	// Investigations gives back a Hook's investigations when it is loaded, from the API server.
	Investigations ports.InvestigationStore
}

// uidChanged passes an update whose object has another UID than before.
var uidChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld != nil && e.ObjectNew != nil && e.ObjectOld.GetUID() != e.ObjectNew.GetUID()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// SetupWithManager registers the reconciler; it rejects missing dependencies.
func (r *HookReconciler) SetupWithManager(mgr ctrl.Manager, name string) error {
	if r.Client == nil || r.Hooks == nil || r.Status == nil || r.Investigations == nil {
		return errors.New("hook reconciler: Client, Hooks, Status and Investigations are required")
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Status writes (ours) change no generation and need no reconcile. A new UID under the
		// same name is a Hook deleted and created again while its deletion went unseen (a
		// relist merged the two): it needs one, although its generation may be the same.
		For(&v1alpha2.Hook{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, uidChanged))).
		// A Namespace's agent allow-list (an annotation) applies to its Hooks: when it changes,
		// they are loaded again. Namespaces are cached as metadata only.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.hooksOfNamespace),
			builder.OnlyMetadata, builder.WithPredicates(allowListChanged)).
		Named(name).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}

// Reconcile loads one Hook into the registry, with the agent allow-list its namespace sets, or
// removes it when it is gone.
func (r *HookReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ref := hook.Ref{Namespace: req.Namespace, Name: req.Name}
	var h v1alpha2.Hook
	if err := r.Client.Get(ctx, req.NamespacedName, &h); err != nil {
		if apierrors.IsNotFound(err) {
			r.Hooks.RemoveHook(ref)
			ctrl.LoggerFrom(ctx).Info("hook deleted; its state is dropped")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading hook %s: %w", ref, err)
	}
	if !h.DeletionTimestamp.IsZero() {
		r.Hooks.RemoveHook(ref)
		return ctrl.Result{}, nil
	}
	if err := r.load(ctx, &h); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// LoadAll loads every Hook; the event sources start only after it, so that no event is matched
// against an incomplete set of hooks or without the state restored from status. It fails only if
// the Hooks cannot be listed; a condition it could not write is logged and left to the
// reconciler, which writes it again. Up to loadParallelism Hooks load at once: each writes its
// Accepted condition, a round trip to the API server (1,000 Hooks took 4.5 s one by one).
func (r *HookReconciler) LoadAll(ctx context.Context) error {
	var list v1alpha2.HookList
	if err := r.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing hooks: %w", err)
	}
	slots := make(chan struct{}, loadParallelism)
	var wg sync.WaitGroup
	for i := range list.Items {
		h := &list.Items[i]
		if !h.DeletionTimestamp.IsZero() {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := r.load(ctx, h); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "loading hook; the reconciler will try again")
			}
		}()
	}
	wg.Wait()
	return nil
}

// loadParallelism is how many Hooks LoadAll loads at once.
const loadParallelism = 8

func (r *HookReconciler) load(ctx context.Context, h *v1alpha2.Hook) error {
	ref, domain := RefOf(h), ToDomain(h)
	allowed, err := r.allowedAgentNamespaces(ctx, h.Namespace)
	if err != nil {
		return fmt.Errorf("loading hook %s: %w", ref, err)
	}
	domain.AllowedAgentNamespaces = allowed
	investigations, err := r.Investigations.List(ctx, ref, string(h.UID))
	if err != nil {
		return fmt.Errorf("loading hook %s: %w", ref, err)
	}
	if r.Hooks.RestoreHook(domain, ActiveEventsOf(h.Status), investigations) {
		ctrl.LoggerFrom(ctx).Info("restored the hook's state from its investigations and status", "hook", ref.String(),
			"investigations", len(investigations), "activeEvents", len(h.Status.ActiveEvents))
	}
	cond := r.Hooks.UpsertHook(ctx, domain)
	if err := r.Status.WriteConditions(ctx, ref, h.Generation, []ports.Condition{cond}); err != nil {
		return fmt.Errorf("writing conditions of hook %s: %w", ref, err)
	}
	return nil
}
