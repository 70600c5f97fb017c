package kubernetes_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
)

// Nodes are cluster-scoped and shared by every test of the package: each test makes Nodes of
// its own names and deletes them.
var nodeCounter atomic.Int64

// node creates a Node (named after prefix, unique in the package) and writes its Ready
// condition, status since at; it is deleted when the test ends.
func (w *watching) node(t *testing.T, prefix string, status corev1.ConditionStatus, at time.Time) *corev1.Node {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, nodeCounter.Add(1)), Labels: map[string]string{"pool": "general"}}}
	create(t, n)
	t.Cleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(context.Background(), n)) })
	w.setReady(t, n, status, at)
	return n
}

// setReady writes node's Ready condition through the status subresource, as the kubelet or the
// node lifecycle controller does.
func (w *watching) setReady(t *testing.T, n *corev1.Node, status corev1.ConditionStatus, at time.Time) {
	t.Helper()
	reason, message := "KubeletReady", "kubelet is posting ready status"
	switch status {
	case corev1.ConditionFalse:
		reason, message = "KubeletNotReady", "container runtime network not ready"
	case corev1.ConditionUnknown:
		reason, message = "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(n), n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)},
			{Type: corev1.NodeReady, Status: status, Reason: reason, Message: message, LastHeartbeatTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)},
		}
		return k8s.Status().Update(context.Background(), n)
	})
	if err != nil {
		t.Fatalf("writing the status of node %s: %v", n.Name, err)
	}
}

func TestANodeNotReadyFiresAfterTheGraceAndResolvesWhenReadyAgain(t *testing.T) {
	w := startSource(t, newNamespace(t), nil)
	n := w.node(t, "flaky", corev1.ConditionTrue, w.clock.Now())
	w.setReady(t, n, corev1.ConditionUnknown, w.clock.Now())
	// A sentinel: a node not ready for an hour fires at once; once it is delivered, the informer
	// has handed over everything before it, so flaky was seen not ready and did not fire yet.
	sentinel := w.node(t, "sentinel", corev1.ConditionUnknown, w.clock.Now().Add(-time.Hour))
	w.waitFor(t, sentinel.Name, "node-not-ready "+sentinel.Name+" trouble: Kubelet stopped posting node status.")
	if got := w.sink.about(n.Name); len(got) != 0 {
		t.Fatalf("%s fired within its grace: %q", n.Name, got)
	}

	w.step(time.Minute)
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble: Kubelet stopped posting node status.")
	fired := w.sink.eventsAbout(n.Name)[0]
	if fired.Namespace != "" || fired.ResourceKind != "Node" || fired.Node != n.Name || fired.Reason != "NodeStatusUnknown" || !fired.Workload.IsZero() {
		t.Fatalf("node-not-ready = %+v, want a cluster-wide event about Node %s with the condition's reason", fired, n.Name)
	}

	// Still not ready a third of the window later: re-asserted, never resolved by silence.
	w.step(10 * time.Minute / 3)
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble", "node-not-ready "+n.Name+" trouble")

	w.setReady(t, n, corev1.ConditionTrue, w.clock.Now())
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble", "node-not-ready "+n.Name+" trouble",
		"node-not-ready "+n.Name+" recovered: kubelet is posting ready status")
}

func TestANodeDeletedWhileNotReadyResolvesAsDeleted(t *testing.T) {
	w := startSource(t, newNamespace(t), nil)
	n := w.node(t, "doomed", corev1.ConditionFalse, w.clock.Now().Add(-time.Hour))
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble: container runtime network not ready")
	if err := k8s.Delete(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble", "node-not-ready "+n.Name+" deleted: node deleted")
}

// The eventTypes setting leaves node-not-ready out: a Node not ready for an hour is not reported.
func TestNodeNotReadyLeftOutByTheEventTypesSettingIsNotReported(t *testing.T) {
	w := startSource(t, newNamespace(t), map[string]any{"eventTypes": []any{"PodRestart"}})
	n := w.node(t, "ignored", corev1.ConditionUnknown, w.clock.Now().Add(-time.Hour))
	sentinel := w.pod(t, "sentinel", "node-1", crashLooping(2, w.clock.Now()))
	w.waitFor(t, sentinel.Name, "pod-restart sentinel trouble")
	w.step(time.Hour) // a scan
	w.pod(t, "sentinel-2", "node-1", crashLooping(2, w.clock.Now()))
	w.waitFor(t, "sentinel-2", "pod-restart sentinel-2 trouble")
	if got := w.sink.about(n.Name); len(got) != 0 {
		t.Fatalf("node-not-ready was reported though the setting leaves it out: %q", got)
	}
}

// Node events have no namespace: the pipeline's index gives them to the Hooks of the cluster
// event namespaces only, never to a tenant's.
func TestNodeNotReadyReachesTheHooksOfTheClusterEventNamespacesOnly(t *testing.T) {
	w := startSource(t, newNamespace(t), nil)
	n := w.node(t, "lost", corev1.ConditionUnknown, w.clock.Now().Add(-time.Hour))
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble")
	e := w.sink.eventsAbout(n.Name)[0]
	index := matching.NewIndex("khook-system")
	for _, ns := range []string{"khook-system", "team-a"} {
		index.Upsert(hook.Hook{Ref: hook.Ref{Namespace: ns, Name: "nodes"}, Configurations: []hook.Configuration{
			{EventType: event.NodeNotReady, Agent: hook.AgentRef{Namespace: ns, Name: "k8s-agent"}, Prompt: "{{.ResourceName}}"}}})
	}
	m := index.Match(e)
	if m == nil || len(m.Targets) != 1 || m.Targets[0].Hook.Namespace != "khook-system" {
		t.Fatalf("node-not-ready matched %+v, want the Hook of khook-system only", m)
	}
}
