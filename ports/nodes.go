package ports

import "time"

// NodeState is what khook knows of a Node's readiness.
type NodeState struct {
	Known bool      // the Node exists in the cache
	Ready bool      // its Ready condition is True
	Since time.Time // when Ready last changed (lastTransitionTime)
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
