package kubernetes_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

// registry remembers the last version of each Hook the reconciler loaded.
type registry struct {
	mu    sync.Mutex
	hooks map[hook.Ref]hook.Hook
}

func (r *registry) UpsertHook(_ context.Context, h hook.Hook) ports.Condition {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks[h.Ref] = h
	return ports.Condition{Type: "Accepted", Status: true, Reason: "Accepted"}
}
func (r *registry) RestoreHook(hook.Hook, []ports.ActiveEvent, []ports.Investigation) bool {
	return false
}
func (r *registry) RemoveHook(ref hook.Ref) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hooks, ref)
}

func (r *registry) get(ref hook.Ref) (hook.Hook, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hooks[ref]
	return h, ok
}

func TestTheReconcilerLoadsAHookWithItsNamespacesAgentAllowListAndAgainWhenItChanges(t *testing.T) {
	ns := newNamespace(t)
	reg := &registry{hooks: map[hook.Ref]hook.Hook{}}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &kubernetes.HookReconciler{Client: mgr.GetClient(), Hooks: reg, Status: &portstest.StatusWriter{}, Investigations: &portstest.Investigations{}}
	if err := r.SetupWithManager(mgr, "agentpolicy"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	setAnnotation := func(value *string) {
		t.Helper()
		var n corev1.Namespace
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
			t.Fatal(err)
		}
		if value == nil {
			delete(n.Annotations, kubernetes.AllowedAgentNamespacesAnnotation)
		} else {
			if n.Annotations == nil {
				n.Annotations = map[string]string{}
			}
			n.Annotations[kubernetes.AllowedAgentNamespacesAnnotation] = *value
		}
		if err := k8s.Update(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
	}
	ref := hook.Ref{Namespace: ns, Name: "h"}
	loadedWith := func(want []string) func() error {
		return func() error {
			h, ok := reg.get(ref)
			switch {
			case !ok:
				return fmt.Errorf("hook %s not loaded", ref)
			case want == nil && h.AllowedAgentNamespaces != nil:
				return fmt.Errorf("loaded with list %+v, want none", *h.AllowedAgentNamespaces)
			case want != nil && h.AllowedAgentNamespaces == nil:
				return fmt.Errorf("loaded without a list, want %q", want)
			case want != nil && !slices.Equal(h.AllowedAgentNamespaces.Entries, want):
				return fmt.Errorf("loaded with %q, want %q", h.AllowedAgentNamespaces.Entries, want)
			case want != nil && h.AllowedAgentNamespaces.Rule != "namespace "+ns+"'s annotation kagent.dev/allowed-agent-namespaces":
				return fmt.Errorf("the list's rule is %q", h.AllowedAgentNamespaces.Rule)
			}
			return nil
		}
	}

	setAnnotation(ptr.To("kagent, team-a-agents"))
	create(t, &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "h"}, Spec: v1alpha2.HookSpec{
		EventConfigurations: []v1alpha2.EventConfiguration{{EventType: "pod-restart", AgentRef: &v1alpha2.AgentReference{Namespace: "kagent", Name: "a"}, Prompt: "x"}},
	}})
	eventually(t, "the Hook is loaded with its namespace's list", loadedWith([]string{"kagent", "team-a-agents"}))
	setAnnotation(ptr.To("@self"))
	eventually(t, "the Hook is loaded again when the list changes", loadedWith([]string{"@self"}))
	setAnnotation(ptr.To(""))
	eventually(t, "an empty annotation is an empty list (it allows nothing)", loadedWith([]string{}))
	setAnnotation(nil)
	eventually(t, "the Hook is loaded again without a list when the annotation goes", loadedWith(nil))
}

func TestTheNamespaceWatchPassesOnlyChangesOfTheAllowList(t *testing.T) {
	ns := func(annotations map[string]string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Annotations: annotations}}
	}
	const key = kubernetes.AllowedAgentNamespacesAnnotation
	tests := []struct {
		name     string
		old, new *metav1.PartialObjectMetadata
		want     bool
	}{
		{"the annotation added", ns(nil), ns(map[string]string{key: "kagent"}), true},
		{"the annotation changed", ns(map[string]string{key: "kagent"}), ns(map[string]string{key: "@self"}), true},
		{"the annotation emptied", ns(map[string]string{key: "kagent"}), ns(map[string]string{key: ""}), true},
		{"the annotation removed", ns(map[string]string{key: ""}), ns(nil), true},
		{"another annotation changed", ns(map[string]string{key: "kagent", "x": "1"}), ns(map[string]string{key: "kagent", "x": "2"}), false},
		{"nothing of it changed", ns(nil), ns(map[string]string{"x": "1"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kubernetes.AllowListChanged.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
				t.Fatalf("Update passes = %v, want %v", got, tt.want)
			}
		})
	}
	if kubernetes.AllowListChanged.Create(event.CreateEvent{Object: ns(map[string]string{key: "x"})}) {
		t.Error("a new Namespace has no Hooks yet; its creation needs no reload")
	}
}
