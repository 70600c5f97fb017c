package kubernetes_test

import (
	"maps"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

// labelled gives a fixture pod labels.
func labelled(labels map[string]string) podOption {
	return func(p *corev1.Pod) { p.Labels = labels }
}

// nodeLabelled gives a fixture node labels.
func nodeLabelled(labels map[string]string) nodeOption {
	return func(n *corev1.Node) { n.Labels = labels }
}

// sameMap says whether a and b are the same map, not copies.
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// checkLabels fails unless e carries want as its labels (the same map when shared, an empty one
// when want is nil) and offers them, not its metadata, to selectors.
func checkLabels(t *testing.T, e event.Event, want map[string]string, shared bool) {
	t.Helper()
	if e.Labels == nil {
		t.Errorf("%s carries no labels at all (nil): selectors would match its metadata %v", summary(e), e.Metadata)
		return
	}
	if !maps.Equal(e.Labels, want) {
		t.Errorf("%s carries labels %v, want %v", summary(e), e.Labels, want)
	}
	if shared && len(want) > 0 && !sameMap(e.Labels, want) {
		t.Errorf("%s carries a copy of the resource's labels, not the cache's map", summary(e))
	}
	if got := e.SelectorLabels(); !maps.Equal(got, want) {
		t.Errorf("%s offers selectors %v, want %v", summary(e), got, want)
	}
}

// Every event about a Pod carries the Pod's labels, the map the cache holds (not a copy), so
// that a selector means the same whichever decision or Event reported the trouble.
func TestEveryPodEventCarriesThePodsLabels(t *testing.T) {
	crash := lastTerminated("Error", 1, t0)
	rs := ownedBy("apps/v1", "ReplicaSet", "web-7d9f8b6c5d", true)
	tests := []struct {
		name   string
		labels map[string]string
		pod    func(labels map[string]string) *corev1.Pod
	}{
		{"a crash-looping Deployment's pod carries its labels", map[string]string{"app": "web", "tier": "critical", "pod-template-hash": "7d9f8b6c5d"},
			func(l map[string]string) *corev1.Pod {
				return newPod(rs, labelled(l), scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash)))
			}},
		{"a pod the scheduler cannot place carries its labels", map[string]string{"app": "batch"},
			func(l map[string]string) *corev1.Pod { return newPod(labelled(l), unschedulable(t0)) }},
		{"a pod without labels carries none, not nil", nil,
			func(l map[string]string) *corev1.Pod {
				return newPod(labelled(l), scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash)))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := tt.pod(tt.labels)
			now := t0.Add(time.Hour)
			var direct []event.Event // made from pod itself: they share its map
			_, pending := kubernetes.PendingLevel(pod, now, grace)
			_, restart := kubernetes.RestartLevel(pod, now, recovery)
			direct = append(direct, pending, restart)
			probe := kubeEvent("Pod", "Unhealthy", "Readiness probe failed: 503")
			probe.Regarding.UID = pod.UID
			e, _ := kubernetes.FromPodEvent(probe, pod)
			direct = append(direct, e)
			tr := kubernetes.NewTracker(policy)
			direct = append(direct, tr.PodSeen(nil, pod, now)...)
			direct = append(direct, kubeEventAbout(pod, "Unhealthy", "Liveness probe failed: 500", now, pod)(tr, now)...)
			direct = append(direct, tr.Scan(now.Add(window))...)
			direct = append(direct, tr.PodGone(pod, now.Add(window))...)
			// Made from copies of pod (another status): they carry the copy's labels.
			var copies []event.Event
			copies = append(copies, kubernetes.FromPodChange(withRestarts(pod, 0), withRestarts(pod, 1), now)...)
			copies = append(copies, kubernetes.FromPodListing(withOOMKill(pod, now), now, window)...)
			if len(direct)+len(copies) < 8 {
				t.Fatalf("only %d events to look at", len(direct)+len(copies))
			}
			for _, e := range direct {
				if e.Type != "" { // a level with nothing to say is the zero event
					checkLabels(t, e, tt.labels, true)
				}
			}
			for _, e := range copies {
				checkLabels(t, e, tt.labels, false)
			}
		})
	}
}

// An Event about a Pod carries the labels of the Pod the cache has, else of the Pod the tracker
// knows, else none: never the Event's own metadata.
func TestAnEventAboutAPodCarriesThePodsLabels(t *testing.T) {
	labels := map[string]string{"app": "db", "tier": "critical"}
	pod := newPod(labelled(labels), ownedBy("apps/v1", "StatefulSet", "db", true), scheduledOn("node-1", t0),
		containers(status("app", restarts(3), waiting("CrashLoopBackOff"), lastTerminated("Error", 1, t0))))
	tests := []struct {
		name   string
		known  bool // the tracker has seen the pod
		cached *corev1.Pod
		reason string
		note   string
		want   map[string]string
	}{
		{"a probe failure carries the labels of the cache's pod", false, pod, "Unhealthy", "Liveness probe failed: 500", labels},
		{"a crash-loop back-off carries the labels of the cache's pod", false, pod, "BackOff", "Back-off restarting failed container app in pod web-1", labels},
		{"a probe failure carries the labels of the tracker's pod when the cache has none", true, nil, "Unhealthy", "Liveness probe failed: 500", labels},
		{"a probe failure about a pod nobody knows carries no labels", false, nil, "Unhealthy", "Liveness probe failed: 500", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := kubernetes.NewTracker(policy)
			if tt.known {
				tr.PodSeen(nil, pod, t0)
			}
			out := kubeEventAbout(pod, tt.reason, tt.note, t0, tt.cached)(tr, t0)
			if len(out) != 1 {
				t.Fatalf("sent %d events, want one", len(out))
			}
			checkLabels(t, out[0], tt.want, true)
		})
	}
}

// An Event read alone carries no labels (the source adds the Pod's or the Node's
// from its cache, see source_labels_test.go), not its metadata.
func TestFromEventCarriesNoLabelsOfItsOwn(t *testing.T) {
	for _, ev := range []*corev1.ObjectReference{{Kind: "Node", Name: "node-1"}, {Kind: "Pod", Namespace: "apps", Name: "web-1"}} {
		in := nodeEvent("OOMKilling", "Memory cgroup out of memory: Killed process 42")
		in.Regarding = *ev
		e, ok := kubernetes.FromEvent(in)
		if !ok {
			t.Fatalf("an OOMKilling Event about a %s is not trouble", ev.Kind)
		}
		checkLabels(t, e, nil, false)
	}
}

// node-not-ready carries the Node's labels, the map the cache holds, from its firing to its
// resolution.
func TestEveryNodeEventCarriesTheNodesLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		end    func(n *corev1.Node) func(*kubernetes.NodeTracker, time.Time) []event.Event
	}{
		{"a node ready again", map[string]string{"pool": "general", "topology.kubernetes.io/zone": "eu-1a"},
			func(n *corev1.Node) func(*kubernetes.NodeTracker, time.Time) []event.Event {
				ready := n.DeepCopy()
				readySince(t0.Add(time.Hour))(ready)
				ready.Labels = n.Labels
				return nodeSeen(ready)
			}},
		{"a node deleted", map[string]string{"pool": "spot"},
			func(n *corev1.Node) func(*kubernetes.NodeTracker, time.Time) []event.Event { return nodeGone(n) }},
		{"a node without labels", nil,
			func(n *corev1.Node) func(*kubernetes.NodeTracker, time.Time) []event.Event { return nodeGone(n) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(nodeLabelled(tt.labels), unknownSince(t0.Add(-time.Hour)))
			tr := kubernetes.NewNodeTracker(nodePolicy)
			var out []event.Event
			out = append(out, nodeSeen(n)(tr, t0)...)
			out = append(out, nodeScan()(tr, t0.Add(window))...)
			out = append(out, tt.end(n)(tr, t0.Add(time.Hour))...)
			if len(out) != 3 {
				t.Fatalf("sent %d events, want the firing, a re-assertion and the resolution", len(out))
			}
			for _, e := range out {
				checkLabels(t, e, tt.labels, true)
			}
		})
	}
}

// Trouble re-asserted while it is not over yet carries the labels the resource has now: a Pod
// or Node relabelled while its trouble fires is matched on its new labels.
func TestAReassertionCarriesTheLabelsTheResourceHasNow(t *testing.T) {
	critical, batch := map[string]string{"tier": "critical"}, map[string]string{"tier": "batch"}
	t.Run("a pod relabelled while it recovers", func(t *testing.T) {
		crashing := newPod(labelled(critical), scheduledOn("node-1", t0),
			containers(status("app", restarts(3), waiting("CrashLoopBackOff"), lastTerminated("Error", 1, t0))))
		// Running ready again with the same restart count, relabelled: not recovered yet.
		recovering := newPod(labelled(batch), scheduledOn("node-1", t0),
			containers(status("app", restarts(3), runningSince(t0.Add(time.Minute), true), lastTerminated("Error", 1, t0))))
		tr := kubernetes.NewTracker(policy)
		if out := tr.PodSeen(nil, crashing, t0); len(out) != 1 {
			t.Fatalf("sent %d events, want the crash loop", len(out))
		}
		if out := tr.PodSeen(crashing, recovering, t0.Add(time.Minute)); len(out) != 0 {
			t.Fatalf("sent %v on the relabelling, want nothing", out)
		}
		out := tr.Scan(t0.Add(policy.Window / 3))
		if len(out) != 1 || out[0].Resolves() {
			t.Fatalf("sent %d events, want the re-assertion", len(out))
		}
		checkLabels(t, out[0], batch, true)
	})
	t.Run("a node relabelled while it is deleted", func(t *testing.T) {
		lost := newNode(nodeLabelled(critical), unknownSince(t0.Add(-time.Hour)))
		deleting := newNode(nodeLabelled(batch), unknownSince(t0.Add(-time.Hour)), nodeDeleting(t0))
		tr := kubernetes.NewNodeTracker(nodePolicy)
		if out := tr.NodeSeen(lost, t0); len(out) != 1 {
			t.Fatalf("sent %d events, want node-not-ready", len(out))
		}
		tr.NodeSeen(deleting, t0.Add(time.Minute))
		out := tr.Scan(t0.Add(nodePolicy.Window / 3))
		if len(out) != 1 || out[0].Resolves() {
			t.Fatalf("sent %d events, want the re-assertion", len(out))
		}
		checkLabels(t, out[0], batch, true)
	})
}
