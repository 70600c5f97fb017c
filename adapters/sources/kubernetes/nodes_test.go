package kubernetes_test

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

const nodeGrace = time.Minute

var nodePolicy = kubernetes.PodPolicy{PendingGrace: grace, RestartRecovery: recovery, NodeGrace: nodeGrace, Window: window}

// nodeOption changes a fixture node.
type nodeOption func(*corev1.Node)

// newNode is the Node node-1, Ready since t0 an hour ago, changed by opts.
func newNode(opts ...nodeOption) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "uid-node-1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", Message: "kubelet is posting ready status", LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// readyIs sets the Ready condition's status, reason and message since at.
func readyIs(status corev1.ConditionStatus, reason, message string, at time.Time) nodeOption {
	return func(n *corev1.Node) {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: reason, Message: message,
			LastTransitionTime: metav1.NewTime(at)}}
	}
}

func unknownSince(at time.Time) nodeOption {
	return readyIs(corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.", at)
}

func notReadySince(at time.Time) nodeOption {
	return readyIs(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down", at)
}

func readySince(at time.Time) nodeOption {
	return readyIs(corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status", at)
}

func nodeDeleting(at time.Time) nodeOption {
	return func(n *corev1.Node) { n.DeletionTimestamp = ptr.To(metav1.NewTime(at)) }
}

func nodeUID(uid string) nodeOption { return func(n *corev1.Node) { n.UID = types.UID(uid) } }

func TestNodeReadyLevel(t *testing.T) {
	tests := []struct {
		name        string
		node        *corev1.Node
		seenSince   time.Time
		after       time.Duration // how long after t0 the node is looked at
		want        kubernetes.Level
		wantReason  string
		wantMessage string
	}{
		{"a Ready node is clear", newNode(), time.Time{}, 0, kubernetes.Clear, "NodeReady", "kubelet is posting ready status"},
		{"a node Unknown for less than the grace is not trouble yet", newNode(unknownSince(t0)), time.Time{}, nodeGrace - time.Second, kubernetes.Waiting, "", ""},
		{"a node Unknown for the grace is node-not-ready, with the condition's reason and message",
			newNode(unknownSince(t0)), time.Time{}, nodeGrace, kubernetes.Troubled, "NodeStatusUnknown", "Kubelet stopped posting node status."},
		{"a node False for the grace is node-not-ready", newNode(notReadySince(t0)), time.Time{}, nodeGrace, kubernetes.Troubled, "KubeletNotReady", "container runtime is down"},
		{"a node that went from False to Unknown keeps the time it was first seen not ready",
			newNode(unknownSince(t0.Add(30 * time.Second))), t0, nodeGrace, kubernetes.Troubled, "NodeStatusUnknown", "Kubelet stopped posting node status."},
		{"a condition older than what was seen counts from the condition",
			newNode(notReadySince(t0)), t0.Add(30 * time.Second), nodeGrace, kubernetes.Troubled, "KubeletNotReady", "container runtime is down"},
		{"a condition without a time counts from when it was seen",
			newNode(readyIs(corev1.ConditionFalse, "", "", time.Time{})), t0, nodeGrace, kubernetes.Troubled, "NodeNotReady", "the node's Ready condition is False"},
		{"a condition without a time, never seen before, is not trouble yet",
			newNode(readyIs(corev1.ConditionFalse, "", "", time.Time{})), time.Time{}, time.Hour, kubernetes.Waiting, "", ""},
		{"a node without a Ready condition is not known to be in trouble",
			newNode(func(n *corev1.Node) { n.Status.Conditions = nil }), time.Time{}, time.Hour, kubernetes.Waiting, "", ""},
		{"a node being deleted fires nothing new", newNode(unknownSince(t0), nodeDeleting(t0)), time.Time{}, time.Hour, kubernetes.Waiting, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.after)
			got, e := kubernetes.NodeReadyLevel(tt.node, tt.seenSince, now, nodeGrace)
			if got != tt.want {
				t.Fatalf("level = %s, want %s", got, tt.want)
			}
			if tt.want == kubernetes.Waiting {
				return
			}
			if e.Type != event.NodeNotReady || e.ResourceKind != "Node" || e.ResourceName != "node-1" || e.Namespace != "" ||
				e.Node != "node-1" || !e.Workload.IsZero() || e.Source != "kubernetes" {
				t.Fatalf("event = %+v, want node-not-ready of Node node-1, cluster-wide", e)
			}
			if e.Reason != tt.wantReason || e.Message != tt.wantMessage {
				t.Fatalf("reason %q, message %q; want %q, %q", e.Reason, e.Message, tt.wantReason, tt.wantMessage)
			}
			if (tt.want == kubernetes.Clear) != e.Resolves() {
				t.Fatalf("resolution %q at level %s", e.Resolution, got)
			}
		})
	}
}

// nodeSummary is "<type> <node> <trouble|recovered|deleted>: <reason>".
func nodeSummary(e event.Event) string {
	kind := "trouble"
	if e.Resolves() {
		kind = string(e.Resolution)
	}
	return string(e.Type) + " " + e.ResourceName + " " + kind + ": " + e.Reason
}

type nodeStep struct {
	at   time.Duration
	do   func(tr *kubernetes.NodeTracker, now time.Time) []event.Event
	want []string
}

func nodeSeen(n *corev1.Node) func(*kubernetes.NodeTracker, time.Time) []event.Event {
	return func(tr *kubernetes.NodeTracker, now time.Time) []event.Event { return tr.NodeSeen(n, now) }
}

func nodeGone(n *corev1.Node) func(*kubernetes.NodeTracker, time.Time) []event.Event {
	return func(tr *kubernetes.NodeTracker, now time.Time) []event.Event { return tr.NodeGone(n, now) }
}

func nodeScan() func(*kubernetes.NodeTracker, time.Time) []event.Event {
	return func(tr *kubernetes.NodeTracker, now time.Time) []event.Event { return tr.Scan(now) }
}

func TestTheNodeTrackerFiresAfterTheGraceReassertsAndResolves(t *testing.T) {
	tests := []struct {
		name  string
		steps []nodeStep
	}{
		{"a node not ready fires after the grace and resolves when Ready again", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace - time.Second, nodeScan(), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble: NodeStatusUnknown"}},
			{nodeGrace + time.Second, nodeScan(), nil},
			{2 * nodeGrace, nodeSeen(newNode(readySince(t0.Add(2 * nodeGrace)))), []string{"node-not-ready node-1 recovered: NodeReady"}},
			{3 * nodeGrace, nodeScan(), nil},
		}},
		{"a node not ready is re-asserted every third of the window while it stays so", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{nodeGrace + window/3 - time.Second, nodeScan(), nil},
			{nodeGrace + window/3, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{nodeGrace + 2*window/3, nodeScan(), []string{"node-not-ready node-1 trouble"}},
		}},
		{"a node deleted while not ready resolves as deleted", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{2 * nodeGrace, nodeGone(newNode(unknownSince(t0))), []string{"node-not-ready node-1 deleted: NodeDeleted"}},
			{window, nodeScan(), nil},
		}},
		{"a node deleted before the grace resolves nothing, for nothing fired", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace / 2, nodeGone(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), nil},
		}},
		{"a node that flaps within the grace never fires", []nodeStep{
			{0, nodeSeen(newNode(notReadySince(t0))), nil},
			{40 * time.Second, nodeSeen(newNode(readySince(t0.Add(40 * time.Second)))), nil},
			{50 * time.Second, nodeSeen(newNode(notReadySince(t0.Add(50 * time.Second)))), nil},
			{nodeGrace + 10*time.Second, nodeScan(), nil},
			{80 * time.Second, nodeSeen(newNode(readySince(t0.Add(80 * time.Second)))), nil},
			{10 * nodeGrace, nodeScan(), nil},
		}},
		{"a node that flaps after firing resolves, and fires again after a new grace", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{2 * nodeGrace, nodeSeen(newNode(readySince(t0.Add(2 * nodeGrace)))), []string{"node-not-ready node-1 recovered"}},
			{2*nodeGrace + time.Second, nodeSeen(newNode(unknownSince(t0.Add(2*nodeGrace + time.Second)))), nil},
			{3 * nodeGrace, nodeScan(), nil},
			{3*nodeGrace + time.Second, nodeScan(), []string{"node-not-ready node-1 trouble"}},
		}},
		{"a node that went from False to Unknown is not given a new grace", []nodeStep{
			{0, nodeSeen(newNode(notReadySince(t0))), nil},
			{40 * time.Second, nodeSeen(newNode(unknownSince(t0.Add(40 * time.Second)))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble: NodeStatusUnknown"}},
		}},
		{"a node listed not ready for an hour fires at once", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0.Add(-time.Hour)))), []string{"node-not-ready node-1 trouble"}},
		}},
		{"a node replaced by another of the same name resolves the old one's trouble", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{2 * nodeGrace, nodeSeen(newNode(nodeUID("uid-node-1-again"), readySince(t0.Add(2*nodeGrace)))), []string{"node-not-ready node-1 deleted"}},
		}},
		{"the deletion of an earlier node of the same name resolves nothing", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{2 * nodeGrace, nodeGone(newNode(nodeUID("uid-node-1-before"))), nil},
			{2*nodeGrace + time.Second, nodeGone(newNode()), []string{"node-not-ready node-1 deleted"}},
		}},
		{"a node being deleted stays firing until it is gone", []nodeStep{
			{0, nodeSeen(newNode(unknownSince(t0))), nil},
			{nodeGrace, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{2 * nodeGrace, nodeSeen(newNode(unknownSince(t0), nodeDeleting(t0.Add(2*nodeGrace)))), nil},
			{nodeGrace + window/3, nodeScan(), []string{"node-not-ready node-1 trouble"}},
			{nodeGrace + window/2, nodeGone(newNode(unknownSince(t0))), []string{"node-not-ready node-1 deleted"}},
		}},
		{"a Ready node costs nothing", []nodeStep{
			{0, nodeSeen(newNode()), nil},
			{window, nodeScan(), nil},
			{window, nodeGone(newNode()), nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := kubernetes.NewNodeTracker(nodePolicy)
			for i, s := range tt.steps {
				var got []string
				for _, e := range s.do(tr, t0.Add(s.at)) {
					got = append(got, nodeSummary(e))
				}
				if !matchPrefixes(got, s.want) {
					t.Fatalf("step %d (at +%s): sent %q\nwant %q", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTheNodeTrackerForgetsNodesReadyAgainOrGone(t *testing.T) {
	tr := kubernetes.NewNodeTracker(nodePolicy)
	tr.NodeSeen(newNode(unknownSince(t0)), t0)
	tr.NodeSeen(newNode(func(n *corev1.Node) { n.Name, n.UID = "node-2", "uid-node-2" }, notReadySince(t0)), t0)
	tr.NodeSeen(newNode(func(n *corev1.Node) { n.Name, n.UID = "node-3", "uid-node-3" }), t0)
	if n := tr.Following(); n != 2 {
		t.Fatalf("following %d nodes, want the 2 not ready", n)
	}
	tr.NodeSeen(newNode(readySince(t0)), t0.Add(time.Second))
	tr.NodeGone(newNode(func(n *corev1.Node) { n.Name, n.UID = "node-2", "uid-node-2" }), t0.Add(time.Second))
	if n := tr.Following(); n != 0 {
		t.Fatalf("following %d nodes, want none", n)
	}
}

func transformedNode(t *testing.T, node *corev1.Node) *corev1.Node {
	t.Helper()
	out, err := kubernetes.TransformNode(node.DeepCopy())
	if err != nil {
		t.Fatalf("TransformNode: %v", err)
	}
	return out.(*corev1.Node)
}

func TestTransformNodeKeepsWhatKhookReadsAndDropsTheRest(t *testing.T) {
	node := realisticNode(7, corev1.ConditionUnknown, t0)
	node.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	slim := transformedNode(t, node)
	ready := func(n *corev1.Node) corev1.NodeCondition {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c
			}
		}
		return corev1.NodeCondition{}
	}
	kept := []struct {
		name string
		read func(*corev1.Node) any
	}{
		{"the name, UID and resource version survive", func(n *corev1.Node) any { return []any{n.Name, n.UID, n.ResourceVersion} }},
		{"the labels survive", func(n *corev1.Node) any { return n.Labels }},
		{"the deletion time survives", func(n *corev1.Node) any { return n.DeletionTimestamp }},
		{"the Ready condition's status, reason, message and transition time survive", func(n *corev1.Node) any {
			c := ready(n)
			return []any{c.Status, c.Reason, c.Message, c.LastTransitionTime}
		}},
	}
	for _, tt := range kept {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.read(node)
			if allZero(want) {
				t.Fatalf("the fixture does not show it: %#v", want)
			}
			if have := tt.read(slim); !equality.Semantic.DeepEqual(have, want) {
				t.Fatalf("after the transform: %#v\nwant %#v", have, want)
			}
		})
	}
	dropped := []struct {
		name string
		read func(*corev1.Node) any
	}{
		{"managed fields, annotations and the creation time go", func(n *corev1.Node) any { return []any{n.ManagedFields, n.Annotations, n.CreationTimestamp} }},
		{"the spec goes", func(n *corev1.Node) any { return n.Spec }},
		{"the other conditions go", func(n *corev1.Node) any { return len(n.Status.Conditions) - 1 }},
		{"the Ready condition's heartbeat goes", func(n *corev1.Node) any { return ready(n).LastHeartbeatTime }},
		{"images, addresses, capacity and node info go", func(n *corev1.Node) any {
			s := n.Status
			return []any{s.Images, s.Addresses, s.Capacity, s.Allocatable, s.NodeInfo}
		}},
	}
	for _, tt := range dropped {
		t.Run(tt.name, func(t *testing.T) {
			if before := tt.read(node); allZero(before) {
				t.Fatalf("the fixture does not show it: %#v", before)
			}
			if after := tt.read(slim); !allZero(after) {
				t.Fatalf("after the transform: %#v, want nothing", after)
			}
		})
	}
}

func TestTransformNodeIsIdempotentAndToleratesWhatItDoesNotReduce(t *testing.T) {
	once := transformedNode(t, realisticNode(3, corev1.ConditionFalse, t0))
	if twice := transformedNode(t, once); !equality.Semantic.DeepEqual(twice, once) {
		t.Fatalf("transformed twice: %#v\nonce: %#v", twice, once)
	}
	tomb := toolscache.DeletedFinalStateUnknown{Key: "node-3", Obj: realisticNode(3, corev1.ConditionFalse, t0)}
	out, err := kubernetes.TransformNode(tomb)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.(toolscache.DeletedFinalStateUnknown).Obj.(*corev1.Node); !ok || n.Status.Images != nil || n.UID == "" {
		t.Fatalf("the tombstone's node is %#v, want it reduced", out)
	}
	if out, err := kubernetes.TransformNode((*corev1.Node)(nil)); err != nil || out.(*corev1.Node) != nil {
		t.Fatalf("a nil node gave %#v, %v", out, err)
	}
	pod := everythingReadPod()
	out, err = kubernetes.TransformNode(pod)
	if err != nil || out.(*corev1.Pod).ManagedFields != nil || out.(*corev1.Pod).Labels == nil {
		t.Fatalf("a Pod given to the Node transform: %v; want only its managed fields gone", err)
	}
}

// The node decision reads the same from a transformed Node as from a full one.
func TestTheNodeDecisionReadsTheSameFromTransformedNodes(t *testing.T) {
	for _, status := range []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown} {
		t.Run(string(status), func(t *testing.T) {
			node := realisticNode(1, status, t0)
			slim := transformedNode(t, node)
			for _, after := range []time.Duration{0, nodeGrace, time.Hour} {
				now := t0.Add(after)
				full, reduced := pair(kubernetes.NodeReadyLevel(node, time.Time{}, now, nodeGrace)), pair(kubernetes.NodeReadyLevel(slim, time.Time{}, now, nodeGrace))
				if !reflect.DeepEqual(full, reduced) {
					t.Fatalf("NodeReadyLevel differs on the transformed node:\nfull:    %#v\nreduced: %#v", full, reduced)
				}
			}
		})
	}
}
