package portstest_test

import (
	"testing"
	"time"

	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

func TestTheFakeNodesSayWhatTheTestSet(t *testing.T) {
	since := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		do   func(n *portstest.Nodes)
		want ports.NodeState
	}{
		{"a node never set is not known", func(*portstest.Nodes) {}, ports.NodeState{}},
		{"a ready node", func(n *portstest.Nodes) { n.Ready("node-1", since) },
			ports.NodeState{Known: true, Ready: true, Since: since, Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
		{"a node not ready", func(n *portstest.Nodes) {
			n.NotReady("node-1", since, "NodeStatusUnknown", "Kubelet stopped posting node status.")
		},
			ports.NodeState{Known: true, Since: since, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}},
		{"a node set without Known is known", func(n *portstest.Nodes) { n.Set("node-1", ports.NodeState{Ready: true}) },
			ports.NodeState{Known: true, Ready: true}},
		{"a deleted node is not known", func(n *portstest.Nodes) { n.Ready("node-1", since); n.Delete("node-1") }, ports.NodeState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n portstest.Nodes
			tt.do(&n)
			if got := n.State("node-1"); got != tt.want {
				t.Fatalf("State = %+v, want %+v", got, tt.want)
			}
		})
	}
}
