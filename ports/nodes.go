package ports

import "time"

// NodeState is what khook knows of a Node's readiness.
type NodeState struct {
	Known           bool      // the Node exists in the cache
	Ready           bool      // its Ready condition is True
	Since           time.Time // when Ready last changed (lastTransitionTime)
	Reason, Message string
}

// Nodes reports Nodes' readiness from the cluster's current state.
type Nodes interface{ State(name string) NodeState }
