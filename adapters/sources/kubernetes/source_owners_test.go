package kubernetes_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

// envtest runs no controllers: these tests make the owner chains a cluster's controllers would
// (Deployment → ReplicaSet → Pod, CronJob → Job → Pod), with the controller references they
// write, and the source reads them as khook does: the Pod's from the cache, the ReplicaSet's or
// Job's with a GET of its metadata from the API server.

var podLabels = map[string]string{"app": "web"}

func podTemplate(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
		Spec:       corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
}

// controlledBy is a controller reference to obj, as its controller writes it.
func controlledBy(obj client.Object, apiVersion, kind string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func deployment(ns, name string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: podLabels}, Template: podTemplate(corev1.RestartPolicyAlways)}}
}

func replicaSet(ns, name string, owners ...metav1.OwnerReference) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: podLabels}, Template: podTemplate(corev1.RestartPolicyAlways)}}
}

func cronJob(ns, name string) *batchv1.CronJob {
	return &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate(corev1.RestartPolicyOnFailure)}}}}
}

func job(ns, name string, owners ...metav1.OwnerReference) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec: batchv1.JobSpec{Template: podTemplate(corev1.RestartPolicyOnFailure)}}
}

func TestAPodsTroubleNamesTheWorkloadItsOwnerChainLeadsTo(t *testing.T) {
	tests := []struct {
		name string
		// owner makes the pod's owners in ns and returns the pod's controller reference (nil: none).
		owner        func(t *testing.T, ns string) *metav1.OwnerReference
		wantWorkload event.Workload
	}{
		{"a pod of a ReplicaSet of a Deployment names the Deployment", func(t *testing.T, ns string) *metav1.OwnerReference {
			d := deployment(ns, "web")
			create(t, d)
			rs := replicaSet(ns, "web-7d9f8b6c5d", controlledBy(d, "apps/v1", "Deployment"))
			create(t, rs)
			return ptr.To(controlledBy(rs, "apps/v1", "ReplicaSet"))
		}, event.Workload{Kind: "Deployment", Name: "web"}},
		{"a pod of a Job of a CronJob names the CronJob", func(t *testing.T, ns string) *metav1.OwnerReference {
			cj := cronJob(ns, "backup")
			create(t, cj)
			j := job(ns, "backup-29123456", controlledBy(cj, "batch/v1", "CronJob"))
			create(t, j)
			return ptr.To(controlledBy(j, "batch/v1", "Job"))
		}, event.Workload{Kind: "CronJob", Name: "backup"}},
		{"a pod of a ReplicaSet without a Deployment names the ReplicaSet", func(t *testing.T, ns string) *metav1.OwnerReference {
			rs := replicaSet(ns, "orphan-5f6d")
			create(t, rs)
			return ptr.To(controlledBy(rs, "apps/v1", "ReplicaSet"))
		}, event.Workload{Kind: "ReplicaSet", Name: "orphan-5f6d"}},
		{"a pod of a StatefulSet names the StatefulSet", func(t *testing.T, ns string) *metav1.OwnerReference {
			return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "uid-db", Controller: ptr.To(true)}
		}, event.Workload{Kind: "StatefulSet", Name: "db"}},
		{"a pod without an owner names none", func(t *testing.T, ns string) *metav1.OwnerReference { return nil }, event.Workload{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			w := startSource(t, ns, nil)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crashy"},
				Spec:       corev1.PodSpec{NodeName: "node-7", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			}
			if ref := tt.owner(t, ns); ref != nil {
				pod.OwnerReferences = []metav1.OwnerReference{*ref}
			}
			create(t, pod)
			w.setStatus(t, pod, crashLooping(3, w.clock.Now()))
			w.waitFor(t, "crashy", "pod-restart crashy trouble: container app is crash-looping")
			// No kubelet finishes a graceful deletion here: delete at once.
			if err := k8s.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
				t.Fatal(err)
			}
			w.waitFor(t, "crashy", "pod-restart crashy trouble", "pod-restart crashy deleted")
			for _, e := range w.sink.eventsAbout("crashy") {
				if e.Workload != tt.wantWorkload || e.Node != "node-7" {
					t.Errorf("%s names %q on %q, want %q on node-7", summary(e), e.Workload, e.Node, tt.wantWorkload)
				}
			}
		})
	}
}

func TestMetadataOwnersReadsTheControllerFromTheAPIServer(t *testing.T) {
	ns := newNamespace(t)
	d := deployment(ns, "web")
	create(t, d)
	rs := replicaSet(ns, "web-7d9f8b6c5d", controlledBy(d, "apps/v1", "Deployment"))
	create(t, rs)
	lookup := kubernetes.NewMetadataOwners(k8s)
	tests := []struct {
		name     string
		ref      metav1.OwnerReference
		wantUID  string
		wantCtrl string
		wantErr  func(error) bool
	}{
		{"a ReplicaSet's UID and controller", controlledBy(rs, "apps/v1", "ReplicaSet"), string(rs.UID), "Deployment/web", nil},
		{"a Deployment without a controller", controlledBy(d, "apps/v1", "Deployment"), string(d.UID), "", nil},
		{"a ReplicaSet that does not exist is not found", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gone"}, "", "", apierrors.IsNotFound},
		{"an apiVersion that does not parse is an error", metav1.OwnerReference{APIVersion: "a/b/c", Kind: "ReplicaSet", Name: "x"}, "", "",
			func(err error) bool { return err != nil && !apierrors.IsNotFound(err) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, ctrl, err := lookup.ControllerOf(context.Background(), ns, tt.ref)
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Fatalf("ControllerOf = %v, want another error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ctrl != nil {
				got = ctrl.Kind + "/" + ctrl.Name
			}
			if string(uid) != tt.wantUID || got != tt.wantCtrl {
				t.Fatalf("ControllerOf = %s, %q; want %s, %q", uid, got, tt.wantUID, tt.wantCtrl)
			}
		})
	}
	// It reads from the API server, not a cache: a change is seen at once.
	var orphaned appsv1.ReplicaSet
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rs), &orphaned); err != nil {
		t.Fatal(err)
	}
	orphaned.OwnerReferences = nil
	if err := k8s.Update(context.Background(), &orphaned); err != nil {
		t.Fatal(err)
	}
	if _, ctrl, err := lookup.ControllerOf(context.Background(), ns, controlledBy(rs, "apps/v1", "ReplicaSet")); err != nil || ctrl != nil {
		t.Fatalf("after orphaning, ControllerOf = %v, %v; want no controller", ctrl, err)
	}
}
