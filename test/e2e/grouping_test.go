package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/test/controlplane"
)

// A Deployment whose Pods crash-loop: the controller-manager makes its ReplicaSet and Pods, the
// scheduler binds them to the kwok node, kwok crash-loops them. Every pod-restart the source
// sends names the Deployment (not the ReplicaSet) and the node.
func TestADeploymentsCrashLoopingPodsNameTheDeploymentAndTheirNode(t *testing.T) {
	cp.ReportOnFailure(t)
	node := cp.AddNode(t, "crash-node")
	ns := cp.Namespace(t)
	r := startSource(t, ns, nil)
	labels := map[string]string{"app": "checkout", controlplane.BehaviourLabel: controlplane.CrashLoop}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{corev1.LabelHostname: node.Name},
					Containers:   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				},
			},
		},
	}
	if err := cp.Client().Create(context.Background(), deploy); err != nil {
		t.Fatal(err)
	}

	var pods []string
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var list corev1.PodList
		if err := cp.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			pods = append(pods, p.Name)
		}
		if len(pods) != 3 {
			return fmt.Errorf("%d pods, want 3", len(pods))
		}
		restarts := r.sink.matching(func(e event.Event) bool { return e.Type == event.PodRestart && e.Namespace == ns && !e.Resolves() })
		var crashing []string
		for _, e := range restarts {
			if !slices.Contains(crashing, e.ResourceName) {
				crashing = append(crashing, e.ResourceName)
			}
		}
		for _, p := range pods {
			if !slices.Contains(crashing, p) {
				return fmt.Errorf("no pod-restart yet for pod %s (have %v)", p, crashing)
			}
		}
		return nil
	})
	restarts := r.sink.matching(func(e event.Event) bool { return e.Namespace == ns })
	want := event.Workload{Kind: "Deployment", Name: "checkout"}
	for _, e := range restarts {
		if e.Workload != want || e.Node != node.Name {
			t.Errorf("%s on %s (%s) names %q on node %q, want %q on %q", e.Type, e.ResourceName, e.Reason, e.Workload, e.Node, want, node.Name)
		}
	}
	t.Logf("%d events about the Deployment's %d crash-looping pods, each naming %s on %s", len(restarts), len(pods), want, node.Name)
}

// Stopping kwok stops the kubelet of its node: the node lifecycle controller marks the Node
// Unknown after its grace (20s here), and node-not-ready fires after the source's own grace
// (5s here), with the condition's reason; NodeStates says the node is not ready. Started again,
// kwok makes the Node Ready, and node-not-ready resolves.
func TestAStoppedKubeletMakesNodeNotReadyFireAndItsReturnResolvesIt(t *testing.T) {
	cp.ReportOnFailure(t)
	node := cp.AddNode(t, "lifecycle-node")
	ns := cp.Namespace(t)
	const grace = 5 * time.Second
	r := startSource(t, ns, map[string]any{"nodeNotReadyGracePeriod": grace.String()})
	controlplane.Eventually(t, timeout, func(context.Context) error {
		if s := r.nodes.State(node.Name); !s.Known || !s.Ready {
			return fmt.Errorf("NodeStates says %+v, want known and ready", s)
		}
		return nil
	})
	about := func(e event.Event) bool { return e.Type == event.NodeNotReady && e.ResourceName == node.Name }

	stopped := time.Now()
	if err := cp.StopKwok(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the next tests need kwok, whatever happens here
		if err := cp.StartKwok(); err != nil && !strings.Contains(err.Error(), "runs already") {
			t.Errorf("starting kwok again: %v", err)
		}
	})
	var fired event.Event
	controlplane.Eventually(t, timeout, func(context.Context) error {
		got := r.sink.matching(about)
		if len(got) == 0 {
			return fmt.Errorf("no node-not-ready yet; NodeStates says %+v", r.nodes.State(node.Name))
		}
		fired = got[0]
		return nil
	})
	t.Logf("node-not-ready fired %s after kwok stopped (node monitor grace %s, source grace %s): %s: %s",
		time.Since(stopped).Round(time.Second), controlplane.DefaultNodeMonitorGracePeriod, grace, fired.Reason, fired.Message)
	if fired.Resolves() || fired.Namespace != "" || fired.ResourceKind != "Node" || fired.Node != node.Name || fired.Reason != "NodeStatusUnknown" {
		t.Fatalf("node-not-ready = %+v, want a cluster-wide firing about Node %s for NodeStatusUnknown", fired, node.Name)
	}
	if since, err := time.Parse(time.RFC3339, fired.Metadata["notReadySince"]); err != nil || time.Since(since) < grace {
		t.Errorf("node-not-ready fired with notReadySince %q (%v), want at least %s ago", fired.Metadata["notReadySince"], err, grace)
	}
	if s := r.nodes.State(node.Name); !s.Known || s.Ready || s.Reason != "NodeStatusUnknown" || s.Since.IsZero() {
		t.Fatalf("NodeStates says %+v while the node is Unknown", s)
	}

	restarted := time.Now()
	if err := cp.StartKwok(); err != nil {
		t.Fatal(err)
	}
	controlplane.Eventually(t, timeout, func(context.Context) error {
		got := r.sink.matching(about)
		if last := got[len(got)-1]; last.Resolution != event.Recovered {
			return fmt.Errorf("the last of %d node-not-ready events is %s (%s), want recovered", len(got), last.Reason, last.Resolution)
		}
		return nil
	})
	t.Logf("node-not-ready resolved %s after kwok started", time.Since(restarted).Round(time.Second))
	if s := r.nodes.State(node.Name); !s.Known || !s.Ready {
		t.Fatalf("NodeStates says %+v once the node is Ready again", s)
	}
	for _, e := range r.sink.matching(about) {
		if e.Resolves() && e.Resolution != event.Recovered {
			t.Errorf("node-not-ready resolved as %s, want only recovered", e.Resolution)
		}
	}
}

// A node deleted while not ready resolves its node-not-ready as deleted, and NodeStates forgets
// it. (kwok's Nodes are deleted only by the test: no cloud node controller runs.)
func TestANodeDeletedWhileNotReadyResolvesAsDeleted(t *testing.T) {
	cp.ReportOnFailure(t)
	node, err := cp.CreateNode(context.Background(), "doomed-node")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.IgnoreNotFound(cp.Client().Delete(context.Background(), node)) })
	ns := cp.Namespace(t)
	r := startSource(t, ns, map[string]any{"nodeNotReadyGracePeriod": "1s", "eventTypes": []any{"NodeNotReady"}})
	if err := cp.StopKwok(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.StartKwok(); err != nil && !strings.Contains(err.Error(), "runs already") {
			t.Errorf("starting kwok again: %v", err)
		}
	})
	about := func(e event.Event) bool { return e.Type == event.NodeNotReady && e.ResourceName == node.Name }
	controlplane.Eventually(t, timeout, func(context.Context) error {
		if got := r.sink.matching(about); len(got) == 0 {
			return errors.New("no node-not-ready yet")
		}
		return nil
	})
	if err := cp.Client().Delete(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	controlplane.Eventually(t, timeout, func(context.Context) error {
		got := r.sink.matching(about)
		if last := got[len(got)-1]; last.Resolution != event.Deleted {
			return fmt.Errorf("the last node-not-ready is %s (%s), want deleted", last.Reason, last.Resolution)
		}
		if s := r.nodes.State(node.Name); s.Known {
			return fmt.Errorf("NodeStates still knows the deleted node: %+v", s)
		}
		return nil
	})
}
