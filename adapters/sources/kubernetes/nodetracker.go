package kubernetes

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/khook-dev/khook/domain/event"
)

// nodeTracker remembers the Nodes that are not ready, and what was reported about them, and
// turns NodeReadyLevel into what to send: node-not-ready fires once a Node has been not ready
// for the grace, is re-asserted every PodPolicy.Reassert while it stays so (so that silence
// never resolves it), and is resolved when the Node is Ready again or gone. Ready Nodes cost
// nothing. Like the pod tracker, it is used by the source's loop only.
type nodeTracker struct {
	policy PodPolicy
	nodes  map[string]*nodeRecord
}

type nodeRecord struct {
	uid  types.UID
	node *corev1.Node // the latest seen
	// since is when the tracker first saw the Node not ready in this spell.
	since time.Time
	// sent is the trouble reported and not resolved (nil: none).
	sent *report
}

func newNodeTracker(p PodPolicy) *nodeTracker {
	return &nodeTracker{policy: p.withDefaults(), nodes: map[string]*nodeRecord{}}
}

// nodeSeen handles a Node listed, created or changed.
func (t *nodeTracker) nodeSeen(node *corev1.Node, now time.Time) []event.Event {
	var out []event.Event
	rec := t.nodes[node.Name]
	if rec != nil && rec.uid != node.UID {
		// The Node we knew was replaced by another of the same name without us seeing it go.
		out = t.nodeGone(rec.node, now)
		rec = nil
	}
	if rec == nil {
		if !notReady(node) {
			return out
		}
		rec = &nodeRecord{since: now}
		t.nodes[node.Name] = rec
	}
	rec.uid, rec.node = node.UID, node
	return append(out, t.evaluate(rec, now)...)
}

// evaluate applies NodeReadyLevel to rec's Node; a Node Ready again is forgotten.
func (t *nodeTracker) evaluate(rec *nodeRecord, now time.Time) []event.Event {
	l, e := NodeReadyLevel(rec.node, rec.since, now, t.policy.NodeGrace)
	r := rec.sent
	switch {
	case l == Troubled:
		if r == nil || now.Sub(r.sentAt) >= t.policy.Reassert() {
			rec.sent = &report{last: e, sentAt: now, seenAt: now, level: true}
			return []event.Event{e}
		}
		r.last, r.seenAt = e, now
	case l == Waiting:
		if r != nil && now.Sub(r.sentAt) >= t.policy.Reassert() {
			r.sentAt = now
			r.last.Labels = event.KnownLabels(rec.node.Labels) // as the Node has them now
			return []event.Event{r.last}
		}
	default: // Clear: Ready again
		delete(t.nodes, rec.node.Name)
		if r != nil {
			return []event.Event{e}
		}
	}
	return nil
}

// nodeGone resolves, as deleted, node-not-ready of node (nil: nothing known), and forgets it.
func (t *nodeTracker) nodeGone(node *corev1.Node, now time.Time) []event.Event {
	if node == nil {
		return nil
	}
	rec := t.nodes[node.Name]
	if rec == nil || (node.UID != "" && rec.uid != node.UID) {
		return nil
	}
	delete(t.nodes, node.Name)
	if rec.sent == nil {
		return nil
	}
	return []event.Event{nodeDeletion(node, now)}
}

// scan re-evaluates the Nodes that are not ready: those whose grace ended fire, trouble that
// holds is re-asserted.
func (t *nodeTracker) scan(now time.Time) []event.Event {
	var out []event.Event
	for _, rec := range t.nodes {
		out = append(out, t.evaluate(rec, now)...)
	}
	return out
}
