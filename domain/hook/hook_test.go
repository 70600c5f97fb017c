package hook_test

import (
	"reflect"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

func TestParseAgentID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		want    hook.AgentRef
		wantErr bool
	}{
		{"a bare name lives in the hook's namespace", "k8s-agent", hook.AgentRef{Namespace: "apps", Name: "k8s-agent"}, false},
		{"namespace/name names both", "kagent/k8s-agent", hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}, false},
		{"an empty id is refused", "", hook.AgentRef{}, true},
		{"a missing name is refused", "kagent/", hook.AgentRef{}, true},
		{"three parts are refused", "a/b/c", hook.AgentRef{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hook.ParseAgentID(tt.id, "apps")
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseAgentID(%q) error = %v, want error: %v", tt.id, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("ParseAgentID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestEventTypesAreDistinctAndInSpecOrder(t *testing.T) {
	h := hook.Hook{Configurations: []hook.Configuration{
		{EventType: event.OOMKill}, {EventType: event.PodRestart}, {EventType: event.OOMKill},
	}}
	if got, want := h.EventTypes(), []event.Type{event.OOMKill, event.PodRestart}; !reflect.DeepEqual(got, want) {
		t.Fatalf("EventTypes() = %v, want %v", got, want)
	}
	if got := len(h.ConfigurationsFor(event.OOMKill)); got != 2 {
		t.Fatalf("ConfigurationsFor(oom-kill) has %d configurations, want 2", got)
	}
}
