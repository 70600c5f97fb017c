package portstest

import (
	"sync"
	"time"

	"github.com/khook-dev/khook/ports"
)

// Nodes is an in-memory ports.Nodes whose Nodes a test sets; a Node never set is not Known.
type Nodes struct {
	mu     sync.RWMutex
	states map[string]ports.NodeState
}

var _ ports.Nodes = (*Nodes)(nil)

// State implements ports.Nodes.
func (n *Nodes) State(name string) ports.NodeState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.states[name]
}

// Set makes the Node name known with state s (Known is set whatever s says).
func (n *Nodes) Set(name string, s ports.NodeState) {
	s.Known = true
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.states == nil {
		n.states = map[string]ports.NodeState{}
	}
	n.states[name] = s
}

// Ready makes the Node name known and Ready since since.
func (n *Nodes) Ready(name string, since time.Time) {
	n.Set(name, ports.NodeState{Ready: true, Since: since, Reason: "KubeletReady", Message: "kubelet is posting ready status"})
}

// NotReady makes the Node name known and not Ready since since, for reason and message.
func (n *Nodes) NotReady(name string, since time.Time, reason, message string) {
	n.Set(name, ports.NodeState{Since: since, Reason: reason, Message: message})
}

// Delete forgets the Node name: it is no longer Known.
func (n *Nodes) Delete(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.states, name)
}
