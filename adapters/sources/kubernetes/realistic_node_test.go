package kubernetes_test

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// realisticNode is a Node node-<i> shaped like a cloud provider's, as the API server returns it:
// labels, annotations, taints, the kubelet's conditions, addresses, capacity, the images it
// pulled and its managed fields. ready is its Ready condition's status since at.
func realisticNode(i int, ready corev1.ConditionStatus, at time.Time) *corev1.Node {
	name := fmt.Sprintf("node-%03d", i)
	t := metav1.NewTime(at)
	heartbeat := metav1.NewTime(at.Add(time.Minute))
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: heartbeat, LastTransitionTime: t}
	}
	readyReason, readyMessage := "KubeletReady", "kubelet is posting ready status"
	switch ready {
	case corev1.ConditionFalse:
		readyReason, readyMessage = "KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
	case corev1.ConditionUnknown:
		readyReason, readyMessage = "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	var images []corev1.ContainerImage
	for k := range 40 {
		images = append(images, corev1.ContainerImage{
			Names:     []string{fmt.Sprintf("registry.example.com/team-%d/service@sha256:%064x", k, k), fmt.Sprintf("registry.example.com/team-%d/service:v1.%d.0", k, k)},
			SizeBytes: int64(50_000_000 + k),
		})
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID(fmt.Sprintf("6e7f8091-a2b3-4c5d-8e9f-%012d", i)), ResourceVersion: fmt.Sprint(200000 + i),
			CreationTimestamp: metav1.NewTime(at.Add(-24 * time.Hour)),
			Labels: map[string]string{
				"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
				"kubernetes.io/hostname": name, "node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/region": "eu-west-1",
				"topology.kubernetes.io/zone": "eu-west-1a", "node-pool": "general", "team": "platform",
			},
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"csi.volume.kubernetes.io/nodeid": fmt.Sprintf(`{"ebs.csi.aws.com":"i-%017x"}`, i),
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &t,
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:conditions":{},"f:images":{},"f:nodeInfo":{}}}`)}}},
		},
		Spec: corev1.NodeSpec{
			PodCIDR: fmt.Sprintf("10.%d.0.0/24", i%250), PodCIDRs: []string{fmt.Sprintf("10.%d.0.0/24", i%250)},
			ProviderID: fmt.Sprintf("aws:///eu-west-1a/i-%017x", i),
			Taints:     []corev1.Taint{{Key: "dedicated", Value: "general", Effect: corev1.TaintEffectPreferNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("31Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, ready, readyReason, readyMessage),
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("192.168.%d.%d", i/250, i%250)}, {Type: corev1.NodeHostName, Address: name}},
			NodeInfo: corev1.NodeSystemInfo{MachineID: fmt.Sprintf("%032x", i), KernelVersion: "6.1.0-1024-aws", OSImage: "Ubuntu 24.04 LTS",
				ContainerRuntimeVersion: "containerd://1.7.20", KubeletVersion: "v1.37.1", OperatingSystem: "linux", Architecture: "amd64"},
			Images: images,
		},
	}
}
