package kubernetes_test

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Objects shaped like those a cluster's API server returns: a Deployment's Pod with an init
// container, a sidecar and two containers, their environment, volumes, probes and resources,
// and a status the kubelet wrote; Events as the kubelet and the scheduler write them. The
// transform tests and the memory measurement (cache_memory_test.go) use them.

// realisticPodSpec is the Pod web-<i> of namespace ns as its ReplicaSet creates it.
func realisticPodSpec(ns string, i int) *corev1.Pod {
	hash := "7d9f8b6c5d"
	name := fmt.Sprintf("web-%s-%05d", hash, i)
	env := func(prefix string) []corev1.EnvVar {
		out := []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
		}
		for k := range 6 {
			out = append(out, corev1.EnvVar{Name: fmt.Sprintf("%s_SETTING_%d", prefix, k), Value: fmt.Sprintf("value-%d-for-the-%s-container", k, prefix)})
		}
		return out
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	mounts := []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web"}, {Name: "cache", MountPath: "/var/cache/web"}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, GenerateName: "web-" + hash + "-",
			Labels:      map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod", "pod-template-hash": hash, "team": "payments"},
			Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-07-30T10:00:00Z", "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + hash,
				UID: types.UID("3c0e7a52-1f4b-4d8e-9a1c-2b6f0e9d8c7a"), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "migrate", Image: "registry.example.com/payments/web-migrate:v1.42.0", Command: []string{"/migrate", "--up"}, Env: env("MIGRATE"), Resources: res},
				{Name: "proxy", Image: "registry.example.com/mesh/proxy:v1.20.3", Args: []string{"--listen=:15001", "--admin=:15000"},
					RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Env: env("PROXY"), Resources: res, VolumeMounts: mounts[:1]},
			},
			Containers: []corev1.Container{
				{Name: "app", Image: "registry.example.com/payments/web:v1.42.0", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					Env: env("APP"), Resources: res, VolumeMounts: mounts, LivenessProbe: probe, ReadinessProbe: probe},
				{Name: "worker", Image: "registry.example.com/payments/web:v1.42.0", Command: []string{"/web", "worker"},
					Env: env("WORKER"), Resources: res, VolumeMounts: mounts},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			ServiceAccountName: "web",
			NodeName:           fmt.Sprintf("node-%03d", i%100),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
		},
	}
}

// realisticPodStatus is the status the kubelet writes for a pod running since start whose app
// container was OOM-killed once.
func realisticPodStatus(i int, start time.Time) corev1.PodStatus {
	at := metav1.NewTime(start)
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: at}
	}
	ip := fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256)
	cs := func(name, image string, restarts int32) corev1.ContainerStatus {
		out := corev1.ContainerStatus{
			Name: name, Image: image, ImageID: image + "@sha256:9b2a4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b",
			ContainerID: fmt.Sprintf("containerd://%064x", i*7+len(name)), Ready: true, Started: ptr.To(true), RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}},
			VolumeMounts: []corev1.VolumeMountStatus{{Name: "config", MountPath: "/etc/web", ReadOnly: true},
				{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true, RecursiveReadOnly: ptr.To(corev1.RecursiveReadOnlyDisabled)}},
		}
		if restarts > 0 {
			out.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled",
				Message: "the container was killed because it ran out of memory", StartedAt: metav1.NewTime(start.Add(-time.Hour)), FinishedAt: at,
				ContainerID: fmt.Sprintf("containerd://%064x", i*11+len(name))}}
		}
		return out
	}
	migrate := cs("migrate", "registry.example.com/payments/web-migrate:v1.42.0", 0)
	migrate.Ready, migrate.Started = false, ptr.To(false)
	migrate.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: at, FinishedAt: at,
		ContainerID: fmt.Sprintf("containerd://%064x", i*13)}}
	return corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{cond(corev1.PodReadyToStartContainers), cond(corev1.PodInitialized), cond(corev1.PodReady),
			cond(corev1.ContainersReady), cond(corev1.PodScheduled)},
		HostIP: "192.168.1." + fmt.Sprint(i%250), HostIPs: []corev1.HostIP{{IP: "192.168.1." + fmt.Sprint(i%250)}},
		PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &at, QOSClass: corev1.PodQOSBurstable,
		InitContainerStatuses: []corev1.ContainerStatus{migrate, cs("proxy", "registry.example.com/mesh/proxy:v1.20.3", 0)},
		ContainerStatuses:     []corev1.ContainerStatus{cs("app", "registry.example.com/payments/web:v1.42.0", 1), cs("worker", "registry.example.com/payments/web:v1.42.0", 0)},
	}
}

// realisticPod is realisticPodSpec with realisticPodStatus and what the API server adds
// (uid, resourceVersion, creationTimestamp, managed fields of the writers).
func realisticPod(ns string, i int, start time.Time) *corev1.Pod {
	pod := realisticPodSpec(ns, i)
	pod.Status = realisticPodStatus(i, start)
	pod.UID = types.UID(fmt.Sprintf("0b1c2d3e-4f50-6172-8394-%012d", i))
	pod.ResourceVersion = fmt.Sprint(100000 + i)
	pod.CreationTimestamp = metav1.NewTime(start.Add(-time.Minute))
	at := metav1.NewTime(start)
	pod.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &at, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(managedSpecFields)}},
		{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &at, FieldsType: "FieldsV1", Subresource: "status",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(managedStatusFields)}},
	}
	return pod
}

// realisticEvents are the Events of one pod's life: scheduled, pulled, created, started, and a
// probe failure and a crash-loop back-off (which khook reads), as the kubelet writes them.
func realisticEvents(ns string, i int, at time.Time) []*eventsv1.Event {
	pod := fmt.Sprintf("web-7d9f8b6c5d-%05d", i)
	node := fmt.Sprintf("node-%03d", i%100)
	mk := func(n int, controller, instance, action, reason, note, fieldPath, typ string) *eventsv1.Event {
		return &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s.%016x", pod, i*16+n)},
			EventTime:  metav1.NewMicroTime(at), ReportingController: controller, ReportingInstance: instance,
			Action: action, Reason: reason, Note: note, Type: typ,
			Regarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod,
				UID: types.UID(fmt.Sprintf("0b1c2d3e-4f50-6172-8394-%012d", i)), ResourceVersion: fmt.Sprint(100000 + i), FieldPath: fieldPath},
		}
	}
	return []*eventsv1.Event{
		mk(0, "default-scheduler", "default-scheduler-control-plane-1", "Binding", "Scheduled",
			fmt.Sprintf("Successfully assigned %s/%s to %s", ns, pod, node), "", corev1.EventTypeNormal),
		mk(1, "kubelet", node, "Pulling", "Pulled",
			`Successfully pulled image "registry.example.com/payments/web:v1.42.0" in 1.234s (1.234s including waiting). Image size: 52345678 bytes.`,
			"spec.containers{app}", corev1.EventTypeNormal),
		mk(2, "kubelet", node, "Created", "Created", "Created container: app", "spec.containers{app}", corev1.EventTypeNormal),
		mk(3, "kubelet", node, "Started", "Started", "Started container app", "spec.containers{app}", corev1.EventTypeNormal),
		mk(4, "kubelet", node, "ProbeCheck", "Unhealthy", "Readiness probe failed: Get \"http://10.0.0.1:8080/healthz\": dial tcp 10.0.0.1:8080: connect: connection refused",
			"spec.containers{app}", corev1.EventTypeWarning),
		mk(5, "kubelet", node, "BackOff", "BackOff", fmt.Sprintf("Back-off restarting failed container app in pod %s_%s(0b1c2d3e)", pod, ns),
			"spec.containers{app}", corev1.EventTypeWarning),
	}
}

// The managed fields the controller manager and the kubelet write for such a pod (abridged
// from a real one: the shape and the size are what matter).
const managedSpecFields = `{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/name":{},"f:pod-template-hash":{},"f:team":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"3c0e7a52-1f4b-4d8e-9a1c-2b6f0e9d8c7a\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:env":{".":{},"k:{\"name\":\"APP_SETTING_0\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"POD_NAME\"}":{".":{},"f:name":{},"f:valueFrom":{".":{},"f:fieldRef":{}}}},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}}},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{},"f:volumeMounts":{".":{},"k:{\"mountPath\":\"/etc/web\"}":{".":{},"f:mountPath":{},"f:name":{}}}},"k:{\"name\":\"worker\"}":{".":{},"f:command":{},"f:env":{},"f:image":{},"f:name":{},"f:resources":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:initContainers":{"k:{\"name\":\"migrate\"}":{".":{},"f:command":{},"f:env":{},"f:image":{},"f:name":{}},"k:{\"name\":\"proxy\"}":{".":{},"f:args":{},"f:env":{},"f:image":{},"f:name":{},"f:restartPolicy":{}}},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:serviceAccount":{},"f:serviceAccountName":{},"f:terminationGracePeriodSeconds":{},"f:tolerations":{},"f:volumes":{".":{},"k:{\"name\":\"cache\"}":{".":{},"f:emptyDir":{},"f:name":{}},"k:{\"name\":\"config\"}":{".":{},"f:configMap":{".":{},"f:defaultMode":{},"f:name":{}},"f:name":{}}}}}`

const managedStatusFields = `{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"PodReadyToStartContainers\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:hostIPs":{},"f:initContainerStatuses":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.0.0.1\"}":{".":{},"f:ip":{}}},"f:startTime":{}}}`
