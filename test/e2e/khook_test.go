package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/controlplane"
	"github.com/khook-dev/khook/test/echoagent"
)

// khookOptions are the controller's options for a test: quick loops, the Kubernetes source with
// settings, Hooks of clusterNS receiving cluster-wide trouble (a Node's).
func khookOptions(agentURL, clusterNS string, settings ports.Settings) app.Options {
	return app.Options{
		KagentURL:      agentURL,
		UserID:         "e2e@khook.dev",
		RequestTimeout: 10 * time.Second,
		Retry:          a2a.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxRetries: 3},
		Breaker:        a2a.BreakerSettings{ConsecutiveFailures: 3, OpenFor: 500 * time.Millisecond},
		Delivery: delivery.Options{
			RetryInitial: 200 * time.Millisecond, RetryMax: time.Second,
			PollInitial: 50 * time.Millisecond, PollMax: 200 * time.Millisecond,
		},
		DedupWindow:            time.Minute,
		CleanupInterval:        100 * time.Millisecond,
		StatusFlushInterval:    500 * time.Millisecond,
		StatusCoalesceDelay:    20 * time.Millisecond,
		TickInterval:           20 * time.Millisecond,
		ShutdownTimeout:        10 * time.Second,
		ClusterEventNamespaces: []string{clusterNS},
		EventSources:           &sources.Config{EventSources: []sources.SourceConfig{{Name: "kubernetes", Enabled: ptr.To(true), Settings: settings}}},
	}
}

// startKhook runs khook in a manager on the control plane, as cmd/khook does, until the test
// ends, and waits until its event sources run.
func startKhook(t *testing.T, opts app.Options) {
	t.Helper()
	mgr, err := ctrl.NewManager(cp.RESTConfig(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:                 testr.New(t),
	})
	if err != nil {
		t.Fatalf("creating the manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k, err := app.SetupWithManager(ctx, mgr, opts)
	if err != nil {
		cancel()
		t.Fatalf("SetupWithManager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the manager stopped with %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the manager did not stop within a minute")
		}
	})
	select {
	case <-k.Ready():
	case err := <-done:
		t.Fatalf("the manager stopped before khook ran: %v", err)
	case <-time.After(timeout):
		t.Fatal("khook's event sources did not start")
	}
}

// startAgent serves Kagent's A2A agents until the test ends.
func startAgent(t *testing.T) *echoagent.Server {
	t.Helper()
	s := echoagent.Start(echoagent.Options{})
	t.Cleanup(s.Close)
	return s
}

// hookFor is a Hook in ns sending eventType's trouble to agent kagent/agent with prompt, grouped
// as the type's default unless a test changes it.
func hookFor(ns, name, agent, prompt, eventType string) *v1alpha2.Hook {
	return &v1alpha2.Hook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{
			EventType: eventType, AgentRef: &v1alpha2.AgentReference{Namespace: "kagent", Name: agent}, Prompt: prompt,
		}}},
	}
}

// createHook creates h and waits until khook accepted it.
func createHook(t *testing.T, h *v1alpha2.Hook) {
	t.Helper()
	if err := cp.Client().Create(context.Background(), h); err != nil {
		t.Fatalf("creating hook %s/%s: %v", h.Namespace, h.Name, err)
	}
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var cur v1alpha2.Hook
		if err := cp.Client().Get(ctx, client.ObjectKeyFromObject(h), &cur); err != nil {
			return err
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == "Accepted" && c.ObservedGeneration == cur.Generation {
				if c.Status != metav1.ConditionTrue {
					return fmt.Errorf("hook %s/%s is not accepted: %s: %s", h.Namespace, h.Name, c.Reason, c.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("hook %s/%s has no Accepted condition yet", h.Namespace, h.Name)
	})
}

// investigations lists the Investigations of namespace ns.
func investigations(ctx context.Context, ns string) ([]v1alpha2.Investigation, error) {
	var list v1alpha2.InvestigationList
	if err := cp.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing investigations: %w", err)
	}
	return list.Items, nil
}

// podsOf lists the Pods of namespace ns.
func podsOf(ctx context.Context, ns string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := cp.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return list.Items, nil
}

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
