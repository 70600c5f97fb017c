package kubernetes_test

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// t0 is when every fixture's story begins.
var t0 = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

// podOption changes a fixture pod.
type podOption func(*corev1.Pod)

// newPod is the pod apps/web-1 with one container, app, created at t0, changed by opts.
func newPod(opts ...podOption) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-1", UID: "uid-web-1", CreationTimestamp: metav1.NewTime(t0)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func named(ns, name string) podOption {
	return func(p *corev1.Pod) { p.Namespace, p.Name, p.UID = ns, name, types.UID("uid-"+name) }
}

func withUID(uid string) podOption { return func(p *corev1.Pod) { p.UID = types.UID(uid) } }

func condition(t corev1.PodConditionType, s corev1.ConditionStatus, reason string, since time.Time) podOption {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: t, Status: s, Reason: reason, Message: reason + " (condition message)", LastTransitionTime: metav1.NewTime(since),
		})
	}
}

// unschedulable: the scheduler found no node since since.
func unschedulable(since time.Time) podOption {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/3 nodes are available: 3 Insufficient cpu.", LastTransitionTime: metav1.NewTime(since),
		})
	}
}

// scheduledOn: bound to node, with PodScheduled=True.
func scheduledOn(node string, at time.Time) podOption {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = node
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
		p.Status.Phase = corev1.PodRunning
	}
}

func gatedBy(gate string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: gate})
	}
}

func deleting(at time.Time) podOption {
	return func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(at)) }
}

func inPhase(phase corev1.PodPhase) podOption { return func(p *corev1.Pod) { p.Status.Phase = phase } }

func containers(cs ...corev1.ContainerStatus) podOption {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = cs }
}

// initContainers adds init containers; sidecar ones (restartPolicy Always) are named in sidecars.
func initContainers(sidecars []string, cs ...corev1.ContainerStatus) podOption {
	return func(p *corev1.Pod) {
		for _, s := range cs {
			c := corev1.Container{Name: s.Name, Image: "init:1"}
			for _, name := range sidecars {
				if name == s.Name {
					c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
				}
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		}
		p.Status.InitContainerStatuses = cs
	}
}

// containerOption changes a fixture container status.
type containerOption func(*corev1.ContainerStatus)

func status(name string, opts ...containerOption) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: name, Image: name + ":1"}
	for _, o := range opts {
		o(&cs)
	}
	return cs
}

func restarts(n int32) containerOption {
	return func(cs *corev1.ContainerStatus) { cs.RestartCount = n }
}

func waiting(reason string) containerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
		cs.Ready = false
	}
}

func runningSince(at time.Time, ready bool) containerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at)}}
		cs.Ready, cs.Started = ready, ptr.To(true)
	}
}

func terminatedNow(reason string, code int32, at time.Time) containerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, FinishedAt: metav1.NewTime(at)}}
		cs.Ready = false
	}
}

func lastTerminated(reason string, code int32, at time.Time) containerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, FinishedAt: metav1.NewTime(at)}}
	}
}

// ownedBy adds an owner reference (apiVersion, kind, name, a UID made of the name);
// controller marks it the pod's controller.
func ownedBy(apiVersion, kind, name string, controller bool) podOption {
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name,
			UID: types.UID("uid-" + name), Controller: ptr.To(controller), BlockOwnerDeletion: ptr.To(true)})
	}
}
