package ports

import "time"

// NodeState is what khook knows of a Node's readiness.
type NodeState struct {
	Known bool      // the Node exists in the cache
	Ready bool      // its Ready condition is True
	Since time.Time // when Ready last changed (lastTransitionTime)
	// RecoveredAt is when the Node, Ready now, became Ready again after khook saw it Ready and
	// then not ready: the end of an outage. It is zero for a Node khook never saw fail (a Node
	// that just registered became Ready, but did not recover; and after a restart khook knows
	// of no earlier outage).
	RecoveredAt time.Time
	// Reason and Message are the Ready condition's (such as "NodeStatusUnknown", "Kubelet
	// stopped posting node status."), bounded like an event's reason and message.
	Reason, Message string
}

// Nodes reports Nodes' readiness from the cluster's current state. State never blocks and
// makes no API call: a Node khook has not seen (or that is gone) is not Known. A Known Node
// without a Ready condition yet (just registered) is not Ready, with a zero Since. It is safe
// for concurrent use.
type Nodes interface {
	State(name string) NodeState
}
