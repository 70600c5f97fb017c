package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

func TestNodeStatesSayWhatTheInformerLastSaw(t *testing.T) {
	long := strings.Repeat("é", event.MaxMessageBytes)
	tests := []struct {
		name string
		do   func(n *kubernetes.NodeStates)
		want ports.NodeState
	}{
		{"a node never seen is not known", func(*kubernetes.NodeStates) {}, ports.NodeState{}},
		{"a Ready node is known and ready, since its condition's transition", func(n *kubernetes.NodeStates) { n.Seen(newNode()) },
			ports.NodeState{Known: true, Ready: true, Since: t0.Add(-time.Hour), Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
		{"a node Unknown is known and not ready, with the condition's reason and message", func(n *kubernetes.NodeStates) { n.Seen(newNode(unknownSince(t0))) },
			ports.NodeState{Known: true, Since: t0, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}},
		{"a node False is not ready", func(n *kubernetes.NodeStates) { n.Seen(newNode(notReadySince(t0))) },
			ports.NodeState{Known: true, Since: t0, Reason: "KubeletNotReady", Message: "container runtime is down"}},
		{"a node without a Ready condition is known and not ready", func(n *kubernetes.NodeStates) {
			n.Seen(newNode(func(n *corev1.Node) { n.Status.Conditions = nil }))
		}, ports.NodeState{Known: true}},
		{"the latest state counts", func(n *kubernetes.NodeStates) {
			n.Seen(newNode(unknownSince(t0)))
			n.Seen(newNode(readySince(t0.Add(time.Minute))))
		},
			ports.NodeState{Known: true, Ready: true, Since: t0.Add(time.Minute), Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
		{"a node Ready, then not, then Ready again recovered when it became Ready again", func(n *kubernetes.NodeStates) {
			n.Seen(newNode())
			n.Seen(newNode(unknownSince(t0)))
			n.Seen(newNode(readySince(t0.Add(time.Minute))))
			n.Seen(newNode(readySince(t0.Add(time.Minute)))) // a later heartbeat keeps it
		},
			ports.NodeState{Known: true, Ready: true, Since: t0.Add(time.Minute), RecoveredAt: t0.Add(time.Minute), Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
		{"a node that registers not ready, then turns Ready, did not recover", func(n *kubernetes.NodeStates) {
			n.Seen(newNode(func(n *corev1.Node) { n.Status.Conditions = nil }))
			n.Seen(newNode(notReadySince(t0)))
			n.Seen(newNode(readySince(t0.Add(time.Minute))))
		},
			ports.NodeState{Known: true, Ready: true, Since: t0.Add(time.Minute), Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
		{"a deleted node is not known", func(n *kubernetes.NodeStates) { n.Seen(newNode()); n.Gone(newNode()) }, ports.NodeState{}},
		{"the deletion of an earlier node of the same name leaves the later one", func(n *kubernetes.NodeStates) {
			n.Seen(newNode(unknownSince(t0)))
			n.Gone(newNode(nodeUID("uid-node-1-before")))
		}, ports.NodeState{Known: true, Since: t0, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}},
		{"a message longer than an event's is cut", func(n *kubernetes.NodeStates) {
			n.Seen(newNode(readyIs(corev1.ConditionFalse, "KubeletNotReady", long, t0)))
		}, ports.NodeState{Known: true, Since: t0, Reason: "KubeletNotReady", Message: long[:event.MaxMessageBytes]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &kubernetes.NodeStates{}
			tt.do(n)
			if got := n.State("node-1"); got != tt.want {
				t.Fatalf("State = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// NodeStates follows the real Node informer: what a Node's status says reaches State, and a
// deleted Node is no longer known.
func TestNodeStatesFollowTheNodesOfTheCluster(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, err := cache.New(restConfig, cache.Options{Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields(), ByObject: kubernetes.CacheByObject()})
	if err != nil {
		t.Fatal(err)
	}
	cacheDone := make(chan error, 1)
	go func() { cacheDone <- c.Start(ctx) }()
	w := &watching{}
	before := w.node(t, "listed", corev1.ConditionFalse, t0) // there before NodeStates starts
	states := &kubernetes.NodeStates{Cache: c, Log: testr.New(t)}
	statesDone := make(chan error, 1)
	go func() { statesDone <- states.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		for what, done := range map[string]chan error{"NodeStates": statesDone, "the cache": cacheDone} {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s stopped with %v", what, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop after its context ended", what)
			}
		}
	})
	eventually(t, "NodeStates synced", func() error {
		if !states.Synced() {
			return errors.New("not synced")
		}
		return nil
	})
	if s := states.State(before.Name); !s.Known || s.Ready || s.Reason != "KubeletNotReady" || !s.Since.Equal(t0) {
		t.Fatalf("once synced, the node listed is %+v, want known and not ready since %s", s, t0)
	}
	stateIs := func(name string, want func(ports.NodeState) bool) {
		t.Helper()
		eventually(t, "the state of "+name, func() error {
			if s := states.State(name); !want(s) {
				return fmt.Errorf("state %+v", s)
			}
			return nil
		})
	}
	n := w.node(t, "followed", corev1.ConditionTrue, t0)
	stateIs(n.Name, func(s ports.NodeState) bool { return s.Known && s.Ready })
	w.setReady(t, n, corev1.ConditionUnknown, t0.Add(time.Minute))
	stateIs(n.Name, func(s ports.NodeState) bool {
		return s.Known && !s.Ready && s.Reason == "NodeStatusUnknown" && s.Since.Equal(t0.Add(time.Minute))
	})
	if err := k8s.Delete(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	stateIs(n.Name, func(s ports.NodeState) bool { return !s.Known })
	if err := client.IgnoreNotFound(k8s.Delete(context.Background(), before)); err != nil {
		t.Fatal(err)
	}
	stateIs(before.Name, func(s ports.NodeState) bool { return !s.Known })
}
