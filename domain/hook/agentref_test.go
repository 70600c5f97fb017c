package hook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/hook"
)

func TestAgentRefValidateAcceptsOnlyKubernetesObjectNames(t *testing.T) {
	tests := []struct {
		name     string
		ref      hook.AgentRef
		wantPart string // "" when valid
		wantWhy  string
	}{
		{"a plain name in a plain namespace is valid", hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}, "", ""},
		{"a name with dots (a DNS-1123 subdomain) is valid", hook.AgentRef{Namespace: "kagent", Name: "k8s.agent-v2"}, "", ""},
		{"a one-character name and namespace are valid", hook.AgentRef{Namespace: "a", Name: "b"}, "", ""},
		{"a 253-character name is valid", hook.AgentRef{Namespace: "kagent", Name: strings.Repeat("a", 253)}, "", ""},
		{"a 63-character namespace is valid", hook.AgentRef{Namespace: strings.Repeat("n", 63), Name: "a"}, "", ""},
		{"a name climbing out of the agent's path is refused", hook.AgentRef{Namespace: "kagent", Name: "../../../../admin"}, "name", "DNS-1123 subdomain"},
		{"a namespace climbing out of the agent's path is refused", hook.AgentRef{Namespace: "..", Name: "admin"}, "namespace", "DNS-1123 label"},
		{"a dot-dot name is refused", hook.AgentRef{Namespace: "kagent", Name: ".."}, "name", "DNS-1123 subdomain"},
		{"a leading dot is refused", hook.AgentRef{Namespace: "kagent", Name: ".agent"}, "name", "DNS-1123 subdomain"},
		{"two dots in a row are refused", hook.AgentRef{Namespace: "kagent", Name: "a..b"}, "name", "DNS-1123 subdomain"},
		{"a slash in the name is refused", hook.AgentRef{Namespace: "kagent", Name: "a/b"}, "name", "DNS-1123 subdomain"},
		{"an escaped slash in the name is refused", hook.AgentRef{Namespace: "kagent", Name: "a%2fb"}, "name", "DNS-1123 subdomain"},
		{"a query in the name is refused", hook.AgentRef{Namespace: "kagent", Name: "a?x=1"}, "name", "DNS-1123 subdomain"},
		{"upper case is refused", hook.AgentRef{Namespace: "kagent", Name: "Agent"}, "name", "DNS-1123 subdomain"},
		{"a trailing dash is refused", hook.AgentRef{Namespace: "kagent", Name: "agent-"}, "name", "DNS-1123 subdomain"},
		{"a dot in the namespace is refused", hook.AgentRef{Namespace: "team.a", Name: "agent"}, "namespace", "DNS-1123 label"},
		{"a 254-character name is refused", hook.AgentRef{Namespace: "kagent", Name: strings.Repeat("a", 254)}, "name", "longer than 253"},
		{"a 64-character namespace is refused", hook.AgentRef{Namespace: strings.Repeat("n", 64), Name: "a"}, "namespace", "longer than 63"},
		{"an empty name is refused", hook.AgentRef{Namespace: "kagent"}, "name", "is required"},
		{"an empty namespace is refused", hook.AgentRef{Name: "agent"}, "namespace", "is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ref.Validate()
			if tt.wantPart == "" {
				if err != nil {
					t.Fatalf("Validate(%v) = %v, want valid", tt.ref, err)
				}
				return
			}
			var invalid *hook.InvalidAgentError
			if !errors.As(err, &invalid) || !errors.Is(err, hook.ErrInvalidAgent) {
				t.Fatalf("Validate(%v) = %v, want an *InvalidAgentError", tt.ref, err)
			}
			if invalid.Part != tt.wantPart || !strings.Contains(err.Error(), tt.wantWhy) {
				t.Fatalf("Validate(%v) = %q (part %s), want part %s saying %q", tt.ref, err, invalid.Part, tt.wantPart, tt.wantWhy)
			}
		})
	}
}

func TestAnInvalidAgentErrorQuotesABoundedValue(t *testing.T) {
	err := hook.AgentRef{Namespace: "kagent", Name: strings.Repeat("A", 10000) + "\n"}.Validate()
	if err == nil || len(err.Error()) > 300 || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error = %q (%d bytes), want a short, one-line message", err, len(err.Error()))
	}
}

func TestAgentPathNamesTheFieldTheAgentWasNamedIn(t *testing.T) {
	badName := hook.AgentRef{Namespace: "kagent", Name: ".."}.Validate()
	badNamespace := hook.AgentRef{Namespace: "..", Name: "a"}.Validate()
	tests := []struct {
		name  string
		field string
		err   error
		want  string
	}{
		{"an agentRef with a bad name names agentRef.name", hook.AgentFieldRef, badName, "agentRef.name"},
		{"an agentRef with a bad namespace names agentRef.namespace", "", badNamespace, "agentRef.namespace"},
		{"an agentRef refused by a policy names agentRef", hook.AgentFieldRef, &hook.NotAllowedError{}, "agentRef"},
		{"an agentId names agentId, whatever part is wrong", hook.AgentFieldID, badNamespace, "agentId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (hook.Configuration{AgentField: tt.field}).AgentPath(tt.err); got != tt.want {
				t.Fatalf("AgentPath = %q, want %q", got, tt.want)
			}
		})
	}
}
