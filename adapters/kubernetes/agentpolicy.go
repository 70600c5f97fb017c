package kubernetes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
)

// AllowedAgentNamespacesAnnotation, on a Namespace, lists the namespaces whose agents the Hooks
// of that namespace may call: comma-separated namespace names, "@self" (the Hook's own
// namespace) and "*" (any). A platform admin sets it; tenants, who may create Hooks but not edit
// Namespaces, cannot. It narrows what --allowed-agent-namespaces allows, never widens it; an
// empty value allows no agent. See hook.AgentPolicy.
const AllowedAgentNamespacesAnnotation = "kagent.dev/allowed-agent-namespaces"

// AllowedAgentNamespacesOf reads the annotation of namespace ns: nil when it is absent. An entry
// that is no namespace name is kept (it allows nothing) and named in the error, which is only
// worth a log line: the list is still the namespace's rule.
func AllowedAgentNamespacesOf(ns string, annotations map[string]string) (*hook.AllowList, error) {
	value, ok := annotations[AllowedAgentNamespacesAnnotation]
	if !ok {
		return nil, nil
	}
	l, err := hook.ParseAllowList(fmt.Sprintf("namespace %s's annotation %s", ns, AllowedAgentNamespacesAnnotation), value)
	return &l, err
}

// namespaceMeta is an empty metadata-only Namespace, as khook caches Namespaces: their labels
// and annotations, no spec or status.
func namespaceMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

// allowedAgentNamespaces reads the list namespace ns sets for its Hooks, from the cache.
// A namespace the cache does not know yet is an error (retried): its Hooks are not loaded
// without the rule it may set.
func (r *HookReconciler) allowedAgentNamespaces(ctx context.Context, ns string) (*hook.AllowList, error) {
	m := namespaceMeta()
	if err := r.Client.Get(ctx, client.ObjectKey{Name: ns}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %s is not known yet: %w", ns, err)
		}
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	l, err := AllowedAgentNamespacesOf(ns, m.GetAnnotations())
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("an entry of the namespace's agent allow-list can allow nothing", "namespace", ns, "problem", err.Error())
	}
	return l, nil
}

// hooksOfNamespace maps a Namespace to reconcile requests for each of its Hooks.
func (r *HookReconciler) hooksOfNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	var list v1alpha2.HookList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns.GetName())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the Hooks of a namespace whose agent allow-list changed; they keep the old rule until they change", "namespace", ns.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, h := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&h)})
	}
	return out
}

// allowListChanged passes a Namespace update that adds, changes or removes the annotation.
// Creations need nothing (a namespace has no Hooks before it exists; a Hook loaded before the
// cache saw its namespace is retried) and deletions neither (its Hooks go with it).
var allowListChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		if e.ObjectOld == nil || e.ObjectNew == nil {
			return false
		}
		old, hadOld := e.ObjectOld.GetAnnotations()[AllowedAgentNamespacesAnnotation]
		now, hasNew := e.ObjectNew.GetAnnotations()[AllowedAgentNamespacesAnnotation]
		return hadOld != hasNew || old != now
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
