package integration

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/test/echoagent"
)

// Another operator adds khook to the Manager it already runs. (Here the "cluster" is envtest
// and Kagent is the echo agent; in production both come from your environment.)
func Example_embedding() {
	kagent := echoagent.Start(echoagent.Options{})
	defer kagent.Close()

	// Your operator's manager; its scheme must include kagent.dev/v1alpha2.
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  app.CacheOptions(), // khook's cache transforms: Pods and Events kept small
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	k, err := app.SetupWithManager(ctx, mgr, app.Options{KagentURL: kagent.URL, StatusCoalesceDelay: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	select {
	case <-k.Ready():
	case <-time.After(30 * time.Second):
		fmt.Println("khook did not become ready")
		stop()
		return
	}

	// A Hook and a crash loop in namespace "example".
	ns := "example"
	must(client.IgnoreAlreadyExists(k8s.Create(ctx, newNamespaceObject(ns))))
	hook := newHook(ns, "restarts", "k8s-agent", "{{.ResourceName}} keeps crashing", "pod-restart")
	must(k8s.Create(ctx, hook))
	for deadline := time.Now().Add(30 * time.Second); len(kagent.Received()) == 0 && time.Now().Before(deadline); {
		_ = k8s.Create(ctx, backOffEvent(ns, "api-0")) // repeats are deduplicated
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		fmt.Println("the manager did not stop")
	}
	must(k8s.Delete(context.Background(), hook))

	for _, m := range kagent.Received() {
		fmt.Printf("%s received %q\n", m.Agent, m.Text)
	}
	// Output: kagent/k8s-agent received "api-0 keeps crashing"
}
