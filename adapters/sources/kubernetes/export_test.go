package kubernetes

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/khook-dev/khook/domain/event"
)

// DeletedPod is deletedPod, the informer's deletion unwrapped.
var DeletedPod = deletedPod

// The tracker, reached by this package's external tests (compiled only into the tests).

type Tracker = tracker

func NewTracker(p PodPolicy) *Tracker { return newTracker(p) }

func (t *tracker) PodSeen(old, pod *corev1.Pod, now time.Time) []event.Event {
	return t.podSeen(old, pod, now)
}

func (t *tracker) PodGone(pod *corev1.Pod, now time.Time) []event.Event { return t.podGone(pod, now) }

func (t *tracker) KubeEvent(ev *eventsv1.Event, pod *corev1.Pod, now time.Time) []event.Event {
	e, ok := FromEvent(ev)
	if !ok {
		return nil
	}
	return t.kubeEvent(ev, e, pod, now)
}

func (t *tracker) Scan(now time.Time) []event.Event {
	return t.scan(now, func(string) bool { return true })
}

// Following is how many pods the tracker keeps a record of.
func (t *tracker) Following() int { return len(t.pods) }

// What runs a Pod (owners.go), reached by the tests.

type Workloads = workloads

// NewWorkloads is newWorkloads with a lookup timeout of the test's choosing.
func NewWorkloads(lookup OwnerLookup, clk clock.PassiveClock, timeout time.Duration) *Workloads {
	w := newWorkloads(lookup, clk, logr.Discard())
	w.timeout = timeout
	return w
}

func (w *workloads) Of(ctx context.Context, namespace string, ref *metav1.OwnerReference) event.Workload {
	return w.of(ctx, namespace, ref)
}

// Kept is how many owners the cache holds.
func (w *workloads) Kept() int { return len(w.cache.Keys()) }

// WithWorkloads makes the tracker follow controllers up with w.
func (t *tracker) WithWorkloads(w *workloads) *tracker {
	t.workloadOf = func(ns string, ref *metav1.OwnerReference) event.Workload { return w.of(context.Background(), ns, ref) }
	return t
}

// The node tracker (nodetracker.go), reached by the tests.

type NodeTracker = nodeTracker

func NewNodeTracker(p PodPolicy) *NodeTracker { return newNodeTracker(p) }

func (t *nodeTracker) NodeSeen(node *corev1.Node, now time.Time) []event.Event {
	return t.nodeSeen(node, now)
}

func (t *nodeTracker) NodeGone(node *corev1.Node, now time.Time) []event.Event {
	return t.nodeGone(node, now)
}

func (t *nodeTracker) Scan(now time.Time) []event.Event { return t.scan(now) }

// Following is how many nodes the tracker keeps a record of.
func (t *nodeTracker) Following() int { return len(t.nodes) }

// What NodeStates' informer handlers do.
func (n *NodeStates) Seen(node *corev1.Node) { n.seen(node) }
func (n *NodeStates) Gone(node *corev1.Node) { n.gone(node) }
