package kubernetes_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

func kubeEvent(kind, reason, note string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "e1"},
		Reason:     reason, Note: note, EventTime: metav1.NewMicroTime(time.Now()),
		Regarding: corev1.ObjectReference{Kind: kind, Namespace: "apps", Name: "web-1"},
	}
}

// nodeEvent is an Event about a Node: the Event object lives in "default", the Node in none.
func nodeEvent(reason, note string) *eventsv1.Event {
	e := kubeEvent("Node", reason, note)
	e.Namespace = "default"
	e.Regarding.Namespace = ""
	return e
}

func TestFromEvent(t *testing.T) {
	tests := []struct {
		name   string
		event  *eventsv1.Event
		want   event.Type
		wantOK bool
	}{
		{"a crash-looping container is a pod restart", kubeEvent("Pod", "BackOff", "Back-off restarting failed container app in pod web-1"), event.PodRestart, true},
		{"backing off an image pull is not a restart", kubeEvent("Pod", "BackOff", "Back-off pulling image \"web:2\""), "", false},
		{"a pod the scheduler cannot place is pending", kubeEvent("Pod", "FailedScheduling", "0/3 nodes are available"), event.PodPending, true},
		{"a failing liveness probe is a probe failure", kubeEvent("Pod", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"), event.ProbeFailed, true},
		{"a failing startup probe is a probe failure", kubeEvent("Pod", "Unhealthy", "Startup probe failed: connection refused"), event.ProbeFailed, true},
		{"Unhealthy without a probe message is nothing", kubeEvent("Pod", "Unhealthy", "something else"), "", false},
		{"the kernel's OOMKilling is an OOM kill", kubeEvent("Node", "OOMKilling", "Memory cgroup out of memory: Killed process 42"), event.OOMKill, true},
		{"an OOMKilling on a node is cluster-wide even though its Event lives in a namespace", nodeEvent("OOMKilling", "Killed process 42"), event.OOMKill, true},
		{"stopping a container on deletion is not a restart", kubeEvent("Pod", "Killing", "Stopping container app"), "", false},
		{"BackOff on something other than a pod is nothing", kubeEvent("Deployment", "BackOff", "Back-off restarting failed container"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := kubernetes.FromEvent(tt.event)
			if ok != tt.wantOK || got.Type != tt.want {
				t.Fatalf("FromEvent = %q, %v; want %q, %v", got.Type, ok, tt.want, tt.wantOK)
			}
			wantNS := tt.event.Regarding.Namespace
			if ok && (got.ResourceName != "web-1" || got.Namespace != wantNS || got.Source != "kubernetes") {
				t.Fatalf("event = %+v, want resource web-1 in namespace %q", got, wantNS)
			}
		})
	}
}

func container(restarts int32, last, now *corev1.ContainerStateTerminated) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", RestartCount: restarts,
		LastTerminationState: corev1.ContainerState{Terminated: last}, State: corev1.ContainerState{Terminated: now}}
}

func TestFromPodChange(t *testing.T) {
	oom := &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	crash := &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}
	tests := []struct {
		name      string
		old, new  corev1.ContainerStatus
		wantTypes []event.Type
	}{
		{"a grown restart count is a restart", container(0, nil, nil), container(1, crash, nil), []event.Type{event.PodRestart}},
		{"a restart after an OOM kill is a restart and an OOM kill", container(2, crash, nil), container(3, oom, nil), []event.Type{event.PodRestart, event.OOMKill}},
		{"an unchanged restart count is nothing, whatever the last state", container(3, oom, nil), container(3, oom, nil), nil},
		{"a container that will not restart shows its OOM kill in its state", container(0, nil, nil), container(0, nil, oom), []event.Type{event.OOMKill}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "cart"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tt.old}}}
			newPod := oldPod.DeepCopy()
			newPod.Status.ContainerStatuses = []corev1.ContainerStatus{tt.new}
			got := kubernetes.FromPodChange(oldPod, newPod, time.Now())
			if len(got) != len(tt.wantTypes) {
				t.Fatalf("FromPodChange = %+v, want types %v", got, tt.wantTypes)
			}
			for i, e := range got {
				if e.Type != tt.wantTypes[i] || e.ResourceName != "cart" || e.Metadata["container"] != "app" {
					t.Fatalf("event %d = %+v, want type %s", i, e, tt.wantTypes[i])
				}
			}
		})
	}
}
