package kubernetes_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

// Every event about a Pod says where the Pod belongs: the node it is bound to and its direct
// controller (the tracker climbs from a ReplicaSet or a Job, see owners_test.go).
func TestEveryPodEventNamesThePodsNodeAndDirectController(t *testing.T) {
	crash := lastTerminated("Error", 1, t0)
	rs := ownedBy("apps/v1", "ReplicaSet", "web-7d9f8b6c5d", true)
	tests := []struct {
		name         string
		pod          *corev1.Pod
		wantWorkload event.Workload
		wantNode     string
	}{
		{"a ReplicaSet's pod names the ReplicaSet and its node",
			newPod(rs, scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash))),
			event.Workload{Kind: "ReplicaSet", Name: "web-7d9f8b6c5d"}, "node-1"},
		{"a StatefulSet's pod names the StatefulSet",
			newPod(ownedBy("apps/v1", "StatefulSet", "db", true), scheduledOn("node-2", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash))),
			event.Workload{Kind: "StatefulSet", Name: "db"}, "node-2"},
		{"the owner marked controller is the workload, not the first owner",
			newPod(ownedBy("v1", "ConfigMap", "bundle", false), ownedBy("apps/v1", "DaemonSet", "agent", true), scheduledOn("node-3", t0),
				containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash))),
			event.Workload{Kind: "DaemonSet", Name: "agent"}, "node-3"},
		{"a pod with owners but no controller is its own subject",
			newPod(ownedBy("v1", "ConfigMap", "bundle", false), scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash))),
			event.Workload{}, "node-1"},
		{"a bare pod is its own subject",
			newPod(scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash))),
			event.Workload{}, "node-1"},
		{"a pod the scheduler cannot place names no node",
			newPod(rs, unschedulable(t0)), event.Workload{Kind: "ReplicaSet", Name: "web-7d9f8b6c5d"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			var all []event.Event
			_, pending := kubernetes.PendingLevel(tt.pod, now, grace)
			_, restart := kubernetes.RestartLevel(tt.pod, now, recovery)
			all = append(all, pending, restart)
			all = append(all, kubernetes.FromPodChange(withRestarts(tt.pod, 0), withRestarts(tt.pod, 1), now)...)
			all = append(all, kubernetes.FromPodListing(withOOMKill(tt.pod, now), now, window)...)
			probe := kubeEvent("Pod", "Unhealthy", "Readiness probe failed: 503")
			probe.Regarding.UID = tt.pod.UID
			e, _ := kubernetes.FromPodEvent(probe, tt.pod)
			all = append(all, e)
			tr := kubernetes.NewTracker(policy)
			tr.PodSeen(nil, tt.pod, now)
			all = append(all, tr.PodGone(tt.pod, now)...)
			if len(all) < 6 {
				t.Fatalf("only %d events to look at", len(all))
			}
			for _, e := range all {
				if e.Type == "" {
					continue // a level with nothing to say
				}
				if e.Workload != tt.wantWorkload || e.Node != tt.wantNode {
					t.Errorf("%s %s names workload %q on node %q, want %q on %q", e.Type, summary(e), e.Workload, e.Node, tt.wantWorkload, tt.wantNode)
				}
			}
		})
	}
}

// withRestarts is pod with a container app that has restarted n times.
func withRestarts(pod *corev1.Pod, n int32) *corev1.Pod {
	p := pod.DeepCopy()
	p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", restarts(n), lastTerminated("Error", 1, t0))}
	return p
}

// withOOMKill is pod whose container app was OOM-killed at at.
func withOOMKill(pod *corev1.Pod, at time.Time) *corev1.Pod {
	p := pod.DeepCopy()
	p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", restarts(1), runningSince(at, true), lastTerminated("OOMKilled", 137, at))}
	return p
}

// An Event about a Pod the cache does not have (yet) names the Pod's node and controller when
// the tracker knows the Pod, and nothing when nobody does.
func TestAnEventAboutAPodNamesWhatTheTrackerKnowsOfIt(t *testing.T) {
	pod := newPod(ownedBy("apps/v1", "StatefulSet", "db", true), scheduledOn("node-1", t0),
		containers(status("app", restarts(3), waiting("CrashLoopBackOff"), lastTerminated("Error", 1, t0))))
	tests := []struct {
		name         string
		known        bool // the tracker has seen the pod
		cached       *corev1.Pod
		wantWorkload event.Workload
		wantNode     string
	}{
		{"the cache's pod says it", false, pod, event.Workload{Kind: "StatefulSet", Name: "db"}, "node-1"},
		{"the tracker's pod says it when the cache has none", true, nil, event.Workload{Kind: "StatefulSet", Name: "db"}, "node-1"},
		{"nothing is said of a pod nobody knows", false, nil, event.Workload{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := kubernetes.NewTracker(policy)
			if tt.known {
				tr.PodSeen(nil, pod, t0)
			}
			out := kubeEventAbout(pod, "Unhealthy", "Liveness probe failed: 500", t0, tt.cached)(tr, t0)
			if len(out) != 1 {
				t.Fatalf("sent %d events, want the probe failure", len(out))
			}
			if out[0].Workload != tt.wantWorkload || out[0].Node != tt.wantNode {
				t.Fatalf("the probe failure names %q on %q, want %q on %q", out[0].Workload, out[0].Node, tt.wantWorkload, tt.wantNode)
			}
		})
	}
}
