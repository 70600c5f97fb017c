package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// NodeStates is ports.Nodes from the manager's Node informer (the Nodes CacheByObject reduces):
// a handler keeps each Node's readiness in a map that State reads under a read lock, so a
// question never blocks on the API server or the informer. It is a manager.Runnable that needs
// no leader (app adds it): every replica keeps it current, so that a new leader knows the Nodes
// at once. Until the informer has handed over its first listing (Synced), Nodes not yet handed
// over are not Known. It needs get, list and watch on nodes, like node-not-ready.
type NodeStates struct {
	Cache cache.Cache
	Log   logr.Logger

	mu     sync.RWMutex
	states map[string]nodeState
	synced atomic.Bool
}

// nodeState is a Node's readiness, the UID it belongs to, and whether khook saw it Ready.
type nodeState struct {
	uid      types.UID
	state    ports.NodeState
	wasReady bool // seen Ready at least once: a later Ready after not ready is a recovery
}

var (
	_ ports.Nodes      = (*NodeStates)(nil)
	_ manager.Runnable = (*NodeStates)(nil)
)

// State implements ports.Nodes.
func (n *NodeStates) State(name string) ports.NodeState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.states[name].state
}

// Synced says whether the Nodes of the informer's first listing have all been handed over.
func (n *NodeStates) Synced() bool { return n.synced.Load() }

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica keeps it.
func (n *NodeStates) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it follows the Node informer until ctx is done.
func (n *NodeStates) Start(ctx context.Context) error {
	nodes, err := n.Cache.GetInformer(ctx, &corev1.Node{})
	if err != nil {
		return fmt.Errorf("node states: getting the nodes informer: %w", err)
	}
	reg, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				n.seen(node)
			}
		},
		UpdateFunc: func(_, obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				n.seen(node)
			}
		},
		DeleteFunc: func(obj any) {
			if node, ok := deletedNode(obj); ok {
				n.gone(node)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("node states: watching nodes: %w", err)
	}
	defer func() { _ = nodes.RemoveEventHandler(reg) }()
	if !toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil // ctx is done
	}
	n.synced.Store(true)
	n.Log.V(1).Info("node states known", "nodes", n.count())
	<-ctx.Done()
	return nil
}

// seen records node's readiness.
func (n *NodeStates) seen(node *corev1.Node) {
	s := nodeState{uid: node.UID, state: ports.NodeState{Known: true}}
	if c := nodeReady(node); c != nil {
		s.state.Ready = c.Status == corev1.ConditionTrue
		s.state.Since = c.LastTransitionTime.Time
		s.state.Reason, s.state.Message = cut(c.Reason, event.MaxTextBytes), cut(c.Message, event.MaxMessageBytes)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.states == nil {
		n.states = map[string]nodeState{}
	}
	if prev, ok := n.states[node.Name]; ok && prev.uid == node.UID {
		s.wasReady = prev.wasReady
		switch {
		case s.state.Ready && prev.state.Ready:
			s.state.RecoveredAt = prev.state.RecoveredAt
		case s.state.Ready && prev.wasReady: // Ready, then not, then Ready again: an outage ended
			s.state.RecoveredAt = s.state.Since
		}
	}
	s.wasReady = s.wasReady || s.state.Ready
	n.states[node.Name] = s
}

// gone forgets node, unless what is known under its name is another Node (a later one of the
// same name).
func (n *NodeStates) gone(node *corev1.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.states[node.Name]; ok && (node.UID == "" || s.uid == node.UID) {
		delete(n.states, node.Name)
	}
}

func (n *NodeStates) count() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.states)
}

// cut returns s cut to at most limit bytes on a UTF-8 boundary, as a copy when it was cut.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return string([]byte(s[:limit]))
}
