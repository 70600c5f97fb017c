package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/status"
)

func allowList(t *testing.T, rule, value string) *hook.AllowList {
	t.Helper()
	l, err := hook.ParseAllowList(rule, value)
	if err != nil {
		t.Fatal(err)
	}
	return &l
}

func TestUpsertHookRefusesAgentReferencesThatNameNoAgent(t *testing.T) {
	f := newFixture(t, pipeline.Options{})
	h := newHook("apps", "escape",
		onRestart(hook.AgentRef{Namespace: "kagent", Name: "../../../../admin"}, "x"),
		hook.Configuration{EventType: event.PodRestart, Agent: hook.AgentRef{Namespace: "..", Name: "admin"}, Prompt: "x", AgentField: hook.AgentFieldID},
		onRestart(agentA, "fine"),
	)
	c := f.p.UpsertHook(context.Background(), h)
	if c.Status || c.Reason != status.ReasonInvalidAgent {
		t.Fatalf("Accepted = %+v, want False with reason %s", c, status.ReasonInvalidAgent)
	}
	for _, want := range []string{
		`spec.eventConfigurations[0].agentRef.name: agent name "../../../../admin" is not a DNS-1123 subdomain`,
		`spec.eventConfigurations[1].agentId: agent namespace ".." is not a DNS-1123 label`,
	} {
		if !strings.Contains(c.Message, want) {
			t.Fatalf("Accepted message = %q\nwant it to contain %q", c.Message, want)
		}
	}
	f.handle(restart)
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[a: fine]" {
		t.Fatalf("prompts sent = %q, want only the valid configuration's", got)
	}
}

func TestUpsertHookRefusesAgentsThePolicyDoesNotAllowAndUsesTheRest(t *testing.T) {
	system := hook.AgentRef{Namespace: "kube-system", Name: "x"}
	f := newFixture(t, pipeline.Options{AgentPolicy: hook.AgentPolicy{Allowed: allowList(t, "--allowed-agent-namespaces", "kagent")}})
	h := newHook("apps", "mixed", onRestart(system, "sneaky"), onRestart(agentA, "fine"))
	c := f.p.UpsertHook(context.Background(), h)
	want := "spec.eventConfigurations[0].agentRef: agent kube-system/x is not allowed for namespace apps: --allowed-agent-namespaces allows kagent"
	if c.Status || c.Reason != status.ReasonAgentNotAllowed || c.Message != want {
		t.Fatalf("Accepted = %+v\nwant False, %s, %q", c, status.ReasonAgentNotAllowed, want)
	}
	f.handle(restart)
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[a: fine]" {
		t.Fatalf("prompts sent = %q, want only the allowed agent's", got)
	}
}

func TestANamespacesListIsAppliedAgainWhenItChanges(t *testing.T) {
	own := hook.AgentRef{Namespace: "apps", Name: "helper"}
	f := newFixture(t, pipeline.Options{})
	h := newHook("apps", "h", onRestart(agentA, "to a"), onRestart(own, "to helper"))
	h.AllowedAgentNamespaces = allowList(t, "namespace apps's annotation kagent.dev/allowed-agent-namespaces", "@self")

	c := f.p.UpsertHook(context.Background(), h)
	want := "spec.eventConfigurations[0].agentRef: agent kagent/a is not allowed for namespace apps: namespace apps's annotation kagent.dev/allowed-agent-namespaces allows @self"
	if c.Status || c.Reason != status.ReasonAgentNotAllowed || c.Message != want {
		t.Fatalf("Accepted = %+v\nwant False, %q", c, want)
	}
	f.handle(restart)
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[helper: to helper]" {
		t.Fatalf("prompts sent = %q, want only the Hook's own namespace's agent", got)
	}

	// The admin removes the annotation: the same generation of the Hook, loaded again, calls
	// both agents, and the agent now allowed is told of the firing under way.
	h.AllowedAgentNamespaces = nil
	if c := f.p.UpsertHook(context.Background(), h); !c.Status {
		t.Fatalf("Accepted = %+v, want True once the namespace allows every agent", c)
	}
	f.p.Wait()
	if got := prompts(f.agent.Calls("send", hook.AgentRef{})); fmt.Sprint(got) != "[a: to a helper: to helper]" {
		t.Fatalf("prompts sent = %q, want agent a told of the firing under way", got)
	}
}
