package kubernetes

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/khook-dev/khook/domain/event"
)

// The node decision, a pure function of a Node and the time like the Pod decisions (pods.go);
// the node tracker (nodetracker.go) remembers what was reported.

// DefaultNodeNotReadyGrace: a Node whose Ready condition is False or Unknown is node-not-ready
// once it has been so for this long. The node lifecycle controller marks a Node Unknown only
// after it missed its heartbeats for 40-50s, so this is about two minutes after a node died;
// a kubelet restarting, or a network blip, is over sooner.
const DefaultNodeNotReadyGrace = time.Minute

// Reasons of the node events that are not the condition's own.
const (
	reasonNodeNotReady = "NodeNotReady" // a condition without a reason
	reasonNodeReady    = "NodeReady"
	reasonNodeDeleted  = "NodeDeleted"
)

// NodeReadyLevel says whether node is node-not-ready at now: its Ready condition False or
// Unknown since at least grace ago. The trouble began at the condition's lastTransitionTime or
// at seenSince, whichever is earlier: seenSince (zero when unknown) is when the tracker first
// saw the Node not ready in this spell, so that a Node that went from False to Unknown (a new
// lastTransitionTime) is not given a new grace. Troubled comes with the trouble event, Clear
// (Ready True) with the resolution (recovered) to send if node-not-ready was reported. A Node
// being deleted, or that has no Ready condition yet, is Waiting: nothing new fires, what fired
// stays firing until the Node is gone or Ready.
func NodeReadyLevel(node *corev1.Node, seenSince, now time.Time, grace time.Duration) (Level, event.Event) {
	if node.DeletionTimestamp != nil {
		return Waiting, event.Event{}
	}
	cond := nodeReady(node)
	switch {
	case cond == nil:
		return Waiting, event.Event{}
	case cond.Status == corev1.ConditionTrue:
		e := nodeEvent(node, cond)
		e.Reason, e.Timestamp, e.Resolution = reasonNodeReady, now, event.Recovered
		if e.Message == "" {
			e.Message = "the node is Ready again"
		}
		return Clear, e
	}
	since := cond.LastTransitionTime.Time
	if since.IsZero() || (!seenSince.IsZero() && seenSince.Before(since)) {
		since = seenSince
	}
	if since.IsZero() || now.Sub(since) < grace {
		return Waiting, event.Event{}
	}
	e := nodeEvent(node, cond)
	e.Timestamp = since
	if e.Reason == "" {
		e.Reason = reasonNodeNotReady
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("the node's Ready condition is %s", cond.Status)
	}
	e.Metadata = map[string]string{"condition": string(corev1.NodeReady), "status": string(cond.Status),
		"notReadySince": since.UTC().Format(time.RFC3339)}
	return Troubled, e
}

// notReady says whether node shows a Ready condition that is not True.
func notReady(node *corev1.Node) bool {
	cond := nodeReady(node)
	return cond != nil && cond.Status != corev1.ConditionTrue
}

// nodeReady returns node's Ready condition, nil when it has none.
func nodeReady(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// nodeEvent is the start of every event about node: the Node is the resource, cluster-wide (no
// namespace: it reaches the Hooks of the cluster event namespaces), and its own node; its labels
// (the cache's map, shared); the condition's reason and message.
func nodeEvent(node *corev1.Node, cond *corev1.NodeCondition) event.Event {
	return event.Event{
		Type: event.NodeNotReady, ResourceKind: "Node", ResourceName: node.Name, Node: node.Name, Source: SourceName,
		Reason: cond.Reason, Message: cond.Message, Labels: event.KnownLabels(node.Labels),
	}
}

// nodeDeletion is the event that ends node-not-ready on node because it is gone.
func nodeDeletion(node *corev1.Node, now time.Time) event.Event {
	return event.Event{
		Type: event.NodeNotReady, ResourceKind: "Node", ResourceName: node.Name, Node: node.Name, Source: SourceName,
		Reason: reasonNodeDeleted, Message: "node deleted", Timestamp: now, Resolution: event.Deleted,
		Labels: event.KnownLabels(node.Labels),
	}
}
