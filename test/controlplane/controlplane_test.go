package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/test/controlplane"
)

// cp is the package's control plane, shared by its tests (they run one after the other: the
// node lifecycle test stops kwok, which every Node depends on).
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	if os.Getenv(controlplane.AssetsEnv) == "" {
		fmt.Fprintln(os.Stderr, controlplane.ErrNoAssets)
		os.Exit(1)
	}
	started := time.Now()
	var err error
	// The unschedulable test waits for the scheduler's second try.
	cp, err = controlplane.New(controlplane.Options{UnschedulableRetry: 10 * time.Second})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "controlplane: started in %s\n", time.Since(started).Round(100*time.Millisecond))
	code := m.Run()
	started = time.Now()
	if err := cp.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "controlplane: stopped in %s\n", time.Since(started).Round(100*time.Millisecond))
	os.Exit(code)
}

// timeout bounds every wait on the control plane: generous, the machine may be busy.
const timeout = 2 * time.Minute

func TestADeploymentGetsItsReplicaSetAndPodsScheduledRunningAndReady(t *testing.T) {
	cp.ReportOnFailure(t)
	k8s := cp.Client()
	node := cp.AddNode(t, "deployment-node")
	ns := cp.Namespace(t)
	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec(node.Name, corev1.RestartPolicyAlways),
			},
		},
	}
	create(t, deploy)

	var rs appsv1.ReplicaSet
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var list appsv1.ReplicaSetList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, item := range list.Items {
			if ref := metav1.GetControllerOf(&item); ref != nil && ref.UID == deploy.UID && ref.Kind == "Deployment" {
				rs = item
				return nil
			}
		}
		return fmt.Errorf("no ReplicaSet controlled by the Deployment among %d", len(list.Items))
	})
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var list corev1.PodList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		var ready []string
		for _, pod := range list.Items {
			ref := metav1.GetControllerOf(&pod)
			if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
				return fmt.Errorf("pod %s is not controlled by ReplicaSet %s: %+v", pod.Name, rs.Name, pod.OwnerReferences)
			}
			if pod.Spec.NodeName != node.Name {
				return fmt.Errorf("pod %s is not bound to %s yet (nodeName %q)", pod.Name, node.Name, pod.Spec.NodeName)
			}
			if pod.Status.Phase != corev1.PodRunning || podCondition(&pod, corev1.PodReady) != corev1.ConditionTrue {
				return fmt.Errorf("pod %s is %s, Ready=%q", pod.Name, pod.Status.Phase, podCondition(&pod, corev1.PodReady))
			}
			if pod.Status.HostIP != node.Status.Addresses[0].Address || pod.Status.PodIP == "" {
				return fmt.Errorf("pod %s has host IP %q (want the node's %s) and pod IP %q", pod.Name, pod.Status.HostIP, node.Status.Addresses[0].Address, pod.Status.PodIP)
			}
			ready = append(ready, pod.Name)
		}
		if len(ready) != 3 {
			return fmt.Errorf("%d pods running and ready (%v), want 3", len(ready), ready)
		}
		return nil
	})
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(deploy), deploy); err != nil {
			return err
		}
		if deploy.Status.AvailableReplicas != 3 {
			return fmt.Errorf("the Deployment has %d available replicas, want 3", deploy.Status.AvailableReplicas)
		}
		return nil
	})
}

func TestPodsBehaveAsTheirLabelAsksAsTheKubeletShowsIt(t *testing.T) {
	cp.ReportOnFailure(t)
	node := cp.AddNode(t, "behaviour-node").Name
	tests := []struct {
		name      string
		behaviour string
		restart   corev1.RestartPolicy
		// until says whether the pod shows what the case expects; errors say what it shows.
		until func(pod *corev1.Pod) error
		// event is the kubelet's Event the case expects about the pod ("" for none).
		event, note string
	}{
		{
			name:      "a crash-looping container waits in CrashLoopBackOff after exiting with 1, and its restartCount grows",
			behaviour: controlplane.CrashLoop, restart: corev1.RestartPolicyAlways,
			until: growingCrashLoop("Error", 1),
			event: "BackOff", note: "Back-off restarting failed container app in pod ",
		},
		{
			name:      "an OOM-killed container that restarts shows OOMKilled (137) as its last state and crash-loops",
			behaviour: controlplane.OOMKill, restart: corev1.RestartPolicyAlways,
			until: growingCrashLoop("OOMKilled", 137),
			event: "BackOff", note: "Back-off restarting failed container app in pod ",
		},
		{
			name:      "an OOM-killed container of a Pod that never restarts stays terminated OOMKilled (137), and the Pod fails",
			behaviour: controlplane.OOMKill, restart: corev1.RestartPolicyNever,
			until: func(pod *corev1.Pod) error {
				cs, err := appStatus(pod)
				if err != nil {
					return err
				}
				if term := cs.State.Terminated; term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 || pod.Status.Phase != corev1.PodFailed {
					return fmt.Errorf("pod is %s, container state %+v", pod.Status.Phase, cs.State)
				}
				return nil
			},
		},
		{
			name:      "a crashing container of a Pod that never restarts stays terminated with Error (1), and the Pod fails",
			behaviour: controlplane.CrashLoop, restart: corev1.RestartPolicyNever,
			until: func(pod *corev1.Pod) error {
				cs, err := appStatus(pod)
				if err != nil {
					return err
				}
				if term := cs.State.Terminated; term == nil || term.Reason != "Error" || term.ExitCode != 1 || pod.Status.Phase != corev1.PodFailed {
					return fmt.Errorf("pod is %s, container state %+v", pod.Status.Phase, cs.State)
				}
				return nil
			},
		},
		{
			name:      "an unready Pod runs, its containers never ready, and the kubelet says its readiness probe failed",
			behaviour: controlplane.Unready, restart: corev1.RestartPolicyAlways,
			until: func(pod *corev1.Pod) error {
				cs, err := appStatus(pod)
				if err != nil {
					return err
				}
				if pod.Status.Phase != corev1.PodRunning || cs.State.Running == nil || cs.Ready ||
					podCondition(pod, corev1.PodReady) != corev1.ConditionFalse || podConditionReason(pod, corev1.PodReady) != "ContainersNotReady" {
					return fmt.Errorf("pod is %s, Ready=%q, container %+v", pod.Status.Phase, podCondition(pod, corev1.PodReady), cs)
				}
				return nil
			},
			event: "Unhealthy", note: "Readiness probe failed: ",
		},
		{
			name:    "a Pod that asks for nothing runs and is ready",
			restart: corev1.RestartPolicyAlways,
			until: func(pod *corev1.Pod) error {
				if pod.Status.Phase != corev1.PodRunning || podCondition(pod, corev1.PodReady) != corev1.ConditionTrue {
					return fmt.Errorf("pod is %s, Ready=%q", pod.Status.Phase, podCondition(pod, corev1.PodReady))
				}
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := cp.Namespace(t)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: ns, Name: "pod",
					Annotations: map[string]string{controlplane.RunSecondsAnnotation: "0.5", controlplane.BackoffSecondsAnnotation: "1"},
				},
				Spec: podSpec(node, tt.restart),
			}
			if tt.behaviour != "" {
				pod.Labels = map[string]string{controlplane.BehaviourLabel: tt.behaviour}
			}
			create(t, pod)
			controlplane.Eventually(t, timeout, func(ctx context.Context) error {
				if err := cp.Client().Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
					return err
				}
				return tt.until(pod)
			})
			if tt.event != "" {
				ev := kubeletEvent(t, pod, tt.event)
				if !strings.HasPrefix(ev.Note, tt.note) {
					t.Errorf("the %s Event says %q, want it to begin with %q", tt.event, ev.Note, tt.note)
				}
			}
		})
	}
}

// backOffMessage is the kubelet's message of a container waiting in CrashLoopBackOff (the test's
// pods are all called "pod", their container "app").
var backOffMessage = regexp.MustCompile(`^back-off [0-9.]+s restarting failed container=app pod=pod_[a-z0-9-]+\([0-9a-f-]{36}\)$`)

// growingCrashLoop is satisfied once the container has been seen waiting in CrashLoopBackOff
// after exiting with reason and code, and its restartCount has grown since: it checks successive
// states of one pod.
func growingCrashLoop(reason string, code int32) func(pod *corev1.Pod) error {
	var backOffAt int32 = -1 // the restartCount seen in CrashLoopBackOff
	return func(pod *corev1.Pod) error {
		cs, err := appStatus(pod)
		if err != nil {
			return err
		}
		if pod.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod is %s", pod.Status.Phase)
		}
		last := cs.LastTerminationState.Terminated
		if cs.RestartCount > 0 && (last == nil || last.Reason != reason || last.ExitCode != code) {
			return fmt.Errorf("restartCount %d with last state %+v, want terminated %s (%d)", cs.RestartCount, cs.LastTerminationState, reason, code)
		}
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" && backOffAt < 0 {
			if cs.Ready || podCondition(pod, corev1.PodReady) != corev1.ConditionFalse {
				return fmt.Errorf("a container in CrashLoopBackOff is ready (Ready=%q)", podCondition(pod, corev1.PodReady))
			}
			if !backOffMessage.MatchString(w.Message) {
				return fmt.Errorf("CrashLoopBackOff says %q", w.Message)
			}
			backOffAt = cs.RestartCount
		}
		if backOffAt < 0 || cs.RestartCount <= backOffAt+1 {
			return fmt.Errorf("restartCount %d, state %+v: waiting for CrashLoopBackOff and two restarts after it", cs.RestartCount, cs.State)
		}
		return nil
	}
}

func TestAnUnschedulablePodGetsTheSchedulersFailedSchedulingEvent(t *testing.T) {
	cp.ReportOnFailure(t)
	cp.AddNode(t, "unmatched-node") // a node there is, but not one the pod accepts
	ns := cp.Namespace(t)
	spec := podSpec("", corev1.RestartPolicyAlways)
	spec.NodeSelector = map[string]string{"khook.dev/no-such-node": "true"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nowhere"}, Spec: spec}
	create(t, pod)
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if err := cp.Client().Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if podCondition(pod, corev1.PodScheduled) != corev1.ConditionFalse || podConditionReason(pod, corev1.PodScheduled) != "Unschedulable" {
			return fmt.Errorf("PodScheduled=%q (%s)", podCondition(pod, corev1.PodScheduled), podConditionReason(pod, corev1.PodScheduled))
		}
		return nil
	})
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		ev, err := eventAbout(ctx, ns, "Pod", pod.Name, "FailedScheduling")
		if err != nil {
			return err
		}
		if ev.ReportingController != "default-scheduler" || ev.Type != corev1.EventTypeWarning || ev.Action != "Scheduling" ||
			ev.Regarding.UID != pod.UID || !strings.Contains(ev.Note, "didn't match Pod's node affinity/selector") {
			return fmt.Errorf("the FailedScheduling Event is not the scheduler's about the pod: %+v", ev)
		}
		return nil
	})
	// The scheduler tries again (UnschedulableRetry: a Node it cannot use would not make it try,
	// its queueing hints skip that), and again. The first Event is about the Pod before the
	// scheduler wrote its PodScheduled condition, so the second try's is a new Event (the Pod's
	// resourceVersion is in the recorder's key); the third is that Event's series.
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var list eventsv1.EventList
		if err := cp.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		var failed []eventsv1.Event
		for _, ev := range list.Items {
			if ev.Reason == "FailedScheduling" && ev.Regarding.Name == pod.Name {
				failed = append(failed, ev)
			}
		}
		for _, ev := range failed {
			if ev.Series != nil && ev.Series.Count >= 2 {
				return nil
			}
		}
		return fmt.Errorf("no FailedScheduling Event with a series yet among %d: %+v", len(failed), failed)
	})
}

func TestAStoppedKwokMakesItsNodeUnknownAndItsPodsNotReadyUntilItIsBack(t *testing.T) {
	cp.ReportOnFailure(t)
	k8s := cp.Client()
	node := cp.AddNode(t, "lifecycle-node")
	ns := cp.Namespace(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "on-the-node"}, Spec: podSpec(node.Name, corev1.RestartPolicyAlways)}
	create(t, pod)
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if podCondition(pod, corev1.PodReady) != corev1.ConditionTrue {
			return fmt.Errorf("pod is %s, Ready=%q", pod.Status.Phase, podCondition(pod, corev1.PodReady))
		}
		return nil
	})

	stopped := time.Now()
	if err := cp.StopKwok(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the next tests need kwok, whatever happens here
		if err := cp.StartKwok(); err != nil && !strings.Contains(err.Error(), "runs already") {
			t.Errorf("starting kwok again: %v", err)
		}
	})
	var ready corev1.NodeCondition
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		ready = nodeCondition(node, corev1.NodeReady)
		if ready.Status != corev1.ConditionUnknown {
			return fmt.Errorf("node is Ready=%q (%s)", ready.Status, ready.Reason)
		}
		return nil
	})
	t.Logf("the node went Unknown (%s: %s) %s after kwok stopped (grace %s)", ready.Reason, ready.Message,
		time.Since(stopped).Round(time.Second), controlplane.DefaultNodeMonitorGracePeriod)
	if ready.Reason != "NodeStatusUnknown" {
		t.Errorf("the node's Ready condition says %q, want NodeStatusUnknown", ready.Reason)
	}
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if _, err := eventAbout(ctx, "", "Node", node.Name, "NodeNotReady"); err != nil {
			return err
		}
		ev, err := eventAbout(ctx, ns, "Pod", pod.Name, "NodeNotReady")
		if err != nil {
			return err
		}
		if ev.Type != corev1.EventTypeWarning {
			return fmt.Errorf("the pod's NodeNotReady Event is %s", ev.Type)
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if podCondition(pod, corev1.PodReady) != corev1.ConditionFalse {
			return fmt.Errorf("the pod on the unknown node is Ready=%q", podCondition(pod, corev1.PodReady))
		}
		return nil
	})
	// The unreachable taint keeps new Pods off the node. (Every kwok Node is down, so the node
	// lifecycle controller sees its whole zone down, a full disruption: it does not taint
	// NoExecute, and evicts nothing.)
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		if !hasTaint(node, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) {
			return fmt.Errorf("node has no %s taint: %+v", corev1.TaintNodeUnreachable, node.Spec.Taints)
		}
		return nil
	})

	restarted := time.Now()
	if err := cp.StartKwok(); err != nil {
		t.Fatal(err)
	}
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		if ready := nodeCondition(node, corev1.NodeReady); ready.Status != corev1.ConditionTrue {
			return fmt.Errorf("node is Ready=%q (%s)", ready.Status, ready.Reason)
		}
		return nil
	})
	t.Logf("the node was Ready again %s after kwok started", time.Since(restarted).Round(time.Second))
}

func TestTheControlPlaneRefusesWhatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		env  string
		opts controlplane.Options
		want string
	}{
		{name: "no assets: the variable make test sets is missing", want: controlplane.AssetsEnv + " is not set"},
		{name: "assets without the binaries", opts: controlplane.Options{Assets: t.TempDir()}, want: "lack etcd"},
		{
			name: "a node lease as long as the grace period: healthy nodes would go Unknown",
			env:  os.Getenv(controlplane.AssetsEnv),
			opts: controlplane.Options{NodeMonitorGracePeriod: 10 * time.Second, NodeLeaseDuration: 10 * time.Second},
			want: "must be at least 1s and shorter than the node monitor grace period",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(controlplane.AssetsEnv, tt.env)
			c, err := controlplane.New(tt.opts)
			if err == nil {
				_ = c.Stop()
				t.Fatal("New started a control plane")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New said %q, want it to say %q", err, tt.want)
			}
			if tt.env == "" && tt.opts.Assets == "" && !errors.Is(err, controlplane.ErrNoAssets) {
				t.Errorf("New said %v, want ErrNoAssets", err)
			}
		})
	}
}

func TestApplyStagesTakesOnlyKwokStages(t *testing.T) {
	cp.ReportOnFailure(t)
	err := cp.ApplyStages(context.Background(), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-a-stage\n"))
	if err == nil || !strings.Contains(err.Error(), "is not a kwok Stage") {
		t.Errorf("ApplyStages said %v, want a refusal", err)
	}
	// Applying the defaults again changes nothing: updates, not conflicts.
	if err := cp.ApplyStages(context.Background(), controlplane.DefaultStages()...); err != nil {
		t.Errorf("applying the default stages again: %v", err)
	}
}

// podSpec is one pause container, "app", bound to node by its hostname label ("" for none).
func podSpec(node string, restart corev1.RestartPolicy) corev1.PodSpec {
	spec := corev1.PodSpec{
		RestartPolicy: restart,
		Containers:    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
	}
	if node != "" {
		spec.NodeSelector = map[string]string{corev1.LabelHostname: node}
	}
	return spec
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := cp.Client().Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func appStatus(pod *corev1.Pod) (corev1.ContainerStatus, error) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "app" {
			return cs, nil
		}
	}
	return corev1.ContainerStatus{}, fmt.Errorf("pod is %s with no status for its container yet", pod.Status.Phase)
}

func podCondition(pod *corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func podConditionReason(pod *corev1.Pod, typ corev1.PodConditionType) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Reason
		}
	}
	return ""
}

func nodeCondition(node *corev1.Node, typ corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range node.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func hasTaint(node *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, taint := range node.Spec.Taints {
		if taint.Key == key && taint.Effect == effect {
			return true
		}
	}
	return false
}

// eventAbout finds the events.k8s.io Event with reason about the object kind/name in namespace
// ns (the "default" namespace's, where Events about cluster-scoped objects go, when ns is "").
func eventAbout(ctx context.Context, ns, kind, name, reason string) (eventsv1.Event, error) {
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	var list eventsv1.EventList
	if err := cp.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
		return eventsv1.Event{}, err
	}
	var seen []string
	for _, ev := range list.Items {
		if ev.Regarding.Kind == kind && ev.Regarding.Name == name {
			if ev.Reason == reason {
				return ev, nil
			}
			seen = append(seen, ev.Reason)
		}
	}
	return eventsv1.Event{}, fmt.Errorf("no %s Event about %s %s/%s yet (seen: %v)", reason, kind, ns, name, seen)
}

// kubeletEvent waits for the kubelet's Event with reason about pod, as khook reads it
// (events.k8s.io), and checks it is shaped like the kubelet's.
func kubeletEvent(t *testing.T, pod *corev1.Pod, reason string) eventsv1.Event {
	t.Helper()
	var ev eventsv1.Event
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var err error
		ev, err = eventAbout(ctx, pod.Namespace, "Pod", pod.Name, reason)
		return err
	})
	if ev.ReportingController != "kubelet" || ev.ReportingInstance != pod.Spec.NodeName || ev.Type != corev1.EventTypeWarning ||
		ev.Regarding.UID != pod.UID || ev.Regarding.FieldPath != "spec.containers{app}" || ev.DeprecatedSource.Component != "kubelet" {
		t.Errorf("the %s Event is not shaped like the kubelet's: %+v", reason, ev)
	}
	return ev
}
