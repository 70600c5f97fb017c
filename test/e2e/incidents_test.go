package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/test/controlplane"
)

// incidentPrompt names what the investigation is about, so the test can read it back.
const incidentPrompt = "{{.Subject.Kind}} {{.Subject.Name}} ({{.ResourceCount}} pods:{{range .Resources}} {{.}}{{end}}): {{.Reason}}"

// deployment is a Deployment of replicas Pods labelled app=name on node, with behaviour (see
// controlplane.BehaviourLabel; "" runs them), or pinned to a node that does not exist when node
// is "".
func deployment(ns, name, node, behaviour string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	if behaviour != "" {
		labels[controlplane.BehaviourLabel] = behaviour
	}
	selector := map[string]string{corev1.LabelHostname: node}
	if node == "" {
		selector[corev1.LabelHostname] = "no-such-node"
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: selector,
					Containers:   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				},
			},
		},
	}
}

// A Deployment whose replicas are in trouble together is one incident: one investigation about
// the Deployment, naming its Pods, and one message to the agent, whatever each Pod does after.
func TestADeploymentsReplicasInTroubleAreOneInvestigationOfTheDeployment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		eventType string
		behaviour string
		scheduled bool
	}{
		{"crash-looping replicas are one pod-restart investigation", "pod-restart", controlplane.CrashLoop, true},
		{"OOM-killed replicas are one oom-kill investigation", "oom-kill", controlplane.OOMKill, true},
		{"replicas no node can take are one pod-pending investigation", "pod-pending", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp.ReportOnFailure(t)
			ns := cp.Namespace(t)
			node := ""
			if tc.scheduled {
				node = cp.AddNode(t, "incident-node-"+tc.eventType).Name
			}
			agent := startAgent(t)
			startKhook(t, khookOptions(agent.URL, cp.Namespace(t), map[string]any{"pendingGracePeriod": "2s"}))
			createHook(t, hookFor(ns, "trouble", "k8s-agent", incidentPrompt, tc.eventType))
			if err := cp.Client().Create(context.Background(), deployment(ns, "checkout", node, tc.behaviour, 3)); err != nil {
				t.Fatal(err)
			}

			var inv v1alpha2.Investigation
			controlplane.Eventually(t, timeout, func(ctx context.Context) error {
				all, err := investigations(ctx, ns)
				if err != nil {
					return err
				}
				if len(all) != 1 {
					return fmt.Errorf("%d investigations, want 1", len(all))
				}
				inv = all[0]
				if inv.Status.MemberCount != 3 {
					return fmt.Errorf("investigation %s has %d members (%v), want the 3 Pods", inv.Name, inv.Status.MemberCount, inv.Status.Members)
				}
				if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
					return fmt.Errorf("the agent received %d messages, want 1", n)
				}
				return nil
			})
			if s := inv.Spec.Subject; s.Kind != "Deployment" || s.Name != "checkout" || s.Namespace != ns || inv.Spec.EventType != tc.eventType {
				t.Fatalf("investigation %s is about %s %+v, want %s of Deployment %s/checkout", inv.Name, inv.Spec.EventType, s, tc.eventType, ns)
			}
			pods, err := podsOf(context.Background(), ns)
			if err != nil {
				t.Fatal(err)
			}
			text := agent.ReceivedBy("kagent/k8s-agent")[0].Text
			if !strings.HasPrefix(text, "Deployment checkout (") {
				t.Fatalf("the agent was told %q, want a prompt about Deployment checkout", text)
			}
			for _, p := range pods {
				if !slices.Contains(inv.Status.Members, ns+"/"+p.Name) && !slices.Contains(inv.Status.Members, p.Name) {
					t.Errorf("Pod %s is not among the investigation's members %v", p.Name, inv.Status.Members)
				}
			}

			// The Pods stay in trouble (restart again, stay pending): a pod of the same
			// Deployment created now joins the incident; still one message.
			if err := scale(ns, "checkout", 4); err != nil {
				t.Fatal(err)
			}
			controlplane.Eventually(t, timeout, func(ctx context.Context) error {
				all, err := investigations(ctx, ns)
				if err != nil {
					return err
				}
				if len(all) != 1 || all[0].Status.MemberCount != 4 {
					return fmt.Errorf("%d investigations (%v), want 1 with the 4th Pod as a member", len(all), memberCounts(all))
				}
				return nil
			})
			if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
				t.Fatalf("the agent received %d messages once a 4th replica joined, want still 1", n)
			}
			t.Logf("one investigation %s about Deployment %s/checkout, members %v: %q", inv.Name, ns, inv.Status.Members, text)
		})
	}
}

// scale sets Deployment ns/name's replicas.
func scale(ns, name string, replicas int32) error {
	ctx := context.Background()
	var d appsv1.Deployment
	if err := cp.Client().Get(ctx, clientKey(ns, name), &d); err != nil {
		return err
	}
	d.Spec.Replicas = ptr.To(replicas)
	return cp.Client().Update(ctx, &d)
}

func memberCounts(all []v1alpha2.Investigation) []string {
	out := make([]string, 0, len(all))
	for _, inv := range all {
		out = append(out, fmt.Sprintf("%s: %d", inv.Spec.Subject.Name, inv.Status.MemberCount))
	}
	return out
}

// A node whose kubelet stops is one node-not-ready investigation (in the cluster event
// namespace's Hook), and the trouble of the Pods on it, reported while it is down, is recorded as
// inhibited by the node in the tenant's Hook, not investigated. The node's return resolves its
// investigation.
func TestADeadNodeIsOneInvestigationAndThePodTroubleItCausesIsInhibited(t *testing.T) {
	cp.ReportOnFailure(t)
	node := cp.AddNode(t, "dying-node")
	ns, clusterNS := cp.Namespace(t), cp.Namespace(t)
	agent := startAgent(t)
	startKhook(t, khookOptions(agent.URL, clusterNS, map[string]any{"nodeNotReadyGracePeriod": "5s"}))
	createHook(t, hookFor(clusterNS, "nodes", "node-agent", "Node {{.ResourceName}} is not ready: {{.Reason}}", "node-not-ready"))
	tenant := hookFor(ns, "pods", "app-agent", incidentPrompt, "pod-restart")
	tenant.Spec.EventConfigurations[0].GroupWait = &metav1.Duration{}
	createHook(t, tenant)
	if err := cp.Client().Create(context.Background(), deployment(ns, "web", node.Name, "", 2)); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		var err error
		if pods, err = podsOf(ctx, ns); err != nil {
			return err
		}
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if running != 2 {
			return fmt.Errorf("%d of %d pods running, want 2", running, len(pods))
		}
		return nil
	})

	if err := cp.StopKwok(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the next tests need kwok, whatever happens here
		if err := cp.StartKwok(); err != nil && !strings.Contains(err.Error(), "runs already") {
			t.Errorf("starting kwok again: %v", err)
		}
	})
	var nodeInv v1alpha2.Investigation
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		all, err := investigations(ctx, clusterNS)
		if err != nil {
			return err
		}
		if len(all) != 1 {
			return fmt.Errorf("%d investigations in the cluster event namespace, want the node's", len(all))
		}
		nodeInv = all[0]
		if n := len(agent.ReceivedBy("kagent/node-agent")); n != 1 {
			return fmt.Errorf("the node agent received %d messages, want 1", n)
		}
		return nil
	})
	if s := nodeInv.Spec.Subject; s.Kind != "Node" || s.Name != node.Name || nodeInv.Spec.EventType != "node-not-ready" {
		t.Fatalf("the cluster's investigation is about %s %+v, want node-not-ready of Node %s", nodeInv.Spec.EventType, s, node.Name)
	}

	// The kubelet is gone, so nothing reports the Pods' trouble; the test writes what a kubelet
	// coming back with crashing containers would, while the Node still is not ready.
	for _, p := range pods {
		if err := cp.Client().Create(context.Background(), backOffEvent(ns, p.Name, node.Name)); err != nil {
			t.Fatal(err)
		}
	}
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		all, err := investigations(ctx, ns)
		if err != nil {
			return err
		}
		if len(all) != 1 {
			return fmt.Errorf("%d investigations in the tenant's namespace, want 1 for Deployment web", len(all))
		}
		inv := all[0]
		if inv.Status.Phase != "suppressed" || inv.Status.Reason != "inhibited" || inv.Status.MemberCount != 2 {
			return fmt.Errorf("the tenant's investigation is %s (%s: %s) with %d members, want suppressed as inhibited with both Pods",
				inv.Status.Phase, inv.Status.Reason, inv.Status.Message, inv.Status.MemberCount)
		}
		if !strings.Contains(inv.Status.Message, node.Name) {
			return fmt.Errorf("the suppression says %q, want it to name node %s", inv.Status.Message, node.Name)
		}
		return nil
	})
	if n := len(agent.ReceivedBy("kagent/app-agent")); n != 0 {
		t.Fatalf("the tenant's agent received %d messages about Pods of a dead node, want none", n)
	}

	if err := cp.StartKwok(); err != nil {
		t.Fatal(err)
	}
	controlplane.Eventually(t, timeout, func(ctx context.Context) error {
		all, err := investigations(ctx, clusterNS)
		if err != nil {
			return err
		}
		if len(all) != 1 || all[0].Status.ResolvedAt == nil {
			return fmt.Errorf("the node's investigation is not resolved yet (%d investigations)", len(all))
		}
		return nil
	})
	if n := len(agent.ReceivedBy("kagent/node-agent")); n != 1 {
		t.Fatalf("the node agent received %d messages, want still 1", n)
	}
}

// backOffEvent is the Event a kubelet on node writes when pod's container keeps crashing.
func backOffEvent(ns, pod, node string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ns, GenerateName: pod + "-"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "kubelet",
		ReportingInstance:   node,
		Action:              "Restarting",
		Reason:              "BackOff",
		Note:                "Back-off restarting failed container app in pod " + pod,
		Type:                corev1.EventTypeWarning,
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, APIVersion: "v1"},
	}
}
