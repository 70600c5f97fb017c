package kubernetes_test

import (
	"context"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What the source delivers from a real informer cache, reduced as khook's is, carries the labels
// of the resource that fired: the Pod's for its status and for an Event about it, the Node's for
// node-not-ready and for an Event about it.
func TestTheSourceDeliversTheLabelsOfTheResourceThatFired(t *testing.T) {
	w := startSource(t, newNamespace(t), nil)
	web := map[string]string{"app.kubernetes.io/name": "web", "tier": "critical", "pod-template-hash": "7d9f8b6c5d"}
	pool := map[string]string{"pool": "general"}

	crashy := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "crashy", Labels: web},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	create(t, crashy)
	w.setStatus(t, crashy, crashLooping(3, w.clock.Now()))
	w.waitFor(t, "crashy", "pod-restart crashy trouble: container app is crash-looping")
	// The Pod is in the cache now: an Event about it carries its labels.
	w.kubeEvent(t, "crashy", crashy.UID, "Unhealthy", "Liveness probe failed: 500", w.clock.Now())
	w.waitFor(t, "crashy", "pod-restart crashy trouble", "probe-failed crashy trouble: Liveness probe failed: 500")

	n := w.node(t, "labelled", corev1.ConditionUnknown, w.clock.Now().Add(-time.Hour))
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble")
	// An Event about a Node lives in "default", as the API server requires.
	oom := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, GenerateName: "oom-"},
		EventTime:  metav1.NewMicroTime(w.clock.Now()), ReportingController: "kernel-monitor", ReportingInstance: n.Name,
		Action: "Kill", Reason: "OOMKilling", Note: "Memory cgroup out of memory: Killed process 42 (java)", Type: corev1.EventTypeWarning,
		Regarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: n.Name},
	}
	create(t, oom)
	w.waitFor(t, n.Name, "node-not-ready "+n.Name+" trouble", "oom-kill "+n.Name+" trouble: Memory cgroup out of memory")

	// Shared, not copied: the probe failure's labels are the map the cache holds.
	var cached corev1.Pod
	if err := w.cache.Get(context.Background(), client.ObjectKeyFromObject(crashy), &cached, &client.GetOptions{UnsafeDisableDeepCopy: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
	if probe := w.sink.eventsAbout("crashy")[1]; !sameMap(probe.Labels, cached.Labels) {
		t.Error("the probe failure carries a copy of the cached Pod's labels")
	}
	for name, want := range map[string]map[string]string{"crashy": web, n.Name: pool} {
		for _, e := range w.sink.eventsAbout(name) {
			if !maps.Equal(e.Labels, want) || !maps.Equal(e.SelectorLabels(), want) {
				t.Errorf("%s carries labels %v, want %v", summary(e), e.Labels, want)
			}
		}
	}
}

// An Event about a Pod the cache does not have carries no labels, rather than the Event's
// metadata.
func TestAnEventAboutAPodTheCacheDoesNotHaveCarriesNoLabels(t *testing.T) {
	w := startSource(t, newNamespace(t), nil)
	w.kubeEvent(t, "ghost", "", "Unhealthy", "Readiness probe failed: 503", w.clock.Now())
	w.waitFor(t, "ghost", "probe-failed ghost trouble")
	e := w.sink.eventsAbout("ghost")[0]
	if e.Labels == nil || len(e.SelectorLabels()) != 0 {
		t.Fatalf("the Event carries labels %#v and offers selectors %v, want none", e.Labels, e.SelectorLabels())
	}
	if err := w.cache.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: "ghost"}, &corev1.Pod{}); err == nil {
		t.Fatal("the cache has a pod ghost")
	}
}
