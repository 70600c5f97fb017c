package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

// startSilenceReconciler runs a manager with a SilenceReconciler keeping reg current.
func startSilenceReconciler(t *testing.T, reg kubernetes.SilenceRegistry, clk clock.PassiveClock, refusedRetry time.Duration) {
	t.Helper()
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &kubernetes.SilenceReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Silences: reg, Clock: clk, RefusedRetry: refusedRetry}
	if err := r.SetupWithManager(mgr, "silences"); err != nil {
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
}

// silenceNamespace is a namespace for one test whose Silences are deleted when it ends, so that
// the next test's reconciler, which watches every namespace, does not load them.
func silenceNamespace(t *testing.T) string {
	t.Helper()
	ns := newNamespace(t)
	t.Cleanup(func() {
		if err := k8s.DeleteAllOf(context.Background(), &v1alpha2.Silence{}, client.InNamespace(ns)); err != nil {
			t.Errorf("deleting the silences of %s: %v", ns, err)
		}
	})
	return ns
}

func newSilence(ns, name string, start, end time.Time, m v1alpha2.SilenceMatchers) *v1alpha2.Silence {
	return &v1alpha2.Silence{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha2.SilenceSpec{Matchers: m, StartsAt: metav1.NewTime(start), EndsAt: metav1.NewTime(end), Comment: "test"}}
}

// activeCondition returns a check that the Silence's Active condition has the given reason (and
// a message containing message), for the current generation.
func activeCondition(ns, name, reason, message string) func() error {
	return func() error {
		var s v1alpha2.Silence
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			return err
		}
		c := meta.FindStatusCondition(s.Status.Conditions, kubernetes.SilenceActive)
		switch {
		case c == nil:
			return fmt.Errorf("no Active condition")
		case c.Reason != reason || !strings.Contains(c.Message, message):
			return fmt.Errorf("Active = %s %s: %q; want reason %s with %q", c.Status, c.Reason, c.Message, reason, message)
		case c.ObservedGeneration != s.Generation || s.Status.ObservedGeneration != s.Generation:
			return fmt.Errorf("the condition is of generation %d, the Silence of %d", c.ObservedGeneration, s.Generation)
		case (reason == kubernetes.SilenceReasonActive) != (c.Status == metav1.ConditionTrue):
			return fmt.Errorf("Active = %s with reason %s", c.Status, reason)
		}
		return nil
	}
}

// holds returns a check that reg holds (or not) a pod-restart of Deployment ns/checkout by Hook
// ns/h at now, by the Silence named name.
func holds(reg *volume.Silences, ns, name string, now func() time.Time, want bool) func() error {
	return func() error {
		c := volume.Candidate{Hook: hook.Ref{Namespace: ns, Name: "h"}, EventType: event.PodRestart,
			Subject: volume.Subject{Kind: "Deployment", Namespace: ns, Name: "checkout"}, Labels: map[string]string{"tier": "critical"}}
		got, ok := reg.Muting(c, now())
		switch {
		case ok != want:
			return fmt.Errorf("held: %v (by %s), want %v", ok, got, want)
		case ok && got.Name != name:
			return fmt.Errorf("held by %s, want %s", got, name)
		}
		return nil
	}
}

func TestTheSilenceReconcilerLoadsSilencesAndSaysWhetherEachIsActive(t *testing.T) {
	ns := silenceNamespace(t)
	clk := clocktesting.NewFakePassiveClock(time.Now().Truncate(time.Second))
	now := clk.Now()
	reg := volume.NewSilences(nil)
	startSilenceReconciler(t, reg, clk, 0)

	critical := v1alpha2.SilenceMatchers{SubjectKind: "deployment", SubjectName: "check*",
		Selector: &v1alpha2.LabelSelector{MatchLabels: map[string]v1alpha2.LabelValue{"tier": "critical"}}}
	create(t, newSilence(ns, "active", now.Add(-time.Hour), now.Add(time.Hour), critical))
	create(t, newSilence(ns, "pending", now.Add(time.Hour), now.Add(3*time.Hour), v1alpha2.SilenceMatchers{}))
	create(t, newSilence(ns, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour), v1alpha2.SilenceMatchers{}))
	eventually(t, "the active Silence says so", activeCondition(ns, "active", kubernetes.SilenceReasonActive, "until "+now.Add(time.Hour).UTC().Format(time.RFC3339)))
	eventually(t, "the pending Silence says when it starts", activeCondition(ns, "pending", kubernetes.SilenceReasonPending, "starts at "+now.Add(time.Hour).UTC().Format(time.RFC3339)))
	eventually(t, "the expired Silence says it ended", activeCondition(ns, "expired", kubernetes.SilenceReasonExpired, "ended at"))
	eventually(t, "the active Silence holds the incident", holds(reg, ns, "active", clk.Now, true))
	if got := reg.Len(); got != 2 {
		t.Fatalf("the registry holds %d silences, want the active and the pending one", got)
	}

	// An edit that no longer matches the incident replaces the Silence in the registry.
	var s v1alpha2.Silence
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "active"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Matchers.SubjectName = "payments"
	if err := k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edited Silence no longer holds the incident", holds(reg, ns, "", clk.Now, false))
	eventually(t, "the condition follows the new generation", activeCondition(ns, "active", kubernetes.SilenceReasonActive, "until"))

	// A deleted Silence is forgotten.
	if err := k8s.Delete(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted Silence is forgotten", func() error {
		if n := reg.Len(); n != 1 {
			return fmt.Errorf("%d silences held, want the pending one", n)
		}
		return nil
	})
}

func TestASilenceStartsAndEndsOnTime(t *testing.T) {
	ns := silenceNamespace(t)
	reg := volume.NewSilences(nil)
	clk := clock.RealClock{}
	startSilenceReconciler(t, reg, clk, 0)
	// Whole seconds: the API server keeps times to the second.
	start := time.Now().Truncate(time.Second).Add(3 * time.Second)
	create(t, newSilence(ns, "window", start, start.Add(3*time.Second), v1alpha2.SilenceMatchers{}))
	eventually(t, "the Silence is pending before its start", activeCondition(ns, "window", kubernetes.SilenceReasonPending, "starts at"))
	eventually(t, "the Silence becomes active at its start", activeCondition(ns, "window", kubernetes.SilenceReasonActive, "until"))
	// Once it is active the registry holds it (whatever the time is now, it asks about one within
	// the window).
	if err := holds(reg, ns, "window", func() time.Time { return start.Add(time.Second) }, true)(); err != nil {
		t.Fatalf("during its window: %v", err)
	}
	eventually(t, "the Silence expires at its end", activeCondition(ns, "window", kubernetes.SilenceReasonExpired, "ended at"))
	if n := reg.Len(); n != 0 {
		t.Fatalf("an expired Silence is still held (%d)", n)
	}
}

func TestARefusedSilenceSaysWhyOnItsCondition(t *testing.T) {
	ns := silenceNamespace(t)
	clk := clocktesting.NewFakePassiveClock(time.Now().Truncate(time.Second))
	now := clk.Now()
	reg := volume.NewSilences(nil)
	startSilenceReconciler(t, reg, clk, time.Second)

	// A key whose prefix is longer than 253 characters passes the CRD's pattern but is no label
	// key: khook refuses it naming the field.
	bad := v1alpha2.SilenceMatchers{Selector: &v1alpha2.LabelSelector{MatchExpressions: []v1alpha2.LabelSelectorRequirement{
		{Key: strings.Repeat("a", 254) + "/k", Operator: v1alpha2.LabelSelectorOpExists},
	}}}
	create(t, newSilence(ns, "bad-selector", now.Add(-time.Minute), now.Add(time.Hour), bad))
	eventually(t, "the invalid Silence names the field", activeCondition(ns, "bad-selector", kubernetes.SilenceReasonInvalid,
		"spec.matchers.selector.matchExpressions[0].key: "))
	if err := k8s.Delete(context.Background(), newSilence(ns, "bad-selector", now, now, bad)); err != nil {
		t.Fatal(err)
	}

	for i := range volume.MaxSilencesPerNamespace + 1 {
		create(t, newSilence(ns, fmt.Sprintf("s%03d", i), now.Add(-time.Minute), now.Add(time.Hour), v1alpha2.SilenceMatchers{SubjectName: fmt.Sprintf("svc-%d", i)}))
	}
	var refused string
	eventually(t, "one Silence past the bound is refused", func() error {
		var list v1alpha2.SilenceList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		var active, tooMany []string
		for _, s := range list.Items {
			if c := meta.FindStatusCondition(s.Status.Conditions, kubernetes.SilenceActive); c != nil {
				switch c.Reason {
				case kubernetes.SilenceReasonActive:
					active = append(active, s.Name)
				case kubernetes.SilenceReasonTooManySilences:
					tooMany = append(tooMany, s.Name)
				}
			}
		}
		if len(active) != volume.MaxSilencesPerNamespace || len(tooMany) != 1 || reg.Len() != volume.MaxSilencesPerNamespace {
			return fmt.Errorf("%d active, %d refused (%v), %d held", len(active), len(tooMany), tooMany, reg.Len())
		}
		refused = tooMany[0]
		return nil
	})
	// Room made: the refused Silence is tried again and applies.
	victim := "s000"
	if refused == victim {
		victim = "s001"
	}
	if err := k8s.Delete(context.Background(), newSilence(ns, victim, now, now, v1alpha2.SilenceMatchers{})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused Silence applies once there is room", activeCondition(ns, refused, kubernetes.SilenceReasonActive, "until"))
}

func TestLoadAllLoadsEverySilenceBeforeTheManagerRuns(t *testing.T) {
	ns := silenceNamespace(t)
	clk := clocktesting.NewFakePassiveClock(time.Now().Truncate(time.Second))
	now := clk.Now()
	create(t, newSilence(ns, "a", now.Add(-time.Minute), now.Add(time.Hour), v1alpha2.SilenceMatchers{}))
	create(t, newSilence(ns, "b", now.Add(time.Minute), now.Add(time.Hour), v1alpha2.SilenceMatchers{}))
	reg := volume.NewSilences(nil)
	r := &kubernetes.SilenceReconciler{Client: k8s, Silences: reg, Clock: clk}
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every namespace's Silences are listed; this test's are both there.
	if err := holds(reg, ns, "a", clk.Now, true)(); err != nil {
		t.Fatal(err)
	}
	if err := activeCondition(ns, "b", kubernetes.SilenceReasonPending, "starts at")(); err != nil {
		t.Fatal(err)
	}
}

func TestTheSilenceStatusWriterCountsHeldIncidentsWithoutLosingAny(t *testing.T) {
	ns := silenceNamespace(t)
	now := time.Now().Truncate(time.Second)
	s := newSilence(ns, "held", now, now.Add(time.Hour), v1alpha2.SilenceMatchers{})
	create(t, s)
	w := &kubernetes.SilenceStatusWriter{Client: k8s}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if err := w.AddHeldIncidents(context.Background(), ns, "held", string(s.UID), 1); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.AddHeldIncidents(context.Background(), ns, "held", "another-uid", 100); err != nil {
		t.Fatalf("a count for a Silence of the same name deleted since: %v", err)
	}
	if err := w.AddHeldIncidents(context.Background(), ns, "gone", "", 1); err != nil {
		t.Fatalf("a count for a Silence that is gone: %v", err)
	}
	var got v1alpha2.Silence
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.HeldIncidents != 20 {
		t.Fatalf("heldIncidents = %d, want 20 (4 writers adding 5 each, nothing for another UID)", got.Status.HeldIncidents)
	}
}

func TestTheSilenceReconcilerNeedsItsDependencies(t *testing.T) {
	r := &kubernetes.SilenceReconciler{Client: k8s, Silences: volume.NewSilences(nil)}
	if err := r.SetupWithManager(nil, "x"); err == nil {
		t.Fatal("a reconciler without a clock was accepted")
	}
}
