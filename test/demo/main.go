package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/test/echoagent"
)

const sampleHook = "test/testdata/hooks/valid/pod-trouble.yaml"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run() error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set; run `make demo`, which builds the control plane first")
	}
	log.SetLogger(logr.Discard())
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		return err
	}

	step("starting a local control plane (kube-apiserver + etcd from %s)", os.Getenv("KUBEBUILDER_ASSETS"))
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("charts", "khook", "crds")}, ErrorIfCRDPathMissing: true, Scheme: scheme}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	agent := echoagent.Start(echoagent.Options{RequireV1: true})
	defer agent.Close()
	agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{Duration: 3 * time.Second,
		Summary: "Root cause: the api container exceeds its 256Mi memory limit at start-up; raise it to 512Mi."})
	step("built-in echo agent (a real A2A 1.0 server shaped like Kagent; its investigations take 3s) at %s", agent.URL)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	k, err := app.SetupWithManager(ctx, mgr, app.Options{
		KagentURL: agent.URL, UserID: "demo@khook.dev", StatusCoalesceDelay: 100 * time.Millisecond, Logger: ptr.To(logr.Discard()),
		Delivery: delivery.Options{PollInitial: 500 * time.Millisecond, PollMax: time.Second}, TickInterval: 100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	select {
	case <-k.Ready():
	case err := <-done:
		return fmt.Errorf("controller stopped: %w", err)
	case <-time.After(60 * time.Second):
		return errors.New("controller did not become ready")
	}
	step("khook controller running")

	raw, err := os.ReadFile(sampleHook)
	if err != nil {
		return err
	}
	var hook v1alpha2.Hook
	if err := yaml.UnmarshalStrict(raw, &hook); err != nil {
		return err
	}
	if err := c.Create(ctx, &hook); err != nil {
		return fmt.Errorf("applying %s: %w", sampleHook, err)
	}
	step("applied the sample Hook (%s):\n%s", sampleHook, indent(string(raw)))
	if err := waitFor(30*time.Second, func() bool { // kubectl get hooks: ACCEPTED True
		var h v1alpha2.Hook
		return c.Get(ctx, client.ObjectKeyFromObject(&hook), &h) == nil && meta.IsStatusConditionTrue(h.Status.Conditions, "Accepted")
	}); err != nil {
		return errors.New("the sample Hook was never accepted")
	}
	step("the Hook is accepted (kubectl get hooks: ACCEPTED True)")

	pods, err := createDeployment(ctx, c)
	if err != nil {
		return err
	}
	step("created Deployment default/checkout, its ReplicaSet and 3 Pods (envtest runs no controllers: the demo writes what they would)")
	for i, pod := range pods {
		ev := &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s.18a2b3c4d5e6f70%d", pod, i)},
			EventTime:           metav1.NewMicroTime(time.Now()),
			ReportingController: "kubelet", ReportingInstance: "worker-2", Action: "Restarting",
			Reason: "BackOff", Type: corev1.EventTypeWarning,
			Note:      "Back-off restarting failed container api in pod " + pod + "_default",
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, APIVersion: "v1", FieldPath: "spec.containers{api}"},
		}
		if err := c.Create(ctx, ev); err != nil {
			return err
		}
	}
	step("created a kubelet BackOff Event for each of the 3 Pods: one incident, so one investigation, sent after the Hook's group wait (10s) gathered them")

	var got echoagent.Received
	if err := waitFor(60*time.Second, func() bool {
		r := agent.ReceivedBy("kagent/k8s-agent")
		if len(r) > 0 {
			got = r[0]
		}
		return len(r) > 0
	}); err != nil {
		return errors.New("the agent received nothing")
	}
	step("agent kagent/k8s-agent received one message for the 3 Pods (user %s, A2A %s, session %s):\n%s", got.UserID, got.A2AVersion, got.ContextID, indent(got.Text))

	var current v1alpha2.Investigation
	ledger := func(state string) error {
		return waitFor(30*time.Second, func() bool {
			var list v1alpha2.InvestigationList
			if err := c.List(ctx, &list, client.InNamespace(hook.Namespace)); err != nil || len(list.Items) != 1 {
				return false
			}
			current = list.Items[0]
			d := current.Status.Deliveries
			return len(d) == 1 && string(d[0].State) == state && current.Status.MemberCount == 3
		})
	}
	if err := ledger("working"); err != nil {
		return errors.New("the Investigation never showed the agent at work")
	}
	d := current.Status.Deliveries[0]
	step("the agent accepted at once (task %s); khook follows it without waiting: investigation %s, state %q", d.TaskID, current.Name, d.State)
	if err := ledger("completed"); err != nil {
		return errors.New("the Investigation never showed the investigation completed")
	}
	current.ManagedFields = nil
	current.SetGroupVersionKind(v1alpha2.GroupVersion.WithKind("Investigation"))
	out, err := yaml.Marshal(&current)
	if err != nil {
		return err
	}
	if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
		return fmt.Errorf("the agent received %d messages for one incident, want 1", n)
	}
	step("investigation completed; kubectl get investigation %s -o yaml\n%s", current.Name, indent(string(out)))
	var summary v1alpha2.Hook
	if err := waitFor(30*time.Second, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(&hook), &summary) == nil && summary.Status.Investigations != nil && summary.Status.Investigations.Completed == 1
	}); err != nil {
		return errors.New("the Hook's status never counted the completed investigation")
	}
	out, err = yaml.Marshal(summary.Status)
	if err != nil {
		return err
	}
	step("the Hook's status summarises it (kubectl get hook pod-trouble -o yaml, status:)\n%s", indent(string(out)))

	var events eventsv1.EventList
	if err := c.List(ctx, &events, client.InNamespace("default")); err != nil {
		return err
	}
	slices.SortFunc(events.Items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	var audit []string
	for _, e := range events.Items {
		if e.Regarding.Kind == "Hook" {
			audit = append(audit, fmt.Sprintf("%-8s %-20s %s", e.Type, e.Reason, e.Note))
		}
	}
	step("Events on the Hook (kubectl events --for hook/pod-trouble)\n%s", indent(strings.Join(audit, "\n")))

	stop()
	if err := <-done; err != nil {
		return fmt.Errorf("controller stopped with %w", err)
	}
	step("done: controller stopped cleanly")
	return nil
}

func waitFor(timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// createDeployment writes Deployment default/checkout, its ReplicaSet and 3 Pods, owned as the
// controllers would own them, and returns the Pods' names.
func createDeployment(ctx context.Context, c client.Client) ([]string, error) {
	labels := map[string]string{"app": "checkout"}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/checkout:1.4.2"}}}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "checkout"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx, d); err != nil {
		return nil, fmt.Errorf("creating the Deployment: %w", err)
	}
	owner := func(kind, name string, uid types.UID, apiVersion string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "checkout-7d4b9c", OwnerReferences: owner("Deployment", d.Name, d.UID, "apps/v1")},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx, rs); err != nil {
		return nil, fmt.Errorf("creating the ReplicaSet: %w", err)
	}
	var names []string
	for _, suffix := range []string{"x2k8f", "b9w2l", "q4z7n"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: rs.Name + "-" + suffix, Labels: labels,
			OwnerReferences: owner("ReplicaSet", rs.Name, rs.UID, "apps/v1")}, Spec: template.Spec}
		if err := c.Create(ctx, p); err != nil {
			return nil, fmt.Errorf("creating pod %s: %w", p.Name, err)
		}
		names = append(names, p.Name)
	}
	return names, nil
}
