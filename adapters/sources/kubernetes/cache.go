package kubernetes

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// khook caches every Pod and every Event of the cluster, and reads a small part of each. The
// transforms below run before an object enters the informer's store and keep only what this
// package reads (pods.go, tracker.go, source.go), so that a cluster's Pods and Events cost
// khook a fraction of their size. What each keeps is listed on it; a test (cache_test.go)
// names every field read and checks it survives. A field the detection starts to read must be
// added here too.

// CacheByObject is the cache configuration khook needs for the objects it caches cluster-wide:
// Pods through TransformPod, Events (events.k8s.io/v1) through TransformEvent, Nodes through
// TransformNode. app.CacheOptions sets it as cache.Options.ByObject of the manager. It suits
// only a cache from which nothing else reads Pods, Events or Nodes: they would find them
// stripped.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}:     {Transform: TransformPod},
		&eventsv1.Event{}: {Transform: TransformEvent},
		&corev1.Node{}:    {Transform: TransformNode},
	}
}

// TransformPod is a cache transform (toolscache.TransformFunc) that keeps of a Pod what khook
// reads and drops the rest, managed fields included:
//
//	metadata  name, namespace, uid, resourceVersion, creationTimestamp, deletionTimestamp,
//	          labels, and the controller's owner reference (apiVersion, kind, name, uid,
//	          controller)
//	spec      nodeName, schedulingGates, and the name and restartPolicy of the sidecars (init
//	          containers with restartPolicy Always); regular and other init containers go
//	status    phase; the PodScheduled and ContainersReady conditions (type, status, reason,
//	          message, lastTransitionTime); per init and regular container status: name, ready,
//	          restartCount, state (waiting reason; running startedAt; terminated exitCode,
//	          reason, finishedAt) and lastState.terminated (the same three)
//
// Annotations, owner references other than the controller's, images, resources, volumes,
// environment, IPs, termination messages and ephemeral containers are dropped. The node and the
// controller say which node and which workload a Pod's trouble belongs to (event.Event's Node
// and Workload); the labels are what Hook selectors match (event.Event's Labels, which share
// the map kept here: a Deployment's Pod has four to ten labels, a few hundred bytes). It changes
// the Pod in place
// (client-go allows it: the transform sees the object first), is idempotent, unwraps a
// toolscache.DeletedFinalStateUnknown, and strips only the managed fields of anything else.
func TransformPod(obj any) (any, error) {
	pod, ok := unwrap(obj).(*corev1.Pod)
	if !ok {
		return stripManagedFields(obj)
	}
	if pod == nil {
		return obj, nil
	}
	m := &pod.ObjectMeta
	pod.ObjectMeta = metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp, Labels: m.Labels, OwnerReferences: controllerRef(m.OwnerReferences)}
	pod.Spec = corev1.PodSpec{NodeName: pod.Spec.NodeName, SchedulingGates: pod.Spec.SchedulingGates, InitContainers: sidecars(pod.Spec.InitContainers)}
	pod.Status = corev1.PodStatus{
		Phase:                 pod.Status.Phase,
		Conditions:            keptConditions(pod.Status.Conditions),
		InitContainerStatuses: keptStatuses(pod.Status.InitContainerStatuses),
		ContainerStatuses:     keptStatuses(pod.Status.ContainerStatuses),
	}
	return obj, nil
}

// TransformEvent is a cache transform (toolscache.TransformFunc) that keeps of an
// events.k8s.io/v1 Event what khook reads and drops the rest, managed fields included. Of an
// Event that FromEvent turns into a khook event it keeps
//
//	metadata  name, namespace, resourceVersion, creationTimestamp
//	          reason, note, reportingController, eventTime, series, deprecatedLastTimestamp
//	regarding kind, namespace, name, uid, fieldPath
//
// and of any other Event (most of them: Scheduled, Pulled, Started, …) only the metadata and
// the reason: FromEvent still refuses what is left, and nothing else of it is read. It changes
// the Event in place, is idempotent, unwraps a toolscache.DeletedFinalStateUnknown, and strips
// only the managed fields of anything else.
func TransformEvent(obj any) (any, error) {
	ev, ok := unwrap(obj).(*eventsv1.Event)
	if !ok {
		return stripManagedFields(obj)
	}
	if ev == nil {
		return obj, nil
	}
	m := &ev.ObjectMeta
	kept := eventsv1.Event{
		TypeMeta:   ev.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp},
		Reason:     ev.Reason,
	}
	if _, news := troubleOf(ev); news {
		kept.Note, kept.ReportingController = ev.Note, ev.ReportingController
		kept.EventTime, kept.Series, kept.DeprecatedLastTimestamp = ev.EventTime, ev.Series, ev.DeprecatedLastTimestamp
		r := ev.Regarding
		kept.Regarding = corev1.ObjectReference{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, UID: r.UID, FieldPath: r.FieldPath}
	}
	*ev = kept
	return obj, nil
}

// TransformNode is a cache transform (toolscache.TransformFunc) that keeps of a Node what khook
// reads and drops the rest, managed fields included:
//
//	metadata  name, uid, resourceVersion, labels, deletionTimestamp
//	status    the Ready condition (type, status, reason, message, lastTransitionTime)
//
// Annotations, the spec (taints, pod CIDRs, provider ID), the other conditions, heartbeat
// times, capacity, addresses, images (often the largest part: every image the node has pulled)
// and the node info are dropped. The labels are small and few Nodes are cached; they are kept
// for what selects Nodes by label (event.Event's Labels of node-not-ready share the map). It changes the Node in place, is idempotent, unwraps a
// toolscache.DeletedFinalStateUnknown, and strips only the managed fields of anything else.
func TransformNode(obj any) (any, error) {
	node, ok := unwrap(obj).(*corev1.Node)
	if !ok {
		return stripManagedFields(obj)
	}
	if node == nil {
		return obj, nil
	}
	m := &node.ObjectMeta
	var conditions []corev1.NodeCondition
	if c := nodeReady(node); c != nil {
		conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime}}
	}
	*node = corev1.Node{
		TypeMeta: node.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: m.Labels,
			DeletionTimestamp: m.DeletionTimestamp},
		Status: corev1.NodeStatus{Conditions: conditions},
	}
	return obj, nil
}

// unwrap returns the object a tombstone carries, or obj itself. client-go does not transform
// tombstones (their object is already in the store, transformed), but a transform called on
// one must not lose it.
func unwrap(obj any) any {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

// stripManagedFields is cache.TransformStripManagedFields for an object that is not the kind
// a transform reduces (ByObject replaces the cache's DefaultTransform, so each does both).
func stripManagedFields(obj any) (any, error) {
	o, ok := unwrap(obj).(metav1.Object)
	if !ok || o == nil {
		return obj, nil
	}
	if v := reflect.ValueOf(o); v.Kind() == reflect.Pointer && v.IsNil() {
		return obj, nil
	}
	if o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// controllerRef keeps of refs the controller's (the one marked controller, wherever it is in the
// list), without blockOwnerDeletion: nil when there is none. A Pod has usually one owner, its
// controller; its slice is then reused.
func controllerRef(refs []metav1.OwnerReference) []metav1.OwnerReference {
	for i, r := range refs {
		if r.Controller == nil || !*r.Controller {
			continue
		}
		kept := metav1.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID, Controller: r.Controller}
		if len(refs) == 1 {
			refs[i] = kept
			return refs
		}
		return []metav1.OwnerReference{kept}
	}
	return nil
}

// sidecars keeps the init containers with restartPolicy Always, by name: containersOf tells a
// sidecar's status from an init container's by them.
func sidecars(in []corev1.Container) []corev1.Container {
	var out []corev1.Container
	for _, c := range in {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy})
		}
	}
	return out
}

// keptConditions keeps the conditions the decisions read, PodScheduled and ContainersReady.
func keptConditions(in []corev1.PodCondition) []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, c := range in {
		if c.Type == corev1.PodScheduled || c.Type == corev1.ContainersReady {
			out = append(out, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime})
		}
	}
	return out
}

// keptStatuses keeps of each container status what the decisions read.
func keptStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, cs := range in {
		out[i] = corev1.ContainerStatus{
			Name: cs.Name, Ready: cs.Ready, RestartCount: cs.RestartCount,
			State:                keptState(cs.State, true),
			LastTerminationState: keptState(cs.LastTerminationState, false),
		}
	}
	return out
}

// keptState keeps of a container state the waiting reason, when it runs, and how it ended;
// of a last state (current false) only how it ended.
func keptState(s corev1.ContainerState, current bool) corev1.ContainerState {
	var out corev1.ContainerState
	if t := s.Terminated; t != nil {
		out.Terminated = &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason, FinishedAt: t.FinishedAt}
	}
	if !current {
		return out
	}
	if w := s.Waiting; w != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason}
	}
	if r := s.Running; r != nil {
		out.Running = &corev1.ContainerStateRunning{StartedAt: r.StartedAt}
	}
	return out
}
