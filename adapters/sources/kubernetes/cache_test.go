package kubernetes_test

import (
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
)

// everythingReadPod is a realistic pod that also shows every field the detection reads: it is
// being deleted, has a scheduling gate, a PodScheduled condition that says why it failed, and
// containers waiting, running and terminated.
func everythingReadPod() *corev1.Pod {
	pod := realisticPod("apps", 1, t0)
	pod.DeletionTimestamp = ptr.To(metav1.NewTime(t0.Add(time.Minute)))
	pod.DeletionGracePeriodSeconds = ptr.To[int64](30)
	pod.Finalizers = []string{"example.com/hold"}
	// An owner that is not the controller, first: ownerReferences[0] is not the controller.
	pod.OwnerReferences = append([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "bundle", UID: "bundle-uid"}}, pod.OwnerReferences...)
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
	pod.Status.Conditions[4] = corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/3 nodes are available: 3 Insufficient cpu.", LastTransitionTime: metav1.NewTime(t0), LastProbeTime: metav1.NewTime(t0)}
	pod.Status.Message, pod.Status.Reason, pod.Status.NominatedNodeName = "a message", "a reason", "node-9"
	worker := &pod.Status.ContainerStatuses[1]
	worker.RestartCount = 4
	worker.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container=worker"}}
	worker.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Signal: 9,
		Message: "panic: boom", StartedAt: metav1.NewTime(t0.Add(-time.Minute)), FinishedAt: metav1.NewTime(t0), ContainerID: "containerd://abc"}}
	pod.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: "debugger", Image: "busybox"}}
	return pod
}

func transformedPod(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := kubernetes.TransformPod(pod.DeepCopy())
	if err != nil {
		t.Fatalf("TransformPod: %v", err)
	}
	return out.(*corev1.Pod)
}

func transformedEvent(t *testing.T, ev *eventsv1.Event) *eventsv1.Event {
	t.Helper()
	out, err := kubernetes.TransformEvent(ev.DeepCopy())
	if err != nil {
		t.Fatalf("TransformEvent: %v", err)
	}
	return out.(*eventsv1.Event)
}

// containerStatus finds the status of container name (init containers first).
func containerStatus(pod *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

func conditionOf(pod *corev1.Pod, typ corev1.PodConditionType) corev1.PodCondition {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.PodCondition{}
}

func initContainerSpec(pod *corev1.Pod, name string) corev1.Container {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return c
		}
	}
	return corev1.Container{}
}

func TestTransformPodKeepsWhatKhookReads(t *testing.T) {
	tests := []struct {
		name string
		read func(*corev1.Pod) any
	}{
		{"the name and namespace survive", func(p *corev1.Pod) any { return []string{p.Namespace, p.Name} }},
		{"the UID survives", func(p *corev1.Pod) any { return p.UID }},
		{"the resource version survives", func(p *corev1.Pod) any { return p.ResourceVersion }},
		{"the creation time survives", func(p *corev1.Pod) any { return p.CreationTimestamp }},
		{"the deletion time survives", func(p *corev1.Pod) any { return p.DeletionTimestamp }},
		{"the node name survives", func(p *corev1.Pod) any { return p.Spec.NodeName }},
		{"the labels survive", func(p *corev1.Pod) any { return p.Labels }},
		{"the controller's API version, kind, name and UID survive", func(p *corev1.Pod) any {
			if ref := metav1.GetControllerOf(p); ref != nil {
				return []any{ref.APIVersion, ref.Kind, ref.Name, ref.UID, *ref.Controller}
			}
			return nil
		}},
		{"the scheduling gates survive", func(p *corev1.Pod) any { return p.Spec.SchedulingGates }},
		{"a sidecar's name and restart policy survive", func(p *corev1.Pod) any {
			c := initContainerSpec(p, "proxy")
			return []any{c.Name, c.RestartPolicy}
		}},
		{"the phase survives", func(p *corev1.Pod) any { return p.Status.Phase }},
		{"the PodScheduled condition's status, reason, message and transition time survive", func(p *corev1.Pod) any {
			c := conditionOf(p, corev1.PodScheduled)
			return []any{c.Status, c.Reason, c.Message, c.LastTransitionTime}
		}},
		{"the ContainersReady condition's status and transition time survive", func(p *corev1.Pod) any {
			c := conditionOf(p, corev1.ContainersReady)
			return []any{c.Status, c.LastTransitionTime}
		}},
		{"every init and regular container status survives by name, in order", func(p *corev1.Pod) any {
			var names []string
			for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
				names = append(names, cs.Name)
			}
			return names
		}},
		{"a container's readiness and restart count survive", func(p *corev1.Pod) any {
			cs := containerStatus(p, "app")
			return []any{cs.Ready, cs.RestartCount}
		}},
		{"a waiting container's reason survives", func(p *corev1.Pod) any { return containerStatus(p, "worker").State.Waiting.Reason }},
		{"a running container's start time survives", func(p *corev1.Pod) any { return containerStatus(p, "app").State.Running.StartedAt }},
		{"a terminated container's exit code, reason and finish time survive", func(p *corev1.Pod) any {
			term := containerStatus(p, "migrate").State.Terminated
			return []any{term.ExitCode == 0, term.Reason, term.FinishedAt}
		}},
		{"the last termination's exit code, reason and finish time survive", func(p *corev1.Pod) any {
			term := containerStatus(p, "worker").LastTerminationState.Terminated
			return []any{term.ExitCode, term.Reason, term.FinishedAt}
		}},
	}
	pod := everythingReadPod()
	got := transformedPod(t, pod)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.read(pod)
			if reflect.ValueOf(want).IsZero() {
				t.Fatalf("the fixture does not show it: %#v", want)
			}
			if have := tt.read(got); !equality.Semantic.DeepEqual(have, want) {
				t.Fatalf("after the transform: %#v\nwant %#v", have, want)
			}
		})
	}
}

func TestTransformPodDropsWhatKhookDoesNotRead(t *testing.T) {
	tests := []struct {
		name string
		read func(*corev1.Pod) any
	}{
		{"managed fields go", func(p *corev1.Pod) any { return p.ManagedFields }},
		{"annotations go", func(p *corev1.Pod) any { return p.Annotations }},
		{"owners other than the controller, finalizers and the generate name go", func(p *corev1.Pod) any {
			var others []metav1.OwnerReference
			for _, r := range p.OwnerReferences {
				if r.Controller == nil || !*r.Controller {
					others = append(others, r)
				}
			}
			return []any{others, p.Finalizers, p.GenerateName, p.DeletionGracePeriodSeconds}
		}},
		{"the controller's block-owner-deletion goes", func(p *corev1.Pod) any {
			if ref := metav1.GetControllerOf(p); ref != nil {
				return ref.BlockOwnerDeletion
			}
			return nil
		}},
		{"regular containers go", func(p *corev1.Pod) any { return p.Spec.Containers }},
		{"an init container that is not a sidecar goes", func(p *corev1.Pod) any { return initContainerSpec(p, "migrate").Name }},
		{"a sidecar's image, environment and resources go", func(p *corev1.Pod) any {
			c := initContainerSpec(p, "proxy")
			return []any{c.Image, c.Env, c.Resources.Requests, c.Args}
		}},
		{"volumes, tolerations and the service account go", func(p *corev1.Pod) any {
			return []any{p.Spec.Volumes, p.Spec.Tolerations, p.Spec.ServiceAccountName}
		}},
		{"conditions other than PodScheduled and ContainersReady go", func(p *corev1.Pod) any {
			return []any{conditionOf(p, corev1.PodReady).Type, conditionOf(p, corev1.PodInitialized).Type}
		}},
		{"a condition's probe time goes", func(p *corev1.Pod) any { return conditionOf(p, corev1.PodScheduled).LastProbeTime }},
		{"IPs, start time, QoS class and the pod's message go", func(p *corev1.Pod) any {
			s := p.Status
			return []any{s.HostIP, s.HostIPs, s.PodIP, s.PodIPs, s.StartTime, s.QOSClass, s.Message, s.Reason, s.NominatedNodeName}
		}},
		{"images, container IDs, mounts and started flags of container statuses go", func(p *corev1.Pod) any {
			cs := containerStatus(p, "app")
			return []any{cs.Image, cs.ImageID, cs.ContainerID, cs.VolumeMounts, cs.Started}
		}},
		{"a waiting container's message goes", func(p *corev1.Pod) any { return containerStatus(p, "worker").State.Waiting.Message }},
		{"a termination's message, signal, start time and container ID go", func(p *corev1.Pod) any {
			term := containerStatus(p, "worker").LastTerminationState.Terminated
			return []any{term.Message, term.Signal, term.StartedAt, term.ContainerID}
		}},
		{"ephemeral container statuses go", func(p *corev1.Pod) any { return p.Status.EphemeralContainerStatuses }},
	}
	pod := everythingReadPod()
	got := transformedPod(t, pod)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if before := tt.read(pod); allZero(before) {
				t.Fatalf("the fixture does not show it: %#v", before)
			}
			if after := tt.read(got); !allZero(after) {
				t.Fatalf("after the transform: %#v, want nothing", after)
			}
		})
	}
}

// allZero says whether v, or every element of v when it is a []any, is the zero value.
func allZero(v any) bool {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if !allZero(e) {
				return false
			}
		}
		return true
	}
	return v == nil || reflect.ValueOf(v).IsZero()
}

// newsEvent is a kubelet's crash-loop back-off Event that shows every field khook reads of an
// Event and several it does not.
func newsEvent() *eventsv1.Event {
	ev := realisticEvents("apps", 1, t0)[5]
	ev.UID = "event-uid"
	ev.ResourceVersion = "4242"
	ev.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
	ev.Labels, ev.Annotations = map[string]string{"a": "b"}, map[string]string{"c": "d"}
	ev.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:note":{},"f:reason":{}}`)}}}
	ev.Series = &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(t0.Add(time.Minute))}
	ev.DeprecatedLastTimestamp = metav1.NewTime(t0.Add(time.Minute))
	ev.DeprecatedFirstTimestamp = metav1.NewTime(t0)
	ev.DeprecatedCount = 3
	ev.DeprecatedSource = corev1.EventSource{Component: "kubelet", Host: "node-001"}
	ev.Related = &corev1.ObjectReference{Kind: "Node", Name: "node-001"}
	return ev
}

func TestTransformEventKeepsWhatKhookReads(t *testing.T) {
	tests := []struct {
		name string
		read func(*eventsv1.Event) any
	}{
		{"the name and namespace survive", func(e *eventsv1.Event) any { return []string{e.Namespace, e.Name} }},
		{"the resource version survives", func(e *eventsv1.Event) any { return e.ResourceVersion }},
		{"the creation time survives", func(e *eventsv1.Event) any { return e.CreationTimestamp }},
		{"the reason and note survive", func(e *eventsv1.Event) any { return []string{e.Reason, e.Note} }},
		{"the reporting controller survives", func(e *eventsv1.Event) any { return e.ReportingController }},
		{"the event time survives", func(e *eventsv1.Event) any { return e.EventTime }},
		{"the series' last observed time survives", func(e *eventsv1.Event) any { return e.Series.LastObservedTime }},
		{"the deprecated last timestamp survives", func(e *eventsv1.Event) any { return e.DeprecatedLastTimestamp }},
		{"the regarding object's kind, namespace, name, UID and field path survive", func(e *eventsv1.Event) any {
			r := e.Regarding
			return []any{r.Kind, r.Namespace, r.Name, r.UID, r.FieldPath}
		}},
	}
	ev := newsEvent()
	got := transformedEvent(t, ev)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.read(ev)
			if allZero(want) {
				t.Fatalf("the fixture does not show it: %#v", want)
			}
			if have := tt.read(got); !equality.Semantic.DeepEqual(have, want) {
				t.Fatalf("after the transform: %#v\nwant %#v", have, want)
			}
		})
	}
}

func TestTransformEventDropsWhatKhookDoesNotRead(t *testing.T) {
	news := newsEvent()
	ignored := realisticEvents("apps", 1, t0)[1] // Pulled
	ignored.ManagedFields = news.ManagedFields
	tests := []struct {
		name string
		ev   *eventsv1.Event
		read func(*eventsv1.Event) any
	}{
		{"managed fields, labels, annotations and the UID go", news, func(e *eventsv1.Event) any {
			return []any{e.ManagedFields, e.Labels, e.Annotations, e.UID}
		}},
		{"the action, type and reporting instance go", news, func(e *eventsv1.Event) any {
			return []any{e.Action, e.Type, e.ReportingInstance}
		}},
		{"the related object and the deprecated source, first time and count go", news, func(e *eventsv1.Event) any {
			return []any{e.Related, e.DeprecatedSource, e.DeprecatedFirstTimestamp, e.DeprecatedCount}
		}},
		{"the regarding object's API version and resource version go", news, func(e *eventsv1.Event) any {
			return []any{e.Regarding.APIVersion, e.Regarding.ResourceVersion}
		}},
		{"an Event khook ignores loses its note, regarding object, times and controller", ignored, func(e *eventsv1.Event) any {
			return []any{e.Note, e.Regarding, e.EventTime, e.ReportingController, e.ManagedFields}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if before := tt.read(tt.ev); allZero(before) {
				t.Fatalf("the fixture does not show it: %#v", before)
			}
			if after := tt.read(transformedEvent(t, tt.ev)); !allZero(after) {
				t.Fatalf("after the transform: %#v, want nothing", after)
			}
		})
	}
	if got := transformedEvent(t, ignored); got.Reason != "Pulled" || got.Name != ignored.Name || got.ResourceVersion != ignored.ResourceVersion {
		t.Fatalf("an ignored Event kept %+v, want its reason, name and resource version", got)
	}
}

func TestTransformsAreIdempotent(t *testing.T) {
	tests := []struct {
		name      string
		obj       func() client.Object
		transform toolscache.TransformFunc
	}{
		{"a pod transformed twice is the pod transformed once", func() client.Object { return everythingReadPod() }, kubernetes.TransformPod},
		{"a pending pod transformed twice is the pod transformed once", func() client.Object { return newPod(unschedulable(t0), gatedBy("g")) }, kubernetes.TransformPod},
		{"an Event khook reads transformed twice is the Event transformed once", func() client.Object { return newsEvent() }, kubernetes.TransformEvent},
		{"an Event khook ignores transformed twice is the Event transformed once", func() client.Object { return realisticEvents("apps", 1, t0)[0] }, kubernetes.TransformEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			once, err := tt.transform(tt.obj())
			if err != nil {
				t.Fatal(err)
			}
			want := once.(client.Object).DeepCopyObject()
			twice, err := tt.transform(once)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(twice, want) {
				t.Fatalf("transformed twice: %#v\nonce: %#v", twice, want)
			}
		})
	}
}

func TestTransformsTolerateWhatTheyDoNotReduce(t *testing.T) {
	hook := func() *v1alpha2.Hook {
		return &v1alpha2.Hook{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "h", Labels: map[string]string{"a": "b"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{EventType: "pod-restart", Prompt: "look"}}},
		}
	}
	tests := []struct {
		name      string
		transform toolscache.TransformFunc
		in        func() any
		check     func(t *testing.T, out any)
	}{
		{"a Hook given to the Pod transform loses its managed fields only", kubernetes.TransformPod, func() any { return hook() }, func(t *testing.T, out any) {
			want := hook()
			want.ManagedFields = nil
			if !equality.Semantic.DeepEqual(out, want) {
				t.Fatalf("got %#v, want %#v", out, want)
			}
		}},
		{"a Hook given to the Event transform loses its managed fields only", kubernetes.TransformEvent, func() any { return hook() }, func(t *testing.T, out any) {
			want := hook()
			want.ManagedFields = nil
			if !equality.Semantic.DeepEqual(out, want) {
				t.Fatalf("got %#v, want %#v", out, want)
			}
		}},
		{"a tombstone's pod is reduced and stays in its tombstone", kubernetes.TransformPod, func() any {
			return toolscache.DeletedFinalStateUnknown{Key: "apps/web", Obj: everythingReadPod()}
		}, func(t *testing.T, out any) {
			tomb, ok := out.(toolscache.DeletedFinalStateUnknown)
			if !ok || tomb.Key != "apps/web" {
				t.Fatalf("got %#v, want the tombstone", out)
			}
			if pod, ok := kubernetes.DeletedPod(tomb); !ok || pod.Annotations != nil || pod.UID == "" {
				t.Fatalf("the tombstone's pod is %#v, want it reduced", pod)
			}
		}},
		{"a tombstone's Event is reduced and stays in its tombstone", kubernetes.TransformEvent, func() any {
			return toolscache.DeletedFinalStateUnknown{Key: "apps/e", Obj: newsEvent()}
		}, func(t *testing.T, out any) {
			tomb, ok := out.(toolscache.DeletedFinalStateUnknown)
			if ev, isEvent := tomb.Obj.(*eventsv1.Event); !ok || !isEvent || ev.ManagedFields != nil || ev.Action != "" || ev.Note == "" {
				t.Fatalf("got %#v, want the tombstone with the Event reduced", out)
			}
		}},
		{"a nil pod is returned as it is", kubernetes.TransformPod, func() any { return (*corev1.Pod)(nil) }, func(t *testing.T, out any) {
			if p, ok := out.(*corev1.Pod); !ok || p != nil {
				t.Fatalf("got %#v", out)
			}
		}},
		{"a nil Event is returned as it is", kubernetes.TransformEvent, func() any { return (*eventsv1.Event)(nil) }, func(t *testing.T, out any) {
			if e, ok := out.(*eventsv1.Event); !ok || e != nil {
				t.Fatalf("got %#v", out)
			}
		}},
		{"something that is no object is returned as it is", kubernetes.TransformPod, func() any { return "not an object" }, func(t *testing.T, out any) {
			if out != "not an object" {
				t.Fatalf("got %#v", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.transform(tt.in())
			if err != nil {
				t.Fatalf("transform: %v", err)
			}
			tt.check(t, out)
		})
	}
}

// noisy adds to a fixture pod what a real one carries and khook does not read.
func noisy(p *corev1.Pod) *corev1.Pod {
	real := realisticPod(p.Namespace, 7, t0)
	p.Labels, p.Annotations, p.OwnerReferences, p.ManagedFields = real.Labels, real.Annotations, real.OwnerReferences, real.ManagedFields
	p.Spec.Containers = real.Spec.Containers
	p.Spec.Volumes, p.Spec.Tolerations = real.Spec.Volumes, real.Spec.Tolerations
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].Env = real.Spec.InitContainers[0].Env
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"})
	p.Status.HostIP, p.Status.PodIP, p.Status.QOSClass = "192.168.1.1", "10.0.0.1", corev1.PodQOSBurstable
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			list[i].ImageID, list[i].ContainerID = "sha256:abc", "containerd://abc"
			if t := list[i].LastTerminationState.Terminated; t != nil {
				t.Message = "the last words of " + list[i].Name
			}
			if w := list[i].State.Waiting; w != nil {
				w.Message = "waiting for " + list[i].Name
			}
		}
	}
	return p
}

func TestTheDetectionReadsTheSameFromTransformedPods(t *testing.T) {
	crash, oom := lastTerminated("Error", 1, t0), lastTerminated("OOMKilled", 137, t0)
	tests := []struct {
		name     string
		old, pod *corev1.Pod // old: the pod before a change, or nil
	}{
		{"an unschedulable pod", nil, newPod(unschedulable(t0))},
		{"a pod held by a scheduling gate", nil, newPod(gatedBy("example.com/quota"), unschedulable(t0))},
		{"a scheduled pod", nil, newPod(scheduledOn("node-1", t0))},
		{"a pod whose scheduling is unknown", nil, newPod(condition(corev1.PodScheduled, corev1.ConditionUnknown, "", t0))},
		{"a pod being deleted", nil, newPod(unschedulable(t0), deleting(t0))},
		{"a finished pod", nil, newPod(inPhase(corev1.PodFailed), containers(status("app", restarts(5), terminatedNow("Error", 1, t0))))},
		{"a crash-looping container", nil, newPod(containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash)))},
		{"a crash-looping init container", nil, newPod(initContainers(nil, status("migrate", restarts(2), waiting("CrashLoopBackOff"), crash)))},
		{"a crash-looping sidecar", nil, newPod(initContainers([]string{"proxy"}, status("proxy", restarts(4), waiting("CrashLoopBackOff"))))},
		{"a restarted container ready again, readiness regained later", nil, newPod(containers(status("app", restarts(3), runningSince(t0, true))),
			condition(corev1.ContainersReady, corev1.ConditionTrue, "", t0.Add(4*time.Minute)))},
		{"a restarted sidecar running ready", nil, newPod(initContainers([]string{"proxy"}, status("proxy", restarts(1), runningSince(t0, true))),
			containers(status("app", runningSince(t0, true))))},
		{"a restarted init container that completed", nil, newPod(initContainers(nil, status("migrate", restarts(2), terminatedNow("Completed", 0, t0))))},
		{"a recent OOM kill in the last state", nil, newPod(containers(status("app", restarts(1), runningSince(t0, true), oom)))},
		{"an OOM kill in the state of a container that will not restart", nil, newPod(containers(status("app", terminatedNow("OOMKilled", 137, t0))))},
		{"a grown restart count after an OOM kill", newPod(containers(status("app", restarts(2), crash))), newPod(containers(status("app", restarts(3), oom)))},
		{"a sidecar's grown restart count", newPod(initContainers([]string{"proxy"}, status("proxy", restarts(1)))),
			newPod(initContainers([]string{"proxy"}, status("proxy", restarts(2), oom)))},
		{"a realistic running pod with an old OOM kill", nil, realisticPod("apps", 3, t0.Add(-time.Hour))},
		{"a realistic running pod with a recent OOM kill", nil, realisticPod("apps", 3, t0.Add(-time.Minute))},
	}
	probe := kubeEvent("Pod", "Unhealthy", "Readiness probe failed: connection refused")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := noisy(tt.pod)
			slim := transformedPod(t, pod)
			var old, slimOld *corev1.Pod
			if tt.old != nil {
				old = noisy(tt.old)
				slimOld = transformedPod(t, old)
			}
			for _, after := range []time.Duration{0, grace, recovery, time.Hour} {
				now := t0.Add(after)
				same(t, "PendingLevel", pair(kubernetes.PendingLevel(pod, now, grace)), pair(kubernetes.PendingLevel(slim, now, grace)))
				same(t, "RestartLevel", pair(kubernetes.RestartLevel(pod, now, recovery)), pair(kubernetes.RestartLevel(slim, now, recovery)))
				same(t, "FromPodListing", kubernetes.FromPodListing(pod, now, window), kubernetes.FromPodListing(slim, now, window))
				if old != nil {
					same(t, "FromPodChange", kubernetes.FromPodChange(old, pod, now), kubernetes.FromPodChange(slimOld, slim, now))
				}
				p := probe.DeepCopy()
				p.Regarding.Name, p.Regarding.UID = pod.Name, pod.UID
				same(t, "FromPodEvent", pair(kubernetes.FromPodEvent(p, pod)), pair(kubernetes.FromPodEvent(transformedEvent(t, p), slim)))
			}
			full, reduced := kubernetes.NewTracker(kubernetes.PodPolicy{PendingGrace: grace, RestartRecovery: recovery, Window: window}),
				kubernetes.NewTracker(kubernetes.PodPolicy{PendingGrace: grace, RestartRecovery: recovery, Window: window})
			if old != nil {
				same(t, "the tracker seeing the old pod", full.PodSeen(nil, old, t0), reduced.PodSeen(nil, slimOld, t0))
			}
			same(t, "the tracker seeing the pod", full.PodSeen(old, pod, t0), reduced.PodSeen(slimOld, slim, t0))
			for _, after := range []time.Duration{grace, recovery, time.Hour} {
				same(t, "the tracker's scan", full.Scan(t0.Add(after)), reduced.Scan(t0.Add(after)))
			}
			same(t, "the tracker seeing the pod go", full.PodGone(pod, t0.Add(2*time.Hour)), reduced.PodGone(slim, t0.Add(2*time.Hour)))
		})
	}
}

func TestFromEventReadsTheSameFromTransformedEvents(t *testing.T) {
	withSeries := kubeEvent("Pod", "BackOff", "Back-off restarting failed container app in pod web-1")
	withSeries.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(t0.Add(time.Hour))}
	legacy := kubeEvent("Pod", "FailedScheduling", "0/3 nodes are available")
	legacy.EventTime, legacy.DeprecatedLastTimestamp = metav1.MicroTime{}, metav1.NewTime(t0)
	bare := kubeEvent("Pod", "Unhealthy", "Liveness probe failed: 500")
	bare.EventTime, bare.CreationTimestamp = metav1.MicroTime{}, metav1.NewTime(t0)
	tests := []struct {
		name string
		ev   *eventsv1.Event
	}{
		{"a crash-loop back-off", kubeEvent("Pod", "BackOff", "Back-off restarting failed container app in pod web-1")},
		{"a crash-loop back-off repeated as a series", withSeries},
		{"an image pull back-off", kubeEvent("Pod", "BackOff", "Back-off pulling image \"web:2\"")},
		{"a scheduling failure timed the old way", legacy},
		{"a liveness probe failure timed by its creation", bare},
		{"an Unhealthy without a probe message", kubeEvent("Pod", "Unhealthy", "something else")},
		{"a node's OOM kill", nodeEvent("OOMKilling", "Memory cgroup out of memory: Killed process 42")},
		{"a container stopped on deletion", kubeEvent("Pod", "Killing", "Stopping container app")},
		{"a back-off on a Deployment", kubeEvent("Deployment", "BackOff", "Back-off restarting failed container")},
		{"a realistic scheduled Event", realisticEvents("apps", 1, t0)[0]},
		{"a realistic probe failure", realisticEvents("apps", 1, t0)[4]},
		{"a realistic crash-loop back-off with a field path", newsEvent()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slim := transformedEvent(t, tt.ev)
			same(t, "FromEvent", pair(kubernetes.FromEvent(tt.ev)), pair(kubernetes.FromEvent(slim)))
			full, reduced := kubernetes.NewTracker(kubernetes.PodPolicy{}), kubernetes.NewTracker(kubernetes.PodPolicy{})
			same(t, "the tracker", full.KubeEvent(tt.ev, nil, t0), reduced.KubeEvent(slim, nil, t0))
		})
	}
}

func TestCacheByObjectReducesPodsEventsAndNodes(t *testing.T) {
	byType := map[reflect.Type]toolscache.TransformFunc{}
	for obj, by := range kubernetes.CacheByObject() {
		byType[reflect.TypeOf(obj)] = by.Transform
	}
	tests := []struct {
		name      string
		transform toolscache.TransformFunc
		in, want  client.Object
	}{
		{"Pods go through TransformPod", byType[reflect.TypeFor[*corev1.Pod]()], everythingReadPod(), transformedPod(t, everythingReadPod())},
		{"Events go through TransformEvent", byType[reflect.TypeFor[*eventsv1.Event]()], newsEvent(), transformedEvent(t, newsEvent())},
		{"Nodes go through TransformNode", byType[reflect.TypeFor[*corev1.Node]()], realisticNode(1, corev1.ConditionTrue, t0),
			transformedNode(t, realisticNode(1, corev1.ConditionTrue, t0))},
	}
	if len(byType) != len(tests) {
		t.Fatalf("CacheByObject configures %d kinds, want Pods, Events and Nodes only", len(byType))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.transform == nil {
				t.Fatal("no transform")
			}
			got, err := tt.transform(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// pair keeps both results of a decision, to compare them at once.
func pair[A, B any](a A, b B) [2]any { return [2]any{a, b} }

func same(t *testing.T, what string, full, reduced any) {
	t.Helper()
	if !reflect.DeepEqual(full, reduced) {
		t.Fatalf("%s differs on the transformed objects:\nfull:    %#v\nreduced: %#v", what, full, reduced)
	}
}

// The transforms run on every Pod and Event the informers receive, listed or changed. They
// change the object, so each iteration gets a fresh one, made in batches with the timer stopped
// (a batch, not b.N objects, so that the live heap stays small and GC does not weigh on it).
func BenchmarkTransformPod(b *testing.B) {
	benchmarkTransform(b, kubernetes.TransformPod, func(i int) any { return realisticPod("apps", i, t0) })
}

func BenchmarkTransformEvent(b *testing.B) {
	b.Run("read", func(b *testing.B) {
		benchmarkTransform(b, kubernetes.TransformEvent, func(i int) any { return realisticEvents("apps", i, t0)[5] })
	})
	b.Run("ignored", func(b *testing.B) {
		benchmarkTransform(b, kubernetes.TransformEvent, func(i int) any { return realisticEvents("apps", i, t0)[1] })
	})
}

func benchmarkTransform(b *testing.B, transform toolscache.TransformFunc, fresh func(i int) any) {
	const batch = 1000
	objs := make([]any, batch)
	b.ReportAllocs()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			for j := range objs {
				objs[j] = fresh(i + j)
			}
			runtime.GC()
			b.StartTimer()
		}
		if _, err := transform(objs[i%batch]); err != nil {
			b.Fatal(err)
		}
	}
}
