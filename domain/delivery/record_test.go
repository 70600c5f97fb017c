package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
)

func TestTheMessageIDOfAFiringIsStableAcrossVersions(t *testing.T) {
	f := Firing{Hook: hook.Ref{Namespace: "apps", Name: "h"}, HookUID: "uid-1", FirstSeen: time.Unix(1764000000, 0),
		Key: incident.Key{Type: event.PodRestart, Subject: incident.Subject{Kind: "Pod", Namespace: "apps", Name: "web-1"}}}
	agent := hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}
	tests := []struct {
		name string
		f    Firing
		want string
	}{
		{"a firing without a fingerprint", f, "uid-1|apps/h|pod-restart/apps/web-1|kagent/k8s-agent|1764000000"},
		{"a firing with a fingerprint", func() Firing { g := f; g.Key.Subject.Fingerprint = "abc"; return g }(), "uid-1|apps/h|pod-restart/apps/web-1@abc|kagent/k8s-agent|1764000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(tt.want))
			if got, want := MessageID(tt.f, agent), hex.EncodeToString(sum[:16]); got != want {
				t.Fatalf("MessageID = %s, want %s (of %q): a ledger written by an older khook names its messages so", got, want, tt.want)
			}
		})
	}
}
