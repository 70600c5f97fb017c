package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/volume"
)

// The Silence adapter is not wired into khook yet; this runs it alone, as the chart's service
// account, to show the chart grants what it needs.
func TestTheChartsRBACLetsKhookApplySilencesAndCountWhatTheyHeld(t *testing.T) {
	applyChartRBAC(t)
	ns := newNamespace(t)
	t.Cleanup(func() { _ = k8s.DeleteAllOf(context.Background(), &v1alpha2.Silence{}, client.InNamespace(ns)) })
	asChart := rest.CopyConfig(restConfig)
	asChart.Impersonate = rest.ImpersonationConfig{
		UserName: chartServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + chartNamespace, "system:authenticated"},
	}
	mgr, err := ctrl.NewManager(asChart, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := volume.NewSilences(nil)
	r := &kubernetes.SilenceReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Silences: reg, Clock: clock.RealClock{}}
	if err := r.SetupWithManager(mgr, "silences-rbac"); err != nil {
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

	now := time.Now().Truncate(time.Second)
	s := &v1alpha2.Silence{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "maintenance"}, Spec: v1alpha2.SilenceSpec{
		StartsAt: metav1.NewTime(now.Add(-time.Minute)), EndsAt: metav1.NewTime(now.Add(time.Hour)),
	}}
	create(t, s)
	// silences list/watch, silences/status update.
	eventually(t, 15*time.Second, func() error {
		var got v1alpha2.Silence
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(got.Status.Conditions, kubernetes.SilenceActive); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Active = %+v", c)
		}
		if reg.Len() == 0 {
			return fmt.Errorf("the Silence is not loaded")
		}
		return nil
	})
	// silences/status patch.
	w := &kubernetes.SilenceStatusWriter{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()}
	if err := w.AddHeldIncidents(context.Background(), ns, "maintenance", string(s.UID), 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		var got v1alpha2.Silence
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil {
			return err
		}
		if got.Status.HeldIncidents != 2 {
			return fmt.Errorf("heldIncidents = %d, want 2", got.Status.HeldIncidents)
		}
		return nil
	})
}
