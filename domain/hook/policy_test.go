package hook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/hook"
)

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    []string
		wantErr string
	}{
		{"names, blanks and empty entries", " kagent, team-a-agents,,", []string{"kagent", "team-a-agents"}, ""},
		{"the Hook's own namespace and any namespace", "@self,*", []string{"@self", "*"}, ""},
		{"an empty value allows nothing", "", nil, ""},
		{"an entry that is no namespace name is kept but named", "kagent,Team_A", []string{"kagent", "Team_A"}, `"Team_A" is neither a namespace name`},
		{"several such entries are named together", "a/b,$self", []string{"a/b", "$self"}, `"a/b", "$self" are neither namespace names`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hook.ParseAllowList("the rule", tt.value)
			if strings.Join(got.Entries, "|") != strings.Join(tt.want, "|") || got.Rule != "the rule" {
				t.Fatalf("ParseAllowList(%q) = %+v, want entries %q", tt.value, got, tt.want)
			}
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ParseAllowList(%q) error = %v, want %q", tt.value, err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "the rule: ") {
				t.Fatalf("error %q does not name the rule", err)
			}
		})
	}
}

func TestAgentPolicyCheck(t *testing.T) {
	list := func(rule, value string) *hook.AllowList {
		l, _ := hook.ParseAllowList(rule, value)
		return &l
	}
	const flag, annotation = "--allowed-agent-namespaces", "namespace team-a's annotation kagent.dev/allowed-agent-namespaces"
	kagent := hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}
	own := hook.AgentRef{Namespace: "team-a", Name: "helper"}
	system := hook.AgentRef{Namespace: "kube-system", Name: "x"}
	tests := []struct {
		name        string
		controller  *hook.AllowList
		namespace   *hook.AllowList
		agent       hook.AgentRef
		wantRefusal string // "" when allowed
	}{
		{"without any list every agent is allowed, as before", nil, nil, system, ""},
		{"the controller's list allows its namespaces", list(flag, "kagent"), nil, kagent, ""},
		{"the controller's list refuses other namespaces, naming itself",
			list(flag, "kagent"), nil, system, "agent kube-system/x is not allowed for namespace team-a: --allowed-agent-namespaces allows kagent"},
		{"@self allows the Hook's own namespace", list(flag, "@self"), nil, own, ""},
		{"@self allows no other namespace", list(flag, "@self"), nil, kagent, "--allowed-agent-namespaces allows @self"},
		{"* allows every namespace", list(flag, "*"), nil, system, ""},
		{"the namespace's list narrows what the controller allows",
			list(flag, "kagent,team-a"), list(annotation, "@self"), kagent, "agent kagent/k8s-agent is not allowed for namespace team-a: " + annotation + " allows @self"},
		{"the namespace's list cannot widen what the controller allows",
			list(flag, "kagent"), list(annotation, "kube-system"), system, "--allowed-agent-namespaces allows kagent"},
		{"an agent both lists allow is allowed", list(flag, "kagent,team-a"), list(annotation, "kagent"), kagent, ""},
		{"the namespace's list applies without a controller list", nil, list(annotation, "kagent"), system, annotation + " allows kagent"},
		{"an empty namespace list allows no agent", nil, list(annotation, ""), kagent, annotation + " allows no namespace"},
		{"an entry that is no namespace name matches nothing", nil, list(annotation, "Kagent"), kagent, annotation + " allows Kagent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hook.Hook{Ref: hook.Ref{Namespace: "team-a", Name: "h"}, AllowedAgentNamespaces: tt.namespace}
			err := hook.AgentPolicy{Allowed: tt.controller}.Check(h, tt.agent)
			if tt.wantRefusal == "" {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			var refused *hook.NotAllowedError
			if !errors.As(err, &refused) || !errors.Is(err, hook.ErrAgentNotAllowed) || !strings.Contains(err.Error(), tt.wantRefusal) {
				t.Fatalf("Check = %v, want a *NotAllowedError saying %q", err, tt.wantRefusal)
			}
		})
	}
}

func TestARefusalListsABoundedNumberOfEntries(t *testing.T) {
	l, _ := hook.ParseAllowList("r", strings.Repeat("ns,", 500)+strings.Repeat("x", 5000))
	if s := l.String(); len(s) > 200 || !strings.HasSuffix(s, "and 491 more") {
		t.Fatalf("String() = %q (%d bytes)", s, len(s))
	}
}
