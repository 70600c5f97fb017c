package pipeline

import (
	"fmt"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/ports"
)

// Inhibition says whether Pod trouble on a Node that is not ready starts investigations. A dead
// Node takes every Pod on it down: its own trouble (node-not-ready) explains theirs, so theirs
// is recorded as inhibited and investigates nothing. The zero value inhibits, with the default
// grace.
type Inhibition struct {
	// Disabled turns inhibition off: every Pod's trouble is investigated, whatever its Node.
	Disabled bool
	// Grace is how long after a Node is ready again its Pods' trouble is still inhibited: they
	// restart as it comes back (default 5m).
	Grace time.Duration
}

// DefaultInhibitionGrace is Inhibition.Grace when it is not set.
const DefaultInhibitionGrace = 5 * time.Minute

// inhibited says whether incident inc of Hook h is inhibited: each of its members that fired is
// a Pod on a Node that is not ready, or recovered from an outage less than the grace ago (a Node
// that just joined the cluster did not recover: its Pods' trouble is their own). It is asked when the
// investigation would start, so that an incident still gathering members when its Node turns
// not ready is inhibited too (Pods and Nodes reach khook in no fixed order). Members are looked
// up in the dedup store; at most incident.MaxMembers of them.
func (p *Pipeline) inhibited(h hook.Hook, inc incident.Incident) incident.Suppression {
	if p.opts.Inhibition.Disabled || p.deps.Nodes == nil {
		return incident.Suppression{}
	}
	grace := p.opts.Inhibition.Grace
	if grace <= 0 {
		grace = DefaultInhibitionGrace
	}
	now := p.deps.Clock.Now()
	var by string
	var state ports.NodeState
	for _, m := range inc.Members {
		e, ok := p.deps.Store.Get(h.Ref, m)
		if !ok {
			continue
		}
		node := e.LastEvent.Node
		if e.LastEvent.ResourceKind != "Pod" || node == "" {
			return incident.Suppression{} // not a Pod on a Node: nothing explains it away
		}
		st := p.deps.Nodes.State(node)
		if !st.Known || st.Ready && (st.RecoveredAt.IsZero() || now.Sub(st.RecoveredAt) >= grace) {
			return incident.Suppression{} // a member on a healthy Node: its trouble is its own
		}
		if by == "" {
			by, state = node, st
		}
	}
	if by == "" {
		return incident.Suppression{}
	}
	what := "is not ready"
	if state.Ready {
		what = "was not ready until " + state.RecoveredAt.UTC().Format(time.RFC3339)
	} else if !state.Since.IsZero() {
		what += " since " + state.Since.UTC().Format(time.RFC3339)
	}
	if state.Reason != "" {
		what += " (" + state.Reason + ")"
	}
	return incident.Suppression{Reason: incident.Inhibited, Message: fmt.Sprintf("node %s %s", by, what)}
}

// noteInhibited lists the members of an incident inhibited by a Node on the Node's own incident
// (node-not-ready), when Hook h has one open: that investigation names the Pods it took down.
func (p *Pipeline) noteInhibited(h hook.Hook, inc incident.Incident) {
	if inc.Suppressed.Reason != incident.Inhibited {
		return
	}
	for _, m := range inc.Members {
		e, ok := p.deps.Store.Get(h.Ref, m)
		if !ok || e.LastEvent.Node == "" {
			continue
		}
		node := incident.Key{Type: event.NodeNotReady, Subject: incident.Subject{Kind: "Node", Name: e.LastEvent.Node}}
		if cur, ok := p.incidents.Get(h.Ref, node); ok && !cur.Resolved && p.incidents.Note(h.Ref, node, m) {
			p.markInvestigation(h.Ref, node)
		}
	}
}
