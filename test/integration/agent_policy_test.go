package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/test/echoagent"
)

// agentHook is a Hook with one pod-restart configuration per agent; an agent is an agentRef
// ("namespace/name", or "name" for the Hook's namespace) or, prefixed "id:", an agentId.
func agentHook(ns, name string, agents ...string) *v1alpha2.Hook {
	h := &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, a := range agents {
		c := v1alpha2.EventConfiguration{EventType: "pod-restart", Prompt: restartPrompt, GroupWait: noWait()}
		if id, ok := strings.CutPrefix(a, "id:"); ok {
			c.AgentID = id
		} else if agentNS, agentName, ok := strings.Cut(a, "/"); ok {
			c.AgentRef = &v1alpha2.AgentReference{Namespace: agentNS, Name: agentName}
		} else {
			c.AgentRef = &v1alpha2.AgentReference{Name: a}
		}
		h.Spec.EventConfigurations = append(h.Spec.EventConfigurations, c)
	}
	return h
}

func TestAgentReferencesThatAreNotKubernetesNamesAreRefusedAtAdmission(t *testing.T) {
	ns := newNamespace(t)
	ref := func(agentNS, name string) *v1alpha2.Hook {
		h := newHook(ns, "h", "x", "x", "pod-restart")
		h.Spec.EventConfigurations[0].AgentRef = &v1alpha2.AgentReference{Namespace: agentNS, Name: name}
		return h
	}
	id := func(agentID string) *v1alpha2.Hook {
		h := newHook(ns, "h", "x", "x", "pod-restart")
		h.Spec.EventConfigurations[0].AgentRef, h.Spec.EventConfigurations[0].AgentID = nil, agentID
		return h
	}
	tests := []struct {
		name   string
		hook   *v1alpha2.Hook
		expect string // "" when the API server accepts it
	}{
		{"a name climbing out of the agent's path", ref("kagent", "../../admin"), `spec.eventConfigurations[0].agentRef.name: Invalid value: "../../admin"`},
		{"a name that is kagent/../../admin", ref("", "kagent/../../admin"), `spec.eventConfigurations[0].agentRef.name: Invalid value: "kagent/../../admin"`},
		{"a namespace that is ..", ref("..", "admin"), `spec.eventConfigurations[0].agentRef.namespace: Invalid value: ".."`},
		{"a name with a leading dot", ref("kagent", ".agent"), `spec.eventConfigurations[0].agentRef.name: Invalid value: ".agent"`},
		{"a name with upper case", ref("kagent", "K8s-Agent"), `spec.eventConfigurations[0].agentRef.name: Invalid value: "K8s-Agent"`},
		{"a namespace with a dot", ref("team.a", "agent"), `spec.eventConfigurations[0].agentRef.namespace: Invalid value: "team.a"`},
		{"a namespace longer than 63 characters", ref(strings.Repeat("n", 64), "agent"), `spec.eventConfigurations[0].agentRef.namespace: Too long: may not be more than 63`},
		{"a name longer than 253 characters", ref("kagent", strings.Repeat("a", 254)), `spec.eventConfigurations[0].agentRef.name: Too long: may not be more than 253`},
		{"an agentId with .. segments", id("kagent/../../admin"), `spec.eventConfigurations[0].agentId: Invalid value: "kagent/../../admin"`},
		{"an agentId that is ..", id(".."), `spec.eventConfigurations[0].agentId: Invalid value: ".."`},
		{"an agentId with a leading dot", id("kagent/.agent"), `spec.eventConfigurations[0].agentId: Invalid value: "kagent/.agent"`},
		{"an agentId with two dots in a row", id("kagent/a..b"), `spec.eventConfigurations[0].agentId: Invalid value: "kagent/a..b"`},
		{"an agentId whose namespace is longer than 63 characters", id(strings.Repeat("n", 64) + "/a"), `spec.eventConfigurations[0].agentId: Invalid value:`},

		{"a name with dots is a Kubernetes name", ref("kagent", "k8s.agent-v2"), ""},
		{"an agentRef without a namespace is the Hook's", ref("", "helper"), ""},
		{"an agentId with a dotted name is a Kubernetes name", id("kagent/k8s.agent-v2"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tt.hook, client.DryRunAll)
			if tt.expect == "" {
				if err != nil {
					t.Fatalf("the API server refused a valid reference: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.expect) {
				t.Fatalf("Create error = %v\nwant it to contain %q", err, tt.expect)
			}
		})
	}
}

// waitAcceptedSays waits until Hook name's Accepted condition is False with reason
// AgentNotAllowed and message want, or True when want is "".
func waitAcceptedSays(t *testing.T, ns, name, want string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		for _, c := range hookStatus(t, ns, name).Conditions {
			if c.Type != "Accepted" {
				continue
			}
			if want == "" {
				if c.Status != metav1.ConditionTrue {
					return fmt.Errorf("Accepted = %s %s: %s, want True", c.Status, c.Reason, c.Message)
				}
				return nil
			}
			if c.Status != metav1.ConditionFalse || c.Reason != "AgentNotAllowed" || c.Message != want {
				return fmt.Errorf("Accepted = %s %s: %q\nwant False AgentNotAllowed: %q", c.Status, c.Reason, c.Message, want)
			}
			return nil
		}
		return fmt.Errorf("no Accepted condition yet")
	})
}

func annotateNamespace(t *testing.T, ns string, value *string) {
	t.Helper()
	var n corev1.Namespace
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(n.Annotations, kubernetes.AllowedAgentNamespacesAnnotation)
	} else {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[kubernetes.AllowedAgentNamespacesAnnotation] = *value
	}
	if err := k8s.Update(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
}

func TestAConfigurationCallingAnAgentThePolicyDoesNotAllowIsRefusedNamingTheRuleAndTheOthersWork(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	opts := fastOptions(agent.URL)
	opts.AllowedAgentNamespaces = []string{"kagent", "@self"}
	startKhook(t, opts)
	own := ns + "/helper"

	// [0] is allowed (kagent), [1] is not (kube-system), [2] is the Hook's own namespace (@self).
	create(t, agentHook(ns, "restarts", "kagent/k8s-agent", "kube-system/x", "helper"))
	byFlag := "spec.eventConfigurations[1].agentRef: agent kube-system/x is not allowed for namespace " + ns + ": --allowed-agent-namespaces allows kagent, @self"
	waitAcceptedSays(t, ns, "restarts", byFlag)
	create(t, backOffEvent(ns, "web-1"))
	received(t, agent, "kagent/k8s-agent", 1)
	received(t, agent, own, 1)
	if got := agent.ReceivedBy("kube-system/x"); len(got) != 0 {
		t.Fatalf("the refused agent received %d messages", len(got))
	}

	// The platform admin narrows the namespace to its own agents: kagent is refused too, by the
	// annotation, and the Hook's own agent keeps working.
	annotateNamespace(t, ns, ptr.To("@self"))
	byAnnotation := "spec.eventConfigurations[0].agentRef: agent kagent/k8s-agent is not allowed for namespace " + ns + ": namespace " + ns +
		"'s annotation kagent.dev/allowed-agent-namespaces allows @self; " + byFlag
	waitAcceptedSays(t, ns, "restarts", byAnnotation)
	sendSentinel(t, agent, own, ns, "web-2")
	if n := receivedFor(agent, "kagent/k8s-agent", "web-2"); n != 0 {
		t.Fatalf("kagent/k8s-agent was told of web-2 after the namespace stopped allowing it")
	}
	if got := auditReasons(t, ns, "restarts"); !contains(got, "HookNotAccepted") {
		t.Fatalf("audit trail = %v, want HookNotAccepted", got)
	}

	// The annotation removed, the flag's rule alone applies again.
	annotateNamespace(t, ns, nil)
	waitAcceptedSays(t, ns, "restarts", byFlag)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestTheChartsAdmissionPolicyRefusesAHookCallingAnAgentKhookWouldRefuse(t *testing.T) {
	selected := fmt.Sprintf("t%d", time.Now().UnixNano())
	objs, err := helmTemplateArgs(t, "--set", "agentPolicy.admission.enabled=true",
		"--set", "agentPolicy.allowedAgentNamespaces={kagent,@self}",
		"--set-string", "agentPolicy.admission.namespaceSelector.matchLabels.khook-agent-policy-test="+selected)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var applied []*unstructured.Unstructured
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		obj := find(objs, kind)
		if obj == nil {
			t.Fatalf("the chart with agentPolicy.admission.enabled renders no %s: %v", kind, kindsOf(objs))
		}
		if err := k8s.Create(context.Background(), obj); err != nil {
			t.Fatalf("the API server refuses the chart's %s: %v", kind, err)
		}
		applied = append(applied, obj)
	}
	t.Cleanup(func() {
		for _, obj := range applied {
			if err := k8s.Delete(context.Background(), obj); err != nil {
				t.Errorf("deleting %s: %v", obj.GetKind(), err)
			}
		}
	})

	// Namespaces the binding selects: one without the annotation, one narrowed to its own
	// agents; and one it does not select.
	labelled := func(annotation *string) string {
		t.Helper()
		ns := newNamespace(t)
		var n corev1.Namespace
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
			t.Fatal(err)
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels["khook-agent-policy-test"] = selected
		if annotation != nil {
			n.Annotations = map[string]string{kubernetes.AllowedAgentNamespacesAnnotation: *annotation}
		}
		if err := k8s.Update(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return ns
	}
	plain, narrowed, unselected := labelled(nil), labelled(ptr.To("@self")), newNamespace(t)
	closed, spaced := labelled(ptr.To("")), labelled(ptr.To(" kagent ,, "))

	// The policy takes effect once the API server has loaded it: until then a Hook it refuses
	// is still admitted. Probe with a dry run until it is refused, with a generous deadline.
	eventually(t, 90*time.Second, func() error {
		if err := k8s.Create(context.Background(), agentHook(plain, "probe", "kube-system/x"), client.DryRunAll); err == nil {
			return fmt.Errorf("the admission policy is not in force yet")
		}
		return nil
	})

	policy := hook.AgentPolicy{Allowed: &hook.AllowList{Rule: app.AllowedAgentNamespacesRule, Entries: []string{"kagent", "@self"}}}
	tests := []struct {
		name    string
		ns      string
		agents  []string
		refused bool
	}{
		{"an agent in an allowed namespace is admitted", plain, []string{"kagent/k8s-agent"}, false},
		{"an agent in another namespace is refused by the flag's list", plain, []string{"kagent/k8s-agent", "kube-system/x"}, true},
		{"an agentId in another namespace is refused too", plain, []string{"id:kube-system/x"}, true},
		{"the Hook's own namespace is @self, by agentRef or agentId", plain, []string{"helper", "id:helper", "id:" + plain + "/helper"}, false},
		{"a namespace's annotation narrows the flag's list", narrowed, []string{"helper", "kagent/k8s-agent"}, true},
		{"a namespace's annotation allows the Hook's own agents", narrowed, []string{"helper", narrowed + "/other"}, false},
		{"a namespace the binding does not select is not checked", unselected, []string{"kube-system/x"}, false},
		{"an empty annotation allows no agent", closed, []string{"kagent/k8s-agent"}, true},
		{"blanks and empty entries of the annotation are dropped", spaced, []string{"kagent/k8s-agent"}, false},
		{"an annotation's entries are all it allows", spaced, []string{"kagent/k8s-agent", "helper"}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := agentHook(tt.ns, fmt.Sprintf("h%d", i), tt.agents...)
			err := k8s.Create(context.Background(), h)
			if !tt.refused {
				if err != nil {
					t.Fatalf("the admission policy refused an allowed Hook: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the admission policy admitted a Hook khook refuses")
			}
			// The same rule and the same words as khook's Accepted condition.
			want := khookRefusal(t, h, policy)
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("Create error = %v\nwant it to contain khook's refusal %q", err, want)
			}
		})
	}

	t.Run("changing an admitted Hook to call a refused agent is refused", func(t *testing.T) {
		h := agentHook(plain, "edited", "kagent/k8s-agent")
		create(t, h)
		h.Spec.EventConfigurations[0].AgentRef.Namespace = "kube-system"
		if err := k8s.Update(context.Background(), h); err == nil || !strings.Contains(err.Error(), "agent kube-system/k8s-agent is not allowed") {
			t.Fatalf("Update error = %v, want the admission policy's refusal", err)
		}
	})
}

// khookRefusal is the first refusal khook's own policy gives h, as its Accepted condition words
// it (field: message).
func khookRefusal(t *testing.T, h *v1alpha2.Hook, policy hook.AgentPolicy) string {
	t.Helper()
	var n corev1.Namespace
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: h.Namespace}, &n); err != nil {
		t.Fatal(err)
	}
	d := kubernetes.ToDomain(h)
	d.AllowedAgentNamespaces, _ = kubernetes.AllowedAgentNamespacesOf(h.Namespace, n.Annotations)
	for i, c := range d.Configurations {
		if err := policy.Check(d, c.Agent); err != nil {
			return fmt.Sprintf("spec.eventConfigurations[%d].%s: %s", i, c.AgentPath(err), err)
		}
	}
	t.Fatalf("khook's policy allows %s; the test expects a refusal", h.Name)
	return ""
}
