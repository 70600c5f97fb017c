package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/test/echoagent"
)

// volumePrompt names the subject, so that a test can tell the messages apart.
const volumePrompt = "{{.Subject.Kind}} {{.Subject.Name}}: {{.Reason}}"

// labelledPod is a Pod of ns with labels (no controller: its own subject).
func labelledPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
}

// investigations lists ns's Investigations, read from the API server.
func investigationsIn(t *testing.T, ns string) []v1alpha2.Investigation {
	t.Helper()
	var list v1alpha2.InvestigationList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing investigations: %v", err)
	}
	return list.Items
}

// bySubject indexes investigations by their subject's name.
func bySubject(all []v1alpha2.Investigation) map[string]v1alpha2.Investigation {
	out := map[string]v1alpha2.Investigation{}
	for _, inv := range all {
		out[inv.Spec.Subject.Name] = inv
	}
	return out
}

func TestASelectorLeavesOutAPodByItsLabels(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	c := startKhook(t, fastOptions(agent.URL))
	h := newHook(ns, "critical", "k8s-agent", volumePrompt, "pod-restart")
	h.Spec.EventConfigurations[0].Selector = &v1alpha2.LabelSelector{MatchLabels: map[string]v1alpha2.LabelValue{"tier": "critical"}}
	create(t, h)
	waitAccepted(t, ns, "critical")
	create(t, labelledPod(ns, "batch-1", map[string]string{"tier": "batch"}))
	create(t, labelledPod(ns, "api-1", map[string]string{"tier": "critical"}))
	create(t, labelledPod(ns, "api-2", map[string]string{"tier": "critical"}))
	eventually(t, 15*time.Second, func() error { // the Pods are in khook's cache, where it reads their labels
		return podsCached(c, ns, "batch-1", "api-1", "api-2")
	})
	create(t, backOffEvent(ns, "batch-1"))
	create(t, backOffEvent(ns, "api-1"))
	received(t, agent, "kagent/k8s-agent", 1)
	create(t, backOffEvent(ns, "api-2")) // after batch-1's, which has been handled by the time this arrives
	got := received(t, agent, "kagent/k8s-agent", 2)
	for _, r := range got {
		if strings.Contains(r.Text, "batch-1") {
			t.Fatalf("the agent was told of batch-1, which the selector leaves out: %q", r.Text)
		}
	}
	if _, ok := bySubject(investigationsIn(t, ns))["batch-1"]; ok {
		t.Fatal("batch-1 has an Investigation: a Pod the selector leaves out is not recorded at all")
	}
}

// podsCached says whether khook's own cache (the manager's, which its event source reads the
// Pods' labels from) has the Pods.
func podsCached(c *controller, ns string, names ...string) error {
	for _, n := range names {
		var p corev1.Pod
		if err := c.khook.Nodes.Cache.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n}, &p); err != nil {
			return fmt.Errorf("pod %s is not in khook's cache yet: %w", n, err)
		}
	}
	return nil
}

func TestAHooksBudgetOfTwoAnHourLetsTwoOfFiveIncidentsThroughAndRecordsThreeAsRateLimited(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	h := newHook(ns, "budget", "k8s-agent", volumePrompt, "pod-restart")
	h.Spec.Limits = &v1alpha2.HookLimits{MaxInvestigationsPerHour: ptr.To[int32](2)}
	create(t, h)
	waitAccepted(t, ns, "budget")
	for i := range 5 {
		create(t, backOffEvent(ns, fmt.Sprintf("web-%d", i)))
	}
	var limited []v1alpha2.Investigation
	eventually(t, 30*time.Second, func() error {
		all := investigationsIn(t, ns)
		limited = limited[:0]
		for _, inv := range all {
			if inv.Status.Phase == "suppressed" && inv.Status.Reason == "rate-limited" {
				limited = append(limited, inv)
			}
		}
		if len(all) != 5 || len(limited) != 3 {
			return fmt.Errorf("%d investigations, %d rate-limited; want 5 and 3", len(all), len(limited))
		}
		if s := hookStatus(t, ns, "budget"); s.Investigations == nil || s.Investigations.SuppressedBy["rate-limited"] != 3 {
			return fmt.Errorf("the Hook's status counts %+v, want 3 rate-limited", s.Investigations)
		}
		return nil
	})
	if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 2 {
		t.Fatalf("the agent was told %d times, want 2 within the budget", n)
	}
	if msg := limited[0].Status.Message; !strings.Contains(msg, "hook "+ns+"/budget: 2 an hour") {
		t.Fatalf("a rate-limited investigation says %q, want it to name the Hook's budget", msg)
	}
	if reasons := auditReasons(t, ns, "budget"); strings.Count(strings.Join(reasons, " "), "InvestigationSuppressed") != 3 {
		t.Fatalf("the Hook's Events are %v, want one InvestigationSuppressed per held incident", reasons)
	}
}

func TestASilenceHoldsAnIncidentReleasesItWhenItEndsAndLeavesOtherNamespacesAlone(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL)) // a dedup window of 1m: the trouble holds past the Silence's end
	create(t, newHook(ns, "mine", "k8s-agent", volumePrompt, "pod-restart"))
	create(t, newHook(other, "theirs", "k8s-agent", volumePrompt, "pod-restart"))
	waitAccepted(t, ns, "mine")
	waitAccepted(t, other, "theirs")
	now := time.Now()
	silence := &v1alpha2.Silence{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "maintenance"},
		Spec: v1alpha2.SilenceSpec{Matchers: v1alpha2.SilenceMatchers{EventType: "pod-restart"},
			StartsAt: metav1.NewTime(now.Add(-time.Minute)), EndsAt: metav1.NewTime(now.Add(time.Hour)), Comment: "node upgrades"}}
	create(t, silence)
	eventually(t, 15*time.Second, func() error {
		var s v1alpha2.Silence
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(silence), &s); err != nil {
			return err
		}
		for _, c := range s.Status.Conditions {
			if c.Type == "Active" && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("the Silence is not active yet: %+v", s.Status.Conditions)
	})
	create(t, backOffEvent(ns, "web-1"))
	create(t, backOffEvent(other, "db-1"))
	eventually(t, 15*time.Second, func() error {
		inv, ok := bySubject(investigationsIn(t, ns))["web-1"]
		if !ok || inv.Status.Phase != "suppressed" || inv.Status.Reason != "silenced" {
			return fmt.Errorf("web-1's investigation is %s (%s), want suppressed as silenced", inv.Status.Phase, inv.Status.Reason)
		}
		if !strings.Contains(inv.Status.Message, ns+"/maintenance") {
			return fmt.Errorf("it says %q, want it to name the Silence", inv.Status.Message)
		}
		return nil
	})
	got := received(t, agent, "kagent/k8s-agent", 1)
	if !strings.Contains(got[0].Text, "Pod db-1") {
		t.Fatalf("the agent was told %q, want the other namespace's db-1: a Silence holds its own namespace only", got[0].Text)
	}

	// The maintenance is over early: the Silence is made to end in two seconds, and ends while
	// web-1's trouble still fires (the dedup window is a minute). Its investigation starts then,
	// once: nothing but the Silence's end starts it.
	var cur v1alpha2.Silence
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(silence), &cur); err != nil {
		t.Fatal(err)
	}
	ended := cur.DeepCopy()
	ended.Spec.EndsAt = metav1.NewTime(time.Now().Add(2 * time.Second))
	if err := k8s.Patch(context.Background(), ended, client.MergeFrom(&cur)); err != nil { // khook writes its status meanwhile
		t.Fatal(err)
	}
	if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
		t.Fatalf("the agent received %d messages while the Silence held web-1, want 1", n)
	}
	eventually(t, 30*time.Second, func() error {
		if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 2 {
			return fmt.Errorf("the agent received %d messages, want web-1's too once the Silence ended", n)
		}
		return nil
	})
	if last := agent.ReceivedBy("kagent/k8s-agent")[1].Text; !strings.Contains(last, "Pod web-1") {
		t.Fatalf("the second message is %q, want web-1's", last)
	}
	eventually(t, 15*time.Second, func() error {
		var s v1alpha2.Silence
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(silence), &s); err != nil {
			return err
		}
		if s.Status.HeldIncidents != 1 {
			return fmt.Errorf("the Silence counts %d held incidents, want 1", s.Status.HeldIncidents)
		}
		inv := bySubject(investigationsIn(t, ns))["web-1"]
		if inv.Status.Phase == "suppressed" {
			return fmt.Errorf("web-1's investigation still says %s (%s)", inv.Status.Phase, inv.Status.Reason)
		}
		return nil
	})
}

func TestACooldownStopsAFlappingWorkloadsSecondInvestigation(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	h := newHook(ns, "cool", "k8s-agent", volumePrompt, "pod-restart")
	h.Spec.Limits = &v1alpha2.HookLimits{Cooldown: &metav1.Duration{Duration: time.Hour}}
	create(t, h)
	waitAccepted(t, ns, "cool")
	pods := deploymentPods(t, ns, "web", "web-7d4b9c", "a1", "b2")

	// The first replica crash-loops: one investigation of Deployment web, which the agent ends.
	create(t, backOffEvent(ns, pods[0].Name))
	eventually(t, 15*time.Second, func() error {
		inv, ok := bySubject(investigationsIn(t, ns))["web"]
		if !ok || inv.Status.Phase != "completed" {
			return fmt.Errorf("the Deployment's investigation is %s, want completed", inv.Status.Phase)
		}
		return nil
	})
	// It is deleted (its trouble resolves); the next replica crash-loops: a new incident of the
	// same Deployment, within the cooldown.
	if err := k8s.Delete(context.Background(), &pods[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		if inv := bySubject(investigationsIn(t, ns))["web"]; inv.Status.ResolvedAt == nil {
			return fmt.Errorf("the first incident has not resolved yet (%s)", inv.Status.Phase)
		}
		return nil
	})
	create(t, backOffEvent(ns, pods[1].Name))
	eventually(t, 15*time.Second, func() error {
		var held int
		for _, inv := range investigationsIn(t, ns) {
			if inv.Status.Phase == "suppressed" && inv.Status.Reason == "cooldown" {
				held++
			}
		}
		if held != 1 {
			return fmt.Errorf("%d investigations held by the cooldown, want 1", held)
		}
		return nil
	})
	if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
		t.Fatalf("the flapping Deployment was investigated %d times within the cooldown, want once", n)
	}
}

// deploymentPods writes Deployment ns/name, its ReplicaSet rs and one Pod per suffix, owned as
// the controllers would own them (envtest runs none), and returns the Pods.
func deploymentPods(t *testing.T, ns, name, rs string, suffixes ...string) []corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}}}
	create(t, d)
	set := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rs,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
	create(t, set)
	var pods []corev1.Pod
	for _, s := range suffixes {
		p := labelledPod(ns, rs+"-"+s, labels)
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: set.Name, UID: set.UID, Controller: ptr.To(true)}}
		create(t, p)
		pods = append(pods, *p)
	}
	return pods
}
